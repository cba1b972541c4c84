// SPDX-License-Identifier: GPL-2.0
/*
 * robustness_test: resources, signals, threads and hostile state.
 *
 * 1000 VM create/run/destroy cycles without free memory shrinking; more
 * VMs at once than the CPU has ASIDs; a signal interrupting a spinning
 * vCPU (EINTR + AXVM_EXIT_INTR, then resumed, repeatedly; a blocked
 * signal does not interrupt); a second thread running the same vCPU or
 * setting its registers (EBUSY); the VM fd closed while a vCPU runs
 * (memory freed once the vCPU fd goes); SHUTDOWN from another thread
 * stopping one or several spinning vCPUs; vCPUs running concurrently;
 * fork(); and random, mostly invalid, register state.
 */
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "axvm_test.h"

#define RWX	(AXVM_MEM_READ | AXVM_MEM_WRITE | AXVM_MEM_EXEC)

/* ---------------------------------------------------------------- */
/* A tiny real-mode guest: inc word [0x2000]; hlt; jmp back           */
/* ---------------------------------------------------------------- */

#define TINY_ENTRY	0x1000ULL
#define TINY_COUNTER	0x2000ULL

static const uint8_t tiny_code[] = {
	0xff, 0x06, 0x00, 0x20,	/* inc word [0x2000] */
	0xf4,			/* hlt */
	0xeb, 0xf9,		/* jmp $-5 */
};

struct tiny {
	struct axvm_vm vm;
	struct axvm_vcpu vcpu;
};

/* A VM with a 1 MiB region and one vCPU at the tiny guest, booted. */
static void tiny_create(struct tiny *t)
{
	int r;

	r = axvm_vm_create(&t->vm);
	TEST_ASSERT(!r, "VM create: %s", strerror(-r));
	r = axvm_vm_add_memory_region(&t->vm, 0, SZ_1M, RWX, NULL);
	TEST_ASSERT(!r, "ADD_MEMORY_REGION: %s", strerror(-r));
	r = axvm_vcpu_create(&t->vm, 0, &t->vcpu);
	TEST_ASSERT(!r, "CREATE_VCPU: %s", strerror(-r));
	r = axvm_vm_write(&t->vm, TINY_ENTRY, tiny_code, sizeof(tiny_code));
	TEST_ASSERT(!r, "WRITE_GUEST: %s", strerror(-r));
	r = axvm_x86_setup_mode(&t->vm, &t->vcpu, AXVM_MODE_REAL, TINY_ENTRY,
				0x8000, NULL);
	TEST_ASSERT(!r, "real mode setup: %s", strerror(-r));
	r = axvm_vm_finalize(&t->vm);
	TEST_ASSERT(!r, "FINALIZE: %s", strerror(-r));
	r = axvm_vm_boot(&t->vm);
	TEST_ASSERT(!r, "BOOT: %s", strerror(-r));
}

/* Runs to the next HLT and returns the guest's counter. */
static uint16_t tiny_run(struct tiny *t)
{
	uint16_t count = 0;
	int r;

	r = axvm_vcpu_run(&t->vcpu);
	TEST_ASSERT(!r, "RUN: %s", strerror(-r));
	TEST_ASSERT(t->vcpu.run->exit_reason == AXVM_EXIT_HLT,
		    "tiny guest: exit %s, expected HLT",
		    axvm_exit_name(t->vcpu.run->exit_reason));
	r = axvm_vm_read(&t->vm, TINY_COUNTER, &count, sizeof(count));
	TEST_ASSERT(!r, "READ_GUEST: %s", strerror(-r));
	return count;
}

static void tiny_destroy(struct tiny *t)
{
	axvm_vcpu_destroy(&t->vcpu);
	axvm_vm_destroy(&t->vm);
}

static void tiny_cycle(void)
{
	struct tiny t;

	tiny_create(&t);
	TEST_ASSERT(tiny_run(&t) == 1, "tiny guest did not count");
	tiny_destroy(&t);
}

/*
 * Free memory (free_memory_kb()) once it stops moving: earlier tests'
 * VMs may still be being freed (deferred work) when this one starts.
 */
static int64_t free_settled_kb(void)
{
	int64_t prev = -1, cur = 0;
	int i;

	for (i = 0; i < 50; i++) {
		cur = free_memory_kb();
		if (prev >= 0 && llabs(cur - prev) < 128)
			break;
		prev = cur;
		usleep(20000);
	}
	return cur;
}

FIXTURE(slow) {
};

FIXTURE_SETUP(slow)
{
}

FIXTURE_TEARDOWN(slow)
{
}

/*
 * 1000 cycles of create VM + 1 MiB region + vCPU + run + destroy must
 * not shrink free memory (MemFree plus the per-CPU page lists) by more
 * than a little slack, less than one page per cycle. Noise does not
 * repeat, a leak does: only two rounds in a row above the slack fail.
 */
TEST_F_TIMEOUT(slow, vm_cycles_do_not_leak, 120)
{
	const int64_t slack_kb = 2048, cycles = 1000;
	int64_t m0, m1, m2, leak1, leak2;
	struct tiny big;
	int i;

	/* The measurement sees module allocations at all. */
	m0 = free_settled_kb();
	ASSERT_EQ(0, axvm_vm_create(&big.vm));
	ASSERT_EQ(0, axvm_vm_add_memory_region(&big.vm, 0, 32 * SZ_1M, RWX,
					       NULL));
	m1 = free_settled_kb();
	TH_LOG("a 32 MiB region: free memory -%lld KiB", (long long)(m0 - m1));
	ASSERT_LE(24 * 1024, m0 - m1);
	axvm_vm_destroy(&big.vm);

	for (i = 0; i < 100; i++)	/* warm-up: slabs, per-CPU lists */
		tiny_cycle();
	m0 = free_settled_kb();
	for (i = 0; i < cycles; i++)
		tiny_cycle();
	m1 = free_settled_kb();
	leak1 = m0 - m1;
	TH_LOG("%lld cycles: free memory %+lld KiB", (long long)cycles,
	       (long long)(m1 - m0));
	if (leak1 <= slack_kb)
		return;
	for (i = 0; i < cycles; i++)
		tiny_cycle();
	m2 = free_settled_kb();
	leak2 = m1 - m2;
	TH_LOG("%lld more cycles: free memory %+lld KiB", (long long)cycles,
	       (long long)(m2 - m1));
	ASSERT_GE(slack_kb, leak2);
}

/* More VMs alive and running than there are hardware ASIDs. */
TEST(more_vms_than_asids)
{
	const int n = 40;
	struct tiny *t = calloc(n, sizeof(*t));
	int i, round;

	ASSERT_NE(NULL, t);
	TH_LOG("%d VMs, %u ASIDs", n, sys_caps()->nr_asids);
	for (i = 0; i < n; i++)
		tiny_create(&t[i]);
	for (round = 1; round <= 3; round++)
		for (i = 0; i < n; i++)
			ASSERT_EQ(round, tiny_run(&t[i]));
	for (i = 0; i < n; i++)
		tiny_destroy(&t[i]);
	free(t);
}

TEST(many_open_vms)
{
	const int n = 128;
	struct tvm **vms = calloc(n, sizeof(*vms));
	struct axvm_vm_status st;
	int i;

	ASSERT_NE(NULL, vms);
	for (i = 0; i < n; i++) {
		vms[i] = vm_create_barebones();
		vm_add_region(vms[i], 0, SZ_64K, RWX);
		vm_vcpu_add(vms[i], i % 64);
	}
	for (i = 0; i < n; i++) {
		vm_status(vms[i], &st);
		ASSERT_EQ(1U, st.nr_vcpus);
		ASSERT_EQ(1U, st.nr_regions);
	}
	for (i = 0; i < n; i++)
		vm_free(vms[i]);
	free(vms);
}

/* ---------------------------------------------------------------- */
/* Signals                                                           */
/* ---------------------------------------------------------------- */

struct kicker {
	struct tvm *vm;
	pthread_t target;
	pthread_t thread;
	int sig;
};

static void *kicker_fn(void *arg)
{
	struct kicker *k = arg;

	TEST_ASSERT(vm_wait_nr_running(k->vm, 1, 10000),
		    "the vCPU never entered AXVM_RUN");
	usleep(10000);
	pthread_kill(k->target, k->sig);
	return NULL;
}

/* AXVM_RUN in this thread, with another thread sending sig meanwhile. */
static int run_with_signal(struct tvcpu *vcpu, int sig)
{
	struct kicker k = {
		.vm = vcpu->vm, .target = pthread_self(), .sig = sig,
	};
	int ret;

	TEST_ASSERT(!pthread_create(&k.thread, NULL, kicker_fn, &k),
		    "pthread_create");
	ret = __vcpu_run(vcpu);
	pthread_join(k.thread, NULL);
	return ret;
}

static uint64_t spin_counter(struct tvm *vm)
{
	return vm_read_u64(vm, (uint64_t)(uintptr_t)&guest_spin_counter);
}

static void stop_spinning(struct tvm *vm)
{
	vm_write_u64(vm, (uint64_t)(uintptr_t)&guest_spin_stop, 1);
}

TEST(signal_interrupts_spinning_vcpu)
{
	struct tvcpu *vcpu;
	struct tvm *vm;
	struct axvm_vm_status st;
	struct ucall uc;
	uint64_t last = 0;
	int i;

	install_noop_handler(SIGUSR1);
	vm = vm_create_with_one_vcpu(&vcpu, guest_spin);
	vcpu_run_sync(vcpu, 1);
	for (i = 0; i < 5; i++) {
		uint64_t now;

		ASSERT_EQ(-EINTR, run_with_signal(vcpu, SIGUSR1));
		ASSERT_EXIT(vcpu, AXVM_EXIT_INTR);
		vm_status(vm, &st);
		ASSERT_EQ((uint32_t)AXVM_VM_RUNNING, st.state);
		ASSERT_EQ(0U, st.nr_running);
		/* Resumed where it was: still counting, never restarted. */
		now = spin_counter(vm);
		ASSERT_LT(last, now);
		last = now;
	}
	stop_spinning(vm);
	vcpu_run_sync_uc(vcpu, &uc);
	ASSERT_LE(last, uc.args[0]);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

static void *stop_later_fn(void *arg)
{
	struct tvm *vm = arg;

	TEST_ASSERT(vm_wait_nr_running(vm, 1, 10000),
		    "the vCPU never entered AXVM_RUN");
	usleep(50000);
	stop_spinning(vm);
	return NULL;
}

/* A signal the thread blocks is no reason to leave AXVM_RUN. */
TEST(blocked_signal_does_not_interrupt)
{
	struct tvcpu *vcpu;
	struct tvm *vm;
	sigset_t set, old;
	pthread_t stopper;
	struct ucall uc;

	install_noop_handler(SIGUSR1);
	vm = vm_create_with_one_vcpu(&vcpu, guest_spin);
	vcpu_run_sync(vcpu, 1);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, &set, &old));
	ASSERT_EQ(0, pthread_kill(pthread_self(), SIGUSR1));
	ASSERT_EQ(0, pthread_create(&stopper, NULL, stop_later_fn, vm));
	/* Leaves only because the guest stops spinning. */
	vcpu_run_sync_uc(vcpu, &uc);
	ASSERT_LT(0ULL, uc.args[0]);
	pthread_join(stopper, NULL);
	ASSERT_EQ(0, pthread_sigmask(SIG_SETMASK, &old, NULL));
	vcpu_run_done(vcpu);
	vm_free(vm);
}

/* ---------------------------------------------------------------- */
/* Threads                                                           */
/* ---------------------------------------------------------------- */

TEST(second_thread_run_ebusy)
{
	struct spinner sp = { 0 };
	struct tvcpu *vcpu;
	struct tvm *vm;
	struct ucall uc;

	install_noop_handler(SIGUSR1);
	vm = vm_create_with_one_vcpu(&vcpu, guest_spin);
	spinner_start(&sp, vcpu);
	spinners_wait_running(vm, &sp, 1);
	ASSERT_EQ(-EBUSY, __vcpu_run(vcpu));
	ASSERT_EQ(-EBUSY, __vcpu_run(vcpu));
	ASSERT_EQ(0, pthread_kill(sp.thread, SIGUSR1));
	spinner_join(&sp);
	ASSERT_EQ(-EINTR, sp.ret);
	ASSERT_EQ((uint32_t)AXVM_EXIT_INTR, sp.exit_reason);
	/* This thread may run it now. */
	stop_spinning(vm);
	vcpu_run_sync_uc(vcpu, &uc);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

TEST(set_regs_while_running_ebusy)
{
	struct spinner sp = { 0 };
	struct axvm_sregs sregs;
	struct axvm_regs regs;
	struct tvcpu *vcpu;
	struct tvm *vm;
	struct ucall uc;

	install_noop_handler(SIGUSR1);
	vm = vm_create_with_one_vcpu(&vcpu, guest_spin);
	vcpu_regs_get(vcpu, &regs);
	vcpu_sregs_get(vcpu, &sregs);
	spinner_start(&sp, vcpu);
	spinners_wait_running(vm, &sp, 1);
	regs.rip = 0;
	ASSERT_EQ(-EBUSY, VCPU_IOCTL(vcpu, AXVM_SET_REGS, &regs));
	sregs.cr3 = 0;
	ASSERT_EQ(-EBUSY, VCPU_IOCTL(vcpu, AXVM_SET_SREGS, &sregs));
	ASSERT_EQ(0, pthread_kill(sp.thread, SIGUSR1));
	spinner_join(&sp);
	ASSERT_EQ(-EINTR, sp.ret);
	/* Nothing of the refused state reached the guest. */
	stop_spinning(vm);
	vcpu_run_sync_uc(vcpu, &uc);
	vcpu_run_done(vcpu);
	/* And once it is not running, SET_REGS works again. */
	vcpu_regs_get(vcpu, &regs);
	ASSERT_EQ(0, VCPU_IOCTL(vcpu, AXVM_SET_REGS, &regs));
	vm_free(vm);
}

TEST(shutdown_from_other_thread)
{
	struct spinner sp = { 0 };
	struct axvm_vm_status st;
	struct tvcpu *vcpu;
	struct tvm *vm;

	vm = vm_create_with_one_vcpu(&vcpu, guest_spin);
	spinner_start(&sp, vcpu);
	spinners_wait_running(vm, &sp, 1);
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_SHUTDOWN, NULL));
	spinner_join(&sp);
	ASSERT_EQ(0, sp.ret);
	ASSERT_EQ((uint32_t)AXVM_EXIT_STOPPED, sp.exit_reason);
	vm_status(vm, &st);
	ASSERT_EQ((uint32_t)AXVM_VM_STOPPED, st.state);
	ASSERT_EQ(0U, st.nr_running);
	ASSERT_EQ(-ESHUTDOWN, __vcpu_run(vcpu));
	vm_free(vm);
}

TEST(shutdown_stops_every_vcpu)
{
	const int n = 4;
	struct spinner sp[4];
	struct axvm_vm_status st;
	struct tvm *vm = vm_create_guest();
	int i;

	memset(sp, 0, sizeof(sp));
	for (i = 0; i < n; i++)
		vm_guest_vcpu_add(vm, i, guest_spin);
	vm_start(vm);
	for (i = 0; i < n; i++)
		spinner_start(&sp[i], vm->vcpus[i]);
	spinners_wait_running(vm, sp, n);
	vm_status(vm, &st);
	ASSERT_EQ((uint32_t)n, st.nr_running);
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_SHUTDOWN, NULL));
	for (i = 0; i < n; i++) {
		spinner_join(&sp[i]);
		ASSERT_EQ(0, sp[i].ret);
		ASSERT_EQ((uint32_t)AXVM_EXIT_STOPPED, sp[i].exit_reason);
	}
	vm_status(vm, &st);
	ASSERT_EQ((uint32_t)AXVM_VM_STOPPED, st.state);
	ASSERT_EQ(0U, st.nr_running);
	vm_free(vm);
}

/*
 * Closing the VM fd (and /dev/axvm) while a vCPU runs: the vCPU fd keeps
 * the VM alive; a signal gets the vCPU out; once the vCPU fd is closed
 * too, everything is freed. Three rounds of 64 MiB each.
 */
TEST_F_TIMEOUT(slow, close_vm_fd_while_running, 60)
{
	const int64_t region_kb = 48 * 1024;
	int64_t base, now = 0;
	int round, tries;

	install_noop_handler(SIGUSR1);
	base = free_settled_kb();
	for (round = 0; round < 3; round++) {
		struct spinner sp = { 0 };
		struct tvcpu *vcpu;
		struct tvm *vm = vm_create_guest();

		vm_add_region(vm, 0x10000000, 48 * SZ_1M,
			      AXVM_MEM_READ | AXVM_MEM_WRITE);
		vcpu = vm_guest_vcpu_add(vm, 0, guest_spin);
		vm_start(vm);
		if (round == 0) {
			now = free_settled_kb();
			TH_LOG("VM with 64 MiB: free memory -%lld KiB",
			       (long long)(base - now));
			ASSERT_LE(region_kb, base - now);
		}
		spinner_start(&sp, vcpu);
		spinners_wait_running(vm, &sp, 1);
		ASSERT_EQ(0, close(vm->vm.fd));
		ASSERT_EQ(0, close(vm->vm.sys_fd));
		vm->vm.fd = vm->vm.sys_fd = -1;
		usleep(10000);
		ASSERT_EQ(0, pthread_kill(sp.thread, SIGUSR1));
		spinner_join(&sp);
		ASSERT_EQ(-EINTR, sp.ret);
		ASSERT_EQ((uint32_t)AXVM_EXIT_INTR, sp.exit_reason);
		vm_free(vm);	/* closes the vCPU fd: the last reference */
	}
	/* Freeing may be deferred a little (RCU, workqueues). */
	for (tries = 0; tries < 50; tries++) {
		now = free_settled_kb();
		if (base - now < region_kb / 3)
			break;
		usleep(100000);
	}
	TH_LOG("after 3 rounds: free memory %+lld KiB", (long long)(now - base));
	ASSERT_GT(region_kb / 3, base - now);
}

static void guest_concurrent(uint64_t id)
{
	uint32_t a, b, c, d;
	uint64_t i;

	for (i = 0; i < 100; i++) {
		cpuid_count(1, 0, &a, &b, &c, &d);
		GUEST_SYNC2(b >> 24, i);
		GUEST_ASSERT_EQ(b >> 24, id);
	}
}

static void *concurrent_thread(void *arg)
{
	struct tvcpu *vcpu = arg;
	struct ucall uc;
	uint64_t i;

	for (i = 0; i < 100; i++) {
		vcpu_run_sync_uc(vcpu, &uc);
		TEST_ASSERT(uc.args[0] == vcpu->v.id && uc.args[1] == i,
			    "vCPU %u: got (%llu, %llu), expected (%u, %llu)",
			    vcpu->v.id, (unsigned long long)uc.args[0],
			    (unsigned long long)uc.args[1], vcpu->v.id,
			    (unsigned long long)i);
	}
	vcpu_run_done(vcpu);
	return NULL;
}

TEST(concurrent_vcpus)
{
	static const uint32_t ids[] = { 0, 3, 17, 62 };
	pthread_t threads[ARRAY_SIZE(ids)];
	struct tvm *vm = vm_create_guest();
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		struct tvcpu *vcpu = vm_guest_vcpu_add(vm, ids[i],
						       guest_concurrent);

		vcpu_set_arg(vcpu, ids[i]);
	}
	vm_start(vm);
	for (i = 0; i < ARRAY_SIZE(ids); i++)
		ASSERT_EQ(0, pthread_create(&threads[i], NULL,
					    concurrent_thread,
					    vm->vcpus[ids[i]]));
	for (i = 0; i < ARRAY_SIZE(ids); i++)
		ASSERT_EQ(0, pthread_join(threads[i], NULL));
	ASSERT_STATE(vm, AXVM_VM_RUNNING);
	vm_free(vm);
}

static void guest_two_syncs(void)
{
	GUEST_SYNC(1);
	GUEST_SYNC(2);
}

/* A child that inherits the fds and exits does not take the VM along. */
TEST(fork_child_exits)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_two_syncs);
	int status;
	pid_t pid;

	vcpu_run_sync(vcpu, 1);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(vcpu->v.fd);
		close(vm->vm.fd);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	vcpu_run_sync(vcpu, 2);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

/*
 * The state fuzz below is built only into robustness_fuzz (make -C
 * selftests fuzz), not into make check: with the fixed seed, iteration
 * 104 (real mode, EFER.LME=1, CR4=0, CS 0xc000) wedges the emulated host
 * CPU of our QEMU 7.2 TCG test bed (RCU stall, no exit ever comes back),
 * an open finding, see Documentation/testing.md. Every other iteration
 * passes, and the emulator bugs it found before are worked around in svm.c.
 */
#ifdef AXVM_FUZZ
/* ---------------------------------------------------------------- */
/* Hostile state                                                     */
/* ---------------------------------------------------------------- */

static void arm_timer_ms(int ms)
{
	struct itimerval it = {
		.it_value = { .tv_sec = 0, .tv_usec = ms * 1000 },
	};

	setitimer(ITIMER_REAL, &it, NULL);
}

/*
 * Random code, random modes, random control registers, segments and
 * GPRs (never EFER.SVME). Every AXVM_RUN must come back (a timer signal
 * ends the ones that loop) with a sane result; SET_SREGS may refuse.
 * The seed is fixed, so a failing iteration fails again; with
 * AXVM_FUZZ_LOG=1 in the environment every iteration's state is printed
 * before its runs (to find the one that hangs a host CPU, say).
 */
static void fuzz_print_state(int iter, const struct axvm_sregs *s,
			     const struct axvm_regs *r)
{
	const __u64 *gpr = &r->rax;
	int k;

	fprintf(stderr, "# iteration %d: rip %#llx rflags %#llx cr0 %#llx "
		"cr3 %#llx cr4 %#llx efer %#llx cs %#x/%#x/%#llx/%#x "
		"ss %#x/%#x ds %#x/%#x/%#llx/%#x tr %#x ldtr %#x "
		"gdt %#llx/%#x idt %#llx/%#x\n# gprs", iter,
		(unsigned long long)r->rip, (unsigned long long)r->rflags,
		(unsigned long long)s->cr0, (unsigned long long)s->cr3,
		(unsigned long long)s->cr4, (unsigned long long)s->efer,
		s->cs.selector, s->cs.attrib, (unsigned long long)s->cs.base,
		s->cs.limit, s->ss.selector, s->ss.attrib, s->ds.selector,
		s->ds.attrib, (unsigned long long)s->ds.base, s->ds.limit,
		s->tr.attrib, s->ldtr.attrib, (unsigned long long)s->gdt.base,
		s->gdt.limit, (unsigned long long)s->idt.base, s->idt.limit);
	for (k = 0; k < 16; k++)
		fprintf(stderr, " %llx", (unsigned long long)gpr[k]);
	fprintf(stderr, "\n");
	fflush(stderr);
}

TEST_F_TIMEOUT(slow, random_state, 90)
{
	static const uint64_t cr0_bits[] = {
		X86_CR0_PE, X86_CR0_MP, X86_CR0_EM, X86_CR0_TS, X86_CR0_NE,
		X86_CR0_WP, X86_CR0_NW, X86_CR0_CD, X86_CR0_PG,
	};
	static const uint64_t cr4_bits[] = {
		1 << 4, 1 << 5, 1 << 7, 1 << 9, 1 << 10, 1 << 17, 1 << 18,
		1 << 20, 1 << 21, X86_CR4_LA57,
	};
	static const uint64_t efer_bits[] = {
		EFER_SCE, EFER_LME, EFER_LMA, EFER_NXE,
	};
	const bool verbose = getenv("AXVM_FUZZ_LOG");
	const int iterations = 250;
	uint64_t seed = 0x5eed0fa3f00dULL;
	struct tvm *vm = vm_create_barebones();
	struct tvcpu *vcpu = vm_vcpu_add(vm, 0);
	uint8_t *junk = malloc(2 * SZ_1M);
	int i, refused = 0, exits[16] = { 0 };
	struct tvcpu *ok_vcpu;
	struct tvm *ok_vm;
	uint64_t k;

	ASSERT_NE(NULL, junk);
	install_noop_handler(SIGALRM);
	vm_add_region(vm, 0, 2 * SZ_1M, RWX);
	for (k = 0; k < 2 * SZ_1M; k += 8) {
		uint64_t r = test_rand64(&seed);

		memcpy(junk + k, &r, 8);
	}
	vm_write(vm, 0, junk, 2 * SZ_1M);
	vm_start(vm);

	for (i = 0; i < iterations; i++) {
		enum axvm_cpu_mode mode = test_rand64(&seed) % 3;
		uint64_t entry = test_rand64(&seed) % (mode ? 2 * SZ_1M : SZ_1M);
		struct axvm_sregs s;
		struct axvm_regs r;
		__u64 *gpr;
		int j, ret;

		if (axvm_x86_setup_mode(&vm->vm, &vcpu->v, mode, entry, 0x8000,
					NULL))
			continue;
		vcpu_sregs_get(vcpu, &s);
		vcpu_regs_get(vcpu, &r);
		for (j = test_rand64(&seed) % 4; j > 0; j--) {
			uint64_t x = test_rand64(&seed);

			switch (x % 8) {
			case 0:
				s.cr0 ^= cr0_bits[(x >> 8) % ARRAY_SIZE(cr0_bits)];
				break;
			case 1:
				s.cr4 ^= cr4_bits[(x >> 8) % ARRAY_SIZE(cr4_bits)];
				break;
			case 2:
				s.efer ^= efer_bits[(x >> 8) % ARRAY_SIZE(efer_bits)];
				break;
			case 3:
				s.cs.attrib ^= 1 << ((x >> 8) % 12);
				break;
			case 4:
				s.ss.attrib ^= 1 << ((x >> 8) % 12);
				s.ds.limit = (uint32_t)(x >> 16);
				break;
			case 5:
				s.cr3 = (x >> 8) & 0x3ff000;
				break;
			case 6:
				s.idt.base = (x >> 8) & 0xfffff;
				s.idt.limit = (x >> 32) & 0xfff;
				s.gdt.limit = (x >> 44) & 0xff;
				break;
			case 7:
				r.rflags = (x >> 8) & 0x3f7fd5;
				r.rflags |= 2;
				break;
			}
		}
		gpr = &r.rax;
		for (j = 0; j < 16; j++)
			if (j != 6)	/* keep RSP */
				gpr[j] = test_rand64(&seed);
		s.efer &= ~EFER_SVME;
		if (VCPU_IOCTL(vcpu, AXVM_SET_SREGS, &s) ||
		    VCPU_IOCTL(vcpu, AXVM_SET_REGS, &r)) {
			refused++;
			continue;
		}
		if (verbose)
			fuzz_print_state(i, &s, &r);
		/* Up to 4 runs: resumable exits get random answers. */
		for (j = 0; j < 4; j++) {
			struct axvm_run *run = vcpu->v.run;
			uint32_t why;

			arm_timer_ms(20);
			ret = __vcpu_run(vcpu);
			arm_timer_ms(0);
			why = run->exit_reason;
			ASSERT_TRUE(ret == 0 || ret == -EINTR)
				ITER("iteration %d, run %d", i, j);
			if (ret == -EINTR) {
				ASSERT_EQ((uint32_t)AXVM_EXIT_INTR, why)
					ITER("iteration %d, run %d", i, j);
			}
			ASSERT_TRUE(why < 16 && why != AXVM_EXIT_NONE &&
				    why != AXVM_EXIT_STOPPED)
				ITER("iteration %d, run %d: exit %u", i, j, why);
			exits[why]++;
			if (why == AXVM_EXIT_IO)
				run->io.data = test_rand64(&seed);
			else if (why == AXVM_EXIT_MMIO)
				run->mmio.data = test_rand64(&seed);
			else if (why == AXVM_EXIT_HYPERCALL)
				run->hypercall.ret = test_rand64(&seed);
			else if (why != AXVM_EXIT_HLT)
				break;
		}
	}
	TH_LOG("%d refused; exits: io %d mmio %d hlt %d hypercall %d "
	       "shutdown %d fail_entry %d internal %d intr %d", refused,
	       exits[AXVM_EXIT_IO], exits[AXVM_EXIT_MMIO], exits[AXVM_EXIT_HLT],
	       exits[AXVM_EXIT_HYPERCALL], exits[AXVM_EXIT_SHUTDOWN],
	       exits[AXVM_EXIT_FAIL_ENTRY], exits[AXVM_EXIT_INTERNAL_ERROR],
	       exits[AXVM_EXIT_INTR]);
	ASSERT_STATE(vm, AXVM_VM_RUNNING);
	vm_free(vm);
	free(junk);

	/* The module still runs a well-behaved guest. */
	ok_vm = vm_create_with_one_vcpu(&ok_vcpu, guest_two_syncs);
	vcpu_run_sync(ok_vcpu, 1);
	vcpu_run_sync(ok_vcpu, 2);
	vcpu_run_done(ok_vcpu);
	vm_free(ok_vm);
}

#endif /* AXVM_FUZZ */

AXVM_TEST_HARNESS_MAIN
