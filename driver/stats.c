// SPDX-License-Identifier: GPL-2.0
/*
 * axvm: statistics, by ioctl and in debugfs.
 *
 * Each vCPU counts its own exits (only its thread writes them, so no
 * atomics); readers sum them without a lock and may see a count one exit
 * old, which is fine for statistics. debugfs has one file per VM
 * (axvm/vm<id>/stats, the sum) and per vCPU (axvm/vm<id>/vcpu<n>).
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include "axvm.h"

static struct dentry *axvm_debugfs_root;

static const char *const axvm_stat_names[AXVM_STAT_NR] = {
	[AXVM_STAT_EXITS] = "exits",
	[AXVM_STAT_USER_IO] = "user_io",
	[AXVM_STAT_USER_MMIO] = "user_mmio",
	[AXVM_STAT_USER_HLT] = "user_hlt",
	[AXVM_STAT_USER_HYPERCALL] = "user_hypercall",
	[AXVM_STAT_SHUTDOWN] = "shutdown",
	[AXVM_STAT_FAIL_ENTRY] = "fail_entry",
	[AXVM_STAT_INTERNAL_ERROR] = "internal_error",
	[AXVM_STAT_SIGNAL] = "signal",
	[AXVM_STAT_STOPPED] = "stopped",
	[AXVM_STAT_SUSPENDED] = "suspended",
	[AXVM_STAT_CPUID] = "cpuid",
	[AXVM_STAT_MSR] = "msr",
	[AXVM_STAT_MSR_UNKNOWN] = "msr_unknown",
	[AXVM_STAT_NPF_POPULATE] = "npf_populate",
	[AXVM_STAT_HOST_IRQ] = "host_irq",
	[AXVM_STAT_DEVICE_IO] = "device_io",
	[AXVM_STAT_DEVICE_MMIO] = "device_mmio",
	[AXVM_STAT_IRQ_WINDOW] = "irq_window",
	[AXVM_STAT_HLT_BLOCK] = "hlt_block",
	[AXVM_STAT_EXCEPTION] = "exception",
	[AXVM_STAT_FORBIDDEN] = "forbidden",
	[AXVM_STAT_IVC_RING] = "ivc_ring",
	[AXVM_STAT_OTHER] = "other",
	[AXVM_STAT_APIC_ACCESS] = "apic_access",
	[AXVM_STAT_APIC_TIMER] = "apic_timer",
	[AXVM_STAT_IPI] = "ipi",
};

static void axvm_stats_add_vcpu(struct axvm_stats *st,
				const struct axvm_vcpu *vcpu)
{
	int i;

	for (i = 0; i < AXVM_STAT_NR; i++)
		st->exits[i] += READ_ONCE(vcpu->stats[i]);
	st->irqs_injected += READ_ONCE(vcpu->irqs_injected);
}

/* vm->lock held: vcpus[] is stable. */
static void axvm_stats_vm(struct axvm_vm *vm, struct axvm_stats *st)
{
	unsigned int i;

	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	for (i = 0; i < AXVM_MAX_VCPUS; i++)
		if (vm->vcpus[i])
			axvm_stats_add_vcpu(st, vm->vcpus[i]);
	st->pages_populated = atomic64_read(&vm->populated_bytes) >> PAGE_SHIFT;
}

static int axvm_stats_args(struct axvm_stats *st, struct axvm_stats __user *u)
{
	int ret = axvm_copy_args(st, sizeof(*st), u);

	if (ret)
		return ret;
	if (st->flags)
		return -EINVAL;
	return 0;
}

long axvm_vm_ioctl_get_stats(struct axvm_vm *vm, struct axvm_stats __user *u)
{
	struct axvm_stats st;
	int ret = axvm_stats_args(&st, u);

	if (ret)
		return ret;
	mutex_lock(&vm->lock);
	axvm_stats_vm(vm, &st);
	mutex_unlock(&vm->lock);
	return axvm_copy_args_out(u, &st, sizeof(st));
}

long axvm_vcpu_ioctl_get_stats(struct axvm_vcpu *vcpu,
			       struct axvm_stats __user *u)
{
	struct axvm_stats st;
	int ret = axvm_stats_args(&st, u);

	if (ret)
		return ret;
	memset(&st, 0, sizeof(st));
	axvm_stats_add_vcpu(&st, vcpu);
	return axvm_copy_args_out(u, &st, sizeof(st));
}

static void axvm_stats_show(struct seq_file *m, const struct axvm_stats *st)
{
	int i;

	for (i = 0; i < AXVM_STAT_NR; i++)
		seq_printf(m, "%-16s %llu\n", axvm_stat_names[i], st->exits[i]);
	seq_printf(m, "%-16s %llu\n", "irqs_injected", st->irqs_injected);
}

static int axvm_vm_stats_show(struct seq_file *m, void *unused)
{
	struct axvm_vm *vm = m->private;
	struct axvm_stats st;

	mutex_lock(&vm->lock);
	axvm_stats_vm(vm, &st);
	mutex_unlock(&vm->lock);
	axvm_stats_show(m, &st);
	seq_printf(m, "%-16s %llu\n", "pages_populated", st.pages_populated);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(axvm_vm_stats);

static int axvm_vcpu_stats_show(struct seq_file *m, void *unused)
{
	struct axvm_vcpu *vcpu = m->private;
	struct axvm_stats st = {};

	axvm_stats_add_vcpu(&st, vcpu);
	axvm_stats_show(m, &st);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(axvm_vcpu_stats);

void axvm_debugfs_init(void)
{
	axvm_debugfs_root = debugfs_create_dir("axvm", NULL);
}

void axvm_debugfs_exit(void)
{
	debugfs_remove_recursive(axvm_debugfs_root);
}

/*
 * The files hold no reference: the VM removes its directory (and so
 * every vCPU file, whose readers debugfs waits for) before it is freed,
 * and a vCPU removes its file before it goes.
 */
void axvm_debugfs_add_vm(struct axvm_vm *vm)
{
	char name[16];

	snprintf(name, sizeof(name), "vm%u", vm->id);
	vm->debugfs = debugfs_create_dir(name, axvm_debugfs_root);
	debugfs_create_file("stats", 0400, vm->debugfs, vm,
			    &axvm_vm_stats_fops);
}

void axvm_debugfs_add_vcpu(struct axvm_vcpu *vcpu)
{
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", vcpu->id);
	vcpu->debugfs = debugfs_create_file(name, 0400, vcpu->vm->debugfs,
					    vcpu, &axvm_vcpu_stats_fops);
}
