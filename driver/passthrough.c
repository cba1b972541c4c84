// SPDX-License-Identifier: GPL-2.0
/*
 * axvm: passthrough ranges and reserved memory (the seed's
 * pass_through_devices / pass_through_addresses fold and its
 * map_reserved_memory_region). Documentation/passthrough.md has the
 * contract; this comment has the implementation's rules.
 *
 * A range maps guest-physical [gpa, gpa + len) linearly to host-physical
 * [hpa, hpa + len): delta = hpa - gpa is the same for every page. The
 * VM's ranges live in vm->passthrough, sorted by gpa, never overlapping,
 * and two ranges that touch never share both delta and flags (they would
 * have been merged). The list and the nested page table entries it
 * describes change together under vm->mmu_lock, so the memory code
 * (axvm_passthrough_overlaps(), called under that lock) and the nested
 * page fault handler (axvm_passthrough_npf()) always see the list and
 * the tables agree. Entries are created eagerly, one 4 KiB page at a
 * time, when a range is added; a range in the list is always fully
 * mapped.
 *
 * Who may map what (the host side, checked before any lock is taken):
 *  - CAP_SYS_RAWIO, as for /dev/mem and ioperm(): the caller chooses host
 *    physical addresses.
 *  - Device ranges never meet System RAM, RAM-like memory the kernel owns
 *    or reserved (ACPI tables and NVS, crash kernel, persistent and
 *    soft-reserved memory, device-private memory, CXL windows), a
 *    "Reserved" range that the firmware reported as RAM (a memmap=$
 *    carve-out: mapping it uncached while it is RAM to everyone else is
 *    the memory-type aliasing the uncached mapping must never create) or
 *    a resource a driver claimed exclusively (IORESOURCE_EXCLUSIVE, which
 *    /dev/mem refuses too). They are mapped uncached, read/write, never
 *    executable.
 *  - Reserved memory lies wholly inside "Reserved" resources, meets no
 *    System RAM and no resource a driver has claimed (busy), and on x86
 *    was RAM in the firmware's e820 map: it is RAM the administrator
 *    carved out at boot, not a firmware hole that happens to be called
 *    Reserved (MMCONFIG, the BIOS flash, ...). It is mapped write-back,
 *    read/write/execute.
 */
#include <linux/capability.h>
#include <linux/ioport.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/user_namespace.h>
#ifdef CONFIG_X86
#include <asm/e820/api.h>
#endif
#include "axvm.h"

#define AXVM_PT_KNOWN		(AXVM_PT_RESERVED_MEM | AXVM_PT_IDENTITY)
/* A VM's map never holds more ranges than this (-ENOSPC). */
#define AXVM_PT_MAX_RANGES	256
#define AXVM_PT_NAME_LEN	sizeof_field(struct axvm_passthrough, name)
/* name_seq of a range that has no name. */
#define AXVM_PT_NO_NAME		U64_MAX

/* One merged range of vm->passthrough. */
struct axvm_passthrough_range {
	struct list_head node;
	u64 gpa;
	u64 hpa;
	u64 len;
	u32 flags;		/* AXVM_PT_RESERVED_MEM or 0 */
	/*
	 * name is the label of the earliest-added named range merged into
	 * this one; name_seq orders the adds that brought a label.
	 */
	u64 name_seq;
	char name[16];
};

/* Orders labels across merges (module-wide, only compared per VM). */
static atomic64_t axvm_pt_name_seq = ATOMIC64_INIT(0);

/* An ADD or REMOVE request once checked and widened to whole pages. */
struct axvm_pt_req {
	u64 gpa;		/* page aligned */
	u64 hpa;		/* page aligned; ADD only */
	u64 len;		/* page multiple, > 0 */
	u32 flags;		/* AXVM_PT_RESERVED_MEM or 0; ADD only */
	char name[16];
};

static inline u64 axvm_pt_end(const struct axvm_passthrough_range *r)
{
	return r->gpa + r->len;
}

static inline u64 axvm_pt_delta(u64 gpa, u64 hpa)
{
	return hpa - gpa;	/* modulo 2^64: only compared for equality */
}

static u32 axvm_pt_map_flags(u32 pt_flags)
{
	if (pt_flags & AXVM_PT_RESERVED_MEM)
		return AXVM_MEM_READ | AXVM_MEM_WRITE | AXVM_MEM_EXEC;
	return AXVM_MEM_READ | AXVM_MEM_WRITE | AXVM_MAP_UNCACHED;
}

static const char *axvm_pt_kind(u32 pt_flags)
{
	return pt_flags & AXVM_PT_RESERVED_MEM ? "reserved memory" : "device";
}

/* ------------------------------------------------------------------ */
/* Argument checks                                                     */
/* ------------------------------------------------------------------ */

/*
 * A label is printable ASCII, NUL-terminated within its 16 bytes (so at
 * most 15 characters), and zero after the NUL: what comes back from
 * GET_PASSTHROUGH_MAP is then byte for byte what went in.
 */
static bool axvm_pt_name_ok(const char *name)
{
	size_t n = strnlen(name, AXVM_PT_NAME_LEN);
	size_t i;

	if (n == AXVM_PT_NAME_LEN)
		return false;
	for (i = 0; i < n; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return false;
	return axvm_mem_is_zero(name + n, AXVM_PT_NAME_LEN - n);
}

/*
 * Widens [addr, addr + len) to whole pages: start aligned down, *end*
 * aligned up. (The seed aligns the length instead, align_up_4k(len) from
 * align_down_4k(gpa), which leaves the tail page of a range that crosses
 * a page boundary unmapped: 0xfff + 2 bytes is two pages, not one.)
 * -ERANGE if the range wraps around the 64-bit space.
 */
static int axvm_pt_widen(u64 addr, u64 len, u64 *start, u64 *size)
{
	u64 end;

	if (check_add_overflow(addr, len, &end) || end > U64_MAX - ~PAGE_MASK)
		return -ERANGE;
	*start = addr & PAGE_MASK;
	*size = PAGE_ALIGN(end) - *start;
	return 0;
}

static int axvm_pt_check_gpa(struct axvm_vm *vm, const char *op,
			     const struct axvm_passthrough *a, u64 *gpa,
			     u64 *len)
{
	if (!a->len) {
		axvm_err_ratelimited("%s: len is 0\n", op);
		return -EINVAL;
	}
	if (axvm_pt_widen(a->gpa, a->len, gpa, len) ||
	    *gpa >= vm->gpa_limit || *len > vm->gpa_limit - *gpa) {
		axvm_err_ratelimited("%s: GPA [0x%llx, +0x%llx) beyond guest space 0x%llx\n",
				     op, a->gpa, a->len, vm->gpa_limit);
		return -ERANGE;
	}
	return 0;
}

static int axvm_pt_parse_add(struct axvm_vm *vm,
			     const struct axvm_passthrough *a,
			     struct axvm_pt_req *req)
{
	static const char op[] = "ADD_PASSTHROUGH";
	u64 hpa = a->hpa, hstart, hlen;
	int ret;

	if (a->flags & ~AXVM_PT_KNOWN ||
	    !axvm_mem_is_zero(a->reserved, sizeof(a->reserved))) {
		axvm_err_ratelimited("%s: unknown flags 0x%x or non-zero reserved\n",
				     op, a->flags);
		return -EINVAL;
	}
	if (!axvm_pt_name_ok(a->name)) {
		axvm_err_ratelimited("%s: name must be printable ASCII, NUL-terminated within 16 bytes and zero-padded\n",
				     op);
		return -EINVAL;
	}
	if (a->flags & AXVM_PT_IDENTITY) {
		if (hpa) {
			axvm_err_ratelimited("%s: AXVM_PT_IDENTITY with hpa 0x%llx (must be 0)\n",
					     op, hpa);
			return -EINVAL;
		}
		hpa = a->gpa;
	}
	ret = axvm_pt_check_gpa(vm, op, a, &req->gpa, &req->len);
	if (ret)
		return ret;
	if (axvm_pt_widen(hpa, a->len, &hstart, &hlen) ||
	    hstart + hlen - 1 > iomem_resource.end) {
		axvm_err_ratelimited("%s: HPA [0x%llx, +0x%llx) beyond host physical space 0x%llx\n",
				     op, hpa, a->len,
				     (u64)iomem_resource.end + 1);
		return -ERANGE;
	}
	if (offset_in_page(a->gpa) != offset_in_page(hpa)) {
		axvm_err_ratelimited("%s: GPA 0x%llx and HPA 0x%llx differ within their 4 KiB page\n",
				     op, a->gpa, hpa);
		return -EINVAL;
	}
	req->hpa = hstart;
	req->flags = a->flags & AXVM_PT_RESERVED_MEM;
	memcpy(req->name, a->name, sizeof(req->name));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Host side: what the range may be                                    */
/* ------------------------------------------------------------------ */

static void axvm_pt_refuse(struct axvm_vm *vm, const struct axvm_pt_req *req,
			   const char *why)
{
	axvm_err_ratelimited("VM %u: ADD_PASSTHROUGH %s%s%s[0x%llx-0x%llx] -> HPA [0x%llx-0x%llx] refused: %s\n",
			     vm->id, req->name[0] ? "\"" : "", req->name,
			     req->name[0] ? "\" " : "", req->gpa,
			     req->gpa + req->len - 1, req->hpa,
			     req->hpa + req->len - 1, why);
}

/* Was any part of [start, end] RAM in the firmware's memory map? */
static bool axvm_pt_firmware_ram_any(u64 start, u64 end)
{
#ifdef CONFIG_X86
	return e820__mapped_raw_any(start, end + 1, E820_TYPE_RAM);
#else
	return true;	/* cannot tell: treat every Reserved range as RAM */
#endif
}

/* Was every page of [start, end] RAM, and only RAM, in the firmware map? */
static bool axvm_pt_firmware_ram_all(u64 start, u64 end)
{
#ifdef CONFIG_X86
	static const enum e820_type other[] = {
		E820_TYPE_RESERVED, E820_TYPE_ACPI, E820_TYPE_NVS,
		E820_TYPE_UNUSABLE, E820_TYPE_PMEM, E820_TYPE_PRAM,
		E820_TYPE_SOFT_RESERVED,
	};
	unsigned int i;
	u64 p;

	for (i = 0; i < ARRAY_SIZE(other); i++)
		if (e820__mapped_raw_any(start, end + 1, other[i]))
			return false;
	/* Holes: e820 has no "all" query for modules, so page by page. */
	for (p = start; p <= end && p >= start; p += PAGE_SIZE) {
		if (!e820__mapped_raw_any(p, p + PAGE_SIZE, E820_TYPE_RAM))
			return false;
		cond_resched();
	}
	return true;
#else
	return false;	/* no way to tell a carve-out from a firmware hole */
#endif
}

/* walk_iomem_res_desc() callback: a Reserved piece that is really RAM. */
static int axvm_pt_reserved_ram_cb(struct resource *res, void *arg)
{
	if (!axvm_pt_firmware_ram_any(res->start, res->end))
		return 0;
	*(struct resource *)arg = *res;
	return 1;
}

struct axvm_pt_cover {
	u64 next;		/* first byte not yet covered */
	bool gap;
};

/* walk_iomem_res_desc() callback: pieces must follow without a gap. */
static int axvm_pt_cover_cb(struct resource *res, void *arg)
{
	struct axvm_pt_cover *c = arg;

	if (res->start > c->next) {
		c->gap = true;
		return 1;
	}
	c->next = max_t(u64, c->next, (u64)res->end + 1);
	return 0;
}

/* Memory with these descriptors is RAM in all but name. */
static const struct {
	unsigned long desc;
	const char *what;
} axvm_pt_ram_descs[] = {
	{ IORES_DESC_CRASH_KERNEL, "the crash kernel's memory" },
	{ IORES_DESC_ACPI_TABLES, "ACPI tables" },
	{ IORES_DESC_ACPI_NV_STORAGE, "ACPI NVS memory" },
	{ IORES_DESC_PERSISTENT_MEMORY, "persistent memory" },
	{ IORES_DESC_PERSISTENT_MEMORY_LEGACY, "persistent memory (legacy)" },
	{ IORES_DESC_DEVICE_PRIVATE_MEMORY, "device-private memory" },
	{ IORES_DESC_SOFT_RESERVED, "soft-reserved memory" },
	{ IORES_DESC_CXL, "a CXL memory window" },
};

static int axvm_pt_check_device(struct axvm_vm *vm,
				const struct axvm_pt_req *req)
{
	u64 start = req->hpa, end = req->hpa + req->len - 1;
	struct resource hit = {};
	unsigned int i;
	char why[96];

	if (region_intersects(start, req->len, IORESOURCE_SYSTEM_RAM,
			      IORES_DESC_NONE) != REGION_DISJOINT) {
		axvm_pt_refuse(vm, req, "intersects System RAM");
		return -EPERM;
	}
	for (i = 0; i < ARRAY_SIZE(axvm_pt_ram_descs); i++) {
		if (region_intersects(start, req->len, IORESOURCE_MEM,
				      axvm_pt_ram_descs[i].desc) ==
		    REGION_DISJOINT)
			continue;
		snprintf(why, sizeof(why), "intersects %s",
			 axvm_pt_ram_descs[i].what);
		axvm_pt_refuse(vm, req, why);
		return -EPERM;
	}
	if (walk_iomem_res_desc(IORES_DESC_RESERVED, IORESOURCE_MEM, start,
				end, &hit, axvm_pt_reserved_ram_cb) == 1) {
		snprintf(why, sizeof(why),
			 "intersects RAM reserved at boot [0x%llx-0x%llx] (use AXVM_PT_RESERVED_MEM)",
			 (u64)hit.start, (u64)hit.end);
		axvm_pt_refuse(vm, req, why);
		return -EPERM;
	}
	if (region_intersects(start, req->len,
			      IORESOURCE_MEM | IORESOURCE_EXCLUSIVE,
			      IORES_DESC_NONE) != REGION_DISJOINT) {
		axvm_pt_refuse(vm, req,
			       "intersects a resource a driver claimed exclusively");
		return -EPERM;
	}
	return 0;
}

static int axvm_pt_check_reserved(struct axvm_vm *vm,
				  const struct axvm_pt_req *req)
{
	u64 start = req->hpa, end = req->hpa + req->len - 1;
	struct axvm_pt_cover cover = { .next = start };

	if (region_intersects(start, req->len, IORESOURCE_SYSTEM_RAM,
			      IORES_DESC_NONE) != REGION_DISJOINT) {
		axvm_pt_refuse(vm, req, "intersects System RAM");
		return -EPERM;
	}
	walk_iomem_res_desc(IORES_DESC_RESERVED, IORESOURCE_MEM, start, end,
			    &cover, axvm_pt_cover_cb);
	if (cover.gap || cover.next <= end) {
		axvm_pt_refuse(vm, req,
			       "not wholly inside a \"Reserved\" range of /proc/iomem (e.g. memmap=16M$0x30000000)");
		return -EPERM;
	}
	if (region_intersects(start, req->len,
			      IORESOURCE_MEM | IORESOURCE_BUSY,
			      IORES_DESC_NONE) != REGION_DISJOINT) {
		axvm_pt_refuse(vm, req, "in use by a host driver");
		return -EPERM;
	}
	if (!axvm_pt_firmware_ram_all(start, end)) {
		axvm_pt_refuse(vm, req,
			       "not RAM in the firmware's memory map (a firmware hole, not a carve-out)");
		return -EPERM;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The map: vm->passthrough under vm->mmu_lock                         */
/* ------------------------------------------------------------------ */

static unsigned int axvm_pt_count(struct axvm_vm *vm)
{
	struct axvm_passthrough_range *r;
	unsigned int n = 0;

	list_for_each_entry(r, &vm->passthrough, node)
		n++;
	return n;
}

bool axvm_passthrough_overlaps(struct axvm_vm *vm, u64 gpa, u64 size)
{
	struct axvm_passthrough_range *r;

	lockdep_assert_held(&vm->mmu_lock);
	list_for_each_entry(r, &vm->passthrough, node) {
		if (r->gpa >= gpa + size)
			break;
		if (gpa < axvm_pt_end(r))
			return true;
	}
	return false;
}

/*
 * A nested page fault at gpa, which is not in a memory region. -ENOENT:
 * not passthrough either (MMIO). -EPERM: an instruction fetch from a
 * device range (mapped no-execute). 0: the range is mapped (the fault
 * raced with ADD_PASSTHROUGH): enter the guest again.
 */
int axvm_passthrough_npf(struct axvm_vm *vm, u64 gpa, u32 access)
{
	struct axvm_passthrough_range *r;

	lockdep_assert_held(&vm->mmu_lock);
	list_for_each_entry(r, &vm->passthrough, node) {
		if (r->gpa > gpa)
			break;
		if (gpa >= axvm_pt_end(r))
			continue;
		if ((access & AXVM_NPF_FETCH) &&
		    !(r->flags & AXVM_PT_RESERVED_MEM))
			return -EPERM;
		return 0;
	}
	return -ENOENT;
}

/*
 * Maps the pages of [gpa, end) that no range from first on covers yet:
 * the ranges that overlap it have the same delta, so the pages they
 * cover are mapped to the right frames already. first may be the list
 * head itself when no range is near. On failure *done is where mapping
 * stopped.
 */
static int axvm_pt_map_gaps(struct axvm_vm *vm,
			    struct axvm_passthrough_range *first,
			    const struct axvm_pt_req *req, u64 *done)
{
	struct axvm_passthrough_range *r = first;
	u64 end = req->gpa + req->len, delta = axvm_pt_delta(req->gpa, req->hpa);
	u32 mflags = axvm_pt_map_flags(req->flags);
	u64 gpa = req->gpa;
	int ret = 0;

	while (gpa < end) {
		/* Skip what an existing range covers. */
		while (!list_entry_is_head(r, &vm->passthrough, node) &&
		       axvm_pt_end(r) <= gpa)
			r = list_next_entry(r, node);
		if (!list_entry_is_head(r, &vm->passthrough, node) &&
		    r->gpa <= gpa) {
			gpa = axvm_pt_end(r);
			continue;
		}
		ret = axvm_arch->map_page(vm, gpa, (gpa + delta) >> PAGE_SHIFT,
					  mflags);
		if (ret)
			break;
		gpa += PAGE_SIZE;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		cond_resched();
	}
	*done = gpa;
	return ret;
}

/* Undoes axvm_pt_map_gaps() up to done. */
static void axvm_pt_unmap_gaps(struct axvm_vm *vm,
			       struct axvm_passthrough_range *first,
			       u64 start, u64 done)
{
	struct axvm_passthrough_range *r = first;
	u64 gpa = start;

	while (gpa < done) {
		u64 stop = done;

		while (!list_entry_is_head(r, &vm->passthrough, node) &&
		       axvm_pt_end(r) <= gpa)
			r = list_next_entry(r, node);
		if (!list_entry_is_head(r, &vm->passthrough, node)) {
			if (r->gpa <= gpa) {
				gpa = axvm_pt_end(r);
				continue;
			}
			stop = min(stop, r->gpa);
		}
		axvm_arch->unmap_range(vm, gpa, stop - gpa);
		gpa = stop;
	}
}

/*
 * Inserts req into the map, merging (the seed's sort + fold, but only
 * where the mapping stays linear and the flags agree). nr is a
 * preallocated range, consumed (return 1) or not (return 0); -errno.
 */
static int axvm_pt_insert(struct axvm_vm *vm, const struct axvm_pt_req *req,
			  struct axvm_passthrough_range *nr, u64 name_seq)
{
	u64 start = req->gpa, end = req->gpa + req->len;
	u64 delta = axvm_pt_delta(req->gpa, req->hpa);
	struct axvm_passthrough_range *r, *tmp, *first = NULL, *keep;
	unsigned int merging = 0;
	u64 done;
	int ret;

	lockdep_assert_held(&vm->mmu_lock);
	/* vm->lock is held too (the ioctl takes it first): the bus is stable. */
	if (!axvm_range_is_free_of_regions(vm, start, req->len) ||
	    axvm_bus_overlaps(vm, AXVM_DEV_SPACE_MMIO, start, req->len)) {
		axvm_err_ratelimited("VM %u: ADD_PASSTHROUGH GPA [0x%llx-0x%llx] overlaps a memory region or MMIO device\n",
				     vm->id, start, end - 1);
		return -EEXIST;
	}
	/* Ranges that overlap or touch the new one: a run of the list. */
	list_for_each_entry(r, &vm->passthrough, node) {
		bool linear = axvm_pt_delta(r->gpa, r->hpa) == delta &&
			      r->flags == req->flags;

		if (axvm_pt_end(r) < start)
			continue;
		if (r->gpa > end)
			break;
		if (!first)
			first = r;
		if (linear) {
			merging++;
			continue;
		}
		if (axvm_pt_end(r) == start || r->gpa == end)
			continue;	/* touches only: stays separate */
		axvm_err_ratelimited("VM %u: ADD_PASSTHROUGH GPA [0x%llx-0x%llx] -> HPA 0x%llx (%s) overlaps [0x%llx-0x%llx] -> HPA 0x%llx (%s)\n",
				     vm->id, start, end - 1, req->hpa,
				     axvm_pt_kind(req->flags), r->gpa,
				     axvm_pt_end(r) - 1, r->hpa,
				     axvm_pt_kind(r->flags));
		return -EEXIST;
	}
	if (!merging && axvm_pt_count(vm) >= AXVM_PT_MAX_RANGES) {
		axvm_err_ratelimited("VM %u: ADD_PASSTHROUGH: already %u ranges\n",
				     vm->id, AXVM_PT_MAX_RANGES);
		return -ENOSPC;
	}

	/* No neighbour: walk from the list head (an empty run). */
	if (!first)
		first = list_entry(&vm->passthrough,
				   struct axvm_passthrough_range, node);
	ret = axvm_pt_map_gaps(vm, first, req, &done);
	if (ret) {
		axvm_pt_unmap_gaps(vm, first, start, done);
		return ret;
	}

	if (!merging) {
		nr->gpa = start;
		nr->hpa = req->hpa;
		nr->len = req->len;
		nr->flags = req->flags;
		nr->name_seq = name_seq;
		memcpy(nr->name, req->name, sizeof(nr->name));
		/* Before the first range that starts after it. */
		list_for_each_entry(r, &vm->passthrough, node)
			if (r->gpa > start)
				break;
		list_add_tail(&nr->node, &r->node);
		return 1;
	}

	/* Fold every linear neighbour into the lowest one. */
	keep = NULL;
	r = first;
	list_for_each_entry_safe_from(r, tmp, &vm->passthrough, node) {
		if (r->gpa > end)
			break;
		if (axvm_pt_end(r) < start ||
		    axvm_pt_delta(r->gpa, r->hpa) != delta ||
		    r->flags != req->flags)
			continue;
		if (!keep) {
			keep = r;
			continue;
		}
		keep->len = max(axvm_pt_end(keep), axvm_pt_end(r)) - keep->gpa;
		if (r->name_seq < keep->name_seq) {
			keep->name_seq = r->name_seq;
			memcpy(keep->name, r->name, sizeof(keep->name));
		}
		list_del(&r->node);
		kfree(r);
	}
	if (start < keep->gpa) {
		keep->len += keep->gpa - start;
		keep->gpa = start;
		keep->hpa = req->hpa;
	}
	keep->len = max(axvm_pt_end(keep), end) - keep->gpa;
	if (name_seq < keep->name_seq) {
		keep->name_seq = name_seq;
		memcpy(keep->name, req->name, sizeof(keep->name));
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* ioctls                                                              */
/* ------------------------------------------------------------------ */

/* ADD and REMOVE are refused once the VM is stopping or stopped. */
static int axvm_pt_check_state(struct axvm_vm *vm, const char *op)
{
	lockdep_assert_held(&vm->lock);
	switch (vm->state) {
	case AXVM_VM_LOADING:
	case AXVM_VM_LOADED:
	case AXVM_VM_RUNNING:
	case AXVM_VM_SUSPENDED:
		return 0;
	default:
		axvm_err_ratelimited("VM %u: %s: the VM is stopping or stopped\n",
				     vm->id, op);
		return -EBUSY;
	}
}

static int axvm_pt_check_cap(const char *op)
{
	if (capable(CAP_SYS_RAWIO))
		return 0;
	axvm_err_ratelimited("%s: needs CAP_SYS_RAWIO\n", op);
	return -EPERM;
}

long axvm_vm_ioctl_add_passthrough(struct axvm_vm *vm,
				   struct axvm_passthrough __user *u)
{
	struct axvm_passthrough_range *nr;
	struct axvm_passthrough args;
	struct axvm_pt_req req;
	u64 name_seq;
	int ret;

	ret = axvm_pt_check_cap("ADD_PASSTHROUGH");
	if (ret)
		return ret;
	ret = axvm_copy_args(&args, sizeof(args), u);
	if (ret)
		return ret;
	ret = axvm_pt_parse_add(vm, &args, &req);
	if (ret)
		return ret;
	ret = req.flags & AXVM_PT_RESERVED_MEM ?
	      axvm_pt_check_reserved(vm, &req) :
	      axvm_pt_check_device(vm, &req);
	if (ret)
		return ret;

	nr = kzalloc(sizeof(*nr), GFP_KERNEL_ACCOUNT);
	if (!nr)
		return -ENOMEM;
	name_seq = req.name[0] ? atomic64_inc_return(&axvm_pt_name_seq) :
				 AXVM_PT_NO_NAME;

	mutex_lock(&vm->lock);
	ret = axvm_pt_check_state(vm, "ADD_PASSTHROUGH");
	if (!ret) {
		mutex_lock(&vm->mmu_lock);
		ret = axvm_pt_insert(vm, &req, nr, name_seq);
		mutex_unlock(&vm->mmu_lock);
	}
	mutex_unlock(&vm->lock);
	if (ret <= 0)
		kfree(nr);
	return ret < 0 ? ret : 0;
}

long axvm_vm_ioctl_remove_passthrough(struct axvm_vm *vm,
				      struct axvm_passthrough __user *u)
{
	static const char op[] = "REMOVE_PASSTHROUGH";
	struct axvm_passthrough_range *r, *tmp, *split;
	struct axvm_passthrough args;
	u64 start, len, end;
	bool found = false;
	int ret;

	ret = axvm_pt_check_cap(op);
	if (ret)
		return ret;
	ret = axvm_copy_args(&args, sizeof(args), u);
	if (ret)
		return ret;
	if (args.flags || args.hpa || !axvm_mem_is_zero(args.name,
							 sizeof(args.name)) ||
	    !axvm_mem_is_zero(args.reserved, sizeof(args.reserved))) {
		axvm_err_ratelimited("%s: only gpa and len may be set\n", op);
		return -EINVAL;
	}
	ret = axvm_pt_check_gpa(vm, op, &args, &start, &len);
	if (ret)
		return ret;
	end = start + len;

	split = kzalloc(sizeof(*split), GFP_KERNEL_ACCOUNT);
	if (!split)
		return -ENOMEM;
	mutex_lock(&vm->lock);
	ret = axvm_pt_check_state(vm, op);
	if (ret)
		goto out_unlock;
	mutex_lock(&vm->mmu_lock);
	list_for_each_entry(r, &vm->passthrough, node) {
		if (r->gpa >= end)
			break;
		if (axvm_pt_end(r) <= start)
			continue;
		found = true;
		/* A hole in the middle needs one more range. */
		if (r->gpa < start && axvm_pt_end(r) > end &&
		    axvm_pt_count(vm) >= AXVM_PT_MAX_RANGES) {
			axvm_err_ratelimited("VM %u: %s: splitting would exceed %u ranges\n",
					     vm->id, op, AXVM_PT_MAX_RANGES);
			ret = -ENOSPC;
		}
	}
	if (!ret && !found) {
		axvm_err_ratelimited("VM %u: %s: nothing mapped in GPA [0x%llx-0x%llx]\n",
				     vm->id, op, start, end - 1);
		ret = -ENOENT;
	}
	if (ret)
		goto out_mmu_unlock;

	list_for_each_entry_safe(r, tmp, &vm->passthrough, node) {
		u64 rend = axvm_pt_end(r);
		u64 cut_start = max(start, r->gpa), cut_end = min(end, rend);

		if (r->gpa >= end)
			break;
		if (rend <= start)
			continue;
		/* Unmap (and flush) before the list forgets the pages. */
		axvm_arch->unmap_range(vm, cut_start, cut_end - cut_start);
		if (r->gpa < start && rend > end) {
			*split = *r;
			split->gpa = end;
			split->hpa = r->hpa + (end - r->gpa);
			split->len = rend - end;
			list_add(&split->node, &r->node);
			split = NULL;
			r->len = start - r->gpa;
		} else if (r->gpa < start) {
			r->len = start - r->gpa;
		} else if (rend > end) {
			r->hpa += end - r->gpa;
			r->len = rend - end;
			r->gpa = end;
		} else {
			list_del(&r->node);
			kfree(r);
		}
	}
out_mmu_unlock:
	mutex_unlock(&vm->mmu_lock);
out_unlock:
	mutex_unlock(&vm->lock);
	kfree(split);
	return ret;
}

long axvm_vm_ioctl_get_passthrough_map(struct axvm_vm *vm,
				       struct axvm_passthrough_map __user *u)
{
	struct axvm_passthrough_entry *ents = NULL;
	struct axvm_passthrough_range *r;
	struct axvm_passthrough_map args;
	/* Host physical addresses are for the privileged, as in /proc/iomem. */
	bool show_hpa = ns_capable_noaudit(&init_user_ns, CAP_SYS_RAWIO);
	unsigned int n = 0;
	int ret;

	ret = axvm_copy_args(&args, sizeof(args), u);
	if (ret)
		return ret;
	if (args.flags || args.reserved0 ||
	    !axvm_mem_is_zero(args.reserved, sizeof(args.reserved))) {
		axvm_err_ratelimited("GET_PASSTHROUGH_MAP: flags/reserved must be 0\n");
		return -EINVAL;
	}
	/*
	 * A snapshot under the lock, copied out after it: the user buffer
	 * may be an mmap() of this VM, whose fault handler takes mmu_lock.
	 */
	ents = kcalloc(AXVM_PT_MAX_RANGES, sizeof(*ents), GFP_KERNEL_ACCOUNT);
	if (!ents)
		return -ENOMEM;
	mutex_lock(&vm->mmu_lock);
	list_for_each_entry(r, &vm->passthrough, node) {
		struct axvm_passthrough_entry *e = &ents[n];

		if (n == AXVM_PT_MAX_RANGES)	/* cannot happen: capped */
			break;
		e->gpa = r->gpa;
		e->hpa = show_hpa ? r->hpa : 0;
		e->len = r->len;
		e->flags = r->flags |
			   (r->gpa == r->hpa ? AXVM_PT_IDENTITY : 0);
		memcpy(e->name, r->name, sizeof(e->name));
		n++;
	}
	mutex_unlock(&vm->mmu_lock);

	ret = axvm_copy_list_out(u, &args, sizeof(args), &args.nr_entries,
				 args.entries, ents, n, sizeof(*ents));
	kfree(ents);
	return ret;
}

void axvm_passthrough_free(struct axvm_vm *vm)
{
	struct axvm_passthrough_range *r, *tmp;

	/* The VM is unreachable; the nested tables go right after this. */
	list_for_each_entry_safe(r, tmp, &vm->passthrough, node) {
		list_del(&r->node);
		kfree(r);
	}
}
