// SPDX-License-Identifier: GPL-2.0
/*
 * libaxvm: putting an x86 vCPU in real, protected or long mode.
 *
 * The vCPU state is built from scratch (not read back from the kernel)
 * so a guest starts the same way whatever the module's reset state is.
 * Segment attributes use the uapi's 12-bit SVM layout (AXVM_SEG_*).
 * GDT and page tables are written with AXVM_WRITE_GUEST, so the caller
 * needs no mapping of guest memory.
 */
#include <errno.h>
#include <string.h>

#include "libaxvm.h"

#define X86_CR0_PE		(1ULL << 0)
#define X86_CR0_MP		(1ULL << 1)
#define X86_CR0_ET		(1ULL << 4)
#define X86_CR0_NE		(1ULL << 5)
#define X86_CR0_WP		(1ULL << 16)
#define X86_CR0_AM		(1ULL << 18)
#define X86_CR0_PG		(1ULL << 31)

#define X86_CR4_PAE		(1ULL << 5)
#define X86_CR4_OSFXSR		(1ULL << 9)
#define X86_CR4_OSXMMEXCPT	(1ULL << 10)

#define X86_EFER_LME		(1ULL << 8)
#define X86_EFER_LMA		(1ULL << 10)

#define X86_RFLAGS_FIXED	(1ULL << 1)	/* bit 1 always reads 1 */

/* Page-table entry bits. A and D are preset so the CPU never has to
 * write back to the tables while walking them. */
#define PTE_P			(1ULL << 0)
#define PTE_RW			(1ULL << 1)
#define PTE_A			(1ULL << 5)
#define PTE_D			(1ULL << 6)
#define PTE_PS			(1ULL << 7)
#define PTE_TABLE		(PTE_P | PTE_RW | PTE_A)
#define PTE_LARGE		(PTE_P | PTE_RW | PTE_A | PTE_D | PTE_PS)

#define SIZE_2M			(1ULL << 21)
#define SIZE_1G			(1ULL << 30)
#define ENTRIES_PER_TABLE	512

/* Segment types (attrib bits 0-3); "accessed" is preset in all of them
 * so the CPU never writes to the GDT when a selector is loaded. */
#define SEG_TYPE_DATA_RW	0x3	/* read/write, accessed */
#define SEG_TYPE_CODE_XR	0xb	/* execute/read, accessed */
#define SEG_TYPE_LDT		0x2
#define SEG_TYPE_TSS_BUSY	0xb	/* busy 32/64-bit TSS */

#define ATTR_CODE16	(AXVM_SEG_P | AXVM_SEG_S | AXVM_SEG_TYPE(SEG_TYPE_CODE_XR))
#define ATTR_DATA16	(AXVM_SEG_P | AXVM_SEG_S | AXVM_SEG_TYPE(SEG_TYPE_DATA_RW))
#define ATTR_CODE32	(ATTR_CODE16 | AXVM_SEG_DB | AXVM_SEG_G)	/* 0xc9b */
#define ATTR_DATA32	(ATTR_DATA16 | AXVM_SEG_DB | AXVM_SEG_G)	/* 0xc93 */
/* L without DB; G keeps limit 0xffffffff consistent for VMX's checks. */
#define ATTR_CODE64	(ATTR_CODE16 | AXVM_SEG_L | AXVM_SEG_G)		/* 0xa9b */
#define ATTR_TSS_BUSY	(AXVM_SEG_P | AXVM_SEG_TYPE(SEG_TYPE_TSS_BUSY))	/* 0x8b */
#define ATTR_LDT	(AXVM_SEG_P | AXVM_SEG_TYPE(SEG_TYPE_LDT))	/* 0x82 */

#define LIMIT_64K	0xffffU
#define LIMIT_4G	0xffffffffU
#define LIMIT_TSS	0x67U		/* smallest valid 32/64-bit TSS */
#define LIMIT_REAL_IVT	0x3ffU		/* 256 vectors * 4 bytes */

static struct axvm_segment segment(uint16_t selector, uint64_t base,
				   uint32_t limit, uint16_t attrib)
{
	struct axvm_segment seg = {
		.base = base, .limit = limit,
		.selector = selector, .attrib = attrib,
	};

	return seg;
}

/*
 * A GDT descriptor built from the same attrib value as the hidden
 * segment state, so what the guest reloads is what it started with:
 * attrib bits 0-7 are descriptor bits 40-47, bits 8-11 are 52-55.
 */
static uint64_t gdt_descriptor(uint32_t base, uint32_t limit, uint16_t attrib)
{
	uint32_t limit_field = (attrib & AXVM_SEG_G) ? limit >> 12 : limit;

	return (uint64_t)(limit_field & 0xffff) |
	       (uint64_t)(base & 0xffffff) << 16 |
	       (uint64_t)(attrib & 0xff) << 40 |
	       (uint64_t)((limit_field >> 16) & 0xf) << 48 |
	       (uint64_t)((attrib >> 8) & 0xf) << 52 |
	       (uint64_t)(base >> 24) << 56;
}

static int write_gdt(struct axvm_vm *vm, uint64_t gdt_gpa)
{
	uint64_t gdt[AXVM_X86_GDT_ENTRIES] = {
		[AXVM_X86_SEL_CODE64 / 8] = gdt_descriptor(0, LIMIT_4G, ATTR_CODE64),
		[AXVM_X86_SEL_DATA / 8]   = gdt_descriptor(0, LIMIT_4G, ATTR_DATA32),
		[AXVM_X86_SEL_CODE32 / 8] = gdt_descriptor(0, LIMIT_4G, ATTR_CODE32),
	};

	return axvm_vm_write(vm, gdt_gpa, gdt, sizeof(gdt));
}

void axvm_x86_default_layout(struct axvm_x86_layout *layout)
{
	layout->gdt_gpa = AXVM_X86_DEFAULT_GDT;
	layout->pml4_gpa = AXVM_X86_DEFAULT_PML4;
	layout->identity_map_size = AXVM_X86_DEFAULT_IDENTITY_MAP;
}

/* identity_map_size 0 means the default; the map is in whole 2 MiB pages. */
static uint64_t identity_map_bytes(const struct axvm_x86_layout *layout)
{
	uint64_t size = layout->identity_map_size;

	if (!size)
		size = AXVM_X86_DEFAULT_IDENTITY_MAP;
	return (size + SIZE_2M - 1) & ~(SIZE_2M - 1);
}

static unsigned int page_directories(const struct axvm_x86_layout *layout)
{
	return (unsigned int)((identity_map_bytes(layout) + SIZE_1G - 1) /
			      SIZE_1G);
}

/* PML4 + PDPT + one page directory per GiB mapped. */
uint64_t axvm_x86_page_tables_size(const struct axvm_x86_layout *layout)
{
	return (2 + page_directories(layout)) * AXVM_PAGE_SIZE;
}

static int ranges_overlap(uint64_t a, uint64_t a_len, uint64_t b,
			  uint64_t b_len)
{
	return a < b + b_len && b < a + a_len;
}

static int check_layout(const struct axvm_x86_layout *layout,
			enum axvm_cpu_mode mode)
{
	if (layout->gdt_gpa % 8)
		return -EINVAL;
	if (mode != AXVM_MODE_LONG)
		return 0;
	if (layout->pml4_gpa % AXVM_PAGE_SIZE)
		return -EINVAL;
	if (layout->identity_map_size > AXVM_X86_MAX_IDENTITY_MAP)
		return -EINVAL;
	if (ranges_overlap(layout->gdt_gpa, AXVM_X86_GDT_SIZE,
			   layout->pml4_gpa, axvm_x86_page_tables_size(layout)))
		return -EINVAL;
	return 0;
}

/* Writes one page of entries: entry i = first + i * step | flags, for
 * i < count; the rest of the page is zero (not present). */
static int write_table(struct axvm_vm *vm, uint64_t gpa, uint64_t first,
		       uint64_t step, unsigned int count, uint64_t flags)
{
	uint64_t table[ENTRIES_PER_TABLE];
	unsigned int i;

	memset(table, 0, sizeof(table));
	for (i = 0; i < count && i < ENTRIES_PER_TABLE; i++)
		table[i] = (first + i * step) | flags;
	return axvm_vm_write(vm, gpa, table, sizeof(table));
}

/* Identity map [0, identity_map_bytes) with 2 MiB pages. */
static int write_identity_map(struct axvm_vm *vm,
			      const struct axvm_x86_layout *layout)
{
	uint64_t pml4 = layout->pml4_gpa;
	uint64_t pdpt = pml4 + AXVM_PAGE_SIZE;
	uint64_t pd0 = pdpt + AXVM_PAGE_SIZE;
	uint64_t large_pages_left = identity_map_bytes(layout) / SIZE_2M;
	unsigned int nr_pd = page_directories(layout);
	unsigned int i;
	int ret;

	ret = write_table(vm, pml4, pdpt, 0, 1, PTE_TABLE);
	if (ret)
		return ret;
	ret = write_table(vm, pdpt, pd0, AXVM_PAGE_SIZE, nr_pd, PTE_TABLE);
	if (ret)
		return ret;
	for (i = 0; i < nr_pd; i++) {
		unsigned int count = large_pages_left < ENTRIES_PER_TABLE ?
				     (unsigned int)large_pages_left :
				     ENTRIES_PER_TABLE;

		ret = write_table(vm, pd0 + i * AXVM_PAGE_SIZE, i * SIZE_1G,
				  SIZE_2M, count, PTE_LARGE);
		if (ret)
			return ret;
		large_pages_left -= count;
	}
	return 0;
}

/*
 * Real mode. CS:IP from entry (CS = entry >> 4 & 0xf000). SS:SP is
 * chosen the same way from the stack top so any stack below 1 MiB
 * works: SP = 0 with SS base 0xf0000 means "top of 1 MiB", since the
 * first push wraps SP to 0xfffe. Data segments start at 0.
 */
static int setup_real(struct axvm_sregs *sregs, struct axvm_regs *regs,
		      uint64_t entry, uint64_t stack)
{
	uint16_t cs_sel = (entry >> 4) & 0xf000;
	uint16_t ss_sel = stack ? ((stack - 1) >> 4) & 0xf000 : 0;
	struct axvm_segment data = segment(0, 0, LIMIT_64K, ATTR_DATA16);

	if (entry >= AXVM_X86_REAL_MODE_LIMIT || stack > AXVM_X86_REAL_MODE_LIMIT)
		return -EINVAL;

	sregs->cs = segment(cs_sel, (uint64_t)cs_sel << 4, LIMIT_64K, ATTR_CODE16);
	sregs->ds = sregs->es = sregs->fs = sregs->gs = data;
	sregs->ss = segment(ss_sel, (uint64_t)ss_sel << 4, LIMIT_64K, ATTR_DATA16);
	sregs->tr = segment(0, 0, LIMIT_64K, ATTR_TSS_BUSY);
	sregs->ldtr = segment(0, 0, LIMIT_64K, ATTR_LDT);
	sregs->gdt.limit = LIMIT_64K;
	sregs->idt.limit = LIMIT_REAL_IVT;
	sregs->cr0 = X86_CR0_ET;

	regs->rip = entry - sregs->cs.base;
	regs->rsp = (stack - sregs->ss.base) & 0xffff;
	return 0;
}

/* Flat segments from the axvm GDT (AXVM_X86_SEL_*), TR and LDTR valid
 * but empty since the hardware insists on them. */
static void setup_flat(struct axvm_sregs *sregs, uint64_t gdt_gpa,
		       uint16_t cs_sel, uint16_t cs_attrib)
{
	struct axvm_segment data = segment(AXVM_X86_SEL_DATA, 0, LIMIT_4G,
					   ATTR_DATA32);

	sregs->cs = segment(cs_sel, 0, LIMIT_4G, cs_attrib);
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	sregs->tr = segment(0, 0, LIMIT_TSS, ATTR_TSS_BUSY);
	sregs->ldtr = segment(0, 0, LIMIT_64K, ATTR_LDT);
	sregs->gdt.base = gdt_gpa;
	sregs->gdt.limit = AXVM_X86_GDT_SIZE - 1;
	/* An empty IDT: any exception escalates to a triple fault, which
	 * the launcher reports instead of the guest running on silently. */
	sregs->idt.limit = 0;
}

/* 32-bit flat protected mode, no paging; SSE usable. */
static int setup_protected(struct axvm_vm *vm, struct axvm_sregs *sregs,
			   struct axvm_regs *regs, uint64_t entry,
			   uint64_t stack, const struct axvm_x86_layout *layout)
{
	if (entry > LIMIT_4G || stack > (1ULL << 32))
		return -EINVAL;

	setup_flat(sregs, layout->gdt_gpa, AXVM_X86_SEL_CODE32, ATTR_CODE32);
	sregs->cr0 = X86_CR0_PE | X86_CR0_ET;
	sregs->cr4 = X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
	regs->rip = entry;
	regs->rsp = stack & LIMIT_4G;	/* 4 GiB wraps to 0, like SP above */
	return write_gdt(vm, layout->gdt_gpa);
}

/* 64-bit mode, paging on, [0, identity_map_size) identity-mapped. */
static int setup_long(struct axvm_vm *vm, struct axvm_sregs *sregs,
		      struct axvm_regs *regs, uint64_t entry, uint64_t stack,
		      const struct axvm_x86_layout *layout)
{
	int ret;

	setup_flat(sregs, layout->gdt_gpa, AXVM_X86_SEL_CODE64, ATTR_CODE64);
	/* 0x80050033, Linux's value; AM only matters at CPL 3 with AC. */
	sregs->cr0 = X86_CR0_PG | X86_CR0_AM | X86_CR0_WP | X86_CR0_NE |
		     X86_CR0_ET | X86_CR0_MP | X86_CR0_PE;
	sregs->cr3 = layout->pml4_gpa;
	sregs->cr4 = X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
	sregs->efer = X86_EFER_LME | X86_EFER_LMA;
	regs->rip = entry;
	regs->rsp = stack;

	ret = write_gdt(vm, layout->gdt_gpa);
	if (ret)
		return ret;
	return write_identity_map(vm, layout);
}

int axvm_x86_setup_mode(struct axvm_vm *vm, struct axvm_vcpu *vcpu,
			enum axvm_cpu_mode mode, uint64_t entry,
			uint64_t stack, const struct axvm_x86_layout *layout)
{
	struct axvm_x86_layout default_layout;
	struct axvm_sregs sregs;
	struct axvm_regs regs;
	int ret;

	if (!layout) {
		axvm_x86_default_layout(&default_layout);
		layout = &default_layout;
	}
	ret = check_layout(layout, mode);
	if (ret)
		return ret;

	memset(&sregs, 0, sizeof(sregs));
	memset(&regs, 0, sizeof(regs));
	regs.rflags = X86_RFLAGS_FIXED;

	switch (mode) {
	case AXVM_MODE_REAL:
		ret = setup_real(&sregs, &regs, entry, stack);
		break;
	case AXVM_MODE_PROTECTED:
		ret = setup_protected(vm, &sregs, &regs, entry, stack, layout);
		break;
	case AXVM_MODE_LONG:
		ret = setup_long(vm, &sregs, &regs, entry, stack, layout);
		break;
	default:
		ret = -EINVAL;
	}
	if (ret)
		return ret;

	ret = axvm_vcpu_set_sregs(vcpu, &sregs);
	if (ret)
		return ret;
	return axvm_vcpu_set_regs(vcpu, &regs);
}
