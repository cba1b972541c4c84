/* SPDX-License-Identifier: GPL-2.0 */
/*
 * AMD SVM hardware definitions used by svm.c: the VMCB layout, intercept
 * bits and exit codes. Offsets are from AMD64 APM vol. 2, appendix B
 * ("Layout of VMCB") and appendix C ("SVM Intercept Exit Codes"); the
 * static_asserts at the bottom pin the layout to the manual.
 */
#ifndef AXVM_SVM_H
#define AXVM_SVM_H

#include <linux/types.h>
#include <linux/build_bug.h>
#include <linux/stddef.h>

/* APM vol. 2, B.1, vector 3 (offset 0x0c) intercepts. */
enum svm_intercept_misc1 {
	SVM_I_INTR = 0, SVM_I_NMI = 1, SVM_I_SMI = 2, SVM_I_INIT = 3,
	SVM_I_VINTR = 4, SVM_I_CR0_SEL_WRITE = 5, SVM_I_IRET = 20,
	SVM_I_RDPMC = 15, SVM_I_CPUID = 18, SVM_I_INVD = 22, SVM_I_HLT = 24,
	SVM_I_INVLPGA = 26, SVM_I_IOIO = 27, SVM_I_MSR = 28,
	SVM_I_TASK_SWITCH = 29, SVM_I_FERR_FREEZE = 30, SVM_I_SHUTDOWN = 31,
};

/* APM vol. 2, B.1, vector 4 (offset 0x10) intercepts. */
enum svm_intercept_misc2 {
	SVM_I_VMRUN = 0, SVM_I_VMMCALL = 1, SVM_I_VMLOAD = 2,
	SVM_I_VMSAVE = 3, SVM_I_STGI = 4, SVM_I_CLGI = 5, SVM_I_SKINIT = 6,
	SVM_I_RDTSCP = 7, SVM_I_WBINVD = 9, SVM_I_MONITOR = 10,
	SVM_I_MWAIT = 11, SVM_I_MWAIT_COND = 12, SVM_I_XSETBV = 13,
	SVM_I_RDPRU = 14,
};

/* APM vol. 2, appendix C: exit codes. */
#define SVM_EXIT_WRITE_CR4	0x014
#define SVM_EXIT_WRITE_CR8	0x018
#define SVM_EXIT_READ_DR0	0x020
#define SVM_EXIT_WRITE_DR7	0x03f
#define SVM_EXIT_EXCP_BASE	0x040
#define SVM_EXIT_INTR		0x060
#define SVM_EXIT_NMI		0x061
#define SVM_EXIT_SMI		0x062
#define SVM_EXIT_INIT		0x063
#define SVM_EXIT_VINTR		0x064
#define SVM_EXIT_CR0_SEL_WRITE	0x065
#define SVM_EXIT_RDPMC		0x06f
#define SVM_EXIT_CPUID		0x072
#define SVM_EXIT_INVD		0x076
#define SVM_EXIT_IRET		0x074
#define SVM_EXIT_HLT		0x078
#define SVM_EXIT_INVLPGA	0x07a
#define SVM_EXIT_IOIO		0x07b
#define SVM_EXIT_MSR		0x07c
#define SVM_EXIT_TASK_SWITCH	0x07d
#define SVM_EXIT_FERR_FREEZE	0x07e
#define SVM_EXIT_SHUTDOWN	0x07f
#define SVM_EXIT_VMRUN		0x080
#define SVM_EXIT_VMMCALL	0x081
#define SVM_EXIT_VMLOAD		0x082
#define SVM_EXIT_VMSAVE		0x083
#define SVM_EXIT_STGI		0x084
#define SVM_EXIT_CLGI		0x085
#define SVM_EXIT_SKINIT		0x086
#define SVM_EXIT_RDTSCP		0x087
#define SVM_EXIT_WBINVD		0x089
#define SVM_EXIT_MONITOR	0x08a
#define SVM_EXIT_MWAIT		0x08b
#define SVM_EXIT_MWAIT_COND	0x08c
#define SVM_EXIT_XSETBV		0x08d
#define SVM_EXIT_RDPRU		0x08e
#define SVM_EXIT_NPF		0x400
#define SVM_EXIT_INVALID	((u64)-1)	/* VMRUN consistency check failed */

/* intercept_cr: bit n intercepts reads of CRn, bit 16 + n writes. */
#define SVM_CR_WRITE(n)		(1U << (16 + (n)))

/* EXITINFO1 of IOIO (APM vol. 2, 15.10.2). */
#define SVM_IOIO_IN		(1U << 0)
#define SVM_IOIO_STR		(1U << 2)
#define SVM_IOIO_REP		(1U << 3)
#define SVM_IOIO_SZ_SHIFT	4
#define SVM_IOIO_PORT_SHIFT	16

/* EXITINFO1 of NPF: a #PF-style error code (APM vol. 2, 15.25.6). */
#define SVM_NPF_WRITE		(1ULL << 1)
#define SVM_NPF_FETCH		(1ULL << 4)
#define SVM_NPF_WALK		(1ULL << 33)

/* EVENTINJ and EXITINTINFO (APM vol. 2, 15.20). */
#define SVM_EVT_VECTOR_MASK	0xffU
#define SVM_EVT_TYPE_SHIFT	8
#define SVM_EVT_TYPE_MASK	(7U << SVM_EVT_TYPE_SHIFT)
#define SVM_EVT_TYPE_INTR	(0U << SVM_EVT_TYPE_SHIFT)
#define SVM_EVT_TYPE_NMI	(2U << SVM_EVT_TYPE_SHIFT)
#define SVM_EVT_TYPE_EXCP	(3U << SVM_EVT_TYPE_SHIFT)
#define SVM_EVT_TYPE_SOFT	(4U << SVM_EVT_TYPE_SHIFT)
#define SVM_EVT_ERR_VALID	(1U << 11)
#define SVM_EVT_VALID		(1U << 31)

#define SVM_TLB_FLUSH_NOTHING	0
#define SVM_TLB_FLUSH_ALL	1	/* every ASID on this CPU */
#define SVM_TLB_FLUSH_ASID	3	/* this guest's ASID */

#define SVM_INT_CTL_V_TPR		0xfULL		/* bits 3:0 */
#define SVM_INT_CTL_V_IRQ		(1ULL << 8)
#define SVM_INT_CTL_V_IGN_TPR		(1ULL << 20)
#define SVM_INT_CTL_V_INTR_MASKING	(1ULL << 24)
#define SVM_INT_STATE_SHADOW		(1ULL << 0)
#define SVM_NESTED_CTL_NP_ENABLE	(1ULL << 0)

#define SVM_IOPM_SIZE		(3 * 4096)	/* 12 KiB, APM 15.10.1 */
#define SVM_MSRPM_SIZE		(2 * 4096)	/* 8 KiB, APM 15.11 */

/* MSR_VM_CR.SVMDIS: the firmware locked SVM off (APM vol. 2, 15.30.1). */
#define SVM_VM_CR_SVMDIS	(1ULL << 4)

struct vmcb_control {
	u32 intercept_cr;		/* 0x000: read 0-15, write 16-31 */
	u32 intercept_dr;		/* 0x004 */
	u32 intercept_exceptions;	/* 0x008 */
	u32 intercept_misc1;		/* 0x00c */
	u32 intercept_misc2;		/* 0x010 */
	u32 intercept_misc3;		/* 0x014 */
	u8 reserved_018[0x03c - 0x018];
	u16 pause_filter_thresh;	/* 0x03c */
	u16 pause_filter_count;		/* 0x03e */
	u64 iopm_base_pa;		/* 0x040 */
	u64 msrpm_base_pa;		/* 0x048 */
	u64 tsc_offset;			/* 0x050 */
	u32 asid;			/* 0x058 */
	u8 tlb_control;			/* 0x05c */
	u8 reserved_05d[3];
	u64 int_ctl;			/* 0x060 */
	u64 int_state;			/* 0x068 */
	u64 exit_code;			/* 0x070 */
	u64 exit_info_1;		/* 0x078 */
	u64 exit_info_2;		/* 0x080 */
	u64 exit_int_info;		/* 0x088 */
	u64 nested_ctl;			/* 0x090 */
	u64 avic_vapic_bar;		/* 0x098 */
	u64 ghcb_gpa;			/* 0x0a0 */
	u64 event_inj;			/* 0x0a8 */
	u64 nested_cr3;			/* 0x0b0 */
	u64 virt_ext;			/* 0x0b8 */
	u32 clean_bits;			/* 0x0c0 */
	u32 reserved_0c4;
	u64 next_rip;			/* 0x0c8 */
	u8 insn_len;			/* 0x0d0 */
	u8 insn_bytes[15];		/* 0x0d1 */
	u8 reserved_0e0[0x400 - 0x0e0];
} __packed;

struct vmcb_seg {
	u16 selector;
	u16 attrib;
	u32 limit;
	u64 base;
} __packed;

struct vmcb_save {
	struct vmcb_seg es, cs, ss, ds, fs, gs;	/* 0x000 .. 0x05f */
	struct vmcb_seg gdtr, ldtr, idtr, tr;	/* 0x060 .. 0x09f */
	u8 reserved_0a0[0x0cb - 0x0a0];
	u8 cpl;					/* 0x0cb */
	u32 reserved_0cc;
	u64 efer;				/* 0x0d0 */
	u8 reserved_0d8[0x148 - 0x0d8];
	u64 cr4;				/* 0x148 */
	u64 cr3;				/* 0x150 */
	u64 cr0;				/* 0x158 */
	u64 dr7;				/* 0x160 */
	u64 dr6;				/* 0x168 */
	u64 rflags;				/* 0x170 */
	u64 rip;				/* 0x178 */
	u8 reserved_180[0x1d8 - 0x180];
	u64 rsp;				/* 0x1d8 */
	u8 reserved_1e0[0x1f8 - 0x1e0];
	u64 rax;				/* 0x1f8 */
	u64 star;				/* 0x200 */
	u64 lstar;				/* 0x208 */
	u64 cstar;				/* 0x210 */
	u64 sfmask;				/* 0x218 */
	u64 kernel_gs_base;			/* 0x220 */
	u64 sysenter_cs;			/* 0x228 */
	u64 sysenter_esp;			/* 0x230 */
	u64 sysenter_eip;			/* 0x238 */
	u64 cr2;				/* 0x240 */
	u8 reserved_248[0x268 - 0x248];
	u64 g_pat;				/* 0x268 */
	u64 dbgctl;				/* 0x270 */
	u8 reserved_278[0xc00 - 0x278];
} __packed;

struct vmcb {
	struct vmcb_control control;		/* 0x000 */
	struct vmcb_save save;			/* 0x400 */
} __packed;

/* Compile-time checks against APM vol. 2, tables B-1 and B-2. */
static_assert(offsetof(struct vmcb_control, iopm_base_pa) == 0x040);
static_assert(offsetof(struct vmcb_control, asid) == 0x058);
static_assert(offsetof(struct vmcb_control, exit_code) == 0x070);
static_assert(offsetof(struct vmcb_control, nested_ctl) == 0x090);
static_assert(offsetof(struct vmcb_control, event_inj) == 0x0a8);
static_assert(offsetof(struct vmcb_control, nested_cr3) == 0x0b0);
static_assert(offsetof(struct vmcb_control, clean_bits) == 0x0c0);
static_assert(offsetof(struct vmcb_control, next_rip) == 0x0c8);
static_assert(sizeof(struct vmcb_control) == 0x400);
static_assert(offsetof(struct vmcb_save, tr) == 0x090);
static_assert(offsetof(struct vmcb_save, cpl) == 0x0cb);
static_assert(offsetof(struct vmcb_save, efer) == 0x0d0);
static_assert(offsetof(struct vmcb_save, cr4) == 0x148);
static_assert(offsetof(struct vmcb_save, rip) == 0x178);
static_assert(offsetof(struct vmcb_save, rsp) == 0x1d8);
static_assert(offsetof(struct vmcb_save, rax) == 0x1f8);
static_assert(offsetof(struct vmcb_save, cr2) == 0x240);
static_assert(offsetof(struct vmcb_save, g_pat) == 0x268);
static_assert(sizeof(struct vmcb) == 4096);

/* svm_vmrun.S: guest GPRs other than RAX/RSP (those live in the VMCB). */
void __svm_vcpu_run(u64 vmcb_pa, u64 *gprs, u64 host_save_pa);

#endif /* AXVM_SVM_H */
