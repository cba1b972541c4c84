/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the x86 backends (svm.c now, vmx.c later) share: GPR numbering,
 * the CPUID policy, MSR and XCR0 checks, and pending userspace exits.
 */
#ifndef AXVM_X86_H
#define AXVM_X86_H

#include <linux/types.h>

/* GPR numbers in x86 encoding order (SDM vol. 2, table 2-2). */
enum x86_gpr {
	GPR_RAX, GPR_RCX, GPR_RDX, GPR_RBX, GPR_RSP, GPR_RBP, GPR_RSI,
	GPR_RDI, GPR_R8, GPR_R9, GPR_R10, GPR_R11, GPR_R12, GPR_R13,
	GPR_R14, GPR_R15, NR_GPRS
};

#define X86_VEC_DB	1
#define X86_VEC_NMI	2
#define X86_VEC_UD	6
#define X86_VEC_GP	13
#define X86_VEC_AC	17
#define X86_VEC_MC	18

/* The guest's view of CPUID (cpuid_msr.c). */
struct x86_cpuid_ctx {
	u32 vcpu_id;
	u64 cr4;		/* for the dynamic OSXSAVE bit */
	u64 xcr0;		/* for leaf 0xd's current save size */
	bool lapic;		/* the VM has local APICs (lapic.c) */
	bool apic_enabled;	/* ... and this one's IA32_APIC_BASE.EN is set */
	bool pvclock;		/* the KVM clock is offered (pvclock.c) */
	bool pvclock_stable;	/* ... with the stable flag */
};

/*
 * The KVM paravirtual interface subset we offer at 0x40000100 (Linux's
 * Documentation/virt/kvm/x86/cpuid.rst and msr.rst).
 */
#define X86_CPUID_KVM_BASE		0x40000100
#define KVM_FEATURE_NOP_IO_DELAY	BIT(1)
#define KVM_FEATURE_CLOCKSOURCE2	BIT(3)
#define KVM_FEATURE_CLOCKSOURCE_STABLE	BIT(24)
#define MSR_KVM_WALL_CLOCK_NEW		0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW		0x4b564d01
void x86_cpuid(const struct x86_cpuid_ctx *ctx, u32 leaf, u32 subleaf,
	       u32 out[4]);

/* The XCR0 bits a guest may enable: the host's, minus what we hide. */
int x86_xcr0_setup(void);
u64 x86_guest_xcr0_mask(void);
bool x86_xcr0_valid(u64 xcr0);
u64 x86_host_xcr0(void);

bool x86_pat_valid(u64 pat);
bool x86_is_canonical(u64 addr, bool la57);

/* The instruction a userspace exit left half done (see svm.c). */
enum x86_pending {
	X86_PENDING_NONE,
	X86_PENDING_IO_IN,
	X86_PENDING_MMIO_READ,
	X86_PENDING_HYPERCALL,
};

#endif /* AXVM_X86_H */
