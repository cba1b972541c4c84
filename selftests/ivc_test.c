// SPDX-License-Identifier: GPL-2.0
/*
 * ivc_test: inter-VM communication channels (Documentation/ivc.md).
 *
 * AXVM_IVC_CREATE / ATTACH / DETACH (every errno, GPA picking around
 * regions, passthrough ranges and the guest physical limit, length
 * rounding, the region limit), the channel fd (mmap, AXVM_IVC_RING,
 * ENOTTY), memory shared between VMs and the host, the doorbell (the
 * AXVM_HC_IVC_RING hypercall and the fd ring, vectors and vCPU masks,
 * the ringer not ringing itself), two VMs exchanging a message and a
 * reply through a channel while their vCPUs sleep in HLT, DETACH turning
 * guest accesses into MMIO exits, no execution from a channel, and the
 * channel's lifetime: every close order, memory freed with the last
 * user, no leak over many cycles, peers coming and going while a guest
 * rings.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "axvm_test.h"

#define IVC_BASE	AXVM_IVC_DEFAULT_BASE
#define IVC_MAX_LEN	(64ULL << 20)
#define RW		(AXVM_MEM_READ | AXVM_MEM_WRITE)
#define RWX		(AXVM_MEM_READ | AXVM_MEM_WRITE | AXVM_MEM_EXEC)
/* Doorbell vectors of the two VMs of most tests. */
#define VEC_A		0x41
#define VEC_B		0x42
/* An explicit GPA inside the guests' identity map, outside region 0. */
#define GPA_B		0xd0000000ULL
#define RUN_TIMEOUT_S	30

/* ---------------------------------------------------------------- */
/* Host helpers                                                      */
/* ---------------------------------------------------------------- */

/* CREATE: returns the channel fd or -errno; *io gets the result. */
static int ivc_create_io(struct tvm *vm, struct axvm_ivc *io)
{
	io->size = sizeof(*io);
	return __vm_ioctl(vm, AXVM_IVC_CREATE, io);
}

static int __ivc_create(struct tvm *vm, uint64_t len, uint64_t gpa,
			uint32_t vector, uint64_t mask, uint64_t *gpa_out)
{
	struct axvm_ivc io = {
		.len = len, .gpa = gpa, .vector = vector, .vcpu_mask = mask,
	};
	int fd = ivc_create_io(vm, &io);

	if (fd >= 0) {
		TEST_ASSERT(fd == io.fd, "CREATE returned fd %d, struct says %d",
			    fd, io.fd);
		if (gpa_out)
			*gpa_out = io.gpa;
	}
	return fd;
}

static int ivc_create(struct tvm *vm, uint64_t len, uint64_t gpa,
		      uint32_t vector, uint64_t *gpa_out)
{
	int fd = __ivc_create(vm, len, gpa, vector, 0, gpa_out);

	TEST_ASSERT(fd >= 0, "IVC_CREATE len %#llx gpa %#llx: %s",
		    (unsigned long long)len, (unsigned long long)gpa,
		    strerror(-fd));
	return fd;
}

static int __ivc_attach(struct tvm *vm, int fd, uint64_t gpa,
			uint32_t vector, uint64_t mask, uint64_t *gpa_out,
			uint64_t *len_out)
{
	struct axvm_ivc io = {
		.size = sizeof(io), .fd = fd, .gpa = gpa, .vector = vector,
		.vcpu_mask = mask,
	};
	int r = __vm_ioctl(vm, AXVM_IVC_ATTACH, &io);

	if (!r && gpa_out)
		*gpa_out = io.gpa;
	if (!r && len_out)
		*len_out = io.len;
	return r;
}

static uint64_t ivc_attach(struct tvm *vm, int fd, uint64_t gpa,
			   uint32_t vector)
{
	uint64_t out = 0;
	int r = __ivc_attach(vm, fd, gpa, vector, 0, &out, NULL);

	TEST_ASSERT(!r, "IVC_ATTACH fd %d gpa %#llx: %s", fd,
		    (unsigned long long)gpa, strerror(-r));
	return out;
}

static int ivc_detach(struct tvm *vm, uint64_t gpa)
{
	struct axvm_ivc io = { .size = sizeof(io), .gpa = gpa };

	return __vm_ioctl(vm, AXVM_IVC_DETACH, &io);
}

static int ivc_ring(int fd)
{
	return __test_ioctl(fd, AXVM_IVC_RING, NULL);
}

static uint32_t nr_regions(struct tvm *vm)
{
	struct axvm_vm_status st;

	vm_status(vm, &st);
	return st.nr_regions;
}

static uint64_t gpa_limit(void)
{
	uint64_t lim = 1ULL << sys_caps()->gpa_bits;

	return lim < 0x7ffffffff000ULL ? lim : 0x7ffffffff000ULL;
}

static uint64_t vcpu_stat(struct tvcpu *vcpu, unsigned int stat)
{
	struct axvm_stats st = { .size = sizeof(st) };
	int r = __vcpu_ioctl(vcpu, AXVM_GET_VCPU_STATS, &st);

	TEST_ASSERT(!r, "GET_VCPU_STATS: %s", strerror(-r));
	return st.exits[stat];
}

/* Waits until the vCPU has gone to sleep in HLT; false after 10 s. */
static bool wait_hlt_block(struct tvcpu *vcpu)
{
	uint64_t deadline = now_ns() + 10000000000ULL;

	while (!vcpu_stat(vcpu, AXVM_STAT_HLT_BLOCK)) {
		if (now_ns() > deadline)
			return false;
		usleep(1000);
	}
	return true;
}

/* guest_irq_counts[id] as the guest of vm has it. */
extern volatile uint64_t guest_irq_counts[8];

static uint64_t guest_irqs(struct tvm *vm, unsigned int id)
{
	return vm_read_u64(vm, (uint64_t)(uintptr_t)&guest_irq_counts[id]);
}

/*
 * Free memory in KiB, counting the pages on the per-CPU free lists too
 * (/proc/zoneinfo "count:"): MemFree and MemAvailable leave those out,
 * and a CPU can cache tens of MiB there, so an allocation served from
 * them would not show.
 */
static int64_t free_kb(void)
{
	char line[256];
	int64_t pages = 0;
	long long v;
	FILE *f;

	drop_caches();
	usleep(20000);
	f = fopen("/proc/zoneinfo", "r");
	TEST_ASSERT(f, "/proc/zoneinfo: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " nr_free_pages %lld", &v) == 1 ||
		    sscanf(line, " count: %lld", &v) == 1)
			pages += v;
	}
	fclose(f);
	return pages * 4;
}

static void *map_channel(int fd, size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	TEST_ASSERT(p != MAP_FAILED, "mmap of the channel fd: %s",
		    strerror(errno));
	return p;
}

/* A VM with region 0, the doorbell handler on `vector` and vCPU 0. */
extern char ivc_irq_handler[];

static void set_irq_handler(struct tvm *vm, uint8_t vector)
{
	vm_set_idt_gate(vm, vector, ivc_irq_handler);
}

static struct tvm *guest_vm(void *guest_code, uint64_t arg, uint8_t vector,
			    struct tvcpu **vcpu)
{
	struct tvm *vm = vm_create_guest();

	*vcpu = vm_guest_vcpu_add(vm, 0, guest_code);
	vcpu_set_arg(*vcpu, arg);
	if (vector)
		set_irq_handler(vm, vector);
	return vm;
}

/* vCPU threads that run to GUEST_DONE, with a watchdog. */
struct runner {
	struct tvcpu *vcpu;
	pthread_t thread;
};

static void *runner_fn(void *arg)
{
	struct runner *r = arg;

	vcpu_run_done(r->vcpu);
	return NULL;
}

static void runner_start(struct runner *r, struct tvcpu *vcpu)
{
	int e;

	r->vcpu = vcpu;
	e = pthread_create(&r->thread, NULL, runner_fn, r);
	TEST_ASSERT(!e, "pthread_create: %s", strerror(e));
}

/*
 * Joins every runner. After RUN_TIMEOUT_S the VMs are shut down, which
 * wakes halted vCPUs: their threads then fail the test with the exit
 * they got (STOPPED instead of GUEST_DONE).
 */
static void runners_join(struct runner *r, int n)
{
	struct timespec ts;
	int i, e;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += RUN_TIMEOUT_S;
	for (i = 0; i < n; i++) {
		e = pthread_timedjoin_np(r[i].thread, NULL, &ts);
		if (e == ETIMEDOUT) {
			int j;

			fprintf(stderr, "# vCPU threads still running after %d s: shutting the VMs down\n",
				RUN_TIMEOUT_S);
			for (j = 0; j < n; j++)
				axvm_vm_shutdown(&r[j].vcpu->vm->vm);
			e = pthread_join(r[i].thread, NULL);
		}
		TEST_ASSERT(!e, "joining vCPU thread: %s", strerror(e));
	}
}

/* ---------------------------------------------------------------- */
/* Guest code                                                        */
/* ---------------------------------------------------------------- */

/*
 * The doorbell handler: counts interrupts per vCPU (found from the
 * stack, GUEST_STACK_SIZE per vCPU from GUEST_STACKS_GPA). No EOI: axvm
 * injects without an emulated APIC.
 */
volatile uint64_t guest_irq_counts[8];

asm(
"	.pushsection .text\n"
"	.align 16\n"
"	.globl ivc_irq_handler\n"
"ivc_irq_handler:\n"
"	push %rax\n"
"	mov %rsp, %rax\n"
"	sub $" __stringify(GUEST_STACKS_GPA) ", %rax\n"
"	shr $14, %rax\n"		/* GUEST_STACK_SIZE = 0x4000 */
"	and $7, %rax\n"
"	lock incq guest_irq_counts(,%rax,8)\n"
"	pop %rax\n"
"	iretq\n"
"	.popsection\n"
);

_Static_assert(GUEST_STACK_SIZE == 0x4000, "ivc_irq_handler's shift");

/* Sleeps with interrupts enabled until vCPU `id` has seen n doorbells. */
static void guest_wait_irqs(unsigned int id, uint64_t n)
{
	while (guest_irq_counts[id] < n)
		asm volatile("sti; hlt; cli" : : : "memory");
}

/* Opens an interrupt window: anything pending is taken now. */
static void guest_irq_window(void)
{
	asm volatile("sti; nop; nop; cli" : : : "memory");
}

static uint64_t guest_ring(uint64_t gpa)
{
	return vmmcall(AXVM_HC_IVC_RING, gpa, 0, 0, 0);
}

static uint64_t guest_read64(uint64_t gpa)
{
	uint64_t v;

	asm volatile("mov (%1), %0" : "=r"(v) : "r"(gpa) : "memory");
	return v;
}

static void guest_write64(uint64_t gpa, uint64_t v)
{
	asm volatile("movq %0, (%1)" : : "r"(v), "r"(gpa) : "memory");
}

/*
 * The message layout both guests agree on, at the start of the channel.
 * Copies use volatile accesses so the compiler does not call memcpy
 * (the guest has no libc).
 */
struct ivc_msg {
	uint64_t seq;
	char text[56];
};

static void guest_put_text(volatile struct ivc_msg *m, const char *s)
{
	unsigned int i = 0;

	do {
		m->text[i] = ((volatile const char *)s)[i];
	} while (s[i++] && i < sizeof(m->text));
}

static bool guest_text_is(volatile struct ivc_msg *m, const char *s)
{
	unsigned int i;

	for (i = 0; i < sizeof(m->text); i++) {
		if (m->text[i] != ((volatile const char *)s)[i])
			return false;
		if (!s[i])
			return true;
	}
	return false;
}

static const char ping_text[] = "ping from VM A";
static const char pong_text[] = "pong from VM B";

/* VM A: writes the message, rings, sleeps until B's reply rings back. */
static void guest_ping(uint64_t gpa)
{
	volatile struct ivc_msg *m = (void *)gpa;

	guest_put_text(m, ping_text);
	m->seq = 1;
	GUEST_ASSERT_EQ(guest_ring(gpa), 0);
	guest_wait_irqs(0, 1);
	GUEST_ASSERT_EQ(m->seq, 2);
	GUEST_ASSERT(guest_text_is(m, pong_text));
	/* Nothing else rang: our own ring did not come back to us. */
	guest_irq_window();
	GUEST_ASSERT_EQ(guest_irq_counts[0], 1);
}

/* VM B: sleeps until the doorbell, checks the message, replies, rings. */
static void guest_pong(uint64_t gpa)
{
	volatile struct ivc_msg *m = (void *)gpa;

	guest_wait_irqs(0, 1);
	GUEST_ASSERT_EQ(m->seq, 1);
	GUEST_ASSERT(guest_text_is(m, ping_text));
	guest_put_text(m, pong_text);
	m->seq = 2;
	GUEST_ASSERT_EQ(guest_ring(gpa), 0);
	guest_irq_window();
	GUEST_ASSERT_EQ(guest_irq_counts[0], 1);
}

/* ---------------------------------------------------------------- */
/* CREATE                                                            */
/* ---------------------------------------------------------------- */

TEST(create_picks_gpa_and_rounds_len)
{
	struct tvm *vm = vm_create_barebones();
	struct axvm_ivc io = { .len = 1 };
	char path[64], target[128];
	uint64_t gpa;
	ssize_t n;
	int fd, fd2, fd3;

	fd = ivc_create_io(vm, &io);
	ASSERT_LE(0, fd);
	ASSERT_EQ(fd, io.fd);
	ASSERT_EQ(IVC_BASE, io.gpa);
	ASSERT_EQ(SZ_4K, io.len);
	ASSERT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	ASSERT_LT(0, n);
	target[n] = 0;
	ASSERT_STREQ("anon_inode:axvm-ivc", target);
	ASSERT_EQ(1ULL, nr_regions(vm));

	/* The next one goes right after it; lengths round up to 4 KiB. */
	memset(&io, 0, sizeof(io));
	io.len = SZ_4K + 1;
	fd2 = ivc_create_io(vm, &io);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(IVC_BASE + SZ_4K, io.gpa);
	ASSERT_EQ(2 * SZ_4K, io.len);

	/* A hole left by DETACH is reused when the channel fits. */
	ASSERT_EQ(0, ivc_detach(vm, IVC_BASE));
	fd3 = __ivc_create(vm, 3 * SZ_4K, 0, 0, 0, &gpa);
	ASSERT_LE(0, fd3);
	ASSERT_EQ(IVC_BASE + 3 * SZ_4K, gpa);
	close(fd3);
	fd3 = __ivc_create(vm, SZ_4K, 0, 0, 0, &gpa);
	ASSERT_LE(0, fd3);
	ASSERT_EQ(IVC_BASE, gpa);

	close(fd);
	close(fd2);
	close(fd3);
	vm_free(vm);
}

TEST(create_errnos)
{
	struct tvm *vm = vm_create_guest();
	const uint64_t lim = gpa_limit();
	static const uint32_t bad_vectors[] = { 1, 2, 31, 256, 0xffffffff };
	struct axvm_ivc io;
	unsigned int i;
	int fd;

	memset(&io, 0, sizeof(io));
	io.len = SZ_4K;
	io.flags = 1;
	ASSERT_EQ(-EINVAL, ivc_create_io(vm, &io));
	for (i = 0; i < 2; i++) {
		memset(&io, 0, sizeof(io));
		io.len = SZ_4K;
		io.reserved[i] = 1;
		ASSERT_EQ(-EINVAL, ivc_create_io(vm, &io)) ITER("reserved[%u]", i);
	}
	memset(&io, 0, sizeof(io));
	io.len = SZ_4K;
	io.fd = 3;			/* output only */
	ASSERT_EQ(-EINVAL, ivc_create_io(vm, &io));

	ASSERT_EQ(-EINVAL, __ivc_create(vm, 0, 0, 0, 0, NULL));
	ASSERT_EQ(-E2BIG, __ivc_create(vm, IVC_MAX_LEN + 1, 0, 0, 0, NULL));
	ASSERT_EQ(-E2BIG, __ivc_create(vm, ~0ULL, 0, 0, 0, NULL));
	for (i = 0; i < ARRAY_SIZE(bad_vectors); i++)
		ASSERT_EQ(-EINVAL, __ivc_create(vm, SZ_4K, 0, bad_vectors[i],
						0, NULL))
			ITER("vector %u", bad_vectors[i]);
	/* A vCPU mask means nothing without a vector. */
	ASSERT_EQ(-EINVAL, __ivc_create(vm, SZ_4K, 0, 0, 1, NULL));

	ASSERT_EQ(-EDOM, __ivc_create(vm, SZ_4K, IVC_BASE + 8, 0, 0, NULL));
	ASSERT_EQ(-EDOM, __ivc_create(vm, SZ_4K, 1, 0, 0, NULL));
	/* Region 0 covers [0, 16 MiB). */
	ASSERT_EQ(-EEXIST, __ivc_create(vm, SZ_4K, SZ_1M, 0, 0, NULL));
	ASSERT_EQ(-EEXIST, __ivc_create(vm, 2 * SZ_4K,
					GUEST_MEM_SIZE - SZ_4K, 0, 0, NULL));
	ASSERT_EQ(-ERANGE, __ivc_create(vm, SZ_4K, lim, 0, 0, NULL));
	ASSERT_EQ(-ERANGE, __ivc_create(vm, 2 * SZ_4K, lim - SZ_4K, 0, 0,
					NULL));
	ASSERT_EQ(-ERANGE, __ivc_create(vm, SZ_4K, 1ULL << 63, 0, 0, NULL));
	ASSERT_EQ(1ULL, nr_regions(vm));

	/* The limits themselves are fine: 64 MiB, the last page. */
	fd = __ivc_create(vm, IVC_MAX_LEN, 0, 255, ~0ULL, NULL);
	ASSERT_LE(0, fd);
	close(fd);
	fd = __ivc_create(vm, SZ_4K, lim - SZ_4K, 32, 0, NULL);
	ASSERT_LE(0, fd);
	/* An explicit GPA on top of another channel. */
	ASSERT_EQ(-EEXIST, __ivc_create(vm, SZ_4K, lim - SZ_4K, 0, 0, NULL));
	close(fd);
	vm_free(vm);
}

TEST(create_header_rules)
{
	struct tvm *vm = vm_create_barebones();
	uint8_t buf[sizeof(struct axvm_ivc) + 16];
	struct axvm_ivc *io = (void *)buf, *io2;
	struct tvm *other;
	void *guard;
	int fd;

	memset(buf, 0, sizeof(buf));
	io->size = sizeof(*io) - 8;
	io->len = SZ_4K;
	ASSERT_EQ(-EINVAL, __vm_ioctl(vm, AXVM_IVC_CREATE, io));
	io->size = sizeof(buf);
	buf[sizeof(*io) + 3] = 1;
	ASSERT_EQ(-E2BIG, __vm_ioctl(vm, AXVM_IVC_CREATE, io));
	ASSERT_EQ(-E2BIG, __vm_ioctl(vm, AXVM_IVC_ATTACH, io));
	ASSERT_EQ(-E2BIG, __vm_ioctl(vm, AXVM_IVC_DETACH, io));
	buf[sizeof(*io) + 3] = 0;
	fd = __vm_ioctl(vm, AXVM_IVC_CREATE, io);
	ASSERT_LE(0, fd);
	ASSERT_EQ(IVC_BASE, io->gpa);
	ASSERT_EQ(sizeof(buf), io->size);
	close(fd);

	ASSERT_EQ(-EFAULT, __vm_ioctl(vm, AXVM_IVC_CREATE, unmapped_address()));
	ASSERT_EQ(-EFAULT, __vm_ioctl(vm, AXVM_IVC_ATTACH, unmapped_address()));
	ASSERT_EQ(-EFAULT, __vm_ioctl(vm, AXVM_IVC_DETACH, unmapped_address()));

	/* A struct that can be read but not written back: nothing stays. */
	guard = mmap(NULL, SZ_4K, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, guard);
	io = guard;
	io->size = sizeof(*io);
	io->len = SZ_4K;
	other = vm_create_barebones();
	fd = ivc_create(other, SZ_4K, 0, 0, NULL);
	io2 = (void *)((uint8_t *)guard + 256);
	io2->size = sizeof(*io2);
	io2->fd = fd;
	ASSERT_EQ(0, mprotect(guard, SZ_4K, PROT_READ));
	ASSERT_EQ(1U, nr_regions(vm));		/* the channel above */
	ASSERT_EQ(-EFAULT, __vm_ioctl(vm, AXVM_IVC_CREATE, io));
	ASSERT_EQ(1U, nr_regions(vm));
	ASSERT_EQ(-EFAULT, __vm_ioctl(vm, AXVM_IVC_ATTACH, io2));
	ASSERT_EQ(1U, nr_regions(vm));
	/* The GPA picked each time was mapped, then unmapped: free again. */
	ASSERT_EQ(IVC_BASE + SZ_4K, ivc_attach(vm, fd, 0, 0));
	close(fd);
	vm_free(other);
	munmap(guard, SZ_4K);
	vm_free(vm);
}

/* No fd left: nothing is mapped. */
TEST(create_emfile)
{
	struct tvm *vm = vm_create_barebones();
	struct rlimit old, lim;
	int probe, fd;

	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &old));
	probe = dup(0);		/* the lowest free fd: all below are open */
	ASSERT_LE(0, probe);
	close(probe);
	lim = old;
	lim.rlim_cur = probe;
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &lim));
	ASSERT_EQ(-EMFILE, __ivc_create(vm, SZ_4K, 0, 0, 0, NULL));
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &old));
	ASSERT_EQ(0U, nr_regions(vm));
	fd = ivc_create(vm, SZ_4K, 0, 0, NULL);
	close(fd);
	vm_free(vm);
}

TEST(create_in_every_live_state)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_guest();
	int fds[3], i = 0;

	vcpu = vm_guest_vcpu_add(vm, 0, guest_spin);
	fds[i++] = ivc_create(vm, SZ_4K, 0, 0, NULL);		/* LOADING */
	vm_finalize(vm);
	fds[i++] = ivc_create(vm, SZ_4K, 0, 0, NULL);		/* LOADED */
	vm_boot(vm);
	fds[i++] = ivc_create(vm, SZ_4K, 0, 0, NULL);		/* RUNNING */
	ASSERT_EQ(4ULL, nr_regions(vm));
	ASSERT_EQ(0, axvm_vm_shutdown(&vm->vm));
	ASSERT_STATE(vm, AXVM_VM_STOPPED);
	ASSERT_EQ(-EBUSY, __ivc_create(vm, SZ_4K, 0, 0, 0, NULL));
	ASSERT_EQ(-EBUSY, __ivc_attach(vm, fds[0], GPA_B, 0, 0, NULL, NULL));
	/* DETACH works in any state. */
	ASSERT_EQ(0, ivc_detach(vm, IVC_BASE));
	for (i = 0; i < 3; i++)
		close(fds[i]);
	(void)vcpu;
	vm_free(vm);
}

/* Each channel is a region: the 65th region is refused. */
TEST(region_limit)
{
	struct tvm *vm = vm_create_barebones(), *other;
	int fds[64], i, fd2;

	for (i = 0; i < 64; i++) {
		fds[i] = __ivc_create(vm, SZ_4K, 0, 0, 0, NULL);
		ASSERT_LE(0, fds[i]) ITER("channel %d", i);
	}
	ASSERT_EQ(-ENOSPC, __ivc_create(vm, SZ_4K, 0, 0, 0, NULL));
	ASSERT_EQ(-ENOSPC, __vm_add_region(vm, 0, SZ_4K, RW, NULL));
	/* The same for ATTACH of a channel from another VM. */
	other = vm_create_barebones();
	fd2 = ivc_create(other, SZ_4K, 0, 0, NULL);
	ASSERT_EQ(-ENOSPC, __ivc_attach(vm, fd2, 0, 0, 0, NULL, NULL));
	close(fd2);
	vm_free(other);
	ASSERT_EQ(0, ivc_detach(vm, IVC_BASE + 5 * SZ_4K));
	fd2 = __ivc_create(vm, SZ_4K, 0, 0, 0, NULL);
	ASSERT_LE(0, fd2);
	for (i = 0; i < 64; i++)
		close(fds[i]);
	close(fd2);
	vm_free(vm);
}

/* ---------------------------------------------------------------- */
/* GPA picking                                                       */
/* ---------------------------------------------------------------- */

TEST(pick_skips_regions)
{
	struct tvm *vm = vm_create_barebones();
	uint64_t gpa;
	int fd1, fd2, fd3;

	/* [base, +4K) free, [base+4K, base+8K) RAM, then free. */
	vm_add_region(vm, IVC_BASE + SZ_4K, SZ_4K, RW);
	fd1 = ivc_create(vm, 2 * SZ_4K, 0, 0, &gpa);
	ASSERT_EQ(IVC_BASE + 2 * SZ_4K, gpa);	/* the hole is too small */
	fd2 = ivc_create(vm, SZ_4K, 0, 0, &gpa);
	ASSERT_EQ(IVC_BASE, gpa);		/* this one fits in it */
	fd3 = ivc_create(vm, SZ_4K, 0, 0, &gpa);
	ASSERT_EQ(IVC_BASE + 4 * SZ_4K, gpa);
	/* Below the default base only when asked. */
	close(fd3);
	fd3 = ivc_create(vm, SZ_4K, SZ_4K, 0, &gpa);
	ASSERT_EQ(SZ_4K, gpa);
	close(fd1);
	close(fd2);
	close(fd3);
	vm_free(vm);
}

TEST(pick_enospc_when_full)
{
	struct tvm *vm = vm_create_barebones();
	const uint64_t lim = gpa_limit();
	uint64_t gpa;
	int fd;

	/* Lazy memory from the default base to the limit, less 8 KiB. */
	vm_add_region(vm, IVC_BASE, lim - IVC_BASE - 2 * SZ_4K,
		      RW | AXVM_MEM_LAZY);
	ASSERT_EQ(-ENOSPC, __ivc_create(vm, 3 * SZ_4K, 0, 0, 0, NULL));
	fd = ivc_create(vm, 2 * SZ_4K, 0, 0, &gpa);
	ASSERT_EQ(lim - 2 * SZ_4K, gpa);
	ASSERT_EQ(-ENOSPC, __ivc_create(vm, SZ_4K, 0, 0, 0, NULL));
	close(fd);
	vm_free(vm);
}

/* The memmap=16M$0x30000000 carve-out of the test VM (scripts/testvm). */
#define CARVEOUT_HPA	0x30000000ULL

TEST(pick_skips_passthrough)
{
	struct tvm *vm = vm_create_barebones();
	struct axvm_passthrough pt = {
		.size = sizeof(pt), .flags = AXVM_PT_RESERVED_MEM,
		.gpa = IVC_BASE + SZ_4K, .hpa = CARVEOUT_HPA, .len = 3 * SZ_4K,
	};
	uint64_t gpa;
	int r, fd1, fd2;

	r = __vm_ioctl(vm, AXVM_ADD_PASSTHROUGH, &pt);
	if (r) {
		vm_free(vm);
		SKIP(return, "reserved-memory passthrough unavailable: %s",
		     strerror(-r));
	}
	/* [base, +4K) free, then 12 KiB of passthrough. */
	fd1 = ivc_create(vm, 2 * SZ_4K, 0, 0, &gpa);
	ASSERT_EQ(IVC_BASE + 4 * SZ_4K, gpa);
	fd2 = ivc_create(vm, SZ_4K, 0, 0, &gpa);
	ASSERT_EQ(IVC_BASE, gpa);
	ASSERT_EQ(-EEXIST, __ivc_create(vm, SZ_4K, IVC_BASE + 2 * SZ_4K, 0, 0,
					NULL));
	close(fd1);
	close(fd2);
	vm_free(vm);
}

/* ---------------------------------------------------------------- */
/* ATTACH, DETACH, shared memory                                     */
/* ---------------------------------------------------------------- */

TEST(attach_shares_memory)
{
	struct tvm *a = vm_create_barebones(), *b = vm_create_barebones();
	uint64_t gpa_a, gpa_b, len = 0, v;
	uint8_t *p;
	int fd;

	fd = ivc_create(a, 3 * SZ_4K, 0, VEC_A, &gpa_a);
	ASSERT_EQ(0, __ivc_attach(b, fd, GPA_B, VEC_B, 0, &gpa_b, &len));
	ASSERT_EQ(GPA_B, gpa_b);
	ASSERT_EQ(3 * SZ_4K, len);
	/* Fresh channels are zeroed. */
	ASSERT_EQ(0ULL, vm_read_u64(b, gpa_b + 2 * SZ_4K + 8));

	vm_write_u64(a, gpa_a + 0x1ff8, 0x1122334455667788ULL);
	ASSERT_EQ(0x1122334455667788ULL, vm_read_u64(b, gpa_b + 0x1ff8));
	vm_write_u64(b, gpa_b + 8, 0xabcdef);
	ASSERT_EQ(0xabcdefULL, vm_read_u64(a, gpa_a + 8));

	/* The host sees the same memory through the channel fd... */
	p = map_channel(fd, 3 * SZ_4K);
	memcpy(&v, p + 0x1ff8, 8);
	ASSERT_EQ(0x1122334455667788ULL, v);
	p[0x2000] = 0x5a;
	ASSERT_EQ(0x5aULL, vm_read_u64(a, gpa_a + 0x2000));
	munmap(p, 3 * SZ_4K);
	/* ...and through mmap() of a VM fd at the channel's GPA. */
	p = mmap(NULL, 3 * SZ_4K, PROT_READ | PROT_WRITE, MAP_SHARED,
		 b->vm.fd, gpa_b);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0x5a, p[0x2000]);
	munmap(p, 3 * SZ_4K);

	/* A third VM, picking its GPA. */
	{
		struct tvm *c = vm_create_barebones();
		uint64_t gpa_c = ivc_attach(c, fd, 0, 0);

		ASSERT_EQ(IVC_BASE, gpa_c);
		ASSERT_EQ(0xabcdefULL, vm_read_u64(c, gpa_c + 8));
		vm_free(c);
	}
	close(fd);
	vm_free(a);
	vm_free(b);
}

TEST(attach_errnos)
{
	struct tvm *a = vm_create_barebones(), *b = vm_create_guest();
	struct tvcpu *vcpu = vm_vcpu_add(b, 0);
	struct axvm_ivc io;
	int fd, null_fd, r;

	fd = ivc_create(a, SZ_4K, 0, 0, NULL);
	null_fd = open("/dev/null", O_RDWR);
	ASSERT_LE(0, null_fd);

	/* Not an IVC channel fd. */
	ASSERT_EQ(-EBADF, __ivc_attach(b, -1, 0, 0, 0, NULL, NULL));
	ASSERT_EQ(-EBADF, __ivc_attach(b, 100000, 0, 0, 0, NULL, NULL));
	ASSERT_EQ(-EBADF, __ivc_attach(b, null_fd, 0, 0, 0, NULL, NULL));
	ASSERT_EQ(-EBADF, __ivc_attach(b, a->vm.fd, 0, 0, 0, NULL, NULL));
	ASSERT_EQ(-EBADF, __ivc_attach(b, a->vm.sys_fd, 0, 0, 0, NULL, NULL));
	ASSERT_EQ(-EBADF, __ivc_attach(b, vcpu->v.fd, 0, 0, 0, NULL, NULL));

	memset(&io, 0, sizeof(io));
	io.size = sizeof(io);
	io.fd = fd;
	io.flags = 1;
	ASSERT_EQ(-EINVAL, __vm_ioctl(b, AXVM_IVC_ATTACH, &io));
	io.flags = 0;
	io.reserved[1] = 1;
	ASSERT_EQ(-EINVAL, __vm_ioctl(b, AXVM_IVC_ATTACH, &io));
	io.reserved[1] = 0;
	io.len = SZ_4K;			/* output only */
	ASSERT_EQ(-EINVAL, __vm_ioctl(b, AXVM_IVC_ATTACH, &io));
	ASSERT_EQ(-EINVAL, __ivc_attach(b, fd, 0, 16, 0, NULL, NULL));
	ASSERT_EQ(-EINVAL, __ivc_attach(b, fd, 0, 300, 0, NULL, NULL));
	ASSERT_EQ(-EINVAL, __ivc_attach(b, fd, 0, 0, 2, NULL, NULL));
	ASSERT_EQ(-EDOM, __ivc_attach(b, fd, GPA_B + 0x800, 0, 0, NULL, NULL));
	ASSERT_EQ(-EEXIST, __ivc_attach(b, fd, SZ_1M, 0, 0, NULL, NULL));
	ASSERT_EQ(-ERANGE, __ivc_attach(b, fd, gpa_limit(), 0, 0, NULL, NULL));
	ASSERT_EQ(1ULL, nr_regions(b));

	/* Once per VM: neither B twice nor the creator again. */
	ivc_attach(b, fd, GPA_B, VEC_B);
	ASSERT_EQ(-EEXIST, __ivc_attach(b, fd, GPA_B + SZ_4K, 0, 0, NULL,
					NULL));
	ASSERT_EQ(-EEXIST, __ivc_attach(b, fd, 0, 0, 0, NULL, NULL));
	ASSERT_EQ(-EEXIST, __ivc_attach(a, fd, GPA_B, 0, 0, NULL, NULL));
	/* The GPA is taken by the channel itself for another one. */
	r = ivc_create(a, SZ_4K, 0, 0, NULL);
	ASSERT_EQ(-EEXIST, __ivc_attach(b, r, GPA_B, 0, 0, NULL, NULL));
	close(r);
	ASSERT_EQ(2ULL, nr_regions(b));

	ASSERT_EQ(0, axvm_vm_shutdown(&b->vm));
	ASSERT_EQ(0, ivc_detach(b, GPA_B));
	ASSERT_EQ(-EBUSY, __ivc_attach(b, fd, GPA_B, 0, 0, NULL, NULL));

	close(null_fd);
	close(fd);
	vm_free(a);
	vm_free(b);
}

TEST(detach_errnos)
{
	struct tvm *a = vm_create_guest();
	struct axvm_ivc io;
	uint64_t gpa;
	int fd;

	fd = ivc_create(a, 2 * SZ_4K, 0, 0, &gpa);
	ASSERT_EQ(-ENOENT, ivc_detach(a, 0));		/* RAM, not a channel */
	ASSERT_EQ(-ENOENT, ivc_detach(a, GPA_B));	/* nothing */
	ASSERT_EQ(-ENOENT, ivc_detach(a, gpa + SZ_4K));	/* not its start */
	ASSERT_EQ(-EDOM, ivc_detach(a, gpa + 8));
	memset(&io, 0, sizeof(io));
	io.size = sizeof(io);
	io.gpa = gpa;
	io.len = 2 * SZ_4K;
	ASSERT_EQ(-EINVAL, __vm_ioctl(a, AXVM_IVC_DETACH, &io));
	io.len = 0;
	io.fd = fd;
	ASSERT_EQ(-EINVAL, __vm_ioctl(a, AXVM_IVC_DETACH, &io));
	io.fd = 0;
	io.vector = VEC_A;
	ASSERT_EQ(-EINVAL, __vm_ioctl(a, AXVM_IVC_DETACH, &io));
	io.vector = 0;
	io.vcpu_mask = 1;
	ASSERT_EQ(-EINVAL, __vm_ioctl(a, AXVM_IVC_DETACH, &io));
	io.vcpu_mask = 0;
	io.flags = 1;
	ASSERT_EQ(-EINVAL, __vm_ioctl(a, AXVM_IVC_DETACH, &io));
	io.flags = 0;
	io.reserved[0] = 1;
	ASSERT_EQ(-EINVAL, __vm_ioctl(a, AXVM_IVC_DETACH, &io));
	ASSERT_EQ(2ULL, nr_regions(a));

	ASSERT_EQ(0, ivc_detach(a, gpa));
	ASSERT_EQ(1ULL, nr_regions(a));
	ASSERT_EQ(-ENOENT, ivc_detach(a, gpa));
	/* Region 0 is untouched by all this. */
	vm_write_u64(a, SZ_1M, 42);
	ASSERT_EQ(42ULL, vm_read_u64(a, SZ_1M));
	close(fd);
	vm_free(a);
}

TEST(detach_and_attach_again)
{
	struct tvm *a = vm_create_barebones();
	uint64_t gpa;
	int fd;

	fd = ivc_create(a, SZ_4K, 0, 0, &gpa);
	vm_write_u64(a, gpa, 0x600dda7a);
	ASSERT_EQ(0, ivc_detach(a, gpa));
	ASSERT_EQ(-EFAULT, axvm_vm_read(&a->vm, gpa, &gpa, 8));
	/* The fd keeps the memory: the creator can map it again. */
	ASSERT_EQ(GPA_B, ivc_attach(a, fd, GPA_B, 0));
	ASSERT_EQ(0x600dda7aULL, vm_read_u64(a, GPA_B));
	close(fd);
	vm_free(a);
}

TEST(channel_fd)
{
	struct tvm *a = vm_create_barebones();
	uint8_t buf[64];
	void *p;
	int fd;

	fd = ivc_create(a, 2 * SZ_4K, 0, 0, NULL);
	/* Nothing else is an ioctl of a channel fd. */
	memset(buf, 0, sizeof(buf));
	ASSERT_EQ(-ENOTTY, __test_ioctl(fd, AXVM_GET_VM_STATUS, buf));
	ASSERT_EQ(-ENOTTY, __test_ioctl(fd, AXVM_IVC_CREATE, buf));
	ASSERT_EQ(-ENOTTY, __test_ioctl(fd, AXVM_RUN, NULL));
	ASSERT_EQ(-ENOTTY, __test_ioctl(fd, AXVM_GET_API_VERSION, NULL));
	/* ...nor a ring of any other fd. */
	ASSERT_EQ(-ENOTTY, __test_ioctl(a->vm.fd, AXVM_IVC_RING, NULL));
	ASSERT_EQ(-ENOTTY, __test_ioctl(a->vm.sys_fd, AXVM_IVC_RING, NULL));
	/* Ringing with nobody to ring is fine. */
	ASSERT_EQ(0, ivc_ring(fd));

	/* mmap(): shared only, inside the channel. */
	p = mmap(NULL, SZ_4K, PROT_READ, MAP_PRIVATE, fd, 0);
	ASSERT_EQ(MAP_FAILED, p);
	p = mmap(NULL, 3 * SZ_4K, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_EQ(MAP_FAILED, p);
	p = mmap(NULL, SZ_4K, PROT_READ, MAP_SHARED, fd, 2 * SZ_4K);
	ASSERT_EQ(MAP_FAILED, p);
	p = mmap(NULL, SZ_4K, PROT_READ | PROT_WRITE, MAP_SHARED, fd, SZ_4K);
	ASSERT_NE(MAP_FAILED, p);
	*(volatile uint64_t *)p = 77;
	ASSERT_EQ(77ULL, vm_read_u64(a, IVC_BASE + SZ_4K));
	munmap(p, SZ_4K);
	close(fd);
	vm_free(a);
}

/* ---------------------------------------------------------------- */
/* The doorbell                                                      */
/* ---------------------------------------------------------------- */

/*
 * The test: VM A writes a message and rings; VM B, asleep in HLT
 * with interrupts enabled, wakes on its doorbell vector, reads it,
 * replies and rings back; A wakes and checks the reply. Neither hears
 * its own ring. B attaches while running, at a GPA of its choosing.
 */
TEST(ping_pong)
{
	struct tvcpu *va, *vb;
	struct tvm *a, *b;
	struct runner r[2];
	int fd;

	a = guest_vm(guest_ping, IVC_BASE, VEC_A, &va);
	b = guest_vm(guest_pong, GPA_B, VEC_B, &vb);
	fd = ivc_create(a, SZ_4K, 0, VEC_A, NULL);
	vm_start(b);
	runner_start(&r[1], vb);
	/* B is asleep in HLT before it even has the channel. */
	ASSERT_TRUE(wait_hlt_block(vb));
	ASSERT_EQ(GPA_B, ivc_attach(b, fd, GPA_B, VEC_B));
	vm_start(a);
	runner_start(&r[0], va);
	runners_join(r, 2);

	ASSERT_EQ(1ULL, vcpu_stat(va, AXVM_STAT_IVC_RING));
	ASSERT_EQ(1ULL, vcpu_stat(vb, AXVM_STAT_IVC_RING));
	ASSERT_LE(1ULL, vcpu_stat(vb, AXVM_STAT_HLT_BLOCK));
	ASSERT_EQ(1ULL, guest_irqs(a, 0));
	ASSERT_EQ(1ULL, guest_irqs(b, 0));
	ASSERT_EQ(2ULL, vm_read_u64(a, IVC_BASE));
	close(fd);
	vm_free(a);
	vm_free(b);
}

/* Many round trips in a row, each side sleeping between them. */
static void guest_ping_many(uint64_t gpa)
{
	volatile struct ivc_msg *m = (void *)gpa;
	uint64_t i;

	for (i = 1; i <= 50; i++) {
		m->seq = 2 * i - 1;
		GUEST_ASSERT_EQ(guest_ring(gpa), 0);
		guest_wait_irqs(0, i);
		GUEST_ASSERT_EQ(m->seq, 2 * i);
	}
}

static void guest_pong_many(uint64_t gpa)
{
	volatile struct ivc_msg *m = (void *)gpa;
	uint64_t i;

	for (i = 1; i <= 50; i++) {
		guest_wait_irqs(0, i);
		GUEST_ASSERT_EQ(m->seq, 2 * i - 1);
		m->seq = 2 * i;
		GUEST_ASSERT_EQ(guest_ring(gpa), 0);
	}
}

TEST(ping_pong_many)
{
	struct tvcpu *va, *vb;
	struct tvm *a, *b;
	struct runner r[2];
	int fd;

	a = guest_vm(guest_ping_many, IVC_BASE, VEC_A, &va);
	b = guest_vm(guest_pong_many, IVC_BASE, VEC_B, &vb);
	fd = ivc_create(a, SZ_4K, 0, VEC_A, NULL);
	ivc_attach(b, fd, 0, VEC_B);
	vm_start(a);
	vm_start(b);
	runner_start(&r[1], vb);
	runner_start(&r[0], va);
	runners_join(r, 2);
	ASSERT_EQ(50ULL, vcpu_stat(va, AXVM_STAT_IVC_RING));
	ASSERT_EQ(50ULL, vcpu_stat(vb, AXVM_STAT_IVC_RING));
	ASSERT_EQ(100ULL, vm_read_u64(a, IVC_BASE));
	close(fd);
	vm_free(a);
	vm_free(b);
}

/* Sleeps until `n` doorbells; there are no more than that. */
static void guest_sleeper(uint64_t n)
{
	guest_wait_irqs(0, n);
	guest_irq_window();
	GUEST_ASSERT_EQ(guest_irq_counts[0], n);
}

/* AXVM_IVC_RING on the fd rings every attached VM, the creator too. */
TEST(ring_from_fd)
{
	struct tvcpu *va, *vb;
	struct tvm *a, *b, *c;
	struct runner r[2];
	int fd, i;

	a = guest_vm(guest_sleeper, 2, VEC_A, &va);
	b = guest_vm(guest_sleeper, 2, VEC_B, &vb);
	c = vm_create_barebones();		/* no vector: not rung */
	fd = ivc_create(a, SZ_4K, 0, VEC_A, NULL);
	ivc_attach(b, fd, 0, VEC_B);
	ivc_attach(c, fd, 0, 0);
	vm_start(a);
	vm_start(b);
	/* One ring before anybody runs: it waits for them. */
	ASSERT_EQ(0, ivc_ring(fd));
	runner_start(&r[0], va);
	runner_start(&r[1], vb);
	/* Both took it (a second ring now would merge with a pending one). */
	for (i = 0; i < 2; i++) {
		struct tvm *vm = i ? b : a;
		uint64_t deadline = now_ns() + 10000000000ULL;

		while (guest_irqs(vm, 0) < 1) {
			ASSERT_GT(deadline, now_ns()) TH_LOG("VM %d: no doorbell", i);
			usleep(1000);
		}
	}
	/* The second one wakes them from HLT. */
	ASSERT_EQ(0, ivc_ring(fd));
	runners_join(r, 2);
	vm_free(c);
	close(fd);
	vm_free(a);
	vm_free(b);
}

/* A vCPU that only opens an interrupt window and reports its count. */
static void guest_window(void)
{
	guest_irq_window();
	GUEST_SYNC(guest_irq_counts[0]);
}

static void guest_sleeper_mask(uint64_t id)
{
	guest_wait_irqs(id, 1);
	guest_irq_window();
	GUEST_ASSERT_EQ(guest_irq_counts[id], 1);
}

/* The doorbell goes to the vCPUs of the mask, and only to them. */
TEST(ring_vcpu_mask)
{
	struct tvcpu *v[3];
	struct tvm *a = vm_create_barebones(), *b = vm_create_guest();
	struct runner r[2];
	int fd, i;

	for (i = 0; i < 3; i++) {
		v[i] = vm_guest_vcpu_add(b, i, i ? (void *)guest_sleeper_mask :
					 (void *)guest_window);
		vcpu_set_arg(v[i], i);
	}
	set_irq_handler(b, VEC_B);
	fd = ivc_create(a, SZ_4K, 0, 0, NULL);
	ASSERT_EQ(0, __ivc_attach(b, fd, 0, VEC_B, 0x6, NULL, NULL));
	vm_start(b);
	runner_start(&r[0], v[1]);
	runner_start(&r[1], v[2]);
	ASSERT_TRUE(vm_wait_nr_running(b, 2, 10000));
	ASSERT_EQ(0, ivc_ring(fd));
	runners_join(r, 2);
	ASSERT_EQ(1ULL, guest_irqs(b, 1));
	ASSERT_EQ(1ULL, guest_irqs(b, 2));
	/* vCPU 0 had nothing pending. */
	vcpu_run_sync(v[0], 0);
	vcpu_run_done(v[0]);
	close(fd);
	vm_free(a);
	vm_free(b);
}

static void guest_ring_codes(uint64_t gpa)
{
	/* Not a channel: RAM, nothing, just past the end. */
	GUEST_ASSERT_EQ(guest_ring(SZ_1M), (uint64_t)-ENOENT);
	GUEST_ASSERT_EQ(guest_ring(0x40000000), (uint64_t)-ENOENT);
	GUEST_ASSERT_EQ(guest_ring(gpa + 2 * SZ_4K), (uint64_t)-ENOENT);
	/* Any address inside the channel names it. */
	GUEST_ASSERT_EQ(guest_ring(gpa + 0x1234), 0);
	GUEST_ASSERT_EQ(guest_ring(gpa), 0);
	GUEST_SYNC(1);
	/* Detached by the host meanwhile. */
	GUEST_ASSERT_EQ(guest_ring(gpa), (uint64_t)-ENOENT);
}

/* Hypercall return values; the ring never leaves the kernel. */
TEST(hypercall_results)
{
	struct tvcpu *vcpu;
	struct tvm *a;
	int fd;

	a = guest_vm(guest_ring_codes, IVC_BASE, 0, &vcpu);
	fd = ivc_create(a, 2 * SZ_4K, 0, 0, NULL);
	vm_start(a);
	vcpu_run_sync(vcpu, 1);
	ASSERT_EQ(5ULL, vcpu_stat(vcpu, AXVM_STAT_IVC_RING));
	ASSERT_EQ(0ULL, vcpu_stat(vcpu, AXVM_STAT_USER_HYPERCALL));
	ASSERT_EQ(0, ivc_detach(a, IVC_BASE));
	vcpu_run_done(vcpu);
	ASSERT_EQ(6ULL, vcpu_stat(vcpu, AXVM_STAT_IVC_RING));
	ASSERT_EQ(0ULL, vcpu_stat(vcpu, AXVM_STAT_USER_HYPERCALL));
	close(fd);
	vm_free(a);
}

/* Other hypercall numbers still go to userspace. */
static void guest_other_hypercall(void)
{
	GUEST_ASSERT_EQ(vmmcall(AXVM_HC_IVC_RING + 1, 0, 0, 0, 0), 0x99);
}

TEST(other_hypercalls_exit)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_other_hypercall);

	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_HYPERCALL);
	ASSERT_EQ(AXVM_HC_IVC_RING + 1, vcpu->v.run->hypercall.nr);
	vcpu->v.run->hypercall.ret = 0x99;
	vcpu_run_done(vcpu);
	vm_free(vm);
}

/* A ring to a VM that is stopped is dropped, not an error. */
TEST(ring_stopped_peer)
{
	struct tvm *a = vm_create_barebones(), *b = vm_create_barebones();
	int fd;

	vm_vcpu_add(b, 0);
	fd = ivc_create(a, SZ_4K, 0, VEC_A, NULL);
	ivc_attach(b, fd, 0, VEC_B);
	vm_start(b);
	ASSERT_EQ(0, axvm_vm_shutdown(&b->vm));
	ASSERT_STATE(b, AXVM_VM_STOPPED);
	ASSERT_EQ(0, ivc_ring(fd));
	close(fd);
	vm_free(a);
	vm_free(b);
}

/* ---------------------------------------------------------------- */
/* DETACH as the guest sees it, permissions                          */
/* ---------------------------------------------------------------- */

static void guest_read_detached(uint64_t gpa)
{
	GUEST_SYNC(guest_read64(gpa));
	/* Detached now: an MMIO read, then an MMIO write. */
	GUEST_SYNC(guest_read64(gpa + 8));
	guest_write64(gpa + 16, 0xfeedface);
}

TEST(detach_makes_mmio)
{
	struct tvcpu *vb;
	struct tvm *a = vm_create_barebones(), *b;
	struct axvm_run *run;
	struct ucall uc;
	int fd;

	b = guest_vm(guest_read_detached, GPA_B, 0, &vb);
	run = vb->v.run;
	fd = ivc_create(a, SZ_4K, 0, 0, NULL);
	ivc_attach(b, fd, GPA_B, 0);
	vm_write_u64(a, IVC_BASE, 0xc0ffee);
	vm_start(b);
	vcpu_run_sync(vb, 0xc0ffee);
	ASSERT_EQ(0, ivc_detach(b, GPA_B));
	ASSERT_EQ(0ULL, nr_regions(b) - 1);

	vcpu_run(vb);
	ASSERT_EXIT(vb, AXVM_EXIT_MMIO);
	ASSERT_EQ(GPA_B + 8, run->mmio.gpa);
	ASSERT_EQ(0, run->mmio.is_write);
	ASSERT_EQ(8, run->mmio.width);
	run->mmio.data = 0x1d1d1d1d;
	vcpu_run_sync_uc(vb, &uc);
	ASSERT_EQ(0x1d1d1d1dULL, uc.args[0]);
	vcpu_run(vb);
	ASSERT_EXIT(vb, AXVM_EXIT_MMIO);
	ASSERT_EQ(GPA_B + 16, run->mmio.gpa);
	ASSERT_EQ(1, run->mmio.is_write);
	ASSERT_EQ(0xfeedface, run->mmio.data);
	vcpu_run_done(vb);
	/* The channel itself did not change. */
	ASSERT_EQ(0xc0ffeeULL, vm_read_u64(a, IVC_BASE));
	ASSERT_EQ(0ULL, vm_read_u64(a, IVC_BASE + 16));
	close(fd);
	vm_free(a);
	vm_free(b);
}

static void guest_exec_channel(uint64_t gpa)
{
	GUEST_SYNC(1);
	((void (*)(void))(uintptr_t)gpa)();
}

TEST(channel_not_executable)
{
	struct tvcpu *vcpu;
	struct tvm *vm;
	uint8_t ret = 0xc3;
	int fd;

	vm = guest_vm(guest_exec_channel, IVC_BASE, 0, &vcpu);
	fd = ivc_create(vm, SZ_4K, 0, 0, NULL);
	vm_write(vm, IVC_BASE, &ret, 1);	/* a RET to fetch */
	vm_start(vm);
	vcpu_run_sync(vcpu, 1);
	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_INTERNAL_ERROR);
	ASSERT_EQ((uint32_t)AXVM_INTERNAL_EXEC_FAULT, vcpu->v.run->internal.suberror);
	ASSERT_EQ(IVC_BASE, vcpu->v.run->internal.data[0]);
	close(fd);
	vm_free(vm);
}

/* ---------------------------------------------------------------- */
/* Lifetime                                                          */
/* ---------------------------------------------------------------- */

/* Closing the channel fd leaves the mappings working, doorbell too. */
TEST(close_fd_first)
{
	struct tvcpu *va, *vb;
	struct tvm *a, *b;
	struct runner r[2];
	int fd;

	a = guest_vm(guest_ping, IVC_BASE, VEC_A, &va);
	b = guest_vm(guest_pong, GPA_B, VEC_B, &vb);
	fd = ivc_create(a, SZ_4K, 0, VEC_A, NULL);
	ivc_attach(b, fd, GPA_B, VEC_B);
	close(fd);
	vm_start(a);
	vm_start(b);
	runner_start(&r[1], vb);
	runner_start(&r[0], va);
	runners_join(r, 2);
	ASSERT_EQ(2ULL, vm_read_u64(b, GPA_B));
	/* The creator can go first too. */
	vm_free(a);
	vm_write_u64(b, GPA_B + 8, 9);
	ASSERT_EQ(9ULL, vm_read_u64(b, GPA_B + 8));
	vm_free(b);
}

/* The VMs go first: the channel fd still has the memory. */
TEST(close_vms_first)
{
	struct tvm *a = vm_create_barebones(), *b = vm_create_barebones();
	struct tvm *c;
	uint64_t *p, gpa;
	int fd;

	fd = ivc_create(a, 2 * SZ_4K, 0, VEC_A, NULL);
	ivc_attach(b, fd, 0, VEC_B);
	vm_write_u64(b, IVC_BASE + SZ_4K, 0x5eed);
	p = map_channel(fd, 2 * SZ_4K);
	vm_free(a);
	vm_free(b);
	ASSERT_EQ(0x5eedULL, p[SZ_4K / 8]);
	ASSERT_EQ(0, ivc_ring(fd));
	c = vm_create_barebones();
	gpa = ivc_attach(c, fd, 0, 0);
	ASSERT_EQ(0x5eedULL, vm_read_u64(c, gpa + SZ_4K));
	vm_free(c);
	close(fd);
	/* The mmap() holds the last reference now. */
	p[0] = 1;
	ASSERT_EQ(0x5eedULL, p[SZ_4K / 8]);
	munmap(p, 2 * SZ_4K);
}

/* A RESET without KEEP_MEMORY leaves shared memory alone. */
TEST(reset_keeps_channel)
{
	struct tvm *a = vm_create_barebones(), *b = vm_create_barebones();
	struct axvm_reset reset = { .size = sizeof(reset) };
	uint64_t gpa;
	int fd;

	fd = ivc_create(a, SZ_4K, 0, 0, &gpa);
	ivc_attach(b, fd, GPA_B, 0);
	vm_write_u64(a, gpa, 0xa5a5);
	vm_start(a);
	ASSERT_EQ(0, axvm_vm_shutdown(&a->vm));
	ASSERT_EQ(0, __vm_ioctl(a, AXVM_RESET, &reset));
	ASSERT_STATE(a, AXVM_VM_LOADED);
	ASSERT_EQ(0xa5a5ULL, vm_read_u64(a, gpa));
	ASSERT_EQ(0xa5a5ULL, vm_read_u64(b, GPA_B));
	close(fd);
	vm_free(a);
	vm_free(b);
}

/*
 * The memory goes with the last user: not when the fd closes while a VM
 * has it, not when the creator goes while another VM has it.
 */
TEST(memory_freed_with_last_user)
{
	const int64_t len_kb = 32 * 1024, slack_kb = 6 * 1024;
	struct tvm *a = vm_create_barebones(), *b = vm_create_barebones();
	int64_t m0, m1, m2, m3;
	int fd;

	m0 = free_kb();
	fd = ivc_create(a, len_kb * 1024, 0, 0, NULL);
	m1 = free_kb();
	TH_LOG("a 32 MiB channel: free memory %+lld KiB", (long long)(m1 - m0));
	ASSERT_LE(len_kb - slack_kb, m0 - m1);
	ivc_attach(b, fd, 0, 0);
	close(fd);
	vm_free(a);
	m2 = free_kb();
	TH_LOG("fd and creator gone: free memory %+lld KiB",
	       (long long)(m2 - m1));
	ASSERT_GT(slack_kb, m2 - m1);
	vm_free(b);
	m3 = free_kb();
	TH_LOG("last VM gone: free memory %+lld KiB", (long long)(m3 - m2));
	ASSERT_LE(len_kb - slack_kb, m3 - m2);
}

/* One create/attach/ring/teardown cycle, in one of four orders. */
static void ivc_cycle(int order)
{
	struct tvm *a = vm_create_barebones(), *b = vm_create_barebones();
	uint64_t gpa_a, gpa_b;
	int fd;

	fd = ivc_create(a, 256 * 1024, 0, VEC_A, &gpa_a);
	gpa_b = ivc_attach(b, fd, 0, VEC_B);
	vm_write_u64(a, gpa_a + 4096, order);
	TEST_ASSERT(vm_read_u64(b, gpa_b + 4096) == (uint64_t)order,
		    "memory not shared");
	TEST_ASSERT(!ivc_ring(fd), "RING failed");
	switch (order) {
	case 0:			/* fd, creator, peer */
		close(fd);
		vm_free(a);
		vm_free(b);
		break;
	case 1:			/* creator, peer, fd */
		vm_free(a);
		vm_free(b);
		close(fd);
		break;
	case 2:			/* peer, fd, creator */
		vm_free(b);
		close(fd);
		vm_free(a);
		break;
	default:		/* explicit detaches first */
		TEST_ASSERT(!ivc_detach(b, gpa_b), "DETACH b");
		TEST_ASSERT(!ivc_detach(a, gpa_a), "DETACH a");
		close(fd);
		vm_free(b);
		vm_free(a);
		break;
	}
}

FIXTURE(slow) {
};

FIXTURE_SETUP(slow)
{
}

FIXTURE_TEARDOWN(slow)
{
}

TEST_F_TIMEOUT(slow, cycles_do_not_leak, 180)
{
	const int64_t slack_kb = 2048;
	const int cycles = 400;	/* 100 MiB of channels if they leaked */
	int64_t m0, m1, m2;
	int i;

	for (i = 0; i < 40; i++)	/* warm-up: slabs, per-CPU lists */
		ivc_cycle(i & 3);
	m0 = free_kb();
	for (i = 0; i < cycles; i++)
		ivc_cycle(i & 3);
	m1 = free_kb();
	TH_LOG("%d cycles: free memory %+lld KiB", cycles,
	       (long long)(m1 - m0));
	if (m0 - m1 <= slack_kb)
		return;
	/* Noise does not repeat, a leak does. */
	for (i = 0; i < cycles; i++)
		ivc_cycle(i & 3);
	m2 = free_kb();
	TH_LOG("%d more cycles: free memory %+lld KiB", cycles,
	       (long long)(m2 - m1));
	ASSERT_GE(slack_kb, m1 - m2);
}

/*
 * A guest rings in a loop while peers attach, detach and are destroyed
 * under it: rings never touch a peer that is going away.
 */
static void guest_ring_until_stop(uint64_t gpa)
{
	volatile uint64_t *stop = (void *)(gpa + 8);
	uint64_t n = 0;

	while (!*stop) {
		GUEST_ASSERT_EQ(guest_ring(gpa), 0);
		n++;
	}
	GUEST_SYNC(n);
}

struct ringer {
	struct tvcpu *vcpu;
	pthread_t thread;
	uint64_t rings;
};

static void *ringer_fn(void *arg)
{
	struct ringer *r = arg;
	struct ucall uc;

	vcpu_run_sync_uc(r->vcpu, &uc);
	r->rings = uc.args[0];
	vcpu_run_done(r->vcpu);
	return NULL;
}

TEST_F_TIMEOUT(slow, peers_come_and_go_while_ringing, 120)
{
	struct tvcpu *va;
	struct tvm *a;
	struct ringer rg;
	uint64_t *p;
	int fd, i, e;

	a = guest_vm(guest_ring_until_stop, IVC_BASE, 0, &va);
	fd = ivc_create(a, SZ_4K, 0, 0, NULL);
	p = map_channel(fd, SZ_4K);
	vm_start(a);
	rg.vcpu = va;
	e = pthread_create(&rg.thread, NULL, ringer_fn, &rg);
	ASSERT_EQ(0, e);
	ASSERT_TRUE(vm_wait_nr_running(a, 1, 10000));
	for (i = 0; i < 200; i++) {
		struct tvm *b = vm_create_barebones();
		struct tvcpu *vb = vm_vcpu_add(b, 0);
		uint64_t gpa = ivc_attach(b, fd, 0, VEC_B);

		if (i & 1)
			ASSERT_EQ(0, ivc_detach(b, gpa));
		if (i & 2)
			vm_start(b);
		(void)vb;
		vm_free(b);
	}
	p[1] = 1;
	e = pthread_join(rg.thread, NULL);
	ASSERT_EQ(0, e);
	TH_LOG("%llu rings while 200 peers came and went",
	       (unsigned long long)rg.rings);
	ASSERT_LT(0ULL, rg.rings);
	munmap(p, SZ_4K);
	close(fd);
	vm_free(a);
}

AXVM_TEST_HARNESS_MAIN
