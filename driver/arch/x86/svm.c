// SPDX-License-Identifier: GPL-2.0
/*
 * The AMD SVM backend: SVM + nested paging (AMD64 APM vol. 2, ch. 15).
 *
 * Per CPU: EFER.SVME, a host save area (VM_HSAVE_PA) and a page for the
 * host's VMSAVE state, plus an ASID allocator. Per vCPU: a VMCB, the GPRs
 * VMRUN does not switch, and an XSAVE buffer for the guest's FPU state.
 *
 * Every port and every MSR is intercepted (all-ones IOPM and MSRPM), as
 * are the instructions that would let a guest reach the host: the SVM
 * instructions themselves, INVD, RDPMC. The guest sees a filtered CPUID
 * without SVM, so those fault with #UD just as on a CPU without SVM.
 */
#include <linux/cpu.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <asm/cpufeature.h>
#include <asm/debugreg.h>
#include <asm/fpu/api.h>
#include <asm/fpu/xcr.h>
#include <asm/io.h>
#include <asm/msr.h>
#include <asm/processor.h>
#include <asm/special_insns.h>
#include <asm/tlbflush.h>
#include "axvm.h"
#include "svm.h"
#include "npt.h"
#include "x86.h"
#include "emulate.h"
#include "lapic.h"

struct svm_cpu {
	struct page *hsave;		/* MSR_VM_HSAVE_PA: VMRUN's host save */
	struct page *host_save;		/* VMSAVE/VMLOAD of the host's state */
	bool enabled;
	u32 asid_gen;			/* bumped when ASIDs run out */
	u32 next_asid;
};

struct svm_vm {
	struct npt npt;
	atomic_t tlb_gen;		/* bumped by unmaps: vCPUs flush */
};

struct svm_vcpu {
	struct vmcb *vmcb;
	u64 vmcb_pa;
	u64 gprs[NR_GPRS];		/* RAX/RSP are synced with the VMCB */
	int last_cpu;
	u32 asid_gen;
	int tlb_gen;
	u64 event_inj;			/* to inject on the next entry */
	bool shut_down;			/* triple fault: VMCB state undefined */
	bool lme_withheld;		/* guest EFER.LME kept out of the VMCB */
	u64 xcr0;
	/*
	 * The guest's FPU/SSE/AVX state, swapped with the task's once per
	 * AXVM_RUN (svm_vcpu_load/put) as KVM does: in between, the kernel's
	 * own context switch saves and restores it like any task's.
	 */
	struct fpu_guest gfpu;
	u64 dr[4], dr6, dr7;		/* emulated; never loaded */
	/* The userspace exit this vCPU is completing (see complete_user_exit). */
	enum x86_pending pending;
	struct x86_mmio_insn mmio_insn;
	u8 io_width;
	u64 pending_next_rip;
	bool nmi_masked;		/* an NMI handler runs until IRET */
	u64 pvclock_msr;		/* MSR_KVM_SYSTEM_TIME_NEW */
	u64 wall_clock_msr;		/* MSR_KVM_WALL_CLOCK_NEW */
};

/* DR7 after RESET: bit 10 reads as 1, nothing enabled (SDM vol. 3, 17.2.4). */
#define SVM_DR7_RESET	0x400ULL

static DEFINE_PER_CPU(struct svm_cpu, svm_cpus);
static void *svm_iopm;		/* all ones: intercept every port */
static void *svm_msrpm;		/* all ones: intercept every MSR */
static u32 svm_max_asid;
static bool svm_has_nrip;
static int svm_npt_levels;

static void svm_sync_lme(struct svm_vcpu *svm);
static void svm_vcpu_destroy(struct axvm_vcpu *vcpu);
static int svm_decode_mov_crdr(struct axvm_vcpu *vcpu, unsigned int *gpr,
			       unsigned int *len);

static inline struct svm_vcpu *to_svm(struct axvm_vcpu *vcpu)
{
	return vcpu->arch;
}

static inline struct svm_vm *to_svm_vm(struct axvm_vm *vm)
{
	return vm->arch;
}

static inline void svm_clgi(void)
{
	asm volatile("clgi" ::: "memory");
}

static inline void svm_stgi(void)
{
	asm volatile("stgi" ::: "memory");
}

/* ------------------------------------------------------------------ */
/* Hardware setup, per CPU enable/disable                              */
/* ------------------------------------------------------------------ */

static int svm_check_cpu(void)
{
	u64 vm_cr, efer;

	if (!boot_cpu_has(X86_FEATURE_SVM)) {
		pr_err("axvm: this CPU has no AMD SVM\n");
		return -ENODEV;
	}
	if (!boot_cpu_has(X86_FEATURE_NPT)) {
		pr_err("axvm: SVM without nested paging is not supported\n");
		return -ENODEV;
	}
	if (!boot_cpu_has(X86_FEATURE_XSAVE)) {
		pr_err("axvm: XSAVE is required\n");
		return -ENODEV;
	}
	rdmsrl(MSR_VM_CR, vm_cr);
	if (vm_cr & SVM_VM_CR_SVMDIS) {
		pr_err("axvm: SVM is disabled by the firmware\n");
		return -ENODEV;
	}
	rdmsrl(MSR_EFER, efer);
	if (efer & EFER_SVME) {
		pr_err("axvm: SVM is already in use by another hypervisor (is kvm_amd loaded?)\n");
		return -EBUSY;
	}
	return 0;
}

static int svm_hardware_setup(void)
{
	u32 eax, ebx, ecx, edx;
	int ret;

	ret = svm_check_cpu();
	if (ret)
		return ret;
	ret = x86_xcr0_setup();
	if (ret)
		return ret;
	x86_pvclock_setup();
	/* APM vol. 3, CPUID Fn8000_000A: EBX = number of ASIDs, EDX bit 3 = NRIP save. */
	cpuid(0x8000000a, &eax, &ebx, &ecx, &edx);
	svm_max_asid = ebx - 1;
	svm_has_nrip = edx & BIT(3);
	svm_npt_levels = (native_read_cr4() & X86_CR4_LA57) ? 5 : 4;

	svm_iopm = (void *)__get_free_pages(GFP_KERNEL,
					    get_order(SVM_IOPM_SIZE));
	svm_msrpm = (void *)__get_free_pages(GFP_KERNEL,
					     get_order(SVM_MSRPM_SIZE));
	if (!svm_iopm || !svm_msrpm) {
		free_pages((unsigned long)svm_iopm, get_order(SVM_IOPM_SIZE));
		free_pages((unsigned long)svm_msrpm,
			   get_order(SVM_MSRPM_SIZE));
		return -ENOMEM;
	}
	memset(svm_iopm, 0xff, PAGE_SIZE << get_order(SVM_IOPM_SIZE));
	memset(svm_msrpm, 0xff, PAGE_SIZE << get_order(SVM_MSRPM_SIZE));
	pr_info("axvm: SVM: %u ASIDs, %d-level NPT, NRIP save %s\n",
		svm_max_asid + 1, svm_npt_levels, svm_has_nrip ? "yes" : "no");
	return 0;
}

static void svm_hardware_unsetup(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct svm_cpu *sc = per_cpu_ptr(&svm_cpus, cpu);

		if (sc->hsave)
			__free_page(sc->hsave);
		if (sc->host_save)
			__free_page(sc->host_save);
		sc->hsave = sc->host_save = NULL;
	}
	free_pages((unsigned long)svm_iopm, get_order(SVM_IOPM_SIZE));
	free_pages((unsigned long)svm_msrpm, get_order(SVM_MSRPM_SIZE));
}

/* Runs on `cpu` itself (a CPUHP_AP_ONLINE_DYN callback). */
static int svm_cpu_enable(unsigned int cpu)
{
	struct svm_cpu *sc = per_cpu_ptr(&svm_cpus, cpu);
	u64 efer;

	rdmsrl(MSR_EFER, efer);
	if (efer & EFER_SVME) {
		pr_err("axvm: CPU %u: SVM is already in use by another hypervisor\n",
		       cpu);
		return -EBUSY;
	}
	if (!sc->hsave)
		sc->hsave = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!sc->host_save)
		sc->host_save = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!sc->hsave || !sc->host_save)
		return -ENOMEM;
	/*
	 * Forces a full TLB flush on the first VMRUN here. The generation
	 * only ever grows, so no vCPU's old (cpu, generation) pair can match
	 * again after the CPU went offline and came back.
	 */
	sc->asid_gen++;
	sc->next_asid = svm_max_asid + 1;
	wrmsrl(MSR_VM_HSAVE_PA, page_to_phys(sc->hsave));
	wrmsrl(MSR_EFER, efer | EFER_SVME);
	sc->enabled = true;
	return 0;
}

static int svm_cpu_disable(unsigned int cpu)
{
	struct svm_cpu *sc = per_cpu_ptr(&svm_cpus, cpu);
	u64 efer;

	if (!sc->enabled)
		return 0;
	rdmsrl(MSR_EFER, efer);
	wrmsrl(MSR_EFER, efer & ~EFER_SVME);
	wrmsrl(MSR_VM_HSAVE_PA, 0);
	sc->enabled = false;
	return 0;
}

static void svm_fill_caps(struct axvm_caps *caps)
{
	caps->features = AXVM_FEATURE_NESTED_PAGING | AXVM_FEATURE_LAZY_MEMORY |
			 AXVM_FEATURE_MMIO_DECODE | AXVM_FEATURE_GUEST_RW |
			 AXVM_FEATURE_HYPERCALL | AXVM_FEATURE_XSAVE |
			 AXVM_FEATURE_PASSTHROUGH | AXVM_FEATURE_DEVICES |
			 AXVM_FEATURE_AFFINITY | AXVM_FEATURE_IRQ_INJECT |
			 AXVM_FEATURE_IVC | AXVM_FEATURE_SUSPEND |
			 AXVM_FEATURE_RESET | AXVM_FEATURE_STATS |
			 AXVM_FEATURE_X86_PLATFORM;
	if (x86_pvclock_available())
		caps->features |= AXVM_FEATURE_PVCLOCK;
	caps->gpa_bits = min_t(u32, boot_cpu_data.x86_phys_bits, 47);
	caps->npt_levels = svm_npt_levels;
	caps->nr_asids = svm_max_asid + 1;
}

/* ------------------------------------------------------------------ */
/* VMs: nested page tables                                             */
/* ------------------------------------------------------------------ */

static int svm_vm_init(struct axvm_vm *vm)
{
	struct svm_vm *svm_vm;
	int ret;

	svm_vm = kzalloc(sizeof(*svm_vm), GFP_KERNEL_ACCOUNT);
	if (!svm_vm)
		return -ENOMEM;
	ret = npt_init(&svm_vm->npt, svm_npt_levels);
	if (ret) {
		kfree(svm_vm);
		return ret;
	}
	vm->arch = svm_vm;
	vm->gpa_limit = min_t(u64, AXVM_GPA_LIMIT,
			      1ULL << min_t(u32, boot_cpu_data.x86_phys_bits, 47));
	return 0;
}

static void svm_vm_destroy(struct axvm_vm *vm)
{
	struct svm_vm *svm_vm = to_svm_vm(vm);

	npt_destroy(&svm_vm->npt);
	kfree(svm_vm);
	vm->arch = NULL;
}

/* The core's flag and the table code's flag are one bit. */
static_assert(NPT_UNCACHED == AXVM_MAP_UNCACHED);

static int svm_map_page(struct axvm_vm *vm, u64 gpa, u64 pfn, u32 flags)
{
	return npt_map_page(&to_svm_vm(vm)->npt, gpa, pfn, flags);
}

static void svm_unmap_range(struct axvm_vm *vm, u64 gpa, u64 size)
{
	struct svm_vm *svm_vm = to_svm_vm(vm);

	npt_unmap_range(&svm_vm->npt, gpa, size);
	/* Every vCPU takes a new ASID (a clean TLB) before its next entry... */
	atomic_inc(&svm_vm->tlb_gen);
	/*
	 * ...and one in the guest now has left it before we return, so the
	 * caller may free what the old translations pointed to.
	 */
	axvm_vm_kick_all(vm, true);
}

/* ------------------------------------------------------------------ */
/* vCPUs: VMCB set-up                                                  */
/* ------------------------------------------------------------------ */

static void svm_init_seg(struct vmcb_seg *seg, u16 attrib)
{
	seg->selector = 0;
	seg->attrib = attrib;
	seg->limit = 0xffff;
	seg->base = 0;
}

/* The state after RESET (APM vol. 2, 14.1.3), in real mode at F000:FFF0. */
static void svm_reset_save(struct vmcb_save *save)
{
	svm_init_seg(&save->es, 0x93);
	svm_init_seg(&save->ss, 0x93);
	svm_init_seg(&save->ds, 0x93);
	svm_init_seg(&save->fs, 0x93);
	svm_init_seg(&save->gs, 0x93);
	svm_init_seg(&save->cs, 0x9b);
	save->cs.selector = 0xf000;
	save->cs.base = 0xffff0000;
	svm_init_seg(&save->ldtr, 0x82);
	svm_init_seg(&save->tr, 0x8b);
	save->gdtr.limit = 0xffff;
	save->idtr.limit = 0xffff;
	save->cr0 = X86_CR0_ET | X86_CR0_CD | X86_CR0_NW;
	save->efer = EFER_SVME;		/* VMRUN requires it (15.5.1) */
	save->rflags = X86_EFLAGS_FIXED;
	save->rip = 0xfff0;
	save->dr6 = DR6_RESERVED;
	save->dr7 = SVM_DR7_RESET;
	save->g_pat = 0x0007040600070406ULL;	/* the power-on PAT */
}

static void svm_init_control(struct vmcb_control *c)
{
	c->intercept_exceptions = BIT(X86_VEC_DB) | BIT(X86_VEC_AC) |
				  BIT(X86_VEC_MC);
	c->intercept_misc1 = BIT(SVM_I_INTR) | BIT(SVM_I_NMI) |
			     BIT(SVM_I_SMI) | BIT(SVM_I_RDPMC) |
			     BIT(SVM_I_CPUID) | BIT(SVM_I_INVD) |
			     BIT(SVM_I_HLT) | BIT(SVM_I_INVLPGA) |
			     BIT(SVM_I_IOIO) | BIT(SVM_I_MSR) |
			     BIT(SVM_I_TASK_SWITCH) | BIT(SVM_I_FERR_FREEZE) |
			     BIT(SVM_I_SHUTDOWN);
	/* VMRUN must be intercepted or VMRUN itself fails (15.5.1). */
	c->intercept_misc2 = BIT(SVM_I_VMRUN) | BIT(SVM_I_VMMCALL) |
			     BIT(SVM_I_VMLOAD) | BIT(SVM_I_VMSAVE) |
			     BIT(SVM_I_STGI) | BIT(SVM_I_CLGI) |
			     BIT(SVM_I_SKINIT) | BIT(SVM_I_RDTSCP) |
			     BIT(SVM_I_WBINVD) | BIT(SVM_I_MONITOR) |
			     BIT(SVM_I_MWAIT) | BIT(SVM_I_MWAIT_COND) |
			     BIT(SVM_I_XSETBV) | BIT(SVM_I_RDPRU);
	/* Every DR access: guests get emulated debug registers. */
	c->intercept_dr = 0xffffffff;
	c->iopm_base_pa = __pa(svm_iopm);
	c->msrpm_base_pa = __pa(svm_msrpm);
	/* Physical interrupts stay the host's (15.21.1). */
	c->int_ctl = SVM_INT_CTL_V_INTR_MASKING;
	c->nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
}


static int svm_vcpu_init(struct axvm_vcpu *vcpu)
{
	struct svm_vm *svm_vm = to_svm_vm(vcpu->vm);
	struct svm_vcpu *svm;
	struct page *page;

	svm = kzalloc(sizeof(*svm), GFP_KERNEL_ACCOUNT);
	if (!svm)
		return -ENOMEM;
	page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	/* The power-on FPU state: FCW 0x37f, MXCSR 0x1f80 (init_fpstate). */
	if (!page || !fpu_alloc_guest_fpstate(&svm->gfpu)) {
		if (page)
			__free_page(page);
		kfree(svm);
		return -ENOMEM;
	}
	svm->vmcb = page_address(page);
	svm->vmcb_pa = page_to_phys(page);
	svm->last_cpu = -1;
	svm->dr6 = DR6_RESERVED;
	svm->dr7 = SVM_DR7_RESET;
	svm_init_control(&svm->vmcb->control);
	svm->vmcb->control.nested_cr3 = npt_root_pa(&svm_vm->npt);
	svm_reset_save(&svm->vmcb->save);
	svm->xcr0 = 1;			/* x87 only (SDM vol. 1, 13.3) */
	vcpu->arch = svm;
	if (x86_lapic_create(vcpu)) {
		svm_vcpu_destroy(vcpu);
		return -ENOMEM;
	}
	return 0;
}

/* The CPU's state after RESET or INIT, the local APIC aside. */
static void svm_cpu_reset(struct axvm_vcpu *vcpu)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	struct vmcb_control *c = &svm->vmcb->control;
	u64 nested_cr3 = c->nested_cr3;

	memset(svm->vmcb, 0, sizeof(*svm->vmcb));
	svm_init_control(c);
	c->nested_cr3 = nested_cr3;
	svm_reset_save(&svm->vmcb->save);
	memset(svm->gprs, 0, sizeof(svm->gprs));
	/* XCR0 is 1 after RESET and INIT; the FPU registers keep (INIT). */
	svm->xcr0 = 1;
	memset(svm->dr, 0, sizeof(svm->dr));
	svm->dr6 = DR6_RESERVED;
	svm->dr7 = SVM_DR7_RESET;
	svm->event_inj = 0;
	svm->shut_down = false;
	svm->pending = X86_PENDING_NONE;
	svm->last_cpu = -1;	/* a fresh ASID too */
	svm->nmi_masked = false;
}

/* AXVM_RESET: the state after RESET, as at creation. */
static void svm_vcpu_reset(struct axvm_vcpu *vcpu)
{
	struct svm_vcpu *svm = to_svm(vcpu);

	struct fpu_guest fresh = {};

	svm_cpu_reset(vcpu);
	svm->pvclock_msr = 0;
	svm->wall_clock_msr = 0;
	x86_lapic_reset(vcpu, false);
	/* RESET also resets the FPU: a fresh power-on fpstate. */
	if (fpu_alloc_guest_fpstate(&fresh)) {
		fpu_free_guest_fpstate(&svm->gfpu);
		svm->gfpu = fresh;
	} else {
		axvm_err_ratelimited("VM %u vCPU %u: RESET kept the FPU state (out of memory)\n",
				     vcpu->vm->id, vcpu->id);
	}
}

static void svm_vcpu_destroy(struct axvm_vcpu *vcpu)
{
	struct svm_vcpu *svm = to_svm(vcpu);

	x86_lapic_destroy(vcpu);
	fpu_free_guest_fpstate(&svm->gfpu);
	free_page((unsigned long)svm->vmcb);
	kfree(svm);
	vcpu->arch = NULL;
}

/* ------------------------------------------------------------------ */
/* Guest entry                                                         */
/* ------------------------------------------------------------------ */

/*
 * ASIDs tag the guest's TLB entries (15.16). Each physical CPU hands
 * them out in generations; a vCPU that moved CPU, or whose VM unmapped
 * memory, takes a fresh one. Running out flushes every ASID on this CPU.
 */
static void svm_assign_asid(struct svm_vcpu *svm, struct svm_vm *svm_vm,
			    int cpu)
{
	struct svm_cpu *sc = per_cpu_ptr(&svm_cpus, cpu);
	int tlb_gen = atomic_read(&svm_vm->tlb_gen);

	svm->vmcb->control.tlb_control = SVM_TLB_FLUSH_NOTHING;
	if (svm->last_cpu == cpu && svm->asid_gen == sc->asid_gen &&
	    svm->tlb_gen == tlb_gen)
		return;
	if (sc->next_asid > svm_max_asid) {
		sc->asid_gen++;
		sc->next_asid = 1;
		svm->vmcb->control.tlb_control = SVM_TLB_FLUSH_ALL;
	}
	svm->vmcb->control.asid = sc->next_asid++;
	svm->asid_gen = sc->asid_gen;
	svm->last_cpu = cpu;
	svm->tlb_gen = tlb_gen;
}

/* The XCR0 the guest should run with: its own once it enabled XSAVE. */
static u64 svm_entry_xcr0(struct svm_vcpu *svm)
{
	return (svm->vmcb->save.cr4 & X86_CR4_OSXSAVE) ? svm->xcr0 :
							 x86_host_xcr0();
}

/*
 * After #VMEXIT, XCR0 is still the guest's (VMRUN does not switch it).
 * XSETBV is intercepted (svm_exit_xsetbv()), so it is normally what
 * svm_run_irqs_off() loaded. A CPU that lets the guest's XSETBV through
 * (QEMU's TCG emulation of SVM has no XSETBV intercept) leaves the
 * guest's own value there: that is the guest's XCR0 from now on, or the
 * guest would lose it at the next entry. One XGETBV per exit buys
 * that, and a host XCR0 that is always put back.
 */
static void svm_restore_host_xcr0(struct svm_vcpu *svm, u64 loaded)
{
	u64 xcr0 = xgetbv(XCR_XFEATURE_ENABLED_MASK);

	if (unlikely(xcr0 != loaded))
		svm->xcr0 = xcr0;
	if (xcr0 != x86_host_xcr0())
		xsetbv(XCR_XFEATURE_ENABLED_MASK, x86_host_xcr0());
}

static bool svm_irq_window_open(struct svm_vcpu *svm)
{
	return (svm->vmcb->save.rflags & X86_EFLAGS_IF) &&
	       !(svm->vmcb->control.int_state & SVM_INT_STATE_SHADOW);
}

static void svm_open_irq_window(struct svm_vcpu *svm)
{
	/*
	 * A virtual interrupt the guest takes as soon as it can, intercepted
	 * (VINTR) so that we inject the real vector then (APM 15.21.4).
	 */
	svm->vmcb->control.int_ctl |= SVM_INT_CTL_V_IRQ | SVM_INT_CTL_V_IGN_TPR;
	svm->vmcb->control.intercept_misc1 |= BIT(SVM_I_VINTR);
}

static void svm_close_irq_window(struct svm_vcpu *svm)
{
	svm->vmcb->control.int_ctl &= ~(SVM_INT_CTL_V_IRQ |
					SVM_INT_CTL_V_IGN_TPR);
	svm->vmcb->control.intercept_misc1 &= ~BIT(SVM_I_VINTR);
}

/*
 * Moves the highest pending interrupt into EVENTINJ if the guest can
 * take it now, or asks for an exit when it can. An event being
 * re-delivered goes first (15.20).
 */
/*
 * An NMI from the local APIC. NMIs stay blocked until the handler's IRET
 * (SDM vol. 3, 6.7.1), which we intercept to know when that is.
 */
static bool svm_inject_nmi(struct axvm_vcpu *vcpu, struct svm_vcpu *svm)
{
	if (svm->nmi_masked || !x86_lapic_take_nmi(vcpu))
		return false;
	svm->event_inj = X86_VEC_NMI | SVM_EVT_TYPE_NMI | SVM_EVT_VALID;
	svm->nmi_masked = true;
	svm->vmcb->control.intercept_misc1 |= BIT(SVM_I_IRET);
	return true;
}

static void svm_inject_pending_irq(struct axvm_vcpu *vcpu,
				   struct svm_vcpu *svm)
{
	int vector;

	if (svm->event_inj)
		return;
	if (svm_inject_nmi(vcpu, svm)) {
		if (axvm_vcpu_next_irq(vcpu) >= 0)
			svm_open_irq_window(svm);
		return;
	}
	vector = axvm_vcpu_next_irq(vcpu);
	if (vector < 0) {
		svm_close_irq_window(svm);
		return;
	}
	if (!svm_irq_window_open(svm)) {
		svm_open_irq_window(svm);
		return;
	}
	svm_close_irq_window(svm);
	svm->event_inj = vector | SVM_EVT_TYPE_INTR | SVM_EVT_VALID;
	axvm_vcpu_irq_delivered(vcpu, vector);
	/* More pending: exit again as soon as the guest can take the next. */
	if (axvm_vcpu_next_irq(vcpu) >= 0)
		svm_open_irq_window(svm);
}

/*
 * The guest's CR8 and its local APIC's TPR are one register (SDM vol. 3,
 * 10.8.6.1). With V_INTR_MASKING the guest's MOV to/from CR8 uses V_TPR
 * in the VMCB instead (APM vol. 2, 15.21 "Interrupt and Local APIC
 * Support", virtualizing APIC.TPR), so the two are synced around
 * each VMRUN: the TPR (which MMIO and MSR writes change) into V_TPR on
 * entry, V_TPR back into the TPR on exit. While an interrupt is pending
 * that only the TPR holds back, CR8 writes are intercepted too, so that
 * lowering CR8 delivers it at once (svm_exit_cr_write()).
 */
static void svm_sync_cr8_to_guest(struct axvm_vcpu *vcpu,
				  struct svm_vcpu *svm)
{
	struct vmcb_control *c = &svm->vmcb->control;

	if (!READ_ONCE(vcpu->vm->has_lapic))
		return;
	c->int_ctl = (c->int_ctl & ~SVM_INT_CTL_V_TPR) | x86_lapic_cr8(vcpu);
	if (x86_lapic_held_by_tpr(vcpu))
		c->intercept_cr |= SVM_CR_WRITE(8);
	else
		c->intercept_cr &= ~SVM_CR_WRITE(8);
}

static void svm_sync_cr8_from_guest(struct axvm_vcpu *vcpu,
				    struct svm_vcpu *svm)
{
	u8 v_tpr = svm->vmcb->control.int_ctl & SVM_INT_CTL_V_TPR;

	if (READ_ONCE(vcpu->vm->has_lapic) && v_tpr != x86_lapic_cr8(vcpu))
		x86_lapic_set_cr8(vcpu, v_tpr);
}

/*
 * What a VMRUN that fails its consistency checks (VMEXIT_INVALID) may
 * leave undefined: QEMU writes back whatever it had half loaded. Putting
 * these back lets userspace fix the state it gave and run on.
 */
struct svm_entry_state {
	u64 rip, rsp, rax, rflags, event_inj;
};

static void svm_entry_snapshot(struct svm_vcpu *svm,
			       struct svm_entry_state *e)
{
	e->rip = svm->vmcb->save.rip;
	e->rsp = svm->vmcb->save.rsp;
	e->rax = svm->vmcb->save.rax;
	e->rflags = svm->vmcb->save.rflags;
	e->event_inj = svm->vmcb->control.event_inj;
}

static void svm_undo_failed_entry(struct svm_vcpu *svm,
				  const struct svm_entry_state *e)
{
	svm->vmcb->save.rip = e->rip;
	svm->vmcb->save.rsp = e->rsp;
	svm->vmcb->save.rax = e->rax;
	svm->vmcb->save.rflags = e->rflags;
	svm->vmcb->control.exit_int_info = 0;
	svm->event_inj = e->event_inj;	/* it was never delivered */
}

/*
 * The part of an entry that runs with interrupts off and GIF=0. Returns
 * false if the entry was abandoned because something needs the thread.
 */
static bool svm_run_irqs_off(struct axvm_vcpu *vcpu, struct svm_vcpu *svm)
{
	int cpu = smp_processor_id();
	struct svm_cpu *sc = per_cpu_ptr(&svm_cpus, cpu);
	struct svm_entry_state entry;
	u64 xcr0;

	WRITE_ONCE(vcpu->cpu, cpu);
	atomic_set(&vcpu->mode, AXVM_VCPU_IN_GUEST);
	smp_mb();	/* publish IN_GUEST before reading state: see vcpu.c */
	/*
	 * !sc->enabled: this CPU is going offline and SVM is already off
	 * here; the thread will be migrated, so just go round the loop.
	 */
	if (READ_ONCE(vcpu->vm->state) != AXVM_VM_RUNNING ||
	    signal_pending(current) || need_resched() || !sc->enabled ||
	    !cpumask_test_cpu(cpu, vcpu->cpus)) {
		atomic_set(&vcpu->mode, AXVM_VCPU_OUTSIDE);
		return false;
	}
	/* After IN_GUEST: an interrupt raised from now on kicks us. */
	svm_inject_pending_irq(vcpu, svm);
	svm_sync_cr8_to_guest(vcpu, svm);
	svm_sync_lme(svm);
	svm_assign_asid(svm, to_svm_vm(vcpu->vm), cpu);
	svm->vmcb->control.clean_bits = 0;
	svm->vmcb->control.event_inj = svm->event_inj;
	svm->event_inj = 0;
	svm->vmcb->save.rax = svm->gprs[GPR_RAX];
	svm->vmcb->save.rsp = svm->gprs[GPR_RSP];

	svm_entry_snapshot(svm, &entry);
	svm_clgi();
	xcr0 = svm_entry_xcr0(svm);
	if (xcr0 != x86_host_xcr0())
		xsetbv(XCR_XFEATURE_ENABLED_MASK, xcr0);
	__svm_vcpu_run(svm->vmcb_pa, svm->gprs, page_to_phys(sc->host_save));
	svm_restore_host_xcr0(svm, xcr0);
	/* #VMEXIT leaves DR7 with no breakpoints enabled. */
	if (hw_breakpoint_active())
		hw_breakpoint_restore();
	svm_stgi();

	if ((u32)svm->vmcb->control.exit_code == (u32)SVM_EXIT_INVALID)
		svm_undo_failed_entry(svm, &entry);
	svm_sync_cr8_from_guest(vcpu, svm);
	svm->gprs[GPR_RAX] = svm->vmcb->save.rax;
	svm->gprs[GPR_RSP] = svm->vmcb->save.rsp;
	atomic_set(&vcpu->mode, AXVM_VCPU_OUTSIDE);
	return true;
}

/*
 * One world switch. The guest's FPU state is the task's for the whole
 * AXVM_RUN (svm_vcpu_load); if the kernel used the FPU since the last
 * entry (a context switch, kernel_fpu_begin()), it is reloaded here.
 */
static bool svm_run_once(struct axvm_vcpu *vcpu, struct svm_vcpu *svm)
{
	bool entered;
#ifdef CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS
	u32 host_pkru = cpu_feature_enabled(X86_FEATURE_OSPKE) ? rdpkru() : 0;
#endif

	local_irq_disable();
	if (test_thread_flag(TIF_NEED_FPU_LOAD))
		switch_fpu_return();
	entered = svm_run_irqs_off(vcpu, svm);
#ifdef CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS
	/* The guest may have changed PKRU; the host's protects user memory. */
	if (cpu_feature_enabled(X86_FEATURE_OSPKE))
		wrpkru(host_pkru);
#endif
	local_irq_enable();		/* the host takes pending IRQs here */
	return entered;
}

/* Around the run loop: the guest's FPU state in, the task's back out. */
static void svm_vcpu_load(struct axvm_vcpu *vcpu)
{
	fpu_swap_kvm_fpstate(&to_svm(vcpu)->gfpu, true);
}

static void svm_vcpu_put(struct axvm_vcpu *vcpu)
{
	fpu_swap_kvm_fpstate(&to_svm(vcpu)->gfpu, false);
}

/* ------------------------------------------------------------------ */
/* Exit handling helpers                                               */
/* ------------------------------------------------------------------ */

static void svm_inject_exception(struct svm_vcpu *svm, u8 vector,
				 bool has_error, u32 error)
{
	svm->event_inj = vector | SVM_EVT_TYPE_EXCP | SVM_EVT_VALID |
			 (has_error ? SVM_EVT_ERR_VALID : 0) |
			 ((u64)error << 32);
}

static void svm_inject_ud(struct svm_vcpu *svm)
{
	svm_inject_exception(svm, X86_VEC_UD, false, 0);
}

static void svm_inject_gp(struct svm_vcpu *svm)
{
	svm_inject_exception(svm, X86_VEC_GP, true, 0);
}

/* RIP += len, wrapping as the CPU does outside 64-bit mode. */
static void svm_advance_rip(struct svm_vcpu *svm, unsigned int len)
{
	struct vmcb_save *save = &svm->vmcb->save;
	u64 rip = save->rip + len;

	if (!(save->efer & EFER_LMA) || !(save->cs.attrib & AXVM_SEG_L))
		rip = (save->cs.attrib & AXVM_SEG_DB) ? (u32)rip : (u16)rip;
	save->rip = rip;
	/* An emulated instruction ends any STI/MOV SS interrupt shadow. */
	svm->vmcb->control.int_state &= ~SVM_INT_STATE_SHADOW;
}

/* Moves RIP past an intercepted instruction of known length `len`. */
static void svm_skip(struct svm_vcpu *svm, unsigned int len)
{
	struct vmcb *vmcb = svm->vmcb;

	if (svm_has_nrip && vmcb->control.next_rip) {
		vmcb->save.rip = vmcb->control.next_rip;
		vmcb->control.int_state &= ~SVM_INT_STATE_SHADOW;
	} else {
		svm_advance_rip(svm, len);
	}
}

/*
 * An event being delivered when the exit happened (say, a #PF whose
 * IDT entry sat on a lazy page) must be delivered again (15.7.2).
 * Software interrupts are not re-injected: RIP still points at INTn,
 * so the guest simply executes it again.
 */
static void svm_requeue_event(struct svm_vcpu *svm)
{
	u64 info = svm->vmcb->control.exit_int_info;

	svm->vmcb->control.event_inj = 0;
	if (!(info & SVM_EVT_VALID))
		return;
	if ((info & SVM_EVT_TYPE_MASK) == SVM_EVT_TYPE_SOFT)
		return;
	svm->event_inj = info;
}

static struct x86_walk_regs svm_walk_regs(struct svm_vcpu *svm)
{
	struct vmcb_save *save = &svm->vmcb->save;
	struct x86_walk_regs r = {
		.cr0 = save->cr0, .cr3 = save->cr3,
		.cr4 = save->cr4, .efer = save->efer,
	};

	return r;
}

/* 16, 32 or 64: the default operand/address size of the code running. */
static int svm_cpu_mode(struct svm_vcpu *svm)
{
	struct vmcb_save *save = &svm->vmcb->save;

	if ((save->efer & EFER_LMA) && (save->cs.attrib & AXVM_SEG_L))
		return 64;
	if (!(save->cr0 & X86_CR0_PE))
		return 16;
	return (save->cs.attrib & AXVM_SEG_DB) ? 32 : 16;
}

/* The walker keeps -EFAULT for guest page faults: not-memory is -ENXIO. */
static int svm_read_gpa_cb(void *ctx, u64 gpa, void *buf, unsigned int len)
{
	int ret = axvm_read_gpa(ctx, gpa, buf, len);

	return ret == -EFAULT ? -ENXIO : ret;
}

/* Fetches the instruction at CS:RIP through the guest's page tables. */
static int svm_fetch(struct axvm_vcpu *vcpu, u8 *bytes, unsigned int *n)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	struct x86_walk_regs r = svm_walk_regs(svm);
	u64 rip = svm->vmcb->save.rip;

	if (svm_cpu_mode(svm) != 64)
		rip = (u32)(svm->vmcb->save.cs.base + rip);
	unsigned int access = svm->vmcb->save.cpl == 3 ? X86_WALK_USER : 0;

	return x86_fetch_insn(&r, rip, access, svm_read_gpa_cb, vcpu->vm,
			      bytes, n);
}

static enum axvm_entry_result svm_internal(struct axvm_vcpu *vcpu,
					   u32 suberror)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	struct axvm_run *run = vcpu->run;

	run->exit_reason = AXVM_EXIT_INTERNAL_ERROR;
	run->internal.suberror = suberror;
	run->internal.ndata = 4;
	run->internal.data[0] = svm->vmcb->control.exit_code;
	run->internal.data[1] = svm->vmcb->control.exit_info_1;
	run->internal.data[2] = svm->vmcb->control.exit_info_2;
	run->internal.data[3] = svm->vmcb->save.rip;
	return AXVM_ENTRY_USER;
}

/* ------------------------------------------------------------------ */
/* Exit handlers                                                       */
/* ------------------------------------------------------------------ */

static enum axvm_entry_result svm_exit_cpuid(struct axvm_vcpu *vcpu,
					     struct svm_vcpu *svm)
{
	struct x86_cpuid_ctx ctx = {
		.vcpu_id = vcpu->phys_id,
		.cr4 = svm->vmcb->save.cr4,
		.xcr0 = svm->xcr0,
		.lapic = READ_ONCE(vcpu->vm->has_lapic),
		.apic_enabled = x86_lapic_hw_enabled(vcpu),
		.pvclock = x86_pvclock_available(),
		.pvclock_stable = x86_pvclock_stable(),
	};
	u32 out[4];

	x86_cpuid(&ctx, (u32)svm->gprs[GPR_RAX], (u32)svm->gprs[GPR_RCX],
		  out);
	svm->gprs[GPR_RAX] = out[0];
	svm->gprs[GPR_RBX] = out[1];
	svm->gprs[GPR_RCX] = out[2];
	svm->gprs[GPR_RDX] = out[3];
	svm_skip(svm, 2);
	return AXVM_ENTRY_HANDLED;
}

/* MSRs kept in the VMCB save area, loaded by VMRUN or VMLOAD. */
static u64 *svm_vmcb_msr(struct vmcb_save *save, u32 msr)
{
	switch (msr) {
	case MSR_STAR:			return &save->star;
	case MSR_LSTAR:			return &save->lstar;
	case MSR_CSTAR:			return &save->cstar;
	case MSR_SYSCALL_MASK:		return &save->sfmask;
	case MSR_KERNEL_GS_BASE:	return &save->kernel_gs_base;
	case MSR_FS_BASE:		return &save->fs.base;
	case MSR_GS_BASE:		return &save->gs.base;
	case MSR_IA32_SYSENTER_CS:	return &save->sysenter_cs;
	case MSR_IA32_SYSENTER_ESP:	return &save->sysenter_esp;
	case MSR_IA32_SYSENTER_EIP:	return &save->sysenter_eip;
	default:			return NULL;
	}
}

static bool svm_msr_needs_canonical(u32 msr)
{
	return msr == MSR_LSTAR || msr == MSR_CSTAR ||
	       msr == MSR_KERNEL_GS_BASE || msr == MSR_FS_BASE ||
	       msr == MSR_GS_BASE || msr == MSR_IA32_SYSENTER_ESP ||
	       msr == MSR_IA32_SYSENTER_EIP;
}

/* EFER as the guest sees it: SVME hidden, a withheld LME shown. */
static u64 svm_guest_efer(struct svm_vcpu *svm)
{
	u64 efer = svm->vmcb->save.efer & ~EFER_SVME;

	return svm->lme_withheld ? efer | EFER_LME : efer;
}

/*
 * The KVM clock MSRs (see pvclock.c): bit 0 enables, the rest is the
 * GPA of the record. -EINVAL for #GP, -ENOENT if not one of them.
 */
static int svm_wrmsr_pvclock(struct axvm_vcpu *vcpu, struct svm_vcpu *svm,
			     u32 msr, u64 val)
{
	if (!x86_pvclock_available() ||
	    (msr != MSR_KVM_SYSTEM_TIME_NEW && msr != MSR_KVM_WALL_CLOCK_NEW))
		return -ENOENT;
	/* A write that raises #GP changes nothing: the MSR keeps its value. */
	if (msr == MSR_KVM_WALL_CLOCK_NEW) {
		if (x86_pvclock_wall_clock(vcpu, val))
			return -EINVAL;
		svm->wall_clock_msr = val;
		return 0;
	}
	if ((val & 1) && x86_pvclock_publish(vcpu, val & ~1ULL,
					     svm->vmcb->control.tsc_offset))
		return -EINVAL;
	svm->pvclock_msr = val;	/* bit 0 clear: the guest stops reading it */
	return 0;
}

/*
 * The legacy AMD performance counters: PerfEvtSel0-3 (0xc0010000-3) and
 * PerfCtr0-3 (0xc0010004-7), AMD64 APM vol. 2, 13.2 "Performance
 * Monitoring Counters". Every AMD64 CPU has them and no CPUID bit says
 * so (only the extended set, PerfCtrExtCore, has one, and we hide it),
 * so an AMD guest may touch them without asking: kvm-unit-tests'
 * pmu_init() clears all eight at boot. We do not virtualise a PMU: they
 * read as 0 (no event selected, nothing counted) and a write of 0, which
 * changes nothing, is accepted; any other value would program a counter
 * we do not have and raises #GP, as for DEBUGCTL (Linux's perf probe
 * then reports "Broken PMU hardware" and uses software events).
 */
static bool svm_msr_is_legacy_perf(u32 msr)
{
	return msr >= MSR_K7_EVNTSEL0 && msr <= MSR_K7_PERFCTR3;
}

/* Returns 0, or -EINVAL for "inject #GP". */
static int svm_rdmsr(struct axvm_vcpu *vcpu, struct svm_vcpu *svm, u32 msr,
		     u64 *val)
{
	struct vmcb_save *save = &svm->vmcb->save;
	u64 *slot = svm_vmcb_msr(save, msr);
	int ret;

	if (slot) {
		*val = *slot;
		return 0;
	}
	ret = x86_lapic_rdmsr(vcpu, msr, val);
	if (ret != -ENOENT)
		return ret;
	switch (msr) {
	case MSR_KVM_SYSTEM_TIME_NEW:
	case MSR_KVM_WALL_CLOCK_NEW:
		if (!x86_pvclock_available())
			return -EINVAL;
		*val = msr == MSR_KVM_SYSTEM_TIME_NEW ? svm->pvclock_msr :
							svm->wall_clock_msr;
		return 0;
	case MSR_EFER:
		*val = svm_guest_efer(svm);
		return 0;
	case MSR_IA32_CR_PAT:
		*val = save->g_pat;
		return 0;
	case MSR_IA32_TSC:
		*val = rdtsc() + svm->vmcb->control.tsc_offset;
		return 0;
	case MSR_IA32_DEBUGCTLMSR:
		*val = 0;
		return 0;
	default:
		if (svm_msr_is_legacy_perf(msr)) {
			*val = 0;
			return 0;
		}
		return -EINVAL;
	}
}

/* EFER writes (APM vol. 2, 3.1.7); SVME stays ours and stays hidden. */
static int svm_set_efer(struct svm_vcpu *svm, u64 val)
{
	struct vmcb_save *save = &svm->vmcb->save;
	u64 allowed = EFER_SCE | EFER_LME | EFER_LMA | EFER_NX | EFER_FFXSR;

	if (val & ~allowed)
		return -EINVAL;		/* includes EFER.SVME */
	if ((save->cr0 & X86_CR0_PG) &&
	    ((val ^ svm_guest_efer(svm)) & EFER_LME))
		return -EINVAL;		/* LME changes only with paging off */
	/* LMA is the CPU's to set; keep the current value. */
	save->efer = (val & ~EFER_LMA) | (save->efer & EFER_LMA) | EFER_SVME;
	svm->lme_withheld = false;	/* svm_sync_lme() decides again */
	return 0;
}

static int svm_wrmsr(struct axvm_vcpu *vcpu, struct svm_vcpu *svm, u32 msr,
		     u64 val)
{
	struct vmcb_save *save = &svm->vmcb->save;
	u64 *slot = svm_vmcb_msr(save, msr);
	bool la57 = save->cr4 & X86_CR4_LA57;
	int ret;

	if (slot) {
		if (svm_msr_needs_canonical(msr) &&
		    !x86_is_canonical(val, la57))
			return -EINVAL;
		*slot = val;
		return 0;
	}
	ret = x86_lapic_wrmsr(vcpu, msr, val,
			      rdtsc() + svm->vmcb->control.tsc_offset);
	if (ret != -ENOENT)
		return ret;
	ret = svm_wrmsr_pvclock(vcpu, svm, msr, val);
	if (ret != -ENOENT)
		return ret;
	switch (msr) {
	case MSR_EFER:
		return svm_set_efer(svm, val);
	case MSR_IA32_CR_PAT:
		if (!x86_pat_valid(val))
			return -EINVAL;
		save->g_pat = val;
		return 0;
	case MSR_IA32_TSC:
		svm->vmcb->control.tsc_offset = val - rdtsc();
		return 0;
	case MSR_IA32_DEBUGCTLMSR:
		return val ? -EINVAL : 0;
	default:
		if (svm_msr_is_legacy_perf(msr))
			return val ? -EINVAL : 0;
		return -EINVAL;
	}
}

static enum axvm_entry_result svm_exit_msr(struct axvm_vcpu *vcpu,
					   struct svm_vcpu *svm)
{
	u32 msr = (u32)svm->gprs[GPR_RCX];
	bool write = svm->vmcb->control.exit_info_1 == 1;
	u64 val;
	int ret;

	if (write) {
		val = (u32)svm->gprs[GPR_RAX] |
		      ((u64)(u32)svm->gprs[GPR_RDX] << 32);
		ret = svm_wrmsr(vcpu, svm, msr, val);
	} else {
		ret = svm_rdmsr(vcpu, svm, msr, &val);
		if (!ret) {
			svm->gprs[GPR_RAX] = (u32)val;
			svm->gprs[GPR_RDX] = val >> 32;
		}
	}
	if (ret) {
		pr_debug("axvm: VM %u vCPU %u: %s of MSR 0x%x -> #GP\n",
			 vcpu->vm->id, vcpu->id, write ? "write" : "read", msr);
		axvm_stat_inc(vcpu, AXVM_STAT_MSR_UNKNOWN);
		svm_inject_gp(svm);
	} else {
		svm_skip(svm, 2);
	}
	return AXVM_ENTRY_HANDLED;
}

static enum axvm_entry_result svm_exit_xsetbv(struct svm_vcpu *svm)
{
	u64 val = (u32)svm->gprs[GPR_RAX] |
		  ((u64)(u32)svm->gprs[GPR_RDX] << 32);

	if ((u32)svm->gprs[GPR_RCX] != 0 || svm->vmcb->save.cpl != 0 ||
	    !x86_xcr0_valid(val)) {
		svm_inject_gp(svm);
		return AXVM_ENTRY_HANDLED;
	}
	svm->xcr0 = val;
	svm_skip(svm, 3);
	return AXVM_ENTRY_HANDLED;
}

static enum axvm_entry_result svm_exit_ioio(struct axvm_vcpu *vcpu,
					    struct svm_vcpu *svm)
{
	u64 info = svm->vmcb->control.exit_info_1;
	struct axvm_run *run = vcpu->run;
	u8 width = (info >> SVM_IOIO_SZ_SHIFT) & 7;	/* 1, 2 or 4 */

	if (info & (SVM_IOIO_STR | SVM_IOIO_REP))
		return svm_internal(vcpu, AXVM_INTERNAL_EMULATION);
	width = width == 4 ? 4 : width == 2 ? 2 : 1;
	run->exit_reason = AXVM_EXIT_IO;
	run->io.port = info >> SVM_IOIO_PORT_SHIFT;
	run->io.width = width;
	run->io.reserved = 0;
	if (info & SVM_IOIO_IN) {
		run->io.direction = AXVM_IO_IN;
		run->io.data = 0;
		svm->pending = X86_PENDING_IO_IN;
		svm->io_width = width;
		svm->pending_next_rip = svm->vmcb->control.exit_info_2;
	} else {
		run->io.direction = AXVM_IO_OUT;
		run->io.data = svm->gprs[GPR_RAX] & GENMASK_ULL(width * 8 - 1, 0);
		svm->vmcb->save.rip = svm->vmcb->control.exit_info_2;
	}
	return AXVM_ENTRY_USER;
}

/* VMMCALL from CPL 0 is a hypercall; from user mode it is #UD. */
static enum axvm_entry_result svm_exit_vmmcall(struct axvm_vcpu *vcpu,
					       struct svm_vcpu *svm)
{
	struct axvm_run *run = vcpu->run;

	if (svm->vmcb->save.cpl != 0) {
		svm_inject_ud(svm);
		return AXVM_ENTRY_HANDLED;
	}
	run->exit_reason = AXVM_EXIT_HYPERCALL;
	run->hypercall.nr = svm->gprs[GPR_RAX];
	run->hypercall.args[0] = svm->gprs[GPR_RBX];
	run->hypercall.args[1] = svm->gprs[GPR_RCX];
	run->hypercall.args[2] = svm->gprs[GPR_RDX];
	run->hypercall.args[3] = svm->gprs[GPR_RSI];
	run->hypercall.ret = 0;
	svm->pending = X86_PENDING_HYPERCALL;
	svm_skip(svm, 3);
	return AXVM_ENTRY_USER;
}

#define X86_DR6_BD	BIT(13)		/* debug register access detected */
#define X86_DR7_FIXED_1	BIT(10)		/* reads as 1 */
#define X86_DR7_FIXED_0	(BIT(11) | BIT(12) | BIT(14) | BIT(15))

/*
 * MOV to/from DRn: emulated against shadow registers that never reach
 * the hardware, so a guest cannot arm breakpoints on host addresses.
 * Without decode assists the GPR comes from the instruction's ModRM.
 */
static enum axvm_entry_result svm_exit_dr(struct axvm_vcpu *vcpu,
					  struct svm_vcpu *svm, u64 code)
{
	bool write = code >= SVM_EXIT_READ_DR0 + 16;
	unsigned int dr = (code - SVM_EXIT_READ_DR0) & 15;
	unsigned int gpr, len;
	u64 *slot, val;
	int ret;

	if (svm->vmcb->save.cpl != 0) {
		svm_inject_gp(svm);
		return AXVM_ENTRY_HANDLED;
	}
	if (dr == 4 || dr == 5) {
		/*
		 * Aliases of DR6/DR7 only while CR4.DE is clear; with debug
		 * extensions on they are reserved (SDM vol. 3, 17.2.2; vol.
		 * 2, "MOV--Move to/from Debug Registers": #UD).
		 */
		if (svm->vmcb->save.cr4 & X86_CR4_DE) {
			svm_inject_ud(svm);
			return AXVM_ENTRY_HANDLED;
		}
		dr += 2;
	}
	if (dr > 7) {
		svm_inject_ud(svm);
		return AXVM_ENTRY_HANDLED;
	}
	ret = svm_decode_mov_crdr(vcpu, &gpr, &len);
	if (ret == -EFAULT) {
		svm_inject_ud(svm);
		return AXVM_ENTRY_HANDLED;
	}
	if (ret)
		return svm_internal(vcpu, AXVM_INTERNAL_EMULATION);
	slot = dr < 4 ? &svm->dr[dr] : dr == 6 ? &svm->dr6 : &svm->dr7;
	if (!write) {
		svm->gprs[gpr] = *slot;
		svm_skip(svm, len);
		return AXVM_ENTRY_HANDLED;
	}
	val = svm->gprs[gpr];
	if (svm_cpu_mode(svm) != 64)
		val = (u32)val;
	/*
	 * DR6 and DR7 are 32-bit registers with fixed bits: a 1 in bits
	 * 63:32 is a #GP (SDM vol. 2, "MOV--Move to/from Debug Registers");
	 * DR6's reserved bits read as 1 except bit 12, DR7's bit 10 reads
	 * as 1 and bits 11, 12, 14 and 15 as 0 (SDM vol. 3, 17.2.3, 17.2.4).
	 */
	if (dr >= 6 && (val >> 32)) {
		svm_inject_gp(svm);
		return AXVM_ENTRY_HANDLED;
	}
	if (dr == 6)
		val = (val & (DR_TRAP_BITS | X86_DR6_BD | DR_STEP | DR_SWITCH)) |
		      DR6_RESERVED;
	else if (dr == 7)
		val = (val & ~X86_DR7_FIXED_0) | X86_DR7_FIXED_1;
	*slot = val;
	svm_skip(svm, len);
	return AXVM_ENTRY_HANDLED;
}

/*
 * EFER.LME with CR0.PG and CR4.PAE both clear is a legal state (on the
 * way into long mode), but QEMU's emulated SVM (7.2, our test bed) wedges
 * the host CPU on #VMEXIT from it: it restores the host's CR0 while CR4
 * still holds the guest's PAE=0 and gives up entering long mode. So in
 * that state LME stays out of the VMCB (the guest still reads it), and
 * the writes that could leave it are intercepted: CR4 (setting PAE) and
 * CR0 (setting PG, which is a #GP there anyway). Real hardware does not
 * need this; it costs nothing outside that state.
 */
static void svm_sync_lme(struct svm_vcpu *svm)
{
	struct vmcb *vmcb = svm->vmcb;
	bool lme = svm_guest_efer(svm) & EFER_LME;
	bool withhold = lme && !(vmcb->save.cr0 & X86_CR0_PG) &&
			!(vmcb->save.cr4 & X86_CR4_PAE);
	bool watch_cr4 = lme && !(vmcb->save.cr0 & X86_CR0_PG);

	svm->lme_withheld = withhold;
	if (withhold)
		vmcb->save.efer &= ~EFER_LME;
	else if (lme)
		vmcb->save.efer |= EFER_LME;
	vmcb->control.intercept_cr &= ~(SVM_CR_WRITE(4));
	vmcb->control.intercept_misc1 &= ~BIT(SVM_I_CR0_SEL_WRITE);
	if (watch_cr4)
		vmcb->control.intercept_cr |= SVM_CR_WRITE(4);
	if (withhold)
		vmcb->control.intercept_misc1 |= BIT(SVM_I_CR0_SEL_WRITE);
}

/*
 * Decodes MOV to/from CRn/DRn ([REX] 0F 2x ModRM, always register form):
 * *gpr is the GPR operand, *len the length. No decode assists here.
 */
static int svm_decode_mov_crdr(struct axvm_vcpu *vcpu, unsigned int *gpr,
			       unsigned int *len)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	unsigned int n = 15, i = 0;
	u8 insn[15];

	if (svm_fetch(vcpu, insn, &n) || n < 3)
		return -EFAULT;
	*gpr = 0;
	if ((insn[0] & 0xf0) == 0x40 && svm_cpu_mode(svm) == 64)
		*gpr = (insn[i++] & 1) << 3;	/* REX.B */
	if (i + 2 >= n || insn[i] != 0x0f || (insn[i + 1] & 0xfc) != 0x20)
		return -EINVAL;
	*gpr |= insn[i + 2] & 7;
	*len = i + 3;
	return 0;
}

/*
 * MOV to CR0/CR4 while svm_sync_lme() watches, and to CR8 while
 * svm_sync_cr8_to_guest() does (SDM vol. 2, "MOV CRn").
 */
static enum axvm_entry_result svm_exit_cr_write(struct axvm_vcpu *vcpu,
						struct svm_vcpu *svm, int cr)
{
	struct vmcb_save *save = &svm->vmcb->save;
	unsigned int gpr, len;
	u64 val;

	if (save->cpl != 0) {
		svm_inject_gp(svm);
		return AXVM_ENTRY_HANDLED;
	}
	if (svm_decode_mov_crdr(vcpu, &gpr, &len))
		return svm_internal(vcpu, AXVM_INTERNAL_EMULATION);
	val = svm->gprs[gpr];
	if (svm_cpu_mode(svm) != 64)
		val = (u32)val;
	if (cr == 8) {
		/* Bits 63:4 are reserved (SDM vol. 3, 2.5 "Control Registers"). */
		if (val & ~SVM_INT_CTL_V_TPR) {
			svm_inject_gp(svm);
			return AXVM_ENTRY_HANDLED;
		}
		x86_lapic_set_cr8(vcpu, val);
		svm->vmcb->control.int_ctl =
			(svm->vmcb->control.int_ctl & ~SVM_INT_CTL_V_TPR) | val;
	} else if (cr == 0) {
		/* PG needs PE; NW needs CD; long mode needs PAE. */
		if ((val >> 32) || ((val & X86_CR0_PG) && !(val & X86_CR0_PE)) ||
		    ((val & X86_CR0_NW) && !(val & X86_CR0_CD)) ||
		    ((val & X86_CR0_PG) && svm->lme_withheld)) {
			svm_inject_gp(svm);
			return AXVM_ENTRY_HANDLED;
		}
		save->cr0 = val | X86_CR0_ET;
	} else {
		/* VMXE and anything above SMAP/PKE is not ours to give. */
		if ((val & (X86_CR4_VMXE | ~GENMASK_ULL(24, 0))) ||
		    ((save->efer & EFER_LMA) && !(val & X86_CR4_PAE))) {
			svm_inject_gp(svm);
			return AXVM_ENTRY_HANDLED;
		}
		save->cr4 = val;
	}
	svm_skip(svm, len);
	return AXVM_ENTRY_HANDLED;
}

static enum axvm_entry_result svm_exit_npf(struct axvm_vcpu *vcpu,
					   struct svm_vcpu *svm)
{
	u64 err = svm->vmcb->control.exit_info_1;

	vcpu->npf.gpa = svm->vmcb->control.exit_info_2;
	vcpu->npf.access = ((err & SVM_NPF_WRITE) ? AXVM_NPF_WRITE : 0) |
			   ((err & SVM_NPF_FETCH) ? AXVM_NPF_FETCH : 0) |
			   ((err & SVM_NPF_WALK) ? AXVM_NPF_WALK : 0);
	return AXVM_ENTRY_NPF;
}

static enum axvm_entry_result svm_exit_exception(struct svm_vcpu *svm,
						 unsigned int vector)
{
	if (vector == X86_VEC_DB) {
		/*
		 * The CPU recorded this #DB's cause (B0-B3, BD, BS, BT) in
		 * DR6 before the intercept, and VMCB.DR6 holds it (APM vol.
		 * 2, 15.12 "Exception Intercepts"); the guest reads DR6 from
		 * our shadow, so the cause goes there as the CPU would have
		 * put it: B0-B3 describe this exception, BD, BS and BT stay
		 * set until software clears them (SDM vol. 3, 17.2.3). Its
		 * handler then sees e.g. BS for a single step.
		 */
		u64 hw = svm->vmcb->save.dr6 & (DR_TRAP_BITS | X86_DR6_BD |
						DR_STEP | DR_SWITCH);

		svm->dr6 = (svm->dr6 & ~(u64)DR_TRAP_BITS) | hw;
		svm->vmcb->save.dr6 = DR6_RESERVED;
	}
	if (vector == X86_VEC_MC) {
		/* A host machine check: let the host's handler see it. */
		asm volatile("int $0x12");
		return AXVM_ENTRY_HANDLED;
	}
	/*
	 * #DB and #AC are intercepted only so that a guest cannot wedge the
	 * CPU in an endless delivery loop (CVE-2015-5307, CVE-2015-8104);
	 * they go straight back to the guest.
	 */
	svm_inject_exception(svm, vector, vector == X86_VEC_AC, 0);
	return AXVM_ENTRY_HANDLED;
}

static enum axvm_entry_result svm_exit_simple(struct axvm_vcpu *vcpu,
					      u32 reason)
{
	struct svm_vcpu *svm = to_svm(vcpu);

	vcpu->run->exit_reason = reason;
	vcpu->run->guest.rip = svm->vmcb->save.rip;
	return AXVM_ENTRY_USER;
}

/*
 * HLT with interrupts enabled waits in the kernel for an interrupt (or a
 * signal, or the VM leaving RUNNING); with interrupts disabled nothing
 * could ever wake the guest, so userspace gets AXVM_EXIT_HLT.
 */
static enum axvm_entry_result svm_exit_hlt(struct axvm_vcpu *vcpu,
					   struct svm_vcpu *svm)
{
	svm_skip(svm, 1);
	if (!(svm->vmcb->save.rflags & X86_EFLAGS_IF))
		return svm_exit_simple(vcpu, AXVM_EXIT_HLT);
	if (axvm_vcpu_next_irq(vcpu) < 0)
		axvm_vcpu_halt(vcpu);
	return AXVM_ENTRY_HANDLED;
}

static enum axvm_entry_result svm_handle_exit(struct axvm_vcpu *vcpu,
					      struct svm_vcpu *svm)
{
	u64 code = svm->vmcb->control.exit_code;

	axvm_stat_inc(vcpu, AXVM_STAT_EXITS);
	svm_requeue_event(svm);
	switch (code) {
	case SVM_EXIT_INTR:
	case SVM_EXIT_NMI:
	case SVM_EXIT_SMI:
	case SVM_EXIT_FERR_FREEZE:
		axvm_stat_inc(vcpu, AXVM_STAT_HOST_IRQ);
		return AXVM_ENTRY_HANDLED;	/* the host took it already */
	case SVM_EXIT_CPUID:
		axvm_stat_inc(vcpu, AXVM_STAT_CPUID);
		return svm_exit_cpuid(vcpu, svm);
	case SVM_EXIT_MSR:
		axvm_stat_inc(vcpu, AXVM_STAT_MSR);
		return svm_exit_msr(vcpu, svm);
	case SVM_EXIT_XSETBV:
		axvm_stat_inc(vcpu, AXVM_STAT_OTHER);
		return svm_exit_xsetbv(svm);
	case SVM_EXIT_IOIO:
		return svm_exit_ioio(vcpu, svm);
	case SVM_EXIT_NPF:
		return svm_exit_npf(vcpu, svm);
	case SVM_EXIT_VMMCALL:
		return svm_exit_vmmcall(vcpu, svm);
	case SVM_EXIT_HLT:
		return svm_exit_hlt(vcpu, svm);
	case SVM_EXIT_WRITE_CR4:
		axvm_stat_inc(vcpu, AXVM_STAT_OTHER);
		return svm_exit_cr_write(vcpu, svm, 4);
	case SVM_EXIT_WRITE_CR8:
		axvm_stat_inc(vcpu, AXVM_STAT_OTHER);
		return svm_exit_cr_write(vcpu, svm, 8);
	case SVM_EXIT_CR0_SEL_WRITE:
		axvm_stat_inc(vcpu, AXVM_STAT_OTHER);
		return svm_exit_cr_write(vcpu, svm, 0);
	case SVM_EXIT_IRET:
		/* The NMI handler returns: NMIs may come again. */
		svm->nmi_masked = false;
		svm->vmcb->control.intercept_misc1 &= ~BIT(SVM_I_IRET);
		return AXVM_ENTRY_HANDLED;
	case SVM_EXIT_VINTR:
		svm_close_irq_window(svm);
		axvm_stat_inc(vcpu, AXVM_STAT_IRQ_WINDOW);
		return AXVM_ENTRY_HANDLED;
	case SVM_EXIT_SHUTDOWN:
		svm->shut_down = true;
		return svm_exit_simple(vcpu, AXVM_EXIT_SHUTDOWN);
	case SVM_EXIT_WBINVD:
	case SVM_EXIT_INVD:
		/* Guest memory is ordinary write-back memory: nothing to do. */
		axvm_stat_inc(vcpu, AXVM_STAT_OTHER);
		svm_skip(svm, 2);
		return AXVM_ENTRY_HANDLED;
	case SVM_EXIT_RDPMC:
		axvm_stat_inc(vcpu, AXVM_STAT_FORBIDDEN);
		svm_inject_gp(svm);
		return AXVM_ENTRY_HANDLED;
	case SVM_EXIT_VMRUN: case SVM_EXIT_VMLOAD: case SVM_EXIT_VMSAVE:
	case SVM_EXIT_STGI: case SVM_EXIT_CLGI: case SVM_EXIT_SKINIT:
	case SVM_EXIT_INVLPGA: case SVM_EXIT_RDTSCP: case SVM_EXIT_MONITOR:
	case SVM_EXIT_MWAIT: case SVM_EXIT_MWAIT_COND: case SVM_EXIT_RDPRU:
		axvm_stat_inc(vcpu, AXVM_STAT_FORBIDDEN);
		svm_inject_ud(svm);	/* not offered by our CPUID */
		return AXVM_ENTRY_HANDLED;
	case SVM_EXIT_INVALID:
	case (u32)SVM_EXIT_INVALID:
		/* Hardware writes -1; QEMU's emulation writes only 32 bits of it. */
		vcpu->run->exit_reason = AXVM_EXIT_FAIL_ENTRY;
		vcpu->run->fail_entry.hw_reason = SVM_EXIT_INVALID;
		vcpu->run->fail_entry.info1 = svm->vmcb->control.exit_info_1;
		return AXVM_ENTRY_USER;
	default:
		break;
	}
	if (code >= SVM_EXIT_READ_DR0 && code <= SVM_EXIT_WRITE_DR7) {
		axvm_stat_inc(vcpu, AXVM_STAT_OTHER);
		return svm_exit_dr(vcpu, svm, code);
	}
	if (code >= SVM_EXIT_EXCP_BASE && code < SVM_EXIT_EXCP_BASE + 32) {
		axvm_stat_inc(vcpu, AXVM_STAT_EXCEPTION);
		return svm_exit_exception(svm, code - SVM_EXIT_EXCP_BASE);
	}
	return svm_internal(vcpu, AXVM_INTERNAL_UNEXPECTED);
}

/* SIPI: real mode at vector << 12, CS = vector << 8 (SDM vol. 3, 8.4.4.1). */
static void svm_start_at_sipi(struct svm_vcpu *svm, u8 vector)
{
	struct vmcb_save *save = &svm->vmcb->save;

	save->cs.selector = (u16)vector << 8;
	save->cs.base = (u64)vector << 12;
	save->rip = 0;
}

/*
 * With a local APIC, INIT and SIPI decide whether the vCPU may run: an
 * AP waits for its SIPI here, asleep. Returns false if it must not enter.
 */
static bool svm_mp_ready(struct axvm_vcpu *vcpu, struct svm_vcpu *svm)
{
	u8 vector = 0;

	switch (x86_lapic_mp_action(vcpu, &vector)) {
	case X86_MP_RUN:
		return true;
	case X86_MP_SIPI:
		svm_start_at_sipi(svm, vector);
		return true;
	case X86_MP_INIT:
		svm_cpu_reset(vcpu);
		x86_lapic_reset(vcpu, true);
		return false;	/* the loop comes back: now waiting */
	case X86_MP_WAIT:
		x86_lapic_wait_sipi(vcpu);
		return false;
	}
	return false;
}

static enum axvm_entry_result svm_vcpu_enter(struct axvm_vcpu *vcpu)
{
	struct svm_vcpu *svm = to_svm(vcpu);

	if (!svm_mp_ready(vcpu, svm))
		return AXVM_ENTRY_HANDLED;	/* the loop sees why */
	if (svm->shut_down)	/* until userspace sets a new state */
		return svm_exit_simple(vcpu, AXVM_EXIT_SHUTDOWN);
	if (!svm_run_once(vcpu, svm))
		return AXVM_ENTRY_HANDLED;	/* the loop sees why */
	return svm_handle_exit(vcpu, svm);
}

/* ------------------------------------------------------------------ */
/* MMIO and completion of userspace exits                              */
/* ------------------------------------------------------------------ */

static enum axvm_entry_result svm_vcpu_mmio(struct axvm_vcpu *vcpu)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	struct x86_mmio_insn *insn = &svm->mmio_insn;
	struct axvm_run *run = vcpu->run;
	u8 bytes[15];
	unsigned int n = sizeof(bytes);

	if (vcpu->npf.access & AXVM_NPF_WALK)	/* page tables in MMIO */
		return svm_internal(vcpu, AXVM_INTERNAL_EMULATION);
	/*
	 * The fault hit while the CPU delivered an event (an IDT or stack
	 * in MMIO): RIP is not the faulting instruction, so nothing can be
	 * decoded. The guest is beyond help; say so.
	 */
	if (svm->vmcb->control.exit_int_info & SVM_EVT_VALID) {
		svm->event_inj = 0;
		return svm_internal(vcpu, AXVM_INTERNAL_EVENT_DELIVERY);
	}
	if (svm_fetch(vcpu, bytes, &n))
		return svm_internal(vcpu, AXVM_INTERNAL_FETCH);
	if (x86_decode_mmio(bytes, n, svm_cpu_mode(svm), insn)) {
		struct axvm_run *r = vcpu->run;

		svm_internal(vcpu, AXVM_INTERNAL_EMULATION);
		/* data[4..5]: the instruction bytes, data[6]: how many. */
		r->internal.ndata = 7;
		r->internal.data[4] = 0;
		r->internal.data[5] = 0;
		memcpy(&r->internal.data[4], bytes, min_t(unsigned int, n, 15));
		r->internal.data[6] = n;
		return AXVM_ENTRY_USER;
	}
	run->exit_reason = AXVM_EXIT_MMIO;
	run->mmio.gpa = vcpu->npf.gpa;
	run->mmio.width = insn->width;
	memset(run->mmio.reserved, 0, sizeof(run->mmio.reserved));
	if (insn->kind == X86_OP_STORE) {
		run->mmio.is_write = 1;
		run->mmio.data = x86_store_value(svm->gprs[insn->reg], insn);
		svm_advance_rip(svm, insn->len);
	} else {
		run->mmio.is_write = 0;
		run->mmio.data = 0;
		svm->pending = X86_PENDING_MMIO_READ;
	}
	return AXVM_ENTRY_USER;
}

/* Writes the low `width` bytes of an IN into RAX (SDM vol. 2, "IN"). */
static u64 svm_merge_in(u64 rax, u8 width, u64 data)
{
	if (width == 4)
		return (u32)data;
	if (width == 2)
		return (rax & ~0xffffULL) | (u16)data;
	return (rax & ~0xffULL) | (u8)data;
}

static void svm_complete_user_exit(struct axvm_vcpu *vcpu)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	struct axvm_run *run = vcpu->run;
	struct x86_mmio_insn *insn = &svm->mmio_insn;

	switch (svm->pending) {
	case X86_PENDING_IO_IN:
		svm->gprs[GPR_RAX] = svm_merge_in(svm->gprs[GPR_RAX],
						  svm->io_width, run->io.data);
		svm->vmcb->save.rip = svm->pending_next_rip;
		break;
	case X86_PENDING_MMIO_READ:
		svm->gprs[insn->reg] = x86_merge_load(svm->gprs[insn->reg],
						      insn, run->mmio.data);
		svm_advance_rip(svm, insn->len);
		break;
	case X86_PENDING_HYPERCALL:
		svm->gprs[GPR_RAX] = run->hypercall.ret;
		break;
	case X86_PENDING_NONE:
		break;
	}
	svm->pending = X86_PENDING_NONE;
}

/* ------------------------------------------------------------------ */
/* Register access                                                     */
/* ------------------------------------------------------------------ */

static void svm_get_regs(struct axvm_vcpu *vcpu, struct axvm_regs *regs)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	const u64 *g = svm->gprs;

	regs->rax = g[GPR_RAX]; regs->rbx = g[GPR_RBX];
	regs->rcx = g[GPR_RCX]; regs->rdx = g[GPR_RDX];
	regs->rsi = g[GPR_RSI]; regs->rdi = g[GPR_RDI];
	regs->rsp = g[GPR_RSP]; regs->rbp = g[GPR_RBP];
	regs->r8 = g[GPR_R8];   regs->r9 = g[GPR_R9];
	regs->r10 = g[GPR_R10]; regs->r11 = g[GPR_R11];
	regs->r12 = g[GPR_R12]; regs->r13 = g[GPR_R13];
	regs->r14 = g[GPR_R14]; regs->r15 = g[GPR_R15];
	regs->rip = svm->vmcb->save.rip;
	regs->rflags = svm->vmcb->save.rflags;
}

static int svm_set_regs(struct axvm_vcpu *vcpu, const struct axvm_regs *regs)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	u64 *g = svm->gprs;

	g[GPR_RAX] = regs->rax; g[GPR_RBX] = regs->rbx;
	g[GPR_RCX] = regs->rcx; g[GPR_RDX] = regs->rdx;
	g[GPR_RSI] = regs->rsi; g[GPR_RDI] = regs->rdi;
	g[GPR_RSP] = regs->rsp; g[GPR_RBP] = regs->rbp;
	g[GPR_R8] = regs->r8;   g[GPR_R9] = regs->r9;
	g[GPR_R10] = regs->r10; g[GPR_R11] = regs->r11;
	g[GPR_R12] = regs->r12; g[GPR_R13] = regs->r13;
	g[GPR_R14] = regs->r14; g[GPR_R15] = regs->r15;
	svm->vmcb->save.rip = regs->rip;
	/* RFLAGS bit 1 is always 1; a guest never sees it clear. */
	svm->vmcb->save.rflags = regs->rflags | X86_EFLAGS_FIXED;
	/* New registers abandon whatever instruction was half done. */
	svm->pending = X86_PENDING_NONE;
	return 0;
}

static void svm_seg_to_user(const struct vmcb_seg *s, struct axvm_segment *u)
{
	u->base = s->base;
	u->limit = s->limit;
	u->selector = s->selector;
	u->attrib = s->attrib;
}

static void svm_seg_from_user(const struct axvm_segment *u, struct vmcb_seg *s)
{
	s->base = u->base;
	s->limit = u->limit;
	s->selector = u->selector;
	s->attrib = u->attrib & 0x1fff;
}

static void svm_get_sregs(struct axvm_vcpu *vcpu, struct axvm_sregs *sr)
{
	struct vmcb_save *save = &to_svm(vcpu)->vmcb->save;

	svm_seg_to_user(&save->cs, &sr->cs);
	svm_seg_to_user(&save->ds, &sr->ds);
	svm_seg_to_user(&save->es, &sr->es);
	svm_seg_to_user(&save->fs, &sr->fs);
	svm_seg_to_user(&save->gs, &sr->gs);
	svm_seg_to_user(&save->ss, &sr->ss);
	svm_seg_to_user(&save->tr, &sr->tr);
	svm_seg_to_user(&save->ldtr, &sr->ldtr);
	sr->gdt.base = save->gdtr.base;
	sr->gdt.limit = save->gdtr.limit;
	sr->idt.base = save->idtr.base;
	sr->idt.limit = save->idtr.limit;
	sr->cr0 = save->cr0;
	sr->cr2 = save->cr2;
	sr->cr3 = save->cr3;
	sr->cr4 = save->cr4;
	sr->efer = svm_guest_efer(to_svm(vcpu));
}

/*
 * Most consistency rules are the hardware's: a state it refuses comes
 * back as AXVM_EXIT_FAIL_ENTRY. EFER.SVME is ours and cannot be given.
 */
static int svm_set_sregs(struct axvm_vcpu *vcpu, const struct axvm_sregs *sr)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	struct vmcb_save *save = &svm->vmcb->save;

	if (sr->efer & EFER_SVME) {
		axvm_err_ratelimited("SET_SREGS: efer.SVME belongs to the host\n");
		return -EINVAL;
	}
	if (sr->gdt.reserved || sr->idt.reserved)
		return -EINVAL;
	svm_seg_from_user(&sr->cs, &save->cs);
	svm_seg_from_user(&sr->ds, &save->ds);
	svm_seg_from_user(&sr->es, &save->es);
	svm_seg_from_user(&sr->fs, &save->fs);
	svm_seg_from_user(&sr->gs, &save->gs);
	svm_seg_from_user(&sr->ss, &save->ss);
	svm_seg_from_user(&sr->tr, &save->tr);
	svm_seg_from_user(&sr->ldtr, &save->ldtr);
	save->gdtr.base = sr->gdt.base;
	save->gdtr.limit = sr->gdt.limit;
	save->idtr.base = sr->idt.base;
	save->idtr.limit = sr->idt.limit;
	save->cr0 = sr->cr0;
	save->cr2 = sr->cr2;
	save->cr3 = sr->cr3;
	save->cr4 = sr->cr4;
	save->efer = sr->efer | EFER_SVME;
	svm->lme_withheld = false;	/* svm_sync_lme() decides again */
	/* CPL is SS.DPL in protected mode, 0 in real mode (15.5.1). */
	save->cpl = (sr->cr0 & X86_CR0_PE) ? (sr->ss.attrib >> 5) & 3 : 0;
	svm->shut_down = false;
	svm->event_inj = 0;
	svm->pending = X86_PENDING_NONE;
	return 0;
}

static bool svm_vcpu_irq_window_open(struct axvm_vcpu *vcpu)
{
	return svm_irq_window_open(to_svm(vcpu));
}

static struct axvm_io_dev *svm_device_create(struct axvm_vm *vm, u32 type)
{
	switch (type) {
	case AXVM_DEV_IOAPIC:
		return x86_ioapic_device_create(vm);
	case AXVM_DEV_LAPIC:
		return x86_lapic_device_create(vm);
	default:
		return ERR_PTR(-EOPNOTSUPP);
	}
}

const struct axvm_arch_ops axvm_svm_ops = {
	.name			= "svm",
	.backend		= AXVM_BACKEND_SVM,
	.hardware_setup		= svm_hardware_setup,
	.hardware_unsetup	= svm_hardware_unsetup,
	.cpu_enable		= svm_cpu_enable,
	.cpu_disable		= svm_cpu_disable,
	.fill_caps		= svm_fill_caps,
	.vm_init		= svm_vm_init,
	.vm_destroy		= svm_vm_destroy,
	.map_page		= svm_map_page,
	.unmap_range		= svm_unmap_range,
	.vcpu_init		= svm_vcpu_init,
	.vcpu_destroy		= svm_vcpu_destroy,
	.vcpu_complete_user_exit = svm_complete_user_exit,
	.vcpu_enter		= svm_vcpu_enter,
	.vcpu_load		= svm_vcpu_load,
	.vcpu_put		= svm_vcpu_put,
	.vcpu_mmio		= svm_vcpu_mmio,
	.vcpu_reset		= svm_vcpu_reset,
	.vcpu_irq_window_open	= svm_vcpu_irq_window_open,
	.vcpu_next_irq		= x86_lapic_next_irq,
	.vcpu_irq_accepted	= x86_lapic_irq_accepted,
	.device_create		= svm_device_create,
	.set_irq_line		= x86_ioapic_set_irq,
	.get_regs		= svm_get_regs,
	.set_regs		= svm_set_regs,
	.get_sregs		= svm_get_sregs,
	.set_sregs		= svm_set_sregs,
};
