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
# AXVM_KO, LIMIT_KO, AXBENCH point at the built files, KVM_MODDIR=modprobe.
#
# Environment (bench/run sets them): BENCH_ROUNDS, BENCH_REPS,
# BENCH_COUNT, BENCH_TOUCH_REPS, BENCH_TOUCH_MIB, BENCH_CD_REPS,
# BENCH_IDLE_VMS, BENCH_IRQ_COUNT, BENCH_LIMIT_ITERS, BENCH_WORKLOADS,
# BENCH_IDLE_ROUNDS (rounds that also run idle_mem: the first N).

AXBENCH=${AXBENCH:-/bench/axbench}
LIMIT_KO=${LIMIT_KO:-/bench/vmrun_limit.ko}
AXVM_KO=${AXVM_KO:-/axvm.ko}
KVM_MODDIR=${KVM_MODDIR:-/lib/modules/kvm}
ROUNDS=${BENCH_ROUNDS:-3}
WORKLOADS=${BENCH_WORKLOADS:-"cpuid rdmsr vmmcall_user vmmcall_kernel pio_out mmio_write mmio_read irq touch touch_thp create_destroy create_destroy_eager"}
IDLE_ROUNDS=${BENCH_IDLE_ROUNDS:-1}
LIMIT_ITERS=${BENCH_LIMIT_ITERS:-10000}
LIMIT_REPS=${BENCH_LIMIT_REPS:-${BENCH_REPS:-5}}

ARGS="--reps ${BENCH_REPS:-5} --count ${BENCH_COUNT:-3000}
	--touch-reps ${BENCH_TOUCH_REPS:-1} --touch-mib ${BENCH_TOUCH_MIB:-256}
	--cd-reps ${BENCH_CD_REPS:-20} --idle-vms ${BENCH_IDLE_VMS:-500}
	--irq-count ${BENCH_IRQ_COUNT:-200}"

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
	done_kinds=""
	for w in $WORKLOADS; do
		k=$(limit_kind "$w")
		[ -n "$k" ] || continue
		i=0
		while [ $i -lt "$LIMIT_REPS" ]; do
			out=$(cat $d/$k) || { echo "E $1 $w limit read $k failed"; break; }
			ns=$(echo "$out" | sed -n 's/.*ns_per_exit=\([0-9.]*\).*/\1/p')
			echo "S $1 $w limit ns $ns"
			i=$((i + 1))
		done
	done
	out=$(cat $d/vmmcall_vmload) && echo "I $1 limit vmmcall_vmload_ns $(echo "$out" | sed -n 's/.*ns_per_exit=\([0-9.]*\).*/\1/p')"
	rmmod vmrun_limit
}

# cgroup v2, so axbench can read its VMs' exact memory charge.
[ -e /sys/fs/cgroup/cgroup.controllers ] || mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null

echo "I 0 vm kernel $(uname -r)"
echo "I 0 vm cpus $(grep -c ^processor /proc/cpuinfo)"
echo "I 0 vm model $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1 | tr ' ' '_')"
echo "I 0 vm thp $(cat /sys/kernel/mm/transparent_hugepage/enabled | tr ' ' '_')"

phase_axvm() { # ROUND WORKLOADS
	note "round $1 of $ROUNDS: axvm"
	mod_loaded axvm || insmod "$AXVM_KO" || { echo "E $1 init axvm insmod failed"; rc=1; return; }
	# shellcheck disable=SC2086
	$AXBENCH --backend axvm --round $1 $ARGS $2 || rc=1
	rmmod axvm || { echo "E $1 init axvm rmmod failed"; rc=1; }
}

phase_limit() { # ROUND
	note "round $1 of $ROUNDS: bare VMRUN limit"
	run_limit $1 || rc=1
}

# KVM's modules stay loaded from the first KVM phase on: with no KVM VM
# alive they leave SVM alone, so axvm.ko and vmrun_limit.ko still load.
phase_kvm() { # ROUND WORKLOADS
	note "round $1 of $ROUNDS: KVM"
	if kvm_load; then
		# shellcheck disable=SC2086
		$AXBENCH --backend kvm --round $1 $ARGS $2 || rc=1
	else
		echo "E $1 init kvm insmod failed"
		rc=1
	fi
}

# Odd rounds run axvm, limit, KVM; even rounds the reverse, so a drift of
# the host's speed over the run does not favour one column.
r=1
while [ $r -le "$ROUNDS" ]; do
	wl=$WORKLOADS
	[ $r -le "$IDLE_ROUNDS" ] && wl="$wl idle_mem"
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
