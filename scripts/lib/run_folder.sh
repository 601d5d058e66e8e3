# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# scripts/lib/run_folder.sh - sourced by scripts/micro, scripts/ref and scripts/hyperfine-*: run
# folders named like patlab's, and the release build they measure.
#
# patlab sweep names a run <UTC start, %Y%m%dT%H%M%SZ>-<4 random hex digits> (bench/sysinfo.c)
# and points <out>/latest at the newest with a symlink made under a temp name and renamed over
# the old one (bench/main.c), so a reader never sees it missing. These instruments do the same,
# with the instrument's name in front (<out>/<name>-<stamp>-<hex>/) and their own link
# (<out>/latest-<name>): `latest` stays the newest *sweep*, which scripts/plot, `patlab report`
# and `patlab check` expect to hold a results.csv.

# rf_new OUT NAME: creates OUT/NAME-<stamp>-<hex>/ and prints its path.
rf_new() {
	local out=$1 name=$2 id
	id="$name-$(date -u +%Y%m%dT%H%M%SZ)-$(od -An -N2 -tx2 /dev/urandom | tr -d ' \n')"
	mkdir -p "$out/$id" || return 1
	printf '%s\n' "$out/$id"
}

# rf_latest RUN_DIR NAME: points <parent of RUN_DIR>/latest-NAME at RUN_DIR, atomically.
rf_latest() {
	local dir parent id tmp
	dir=${1%/}
	parent=$(dirname "$dir")
	id=$(basename "$dir")
	tmp="$parent/.latest-$2.$$"
	rm -f "$tmp"
	if ! { ln -s "$id" "$tmp" && mv -Tf "$tmp" "$parent/latest-$2"; }; then
		rm -f "$tmp"
		return 1
	fi
}

# rf_build BUILD_DIR TARGET...: with BUILD_DIR empty, installs the missing packages
# (scripts/deps) and builds TARGETs in the release preset (build/release), as scripts/bench
# does; with BUILD_DIR set, uses that build as it is (no deps, no build). Prints the build
# folder. Run from the source root.
rf_build() {
	local dir=$1
	shift
	if [ -n "$dir" ]; then
		if [ ! -d "$dir" ]; then
			echo "no build folder '$dir'" >&2
			return 2
		fi
		(cd "$dir" && pwd)
		return 0
	fi
	scripts/deps >&2 || return 1
	cmake --preset release >/dev/null || return 1
	cmake --build --preset release -j "$(nproc)" --target "$@" >&2 || return 1
	(cd build/release && pwd)
}

# rf_find BUILD_DIR NAME: the path of executable NAME inside BUILD_DIR (its top folder,
# bench/, bench/micro/ or bench/ref/), or a message and status 1.
rf_find() {
	local p
	for p in "$1/$2" "$1/bench/$2" "$1/bench/micro/$2" "$1/bench/ref/$2"; do
		if [ -x "$p" ] && [ -f "$p" ]; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	echo "no executable $2 in $1 (build it: cmake --build $1 --target ...)" >&2
	return 1
}

# rf_python: the real python3 interpreter (not a pyenv shim, whose start-up would be timed).
rf_python() {
	python3 -c 'import sys; print(sys.executable)'
}
