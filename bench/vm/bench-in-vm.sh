#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# bench-in-vm.sh: the part of `make bench` that runs inside the test VM
# (scripts/testvm boots it with /axvm.ko loaded; bench/run adds this
# script, /bench/axbench and /bench/vmrun_limit.ko).
#
# For each round: the workloads on axvm.ko; rmmod axvm, insmod
# vmrun_limit.ko and read its debugfs files (the bare world switch);
# rmmod it, insmod Debian's kvm + kvm-amd (once) and run the same
# workloads through axbench's KVM backend; even rounds in the reverse
# order. Rounds interleave the three so a slow spell of the host machine
# hits all columns alike. Prints axbench's sample lines ("S ...") plus the
# limit's ("S <round> <workload> limit ns <value>") on stdout.
#
# Also usable on a real AMD machine (Documentation/benchmarks.md):
# AXVM_KO, LIMIT_KO, AXBENCH point at the built files, KVM_MODDIR=modprobe;
# for linux_boot AXVM_RUN (the launcher), QEMU, GUEST_KERNEL, GUEST_INITRD.
#
# Environment (bench/run sets them): BENCH_ROUNDS, BENCH_REPS,
# BENCH_COUNT, BENCH_TOUCH_REPS, BENCH_TOUCH_MIB, BENCH_CD_REPS,
# BENCH_IDLE_VMS, BENCH_IRQ_COUNT, BENCH_LIMIT_ITERS, BENCH_WORKLOADS,
# BENCH_IDLE_ROUNDS (rounds that also run idle_mem: the first N),
# BENCH_BOOT_ROUNDS (rounds that also run linux_boot: the first N).
#
# linux_boot is not an axbench workload: it boots Debian's kernel with the
# busybox initramfs of scripts/guest-initramfs (GUEST_KERNEL, GUEST_INITRD)
# with the axvm launcher (AXVM_RUN) in the axvm phase, and under QEMU
# microvm + KVM (QEMU: the host's QEMU, bundled by bench/qemu-bundle) in the
# KVM phase, and times each from the VMM's start to the guest's "init
# reached" line on its console and to the VMM's exit.

AXBENCH=${AXBENCH:-/bench/axbench}
LIMIT_KO=${LIMIT_KO:-/bench/vmrun_limit.ko}
AXVM_KO=${AXVM_KO:-/axvm.ko}
KVM_MODDIR=${KVM_MODDIR:-/lib/modules/kvm}
ROUNDS=${BENCH_ROUNDS:-3}
WORKLOADS=${BENCH_WORKLOADS:-"cpuid rdmsr vmmcall_user vmmcall_kernel pio_out mmio_write mmio_read irq touch touch_thp create_destroy create_destroy_eager linux_boot"}
IDLE_ROUNDS=${BENCH_IDLE_ROUNDS:-1}
BOOT_ROUNDS=${BENCH_BOOT_ROUNDS:-3}
BOOT_TIMEOUT=${BENCH_BOOT_TIMEOUT:-240}
AXVM_RUN=${AXVM_RUN:-axvm}
QEMU=${QEMU:-/qemu/qemu}
GUEST_KERNEL=${GUEST_KERNEL:-/guest/vmlinuz}
GUEST_INITRD=${GUEST_INITRD:-/guest/initrd.gz}
LIMIT_ITERS=${BENCH_LIMIT_ITERS:-10000}
LIMIT_REPS=${BENCH_LIMIT_REPS:-${BENCH_REPS:-5}}

ARGS="--reps ${BENCH_REPS:-5} --count ${BENCH_COUNT:-3000}
	--touch-reps ${BENCH_TOUCH_REPS:-1} --touch-mib ${BENCH_TOUCH_MIB:-256}
	--cd-reps ${BENCH_CD_REPS:-20} --idle-vms ${BENCH_IDLE_VMS:-500}
	--irq-count ${BENCH_IRQ_COUNT:-200}"

# axbench's workloads, and whether linux_boot is asked for.
AXB_WORKLOADS=""
BOOT=0
for w in $WORKLOADS; do
	case $w in
	linux_boot) BOOT=1 ;;
	*) AXB_WORKLOADS="$AXB_WORKLOADS $w" ;;
	esac
done

rc=0
note() { echo "# $*"; }
mod_loaded() { grep -q "^$1 " /proc/modules; }

# KVM_MODDIR=modprobe: a real machine's own kvm_amd (modprobe, not insmod).
kvm_load() {
	if [ "$KVM_MODDIR" = modprobe ]; then
		modprobe kvm_amd
		return
	fi
	for m in irqbypass kvm ccp kvm-amd; do
		mod_loaded "$(echo $m | tr - _)" && continue
		insmod "$KVM_MODDIR/$m.ko" || return 1
	done
}

kvm_unload() {
	if [ "$KVM_MODDIR" = modprobe ]; then
		modprobe -r kvm_amd kvm
		return
	fi
	for m in kvm_amd kvm ccp irqbypass; do
		mod_loaded $m && { rmmod $m || return 1; }
	done
	return 0
}

# The limit's debugfs file for each workload it applies to.
limit_kind() {
	case $1 in
	cpuid) echo cpuid ;;
	rdmsr) echo rdmsr ;;
	vmmcall_user | vmmcall_kernel) echo vmmcall ;;
	pio_out) echo pio_out ;;
	mmio_write | mmio_read) echo npf ;;
	*) echo "" ;;
	esac
}

run_limit() { # ROUND
	insmod "$LIMIT_KO" || { echo "E $1 limit limit insmod failed"; return 1; }
	d=/sys/kernel/debug/vmrun_limit
	echo "$LIMIT_ITERS" >$d/iterations
	for w in $WORKLOADS; do
		k=$(limit_kind "$w")
		[ -n "$k" ] || continue
		i=0
		while [ $i -lt "$LIMIT_REPS" ]; do
			out=$(cat "$d/$k") || { echo "E $1 $w limit read $k failed"; break; }
			ns=$(echo "$out" | sed -n 's/.*ns_per_exit=\([0-9.]*\).*/\1/p')
			echo "S $1 $w limit ns $ns"
			i=$((i + 1))
		done
	done
	out=$(cat $d/vmmcall_vmload) && echo "I $1 limit vmmcall_vmload_ns $(echo "$out" | sed -n 's/.*ns_per_exit=\([0-9.]*\).*/\1/p')"
	rmmod vmrun_limit
}

# The Linux guest's command line: the launcher's default. QEMU runs microvm
# with qboot (its default firmware) and ACPI (its default: the guest's
# poweroff ends QEMU), the guest's CPU taken from the test VM, one vCPU and
# 256 MiB as axvm's default; rtc=on because without an RTC (microvm's
# default with ACPI) Linux still registers rtc_cmos and polls the absent
# RTC 10000 times before it gives up, ~5 s of guest time here
# (Documentation/benchmarks.md).
BOOT_CMDLINE="console=ttyS0 reboot=k panic=-1"
BOOT_MARKER="axvm-guest: init reached"
QEMU_MACHINE=${BENCH_QEMU_MACHINE:-microvm,rtc=on}
QEMU_CPU=${BENCH_QEMU_CPU:-host}

# linux_boot BACKEND ROUND: boot the Linux guest once, with the axvm
# launcher (axvm.ko loaded) or QEMU microvm (KVM loaded). Samples, in
# seconds of the test VM's /proc/uptime (10 ms steps) from just before the
# VMM starts: init_s when the marker line reaches us on the VMM's stdout,
# exit_s when the VMM has exited (the guest powered off), guest_init_s,
# the guest's own uptime when its /init started, and preclock_s, the time
# before the guest's clock started (the line's arrival minus that uptime:
# the VMM's setup, firmware, the kernel's decompression). At the marker the
# hypervisor's exit counters are read (axvm: the VM's debugfs stats; KVM:
# its debugfs totals, which sum the live VMs: QEMU's is the only one).
linux_boot() {
	be=$1 round=$2
	logf=/tmp/linux-boot-$be.log
	if [ "$be" = axvm ]; then
		stats="cat /sys/kernel/debug/axvm/vm*/stats"
		# shellcheck disable=SC2086
		set -- $AXVM_RUN run -v --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
			--cmdline "$BOOT_CMDLINE"
	else
		stats="cd /sys/kernel/debug/kvm && grep . exits io_exits"
		# shellcheck disable=SC2086
		set -- $QEMU -M "$QEMU_MACHINE" -accel kvm -cpu "$QEMU_CPU" -m 256M -smp 1 \
			-nodefaults -no-user-config -display none -serial stdio -no-reboot \
			-kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -append "$BOOT_CMDLINE"
	fi
	rm -f /tmp/linux-boot.rc
	t0=$(cut -d' ' -f1 /proc/uptime)
	{
		timeout "$BOOT_TIMEOUT" "$@" </dev/null 2>/tmp/linux-boot.err
		echo $? >/tmp/linux-boot.rc
	} | awk -v t0="$t0" -v stats="$stats" -v r="$round" -v be="$be" -v logf="$logf" \
		-v marker="$BOOT_MARKER" '
	function now(   l, f) {
		getline l <"/proc/uptime"; close("/proc/uptime")
		split(l, f, " "); return f[1]
	}
	{ sub(/\r$/, ""); print >logf }
	up == "" && match($0, /axvm-guest: init started, uptime [0-9.]+/) {
		up = substr($0, RSTART, RLENGTH); sub(/.* /, "", up)
		pre = now() - t0 - up
	}
	fail == "" && /axvm-guest: FAIL / { fail = $0; sub(/.*axvm-guest: FAIL /, "", fail) }
	init == "" && index($0, marker) {
		init = now() - t0
		while ((stats | getline l) > 0) { n = split(l, f, /[: \t]+/); V[f[1]] = f[n] }
		close(stats)
	}
	END {
		t = now() - t0
		if (init == "") {
			printf "E %d linux_boot %s no \"%s\" line after %.1f s (console: %s)\n", r, be, marker, t, logf
			exit
		}
		printf "S %d linux_boot %s init_s %.2f\n", r, be, init
		printf "S %d linux_boot %s exit_s %.2f\n", r, be, t
		if (up != "") printf "S %d linux_boot %s guest_init_s %s\n", r, be, up
		if (up != "") printf "S %d linux_boot %s preclock_s %.2f\n", r, be, pre
		pio = (be == "axvm") ? V["user_io"] + V["device_io"] : V["io_exits"]
		if (V["exits"] != "") printf "S %d linux_boot %s exits %d\n", r, be, V["exits"]
		if (V["exits"] != "") printf "S %d linux_boot %s pio_exits %d\n", r, be, pio
		if (fail != "") printf "I %d linux_boot %s_guest_fail %s\n", r, be, fail
		printf "# round %d: Linux boot on %s: init reached after %.2f s, VMM exited after %.2f s\n", r, be, init, t
	}'
	st=$(cat /tmp/linux-boot.rc 2>/dev/null)
	if [ "$be" = axvm ]; then
		# -v: the ports the launcher answered; PCI configuration is 0xCF8-0xCFF.
		awk -v r="$round" '$1 == "axvm:" && $2 == "port" && $3 ~ /^0x0cf[89a-f]$/ { n += $4 }
			END { printf "S %d linux_boot axvm pci_cfg_exits %d\n", r, n }' /tmp/linux-boot.err
	fi
	if [ "$st" != 0 ]; then
		echo "E $round linux_boot $be exit status ${st:-unknown} of: $*"
		tail -n 5 /tmp/linux-boot.err | sed 's/^/# /'
		return 1
	fi
}

# cgroup v2, so axbench can read its VMs' exact memory charge.
[ -e /sys/fs/cgroup/cgroup.controllers ] || mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null

echo "I 0 vm kernel $(uname -r)"
echo "I 0 vm cpus $(grep -c ^processor /proc/cpuinfo)"
echo "I 0 vm model $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1 | tr ' ' '_')"
echo "I 0 vm thp $(tr ' ' '_' </sys/kernel/mm/transparent_hugepage/enabled)"

# boot_here ROUND: does linux_boot run in this round?
boot_here() { [ "$BOOT" = 1 ] && [ "$1" -le "$BOOT_ROUNDS" ]; }

phase_axvm() { # ROUND WORKLOADS
	note "round $1 of $ROUNDS: axvm"
	mod_loaded axvm || insmod "$AXVM_KO" || { echo "E $1 init axvm insmod failed"; rc=1; return; }
	if [ -n "$2" ]; then
		# shellcheck disable=SC2086
		$AXBENCH --backend axvm --round $1 $ARGS $2 || rc=1
	fi
	if boot_here "$1"; then
		linux_boot axvm "$1" || rc=1
	fi
	rmmod axvm || { echo "E $1 init axvm rmmod failed"; rc=1; }
}

phase_limit() { # ROUND
	note "round $1 of $ROUNDS: bare VMRUN limit"
	run_limit "$1" || rc=1
}

# KVM's modules stay loaded from the first KVM phase on: with no KVM VM
# alive they leave SVM alone, so axvm.ko and vmrun_limit.ko still load.
phase_kvm() { # ROUND WORKLOADS
	note "round $1 of $ROUNDS: KVM"
	if kvm_load; then
		if [ -n "$2" ]; then
			# shellcheck disable=SC2086
			$AXBENCH --backend kvm --round $1 $ARGS $2 || rc=1
		fi
		if boot_here "$1" && [ "$QEMU_OK" = 1 ]; then
			linux_boot kvm "$1" || rc=1
		fi
	else
		echo "E $1 init kvm insmod failed"
		rc=1
	fi
}

# linux_boot's reference needs QEMU (bench/run bundles it only for this).
QEMU_OK=0
if [ "$BOOT" = 1 ]; then
	echo "I 0 linux_boot cmdline $BOOT_CMDLINE"
	echo "I 0 linux_boot qemu_machine -M $QEMU_MACHINE -accel kvm -cpu $QEMU_CPU"
	if command -v "${QEMU%% *}" >/dev/null 2>&1; then
		QEMU_OK=1
		# shellcheck disable=SC2086
		echo "I 0 linux_boot qemu_version $($QEMU --version | sed -n '1s/.*version \([^ ]*\).*/\1/p')"
	else
		echo "N 0 linux_boot kvm no QEMU in the test VM ($QEMU): bench/run adds it (bench/qemu-bundle)"
	fi
fi

# Odd rounds run axvm, limit, KVM; even rounds the reverse, so a drift of
# the host's speed over the run does not favour one column.
r=1
while [ $r -le "$ROUNDS" ]; do
	wl=$AXB_WORKLOADS
	[ $r -le "$IDLE_ROUNDS" ] && [ -n "$wl" ] && wl="$wl idle_mem"
	if [ $((r % 2)) = 1 ]; then
		phase_axvm $r "$wl"; phase_limit $r; phase_kvm $r "$wl"
	else
		phase_kvm $r "$wl"; phase_limit $r; phase_axvm $r "$wl"
	fi
	r=$((r + 1))
done
kvm_unload || { echo "E $r init kvm rmmod failed"; rc=1; }
mod_loaded axvm || insmod "$AXVM_KO"
note "done"
exit $rc
