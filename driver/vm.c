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

	/* Nested page tables first: they point into the region pages. */
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
	unsigned int i;
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
			for (i = 0; i < AXVM_MAX_VCPUS; i++)
				if (vm->vcpus[i])
					axvm_vcpu_kick(vm->vcpus[i]);
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
	id = ida_alloc(&axvm_vm_ida, GFP_KERNEL);
	if (id < 0) {
		kfree(vm);
		return ERR_PTR(id);
	}
	vm->id = id;
	kref_init(&vm->ref);
	mutex_init(&vm->lock);
	mutex_init(&vm->mmu_lock);
	vm->state = AXVM_VM_LOADING;
	ret = axvm_arch->vm_init(vm);
	if (ret) {
		ida_free(&axvm_vm_ida, id);
		kfree(vm);
		return ERR_PTR(ret);
	}
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
