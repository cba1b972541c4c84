/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The emulated local APIC (lapic.c) and I/O APIC (ioapic.c): what the
 * x86 backends and the device bus see of them.
 */
#ifndef AXVM_X86_LAPIC_H
#define AXVM_X86_LAPIC_H

#include <linux/types.h>

struct axvm_vm;
struct axvm_vcpu;
struct axvm_io_dev;

/* Register offsets in the xAPIC page (SDM vol. 3, table 10-1). */
#define APIC_REG_ID		0x020
#define APIC_REG_VERSION	0x030
#define APIC_REG_TPR		0x080
#define APIC_REG_APR		0x090
#define APIC_REG_PPR		0x0a0
#define APIC_REG_EOI		0x0b0
#define APIC_REG_RRD		0x0c0
#define APIC_REG_LDR		0x0d0
#define APIC_REG_DFR		0x0e0
#define APIC_REG_SVR		0x0f0
#define APIC_REG_ISR		0x100
#define APIC_REG_TMR		0x180
#define APIC_REG_IRR		0x200
#define APIC_REG_ESR		0x280
#define APIC_REG_ICR_LO		0x300
#define APIC_REG_ICR_HI		0x310
#define APIC_REG_LVT_TIMER	0x320
#define APIC_REG_LVT_ERROR	0x370
#define APIC_REG_TMICT		0x380
#define APIC_REG_TMCCT		0x390
#define APIC_REG_TDCR		0x3e0
#define APIC_REG_SELF_IPI	0x3f0	/* x2APIC only */

#define MSR_X2APIC_FIRST	0x800
#define MSR_X2APIC_LAST		0x8ff
#define MSR_APIC_BASE		0x01b
#define MSR_TSC_DEADLINE	0x6e0

/* Delivery modes (ICR, LVT and I/O APIC entries, bits 10:8). */
#define X86_DM_FIXED		0
#define X86_DM_LOWEST		1
#define X86_DM_SMI		2
#define X86_DM_NMI		4
#define X86_DM_INIT		5
#define X86_DM_STARTUP		6
#define X86_DM_EXTINT		7

/* An interrupt message, from an IPI or an I/O APIC entry. */
struct x86_apic_msg {
	u32 dest;		/* 8 bits xAPIC style, 32 bits x2APIC style */
	bool dest_logical;
	bool x2apic_dest;	/* dest is a 32-bit x2APIC destination */
	u8 shorthand;		/* ICR bits 19:18; 0 from an I/O APIC */
	u8 delivery;		/* X86_DM_* */
	u8 vector;
	bool level_trigger;	/* for the TMR and the I/O APIC's EOI */
};

/* lapic.c: per-vCPU state, created with the vCPU. */
int x86_lapic_create(struct axvm_vcpu *vcpu);
void x86_lapic_destroy(struct axvm_vcpu *vcpu);
/* Power-on state (vCPU creation, AXVM_RESET) or INIT (keeps id, base). */
void x86_lapic_reset(struct axvm_vcpu *vcpu, bool init);

/* The bus device for AXVM_DEV_LAPIC: one for all vCPUs of the VM. */
struct axvm_io_dev *x86_lapic_device_create(struct axvm_vm *vm);

/* Interrupt acceptance, for the backends' injection paths. */
int x86_lapic_next_irq(struct axvm_vcpu *vcpu);
void x86_lapic_irq_accepted(struct axvm_vcpu *vcpu, int vector);
bool x86_lapic_take_nmi(struct axvm_vcpu *vcpu);
/* CR8, the TPR's priority class (0 without a live local APIC). */
u8 x86_lapic_cr8(struct axvm_vcpu *vcpu);
void x86_lapic_set_cr8(struct axvm_vcpu *vcpu, u8 cr8);
bool x86_lapic_held_by_tpr(struct axvm_vcpu *vcpu);
/* IA32_APIC_BASE.EN (false without a live local APIC): CPUID's APIC bit. */
bool x86_lapic_hw_enabled(struct axvm_vcpu *vcpu);

/* MSRs: 0 handled, -EINVAL for #GP, -ENOENT if not an APIC MSR. */
int x86_lapic_rdmsr(struct axvm_vcpu *vcpu, u32 msr, u64 *val);
int x86_lapic_wrmsr(struct axvm_vcpu *vcpu, u32 msr, u64 val,
		    u64 guest_tsc);

/*
 * INIT/SIPI, before each entry: what the backend must do to the vCPU.
 * WAIT means the vCPU sleeps until INIT/SIPI arrive (wait-for-SIPI).
 */
enum x86_mp_action {
	X86_MP_RUN,
	X86_MP_INIT,		/* reset the CPU state (INIT) */
	X86_MP_SIPI,		/* start in real mode at vector << 12 */
	X86_MP_WAIT,		/* nothing to run yet: sleep */
};
enum x86_mp_action x86_lapic_mp_action(struct axvm_vcpu *vcpu, u8 *vector);
/* Sleeps until INIT/SIPI, a signal, or the VM leaving RUNNING. */
void x86_lapic_wait_sipi(struct axvm_vcpu *vcpu);

/* Delivers msg to the matching local APICs of vm (from any context). */
void x86_apic_deliver(struct axvm_vm *vm, struct axvm_vcpu *src,
		      const struct x86_apic_msg *msg);

/* ioapic.c */
struct axvm_io_dev *x86_ioapic_device_create(struct axvm_vm *vm);
int x86_ioapic_set_irq(struct axvm_vm *vm, u32 pin, int level);
/* A local APIC's EOI of a level-triggered vector. */
void x86_ioapic_eoi(struct axvm_vm *vm, u8 vector);

/* pvclock.c: the KVM-compatible clock (CPUID 0x40000100). */
int x86_pvclock_setup(void);
bool x86_pvclock_available(void);
bool x86_pvclock_stable(void);
int x86_pvclock_publish(struct axvm_vcpu *vcpu, u64 gpa, u64 tsc_offset);
int x86_pvclock_wall_clock(struct axvm_vcpu *vcpu, u64 gpa);

#endif /* AXVM_X86_LAPIC_H */
