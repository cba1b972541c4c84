/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bench/guest/layout.h: the guest's memory layout and the workload
 * numbers, shared by the guest payload (payload.S) and the host harness
 * (bench/harness/). Plain #defines only: included from assembly too.
 */
#ifndef BENCH_GUEST_LAYOUT_H
#define BENCH_GUEST_LAYOUT_H

/* Low memory: one eagerly backed region [0, LOW_SIZE). */
#define LOW_SIZE	0x400000	/* 4 MiB */
#define GDT_GPA		0x1000
#define PML4_GPA	0x2000		/* PML4, PDPT, then 4 page directories */
#define PDPT_GPA	0x3000
#define PD_GPA		0x4000		/* 4 x 4 KiB: identity map of 4 GiB */
#define IDT_GPA		0x8000		/* 256 x 16-byte gates */
#define MAILBOX_GPA	0x10000
#define PAYLOAD_GPA	0x100000	/* payload.bin is linked and loaded here */
#define STACK_TOP	0x200000

/* First-touch region: lazily backed, [TOUCH_GPA, TOUCH_GPA + size). */
#define TOUCH_GPA	0x40000000	/* 1 GiB */

/* Nothing is mapped here: every access is an MMIO exit. */
#define MMIO_GPA	0xc0000000
/* Port the I/O workload writes; port the guest writes when it is done. */
#define BENCH_PORT	0x500
#define DONE_PORT	0x501

/* Interrupt workload: the vector injected, the local APIC's MMIO. */
#define IRQ_VECTOR	0x40
#define LAPIC_GPA	0xfee00000

/* Workload numbers: RDI at entry. RSI = count, RDX = argument. */
#define W_CPUID		0	/* CPUID leaf 0, RSI times */
#define W_RDMSR		1	/* RDMSR IA32_TSC (0x10), RSI times */
#define W_VMMCALL	2	/* VMMCALL, RAX = RDX (hypercall nr), RSI times */
#define W_PIO_OUT	3	/* OUT %al, BENCH_PORT, RSI times */
#define W_MMIO_WRITE	4	/* 32-bit store to MMIO_GPA, RSI times */
#define W_MMIO_READ	5	/* 32-bit load from MMIO_GPA, RSI times */
#define W_TOUCH		6	/* one store per 4 KiB page from RDX, RSI pages */
#define W_IRQ_SPIN	7	/* LAPIC on, STI, spin until RSI interrupts seen */
#define W_NOP		8	/* nothing: just the DONE exit */

/* Mailbox (at MAILBOX_GPA), written by the guest. */
#define MB_TSC_DELTA	0	/* u64: RDTSC after - before the loop */
#define MB_IRQ_COUNT	8	/* u64: interrupts the handler has seen */
#define MB_IRQ_TSC	16	/* u64: RDTSC in the handler, last interrupt */
#define MB_DONE		24	/* u64: bumped at the end of every workload */
#define MB_READY	32	/* u64: 1 once the IRQ workload has interrupts on */

#endif
