#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every script under scripts/ answers --help with its usage and exit 0, and does nothing else:
# no package installed, nothing built, nothing run, no file written in the checkout. Shims for
# the tools a script could reach (apt-get, sudo, cmake, gnuplot, hyperfine, valgrind, go)
# record any call; the checkout's file list is compared before and after. Also: an unknown
# option is exit 2, and `scripts/bench --dry-run` only plans (no run folder, no plots, no
# hyperfine, no "wrote"). And no compiled Python is tracked or left unignored.
# Usage: test_script_help.sh SOURCE_DIR PATLAB_BUILD_DIR
set -euo pipefail
src=$1
build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
passes=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
pass() {
	passes=$((passes + 1))
}

mkdir -p "$tmp/shims"
for t in apt-get sudo cmake gnuplot hyperfine valgrind go; do
	printf '#!/bin/sh\necho "%s $*" >> "%s/calls"\nexit 0\n' "$t" "$tmp" >"$tmp/shims/$t"
	chmod +x "$tmp/shims/$t"
done
snapshot() {
	(cd "$src" && find . -path ./build -prune -o -path ./.git -prune -o -newer "$tmp/stamp" -print)
}

for s in "$src"/scripts/*; do
	[ -f "$s" ] && [ -x "$s" ] || continue
	name=$(basename "$s")
	: >"$tmp/calls"
	touch "$tmp/stamp"
	sleep 0.01
	rc=0
	PATH="$tmp/shims:$PATH" PATLAB_BUILD_DIR="$build" "$s" --help >"$tmp/out" 2>&1 </dev/null || rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "$name --help: exit $rc"
		sed 's/^/    /' "$tmp/out" | head -5
	elif ! grep -qi 'usage' "$tmp/out"; then
		fail "$name --help: no usage line"
	elif [ -s "$tmp/calls" ]; then
		fail "$name --help ran: $(tr '\n' ';' <"$tmp/calls")"
	elif [ -n "$(snapshot)" ]; then
		fail "$name --help wrote: $(snapshot | tr '\n' ' ')"
	else
		pass
	fi
	rc=0
	PATH="$tmp/shims:$PATH" PATLAB_BUILD_DIR="$build" "$s" --no-such-option >"$tmp/out" 2>&1 </dev/null || rc=$?
	case "$name" in
	bench | perf-check | perf-ab | micro | ref)
		# Options pass through to a program (patlab sweep, patlab-ref, Google Benchmark),
		# or the script runs a build first: their own refusal is tested with them.
		pass
		;;
	*)
		if [ "$rc" -ne 2 ]; then
			fail "$name --no-such-option: exit $rc, not 2"
		elif [ -s "$tmp/calls" ]; then
			fail "$name --no-such-option ran: $(tr '\n' ';' <"$tmp/calls")"
		else
			pass
		fi
		;;
	esac
done

# scripts/bench --dry-run: the plan and nothing else.
: >"$tmp/calls"
rc=0
PATH="$tmp/shims:$PATH" PATLAB_BUILD_DIR="$build" "$src/scripts/bench" --dry-run --pattern chan \
	--chan mutex --out "$tmp/runs" >"$tmp/out" 2>&1 </dev/null || rc=$?
if [ "$rc" -ne 0 ]; then
	fail "bench --dry-run: exit $rc"
	sed 's/^/    /' "$tmp/out" | head -5
elif [ -e "$tmp/runs" ]; then
	fail "bench --dry-run created $tmp/runs"
elif grep -q '=== wrote\|hyperfine' "$tmp/out" || [ -s "$tmp/calls" ]; then
	fail "bench --dry-run did more than plan: $(tr '\n' ';' <"$tmp/calls")"
elif ! grep -qi 'point' "$tmp/out"; then
	fail "bench --dry-run: no plan printed"
else
	pass
fi

# Compiled Python is never part of the tree: none tracked, and git ignores what running the
# scripts leaves behind.
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
	tracked=$(git -C "$src" ls-files '*.pyc' '*__pycache__*')
	if [ -n "$tracked" ]; then
		fail "compiled Python tracked: $tracked"
	elif ! git -C "$src" check-ignore -q scripts/lib/__pycache__/x.cpython-311.pyc; then
		fail ".gitignore does not ignore scripts/lib/__pycache__/"
	else
		pass
	fi
fi

echo "test_script_help: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
