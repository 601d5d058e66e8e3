# SPDX-License-Identifier: MIT
# lib.sh - what the shell tests share, sourced (ctest runs each test as `bash <path> args`):
#
#   . "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
#   pt_begin NAME
#
# pt_begin NAME makes a fresh temporary folder in $tmp, removed when the script exits, and names
# the test for fail MSG..., which prints "NAME: FAIL: MSG..." on stderr and exits 1.

# pt_begin NAME - $tmp (removed at exit) and the name fail() reports.
pt_begin() {
	pt_name=${1:?usage: pt_begin NAME}
	tmp=$(mktemp -d) || {
		echo "$pt_name: FAIL: mktemp -d" >&2
		exit 1
	}
	trap 'rm -rf "$tmp"' EXIT
}

# fail MSG... - the test failed: say what on stderr, exit 1.
fail() {
	echo "${pt_name:-test}: FAIL: $*" >&2
	exit 1
}
