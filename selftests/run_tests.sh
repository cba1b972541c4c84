#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# selftests/run_tests.sh: run axvm's selftests inside the test VM (busybox sh).
#
# Usage: run_tests.sh [-t SECS] [TEST...]
#
# Runs every *_test program and *_test.sh script next to this file (in the
# test VM: /selftests/) in sorted order, or only the TESTs named (a name in
# that directory or a path).  Each one's output (KTAP from the kselftest
# harness) is streamed indented by four spaces, as a KTAP subtest, and each
# one gets a top-level "ok N name" / "not ok N name" line.
#
#   -t SECS  kill a test program (and everything it started) after SECS
#            seconds; default $RUN_TESTS_TIMEOUT or 300; 0 means no limit
#
# A shell test that needs longer says so in a line "# run_tests: timeout=SECS"
# near its top (linux_boot_test.sh boots Linux guests): it gets the larger of
# that and -t (no limit stays no limit).
#
# Test cases are counted from each program's "# Totals: pass:P fail:F
# xfail:XF xpass:XP skip:S error:E" line: passed += P + XF, failed += F + XP
# + E, skipped += S.  A program that prints no Totals line counts as one case:
# skipped if it exits 4 (KSFT_SKIP), passed if it is a script that exits 0,
# failed otherwise (crash, timeout, no Totals).  A program that exits non-zero
# (other than 4) although its Totals show no failure adds one failed case.
#
# The last line printed is exactly "N passed, N failed, N skipped".
# Exit status: 1 if anything failed, else 0.

dir=$(cd "$(dirname "$0")" && pwd)
timeout_s=${RUN_TESTS_TIMEOUT:-300}

usage() {
	sed -n '4,24s/^# \{0,1\}//p' "$0"
}

while [ $# -gt 0 ]; do
	case $1 in
	-t)
		[ $# -ge 2 ] || { usage >&2; exit 2; }
		timeout_s=$2
		shift 2
		;;
	-t*) timeout_s=${1#-t}; shift ;;
	-h | --help) usage; exit 0 ;;
	--) shift; break ;;
	-*) echo "run_tests.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	*) break ;;
	esac
done
case $timeout_s in
'' | *[!0-9]*) echo "run_tests.sh: -t wants seconds, not '$timeout_s'" >&2; exit 2 ;;
esac

tmp=$(mktemp -d /tmp/run_tests.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

# The list of tests, one path a line.
list=$tmp/list
if [ $# -gt 0 ]; then
	for t in "$@"; do
		case $t in
		*/*) echo "$t" ;;
		*) echo "$dir/$t" ;;
		esac
	done >"$list"
else
	for t in "$dir"/*_test "$dir"/*_test.sh; do
		[ -f "$t" ] && echo "$t"
	done | LC_ALL=C sort >"$list"
fi
ntests=$(wc -l <"$list")
ntests=$((ntests + 0))

# kill_session SID: SIGKILL every process of that session (the kselftest
# harness puts each test case in its own process group, so killing a group
# would not get them all).
kill_session() {
	ks_sid=$1
	for ks_st in /proc/[0-9]*/stat; do
		ks_line=""
		{ read -r ks_line <"$ks_st"; } 2>/dev/null || [ -n "$ks_line" ] || continue
		ks_rest=${ks_line##*) }
		# shellcheck disable=SC2086 # split the fields on purpose
		set -- $ks_rest
		if [ "${4:-}" = "$ks_sid" ]; then
			ks_pid=${ks_st#/proc/}
			kill -KILL "${ks_pid%/stat}" 2>/dev/null
		fi
	done
}

# field NAME LINE: the number after "NAME:" in a Totals line (0 if absent).
field() {
	f=$(echo "$2" | sed -n "s/.*[ :]$1:\([0-9][0-9]*\).*/\1/p")
	echo "${f:-0}"
}

passed=0
failed=0
skipped=0
n=0
progs_ok=0
progs_fail=0
progs_skip=0

echo "KTAP version 1"
if [ "$ntests" -eq 0 ]; then
	echo "1..0 # SKIP no *_test programs in $dir"
else
	echo "1..$ntests"
fi

while IFS= read -r t; do
	n=$((n + 1))
	name=${t##*/}
	log=$tmp/log.$n
	rcfile=$tmp/rc.$n
	tofile=$tmp/timeout.$n
	: >"$log"
	echo "# selftest $n/$ntests: $name"
	start=$(date +%s)
	if [ ! -e "$t" ]; then
		echo "    # $t: no such test" | tee "$log"
		echo 127 >"$rcfile"
	elif [ ! -x "$t" ] && [ "${t%.sh}" = "$t" ]; then
		echo "    # $t: not executable" | tee "$log"
		echo 126 >"$rcfile"
	else
		# The test's own, longer limit ("# run_tests: timeout=SECS").
		t_timeout=$timeout_s
		if [ "${t%.sh}" != "$t" ] && [ "$timeout_s" -gt 0 ]; then
			own=$(sed -n '1,40s/^# run_tests: timeout=\([0-9][0-9]*\)$/\1/p' "$t" | head -n 1)
			if [ -n "$own" ] && [ "$own" -gt "$timeout_s" ]; then
				t_timeout=$own
			fi
		fi
		{
			if [ "${t%.sh}" != "$t" ] && [ ! -x "$t" ]; then
				setsid /bin/sh "$t" </dev/null 2>&1 &
			else
				setsid "$t" </dev/null 2>&1 &
			fi
			pid=$!
			wd=""
			if [ "$t_timeout" -gt 0 ]; then
				(
					sleep "$t_timeout" &
					sp=$!
					trap 'kill "$sp"; exit 0' TERM
					wait "$sp" || exit 0
					echo timeout >"$tofile"
					kill_session "$pid"
				) </dev/null >/dev/null 2>&1 &
				wd=$!
			fi
			wait "$pid"
			echo $? >"$rcfile"
			[ -z "$wd" ] || kill "$wd" 2>/dev/null
			# Whatever the test left behind would keep the pipe open.
			kill_session "$pid"
		} 2>&1 | tee "$log" | sed 's/^/    /'
	fi
	secs=$(($(date +%s) - start))
	rc=$(cat "$rcfile" 2>/dev/null)
	rc=${rc:-255}

	totals=$(grep '^# Totals: ' "$log" | tail -n 1)
	note=""
	if [ -f "$tofile" ]; then
		failed=$((failed + 1))
		verdict=fail
		note="timeout after ${t_timeout}s"
	elif [ -n "$totals" ]; then
		p=$(($(field pass "$totals") + $(field xfail "$totals")))
		f=$(($(field fail "$totals") + $(field xpass "$totals") + $(field error "$totals")))
		s=$(field skip "$totals")
		if [ "$rc" -ne 0 ] && [ "$rc" -ne 4 ] && [ "$f" -eq 0 ]; then
			f=1
			note="exit status $rc"
		fi
		passed=$((passed + p))
		failed=$((failed + f))
		skipped=$((skipped + s))
		if [ "$f" -gt 0 ]; then
			verdict=fail
		elif [ "$p" -eq 0 ] && [ "$s" -gt 0 ]; then
			verdict=skip
		else
			verdict=ok
		fi
	elif [ "$rc" -eq 4 ]; then
		skipped=$((skipped + 1))
		verdict=skip
	elif [ "$rc" -eq 0 ] && [ "${name%.sh}" != "$name" ]; then
		passed=$((passed + 1))
		verdict=ok
	else
		failed=$((failed + 1))
		verdict=fail
		if [ "$rc" -gt 128 ]; then
			note="killed by signal $((rc - 128)), no Totals line"
		else
			note="exit status $rc, no Totals line"
		fi
	fi

	case $verdict in
	ok) echo "ok $n $name"; progs_ok=$((progs_ok + 1)) ;;
	skip) echo "ok $n $name # SKIP"; progs_skip=$((progs_skip + 1)) ;;
	*) echo "not ok $n $name${note:+ # $note}"; progs_fail=$((progs_fail + 1)) ;;
	esac
	echo "# $name: ${secs}s"
done <"$list"

echo "# Programs: $ntests: $progs_ok ok, $progs_fail not ok, $progs_skip skipped"
echo "# Totals: pass:$passed fail:$failed xfail:0 xpass:0 skip:$skipped error:0"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
