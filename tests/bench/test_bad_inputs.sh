#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_bad_inputs.sh - every row of tests/README.md's bad-input tables that names this test,
# run as written: the exit code must be the row's, and the output (stdout and stderr) must
# contain its message fragment. The fixtures the inputs name (R, I, D, N, R{EDIT}, I{EDIT},
# '') are made here; tests/README.md says what each is.
#
# Every row is tried; the failures are listed, then the test fails. Also fails when a row
# cannot be run (an unknown fixture or edit), when a row names a test
# that tests/ does not register, and when the tables hold fewer rows for this test than they
# did when it was written (a table the parser stopped reading).
#
# Rows of patlab-svc (input `patlab-svc ...`) run in an empty folder of their own, which must
# still be empty afterwards: a start that fails creates nothing.
#
# Usage: test_bad_inputs.sh PATH/TO/patlab PATH/TO/tests/README.md [PATH/TO/patlab-svc]
#        (exit 0 pass, 1 fail)
set -uo pipefail

bin=${1:?usage: test_bad_inputs.sh PATH/TO/patlab PATH/TO/tests/README.md [PATH/TO/patlab-svc]}
readme=${2:?usage: test_bad_inputs.sh PATH/TO/patlab PATH/TO/tests/README.md [PATH/TO/patlab-svc]}
svc=${3:-}
tests_dir=$(dirname "$readme")
. "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
pt_begin test_bad_inputs
min_rows=90

# ---------------------------------------------------------------- fixtures
header='run_id,timestamp_utc,git_rev,host,cpu_model,cpus,compiler,pattern,chan_kind,producers,consumers,stages,queue_depth,work_ns,rate_target,policy,rep,messages,seconds,throughput_mps,lat_p50_ns,lat_p90_ns,lat_p99_ns,lat_p999_ns,lat_max_ns,dropped,rejected,lost,spin_ns,build_type,warmup_s,lat_mean_ns,seed,timeout_ns,pin,extras'
# pattern kind producers consumers depth throughput p50_ns p99_ns
configs='chan mutex 1 1 64 2000000 9000 160000
chan lockfree 1 1 64 5000000 6000 50000
chan urcu 2 2 1024 4000000 41000 2000000
chan spsc 1 1 64 9000000 3000 30000
chan mutex 2 2 1024 3000000 30000 900000
chan lockfree 2 2 1024 6000000 20000 700000
pingpong mutex 1 1 1 50000 14000 400000
pingpong lockfree 1 1 1 60000 12000 300000'
# results REPS - the results.csv of the 8 configurations, REPS repetitions each.
results() {
	echo "$header"
	awk -v reps="$1" '{ c[NR] = $0 }
	END {
		for (r = 1; r <= reps; r++)
			for (i = 1; i <= NR; i++) {
				split(c[i], f, " ")
				t = f[6] * (1 + 0.01 * ((i * 7 + r * 3) % 5 - 2))
				printf "bad-inputs,2026-01-01T00:00:%02d.000Z,abc123,host1,AMD EPYC,2,gcc 12.2.0,%s,%s,%d,%d,1,%d,0,0,-,%d,%d,0.250000,%.1f,%d,%d,%d,%d,%d,0,0,0,50000,Release,0.05,%.1f,1,0,none,-\n", \
					r, f[1], f[2], f[3], f[4], f[5], r, int(t / 4), t, f[7], f[7] * 2, \
					f[8], f[8] * 2, f[8] * 4, f[7] * 1.2
			}
	}' <<<"$configs"
}
results 3 >"$tmp/R"
results 5 >"$tmp/R5"
{
	echo 'path,iterations,instructions,instructions_per_op,compiler,build_type,planted_delay_ns,git_rev,valgrind'
	echo 'chan/mutex/send_recv,20000,2900331,145.02,gcc 12.2.0,Release,0,abc123,valgrind-3.19.0'
	echo 'ctx/err,20000,1100018,55.00,gcc 12.2.0,Release,0,abc123,valgrind-3.19.0'
} >"$tmp/I"
mkdir -p "$tmp/D"
n_files=0

# edit SRC SPEC OUT - SRC with the edit SPEC (tests/README.md's R{EDIT}) into OUT.
edit() {
	local src=$1 spec=$2 out=$3
	case "$spec" in
	empty) : >"$out"; return 0 ;;
	bom) { printf '\357\273\277'; cat "$src"; } >"$out"; return 0 ;;
	esac
	awk -F, -v OFS=, -v spec="$spec" '
	function bad() { print "cannot run edit " spec > "/dev/stderr"; exit 2 }
	BEGIN {
		if (match(spec, /^(header|blank|short|long)@[0-9]+$/)) {
			split(spec, a, "@"); kind = a[1]; row = a[2]
		} else if (match(spec, /^[-+][a-z0-9_]+$/)) {
			kind = substr(spec, 1, 1); col = substr(spec, 2)
		} else if (match(spec, /^[a-z0-9_]+@(\*|[0-9]+)[=\/]/)) {
			head = substr(spec, 1, RLENGTH - 1); op = substr(spec, RLENGTH, 1)
			val = substr(spec, RLENGTH + 1)
			split(head, a, "@"); col = a[1]; row = a[2]; kind = "set"
			if (op == "/" && val !~ /^[0-9.]+$/) bad()
		} else bad()
	}
	NR == 1 {
		for (i = 1; i <= NF; i++) idx[$i] = i
		hdr = $0
		if ((kind == "set" || kind == "-") && !(col in idx)) bad()
		if (kind == "-") { drop = idx[col] }
		if (kind == "+") $0 = $0 "," col
		print dropped($0); next
	}
	function dropped(line,    n, f, i, o) {
		if (!drop) return line
		n = split(line, f, ","); o = ""
		for (i = 1; i <= n; i++) if (i != drop) o = o (o == "" ? "" : ",") f[i]
		return o
	}
	{
		r = NR - 1
		if (kind == "+") $0 = $0 ",x"
		if (kind == "set" && (row == "*" || row == r)) {
			if (op == "=") $idx[col] = val
			else $idx[col] = sprintf("%.1f", $idx[col] / val)
		}
		if (kind == "short" && row == r) NF = NF - 1
		if (kind == "long" && row == r) $0 = $0 ",junk"
		print dropped($0)
		if (kind == "header" && row == r) print hdr
		if (kind == "blank" && row == r) print ""
	}' "$src" >"$out"
}

# arg WORD - the argument a table word stands for, into $arg (a fixture made on demand).
arg() {
	local w=$1 base spec
	case "$w" in
	"''") arg= ;;
	R | R5 | I) arg=$tmp/$w ;;
	D) arg=$tmp/D ;;
	N) arg=$tmp/nonexistent ;;
	N/*) arg=$tmp/nonexistent/${w#N/} ;;
	R\{*\} | R5\{*\} | I\{*\})
		base=${w%%\{*}
		spec=${w#*\{}
		spec=${spec%\}}
		n_files=$((n_files + 1))
		arg=$tmp/file$n_files.csv
		edit "$tmp/$base" "$spec" "$arg" || fail "cannot make the fixture $w"
		;;
	*) arg=$w ;;
	esac
}

# ---------------------------------------------------------------- the tables
# Rows: | `input` | exit | `fragment` | test |
mapfile -t rows < <(grep -E '^\| `patlab(-svc)? .*` \| [0-9]+ \| `.*` \| [a-z0-9_]+ \|$' "$readme")
ran=0
failed=0
for row in "${rows[@]}"; do
	input=$(sed -E 's/^\| `(.*)` \| [0-9]+ \| `.*` \| [a-z0-9_]+ \|$/\1/' <<<"$row")
	want_rc=$(sed -E 's/^\| `.*` \| ([0-9]+) \| `.*` \| [a-z0-9_]+ \|$/\1/' <<<"$row")
	want=$(sed -E 's/^\| `.*` \| [0-9]+ \| `(.*)` \| [a-z0-9_]+ \|$/\1/' <<<"$row")
	test_name=$(sed -E 's/^.* \| ([a-z0-9_]+) \|$/\1/' <<<"$row")
	if [ "$test_name" != test_bad_inputs ]; then
		grep -rqE "(NAME|patlab_test\()[[:space:]]*$test_name([[:space:]]|\))" \
			"$tests_dir" --include=CMakeLists.txt --include='*.cmake' ||
			fail "row '$input' names $test_name, which tests/ does not register"
		continue
	fi
	read -r -a words <<<"$input"
	args=()
	for w in "${words[@]:1}"; do
		arg "$w"
		args+=("$arg")
	done
	created=
	case "${words[0]}" in
	patlab)
		out=$("$bin" "${args[@]}" 2>&1 </dev/null)
		rc=$?
		;;
	patlab-svc)
		[ -n "$svc" ] || fail "row '$input': no patlab-svc given (third argument)"
		rm -rf "$tmp/svc" && mkdir "$tmp/svc"
		out=$(cd "$tmp/svc" && timeout 10 "$svc" "${args[@]}" 2>&1 </dev/null)
		rc=$?
		created=$(ls -A "$tmp/svc")
		;;
	*) fail "row '$input' does not start with patlab or patlab-svc" ;;
	esac
	ran=$((ran + 1))
	if [ -n "$created" ]; then
		echo "test_bad_inputs: '$input': a failed start left: $created" >&2
	elif [ "$rc" -ne "$want_rc" ]; then
		echo "test_bad_inputs: '$input': exit $rc, want $want_rc; output:" >&2
	elif ! grep -qF -- "$want" <<<"$out"; then
		echo "test_bad_inputs: '$input': the output lacks '$want'; output:" >&2
	else
		continue
	fi
	sed 's/^/    /' <<<"$out" | head -20 >&2
	failed=$((failed + 1))
done
[ "$ran" -ge "$min_rows" ] || fail "only $ran rows ran, want at least $min_rows: is the table read?"
[ "$failed" -eq 0 ] || fail "$failed of $ran rows gave another answer (above)"
echo "test_bad_inputs: ok ($ran rows of $readme)"
