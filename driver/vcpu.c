// SPDX-License-Identifier: GPL-2.0
/*
 * axvm: vCPU objects, the vCPU fd and the run loop (the seed's run_vcpu).
 *
 * The run loop is arch-neutral: the backend enters the guest once and
 * says whether the exit was handled, must go to userspace, or was a
 * nested page fault. Nested page faults on guest memory are handled here
 * (lazy population); the rest become MMIO exits.
 *
 * Kicking: a thread that wants a vCPU out of the guest (shutdown, later
 * interrupts) changes state first, then IPIs the vCPU's CPU if the vCPU
 * says it is IN_GUEST. The vCPU publishes IN_GUEST before it re-checks
 * state with interrupts off, so one of the two always sees the other.
 * Signals need nothing extra: signal_wake_up() IPIs a running task.
 */
#include <linux/anon_inodes.h>
#include <linux/debugfs.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/uaccess.h>
#include "axvm.h"

static void axvm_kick_ipi(void *unused)
{
	/* The interrupt itself made the guest exit; nothing else to do. */
}

/*
 * Without wait, any context (the APIC timer kicks from its hrtimer): the
 * reschedule IPI is enough, any interrupt makes the guest exit. With
 * wait, interrupts must be enabled, and it returns only once the vCPU
 * is out of the guest, e.g. before freeing memory whose nested mapping
 * was just removed.
 */
void axvm_vcpu_kick(struct axvm_vcpu *vcpu, bool wait)
{
	int cpu;

	rcuwait_wake_up(&vcpu->hlt_wait);
	smp_mb();	/* the caller's state change before reading mode */
	if (atomic_read(&vcpu->mode) != AXVM_VCPU_IN_GUEST)
		return;
	cpu = READ_ONCE(vcpu->cpu);
	if (cpu == raw_smp_processor_id() || !cpu_online(cpu))
		return;
	if (wait)
		smp_call_function_single(cpu, axvm_kick_ipi, NULL, true);
	else
		smp_send_reschedule(cpu);
}

void axvm_vm_kick_all(struct axvm_vm *vm, bool wait)
{
	unsigned int i;

	rcu_read_lock();
	for (i = 0; i < AXVM_MAX_VCPUS; i++) {
		struct axvm_vcpu *vcpu = rcu_dereference(vm->vcpus[i]);

		if (vcpu)
			axvm_vcpu_kick(vcpu, wait);
	}
	rcu_read_unlock();
}

/* Fills an exit that carries no data. */
static void axvm_set_exit(struct axvm_vcpu *vcpu, u32 reason)
{
	vcpu->run->exit_reason = reason;
}

static const u8 axvm_exit_stat[] = {
	[AXVM_EXIT_IO] = AXVM_STAT_USER_IO,
	[AXVM_EXIT_MMIO] = AXVM_STAT_USER_MMIO,
	[AXVM_EXIT_HLT] = AXVM_STAT_USER_HLT,
	[AXVM_EXIT_HYPERCALL] = AXVM_STAT_USER_HYPERCALL,
	[AXVM_EXIT_SHUTDOWN] = AXVM_STAT_SHUTDOWN,
	[AXVM_EXIT_FAIL_ENTRY] = AXVM_STAT_FAIL_ENTRY,
	[AXVM_EXIT_INTERNAL_ERROR] = AXVM_STAT_INTERNAL_ERROR,
	[AXVM_EXIT_INTR] = AXVM_STAT_SIGNAL,
	[AXVM_EXIT_STOPPED] = AXVM_STAT_STOPPED,
	[AXVM_EXIT_SUSPENDED] = AXVM_STAT_SUSPENDED,
};

static void axvm_count_user_exit(struct axvm_vcpu *vcpu)
{
	u32 reason = vcpu->run->exit_reason;

	if (reason < ARRAY_SIZE(axvm_exit_stat) && axvm_exit_stat[reason])
		axvm_stat_inc(vcpu, axvm_exit_stat[reason]);
	vcpu->run->exit_count = vcpu->stats[AXVM_STAT_EXITS];
}

/*
 * Exits the kernel can finish itself before userspace would see them:
 * in-kernel devices, and the IVC doorbell hypercall. True if handled;
 * the backend then completes the instruction as if userspace had.
 */
static bool axvm_vcpu_exit_in_kernel(struct axvm_vcpu *vcpu)
{
	struct axvm_run *run = vcpu->run;

	switch (run->exit_reason) {
	case AXVM_EXIT_IO:
	case AXVM_EXIT_MMIO:
		if (!axvm_bus_handle_exit(vcpu))
			return false;
		break;
	case AXVM_EXIT_HYPERCALL:
		if (run->hypercall.nr != AXVM_HC_IVC_RING)
			return false;
		axvm_stat_inc(vcpu, AXVM_STAT_IVC_RING);
		run->hypercall.ret = axvm_ivc_hypercall_ring(vcpu,
							     run->hypercall.args[0]);
		break;
	default:
		return false;
	}
	axvm_arch->vcpu_complete_user_exit(vcpu);
	return true;
}

/* The seed's phys_cpu_ls: this thread may only run where the vCPU may. */
static bool axvm_vcpu_affinity_ok(struct axvm_vcpu *vcpu)
{
	if (cpumask_subset(current->cpus_ptr, vcpu->cpus))
		return true;
	axvm_err_ratelimited("VM %u vCPU %u: RUN from a thread allowed on CPUs %*pbl, outside the vCPU's %*pbl\n",
			     vcpu->vm->id, vcpu->id,
			     cpumask_pr_args(current->cpus_ptr),
			     cpumask_pr_args(vcpu->cpus));
	return false;
}

static void axvm_internal_error(struct axvm_vcpu *vcpu, u32 suberror,
				u64 gpa)
{
	struct axvm_run *run = vcpu->run;

	run->exit_reason = AXVM_EXIT_INTERNAL_ERROR;
	run->internal.suberror = suberror;
	run->internal.ndata = 1;
	run->internal.data[0] = gpa;
}

/*
 * A nested page fault: guest memory is populated and mapped; anything
 * else is MMIO for the backend to decode. Returns <0 for a host error.
 */
static int axvm_vcpu_handle_npf(struct axvm_vcpu *vcpu,
				enum axvm_entry_result *res)
{
	int ret = axvm_handle_npf(vcpu->vm, vcpu->npf.gpa, vcpu->npf.access);

	switch (ret) {
	case 0:
		axvm_stat_inc(vcpu, AXVM_STAT_NPF_POPULATE);
		fallthrough;
	case -EAGAIN:		/* a channel being attached: retry */
		*res = AXVM_ENTRY_HANDLED;
		return 0;
	case -ENOENT:		/* not memory */
	case -EACCES:		/* write to a read-only region */
		if (vcpu->npf.access & AXVM_NPF_FETCH) {
			axvm_internal_error(vcpu, AXVM_INTERNAL_FETCH,
					    vcpu->npf.gpa);
			*res = AXVM_ENTRY_USER;
			return 0;
		}
		*res = axvm_arch->vcpu_mmio(vcpu);
		return 0;
	case -EPERM:
		axvm_internal_error(vcpu, AXVM_INTERNAL_EXEC_FAULT,
				    vcpu->npf.gpa);
		*res = AXVM_ENTRY_USER;
		return 0;
	case -ENOMEM:
		return ret;	/* RUN fails; the guest can be resumed */
	default:
		axvm_internal_error(vcpu, AXVM_INTERNAL_NPT, vcpu->npf.gpa);
		*res = AXVM_ENTRY_USER;
		return 0;
	}
}

static int axvm_vcpu_run_loop(struct axvm_vcpu *vcpu)
{
	enum axvm_entry_result res;
	int ret;

	axvm_arch->vcpu_complete_user_exit(vcpu);
	for (;;) {
		enum axvm_vm_state state = READ_ONCE(vcpu->vm->state);

		if (state == AXVM_VM_SUSPENDED) {
			axvm_set_exit(vcpu, AXVM_EXIT_SUSPENDED);
			return 0;
		}
		if (state != AXVM_VM_RUNNING) {
			axvm_set_exit(vcpu, AXVM_EXIT_STOPPED);
			return 0;
		}
		if (signal_pending(current)) {
			axvm_set_exit(vcpu, AXVM_EXIT_INTR);
			return -EINTR;
		}
		if (!axvm_vcpu_affinity_ok(vcpu))
			return -EPERM;
		if (READ_ONCE(axvm_rebooting))
			return -EIO;
		cond_resched();

		res = axvm_arch->vcpu_enter(vcpu);
		if (res == AXVM_ENTRY_NPF) {
			ret = axvm_vcpu_handle_npf(vcpu, &res);
			if (ret)
				return ret;
		}
		if (res == AXVM_ENTRY_USER && !axvm_vcpu_exit_in_kernel(vcpu))
			return 0;
	}
}

/* Admits the vCPU into a RUNNING VM; counts it so shutdown can wait. */
static int axvm_vcpu_run_enter(struct axvm_vcpu *vcpu)
{
	struct axvm_vm *vm = vcpu->vm;
	int ret = 0;

	mutex_lock(&vm->lock);
	switch (vm->state) {
	case AXVM_VM_RUNNING:
	case AXVM_VM_SUSPENDED:		/* the loop reports SUSPENDED */
		atomic_inc(&vm->nr_running);
		break;
	case AXVM_VM_STOPPING:
		ret = 1;			/* report a STOPPED exit */
		break;
	case AXVM_VM_STOPPED:
		ret = -ESHUTDOWN;
		break;
	default:
		ret = -EBADFD;			/* not booted */
		break;
	}
	mutex_unlock(&vm->lock);
	return ret;
}

static long axvm_vcpu_run(struct axvm_vcpu *vcpu)
{
	int ret;

	if (!mutex_trylock(&vcpu->run_lock))
		return -EBUSY;
	if (!axvm_vcpu_affinity_ok(vcpu)) {
		mutex_unlock(&vcpu->run_lock);
		return -EPERM;
	}
	ret = axvm_vcpu_run_enter(vcpu);
	if (ret == 1) {
		axvm_set_exit(vcpu, AXVM_EXIT_STOPPED);
		ret = 0;
	} else if (ret == 0) {
		axvm_arch->vcpu_load(vcpu);
		ret = axvm_vcpu_run_loop(vcpu);
		axvm_arch->vcpu_put(vcpu);
		axvm_vm_vcpu_left(vcpu->vm);
	}
	if (ret == 0 || ret == -EINTR)
		axvm_count_user_exit(vcpu);
	mutex_unlock(&vcpu->run_lock);
	return ret;
}

enum axvm_regs_op { AXVM_OP_GET_REGS, AXVM_OP_SET_REGS, AXVM_OP_GET_SREGS,
		    AXVM_OP_SET_SREGS };

/*
 * The four register ioctls share their contract: flags and reserved must
 * be zero, and the vCPU must not be inside RUN in another thread.
 */
static long axvm_vcpu_regs_ioctl(struct axvm_vcpu *vcpu, void __user *uarg,
				 enum axvm_regs_op op)
{
	union {
		struct axvm_regs regs;
		struct axvm_sregs sregs;
	} u;
	bool sregs = op == AXVM_OP_GET_SREGS || op == AXVM_OP_SET_SREGS;
	size_t size = sregs ? sizeof(u.sregs) : sizeof(u.regs);
	int ret = axvm_copy_args(&u, size, uarg);

	if (ret)
		return ret;
	if (sregs ? u.sregs.flags || !axvm_mem_is_zero(u.sregs.reserved,
						       sizeof(u.sregs.reserved))
		  : u.regs.flags || !axvm_mem_is_zero(u.regs.reserved,
						      sizeof(u.regs.reserved)))
		return -EINVAL;
	if (!mutex_trylock(&vcpu->run_lock))
		return -EBUSY;
	switch (op) {
	case AXVM_OP_GET_REGS:
		axvm_arch->get_regs(vcpu, &u.regs);
		break;
	case AXVM_OP_SET_REGS:
		ret = axvm_arch->set_regs(vcpu, &u.regs);
		break;
	case AXVM_OP_GET_SREGS:
		axvm_arch->get_sregs(vcpu, &u.sregs);
		break;
	case AXVM_OP_SET_SREGS:
		ret = axvm_arch->set_sregs(vcpu, &u.sregs);
		break;
	}
	mutex_unlock(&vcpu->run_lock);
	if (ret || op == AXVM_OP_SET_REGS || op == AXVM_OP_SET_SREGS)
		return ret;
	return axvm_copy_args_out(uarg, &u, size);
}

static long axvm_vcpu_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	struct axvm_vcpu *vcpu = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case AXVM_RUN:
		return axvm_vcpu_run(vcpu);
	case AXVM_GET_REGS:
		return axvm_vcpu_regs_ioctl(vcpu, uarg, AXVM_OP_GET_REGS);
	case AXVM_SET_REGS:
		return axvm_vcpu_regs_ioctl(vcpu, uarg, AXVM_OP_SET_REGS);
	case AXVM_GET_SREGS:
		return axvm_vcpu_regs_ioctl(vcpu, uarg, AXVM_OP_GET_SREGS);
	case AXVM_SET_SREGS:
		return axvm_vcpu_regs_ioctl(vcpu, uarg, AXVM_OP_SET_SREGS);
	case AXVM_GET_VCPU_STATS:
		return axvm_vcpu_ioctl_get_stats(vcpu, uarg);
	default:
		return -ENOTTY;
	}
}

static vm_fault_t axvm_run_fault(struct vm_fault *vmf)
{
	struct axvm_vcpu *vcpu = vmf->vma->vm_file->private_data;
	struct page *page;

	if (vmf->pgoff != 0)
		return VM_FAULT_SIGBUS;
	page = virt_to_page(vcpu->run);
	get_page(page);
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct axvm_run_vm_ops = {
	.fault = axvm_run_fault,
};

static int axvm_vcpu_mmap(struct file *file, struct vm_area_struct *vma)
{
	/* A private copy would silently lose IN/MMIO/hypercall results. */
	if (!(vma->vm_flags & VM_SHARED) || vma->vm_pgoff ||
	    vma->vm_end - vma->vm_start > PAGE_SIZE)
		return -EINVAL;
	vma->vm_flags |= VM_DONTEXPAND;
	vma->vm_ops = &axvm_run_vm_ops;
	return 0;
}

/*
 * Injectors may still hold the pointer under RCU: they touch only the
 * generic fields, so the backend state goes now and the struct after a
 * grace period.
 */
static void axvm_vcpu_free(struct axvm_vcpu *vcpu)
{
	axvm_arch->vcpu_destroy(vcpu);
	free_page((unsigned long)vcpu->run);
	free_cpumask_var(vcpu->cpus);
	kfree_rcu(vcpu, rcu);
}

static int axvm_vcpu_release(struct inode *inode, struct file *file)
{
	struct axvm_vcpu *vcpu = file->private_data;
	struct axvm_vm *vm = vcpu->vm;

	mutex_lock(&vm->lock);
	rcu_assign_pointer(vm->vcpus[vcpu->id], NULL);
	vm->nr_vcpus--;
	mutex_unlock(&vm->lock);
	/* After the lock: creation finished adding the file under it. */
	debugfs_remove(vcpu->debugfs);
	axvm_vcpu_free(vcpu);
	axvm_vm_put(vm);
	return 0;
}

static const struct file_operations axvm_vcpu_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= axvm_vcpu_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= axvm_vcpu_mmap,
	.release	= axvm_vcpu_release,
	.llseek		= noop_llseek,
};

static struct axvm_vcpu *axvm_vcpu_alloc(struct axvm_vm *vm,
					 const struct axvm_create_vcpu *args,
					 const struct cpumask *cpus)
{
	struct axvm_vcpu *vcpu;
	int ret = -ENOMEM;

	vcpu = kzalloc(sizeof(*vcpu), GFP_KERNEL_ACCOUNT);
	if (!vcpu)
		return ERR_PTR(-ENOMEM);
	vcpu->run = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	if (!vcpu->run)
		goto err_free;
	if (!zalloc_cpumask_var(&vcpu->cpus, GFP_KERNEL_ACCOUNT))
		goto err_run;
	cpumask_copy(vcpu->cpus, cpus);
	vcpu->vm = vm;
	vcpu->id = args->vcpu_id;
	vcpu->phys_id = args->phys_id;
	vcpu->cpu = -1;
	mutex_init(&vcpu->run_lock);
	rcuwait_init(&vcpu->hlt_wait);
	ret = axvm_arch->vcpu_init(vcpu);
	if (ret)
		goto err_mask;
	return vcpu;

err_mask:
	free_cpumask_var(vcpu->cpus);
err_run:
	free_page((unsigned long)vcpu->run);
err_free:
	kfree(vcpu);
	return ERR_PTR(ret);
}

static int axvm_vcpu_install_fd(struct axvm_vcpu *vcpu)
{
	struct file *file;
	int fd;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		return fd;
	file = anon_inode_getfile("axvm-vcpu", &axvm_vcpu_fops, vcpu, O_RDWR);
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		return PTR_ERR(file);
	}
	fd_install(fd, file);
	return fd;
}

/*
 * The affinity extension: without AXVM_VCPU_AFFINITY the vCPU may run
 * anywhere and the guest sees phys_id = vcpu_id (the seed's defaults).
 */
static int axvm_vcpu_parse_affinity(struct axvm_create_vcpu *args,
				    struct cpumask *cpus)
{
	const unsigned long *bits = (const unsigned long *)args->cpu_mask;
	unsigned int last;

	if (!(args->flags & AXVM_VCPU_AFFINITY)) {
		if (args->phys_id || !axvm_mem_is_zero(args->cpu_mask,
						       sizeof(args->cpu_mask)))
			return -EINVAL;
		args->phys_id = args->vcpu_id;
		cpumask_copy(cpus, cpu_possible_mask);
		return 0;
	}
	last = find_last_bit(bits, AXVM_MAX_HOST_CPUS);
	if (last == AXVM_MAX_HOST_CPUS || last >= nr_cpu_ids) {
		axvm_err_ratelimited("CREATE_VCPU: cpu_mask is empty or names CPU %u >= %u\n",
				     last, nr_cpu_ids);
		return -EINVAL;
	}
	cpumask_clear(cpus);
	bitmap_copy(cpumask_bits(cpus), bits,
		    min_t(unsigned int, nr_cpu_ids, AXVM_MAX_HOST_CPUS));
	if (!cpumask_subset(cpus, cpu_online_mask)) {
		axvm_err_ratelimited("CREATE_VCPU: cpu_mask %*pbl names offline CPUs\n",
				     cpumask_pr_args(cpus));
		return -EINVAL;
	}
	return 0;
}

static int axvm_vcpu_create_args(struct axvm_create_vcpu *args,
				 struct axvm_create_vcpu __user *uarg,
				 struct cpumask *cpus)
{
	int ret;

	ret = axvm_copy_args_min(args, sizeof(*args), AXVM_CREATE_VCPU_SIZE_V1,
				 uarg);
	if (ret)
		return ret;
	if ((args->flags & ~AXVM_VCPU_AFFINITY) || args->reserved0 ||
	    args->reserved1 ||
	    !axvm_mem_is_zero(args->reserved, sizeof(args->reserved)) ||
	    args->vcpu_id >= AXVM_MAX_VCPUS) {
		axvm_err_ratelimited("CREATE_VCPU: bad vcpu_id %u or flags/reserved\n",
				     args->vcpu_id);
		return -EINVAL;
	}
	return axvm_vcpu_parse_affinity(args, cpus);
}

int axvm_vcpu_create(struct axvm_vm *vm, struct axvm_create_vcpu __user *uarg)
{
	struct axvm_create_vcpu args;
	struct axvm_vcpu *vcpu;
	cpumask_var_t cpus;
	int ret;

	if (!zalloc_cpumask_var(&cpus, GFP_KERNEL))
		return -ENOMEM;
	ret = axvm_vcpu_create_args(&args, uarg, cpus);
	if (ret)
		goto out_mask;

	mutex_lock(&vm->lock);
	if (vm->state != AXVM_VM_LOADING) {
		ret = -EBUSY;
		goto out_unlock;
	}
	if (vm->vcpus[args.vcpu_id]) {
		ret = -EEXIST;
		goto out_unlock;
	}
	vcpu = axvm_vcpu_alloc(vm, &args, cpus);
	if (IS_ERR(vcpu)) {
		ret = PTR_ERR(vcpu);
		goto out_unlock;
	}
	axvm_vm_get(vm);		/* the vCPU fd's reference */
	ret = axvm_vcpu_install_fd(vcpu);
	if (ret < 0) {
		axvm_vcpu_free(vcpu);
		axvm_vm_put(vm);
		goto out_unlock;
	}
	axvm_debugfs_add_vcpu(vcpu);
	rcu_assign_pointer(vm->vcpus[args.vcpu_id], vcpu);
	vm->nr_vcpus++;
out_unlock:
	mutex_unlock(&vm->lock);
out_mask:
	free_cpumask_var(cpus);
	return ret;
}
