#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_ref_cli.sh - patlab-ref (bench/ref/) end to end, on tiny settings. Nothing is timed.
#
# 1. --help exits 0 with a usage text naming every queue; every bad argument exits 2 with one
#    line on stderr that names what is wrong.
# 2. A tiny run of every queue (2 topologies x 2 depths, ping-pong, 1 repetition of 0.1 s:
#    long enough that a loaded machine still moves messages in every window)
#    exits 0; stdout holds one table per depth with one row per queue and one cell per
#    topology plus ping-pong, "—" exactly where a single-producer/single-consumer queue
#    cannot run, and a ratio table; the CSV has its header and one row per point, every row
#    "ok" and with a positive rate.
# 3. The exactly-once check can fail: PATLAB_REF_FAULT=drop / dup (a consumer miscounts one
#    message) makes a run exit 3 with a line saying what was wrong, for a reference and for a
#    kind, and the CSV row says FAIL.
#
# Usage: test_ref_cli.sh PATH/TO/patlab-ref     (exit 0 pass, 1 fail)
set -uo pipefail

bin=${1:?usage: test_ref_cli.sh PATH/TO/patlab-ref}
. "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
pt_begin test_ref_cli

# ---------------------------------------------------------------- 1. help and errors
out=$("$bin" --help 2>&1) || fail "--help exit $?"
grep -q '^usage: patlab-ref' <<<"$out" || fail "--help prints no usage: $out"
queues=$(sed -n 's/.*(default: all): //p' <<<"$out")
[ -n "$queues" ] || fail "--help lists no queues"
IFS=', ' read -r -a qs <<<"$queues"
for q in ref-vyukov ref-spsc mutex lockfree urcu spsc; do
	[[ " ${qs[*]} " == *" $q "* ]] || fail "--help does not list queue $q: $queues"
done

expect_usage_error() { # WANT ARGS...: exit 2, one line on stderr containing WANT, no stdout
	local want=$1 rc
	shift
	"$bin" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ $rc -eq 2 ] || fail "'patlab-ref $*' exit $rc, want 2 ($(cat "$tmp/err"))"
	grep -qF -- "$want" "$tmp/err" || fail "'patlab-ref $*' says '$(cat "$tmp/err")', want '$want'"
	[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "'patlab-ref $*': more than one line: $(cat "$tmp/err")"
	[ ! -s "$tmp/out" ] || fail "'patlab-ref $*' printed on stdout"
}
expect_usage_error "--reps: bad value '0'" --reps 0
expect_usage_error "--reps: bad value 'x'" --reps x
expect_usage_error "--seconds: bad value '-1'" --seconds -1
expect_usage_error "--seconds: bad value '0'" --seconds 0
expect_usage_error "--seconds: bad value 'nan'" --seconds nan
expect_usage_error "--seconds: bad value '1s'" --seconds 1s
expect_usage_error "--depth: bad value '0'" --depth 0
expect_usage_error "--depth: bad value '-4'" --depth 64,-4
expect_usage_error "--depth: empty item" --depth 1,,2
expect_usage_error "--depth: '64' given twice" --depth 64,64
expect_usage_error "--topo: bad value '0p1c'" --topo 0p1c
expect_usage_error "--topo: bad value '2x2'" --topo 2x2
expect_usage_error "--topo: bad value '1p257c'" --topo 1p257c
expect_usage_error "--topo: empty list" --topo ''
expect_usage_error "--queues: unknown queue 'nosuch' (valid: ref-vyukov, ref-spsc" --queues mutex,nosuch
expect_usage_error "unknown option '--bogus'" --bogus
expect_usage_error "unknown option '--bogus'" --bogus=3
expect_usage_error "unexpected argument 'extra'" extra
expect_usage_error "--csv needs a value" --csv
expect_usage_error "--quiet takes no value" --quiet=1
PATLAB_REF_FAULT=maybe expect_usage_error "PATLAB_REF_FAULT: bad value 'maybe'" --reps 1

# ---------------------------------------------------------------- 2. a tiny run of everything
"$bin" --seconds 0.1 --reps 1 --depth 1,64 --topo 1p1c,2p2c --csv "$tmp/r.csv" --quiet \
	>"$tmp/table.md" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] || fail "tiny run exit $rc: $(cat "$tmp/err")"
[ ! -s "$tmp/err" ] || fail "--quiet run printed on stderr: $(cat "$tmp/err")"
for d in 1 64; do
	title="## Depth $d: M msg/s, median (min-max) of 1 interleaved repetition of 0.1 s"
	grep -qxF "$title" "$tmp/table.md" || fail "no table for depth $d: $(cat "$tmp/table.md")"
	# The table: the lines after its title up to the next blank line after the rows.
	awk -v t="$title" '$0 == t { on = 1; next } on && /^\|/ { print; seen = 1; next }
		seen { exit }' "$tmp/table.md" >"$tmp/t$d"
	head -1 "$tmp/t$d" | grep -qxF '| queue | 1p1c | 2p2c | ping-pong RTT (cap 1) |' ||
		fail "depth $d: header is '$(head -1 "$tmp/t$d")'"
	[ "$(wc -l <"$tmp/t$d")" -eq $((${#qs[@]} + 2)) ] ||
		fail "depth $d: want ${#qs[@]} rows: $(cat "$tmp/t$d")"
	for q in "${qs[@]}"; do
		row=$(grep -F "| $q |" "$tmp/t$d") || fail "depth $d: no row for $q"
		cells=$(awk -F'|' '{ print NF - 2 }' <<<"$row")
		[ "$cells" -eq 4 ] || fail "depth $d: row '$row' has $cells cells, want 4"
		case $q in *spsc*) spsc=1 ;; *) spsc=0 ;; esac
		c1=$(awk -F'|' '{ print $3 }' <<<"$row")
		c2=$(awk -F'|' '{ print $4 }' <<<"$row")
		pp=$(awk -F'|' '{ print $5 }' <<<"$row")
		grep -Eq '^ [0-9.]+ \([0-9.]+-[0-9.]+\) $' <<<"$c1" || fail "depth $d $q 1p1c: '$c1'"
		if [ $spsc -eq 1 ]; then
			[ "$c2" = " — " ] || fail "depth $d $q 2p2c: '$c2', want —"
		else
			grep -Eq '^ [0-9.]+ \([0-9.]+-[0-9.]+\) $' <<<"$c2" || fail "depth $d $q 2p2c: '$c2'"
		fi
		grep -Eq '^ [0-9.]+ ns \([0-9.]+-[0-9.]+\) $' <<<"$pp" || fail "depth $d $q ping-pong: '$pp'"
	done
	grep -qF "Ratios at depth $d" "$tmp/table.md" || fail "no ratio table at depth $d"
done
grep -Eq '^\| lockfree / ref-vyukov \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|$' "$tmp/table.md" ||
	fail "no lockfree / ref-vyukov ratio row: $(cat "$tmp/table.md")"
grep -Eq '^\| spsc / ref-spsc \| [0-9.]+ \| — \| [0-9.]+ \|$' "$tmp/table.md" ||
	fail "no spsc / ref-spsc ratio row: $(cat "$tmp/table.md")"

header='queue,family,topo,producers,consumers,depth,held,rep,seconds,messages,msgs_per_s,rtt_ns,exactly_once,build,compiler'
[ "$(head -1 "$tmp/r.csv")" = "$header" ] || fail "CSV header: $(head -1 "$tmp/r.csv")"
nspsc=0
for q in "${qs[@]}"; do case $q in *spsc*) nspsc=$((nspsc + 1)) ;; esac; done
# Per depth: every queue at 1p1c, the others at 2p2c too; plus one ping-pong per queue.
want=$((2 * (${#qs[@]} + ${#qs[@]} - nspsc) + ${#qs[@]}))
[ "$(($(wc -l <"$tmp/r.csv") - 1))" -eq $want ] ||
	fail "CSV: $(($(wc -l <"$tmp/r.csv") - 1)) rows, want $want"
awk -F, 'NR > 1 && (NF != 15 || $13 != "ok" || $11 <= 0 || $10 <= 0 ||
	($3 == "pingpong") != ($12 != "")) { print "bad row: " $0; bad = 1 }
	END { exit bad }' "$tmp/r.csv" >"$tmp/bad" || fail "$(cat "$tmp/bad")"

# ---------------------------------------------------------------- 3. the check can fail
expect_check_failure() { # FAULT QUEUE WANT
	local rc
	PATLAB_REF_FAULT=$1 "$bin" --queues "$2" --topo 2p2c --depth 64 --no-pingpong --reps 1 \
		--seconds 0.05 --quiet --csv "$tmp/f.csv" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ $rc -eq 3 ] || fail "fault $1 on $2: exit $rc, want 3 ($(cat "$tmp/err"))"
	grep -qF "exactly-once check FAILED: $2 2p2c depth 64 rep 1: " "$tmp/err" ||
		fail "fault $1 on $2: says '$(cat "$tmp/err")'"
	grep -qF -- "$3" "$tmp/err" || fail "fault $1 on $2: says '$(cat "$tmp/err")', want '$3'"
	tail -1 "$tmp/f.csv" | grep -q "^$2,.*,FAIL," || fail "fault $1 on $2: CSV row not FAIL"
}
expect_check_failure drop ref-vyukov "lost"
expect_check_failure dup ref-vyukov "out of order (or twice)"
expect_check_failure drop mutex "lost"
expect_check_failure dup lockfree "out of order (or twice)"

echo "test_ref_cli: ok"
