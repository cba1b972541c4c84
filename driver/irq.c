// SPDX-License-Identifier: GPL-2.0
/*
 * axvm: interrupt injection (the seed's inject_interrupt_to_vcpu) and
 * HLT blocking.
 *
 * An interrupt is a bit in the target vCPU's pending_irqs bitmap. The
 * injector sets the bit, then wakes the vCPU if it sleeps in HLT and
 * kicks it if it is in the guest; the backend moves the highest pending
 * vector into the guest at its next entry, once the guest can take it.
 * The vCPU publishes IN_GUEST before it looks at the bitmap (see the
 * backend's entry path), so a bit set concurrently is never missed:
 * either the entry sees it, or the kick sees IN_GUEST and forces an exit.
 *
 * vm->vcpus[] is read under RCU here, so injectors never take vm->lock
 * (a device may raise its interrupt from a vCPU thread); vCPUs are freed
 * after a grace period.
 */
#include <linux/bitmap.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>
#include "axvm.h"

#define AXVM_FIRST_EXT_VECTOR	32	/* 0-31 are exceptions */

int axvm_vm_inject_irq(struct axvm_vm *vm, u64 vcpu_mask, u32 vector)
{
	unsigned long mask = vcpu_mask;
	unsigned int i;
	int ret = 0;

	if (vector < AXVM_FIRST_EXT_VECTOR || vector > 255)
		return -EINVAL;
	rcu_read_lock();
	for_each_set_bit(i, &mask, AXVM_MAX_VCPUS) {
		struct axvm_vcpu *vcpu = rcu_dereference(vm->vcpus[i]);

		if (!vcpu) {
			ret = -ENOENT;
			continue;
		}
		set_bit(vector, vcpu->pending_irqs);
		smp_mb__after_atomic();	/* the bit before mode, see above */
		axvm_vcpu_kick(vcpu, false);
	}
	rcu_read_unlock();
	return ret;
}

/* Checked up front, so that a bad mask injects into nobody. */
static int axvm_irq_mask_valid(struct axvm_vm *vm, u64 vcpu_mask)
{
	unsigned long mask = vcpu_mask;
	unsigned int i;

	if (!vcpu_mask)
		return -EINVAL;
	for_each_set_bit(i, &mask, AXVM_MAX_VCPUS)
		if (!vm->vcpus[i])
			return -ENOENT;
	return 0;
}

long axvm_vm_ioctl_inject_irq(struct axvm_vm *vm, struct axvm_irq __user *u)
{
	struct axvm_irq args;
	int ret;

	ret = axvm_copy_args(&args, sizeof(args), u);
	if (ret)
		return ret;
	if (args.flags || !axvm_mem_is_zero(args.reserved,
					    sizeof(args.reserved)) ||
	    args.vector < AXVM_FIRST_EXT_VECTOR || args.vector > 255) {
		axvm_err_ratelimited("INJECT_IRQ: bad vector %u or flags/reserved\n",
				     args.vector);
		return -EINVAL;
	}
	/* The seed panics on another VM's vCPUs; we refuse. */
	if (args.vm_id && args.vm_id != vm->id)
		return -EXDEV;
	mutex_lock(&vm->lock);
	ret = axvm_irq_mask_valid(vm, args.vcpu_mask);
	if (!ret && (vm->state == AXVM_VM_STOPPING ||
		     vm->state == AXVM_VM_STOPPED))
		ret = -ESHUTDOWN;
	if (!ret)
		ret = axvm_vm_inject_irq(vm, args.vcpu_mask, args.vector);
	mutex_unlock(&vm->lock);
	return ret;
}

int axvm_vcpu_highest_pending(struct axvm_vcpu *vcpu)
{
	int vector = find_last_bit(vcpu->pending_irqs, 256);

	return vector < 256 ? vector : -1;
}

/* With an interrupt controller (a local APIC), it decides. */
int axvm_vcpu_next_irq(struct axvm_vcpu *vcpu)
{
	if (axvm_arch->vcpu_next_irq)
		return axvm_arch->vcpu_next_irq(vcpu);
	return axvm_vcpu_highest_pending(vcpu);
}

void axvm_vcpu_irq_delivered(struct axvm_vcpu *vcpu, int vector)
{
	clear_bit(vector, vcpu->pending_irqs);
	if (axvm_arch->vcpu_irq_accepted)
		axvm_arch->vcpu_irq_accepted(vcpu, vector);
	vcpu->irqs_injected++;
}

static bool axvm_vcpu_should_wake(struct axvm_vcpu *vcpu)
{
	return axvm_vcpu_next_irq(vcpu) >= 0 ||
	       READ_ONCE(vcpu->vm->state) != AXVM_VM_RUNNING;
}

long axvm_vm_ioctl_set_irq_line(struct axvm_vm *vm,
				struct axvm_irq_line __user *u)
{
	struct axvm_irq_line args;
	int ret;

	ret = axvm_copy_args(&args, sizeof(args), u);
	if (ret)
		return ret;
	if (args.flags || !axvm_mem_is_zero(args.reserved,
					    sizeof(args.reserved)) ||
	    args.level > 1 || args.pin >= AXVM_IOAPIC_PINS) {
		axvm_err_ratelimited("SET_IRQ_LINE: bad pin %u, level %u or flags/reserved\n",
				     args.pin, args.level);
		return -EINVAL;
	}
	if (!axvm_arch->set_irq_line)
		return -ENODEV;
	mutex_lock(&vm->lock);
	if (vm->state == AXVM_VM_STOPPING || vm->state == AXVM_VM_STOPPED)
		ret = -ESHUTDOWN;
	else
		ret = axvm_arch->set_irq_line(vm, args.pin, args.level);
	mutex_unlock(&vm->lock);
	return ret;
}

/*
 * HLT with interrupts enabled: the vCPU thread sleeps until an interrupt
 * is pending, the VM leaves RUNNING, or a signal arrives; the run loop
 * then sees which. No busy waiting.
 */
void axvm_vcpu_halt(struct axvm_vcpu *vcpu)
{
	axvm_stat_inc(vcpu, AXVM_STAT_HLT_BLOCK);
	rcuwait_wait_event(&vcpu->hlt_wait, axvm_vcpu_should_wake(vcpu),
			   TASK_INTERRUPTIBLE);
}
