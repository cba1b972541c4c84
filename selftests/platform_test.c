// SPDX-License-Identifier: GPL-2.0
/*
 * platform_test: the in-kernel x86 platform that Linux guests use
 * (AXVM_DEV_IOAPIC, AXVM_DEV_LAPIC, AXVM_DEVICE_IRQ_LINE,
 * AXVM_SET_IRQ_LINE, the KVM-format clock; Documentation/devices.md,
 * "The I/O APIC" and "The local APIC", and api.md).
 *
 *  - The contract: ADD_DEVICE of the interrupt controllers (0 and fd -1,
 *    EEXIST for a second one, EINVAL for a moved local APIC, an irq,
 *    flags, PIO or a wrong len, EBUSY after LOADING), a UART on an I/O
 *    APIC pin (ENODEV without an I/O APIC, EINVAL for pin >= 24) and
 *    every errno of AXVM_SET_IRQ_LINE; the CPUID bits a local APIC adds.
 *  - The local APIC in xAPIC mode (SDM vol. 3, chapter 10): ID, version,
 *    TPR/PPR, SVR, the software-disabled state after reset; self IPIs
 *    through the guest's IDT with ISR set in the handler and cleared by
 *    EOI, held in IRR by IF = 0 and by TPR, nested by priority class; an
 *    NMI IPI; AXVM_INJECT_IRQ setting IRR. x2APIC: IA32_APIC_BASE
 *    transitions, the MSR registers, SELF IPI and the 64-bit ICR.
 *  - The APIC timer: one-shot, periodic, TSC-deadline, masked, and HLT
 *    with IF = 1 sleeping in the kernel until it fires.
 *  - Two vCPUs in two host threads: physical, all-excluding-self and
 *    logical IPIs, a stray SIPI that a running AP must ignore, the AP's
 *    APIC id in both modes; INIT/SIPI, also with the AP's thread
 *    entering AXVM_RUN only after the SIPIs were sent (the regression
 *    of f1e7ca3), an AP without a SIPI waiting in AXVM_RUN (EINTR on a
 *    signal, EXIT_SUSPENDED/STOPPED on SUSPEND/SHUTDOWN).
 *  - The I/O APIC (82093AA datasheet): version, ID, masked entries after
 *    reset, edge and level entries driven by AXVM_SET_IRQ_LINE, Remote
 *    IRR and the EOI paths; the UART's interrupt on pin 4.
 *  - The KVM clock (CPUID 0x40000100, MSR_KVM_SYSTEM_TIME_NEW,
 *    MSR_KVM_WALL_CLOCK_NEW) when AXVM_FEATURE_PVCLOCK is offered.
 *
 * Timing: the test VM is an emulated machine shared with other work, so
 * nothing here asserts an upper bound tighter than "it happened within
 * WAIT_MS". Lower bounds ("the timer did not fire before its count
 * elapsed") compare guest TSC stamps with a TSC rate the host measures
 * against CLOCK_MONOTONIC (the clock the kernel's hrtimers run on),
 * minus EARLY_SLACK_PCT for the error of that measurement.
 *
 * Guest interrupt handlers: guest_irq_stubs has a 16-byte entry per
 * vector that calls guest_irq(vector), which counts the interrupt per
 * vCPU, stamps it with the TSC, notes whether its ISR bit was set and
 * sends the EOI (unless the test wants to do that itself).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>
#include <linux/serial_reg.h>

#include "axvm_test.h"

/* ---------------------------------------------------------------- */
/* Architectural constants                                           */
/* ---------------------------------------------------------------- */

#define LAPIC_GPA		AXVM_LAPIC_DEFAULT_BASE
#define IOAPIC_GPA		AXVM_IOAPIC_DEFAULT_BASE
#define IRQCHIP_LEN		0x1000ULL

/* xAPIC register offsets (SDM vol. 3, table 10-1). */
#define APIC_ID			0x020
#define APIC_LVR		0x030
#define APIC_TPR		0x080
#define APIC_PPR		0x0a0
#define APIC_EOI		0x0b0
#define APIC_LDR		0x0d0
#define APIC_DFR		0x0e0
#define APIC_SVR		0x0f0
#define APIC_ISR		0x100
#define APIC_TMR		0x180
#define APIC_IRR		0x200
#define APIC_ICR_LO		0x300
#define APIC_ICR_HI		0x310
#define APIC_LVT_TIMER		0x320
#define APIC_TMICT		0x380
#define APIC_TMCCT		0x390
#define APIC_TDCR		0x3e0
#define APIC_SELF_IPI		0x3f0	/* x2APIC only */
#define APIC_VEC_REGS		8	/* ISR, TMR, IRR: 8 x 32 bits */
#define APIC_VEC_REG_STRIDE	0x10

/* The version register (10.4.8): integrated APICs are 0x10-0x15. */
#define APIC_LVR_VERSION(v)	((v) & 0xff)
#define APIC_LVR_MAXLVT(v)	(((v) >> 16) & 0xff)
#define APIC_VERSION_MIN	0x10
#define APIC_VERSION_MAX	0x15
#define APIC_MAXLVT		5	/* six LVT entries */
#define APIC_ID_SHIFT		24	/* xAPIC ID and LDR: bits 31:24 */
#define APIC_DFR_FLAT		0xffffffffU
#define APIC_SVR_RESET		0xff	/* 10.4.7.1: software-disabled */
#define APIC_SVR_ENABLE		(1U << 8)
#define APIC_SPURIOUS_VECTOR	0xff
#define APIC_PRIO_CLASS(v)	((v) & 0xf0)

/* LVT timer (10.5.1, figure 10-8). */
#define LVT_MASKED		(1U << 16)
#define LVT_TIMER_ONESHOT	(0U << 17)
#define LVT_TIMER_PERIODIC	(1U << 17)
#define LVT_TIMER_TSC_DEADLINE	(2U << 17)
/* Divide configuration (figure 10-10): bits 3, 1, 0. */
#define TDCR_DIV_1		0xb
#define TDCR_DIV_2		0x0
#define TDCR_DIV_128		0xa
/* axvm's APIC timer counts a 1 GHz bus clock (devices.md). */
#define APIC_BUS_TICK_NS	1

/* ICR (10.6.1, figure 10-12); in xAPIC mode the destination is ICR_HI[31:24]. */
#define ICR_DM_FIXED		(0U << 8)
#define ICR_DM_NMI		(4U << 8)
#define ICR_DM_INIT		(5U << 8)
#define ICR_DM_STARTUP		(6U << 8)
#define ICR_DEST_LOGICAL	(1U << 11)
#define ICR_BUSY		(1U << 12)
#define ICR_LEVEL_ASSERT	(1U << 14)
#define ICR_TRIGGER_LEVEL	(1U << 15)
#define ICR_SH_SELF		(1U << 18)
#define ICR_SH_ALL_BUT_SELF	(3U << 18)
#define X2APIC_ICR_DEST_SHIFT	32

/* MSRs (10.4.4, 10.12.1.2, 10.5.4.1). */
#define MSR_IA32_APICBASE	0x1b
#define APICBASE_BSP		(1ULL << 8)
#define APICBASE_EXTD		(1ULL << 10)
#define APICBASE_EN		(1ULL << 11)
#define X2APIC_MSR(reg)		(0x800 + ((reg) >> 4))
#define MSR_IA32_TSC_DEADLINE	0x6e0
/* The x2APIC's logical id (10.12.10.2): cluster << 16 | 1 << (id & 15). */
#define X2APIC_LDR(id)		((((id) >> 4) << 16) | (1U << ((id) & 0xf)))

/* CPUID. */
#define CPUID_1_ECX_X2APIC		(1U << 21)
#define CPUID_1_ECX_TSC_DEADLINE	(1U << 24)
#define CPUID_1_EDX_APIC		(1U << 9)
#define CPUID_6_EAX_ARAT		(1U << 2)

/* I/O APIC (82093AA datasheet, 3.0, 3.1 and 3.2). */
#define IOAPIC_IOREGSEL		0x00
#define IOAPIC_IOWIN		0x10
#define IOAPIC_EOI		0x40	/* version 0x20 and later */
#define IOAPIC_REG_ID		0x00
#define IOAPIC_REG_VER		0x01
#define IOAPIC_REG_REDIR(pin)	(0x10 + 2 * (pin))	/* + 1: high dword */
#define IOAPIC_ID_SHIFT		24
#define IOAPIC_VERSION		0x20
#define IOAPIC_VER_MAXREDIR(v)	(((v) >> 16) & 0xff)
#define REDIR_MASKED		(1U << 16)
#define REDIR_LEVEL		(1U << 15)
#define REDIR_REMOTE_IRR	(1U << 14)
#define REDIR_DEST_SHIFT	24	/* in the high dword */

/* The KVM clock (Linux: Documentation/virt/kvm/x86/{cpuid,msr}.rst). */
#define KVM_CPUID_SIGNATURE		0x40000100
#define KVM_CPUID_FEATURES		0x40000101
#define KVM_FEATURE_CLOCKSOURCE		(1U << 0)	/* the old MSRs */
#define KVM_FEATURE_CLOCKSOURCE2	(1U << 3)
#define KVM_FEATURE_CLOCKSOURCE_STABLE	(1U << 24)
#define MSR_KVM_WALL_CLOCK_NEW		0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW		0x4b564d01
#define KVM_SYSTEM_TIME_ENABLE		1ULL
#define PVCLOCK_TSC_STABLE_BIT		(1U << 0)

struct pvclock_vcpu_time_info {
	uint32_t version;
	uint32_t pad0;
	uint64_t tsc_timestamp;
	uint64_t system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags;
	uint8_t pad[2];
} __attribute__((packed));

struct pvclock_wall_clock {
	uint32_t version;
	uint32_t sec;
	uint32_t nsec;
} __attribute__((packed));

/* ---------------------------------------------------------------- */
/* Test parameters                                                   */
/* ---------------------------------------------------------------- */

#define NMI_VECTOR		2
#define FIRST_EXTERNAL_VECTOR	32
#define IPI_VECTOR		0x40
#define IPI_VECTOR_SAME_CLASS	0x41	/* priority class of IPI_VECTOR */
#define IPI_VECTOR_ALL_BUT_SELF	0x42
#define IPI_VECTOR_LOGICAL	0x43
#define IPI_VECTOR_HIGH		0x50	/* a higher priority class */
#define TIMER_VECTOR		0x60
#define EDGE_VECTOR		0x70
#define LEVEL_VECTOR		0x71
#define UART_VECTOR		0x80
#define INJECT_VECTOR		0x90

#define EDGE_PIN		10
#define LEVEL_PIN		11
#define COM1			0x3f8
#define COM1_PIN		4	/* ISA IRQ 4, edge (devices.md) */

#define MAX_CPUS		2
#define TEST_TPR		0x5a	/* any class, any sub-class */
#define TEST_APIC_ID		0x05	/* an id nobody has */
#define TEST_IOAPIC_ID		0x0a	/* 4 bits, 82093AA 3.2.1 */
#define BSP_ID			0
#define AP_ID			1
#define AP_LOGICAL_ID		0x02	/* flat model: one bit per CPU */
#define IRQ_TSC_SLOTS		4	/* TSC stamps kept per vector */

/*
 * The AP's SIPI vector and its real-mode stub. A SIPI with vector V
 * starts the AP at CS = V << 8, IP = 0, i.e. at GPA V << 12 (SDM vol. 3,
 * 8.4.4.1). 0xf000 is free in the layout of axvm_util.h (between the
 * IDT and the page table pool). The stub reports CS with its own OUT, so
 * the host sees where the AP started from the guest's side too.
 */
#define AP_STUB_VECTOR		0x0f
#define AP_STUB_GPA		((uint64_t)AP_STUB_VECTOR << 12)
#define AP_PORT			0x99
#define AP_HELLO		0x42
#define AP_STUB_OUT_END		6	/* IP after the OUT */
static const uint8_t ap_stub[] = {
	0x8c, 0xc8,		/* mov %cs, %ax		*/
	0xb0, AP_HELLO,		/* mov $AP_HELLO, %al	*/
	0xe7, AP_PORT,		/* out %ax, $AP_PORT	*/
	0xf4,			/* hlt			*/
};
#define AP_STUB_REPORT		((AP_STUB_VECTOR << 8) | AP_HELLO)

/* Timers: counts at the 1 GHz bus clock, times in ns. */
#define ONESHOT_TICKS		10000000U	/* 10 ms at divide-by-1 */
#define PERIOD_TICKS		1000000U	/* 2 ms at divide-by-2 */
#define PERIOD_DIVISOR		2
#define PERIODIC_FIRES		3
#define DEADLINE_NS		10000000ULL	/* 10 ms */
#define DEADLINE_FAR_MS		600000ULL	/* never reached */
#define SHORT_TICKS		1000000U	/* 1 ms at divide-by-1 */
#define HLT_TICKS		50000000U	/* 50 ms */
#define HLT_ROUNDS		3
#define QUIET_NS		20000000ULL	/* watching for "no interrupt" */
#define WAIT_MS			10000ULL	/* any wait for an interrupt */
#define EARLY_SLACK_PCT		5
#define PVCLOCK_BUSY_MS		20
#define PVCLOCK_RATE_SLACK_PCT	25
#define EPOCH_2020		1577836800U	/* the wall clock is later */

#define PVCLOCK_GPA		GUEST_SCRATCH_GPA
#define WALL_CLOCK_GPA		(GUEST_SCRATCH_GPA + 0x100)
#define PAGE_CROSSING_GPA	(GUEST_SCRATCH_GPA + SZ_4K - 16)

/* Host side. */
#define RUN_TIMEOUT_S		20	/* then the VM is shut down */
#define AP_START_TIMEOUT_S	10	/* then the SIPI counts as lost */
#define TSC_CALIBRATE_US	100000
#define TSC_PAIR_TRIES		50
#define RFLAGS_FIXED		0x2	/* bit 1 always reads 1 */
#define STILL_WAITING_US	100000	/* an AP that must not start */
#define SETTLE_US		50000

enum {
	SYNC_AP_WOKEN = 1,
	SYNC_INIT_SENT,
	SYNC_SIPI_SENT,
};

/* ---------------------------------------------------------------- */
/* Guest state and the interrupt handler                             */
/* ---------------------------------------------------------------- */

volatile uint64_t guest_tsc_khz;		/* from the host */
volatile uint64_t irq_count[MAX_CPUS][256];
volatile uint64_t irq_tsc[256][IRQ_TSC_SLOTS];	/* first fires, any CPU */
volatile uint8_t irq_in_isr[256];	/* ISR bit seen in the handler */
volatile uint8_t irq_no_eoi[256];	/* the test sends the EOI itself */
volatile uint64_t irq_stray;		/* handler on an unknown stack */
volatile uint64_t guest_x2apic[MAX_CPUS];	/* EOI etc. through MSRs */
volatile uint64_t uart_iir, uart_rx;
volatile uint64_t ap_ready, ap_done;

static inline void sti(void)
{
	asm volatile("sti" : : : "memory");
}

static inline void cli(void)
{
	asm volatile("cli" : : : "memory");
}

/* IF = 1 for two instructions: anything deliverable is taken now. */
static inline void irq_window(void)
{
	asm volatile("sti; nop; nop; cli" : : : "memory");
}

static inline void cpu_relax(void)
{
	asm volatile("pause" : : : "memory");
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

/* What the host answers for MMIO nobody claims, as the launcher does. */
#define UNCLAIMED_MMIO		0xffffffffU

static inline uint32_t mmio_read32(uint64_t gpa)
{
	return *(volatile uint32_t *)(uintptr_t)gpa;
}

static inline void mmio_write32(uint64_t gpa, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)gpa = v;
}

/* The vCPU we run on, from the stack (GUEST_STACK_SIZE per vCPU). */
static inline unsigned int guest_cpu(void)
{
	uint64_t rsp;

	asm volatile("mov %%rsp, %0" : "=r"(rsp));
	return (rsp - GUEST_STACKS_GPA) / GUEST_STACK_SIZE;
}

static inline bool in_x2apic_mode(void)
{
	unsigned int cpu = guest_cpu();

	return cpu < MAX_CPUS && guest_x2apic[cpu];
}

/* A register of our local APIC, in whichever mode it is. */
static inline uint32_t apic_read(uint32_t reg)
{
	if (in_x2apic_mode())
		return rdmsr(X2APIC_MSR(reg));
	return mmio_read32(LAPIC_GPA + reg);
}

static inline void apic_write(uint32_t reg, uint32_t v)
{
	if (in_x2apic_mode())
		wrmsr(X2APIC_MSR(reg), v);
	else
		mmio_write32(LAPIC_GPA + reg, v);
}

/* Bit `vector` of ISR, TMR or IRR (eight 32-bit registers each). */
static inline bool apic_vec_bit(uint32_t base, uint8_t vector)
{
	uint32_t reg = base + (vector / 32) * APIC_VEC_REG_STRIDE;

	return apic_read(reg) & (1U << (vector % 32));
}

static inline void apic_eoi(void)
{
	apic_write(APIC_EOI, 0);
}

/* Reads what the UART reports, as Linux's 8250 handler does. */
static inline void uart_service(void)
{
	uart_iir = inb(COM1 + UART_IIR);
	while (inb(COM1 + UART_LSR) & UART_LSR_DR)
		uart_rx = inb(COM1 + UART_RX);
}

void guest_irq(uint64_t vector) __attribute__((used));
__attribute__((target("general-regs-only")))
void guest_irq(uint64_t vector)
{
	unsigned int cpu = guest_cpu();
	uint64_t n;

	if (cpu >= MAX_CPUS) {
		irq_stray++;
		return;
	}
	n = irq_count[cpu][vector];
	if (n < IRQ_TSC_SLOTS)
		irq_tsc[vector][n] = rdtsc();
	/* An NMI has no ISR bit and takes no EOI (SDM vol. 3, 10.8.1). */
	if (vector >= FIRST_EXTERNAL_VECTOR && apic_vec_bit(APIC_ISR, vector))
		irq_in_isr[vector] = 1;
	if (vector == UART_VECTOR)
		uart_service();
	irq_count[cpu][vector] = n + 1;
	if (vector >= FIRST_EXTERNAL_VECTOR && !irq_no_eoi[vector])
		apic_eoi();
}

/*
 * guest_irq_stubs + 16 * vector: saves the caller-saved registers and
 * calls guest_irq(vector). The CPU aligns RSP to 16 before its 5-word
 * frame; with 9 pushes the call is 16-byte aligned (SysV ABI).
 */
asm(
"	.pushsection .text\n"
"	.align 16\n"
"guest_irq_common:\n"
"	push %rax\n push %rcx\n push %rdx\n push %rsi\n"
"	push %r8\n push %r9\n push %r10\n push %r11\n"
"	call guest_irq\n"
"	pop %r11\n pop %r10\n pop %r9\n pop %r8\n"
"	pop %rsi\n pop %rdx\n pop %rcx\n pop %rax\n"
"	pop %rdi\n"
"	iretq\n"
"	.align 16\n"
"	.globl guest_irq_stubs\n"
"guest_irq_stubs:\n"
"	vector = 0\n"
"	.rept 256\n"
"	.align 16\n"
"	push %rdi\n"
"	mov $vector, %edi\n"
"	jmp guest_irq_common\n"
"	vector = vector + 1\n"
"	.endr\n"
"	.popsection\n"
);
extern char guest_irq_stubs[];
#define IRQ_STUB_SIZE		16

/* ---------------------------------------------------------------- */
/* Guest helpers                                                     */
/* ---------------------------------------------------------------- */

static inline uint64_t ns_to_tsc(uint64_t ns)
{
	return ns * guest_tsc_khz / 1000000;
}

/* The least TSC ticks in which ns can have passed (see the top). */
static inline uint64_t min_tsc_for(uint64_t ns)
{
	return ns_to_tsc(ns) * (100 - EARLY_SLACK_PCT) / 100;
}

static void delay_ns(uint64_t ns)
{
	uint64_t end = rdtsc() + ns_to_tsc(ns);

	while (rdtsc() < end)
		cpu_relax();
}

/* Spins until this vCPU has taken `vector` n times, or WAIT_MS passed. */
static uint64_t wait_irqs(uint8_t vector, uint64_t n)
{
	uint64_t end = rdtsc() + ns_to_tsc(WAIT_MS * 1000000);
	unsigned int cpu = guest_cpu();

	while (irq_count[cpu][vector] < n && rdtsc() < end)
		cpu_relax();
	return irq_count[cpu][vector];
}

static void wait_flag(volatile uint64_t *flag)
{
	uint64_t end = rdtsc() + ns_to_tsc(WAIT_MS * 1000000);

	while (!*flag) {
		GUEST_ASSERT(rdtsc() < end);
		cpu_relax();
	}
}

static void cpuid_regs(uint32_t leaf, uint32_t r[4])
{
	cpuid_count(leaf, 0, &r[0], &r[1], &r[2], &r[3]);
}

/* Software-enables our local APIC (SVR bit 8, SDM vol. 3, 10.4.7.2). */
static void apic_sw_enable(void)
{
	apic_write(APIC_SVR, APIC_SVR_ENABLE | APIC_SPURIOUS_VECTOR);
}

/* An IPI: ICR high (destination) first, the low dword sends (10.6.1). */
static void send_ipi(uint32_t dest, uint32_t icr_lo)
{
	if (in_x2apic_mode()) {
		wrmsr(X2APIC_MSR(APIC_ICR_LO),
		      ((uint64_t)dest << X2APIC_ICR_DEST_SHIFT) | icr_lo);
		return;
	}
	apic_write(APIC_ICR_HI, dest << APIC_ID_SHIFT);
	apic_write(APIC_ICR_LO, icr_lo);
	/* Linux waits for the delivery status to go idle. */
	while (apic_read(APIC_ICR_LO) & ICR_BUSY)
		cpu_relax();
}

static void send_self_ipi(uint8_t vector)
{
	send_ipi(0, ICR_SH_SELF | ICR_DM_FIXED | vector);
}

/* INIT assert, then de-assert, as Linux's wakeup_secondary_cpu_via_init. */
static void send_init(uint32_t dest)
{
	send_ipi(dest, ICR_DM_INIT | ICR_TRIGGER_LEVEL | ICR_LEVEL_ASSERT);
	send_ipi(dest, ICR_DM_INIT | ICR_TRIGGER_LEVEL);
}

/* Two SIPIs, as the MP initialisation protocol says (SDM vol. 3, 8.4.4.1). */
static void send_sipis(uint32_t dest, uint8_t vector)
{
	send_ipi(dest, ICR_DM_STARTUP | vector);
	send_ipi(dest, ICR_DM_STARTUP | vector);
}

static void timer_arm(uint32_t lvt, uint32_t tdcr, uint32_t tmict)
{
	apic_write(APIC_LVT_TIMER, lvt);
	apic_write(APIC_TDCR, tdcr);
	apic_write(APIC_TMICT, tmict);
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(IOAPIC_GPA + IOAPIC_IOREGSEL, reg);
	mmio_write32(IOAPIC_GPA + IOAPIC_IOWIN, v);
}

static uint32_t ioapic_read(uint32_t reg)
{
	mmio_write32(IOAPIC_GPA + IOAPIC_IOREGSEL, reg);
	return mmio_read32(IOAPIC_GPA + IOAPIC_IOWIN);
}

/* The high dword (destination) first, so no half-written entry fires. */
static void ioapic_set_redir(uint32_t pin, uint32_t lo, uint8_t dest)
{
	ioapic_write(IOAPIC_REG_REDIR(pin) + 1,
		     (uint32_t)dest << REDIR_DEST_SHIFT);
	ioapic_write(IOAPIC_REG_REDIR(pin), lo);
}

static uint32_t ioapic_redir_lo(uint32_t pin)
{
	return ioapic_read(IOAPIC_REG_REDIR(pin));
}

/* ---------------------------------------------------------------- */
/* Host helpers                                                      */
/* ---------------------------------------------------------------- */

#define REQUIRE_FEATURE(f) do {						\
	if (!(sys_caps()->features & (f)))				\
		SKIP(return, "the module does not offer " #f);		\
} while (0)

/* A (TSC, CLOCK_MONOTONIC) pair read as close together as we can. */
static void tsc_ns_pair(uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = ~0ULL;
	int i;

	*tsc = *ns = 0;
	for (i = 0; i < TSC_PAIR_TRIES; i++) {
		uint64_t a = now_ns(), c = rdtsc(), b = now_ns();

		if (b - a < best) {
			best = b - a;
			*tsc = c;
			*ns = a + (b - a) / 2;
		}
	}
}

/*
 * The TSC rate in kHz. The guest's TSC is this CPU's plus an offset
 * (0 here), so its rate is measured here, against the clock the
 * kernel's hrtimers (the APIC timer) use.
 */
static uint64_t host_tsc_khz(void)
{
	uint64_t c0 = 0, c1 = 0, t0 = 0, t1 = 0, khz;

	tsc_ns_pair(&c0, &t0);
	usleep(TSC_CALIBRATE_US);
	tsc_ns_pair(&c1, &t1);
	khz = (c1 - c0) * 1000000 / (t1 - t0);
	TEST_ASSERT(khz, "cannot measure the TSC rate");
	return khz;
}

static int add_irqchip(struct tvm *vm, uint32_t type, uint64_t base)
{
	return axvm_vm_add_device_flags(&vm->vm, type, AXVM_DEV_SPACE_MMIO,
					base, 0, 0, 0, NULL);
}

/*
 * A VM with region 0, the local APICs, an I/O APIC if asked, and vCPU 0
 * at guest_code with the TSC rate in guest_tsc_khz. Still LOADING.
 */
static struct tvm *platform_vm(struct tvcpu **vcpu, void *guest_code,
			       bool ioapic)
{
	struct tvm *vm = vm_create_guest();

	TEST_ASSERT(!add_irqchip(vm, AXVM_DEV_LAPIC, LAPIC_GPA),
		    "adding the local APIC");
	if (ioapic)
		TEST_ASSERT(!add_irqchip(vm, AXVM_DEV_IOAPIC, IOAPIC_GPA),
			    "adding the I/O APIC");
	*vcpu = vm_guest_vcpu_add(vm, BSP_ID, guest_code);
	guest_tsc_khz = host_tsc_khz();
	sync_global_to_guest(vm, guest_tsc_khz);
	return vm;
}

static void set_gate(struct tvm *vm, uint8_t vector)
{
	vm_set_idt_gate(vm, vector, guest_irq_stubs + IRQ_STUB_SIZE * vector);
}

static struct axvm_stats vcpu_stats(struct tvcpu *vcpu)
{
	struct axvm_stats st;
	int r;

	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	r = __vcpu_ioctl(vcpu, AXVM_GET_VCPU_STATS, &st);
	TEST_ASSERT(!r, "AXVM_GET_VCPU_STATS: %s", strerror(-r));
	return st;
}

static uint64_t guest_irq_count(struct tvm *vm, unsigned int cpu,
				uint8_t vector)
{
	return vm_read_u64(vm, (uint64_t)(uintptr_t)&irq_count[cpu][vector]);
}

static void set_line(struct tvm *vm, uint32_t pin, uint32_t level)
{
	int r = axvm_vm_set_irq_line(&vm->vm, pin, level);

	TEST_ASSERT(!r, "SET_IRQ_LINE pin %u level %u: %s", pin, level,
		    strerror(-r));
}

/* --- application processors --- */

/* vCPU AP_ID in its reset state, with the SIPI stub in memory. */
static struct tvcpu *ap_add(struct tvm *vm)
{
	struct tvcpu *ap = vm_vcpu_add(vm, AP_ID);

	vm_write(vm, AP_STUB_GPA, ap_stub, sizeof(ap_stub));
	return ap;
}

/* The AP's last RUN ended at the stub's OUT, in real mode at the SIPI vector. */
static void ap_check_started(struct tvcpu *ap)
{
	struct axvm_run *run = ap->v.run;
	struct axvm_sregs s;
	struct axvm_regs r;

	TEST_ASSERT(run->exit_reason == AXVM_EXIT_IO && run->io.port == AP_PORT,
		    "the AP did not run its SIPI stub: %s", exit_desc(ap));
	TEST_ASSERT_EQ(run->io.width, 2);
	TEST_ASSERT_EQ(run->io.data, AP_STUB_REPORT);
	vcpu_sregs_get(ap, &s);
	vcpu_regs_get(ap, &r);
	TEST_ASSERT_EQ(s.cs.selector, AP_STUB_VECTOR << 8);
	TEST_ASSERT_EQ(s.cs.base, AP_STUB_GPA);
	TEST_ASSERT_EQ(s.cr0 & X86_CR0_PE, 0);
	TEST_ASSERT_EQ(r.rip, AP_STUB_OUT_END);
}

/*
 * What the AP's trampoline would do in a real guest: the host puts the
 * started AP at guest_code in 64-bit mode, as vm_guest_vcpu_add() sets
 * up a vCPU (its stack, the return trampoline).
 */
static void ap_setup_guest(struct tvcpu *ap, void *guest_code)
{
	struct tvm *vm = ap->vm;
	uint64_t top = GUEST_STACKS_GPA + (ap->v.id + 1) * GUEST_STACK_SIZE;
	struct axvm_regs regs;

	vcpu_sregs_set(ap, &vm->sregs_template);
	vm_write_u64(vm, top - 8,
		     (uint64_t)(uintptr_t)guest_return_trampoline);
	vcpu_regs_get(ap, &regs);
	regs.rip = (uint64_t)(uintptr_t)guest_code;
	regs.rsp = top - 8;
	regs.rdi = 0;
	regs.rflags = RFLAGS_FIXED;
	vcpu_regs_set(ap, &regs);
}

/* --- vCPU threads --- */

struct runner {
	struct tvcpu *vcpu;
	pthread_t thread;
	bool to_done;		/* run to GUEST_DONE; else one raw AXVM_RUN */
	int ret;		/* raw RUN: 0 or -errno */
	uint32_t exit_reason;
	atomic_bool finished;
};

static void *runner_fn(void *arg)
{
	struct runner *r = arg;

	if (r->to_done) {
		vcpu_run_done(r->vcpu);
	} else {
		r->ret = __vcpu_run(r->vcpu);
		r->exit_reason = r->vcpu->v.run->exit_reason;
	}
	atomic_store(&r->finished, true);
	return NULL;
}

static void runner_start(struct runner *r, struct tvcpu *vcpu, bool to_done)
{
	int e;

	memset(r, 0, sizeof(*r));
	r->vcpu = vcpu;
	r->to_done = to_done;
	r->ret = 1;
	e = pthread_create(&r->thread, NULL, runner_fn, r);
	TEST_ASSERT(!e, "pthread_create: %s", strerror(e));
}

/*
 * Joins a runner. After RUN_TIMEOUT_S its VM is shut down, which ends
 * every AXVM_RUN (a to_done runner then fails with EXIT_STOPPED).
 */
static void runner_join(struct runner *r)
{
	struct timespec ts;
	int e;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += RUN_TIMEOUT_S;
	e = pthread_timedjoin_np(r->thread, NULL, &ts);
	if (e == ETIMEDOUT) {
		fprintf(stderr, "# vCPU %u still running after %d s: shutting the VM down\n",
			r->vcpu->v.id, RUN_TIMEOUT_S);
		axvm_vm_shutdown(&r->vcpu->vm->vm);
		e = pthread_join(r->thread, NULL);
	}
	TEST_ASSERT(!e, "joining the vCPU thread: %s", strerror(e));
}

/* A raw RUN of vcpu in a thread, once it is inside AXVM_RUN. */
static void runner_start_waiting(struct runner *r, struct tvcpu *vcpu)
{
	runner_start(r, vcpu, false);
	TEST_ASSERT(vm_wait_nr_running(vcpu->vm, 1, RUN_TIMEOUT_S * 1000),
		    "vCPU %u never entered AXVM_RUN", vcpu->v.id);
	usleep(SETTLE_US);
}

/*
 * Waits for a raw runner that should end by itself. One still asleep in
 * wait-for-SIPI after AP_START_TIMEOUT_S is ended with SIGUSR1, and the
 * test fails saying the SIPI was lost (rather than by timing out).
 */
static void ap_join_started(struct runner *r)
{
	uint64_t deadline = now_ns() + AP_START_TIMEOUT_S * 1000000000ULL;

	while (!atomic_load(&r->finished) && now_ns() < deadline)
		usleep(1000);
	if (!atomic_load(&r->finished))
		pthread_kill(r->thread, SIGUSR1);
	runner_join(r);
	TEST_ASSERT(r->ret != -EINTR,
		    "vCPU %u still waits for a SIPI after INIT, SIPI, SIPI: the SIPI was lost",
		    r->vcpu->v.id);
	TEST_ASSERT(!r->ret, "AXVM_RUN of vCPU %u: %s", r->vcpu->v.id,
		    strerror(-r->ret));
	ap_check_started(r->vcpu);
}

/* Runs the AP (INIT and SIPIs sent) until its stub's OUT. */
static void ap_run_started(struct tvcpu *ap)
{
	struct runner r;

	install_noop_handler(SIGUSR1);
	runner_start(&r, ap, false);
	ap_join_started(&r);
}

/* ================================================================ */
/* 1. The contract                                                   */
/* ================================================================ */

static void irqchip_args(struct axvm_device *d, uint32_t type, uint64_t base)
{
	memset(d, 0, sizeof(*d));
	d->size = sizeof(*d);
	d->type = type;
	d->space = AXVM_DEV_SPACE_MMIO;
	d->base = base;
	d->fd = 12345;		/* an output: ignored on input */
}

static int add_dev(struct tvm *vm, struct axvm_device *d)
{
	return VM_IOCTL(vm, AXVM_ADD_DEVICE, d);
}

/* Refused for both controllers: an irq, any flag, PIO, a wrong len. */
static void check_irqchip_bad_fields(struct __test_metadata *_metadata,
				     struct tvm *vm, uint32_t type,
				     uint64_t base)
{
	struct axvm_device d;

	irqchip_args(&d, type, base);
	d.irq = 1;
	ASSERT_EQ(-EINVAL, add_dev(vm, &d));
	irqchip_args(&d, type, base);
	d.flags = AXVM_DEVICE_IRQ_LINE;
	ASSERT_EQ(-EINVAL, add_dev(vm, &d));
	irqchip_args(&d, type, base);
	d.space = AXVM_DEV_SPACE_PIO;
	ASSERT_EQ(-EINVAL, add_dev(vm, &d));
	irqchip_args(&d, type, base);
	d.len = 2 * IRQCHIP_LEN;
	ASSERT_EQ(-EINVAL, add_dev(vm, &d));
}

static void check_irqchip_added(struct __test_metadata *_metadata,
				struct tvm *vm, uint32_t type, uint64_t base)
{
	struct axvm_device d;

	irqchip_args(&d, type, base);
	ASSERT_EQ(0, add_dev(vm, &d));
	ASSERT_EQ(-1, d.fd);
	ASSERT_EQ(IRQCHIP_LEN, d.len);
	/* A second one: EEXIST, wherever it would go. */
	irqchip_args(&d, type, base);
	ASSERT_EQ(-EEXIST, add_dev(vm, &d));
	if (type == AXVM_DEV_IOAPIC) {
		irqchip_args(&d, type, base + 2 * IRQCHIP_LEN);
		ASSERT_EQ(-EEXIST, add_dev(vm, &d));
	}
}

TEST(irqchip_add_device)
{
	struct tvm *vm;
	struct axvm_device d;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	vm = vm_create_barebones();
	check_irqchip_bad_fields(_metadata, vm, AXVM_DEV_IOAPIC, IOAPIC_GPA);
	check_irqchip_bad_fields(_metadata, vm, AXVM_DEV_LAPIC, LAPIC_GPA);
	/* The local APIC cannot move (IA32_APIC_BASE's base is fixed). */
	irqchip_args(&d, AXVM_DEV_LAPIC, LAPIC_GPA + IRQCHIP_LEN);
	ASSERT_EQ(-EINVAL, add_dev(vm, &d));
	irqchip_args(&d, AXVM_DEV_LAPIC, IOAPIC_GPA);
	ASSERT_EQ(-EINVAL, add_dev(vm, &d));

	check_irqchip_added(_metadata, vm, AXVM_DEV_IOAPIC, IOAPIC_GPA);
	check_irqchip_added(_metadata, vm, AXVM_DEV_LAPIC, LAPIC_GPA);
	/* The field checks still come first. */
	irqchip_args(&d, AXVM_DEV_LAPIC, LAPIC_GPA + IRQCHIP_LEN);
	ASSERT_EQ(-EINVAL, add_dev(vm, &d));
	vm_free(vm);

	/* Only in LOADING. */
	vm = vm_create_barebones();
	vm_finalize(vm);
	irqchip_args(&d, AXVM_DEV_IOAPIC, IOAPIC_GPA);
	ASSERT_EQ(-EBUSY, add_dev(vm, &d));
	irqchip_args(&d, AXVM_DEV_LAPIC, LAPIC_GPA);
	ASSERT_EQ(-EBUSY, add_dev(vm, &d));
	vm_free(vm);

	/* MMIO devices cannot sit on guest memory. */
	vm = vm_create_barebones();
	vm_add_region(vm, LAPIC_GPA, SZ_4K, AXVM_MEM_READ);
	irqchip_args(&d, AXVM_DEV_LAPIC, LAPIC_GPA);
	ASSERT_EQ(-EEXIST, add_dev(vm, &d));
	vm_free(vm);
}

static int add_uart_line(struct tvm *vm, uint16_t port, uint32_t pin, int *fd)
{
	return axvm_vm_add_device_flags(&vm->vm, AXVM_DEV_UART16550,
					AXVM_DEV_SPACE_PIO, port, 0, pin,
					AXVM_DEVICE_IRQ_LINE, fd);
}

/*
 * A UART on an I/O APIC pin. bus.c checks for the I/O APIC before the
 * pin, so without one even pin 24 is ENODEV; with one, pins 0-23 exist
 * (AXVM_IOAPIC_PINS) and anything above is EINVAL.
 */
TEST(uart_irq_line_contract)
{
	static const uint32_t bad_pins[] = { AXVM_IOAPIC_PINS, 32, 255, ~0U };
	struct tvm *vm;
	unsigned int i;
	int fd;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	vm = vm_create_barebones();
	ASSERT_EQ(-ENODEV, add_uart_line(vm, COM1, COM1_PIN, &fd));
	ASSERT_EQ(-ENODEV, add_uart_line(vm, COM1, AXVM_IOAPIC_PINS, &fd));
	/* A local APIC is not an I/O APIC. */
	ASSERT_EQ(0, add_irqchip(vm, AXVM_DEV_LAPIC, LAPIC_GPA));
	ASSERT_EQ(-ENODEV, add_uart_line(vm, COM1, COM1_PIN, &fd));

	ASSERT_EQ(0, add_irqchip(vm, AXVM_DEV_IOAPIC, IOAPIC_GPA));
	for (i = 0; i < ARRAY_SIZE(bad_pins); i++) {
		ASSERT_EQ(-EINVAL, add_uart_line(vm, COM1, bad_pins[i], &fd))
			ITER("pin %u", bad_pins[i]);
	}
	/* Without the flag, irq is a vector again: 4 is none. */
	ASSERT_EQ(-EINVAL, axvm_vm_add_device_flags(&vm->vm,
		  AXVM_DEV_UART16550, AXVM_DEV_SPACE_PIO, COM1, 0, COM1_PIN,
		  0, &fd));
	/* The first and the last pin. */
	ASSERT_EQ(0, add_uart_line(vm, COM1, AXVM_IOAPIC_PINS - 1, &fd));
	ASSERT_LE(0, fd);
	close(fd);
	ASSERT_EQ(0, add_uart_line(vm, COM1 - 0x100, 0, &fd));
	ASSERT_LE(0, fd);
	close(fd);
	vm_free(vm);
}

static void irq_line_args(struct axvm_irq_line *l, uint32_t pin,
			  uint32_t level)
{
	memset(l, 0, sizeof(*l));
	l->size = sizeof(*l);
	l->pin = pin;
	l->level = level;
}

static int irq_line(struct tvm *vm, struct axvm_irq_line *l)
{
	return VM_IOCTL(vm, AXVM_SET_IRQ_LINE, l);
}

/* Every EINVAL/E2BIG/EFAULT of AXVM_SET_IRQ_LINE (irq.c checks them first). */
static void check_irq_line_args(struct __test_metadata *_metadata,
				struct tvm *vm)
{
	struct {
		struct axvm_irq_line l;
		uint64_t extra;
	} big;
	struct axvm_irq_line l;
	unsigned int i;

	irq_line_args(&l, 0, 1);
	l.size = sizeof(l) - 8;
	ASSERT_EQ(-EINVAL, irq_line(vm, &l));
	l.size = 8;
	ASSERT_EQ(-EINVAL, irq_line(vm, &l));
	irq_line_args(&l, 0, 1);
	l.flags = 1;
	ASSERT_EQ(-EINVAL, irq_line(vm, &l));
	for (i = 0; i < ARRAY_SIZE(l.reserved); i++) {
		irq_line_args(&l, 0, 1);
		l.reserved[i] = 1;
		ASSERT_EQ(-EINVAL, irq_line(vm, &l)) ITER("reserved[%u]", i);
	}
	irq_line_args(&l, AXVM_IOAPIC_PINS, 1);
	ASSERT_EQ(-EINVAL, irq_line(vm, &l));
	irq_line_args(&l, ~0U, 0);
	ASSERT_EQ(-EINVAL, irq_line(vm, &l));
	irq_line_args(&l, 0, 2);
	ASSERT_EQ(-EINVAL, irq_line(vm, &l));
	memset(&big, 0, sizeof(big));
	irq_line_args(&big.l, 0, 1);
	big.l.size = sizeof(big);
	big.extra = 1;
	ASSERT_EQ(-E2BIG, irq_line(vm, &big.l));
	ASSERT_EQ(-EFAULT, VM_IOCTL(vm, AXVM_SET_IRQ_LINE, unmapped_address()));
}

TEST(set_irq_line_contract)
{
	struct axvm_irq_line l;
	struct tvm *vm;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	vm = vm_create_barebones();
	check_irq_line_args(_metadata, vm);
	/* Well-formed, but no I/O APIC to drive. */
	irq_line_args(&l, 0, 1);
	ASSERT_EQ(-ENODEV, irq_line(vm, &l));
	ASSERT_EQ(0, add_irqchip(vm, AXVM_DEV_LAPIC, LAPIC_GPA));
	ASSERT_EQ(-ENODEV, irq_line(vm, &l));

	ASSERT_EQ(0, add_irqchip(vm, AXVM_DEV_IOAPIC, IOAPIC_GPA));
	check_irq_line_args(_metadata, vm);
	/* Any state before STOPPING; both levels; the last pin. */
	ASSERT_EQ(0, irq_line(vm, &l));
	irq_line_args(&l, AXVM_IOAPIC_PINS - 1, 1);
	ASSERT_EQ(0, irq_line(vm, &l));
	vm_finalize(vm);
	l.level = 0;
	ASSERT_EQ(0, irq_line(vm, &l));
	vm_boot(vm);
	ASSERT_EQ(0, irq_line(vm, &l));
	ASSERT_EQ(0, axvm_vm_shutdown(&vm->vm));
	ASSERT_EQ(-ESHUTDOWN, irq_line(vm, &l));
	vm_free(vm);
}

/* CPUID leaf 1 ECX, EDX and leaf 6 EAX. */
static void guest_cpuid_apic(void)
{
	uint32_t l1[4], l6[4];

	cpuid_regs(1, l1);
	cpuid_regs(6, l6);
	GUEST_SYNC4(l1[2], l1[3], l6[0], 0);
}

static void read_cpuid_apic_bits(struct __test_metadata *_metadata, bool lapic,
			    uint32_t *ecx, uint32_t *edx, uint32_t *eax6)
{
	struct tvm *vm = vm_create_guest();
	struct tvcpu *vcpu = vm_guest_vcpu_add(vm, BSP_ID, guest_cpuid_apic);
	struct ucall uc;

	if (lapic)
		ASSERT_EQ(0, add_irqchip(vm, AXVM_DEV_LAPIC, LAPIC_GPA));
	vm_start(vm);
	vcpu_run_sync_uc(vcpu, &uc);
	*ecx = uc.args[0];
	*edx = uc.args[1];
	*eax6 = uc.args[2];
	vm_free(vm);
}

/* APIC, x2APIC, TSC-deadline and ARAT exactly when there is a local APIC. */
TEST(cpuid_apic_bits)
{
	uint32_t ecx, edx, eax6;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	read_cpuid_apic_bits(_metadata, false, &ecx, &edx, &eax6);
	ASSERT_EQ(0U, ecx & (CPUID_1_ECX_X2APIC | CPUID_1_ECX_TSC_DEADLINE));
	ASSERT_EQ(0U, edx & CPUID_1_EDX_APIC);
	ASSERT_EQ(0U, eax6 & CPUID_6_EAX_ARAT);
	read_cpuid_apic_bits(_metadata, true, &ecx, &edx, &eax6);
	ASSERT_EQ(CPUID_1_ECX_X2APIC | CPUID_1_ECX_TSC_DEADLINE,
		  ecx & (CPUID_1_ECX_X2APIC | CPUID_1_ECX_TSC_DEADLINE));
	ASSERT_EQ(CPUID_1_EDX_APIC, edx & CPUID_1_EDX_APIC);
	ASSERT_EQ(CPUID_6_EAX_ARAT, eax6 & CPUID_6_EAX_ARAT);
}

/* ================================================================ */
/* 2. The local APIC: registers, self IPIs, x2APIC                   */
/* ================================================================ */

static void guest_check_apic_reset_state(void)
{
	int i;

	/* IA32_APIC_BASE: the default base, enabled, BSP (10.4.4). */
	GUEST_ASSERT_EQ(rdmsr(MSR_IA32_APICBASE),
			LAPIC_GPA | APICBASE_EN | APICBASE_BSP);
	/* Software-disabled, LVTs masked, flat model (10.4.7.1). */
	GUEST_ASSERT_EQ(apic_read(APIC_SVR), APIC_SVR_RESET);
	GUEST_ASSERT_EQ(apic_read(APIC_LVT_TIMER), LVT_MASKED);
	GUEST_ASSERT_EQ(apic_read(APIC_DFR), APIC_DFR_FLAT);
	GUEST_ASSERT_EQ(apic_read(APIC_TPR), 0);
	for (i = 0; i < APIC_VEC_REGS; i++) {
		GUEST_ASSERT_EQ(apic_read(APIC_ISR + i * APIC_VEC_REG_STRIDE), 0);
		GUEST_ASSERT_EQ(apic_read(APIC_TMR + i * APIC_VEC_REG_STRIDE), 0);
		GUEST_ASSERT_EQ(apic_read(APIC_IRR + i * APIC_VEC_REG_STRIDE), 0);
	}
}

static void guest_xapic_registers(void)
{
	uint32_t ver = apic_read(APIC_LVR);
	uint64_t v;

	guest_check_apic_reset_state();
	GUEST_ASSERT_EQ(apic_read(APIC_ID), BSP_ID << APIC_ID_SHIFT);
	GUEST_ASSERT(APIC_LVR_VERSION(ver) >= APIC_VERSION_MIN &&
		     APIC_LVR_VERSION(ver) <= APIC_VERSION_MAX);
	GUEST_ASSERT_EQ(APIC_LVR_MAXLVT(ver), APIC_MAXLVT);
	/* ID and version are read-only here (devices.md). */
	apic_write(APIC_ID, TEST_APIC_ID << APIC_ID_SHIFT);
	GUEST_ASSERT_EQ(apic_read(APIC_ID), BSP_ID << APIC_ID_SHIFT);
	apic_write(APIC_LVR, 0);
	GUEST_ASSERT_EQ(apic_read(APIC_LVR), ver);
	/* While software-disabled an LVT cannot be unmasked (10.4.7.2). */
	apic_write(APIC_LVT_TIMER, TIMER_VECTOR);
	GUEST_ASSERT_EQ(apic_read(APIC_LVT_TIMER), LVT_MASKED | TIMER_VECTOR);
	apic_sw_enable();
	GUEST_ASSERT_EQ(apic_read(APIC_SVR),
			APIC_SVR_ENABLE | APIC_SPURIOUS_VECTOR);
	apic_write(APIC_LVT_TIMER, TIMER_VECTOR);
	GUEST_ASSERT_EQ(apic_read(APIC_LVT_TIMER), TIMER_VECTOR);
	/* TPR reads back; with ISR empty PPR is TPR (10.8.3.1). */
	apic_write(APIC_TPR, TEST_TPR);
	GUEST_ASSERT_EQ(apic_read(APIC_TPR), TEST_TPR);
	GUEST_ASSERT_EQ(apic_read(APIC_PPR), TEST_TPR);
	apic_write(APIC_TPR, 0);
	GUEST_ASSERT_EQ(apic_read(APIC_PPR), 0);
	/* The x2APIC MSRs #GP in xAPIC mode (10.12.1.2). */
	GUEST_ASSERT_EQ(rdmsr_safe(X2APIC_MSR(APIC_ID), &v), GP_VECTOR);
	GUEST_ASSERT_EQ(wrmsr_safe(X2APIC_MSR(APIC_TPR), 0), GP_VECTOR);
	/* Clearing SVR bit 8 masks every LVT again (10.4.7.2). */
	apic_write(APIC_SVR, APIC_SPURIOUS_VECTOR);
	GUEST_ASSERT_EQ(apic_read(APIC_LVT_TIMER), LVT_MASKED | TIMER_VECTOR);
}

/* guest_xapic_registers() makes more APIC accesses than this. */
#define XAPIC_REGS_MIN_ACCESSES	20

TEST(xapic_registers)
{
	struct axvm_stats st;
	struct tvcpu *vcpu;
	struct tvm *vm;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	vm = platform_vm(&vcpu, guest_xapic_registers, false);
	vm_start(vm);
	vcpu_run_done(vcpu);
	st = vcpu_stats(vcpu);
	/* Every access was handled in the kernel. */
	ASSERT_LT((uint64_t)XAPIC_REGS_MIN_ACCESSES,
		  st.exits[AXVM_STAT_APIC_ACCESS]);
	ASSERT_EQ(0ULL, st.exits[AXVM_STAT_USER_MMIO]);
	vm_free(vm);
}

/* Priority (10.8.3): TPR and an in-service vector hold lower classes back. */
static void guest_self_ipi_priorities(void)
{
	/* TPR at the vector's class: it waits in IRR until TPR drops. */
	apic_write(APIC_TPR, APIC_PRIO_CLASS(IPI_VECTOR));
	send_self_ipi(IPI_VECTOR);
	irq_window();
	GUEST_ASSERT_EQ(irq_count[BSP_ID][IPI_VECTOR], 1);
	GUEST_ASSERT(apic_vec_bit(APIC_IRR, IPI_VECTOR));
	apic_write(APIC_TPR, 0);
	irq_window();
	GUEST_ASSERT_EQ(irq_count[BSP_ID][IPI_VECTOR], 2);

	/* In service (no EOI yet): PPR is its class. */
	irq_no_eoi[IPI_VECTOR] = 1;
	send_self_ipi(IPI_VECTOR);
	irq_window();
	GUEST_ASSERT_EQ(irq_count[BSP_ID][IPI_VECTOR], 3);
	GUEST_ASSERT_EQ(apic_read(APIC_PPR), APIC_PRIO_CLASS(IPI_VECTOR));
	send_self_ipi(IPI_VECTOR_SAME_CLASS);
	irq_window();
	GUEST_ASSERT_EQ(irq_count[BSP_ID][IPI_VECTOR_SAME_CLASS], 0);
	/* A higher class nests; its handler's EOI ends only it. */
	send_self_ipi(IPI_VECTOR_HIGH);
	irq_window();
	GUEST_ASSERT_EQ(irq_count[BSP_ID][IPI_VECTOR_HIGH], 1);
	GUEST_ASSERT(apic_vec_bit(APIC_ISR, IPI_VECTOR));
	GUEST_ASSERT_EQ(irq_count[BSP_ID][IPI_VECTOR_SAME_CLASS], 0);
	/* Our EOI ends IPI_VECTOR: the held one is taken. */
	apic_eoi();
	irq_window();
	GUEST_ASSERT_EQ(irq_count[BSP_ID][IPI_VECTOR_SAME_CLASS], 1);
	GUEST_ASSERT_EQ(apic_read(APIC_PPR), 0);
}

static void guest_self_ipi(void)
{
	apic_sw_enable();
	/* IF = 0: the IPI waits in IRR (10.8.4), IF = 1 takes it. */
	send_self_ipi(IPI_VECTOR);
	GUEST_ASSERT(apic_vec_bit(APIC_IRR, IPI_VECTOR));
	GUEST_ASSERT_EQ(irq_count[BSP_ID][IPI_VECTOR], 0);
	irq_window();
	GUEST_ASSERT_EQ(irq_count[BSP_ID][IPI_VECTOR], 1);
	/* In service while the handler ran; its EOI cleared it; edge: no TMR. */
	GUEST_ASSERT(irq_in_isr[IPI_VECTOR]);
	GUEST_ASSERT(!apic_vec_bit(APIC_ISR, IPI_VECTOR));
	GUEST_ASSERT(!apic_vec_bit(APIC_IRR, IPI_VECTOR));
	GUEST_ASSERT(!apic_vec_bit(APIC_TMR, IPI_VECTOR));
	guest_self_ipi_priorities();
	/* An NMI to our own id comes through IF = 0 (10.6.1, 6.7.1). */
	send_ipi(BSP_ID, ICR_DM_NMI);
	GUEST_ASSERT_EQ(irq_count[BSP_ID][NMI_VECTOR], 1);
}

/* Self IPIs written to the ICR in this guest, NMI included. */
#define SELF_IPI_ICR_WRITES	6

TEST(xapic_self_ipi)
{
	struct axvm_stats st;
	struct tvcpu *vcpu;
	struct tvm *vm;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	vm = platform_vm(&vcpu, guest_self_ipi, false);
	set_gate(vm, IPI_VECTOR);
	set_gate(vm, IPI_VECTOR_SAME_CLASS);
	set_gate(vm, IPI_VECTOR_HIGH);
	set_gate(vm, NMI_VECTOR);
	vm_start(vm);
	vcpu_run_done(vcpu);
	st = vcpu_stats(vcpu);
	ASSERT_EQ((uint64_t)SELF_IPI_ICR_WRITES, st.exits[AXVM_STAT_IPI]);
	ASSERT_EQ(0ULL, vm_read_u64(vm, (uint64_t)(uintptr_t)&irq_stray));
	vm_free(vm);
}

/* AXVM_INJECT_IRQ with a local APIC sets IRR: TPR holds it, EOI is due. */
static void guest_injected(void)
{
	apic_sw_enable();
	apic_write(APIC_TPR, APIC_PRIO_CLASS(INJECT_VECTOR));
	sti();
	GUEST_SYNC(1);			/* the host injects */
	GUEST_ASSERT(apic_vec_bit(APIC_IRR, INJECT_VECTOR));
	GUEST_ASSERT_EQ(irq_count[BSP_ID][INJECT_VECTOR], 0);
	apic_write(APIC_TPR, 0);
	cli();
	GUEST_ASSERT_EQ(irq_count[BSP_ID][INJECT_VECTOR], 1);
	GUEST_ASSERT(irq_in_isr[INJECT_VECTOR]);
	GUEST_ASSERT(!apic_vec_bit(APIC_ISR, INJECT_VECTOR));
}

TEST(inject_irq_sets_irr)
{
	struct axvm_irq irq = {
		.size = sizeof(irq), .vector = INJECT_VECTOR, .vcpu_mask = 1,
	};
	struct tvcpu *vcpu;
	struct tvm *vm;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	vm = platform_vm(&vcpu, guest_injected, false);
	set_gate(vm, INJECT_VECTOR);
	vm_start(vm);
	vcpu_run_sync(vcpu, 1);
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_INJECT_IRQ, &irq));
	vcpu_run_done(vcpu);
	vm_free(vm);
}

/* IA32_APIC_BASE transitions (SDM vol. 3, figure 10-27). */
static void guest_x2apic_enable(uint64_t base)
{
	/* EXTD without EN, or another base: #GP. */
	GUEST_ASSERT_EQ(wrmsr_safe(MSR_IA32_APICBASE,
				   (base & ~APICBASE_EN) | APICBASE_EXTD),
			GP_VECTOR);
	GUEST_ASSERT_EQ(wrmsr_safe(MSR_IA32_APICBASE, base + IRQCHIP_LEN),
			GP_VECTOR);
	wrmsr(MSR_IA32_APICBASE, base | APICBASE_EXTD);
	guest_x2apic[BSP_ID] = 1;
	GUEST_ASSERT_EQ(rdmsr(MSR_IA32_APICBASE), base | APICBASE_EXTD);
}

/* The registers as MSRs (10.12.1.2, 10.12.5.1, 10.12.10.2). */
static void guest_x2apic_registers(uint32_t xapic_ver)
{
	uint64_t v;

	GUEST_ASSERT_EQ(rdmsr(X2APIC_MSR(APIC_ID)), BSP_ID);
	GUEST_ASSERT_EQ(rdmsr(X2APIC_MSR(APIC_LDR)), X2APIC_LDR(BSP_ID));
	GUEST_ASSERT_EQ(rdmsr(X2APIC_MSR(APIC_LVR)), xapic_ver);
	/* The MMIO page does not answer now: the host does (10.12.2). */
	GUEST_ASSERT_EQ(mmio_read32(LAPIC_GPA + APIC_LVR), UNCLAIMED_MMIO);
	/* Write-only, read-only and missing registers; a non-zero EOI. */
	GUEST_ASSERT_EQ(rdmsr_safe(X2APIC_MSR(APIC_EOI), &v), GP_VECTOR);
	GUEST_ASSERT_EQ(rdmsr_safe(X2APIC_MSR(APIC_SELF_IPI), &v), GP_VECTOR);
	GUEST_ASSERT_EQ(rdmsr_safe(X2APIC_MSR(APIC_DFR), &v), GP_VECTOR);
	GUEST_ASSERT_EQ(wrmsr_safe(X2APIC_MSR(APIC_ID), 1), GP_VECTOR);
	GUEST_ASSERT_EQ(wrmsr_safe(X2APIC_MSR(APIC_LDR), 1), GP_VECTOR);
	GUEST_ASSERT_EQ(wrmsr_safe(X2APIC_MSR(APIC_EOI), 1), GP_VECTOR);
	apic_write(APIC_TPR, TEST_TPR);
	GUEST_ASSERT_EQ(rdmsr(X2APIC_MSR(APIC_PPR)), TEST_TPR);
	apic_write(APIC_TPR, 0);
}

/* SELF IPI (0x83f) and the 64-bit ICR (0x830), EOI through 0x80b. */
static void guest_x2apic_ipis(void)
{
	apic_sw_enable();
	wrmsr(X2APIC_MSR(APIC_SELF_IPI), IPI_VECTOR);
	irq_window();
	GUEST_ASSERT_EQ(irq_count[BSP_ID][IPI_VECTOR], 1);
	GUEST_ASSERT(irq_in_isr[IPI_VECTOR]);
	GUEST_ASSERT(!apic_vec_bit(APIC_ISR, IPI_VECTOR));
	/* Physical destination: our 32-bit id in ICR bits 63:32. */
	send_ipi(BSP_ID, ICR_DM_FIXED | IPI_VECTOR_HIGH);
	irq_window();
	GUEST_ASSERT_EQ(irq_count[BSP_ID][IPI_VECTOR_HIGH], 1);
	send_ipi(0, ICR_SH_SELF | IPI_VECTOR);
	irq_window();
	GUEST_ASSERT_EQ(irq_count[BSP_ID][IPI_VECTOR], 2);
	GUEST_ASSERT(!apic_vec_bit(APIC_ISR, IPI_VECTOR));
}

static void guest_x2apic_mode(void)
{
	uint64_t base = rdmsr(MSR_IA32_APICBASE);
	uint32_t ver = apic_read(APIC_LVR);
	uint32_t l1[4];

	cpuid_regs(1, l1);
	GUEST_ASSERT(l1[2] & CPUID_1_ECX_X2APIC);
	guest_x2apic_enable(base);
	guest_x2apic_registers(ver);
	guest_x2apic_ipis();
	/* x2APIC -> xAPIC only through disabled; disabling resets it. */
	GUEST_ASSERT_EQ(wrmsr_safe(MSR_IA32_APICBASE, base), GP_VECTOR);
	wrmsr(MSR_IA32_APICBASE, base & ~(APICBASE_EN | APICBASE_EXTD));
	guest_x2apic[BSP_ID] = 0;
	/* Disabled, the xAPIC page does not answer: the host does. */
	GUEST_ASSERT_EQ(mmio_read32(LAPIC_GPA + APIC_LVR), UNCLAIMED_MMIO);
	wrmsr(MSR_IA32_APICBASE, base);
	guest_check_apic_reset_state();
}

/* SELF IPI, ICR physical, ICR self in guest_x2apic_ipis(). */
#define X2APIC_IPIS		3

TEST(x2apic)
{
	struct axvm_stats st;
	struct tvcpu *vcpu;
	struct tvm *vm;
	int i;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	vm = platform_vm(&vcpu, guest_x2apic_mode, false);
	set_gate(vm, IPI_VECTOR);
	set_gate(vm, IPI_VECTOR_HIGH);
	vm_start(vm);
	/*
	 * The reads of the xAPIC page in x2APIC mode and with the APIC
	 * disabled come out as MMIO exits (10.12.2, 10.4.3).
	 */
	for (i = 0; i < 2; i++) {
		vcpu_run(vcpu);
		ucall_check_abort(vcpu);
		ASSERT_EXIT(vcpu, AXVM_EXIT_MMIO);
		ASSERT_EQ(LAPIC_GPA + APIC_LVR, vcpu->v.run->mmio.gpa);
		ASSERT_EQ(4, vcpu->v.run->mmio.width);
		ASSERT_EQ(0, vcpu->v.run->mmio.is_write);
		vcpu->v.run->mmio.data = UNCLAIMED_MMIO;
	}
	vcpu_run_done(vcpu);
	st = vcpu_stats(vcpu);
	ASSERT_EQ((uint64_t)X2APIC_IPIS, st.exits[AXVM_STAT_IPI]);
	vm_free(vm);
}

/* ================================================================ */
/* 3. The APIC timer (SDM vol. 3, 10.5.4)                            */
/* ================================================================ */

static void guest_timer_oneshot(void)
{
	uint64_t t0, c1, c2;

	apic_sw_enable();
	sti();
	t0 = rdtsc();
	timer_arm(TIMER_VECTOR | LVT_TIMER_ONESHOT, TDCR_DIV_1, ONESHOT_TICKS);
	GUEST_ASSERT_EQ(wait_irqs(TIMER_VECTOR, 1), 1);
	GUEST_ASSERT(irq_tsc[TIMER_VECTOR][0] - t0 >=
		     min_tsc_for((uint64_t)ONESHOT_TICKS * APIC_BUS_TICK_NS));
	/* Once: nothing more, the count stays at 0, TMICT keeps its value. */
	delay_ns(3ULL * ONESHOT_TICKS * APIC_BUS_TICK_NS);
	GUEST_ASSERT_EQ(irq_count[BSP_ID][TIMER_VECTOR], 1);
	GUEST_ASSERT_EQ(apic_read(APIC_TMCCT), 0);
	GUEST_ASSERT_EQ(apic_read(APIC_TMICT), ONESHOT_TICKS);

	/* TMCCT counts down from TMICT (here ~550 s at divide-by-128)... */
	timer_arm(TIMER_VECTOR | LVT_TIMER_ONESHOT, TDCR_DIV_128, ~0U);
	c1 = apic_read(APIC_TMCCT);
	c2 = apic_read(APIC_TMCCT);
	GUEST_ASSERT(c1 > 0);
	GUEST_ASSERT(c2 <= c1);
	/*
	 * Switching between one-shot and periodic keeps TMICT and the count
	 * going (hardware and KVM do; kvm-unit-tests' apic test checks it);
	 * only entering or leaving TSC-deadline mode disarms (10.5.4.1).
	 */
	apic_write(APIC_LVT_TIMER, TIMER_VECTOR | LVT_TIMER_PERIODIC);
	GUEST_ASSERT_EQ(apic_read(APIC_TMICT), ~0U);
	c1 = apic_read(APIC_TMCCT);
	GUEST_ASSERT(c1 > 0 && c1 <= c2);
	apic_write(APIC_LVT_TIMER, TIMER_VECTOR | LVT_TIMER_ONESHOT);
	GUEST_ASSERT_EQ(apic_read(APIC_TMICT), ~0U);
	c2 = apic_read(APIC_TMCCT);
	GUEST_ASSERT(c2 > 0 && c2 <= c1);
	/* ...and a zero initial count stops it. */
	apic_write(APIC_TMICT, 0);
	GUEST_ASSERT_EQ(apic_read(APIC_TMCCT), 0);
	cli();
}

TEST(timer_oneshot)
{
	struct tvcpu *vcpu;
	struct tvm *vm;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	vm = platform_vm(&vcpu, guest_timer_oneshot, false);
	set_gate(vm, TIMER_VECTOR);
	vm_start(vm);
	vcpu_run_done(vcpu);
	ASSERT_EQ(1ULL, vcpu_stats(vcpu).exits[AXVM_STAT_APIC_TIMER]);
	vm_free(vm);
}

static void guest_timer_periodic(void)
{
	uint64_t period_ns = (uint64_t)PERIOD_TICKS * PERIOD_DIVISOR *
			     APIC_BUS_TICK_NS;
	uint64_t t0, n;
	int i;

	apic_sw_enable();
	sti();
	t0 = rdtsc();
	timer_arm(TIMER_VECTOR | LVT_TIMER_PERIODIC, TDCR_DIV_2, PERIOD_TICKS);
	GUEST_ASSERT(wait_irqs(TIMER_VECTOR, PERIODIC_FIRES) >= PERIODIC_FIRES);
	/* Fire k comes no earlier than k periods (divisor included). */
	for (i = 0; i < PERIODIC_FIRES; i++)
		GUEST_ASSERT(irq_tsc[TIMER_VECTOR][i] - t0 >=
			     min_tsc_for((i + 1) * period_ns));
	GUEST_ASSERT(apic_read(APIC_TMCCT) <= PERIOD_TICKS);
	/* A zero initial count stops the periodic timer too. */
	apic_write(APIC_TMICT, 0);
	irq_window();
	sti();
	n = irq_count[BSP_ID][TIMER_VECTOR];
	delay_ns(5 * period_ns);
	GUEST_ASSERT_EQ(irq_count[BSP_ID][TIMER_VECTOR], n);
	cli();
	GUEST_SYNC(n);
}

TEST(timer_periodic)
{
	struct tvcpu *vcpu;
	struct ucall uc;
	struct tvm *vm;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	vm = platform_vm(&vcpu, guest_timer_periodic, false);
	set_gate(vm, TIMER_VECTOR);
	vm_start(vm);
	vcpu_run_sync_uc(vcpu, &uc);
	ASSERT_LE((uint64_t)PERIODIC_FIRES, uc.args[0]);
	/* Fires that found the vector still pending in IRR merge. */
	ASSERT_LE(uc.args[0], vcpu_stats(vcpu).exits[AXVM_STAT_APIC_TIMER]);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

/* Arming and disarming: the MSR reads the deadline, 0 when disarmed. */
static void guest_deadline_msr(void)
{
	uint64_t far = rdtsc() + ns_to_tsc(DEADLINE_FAR_MS * 1000000);

	wrmsr(MSR_IA32_TSC_DEADLINE, far);
	GUEST_ASSERT_EQ(rdmsr(MSR_IA32_TSC_DEADLINE), far);
	wrmsr(MSR_IA32_TSC_DEADLINE, 0);
	GUEST_ASSERT_EQ(rdmsr(MSR_IA32_TSC_DEADLINE), 0);
	/* TMICT writes are ignored and TMCCT reads 0 here (10.5.4.1). */
	apic_write(APIC_TMICT, SHORT_TICKS);
	GUEST_ASSERT_EQ(apic_read(APIC_TMICT), 0);
	GUEST_ASSERT_EQ(apic_read(APIC_TMCCT), 0);
	delay_ns(QUIET_NS);
	GUEST_ASSERT_EQ(irq_count[BSP_ID][TIMER_VECTOR], 0);
}

static void guest_timer_tsc_deadline(void)
{
	uint64_t deadline;
	uint32_t l1[4];

	cpuid_regs(1, l1);
	GUEST_ASSERT(l1[2] & CPUID_1_ECX_TSC_DEADLINE);
	apic_sw_enable();
	sti();
	apic_write(APIC_LVT_TIMER, TIMER_VECTOR | LVT_TIMER_TSC_DEADLINE);
	guest_deadline_msr();
	deadline = rdtsc() + ns_to_tsc(DEADLINE_NS);
	wrmsr(MSR_IA32_TSC_DEADLINE, deadline);
	GUEST_ASSERT_EQ(wait_irqs(TIMER_VECTOR, 1), 1);
	/*
	 * Not before the deadline; the slack covers the kernel's tsc_khz,
	 * with which it converts the deadline into an hrtimer.
	 */
	GUEST_ASSERT(irq_tsc[TIMER_VECTOR][0] >=
		     deadline - (ns_to_tsc(DEADLINE_NS) - min_tsc_for(DEADLINE_NS)));
	GUEST_ASSERT_EQ(rdmsr(MSR_IA32_TSC_DEADLINE), 0);
	/* A deadline already passed fires at once. */
	wrmsr(MSR_IA32_TSC_DEADLINE, rdtsc() - 1);
	GUEST_ASSERT_EQ(wait_irqs(TIMER_VECTOR, 2), 2);
	/* Outside TSC-deadline mode the MSR is ignored (reads 0). */
	apic_write(APIC_LVT_TIMER, TIMER_VECTOR | LVT_TIMER_ONESHOT);
	wrmsr(MSR_IA32_TSC_DEADLINE, rdtsc() + ns_to_tsc(DEADLINE_NS));
	GUEST_ASSERT_EQ(rdmsr(MSR_IA32_TSC_DEADLINE), 0);
	delay_ns(QUIET_NS);
	GUEST_ASSERT_EQ(irq_count[BSP_ID][TIMER_VECTOR], 2);
	cli();
}

TEST(timer_tsc_deadline)
{
	struct tvcpu *vcpu;
	struct tvm *vm;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	vm = platform_vm(&vcpu, guest_timer_tsc_deadline, false);
	set_gate(vm, TIMER_VECTOR);
	vm_start(vm);
	vcpu_run_done(vcpu);
	ASSERT_EQ(2ULL, vcpu_stats(vcpu).exits[AXVM_STAT_APIC_TIMER]);
	vm_free(vm);
}

/* A masked LVT timer counts but raises nothing (10.5.1). */
static void guest_timer_masked(void)
{
	apic_sw_enable();
	sti();
	timer_arm(TIMER_VECTOR | LVT_MASKED | LVT_TIMER_ONESHOT, TDCR_DIV_1,
		  SHORT_TICKS);
	delay_ns(QUIET_NS);
	timer_arm(TIMER_VECTOR | LVT_MASKED | LVT_TIMER_PERIODIC, TDCR_DIV_1,
		  SHORT_TICKS);
	delay_ns(QUIET_NS);
	cli();
	GUEST_ASSERT_EQ(irq_count[BSP_ID][TIMER_VECTOR], 0);
	GUEST_ASSERT(!apic_vec_bit(APIC_IRR, TIMER_VECTOR));
	apic_write(APIC_TMICT, 0);
}

TEST(timer_masked)
{
	struct tvcpu *vcpu;
	struct tvm *vm;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	vm = platform_vm(&vcpu, guest_timer_masked, false);
	set_gate(vm, TIMER_VECTOR);
	vm_start(vm);
	vcpu_run_done(vcpu);
	ASSERT_EQ(0ULL, vcpu_stats(vcpu).exits[AXVM_STAT_APIC_TIMER]);
	vm_free(vm);
}

/* HLT with IF = 1 until the timer fires, HLT_ROUNDS times. */
static void guest_timer_hlt(void)
{
	int i;

	apic_sw_enable();
	for (i = 0; i < HLT_ROUNDS; i++) {
		timer_arm(TIMER_VECTOR | LVT_TIMER_ONESHOT, TDCR_DIV_1,
			  HLT_TICKS);
		while (irq_count[BSP_ID][TIMER_VECTOR] <= (uint64_t)i)
			asm volatile("sti; hlt; cli" : : : "memory");
	}
	GUEST_SYNC(irq_count[BSP_ID][TIMER_VECTOR]);
}

TEST(timer_wakes_hlt_in_kernel)
{
	struct axvm_stats st;
	struct tvcpu *vcpu;
	struct tvm *vm;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	vm = platform_vm(&vcpu, guest_timer_hlt, false);
	set_gate(vm, TIMER_VECTOR);
	vm_start(vm);
	/* One RUN: no HLT exit reaches userspace. */
	vcpu_run_sync(vcpu, HLT_ROUNDS);
	st = vcpu_stats(vcpu);
	ASSERT_EQ(0ULL, st.exits[AXVM_STAT_USER_HLT]);
	ASSERT_EQ((uint64_t)HLT_ROUNDS, st.exits[AXVM_STAT_APIC_TIMER]);
	ASSERT_LE(1ULL, st.exits[AXVM_STAT_HLT_BLOCK]);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

/* ================================================================ */
/* 4. IPIs between vCPUs                                              */
/* ================================================================ */

/*
 * vCPU 0: wakes the AP, waits for it, sends it three kinds of IPI and
 * a stray SIPI (an AP that took it would run its stub again and end
 * its RUN with that OUT instead of GUEST_DONE).
 */
static void guest_ipi_bsp(void)
{
	apic_sw_enable();
	send_init(AP_ID);
	send_sipis(AP_ID, AP_STUB_VECTOR);
	GUEST_SYNC(SYNC_AP_WOKEN);
	wait_flag(&ap_ready);
	send_ipi(AP_ID, ICR_DM_FIXED | IPI_VECTOR);
	send_ipi(0, ICR_SH_ALL_BUT_SELF | IPI_VECTOR_ALL_BUT_SELF);
	send_ipi(AP_LOGICAL_ID, ICR_DEST_LOGICAL | IPI_VECTOR_LOGICAL);
	/* A running AP ignores a SIPI (10.4.7.3): it does not restart. */
	send_ipi(AP_ID, ICR_DM_STARTUP | AP_STUB_VECTOR);
	wait_flag(&ap_done);
	irq_window();
	GUEST_ASSERT_EQ(irq_count[BSP_ID][IPI_VECTOR_ALL_BUT_SELF], 0);
}

static bool ap_has_all_ipis(void)
{
	return irq_count[AP_ID][IPI_VECTOR] &&
	       irq_count[AP_ID][IPI_VECTOR_ALL_BUT_SELF] &&
	       irq_count[AP_ID][IPI_VECTOR_LOGICAL];
}

/* vCPU 1, in 64-bit mode after its SIPI: sleeps in HLT until the IPIs. */
static void guest_ipi_ap(void)
{
	GUEST_ASSERT_EQ(apic_read(APIC_ID), AP_ID << APIC_ID_SHIFT);
	GUEST_ASSERT_EQ(rdmsr(MSR_IA32_APICBASE) & APICBASE_BSP, 0);
	apic_sw_enable();
	apic_write(APIC_DFR, APIC_DFR_FLAT);
	apic_write(APIC_LDR, AP_LOGICAL_ID << APIC_ID_SHIFT);
	ap_ready = 1;
	while (!ap_has_all_ipis())
		asm volatile("sti; hlt; cli" : : : "memory");
	GUEST_ASSERT_EQ(irq_count[AP_ID][IPI_VECTOR], 1);
	GUEST_ASSERT_EQ(irq_count[AP_ID][IPI_VECTOR_ALL_BUT_SELF], 1);
	GUEST_ASSERT_EQ(irq_count[AP_ID][IPI_VECTOR_LOGICAL], 1);
	/* Its x2APIC id is the vCPU id too (10.12.5.1). */
	wrmsr(MSR_IA32_APICBASE, rdmsr(MSR_IA32_APICBASE) | APICBASE_EXTD);
	guest_x2apic[AP_ID] = 1;
	GUEST_ASSERT_EQ(rdmsr(X2APIC_MSR(APIC_ID)), AP_ID);
	GUEST_ASSERT_EQ(rdmsr(X2APIC_MSR(APIC_LDR)), X2APIC_LDR(AP_ID));
	ap_done = 1;
}

/* What vCPU 0 sends once the AP runs: three kinds of IPI, one SIPI. */
#define AP_IPI_KINDS		3
#define BSP_IPIS_TO_AP		(AP_IPI_KINDS + 1)

TEST(ipi_between_vcpus)
{
	struct axvm_stats bsp0, bsp1, ap1;
	struct runner rb, ra;
	struct tvcpu *bsp, *ap;
	struct tvm *vm;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	vm = platform_vm(&bsp, guest_ipi_bsp, false);
	ap = ap_add(vm);
	set_gate(vm, IPI_VECTOR);
	set_gate(vm, IPI_VECTOR_ALL_BUT_SELF);
	set_gate(vm, IPI_VECTOR_LOGICAL);
	vm_start(vm);
	vcpu_run_sync(bsp, SYNC_AP_WOKEN);
	ap_run_started(ap);
	ap_setup_guest(ap, guest_ipi_ap);
	bsp0 = vcpu_stats(bsp);

	runner_start(&ra, ap, true);
	runner_start(&rb, bsp, true);
	runner_join(&rb);
	runner_join(&ra);
	bsp1 = vcpu_stats(bsp);
	ap1 = vcpu_stats(ap);
	ASSERT_EQ((uint64_t)BSP_IPIS_TO_AP,
		  bsp1.exits[AXVM_STAT_IPI] - bsp0.exits[AXVM_STAT_IPI]);
	ASSERT_EQ(0ULL, ap1.exits[AXVM_STAT_IPI]);
	ASSERT_LE((uint64_t)AP_IPI_KINDS, ap1.irqs_injected);
	ASSERT_EQ(0ULL, vm_read_u64(vm, (uint64_t)(uintptr_t)&irq_stray));
	vm_free(vm);
}

/* ================================================================ */
/* 5. INIT and SIPI (SDM vol. 3, 8.4.4 and 10.4.7.3)                  */
/* ================================================================ */

/* vCPU 0: INIT (assert, de-assert) and two SIPIs, optionally apart. */
static void guest_init_sipi(uint64_t split)
{
	apic_sw_enable();
	send_init(AP_ID);
	if (split)
		GUEST_SYNC(SYNC_INIT_SENT);
	send_sipis(AP_ID, AP_STUB_VECTOR);
	GUEST_SYNC(SYNC_SIPI_SENT);
}

static struct tvm *mp_vm(struct tvcpu **bsp, struct tvcpu **ap, bool split)
{
	struct tvm *vm = platform_vm(bsp, guest_init_sipi, false);

	vcpu_set_arg(*bsp, split);
	*ap = ap_add(vm);
	vm_start(vm);
	return vm;
}

/*
 * Regression (f1e7ca3): INIT, SIPI, SIPI all arrive before the AP's
 * thread ever calls AXVM_RUN, as when Linux sends them microseconds
 * apart. The SIPI came after the INIT and must survive it: RUN starts
 * the AP at the SIPI vector instead of leaving it in wait-for-SIPI.
 */
TEST(init_sipi_before_ap_runs)
{
	struct tvcpu *bsp, *ap;
	struct tvm *vm;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	vm = mp_vm(&bsp, &ap, false);
	vcpu_run_sync(bsp, SYNC_SIPI_SENT);
	ap_run_started(ap);
	/* INIT and two SIPIs at least (the de-assert does nothing). */
	ASSERT_LE(3ULL, vcpu_stats(bsp).exits[AXVM_STAT_IPI]);
	vm_free(vm);
}

/* The usual order: the AP's thread already waits inside AXVM_RUN. */
TEST(init_sipi_ap_waiting)
{
	struct tvcpu *bsp, *ap;
	struct runner r;
	struct tvm *vm;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	install_noop_handler(SIGUSR1);
	vm = mp_vm(&bsp, &ap, false);
	runner_start_waiting(&r, ap);
	vcpu_run_sync(bsp, SYNC_SIPI_SENT);
	ap_join_started(&r);
	vm_free(vm);
}

/* A raw RUN of the AP that is still waiting: ended by SIGUSR1 (EINTR). */
static void check_ap_still_waits(struct __test_metadata *_metadata,
				 struct tvcpu *ap)
{
	struct runner r;

	runner_start_waiting(&r, ap);
	usleep(STILL_WAITING_US);
	ASSERT_FALSE(atomic_load(&r.finished));
	ASSERT_EQ(0, pthread_kill(r.thread, SIGUSR1));
	runner_join(&r);
	ASSERT_EQ(-EINTR, r.ret);
	ASSERT_EQ((uint32_t)AXVM_EXIT_INTR, r.exit_reason);
}

/*
 * An AP waits for its SIPI inside AXVM_RUN, asleep: after reset, and
 * after an INIT without a SIPI. A signal ends the wait with EINTR and
 * the guest never entered; the SIPI then starts it.
 */
TEST(ap_waits_for_sipi)
{
	struct tvcpu *bsp, *ap;
	struct axvm_stats st;
	struct tvm *vm;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	install_noop_handler(SIGUSR1);
	vm = mp_vm(&bsp, &ap, true);
	check_ap_still_waits(_metadata, ap);
	vcpu_run_sync(bsp, SYNC_INIT_SENT);
	check_ap_still_waits(_metadata, ap);
	st = vcpu_stats(ap);
	ASSERT_EQ(0ULL, st.exits[AXVM_STAT_EXITS]);
	ASSERT_EQ(2ULL, st.exits[AXVM_STAT_SIGNAL]);	/* both waits */
	vcpu_run_sync(bsp, SYNC_SIPI_SENT);
	ap_run_started(ap);
	vm_free(vm);
}

/* SUSPEND and SHUTDOWN end the wait as they end any RUN. */
TEST(ap_wait_ends_on_suspend_and_shutdown)
{
	struct tvcpu *bsp, *ap;
	struct runner r;
	struct tvm *vm;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	vm = mp_vm(&bsp, &ap, false);
	runner_start_waiting(&r, ap);
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_SUSPEND, NULL));
	runner_join(&r);
	ASSERT_EQ(0, r.ret);
	ASSERT_EQ((uint32_t)AXVM_EXIT_SUSPENDED, r.exit_reason);
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_RESUME, NULL));
	runner_start_waiting(&r, ap);
	ASSERT_EQ(0, axvm_vm_shutdown(&vm->vm));
	runner_join(&r);
	ASSERT_EQ(0, r.ret);
	ASSERT_EQ((uint32_t)AXVM_EXIT_STOPPED, r.exit_reason);
	vm_free(vm);
}

/* ================================================================ */
/* 6. The I/O APIC (82093AA datasheet)                                */
/* ================================================================ */

/* Version, ID, and every entry masked after reset (3.2.2, 3.2.1, 3.2.4). */
static void guest_ioapic_registers(void)
{
	uint32_t ver = ioapic_read(IOAPIC_REG_VER);
	int pin;

	GUEST_ASSERT_EQ(IOAPIC_VER_MAXREDIR(ver), AXVM_IOAPIC_PINS - 1);
	GUEST_ASSERT_EQ(ver & 0xff, IOAPIC_VERSION);
	ioapic_write(IOAPIC_REG_ID, TEST_IOAPIC_ID << IOAPIC_ID_SHIFT);
	GUEST_ASSERT_EQ(ioapic_read(IOAPIC_REG_ID),
			TEST_IOAPIC_ID << IOAPIC_ID_SHIFT);
	for (pin = 0; pin < AXVM_IOAPIC_PINS; pin++)
		GUEST_ASSERT(ioapic_redir_lo(pin) & REDIR_MASKED);
}

/* Edge entries send on 0 -> 1 only; masked ones drop the edge. */
static void guest_ioapic_edge(void)
{
	apic_sw_enable();
	guest_ioapic_registers();
	ioapic_set_redir(EDGE_PIN, EDGE_VECTOR, BSP_ID);
	GUEST_ASSERT_EQ(ioapic_redir_lo(EDGE_PIN), EDGE_VECTOR);
	GUEST_ASSERT_EQ(ioapic_read(IOAPIC_REG_REDIR(EDGE_PIN) + 1),
			BSP_ID << REDIR_DEST_SHIFT);
	sti();
	GUEST_SYNC(1);			/* line 1 */
	GUEST_ASSERT_EQ(wait_irqs(EDGE_VECTOR, 1), 1);
	GUEST_ASSERT(irq_in_isr[EDGE_VECTOR]);
	GUEST_SYNC(2);			/* line 1 again: no edge */
	irq_window();
	GUEST_ASSERT_EQ(irq_count[BSP_ID][EDGE_VECTOR], 1);
	GUEST_ASSERT(!apic_vec_bit(APIC_IRR, EDGE_VECTOR));
	sti();
	GUEST_SYNC(3);			/* line 0, 1 */
	GUEST_ASSERT_EQ(wait_irqs(EDGE_VECTOR, 2), 2);
	ioapic_set_redir(EDGE_PIN, EDGE_VECTOR | REDIR_MASKED, BSP_ID);
	GUEST_SYNC(4);			/* line 0, 1 */
	irq_window();
	GUEST_ASSERT(!apic_vec_bit(APIC_IRR, EDGE_VECTOR));
	/* Unmasking does not replay a lost edge. */
	ioapic_set_redir(EDGE_PIN, EDGE_VECTOR, BSP_ID);
	irq_window();
	GUEST_ASSERT_EQ(irq_count[BSP_ID][EDGE_VECTOR], 2);
}

TEST(ioapic_edge)
{
	struct tvcpu *vcpu;
	struct tvm *vm;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	vm = platform_vm(&vcpu, guest_ioapic_edge, true);
	set_gate(vm, EDGE_VECTOR);
	vm_start(vm);
	vcpu_run_sync(vcpu, 1);
	set_line(vm, EDGE_PIN, 1);
	vcpu_run_sync(vcpu, 2);
	set_line(vm, EDGE_PIN, 1);
	vcpu_run_sync(vcpu, 3);
	set_line(vm, EDGE_PIN, 0);
	set_line(vm, EDGE_PIN, 1);
	vcpu_run_sync(vcpu, 4);
	set_line(vm, EDGE_PIN, 0);
	set_line(vm, EDGE_PIN, 1);
	vcpu_run_done(vcpu);
	ASSERT_EQ(2ULL, guest_irq_count(vm, BSP_ID, EDGE_VECTOR));
	vm_free(vm);
}

static bool level_remote_irr(void)
{
	return ioapic_redir_lo(LEVEL_PIN) & REDIR_REMOTE_IRR;
}

/*
 * Remote IRR is set on delivery and cleared by the local APIC's EOI
 * (TMR set: the EOI goes on to the I/O APIC); a pin still high then
 * fires again (82093AA 3.2.4, SDM vol. 3, 10.8.5).
 */
static void guest_ioapic_level_eoi(void)
{
	GUEST_ASSERT_EQ(wait_irqs(LEVEL_VECTOR, 1), 1);
	GUEST_ASSERT(level_remote_irr());
	GUEST_ASSERT(apic_vec_bit(APIC_TMR, LEVEL_VECTOR));
	GUEST_ASSERT(apic_vec_bit(APIC_ISR, LEVEL_VECTOR));
	/* Remote IRR holds the next message back. */
	GUEST_ASSERT(!apic_vec_bit(APIC_IRR, LEVEL_VECTOR));
	apic_eoi();
	GUEST_ASSERT_EQ(wait_irqs(LEVEL_VECTOR, 2), 2);
	GUEST_ASSERT(level_remote_irr());
	GUEST_SYNC(2);			/* line 0 */
	apic_eoi();
	irq_window();
	GUEST_ASSERT_EQ(irq_count[BSP_ID][LEVEL_VECTOR], 2);
	GUEST_ASSERT(!level_remote_irr());
	/* EOI leaves TMR alone: only an edge acceptance clears it (10.8.4). */
	GUEST_ASSERT(apic_vec_bit(APIC_TMR, LEVEL_VECTOR));
	GUEST_ASSERT(!apic_vec_bit(APIC_ISR, LEVEL_VECTOR));
}

/* The I/O APIC's EOI register (version 0x20) clears Remote IRR too. */
static void guest_ioapic_level_eoi_register(void)
{
	sti();
	GUEST_SYNC(3);			/* line 1 */
	GUEST_ASSERT_EQ(wait_irqs(LEVEL_VECTOR, 3), 3);
	GUEST_ASSERT(level_remote_irr());
	GUEST_SYNC(4);			/* line 0 */
	mmio_write32(IOAPIC_GPA + IOAPIC_EOI, LEVEL_VECTOR);
	GUEST_ASSERT(!level_remote_irr());
	apic_eoi();
	GUEST_ASSERT(!apic_vec_bit(APIC_ISR, LEVEL_VECTOR));
}

/* Unmasking a level entry whose pin is high delivers it. */
static void guest_ioapic_level_unmask(void)
{
	ioapic_set_redir(LEVEL_PIN, LEVEL_VECTOR | REDIR_LEVEL | REDIR_MASKED,
			 BSP_ID);
	sti();
	GUEST_SYNC(5);			/* line 1 */
	irq_window();
	GUEST_ASSERT_EQ(irq_count[BSP_ID][LEVEL_VECTOR], 3);
	GUEST_ASSERT(!level_remote_irr());
	sti();
	ioapic_set_redir(LEVEL_PIN, LEVEL_VECTOR | REDIR_LEVEL, BSP_ID);
	GUEST_ASSERT_EQ(wait_irqs(LEVEL_VECTOR, 4), 4);
	GUEST_SYNC(6);			/* line 0 */
	apic_eoi();
	irq_window();
	GUEST_ASSERT_EQ(irq_count[BSP_ID][LEVEL_VECTOR], 4);
	GUEST_ASSERT(!level_remote_irr());
}

static void guest_ioapic_level(void)
{
	apic_sw_enable();
	irq_no_eoi[LEVEL_VECTOR] = 1;	/* the test sends the EOIs */
	ioapic_set_redir(LEVEL_PIN, LEVEL_VECTOR | REDIR_LEVEL, BSP_ID);
	sti();
	GUEST_SYNC(1);			/* line 1 */
	guest_ioapic_level_eoi();
	guest_ioapic_level_eoi_register();
	guest_ioapic_level_unmask();
}

TEST(ioapic_level)
{
	struct tvcpu *vcpu;
	struct tvm *vm;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	vm = platform_vm(&vcpu, guest_ioapic_level, true);
	set_gate(vm, LEVEL_VECTOR);
	vm_start(vm);
	vcpu_run_sync(vcpu, 1);
	set_line(vm, LEVEL_PIN, 1);
	vcpu_run_sync(vcpu, 2);
	set_line(vm, LEVEL_PIN, 0);
	vcpu_run_sync(vcpu, 3);
	set_line(vm, LEVEL_PIN, 1);
	vcpu_run_sync(vcpu, 4);
	set_line(vm, LEVEL_PIN, 0);
	vcpu_run_sync(vcpu, 5);
	set_line(vm, LEVEL_PIN, 1);
	vcpu_run_sync(vcpu, 6);
	set_line(vm, LEVEL_PIN, 0);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

/* ================================================================ */
/* 7. The UART's interrupt through I/O APIC pin 4                     */
/* ================================================================ */

static void guest_uart_irq(void)
{
	apic_sw_enable();
	ioapic_set_redir(COM1_PIN, UART_VECTOR, BSP_ID);
	outb(COM1 + UART_IER, UART_IER_RDI);
	sti();
	GUEST_SYNC(1);			/* the host writes 'A' */
	GUEST_ASSERT_EQ(wait_irqs(UART_VECTOR, 1), 1);
	GUEST_ASSERT_EQ(uart_iir, UART_IIR_RDI);
	GUEST_ASSERT_EQ(uart_rx, 'A');
	GUEST_SYNC(2);			/* 'B', while we spin */
	GUEST_ASSERT_EQ(wait_irqs(UART_VECTOR, 2), 2);
	GUEST_ASSERT_EQ(uart_rx, 'B');
	cli();
	GUEST_SYNC(3);
}

/* The UART fd's fdinfo counter of interrupts raised. */
static long long fdinfo_irqs(int fd)
{
	char path[64], line[128];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	TEST_ASSERT(f, "cannot open %s", path);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "irqs:", 5))
			v = strtoll(line + 5, NULL, 0);
	fclose(f);
	return v;
}

static void *uart_vcpu_fn(void *arg)
{
	vcpu_run_sync(arg, 3);
	return NULL;
}

TEST(uart_irq_through_ioapic)
{
	struct tvcpu *vcpu;
	pthread_t thread;
	struct tvm *vm;
	int fd;

	REQUIRE_FEATURE(AXVM_FEATURE_X86_PLATFORM);
	vm = platform_vm(&vcpu, guest_uart_irq, true);
	ASSERT_EQ(0, add_uart_line(vm, COM1, COM1_PIN, &fd));
	set_gate(vm, UART_VECTOR);
	vm_start(vm);
	vcpu_run_sync(vcpu, 1);
	ASSERT_EQ(1, write(fd, "A", 1));
	vcpu_run_sync(vcpu, 2);
	/* From this thread, into a guest running on another one. */
	ASSERT_EQ(0, pthread_create(&thread, NULL, uart_vcpu_fn, vcpu));
	ASSERT_TRUE(vm_wait_nr_running(vm, 1, RUN_TIMEOUT_S * 1000));
	usleep(SETTLE_US);
	ASSERT_EQ(1, write(fd, "B", 1));
	ASSERT_EQ(0, pthread_join(thread, NULL));
	ASSERT_EQ(2, fdinfo_irqs(fd));
	vcpu_run_done(vcpu);
	close(fd);
	vm_free(vm);
}

/* ================================================================ */
/* 8. The KVM clock                                                  */
/* ================================================================ */

/* Linux's pvclock_clocksource_read(): system_time + scaled TSC delta. */
static uint64_t pvclock_read(volatile struct pvclock_vcpu_time_info *p)
{
	uint32_t version;
	uint64_t delta, ns;

	do {
		version = p->version;
		asm volatile("" : : : "memory");
		delta = rdtsc() - p->tsc_timestamp;
		if (p->tsc_shift < 0)
			delta >>= -p->tsc_shift;
		else
			delta <<= p->tsc_shift;
		ns = p->system_time +
		     (uint64_t)(((unsigned __int128)delta *
				 p->tsc_to_system_mul) >> 32);
		asm volatile("" : : : "memory");
	} while ((version & 1) || version != p->version);
	return ns;
}

/* CPUID 0x40000100-0x40000101; returns the "TSC stable" feature bit. */
static bool guest_kvm_cpuid(void)
{
	uint32_t r[4];

	cpuid_regs(KVM_CPUID_SIGNATURE, r);
	GUEST_ASSERT(r[0] >= KVM_CPUID_FEATURES);
	GUEST_ASSERT_EQ(r[1], 0x4b4d564b);	/* "KVMK" */
	GUEST_ASSERT_EQ(r[2], 0x564b4d56);	/* "VMKV" */
	GUEST_ASSERT_EQ(r[3], 0x0000004d);	/* "M\0\0\0" */
	cpuid_regs(KVM_CPUID_FEATURES, r);
	GUEST_ASSERT(r[0] & KVM_FEATURE_CLOCKSOURCE2);
	/* The old MSRs (0x11, 0x12) are not offered. */
	GUEST_ASSERT(!(r[0] & KVM_FEATURE_CLOCKSOURCE));
	return r[0] & KVM_FEATURE_CLOCKSOURCE_STABLE;
}

/*
 * The record is written once (axvm's TSC-to-ns mapping never changes),
 * so "system time advances" means the clock the guest computes from it
 * and its TSC, as Linux does.
 */
static void guest_pvclock_advances(volatile struct pvclock_vcpu_time_info *p)
{
	uint64_t t1, t2, c1, c2, expect;

	t1 = pvclock_read(p);
	c1 = rdtsc();
	delay_ns(PVCLOCK_BUSY_MS * 1000000ULL);
	t2 = pvclock_read(p);
	c2 = rdtsc();
	GUEST_ASSERT(t2 > t1);
	/* At the TSC's rate: mul and shift are right (not to the percent). */
	expect = (c2 - c1) * 1000000 / guest_tsc_khz;
	GUEST_ASSERT(t2 - t1 >= expect * (100 - PVCLOCK_RATE_SLACK_PCT) / 100);
	GUEST_ASSERT(t2 - t1 <= expect * (100 + PVCLOCK_RATE_SLACK_PCT) / 100);
	/* Publishing it again does not take the clock back. */
	wrmsr(MSR_KVM_SYSTEM_TIME_NEW, PVCLOCK_GPA | KVM_SYSTEM_TIME_ENABLE);
	GUEST_ASSERT(pvclock_read(p) >= t2);
}

static void guest_pvclock(void)
{
	volatile struct pvclock_vcpu_time_info *p = (void *)PVCLOCK_GPA;
	volatile struct pvclock_wall_clock *w = (void *)WALL_CLOCK_GPA;
	bool stable = guest_kvm_cpuid();

	wrmsr(MSR_KVM_SYSTEM_TIME_NEW, PVCLOCK_GPA | KVM_SYSTEM_TIME_ENABLE);
	GUEST_ASSERT_EQ(rdmsr(MSR_KVM_SYSTEM_TIME_NEW),
			PVCLOCK_GPA | KVM_SYSTEM_TIME_ENABLE);
	GUEST_ASSERT(p->version != 0);
	GUEST_ASSERT_EQ(p->version & 1, 0);
	GUEST_ASSERT(p->tsc_to_system_mul != 0);
	GUEST_ASSERT_EQ(!!(p->flags & PVCLOCK_TSC_STABLE_BIT), stable);
	guest_pvclock_advances(p);
	/* A record that would cross a page is refused, the MSR unchanged. */
	GUEST_ASSERT_EQ(wrmsr_safe(MSR_KVM_SYSTEM_TIME_NEW,
				   PAGE_CROSSING_GPA | KVM_SYSTEM_TIME_ENABLE),
			GP_VECTOR);
	GUEST_ASSERT_EQ(rdmsr(MSR_KVM_SYSTEM_TIME_NEW),
			PVCLOCK_GPA | KVM_SYSTEM_TIME_ENABLE);
	/* The wall clock: the real time at guest time 0. */
	wrmsr(MSR_KVM_WALL_CLOCK_NEW, WALL_CLOCK_GPA);
	GUEST_ASSERT(w->version != 0);
	GUEST_ASSERT_EQ(w->version & 1, 0);
	GUEST_ASSERT(w->sec > EPOCH_2020);
	GUEST_ASSERT(w->nsec < 1000000000U);
}

TEST(pvclock)
{
	struct tvcpu *vcpu;
	struct tvm *vm;

	REQUIRE_FEATURE(AXVM_FEATURE_PVCLOCK);
	vm = vm_create_guest();
	vcpu = vm_guest_vcpu_add(vm, BSP_ID, guest_pvclock);
	guest_tsc_khz = host_tsc_khz();
	sync_global_to_guest(vm, guest_tsc_khz);
	vm_start(vm);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

AXVM_TEST_HARNESS_MAIN
