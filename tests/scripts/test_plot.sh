#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_plot.sh - scripts/plot on fabricated run folders.
#
# 1. A realistic results.csv (kinds mutex, lockfree, urcu, spsc; topologies 1p1c .. 16p16c;
#    depths 0 (mutex only), 1, 64, 1024; 3 reps; pingpong at depth 1; spsc only at 1p1c; plus
#    an unknown pattern): every SVG is written, printed, well-formed XML ending in </svg>, and
#    names each kind it plots; plots/README.md lists them; no temp folder is left behind.
# 2. The same CSV with its columns in another order and an extra column gives the same plots
#    (columns are read by name).
# 3. Graceful partial runs: only pingpong rows (the chan plots are skipped, exit 0); no mutex
#    (no ratio.svg); latency not recorded (no latency.svg).
# 4. Error paths, each with a message on stderr: --help exits 0; a bad option or two run
#    folders or a missing run folder exit 2; no/empty/header-only/malformed results.csv and a
#    missing gnuplot exit 1, and a failed run leaves the previous plots/ untouched.
#
# Usage: test_plot.sh PROJECT_SOURCE_DIR     (exit 0 pass, 1 fail, 77 skipped: no gnuplot)
set -uo pipefail

src=${1:?usage: test_plot.sh PROJECT_SOURCE_DIR}
plot=$src/scripts/plot
if ! command -v gnuplot >/dev/null 2>&1; then
	echo "test_plot: SKIP: gnuplot not installed (apt-get install gnuplot-nox)"
	exit 77
fi
if ! command -v python3 >/dev/null 2>&1; then
	echo "test_plot: SKIP: python3 not installed"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "test_plot: FAIL: $*" >&2
	exit 1
}

header='run_id,timestamp_utc,git_rev,host,cpu_model,cpus,compiler,pattern,chan_kind,producers,consumers,stages,queue_depth,work_ns,rate_target,policy,rep,messages,seconds,throughput_mps,lat_p50_ns,lat_p90_ns,lat_p99_ns,lat_p999_ns,lat_max_ns,dropped,rejected,lost,spin_ns,build_type,warmup_s,lat_mean_ns,seed,timeout_ns,extras'

# row PATTERN KIND P C DEPTH REP TPUT P50 P99 P999 [POLICY]: one CSV row (seconds = 0.4).
row() {
	local msgs
	msgs=$(awk -v t="$7" 'BEGIN { printf "%d", t * 0.4 }')
	echo "20261127T000000Z-test,2026-11-27T00:00:00.000Z,0123456789ab,vm,Test CPU,2,gcc 12.2.0,$1,$2,$3,$4,1,$5,0,0,${11:--},$6,$msgs,0.400000,$7,$8,$(($8 * 2)),$9,${10},$((${10} * 3)),0,0,0,50000,Release,0.1,$(($8 + 100)),1,0,-"
}

# gen_csv FILE [LAT_SCALE]: the realistic grid (LAT_SCALE 0 = latency not recorded).
gen_csv() {
	local f=$1 ls=${2:-1} kind topo p c d rep base t p50 p99 p999
	RANDOM=42
	echo "$header" >"$f"
	for topo in 1x1 2x2 4x1 4x4 16x16; do
		p=${topo%x*} c=${topo#*x}
		for d in 0 1 64 1024; do
			for kind in mutex lockfree urcu spsc; do
				[ "$d" = 0 ] && [ "$kind" != mutex ] && continue
				[ "$kind" = spsc ] && [ "$topo" != 1x1 ] && continue
				case $d in 0) base=90000 ;; 1) base=40000 ;; 64) base=1200000 ;;
				1024) base=3000000 ;; esac
				case $kind in lockfree) base=$((base * 3 / 2)) ;;
				urcu) base=$((base * 2)) ;; spsc) base=$((base * 3)) ;; esac
				for rep in 1 2 3; do
					t=$((base / 2 + base * (RANDOM % 100) / 100))
					p50=$(((4000 + RANDOM % 40000) * ls))
					p99=$((p50 * (5 + RANDOM % 50)))
					p999=$((p99 * (2 + RANDOM % 5)))
					row chan "$kind" "$p" "$c" "$d" "$rep" "$t.5" "$p50" "$p99" "$p999"
				done
			done
		done
	done >>"$f"
	{
		for kind in mutex lockfree urcu spsc; do
			for rep in 1 2 3; do
				p50=$(((9000 + RANDOM % 6000) * ls))
				row pingpong "$kind" 1 1 1 "$rep" $((1000000000 / (p50 + 1))) "$p50" \
					$((p50 * 8)) $((p50 * 30))
			done
		done
		# a pattern this script knows nothing about: no channel kind, a policy it varies
		for pol in drop block; do
			for rep in 1 2 3; do
				row worker_pool - 2 4 16 "$rep" $((200000 + RANDOM % 90000)) 20000 \
					90000 400000 "$pol"
			done
		done
	} >>"$f"
}

# check_svg FILE WORD...: non-empty, well-formed XML, ends with </svg>, holds each WORD.
check_svg() {
	local f=$1 w
	shift
	[ -s "$f" ] || fail "$f missing or empty"
	grep -q '</svg>' "$f" || fail "$f has no </svg>"
	python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$f" ||
		fail "$f is not well-formed XML"
	for w in "$@"; do
		grep -q ">$w<\|>$w \|$w</" "$f" || fail "$f does not name '$w'"
	done
}

# no_temp DIR: no .plots.* temp folder is left behind in DIR.
no_temp() {
	local d
	for d in "$1"/.plots*; do
		[ -e "$d" ] && fail "temp folder left behind: $d"
	done
	return 0
}

# expect_fail RC WHAT CMD...: CMD exits RC and prints a message to stderr.
expect_fail() {
	local rc=$1 what=$2 got
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	[ "$got" = "$rc" ] || fail "$what: exit $got, want $rc (stderr: $(cat "$tmp/err"))"
	grep -q '^plot: ..*' "$tmp/err" || fail "$what: no message on stderr"
	[ -s "$tmp/out" ] && fail "$what: wrote to stdout: $(cat "$tmp/out")"
	echo "ok: $what -> exit $rc: $(head -1 "$tmp/err")"
}

# ---------------------------------------------------------------- 1. the full grid
run=$tmp/run
mkdir "$run"
gen_csv "$run/results.csv"
"$plot" "$run" >"$tmp/out" 2>"$tmp/err" || fail "plot failed: $(cat "$tmp/err")"
for f in throughput latency ratio pingpong worker_pool; do
	grep -qx "$run/plots/$f.svg" "$tmp/out" || fail "$f.svg not printed: $(cat "$tmp/out")"
done
grep -qx "$run/plots/README.md" "$tmp/out" || fail "README.md not printed"
[ "$(wc -l <"$tmp/out")" = 6 ] || fail "printed more than it wrote: $(cat "$tmp/out")"
check_svg "$run/plots/throughput.svg" mutex lockfree urcu spsc 1p1c 2p2c 16p16c d1024
check_svg "$run/plots/latency.svg" mutex lockfree urcu spsc p50 p99 p99.9 4p1c
check_svg "$run/plots/ratio.svg" "lockfree / mutex" "urcu / mutex" "spsc / mutex"
check_svg "$run/plots/pingpong.svg" mutex lockfree urcu spsc p50 p99
check_svg "$run/plots/worker_pool.svg" drop block
for f in throughput latency ratio pingpong worker_pool; do
	grep -q "($f.svg)" "$run/plots/README.md" || fail "README.md does not list $f.svg"
done
[ "$(find "$run/plots" -type f | wc -l)" = 6 ] || fail "plots/ holds other files: $(ls "$run/plots")"
no_temp "$run"
echo "ok: full grid -> 5 SVGs and README.md"

# ---------------------------------------------------------------- 2. columns by name
run2=$tmp/run2
mkdir "$run2"
# reverse the column order and add a column in front
awk -F, -v OFS=, '{ s = (NR == 1 ? "new_col" : "x"); for (i = NF; i >= 1; i--) s = s OFS $i; print s }' \
	"$run/results.csv" >"$run2/results.csv"
"$plot" "$run2" >/dev/null 2>"$tmp/err" || fail "reordered columns: $(cat "$tmp/err")"
for f in throughput latency ratio pingpong worker_pool; do
	cmp -s <(grep -o '<text[^>]*>[^<]*' "$run/plots/$f.svg" | sed 's/.*>//' | sort) \
		<(grep -o '<text[^>]*>[^<]*' "$run2/plots/$f.svg" | sed 's/.*>//' | sort) ||
		fail "reordered columns change the texts of $f.svg"
	cmp -s <(grep -c '<path' "$run/plots/$f.svg") <(grep -c '<path' "$run2/plots/$f.svg") ||
		fail "reordered columns change the drawing of $f.svg"
done
echo "ok: columns read by name"

# ---------------------------------------------------------------- 3. partial runs
run3=$tmp/run3
mkdir "$run3"
{
	echo "$header"
	grep ',pingpong,' "$run/results.csv"
} >"$run3/results.csv"
"$plot" "$run3" >"$tmp/out" 2>"$tmp/err" || fail "pingpong only: $(cat "$tmp/err")"
[ "$(ls "$run3/plots")" = "$(printf 'README.md\npingpong.svg')" ] ||
	fail "pingpong only wrote: $(ls "$run3/plots")"
grep -q 'throughput.svg: no rows of the chan' "$run3/plots/README.md" ||
	fail "README.md does not say why throughput.svg is missing"
check_svg "$run3/plots/pingpong.svg" mutex spsc
echo "ok: pingpong only -> pingpong.svg, chan plots skipped with a reason"

run4=$tmp/run4
mkdir "$run4"
grep -v ',mutex,' "$run/results.csv" >"$run4/results.csv"
"$plot" "$run4" >"$tmp/out" 2>"$tmp/err" || fail "no mutex: $(cat "$tmp/err")"
[ -e "$run4/plots/ratio.svg" ] && fail "ratio.svg drawn without mutex"
grep -q 'ratio.svg: no mutex' "$tmp/err" || fail "no message for the skipped ratio.svg"
check_svg "$run4/plots/throughput.svg" lockfree urcu spsc
echo "ok: no mutex -> no ratio.svg, said so"

run5=$tmp/run5
mkdir "$run5"
gen_csv "$run5/results.csv" 0
"$plot" "$run5" >"$tmp/out" 2>"$tmp/err" || fail "no latency: $(cat "$tmp/err")"
[ -e "$run5/plots/latency.svg" ] && fail "latency.svg drawn without latency"
[ -e "$run5/plots/pingpong.svg" ] && fail "pingpong.svg drawn without latency"
check_svg "$run5/plots/throughput.svg" mutex lockfree urcu spsc
check_svg "$run5/plots/ratio.svg" "urcu / mutex"
echo "ok: no latency recorded -> throughput and ratio only"

# ---------------------------------------------------------------- 4. errors
"$plot" --help >"$tmp/out" 2>&1 || fail "--help exit $?"
grep -q '^usage: scripts/plot' "$tmp/out" || fail "--help prints no usage"
expect_fail 2 "bad option" "$plot" --bogus "$run"
expect_fail 2 "two run folders" "$plot" "$run" "$run2"
expect_fail 2 "missing run folder" "$plot" "$tmp/nonexistent"
expect_fail 2 "run folder is a file" "$plot" "$run/results.csv"
bad=$tmp/bad
mkdir "$bad"
expect_fail 1 "no results.csv" "$plot" "$bad"
: >"$bad/results.csv"
expect_fail 1 "empty results.csv" "$plot" "$bad"
echo "$header" >"$bad/results.csv"
expect_fail 1 "header-only results.csv" "$plot" "$bad"
sed 's/throughput_mps/tput/' "$run/results.csv" >"$bad/results.csv"
expect_fail 1 "results.csv without throughput_mps" "$plot" "$bad"
grep -q 'throughput_mps' "$tmp/err" || fail "the message does not name the missing column"
{
	head -5 "$run/results.csv"
	echo "20261127T000000Z-test,chan,mutex,1"
} >"$bad/results.csv"
expect_fail 1 "ragged row" "$plot" "$bad"
grep -q 'line 6' "$tmp/err" || fail "the message does not name line 6"
sed '3s/,0\.400000,[0-9.]*,/,0.400000,fast,/' "$run/results.csv" \
	>"$bad/results.csv"
expect_fail 1 "non-numeric throughput" "$plot" "$bad"
grep -q 'line 3' "$tmp/err" || fail "the message does not name line 3"
printf '\x00\x01\x02garbage\n' >"$bad/results.csv"
expect_fail 1 "binary garbage" "$plot" "$bad"

# a failure keeps the previous plots/ as they were and leaves no temp folder
before=$(cd "$run/plots" && md5sum ./*)
expect_fail 1 "missing gnuplot" env GNUPLOT=/nonexistent/gnuplot "$plot" "$run"
cp "$run/results.csv" "$tmp/good.csv"
sed -i '4s/,chan,/,chan,,,/' "$run/results.csv"
expect_fail 1 "malformed rerun" "$plot" "$run"
[ "$before" = "$(cd "$run/plots" && md5sum ./*)" ] || fail "a failed run changed plots/"
no_temp "$run"
echo "ok: failures leave plots/ untouched"

echo "test_plot: 1 passed, 0 failed"
