#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_icount.sh - the gate's deterministic mode end to end: scripts/icount counts the
# instructions of patlab-paths under callgrind, and `patlab check` compares two such files.
#
#   1. The normal build counted twice gives identical counts (callgrind is exact run to run),
#      and the check of one against the other passes (A/A, exit 0).
#   2. The planted build (chan.c compiled with PATLAB_PLANT_DELAY_NS: a busy-wait before every
#      mutex send) fails the check against the normal one (exit 1) and the report names
#      chan/mutex/send_recv.
#
# Instruction counts, not time: nothing here depends on the machine's load. Registered only
# in builds without sanitizers (valgrind and sanitizers do not mix, and the counts of a
# sanitized build mean nothing). Skips (77) when valgrind is not installed.
#
# Usage: test_icount.sh PATLAB PATLAB_PATHS PLANTED_PATLAB_PATHS SCRIPTS_ICOUNT
set -uo pipefail

patlab=${1:?usage: test_icount.sh PATLAB PATHS PLANTED_PATHS ICOUNT}
paths=${2:?}
planted=${3:?}
icount=${4:?}
. "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
pt_begin test_icount
if ! command -v valgrind >/dev/null; then
	echo "test_icount: SKIP: valgrind is not installed"
	exit 77
fi
"$planted" --info | grep -q '^planted_delay_ns=[1-9]' || fail "$planted is not a planted build"

sel=(chan/mutex/send_recv chan/lockfree/send_recv ctx/create_cancel hist/record)
bash "$icount" --bin "$paths" --iters 5000 --out "$tmp/a.csv" "${sel[@]}" ||
	fail "scripts/icount (normal build, first run) failed"
bash "$icount" --bin "$paths" --iters 5000 --out "$tmp/b.csv" "${sel[@]}" ||
	fail "scripts/icount (normal build, second run) failed"
bash "$icount" --bin "$planted" --iters 5000 --out "$tmp/p.csv" "${sel[@]}" ||
	fail "scripts/icount (planted build) failed"
[ "$(wc -l <"$tmp/a.csv")" -eq 5 ] || fail "want a header and 4 rows: $(cat "$tmp/a.csv")"

# 1. exact run to run
cmp -s <(cut -d, -f1-4 "$tmp/a.csv") <(cut -d, -f1-4 "$tmp/b.csv") ||
	fail "two runs of one binary counted differently:
$(paste -d'\n' "$tmp/a.csv" "$tmp/b.csv")"
out=$("$patlab" check --out "$tmp" "$tmp/a.csv" "$tmp/b.csv" 2>&1)
rc=$?
[ $rc -eq 0 ] || fail "A/A check exit $rc, want 0:
$out"
grep -q "no regression: 4 paths" <<<"$out" || fail "A/A: $out"

# 2. the planted delay is caught
out=$("$patlab" check --out "$tmp" "$tmp/a.csv" "$tmp/p.csv" 2>&1)
rc=$?
[ $rc -eq 1 ] || fail "planted check exit $rc, want 1:
$out"
grep -q "^REGRESSION  chan/mutex/send_recv" <<<"$out" || fail "planted: mutex not flagged:
$out"
grep -q "PLANTED delay" <<<"$out" || fail "planted: the report does not say the build is planted"
echo "$out"
echo "test_icount: ok"
