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
# 5. The pattern stories, on fabricated rows with known answers: backpressure_policies.svg
#    (dropped + rejected share of the extras' offered, p99, per policy vs rate),
#    fanout_hedging.svg (p99 and calls_per_req per gather policy and distribution),
#    shutdown_inflight.svg (latency and done / in_flight vs jobs in flight, per grace) and
#    workers.svg (throughput vs consumers per kind). A gnuplot wrapper keeps the data files
#    gnuplot was given, and the medians in them are checked against the values the rows were
#    made to give; columns in another order give the same plots; without latency the
#    latency-only stories are skipped with a reason; a fan-out policy that is not
#    <gather>_<distribution> is left out.
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
. "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
pt_begin test_plot

header='run_id,timestamp_utc,git_rev,host,cpu_model,cpus,compiler,pattern,chan_kind,producers,consumers,stages,queue_depth,work_ns,rate_target,policy,rep,messages,seconds,throughput_mps,lat_p50_ns,lat_p90_ns,lat_p99_ns,lat_p999_ns,lat_max_ns,dropped,rejected,lost,spin_ns,build_type,warmup_s,lat_mean_ns,seed,timeout_ns,extras'

# row PATTERN KIND P C DEPTH REP TPUT P50 P99 P999 [POLICY]: one CSV row (seconds = 0.4).
# Optional variables: R_WORK, R_RATE, R_DROPPED, R_REJECTED, R_TIMEOUT (default 0), R_EXTRAS
# (default -).
row() {
	local msgs
	msgs=$(awk -v t="$7" 'BEGIN { printf "%d", t * 0.4 }')
	echo "20261127T000000Z-test,2026-11-27T00:00:00.000Z,0123456789ab,vm,Test CPU,2,gcc 12.2.0,$1,$2,$3,$4,1,$5,${R_WORK:-0},${R_RATE:-0},${11:--},$6,$msgs,0.400000,$7,$8,$(($8 * 2)),$9,${10},$((${10} * 3)),${R_DROPPED:-0},${R_REJECTED:-0},0,50000,Release,0.1,$(($8 + 100)),1,${R_TIMEOUT:-0},${R_EXTRAS:--}"
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

# same_plots_reordered FROM TO WHAT SVG...: TO/results.csv is FROM's with its columns in reverse
# order and a new column in front; plotting TO must succeed (else fail "WHAT: stderr") and each
# SVG named must have the same texts and the same number of paths as FROM's.
same_plots_reordered() {
	local from=$1 to=$2 what=$3 f
	shift 3
	mkdir "$to"
	awk -F, -v OFS=, '{ s = (NR == 1 ? "new_col" : "x"); for (i = NF; i >= 1; i--) s = s OFS $i; print s }' \
		"$from/results.csv" >"$to/results.csv"
	"$plot" "$to" >/dev/null 2>"$tmp/err" || fail "$what: $(cat "$tmp/err")"
	for f in "$@"; do
		cmp -s <(grep -o '<text[^>]*>[^<]*' "$from/plots/$f.svg" | sed 's/.*>//' | sort) \
			<(grep -o '<text[^>]*>[^<]*' "$to/plots/$f.svg" | sed 's/.*>//' | sort) ||
			fail "reordered columns change the texts of $f.svg"
		cmp -s <(grep -c '<path' "$from/plots/$f.svg") <(grep -c '<path' "$to/plots/$f.svg") ||
			fail "reordered columns change the drawing of $f.svg"
	done
}

# ---------------------------------------------------------------- 1. the full grid
run=$tmp/run
mkdir "$run"
gen_csv "$run/results.csv"
"$plot" "$run" >"$tmp/out" 2>"$tmp/err" || fail "plot failed: $(cat "$tmp/err")"
for f in throughput latency ratio pingpong worker_pool workers; do
	grep -qx "$run/plots/$f.svg" "$tmp/out" || fail "$f.svg not printed: $(cat "$tmp/out")"
done
grep -qx "$run/plots/README.md" "$tmp/out" || fail "README.md not printed"
[ "$(wc -l <"$tmp/out")" = 7 ] || fail "printed more than it wrote: $(cat "$tmp/out")"
check_svg "$run/plots/throughput.svg" mutex lockfree urcu spsc 1p1c 2p2c 16p16c d1024
check_svg "$run/plots/latency.svg" mutex lockfree urcu spsc p50 p99 p99.9 4p1c
check_svg "$run/plots/ratio.svg" "lockfree / mutex" "urcu / mutex" "spsc / mutex"
check_svg "$run/plots/pingpong.svg" mutex lockfree urcu spsc p50 p99
check_svg "$run/plots/worker_pool.svg" drop block
# chan: 4p1c and 4p4c make a "4 producers" panel, 1p1c .. 16p16c a "producers = consumers" one
check_svg "$run/plots/workers.svg" mutex lockfree urcu spsc "chan: 4 producers, depth 64" \
	"chan: producers = consumers, depth 1024"
for f in throughput latency ratio pingpong worker_pool workers; do
	grep -q "($f.svg)" "$run/plots/README.md" || fail "README.md does not list $f.svg"
done
[ "$(find "$run/plots" -type f | wc -l)" = 7 ] || fail "plots/ holds other files: $(ls "$run/plots")"
no_temp "$run"
echo "ok: full grid -> 6 SVGs and README.md"

# ---------------------------------------------------------------- 2. columns by name
run2=$tmp/run2
same_plots_reordered "$run" "$run2" "reordered columns" \
	throughput latency ratio pingpong worker_pool workers
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
grep -q 'backpressure_policies.svg: no rows of the backpressure' "$run3/plots/README.md" ||
	fail "README.md does not say why backpressure_policies.svg is missing"
grep -q 'workers.svg: no chan or worker_pool rows' "$run3/plots/README.md" ||
	fail "README.md does not say why workers.svg is missing"
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

# ---------------------------------------------------------------- 5. pattern stories
# gen_story FILE [LAT_SCALE]: backpressure, fanout_fanin, graceful_shutdown and worker_pool rows
# whose medians are known (LAT_SCALE 0 = latency not recorded).
gen_story() {
	local f=$1 ls=${2:-1} p pol rate rep offered drop n mode dist p99 calls ndone t
	echo "$header" >"$f"
	{
		# backpressure: 1 consumer serving 1000/s, offered 1000, 2000, 4000/s for 0.4 s by 1
		# or 2 producers: a refusing policy refuses offered - 400, block refuses nothing
		for p in 1 2; do
			for pol in block drop_newest reject shed; do
				for rate in 1000 2000 4000; do
					for rep in 1 2 3; do
						offered=$((rate * 4 / 10))
						drop=$((offered - 400))
						R_RATE=$rate R_DROPPED=0 R_REJECTED=0
						case $pol in
						block) p99=500000000 ;;
						reject) R_REJECTED=$drop p99=30000000 ;;
						*) R_DROPPED=$drop p99=$((20000000 + rep * 1000000)) ;;
						esac
						R_EXTRAS="peak_occupancy=64;offered=$offered;capacity_mps=1000;rate_mps=$rate"
						row backpressure mutex "$p" 1 64 "$rep" 1000 $((p99 * ls / 10)) \
							$((p99 * ls)) $((p99 * 2 * ls)) "$pol"
					done
				done
			done
		done
		unset R_RATE R_DROPPED R_REJECTED
		# fanout_fanin: n = 2 and 4 backends; hedging costs 1.05 calls per request
		R_WORK=1000000
		for n in 2 4; do
			for mode in all first hedged; do
				for dist in fixed exp bimodal; do
					for rep in 1 2 3; do
						case $mode in
						all) calls=$n p99=$((10000000 + n * 1000000)) ;;
						first) calls=$n p99=2000000 ;;
						hedged) calls=1.05 p99=$((3000000 + rep * 100000)) ;;
						esac
						R_EXTRAS="hedges=1;cancelled=1;calls_per_req=$calls;hedge_delay_ns=2000000"
						row fanout_fanin mutex 2 "$n" 64 "$rep" 5000 $((1000000 * ls)) \
							$((p99 * ls)) $((p99 * 3 * ls)) "${mode}_$dist"
					done
				done
			done
		done
		# not <gather>_<distribution>: only the generic plot shows it
		R_EXTRAS=- row fanout_fanin mutex 2 2 64 1 5000 1000000 2000000 3000000 weird
		# graceful_shutdown: 2 workers, grace 1 ns (all handed back), 1 ms (16 of 64 done at
		# 64 jobs, all done below), 1 s (all done)
		R_WORK=100000
		for t in 1 1000000 1000000000; do
			for p in 1 4 16 64; do
				for rep in 1 2 3; do
					case $t in
					1) ndone=0 ;;
					1000000) ndone=$((p == 64 ? 16 : p)) ;;
					*) ndone=$p ;;
					esac
					R_TIMEOUT=$t
					R_EXTRAS="in_flight=$p;done=$ndone;cancelled=0;returned=$((p - ndone));expired_frac=1;overrun_max_ns=1000"
					row graceful_shutdown mutex "$p" 2 64 "$rep" 500 $((p * 50000 * ls)) \
						$((p * 90000 * ls)) $((p * 99000 * ls))
				done
			done
		done
		unset R_TIMEOUT R_WORK
		# worker_pool: 2 producers, 1..8 workers, three kinds; repetitions 1, 2, 3 M jobs/s
		R_EXTRAS=-
		for k in mutex lockfree urcu; do
			for n in 1 2 4 8; do
				for rep in 1 2 3; do
					row worker_pool "$k" 2 "$n" 64 "$rep" "${rep}000000" $((20000 * ls)) \
						$((90000 * ls)) $((400000 * ls))
				done
			done
		done
		unset R_EXTRAS
	} >>"$f"
}

# median_at FILE LINE: the median (column 2) of data line LINE of a kept gnuplot data file.
median_at() {
	[ -s "$1" ] || fail "no data file $(basename "$1") (kept: $(ls "$keep" | head -20))"
	sed -n "$2p" "$1" | awk '{ print $2 }'
}
expect_median() {
	local got
	got=$(median_at "$keep/$1" "$2")
	awk -v g="$got" -v w="$3" 'BEGIN { exit !(g != "" && g - w < 1e-9 && w - g < 1e-9) }' ||
		fail "$4: median $got in $1 line $2, want $3"
}

keep=$tmp/keep
mkdir "$keep"
cat >"$tmp/gnuplot-keep" <<EOS
#!/bin/sh
# keeps the data files scripts/plot hands to gnuplot, then runs gnuplot
cp ./*.dat "$keep/" 2>/dev/null
exec "$(command -v gnuplot)" "\$@"
EOS
chmod +x "$tmp/gnuplot-keep"
run6=$tmp/run6
mkdir "$run6"
gen_story "$run6/results.csv"
GNUPLOT=$tmp/gnuplot-keep "$plot" "$run6" >"$tmp/out" 2>"$tmp/err" ||
	fail "stories: $(cat "$tmp/err")"
for f in backpressure_policies fanout_hedging shutdown_inflight workers backpressure \
	fanout_fanin graceful_shutdown worker_pool; do
	grep -qx "$run6/plots/$f.svg" "$tmp/out" || fail "$f.svg not printed: $(cat "$tmp/out")"
	grep -q "($f.svg)" "$run6/plots/README.md" || fail "README.md does not list $f.svg"
done
check_svg "$run6/plots/backpressure_policies.svg" block drop_newest reject shed 1k/s 4k/s \
	"1 producer" "2 producers" "dropped + rejected, % of offered" "p99 latency (log scale)"
check_svg "$run6/plots/fanout_hedging.svg" "all (no hedging)" "first / tied (no hedging)" \
	hedged fixed exp bimodal n=2 n=4 "backend calls per request"
grep -q 'allhedged\|quorum' "$run6/plots/fanout_hedging.svg" &&
	fail "fanout_hedging.svg names a policy the rows do not have"
check_svg "$run6/plots/shutdown_inflight.svg" "grace 1 ns (already over)" "grace 1 ms" \
	"grace 1 s" "p99 (dashed)" "jobs done, % of those in flight" 64
check_svg "$run6/plots/workers.svg" mutex lockfree urcu "worker_pool: 2 producers"
# backpressure, 1 producer (panel column 0), dropped + rejected row (0); policies in the order
# block drop_newest reject shed; rates 1000, 2000, 4000/s are lines 1-3
expect_median backpressure_policies_0_0_0.dat 3 0 "block at 4000/s"
expect_median backpressure_policies_0_0_1.dat 1 0 "drop_newest at 1000/s"
expect_median backpressure_policies_0_0_1.dat 2 50 "drop_newest at 2000/s"
expect_median backpressure_policies_0_0_2.dat 3 75 "reject at 4000/s"
expect_median backpressure_policies_0_1_3.dat 3 75 "shed at 4000/s, 2 producers"
expect_median backpressure_policies_1_0_0.dat 2 500000000 "block's p99"
expect_median backpressure_policies_1_0_1.dat 2 22000000 "drop_newest's p99 (median of 3)"
# fanout: n=2 is column 0, n=4 column 1; row 1 = calls; policies all, first, hedged
expect_median fanout_hedging_1_0_2.dat 3 1.05 "hedged calls per request"
expect_median fanout_hedging_1_1_0.dat 1 4 "all-of-4 calls per request"
expect_median fanout_hedging_0_1_0.dat 2 14000000 "all-of-4 p99"
expect_median fanout_hedging_0_0_2.dat 3 3200000 "hedged p99 (median of 3)"
# shutdown: row 0 = latency (p50, p99 per grace), row 1 = done %; graces 1 ns, 1 ms, 1 s
expect_median shutdown_inflight_1_0_0.dat 4 0 "grace 1 ns: nothing done"
expect_median shutdown_inflight_1_0_1.dat 4 25 "grace 1 ms, 64 jobs: 16 done"
expect_median shutdown_inflight_1_0_1.dat 3 100 "grace 1 ms, 16 jobs: all done"
expect_median shutdown_inflight_1_0_2.dat 4 100 "grace 1 s: all done"
expect_median shutdown_inflight_0_0_1.dat 4 5760000 "grace 1 ns: p99 at 64 jobs"
expect_median shutdown_inflight_0_0_2.dat 1 50000 "grace 1 ms: p50 at 1 job"
# workers: the worker_pool panel; kinds mutex, lockfree, urcu; repetitions 1, 2, 3 M/s
expect_median workers_0_0_0.dat 1 2 "worker_pool mutex, 1 worker"
expect_median workers_0_0_2.dat 4 2 "worker_pool urcu, 8 workers"
no_temp "$run6"
echo "ok: pattern stories -> 4 story SVGs with the medians the rows were made to give"

# the same rows with the columns in another order: the same plots
run7=$tmp/run7
same_plots_reordered "$run6" "$run7" "stories, reordered columns" \
	backpressure_policies fanout_hedging shutdown_inflight workers
echo "ok: stories read their columns by name"

# no latency recorded: the latency-only stories are skipped with a reason, the rest drawn
run8=$tmp/run8
mkdir "$run8"
gen_story "$run8/results.csv" 0
"$plot" "$run8" >"$tmp/out" 2>"$tmp/err" || fail "stories without latency: $(cat "$tmp/err")"
for f in fanout_hedging shutdown_inflight; do
	[ -e "$run8/plots/$f.svg" ] && fail "$f.svg drawn without latency"
	grep -q "$f.svg: the .* rows hold no latency" "$run8/plots/README.md" ||
		fail "README.md does not say why $f.svg is missing"
done
check_svg "$run8/plots/backpressure_policies.svg" block shed "dropped + rejected, % of offered"
grep -q 'p99 latency' "$run8/plots/backpressure_policies.svg" &&
	fail "backpressure_policies.svg has latency panels without latency"
grep -q 'backpressure_policies.svg latency panels: the backpressure rows hold no latency' \
	"$run8/plots/README.md" || fail "README.md does not say why the latency panels are missing"
check_svg "$run8/plots/workers.svg" mutex lockfree urcu
echo "ok: stories without latency -> skipped with a reason"

echo "test_plot: 1 passed, 0 failed"
