#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# launcher_test.sh: end-to-end checks of the `axvm` launcher and the demo
# guests, in KTAP format. Meant for the test VM, where the launcher is
# /bin/axvm and the demo images (userspace/demo/*.bin) are in /demo/.
# Override with AXVM=..., AXVM_DEMO_DIR=... and AXVM_GUEST_DIR=... (where
# the Linux guest's vmlinuz is) to run elsewhere.  Linux guests boot in
# linux_boot_test.sh; here only the --kernel command line is checked.
#
# Exit status: 0 if every test passed, 1 otherwise.

AXVM=${AXVM:-/bin/axvm}
DEMO=${AXVM_DEMO_DIR:-/demo}
GUEST_KERNEL=${AXVM_GUEST_DIR:-/guest}/vmlinuz
TESTS="t_info t_help t_hello_real t_hello_protected t_hello_long t_fault
       t_missing_image t_bad_mem t_unaligned_mem t_image_too_large
       t_unknown_flag t_cpus_pin t_pin_too_short t_kernel_and_image
       t_initrd_without_kernel t_bad_reboot t_missing_kernel
       t_kernel_not_linux t_kernel_mem_too_small"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/launcher_test.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
OUT=$TMP/stdout
ERR=$TMP/stderr

# A wedged guest must not hang the whole test run.
TIMEOUT=
if command -v timeout >/dev/null 2>&1; then
	TIMEOUT="timeout 60"
fi

# Runs the launcher with the given arguments; sets $status and leaves
# its output in $OUT and $ERR.
run_axvm() {
	status=0
	$TIMEOUT "$AXVM" "$@" >"$OUT" 2>"$ERR" </dev/null || status=$?
}

stdout_is()	{ [ "$(cat "$OUT")" = "$1" ]; }
stdout_has()	{ grep -qF -e "$1" "$OUT"; }
stderr_has()	{ grep -qF -e "$1" "$ERR"; }
# stdin's bytes in hex, one per line, sorted: equal for permutations.
bytes_sorted()	{ od -An -v -tx1 | tr -s ' \n' '\n\n' | grep . | sort; }

# --- the tests: each returns 0 on success -------------------------------

t_info() {
	desc="axvm info works and names the svm backend"
	run_axvm info
	[ "$status" -eq 0 ] && grep -q '^backend: *svm$' "$OUT" &&
		stdout_has "api version:" && stdout_has "run size:"
}

t_help() {
	desc="axvm --help lists every run flag, the exit port and statuses"
	run_axvm --help
	[ "$status" -eq 0 ] && stdout_has --image && stdout_has --load &&
		stdout_has --entry && stdout_has --mem && stdout_has --mode &&
		stdout_has 0xf4 && stdout_has "Exit status" &&
		stdout_has --kernel && stdout_has --initrd &&
		stdout_has --cmdline && stdout_has "Ctrl-A x"
}

# hello MODE LOAD MEM: the demo prints exactly its greeting, exits 0.
hello() {
	desc="hello-$1 prints its greeting and exits 0"
	run_axvm run --image "$DEMO/hello-$1.bin" --load "$2" --entry "$2" \
		--mem "$3" --mode "$1"
	[ "$status" -eq 0 ] && stdout_is "Hello from axvm ($1 mode)"
}

t_hello_real()		{ hello real 0x10000 1M; }
t_hello_protected()	{ hello protected 0x100000 16M; }
t_hello_long()		{ hello long 0x100000 16M; }

t_fault() {
	desc="fault image: status 3 and a triple-fault message"
	run_axvm run --image "$DEMO/fault.bin" --load 0x100000 \
		--entry 0x100000 --mem 16M --mode long
	[ "$status" -eq 3 ] && stderr_has "triple fault" &&
		stdout_has "fault: dividing by zero"
}

t_missing_image() {
	desc="a missing image is refused with status 2 and a message"
	run_axvm run --image "$TMP/no-such-image.bin" --mem 16M
	[ "$status" -eq 2 ] && stderr_has "no-such-image.bin"
}

t_bad_mem() {
	desc="--mem banana is refused with status 2 and a message"
	run_axvm run --image "$DEMO/hello-long.bin" --mem banana
	[ "$status" -eq 2 ] && stderr_has "--mem"
}

t_unaligned_mem() {
	desc="--mem that is not a multiple of 4 KiB is refused with status 2"
	run_axvm run --image "$DEMO/hello-long.bin" --mem 12345
	[ "$status" -eq 2 ] && stderr_has "4 KiB"
}

t_image_too_large() {
	desc="an image larger than guest memory is refused with status 2"
	head -c 2097152 /dev/zero >"$TMP/big.bin"
	run_axvm run --image "$TMP/big.bin" --load 0 --entry 0 --mem 1M \
		--mode real
	[ "$status" -eq 2 ] && stderr_has "does not fit"
}

t_unknown_flag() {
	desc="an unknown flag is refused with status 2 and a message"
	run_axvm run --image "$DEMO/hello-long.bin" --no-such-flag
	[ "$status" -eq 2 ] && stderr_has "no-such-flag"
}

# --- KTAP ----------------------------------------------------------------

t_cpus_pin() {
	desc="--cpus 2 --pin 0,1: two pinned vCPUs, hello-long prints twice"
	if [ "$(grep -c '^processor' /proc/cpuinfo)" -lt 2 ]; then
		desc="$desc # SKIP fewer than 2 host CPUs"
		return 0
	fi
	run_axvm run --image "$DEMO/hello-long.bin" --mem 16M --cpus 2 \
		--pin 0,1
	# Both vCPUs write to the one in-kernel UART, so the two greetings
	# may interleave byte by byte: compare the bytes as a multiset.
	greeting="Hello from axvm (long mode)"
	[ "$status" -eq 0 ] &&
		[ "$(bytes_sorted <"$OUT")" = \
		  "$(printf '%s\n%s\n' "$greeting" "$greeting" | bytes_sorted)" ] &&
		run_axvm run --help && stdout_has --cpus && stdout_has --pin
}

t_pin_too_short() {
	desc="--pin naming fewer CPUs than --cpus is a usage error"
	run_axvm run --image "$DEMO/hello-long.bin" --cpus 2 --pin 0
	[ "$status" -eq 2 ] && stderr_has "--pin" && [ ! -s "$OUT" ]
}

# --- Linux mode's command line: refused before any VM exists ------------

t_kernel_and_image() {
	desc="--kernel with --image is a usage error (status 2)"
	run_axvm run --kernel "$DEMO/hello-long.bin" --image "$DEMO/hello-long.bin"
	[ "$status" -eq 2 ] && stderr_has "do not go with it" && [ ! -s "$OUT" ]
}

t_initrd_without_kernel() {
	desc="--initrd without --kernel is a usage error (status 2)"
	run_axvm run --image "$DEMO/hello-long.bin" --initrd "$DEMO/hello-long.bin"
	[ "$status" -eq 2 ] && stderr_has "need --kernel"
}

t_bad_reboot() {
	desc="--reboot=sometimes is refused with status 2, naming the value"
	run_axvm run --kernel "$DEMO/hello-long.bin" --reboot=sometimes
	[ "$status" -eq 2 ] && stderr_has "--reboot 'sometimes'"
}

t_missing_kernel() {
	desc="a missing --kernel file is refused with status 2, naming it"
	run_axvm run --kernel "$TMP/no-such-kernel"
	[ "$status" -eq 2 ] && stderr_has "--kernel $TMP/no-such-kernel"
}

t_kernel_not_linux() {
	desc="a raw image given as --kernel is refused: too short for a boot header"
	run_axvm run --kernel "$DEMO/hello-long.bin"
	[ "$status" -eq 2 ] && stderr_has "too short to hold a Linux boot header"
}

t_kernel_mem_too_small() {
	desc="--mem too small for the kernel is refused with status 2 before boot"
	if [ ! -f "$GUEST_KERNEL" ]; then
		desc="$desc # SKIP $GUEST_KERNEL is absent"
		return 0
	fi
	run_axvm run --kernel "$GUEST_KERNEL" --mem 16M
	[ "$status" -eq 2 ] && stderr_has "but RAM ends at 0x1000000" &&
		[ ! -s "$OUT" ]
}

# Shows what the launcher did, as KTAP diagnostics.
diagnose() {
	echo "# exit status $status"
	sed 's/^/# stdout: /' "$OUT"
	sed 's/^/# stderr: /' "$ERR"
}

nr=0
pass=0
fail=0
nskip=0
set -- $TESTS
echo "TAP version 13"
echo "1..$#"
for t in $TESTS; do
	nr=$((nr + 1))
	status=0
	: >"$OUT"
	: >"$ERR"
	if $t; then
		case $desc in
		*"# SKIP"*) nskip=$((nskip + 1)) ;;
		*) pass=$((pass + 1)) ;;
		esac
		echo "ok $nr - $desc"
	else
		fail=$((fail + 1))
		echo "not ok $nr - $desc"
		diagnose
	fi
done
echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:$nskip error:0"
[ "$fail" -eq 0 ]
