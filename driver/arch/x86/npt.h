/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Nested page tables in the x86-64 long-mode format (AMD NPT).
 *
 * NPT walks use the host's paging mode (APM vol. 2, 15.25.3): a host
 * running with CR4.LA57 needs 5-level nested tables, otherwise 4.
 */
#ifndef AXVM_NPT_H
#define AXVM_NPT_H

#include <linux/types.h>

struct npt {
	u64 *root;		/* top-level table, one page */
	int levels;		/* 4 or 5 */
	unsigned long nr_tables;	/* pages used by tables, for accounting */
};

int npt_init(struct npt *npt, int levels);
void npt_destroy(struct npt *npt);
/* Maps one 4 KiB page; flags are AXVM_MEM_* (plus NPT_UNCACHED). */
int npt_map_page(struct npt *npt, u64 gpa, u64 pfn, u32 flags);
void npt_unmap_range(struct npt *npt, u64 gpa, u64 size);
u64 npt_root_pa(const struct npt *npt);

/* Internal flag for device (passthrough) memory: uncacheable. */
#define NPT_UNCACHED	(1U << 31)

#endif /* AXVM_NPT_H */
