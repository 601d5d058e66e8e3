#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_go_sweep.sh - Go's own channels (kind "go", bench/go/patlab-go) in the patlab harness.
#
# 1. Without patlab-go (PATLAB_GO pointing nowhere): `patlab list` says so; `--chan all` leaves
#    go out; `--chan mutex,go` runs mutex and skips every go point with a "go not installed"
#    reason (meta.json, summary); `--chan go` alone runs nothing and exits 1.
# 2. A tiny interleaved sweep of chan and pingpong over every kind (`--chan all`, go included)
#    at 2 topologies x depths 0, 1, 64: every row passes the very validation test_bench_cli.sh
#    applies to C rows (its validate_csv function, extracted from that script, so the two can
#    never drift apart); there is a go row beside the C kinds in every scenario, 2 per
#    scenario; each carries gomaxprocs=min(cpus, the C workload's threads); summary.md has the
#    <kind>/go ratio columns; meta.json records go (version, GOMAXPROCS setting and values
#    used, start-up of every Go run); `patlab report` rebuilds the same tables from the CSV.
# 3. worker_pool, pipeline (unordered and ordered) and fanout_fanin (all and hedged) beside
#    mutex: a go row and a mutex row each, complete, lost = 0, gomaxprocs first in the extras.
# 4. --gomaxprocs 1,2: two go points per scenario, one column each (go@1, go@2) in the summary;
#    bad values exit 2 with a message.
#
# Usage: test_go_sweep.sh PATH/TO/patlab GO_FOUND(0|1) PATH/TO/test_bench_cli.sh
# Exit 0 pass, 1 fail, 77 skipped: Go is not installed (GO_FOUND 0 and no patlab-go). With
# GO_FOUND 1 a missing patlab-go is a failure: it should have been built.
set -uo pipefail

bin=${1:?usage: test_go_sweep.sh PATH/TO/patlab GO_FOUND PATH/TO/test_bench_cli.sh}
go_found=${2:?GO_FOUND}
cli_test=${3:?PATH/TO/test_bench_cli.sh}
gobin=$(dirname "$bin")/go/patlab-go
. "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
pt_begin test_go_sweep

if [ ! -x "$gobin" ]; then
	[ "$go_found" = 1 ] && fail "go was found at configure time but $gobin was not built"
	echo "test_go_sweep: SKIP: go not installed (no $gobin; apt-get install golang-go)"
	exit 77
fi
unset PATLAB_GO
short=(--reps 1 --seconds 0.03 --warmup 0.01 --quiet)

# ---------------------------------------------------------------- 1. without patlab-go
export PATLAB_GO=$tmp/nowhere/patlab-go
"$bin" list >"$tmp/list" 2>&1 || fail "patlab list exit $?"
grep -q '^  go .*not built' "$tmp/list" || fail "patlab list does not say go is not built"
"$bin" sweep --pattern chan --chan all --ratio 1:1 --depth 64 "${short[@]}" \
	--out "$tmp/nogo-all" >/dev/null 2>&1 || fail "--chan all without go exit $?"
grep -q ',go,' "$tmp"/nogo-all/latest/results.csv && fail "--chan all ran go without patlab-go"
"$bin" sweep --pattern chan --chan mutex,go --ratio 1:1 --depth 64 "${short[@]}" \
	--out "$tmp/nogo" >/dev/null 2>&1 || fail "--chan mutex,go without go exit $?"
grep -q 'chan go.*go not installed' "$tmp/nogo/latest/meta.json" ||
	fail "meta.json does not skip the go point with 'go not installed'"
grep -q 'go not installed' "$tmp/nogo/latest/summary.md" || fail "summary.md does not say why"
grep -q ',mutex,' "$tmp/nogo/latest/results.csv" || fail "mutex did not run beside a skipped go"
"$bin" sweep --pattern chan --chan go --ratio 1:1 --depth 64 --reps 1 --seconds 0.03 --out "$tmp/nogo2" \
	>/dev/null 2>"$tmp/nogo2.err"
rc=$?
[ $rc -eq 1 ] || fail "--chan go without patlab-go: exit $rc, want 1 (nothing ran)"
grep -q 'go not installed' "$tmp/nogo2.err" || fail "--chan go does not say 'go not installed'"
unset PATLAB_GO

# ---------------------------------------------------------------- 2. chan and pingpong
# shellcheck disable=SC1090
eval "$(sed -n '/^validate_csv() {/,/^}/p' "$cli_test")"
declare -F validate_csv >/dev/null || fail "no validate_csv() in $cli_test to reuse"

"$bin" list | grep -q '^  go .*go1\.' || fail "patlab list does not show the go kind's version"
"$bin" sweep --pattern chan,pingpong --chan all --ratio 1:1,2:1 --depth 0,1,64 --reps 2 \
	--seconds 0.04 --warmup 0.01 --out "$tmp/runs" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
[ $rc -eq 0 ] || fail "sweep exit $rc: $(cat "$tmp/stderr")"
dir=$(readlink -f "$tmp/runs/latest")
csv=$dir/results.csv
kinds=$(awk -F, 'NR > 1 { k[$9] = 1 } END { for (x in k) printf "%s%s", n++ ? "," : "", x }' "$csv")
case ",$kinds," in *,go,*) ;; *) fail "no go rows (kinds: $kinds)" ;; esac
case ",$kinds," in *,mutex,*) ;; *) fail "no mutex rows (kinds: $kinds)" ;; esac
# chan 2 topologies x 3 depths + pingpong 3 depths: 9 scenarios x 2 reps of go.
go_rows=$(grep -c ',go,' "$csv")
[ "$go_rows" -eq 18 ] || fail "$go_rows go rows, want 18 (9 scenarios x 2 reps)"
# validate_csv reads the allowed kinds from $kinds: the registry's, and go.
kinds=$("$bin" list | awk '/^channel kinds/ { on = 1; next } /^$/ { on = 0 }
	on && /^  [a-z]/ { printf "%s%s", n++ ? "," : "", $1 }')
case ",$kinds," in *,mutex,*go,*) ;; *) fail "patlab list gives kinds '$kinds'" ;; esac
validate_csv "$csv" "$go_rows" 0 2 || fail "the rows fail test_bench_cli.sh's validation: $csv"
grep -q '"failed": \[\]' "$dir/meta.json" || fail "failed points: $(grep -A3 failed "$dir/meta.json")"

cpus=$(awk -F, 'NR == 2 { print $6 }' "$csv")
awk -F, -v cpus="$cpus" '
	function bad(m) { printf "row %d: %s\n", NR, m; err = 1; exit 1 }
	function min(a, b) { return a < b ? a : b }
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	{
		key = $col["pattern"] " " $col["producers"] " " $col["consumers"] " " $col["queue_depth"]
		scen[key] = 1
		if ($col["chan_kind"] != "go") { c[key]++; next }
		g[key]++
		threads = $col["pattern"] == "pingpong" ? 2 : $col["producers"] + $col["consumers"]
		want = "gomaxprocs=" min(cpus, threads)
		if ($col["extras"] !~ "(^|;)" want "(;|$)") bad("extras " $col["extras"] ", want " want)
	}
	END {
		if (err) exit 1
		for (k in scen) {
			if (g[k] != 2) { printf "scenario %s: %d go rows, want 2\n", k, g[k]; exit 1 }
			if (c[k] < 2) { printf "scenario %s: no C rows beside go\n", k; exit 1 }
		}
	}' "$csv" || fail "go rows do not sit beside the C kinds with the auto GOMAXPROCS"

grep -q '| mutex/go |' "$dir/summary.md" || fail "summary.md has no mutex/go ratio column"
grep -q '| lockfree/go |' "$dir/summary.md" || fail "summary.md has no lockfree/go ratio column"
grep -q 'mutex/go' "$tmp/stdout" || fail "the terminal summary has no mutex/go column"
python3 - "$dir/meta.json" "$go_rows" <<'PY' || fail "meta.json's go record is wrong"
import json, sys
m = json.load(open(sys.argv[1]))
g = m["go"]
assert g["available"] is True and g["version"].startswith("go1."), g
assert g["gomaxprocs"] == "auto" and g["gomaxprocs_used"], g
assert g["rows"] == int(sys.argv[2]) == g["runs"], g
assert 0 < g["start_ms"]["min"] <= g["start_ms"]["mean"] <= g["start_ms"]["max"], g
PY
"$bin" report --md "$tmp/again.md" "$dir" >/dev/null 2>&1 || fail "patlab report exit $?"
diff <(grep '^|' "$dir/summary.md") <(grep '^|' "$tmp/again.md") >"$tmp/diff" ||
	fail "tables from the CSV differ from the sweep's: $(cat "$tmp/diff")"

# ---------------------------------------------------------------- 3. the other patterns
pattern_sweep() { # NAME ARGS...: a sweep beside mutex into $tmp/NAME; prints its CSV path
	local name=$1
	shift
	"$bin" sweep --chan mutex,go --ratio 2:2 --depth 16 --work-ns 2000 --reps 1 \
		--seconds 0.05 --warmup 0.01 --quiet --out "$tmp/$name" "$@" \
		>"$tmp/$name.out" 2>"$tmp/$name.err" ||
		fail "$name sweep exit $?: $(cat "$tmp/$name.err")"
	readlink -f "$tmp/$name/latest/results.csv"
}
pcsvs=$(pattern_sweep pool --pattern worker_pool) || exit 1
pcsvs+=" $(pattern_sweep pipe --pattern pipeline --stages 3 --policy unordered,ordered)" || exit 1
pcsvs+=" $(pattern_sweep fan --pattern fanout_fanin --policy all_fixed,hedged_exp)" || exit 1
# shellcheck disable=SC2086 # several CSV paths
awk -F, '
	function bad(m) { printf "%s row %d (%s): %s\n", FILENAME, FNR, $0, m; err = 1; exit 1 }
	FNR == 1 { delete col; for (i = 1; i <= NF; i++) col[$i] = i; ncol = NF; next }
	{
		if (NF != ncol) bad("fields")
		for (i = 1; i <= NF; i++) if ($i == "") bad("empty field " i)
		if ($col["lost"] != "0") bad("lost")
		if ($col["messages"] < 1 || $col["throughput_mps"] <= 0) bad("nothing measured")
		if ($col["lat_p50_ns"] + 0 > $col["lat_p99_ns"] + 0 || $col["lat_p99_ns"] + 0 > $col["lat_max_ns"] + 0) bad("percentiles")
		if ($col["chan_kind"] == "go") {
			if ($col["extras"] !~ /^gomaxprocs=[0-9]+/) bad("no gomaxprocs first in extras")
			seen[$col["pattern"] " " $col["policy"]]++
		} else {
			cseen[$col["pattern"] " " $col["policy"]]++
		}
	}
	END {
		if (err) exit 1
		n = split("worker_pool -,pipeline unordered,pipeline ordered,fanout_fanin all_fixed,fanout_fanin hedged_exp", want, ",")
		for (i = 1; i <= n; i++) {
			if (seen[want[i]] != 1) { printf "no go row for %s\n", want[i]; exit 1 }
			if (cseen[want[i]] != 1) { printf "no mutex row beside go for %s\n", want[i]; exit 1 }
		}
	}' $pcsvs || fail "pattern rows: $pcsvs"
# shellcheck disable=SC2086
grep -h ',go,' $pcsvs | grep -q 'window_wait_frac' || fail "the ordered go pipeline has no window extras"
# shellcheck disable=SC2086
grep -h ',go,' $pcsvs | grep -q 'hedge_delay_ns=' || fail "the go fan-out has no hedge extras"

# ---------------------------------------------------------------- 4. --gomaxprocs
"$bin" sweep --pattern chan --chan mutex,go --ratio 1:1 --depth 64 --gomaxprocs 1,2 \
	"${short[@]}" --out "$tmp/gmp" >"$tmp/gmp.out" 2>&1 || fail "--gomaxprocs 1,2 exit $?"
gdir=$(readlink -f "$tmp/gmp/latest")
grep -q ',go,.*gomaxprocs=1' "$gdir/results.csv" || fail "no go row at gomaxprocs=1"
grep -q ',go,.*gomaxprocs=2' "$gdir/results.csv" || fail "no go row at gomaxprocs=2"
grep -q '| go@1 | go@2 |' "$gdir/summary.md" || fail "summary.md does not split go@1 and go@2"
grep -q '"gomaxprocs": "1,2"' "$gdir/meta.json" || fail "meta.json does not record --gomaxprocs"
for bad in 0 x 1..0 ''; do
	out=$("$bin" sweep --chan go --gomaxprocs "$bad" --out "$tmp/bad" 2>&1)
	[ $? -eq 2 ] || fail "--gomaxprocs '$bad' must exit 2: $out"
	grep -q -- '--gomaxprocs' <<<"$out" || fail "--gomaxprocs '$bad': message '$out'"
done
out=$("$bin" run --chan go --gomaxprocs 1,2 2>&1)
[ $? -eq 2 ] || fail "run --gomaxprocs 1,2 must exit 2"
grep -q 'one value per parameter' <<<"$out" || fail "run --gomaxprocs 1,2: '$out'"

echo "test_go_sweep: ok ($go_rows go rows beside $(($(wc -l <"$csv") - 1 - go_rows)) C rows," \
	"validated as test_bench_cli.sh validates C rows)"
