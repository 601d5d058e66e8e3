#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_check.sh - `patlab check` on synthetic results (no timing: the inputs are made here).
#
# Synthetic results.csv files have the real schema and 4 configurations; every value is the
# configuration's figure times (1 + noise), noise uniform in +-NOISE from a seeded generator,
# so each file is the same on every run. Checked:
#   - A/A (two files drawn from one distribution) passes, exit 0; the output is deterministic;
#   - a planted 20% slowdown of one configuration's throughput fails (exit 1), with 10 and
#     with 5 repetitions (5 and 5 reach p = 0.0079 < 0.01), and names it, worst first; so do
#     a latency slowdown and a regression of the instruction counts;
#   - below the threshold, or not significant (noisy), or faster: exit 0;
#   - --threshold (global and per metric), --metric, --alpha, --min-reps, --out;
#   - exit 2, naming the problem: configurations on one side only, different columns, a
#     timing file against an instruction-count file, too few repetitions, a min p that cannot
#     reach alpha, sanitized builds, different compilers for counts, bad arguments;
#   - check.md and check.csv are written; lost messages in the current results fail.
#
# Usage: test_check.sh PATH/TO/patlab      (exit 0 pass, 1 fail)
set -uo pipefail

bin=${1:?usage: test_check.sh PATH/TO/patlab}
. "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
pt_begin test_check

header='run_id,timestamp_utc,git_rev,host,cpu_model,cpus,compiler,pattern,chan_kind,producers,consumers,stages,queue_depth,work_ns,rate_target,policy,rep,messages,seconds,throughput_mps,lat_p50_ns,lat_p90_ns,lat_p99_ns,lat_p999_ns,lat_max_ns,dropped,rejected,lost,spin_ns,build_type,warmup_s,lat_mean_ns,seed,timeout_ns,extras'

# The configurations: pattern kind producers consumers depth throughput p50_ns p99_ns
configs='chan mutex 1 1 64 2000000 9000 160000
chan lockfree 1 1 64 5000000 6000 50000
chan urcu 2 2 1024 4000000 41000 2000000
pingpong mutex 1 1 1 50000 14000 400000'

# gen OUT SEED REPS NOISE [MATCH TPUT_FACTOR LAT_FACTOR [BUILD]] - a results.csv; rows of
# configurations whose "pattern kind" is MATCH get throughput x TPUT_FACTOR and every latency
# x LAT_FACTOR. Repetitions are interleaved (rep 1 of every configuration, then rep 2, ...).
gen() {
	local out=$1 seed=$2 reps=$3 noise=$4 match=${5:-} tf=${6:-1} lf=${7:-1}
	local build=${8:-Release}
	{
		echo "$header"
		awk -v seed="$seed" -v reps="$reps" -v noise="$noise" -v sel="$match" \
			-v tf="$tf" -v lf="$lf" -v build="$build" -v run="synthetic-$seed" '
			function rnd() { # a 31-bit LCG: the same numbers everywhere
				state = (state * 1103515245 + 12345) % 2147483648
				return state / 2147483648
			}
			function jitter() { return 1 + noise * (2 * rnd() - 1) }
			{ n++; pat[n] = $1; kind[n] = $2; p[n] = $3; c[n] = $4; d[n] = $5
			  tp[n] = $6; l50[n] = $7; l99[n] = $8 }
			END {
				state = seed
				for (r = 1; r <= reps; r++)
					for (i = 1; i <= n; i++) {
						f = (pat[i] " " kind[i] == sel) ? tf : 1
						g = (pat[i] " " kind[i] == sel) ? lf : 1
						t = tp[i] * f * jitter()
						a = int(l50[i] * g * jitter())
						b = int(l99[i] * g * jitter())
						printf "%s,2026-01-01T00:00:%02d.000Z,abc123,host1,AMD EPYC,2,gcc 12.2.0,%s,%s,%d,%d,1,%d,0,0,-,%d,%d,0.200000,%.1f,%d,%d,%d,%d,%d,0,0,0,50000,%s,0.05,%.1f,1,0,-\n", \
							run, r % 60, pat[i], kind[i], p[i], c[i], d[i], r, \
							int(t / 5), t, a, int((a + b) / 2), b, b * 2, b * 4, \
							build, a * 1.1
					}
			}' <<<"$configs"
	} >"$out"
}

# run_check WANT_RC ARGS... - run patlab check, keep stdout+stderr in $out, check the exit.
run_check() {
	local want=$1
	shift
	out=$("$bin" check "$@" 2>&1)
	local rc=$?
	[ "$rc" -eq "$want" ] || fail "'patlab check $*' exit $rc, want $want; output:
$out"
}
expect() { # TEXT: the last output contains TEXT
	grep -qF -- "$1" <<<"$out" || fail "output lacks '$1'; output:
$out"
}
expect_not() {
	! grep -qF -- "$1" <<<"$out" || fail "output has '$1'; output:
$out"
}

o=$tmp/out
mkdir -p "$o"

# ---------------------------------------------------------------- help and usage
run_check 0 --help
expect "usage: patlab check"
expect "0.0079"
run_check 2
expect "give BASELINE and CURRENT"
gen "$tmp/a.csv" 11 10 0.03
gen "$tmp/b.csv" 22 10 0.03
run_check 2 "$tmp/a.csv"
run_check 2 "$tmp/a.csv" "$tmp/b.csv" "$tmp/a.csv"
expect "unexpected argument"
run_check 2 --alpha 2 "$tmp/a.csv" "$tmp/b.csv"
expect "--alpha: bad value '2'"
run_check 2 --threshold x "$tmp/a.csv" "$tmp/b.csv"
expect "--threshold: bad value 'x'"
run_check 2 --threshold nosuch=5 "$tmp/a.csv" "$tmp/b.csv"
expect "unknown metric 'nosuch'"
run_check 2 --metric nosuch "$tmp/a.csv" "$tmp/b.csv"
expect "--metric: unknown metric 'nosuch'"
run_check 2 --min-reps 1 "$tmp/a.csv" "$tmp/b.csv"
expect "--min-reps: bad value '1'"
run_check 2 --bogus "$tmp/a.csv" "$tmp/b.csv"
expect "unknown option '--bogus'"
run_check 2 "$tmp/nosuch.csv" "$tmp/b.csv"
expect "cannot open $tmp/nosuch.csv"

# ---------------------------------------------------------------- A/A
run_check 0 --out "$o" "$tmp/a.csv" "$tmp/b.csv"
expect "no regression: 4 configurations x 3 metrics checked"
expect_not "REGRESSION"
if [ ! -s "$o/check.md" ] || [ ! -s "$o/check.csv" ]; then
	fail "check.md / check.csv not written"
fi
[ "$(wc -l <"$o/check.csv")" -eq 13 ] || fail "check.csv: want a header and 12 rows"
head -1 "$o/check.csv" | grep -q '^verdict,pattern,chan_kind,' || fail "check.csv header"
cp "$o/check.csv" "$tmp/first.csv"
run_check 0 --out "$o" "$tmp/a.csv" "$tmp/b.csv"
cmp -s "$o/check.csv" "$tmp/first.csv" || fail "two identical checks differ (bootstrap seed)"
# A run folder works as an argument, and the default output folder is CURRENT's.
mkdir -p "$tmp/run"
cp "$tmp/b.csv" "$tmp/run/results.csv"
run_check 0 "$tmp/a.csv" "$tmp/run"
[ -s "$tmp/run/check.md" ] || fail "check.md not written next to CURRENT by default"

# ---------------------------------------------------------------- planted slowdowns
# Throughput / 1.2 = 20% more time per message, 10 reps a side.
gen "$tmp/slow.csv" 22 10 0.03 "chan mutex" 0.8333333 1
run_check 1 --out "$o" "$tmp/a.csv" "$tmp/slow.csv"
expect "REGRESSION: 1 of 4 configurations regressed (1 metric failed)"
expect "chan mutex 1p1c d64: throughput_mps +"
first=$(grep -m1 -E '^(REGRESSION|slower|ok|faster)' <<<"$out")
grep -q "^REGRESSION  chan mutex 1p1c d64  *throughput_mps" <<<"$first" ||
	fail "the regression is not listed first: $first"
sed -n 2p "$o/check.csv" | grep -q '^REGRESSION,chan,mutex,1,1,1,64,.*,throughput_mps,1,10,10,' ||
	fail "check.csv: first row $(sed -n 2p "$o/check.csv")"
[ "$(grep -c '^REGRESSION' "$o/check.csv")" -eq 1 ] || fail "check.csv: one REGRESSION row"
grep -q '^\*\*REGRESSION\*\*' "$o/check.md" || fail "check.md has no verdict line"
# The same with 5 repetitions a side: the smallest reachable p, 0.0079, is below 0.01.
gen "$tmp/a5.csv" 11 5 0.03
gen "$tmp/slow5.csv" 22 5 0.03 "chan mutex" 0.8333333 1
run_check 1 --out "$o" "$tmp/a5.csv" "$tmp/slow5.csv"
expect "0.0079"
# Latency 30% higher (throughput unchanged) is a regression of the latency metrics.
gen "$tmp/lat.csv" 22 10 0.03 "chan lockfree" 1 1.3
run_check 1 --out "$o" "$tmp/a.csv" "$tmp/lat.csv"
expect "chan lockfree 1p1c d64: lat_p50_ns +"
expect "chan lockfree 1p1c d64: lat_p99_ns +"
expect "REGRESSION: 1 of 4 configurations regressed (2 metrics failed)"
run_check 0 --out "$o" --metric throughput_mps "$tmp/a.csv" "$tmp/lat.csv"
expect "4 configurations x 1 metric checked"
# Faster is not a regression.
gen "$tmp/fast.csv" 22 10 0.03 "chan urcu" 1.5 0.6
run_check 0 --out "$o" "$tmp/a.csv" "$tmp/fast.csv"
expect "faster"

# ---------------------------------------------------------------- thresholds and significance
# 7% slower: significant but below the 10% default; above --threshold 5.
gen "$tmp/s7.csv" 22 10 0.01 "chan mutex" 0.9345794 1
run_check 0 --out "$o" "$tmp/a.csv" "$tmp/s7.csv"
run_check 1 --out "$o" --threshold 5 "$tmp/a.csv" "$tmp/s7.csv"
expect "chan mutex 1p1c d64: throughput_mps +"
run_check 1 --out "$o" --threshold 10,throughput_mps=5 "$tmp/a.csv" "$tmp/s7.csv"
run_check 0 --out "$o" --threshold 5,throughput_mps=8% "$tmp/a.csv" "$tmp/s7.csv"
# 50% slower but drowned in +-60% noise with 5 reps: beyond the threshold, not significant.
gen "$tmp/n1.csv" 11 5 0.6
gen "$tmp/n2.csv" 22 5 0.6 "chan mutex" 0.6666667 1
run_check 0 --out "$o" --metric throughput_mps "$tmp/n1.csv" "$tmp/n2.csv"
grep -q '^slower?,chan,mutex,' "$o/check.csv" || fail "a noisy slowdown is not 'slower?': $out"
# --alpha: 5 reps a side cannot reach p < 0.005 (min p 0.0079): refused, not silently blind;
# 10 reps a side can.
run_check 1 --out "$o" --alpha 0.005 "$tmp/a.csv" "$tmp/slow.csv"
run_check 2 --out "$o" --alpha 0.005 "$tmp/a5.csv" "$tmp/slow5.csv"
expect "smallest possible two-sided p is 0.00794"

# ---------------------------------------------------------------- --normalize
# Every configuration 2x slower (a loaded machine): a regression raw, not normalized.
awk -F, -v OFS=, 'NR > 1 { $20 = $20 / 2; $21 *= 2; $22 *= 2; $23 *= 2 } { print }' \
	"$tmp/b.csv" >"$tmp/all2.csv"
run_check 1 --out "$o" "$tmp/a.csv" "$tmp/all2.csv"
expect "REGRESSION: 4 of 4 configurations regressed"
expect "machine factor (median change over all configurations): throughput_mps +100."
run_check 0 --out "$o" --normalize "$tmp/a.csv" "$tmp/all2.csv"
expect "divided out (--normalize)"
grep -q '^ok,\*,.*,throughput_mps,1,4,4,-,-,100\.' "$o/check.csv" ||
	fail "check.csv: no machine-factor row: $(cat "$o/check.csv")"
# ... and one of them 3x slower still: it stands out.
awk -F, -v OFS=, 'NR > 1 && $9 == "lockfree" { $20 = $20 / 1.5 } { print }' \
	"$tmp/all2.csv" >"$tmp/all2b.csv"
run_check 1 --out "$o" --normalize --metric throughput_mps "$tmp/a.csv" "$tmp/all2b.csv"
expect "chan lockfree 1p1c d64: throughput_mps +"
# Everything 5x slower is more than load explains: the factor itself regresses.
awk -F, -v OFS=, 'NR > 1 { $20 = $20 / 5 } { print }' "$tmp/b.csv" >"$tmp/all5.csv"
run_check 1 --out "$o" --normalize --metric throughput_mps "$tmp/a.csv" "$tmp/all5.csv"
expect "(machine factor: all configurations): throughput_mps +"
run_check 0 --out "$o" --normalize --max-factor 500 --metric throughput_mps "$tmp/a.csv" \
	"$tmp/all5.csv"
run_check 2 --out "$o" --max-factor x "$tmp/a.csv" "$tmp/b.csv"
expect "--max-factor: bad value 'x'"

# ---------------------------------------------------------------- exit 2: the mismatch named
grep -v '^synthetic-22,.*,pingpong,' "$tmp/b.csv" >"$tmp/missing.csv"
run_check 2 --out "$o" "$tmp/a.csv" "$tmp/missing.csv"
expect "mismatched configurations: 1 configuration is on one side only"
expect "pingpong mutex d1: only in the baseline ($tmp/a.csv)"
sed 's/,chan,urcu,2,2,1,1024,/,chan,urcu,4,4,1,1024,/' "$tmp/b.csv" >"$tmp/other.csv"
run_check 2 --out "$o" "$tmp/a.csv" "$tmp/other.csv"
expect "chan urcu 2p2c d1024: only in the baseline"
expect "chan urcu 4p4c d1024: only in the current results ($tmp/other.csv)"
cut -d, -f1-28,30- "$tmp/b.csv" >"$tmp/noscol.csv" # without spin_ns (column 29)
run_check 2 --out "$o" "$tmp/a.csv" "$tmp/noscol.csv"
expect "schema mismatch"
expect "column spin_ns is in the baseline ($tmp/a.csv) but not in the current results"
printf 'a,b,c\n1,2,3\n' >"$tmp/junk.csv"
run_check 2 --out "$o" "$tmp/a.csv" "$tmp/junk.csv"
expect "$tmp/junk.csv is neither a patlab results.csv nor an instruction-count CSV"
gen "$tmp/a4.csv" 11 4 0.03
run_check 2 --out "$o" "$tmp/a4.csv" "$tmp/b.csv"
expect "too few repetitions: 4 configurations are below --min-reps 5"
expect "chan mutex 1p1c d64: 4 in the baseline, 10 in the current results"
run_check 2 --out "$o" --min-reps 4 "$tmp/a4.csv" "$tmp/a4.csv"
expect "smallest possible two-sided p is 0.0286"
run_check 0 --out "$o" --min-reps 4 --alpha 0.05 "$tmp/a4.csv" "$tmp/a4.csv"
gen "$tmp/san.csv" 22 10 0.03 "" 1 1 "RelWithDebInfo sanitized build (thread)"
run_check 2 --out "$o" "$tmp/a.csv" "$tmp/san.csv"
expect "comes from a sanitized build"
# Outputs that cannot be written: exit 1 with the reason (the verdict is still printed).
run_check 1 --out /nonexistent/dir "$tmp/a.csv" "$tmp/b.csv"
expect "cannot write /nonexistent/dir/check.md and check.csv: No such file or directory"
expect "no regression"

# ---------------------------------------------------------------- lost messages: exit 3
awk -F, -v OFS=, 'NR == 3 { $28 = 5 } { print }' "$tmp/b.csv" >"$tmp/lost.csv"
run_check 3 --out "$o" "$tmp/a.csv" "$tmp/lost.csv"
expect "LOST MESSAGES"
run_check 3 --out "$o" "$tmp/a.csv" "$tmp/lost.csv" "--metric" "throughput_mps"
expect "LOST MESSAGES"

# ---------------------------------------------------------------- across configurations
# Too few repetitions for a test of each configuration (3 a side, as the quick preset): the
# configurations are judged together, per metric, by the median change and a one-sided
# signed-rank test. 8 configurations (the test needs 7 at alpha 0.01).
configs_saved=$configs
configs="$configs
chan spsc 1 1 64 9000000 3000 30000
chan mutex 2 2 1024 3000000 30000 900000
chan lockfree 2 2 1024 6000000 20000 700000
pingpong lockfree 1 1 1 60000 12000 300000"
gen "$tmp/x1.csv" 11 3 0.03
gen "$tmp/x2.csv" 22 3 0.03
run_check 0 --out "$o" "$tmp/x1.csv" "$tmp/x1.csv"
expect "no regression: 8 configurations x 3 metrics checked (all 8 judged across configurations: too few repetitions for a test of each)"
expect "across configurations: throughput_mps: median change +0.0% over 8 configurations"
grep -q '^- across configurations: throughput_mps: median change' "$o/check.md" ||
	fail "check.md has no across-configuration line"
grep -q '^ok,\*,.*,throughput_mps,1,8,8,-,-,0\.0000,-,-,0\.0,1,1,20,0\.01$' "$o/check.csv" ||
	fail "check.csv: no across row for the A/A: $(grep throughput_mps "$o/check.csv" | head -3)"
run_check 0 --out "$o" "$tmp/x1.csv" "$tmp/x2.csv"
# Every configuration's throughput halved (+100% cost): beyond the default 20%.
awk -F, -v OFS=, 'NR > 1 { $20 = sprintf("%.1f", $20 / 2) } { print }' "$tmp/x1.csv" >"$tmp/x2half.csv"
run_check 1 --out "$o" --metric throughput_mps "$tmp/x1.csv" "$tmp/x2half.csv"
expect "REGRESSION: slower across 8 configurations: throughput_mps +100.0% (median, p = 0.0039)"
expect "(across configurations): throughput_mps +100.0% slower (median of 8), p = 0.0039"
grep -q '^REGRESSION,\*,.*,throughput_mps,1,8,8,-,-,100\.0000,-,-,36\.0,0\.00390625,1,20,0\.01$' \
	"$o/check.csv" || fail "check.csv: no across REGRESSION row: $(cat "$o/check.csv")"
grep -q '^\*\*REGRESSION\*\*: slower across 8 configurations' "$o/check.md" ||
	fail "check.md: no across verdict line"
# 15% slower everywhere: below the default 20%, above --across-threshold 10; and no single
# configuration is tested alone (nor called a REGRESSION).
awk -F, -v OFS=, 'NR > 1 { $20 = sprintf("%.1f", $20 / 1.15) } { print }' "$tmp/x1.csv" >"$tmp/x2s.csv"
run_check 0 --out "$o" --metric throughput_mps "$tmp/x1.csv" "$tmp/x2s.csv"
expect "across configurations: throughput_mps: median change +15.0% over 8 configurations"
expect "threshold 20%: ok"
run_check 1 --out "$o" --metric throughput_mps --across-threshold 10 "$tmp/x1.csv" "$tmp/x2s.csv"
expect_not "REGRESSION  chan"
run_check 1 --out "$o" --across-threshold 20,throughput_mps=10 "$tmp/x1.csv" "$tmp/x2s.csv"
run_check 2 --out "$o" --across-threshold 20,nosuch=1 "$tmp/x1.csv" "$tmp/x2s.csv"
expect "--across-threshold: unknown metric 'nosuch'"
# The same slowdown in latency (p50 and p99 x 1.5): the latency metrics regress across.
awk -F, -v OFS=, 'NR > 1 { $21 = int($21 * 1.5); $23 = int($23 * 1.5) } { print }' "$tmp/x1.csv" >"$tmp/x2lat.csv"
run_check 1 --out "$o" "$tmp/x1.csv" "$tmp/x2lat.csv"
expect "slower across 8 configurations: lat_p50_ns +50.0% (median, p = 0.0039), lat_p99_ns +50.0%"
# Half of them slower, half faster: the median moves, the test does not lean: not a regression.
awk -F, -v OFS=, 'NR > 1 { $20 = sprintf("%.1f", ($9 == "mutex" || $9 == "spsc") ? $20 / 3 : $20 * 3) } { print }' \
	"$tmp/x1.csv" >"$tmp/x2mix.csv"
run_check 0 --out "$o" --metric throughput_mps --across-threshold 10 "$tmp/x1.csv" "$tmp/x2mix.csv"
# --normalize would divide out the very shift that is judged: refused.
run_check 2 --out "$o" --normalize "$tmp/x1.csv" "$tmp/x2.csv"
expect "--normalize divides out the shift across configurations"
# Enough repetitions on some: those are tested alone, the rest together.
gen "$tmp/x5.csv" 11 5 0.03
awk -F, 'NR == 1 || $8 != "chan" || $9 != "mutex" || $10 != 1' "$tmp/x2.csv" >"$tmp/x2part.csv"
awk -F, 'NR > 1 && $8 == "chan" && $9 == "mutex" && $10 == 1' "$tmp/x5.csv" >>"$tmp/x2part.csv"
gen "$tmp/y5.csv" 33 5 0.03
awk -F, 'NR == 1 || $8 != "chan" || $9 != "mutex" || $10 != 1' "$tmp/x1.csv" >"$tmp/x1part.csv"
awk -F, 'NR > 1 && $8 == "chan" && $9 == "mutex" && $10 == 1' "$tmp/y5.csv" >>"$tmp/x1part.csv"
run_check 0 --out "$o" "$tmp/x1part.csv" "$tmp/x2part.csv"
expect "(7 judged across configurations: too few repetitions for a test of each)"
expect "7 of 8 configurations have too few repetitions for that test"
configs=$configs_saved

# ---------------------------------------------------------------- instruction counts
ic_header='path,iterations,instructions,instructions_per_op,compiler,build_type,planted_delay_ns,git_rev,valgrind'
ic() { # OUT MUTEX_PER_OP [COMPILER] [EXTRA_PATH]
	{
		echo "$ic_header"
		echo "chan/mutex/send_recv,20000,0,$2,${3:-gcc 12.2.0},Release,0,abc,valgrind-3.19.0"
		echo "ctx/err,20000,1100018,55.00,${3:-gcc 12.2.0},Release,0,abc,valgrind-3.19.0"
		[ -z "${4:-}" ] || echo "$4,20000,1,1.00,${3:-gcc 12.2.0},Release,0,abc,valgrind-3.19.0"
	} >"$1"
}
ic "$tmp/i0.csv" 145.02
ic "$tmp/i1.csv" 145.02
run_check 0 --out "$o" "$tmp/i0.csv" "$tmp/i1.csv"
expect "no regression: 2 paths x 1 metric checked"
ic "$tmp/i2.csv" 146.40 # +0.95%: below 2%
run_check 0 --out "$o" "$tmp/i0.csv" "$tmp/i2.csv"
ic "$tmp/i3.csv" 149.50 # +3.1%
run_check 1 --out "$o" "$tmp/i0.csv" "$tmp/i3.csv"
expect "chan/mutex/send_recv: instructions_per_op +3.1% slower (145.02 -> 149.50)"
grep -q '^REGRESSION,chan/mutex/send_recv,instructions_per_op,145.0200,149.5000,' "$o/check.csv" ||
	fail "icount check.csv: $(cat "$o/check.csv")"
run_check 0 --out "$o" --threshold 5 "$tmp/i0.csv" "$tmp/i3.csv"
ic "$tmp/i4.csv" 145.02 "clang 14.0.6"
run_check 2 --out "$o" "$tmp/i0.csv" "$tmp/i4.csv"
expect "instruction counts from different builds are not comparable"
ic "$tmp/i5.csv" 145.02 "" "hist/record"
run_check 2 --out "$o" "$tmp/i0.csv" "$tmp/i5.csv"
expect "hist/record: only in the current counts"
run_check 2 --out "$o" "$tmp/i0.csv" "$tmp/a.csv"
expect "is an instruction-count CSV (scripts/icount)"

echo "test_check: ok"
