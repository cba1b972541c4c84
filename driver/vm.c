// SPDX-License-Identifier: GPL-2.0
/*
 * axvm: VM objects, the VM fd and its lifecycle (the seed's AxVM).
 *
 * State machine (uapi/linux/axvm.h has the picture):
 *   LOADING -> LOADED -> RUNNING -> STOPPING -> STOPPED
 * Configuration (regions, vCPUs) is only accepted in LOADING, so the
 * run loop can read regions[] and vcpus[] without vm->lock once the VM
 * has left LOADING.
 */
#include <linux/anon_inodes.h>
#include <linux/bitmap.h>
#include <linux/debugfs.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include "axvm.h"

static DEFINE_IDA(axvm_vm_ida);

static const char *const axvm_state_names[] = {
	[AXVM_VM_LOADING] = "loading",	 [AXVM_VM_LOADED] = "loaded",
	[AXVM_VM_RUNNING] = "running",	 [AXVM_VM_SUSPENDED] = "suspended",
	[AXVM_VM_STOPPING] = "stopping", [AXVM_VM_STOPPED] = "stopped",
};

void axvm_vm_get(struct axvm_vm *vm)
{
	kref_get(&vm->ref);
}

static void axvm_vm_free(struct kref *ref)
{
	struct axvm_vm *vm = container_of(ref, struct axvm_vm, ref);

	debugfs_remove_recursive(vm->debugfs);
	axvm_ivc_detach_all(vm);
	axvm_bus_destroy(vm);
	axvm_passthrough_free(vm);
	/* Nested page tables before the pages they point into. */
	axvm_arch->vm_destroy(vm);
	axvm_regions_free(vm);
	ida_free(&axvm_vm_ida, vm->id);
	kfree(vm);
}

void axvm_vm_put(struct axvm_vm *vm)
{
	kref_put(&vm->ref, axvm_vm_free);
}

static void axvm_set_state(struct axvm_vm *vm, enum axvm_vm_state state)
{
	lockdep_assert_held(&vm->lock);
	pr_debug("axvm: VM %u %s -> %s\n", vm->id,
		 axvm_state_names[vm->state], axvm_state_names[state]);
	WRITE_ONCE(vm->state, state);
}

/* Called by a vCPU leaving AXVM_RUN: the last one out of a stopping VM stops it. */
void axvm_vm_vcpu_left(struct axvm_vm *vm)
{
	mutex_lock(&vm->lock);
	if (atomic_dec_return(&vm->nr_running) == 0 &&
	    vm->state == AXVM_VM_STOPPING)
		axvm_set_state(vm, AXVM_VM_STOPPED);
	mutex_unlock(&vm->lock);
}

static long axvm_vm_add_memory_region(struct axvm_vm *vm,
				      struct axvm_memory_region __user *uarg)
{
	struct axvm_memory_region args;
	int ret;

	ret = axvm_copy_args(&args, sizeof(args), uarg);
	if (ret)
		return ret;
	mutex_lock(&vm->lock);
	if (vm->state != AXVM_VM_LOADING)
		ret = -EBUSY;
	else
		ret = axvm_region_add(vm, &args);
	mutex_unlock(&vm->lock);
	if (ret)
		return ret;
	return axvm_copy_args_out(uarg, &args, sizeof(args));
}

static long axvm_vm_finalize(struct axvm_vm *vm)
{
	int ret = 0;

	mutex_lock(&vm->lock);
	if (vm->state == AXVM_VM_LOADING)
		axvm_set_state(vm, AXVM_VM_LOADED);
	else
		ret = -EBUSY;
	mutex_unlock(&vm->lock);
	return ret;
}

/* The seed's AxVM::boot(), with a distinct errno per refusal. */
static long axvm_vm_boot(struct axvm_vm *vm)
{
	int ret = 0;

	mutex_lock(&vm->lock);
	switch (vm->state) {
	case AXVM_VM_LOADED:
		axvm_set_state(vm, AXVM_VM_RUNNING);
		break;
	case AXVM_VM_LOADING:
		ret = -EBADFD;		/* not finalised yet */
		break;
	case AXVM_VM_RUNNING:
	case AXVM_VM_SUSPENDED:
		ret = -EALREADY;
		break;
	default:
		ret = -ESHUTDOWN;	/* stopping or stopped */
		break;
	}
	mutex_unlock(&vm->lock);
	return ret;
}

/*
 * The seed's AxVM::shutdown(): RUNNING -> STOPPING and every vCPU is
 * kicked out of the guest; the last one to leave AXVM_RUN makes the VM
 * STOPPED. A VM that never ran stops at once.
 */
static long axvm_vm_shutdown(struct axvm_vm *vm)
{
	int ret = 0;

	mutex_lock(&vm->lock);
	switch (vm->state) {
	case AXVM_VM_STOPPING:
		ret = -EINPROGRESS;
		break;
	case AXVM_VM_STOPPED:
		ret = -ESHUTDOWN;
		break;
	case AXVM_VM_RUNNING:
	case AXVM_VM_SUSPENDED:
		if (atomic_read(&vm->nr_running)) {
			axvm_set_state(vm, AXVM_VM_STOPPING);
			axvm_vm_kick_all(vm, false);
			break;
		}
		fallthrough;
	default:
		axvm_set_state(vm, AXVM_VM_STOPPED);
		break;
	}
	mutex_unlock(&vm->lock);
	return ret;
}

/* The errno for a state-changing ioctl made in the wrong state. */
static int axvm_state_errno(enum axvm_vm_state state)
{
	switch (state) {
	case AXVM_VM_LOADING:
	case AXVM_VM_LOADED:
		return -EBADFD;		/* not booted */
	case AXVM_VM_STOPPING:
	case AXVM_VM_STOPPED:
		return -ESHUTDOWN;
	default:
		return -EALREADY;
	}
}

/*
 * The seed's TODO: RUNNING -> SUSPENDED. Every vCPU leaves the guest at
 * once (kicked, or woken from HLT) and RUN reports AXVM_EXIT_SUSPENDED
 * until AXVM_RESUME.
 */
static long axvm_vm_suspend(struct axvm_vm *vm)
{
	int ret = 0;

	mutex_lock(&vm->lock);
	if (vm->state == AXVM_VM_RUNNING) {
		axvm_set_state(vm, AXVM_VM_SUSPENDED);
		axvm_vm_kick_all(vm, false);
	} else {
		ret = axvm_state_errno(vm->state);
	}
	mutex_unlock(&vm->lock);
	return ret;
}

static long axvm_vm_resume(struct axvm_vm *vm)
{
	int ret = 0;

	mutex_lock(&vm->lock);
	if (vm->state == AXVM_VM_SUSPENDED)
		axvm_set_state(vm, AXVM_VM_RUNNING);
	else if (vm->state == AXVM_VM_RUNNING)
		ret = -EALREADY;
	else
		ret = axvm_state_errno(vm->state);
	mutex_unlock(&vm->lock);
	return ret;
}

/*
 * Takes every vCPU's run_lock, or none and -EBUSY. RUN takes vm->lock
 * under run_lock, so under vm->lock we may only try.
 */
static int axvm_vm_lock_vcpus(struct axvm_vm *vm)
{
	unsigned int i;

	for (i = 0; i < AXVM_MAX_VCPUS; i++) {
		if (!vm->vcpus[i] || mutex_trylock(&vm->vcpus[i]->run_lock))
			continue;
		while (i--)
			if (vm->vcpus[i])
				mutex_unlock(&vm->vcpus[i]->run_lock);
		return -EBUSY;
	}
	return 0;
}

/*
 * The seed's missing re-init: STOPPED -> LOADED with every vCPU and
 * in-kernel device at its power-on state and, unless asked to keep it,
 * guest memory zeroed.
 * No vCPU is inside RUN in STOPPED, so their state is ours to change.
 */
static long axvm_vm_reset(struct axvm_vm *vm, struct axvm_reset __user *u)
{
	struct axvm_reset args;
	unsigned int i;
	int ret;

	ret = axvm_copy_args(&args, sizeof(args), u);
	if (ret)
		return ret;
	if ((args.flags & ~AXVM_RESET_KEEP_MEMORY) ||
	    !axvm_mem_is_zero(args.reserved, sizeof(args.reserved)))
		return -EINVAL;
	mutex_lock(&vm->lock);
	ret = vm->state == AXVM_VM_STOPPED ? axvm_vm_lock_vcpus(vm) : -EBUSY;
	if (ret) {
		mutex_unlock(&vm->lock);
		return ret;
	}
	for (i = 0; i < AXVM_MAX_VCPUS; i++) {
		struct axvm_vcpu *vcpu = vm->vcpus[i];

		if (!vcpu)
			continue;
		axvm_arch->vcpu_reset(vcpu);
		bitmap_zero(vcpu->pending_irqs, 256);
		mutex_unlock(&vcpu->run_lock);
	}
	axvm_bus_reset(vm);
	if (!(args.flags & AXVM_RESET_KEEP_MEMORY))
		axvm_regions_zero(vm);
	axvm_set_state(vm, AXVM_VM_LOADED);
	mutex_unlock(&vm->lock);
	return 0;
}

static void axvm_vcpu_affinity_fill(const struct axvm_vcpu *vcpu,
				    struct axvm_vcpu_affinity *ent)
{
	memset(ent, 0, sizeof(*ent));
	ent->vcpu_id = vcpu->id;
	ent->phys_id = vcpu->phys_id;
	bitmap_copy((unsigned long *)ent->cpu_mask, cpumask_bits(vcpu->cpus),
		    min_t(unsigned int, nr_cpu_ids, AXVM_MAX_HOST_CPUS));
}

/*
 * The seed's get_vcpu_affinities_pcpu_ids(). Entries are gathered under
 * vm->lock and copied out after it: a fault on the user buffer may take
 * mmap_lock, which mmap() of this VM takes before vm->lock.
 */
static long axvm_vm_get_affinities(struct axvm_vm *vm,
				   struct axvm_affinities __user *u)
{
	struct axvm_vcpu_affinity *ents;
	struct axvm_affinities args;
	unsigned int i, n = 0;
	int ret;

	ret = axvm_copy_args(&args, sizeof(args), u);
	if (ret)
		return ret;
	if (args.flags || args.reserved0 ||
	    !axvm_mem_is_zero(args.reserved, sizeof(args.reserved)))
		return -EINVAL;
	ents = kcalloc(AXVM_MAX_VCPUS, sizeof(*ents), GFP_KERNEL);
	if (!ents)
		return -ENOMEM;
	mutex_lock(&vm->lock);
	for (i = 0; i < AXVM_MAX_VCPUS; i++)
		if (vm->vcpus[i])
			axvm_vcpu_affinity_fill(vm->vcpus[i], &ents[n++]);
	mutex_unlock(&vm->lock);

	ret = axvm_copy_list_out(u, &args, sizeof(args), &args.nr_entries,
				 args.entries, ents, n, sizeof(*ents));
	kfree(ents);
	return ret;
}

static long axvm_vm_get_status(struct axvm_vm *vm,
			       struct axvm_vm_status __user *uarg)
{
	struct axvm_vm_status st;
	unsigned int i;
	int ret;

	ret = axvm_copy_args(&st, sizeof(st), uarg);
	if (ret)
		return ret;
	if (st.flags || !axvm_mem_is_zero(st.reserved, sizeof(st.reserved)))
		return -EINVAL;
	st.mem_bytes = 0;
	mutex_lock(&vm->lock);
	st.state = vm->state;
	st.nr_vcpus = vm->nr_vcpus;
	st.nr_running = atomic_read(&vm->nr_running);
	st.nr_regions = vm->nr_regions;
	for (i = 0; i < vm->nr_regions; i++)
		st.mem_bytes += vm->regions[i].size;
	st.populated_bytes = atomic64_read(&vm->populated_bytes);
	mutex_unlock(&vm->lock);
	return axvm_copy_args_out(uarg, &st, sizeof(st));
}

/* The seed's read_from_guest_of / write_to_guest_of, for any length. */
static long axvm_vm_guest_rw(struct axvm_vm *vm,
			     struct axvm_guest_memory __user *uarg, bool write)
{
	struct axvm_guest_memory args;
	int ret;

	ret = axvm_copy_args(&args, sizeof(args), uarg);
	if (ret)
		return ret;
	if (args.flags || !axvm_mem_is_zero(args.reserved,
					    sizeof(args.reserved))) {
		axvm_err_ratelimited("%s_GUEST: flags/reserved must be 0\n",
				     write ? "WRITE" : "READ");
		return -EINVAL;
	}
	return axvm_guest_copy(vm, args.gpa, NULL, u64_to_user_ptr(args.buf),
			       args.len, write);
}

static long axvm_vm_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	struct axvm_vm *vm = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case AXVM_ADD_MEMORY_REGION:
		return axvm_vm_add_memory_region(vm, uarg);
	case AXVM_CREATE_VCPU:
		return axvm_vcpu_create(vm, uarg);
	case AXVM_FINALIZE:
		return axvm_vm_finalize(vm);
	case AXVM_BOOT:
		return axvm_vm_boot(vm);
	case AXVM_SHUTDOWN:
		return axvm_vm_shutdown(vm);
	case AXVM_GET_VM_STATUS:
		return axvm_vm_get_status(vm, uarg);
	case AXVM_READ_GUEST:
		return axvm_vm_guest_rw(vm, uarg, false);
	case AXVM_WRITE_GUEST:
		return axvm_vm_guest_rw(vm, uarg, true);
	case AXVM_ADD_PASSTHROUGH:
		return axvm_vm_ioctl_add_passthrough(vm, uarg);
	case AXVM_REMOVE_PASSTHROUGH:
		return axvm_vm_ioctl_remove_passthrough(vm, uarg);
	case AXVM_GET_PASSTHROUGH_MAP:
		return axvm_vm_ioctl_get_passthrough_map(vm, uarg);
	case AXVM_ADD_DEVICE:
		return axvm_vm_ioctl_add_device(vm, uarg);
	case AXVM_INJECT_IRQ:
		return axvm_vm_ioctl_inject_irq(vm, uarg);
	case AXVM_SET_IRQ_LINE:
		return axvm_vm_ioctl_set_irq_line(vm, uarg);
	case AXVM_IVC_CREATE:
		return axvm_vm_ioctl_ivc_create(vm, uarg);
	case AXVM_IVC_ATTACH:
		return axvm_vm_ioctl_ivc_attach(vm, uarg);
	case AXVM_IVC_DETACH:
		return axvm_vm_ioctl_ivc_detach(vm, uarg);
	case AXVM_SUSPEND:
		return axvm_vm_suspend(vm);
	case AXVM_RESUME:
		return axvm_vm_resume(vm);
	case AXVM_RESET:
		return axvm_vm_reset(vm, uarg);
	case AXVM_GET_VCPU_AFFINITIES:
		return axvm_vm_get_affinities(vm, uarg);
	case AXVM_GET_STATS:
		return axvm_vm_ioctl_get_stats(vm, uarg);
	default:
		return -ENOTTY;
	}
}

static int axvm_vm_mmap_fop(struct file *file, struct vm_area_struct *vma)
{
	return axvm_vm_mmap(file->private_data, vma);
}

static int axvm_vm_release(struct inode *inode, struct file *file)
{
	axvm_vm_put(file->private_data);
	return 0;
}

static const struct file_operations axvm_vm_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= axvm_vm_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= axvm_vm_mmap_fop,
	.release	= axvm_vm_release,
	.llseek		= noop_llseek,
};

static struct axvm_vm *axvm_vm_alloc(void)
{
	struct axvm_vm *vm;
	int id, ret;

	vm = kzalloc(sizeof(*vm), GFP_KERNEL_ACCOUNT);
	if (!vm)
		return ERR_PTR(-ENOMEM);
	/* VM ids start at 1, as the seed's do; 0 means "this VM" in uapi. */
	id = ida_alloc_min(&axvm_vm_ida, 1, GFP_KERNEL);
	if (id < 0) {
		kfree(vm);
		return ERR_PTR(id);
	}
	vm->id = id;
	kref_init(&vm->ref);
	mutex_init(&vm->lock);
	mutex_init(&vm->mmu_lock);
	vm->state = AXVM_VM_LOADING;
	INIT_LIST_HEAD(&vm->passthrough);
	INIT_LIST_HEAD(&vm->ivc_mappings);
	ret = axvm_arch->vm_init(vm);
	if (ret) {
		ida_free(&axvm_vm_ida, id);
		kfree(vm);
		return ERR_PTR(ret);
	}
	axvm_debugfs_add_vm(vm);
	return vm;
}

int axvm_create_vm(struct axvm_create_vm __user *uarg)
{
	struct axvm_create_vm args;
	struct axvm_vm *vm;
	struct file *file;
	int fd, ret;

	ret = axvm_copy_args(&args, sizeof(args), uarg);
	if (ret)
		return ret;
	if (args.flags || args.reserved0 ||
	    !axvm_mem_is_zero(args.reserved, sizeof(args.reserved))) {
		axvm_err_ratelimited("CREATE_VM: flags/reserved must be 0\n");
		return -EINVAL;
	}
	vm = axvm_vm_alloc();
	if (IS_ERR(vm))
		return PTR_ERR(vm);

	args.vm_id = vm->id;
	ret = axvm_copy_args_out(uarg, &args, sizeof(args));
	if (ret)
		goto err_put;
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		ret = fd;
		goto err_put;
	}
	file = anon_inode_getfile("axvm-vm", &axvm_vm_fops, vm, O_RDWR);
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		ret = PTR_ERR(file);
		goto err_put;
	}
	fd_install(fd, file);
	return fd;

err_put:
	axvm_vm_put(vm);
	return ret;
}
