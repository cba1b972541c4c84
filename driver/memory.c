// SPDX-License-Identifier: GPL-2.0
/*
 * axvm: guest memory regions (the seed's alloc_memory_region and
 * handle_page_fault), host access to guest memory, and mmap() of the VM fd.
 *
 * A region's pages live in an xarray indexed by page number within the
 * region, so a lazy 4 GiB region costs one empty xarray until touched.
 * Pages are allocated zeroed and charged to the caller's memcg. The
 * nested page tables (backend) map them; the xarray owns them.
 */
#include <linux/mm.h>
#include <linux/highmem.h>
#include <linux/uaccess.h>
#include "axvm.h"

#define AXVM_MEM_KNOWN (AXVM_MEM_READ | AXVM_MEM_WRITE | AXVM_MEM_EXEC | \
			AXVM_MEM_LAZY)

/* Binary search over the sorted regions[]; NULL if gpa is not memory. */
struct axvm_region *axvm_find_region(struct axvm_vm *vm, u64 gpa)
{
	unsigned int lo = 0, hi = READ_ONCE(vm->nr_regions);

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		struct axvm_region *r = &vm->regions[mid];

		if (gpa < r->gpa)
			hi = mid;
		else if (gpa - r->gpa >= r->size)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

static int axvm_region_check(struct axvm_vm *vm,
			     const struct axvm_memory_region *args)
{
	if (args->flags & ~AXVM_MEM_KNOWN || !(args->flags & AXVM_MEM_READ) ||
	    args->mmap_offset ||
	    !axvm_mem_is_zero(args->reserved, sizeof(args->reserved))) {
		axvm_err_ratelimited("ADD_MEMORY_REGION: bad flags 0x%x or non-zero reserved/mmap_offset\n",
				     args->flags);
		return -EINVAL;
	}
	if (!PAGE_ALIGNED(args->gpa) || !PAGE_ALIGNED(args->mem_size)) {
		axvm_err_ratelimited("ADD_MEMORY_REGION: gpa 0x%llx / mem_size 0x%llx not 4 KiB aligned\n",
				     args->gpa, args->mem_size);
		return -EDOM;
	}
	if (!args->mem_size)
		return -EMSGSIZE;
	if (args->gpa >= vm->gpa_limit ||
	    args->mem_size > vm->gpa_limit - args->gpa) {
		axvm_err_ratelimited("ADD_MEMORY_REGION: [0x%llx, +0x%llx) beyond guest space 0x%llx\n",
				     args->gpa, args->mem_size, vm->gpa_limit);
		return -ERANGE;
	}
	if (vm->nr_regions == AXVM_MAX_REGIONS)
		return -ENOSPC;
	return 0;
}

bool axvm_range_is_free_of_regions(struct axvm_vm *vm, u64 gpa, u64 size)
{
	unsigned int i;

	lockdep_assert_held(&vm->mmu_lock);
	for (i = 0; i < vm->nr_regions; i++) {
		const struct axvm_region *r = &vm->regions[i];

		if (gpa < r->gpa + r->size && r->gpa < gpa + size)
			return false;
	}
	return true;
}

/*
 * Memory regions, passthrough ranges, channels and MMIO devices never
 * share a GPA. Callers hold vm->lock (the bus) and mmu_lock.
 */
static bool axvm_gpa_range_free(struct axvm_vm *vm, u64 gpa, u64 size)
{
	return axvm_range_is_free_of_regions(vm, gpa, size) &&
	       !axvm_passthrough_overlaps(vm, gpa, size) &&
	       !axvm_bus_overlaps(vm, AXVM_DEV_SPACE_MMIO, gpa, size);
}

/* Returns the page backing page `idx` of r, allocating it if asked. */
static struct page *axvm_region_page(struct axvm_vm *vm,
				     struct axvm_region *r, pgoff_t idx,
				     bool alloc)
{
	struct page *page;
	int ret;

	lockdep_assert_held(&vm->mmu_lock);
	page = xa_load(&r->pages, idx);
	if (page || !alloc)
		return page;
	/*
	 * A shared (IVC) region is visible a moment before its pages are
	 * stored: never back it with a private page. Callers retry.
	 */
	if (r->flags & AXVM_REGION_SHARED)
		return ERR_PTR(-EAGAIN);
	page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	if (!page)
		return ERR_PTR(-ENOMEM);
	ret = xa_err(xa_store(&r->pages, idx, page, GFP_KERNEL_ACCOUNT));
	if (ret) {
		__free_page(page);
		return ERR_PTR(ret);
	}
	atomic64_add(PAGE_SIZE, &vm->populated_bytes);
	return page;
}

/* Allocates (if needed) and maps one page of r into the nested tables. */
static int axvm_region_map_page(struct axvm_vm *vm, struct axvm_region *r,
				pgoff_t idx)
{
	struct page *page = axvm_region_page(vm, r, idx, true);

	if (IS_ERR(page))
		return PTR_ERR(page);
	return axvm_arch->map_page(vm, r->gpa + ((u64)idx << PAGE_SHIFT),
				   page_to_pfn(page), r->flags);
}

static void axvm_region_free(struct axvm_region *r)
{
	struct page *page;
	unsigned long idx;

	xa_for_each(&r->pages, idx, page) {
		put_page(page);	/* a shared (IVC) page lives on elsewhere */
		cond_resched();
	}
	xa_destroy(&r->pages);
}

static int axvm_region_populate(struct axvm_vm *vm, struct axvm_region *r)
{
	pgoff_t idx, nr = r->size >> PAGE_SHIFT;
	int ret = 0;

	mutex_lock(&vm->mmu_lock);
	for (idx = 0; idx < nr && !ret; idx++) {
		ret = axvm_region_map_page(vm, r, idx);
		if (fatal_signal_pending(current))
			ret = -EINTR;
		cond_resched();
	}
	mutex_unlock(&vm->mmu_lock);
	return ret;
}

/*
 * Inserts a region at its sorted place, or returns ERR_PTR(-EEXIST) if
 * the range is taken. Lookups hold mmu_lock, so they see it whole.
 */
static struct axvm_region *axvm_region_insert(struct axvm_vm *vm, u64 gpa,
					      u64 size, u32 flags)
{
	struct axvm_region *r;
	unsigned int pos;

	mutex_lock(&vm->mmu_lock);
	if (!axvm_gpa_range_free(vm, gpa, size)) {
		mutex_unlock(&vm->mmu_lock);
		return ERR_PTR(-EEXIST);
	}
	for (pos = 0; pos < vm->nr_regions; pos++)
		if (vm->regions[pos].gpa > gpa)
			break;
	r = &vm->regions[pos];
	memmove(r + 1, r, (vm->nr_regions - pos) * sizeof(*r));
	memset(r, 0, sizeof(*r));
	r->gpa = gpa;
	r->size = size;
	r->flags = flags;
	xa_init(&r->pages);
	WRITE_ONCE(vm->nr_regions, vm->nr_regions + 1);
	mutex_unlock(&vm->mmu_lock);
	return r;
}

/* Unlinks r: unmapped and TLB-flushed first, then its pages dropped. */
static void axvm_region_remove_locked(struct axvm_vm *vm,
				      struct axvm_region *r)
{
	unsigned int pos = r - vm->regions;

	mutex_lock(&vm->mmu_lock);
	/* Unmap before freeing: the guest must never reach a freed page. */
	axvm_arch->unmap_range(vm, r->gpa, r->size);
	axvm_region_free(r);
	memmove(r, r + 1, (vm->nr_regions - pos - 1) * sizeof(*r));
	WRITE_ONCE(vm->nr_regions, vm->nr_regions - 1);
	mutex_unlock(&vm->mmu_lock);
}

/*
 * Called with vm->lock held in LOADING. Non-lazy regions are populated
 * and mapped now, so a lack of memory shows here and not as a guest
 * crash later.
 */
int axvm_region_add(struct axvm_vm *vm, struct axvm_memory_region *args)
{
	struct axvm_region *r;
	int ret;

	ret = axvm_region_check(vm, args);
	if (ret)
		return ret;
	r = axvm_region_insert(vm, args->gpa, args->mem_size, args->flags);
	if (IS_ERR(r))
		return PTR_ERR(r);
	if (!(r->flags & AXVM_MEM_LAZY)) {
		ret = axvm_region_populate(vm, r);
		if (ret) {
			axvm_region_remove_locked(vm, r);
			return ret;
		}
	}
	args->mmap_offset = args->gpa;
	return 0;
}

/* Maps pages someone else owns (an IVC channel) as a region at gpa. */
int axvm_region_add_shared(struct axvm_vm *vm, u64 gpa, struct page **pages,
			   unsigned long nr_pages, u32 flags)
{
	u64 size = (u64)nr_pages << PAGE_SHIFT;
	struct axvm_region *r;
	unsigned long i;
	int ret = 0;

	lockdep_assert_held(&vm->lock);
	if (!PAGE_ALIGNED(gpa) || !nr_pages)
		return -EINVAL;
	if (gpa >= vm->gpa_limit || size > vm->gpa_limit - gpa)
		return -ERANGE;
	if (vm->nr_regions == AXVM_MAX_REGIONS)
		return -ENOSPC;
	r = axvm_region_insert(vm, gpa, size,
			       (flags & ~AXVM_MEM_LAZY) | AXVM_REGION_SHARED);
	if (IS_ERR(r))
		return PTR_ERR(r);
	mutex_lock(&vm->mmu_lock);
	for (i = 0; i < nr_pages && !ret; i++) {
		ret = xa_err(xa_store(&r->pages, i, pages[i],
				      GFP_KERNEL_ACCOUNT));
		if (ret)
			break;
		get_page(pages[i]);
		ret = axvm_arch->map_page(vm, gpa + (i << PAGE_SHIFT),
					  page_to_pfn(pages[i]), r->flags);
	}
	mutex_unlock(&vm->mmu_lock);
	if (ret)
		axvm_region_remove_locked(vm, r);
	return ret;
}

int axvm_region_remove(struct axvm_vm *vm, u64 gpa)
{
	struct axvm_region *r;

	lockdep_assert_held(&vm->lock);
	mutex_lock(&vm->mmu_lock);
	r = axvm_find_region(vm, gpa);
	mutex_unlock(&vm->mmu_lock);
	if (!r || r->gpa != gpa)
		return -ENOENT;
	axvm_region_remove_locked(vm, r);
	return 0;
}

/*
 * AXVM_RESET without KEEP_MEMORY: the guest finds zeroed memory, as at
 * first boot. Lazy regions give their pages back instead (they come back
 * zeroed on the next touch); shared (IVC) memory is not the VM's to wipe.
 */
void axvm_regions_zero(struct axvm_vm *vm)
{
	unsigned int i;

	mutex_lock(&vm->mmu_lock);
	for (i = 0; i < vm->nr_regions; i++) {
		struct axvm_region *r = &vm->regions[i];
		unsigned long idx;
		struct page *page;

		if (r->flags & AXVM_REGION_SHARED)
			continue;
		if (r->flags & AXVM_MEM_LAZY) {
			axvm_arch->unmap_range(vm, r->gpa, r->size);
			xa_for_each(&r->pages, idx, page) {
				put_page(page);
				atomic64_sub(PAGE_SIZE, &vm->populated_bytes);
				cond_resched();
			}
			xa_destroy(&r->pages);
			xa_init(&r->pages);
			continue;
		}
		xa_for_each(&r->pages, idx, page) {
			clear_highpage(page);
			cond_resched();
		}
	}
	mutex_unlock(&vm->mmu_lock);
}

void axvm_regions_free(struct axvm_vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->nr_regions; i++)
		axvm_region_free(&vm->regions[i]);
	vm->nr_regions = 0;
}

/*
 * The seed's handle_page_fault(): a nested page fault on a GPA inside a
 * region populates and maps the page. Returns 0 when the guest can retry,
 * -ENOENT when gpa is not memory (MMIO), -EACCES for a write to a
 * read-only region (MMIO write), -EPERM for a fetch from a non-exec one.
 */
int axvm_handle_npf(struct axvm_vm *vm, u64 gpa, u32 access)
{
	struct axvm_region *r;
	int ret;

	mutex_lock(&vm->mmu_lock);
	r = axvm_find_region(vm, gpa);
	if (!r)
		ret = axvm_passthrough_npf(vm, gpa, access);
	else if ((access & AXVM_NPF_WRITE) && !(r->flags & AXVM_MEM_WRITE))
		ret = -EACCES;
	else if ((access & AXVM_NPF_FETCH) && !(r->flags & AXVM_MEM_EXEC))
		ret = -EPERM;
	else
		ret = axvm_region_map_page(vm, r, (gpa - r->gpa) >> PAGE_SHIFT);
	mutex_unlock(&vm->mmu_lock);
	return ret;
}

/* True if every byte of [gpa, gpa + len) lies in some region. */
static bool axvm_range_is_memory(struct axvm_vm *vm, u64 gpa, u64 len)
{
	bool ok = true;

	mutex_lock(&vm->mmu_lock);
	while (len && ok) {
		struct axvm_region *r = axvm_find_region(vm, gpa);
		u64 chunk;

		ok = r;
		if (!r)
			break;
		chunk = min(len, r->gpa + r->size - gpa);
		gpa += chunk;
		len -= chunk;
	}
	mutex_unlock(&vm->mmu_lock);
	return ok;
}

/*
 * Takes a reference on the page backing gpa. NULL: an untouched lazy
 * page (when !alloc); ERR_PTR(-EFAULT): gpa is not memory.
 */
static struct page *axvm_get_gpa_page(struct axvm_vm *vm, u64 gpa,
				      bool alloc)
{
	struct axvm_region *r;
	struct page *page;

	mutex_lock(&vm->mmu_lock);
	r = axvm_find_region(vm, gpa);
	if (!r)
		page = ERR_PTR(-EFAULT);
	else
		page = axvm_region_page(vm, r, (gpa - r->gpa) >> PAGE_SHIFT,
					alloc);
	if (!IS_ERR_OR_NULL(page))
		get_page(page);
	mutex_unlock(&vm->mmu_lock);
	return page;
}

/* Copies one piece that does not cross a page; exactly one of kbuf/ubuf. */
static int axvm_copy_piece(struct page *page, unsigned int off, void *kbuf,
			   void __user *ubuf, unsigned int n, bool write)
{
	void *va;
	int ret = 0;

	if (!page) {			/* untouched lazy page reads as 0 */
		if (kbuf)
			memset(kbuf, 0, n);
		else if (clear_user(ubuf, n))
			ret = -EFAULT;
		return ret;
	}
	va = kmap_local_page(page) + off;
	if (kbuf)
		write ? memcpy(va, kbuf, n) : memcpy(kbuf, va, n);
	else if (write ? copy_from_user(va, ubuf, n) : copy_to_user(ubuf, va, n))
		ret = -EFAULT;
	kunmap_local(va);
	return ret;
}

/*
 * Copies between guest physical memory and a kernel or user buffer,
 * across pages and regions. No lock is held while touching the user
 * buffer: it may itself be an mmap() of this VM, whose fault handler
 * takes mmu_lock.
 */
int axvm_guest_copy(struct axvm_vm *vm, u64 gpa, void *kbuf,
		    void __user *ubuf, u64 len, bool write)
{
	if (gpa + len < gpa || !axvm_range_is_memory(vm, gpa, len))
		return -EFAULT;
	while (len) {
		unsigned int off = offset_in_page(gpa);
		unsigned int n = min_t(u64, len, PAGE_SIZE - off);
		struct page *page = axvm_get_gpa_page(vm, gpa, write);
		int ret;

		if (IS_ERR(page))
			return PTR_ERR(page);
		ret = axvm_copy_piece(page, off, kbuf, ubuf, n, write);
		if (page)
			put_page(page);
		if (ret)
			return ret;
		gpa += n;
		len -= n;
		if (kbuf)
			kbuf += n;
		else
			ubuf += n;
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	return 0;
}

int axvm_read_gpa(struct axvm_vm *vm, u64 gpa, void *buf, unsigned int len)
{
	return axvm_guest_copy(vm, gpa, buf, NULL, len, false);
}

static vm_fault_t axvm_vm_fault(struct vm_fault *vmf)
{
	struct axvm_vm *vm = vmf->vma->vm_file->private_data;
	u64 gpa = (u64)vmf->pgoff << PAGE_SHIFT;
	struct page *page;

	page = axvm_get_gpa_page(vm, gpa, true);
	if (PTR_ERR_OR_ZERO(page) == -EAGAIN)
		return VM_FAULT_NOPAGE;		/* the fault is simply retried */
	if (IS_ERR(page))
		return PTR_ERR(page) == -EFAULT ? VM_FAULT_SIGBUS : VM_FAULT_OOM;
	vmf->page = page;	/* the fault path takes over our reference */
	return 0;
}

static const struct vm_operations_struct axvm_vm_vm_ops = {
	.fault = axvm_vm_fault,
};

/* mmap() of the VM fd: the offset is a region's mmap_offset (its GPA). */
int axvm_vm_mmap(struct axvm_vm *vm, struct vm_area_struct *vma)
{
	u64 gpa = (u64)vma->vm_pgoff << PAGE_SHIFT;
	u64 len = vma->vm_end - vma->vm_start;
	struct axvm_region *r;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	mutex_lock(&vm->lock);
	r = axvm_find_region(vm, gpa);
	if (!r || len > r->gpa + r->size - gpa) {
		mutex_unlock(&vm->lock);
		return -EINVAL;
	}
	mutex_unlock(&vm->lock);
	vma->vm_flags |= VM_DONTEXPAND;
	vma->vm_ops = &axvm_vm_vm_ops;
	return 0;
}
