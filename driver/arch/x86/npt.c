// SPDX-License-Identifier: GPL-2.0
/*
 * Nested page tables in the x86-64 page-table format (AMD NPT).
 *
 * The core calls in with vm->mmu_lock held. The hardware walks these
 * tables concurrently, so every entry is written with one WRITE_ONCE and
 * a new table is zeroed before it is linked.
 *
 * Permissions live in the leaf entries only: intermediate entries are
 * present, writable and user (every nested access counts as a user
 * access, APM vol. 2, 15.25.5). Memory types come from the host PAT
 * through PWT/PCD: index 0 (write-back) for RAM, PCD|PWT (uncached) for
 * device memory.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <asm/cpufeature.h>
#include <asm/io.h>
#include <linux/axvm.h>
#include "npt.h"

#define NPT_P		(1ULL << 0)
#define NPT_RW		(1ULL << 1)
#define NPT_US		(1ULL << 2)
#define NPT_PWT		(1ULL << 3)
#define NPT_PCD		(1ULL << 4)
#define NPT_NX		(1ULL << 63)
#define NPT_ADDR_MASK	0x000ffffffffff000ULL
#define NPT_TABLE	(NPT_P | NPT_RW | NPT_US)
#define NPT_ENTRIES	512

static unsigned int npt_index(u64 gpa, int level)
{
	return (gpa >> (PAGE_SHIFT + 9 * (level - 1))) & (NPT_ENTRIES - 1);
}

static u64 *npt_alloc_table(struct npt *npt)
{
	u64 *table = (u64 *)get_zeroed_page(GFP_KERNEL_ACCOUNT);

	if (table)
		npt->nr_tables++;
	return table;
}

int npt_init(struct npt *npt, int levels)
{
	npt->levels = levels;
	npt->nr_tables = 0;
	npt->root = npt_alloc_table(npt);
	return npt->root ? 0 : -ENOMEM;
}

static void npt_free_table(u64 *table, int level)
{
	unsigned int i;

	if (level > 1) {
		for (i = 0; i < NPT_ENTRIES; i++)
			if (table[i] & NPT_P)
				npt_free_table(__va(table[i] & NPT_ADDR_MASK),
					       level - 1);
	}
	free_page((unsigned long)table);
}

/* Frees the tables only: the pages they map belong to the regions. */
void npt_destroy(struct npt *npt)
{
	if (npt->root)
		npt_free_table(npt->root, npt->levels);
	npt->root = NULL;
}

u64 npt_root_pa(const struct npt *npt)
{
	return __pa(npt->root);
}

/* Returns the level-1 table covering gpa, creating tables if `create`. */
static u64 *npt_walk(struct npt *npt, u64 gpa, bool create)
{
	u64 *table = npt->root;
	int level;

	for (level = npt->levels; level > 1; level--) {
		u64 *entry = &table[npt_index(gpa, level)];
		u64 e = READ_ONCE(*entry);

		if (!(e & NPT_P)) {
			u64 *next;

			if (!create)
				return NULL;
			next = npt_alloc_table(npt);
			if (!next)
				return NULL;
			e = __pa(next) | NPT_TABLE;
			WRITE_ONCE(*entry, e);
		}
		table = __va(e & NPT_ADDR_MASK);
	}
	return table;
}

static u64 npt_leaf(u64 pfn, u32 flags)
{
	u64 pte = (pfn << PAGE_SHIFT) | NPT_P | NPT_US;

	if (flags & AXVM_MEM_WRITE)
		pte |= NPT_RW;
	if (!(flags & AXVM_MEM_EXEC) && boot_cpu_has(X86_FEATURE_NX))
		pte |= NPT_NX;
	if (flags & NPT_UNCACHED)
		pte |= NPT_PCD | NPT_PWT;
	return pte;
}

int npt_map_page(struct npt *npt, u64 gpa, u64 pfn, u32 flags)
{
	u64 *pt = npt_walk(npt, gpa, true);

	if (!pt)
		return -ENOMEM;
	WRITE_ONCE(pt[npt_index(gpa, 1)], npt_leaf(pfn, flags));
	return 0;
}

/*
 * Clears leaf entries; the caller flushes the guest TLBs afterwards.
 * A missing table skips the whole 2 MiB it would cover, so a huge,
 * mostly untouched range costs little; and it yields on the way.
 */
void npt_unmap_range(struct npt *npt, u64 gpa, u64 size)
{
	const u64 pt_span = (u64)NPT_ENTRIES << PAGE_SHIFT;
	u64 end = gpa + size;

	while (gpa < end) {
		u64 *pt = npt_walk(npt, gpa, false);
		u64 next = (gpa | (pt_span - 1)) + 1;

		for (; pt && gpa < end && gpa < next; gpa += PAGE_SIZE)
			WRITE_ONCE(pt[npt_index(gpa, 1)], 0);
		gpa = max(gpa, next);
		cond_resched();
	}
}
