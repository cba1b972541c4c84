// SPDX-License-Identifier: GPL-2.0
/*
 * isolation_test: a guest reaches nothing but its own memory.
 *
 * A guest touching guest-physical addresses outside its regions gets
 * MMIO exits (never memory, never host data): every 64 MiB of the low
 * 4 GiB, region edges, and high addresses up to the top of the guest
 * physical address space through the guest's own extra page tables.
 * Memory a VM receives is zeroed even when another VM just freed pages
 * full of data; two VMs at the same GPAs, and two vCPUs of one VM, do
 * not see each other's state; host MSRs survive a guest that scribbles
 * on the syscall/segment-base MSRs.
 */
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "axvm_test.h"

#define SCAN_STEP	(64ULL << 20)

/* What the host answers to an MMIO read of gpa. */
static inline uint64_t canary(uint64_t gpa)
{
	return gpa ^ 0x5ca1ab1e00000000ULL ^ 0xa5a5;
}

/*
 * Runs the guest, answering MMIO reads with canary(gpa), until it is
 * done (the guest function returned). Records every MMIO exit in log[]
 * (up to max) and returns how many there were.
 */
struct mmio_log {
	uint64_t gpa;
	uint8_t width;
	uint8_t is_write;
	uint64_t data;
};

static unsigned int run_mmio_until_done(struct tvcpu *vcpu,
					 struct mmio_log *log,
					 unsigned int max)
{
	struct axvm_run *run = vcpu->v.run;
	unsigned int n = 0;
	struct ucall uc;

	for (;;) {
		vcpu_run(vcpu);
		if (run->exit_reason != AXVM_EXIT_MMIO)
			break;
		TEST_ASSERT(n < max, "more MMIO exits than expected (%u)", n);
		log[n].gpa = run->mmio.gpa;
		log[n].width = run->mmio.width;
		log[n].is_write = run->mmio.is_write;
		log[n].data = run->mmio.data;
		if (!run->mmio.is_write)
			run->mmio.data = canary(run->mmio.gpa);
		n++;
	}
	ucall_check_abort(vcpu);
	TEST_ASSERT(get_ucall(vcpu, &uc) == UCALL_DONE,
		    "expected MMIO exits, then GUEST_DONE; got %s",
		    exit_desc(vcpu));
	return n;
}

static void guest_scan_low(void)
{
	uint64_t gpa, v;

	for (gpa = 0; gpa < SZ_4G; gpa += SCAN_STEP) {
		asm volatile("mov (%1), %0" : "=r"(v) : "r"(gpa) : "memory");
		if (gpa >= GUEST_MEM_SIZE)
			GUEST_ASSERT_EQ(v, canary(gpa));
		else
			GUEST_ASSERT_EQ(v, 0);	/* the null page */
	}
	/* Just inside, just outside the region; the last bytes below 4 GiB. */
	gpa = GUEST_MEM_SIZE - 8;
	asm volatile("mov (%1), %0" : "=r"(v) : "r"(gpa) : "memory");
	gpa = GUEST_MEM_SIZE;
	asm volatile("mov (%1), %0" : "=r"(v) : "r"(gpa) : "memory");
	GUEST_ASSERT_EQ(v, canary(gpa));
	gpa = SZ_4G - 8;
	asm volatile("mov (%1), %0" : "=r"(v) : "r"(gpa) : "memory");
	GUEST_ASSERT_EQ(v, canary(gpa));
}

TEST(scan_low_4g_is_mmio)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_scan_low);
	struct mmio_log log[80];
	unsigned int n, i, k = 0;
	uint64_t gpa;

	vm_write_u64(vm, 0, 0);
	n = run_mmio_until_done(vcpu, log, ARRAY_SIZE(log));
	for (gpa = 0; gpa < SZ_4G; gpa += SCAN_STEP) {
		if (gpa < GUEST_MEM_SIZE)
			continue;
		ASSERT_GT(n, k);
		ASSERT_EQ(gpa, log[k].gpa);
		k++;
	}
	ASSERT_EQ(k + 2, n);
	ASSERT_EQ(GUEST_MEM_SIZE, log[k].gpa);
	ASSERT_EQ(SZ_4G - 8, log[k + 1].gpa);
	for (i = 0; i < n; i++) {
		ASSERT_EQ(8, log[i].width);
		ASSERT_EQ(0, log[i].is_write);
	}
	vm_free(vm);
}

static const uint64_t write_probe[] = {
	GUEST_MEM_SIZE, GUEST_MMIO_GPA, 3 * SZ_1G + 0x3d8, SZ_4G - SZ_4K,
};

static void guest_write_then_read(void)
{
	unsigned int i;
	uint64_t v;

	for (i = 0; i < ARRAY_SIZE(write_probe); i++) {
		uint64_t gpa = write_probe[i];

		asm volatile("movq %1, (%0)"
			     : : "r"(gpa), "r"(0xdddddddddddddddULL) : "memory");
		asm volatile("mov (%1), %0" : "=r"(v) : "r"(gpa) : "memory");
		GUEST_ASSERT_EQ(v, canary(gpa));
	}
}

/* A write outside guest memory is not stored anywhere the guest can read. */
TEST(writes_outside_do_not_stick)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_write_then_read);
	struct mmio_log log[16];
	unsigned int n, i;

	n = run_mmio_until_done(vcpu, log, ARRAY_SIZE(log));
	ASSERT_EQ(2 * ARRAY_SIZE(write_probe), n);
	for (i = 0; i < ARRAY_SIZE(write_probe); i++) {
		ASSERT_EQ(write_probe[i], log[2 * i].gpa);
		ASSERT_EQ(1, log[2 * i].is_write);
		ASSERT_EQ(0xdddddddddddddddULL, log[2 * i].data);
		ASSERT_EQ(write_probe[i], log[2 * i + 1].gpa);
		ASSERT_EQ(0, log[2 * i + 1].is_write);
	}
	vm_free(vm);
}

#define MAX_HIGH	8
static uint64_t high_gpas[MAX_HIGH];
static uint64_t nr_high;

static void guest_scan_high(void)
{
	uint64_t i, v;

	for (i = 0; i < nr_high; i++) {
		uint64_t gpa = high_gpas[i];
		uint32_t w;

		asm volatile("mov (%1), %0" : "=r"(v) : "r"(gpa) : "memory");
		GUEST_ASSERT_EQ(v, canary(gpa));
		asm volatile("movl (%1), %0" : "=r"(w) : "r"(gpa + 4)
			     : "memory");
		GUEST_ASSERT_EQ(w, (uint32_t)canary(gpa + 4));
		asm volatile("movb $0x7f, (%0)" : : "r"(gpa) : "memory");
	}
}

TEST(high_gpas_are_mmio)
{
	struct tvm *vm = vm_create_guest();
	uint64_t top = 1ULL << vm->caps.gpa_bits;
	struct mmio_log log[3 * MAX_HIGH + 1];
	struct tvcpu *vcpu;
	unsigned int n, i;

	nr_high = 0;
	high_gpas[nr_high++] = SZ_4G;
	high_gpas[nr_high++] = SZ_4G + 0x12345678ULL;
	if ((1ULL << 36) < top)
		high_gpas[nr_high++] = 1ULL << 36;
	high_gpas[nr_high++] = top / 2 + 0x1000;
	high_gpas[nr_high++] = top / 2 + top / 4 + 0x777000;
	high_gpas[nr_high++] = top - 16;
	ASSERT_LE(nr_high, (uint64_t)MAX_HIGH);
	sync_global_to_guest(vm, high_gpas);
	sync_global_to_guest(vm, nr_high);

	vcpu = vm_guest_vcpu_add(vm, 0, guest_scan_high);
	for (i = 0; i < nr_high; i++) {
		uint64_t page = high_gpas[i] & ~(SZ_2M - 1);

		virt_map(vm, page, page, SZ_2M);
	}
	vm_start(vm);

	n = run_mmio_until_done(vcpu, log, ARRAY_SIZE(log));
	ASSERT_EQ(3 * nr_high, n);
	for (i = 0; i < nr_high; i++) {
		ASSERT_EQ(high_gpas[i], log[3 * i].gpa)
			ITER("gpa %#llx", (unsigned long long)high_gpas[i]);
		ASSERT_EQ(8, log[3 * i].width);
		ASSERT_EQ(high_gpas[i] + 4, log[3 * i + 1].gpa);
		ASSERT_EQ(4, log[3 * i + 1].width);
		ASSERT_EQ(high_gpas[i], log[3 * i + 2].gpa);
		ASSERT_EQ(1, log[3 * i + 2].is_write);
		ASSERT_EQ(0x7fULL, log[3 * i + 2].data);
	}
	vm_free(vm);
}

/* A region right below a hole and above one: only the region is memory. */
static void guest_region_edges(void)
{
	const uint64_t base = 0x8000000, size = 0x3000;
	uint64_t v;

	asm volatile("mov (%1), %0" : "=r"(v) : "r"(base - 8) : "memory");
	GUEST_ASSERT_EQ(v, canary(base - 8));
	asm volatile("mov (%1), %0" : "=r"(v) : "r"(base) : "memory");
	GUEST_ASSERT_EQ(v, 0x1111111111111111ULL);
	asm volatile("mov (%1), %0" : "=r"(v) : "r"(base + size - 8)
		     : "memory");
	GUEST_ASSERT_EQ(v, 0x2222222222222222ULL);
	asm volatile("mov (%1), %0" : "=r"(v) : "r"(base + size) : "memory");
	GUEST_ASSERT_EQ(v, canary(base + size));
}

TEST(region_edges)
{
	struct tvm *vm = vm_create_guest();
	struct mmio_log log[4];
	struct tvcpu *vcpu;
	unsigned int n;

	vm_add_region(vm, 0x8000000, 0x3000, AXVM_MEM_READ | AXVM_MEM_WRITE);
	vm_write_u64(vm, 0x8000000, 0x1111111111111111ULL);
	vm_write_u64(vm, 0x8002ff8, 0x2222222222222222ULL);
	vcpu = vm_guest_vcpu_add(vm, 0, guest_region_edges);
	vm_start(vm);
	n = run_mmio_until_done(vcpu, log, ARRAY_SIZE(log));
	ASSERT_EQ(2U, n);
	ASSERT_EQ(0x8000000ULL - 8, log[0].gpa);
	ASSERT_EQ(0x8003000ULL, log[1].gpa);
	vm_free(vm);
}

static bool all_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* Pages freed by one VM come to the next one zeroed. */
TEST(new_memory_is_zeroed)
{
	const uint64_t eager = 32 * SZ_1M, lazy_pages = 256;
	uint8_t *buf = malloc(eager), *page = malloc(SZ_4K);
	int round;

	ASSERT_TRUE(buf && page);
	for (round = 0; round < 2; round++) {
		struct tvm *a = vm_create_barebones(), *b;
		struct axvm_mem m;
		uint64_t i;

		/* A: fill everything with data, then go away. */
		ASSERT_EQ(0, axvm_vm_add_memory(&a->vm, 0, eager,
						AXVM_MEM_READ | AXVM_MEM_WRITE,
						&m));
		memset(m.hva, 0xa5, eager);
		vm_add_region(a, SZ_4G, SZ_1G, AXVM_MEM_READ | AXVM_MEM_WRITE |
			      AXVM_MEM_LAZY);
		memset(page, 0x5a, SZ_4K);
		for (i = 0; i < lazy_pages; i++)
			vm_write(a, SZ_4G + i * SZ_1M, page, SZ_4K);
		axvm_mem_unmap(&m);
		vm_free(a);

		/* B: all of it reads as zero. */
		b = vm_create_barebones();
		vm_add_region(b, 0, eager, AXVM_MEM_READ | AXVM_MEM_WRITE);
		vm_add_region(b, SZ_4G, SZ_1G, AXVM_MEM_READ | AXVM_MEM_WRITE |
			      AXVM_MEM_LAZY);
		memset(buf, 0xcc, eager);
		vm_read(b, 0, buf, eager);
		ASSERT_TRUE(all_zero(buf, eager));
		for (i = 0; i < lazy_pages; i++) {
			uint8_t one = 1;

			/* Populate the page with one byte, read all of it. */
			vm_write(b, SZ_4G + i * SZ_1M + 2048, &one, 1);
			vm_read(b, SZ_4G + i * SZ_1M, page, SZ_4K);
			ASSERT_EQ(1, page[2048]);
			page[2048] = 0;
			ASSERT_TRUE(all_zero(page, SZ_4K));
		}
		vm_free(b);
	}
	free(buf);
	free(page);
}

/*
 * The same guest code at the same GPAs in two VMs, run alternately:
 * each sees only its own counter. Stale translations from the other
 * VM (an ASID reused without a flush) would show up here.
 */
static void guest_own_counter(uint64_t tag)
{
	volatile uint64_t *scratch = (volatile uint64_t *)GUEST_SCRATCH_GPA;
	uint64_t i;

	for (i = 0; i < 50; i++) {
		GUEST_ASSERT_EQ(scratch[0], tag + i);
		scratch[0] = tag + i + 1;
		GUEST_SYNC(tag + i);
	}
}

TEST(two_vms_same_gpas)
{
	const uint64_t tags[2] = { 0xaaaa000000000000ULL, 0xbbbb000000000000ULL };
	struct tvcpu *vcpus[2];
	struct tvm *vms[2];
	uint64_t i;
	int v;

	for (v = 0; v < 2; v++) {
		vms[v] = vm_create_with_one_vcpu(&vcpus[v], guest_own_counter);
		vcpu_set_arg(vcpus[v], tags[v]);
		vm_write_u64(vms[v], GUEST_SCRATCH_GPA, tags[v]);
	}
	for (i = 0; i < 50; i++)
		for (v = 0; v < 2; v++)
			vcpu_run_sync(vcpus[v], tags[v] + i);
	for (v = 0; v < 2; v++) {
		ASSERT_EQ(tags[v] + 50, vm_read_u64(vms[v], GUEST_SCRATCH_GPA));
		vcpu_run_done(vcpus[v]);
		vm_free(vms[v]);
	}
}

/* Two vCPUs of one VM, interleaved: registers and stacks are their own. */
static void guest_private_state(uint64_t arg)
{
	uint64_t i, local[4];

	for (i = 0; i < 4; i++)
		local[i] = arg * 4 + i;
	for (i = 0; i < 20; i++) {
		GUEST_SYNC(arg + i);
		GUEST_ASSERT_EQ(local[i % 4], arg * 4 + i % 4);
	}
}

TEST(vcpus_are_independent)
{
	struct tvm *vm = vm_create_guest();
	struct tvcpu *a = vm_guest_vcpu_add(vm, 0, guest_private_state);
	struct tvcpu *b = vm_guest_vcpu_add(vm, 1, guest_private_state);
	uint64_t i;

	vcpu_set_arg(a, 0x1000);
	vcpu_set_arg(b, 0x2000);
	vm_start(vm);
	for (i = 0; i < 20; i++) {
		vcpu_run_sync(a, 0x1000 + i);
		vcpu_run_sync(b, 0x2000 + i);
	}
	vcpu_run_done(b);
	vcpu_run_done(a);
	vm_free(vm);
}

/* Values the guest puts in MSRs the host kernel itself depends on. */
static const struct {
	uint32_t msr;
	uint64_t val;
} scribble[] = {
	{ MSR_STAR, 0x0033002300000000ULL },
	{ MSR_LSTAR, 0x0000123456789000ULL },
	{ MSR_KERNEL_GS_BASE, 0x0000234567890000ULL },
	{ MSR_FS_BASE, 0x0000345678900000ULL },
};

static const struct {
	uint32_t msr;
	uint64_t val;
} scribble_maybe[] = {
	{ MSR_GS_BASE, 0x0000456789000000ULL },
	{ MSR_CSTAR, 0x0000567890000000ULL },
	{ MSR_SYSCALL_MASK, 0x4700 },
	{ MSR_IA32_SYSENTER_CS, 0x10 },
	{ MSR_IA32_SYSENTER_ESP, 0x0000678900000000ULL },
	{ MSR_IA32_SYSENTER_EIP, 0x0000789000000000ULL },
	{ MSR_TSC_AUX, 0x77 },
};

static void guest_scribble_msrs(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(scribble); i++)
		wrmsr(scribble[i].msr, scribble[i].val);
	/* Not all of these need to exist for the guest; #GP is fine. */
	for (i = 0; i < ARRAY_SIZE(scribble_maybe); i++)
		wrmsr_safe(scribble_maybe[i].msr, scribble_maybe[i].val);
	GUEST_SYNC(0);
	for (i = 0; i < ARRAY_SIZE(scribble); i++)
		GUEST_ASSERT_EQ(rdmsr(scribble[i].msr), scribble[i].val);
}

static __thread uint64_t host_tls = 0x7157;

static bool host_has_rdtscp(void)
{
	uint32_t a, b, c, d;

	cpuid_count(0x80000001, 0, &a, &b, &c, &d);
	return d & (1U << 27);
}

static uint32_t host_rdtscp_aux(void)
{
	uint32_t lo, hi, aux;

	asm volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
	return aux;
}

static void *host_thread(void *arg)
{
	host_tls = (uint64_t)(uintptr_t)arg;
	return (void *)(uintptr_t)syscall(SYS_gettid);
}

TEST(host_msrs_survive_guest)
{
	struct tvcpu *vcpu;
	struct tvm *vm;
	pid_t pid = getpid();
	unsigned int cpu, node;
	cpu_set_t cpus;
	pthread_t t;
	void *ret;
	int i;

	/* Stay on one CPU: the guest's TSC_AUX must not become ours there. */
	ASSERT_EQ(0, syscall(SYS_getcpu, &cpu, &node, NULL));
	CPU_ZERO(&cpus);
	CPU_SET(cpu, &cpus);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(cpus), &cpus));

	vm = vm_create_with_one_vcpu(&vcpu, guest_scribble_msrs);
	vcpu_run_sync(vcpu, 0);
	/* Linux keeps (node << 12 | cpu) in TSC_AUX, for RDTSCP/RDPID. */
	if (host_has_rdtscp()) {
		for (i = 0; i < 100; i++)
			ASSERT_EQ(cpu, host_rdtscp_aux() & 0xfff);
	}
	/* syscall entry (LSTAR, STAR, SFMASK, GS), TLS (FS), threads */
	for (i = 0; i < 2000; i++)
		ASSERT_EQ(pid, (pid_t)syscall(SYS_getpid));
	ASSERT_EQ(0x7157ULL, host_tls);
	errno = 0;
	ASSERT_EQ(-1, close(-1));
	ASSERT_EQ(EBADF, errno);
	ASSERT_EQ(0, pthread_create(&t, NULL, host_thread, (void *)0x99));
	ASSERT_EQ(0, pthread_join(t, &ret));
	ASSERT_NE(NULL, ret);
	ASSERT_EQ(0x7157ULL, host_tls);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

AXVM_TEST_HARNESS_MAIN
