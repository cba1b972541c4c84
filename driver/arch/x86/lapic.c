// SPDX-License-Identifier: GPL-2.0
/*
 * The emulated local APIC (SDM vol. 3, chapter 10 "Advanced Programmable
 * Interrupt Controller"): xAPIC registers in MMIO, x2APIC registers as
 * MSRs 0x800-0x8ff, the timer on a host hrtimer, IPIs, INIT and SIPI.
 *
 * Every vCPU has one (allocated with the vCPU); it is live once the VM
 * has an AXVM_DEV_LAPIC device (vm->has_lapic, set in LOADING only).
 *
 * State and who touches it:
 *  - IRR is the core's vcpu->pending_irqs: any thread sets bits (atomic
 *    bitops), only the vCPU clears them when it accepts a vector.
 *  - TMR bits are set (level) or cleared (edge) by senders next to the
 *    IRR bit; the vCPU's EOI reads them.
 *  - ISR, TPR, LVTs, ICR, timer configuration: only the vCPU's own
 *    thread, with its run_lock held (exits, RESET).
 *  - INIT, SIPI and NMI requests: atomic bits in `events`, the SIPI
 *    vector written before its bit (release/acquire).
 *  - The timer's hrtimer callback (hard interrupt context) reads the
 *    LVT with READ_ONCE, sets the IRR bit and kicks; the vCPU cancels
 *    the hrtimer before it changes what the callback reads.
 * Senders find targets under RCU in vm->vcpus[]; the local APIC is freed
 * after a grace period, like the vCPU.
 *
 * Timer rates: the APIC timer counts a 1 GHz bus clock divided by TDCR;
 * the TSC-deadline timer compares the guest's TSC (host TSC + offset).
 */
#include <linux/hrtimer.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <asm/tsc.h>
#include "axvm.h"
#include "lapic.h"

#define APIC_VERSION_VALUE	0x00050014	/* v0x14, 6 LVT entries */
#define APIC_NR_LVT		6
#define LAPIC_LVT_MASKED		BIT(16)
#define LAPIC_LVT_LEVEL		BIT(15)
#define APIC_LVT_TIMER_MODE	(3U << 17)
#define APIC_TIMER_ONESHOT	(0U << 17)
#define APIC_TIMER_PERIODIC	(1U << 17)
#define APIC_TIMER_DEADLINE	(2U << 17)
#define APIC_SVR_ENABLE		BIT(8)
#define APIC_ICR_LEVEL_ASSERT	BIT(14)
#define APIC_ICR_TRIGGER_LEVEL	BIT(15)
#define APIC_ICR_DEST_LOGICAL	BIT(11)
#define APIC_BASE_BSP		BIT_ULL(8)
#define APIC_BASE_EXTD		BIT_ULL(10)
#define APIC_BASE_ENABLE	BIT_ULL(11)
#define APIC_BUS_NS		1		/* 1 GHz bus clock */

/* Writable bits of each LVT, in register order from 0x320. */
static const u32 apic_lvt_mask[APIC_NR_LVT] = {
	0x000700ff,	/* timer: vector, mask, mode */
	0x000107ff,	/* thermal */
	0x000107ff,	/* performance counters */
	0x0001f7ff,	/* LINT0 */
	0x0001f7ff,	/* LINT1 */
	0x000100ff,	/* error */
};

enum { LAPIC_EV_INIT, LAPIC_EV_SIPI, LAPIC_EV_NMI };

enum lapic_mp_state {
	LAPIC_MP_UNSET,		/* decided at the first entry */
	LAPIC_MP_RUNNABLE,
	LAPIC_MP_WAIT_SIPI,
};

struct axvm_lapic {
	struct axvm_vcpu *vcpu;
	u64 apic_base;
	u32 tpr, ldr, dfr, svr, esr, icr_hi, tdcr;
	u32 lvt[APIC_NR_LVT];
	DECLARE_BITMAP(isr, 256);
	DECLARE_BITMAP(tmr, 256);

	/* Timer: the vCPU programs, the hrtimer callback fires. */
	struct hrtimer timer;
	u32 tmict;
	u64 period_ns;		/* periodic mode, 0 otherwise */
	ktime_t armed_at;	/* for TMCCT */
	u64 tsc_deadline;

	enum lapic_mp_state mp_state;
	unsigned long events;	/* LAPIC_EV_* */
	u8 sipi_vector;
	struct rcu_head rcu;
};

static bool lapic_live(struct axvm_vcpu *vcpu)
{
	return READ_ONCE(vcpu->vm->has_lapic);
}

static bool lapic_x2apic(const struct axvm_lapic *l)
{
	return l->apic_base & APIC_BASE_EXTD;
}

static bool lapic_enabled(const struct axvm_lapic *l)
{
	return (l->apic_base & APIC_BASE_ENABLE) && (l->svr & APIC_SVR_ENABLE);
}

static u32 lapic_id(const struct axvm_lapic *l)
{
	return l->vcpu->phys_id;
}

/* The x2APIC's fixed logical id (SDM vol. 3, 10.12.10.2). */
static u32 lapic_x2apic_ldr(u32 id)
{
	return ((id >> 4) << 16) | BIT(id & 0xf);
}

/* ------------------------------------------------------------------ */
/* Priorities and acceptance (SDM vol. 3, 10.8.3)                      */
/* ------------------------------------------------------------------ */

static int lapic_highest(const unsigned long *bits)
{
	int v = find_last_bit(bits, 256);

	return v < 256 ? v : -1;
}

static u32 lapic_ppr(const struct axvm_lapic *l)
{
	int isrv = lapic_highest(l->isr);
	u32 isr_class = isrv < 0 ? 0 : isrv & 0xf0;

	return (l->tpr & 0xf0) >= isr_class ? l->tpr & 0xff : isr_class;
}

/* The vector the guest takes next, or -1 (masked by PPR, disabled). */
int x86_lapic_next_irq(struct axvm_vcpu *vcpu)
{
	struct axvm_lapic *l = vcpu->lapic;
	int v = lapic_highest(vcpu->pending_irqs);

	if (!lapic_live(vcpu) || v < 0)
		return v;
	if (!lapic_enabled(l) || (v & 0xf0) <= (lapic_ppr(l) & 0xf0))
		return -1;
	return v;
}

void x86_lapic_irq_accepted(struct axvm_vcpu *vcpu, int vector)
{
	if (lapic_live(vcpu))
		__set_bit(vector, vcpu->lapic->isr);
}

/*
 * CR8 is TPR[7:4] (SDM vol. 3, 10.8.6.1 "Interaction of Task Priorities
 * between CR8 and APIC"): reading CR8 returns TPR[7:4], writing it sets
 * TPR[7:4] and clears TPR[3:0]. The backend keeps the guest's CR8 in
 * sync with these.
 */
u8 x86_lapic_cr8(struct axvm_vcpu *vcpu)
{
	return lapic_live(vcpu) ? vcpu->lapic->tpr >> 4 : 0;
}

void x86_lapic_set_cr8(struct axvm_vcpu *vcpu, u8 cr8)
{
	if (lapic_live(vcpu))
		vcpu->lapic->tpr = (cr8 & 0xf) << 4;
}

/* A pending interrupt that only the TPR holds back: lowering it delivers. */
bool x86_lapic_held_by_tpr(struct axvm_vcpu *vcpu)
{
	struct axvm_lapic *l = vcpu->lapic;
	int v = lapic_highest(vcpu->pending_irqs);
	int isrv;

	if (!lapic_live(vcpu) || v < 0 || !lapic_enabled(l) ||
	    (v & 0xf0) > (l->tpr & 0xf0))
		return false;
	isrv = lapic_highest(l->isr);
	return isrv < 0 || (v & 0xf0) > (isrv & 0xf0);
}

/*
 * IA32_APIC_BASE.EN: with it clear the CPU is "functionally equivalent
 * to an IA-32 processor without an on-chip APIC" and CPUID.01H:EDX.APIC
 * reads 0 (SDM vol. 3, 10.4.3).
 */
bool x86_lapic_hw_enabled(struct axvm_vcpu *vcpu)
{
	return lapic_live(vcpu) &&
	       (vcpu->lapic->apic_base & APIC_BASE_ENABLE);
}

bool x86_lapic_take_nmi(struct axvm_vcpu *vcpu)
{
	return lapic_live(vcpu) &&
	       test_and_clear_bit(LAPIC_EV_NMI, &vcpu->lapic->events);
}

/*
 * The TMR bit stays as the vector's last acceptance set it: EOI does not
 * clear it, only the next edge-triggered acceptance of that vector does
 * (SDM vol. 3, 10.8.4: "Upon acceptance of an interrupt into the IRR,
 * the corresponding TMR bit is cleared for edge-triggered interrupts and
 * set for level-triggered interrupts. If a TMR bit is set when an EOI
 * cycle for its corresponding interrupt vector is generated, an EOI
 * message is sent to all I/O APICs.").
 */
static void lapic_eoi(struct axvm_vcpu *vcpu)
{
	struct axvm_lapic *l = vcpu->lapic;
	int v = lapic_highest(l->isr);

	if (v < 0)
		return;
	__clear_bit(v, l->isr);
	if (test_bit(v, l->tmr))
		x86_ioapic_eoi(vcpu->vm, v);
}

/* ------------------------------------------------------------------ */
/* Delivery                                                            */
/* ------------------------------------------------------------------ */

static bool lapic_match_logical(const struct axvm_lapic *l,
				const struct x86_apic_msg *m)
{
	u32 ldr;

	if (lapic_x2apic(l)) {
		if (!m->x2apic_dest)
			return false;
		ldr = lapic_x2apic_ldr(lapic_id(l));
		return (ldr >> 16) == (m->dest >> 16) &&
		       (ldr & m->dest & 0xffff);
	}
	ldr = l->ldr >> 24;
	if ((l->dfr >> 28) == 0xf)			/* flat model */
		return ldr & m->dest & 0xff;
	/* cluster model: cluster in bits 7:4, members in 3:0 */
	return (ldr >> 4) == ((m->dest >> 4) & 0xf) && (ldr & m->dest & 0xf);
}

static bool lapic_match(const struct axvm_lapic *l, struct axvm_vcpu *src,
			const struct x86_apic_msg *m)
{
	u32 bcast = m->x2apic_dest ? 0xffffffff : 0xff;

	switch (m->shorthand) {
	case 1:	return l->vcpu == src;		/* self */
	case 2:	return true;			/* all including self */
	case 3:	return l->vcpu != src;		/* all excluding self */
	}
	if (m->dest_logical)
		return lapic_match_logical(l, m);
	if (m->dest == bcast)
		return true;
	/* An xAPIC-format message reaches x2APIC ids below 256 too. */
	return lapic_id(l) == m->dest;
}

/* Sets an event bit and wakes the vCPU, wherever it is. */
static void lapic_signal(struct axvm_vcpu *vcpu, int event)
{
	set_bit(event, &vcpu->lapic->events);
	smp_mb__after_atomic();
	axvm_vcpu_kick(vcpu, false);
}

static void lapic_accept(struct axvm_vcpu *dst, const struct x86_apic_msg *m)
{
	struct axvm_lapic *l = dst->lapic;

	switch (m->delivery) {
	case X86_DM_FIXED:
	case X86_DM_LOWEST:
		if (m->vector < 16 || !lapic_enabled(l))
			return;		/* illegal vector, or disabled */
		if (m->level_trigger)
			set_bit(m->vector, l->tmr);
		else
			clear_bit(m->vector, l->tmr);
		set_bit(m->vector, dst->pending_irqs);
		smp_mb__after_atomic();	/* IRR before mode: see irq.c */
		axvm_vcpu_kick(dst, false);
		return;
	case X86_DM_NMI:
		lapic_signal(dst, LAPIC_EV_NMI);
		return;
	case X86_DM_INIT:
		/*
		 * A SIPI sent before this INIT is void; one sent after it
		 * must survive, however late the target's thread looks:
		 * Linux sends INIT and both SIPIs within microseconds.
		 */
		clear_bit(LAPIC_EV_SIPI, &l->events);
		lapic_signal(dst, LAPIC_EV_INIT);
		return;
	case X86_DM_STARTUP:
		WRITE_ONCE(l->sipi_vector, m->vector);
		smp_wmb();		/* the vector before its bit */
		lapic_signal(dst, LAPIC_EV_SIPI);
		return;
	default:			/* SMI, ExtINT: no such sources here */
		return;
	}
}

/*
 * Any context: the IOAPIC under its spinlock, the timer callback, other
 * vCPUs' ICR writes. Lowest priority goes to the first match (SDM allows
 * any "focus" choice; our vCPUs have no priorities worth comparing).
 */
void x86_apic_deliver(struct axvm_vm *vm, struct axvm_vcpu *src,
		      const struct x86_apic_msg *m)
{
	unsigned int i;

	rcu_read_lock();
	for (i = 0; i < AXVM_MAX_VCPUS; i++) {
		struct axvm_vcpu *vcpu = rcu_dereference(vm->vcpus[i]);

		if (!vcpu || !lapic_match(vcpu->lapic, src, m))
			continue;
		lapic_accept(vcpu, m);
		if (m->delivery == X86_DM_LOWEST && !m->shorthand)
			break;
	}
	rcu_read_unlock();
}

/* An ICR write (SDM vol. 3, 10.6.1). icr_hi: xAPIC destination field. */
static void lapic_send_ipi(struct axvm_vcpu *vcpu, u64 icr)
{
	struct axvm_lapic *l = vcpu->lapic;
	struct x86_apic_msg m = {
		.vector = icr & 0xff,
		.delivery = (icr >> 8) & 7,
		.dest_logical = icr & APIC_ICR_DEST_LOGICAL,
		.shorthand = (icr >> 18) & 3,
		.level_trigger = false,	/* IPIs never set the TMR */
		.x2apic_dest = lapic_x2apic(l),
		.dest = lapic_x2apic(l) ? icr >> 32 : (icr >> 56) & 0xff,
	};

	/* INIT level de-assert: a no-op on everything since the P4. */
	if (m.delivery == X86_DM_INIT && (icr & APIC_ICR_TRIGGER_LEVEL) &&
	    !(icr & APIC_ICR_LEVEL_ASSERT))
		return;
	axvm_stat_inc(vcpu, AXVM_STAT_IPI);
	x86_apic_deliver(vcpu->vm, vcpu, &m);
}

/* ------------------------------------------------------------------ */
/* The timer (SDM vol. 3, 10.5.4)                                      */
/* ------------------------------------------------------------------ */

static u32 lapic_timer_mode(const struct axvm_lapic *l)
{
	return l->lvt[0] & APIC_LVT_TIMER_MODE;
}

/* TDCR bits 0, 1, 3 encode divide-by 2, 4, ... 128, or 1 (0b1011). */
static u32 lapic_divisor(const struct axvm_lapic *l)
{
	u32 code = (l->tdcr & 3) | ((l->tdcr & 8) >> 1);

	return code == 7 ? 1 : 2U << code;
}

static enum hrtimer_restart lapic_timer_fn(struct hrtimer *t)
{
	struct axvm_lapic *l = container_of(t, struct axvm_lapic, timer);
	struct axvm_vcpu *vcpu = l->vcpu;
	u32 lvt = READ_ONCE(l->lvt[0]);
	u64 period = READ_ONCE(l->period_ns);

	if (!(lvt & LAPIC_LVT_MASKED) && (lvt & 0xff) >= 16) {
		set_bit(lvt & 0xff, vcpu->pending_irqs);
		smp_mb__after_atomic();
		vcpu->stats[AXVM_STAT_APIC_TIMER]++;	/* racy: a statistic */
		axvm_vcpu_kick(vcpu, false);
	}
	if (lapic_timer_mode(l) == APIC_TIMER_DEADLINE)
		WRITE_ONCE(l->tsc_deadline, 0);
	if (!period)
		return HRTIMER_NORESTART;
	hrtimer_forward_now(t, ns_to_ktime(period));
	return HRTIMER_RESTART;
}

static void lapic_timer_stop(struct axvm_lapic *l)
{
	hrtimer_cancel(&l->timer);
	l->period_ns = 0;
}

/* One count of tmict * divisor bus clocks, in host nanoseconds. */
static u64 lapic_count_ns(const struct axvm_lapic *l)
{
	u64 ns = (u64)l->tmict * lapic_divisor(l) * APIC_BUS_NS;

	/* A period too short to serve only floods the host: 10 us floor. */
	return max_t(u64, ns, 10 * NSEC_PER_USEC);
}

/* TMICT written: count down tmict * divisor bus clocks. */
static void lapic_timer_start_count(struct axvm_lapic *l)
{
	u64 ns = lapic_count_ns(l);

	lapic_timer_stop(l);
	if (!l->tmict || lapic_timer_mode(l) == APIC_TIMER_DEADLINE)
		return;
	if (lapic_timer_mode(l) == APIC_TIMER_PERIODIC)
		l->period_ns = ns;
	l->armed_at = ktime_get();
	hrtimer_start(&l->timer, ktime_add_ns(l->armed_at, ns),
		      HRTIMER_MODE_ABS_HARD);
}

static u32 lapic_tmcct(const struct axvm_lapic *l)
{
	u64 div_ns = (u64)lapic_divisor(l) * APIC_BUS_NS;
	s64 left;

	if (!l->tmict || lapic_timer_mode(l) == APIC_TIMER_DEADLINE)
		return 0;
	left = ktime_to_ns(hrtimer_get_remaining(&l->timer));
	if (left <= 0)
		return 0;
	if (l->period_ns)
		left %= l->period_ns;
	return min_t(u64, div64_u64(left, div_ns), l->tmict);
}

/* MSR 0x6e0: arm at the guest TSC value `deadline`; 0 disarms. */
static void lapic_set_deadline(struct axvm_lapic *l, u64 deadline,
			       u64 guest_tsc)
{
	u64 ns = 0;

	if (lapic_timer_mode(l) != APIC_TIMER_DEADLINE)
		return;		/* ignored in the other modes */
	lapic_timer_stop(l);
	l->tsc_deadline = deadline;
	if (!deadline)
		return;
	if (deadline > guest_tsc && tsc_khz)
		ns = mul_u64_u32_div(deadline - guest_tsc, USEC_PER_SEC,
				     tsc_khz);
	hrtimer_start(&l->timer, ktime_add_ns(ktime_get(), ns),
		      HRTIMER_MODE_ABS_HARD);
}

static void lapic_write_lvt_timer(struct axvm_lapic *l, u32 val)
{
	u32 old_mode = lapic_timer_mode(l);

	u32 new_mode = val & APIC_LVT_TIMER_MODE;

	if (!(l->svr & APIC_SVR_ENABLE))
		val |= LAPIC_LVT_MASKED;
	/*
	 * Entering or leaving TSC-deadline mode disarms the timer (SDM
	 * vol. 3, 10.5.4.1). Between one-shot and periodic the count goes
	 * on, as hardware and KVM do (kvm-unit-tests' apic test checks
	 * it): the current count ends, and only then does the new mode
	 * decide whether it reloads.
	 */
	if ((new_mode == APIC_TIMER_DEADLINE) !=
	    (old_mode == APIC_TIMER_DEADLINE)) {
		lapic_timer_stop(l);
		l->tmict = 0;
		l->tsc_deadline = 0;
	}
	WRITE_ONCE(l->lvt[0], val & apic_lvt_mask[0]);
	if (new_mode != old_mode && new_mode != APIC_TIMER_DEADLINE &&
	    old_mode != APIC_TIMER_DEADLINE)
		WRITE_ONCE(l->period_ns, new_mode == APIC_TIMER_PERIODIC ?
			   lapic_count_ns(l) : 0);
}

/* ------------------------------------------------------------------ */
/* Registers                                                           */
/* ------------------------------------------------------------------ */

/* ISR, TMR and IRR: eight 32-bit registers, 16 bytes apart. */
static u32 lapic_bitmap_word(const unsigned long *bits, u32 reg, u32 base)
{
	u32 first = ((reg - base) >> 4) * 32;

	return (bits[BIT_WORD(first)] >> (first % BITS_PER_LONG)) & U32_MAX;
}

/* 0 and the value, or -EINVAL for a register that does not exist. */
static int lapic_read_reg(struct axvm_vcpu *vcpu, u32 reg, u32 *val)
{
	struct axvm_lapic *l = vcpu->lapic;
	bool x2 = lapic_x2apic(l);

	switch (reg) {
	case APIC_REG_ID:
		*val = x2 ? lapic_id(l) : lapic_id(l) << 24;
		return 0;
	case APIC_REG_VERSION:	*val = APIC_VERSION_VALUE; return 0;
	case APIC_REG_TPR:	*val = l->tpr; return 0;
	case APIC_REG_APR:	*val = 0; return 0;
	case APIC_REG_PPR:	*val = lapic_ppr(l); return 0;
	case APIC_REG_LDR:
		*val = x2 ? lapic_x2apic_ldr(lapic_id(l)) : l->ldr;
		return 0;
	case APIC_REG_DFR:
		if (x2)
			return -EINVAL;
		*val = l->dfr;
		return 0;
	case APIC_REG_SVR:	*val = l->svr; return 0;
	case APIC_REG_ESR:	*val = l->esr; return 0;
	case APIC_REG_ICR_LO:	*val = 0; return 0;	/* idle */
	case APIC_REG_ICR_HI:
		if (x2)
			return -EINVAL;
		*val = l->icr_hi;
		return 0;
	case APIC_REG_TMICT:	*val = l->tmict; return 0;
	case APIC_REG_TMCCT:	*val = lapic_tmcct(l); return 0;
	case APIC_REG_TDCR:	*val = l->tdcr; return 0;
	}
	if (reg >= APIC_REG_ISR && reg < APIC_REG_TMR) {
		*val = lapic_bitmap_word(l->isr, reg, APIC_REG_ISR);
		return 0;
	}
	if (reg >= APIC_REG_TMR && reg < APIC_REG_IRR) {
		*val = lapic_bitmap_word(l->tmr, reg, APIC_REG_TMR);
		return 0;
	}
	if (reg >= APIC_REG_IRR && reg < APIC_REG_ESR) {
		*val = lapic_bitmap_word(vcpu->pending_irqs, reg, APIC_REG_IRR);
		return 0;
	}
	if (reg >= APIC_REG_LVT_TIMER && reg <= APIC_REG_LVT_ERROR) {
		*val = l->lvt[(reg - APIC_REG_LVT_TIMER) >> 4];
		return 0;
	}
	return -EINVAL;
}

static void lapic_write_svr(struct axvm_lapic *l, u32 val)
{
	unsigned int i;

	l->svr = val & 0x1ff;	/* no focus check, no EOI suppression */
	if (val & APIC_SVR_ENABLE)
		return;
	/* Software-disabled: every LVT is masked (SDM vol. 3, 10.4.7.2). */
	for (i = 0; i < APIC_NR_LVT; i++)
		WRITE_ONCE(l->lvt[i], l->lvt[i] | LAPIC_LVT_MASKED);
}

/* 0, or -EINVAL for a read-only or missing register (x2APIC: #GP). */
static int lapic_write_reg(struct axvm_vcpu *vcpu, u32 reg, u32 val)
{
	struct axvm_lapic *l = vcpu->lapic;
	bool x2 = lapic_x2apic(l);

	switch (reg) {
	case APIC_REG_ID:
		return x2 ? -EINVAL : 0;	/* xAPIC: ids are fixed here */
	case APIC_REG_TPR:
		l->tpr = val & 0xff;
		return 0;
	case APIC_REG_EOI:
		lapic_eoi(vcpu);
		return 0;
	case APIC_REG_LDR:
		if (x2)
			return -EINVAL;
		l->ldr = val & 0xff000000;
		return 0;
	case APIC_REG_DFR:
		if (x2)
			return -EINVAL;
		l->dfr = val | 0x0fffffff;
		return 0;
	case APIC_REG_SVR:
		lapic_write_svr(l, val);
		return 0;
	case APIC_REG_ESR:
		l->esr = 0;
		return 0;
	case APIC_REG_ICR_LO:
		lapic_send_ipi(vcpu, ((u64)l->icr_hi << 32) | val);
		return 0;
	case APIC_REG_ICR_HI:
		if (x2)
			return -EINVAL;
		l->icr_hi = val & 0xff000000;
		return 0;
	case APIC_REG_LVT_TIMER:
		lapic_write_lvt_timer(l, val);
		return 0;
	case APIC_REG_TMICT:
		/* Ignored in TSC-deadline mode (SDM vol. 3, 10.5.4.1). */
		if (lapic_timer_mode(l) == APIC_TIMER_DEADLINE)
			return 0;
		l->tmict = val;
		lapic_timer_start_count(l);
		return 0;
	case APIC_REG_TDCR:
		l->tdcr = val & 0xb;
		return 0;
	case APIC_REG_SELF_IPI:
		if (!x2)
			return -EINVAL;
		lapic_send_ipi(vcpu, (val & 0xff) | (1U << 18));
		return 0;
	}
	if (reg > APIC_REG_LVT_TIMER && reg <= APIC_REG_LVT_ERROR) {
		unsigned int i = (reg - APIC_REG_LVT_TIMER) >> 4;

		if (!(l->svr & APIC_SVR_ENABLE))
			val |= LAPIC_LVT_MASKED;
		WRITE_ONCE(l->lvt[i], val & apic_lvt_mask[i]);
		return 0;
	}
	return -EINVAL;
}

/* ------------------------------------------------------------------ */
/* MMIO (xAPIC) and MSR (x2APIC, APIC_BASE, TSC_DEADLINE) access        */
/* ------------------------------------------------------------------ */

/* The bus hands every vCPU's access to the same device. */
/*
 * The xAPIC page answers only in xAPIC mode. With the APIC disabled in
 * IA32_APIC_BASE, or in x2APIC mode, it does not respond (SDM vol. 3,
 * 10.4.3 and 10.12.2): the access goes on down the bus, here to
 * userspace as an MMIO exit (the launcher answers all-ones).
 */
static bool lapic_mmio_claimed(const struct axvm_lapic *l)
{
	return (l->apic_base & APIC_BASE_ENABLE) && !lapic_x2apic(l);
}

static int lapic_mmio_read(struct axvm_io_dev *dev, struct axvm_vcpu *vcpu,
			   u64 offset, unsigned int width, u64 *val)
{
	struct axvm_lapic *l = vcpu->lapic;
	u32 v = 0;

	if (!lapic_mmio_claimed(l))
		return -ENXIO;
	axvm_stat_inc(vcpu, AXVM_STAT_APIC_ACCESS);
	/* A misaligned or narrow access reads as zeros. */
	if (width == 4 && !(offset & 0xf))
		lapic_read_reg(vcpu, offset, &v);
	*val = v;
	return 0;
}

static int lapic_mmio_write(struct axvm_io_dev *dev, struct axvm_vcpu *vcpu,
			    u64 offset, unsigned int width, u64 val)
{
	struct axvm_lapic *l = vcpu->lapic;

	if (!lapic_mmio_claimed(l))
		return -ENXIO;
	axvm_stat_inc(vcpu, AXVM_STAT_APIC_ACCESS);
	if (width == 4 && !(offset & 0xf) && offset != APIC_REG_SELF_IPI)
		lapic_write_reg(vcpu, offset, val);
	return 0;		/* writes to read-only registers are ignored */
}

static int lapic_set_apic_base(struct axvm_lapic *l, u64 val)
{
	u64 old = l->apic_base;
	u64 fixed = AXVM_LAPIC_DEFAULT_BASE | APIC_BASE_BSP;

	/* The base does not move, BSP is ours (SDM vol. 3, 10.4.4). */
	if ((val & ~(APIC_BASE_ENABLE | APIC_BASE_EXTD)) != (old & fixed))
		return -EINVAL;
	/* Legal transitions, SDM vol. 3, figure 10-27. */
	if ((val & APIC_BASE_EXTD) && !(val & APIC_BASE_ENABLE))
		return -EINVAL;
	if ((old & APIC_BASE_EXTD) && (val & APIC_BASE_ENABLE) &&
	    !(val & APIC_BASE_EXTD))
		return -EINVAL;		/* x2APIC -> xAPIC needs a disable */
	if (!(old & APIC_BASE_ENABLE) && (val & APIC_BASE_EXTD))
		return -EINVAL;		/* disabled -> x2APIC goes by xAPIC */
	l->apic_base = val;
	if (!(val & APIC_BASE_ENABLE))
		x86_lapic_reset(l->vcpu, true);
	return 0;
}

int x86_lapic_rdmsr(struct axvm_vcpu *vcpu, u32 msr, u64 *val)
{
	struct axvm_lapic *l = vcpu->lapic;
	u32 v;

	if (!lapic_live(vcpu))
		return -ENOENT;
	if (msr == MSR_APIC_BASE) {
		*val = l->apic_base;
		return 0;
	}
	if (msr == MSR_TSC_DEADLINE) {
		*val = lapic_timer_mode(l) == APIC_TIMER_DEADLINE ?
		       READ_ONCE(l->tsc_deadline) : 0;
		return 0;
	}
	if (msr < MSR_X2APIC_FIRST || msr > MSR_X2APIC_LAST)
		return -ENOENT;
	axvm_stat_inc(vcpu, AXVM_STAT_APIC_ACCESS);
	if (!lapic_x2apic(l) || msr == 0x80b /* EOI */ ||
	    msr == 0x83f /* SELF_IPI */)
		return -EINVAL;		/* write-only, or not in x2APIC mode */
	if (msr == 0x830) {		/* the 64-bit ICR */
		*val = 0;
		return 0;
	}
	if (lapic_read_reg(vcpu, (msr - MSR_X2APIC_FIRST) << 4, &v))
		return -EINVAL;
	*val = v;
	return 0;
}

int x86_lapic_wrmsr(struct axvm_vcpu *vcpu, u32 msr, u64 val, u64 guest_tsc)
{
	struct axvm_lapic *l = vcpu->lapic;
	u32 reg;

	if (!lapic_live(vcpu))
		return -ENOENT;
	if (msr == MSR_APIC_BASE)
		return lapic_set_apic_base(l, val);
	if (msr == MSR_TSC_DEADLINE) {
		lapic_set_deadline(l, val, guest_tsc);
		return 0;
	}
	if (msr < MSR_X2APIC_FIRST || msr > MSR_X2APIC_LAST)
		return -ENOENT;
	axvm_stat_inc(vcpu, AXVM_STAT_APIC_ACCESS);
	if (!lapic_x2apic(l))
		return -EINVAL;
	reg = (msr - MSR_X2APIC_FIRST) << 4;
	if (reg == APIC_REG_ICR_LO) {	/* one 64-bit write (10.12.9) */
		lapic_send_ipi(vcpu, val);
		return 0;
	}
	/* x2APIC registers are 32 bits; EOI must be written with 0. */
	if ((val >> 32) || (reg == APIC_REG_EOI && val))
		return -EINVAL;
	if (reg == APIC_REG_LDR || reg == APIC_REG_ID ||
	    reg == APIC_REG_VERSION || reg == APIC_REG_PPR ||
	    reg == APIC_REG_TMCCT)
		return -EINVAL;		/* read-only in x2APIC mode */
	return lapic_write_reg(vcpu, reg, val);
}

/* ------------------------------------------------------------------ */
/* INIT and SIPI (SDM vol. 3, 8.4.4 and 10.4.7.3)                      */
/* ------------------------------------------------------------------ */

enum x86_mp_action x86_lapic_mp_action(struct axvm_vcpu *vcpu, u8 *vector)
{
	struct axvm_lapic *l = vcpu->lapic;

	if (!lapic_live(vcpu))
		return X86_MP_RUN;
	if (l->mp_state == LAPIC_MP_UNSET)
		l->mp_state = vcpu->id ? LAPIC_MP_WAIT_SIPI : LAPIC_MP_RUNNABLE;
	/* A SIPI pending with it came after it (lapic_accept()): kept. */
	if (test_and_clear_bit(LAPIC_EV_INIT, &l->events)) {
		l->mp_state = LAPIC_MP_WAIT_SIPI;
		return X86_MP_INIT;
	}
	if (l->mp_state == LAPIC_MP_RUNNABLE) {
		/* A SIPI outside wait-for-SIPI is ignored (SDM 10.4.7.3). */
		if (unlikely(test_bit(LAPIC_EV_SIPI, &l->events)))
			clear_bit(LAPIC_EV_SIPI, &l->events);
		return X86_MP_RUN;
	}
	if (!test_and_clear_bit(LAPIC_EV_SIPI, &l->events))
		return X86_MP_WAIT;
	smp_rmb();		/* the bit before the vector */
	*vector = READ_ONCE(l->sipi_vector);
	l->mp_state = LAPIC_MP_RUNNABLE;
	return X86_MP_SIPI;
}

static bool lapic_sipi_wake(struct axvm_vcpu *vcpu)
{
	return READ_ONCE(vcpu->lapic->events) &
	       (BIT(LAPIC_EV_INIT) | BIT(LAPIC_EV_SIPI)) ||
	       READ_ONCE(vcpu->vm->state) != AXVM_VM_RUNNING;
}

void x86_lapic_wait_sipi(struct axvm_vcpu *vcpu)
{
	rcuwait_wait_event(&vcpu->hlt_wait, lapic_sipi_wake(vcpu),
			   TASK_INTERRUPTIBLE);
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */
/* ------------------------------------------------------------------ */

void x86_lapic_reset(struct axvm_vcpu *vcpu, bool init)
{
	struct axvm_lapic *l = vcpu->lapic;
	unsigned int i;

	lapic_timer_stop(l);
	l->tmict = 0;
	l->tsc_deadline = 0;
	l->tpr = 0;
	l->ldr = 0;
	l->dfr = 0xffffffff;
	l->svr = 0xff;
	l->esr = 0;
	l->icr_hi = 0;
	l->tdcr = 0;
	for (i = 0; i < APIC_NR_LVT; i++)
		WRITE_ONCE(l->lvt[i], LAPIC_LVT_MASKED);
	bitmap_zero(l->isr, 256);
	bitmap_zero(l->tmr, 256);
	bitmap_zero(vcpu->pending_irqs, 256);
	if (init)
		return;		/* INIT keeps APIC_BASE and the MP state */
	l->apic_base = AXVM_LAPIC_DEFAULT_BASE | APIC_BASE_ENABLE |
		       (vcpu->id == 0 ? APIC_BASE_BSP : 0);
	l->mp_state = LAPIC_MP_UNSET;
	l->events = 0;
}

int x86_lapic_create(struct axvm_vcpu *vcpu)
{
	struct axvm_lapic *l = kzalloc(sizeof(*l), GFP_KERNEL_ACCOUNT);

	if (!l)
		return -ENOMEM;
	l->vcpu = vcpu;
	hrtimer_init(&l->timer, CLOCK_MONOTONIC, HRTIMER_MODE_ABS_HARD);
	l->timer.function = lapic_timer_fn;
	vcpu->lapic = l;
	x86_lapic_reset(vcpu, false);
	return 0;
}

/* Senders may still see it under RCU: freed after a grace period. */
void x86_lapic_destroy(struct axvm_vcpu *vcpu)
{
	struct axvm_lapic *l = vcpu->lapic;

	if (!l)
		return;
	hrtimer_cancel(&l->timer);
	kfree_rcu(l, rcu);
}

static void lapic_device_destroy(struct axvm_io_dev *dev)
{
	kfree(dev);
}

static const struct axvm_io_dev_ops lapic_device_ops = {
	.read = lapic_mmio_read,
	.write = lapic_mmio_write,
	.destroy = lapic_device_destroy,
};

struct axvm_io_dev *x86_lapic_device_create(struct axvm_vm *vm)
{
	struct axvm_io_dev *dev = kzalloc(sizeof(*dev), GFP_KERNEL_ACCOUNT);

	if (!dev)
		return ERR_PTR(-ENOMEM);
	dev->ops = &lapic_device_ops;
	return dev;
}
