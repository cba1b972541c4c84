#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# module_test.sh: axvm.ko as a module, in KTAP format, for the test VM:
# unload refused while fds are open, reload cycles, refusal when KVM owns
# SVM (and KVM refused while axvm owns it), CPU hotplug.
#
# Needs /axvm.ko, /bin/axvm, /demo/hello-long.bin, the kvm modules in
# $KVM_MODDIR (irqbypass.ko kvm.ko ccp.ko kvm-amd.ko) and
# /selftests/kvm_hold_vm. Leaves axvm.ko loaded, as it found it.

KO=${AXVM_KO:-/axvm.ko}
AXVM=${AXVM:-/bin/axvm}
DEMO=${AXVM_DEMO_DIR:-/demo}
KVM_MODDIR=${KVM_MODDIR:-/lib/modules/kvm}
HOLD=${KVM_HOLD:-$(dirname "$0")/kvm_hold_vm}
TESTS="t_unload_busy t_reload t_kvm_owns_svm t_axvm_owns_svm t_hotplug"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/module_test.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

loaded() { grep -q '^axvm ' /proc/modules; }
ensure_loaded() { loaded || insmod "$KO" 2>"$TMP/insmod.err"; }
hello() { "$AXVM" run --image "$DEMO/hello-long.bin" --mem 16M >"$TMP/out" 2>&1 &&
	grep -q "Hello from axvm" "$TMP/out"; }

t_unload_busy() {
	desc="rmmod is refused while /dev/axvm is open, works after"
	ensure_loaded || return 1
	sleep 30 </dev/axvm &
	holder=$!
	sleep 0.2
	if rmmod axvm 2>/dev/null; then
		kill "$holder"; return 1
	fi
	loaded || return 1
	kill "$holder"; wait "$holder" 2>/dev/null
	rmmod axvm && ! loaded && [ ! -e /dev/axvm ]
}

t_reload() {
	desc="five insmod/run/rmmod cycles each run a guest"
	i=0
	while [ $i -lt 5 ]; do
		ensure_loaded && hello && rmmod axvm || return 1
		i=$((i + 1))
	done
	ensure_loaded
}

kvm_load() {
	for m in irqbypass kvm ccp kvm-amd; do
		grep -q "^$(echo $m | tr - _) " /proc/modules ||
			insmod "$KVM_MODDIR/$m.ko" 2>>"$TMP/kvm.err" || return 1
	done
}

t_kvm_owns_svm() {
	desc="with a KVM VM alive, insmod axvm fails with EBUSY and says why"
	[ -x "$HOLD" ] && [ -d "$KVM_MODDIR" ] || return 1
	rmmod axvm 2>/dev/null
	kvm_load || { cat "$TMP/kvm.err"; return 1; }
	"$HOLD" >"$TMP/hold.out" &
	holder=$!
	sleep 0.5
	grep -q held "$TMP/hold.out" || { kill "$holder"; return 1; }
	dmesg -c >/dev/null
	if insmod "$KO" 2>"$TMP/insmod.err"; then
		kill "$holder"; return 1
	fi
	kill "$holder"; wait "$holder" 2>/dev/null
	grep -q "busy" "$TMP/insmod.err" &&
		dmesg | grep -q "already in use by another hypervisor" &&
		ensure_loaded && hello
}

t_axvm_owns_svm() {
	desc="with axvm loaded, KVM cannot create a VM; it can after rmmod"
	ensure_loaded && kvm_load || return 1
	if "$HOLD" >"$TMP/hold.out" 2>&1 & then :; fi
	holder=$!
	sleep 0.5
	kill "$holder" 2>/dev/null
	wait "$holder" 2>/dev/null
	grep -q "KVM_CREATE_VM: Device or resource busy" "$TMP/hold.out" ||
		{ cat "$TMP/hold.out"; return 1; }
	rmmod axvm || return 1
	"$HOLD" >"$TMP/hold.out" 2>&1 &
	holder=$!
	sleep 0.5
	kill "$holder"; wait "$holder" 2>/dev/null
	grep -q held "$TMP/hold.out" || return 1
	for m in kvm_amd kvm ccp irqbypass; do rmmod $m 2>/dev/null; done
	ensure_loaded && hello
}

t_hotplug() {
	desc="CPU 1 offline and back online; guests run pinned to it"
	cpu=/sys/devices/system/cpu/cpu1/online
	[ -w "$cpu" ] || return 1
	ensure_loaded || return 1
	echo 0 >"$cpu" && hello || { echo 1 >"$cpu"; return 1; }
	echo 1 >"$cpu" || return 1
	taskset -c 1 "$AXVM" run --image "$DEMO/hello-long.bin" --mem 16M \
		>"$TMP/out" 2>&1 && grep -q "Hello from axvm" "$TMP/out"
}

echo "TAP version 13"
set -- $TESTS
echo "1..$#"
n=0 pass=0 fail=0
for t in $TESTS; do
	n=$((n + 1))
	desc=$t
	if $t; then
		echo "ok $n $desc"; pass=$((pass + 1))
	else
		echo "not ok $n $desc"; fail=$((fail + 1))
	fi
done
ensure_loaded
echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:0 error:0"
[ "$fail" -eq 0 ]
