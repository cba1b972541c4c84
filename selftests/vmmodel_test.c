// SPDX-License-Identifier: GPL-2.0
/*
 * vmmodel_test: the rest of the seed's VM model (issue 3).
 *
 *  - AXVM_INJECT_IRQ: deliveries counted by a guest with IF=1 while a
 *    second host thread injects, a guest asleep in HLT (IF=1) woken
 *    without an exit to userspace, IF=0 holding the interrupt back until
 *    STI, HLT with IF=0 exiting, several vCPUs in one mask, every errno,
 *    irqs_injected.
 *  - vCPU affinity: the v1 (32-byte) AXVM_CREATE_VCPU defaults,
 *    AXVM_VCPU_AFFINITY masks and phys_id reported by
 *    AXVM_GET_VCPU_AFFINITIES and seen by the guest in CPUID, RUN from a
 *    thread outside the mask (EPERM), every refusal (EINVAL, ENOSPC),
 *    an offline CPU.
 *  - AXVM_SUSPEND / AXVM_RESUME and AXVM_EXIT_SUSPENDED.
 *  - AXVM_RESET: power-on state (vCPUs and in-kernel devices), memory
 *    zeroed or kept, lazy pages given back, BOOT again, refusals.
 *  - AXVM_GET_STATS / AXVM_GET_VCPU_STATS and debugfs.
 */
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#include "axvm_test.h"

#define VEC		0x40
#define RUN_TIMEOUT_S	30
#define SEC_NS		1000000000ULL
#define LAZY_GPA	0x20000000ULL
#define LAZY_SIZE	SZ_2M
#define RESET_PAGE_GPA	0xfffff000ULL
#define DEBUGFS_AXVM	"/sys/kernel/debug/axvm"
#define CPU_ONLINE(n)	"/sys/devices/system/cpu/cpu" #n "/online"

/* ---------------------------------------------------------------- */
/* Guest code                                                        */
/* ---------------------------------------------------------------- */

/*
 * The interrupt handler: counts interrupts per vCPU (found from the
 * stack, GUEST_STACK_SIZE per vCPU from GUEST_STACKS_GPA), as ivc_test's
 * doorbell handler does. No EOI: axvm injects without an APIC.
 */
volatile uint64_t irq_counts[8];
volatile uint64_t guest_stop;

asm(
"	.pushsection .text\n"
"	.align 16\n"
"	.globl vmm_irq_handler\n"
"vmm_irq_handler:\n"
"	push %rax\n"
"	mov %rsp, %rax\n"
"	sub $" __stringify(GUEST_STACKS_GPA) ", %rax\n"
"	shr $14, %rax\n"		/* GUEST_STACK_SIZE = 0x4000 */
"	and $7, %rax\n"
"	lock incq irq_counts(,%rax,8)\n"
"	pop %rax\n"
"	iretq\n"
"	.popsection\n"
);
extern char vmm_irq_handler[];

_Static_assert(GUEST_STACK_SIZE == 0x4000, "vmm_irq_handler's shift");

/* Spins with interrupts enabled until the host sets guest_stop. */
static void guest_irq_spin(uint64_t id)
{
	asm volatile("sti" : : : "memory");
	while (!guest_stop)
		asm volatile("pause" : : : "memory");
	asm volatile("cli" : : : "memory");
	GUEST_SYNC(irq_counts[id]);
}

/* Sleeps in HLT with IF=1 once, then reports its count. */
static void guest_sti_hlt(void)
{
	asm volatile("sti; hlt; cli" : : : "memory");
	GUEST_SYNC(irq_counts[0]);
}

/* IF=0: a pending interrupt waits for STI. */
static void guest_if0(void)
{
	asm volatile("cli" : : : "memory");
	GUEST_SYNC(irq_counts[0]);	/* the host injects now */
	GUEST_SYNC(irq_counts[0]);	/* still 0: entries with IF=0 */
	asm volatile("sti; nop; nop; cli" : : : "memory");
	GUEST_SYNC(irq_counts[0]);	/* taken */
}

/* HLT with IF=0 goes to userspace. */
static void guest_cli_hlt(void)
{
	asm volatile("cli; hlt" : : : "memory");
	GUEST_SYNC(irq_counts[0]);
}

/* Opens an interrupt window and reports the count. */
static void guest_window(void)
{
	asm volatile("sti; nop; nop; cli" : : : "memory");
	GUEST_SYNC(irq_counts[0]);
}

/* CPUID leaf 1 EBX[31:24]: the initial APIC id, i.e. phys_id. */
static void guest_apic_id(void)
{
	uint32_t a, b, c, d;

	cpuid_count(1, 0, &a, &b, &c, &d);
	GUEST_SYNC(b >> 24);
}

/* k OUTs to a port nobody claims, then m CPUIDs. */
#define STATS_PORT	0x1234
static void guest_io_cpuid(uint64_t k, uint64_t m)
{
	uint32_t a, b, c, d;
	uint64_t i;

	for (i = 0; i < k; i++)
		outb(STATS_PORT, (uint8_t)i);
	for (i = 0; i < m; i++)
		cpuid_count(0, 0, &a, &b, &c, &d);
}

/* Touches three pages of the lazy region. */
static void guest_touch_lazy(void)
{
	volatile uint64_t *p = (volatile uint64_t *)LAZY_GPA;

	p[0] = 0x1111;
	p[512] = 0x2222;
	p[1024] = 0x3333;
	GUEST_SYNC(p[0] + p[512] + p[1024]);
}

/* ---------------------------------------------------------------- */
/* Host helpers                                                      */
/* ---------------------------------------------------------------- */

static void set_irq_handler(struct tvm *vm, uint8_t vector)
{
	vm_set_idt_gate(vm, vector, vmm_irq_handler);
}

static uint64_t guest_irqs(struct tvm *vm, unsigned int id)
{
	return vm_read_u64(vm, (uint64_t)(uintptr_t)&irq_counts[id]);
}

static void set_guest_stop(struct tvm *vm)
{
	vm_write_u64(vm, (uint64_t)(uintptr_t)&guest_stop, 1);
}

/* A started VM whose vCPU 0 runs guest_code with the handler on VEC. */
static struct tvm *irq_vm(void *guest_code, struct tvcpu **vcpu)
{
	struct tvm *vm = vm_create_guest();

	*vcpu = vm_guest_vcpu_add(vm, 0, guest_code);
	set_irq_handler(vm, VEC);
	vm_start(vm);
	return vm;
}

static int __inject(struct tvm *vm, uint64_t mask, uint32_t vector)
{
	struct axvm_irq irq = {
		.size = sizeof(irq), .vector = vector, .vcpu_mask = mask,
	};

	return __vm_ioctl(vm, AXVM_INJECT_IRQ, &irq);
}

static void inject(struct tvm *vm, uint64_t mask, uint32_t vector)
{
	int r = __inject(vm, mask, vector);

	TEST_ASSERT(!r, "INJECT_IRQ mask %#llx vector %#x: %s",
		    (unsigned long long)mask, vector, strerror(-r));
}

static void get_stats(int fd, unsigned long req, struct axvm_stats *st)
{
	int r;

	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	r = __test_ioctl(fd, req, st);
	TEST_ASSERT(!r, "GET_STATS: %s", strerror(-r));
}

static void vcpu_stats(struct tvcpu *vcpu, struct axvm_stats *st)
{
	get_stats(vcpu->v.fd, AXVM_GET_VCPU_STATS, st);
}

static void vm_stats(struct tvm *vm, struct axvm_stats *st)
{
	get_stats(vm->vm.fd, AXVM_GET_STATS, st);
}

static uint64_t vcpu_stat(struct tvcpu *vcpu, unsigned int stat)
{
	struct axvm_stats st;

	vcpu_stats(vcpu, &st);
	return st.exits[stat];
}

/* Polls until the guest counted n interrupts on vCPU id; false after 10 s. */
static bool wait_irqs(struct tvm *vm, unsigned int id, uint64_t n)
{
	uint64_t deadline = now_ns() + 10 * SEC_NS;

	while (guest_irqs(vm, id) < n) {
		if (now_ns() > deadline)
			return false;
		usleep(200);
	}
	return true;
}

static bool wait_hlt_block(struct tvcpu *vcpu)
{
	uint64_t deadline = now_ns() + 10 * SEC_NS;

	while (!vcpu_stat(vcpu, AXVM_STAT_HLT_BLOCK)) {
		if (now_ns() > deadline)
			return false;
		usleep(1000);
	}
	return true;
}

/*
 * A host thread making one AXVM_RUN call (optionally pinned first),
 * recording how it ended and, for a ucall, what the guest said.
 */
struct runner {
	struct tvcpu *vcpu;
	pthread_t thread;
	int pin_cpu;		/* -1: leave the affinity alone */
	atomic_bool started;
	int ret;
	uint32_t exit_reason;
	uint64_t cmd;
	struct ucall uc;
	uint64_t ns;		/* how long RUN took */
};

static void *runner_fn(void *arg)
{
	struct runner *r = arg;
	uint64_t t0;

	if (r->pin_cpu >= 0) {
		cpu_set_t set;
		int e;

		CPU_ZERO(&set);
		CPU_SET(r->pin_cpu, &set);
		e = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		TEST_ASSERT(!e, "pthread_setaffinity_np(CPU %d): %s",
			    r->pin_cpu, strerror(e));
	}
	atomic_store(&r->started, true);
	t0 = now_ns();
	r->ret = __vcpu_run(r->vcpu);
	r->ns = now_ns() - t0;
	r->exit_reason = r->vcpu->v.run->exit_reason;
	if (!r->ret)
		r->cmd = get_ucall(r->vcpu, &r->uc);
	return NULL;
}

static void runner_start_pinned(struct runner *r, struct tvcpu *vcpu,
				int cpu)
{
	int e;

	memset(r, 0, sizeof(*r));
	r->vcpu = vcpu;
	r->pin_cpu = cpu;
	r->ret = 1;
	r->exit_reason = ~0U;
	e = pthread_create(&r->thread, NULL, runner_fn, r);
	TEST_ASSERT(!e, "pthread_create: %s", strerror(e));
}

static void runner_start(struct runner *r, struct tvcpu *vcpu)
{
	runner_start_pinned(r, vcpu, -1);
}

/* Joins; after RUN_TIMEOUT_S the VM is shut down and the test fails. */
static void runner_join(struct runner *r)
{
	struct timespec ts;
	int e;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += RUN_TIMEOUT_S;
	e = pthread_timedjoin_np(r->thread, NULL, &ts);
	if (e == ETIMEDOUT) {
		axvm_vm_shutdown(&r->vcpu->vm->vm);
		e = pthread_join(r->thread, NULL);
		TEST_FAIL("vCPU %u still in RUN after %d s", r->vcpu->v.id,
			  RUN_TIMEOUT_S);
	}
	TEST_ASSERT(!e, "joining vCPU thread: %s", strerror(e));
}

/* Requires the runner's RUN to have ended in GUEST_SYNC(arg0). */
static void runner_expect_sync(struct runner *r, uint64_t arg0)
{
	TEST_ASSERT(r->ret == 0, "RUN failed: %s", strerror(-r->ret));
	if (r->cmd == UCALL_ABORT || r->cmd == UCALL_UNHANDLED)
		ucall_check_abort(r->vcpu);
	TEST_ASSERT(r->cmd == UCALL_SYNC, "expected GUEST_SYNC, got %s",
		    exit_desc(r->vcpu));
	TEST_ASSERT(r->uc.args[0] == arg0,
		    "GUEST_SYNC(%llu), expected %llu",
		    (unsigned long long)r->uc.args[0],
		    (unsigned long long)arg0);
}

/* Puts a vCPU at the start of guest_code as vm_guest_vcpu_add() does. */
static void vcpu_setup_guest(struct tvcpu *vcpu, void *guest_code)
{
	struct tvm *vm = vcpu->vm;
	uint64_t top = GUEST_STACKS_GPA + (vcpu->v.id + 1) * GUEST_STACK_SIZE;
	struct axvm_regs regs;

	TEST_ASSERT(vm->have_template, "no sregs template");
	vcpu_sregs_set(vcpu, &vm->sregs_template);
	vm_write_u64(vm, top - 8,
		     (uint64_t)(uintptr_t)guest_return_trampoline);
	vcpu_regs_get(vcpu, &regs);
	regs.rip = (uint64_t)(uintptr_t)guest_code;
	regs.rsp = top - 8;
	regs.rdi = 0;
	regs.rflags = 0x2;
	vcpu_regs_set(vcpu, &regs);
}

static void affinity_args(struct axvm_create_vcpu *c, uint32_t id,
			  uint32_t flags, uint32_t phys_id, uint64_t mask0)
{
	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	c->flags = flags;
	c->vcpu_id = id;
	c->phys_id = phys_id;
	c->cpu_mask[0] = mask0;
}

static int __create_vcpu(struct tvm *vm, struct axvm_create_vcpu *c)
{
	return __vm_ioctl(vm, AXVM_CREATE_VCPU, c);
}

/* Wraps a vCPU fd made by hand into a struct tvcpu. */
static struct tvcpu *wrap_vcpu(struct tvm *vm, uint32_t id, int fd)
{
	struct tvcpu *vcpu = calloc(1, sizeof(*vcpu));
	size_t sz = sys_caps()->run_size;
	void *run;

	TEST_ASSERT(vcpu, "out of memory");
	run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TEST_ASSERT(run != MAP_FAILED, "mmap run: %s", strerror(errno));
	vcpu->v.fd = fd;
	vcpu->v.id = id;
	vcpu->v.run = run;
	vcpu->v.run_size = sz;
	vcpu->vm = vm;
	vm->vcpus[id] = vcpu;
	return vcpu;
}

/*
 * vCPU id with AXVM_VCPU_AFFINITY, mask {mask0}, phys_id, set up to run
 * guest_code. The first guest vCPU of a VM builds the page tables, GDT
 * and IDT: a throwaway default vCPU does that if needed.
 */
static struct tvcpu *vcpu_add_affinity(struct tvm *vm, uint32_t id,
				       void *guest_code, uint32_t phys_id,
				       uint64_t mask0)
{
	struct axvm_create_vcpu c;
	struct tvcpu *vcpu;
	int fd;

	if (!vm->have_template)
		vcpu_free(vm_guest_vcpu_add(vm, id, guest_code));
	affinity_args(&c, id, AXVM_VCPU_AFFINITY, phys_id, mask0);
	fd = __create_vcpu(vm, &c);
	TEST_ASSERT(fd >= 0, "CREATE_VCPU %u with affinity %#llx: %s", id,
		    (unsigned long long)mask0, strerror(-fd));
	vcpu = wrap_vcpu(vm, id, fd);
	vcpu_setup_guest(vcpu, guest_code);
	return vcpu;
}

/* Highest possible CPU + 1 (nr_cpu_ids), from sysfs. */
static unsigned int nr_possible_cpus(void)
{
	char buf[64], *p;
	unsigned int last = 0;
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");

	TEST_ASSERT(f, "/sys/devices/system/cpu/possible: %s",
		    strerror(errno));
	TEST_ASSERT(fgets(buf, sizeof(buf), f), "reading possible CPUs");
	fclose(f);
	/* "0", "0-3" or "0-3,5": the last number is the highest. */
	for (p = buf; *p; p++)
		if (*p >= '0' && *p <= '9' &&
		    (p == buf || p[-1] < '0' || p[-1] > '9'))
			last = strtoul(p, NULL, 10);
	return last + 1;
}

static bool write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok;
}

static int __get_affinities(struct tvm *vm, struct axvm_affinities *a,
			    struct axvm_vcpu_affinity *e, uint32_t n)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->nr_entries = n;
	a->entries = (uint64_t)(uintptr_t)e;
	return __vm_ioctl(vm, AXVM_GET_VCPU_AFFINITIES, a);
}

static int __reset(struct tvm *vm, uint32_t flags)
{
	struct axvm_reset rs = { .size = sizeof(rs), .flags = flags };

	return __vm_ioctl(vm, AXVM_RESET, &rs);
}

/* Value of `name` in a debugfs stats file, or -1. */
static long long debugfs_value(const char *path, const char *name)
{
	char line[128], key[64];
	long long v, ret = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %lld", key, &v) == 2 &&
		    !strcmp(key, name))
			ret = v;
	fclose(f);
	return ret;
}

/* ---------------------------------------------------------------- */
/* Interrupt injection                                               */
/* ---------------------------------------------------------------- */

/*
 * The test: a guest with IF=1 spins while this thread injects
 * N times, each time waiting for the guest's handler to count it.
 */
TEST(inject_counted_while_spinning)
{
	const uint64_t n = 20;
	struct axvm_stats st;
	struct tvcpu *vcpu;
	struct runner r;
	struct tvm *vm;
	uint64_t i;

	vm = irq_vm(guest_irq_spin, &vcpu);
	runner_start(&r, vcpu);
	ASSERT_TRUE(vm_wait_nr_running(vm, 1, 10000));
	for (i = 1; i <= n; i++) {
		inject(vm, 1, VEC);
		ASSERT_TRUE(wait_irqs(vm, 0, i)) TH_LOG("injection %llu not counted",
						       (unsigned long long)i);
	}
	ASSERT_EQ(n, guest_irqs(vm, 0));
	set_guest_stop(vm);
	runner_join(&r);
	runner_expect_sync(&r, n);
	vcpu_run_done(vcpu);
	vcpu_stats(vcpu, &st);
	ASSERT_EQ(n, st.irqs_injected);
	ASSERT_EQ(0ULL, st.exits[AXVM_STAT_USER_HLT]);
	vm_stats(vm, &st);
	ASSERT_EQ(n, st.irqs_injected);
	vm_free(vm);
}

/* Back-to-back injections of one vector may merge: at least one, at most N. */
TEST(inject_burst_while_spinning)
{
	const uint64_t n = 50;
	struct axvm_stats st;
	struct tvcpu *vcpu;
	struct runner r;
	struct tvm *vm;
	uint64_t i, got;

	vm = irq_vm(guest_irq_spin, &vcpu);
	runner_start(&r, vcpu);
	ASSERT_TRUE(vm_wait_nr_running(vm, 1, 10000));
	for (i = 0; i < n; i++)
		inject(vm, 1, VEC);
	ASSERT_TRUE(wait_irqs(vm, 0, 1));
	usleep(20000);
	got = guest_irqs(vm, 0);
	ASSERT_LE(1ULL, got);
	ASSERT_GE(n, got);
	set_guest_stop(vm);
	runner_join(&r);
	runner_expect_sync(&r, got);
	vcpu_run_done(vcpu);
	vcpu_stats(vcpu, &st);
	ASSERT_EQ(got, st.irqs_injected);
	vm_free(vm);
}

/*
 * A guest asleep in HLT with IF=1 sleeps in the kernel (hlt_block) and
 * wakes on injection: the one RUN call returns only at the ucall after
 * it, never with AXVM_EXIT_HLT.
 */
TEST(inject_wakes_halted_vcpu)
{
	struct axvm_stats st;
	struct tvcpu *vcpu;
	struct runner r;
	struct tvm *vm;

	vm = irq_vm(guest_sti_hlt, &vcpu);
	runner_start(&r, vcpu);
	ASSERT_TRUE(wait_hlt_block(vcpu));
	/* Asleep, not spinning: still inside RUN and nothing came out. */
	usleep(50000);
	ASSERT_EQ(0ULL, guest_irqs(vm, 0));
	inject(vm, 1, VEC);
	runner_join(&r);
	runner_expect_sync(&r, 1);
	vcpu_stats(vcpu, &st);
	ASSERT_LE(1ULL, st.exits[AXVM_STAT_HLT_BLOCK]);
	ASSERT_EQ(0ULL, st.exits[AXVM_STAT_USER_HLT]);
	ASSERT_EQ(1ULL, st.irqs_injected);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

/* With IF=0 the interrupt stays pending until the guest executes STI. */
TEST(inject_waits_for_sti)
{
	struct axvm_stats st;
	struct tvcpu *vcpu;
	struct tvm *vm;

	vm = irq_vm(guest_if0, &vcpu);
	vcpu_run_sync(vcpu, 0);
	inject(vm, 1, VEC);
	vcpu_run_sync(vcpu, 0);		/* re-entered with IF=0: not taken */
	vcpu_stats(vcpu, &st);
	ASSERT_EQ(0ULL, st.irqs_injected);
	vcpu_run_sync(vcpu, 1);		/* sti: taken */
	vcpu_run_done(vcpu);
	vcpu_stats(vcpu, &st);
	ASSERT_EQ(1ULL, st.irqs_injected);
	ASSERT_LE(1ULL, st.exits[AXVM_STAT_IRQ_WINDOW]);
	vm_free(vm);
}

/*
 * HLT with IF=0 exits to userspace (nothing could wake it), even with
 * an interrupt pending; the interrupt is taken once IF=1.
 */
TEST(hlt_with_if0_exits)
{
	struct tvcpu *vcpu;
	struct tvm *vm;

	vm = irq_vm(guest_cli_hlt, &vcpu);
	inject(vm, 1, VEC);
	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_HLT);
	ASSERT_EQ(1ULL, vcpu_stat(vcpu, AXVM_STAT_USER_HLT));
	ASSERT_EQ(0ULL, vcpu_stat(vcpu, AXVM_STAT_HLT_BLOCK));
	vcpu_run_sync(vcpu, 0);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

/* One injection with a mask of two vCPUs reaches both. */
TEST(inject_mask_of_two_vcpus)
{
	struct tvcpu *v[2];
	struct runner r[2];
	struct tvm *vm;
	int i;

	vm = vm_create_guest();
	for (i = 0; i < 2; i++) {
		v[i] = vm_guest_vcpu_add(vm, i, guest_irq_spin);
		vcpu_set_arg(v[i], i);
	}
	set_irq_handler(vm, VEC);
	vm_start(vm);
	for (i = 0; i < 2; i++)
		runner_start(&r[i], v[i]);
	ASSERT_TRUE(vm_wait_nr_running(vm, 2, 10000));
	inject(vm, 3, VEC);
	ASSERT_TRUE(wait_irqs(vm, 0, 1));
	ASSERT_TRUE(wait_irqs(vm, 1, 1));
	/* Then only vCPU 1. */
	inject(vm, 2, VEC);
	ASSERT_TRUE(wait_irqs(vm, 1, 2));
	usleep(20000);
	ASSERT_EQ(1ULL, guest_irqs(vm, 0));
	set_guest_stop(vm);
	for (i = 0; i < 2; i++) {
		runner_join(&r[i]);
		runner_expect_sync(&r[i], i + 1);
	}
	vm_free(vm);
}

TEST(inject_errnos)
{
	static const uint32_t bad_vectors[] = { 0, 1, 2, 14, 31, 256, 1000,
						0xffffffff };
	struct axvm_irq irq;
	struct tvm *vm, *other;
	unsigned int i;

	vm = vm_create_guest();
	vm_guest_vcpu_add(vm, 0, guest_window);
	other = vm_create_barebones();

	for (i = 0; i < ARRAY_SIZE(bad_vectors); i++)
		ASSERT_EQ(-EINVAL, __inject(vm, 1, bad_vectors[i]))
			ITER("vector %u", bad_vectors[i]);
	ASSERT_EQ(0, __inject(vm, 1, 32));
	ASSERT_EQ(0, __inject(vm, 1, 255));
	ASSERT_EQ(-EINVAL, __inject(vm, 0, VEC));
	ASSERT_EQ(-ENOENT, __inject(vm, 2, VEC));
	ASSERT_EQ(-ENOENT, __inject(vm, 3, VEC));
	ASSERT_EQ(-ENOENT, __inject(vm, 1ULL << 63, VEC));

	/* VM ids start at 1; 0 and our own id mean this VM. */
	ASSERT_LE(1U, vm->vm.id);
	ASSERT_NE(vm->vm.id, other->vm.id);
	memset(&irq, 0, sizeof(irq));
	irq.size = sizeof(irq);
	irq.vector = VEC;
	irq.vcpu_mask = 1;
	irq.vm_id = vm->vm.id;
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_INJECT_IRQ, &irq));
	irq.vm_id = other->vm.id;
	ASSERT_EQ(-EXDEV, VM_IOCTL(vm, AXVM_INJECT_IRQ, &irq));
	irq.vm_id = vm->vm.id + 1000;
	ASSERT_EQ(-EXDEV, VM_IOCTL(vm, AXVM_INJECT_IRQ, &irq));
	irq.vm_id = 0;

	irq.flags = 1;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_INJECT_IRQ, &irq));
	irq.flags = 0x80000000;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_INJECT_IRQ, &irq));
	irq.flags = 0;
	irq.reserved[0] = 1;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_INJECT_IRQ, &irq));
	irq.reserved[0] = 0;
	irq.reserved[1] = 1;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_INJECT_IRQ, &irq));
	irq.reserved[1] = 0;
	irq.size = 8;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_INJECT_IRQ, &irq));
	irq.size = sizeof(irq);
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_INJECT_IRQ, &irq));
	ASSERT_EQ(-EFAULT, VM_IOCTL(vm, AXVM_INJECT_IRQ, unmapped_address()));
	vm_free(other);
	vm_free(vm);
}

/* Injection is accepted until the VM stops; then ESHUTDOWN. */
TEST(inject_stopped_vm)
{
	struct tvcpu *vcpu;
	struct tvm *vm;

	vm = vm_create_guest();
	vcpu = vm_guest_vcpu_add(vm, 0, guest_window);
	set_irq_handler(vm, VEC);
	ASSERT_EQ(0, __inject(vm, 1, VEC));		/* LOADING */
	vm_finalize(vm);
	ASSERT_EQ(0, __inject(vm, 1, VEC));		/* LOADED */
	vm_boot(vm);
	vcpu_run_sync(vcpu, 1);		/* the two merged into one */
	ASSERT_EQ(0, axvm_vm_shutdown(&vm->vm));
	ASSERT_STATE(vm, AXVM_VM_STOPPED);
	ASSERT_EQ(-ESHUTDOWN, __inject(vm, 1, VEC));
	/* Argument errors still come first. */
	ASSERT_EQ(-EINVAL, __inject(vm, 1, 3));
	ASSERT_EQ(-ENOENT, __inject(vm, 2, VEC));
	vm_free(vm);
}

/*
 * irqs_injected counts deliveries into the guest, not INJECT_IRQ calls:
 * a pending interrupt is not counted until the guest takes it; distinct
 * vectors are delivered one by one.
 */
TEST(stats_irqs_injected)
{
	struct axvm_stats st;
	struct tvcpu *vcpu;
	struct tvm *vm;

	vm = vm_create_guest();
	vcpu = vm_guest_vcpu_add(vm, 0, guest_window);
	set_irq_handler(vm, VEC);
	set_irq_handler(vm, VEC + 1);
	set_irq_handler(vm, 0xff);
	vm_start(vm);
	inject(vm, 1, VEC);
	inject(vm, 1, VEC + 1);
	inject(vm, 1, 0xff);
	vcpu_stats(vcpu, &st);
	ASSERT_EQ(0ULL, st.irqs_injected);
	vcpu_run_sync(vcpu, 3);
	vcpu_run_done(vcpu);
	vcpu_stats(vcpu, &st);
	ASSERT_EQ(3ULL, st.irqs_injected);
	vm_stats(vm, &st);
	ASSERT_EQ(3ULL, st.irqs_injected);
	vm_free(vm);
}

/* ---------------------------------------------------------------- */
/* vCPU affinity                                                     */
/* ---------------------------------------------------------------- */

/* The first version of the struct (32 bytes): any CPU, phys_id = id. */
TEST(affinity_v1_defaults)
{
	struct axvm_vcpu_affinity e[3];
	unsigned int ncpus = nr_possible_cpus();
	struct axvm_create_vcpu c;
	struct axvm_affinities a;
	uint64_t all;
	struct tvm *vm;
	int fd[2], i;

	ASSERT_EQ(32, AXVM_CREATE_VCPU_SIZE_V1);
	ASSERT_GE(64U, ncpus);
	all = ncpus == 64 ? ~0ULL : (1ULL << ncpus) - 1;
	vm = vm_create_barebones();
	for (i = 0; i < 2; i++) {
		affinity_args(&c, i ? 5 : 0, 0, 0, 0);
		c.size = AXVM_CREATE_VCPU_SIZE_V1;
		/* Beyond the v1 size: not read. */
		c.phys_id = 99;
		c.cpu_mask[0] = 1;
		fd[i] = __create_vcpu(vm, &c);
		ASSERT_LE(0, fd[i]);
	}
	c.size = AXVM_CREATE_VCPU_SIZE_V1 - 8;
	c.vcpu_id = 6;
	ASSERT_EQ(-EINVAL, __create_vcpu(vm, &c));

	memset(e, 0xaa, sizeof(e));
	ASSERT_EQ(0, __get_affinities(vm, &a, e, 3));
	ASSERT_EQ(2U, a.nr_entries);
	ASSERT_EQ(0U, e[0].vcpu_id);
	ASSERT_EQ(0U, e[0].phys_id);
	ASSERT_EQ(5U, e[1].vcpu_id);
	ASSERT_EQ(5U, e[1].phys_id);
	for (i = 0; i < 2; i++) {
		unsigned int w;

		ASSERT_EQ(all, e[i].cpu_mask[0]) ITER("vCPU %u", e[i].vcpu_id);
		for (w = 1; w < AXVM_MAX_HOST_CPUS / 64; w++)
			ASSERT_EQ(0ULL, e[i].cpu_mask[w]);
	}
	/* The third entry was left alone. */
	ASSERT_EQ(0xaaaaaaaaU, e[2].vcpu_id);
	close(fd[0]);
	close(fd[1]);
	vm_free(vm);
}

/* A mask and phys_id are reported back; the full struct without the flag
 * gets the defaults too. */
TEST(affinity_reported)
{
	struct axvm_vcpu_affinity e[2];
	struct axvm_create_vcpu c;
	struct axvm_affinities a;
	struct tvm *vm;
	int fd0, fd1;

	TEST_REQUIRE(nr_possible_cpus() >= 2);
	vm = vm_create_barebones();
	affinity_args(&c, 0, 0, 0, 0);
	fd0 = __create_vcpu(vm, &c);
	ASSERT_LE(0, fd0);
	affinity_args(&c, 1, AXVM_VCPU_AFFINITY, 7, 1ULL << 1);
	fd1 = __create_vcpu(vm, &c);
	ASSERT_LE(0, fd1);
	ASSERT_EQ(0, __get_affinities(vm, &a, e, 2));
	ASSERT_EQ(2U, a.nr_entries);
	ASSERT_EQ(0U, e[0].phys_id);
	ASSERT_EQ(1U, e[1].vcpu_id);
	ASSERT_EQ(7U, e[1].phys_id);
	ASSERT_EQ(2ULL, e[1].cpu_mask[0]);
	close(fd1);
	/* A closed vCPU is gone from the list. */
	ASSERT_EQ(0, __get_affinities(vm, &a, e, 2));
	ASSERT_EQ(1U, a.nr_entries);
	ASSERT_EQ(0U, e[0].vcpu_id);
	close(fd0);
	vm_free(vm);
}

/*
 * vCPU with mask {1}, phys_id 7: a thread pinned to CPU 1 runs it and
 * the guest sees APIC id 7 in CPUID; a thread allowed on CPU 0 (alone or
 * with CPU 1) gets EPERM.
 */
TEST(affinity_run_pinned)
{
	struct tvcpu *vcpu, *v0;
	struct runner r;
	struct tvm *vm;

	TEST_REQUIRE(sysconf(_SC_NPROCESSORS_ONLN) >= 2);
	vm = vm_create_guest();
	v0 = vm_guest_vcpu_add(vm, 0, guest_apic_id);	/* defaults */
	vcpu = vcpu_add_affinity(vm, 1, guest_apic_id, 7, 1ULL << 1);
	vm_start(vm);

	runner_start_pinned(&r, vcpu, 0);
	runner_join(&r);
	ASSERT_EQ(-EPERM, r.ret);
	/* This thread may run on every CPU: EPERM as well. */
	ASSERT_EQ(-EPERM, __vcpu_run(vcpu));

	runner_start_pinned(&r, vcpu, 1);
	runner_join(&r);
	runner_expect_sync(&r, 7);

	/* The default vCPU runs anywhere and sees phys_id = vcpu_id. */
	runner_start_pinned(&r, v0, 0);
	runner_join(&r);
	runner_expect_sync(&r, 0);
	vcpu_run_done(v0);
	vm_free(vm);
}

/* CPUID leaf 1 EBX[31:24] is phys_id, also with a mask of every CPU. */
TEST(affinity_cpuid_phys_id)
{
	uint64_t all = (1ULL << sysconf(_SC_NPROCESSORS_ONLN)) - 1;
	struct tvcpu *v[3];
	struct tvm *vm;

	vm = vm_create_guest();
	v[0] = vcpu_add_affinity(vm, 0, guest_apic_id, 0x42, all);
	v[1] = vcpu_add_affinity(vm, 1, guest_apic_id, 0xff, all);
	v[2] = vm_guest_vcpu_add(vm, 3, guest_apic_id);
	vm_start(vm);
	vcpu_run_sync(v[0], 0x42);
	vcpu_run_sync(v[1], 0xff);
	vcpu_run_sync(v[2], 3);
	vm_free(vm);
}

TEST(affinity_einval)
{
	unsigned int ncpus = nr_possible_cpus();
	struct axvm_create_vcpu c;
	struct tvm *vm;
	int fd;

	vm = vm_create_barebones();
	/* Empty mask. */
	affinity_args(&c, 0, AXVM_VCPU_AFFINITY, 0, 0);
	ASSERT_EQ(-EINVAL, __create_vcpu(vm, &c));
	/* CPU >= nr_cpu_ids, alone or with a good one. */
	if (ncpus < 64) {
		affinity_args(&c, 0, AXVM_VCPU_AFFINITY, 0, 1ULL << ncpus);
		ASSERT_EQ(-EINVAL, __create_vcpu(vm, &c));
		affinity_args(&c, 0, AXVM_VCPU_AFFINITY, 0,
			      1 | (1ULL << ncpus));
		ASSERT_EQ(-EINVAL, __create_vcpu(vm, &c));
	}
	affinity_args(&c, 0, AXVM_VCPU_AFFINITY, 0, 1);
	c.cpu_mask[AXVM_MAX_HOST_CPUS / 64 - 1] = 1ULL << 63;
	ASSERT_EQ(-EINVAL, __create_vcpu(vm, &c));
	/* phys_id or a mask without the flag. */
	affinity_args(&c, 0, 0, 7, 0);
	ASSERT_EQ(-EINVAL, __create_vcpu(vm, &c));
	affinity_args(&c, 0, 0, 0, 1);
	ASSERT_EQ(-EINVAL, __create_vcpu(vm, &c));
	/* Unknown flags, reserved fields. */
	affinity_args(&c, 0, AXVM_VCPU_AFFINITY | 2, 0, 1);
	ASSERT_EQ(-EINVAL, __create_vcpu(vm, &c));
	affinity_args(&c, 0, AXVM_VCPU_AFFINITY, 0, 1);
	c.reserved1 = 1;
	ASSERT_EQ(-EINVAL, __create_vcpu(vm, &c));
	/* Nothing was created by any of these. */
	affinity_args(&c, 0, AXVM_VCPU_AFFINITY, 0, 1);
	fd = __create_vcpu(vm, &c);
	ASSERT_LE(0, fd);
	close(fd);
	vm_free(vm);
}

/* A mask naming an offline CPU is refused; back online it is accepted. */
TEST(affinity_offline_cpu)
{
	struct axvm_create_vcpu c;
	int r1, r2, r3, fd;
	struct tvm *vm;
	bool restored;

	TEST_REQUIRE(sysconf(_SC_NPROCESSORS_ONLN) >= 2);
	TEST_REQUIRE(access(CPU_ONLINE(1), W_OK) == 0);
	vm = vm_create_barebones();
	if (!write_file(CPU_ONLINE(1), "0"))
		SKIP(vm_free(vm); return, "cannot offline CPU 1");
	affinity_args(&c, 0, AXVM_VCPU_AFFINITY, 0, 1ULL << 1);
	r1 = __create_vcpu(vm, &c);
	affinity_args(&c, 0, AXVM_VCPU_AFFINITY, 0, 3);
	r2 = __create_vcpu(vm, &c);
	affinity_args(&c, 0, AXVM_VCPU_AFFINITY, 0, 1);
	r3 = __create_vcpu(vm, &c);
	restored = write_file(CPU_ONLINE(1), "1");
	ASSERT_TRUE(restored);
	ASSERT_EQ(-EINVAL, r1);
	ASSERT_EQ(-EINVAL, r2);
	ASSERT_LE(0, r3);
	affinity_args(&c, 1, AXVM_VCPU_AFFINITY, 0, 1ULL << 1);
	fd = __create_vcpu(vm, &c);
	ASSERT_LE(0, fd);
	close(fd);
	close(r3);
	vm_free(vm);
}

TEST(affinities_enospc_and_errnos)
{
	struct axvm_vcpu_affinity e[2];
	struct axvm_affinities a;
	struct tvm *vm;

	vm = vm_create_barebones();
	ASSERT_EQ(0, __get_affinities(vm, &a, NULL, 0));
	ASSERT_EQ(0U, a.nr_entries);
	vm_vcpu_add(vm, 0);
	vm_vcpu_add(vm, 2);
	memset(e, 0x55, sizeof(e));
	ASSERT_EQ(-ENOSPC, __get_affinities(vm, &a, e, 1));
	ASSERT_EQ(2U, a.nr_entries);
	ASSERT_EQ(0x55555555U, e[0].vcpu_id);	/* nothing copied */
	ASSERT_EQ(-ENOSPC, __get_affinities(vm, &a, NULL, 0));
	ASSERT_EQ(2U, a.nr_entries);
	ASSERT_EQ(0, __get_affinities(vm, &a, e, 2));
	ASSERT_EQ(2U, e[1].vcpu_id);
	ASSERT_EQ(-EFAULT, __get_affinities(vm, &a, unmapped_address(), 2));
	a.flags = 1;
	a.nr_entries = 2;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_GET_VCPU_AFFINITIES, &a));
	a.flags = 0;
	a.reserved0 = 1;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_GET_VCPU_AFFINITIES, &a));
	a.reserved0 = 0;
	a.reserved[1] = 1;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_GET_VCPU_AFFINITIES, &a));
	vm_free(vm);
}

/* ---------------------------------------------------------------- */
/* Suspend / resume                                                  */
/* ---------------------------------------------------------------- */

/*
 * A vCPU spinning in another thread leaves RUN with AXVM_EXIT_SUSPENDED
 * promptly; RUN while suspended returns at once; after RESUME the guest
 * carries on from where it was.
 */
TEST(suspend_spinning_vcpu_and_resume)
{
	uint64_t c1, deadline, t0;
	struct spinner s = {};
	struct tvcpu *vcpu;
	struct runner r;
	struct tvm *vm;

	vm = vm_create_with_one_vcpu(&vcpu, guest_spin);
	spinner_start(&s, vcpu);
	spinners_wait_running(vm, &s, 1);
	t0 = now_ns();
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_SUSPEND, NULL));
	spinner_join(&s);
	ASSERT_GT(5 * SEC_NS, now_ns() - t0);
	ASSERT_EQ(0, s.ret);
	ASSERT_EQ((uint32_t)AXVM_EXIT_SUSPENDED, s.exit_reason);
	ASSERT_STATE(vm, AXVM_VM_SUSPENDED);

	/* RUN while suspended: SUSPENDED at once, the guest does not move. */
	c1 = vm_read_u64(vm, (uint64_t)(uintptr_t)&guest_spin_counter);
	t0 = now_ns();
	ASSERT_EQ(0, __vcpu_run(vcpu));
	ASSERT_EXIT(vcpu, AXVM_EXIT_SUSPENDED);
	ASSERT_GT(SEC_NS, now_ns() - t0);
	ASSERT_EQ(c1, vm_read_u64(vm, (uint64_t)(uintptr_t)&guest_spin_counter));
	ASSERT_EQ(2ULL, vcpu_stat(vcpu, AXVM_STAT_SUSPENDED));

	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_RESUME, NULL));
	ASSERT_STATE(vm, AXVM_VM_RUNNING);
	runner_start(&r, vcpu);
	deadline = now_ns() + 10 * SEC_NS;
	while (vm_read_u64(vm, (uint64_t)(uintptr_t)&guest_spin_counter) <= c1) {
		ASSERT_GT(deadline, now_ns()) TH_LOG("the guest did not continue");
		usleep(1000);
	}
	vm_write_u64(vm, (uint64_t)(uintptr_t)&guest_spin_stop, 1);
	runner_join(&r);
	ASSERT_EQ(0, r.ret);
	ASSERT_EQ((uint64_t)UCALL_SYNC, r.cmd);
	ASSERT_LT(c1, r.uc.args[0]);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

/* A vCPU asleep in HLT leaves too; SHUTDOWN from SUSPENDED stops the VM. */
TEST(suspend_halted_vcpu_then_shutdown)
{
	struct tvcpu *vcpu;
	struct runner r;
	struct tvm *vm;
	uint64_t t0;

	vm = irq_vm(guest_sti_hlt, &vcpu);
	runner_start(&r, vcpu);
	ASSERT_TRUE(wait_hlt_block(vcpu));
	t0 = now_ns();
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_SUSPEND, NULL));
	runner_join(&r);
	ASSERT_GT(5 * SEC_NS, now_ns() - t0);
	ASSERT_EQ(0, r.ret);
	ASSERT_EQ((uint32_t)AXVM_EXIT_SUSPENDED, r.exit_reason);
	/* An interrupt injected while suspended waits for RESUME. */
	inject(vm, 1, VEC);
	ASSERT_EQ(0, __vcpu_run(vcpu));
	ASSERT_EXIT(vcpu, AXVM_EXIT_SUSPENDED);
	ASSERT_EQ(0ULL, guest_irqs(vm, 0));

	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_SHUTDOWN, NULL));
	ASSERT_STATE(vm, AXVM_VM_STOPPED);
	ASSERT_EQ(-ESHUTDOWN, __vcpu_run(vcpu));
	ASSERT_EQ(-ESHUTDOWN, VM_IOCTL(vm, AXVM_RESUME, NULL));
	vm_free(vm);
}

/* After RESUME a halted guest's pending interrupt is delivered. */
TEST(resume_delivers_pending_irq)
{
	struct tvcpu *vcpu;
	struct runner r;
	struct tvm *vm;

	vm = irq_vm(guest_sti_hlt, &vcpu);
	runner_start(&r, vcpu);
	ASSERT_TRUE(wait_hlt_block(vcpu));
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_SUSPEND, NULL));
	runner_join(&r);
	ASSERT_EQ((uint32_t)AXVM_EXIT_SUSPENDED, r.exit_reason);
	inject(vm, 1, VEC);
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_RESUME, NULL));
	vcpu_run_sync(vcpu, 1);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

TEST(suspend_resume_errnos)
{
	struct tvcpu *vcpu;
	struct tvm *vm;

	vm = vm_create_guest();
	vcpu = vm_guest_vcpu_add(vm, 0, guest_window);
	ASSERT_EQ(-EBADFD, VM_IOCTL(vm, AXVM_SUSPEND, NULL));	/* LOADING */
	ASSERT_EQ(-EBADFD, VM_IOCTL(vm, AXVM_RESUME, NULL));
	vm_finalize(vm);
	ASSERT_EQ(-EBADFD, VM_IOCTL(vm, AXVM_SUSPEND, NULL));	/* LOADED */
	ASSERT_EQ(-EBADFD, VM_IOCTL(vm, AXVM_RESUME, NULL));
	vm_boot(vm);
	ASSERT_EQ(-EALREADY, VM_IOCTL(vm, AXVM_RESUME, NULL));	/* RUNNING */
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_SUSPEND, NULL));
	ASSERT_STATE(vm, AXVM_VM_SUSPENDED);
	ASSERT_EQ(-EALREADY, VM_IOCTL(vm, AXVM_SUSPEND, NULL));
	ASSERT_EQ(-EALREADY, VM_IOCTL(vm, AXVM_BOOT, NULL));
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_RESUME, NULL));
	ASSERT_EQ(-EALREADY, VM_IOCTL(vm, AXVM_RESUME, NULL));
	vcpu_run_sync(vcpu, 0);		/* it runs */
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_SHUTDOWN, NULL));
	ASSERT_STATE(vm, AXVM_VM_STOPPED);
	ASSERT_EQ(-ESHUTDOWN, VM_IOCTL(vm, AXVM_SUSPEND, NULL));
	ASSERT_EQ(-ESHUTDOWN, VM_IOCTL(vm, AXVM_RESUME, NULL));
	vm_free(vm);
}

/* ---------------------------------------------------------------- */
/* Reset                                                             */
/* ---------------------------------------------------------------- */

/*
 * STOPPED -> RESET -> LOADED: the vCPU is back at its power-on state
 * (real mode, F000:FFF0) and BOOT runs it from there.
 */
TEST(reset_power_on_state)
{
	/* mov $0x42, %al; out %al, $0x80; hlt */
	static const uint8_t code[] = { 0xb0, 0x42, 0xe6, 0x80, 0xf4 };
	struct axvm_sregs s;
	struct axvm_regs regs;
	struct tvcpu *vcpu;
	struct tvm *vm;

	vm = vm_create_guest();
	/* RAM under the reset vector, 0xfffffff0. */
	vm_add_region(vm, RESET_PAGE_GPA, SZ_4K,
		      AXVM_MEM_READ | AXVM_MEM_WRITE | AXVM_MEM_EXEC);
	vcpu = vm_guest_vcpu_add(vm, 0, guest_window);
	vm_start(vm);
	vcpu_run_sync(vcpu, 0);
	ASSERT_EQ(0, axvm_vm_shutdown(&vm->vm));
	ASSERT_STATE(vm, AXVM_VM_STOPPED);
	ASSERT_EQ(0, __reset(vm, 0));
	ASSERT_STATE(vm, AXVM_VM_LOADED);

	vcpu_regs_get(vcpu, &regs);
	ASSERT_EQ(0xfff0ULL, regs.rip);
	ASSERT_EQ(0x2ULL, regs.rflags);
	ASSERT_EQ(0ULL, regs.rsp);
	ASSERT_EQ(0ULL, regs.rdi);
	vcpu_sregs_get(vcpu, &s);
	ASSERT_EQ(0xf000, s.cs.selector);
	ASSERT_EQ(0xffff0000ULL, s.cs.base);
	ASSERT_EQ(X86_CR0_ET | X86_CR0_CD | X86_CR0_NW, s.cr0);
	ASSERT_EQ(0ULL, s.cr4);
	ASSERT_EQ(0ULL, s.efer & (EFER_LME | EFER_LMA));

	/* CS.base + IP = 0xfffffff0, the reset vector. */
	vm_write(vm, 0xfffffff0ULL, code, sizeof(code));
	vm_boot(vm);
	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_IO);
	ASSERT_EQ(0x80, vcpu->v.run->io.port);
	ASSERT_EQ(0x42ULL, vcpu->v.run->io.data & 0xff);
	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_HLT);
	vm_free(vm);
}

/*
 * Without KEEP_MEMORY guest memory reads zeros after RESET, and a lazy
 * region gives its pages back (populated_bytes as before the touch).
 */
TEST(reset_zeroes_memory)
{
	uint8_t pat[256], buf[256], zero[256];
	struct axvm_vm_status st0, st1, st2;
	struct axvm_stats stats;
	struct tvcpu *vcpu;
	struct tvm *vm;
	unsigned int i;

	for (i = 0; i < sizeof(pat); i++)
		pat[i] = i ^ 0x5a;
	memset(zero, 0, sizeof(zero));
	vm = vm_create_guest();
	vm_add_region(vm, LAZY_GPA, LAZY_SIZE,
		      AXVM_MEM_READ | AXVM_MEM_WRITE | AXVM_MEM_LAZY);
	vcpu = vm_guest_vcpu_add(vm, 0, guest_touch_lazy);
	vm_write(vm, GUEST_SCRATCH_GPA, pat, sizeof(pat));
	vm_start(vm);
	vm_status(vm, &st0);
	vcpu_run_sync(vcpu, 0x6666);
	vm_status(vm, &st1);
	ASSERT_EQ(st0.populated_bytes + 3 * SZ_4K, st1.populated_bytes);
	ASSERT_EQ(0, axvm_vm_shutdown(&vm->vm));
	ASSERT_EQ(0, __reset(vm, 0));

	vm_read(vm, GUEST_SCRATCH_GPA, buf, sizeof(buf));
	ASSERT_EQ(0, memcmp(buf, zero, sizeof(buf)));
	vm_read(vm, GUEST_IMAGE_GPA, buf, sizeof(buf));	/* the image too */
	ASSERT_EQ(0, memcmp(buf, zero, sizeof(buf)));
	vm_read(vm, LAZY_GPA, buf, sizeof(buf));
	ASSERT_EQ(0, memcmp(buf, zero, sizeof(buf)));
	vm_status(vm, &st2);
	ASSERT_EQ(st0.populated_bytes, st2.populated_bytes);
	vm_stats(vm, &stats);
	ASSERT_EQ(st0.populated_bytes / SZ_4K, stats.pages_populated);
	vm_free(vm);
}

/*
 * With KEEP_MEMORY everything stays, lazy pages included; the guest can
 * be set up again and BOOT runs it once more.
 */
TEST(reset_keep_memory_and_reboot)
{
	struct axvm_vm_status st1, st2;
	uint8_t pat[64], buf[64];
	struct tvcpu *vcpu;
	struct tvm *vm;
	unsigned int i;

	for (i = 0; i < sizeof(pat); i++)
		pat[i] = 0xa5 ^ i;
	vm = vm_create_guest();
	vm_add_region(vm, LAZY_GPA, LAZY_SIZE,
		      AXVM_MEM_READ | AXVM_MEM_WRITE | AXVM_MEM_LAZY);
	vcpu = vm_guest_vcpu_add(vm, 0, guest_touch_lazy);
	vm_write(vm, GUEST_SCRATCH_GPA, pat, sizeof(pat));
	vm_start(vm);
	vcpu_run_sync(vcpu, 0x6666);
	vm_status(vm, &st1);
	ASSERT_EQ(0, axvm_vm_shutdown(&vm->vm));
	ASSERT_EQ(0, __reset(vm, AXVM_RESET_KEEP_MEMORY));
	ASSERT_STATE(vm, AXVM_VM_LOADED);
	vm_read(vm, GUEST_SCRATCH_GPA, buf, sizeof(buf));
	ASSERT_EQ(0, memcmp(buf, pat, sizeof(buf)));
	ASSERT_EQ(0x2222ULL, vm_read_u64(vm, LAZY_GPA + 512 * 8));
	vm_status(vm, &st2);
	ASSERT_EQ(st1.populated_bytes, st2.populated_bytes);

	/* Boot again: the guest runs from the start. */
	vm_write_u64(vm, LAZY_GPA, 0);
	vcpu_setup_guest(vcpu, guest_touch_lazy);
	vm_boot(vm);
	vcpu_run_sync(vcpu, 0x6666);
	vcpu_run_done(vcpu);
	/* And a second cycle. */
	ASSERT_EQ(0, axvm_vm_shutdown(&vm->vm));
	ASSERT_EQ(0, __reset(vm, AXVM_RESET_KEEP_MEMORY));
	vcpu_setup_guest(vcpu, guest_window);
	vm_boot(vm);
	vcpu_run_sync(vcpu, 0);
	vm_free(vm);
}

/* Pending interrupts are dropped by RESET. */
TEST(reset_drops_pending_irqs)
{
	struct tvcpu *vcpu;
	struct tvm *vm;

	vm = irq_vm(guest_window, &vcpu);
	inject(vm, 1, VEC);
	ASSERT_EQ(0, axvm_vm_shutdown(&vm->vm));
	ASSERT_EQ(0, __reset(vm, AXVM_RESET_KEEP_MEMORY));
	vcpu_setup_guest(vcpu, guest_window);
	vm_boot(vm);
	vcpu_run_sync(vcpu, 0);
	vm_free(vm);
}

/*
 * RESET puts the in-kernel devices back to their power-on state too: a
 * guest programs the UART and an I/O APIC redirection entry, and after
 * RESET the next boot reads the reset values (16550D datasheet table IV;
 * 82093AA 3.2.4: entries masked).
 */
#define RST_COM1		0x3f8
#define RST_UART_IER		1
#define RST_UART_LCR		3
#define RST_UART_SCR		7
#define RST_IOAPIC		AXVM_IOAPIC_DEFAULT_BASE
#define RST_IOAPIC_SEL		0x00
#define RST_IOAPIC_WIN		0x10
#define RST_IOAPIC_REDIR0	0x10	/* pin 0, low half */
#define RST_REDIR_MASKED	(1U << 16)
#define RST_VECTOR		0x30

static uint8_t rst_inb(uint16_t port)
{
	uint8_t v;

	asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static void guest_program_devices(uint64_t program)
{
	volatile uint32_t *sel = (volatile uint32_t *)(RST_IOAPIC + RST_IOAPIC_SEL);
	volatile uint32_t *win = (volatile uint32_t *)(RST_IOAPIC + RST_IOAPIC_WIN);

	if (program) {
		outb(RST_COM1 + RST_UART_IER, 0x0f);
		outb(RST_COM1 + RST_UART_LCR, 0x03);
		outb(RST_COM1 + RST_UART_SCR, 0x5a);
		*sel = RST_IOAPIC_REDIR0;
		*win = RST_VECTOR;			/* unmasked */
	}
	*sel = RST_IOAPIC_REDIR0;
	GUEST_SYNC4(rst_inb(RST_COM1 + RST_UART_IER),
		    rst_inb(RST_COM1 + RST_UART_LCR),
		    rst_inb(RST_COM1 + RST_UART_SCR), *win);
}

static void assert_devices(struct __test_metadata *_metadata,
			   struct tvcpu *vcpu, uint64_t ier, uint64_t lcr,
			   uint64_t scr, uint64_t redir)
{
	struct ucall uc;

	vcpu_run_sync_uc(vcpu, &uc);
	ASSERT_EQ(ier, uc.args[0]);
	ASSERT_EQ(lcr, uc.args[1]);
	ASSERT_EQ(scr, uc.args[2]);
	ASSERT_EQ(redir, uc.args[3]);
}

TEST(reset_restores_devices)
{
	struct tvcpu *vcpu;
	struct tvm *vm;
	int uart_fd;

	vm = vm_create_guest();
	ASSERT_EQ(0, axvm_vm_add_device_flags(&vm->vm, AXVM_DEV_IOAPIC,
					      AXVM_DEV_SPACE_MMIO, RST_IOAPIC,
					      0x1000, 0, 0, NULL));
	uart_fd = axvm_vm_add_device(&vm->vm, AXVM_DEV_UART16550,
				     AXVM_DEV_SPACE_PIO, RST_COM1, 0, 0, NULL);
	ASSERT_LE(0, uart_fd);
	vcpu = vm_guest_vcpu_add(vm, 0, guest_program_devices);
	virt_map(vm, RST_IOAPIC, RST_IOAPIC, SZ_2M);
	vcpu_set_arg(vcpu, 1);
	vm_start(vm);
	assert_devices(_metadata, vcpu, 0x0f, 0x03, 0x5a, RST_VECTOR);
	vcpu_run_done(vcpu);

	ASSERT_EQ(0, axvm_vm_shutdown(&vm->vm));
	ASSERT_EQ(0, __reset(vm, AXVM_RESET_KEEP_MEMORY));
	vcpu_setup_guest(vcpu, guest_program_devices);
	vcpu_set_arg(vcpu, 0);
	vm_boot(vm);
	assert_devices(_metadata, vcpu, 0, 0, 0, RST_REDIR_MASKED);
	vcpu_run_done(vcpu);
	close(uart_fd);
	vm_free(vm);
}

TEST(reset_errnos)
{
	struct axvm_reset rs;
	struct tvcpu *vcpu;
	struct tvm *vm;

	vm = vm_create_guest();
	vcpu = vm_guest_vcpu_add(vm, 0, guest_spin);
	ASSERT_EQ(-EBUSY, __reset(vm, 0));			/* LOADING */
	vm_finalize(vm);
	ASSERT_EQ(-EBUSY, __reset(vm, AXVM_RESET_KEEP_MEMORY));	/* LOADED */
	vm_boot(vm);
	ASSERT_EQ(-EBUSY, __reset(vm, 0));			/* RUNNING */
	vcpu_run_sync(vcpu, 1);
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_SUSPEND, NULL));
	ASSERT_EQ(-EBUSY, __reset(vm, 0));			/* SUSPENDED */
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_RESUME, NULL));

	/* Argument errors come before the state check. */
	ASSERT_EQ(-EINVAL, __reset(vm, 2));
	ASSERT_EQ(-EINVAL, __reset(vm, 0x80000000));
	ASSERT_EQ(0, axvm_vm_shutdown(&vm->vm));
	ASSERT_STATE(vm, AXVM_VM_STOPPED);
	ASSERT_EQ(-EINVAL, __reset(vm, AXVM_RESET_KEEP_MEMORY | 4));
	memset(&rs, 0, sizeof(rs));
	rs.size = sizeof(rs);
	rs.reserved[2] = 1;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_RESET, &rs));
	rs.reserved[2] = 0;
	rs.size = 4;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_RESET, &rs));
	ASSERT_EQ(-EFAULT, VM_IOCTL(vm, AXVM_RESET, unmapped_address()));
	ASSERT_STATE(vm, AXVM_VM_STOPPED);
	rs.size = sizeof(rs);
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_RESET, &rs));
	ASSERT_STATE(vm, AXVM_VM_LOADED);
	ASSERT_EQ(-EBUSY, VM_IOCTL(vm, AXVM_RESET, &rs));
	vm_free(vm);
}

/* ---------------------------------------------------------------- */
/* Statistics                                                        */
/* ---------------------------------------------------------------- */

/* k OUTs and m CPUIDs: exactly k (+1 for GUEST_DONE) user IO exits and
 * m CPUID exits, per vCPU and for the VM. */
TEST(stats_count_io_and_cpuid)
{
	const uint64_t k = 5, m = 7;
	struct axvm_stats st, vst;
	struct tvcpu *vcpu;
	struct axvm_regs regs;
	struct tvm *vm;
	uint64_t i;

	vm = vm_create_guest();
	vcpu = vm_guest_vcpu_add(vm, 0, guest_io_cpuid);
	vcpu_regs_get(vcpu, &regs);
	regs.rdi = k;
	regs.rsi = m;
	vcpu_regs_set(vcpu, &regs);
	vm_vcpu_add(vm, 1);		/* never runs: adds zeros */
	vm_start(vm);
	vcpu_stats(vcpu, &st);
	for (i = 0; i < AXVM_STAT_SLOTS; i++)
		ASSERT_EQ(0ULL, st.exits[i]) ITER("stat %llu",
						  (unsigned long long)i);
	for (i = 0; i < k; i++) {
		vcpu_run(vcpu);
		ASSERT_EXIT(vcpu, AXVM_EXIT_IO);
		ASSERT_EQ(STATS_PORT, vcpu->v.run->io.port);
	}
	vcpu_run_done(vcpu);
	vcpu_stats(vcpu, &st);
	ASSERT_EQ(k + 1, st.exits[AXVM_STAT_USER_IO]);
	ASSERT_EQ(m, st.exits[AXVM_STAT_CPUID]);
	ASSERT_LE(k + m + 1, st.exits[AXVM_STAT_EXITS]);
	ASSERT_EQ(0ULL, st.exits[AXVM_STAT_USER_MMIO]);
	ASSERT_EQ(0ULL, st.exits[AXVM_STAT_USER_HLT]);
	ASSERT_EQ(vcpu->v.run->exit_count, st.exits[AXVM_STAT_EXITS]);
	for (i = AXVM_STAT_NR; i < AXVM_STAT_SLOTS; i++)
		ASSERT_EQ(0ULL, st.exits[i]);
	ASSERT_EQ(0ULL, st.irqs_injected);
	ASSERT_EQ(0ULL, st.pages_populated);	/* VM-only */
	vm_stats(vm, &vst);
	ASSERT_EQ(k + 1, vst.exits[AXVM_STAT_USER_IO]);
	ASSERT_EQ(m, vst.exits[AXVM_STAT_CPUID]);
	ASSERT_EQ(st.exits[AXVM_STAT_EXITS], vst.exits[AXVM_STAT_EXITS]);
	ASSERT_EQ(GUEST_MEM_SIZE / SZ_4K, vst.pages_populated);
	vm_free(vm);
}

TEST(stats_errnos)
{
	struct axvm_stats st;
	struct tvcpu *vcpu;
	struct tvm *vm;

	vm = vm_create_barebones();
	vcpu = vm_vcpu_add(vm, 0);
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	st.flags = 1;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_GET_STATS, &st));
	ASSERT_EQ(-EINVAL, VCPU_IOCTL(vcpu, AXVM_GET_VCPU_STATS, &st));
	st.flags = 0;
	st.size = 8;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_GET_STATS, &st));
	ASSERT_EQ(-EINVAL, VCPU_IOCTL(vcpu, AXVM_GET_VCPU_STATS, &st));
	ASSERT_EQ(-EFAULT, VM_IOCTL(vm, AXVM_GET_STATS, unmapped_address()));
	ASSERT_EQ(-EFAULT, VCPU_IOCTL(vcpu, AXVM_GET_VCPU_STATS,
				      unmapped_address()));
	/* The VM ioctl is not a vCPU ioctl and vice versa. */
	st.size = sizeof(st);
	ASSERT_EQ(-ENOTTY, VCPU_IOCTL(vcpu, AXVM_GET_STATS, &st));
	ASSERT_EQ(-ENOTTY, VM_IOCTL(vm, AXVM_GET_VCPU_STATS, &st));
	vm_free(vm);
}

/* debugfs: axvm/vm<id>/stats and vcpu<n>, the same numbers. */
TEST(stats_debugfs)
{
	char dir[64], vmf[96], v0f[96], v1f[96];
	struct axvm_stats st, vst;
	struct tvcpu *vcpu, *v1;
	struct tvm *vm;

	TEST_REQUIRE(access(DEBUGFS_AXVM, F_OK) == 0);
	vm = vm_create_guest();
	vcpu = vm_guest_vcpu_add(vm, 0, guest_io_cpuid);
	vcpu_set_arg(vcpu, 2);
	v1 = vm_vcpu_add(vm, 1);
	set_irq_handler(vm, VEC);
	snprintf(dir, sizeof(dir), DEBUGFS_AXVM "/vm%u", vm->vm.id);
	snprintf(vmf, sizeof(vmf), "%s/stats", dir);
	snprintf(v0f, sizeof(v0f), "%s/vcpu0", dir);
	snprintf(v1f, sizeof(v1f), "%s/vcpu1", dir);
	ASSERT_EQ(0, access(vmf, R_OK));
	ASSERT_EQ(0, access(v0f, R_OK));
	ASSERT_EQ(0, access(v1f, R_OK));
	vm_start(vm);
	inject(vm, 1, VEC);
	vcpu_run(vcpu);
	vcpu_run(vcpu);
	vcpu_run_done(vcpu);
	vcpu_stats(vcpu, &st);
	vm_stats(vm, &vst);
	ASSERT_EQ(3LL, debugfs_value(v0f, "user_io"));
	ASSERT_EQ((long long)st.exits[AXVM_STAT_EXITS],
		  debugfs_value(v0f, "exits"));
	ASSERT_EQ((long long)st.exits[AXVM_STAT_CPUID],
		  debugfs_value(v0f, "cpuid"));
	ASSERT_EQ((long long)st.irqs_injected,
		  debugfs_value(v0f, "irqs_injected"));
	ASSERT_EQ(0LL, debugfs_value(v1f, "exits"));
	ASSERT_EQ(3LL, debugfs_value(vmf, "user_io"));
	ASSERT_EQ((long long)vst.exits[AXVM_STAT_EXITS],
		  debugfs_value(vmf, "exits"));
	ASSERT_EQ((long long)vst.pages_populated,
		  debugfs_value(vmf, "pages_populated"));
	ASSERT_EQ(-1LL, debugfs_value(v0f, "pages_populated"));
	ASSERT_EQ(0LL, debugfs_value(vmf, "hlt_block"));
	/* A closed vCPU's file goes, the VM's directory with the VM. */
	vcpu_free(v1);
	ASSERT_NE(0, access(v1f, F_OK));
	ASSERT_EQ(0, access(v0f, F_OK));
	vm_free(vm);
	ASSERT_NE(0, access(dir, F_OK));
}

AXVM_TEST_HARNESS_MAIN
