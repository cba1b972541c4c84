// SPDX-License-Identifier: GPL-2.0
/*
 * axvm: inter-VM communication channels (the seed's alloc_ivc_channel /
 * release_ivc_channel), with a doorbell.
 *
 * A channel is a set of zeroed pages with a kref. Its users:
 *   - the channel fd (anon inode "axvm-ivc"), one reference, dropped on
 *     the file's release (so also by mmap()s of it, which pin the file);
 *   - one struct axvm_ivc_mapping per VM it is mapped into, one
 *     reference each, dropped by AXVM_IVC_DETACH or when the VM goes
 *     (axvm_ivc_detach_all() from the VM's teardown);
 *   - a ringer, for the length of one ring.
 * The pages go when the last reference does. The guest mappings are
 * memory regions flagged AXVM_REGION_SHARED (memory.c), which take a
 * page reference of their own per page; the pages therefore outlive the
 * channel struct for as long as a VM still has them in its tables.
 *
 * Locking, outermost first:
 *   vm->lock       the VM's mapping list (vm->ivc_mappings), its regions;
 *   ch->lock       the channel's mapping list (the doorbell targets);
 *   (RCU in irq.c) the peer's vCPUs, while injecting.
 * A mapping holds no reference on its VM: that would keep a VM whose
 * fds are all closed alive through its own mapping. Instead a mapping is
 * on ch->mappings exactly while its VM exists: the VM's teardown unlinks
 * it under ch->lock before the VM is freed. So a ringer that holds
 * ch->lock may inject into every VM it finds on the list; the VM cannot
 * be freed under it. Injection takes no lock of the peer (irq.c), and
 * nothing takes a VM lock inside ch->lock, so rings never deadlock with
 * attach, detach or teardown in either VM.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include "axvm.h"

/* Largest channel: 64 MiB, 16384 pages. */
#define AXVM_IVC_MAX_LEN	(64ULL << 20)
#define AXVM_IVC_FIRST_VECTOR	32
/* Guest mappings: read/write, never executable. */
#define AXVM_IVC_MAP_FLAGS	(AXVM_MEM_READ | AXVM_MEM_WRITE)

struct axvm_ivc_channel {
	struct kref ref;
	struct mutex lock;		/* protects mappings */
	struct list_head mappings;	/* struct axvm_ivc_mapping.ch_node */
	unsigned long nr_pages;
	struct page **pages;
};

/* One channel mapped into one VM. */
struct axvm_ivc_mapping {
	struct list_head vm_node;	/* vm->ivc_mappings, under vm->lock */
	struct list_head ch_node;	/* ch->mappings, under ch->lock */
	struct axvm_ivc_channel *ch;	/* a reference */
	struct axvm_vm *vm;		/* none: see the top of the file */
	u64 gpa;
	u64 vcpu_mask;			/* doorbell targets, never 0 */
	u32 vector;			/* 0: this VM has no doorbell */
	u64 seq;			/* unique: see axvm_ivc_undo() */
};

static const struct file_operations axvm_ivc_fops;
static atomic64_t axvm_ivc_seq;

static u64 axvm_ivc_len(const struct axvm_ivc_channel *ch)
{
	return (u64)ch->nr_pages << PAGE_SHIFT;
}

static void axvm_ivc_free(struct kref *ref)
{
	struct axvm_ivc_channel *ch =
		container_of(ref, struct axvm_ivc_channel, ref);
	unsigned long i;

	for (i = 0; i < ch->nr_pages; i++)
		if (ch->pages[i])
			put_page(ch->pages[i]);
	kvfree(ch->pages);
	kfree(ch);
}

static void axvm_ivc_put(struct axvm_ivc_channel *ch)
{
	kref_put(&ch->ref, axvm_ivc_free);
}

static struct axvm_ivc_channel *axvm_ivc_alloc(unsigned long nr_pages)
{
	struct axvm_ivc_channel *ch;
	unsigned long i;

	ch = kzalloc(sizeof(*ch), GFP_KERNEL_ACCOUNT);
	if (!ch)
		return ERR_PTR(-ENOMEM);
	kref_init(&ch->ref);
	mutex_init(&ch->lock);
	INIT_LIST_HEAD(&ch->mappings);
	ch->nr_pages = nr_pages;
	ch->pages = kvcalloc(nr_pages, sizeof(*ch->pages), GFP_KERNEL_ACCOUNT);
	if (!ch->pages) {
		kfree(ch);
		return ERR_PTR(-ENOMEM);
	}
	for (i = 0; i < nr_pages; i++) {
		ch->pages[i] = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
		if (!ch->pages[i] || fatal_signal_pending(current)) {
			int ret = ch->pages[i] ? -EINTR : -ENOMEM;

			axvm_ivc_put(ch);
			return ERR_PTR(ret);
		}
		cond_resched();
	}
	return ch;
}

/* ------------------------------------------------------------------ */
/* The doorbell                                                         */
/* ------------------------------------------------------------------ */

/*
 * Raises the doorbell of every VM the channel is mapped into, except
 * `from` (NULL: all of them). VMs without a vector, and VMs that are
 * stopping or stopped, are skipped. Returns how many were rung.
 */
static unsigned int axvm_ivc_ring(struct axvm_ivc_channel *ch,
				  struct axvm_vm *from)
{
	struct axvm_ivc_mapping *m;
	unsigned int n = 0;

	mutex_lock(&ch->lock);
	list_for_each_entry(m, &ch->mappings, ch_node) {
		enum axvm_vm_state state;

		if (m->vm == from || !m->vector)
			continue;
		state = READ_ONCE(m->vm->state);
		if (state == AXVM_VM_STOPPING || state == AXVM_VM_STOPPED)
			continue;
		/* -ENOENT for vCPUs of the mask that do not exist: fine. */
		axvm_vm_inject_irq(m->vm, m->vcpu_mask, m->vector);
		n++;
	}
	mutex_unlock(&ch->lock);
	return n;
}

/* The mapping of vm that contains gpa; vm->lock held. */
static struct axvm_ivc_mapping *axvm_ivc_find(struct axvm_vm *vm, u64 gpa)
{
	struct axvm_ivc_mapping *m;

	lockdep_assert_held(&vm->lock);
	list_for_each_entry(m, &vm->ivc_mappings, vm_node)
		if (gpa >= m->gpa && gpa - m->gpa < axvm_ivc_len(m->ch))
			return m;
	return NULL;
}

/*
 * AXVM_HC_IVC_RING from a vCPU of vm: RBX is any GPA inside a channel
 * mapped into vm. The core counts AXVM_STAT_IVC_RING and puts the return
 * value in the guest's RAX.
 */
long axvm_ivc_hypercall_ring(struct axvm_vcpu *vcpu, u64 gpa)
{
	struct axvm_vm *vm = vcpu->vm;
	struct axvm_ivc_channel *ch = NULL;
	struct axvm_ivc_mapping *m;

	mutex_lock(&vm->lock);
	m = axvm_ivc_find(vm, gpa);
	if (m) {
		ch = m->ch;
		kref_get(&ch->ref);
	}
	mutex_unlock(&vm->lock);
	if (!ch)
		return -ENOENT;
	axvm_ivc_ring(ch, vm);
	axvm_ivc_put(ch);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The channel fd                                                      */
/* ------------------------------------------------------------------ */

static long axvm_ivc_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg)
{
	struct axvm_ivc_channel *ch = file->private_data;

	switch (cmd) {
	case AXVM_IVC_RING:
		axvm_ivc_ring(ch, NULL);
		return 0;
	default:
		return -ENOTTY;
	}
}

static vm_fault_t axvm_ivc_fault(struct vm_fault *vmf)
{
	struct axvm_ivc_channel *ch = vmf->vma->vm_file->private_data;
	struct page *page;

	if (vmf->pgoff >= ch->nr_pages)
		return VM_FAULT_SIGBUS;
	page = ch->pages[vmf->pgoff];
	get_page(page);
	vmf->page = page;	/* the fault path takes over our reference */
	return 0;
}

static const struct vm_operations_struct axvm_ivc_vm_ops = {
	.fault = axvm_ivc_fault,
};

/* mmap() of the channel fd: the channel's memory, offset 0 = its start. */
static int axvm_ivc_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct axvm_ivc_channel *ch = file->private_data;
	unsigned long pages = vma_pages(vma);

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_pgoff >= ch->nr_pages || pages > ch->nr_pages - vma->vm_pgoff)
		return -EINVAL;
	vma->vm_flags |= VM_DONTEXPAND;
	vma->vm_ops = &axvm_ivc_vm_ops;
	return 0;
}

static int axvm_ivc_release(struct inode *inode, struct file *file)
{
	axvm_ivc_put(file->private_data);
	return 0;
}

static const struct file_operations axvm_ivc_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= axvm_ivc_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= axvm_ivc_mmap,
	.release	= axvm_ivc_release,
	.llseek		= noop_llseek,
};

/* ------------------------------------------------------------------ */
/* Mappings                                                            */
/* ------------------------------------------------------------------ */

static bool axvm_ivc_state_ok(struct axvm_vm *vm)
{
	lockdep_assert_held(&vm->lock);
	return vm->state != AXVM_VM_STOPPING && vm->state != AXVM_VM_STOPPED;
}

/*
 * The last page of passthrough memory in [gpa, gpa + size), which is
 * known to meet some: the window's suffixes that meet passthrough memory
 * get shorter as they start later, so bisect on their start.
 */
static u64 axvm_ivc_last_passthrough_page(struct axvm_vm *vm, u64 gpa,
					  u64 size)
{
	u64 lo = gpa, hi = gpa + size, end = gpa + size;

	while (hi - lo > PAGE_SIZE) {
		u64 mid = lo + ((((hi - lo) >> PAGE_SHIFT) / 2) << PAGE_SHIFT);

		if (axvm_passthrough_overlaps(vm, mid, end - mid))
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The lowest 4 KiB-aligned gpa >= AXVM_IVC_DEFAULT_BASE where
 * [gpa, gpa + size) meets no memory region or passthrough range and
 * fits below the VM's guest physical limit. vm->lock held (regions and
 * passthrough ranges only change under it). -ENOSPC if there is none.
 */
static int axvm_ivc_pick_gpa(struct axvm_vm *vm, u64 size, u64 *out)
{
	u64 gpa = AXVM_IVC_DEFAULT_BASE;
	int ret = -ENOSPC;

	lockdep_assert_held(&vm->lock);
	mutex_lock(&vm->mmu_lock);
	while (gpa < vm->gpa_limit && size <= vm->gpa_limit - gpa) {
		bool moved = false;
		unsigned int i;

		/* regions[] is sorted: jump past every one in the way. */
		for (i = 0; i < vm->nr_regions; i++) {
			const struct axvm_region *r = &vm->regions[i];

			if (r->gpa + r->size <= gpa)
				continue;
			if (r->gpa >= gpa + size)
				break;
			gpa = r->gpa + r->size;
			moved = true;
		}
		if (moved)
			continue;
		if (!axvm_passthrough_overlaps(vm, gpa, size)) {
			*out = gpa;
			ret = 0;
			break;
		}
		gpa = axvm_ivc_last_passthrough_page(vm, gpa, size) + PAGE_SIZE;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		cond_resched();
	}
	mutex_unlock(&vm->mmu_lock);
	return ret;
}

/*
 * Maps ch into vm at *gpa (0: pick one) and links the mapping; vm->lock
 * held. On success the mapping owns a new channel reference.
 */
static int axvm_ivc_map(struct axvm_vm *vm, struct axvm_ivc_channel *ch,
			struct axvm_ivc_mapping *m, u64 *gpa, const char *op)
{
	struct axvm_ivc_mapping *other;
	u64 len = axvm_ivc_len(ch);
	int ret;

	lockdep_assert_held(&vm->lock);
	if (!axvm_ivc_state_ok(vm))
		return -EBUSY;
	list_for_each_entry(other, &vm->ivc_mappings, vm_node) {
		if (other->ch == ch) {
			axvm_err_ratelimited("%s: the channel is already mapped in VM %u at 0x%llx\n",
					     op, vm->id, other->gpa);
			return -EEXIST;
		}
	}
	if (*gpa) {
		if (*gpa >= vm->gpa_limit || len > vm->gpa_limit - *gpa) {
			axvm_err_ratelimited("%s: gpa [0x%llx, +0x%llx) beyond guest space 0x%llx\n",
					     op, *gpa, len, vm->gpa_limit);
			return -ERANGE;
		}
		ret = axvm_region_add_shared(vm, *gpa, ch->pages, ch->nr_pages,
					     AXVM_IVC_MAP_FLAGS);
		if (ret == -EEXIST)
			axvm_err_ratelimited("%s: gpa [0x%llx, +0x%llx) overlaps memory, a passthrough range or a channel of VM %u\n",
					     op, *gpa, len, vm->id);
	} else {
		ret = axvm_ivc_pick_gpa(vm, len, gpa);
		if (ret == -ENOSPC)
			axvm_err_ratelimited("%s: no free 0x%llx bytes at or above 0x%llx in VM %u\n",
					     op, len, AXVM_IVC_DEFAULT_BASE, vm->id);
		if (!ret)
			ret = axvm_region_add_shared(vm, *gpa, ch->pages,
						     ch->nr_pages,
						     AXVM_IVC_MAP_FLAGS);
	}
	if (ret == -ENOSPC && vm->nr_regions == AXVM_MAX_REGIONS)
		axvm_err_ratelimited("%s: VM %u has %u regions already\n",
				     op, vm->id, AXVM_MAX_REGIONS);
	if (ret)
		return ret;

	kref_get(&ch->ref);
	m->ch = ch;
	m->vm = vm;
	m->gpa = *gpa;
	list_add_tail(&m->vm_node, &vm->ivc_mappings);
	mutex_lock(&ch->lock);
	list_add_tail(&m->ch_node, &ch->mappings);
	mutex_unlock(&ch->lock);
	return 0;
}

/*
 * Unmaps m from its VM (guest TLBs flushed by axvm_region_remove()) and
 * unlinks it; vm->lock held. The caller frees m and puts m->ch after
 * dropping vm->lock.
 */
static void axvm_ivc_unmap(struct axvm_vm *vm, struct axvm_ivc_mapping *m)
{
	lockdep_assert_held(&vm->lock);
	mutex_lock(&m->ch->lock);
	list_del(&m->ch_node);
	mutex_unlock(&m->ch->lock);
	list_del(&m->vm_node);
	/* Cannot fail: the region was added with the mapping. */
	axvm_region_remove(vm, m->gpa);
}

static void axvm_ivc_mapping_free(struct axvm_ivc_mapping *m)
{
	axvm_ivc_put(m->ch);
	kfree(m);
}

/*
 * Undoes a CREATE or ATTACH whose result could not be copied out. The
 * copy runs without vm->lock (a fault on the user buffer takes mmap_lock,
 * and mmap() of the VM fd takes vm->lock under it), so another thread may
 * have detached m meanwhile: only a mapping still on the VM's list is
 * touched.
 */
static void axvm_ivc_undo(struct axvm_vm *vm, struct axvm_ivc_mapping *m,
			  u64 seq)
{
	struct axvm_ivc_mapping *it;
	bool found = false;

	mutex_lock(&vm->lock);
	list_for_each_entry(it, &vm->ivc_mappings, vm_node) {
		/* The sequence number: m may be freed and its address reused. */
		if (it == m && it->seq == seq) {
			found = true;
			axvm_ivc_unmap(vm, m);
			break;
		}
	}
	mutex_unlock(&vm->lock);
	if (found)
		axvm_ivc_mapping_free(m);
}

/* ------------------------------------------------------------------ */
/* VM ioctls                                                           */
/* ------------------------------------------------------------------ */

/* Checks the fields CREATE and ATTACH share; fills the doorbell part. */
static int axvm_ivc_check_doorbell(const struct axvm_ivc *args,
				   struct axvm_ivc_mapping *m, const char *op)
{
	if (args->flags || !axvm_mem_is_zero(args->reserved,
					     sizeof(args->reserved))) {
		axvm_err_ratelimited("%s: flags 0x%x / reserved must be 0\n",
				     op, args->flags);
		return -EINVAL;
	}
	if (args->vector &&
	    (args->vector < AXVM_IVC_FIRST_VECTOR || args->vector > 255)) {
		axvm_err_ratelimited("%s: vector %u is not 0 or 32..255\n",
				     op, args->vector);
		return -EINVAL;
	}
	if (!args->vector && args->vcpu_mask) {
		axvm_err_ratelimited("%s: vcpu_mask 0x%llx without a vector\n",
				     op, args->vcpu_mask);
		return -EINVAL;
	}
	if (!PAGE_ALIGNED(args->gpa)) {
		axvm_err_ratelimited("%s: gpa 0x%llx is not 4 KiB aligned\n",
				     op, args->gpa);
		return -EDOM;
	}
	m->vector = args->vector;
	m->vcpu_mask = args->vcpu_mask ?: 1;	/* 0: vCPU 0 */
	return 0;
}

long axvm_vm_ioctl_ivc_create(struct axvm_vm *vm, struct axvm_ivc __user *u)
{
	struct axvm_ivc_channel *ch;
	struct axvm_ivc_mapping *m;
	struct axvm_ivc args;
	struct file *file;
	int fd, ret;
	u64 seq;

	ret = axvm_copy_args(&args, sizeof(args), u);
	if (ret)
		return ret;
	m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);
	if (!m)
		return -ENOMEM;
	ret = axvm_ivc_check_doorbell(&args, m, "IVC_CREATE");
	if (ret)
		goto err_free_m;
	if (args.fd) {
		axvm_err_ratelimited("IVC_CREATE: fd is output only, must be 0 (is %d)\n",
				     args.fd);
		ret = -EINVAL;
		goto err_free_m;
	}
	if (!args.len) {
		axvm_err_ratelimited("IVC_CREATE: len is 0\n");
		ret = -EINVAL;
		goto err_free_m;
	}
	if (args.len > AXVM_IVC_MAX_LEN) {
		axvm_err_ratelimited("IVC_CREATE: len 0x%llx is above the 0x%llx limit\n",
				     args.len, AXVM_IVC_MAX_LEN);
		ret = -E2BIG;
		goto err_free_m;
	}
	args.len = PAGE_ALIGN(args.len);

	ch = axvm_ivc_alloc(args.len >> PAGE_SHIFT);
	if (IS_ERR(ch)) {
		ret = PTR_ERR(ch);
		goto err_free_m;
	}
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		axvm_ivc_put(ch);
		ret = fd;
		goto err_free_m;
	}
	/* The file takes over the initial reference. */
	file = anon_inode_getfile("axvm-ivc", &axvm_ivc_fops, ch, O_RDWR);
	if (IS_ERR(file)) {
		axvm_ivc_put(ch);
		ret = PTR_ERR(file);
		goto err_put_fd;
	}

	seq = m->seq = atomic64_inc_return(&axvm_ivc_seq);
	mutex_lock(&vm->lock);
	ret = axvm_ivc_map(vm, ch, m, &args.gpa, "IVC_CREATE");
	mutex_unlock(&vm->lock);
	if (ret)
		goto err_fput;
	args.fd = fd;
	ret = axvm_copy_args_out(u, &args, sizeof(args));
	if (ret) {
		axvm_ivc_undo(vm, m, seq);
		m = NULL;
		goto err_fput;
	}
	fd_install(fd, file);
	return fd;

err_fput:
	fput(file);		/* drops the channel's last reference */
err_put_fd:
	put_unused_fd(fd);
err_free_m:
	kfree(m);
	return ret;
}

long axvm_vm_ioctl_ivc_attach(struct axvm_vm *vm, struct axvm_ivc __user *u)
{
	struct axvm_ivc_channel *ch;
	struct axvm_ivc_mapping *m;
	struct axvm_ivc args;
	struct fd f;
	int ret;
	u64 seq;

	ret = axvm_copy_args(&args, sizeof(args), u);
	if (ret)
		return ret;
	m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);
	if (!m)
		return -ENOMEM;
	ret = axvm_ivc_check_doorbell(&args, m, "IVC_ATTACH");
	if (ret)
		goto out_free;
	if (args.len) {
		axvm_err_ratelimited("IVC_ATTACH: len is output only, must be 0 (is 0x%llx)\n",
				     args.len);
		ret = -EINVAL;
		goto out_free;
	}
	f = fdget(args.fd);
	if (!f.file || f.file->f_op != &axvm_ivc_fops) {
		axvm_err_ratelimited("IVC_ATTACH: fd %d is not an IVC channel\n",
				     args.fd);
		fdput(f);
		ret = -EBADF;
		goto out_free;
	}
	ch = f.file->private_data;

	seq = m->seq = atomic64_inc_return(&axvm_ivc_seq);
	mutex_lock(&vm->lock);
	ret = axvm_ivc_map(vm, ch, m, &args.gpa, "IVC_ATTACH");
	mutex_unlock(&vm->lock);
	if (!ret)
		args.len = axvm_ivc_len(ch);
	fdput(f);		/* the mapping holds its own reference */
	if (ret)
		goto out_free;
	ret = axvm_copy_args_out(u, &args, sizeof(args));
	if (ret)
		axvm_ivc_undo(vm, m, seq);
	return ret;

out_free:
	kfree(m);
	return ret;
}

long axvm_vm_ioctl_ivc_detach(struct axvm_vm *vm, struct axvm_ivc __user *u)
{
	struct axvm_ivc_mapping *m;
	struct axvm_ivc args;
	int ret;

	ret = axvm_copy_args(&args, sizeof(args), u);
	if (ret)
		return ret;
	if (args.flags || args.len || args.vcpu_mask || args.vector ||
	    args.fd || !axvm_mem_is_zero(args.reserved, sizeof(args.reserved))) {
		axvm_err_ratelimited("IVC_DETACH: only gpa is read, every other field must be 0\n");
		return -EINVAL;
	}
	if (!PAGE_ALIGNED(args.gpa)) {
		axvm_err_ratelimited("IVC_DETACH: gpa 0x%llx is not 4 KiB aligned\n",
				     args.gpa);
		return -EDOM;
	}
	mutex_lock(&vm->lock);
	m = axvm_ivc_find(vm, args.gpa);
	if (!m || m->gpa != args.gpa) {
		mutex_unlock(&vm->lock);
		axvm_err_ratelimited("IVC_DETACH: no channel at gpa 0x%llx in VM %u\n",
				     args.gpa, vm->id);
		return -ENOENT;
	}
	axvm_ivc_unmap(vm, m);
	mutex_unlock(&vm->lock);
	axvm_ivc_mapping_free(m);
	return 0;
}

/*
 * The VM's teardown, while it still exists: every channel mapped into it
 * is unmapped and loses this VM's reference. No fd of the VM is left, so
 * nothing else adds mappings now; ringers in other VMs may still look
 * at them until they are unlinked under ch->lock.
 */
void axvm_ivc_detach_all(struct axvm_vm *vm)
{
	struct axvm_ivc_mapping *m, *tmp;
	LIST_HEAD(gone);

	mutex_lock(&vm->lock);
	list_for_each_entry_safe(m, tmp, &vm->ivc_mappings, vm_node) {
		axvm_ivc_unmap(vm, m);
		list_add_tail(&m->vm_node, &gone);
	}
	mutex_unlock(&vm->lock);
	list_for_each_entry_safe(m, tmp, &gone, vm_node)
		axvm_ivc_mapping_free(m);
}
