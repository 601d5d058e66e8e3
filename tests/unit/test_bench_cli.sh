#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_bench_cli.sh - the patlab command end to end.
#
# 1. --help everywhere exits 0 with a usage text; every bad argument exits 2 with a message
#    that names what is wrong (and, for names, the valid values); `patlab run` says what it
#    measures on stderr (a heartbeat during a long repetition), nothing with --quiet.
# 2. A tiny sweep (chan and pingpong, every kind, 2 topologies x 2 depths, 2 reps of 0.05 s)
#    into a temp dir: the run folder holds results.csv, meta.json and summary.md; the CSV
#    header equals the schema; every row is checked column by column (types, ranges, no
#    empty/NaN field, lost = 0, throughput > 0 and = messages / seconds, percentiles ordered);
#    the row count is the grid's; the spsc points at 2 producers are skipped with a reason.
#    `patlab report` reads the CSV back into the same summary tables.
# 3. An interrupted sweep (SIGINT) exits 130 and leaves a valid CSV of finished rows.
#
# Usage: test_bench_cli.sh PATH/TO/patlab     (exit 0 pass, 1 fail)
set -uo pipefail

bin=${1:?usage: test_bench_cli.sh PATH/TO/patlab}
. "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
pt_begin test_bench_cli

schema='run_id,timestamp_utc,git_rev,host,cpu_model,cpus,compiler,pattern,chan_kind,producers,consumers,stages,queue_depth,work_ns,rate_target,policy,rep,messages,seconds,throughput_mps,lat_p50_ns,lat_p90_ns,lat_p99_ns,lat_p999_ns,lat_max_ns,dropped,rejected,lost,spin_ns,build_type,warmup_s,lat_mean_ns,seed,timeout_ns,pin,extras'

# ---------------------------------------------------------------- 1. help and errors
for cmd in "" list run sweep report; do
	# shellcheck disable=SC2086
	out=$("$bin" $cmd --help 2>&1)
	rc=$?
	[ $rc -eq 0 ] || fail "'patlab $cmd --help' exit $rc"
	grep -q '^usage: patlab' <<<"$out" || fail "'patlab $cmd --help' prints no usage"
done
out=$("$bin" 2>&1)
[ $? -eq 2 ] || fail "'patlab' without a command must exit 2"
# run's help is its own: one value per option, nothing it would refuse (lists, 'all').
out=$("$bin" run --help 2>&1)
! grep -qE "LIST|'all'" <<<"$out" || fail "'patlab run --help' offers lists or 'all': $out"
# 'default' is a spin value, also alone (it used to read as an empty list).
out=$("$bin" run --pattern chan --spin default --messages 1000 --quiet 2>&1) ||
	fail "'patlab run --spin default' refused: $out"

expect_usage_error() { # WANT ARGS...: exit 2, and the message contains WANT
	local want=$1 out rc
	shift
	out=$("$bin" "$@" 2>&1)
	rc=$?
	[ $rc -eq 2 ] || fail "'patlab $*' exit $rc, want 2 (output: $out)"
	grep -qF -- "$want" <<<"$out" || fail "'patlab $*' says '$out', want '$want'"
}
expect_usage_error "valid: mutex, lockfree, urcu, spsc, all" sweep --chan mutex,nosuch
expect_usage_error "valid: chan, pingpong" sweep --pattern nosuch
expect_usage_error "valid: chan, pingpong" run --pattern nosuch
expect_usage_error "unknown command 'frobnicate'" frobnicate
expect_usage_error "bad range '4..1'" sweep --depth 4..1
expect_usage_error "bad range '1..8'" sweep --depth '1..8*1'
expect_usage_error "bad step" sweep --depth '1..8*x'
expect_usage_error "bad value 'x'" sweep --depth x
expect_usage_error "bad value '-1'" sweep --producers -1
expect_usage_error "bad value '0'" sweep --consumers 0
expect_usage_error "bad pair '4-1'" sweep --ratio 4-1
expect_usage_error "cannot be combined" sweep --ratio 1:1 --producers 2
expect_usage_error "unknown option '--bogus'" sweep --bogus
expect_usage_error "unknown option '--bogus'" run --bogus
expect_usage_error "needs a value" sweep --chan
expect_usage_error "unknown preset 'nosuch' (valid: quick, full, ci)" sweep --preset nosuch
expect_usage_error "one value per parameter" run --chan mutex,lockfree
expect_usage_error "exclude each other" sweep --seconds 1 --messages 5
expect_usage_error "bad value" sweep --reps 0
expect_usage_error "bad value" sweep --seconds -1
expect_usage_error "unknown placement 'core0' (valid: none, spread, single)" sweep --pin none,core0
expect_usage_error "--pin: an empty item in ','" sweep --pin ,
for v in x 0 -3 1.5 2x '' 1099511627777; do
	expect_usage_error "--lat-sample: bad value '$v' (valid: auto, or an integer N" run --lat-sample "$v"
done
expect_usage_error "unexpected argument 'extra'" list extra
expect_usage_error "--preset is for sweep" run --preset quick
expect_usage_error "give a run folder or a CSV" report
expect_usage_error "cannot open $tmp/nothing-here" report "$tmp/nothing-here"
echo "a,b" >"$tmp/not-ours.csv"
expect_usage_error "not a patlab results.csv" report "$tmp/not-ours.csv"

# The depth range syntax expands as documented (seen in the planned point count).
out=$("$bin" sweep --pattern chan --chan mutex --depth '0,1..4096*4' --ratio 1:1 --reps 1 \
	--seconds 0.01 --warmup 0 --out "$tmp/range" 2>&1 >/dev/null)
grep -q "8 points x 1 reps" <<<"$out" || fail "0,1..4096*4 must give 8 depths: $out"

# The quick preset (the main job) covers every pattern and every registered kind: its plan,
# printed by --dry-run (which runs and writes nothing), names each among the points to run.
"$bin" sweep --dry-run --out "$tmp/dry" >"$tmp/plan" 2>"$tmp/plan.err" ||
	fail "sweep --dry-run exit $?: $(cat "$tmp/plan.err")"
[ -e "$tmp/dry" ] && fail "sweep --dry-run wrote $tmp/dry"
grep -q '^[0-9]* points ([0-9]* to run) x 3 reps = [0-9]* runs of .*: about [0-9]* s$' "$tmp/plan" ||
	fail "dry run: no plan summary line: $(tail -3 "$tmp/plan")"
"$bin" list >"$tmp/list" || fail "patlab list exit $?"
pats=$(awk '/^patterns/ { on = 1; next } /^presets/ { on = 0 } on && /^  [a-z]/ { print $1 }' "$tmp/list")
regkinds=$(awk '/^channel kinds/ { on = 1; next } /^$/ { on = 0 } on && /^  [a-z]/ && $1 != "go" { print $1 }' "$tmp/list")
[ "$(wc -w <<<"$pats")" -ge 8 ] && [ "$(wc -w <<<"$regkinds")" -ge 4 ] ||
	fail "cannot read the patterns and kinds from patlab list: $pats / $regkinds"
grep -v 'not run:' "$tmp/plan" >"$tmp/plan.run"
for p in $pats; do
	grep -q "^  $p " "$tmp/plan.run" || fail "the quick preset has no runnable $p point"
done
for k in $regkinds; do
	grep -q "^  chan $k " "$tmp/plan.run" || fail "the quick preset has no runnable chan $k point"
done
expect_usage_error "--dry-run is for sweep" run --dry-run

# --pin is a grid dimension: every point once per placement, the placement in its own column.
"$bin" sweep --pattern chan,worker_pool --chan mutex --ratio 2:2 --depth 64 --pin spread,single,none \
	--reps 1 --seconds 0.02 --warmup 0 --quiet --out "$tmp/pin" >/dev/null 2>"$tmp/pin.err" ||
	fail "pinned sweep exit $?: $(cat "$tmp/pin.err")"
pins=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "pin") c = i; next }
	{ print $c }' "$tmp"/pin/latest/results.csv | sort | tr '\n' ' ')
[ "$pins" = "none none single single spread spread " ] ||
	fail "pin column: got '$pins', want each of none, single, spread twice (chan, worker_pool)"

# --lat-sample: N = 1 times every measured message (chan and pingpong), a larger N fewer; the
# extras say how many and the interval; meta.json says the setting and the clock.
"$bin" sweep --pattern chan,pingpong --chan lockfree --ratio 1:1 --depth 64 --messages 3000 \
	--lat-sample 1 --reps 1 --warmup 0 --quiet --out "$tmp/ls1" >/dev/null 2>"$tmp/ls1.err" ||
	fail "--lat-sample 1 sweep exit $?: $(cat "$tmp/ls1.err")"
n=$(grep -c 'lat_samples=3000;lat_interval=1\($\|;\)' "$tmp"/ls1/latest/results.csv)
[ "$n" = 2 ] || fail "--lat-sample 1: want lat_samples=3000;lat_interval=1 in both rows: $(cat "$tmp"/ls1/latest/results.csv)"
grep -q '"lat_sample": 1,' "$tmp"/ls1/latest/meta.json || fail "meta.json: no lat_sample 1"
grep -Eq '"clock": "(tsc [0-9.]+ GHz|clock_gettime)",' "$tmp"/ls1/latest/meta.json ||
	fail "meta.json: no clock"
"$bin" run --pattern chan --chan lockfree --depth 64 --messages 40000 --lat-sample 16 \
	--warmup 0 >"$tmp/ls16" 2>&1 || fail "--lat-sample 16 exit $?: $(cat "$tmp/ls16")"
samples=$(sed -n 's/.*lat_samples=\([0-9]*\).*/\1/p' "$tmp/ls16")
# Gaps are drawn uniformly from [1, 31]: 2500 expected; far outside means the option is not used.
[ -n "$samples" ] && [ "$samples" -gt 1500 ] && [ "$samples" -lt 4000 ] ||
	fail "--lat-sample 16 over 40000 messages: lat_samples '$samples', want ~2500"
"$bin" run --pattern chan --chan lockfree --depth 64 --messages 3000 --warmup 0 >"$tmp/lsa" 2>&1 ||
	fail "--lat-sample auto exit $?: $(cat "$tmp/lsa")"
grep -q 'lat_samples=3000;lat_interval=1' "$tmp/lsa" ||
	fail "auto over 3000 messages must time every one: $(cat "$tmp/lsa")"
grep -q '"lat_sample": "auto",' "$tmp"/pin/latest/meta.json ||
	fail "meta.json of a default run: lat_sample is not auto"
if command -v python3 >/dev/null; then
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp"/ls1/latest/meta.json ||
		fail "meta.json with lat_sample and clock is not valid JSON"
fi

# `patlab run` says what it measures on stderr: what it will do, a line per repetition, and a
# heartbeat every 5 s while a repetition runs (this one lasts 7 s: one beat, 2 s to spare);
# with --quiet, nothing. Its stdout (the figures) is the same either way.
"$bin" run --pattern chan --chan mutex --depth 64 --seconds 7 --warmup 0 >"$tmp/hb.out" 2>"$tmp/hb.err" ||
	fail "run --seconds 7 exit $?: $(cat "$tmp/hb.err")"
grep -q '^patlab: run: 1 rep of 7 s after 0 s warm-up: about 7 s$' "$tmp/hb.err" ||
	fail "run says nothing before it measures: $(cat "$tmp/hb.err")"
grep -Eq 'rep 1/1 chan mutex 1p1c d64: measuring, [0-9]+ s of about 7 s$' "$tmp/hb.err" ||
	fail "no heartbeat during a 7 s run: $(cat "$tmp/hb.err")"
grep -q 'rep 1/1 chan mutex 1p1c d64: .* M/s' "$tmp/hb.err" || fail "no line for the repetition"
grep -q '^chan mutex 1p1c depth 64 rep 1: ' "$tmp/hb.out" || fail "run printed no figures"
"$bin" run --pattern chan --chan mutex --depth 64 --seconds 0.05 --warmup 0 --quiet \
	>"$tmp/q.out" 2>"$tmp/q.err" || fail "run --quiet exit $?"
# (A sanitized build says so even then: its figures are not performance figures.)
grep -v 'sanitized build' "$tmp/q.err" | grep -q . && fail "run --quiet wrote on stderr: $(cat "$tmp/q.err")"
grep -q '^chan mutex 1p1c depth 64 rep 1: ' "$tmp/q.out" || fail "run --quiet printed no figures"

# ---------------------------------------------------------------- 2. a tiny sweep
kinds=mutex,lockfree,urcu,spsc
"$bin" sweep --pattern chan,pingpong --chan $kinds --ratio 1:1,2:1 --depth 1,64 --reps 2 \
	--seconds 0.05 --warmup 0.01 --out "$tmp/runs" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
[ $rc -eq 0 ] || fail "tiny sweep exit $rc: $(cat "$tmp/stderr")"
dir=$(readlink -f "$tmp/runs/latest") || fail "no $tmp/runs/latest link"
for f in results.csv meta.json summary.md; do
	[ -s "$dir/$f" ] || fail "missing or empty $dir/$f"
done
compgen -G "$dir/*.tmp.*" >/dev/null && fail "a temp file was left in $dir"
csv=$dir/results.csv
[ "$(head -n1 "$csv")" = "$schema" ] || fail "CSV header differs from the schema:
 got  $(head -n1 "$csv")
 want $schema"
grep -q "^results: .*/$(basename "$dir")/results.csv\$" "$tmp/stdout" ||
	fail "the sweep does not print the CSV path"
grep -q 'lockfree/mutex' "$dir/summary.md" || fail "summary.md has no lockfree/mutex ratio"
grep -q 'spsc allows one producer' "$dir/meta.json" || fail "meta.json does not list the skip"
if command -v python3 >/dev/null; then
	python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["status"]=="complete", m["status"]' \
		"$dir/meta.json" || fail "meta.json is not valid JSON with status complete"
fi

# Points: chan 4 kinds x 2 ratios x 2 depths, less spsc at 2:1 (2) = 14; pingpong 4 x 2 = 8.
want_rows=$(((14 + 8) * 2))

validate_csv() { # CSV ROWS EXACT(1: exactly ROWS, 0: at least) MAX_REP
	awk -F, -v want="$2" -v exact="$3" -v maxrep="$4" -v kinds="$kinds" '
	function bad(msg) { printf "row %d (%s): %s\n", NR, $0, msg; err = 1; exit 1 }
	function isint(v) { return v ~ /^[0-9]+$/ }
	function isnum(v) { return v ~ /^[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/ }
	BEGIN { nk = split(kinds, k, ","); for (i = 1; i <= nk; i++) okkind[k[i]] = 1 }
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; ncol = NF; next }
	{
		if (NF != ncol) bad("has " NF " fields, header has " ncol)
		for (i = 1; i <= NF; i++) {
			if ($i == "") bad("empty field " i)
			if (tolower($i) ~ /(^|[^a-z])(nan|inf)([^a-z]|$)/) bad("NaN/inf in field " i)
		}
		if ($col["run_id"] !~ /^[0-9]+T[0-9]+Z-[0-9a-f]+$/) bad("run_id")
		if (NR == 2) rid = $col["run_id"]; else if ($col["run_id"] != rid) bad("run_id changes")
		if ($col["timestamp_utc"] !~ /^[0-9]+-[0-9]+-[0-9]+T[0-9]+:[0-9]+:[0-9]+\.[0-9]+Z$/) bad("timestamp_utc")
		if (!isint($col["cpus"]) || $col["cpus"] < 1) bad("cpus")
		if ($col["pattern"] != "chan" && $col["pattern"] != "pingpong") bad("pattern")
		if (!($col["chan_kind"] in okkind)) bad("chan_kind")
		if ($col["pattern"] == "chan" && $col["chan_kind"] == "spsc" && $col["producers"] > 1) bad("spsc ran with producers > 1")
		nc = split("producers consumers stages rep seed", c, " ")
		for (i = 1; i <= nc; i++) if (!isint($col[c[i]])) bad(c[i] " not an integer")
		if ($col["producers"] < 1 || $col["consumers"] < 1 || $col["stages"] < 1) bad("thread counts")
		if (!isint($col["queue_depth"])) bad("queue_depth")
		if (!isint($col["work_ns"]) || !isint($col["spin_ns"]) || !isint($col["timeout_ns"])) bad("work_ns/spin_ns/timeout_ns")
		if (!isnum($col["rate_target"]) || !isnum($col["warmup_s"])) bad("rate_target/warmup_s")
		if ($col["rep"] < 1 || $col["rep"] > maxrep) bad("rep")
		if (!isint($col["messages"]) || $col["messages"] < 1) bad("messages")
		if (!isnum($col["seconds"]) || $col["seconds"] <= 0) bad("seconds")
		if (!isnum($col["throughput_mps"]) || $col["throughput_mps"] <= 0) bad("throughput_mps")
		r = $col["messages"] / $col["seconds"] / $col["throughput_mps"]
		if (r < 0.99 || r > 1.01) bad("throughput_mps != messages / seconds")
		split("lat_p50_ns lat_p90_ns lat_p99_ns lat_p999_ns lat_max_ns", l, " ")
		for (i = 1; i <= 5; i++) {
			if (!isint($col[l[i]])) bad(l[i] " not an integer")
			if (i > 1 && $col[l[i]] + 0 < $col[l[i - 1]] + 0) bad(l[i] " < " l[i - 1])
		}
		if ($col["lat_max_ns"] <= 0) bad("lat_max_ns")
		if (!isnum($col["lat_mean_ns"]) || $col["lat_mean_ns"] <= 0) bad("lat_mean_ns")
		if (!isint($col["dropped"]) || !isint($col["rejected"])) bad("dropped/rejected")
		if ($col["lost"] != "0") bad("LOST MESSAGES: lost = " $col["lost"])
		rows++
	}
	END {
		if (err) exit 1
		if (exact && rows != want) { printf "%d rows, want %d\n", rows, want; exit 1 }
		if (rows < want) { printf "%d rows, want at least %d\n", rows, want; exit 1 }
	}' "$1"
}
validate_csv "$csv" "$want_rows" 1 2 || fail "CSV validation failed: $csv"

# The CSV reads back: `patlab report` on it gives the very tables the sweep wrote.
"$bin" report --md "$tmp/again.md" "$dir" >"$tmp/report.out" 2>&1 || fail "patlab report exit $?"
grep -q 'lf/mutex' "$tmp/report.out" || fail "patlab report prints no summary"
diff <(grep '^|' "$dir/summary.md") <(grep '^|' "$tmp/again.md") >"$tmp/diff" ||
	fail "tables from the CSV differ from the sweep's: $(cat "$tmp/diff")"

# ---------------------------------------------------------------- 3. interrupted sweep
"$bin" sweep --pattern chan --chan mutex,lockfree --ratio 1:1 --depth 1..1024*2 --reps 20 \
	--seconds 0.05 --warmup 0 --quiet --out "$tmp/intr" >/dev/null 2>"$tmp/intr.err" &
pid=$!
# Interrupt once a few rows are in (however slow the machine or the sanitizer).
for _ in $(seq 600); do
	rows=$(cat "$tmp"/intr/*/results.csv 2>/dev/null | wc -l)
	[ "$rows" -ge 4 ] && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.1
done
kill -INT $pid
wait $pid
rc=$?
[ $rc -eq 130 ] || fail "interrupted sweep exit $rc, want 130: $(cat "$tmp/intr.err")"
idir=$(readlink -f "$tmp/intr/latest") || fail "no run folder after an interrupt"
[ "$(head -n1 "$idir/results.csv")" = "$schema" ] || fail "interrupted CSV lost its header"
validate_csv "$idir/results.csv" 1 0 20 || fail "interrupted CSV is not valid"
grep -q '"status": "interrupted"' "$idir/meta.json" || fail "meta.json status is not interrupted"

echo "test_bench_cli: ok ($want_rows rows validated; $(($(wc -l <"$idir/results.csv") - 1)) rows before the interrupt)"
