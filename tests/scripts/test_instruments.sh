#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_instruments.sh - the instruments beside patlab sweep: scripts/lib/micro_csv.py,
# scripts/lib/hyperfine_report.py (sweep report) and scripts/hyperfine-shutdown end to end.
#
# 1. micro_csv.py on a fabricated Google Benchmark JSON with known answers: times converted to
#    ns from us, name/kind/args split, aggregates and the cv row (ratio), user counters, a label
#    holding a comma (cleaned), an errored benchmark; malformed JSON and usage errors.
# 2. hyperfine_report.py sweep on a fabricated run folder: the planned time and the overhead
#    per run in summary.md are the values the inputs were made to give; plots/sweep.svg; a
#    --seconds value without a sweep folder fails with a message.
# 3. scripts/hyperfine-shutdown against the built patlab-svc (a few seconds): the run folder
#    and its latest-hyperfine-shutdown link, hyperfine's JSON/CSV, one cycles.csv line per
#    cycle with every job done and exit 0; a grace of 1 ns cuts the drain (exit 3, every job
#    still answered once); a pool the service refuses fails with the service's message and
#    meta.json says failed; bad arguments exit 2.
#
# Usage: test_instruments.sh PROJECT_SOURCE_DIR PATLAB_SVC
# Exit:  0 pass, 1 fail, 77 skipped (no python3, or no hyperfine: parts 1-2 ran first).
set -uo pipefail

src=${1:?usage: test_instruments.sh PROJECT_SOURCE_DIR PATLAB_SVC}
svc=${2:?usage: test_instruments.sh PROJECT_SOURCE_DIR PATLAB_SVC}
if ! command -v python3 >/dev/null 2>&1; then
	echo "test_instruments: SKIP: python3 not installed"
	exit 77
fi
. "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
pt_begin test_instruments

# ---------------------------------------------------------------- 1. micro_csv.py
cat >"$tmp/micro.json" <<'EOF'
{
  "context": {"date": "2026-11-28T00:00:00+00:00", "num_cpus": 2},
  "benchmarks": [
    {"name": "throughput/spsc/p:1/c:1/real_time", "run_name": "throughput/spsc/p:1/c:1/real_time",
     "run_type": "iteration", "repetitions": 2, "repetition_index": 1, "threads": 1,
     "iterations": 1000, "real_time": 0.25, "cpu_time": 0.125, "time_unit": "us",
     "items_per_second": 4000000.0, "bytes_per_second": 32000000.0, "hops": 3},
    {"name": "throughput/spsc/p:1/c:1/real_time_mean", "run_name": "throughput/spsc/p:1/c:1/real_time",
     "run_type": "aggregate", "repetitions": 2, "threads": 1, "aggregate_name": "mean",
     "aggregate_unit": "time", "iterations": 2, "real_time": 250.0, "cpu_time": 125.0,
     "time_unit": "ns", "items_per_second": 4000000.0},
    {"name": "throughput/spsc/p:1/c:1/real_time_cv", "run_name": "throughput/spsc/p:1/c:1/real_time",
     "run_type": "aggregate", "repetitions": 2, "threads": 1, "aggregate_name": "cv",
     "aggregate_unit": "percentage", "iterations": 2, "real_time": 0.05, "cpu_time": 0.01,
     "time_unit": "ns"},
    {"name": "ctx/err_poll", "run_name": "ctx/err_poll", "run_type": "iteration",
     "repetitions": 1, "repetition_index": 0, "threads": 1, "iterations": 5,
     "real_time": 2.0, "cpu_time": 1.0, "time_unit": "ms", "label": "poll, \"fast\" path"},
    {"name": "uncontended/urcu/cap:1", "run_name": "uncontended/urcu/cap:1",
     "run_type": "iteration", "repetitions": 1, "threads": 1, "iterations": 0,
     "error_occurred": true, "error_message": "kind refused: ENOSYS"}
  ]
}
EOF
python3 "$src/scripts/lib/micro_csv.py" "$tmp/micro.json" "$tmp/micro.csv" ||
	fail "micro_csv.py failed on a valid JSON"
cat >"$tmp/micro.want" <<'EOF'
benchmark,name,kind,args,run_type,aggregate,repetition,threads,iterations,real_time_ns,cpu_time_ns,value_unit,items_per_second,counters,label,error
throughput/spsc/p:1/c:1/real_time,throughput,spsc,p:1;c:1;real_time,iteration,-,1,1,1000,250,125,ns,4e+06,bytes_per_second=3.2e+07;hops=3,-,-
throughput/spsc/p:1/c:1/real_time_mean,throughput,spsc,p:1;c:1;real_time,aggregate,mean,-,1,2,250,125,ns,4e+06,-,-,-
throughput/spsc/p:1/c:1/real_time_cv,throughput,spsc,p:1;c:1;real_time,aggregate,cv,-,1,2,0.05,0.01,ratio,0,-,-,-
ctx/err_poll,ctx/err_poll,-,-,iteration,-,-,1,5,2e+06,1e+06,ns,0,-,poll; 'fast' path,-
uncontended/urcu/cap:1,uncontended,urcu,cap:1,iteration,-,-,1,0,0,0,ns,0,-,-,kind refused: ENOSYS
EOF
diff "$tmp/micro.want" "$tmp/micro.csv" >"$tmp/diff" || fail "micro.csv differs: $(cat "$tmp/diff")"
# every row has as many fields as the header
awk -F, 'NR == 1 { n = NF } NF != n { exit 1 }' "$tmp/micro.csv" || fail "micro.csv is ragged"
echo '{"benchmarks": [' >"$tmp/bad.json"
python3 "$src/scripts/lib/micro_csv.py" "$tmp/bad.json" "$tmp/bad.csv" 2>"$tmp/err"
[ $? = 1 ] || fail "malformed JSON: want exit 1"
grep -q 'micro_csv: ' "$tmp/err" || fail "malformed JSON: no message"
[ -e "$tmp/bad.csv" ] && fail "malformed JSON left a CSV"
python3 "$src/scripts/lib/micro_csv.py" "$tmp/micro.json" 2>/dev/null
[ $? = 2 ] || fail "one argument: want exit 2"
echo "ok: micro_csv.py"

# ---------------------------------------------------------------- 2. hyperfine_report.py sweep
rep=$src/scripts/lib/hyperfine_report.py
hs=$tmp/hs
mkdir -p "$hs/sweeps/a" "$hs/sweeps/b"
python3 "$rep" meta "$hs" start hyperfine-sweep seconds=0.1,0.2 sweep_args="--preset ci" \
	-- scripts/hyperfine-sweep --seconds 0.1,0.2 || fail "meta start failed"
cat >"$hs/hyperfine.json" <<'EOF'
{"results": [
 {"command": "a", "times": [2.0, 3.0, 2.5], "parameters": {"seconds": "0.1"}},
 {"command": "b", "times": [4.0, 4.0, 4.5], "parameters": {"seconds": "0.2"}}]}
EOF
echo '{"seconds": 0.1, "warmup_s": 0.05, "runs_planned": 10, "points": 4, "status": "complete"}' \
	>"$hs/sweeps/a/meta.json"
echo '{"seconds": 0.2, "warmup_s": 0.05, "runs_planned": 10, "points": 4, "status": "complete"}' \
	>"$hs/sweeps/b/meta.json"
python3 "$rep" sweep "$hs" >"$tmp/out" 2>"$tmp/err" || fail "sweep report: $(cat "$tmp/err")"
# 0.1: planned 10 x 0.15 = 1.5 s, median 2.5 s -> 100 ms per run; 0.2: 2.5 s, 4 s -> 150 ms
grep -qF '| 0.1 | 3 | 4 | 10 | 1.5 s | 2.5 s (2 s – 3 s) | 100 ms | complete |' "$hs/summary.md" ||
	fail "summary.md row for 0.1: $(cat "$hs/summary.md")"
grep -qF '| 0.2 | 3 | 4 | 10 | 2.5 s | 4 s (4 s – 4.5 s) | 150 ms | complete |' "$hs/summary.md" ||
	fail "summary.md row for 0.2"
if command -v gnuplot >/dev/null 2>&1; then
	grep -q '</svg>' "$hs/plots/sweep.svg" 2>/dev/null || fail "no complete plots/sweep.svg"
	grep -q 'sweep.svg' "$hs/plots/README.md" || fail "plots/README.md does not list sweep.svg"
fi
python3 "$rep" meta "$hs" finish complete || fail "meta finish failed"
python3 -c 'import json, sys; m = json.load(open(sys.argv[1]))
assert m["status"] == "complete" and m["instrument"] == "hyperfine-sweep", m
assert m["settings"]["sweep_args"] == "--preset ci" and len(m["loadavg_end"]) == 3, m' \
	"$hs/meta.json" || fail "meta.json: $(cat "$hs/meta.json")"
rm -r "$hs/sweeps/b"
python3 "$rep" sweep "$hs" >/dev/null 2>"$tmp/err" && fail "a missing sweep folder passed"
grep -q 'no sweep run folder .* seconds = 0.2' "$tmp/err" || fail "no message: $(cat "$tmp/err")"
echo "ok: hyperfine_report.py sweep"

# ---------------------------------------------------------------- 3. hyperfine-shutdown
if ! command -v hyperfine >/dev/null 2>&1; then
	echo "test_instruments: SKIP: hyperfine not installed (parts 1 and 2 passed)"
	exit 77
fi
[ -x "$svc" ] || fail "no patlab-svc at $svc"
hf=$src/scripts/hyperfine-shutdown
out=$tmp/runs
bdir=$(dirname "$svc")
"$hf" --build-dir "$bdir" --out "$out" --inflight 0,4,16 --runs 2 --warmup 1 --cost-us 200 \
	>"$tmp/out" 2>&1 || fail "hyperfine-shutdown failed: $(tail -20 "$tmp/out")"
run=$(cd "$out/latest-hyperfine-shutdown" 2>/dev/null && pwd -P) || fail "no latest link"
[[ $(basename "$run") =~ ^hyperfine-shutdown-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{4}$ ]] ||
	fail "run folder name $(basename "$run")"
for f in hyperfine.json hyperfine.csv cycles.csv meta.json summary.md; do
	[ -s "$run/$f" ] || fail "no $f in the run folder"
done
if command -v gnuplot >/dev/null 2>&1; then
	grep -q '</svg>' "$run/plots/shutdown.svg" 2>/dev/null || fail "no complete shutdown.svg"
fi
# 3 values x (1 warm-up + 2 timed) cycles, each: every job done, none cut, exit 0
[ "$(tail -n +2 "$run/cycles.csv" | wc -l)" = 9 ] || fail "cycles.csv: $(cat "$run/cycles.csv")"
awk -F, 'NR > 1 && !($6 == 0 && $7 == $1 && $8 == 0 && $9 == 0 && $3 > 0 && $4 > $3) { exit 1 }' \
	"$run/cycles.csv" || fail "a cycle did not drain every job: $(cat "$run/cycles.csv")"
python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))["results"]
assert [x["parameters"]["inflight"] for x in r] == ["0", "4", "16"], r
assert all(len(x["times"]) == 2 and min(x["times"]) > 0 for x in r), r
m = json.load(open(sys.argv[2]))
assert m["status"] == "complete" and m["settings"]["cost_us"] == "200", m' \
	"$run/hyperfine.json" "$run/meta.json" || fail "hyperfine.json or meta.json"
for n in 0 4 16; do
	grep -q "^| $n | 2 | " "$run/summary.md" || fail "summary.md has no row for $n"
done
echo "ok: hyperfine-shutdown: 3 values x 2 runs, every job drained"

# a grace of 1 ns: the drain is cut, jobs are cancelled or handed back, still answered once
"$hf" --build-dir "$bdir" --out "$out" --inflight 16 --runs 1 --warmup 0 --cost-us 50000 \
	--grace 1ns >"$tmp/out" 2>&1 || fail "grace 1ns: $(tail -20 "$tmp/out")"
run2=$(cd "$out/latest-hyperfine-shutdown" && pwd -P)
[ "$run2" != "$run" ] || fail "the latest link did not move"
awk -F, 'NR == 2 && $6 == 3 && $7 + $8 + $9 == 16 && $9 > 0 { ok = 1 } END { exit !ok }' \
	"$run2/cycles.csv" || fail "grace 1ns did not cut the drain: $(cat "$run2/cycles.csv")"
echo "ok: hyperfine-shutdown --grace 1ns: exit 3, jobs handed back"

# a pool the service refuses (spsc: one receiver only): a usage error, exit 2, its own message
"$hf" --build-dir "$bdir" --out "$out" --inflight 4 --runs 1 --warmup 0 --kind spsc \
	>"$tmp/out" 2>&1 && fail "a refused pool passed"
grep -q 'svc_cycle: inflight 4: patlab-svc exited with 2' "$tmp/out" ||
	fail "no message from the failed cycle: $(tail -5 "$tmp/out")"
# the newest folder by time (names of runs in the same second sort at random)
# shellcheck disable=SC2012
failed=$(ls -td "$out"/hyperfine-shutdown-* | head -1)
grep -q '"status": "failed"' "$failed/meta.json" || fail "meta.json does not say failed"
echo "ok: hyperfine-shutdown, a refused pool: exit 1, the reason shown, meta.json failed"

for bad in "--inflight x" "--runs 0" "--grace soon" "--bogus" "--out"; do
	# shellcheck disable=SC2086
	"$hf" --build-dir "$bdir" $bad >"$tmp/out" 2>"$tmp/err"
	[ $? = 2 ] || fail "'$bad': want exit 2"
	grep -q '^hyperfine-shutdown: ' "$tmp/err" || fail "'$bad': no message"
done
echo "ok: hyperfine-shutdown usage errors exit 2"
echo "test_instruments: 1 passed, 0 failed"
