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

/*
 * The GDT of Linux's 64-bit boot protocol (Documentation/x86/boot.rst,
 * "64-bit Boot Protocol"): __BOOT_CS (0x10) a flat execute/read 64-bit
 * code segment, __BOOT_DS (0x18) a flat read/write data segment; 0 and
 * 0x08 stay null.
 */
void axvm_x86_boot_gdt(uint64_t gdt[AXVM_X86_BOOT_GDT_ENTRIES])
{
	memset(gdt, 0, AXVM_X86_BOOT_GDT_SIZE);
	gdt[AXVM_X86_BOOT_CS / 8] = gdt_descriptor(0, LIMIT_4G, ATTR_CODE64);
	gdt[AXVM_X86_BOOT_DS / 8] = gdt_descriptor(0, LIMIT_4G, ATTR_DATA32);
}

void axvm_x86_default_layout(struct axvm_x86_layout *layout)
{
	layout->gdt_gpa = AXVM_X86_DEFAULT_GDT;
	layout->pml4_gpa = AXVM_X86_DEFAULT_PML4;
	layout->identity_map_size = AXVM_X86_DEFAULT_IDENTITY_MAP;
}

/* The map is in whole 2 MiB pages. */
static uint64_t round_to_2m(uint64_t size)
{
	return (size + SIZE_2M - 1) & ~(SIZE_2M - 1);
}

/* identity_map_size 0 means the default. */
static uint64_t identity_map_bytes(const struct axvm_x86_layout *layout)
{
	uint64_t size = layout->identity_map_size;

	if (!size)
		size = AXVM_X86_DEFAULT_IDENTITY_MAP;
	return round_to_2m(size);
}

static unsigned int page_directories(uint64_t map_bytes)
{
	return (unsigned int)((map_bytes + SIZE_1G - 1) / SIZE_1G);
}

/* PML4 + PDPT + one page directory per GiB mapped. */
uint64_t axvm_x86_identity_map_tables_size(uint64_t map_size)
{
	return (2 + page_directories(round_to_2m(map_size))) * AXVM_PAGE_SIZE;
}

uint64_t axvm_x86_page_tables_size(const struct axvm_x86_layout *layout)
{
	return axvm_x86_identity_map_tables_size(identity_map_bytes(layout));
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

/* Fills one page of entries: entry i = first + i * step | flags, for
 * i < count; the rest of the page is zero (not present). */
static void fill_table(uint64_t *table, uint64_t first, uint64_t step,
		       unsigned int count, uint64_t flags)
{
	unsigned int i;

	memset(table, 0, AXVM_PAGE_SIZE);
	for (i = 0; i < count && i < ENTRIES_PER_TABLE; i++)
		table[i] = (first + i * step) | flags;
}

/*
 * Identity map [0, map_size) with 2 MiB pages: PML4 at gpa, then the
 * PDPT, then one page directory per GiB (AMD64 APM vol. 2, 5.3 "Long-Mode
 * Page Translation", 2-Mbyte pages). buf holds
 * axvm_x86_identity_map_tables_size(map_size) bytes and is what the
 * guest will see at gpa.
 */
int axvm_x86_build_identity_map(void *buf, uint64_t gpa, uint64_t map_size)
{
	uint64_t map_bytes = round_to_2m(map_size);
	uint64_t large_pages_left = map_bytes / SIZE_2M;
	unsigned int nr_pd = page_directories(map_bytes);
	uint64_t *pml4 = buf;
	uint64_t *pdpt = pml4 + ENTRIES_PER_TABLE;
	uint64_t pdpt_gpa = gpa + AXVM_PAGE_SIZE;
	uint64_t pd0_gpa = pdpt_gpa + AXVM_PAGE_SIZE;
	unsigned int i;

	if (gpa % AXVM_PAGE_SIZE || !map_size ||
	    map_size > AXVM_X86_MAX_IDENTITY_MAP)
		return -EINVAL;
	fill_table(pml4, pdpt_gpa, 0, 1, PTE_TABLE);
	fill_table(pdpt, pd0_gpa, AXVM_PAGE_SIZE, nr_pd, PTE_TABLE);
	for (i = 0; i < nr_pd; i++) {
		unsigned int count = large_pages_left < ENTRIES_PER_TABLE ?
				     (unsigned int)large_pages_left :
				     ENTRIES_PER_TABLE;

		fill_table(pdpt + (i + 1) * ENTRIES_PER_TABLE, i * SIZE_1G,
			   SIZE_2M, count, PTE_LARGE);
		large_pages_left -= count;
	}
	return 0;
}

/* The tables of at most 4 GiB: PML4, PDPT and 4 page directories. */
#define MAX_TABLE_PAGES		6

static int write_identity_map(struct axvm_vm *vm,
			      const struct axvm_x86_layout *layout)
{
	uint64_t tables[MAX_TABLE_PAGES * ENTRIES_PER_TABLE];	/* 24 KiB */
	uint64_t size = identity_map_bytes(layout);
	int ret;

	ret = axvm_x86_build_identity_map(tables, layout->pml4_gpa, size);
	if (ret)
		return ret;
	return axvm_vm_write(vm, layout->pml4_gpa, tables,
			     axvm_x86_identity_map_tables_size(size));
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

/* Flat segments from a GDT of gdt_size bytes at gdt_gpa, TR and LDTR
 * valid but empty since the hardware insists on them. */
static void setup_flat(struct axvm_sregs *sregs, uint64_t gdt_gpa,
		       uint32_t gdt_size, uint16_t cs_sel, uint16_t cs_attrib,
		       uint16_t ds_sel)
{
	struct axvm_segment data = segment(ds_sel, 0, LIMIT_4G, ATTR_DATA32);

	sregs->cs = segment(cs_sel, 0, LIMIT_4G, cs_attrib);
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	sregs->tr = segment(0, 0, LIMIT_TSS, ATTR_TSS_BUSY);
	sregs->ldtr = segment(0, 0, LIMIT_64K, ATTR_LDT);
	sregs->gdt.base = gdt_gpa;
	sregs->gdt.limit = gdt_size - 1;
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

	setup_flat(sregs, layout->gdt_gpa, AXVM_X86_GDT_SIZE,
		   AXVM_X86_SEL_CODE32, ATTR_CODE32, AXVM_X86_SEL_DATA);
	sregs->cr0 = X86_CR0_PE | X86_CR0_ET;
	sregs->cr4 = X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
	regs->rip = entry;
	regs->rsp = stack & LIMIT_4G;	/* 4 GiB wraps to 0, like SP above */
	return write_gdt(vm, layout->gdt_gpa);
}

/* 64-bit mode with paging on: CR0, CR4 and EFER as Linux runs. */
static void long_mode_controls(struct axvm_sregs *sregs, uint64_t cr3)
{
	/* 0x80050033, Linux's value; AM only matters at CPL 3 with AC. */
	sregs->cr0 = X86_CR0_PG | X86_CR0_AM | X86_CR0_WP | X86_CR0_NE |
		     X86_CR0_ET | X86_CR0_MP | X86_CR0_PE;
	sregs->cr3 = cr3;
	sregs->cr4 = X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
	sregs->efer = X86_EFER_LME | X86_EFER_LMA;
}

/* 64-bit mode, paging on, [0, identity_map_size) identity-mapped. */
static int setup_long(struct axvm_vm *vm, struct axvm_sregs *sregs,
		      struct axvm_regs *regs, uint64_t entry, uint64_t stack,
		      const struct axvm_x86_layout *layout)
{
	int ret;

	setup_flat(sregs, layout->gdt_gpa, AXVM_X86_GDT_SIZE,
		   AXVM_X86_SEL_CODE64, ATTR_CODE64, AXVM_X86_SEL_DATA);
	long_mode_controls(sregs, layout->pml4_gpa);
	regs->rip = entry;
	regs->rsp = stack;

	ret = write_gdt(vm, layout->gdt_gpa);
	if (ret)
		return ret;
	return write_identity_map(vm, layout);
}

/*
 * 64-bit entry with a GDT and page tables the caller already put in
 * guest memory, e.g. axvm_x86_boot_gdt() and
 * axvm_x86_build_identity_map() for Linux's 64-bit boot protocol.
 */
int axvm_x86_setup_long_entry(struct axvm_vcpu *vcpu,
			      const struct axvm_x86_long_entry *e)
{
	struct axvm_sregs sregs;
	struct axvm_regs regs;
	int ret;

	if (e->gdt_size < 8 || e->gdt_size > 0x10000 || e->gdt_gpa % 8 ||
	    e->cr3 % AXVM_PAGE_SIZE || e->cs % 8 || e->ds % 8 ||
	    e->cs >= e->gdt_size || e->ds >= e->gdt_size || !e->cs || !e->ds)
		return -EINVAL;
	memset(&sregs, 0, sizeof(sregs));
	memset(&regs, 0, sizeof(regs));
	setup_flat(&sregs, e->gdt_gpa, e->gdt_size, e->cs, ATTR_CODE64, e->ds);
	long_mode_controls(&sregs, e->cr3);
	regs.rflags = X86_RFLAGS_FIXED;	/* IF clear */
	regs.rip = e->rip;
	regs.rsp = e->rsp;
	regs.rsi = e->rsi;
	ret = axvm_vcpu_set_sregs(vcpu, &sregs);
	if (ret)
		return ret;
	return axvm_vcpu_set_regs(vcpu, &regs);
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
