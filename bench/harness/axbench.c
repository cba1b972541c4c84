// SPDX-License-Identifier: GPL-2.0
/*
 * axbench: the userspace half of `make bench` (Documentation/benchmarks.md).
 *
 *   axbench --backend axvm|kvm [options] WORKLOAD...
 *
 * Runs each workload on one backend and prints one line per sample:
 *
 *   S <round> <workload> <backend> <metric> <value>
 *   N <round> <workload> <backend> <reason...>     (not applicable)
 *   I <round> <backend> <key> <value>              (information)
 *   E <round> <workload> <backend> <error...>
 *
 * bench/report turns those lines into the table, JSON and chart.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "bench.h"

static const struct backend *be;
static int round_no;
static unsigned int opt_reps = 5;		/* samples per exit workload */
static unsigned int opt_count = 3000;		/* exits per sample */
static unsigned int opt_touch_reps = 1;
static unsigned int opt_touch_mib = 256;
static unsigned int opt_cd_reps = 20;
static unsigned int opt_idle_vms = 500;
static unsigned int opt_irq_count = 200;
static double tsc_per_ns;

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

static void sample(const char *wl, const char *metric, double v)
{
	printf("S %d %s %s %s %.3f\n", round_no, wl, be->name, metric, v);
	fflush(stdout);
}

static void na(const char *wl, const char *why)
{
	printf("N %d %s %s %s\n", round_no, wl, be->name, why);
	fflush(stdout);
}

static void info(const char *key, const char *fmt, ...)
{
	va_list ap;

	printf("I %d %s %s ", round_no, be->name, key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static int fail(const char *wl, const char *fmt, ...)
{
	va_list ap;

	printf("E %d %s %s ", round_no, wl, be->name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return -1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* TSC ticks per ns, against CLOCK_MONOTONIC over 200 ms. */
static void calibrate_tsc(void)
{
	uint64_t t0 = now_ns(), c0 = __rdtsc(), t1, c1;

	sleep_ms(200);
	c1 = __rdtsc();
	t1 = now_ns();
	tsc_per_ns = (double)(c1 - c0) / (double)(t1 - t0);
	info("tsc_mhz", "%.1f", tsc_per_ns * 1000.0);
}

/* ------------------------------------------------------------------ */
/* Guest state and memory, the same bytes for both backends            */
/* ------------------------------------------------------------------ */

#define ATTR_CODE64	0xa9b	/* P S type=b L G */
#define ATTR_DATA	0xc93	/* P S type=3 DB G */
#define ATTR_CODE32	0xc9b
#define ATTR_TSS	0x8b	/* P, busy 64-bit TSS */
#define ATTR_LDT	0x82

void guest_state(struct gstate *st)
{
	struct gseg data = { 0, 0xffffffff, 0x10, ATTR_DATA };

	memset(st, 0, sizeof(*st));
	st->cs = (struct gseg){ 0, 0xffffffff, 0x08, ATTR_CODE64 };
	st->ds = st->es = st->fs = st->gs = st->ss = data;
	st->tr = (struct gseg){ 0, 0x67, 0, ATTR_TSS };
	st->ldtr = (struct gseg){ 0, 0xffff, 0, ATTR_LDT };
	st->gdt_base = GDT_GPA;
	st->gdt_limit = 4 * 8 - 1;
	st->idt_base = IDT_GPA;
	st->idt_limit = 256 * 16 - 1;
	st->cr0 = 0x80050033;	/* PG WP NE ET MP PE */
	st->cr3 = PML4_GPA;
	st->cr4 = 0x620;	/* OSXMMEXCPT OSFXSR PAE */
	st->efer = 0x500;	/* LMA LME */
}

static uint64_t gdt_desc(uint32_t base, uint32_t limit, uint16_t attrib)
{
	uint32_t l = (attrib & (1 << 11)) ? limit >> 12 : limit;

	return (uint64_t)(l & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
	       (uint64_t)(attrib & 0xff) << 40 |
	       (uint64_t)((l >> 16) & 0xf) << 48 |
	       (uint64_t)((attrib >> 8) & 0xf) << 52 |
	       (uint64_t)(base >> 24) << 56;
}

static uint64_t payload_irq_handler(void)
{
	uint64_t a;

	size_t len = (size_t)(payload_end - payload_start);

	memcpy(&a, payload_start + len - 8, 8);
	return a;
}

void guest_memory_init(void *low)
{
	uint8_t *m = low;
	uint64_t *gdt = (uint64_t *)(m + GDT_GPA);
	uint64_t *pml4 = (uint64_t *)(m + PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(m + PDPT_GPA);
	uint64_t *pd = (uint64_t *)(m + PD_GPA);
	uint64_t *idt = (uint64_t *)(m + IDT_GPA);
	uint64_t h = payload_irq_handler();
	unsigned int i;

	gdt[0] = 0;
	gdt[1] = gdt_desc(0, 0xffffffff, ATTR_CODE64);
	gdt[2] = gdt_desc(0, 0xffffffff, ATTR_DATA);
	gdt[3] = gdt_desc(0, 0xffffffff, ATTR_CODE32);
	/* Identity map of 4 GiB with 2 MiB pages; A and D preset. */
	pml4[0] = PDPT_GPA | 0x23;
	for (i = 0; i < 4; i++)
		pdpt[i] = (PD_GPA + i * 4096ULL) | 0x23;
	for (i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0xe3;	/* P RW A D PS */
	/* One interrupt gate, IRQ_VECTOR -> irq_handler; the rest empty. */
	memset(idt, 0, 256 * 16);
	idt[IRQ_VECTOR * 2] = (h & 0xffff) | (0x08ULL << 16) |
			      (0x8eULL << 40) | ((h >> 16) & 0xffff) << 48;
	idt[IRQ_VECTOR * 2 + 1] = h >> 32;
	memset(m + MAILBOX_GPA, 0, 4096);
	memcpy(m + PAYLOAD_GPA, payload_start, payload_end - payload_start);
}

static volatile uint64_t *mailbox(struct bvm *vm, unsigned int off)
{
	return (volatile uint64_t *)((uint8_t *)be->low_hva(vm) +
				     MAILBOX_GPA + off);
}

/* ------------------------------------------------------------------ */
/* Exit workloads                                                      */
/* ------------------------------------------------------------------ */

struct batch {
	uint64_t host_ns;
	uint64_t guest_tsc;
	uint64_t user_exits;	/* the expected userspace exits seen */
	int64_t exits;		/* backend's exit counter delta, -1 unknown */
};

/*
 * Runs workload w once: `count` iterations, userspace exits of kind
 * `expect` (or none if BX_HLT is passed) until the DONE port.
 */
static int run_batch(const char *wl, struct bvm *vm, int w, uint64_t count,
		     uint64_t arg, enum bexit_kind expect, struct batch *out)
{
	struct bexit ex;
	uint64_t t0, user = 0;
	int64_t e0;
	int ret;

	ret = be->set_entry(vm, PAYLOAD_GPA, w, count, arg);
	if (ret)
		return fail(wl, "set_entry: %s", strerror(-ret));
	*mailbox(vm, MB_TSC_DELTA) = 0;
	e0 = be->exit_count(vm);
	t0 = now_ns();
	for (;;) {
		ret = be->run(vm, &ex);
		if (ret)
			return fail(wl, "run: %s", strerror(-ret));
		if (ex.kind == BX_IO && ex.port == DONE_PORT)
			break;
		/*
		 * The interrupt workload's local APIC writes (enable, EOI):
		 * KVM's in-kernel APIC takes them, axvm has no APIC and hands
		 * them to the VMM, which has nothing to do for them.
		 */
		if (ex.kind == BX_MMIO && (ex.gpa & ~0xfffULL) == LAPIC_GPA)
			continue;
		if (ex.kind == expect && expect != BX_HLT &&
		    (ex.kind != BX_IO || ex.port == BENCH_PORT) &&
		    (ex.kind != BX_MMIO || ex.gpa == MMIO_GPA)) {
			user++;
			continue;
		}
		return fail(wl, "unexpected exit kind %d reason %llu port 0x%x gpa 0x%llx",
			    ex.kind, (unsigned long long)ex.reason, ex.port,
			    (unsigned long long)ex.gpa);
	}
	out->host_ns = now_ns() - t0;
	out->guest_tsc = *mailbox(vm, MB_TSC_DELTA);
	out->user_exits = user;
	out->exits = e0 < 0 ? -1 : be->exit_count(vm) - e0;
	if (expect != BX_HLT && user != count)
		return fail(wl, "%llu userspace exits for %llu iterations",
			    (unsigned long long)user, (unsigned long long)count);
	if (expect == BX_HLT && user)
		return fail(wl, "exits reached userspace");
	return 0;
}

struct exit_wl {
	const char *name;
	int w;
	uint64_t arg;
	enum bexit_kind expect;		/* BX_HLT: handled in the kernel */
	int hypercall_exit;
};

static const struct exit_wl exit_wls[] = {
	{ "cpuid", W_CPUID, 0, BX_HLT, 0 },
	{ "rdmsr", W_RDMSR, 0, BX_HLT, 0 },
	{ "vmmcall_user", W_VMMCALL, 12, BX_HYPERCALL, 1 },
	{ "vmmcall_kernel", W_VMMCALL, 0, BX_HLT, 0 },
	{ "pio_out", W_PIO_OUT, 0, BX_IO, 0 },
	{ "mmio_write", W_MMIO_WRITE, 0, BX_MMIO, 0 },
	{ "mmio_read", W_MMIO_READ, 0, BX_MMIO, 0 },
};

static int exit_workload(const struct exit_wl *x)
{
	struct vm_opts o = { .mem_size = LOW_SIZE, .eager = 1, .payload = 1,
			     .hypercall_exit = x->hypercall_exit };
	struct bvm *vm;
	struct batch b;
	unsigned int rep;
	int ret;

	if (x->hypercall_exit && !be->has_user_hypercall()) {
		na(x->name, "KVM_CAP_EXIT_HYPERCALL (KVM_HC_MAP_GPA_RANGE) not offered");
		return 0;
	}
	if (be == &backend_axvm && !strcmp(x->name, "vmmcall_kernel")) {
		na(x->name, "by design every VMMCALL is AXVM_EXIT_HYPERCALL (userspace)");
		return 0;
	}
	ret = be->vm_create(&o, &vm);
	if (ret)
		return fail(x->name, "vm_create: %s", strerror(-ret));
	/* Warm-up: first-touch of code/stack pages, caches. */
	ret = run_batch(x->name, vm, x->w, opt_count / 10 + 1, x->arg,
			x->expect, &b);
	for (rep = 0; !ret && rep < opt_reps; rep++) {
		ret = run_batch(x->name, vm, x->w, opt_count, x->arg, x->expect,
				&b);
		if (ret)
			break;
		sample(x->name, "ns", (double)b.host_ns / opt_count);
		sample(x->name, "guest_ns",
		       (double)b.guest_tsc / tsc_per_ns / opt_count);
		if (b.exits >= 0)
			sample(x->name, "exits_per_op", (double)b.exits / opt_count);
	}
	be->vm_destroy(vm);
	return ret;
}

/* ------------------------------------------------------------------ */
/* First touch of lazily backed memory                                 */
/* ------------------------------------------------------------------ */

static int touch_workload(const char *wl, int thp)
{
	uint64_t size = (uint64_t)opt_touch_mib << 20, pages = size >> 12;
	struct vm_opts o = { .mem_size = LOW_SIZE, .eager = 1, .payload = 1,
			     .touch_size = size, .touch_thp = thp };
	unsigned int rep;
	struct bvm *vm;
	struct batch b;
	int ret = 0;

	if (thp && be != &backend_kvm) {
		na(wl, "axvm maps 4 KiB pages only");
		return 0;
	}
	for (rep = 0; rep < opt_touch_reps && !ret; rep++) {
		ret = be->vm_create(&o, &vm);
		if (ret)
			return fail(wl, "vm_create: %s", strerror(-ret));
		/* Fault in the payload's own pages first (KVM maps lazily). */
		ret = run_batch(wl, vm, W_NOP, 0, 0, BX_HLT, &b);
		if (!ret)
			ret = run_batch(wl, vm, W_TOUCH, pages, TOUCH_GPA, BX_HLT,
					&b);
		if (!ret) {
			sample(wl, "ns", (double)b.host_ns / pages);
			sample(wl, "guest_ns",
			       (double)b.guest_tsc / tsc_per_ns / pages);
			if (b.exits >= 0)
				sample(wl, "exits_per_op", (double)b.exits / pages);
		}
		be->vm_destroy(vm);
	}
	return ret;
}

/* ------------------------------------------------------------------ */
/* VM create + destroy, idle VM memory                                 */
/* ------------------------------------------------------------------ */

#define IDLE_MEM_SIZE	(64ULL << 20)

static int create_destroy_workload(const char *wl, int eager)
{
	struct vm_opts o = { .mem_size = IDLE_MEM_SIZE, .eager = eager };
	struct bvm *holder, *vm;
	unsigned int rep;
	uint64_t t0;
	int ret;

	if (eager && be != &backend_axvm) {
		na(wl, "KVM memory is the VMM's mmap; eager population is not KVM's to do");
		return 0;
	}
	/*
	 * A VM kept alive throughout: Linux 6.1's KVM enables SVM on every
	 * CPU when the first VM appears and disables it with the last one;
	 * a host running guests pays that once, not per VM.
	 */
	ret = be->vm_create(&(struct vm_opts){ .mem_size = IDLE_MEM_SIZE }, &holder);
	if (ret)
		return fail(wl, "vm_create (holder): %s", strerror(-ret));
	for (rep = 0; rep < opt_cd_reps + 2; rep++) {
		t0 = now_ns();
		ret = be->vm_create(&o, &vm);
		if (ret) {
			fail(wl, "vm_create: %s", strerror(-ret));
			break;
		}
		be->vm_destroy(vm);
		if (rep >= 2)			/* two warm-ups */
			sample(wl, "ns", (double)(now_ns() - t0));
	}
	be->vm_destroy(holder);
	return ret;
}

/*
 * Kernel memory per idle VM. /proc/meminfo alone under-counts: pages
 * handed out from the per-CPU free lists (up to a few MiB per CPU) never
 * show in MemFree, and per-CPU counter deltas are folded in lazily. So
 * every reading first folds the counters (vm.stat_refresh), then adds the
 * pages sitting in the per-CPU lists (/proc/zoneinfo "count:") back to
 * MemFree and MemAvailable. Where a cgroup v2 memory controller can be
 * set up, memory.current of axbench's own cgroup is read too: the exact
 * charge of every __GFP_ACCOUNT allocation the VMs make.
 */
static const char *const meminfo_keys[] = {
	"MemFree", "MemAvailable", "Slab", "SUnreclaim", "PageTables",
	"KernelStack", "VmallocUsed", "Percpu", "memcg",
};
#define NR_MEMINFO (sizeof(meminfo_keys) / sizeof(meminfo_keys[0]))
#define MI_MEMCG (NR_MEMINFO - 1)

static char memcg_dir[128];

static void write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(s, f);
		fclose(f);
	}
}

/* Moves axbench into a cgroup of its own with the memory controller on. */
static void memcg_setup(void)
{
	char path[192], pid[32];
	FILE *f;

	if (access("/sys/fs/cgroup/cgroup.controllers", R_OK))
		return;
	write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
	snprintf(memcg_dir, sizeof(memcg_dir), "/sys/fs/cgroup/axbench-%d",
		 (int)getpid());
	mkdir(memcg_dir, 0755);
	snprintf(path, sizeof(path), "%s/cgroup.procs", memcg_dir);
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	write_file(path, pid);
	snprintf(path, sizeof(path), "%s/memory.current", memcg_dir);
	f = fopen(path, "r");
	if (!f) {
		memcg_dir[0] = 0;
		return;
	}
	fclose(f);
}

static void memcg_teardown(void)
{
	if (!memcg_dir[0])
		return;
	write_file("/sys/fs/cgroup/cgroup.procs", "0\n");
	rmdir(memcg_dir);
	memcg_dir[0] = 0;
}

static long pcp_free_kib(void)
{
	char line[256];
	FILE *f = fopen("/proc/zoneinfo", "r");
	long pages = 0, v;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " count: %ld", &v) == 1)
			pages += v;
	fclose(f);
	return pages * 4;
}

static int read_meminfo(long kib[NR_MEMINFO])
{
	char line[256], key[64], path[192];
	long v, pcp;
	unsigned int i;
	FILE *f;

	write_file("/proc/sys/vm/stat_refresh", "1\n");
	f = fopen("/proc/meminfo", "r");
	if (!f)
		return -errno;
	for (i = 0; i < NR_MEMINFO; i++)
		kib[i] = 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63[^:]: %ld", key, &v) != 2)
			continue;
		for (i = 0; i < NR_MEMINFO; i++)
			if (!strcmp(key, meminfo_keys[i]))
				kib[i] = v;
	}
	fclose(f);
	pcp = pcp_free_kib();
	kib[0] += pcp;		/* MemFree */
	kib[1] += pcp;		/* MemAvailable */
	if (memcg_dir[0]) {
		snprintf(path, sizeof(path), "%s/memory.current", memcg_dir);
		f = fopen(path, "r");
		if (f) {
			if (fscanf(f, "%ld", &v) == 1)
				kib[MI_MEMCG] = v / 1024;
			fclose(f);
		}
	}
	return 0;
}

static int idle_mem_workload(const char *wl)
{
	struct vm_opts o = { .mem_size = IDLE_MEM_SIZE };
	long before[NR_MEMINFO], after[NR_MEMINFO];
	unsigned int i, n = opt_idle_vms, made = 0;
	struct bvm **vms = calloc(n, sizeof(*vms)), *holder;
	struct rlimit rl = { 4 * n + 256, 4 * n + 256 };
	char metric[64];
	uint64_t t0;
	int ret;

	if (!vms)
		return fail(wl, "out of memory");
	setrlimit(RLIMIT_NOFILE, &rl);
	memcg_setup();
	ret = be->vm_create(&o, &holder);
	if (ret) {
		free(vms);
		memcg_teardown();
		return fail(wl, "vm_create (holder): %s", strerror(-ret));
	}
	for (i = 0; i < 5 && !ret; i++) {	/* warm the slab caches */
		ret = be->vm_create(&o, &vms[0]);
		if (!ret)
			be->vm_destroy(vms[0]);
	}
	sleep_ms(500);
	read_meminfo(before);
	t0 = now_ns();
	for (made = 0; made < n && !ret; made++) {
		ret = be->vm_create(&o, &vms[made]);
		if (ret) {
			fail(wl, "vm_create #%u: %s", made, strerror(-ret));
			break;
		}
	}
	if (!ret)
		sample("idle_create", "ns", (double)(now_ns() - t0) / n);
	sleep_ms(500);
	read_meminfo(after);
	t0 = now_ns();
	for (i = 0; i < made; i++)
		be->vm_destroy(vms[i]);
	if (!ret)
		sample("idle_destroy", "ns", (double)(now_ns() - t0) / n);
	be->vm_destroy(holder);
	free(vms);
	if (ret) {
		memcg_teardown();
		return ret;
	}
	for (i = 0; i < NR_MEMINFO; i++) {
		if (i == MI_MEMCG && !memcg_dir[0])
			continue;
		/* Free memory goes down, the counters go up: both as a cost. */
		long d = (i < 2) ? before[i] - after[i] : after[i] - before[i];

		snprintf(metric, sizeof(metric), "%s_kib", meminfo_keys[i]);
		sample(wl, metric, (double)d / n);
	}
	memcg_teardown();
	return 0;
}

/* ------------------------------------------------------------------ */
/* Interrupt injection latency                                         */
/* ------------------------------------------------------------------ */

struct irq_ctx {
	struct bvm *vm;
	int err;
	unsigned int done;
	double *lat;
};

/* The n-th CPU (0 or 1) of the mask axbench was started with, or -1. */
static int irq_cpu[2] = { -1, -1 };

static void irq_pick_cpus(void)
{
	cpu_set_t set;
	int cpu, n = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		return;
	for (cpu = 0; cpu < CPU_SETSIZE && n < 2; cpu++)
		if (CPU_ISSET(cpu, &set))
			irq_cpu[n++] = cpu;
	if (n < 2)
		irq_cpu[0] = irq_cpu[1] = -1;
}

/* Pins the calling thread to `cpu`; returns the old mask in *old. */
static void pin_to(int cpu, cpu_set_t *old)
{
	cpu_set_t set;

	if (old)
		sched_getaffinity(0, sizeof(*old), old);
	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void *irq_injector(void *arg)
{
	struct irq_ctx *c = arg;
	volatile uint64_t *count = mailbox(c->vm, MB_IRQ_COUNT);
	volatile uint64_t *ready = mailbox(c->vm, MB_READY);
	uint64_t t0, deadline = now_ns() + 20000000000ULL;
	unsigned int i;

	/* Its own CPU: it spins while the vCPU thread spins in the guest. */
	pin_to(irq_cpu[1], NULL);
	while (!*ready)
		if (now_ns() > deadline) {
			c->err = -ETIMEDOUT;
			return NULL;
		}
	for (i = 1; i <= opt_irq_count; i++) {
		t0 = now_ns();
		c->err = be->inject_irq(c->vm, IRQ_VECTOR);
		if (c->err)
			return NULL;
		deadline = t0 + 2000000000ULL;
		while (*count < i)
			if (now_ns() > deadline) {
				c->err = -ETIMEDOUT;
				return NULL;
			}
		c->lat[i - 1] = (double)(now_ns() - t0);
		c->done = i;
		sleep_ms(1);	/* let the guest's EOI land first */
	}
	return NULL;
}

static int irq_workload(const char *wl)
{
	struct vm_opts o = { .mem_size = LOW_SIZE, .eager = 1, .payload = 1,
			     .irqchip = 1 };
	struct irq_ctx c = { 0 };
	cpu_set_t old;
	struct batch b;
	pthread_t t;
	unsigned int i;
	int ret;

	ret = be->inject_irq(NULL, -1);
	if (ret == -ENOSYS) {
		na(wl, "not yet implemented: this axvm.ko has no AXVM_INJECT_IRQ");
		return 0;
	}
	ret = be->vm_create(&o, &c.vm);
	if (ret)
		return fail(wl, "vm_create: %s", strerror(-ret));
	c.lat = calloc(opt_irq_count, sizeof(double));
	irq_pick_cpus();
	pin_to(irq_cpu[0], &old);
	pthread_create(&t, NULL, irq_injector, &c);
	/* On failure the injector gives up on its own deadline. */
	ret = run_batch(wl, c.vm, W_IRQ_SPIN, opt_irq_count, 0, BX_HLT, &b);
	pthread_join(t, NULL);
	sched_setaffinity(0, sizeof(old), &old);
	if (!ret && c.err)
		ret = fail(wl, "injector: %s", strerror(-c.err));
	if (!ret)
		for (i = 0; i < c.done; i++)
			sample(wl, "ns", c.lat[i]);
	free(c.lat);
	be->vm_destroy(c.vm);
	return ret;
}

/* ------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr,
		"usage: axbench --backend axvm|kvm [--round N] [--reps N] [--count N]\n"
		"               [--touch-reps N] [--touch-mib N] [--cd-reps N]\n"
		"               [--idle-vms N] [--irq-count N] WORKLOAD...\n"
		"workloads: cpuid rdmsr vmmcall_user vmmcall_kernel pio_out\n"
		"           mmio_write mmio_read touch touch_thp create_destroy\n"
		"           create_destroy_eager idle_mem irq all\n");
	exit(2);
}

static int run_workload(const char *wl)
{
	unsigned int i;

	for (i = 0; i < sizeof(exit_wls) / sizeof(exit_wls[0]); i++)
		if (!strcmp(wl, exit_wls[i].name))
			return exit_workload(&exit_wls[i]);
	if (!strcmp(wl, "touch"))
		return touch_workload(wl, 0);
	if (!strcmp(wl, "touch_thp"))
		return touch_workload(wl, 1);
	if (!strcmp(wl, "create_destroy"))
		return create_destroy_workload(wl, 0);
	if (!strcmp(wl, "create_destroy_eager"))
		return create_destroy_workload(wl, 1);
	if (!strcmp(wl, "idle_mem"))
		return idle_mem_workload(wl);
	if (!strcmp(wl, "irq"))
		return irq_workload(wl);
	fprintf(stderr, "axbench: unknown workload %s\n", wl);
	usage();
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "round", required_argument, NULL, 'R' },
		{ "reps", required_argument, NULL, 'r' },
		{ "count", required_argument, NULL, 'c' },
		{ "touch-reps", required_argument, NULL, 't' },
		{ "touch-mib", required_argument, NULL, 'm' },
		{ "cd-reps", required_argument, NULL, 'd' },
		{ "idle-vms", required_argument, NULL, 'i' },
		{ "irq-count", required_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const all[] = {
		"cpuid", "rdmsr", "vmmcall_user", "vmmcall_kernel", "pio_out",
		"mmio_write", "mmio_read", "irq", "touch", "touch_thp",
		"create_destroy", "create_destroy_eager", "idle_mem",
	};
	int c, i, ret, errors = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (!strcmp(optarg, "axvm"))
				be = &backend_axvm;
			else if (!strcmp(optarg, "kvm"))
				be = &backend_kvm;
			else
				usage();
			break;
		case 'R': round_no = atoi(optarg); break;
		case 'r': opt_reps = atoi(optarg); break;
		case 'c': opt_count = atoi(optarg); break;
		case 't': opt_touch_reps = atoi(optarg); break;
		case 'm': opt_touch_mib = atoi(optarg); break;
		case 'd': opt_cd_reps = atoi(optarg); break;
		case 'i': opt_idle_vms = atoi(optarg); break;
		case 'q': opt_irq_count = atoi(optarg); break;
		default: usage();
		}
	}
	if (!be || optind >= argc || !opt_count || !opt_idle_vms ||
	    !opt_irq_count || !opt_touch_mib)
		usage();
	ret = be->init();
	if (ret) {
		printf("E %d init %s %s\n", round_no, be->name, strerror(-ret));
		return 1;
	}
	calibrate_tsc();
	for (i = optind; i < argc; i++) {
		if (!strcmp(argv[i], "all")) {
			unsigned int k;

			for (k = 0; k < sizeof(all) / sizeof(all[0]); k++)
				errors += run_workload(all[k]) != 0;
		} else {
			errors += run_workload(argv[i]) != 0;
		}
	}
	return errors ? 1 : 0;
}
