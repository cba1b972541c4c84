// SPDX-License-Identifier: GPL-2.0
/*
 * passthrough_test: host-physical ranges given to a guest
 * (AXVM_ADD_PASSTHROUGH, AXVM_REMOVE_PASSTHROUGH, AXVM_GET_PASSTHROUGH_MAP;
 * Documentation/passthrough.md).
 *
 * The contract (every errno), the merging of ranges as the map shows it
 * (overlapping, touching, unaligned, non-linear, the seed's two lists),
 * what the host refuses (System RAM, RAM reserved at boot, firmware
 * holes as reserved memory), CAP_SYS_RAWIO, and guests that use the
 * ranges: one reads the host's HPET through a device range, two share
 * the test VM's memmap=16M$0x30000000 carve-out as reserved memory, and
 * a removed range turns back into MMIO exits, also for a vCPU that is
 * in the guest when the range goes.
 *
 * The host-dependent addresses come from /proc/iomem; a test whose
 * resource is missing (another machine than scripts/testvm) is skipped.
 */
#include <sys/klog.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <linux/capability.h>

#include "axvm_test.h"

/* The test VM's host (scripts/testvm, QEMU q35, -m 1G). */
#define RES_HPA		0x30000000ULL	/* memmap=16M$0x30000000 */
#define RES_SIZE	(16ULL << 20)
#define HPET_HPA	0xfed00000ULL
#define RAM_HPA		0x1000000ULL	/* ordinary System RAM */
#define HOLE_HPA	0x80000000ULL	/* PCI window, no device behind it */
#define FW_RES_HPA	0xfffc0000ULL	/* firmware "Reserved" (BIOS ROM) */

/* GPAs inside the guests' 4 GiB identity map, outside region 0. */
#define PT_GPA		0x50000000ULL

#define RW	(AXVM_MEM_READ | AXVM_MEM_WRITE)
#define DEV	0U
#define RES	AXVM_PT_RESERVED_MEM
#define IDENT	AXVM_PT_IDENTITY

/* ---------------------------------------------------------------- */
/* Helpers                                                           */
/* ---------------------------------------------------------------- */

static int pt_add(struct tvm *vm, uint64_t gpa, uint64_t hpa, uint64_t len,
		  uint32_t flags, const char *name)
{
	struct axvm_passthrough pt = {
		.size = sizeof(pt), .flags = flags,
		.gpa = gpa, .hpa = hpa, .len = len,
	};

	if (name)
		memcpy(pt.name, name, strnlen(name, sizeof(pt.name)));
	return VM_IOCTL(vm, AXVM_ADD_PASSTHROUGH, &pt);
}

static int pt_remove(struct tvm *vm, uint64_t gpa, uint64_t len)
{
	struct axvm_passthrough pt = {
		.size = sizeof(pt), .gpa = gpa, .len = len,
	};

	return VM_IOCTL(vm, AXVM_REMOVE_PASSTHROUGH, &pt);
}

#define MAX_ENTS	300

/* The merged map; returns the number of entries (asserts success). */
static unsigned int pt_map(struct tvm *vm, struct axvm_passthrough_entry *e)
{
	struct axvm_passthrough_map m = {
		.size = sizeof(m), .nr_entries = MAX_ENTS,
		.entries = (uint64_t)(uintptr_t)e,
	};
	int r = VM_IOCTL(vm, AXVM_GET_PASSTHROUGH_MAP, &m);

	TEST_ASSERT(!r, "GET_PASSTHROUGH_MAP: %s", strerror(-r));
	return m.nr_entries;
}

struct exp_ent {
	uint64_t gpa, hpa, len;
	uint32_t flags;
	const char *name;
};

/* The map must be exactly exp[0..n); names are checked when given. */
static void check_map(struct tvm *vm, const struct exp_ent *exp,
		      unsigned int n)
{
	static struct axvm_passthrough_entry e[MAX_ENTS];
	unsigned int got = pt_map(vm, e), i;

	for (i = 0; i < got && i < n; i++) {
		TEST_ASSERT(e[i].gpa == exp[i].gpa && e[i].hpa == exp[i].hpa &&
			    e[i].len == exp[i].len &&
			    e[i].flags == exp[i].flags,
			    "entry %u: got [%#llx +%#llx] -> %#llx flags %#x, expected [%#llx +%#llx] -> %#llx flags %#x",
			    i, (unsigned long long)e[i].gpa,
			    (unsigned long long)e[i].len,
			    (unsigned long long)e[i].hpa, e[i].flags,
			    (unsigned long long)exp[i].gpa,
			    (unsigned long long)exp[i].len,
			    (unsigned long long)exp[i].hpa, exp[i].flags);
		TEST_ASSERT(!e[i].reserved, "entry %u: reserved %#x", i,
			    e[i].reserved);
		if (exp[i].name)
			TEST_ASSERT(!strncmp(e[i].name, exp[i].name, 16),
				    "entry %u: name '%.16s', expected '%s'", i,
				    e[i].name, exp[i].name);
	}
	TEST_ASSERT(got == n, "%u entries in the map, expected %u", got, n);
}

/*
 * /proc/iomem: is there a resource called `name` (at any depth, or only
 * at the top level) that contains [addr, addr + len)?
 */
static bool iomem_has(const char *name, uint64_t addr, uint64_t len,
		      bool top_only)
{
	FILE *f = fopen("/proc/iomem", "r");
	char line[256];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long long s, e;
		int off = 0;
		char *n;

		if (top_only && line[0] == ' ')
			continue;
		if (sscanf(line, " %llx-%llx :%n", &s, &e, &off) != 2 || !off)
			continue;
		n = line + off;
		while (*n == ' ')
			n++;
		n[strcspn(n, "\n")] = 0;
		found = !strcmp(n, name) && s <= addr && addr + len - 1 <= e;
	}
	fclose(f);
	return found;
}

/* Only PCI bus windows contain [addr, addr + len): no device, no RAM. */
static bool iomem_is_hole(uint64_t addr, uint64_t len)
{
	FILE *f = fopen("/proc/iomem", "r");
	char line[256];
	bool hole = true, in_window = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e;
		int off = 0;

		if (sscanf(line, " %llx-%llx :%n", &s, &e, &off) != 2 || !off)
			continue;
		if (e < addr || s > addr + len - 1)
			continue;
		if (strstr(line + off, "PCI Bus"))
			in_window = true;
		else
			hole = false;
	}
	fclose(f);
	return hole && in_window;
}

#define REQUIRE_IOMEM(cond, what) do {					\
	if (!(cond))							\
		SKIP(return, "/proc/iomem has no %s (not the test VM?)", what); \
} while (0)

#define REQUIRE_CARVEOUT() REQUIRE_IOMEM(iomem_has("Reserved", RES_HPA, \
				RES_SIZE, true),			\
				"memmap=16M$0x30000000 carve-out")
#define REQUIRE_HPET() REQUIRE_IOMEM(iomem_has("HPET 0", HPET_HPA, 0x400, \
				false), "HPET at 0xfed00000")
#define REQUIRE_HOLE() REQUIRE_IOMEM(iomem_is_hole(HOLE_HPA, SZ_64K * 64), \
				"empty PCI window at 0x80000000")
#define REQUIRE_RAM() REQUIRE_IOMEM(iomem_has("System RAM", RAM_HPA,	\
				SZ_1M, true), "System RAM at 0x1000000")

/* ---------------------------------------------------------------- */
/* Privilege                                                         */
/* ---------------------------------------------------------------- */

/* Clears CAP_SYS_RAWIO from this process' effective set. */
static int drop_cap_sys_rawio(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	data[CAP_TO_INDEX(CAP_SYS_RAWIO)].effective &=
		~CAP_TO_MASK(CAP_SYS_RAWIO);
	if (syscall(SYS_capset, &hdr, data))
		return -errno;
	return 0;
}

TEST(needs_cap_sys_rawio)
{
	const struct exp_ent exp[] = { { PT_GPA, HOLE_HPA, SZ_4K, 0, "dev" } };
	struct tvm *vm;
	int status;
	pid_t pid;

	REQUIRE_HOLE();
	vm = vm_create_barebones();
	ASSERT_EQ(0, pt_add(vm, PT_GPA, HOLE_HPA, SZ_4K, DEV, "dev"));

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct axvm_passthrough_entry e[2];
		struct axvm_passthrough_map m = {
			.size = sizeof(m), .nr_entries = 2,
			.entries = (uint64_t)(uintptr_t)e,
		};

		if (drop_cap_sys_rawio())
			_exit(10);
		if (pt_add(vm, PT_GPA + SZ_1M, HOLE_HPA, SZ_4K, DEV, 0) !=
		    -EPERM)
			_exit(11);
		if (pt_add(vm, PT_GPA + SZ_4K, HOLE_HPA + SZ_4K, SZ_4K, DEV,
			   0) != -EPERM)
			_exit(12);
		if (pt_remove(vm, PT_GPA, SZ_4K) != -EPERM)
			_exit(13);
		/* The map is readable, without host physical addresses. */
		if (VM_IOCTL(vm, AXVM_GET_PASSTHROUGH_MAP, &m) ||
		    m.nr_entries != 1 || e[0].gpa != PT_GPA || e[0].hpa ||
		    e[0].len != SZ_4K || strcmp(e[0].name, "dev"))
			_exit(14);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));

	/* Nothing changed; the privileged caller sees the HPA. */
	check_map(vm, exp, 1);
	vm_free(vm);
}

/* ---------------------------------------------------------------- */
/* Argument checks                                                   */
/* ---------------------------------------------------------------- */

TEST(add_bad_flags_and_reserved)
{
	struct tvm *vm = vm_create_barebones();
	struct axvm_passthrough pt = {
		.size = sizeof(pt), .gpa = PT_GPA, .hpa = HOLE_HPA,
		.len = SZ_4K,
	};
	unsigned int bit;

	for (bit = 2; bit < 32; bit++) {
		pt.flags = 1U << bit;
		ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_ADD_PASSTHROUGH, &pt))
			ITER("flags bit %u", bit);
	}
	pt.flags = 0;
	pt.reserved[0] = 1;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_ADD_PASSTHROUGH, &pt));
	pt.reserved[0] = 0;
	pt.reserved[1] = 1ULL << 63;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_ADD_PASSTHROUGH, &pt));
	check_map(vm, NULL, 0);
	vm_free(vm);
}

TEST(add_names)
{
	struct tvm *vm = vm_create_barebones();
	struct axvm_passthrough pt = {
		.size = sizeof(pt), .gpa = PT_GPA, .hpa = HOLE_HPA,
		.len = SZ_4K,
	};
	const struct exp_ent exp[] = {
		{ PT_GPA, HOLE_HPA, SZ_4K, 0, "0123456789abcde" },
	};

	REQUIRE_HOLE();
	/* All 16 bytes used: no NUL. */
	memcpy(pt.name, "0123456789abcdef", 16);
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_ADD_PASSTHROUGH, &pt));
	/* Not printable. */
	memset(pt.name, 0, 16);
	memcpy(pt.name, "uart\n", 5);
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_ADD_PASSTHROUGH, &pt));
	pt.name[0] = (char)0xc3;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_ADD_PASSTHROUGH, &pt));
	/* Bytes after the NUL must be zero. */
	memset(pt.name, 0, 16);
	memcpy(pt.name, "uart\0x", 6);
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_ADD_PASSTHROUGH, &pt));
	check_map(vm, NULL, 0);
	/* 15 characters and the NUL: fine, and it comes back as is. */
	memset(pt.name, 0, 16);
	memcpy(pt.name, "0123456789abcde", 15);
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_ADD_PASSTHROUGH, &pt));
	check_map(vm, exp, 1);
	vm_free(vm);
}

TEST(add_bad_len_and_ranges)
{
	struct tvm *vm = vm_create_barebones();
	uint64_t limit = 1ULL << vm->caps.gpa_bits;

	if (limit > 0x7ffffffff000ULL)
		limit = 0x7ffffffff000ULL;
	ASSERT_EQ(-EINVAL, pt_add(vm, PT_GPA, HOLE_HPA, 0, DEV, 0));
	ASSERT_EQ(-EINVAL, pt_add(vm, PT_GPA, 0, 0, DEV | IDENT, 0));
	/* gpa + len or hpa + len wraps. */
	ASSERT_EQ(-ERANGE, pt_add(vm, ~0ULL - 0xfff, HOLE_HPA, SZ_64K, DEV, 0));
	ASSERT_EQ(-ERANGE, pt_add(vm, PT_GPA, ~0ULL - 0xfff, SZ_64K, DEV, 0));
	ASSERT_EQ(-ERANGE, pt_add(vm, PT_GPA, HOLE_HPA, ~0ULL, DEV, 0));
	/* The last byte's page would wrap when aligned up. */
	ASSERT_EQ(-ERANGE, pt_add(vm, ~0ULL - 0xff, ~0ULL - 0xff, 0x10,
				  DEV, 0));
	/* Beyond the guest physical space. */
	ASSERT_EQ(-ERANGE, pt_add(vm, limit, HOLE_HPA, SZ_4K, DEV, 0));
	ASSERT_EQ(-ERANGE, pt_add(vm, limit - SZ_4K, HOLE_HPA, SZ_4K + 1,
				  DEV, 0));
	ASSERT_EQ(-ERANGE, pt_add(vm, limit - SZ_4K, HOLE_HPA, SZ_64K, DEV,
				  0));
	/* Beyond the host physical space (no CPU has 60 address bits). */
	ASSERT_EQ(-ERANGE, pt_add(vm, PT_GPA, 1ULL << 60, SZ_4K, DEV, 0));
	ASSERT_EQ(-ERANGE, pt_add(vm, 1ULL << 60, 0, SZ_4K, DEV | IDENT, 0));
	check_map(vm, NULL, 0);
	vm_free(vm);
}

TEST(add_offset_and_identity)
{
	struct tvm *vm;
	const struct exp_ent exp[] = {
		{ PT_GPA, HOLE_HPA, SZ_4K, 0, "" },
		{ HOLE_HPA, HOLE_HPA, 2 * SZ_4K, IDENT, "" },
	};

	REQUIRE_HOLE();
	vm = vm_create_barebones();
	/* GPA and HPA at different offsets within their page. */
	ASSERT_EQ(-EINVAL, pt_add(vm, PT_GPA + 0x10, HOLE_HPA + 0x20, 8,
				  DEV, 0));
	ASSERT_EQ(-EINVAL, pt_add(vm, PT_GPA, HOLE_HPA + 0x800, SZ_4K, DEV,
				  0));
	/* IDENTITY takes no HPA. */
	ASSERT_EQ(-EINVAL, pt_add(vm, HOLE_HPA, HOLE_HPA, SZ_4K, DEV | IDENT,
				  0));
	check_map(vm, NULL, 0);
	/* Same offset in the page: fine. */
	ASSERT_EQ(0, pt_add(vm, PT_GPA + 0x10, HOLE_HPA + 0x10, 8, DEV, 0));
	/* IDENTITY: HPA := GPA; the map says so for any range with HPA = GPA. */
	ASSERT_EQ(0, pt_add(vm, HOLE_HPA + 0x10, 0, SZ_4K, DEV | IDENT, 0));
	check_map(vm, exp, 2);
	vm_free(vm);
}

TEST(arg_struct_rules)
{
	struct tvm *vm = vm_create_barebones();
	struct {
		struct axvm_passthrough pt;
		uint64_t extra;
	} big = {
		.pt = { .size = sizeof(big), .gpa = PT_GPA, .hpa = HOLE_HPA,
			.len = SZ_4K },
		.extra = 1,
	};
	struct axvm_passthrough_map m = { .size = sizeof(m) - 8 };

	big.pt.size = offsetof(struct axvm_passthrough, name);
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_ADD_PASSTHROUGH, &big));
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_REMOVE_PASSTHROUGH, &big));
	big.pt.size = sizeof(big);
	ASSERT_EQ(-E2BIG, VM_IOCTL(vm, AXVM_ADD_PASSTHROUGH, &big));
	ASSERT_EQ(-E2BIG, VM_IOCTL(vm, AXVM_REMOVE_PASSTHROUGH, &big));
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_GET_PASSTHROUGH_MAP, &m));
	ASSERT_EQ(-EFAULT, VM_IOCTL(vm, AXVM_ADD_PASSTHROUGH, (void *)8));
	ASSERT_EQ(-EFAULT, VM_IOCTL(vm, AXVM_REMOVE_PASSTHROUGH, (void *)8));
	ASSERT_EQ(-EFAULT, VM_IOCTL(vm, AXVM_GET_PASSTHROUGH_MAP, (void *)8));
	vm_free(vm);
}

/* ADD and REMOVE in every state but STOPPING and STOPPED. */
TEST(state_rules)
{
	struct axvm_passthrough_entry e[4];
	struct tvcpu *vcpu;
	struct tvm *vm;
	int r;

	REQUIRE_HOLE();
	vm = vm_create_guest();
	vcpu = vm_guest_vcpu_add(vm, 0, guest_spin);
	ASSERT_STATE(vm, AXVM_VM_LOADING);
	ASSERT_EQ(0, pt_add(vm, PT_GPA, HOLE_HPA, SZ_4K, DEV, "loading"));
	vm_finalize(vm);
	ASSERT_EQ(0, pt_add(vm, PT_GPA + SZ_1M, HOLE_HPA, SZ_4K, DEV, 0));
	ASSERT_EQ(0, pt_remove(vm, PT_GPA + SZ_1M, SZ_4K));
	vm_boot(vm);
	ASSERT_STATE(vm, AXVM_VM_RUNNING);
	ASSERT_EQ(0, pt_add(vm, PT_GPA + SZ_1M, HOLE_HPA, SZ_4K, DEV, 0));
	ASSERT_EQ(0, pt_remove(vm, PT_GPA + SZ_1M, SZ_4K));

	r = VM_IOCTL(vm, AXVM_SUSPEND, NULL);
	if (r == 0) {
		ASSERT_STATE(vm, AXVM_VM_SUSPENDED);
		ASSERT_EQ(0, pt_add(vm, PT_GPA + SZ_1M, HOLE_HPA, SZ_4K, DEV,
				    0));
		ASSERT_EQ(0, pt_remove(vm, PT_GPA + SZ_1M, SZ_4K));
		ASSERT_EQ(0, VM_IOCTL(vm, AXVM_RESUME, NULL));
	} else {
		TH_LOG("AXVM_SUSPEND: %s; SUSPENDED not tested", strerror(-r));
	}

	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_SHUTDOWN, NULL));
	ASSERT_STATE(vm, AXVM_VM_STOPPED);
	ASSERT_EQ(-EBUSY, pt_add(vm, PT_GPA + SZ_1M, HOLE_HPA, SZ_4K, DEV,
				 0));
	ASSERT_EQ(-EBUSY, pt_remove(vm, PT_GPA, SZ_4K));
	/* The map stays readable. */
	ASSERT_EQ(1U, pt_map(vm, e));
	(void)vcpu;
	vm_free(vm);
}

/* ---------------------------------------------------------------- */
/* What the host refuses and allows                                  */
/* ---------------------------------------------------------------- */

TEST(device_refuses_ram)
{
	struct tvm *vm;

	REQUIRE_RAM();
	vm = vm_create_barebones();
	ASSERT_EQ(-EPERM, pt_add(vm, PT_GPA, RAM_HPA, SZ_4K, DEV, "ram"));
	ASSERT_EQ(-EPERM, pt_add(vm, RAM_HPA, 0, SZ_1M, DEV | IDENT, 0));
	/* A range that only ends in RAM. */
	ASSERT_EQ(-EPERM, pt_add(vm, PT_GPA, 0x0ffff000, 2 * SZ_4K, DEV, 0));
	/* The last page of low RAM (0x9fc00 on: Reserved, EBDA). */
	ASSERT_EQ(-EPERM, pt_add(vm, PT_GPA, 0x9f000, SZ_4K, DEV, 0));
	check_map(vm, NULL, 0);
	vm_free(vm);
}

TEST(device_refuses_reserved_ram)
{
	struct tvm *vm;

	REQUIRE_CARVEOUT();
	vm = vm_create_barebones();
	/* The memmap=$ carve-out is RAM: never mapped uncached. */
	ASSERT_EQ(-EPERM, pt_add(vm, PT_GPA, RES_HPA, SZ_4K, DEV, 0));
	ASSERT_EQ(-EPERM, pt_add(vm, PT_GPA, RES_HPA + RES_SIZE - SZ_4K,
				 SZ_4K, DEV, 0));
	ASSERT_EQ(-EPERM, pt_add(vm, RES_HPA, 0, RES_SIZE, DEV | IDENT, 0));
	check_map(vm, NULL, 0);
	vm_free(vm);
}

TEST(device_allows_mmio)
{
	struct tvm *vm;

	REQUIRE_HPET();
	REQUIRE_HOLE();
	vm = vm_create_barebones();
	ASSERT_EQ(0, pt_add(vm, HPET_HPA, 0, 0x400, DEV | IDENT, "hpet"));
	ASSERT_EQ(0, pt_add(vm, PT_GPA, HOLE_HPA, SZ_2M, DEV, "hole"));
	/* A firmware hole called "Reserved" is MMIO, not RAM. */
	if (iomem_has("Reserved", FW_RES_HPA, SZ_4K, true))
		ASSERT_EQ(0, pt_add(vm, FW_RES_HPA, 0, SZ_4K, DEV | IDENT,
				    "bios"));
	vm_free(vm);
}

TEST(reserved_refuses_what_is_not_a_carveout)
{
	struct tvm *vm;

	REQUIRE_CARVEOUT();
	REQUIRE_RAM();
	REQUIRE_HPET();
	REQUIRE_HOLE();
	vm = vm_create_barebones();
	/* Ordinary RAM. */
	ASSERT_EQ(-EPERM, pt_add(vm, PT_GPA, RAM_HPA, SZ_4K, RES, "ram"));
	ASSERT_EQ(-EPERM, pt_add(vm, RAM_HPA, 0, SZ_2M, RES | IDENT, 0));
	/* Half carve-out, half RAM, at either end. */
	ASSERT_EQ(-EPERM, pt_add(vm, PT_GPA, RES_HPA + RES_SIZE - SZ_4K,
				 2 * SZ_4K, RES, 0));
	ASSERT_EQ(-EPERM, pt_add(vm, PT_GPA, RES_HPA - SZ_4K, 2 * SZ_4K,
				 RES, 0));
	/* Device MMIO and an empty hole. */
	ASSERT_EQ(-EPERM, pt_add(vm, HPET_HPA, 0, SZ_4K, RES | IDENT, 0));
	ASSERT_EQ(-EPERM, pt_add(vm, PT_GPA, HOLE_HPA, SZ_4K, RES, 0));
	/* Called "Reserved", but a firmware hole, not RAM carved out. */
	if (iomem_has("Reserved", FW_RES_HPA, SZ_4K, true))
		ASSERT_EQ(-EPERM, pt_add(vm, FW_RES_HPA, 0, SZ_4K,
					 RES | IDENT, 0));
	check_map(vm, NULL, 0);
	/* The carve-out itself, whole or in part. */
	ASSERT_EQ(0, pt_add(vm, RES_HPA, 0, RES_SIZE, RES | IDENT, "res"));
	ASSERT_EQ(0, pt_add(vm, PT_GPA, RES_HPA + SZ_1M, SZ_4K, RES, 0));
	vm_free(vm);
}

/* Memory regions and passthrough ranges never share a GPA. */
TEST(region_conflicts)
{
	const struct exp_ent exp[] = {
		{ GUEST_MEM_SIZE, HOLE_HPA, SZ_4K, 0, "after" },
		{ PT_GPA, HOLE_HPA, SZ_64K, 0, "pt" },
	};
	struct tvm *vm;

	REQUIRE_HOLE();
	vm = vm_create_guest();	/* region 0: [0, 16 MiB) */
	ASSERT_EQ(-EEXIST, pt_add(vm, 0, HOLE_HPA, SZ_4K, DEV, 0));
	ASSERT_EQ(-EEXIST, pt_add(vm, GUEST_MEM_SIZE - SZ_4K, HOLE_HPA,
				  2 * SZ_4K, DEV, 0));
	/* Unaligned: widened to the page that is region 0's last. */
	ASSERT_EQ(-EEXIST, pt_add(vm, GUEST_MEM_SIZE - 1, HOLE_HPA + 0xfff, 2,
				  DEV, 0));
	/* Touching the region is fine. */
	ASSERT_EQ(0, pt_add(vm, GUEST_MEM_SIZE, HOLE_HPA, SZ_4K, DEV,
			    "after"));
	ASSERT_EQ(0, pt_add(vm, PT_GPA, HOLE_HPA, SZ_64K, DEV, "pt"));
	/* And the other way round: regions refuse passthrough GPAs. */
	ASSERT_EQ(-EEXIST, __vm_add_region(vm, PT_GPA + SZ_4K, SZ_4K, RW,
					   NULL));
	ASSERT_EQ(-EEXIST, __vm_add_region(vm, PT_GPA - SZ_4K, 2 * SZ_4K, RW,
					   NULL));
	ASSERT_EQ(0, __vm_add_region(vm, PT_GPA + SZ_64K, SZ_4K, RW, NULL));
	check_map(vm, exp, 2);
	vm_free(vm);
}

/* ---------------------------------------------------------------- */
/* Merging                                                           */
/* ---------------------------------------------------------------- */

#define P	SZ_4K
#define G	PT_GPA
#define H	HOLE_HPA

TEST(merge_overlapping)
{
	const struct exp_ent exp1[] = { { G, H, 5 * P, 0, "a" } };
	const struct exp_ent exp2[] = { { G - 2 * P, H - 2 * P, 9 * P, 0, "a" } };
	struct tvm *vm;

	REQUIRE_HOLE();
	vm = vm_create_barebones();
	ASSERT_EQ(0, pt_add(vm, G, H, 3 * P, DEV, "a"));
	ASSERT_EQ(0, pt_add(vm, G + 2 * P, H + 2 * P, 3 * P, DEV, "b"));
	check_map(vm, exp1, 1);
	/* Inside: nothing changes. Covering: grows on both sides. */
	ASSERT_EQ(0, pt_add(vm, G + P, H + P, P, DEV, "c"));
	check_map(vm, exp1, 1);
	ASSERT_EQ(0, pt_add(vm, G - 2 * P, H - 2 * P, 9 * P, DEV, 0));
	check_map(vm, exp2, 1);
	vm_free(vm);
}

TEST(merge_touching)
{
	const struct exp_ent exp[] = {
		{ G, H, 3 * P, 0, "mid" },
		/* Touching, but at another offset: stays separate. */
		{ G + 3 * P, H + SZ_1M, P, 0, "other" },
	};
	struct tvm *vm;

	REQUIRE_HOLE();
	vm = vm_create_barebones();
	ASSERT_EQ(0, pt_add(vm, G + P, H + P, P, DEV, "mid"));
	ASSERT_EQ(0, pt_add(vm, G + 2 * P, H + 2 * P, P, DEV, "right"));
	ASSERT_EQ(0, pt_add(vm, G, H, P, DEV, "left"));
	ASSERT_EQ(0, pt_add(vm, G + 3 * P, H + SZ_1M, P, DEV, "other"));
	check_map(vm, exp, 2);
	vm_free(vm);
}

/*
 * The seed aligns base and length separately: align_down_4k(0x...ff0)
 * with align_up_4k(0x20) covers one page and misses the 0x10 bytes in
 * the next one. axvm aligns the end, so both pages are mapped.
 */
TEST(merge_unaligned)
{
	const struct exp_ent exp[] = {
		{ G, H, 2 * P, 0, "tail" },
		{ G + 4 * P, H + 4 * P, 3 * P, 0, "" },
	};
	struct tvm *vm;

	REQUIRE_HOLE();
	vm = vm_create_barebones();
	ASSERT_EQ(0, pt_add(vm, G + 0xff0, H + 0xff0, 0x20, DEV, "tail"));
	/* 1 byte, then a range that starts mid-page and touches it. */
	ASSERT_EQ(0, pt_add(vm, G + 4 * P + 0xfff, H + 4 * P + 0xfff, 1, DEV,
			    0));
	ASSERT_EQ(0, pt_add(vm, G + 5 * P + 0x800, H + 5 * P + 0x800,
			    P + 0x10, DEV, 0));
	check_map(vm, exp, 2);
	vm_free(vm);
}

/* A range that fills the gap fuses its neighbours; the first name wins. */
TEST(merge_bridging_keeps_first_name)
{
	const struct exp_ent exp1[] = {
		{ G, H, P, 0, "" },
		{ G + 2 * P, H + 2 * P, P, 0, "second" },
		{ G + 4 * P, H + 4 * P, P, 0, "third" },
	};
	/* "third" was added first, at the highest GPA; G has no name. */
	const struct exp_ent exp2[] = { { G, H, 5 * P, 0, "third" } };
	struct tvm *vm;

	REQUIRE_HOLE();
	vm = vm_create_barebones();
	ASSERT_EQ(0, pt_add(vm, G + 4 * P, H + 4 * P, P, DEV, "third"));
	ASSERT_EQ(0, pt_add(vm, G, H, P, DEV, 0));
	ASSERT_EQ(0, pt_add(vm, G + 2 * P, H + 2 * P, P, DEV, "second"));
	check_map(vm, exp1, 3);
	ASSERT_EQ(0, pt_add(vm, G + P, H + P, 3 * P, DEV, "bridge"));
	check_map(vm, exp2, 1);
	vm_free(vm);
}

TEST(nonlinear_conflict)
{
	const struct exp_ent exp[] = {
		{ G, H, 4 * P, 0, "a" },
		{ G + 4 * P, H + SZ_1M, 2 * P, 0, "b" },
	};
	struct tvm *vm;

	REQUIRE_HOLE();
	vm = vm_create_barebones();
	ASSERT_EQ(0, pt_add(vm, G, H, 4 * P, DEV, "a"));
	ASSERT_EQ(0, pt_add(vm, G + 4 * P, H + SZ_1M, 2 * P, DEV, "b"));
	/* Overlaps "a" at another HPA offset. */
	ASSERT_EQ(-EEXIST, pt_add(vm, G + 3 * P, H + SZ_2M, P, DEV, 0));
	/* Linear with "a" but overlaps "b" (whose offset differs). */
	ASSERT_EQ(-EEXIST, pt_add(vm, G + 2 * P, H + 2 * P, 3 * P, DEV, 0));
	/* Same HPA as "a", different GPA offset: overlaps nonlinearly. */
	ASSERT_EQ(-EEXIST, pt_add(vm, G + P, H, P, DEV, 0));
	/* An unaligned range that only reaches "b" after widening. */
	ASSERT_EQ(-EEXIST, pt_add(vm, G + 4 * P - 1, H + 4 * P - 1, 2, DEV,
				  0));
	check_map(vm, exp, 2);
	vm_free(vm);
}

/*
 * The seed's configuration: pass_through_devices (named, base_gpa,
 * base_hpa, length) and pass_through_addresses (base_gpa, length), both
 * mapped HPA := GPA by the seed, aligned, sorted and folded. Added here
 * in the seed's order; the map must equal a userspace re-run of that
 * fold (with the end, not the length, aligned up).
 */
struct seed_range {
	const char *name;	/* NULL: a bare address */
	uint64_t gpa, len;
};

static int cmp_gpa(const void *a, const void *b)
{
	const struct exp_ent *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

TEST(seed_lists)
{
	const struct seed_range devices[] = {
		{ "uart0", H + 0x0000, 0x100 },
		{ "gicd", H + 0x1000, 0x1000 },		/* touches uart0 */
		{ "virtio0", H + 0x10800, 0x1800 },	/* mid-page start */
		{ "rtc", H + 0x40000, 0x1000 },
		{ "timer", H + 0x20ff0, 0x20 },		/* the seed bug */
	};
	const struct seed_range addresses[] = {
		{ NULL, H + 0x800, 0x100 },		/* inside uart0 */
		{ NULL, H + 0x12000, 0x1000 },		/* touches virtio0 */
		{ NULL, H + 0x100000, 0x2000 },
		{ NULL, H + 0x3f000, 0x1000 },		/* touches rtc */
	};
	struct exp_ent exp[16], fold[16];
	unsigned int n = 0, m = 0, i;
	struct tvm *vm;

	REQUIRE_HOLE();
	vm = vm_create_barebones();
	for (i = 0; i < ARRAY_SIZE(devices); i++) {
		const struct seed_range *d = &devices[i];

		ASSERT_EQ(0, pt_add(vm, d->gpa, 0, d->len, DEV | IDENT,
				    d->name)) ITER("%s", d->name);
		exp[n++] = (struct exp_ent){
			d->gpa & ~0xfffULL, 0,
			ALIGN_UP(d->gpa + d->len, P) - (d->gpa & ~0xfffULL),
			IDENT, d->name };
	}
	for (i = 0; i < ARRAY_SIZE(addresses); i++) {
		const struct seed_range *a = &addresses[i];

		ASSERT_EQ(0, pt_add(vm, a->gpa, 0, a->len, DEV | IDENT, 0));
		exp[n++] = (struct exp_ent){
			a->gpa & ~0xfffULL, 0,
			ALIGN_UP(a->gpa + a->len, P) - (a->gpa & ~0xfffULL),
			IDENT, "" };
	}
	/* The seed's sort_by_key + fold (names: the first in add order). */
	qsort(exp, n, sizeof(exp[0]), cmp_gpa);
	for (i = 0; i < n; i++) {
		struct exp_ent *last = m ? &fold[m - 1] : NULL;

		if (last && last->gpa + last->len >= exp[i].gpa) {
			uint64_t end = exp[i].gpa + exp[i].len;

			if (end > last->gpa + last->len)
				last->len = end - last->gpa;
			if (!last->name[0])
				last->name = exp[i].name;
		} else {
			fold[m++] = exp[i];
		}
	}
	for (i = 0; i < m; i++)
		fold[i].hpa = fold[i].gpa;
	check_map(vm, fold, m);
	/* What the fold gives for this input, spelled out. */
	ASSERT_EQ(5U, m);
	ASSERT_EQ(H, fold[0].gpa);
	ASSERT_EQ(2 * P, fold[0].len);			/* uart0 + gicd + addr */
	ASSERT_EQ(H + 0x10000, fold[1].gpa);
	ASSERT_EQ(3 * P, fold[1].len);			/* virtio0 + addr */
	ASSERT_EQ(H + 0x20000, fold[2].gpa);
	ASSERT_EQ(2 * P, fold[2].len);			/* timer: two pages */
	ASSERT_EQ(H + 0x3f000, fold[3].gpa);
	ASSERT_EQ(2 * P, fold[3].len);			/* addr + rtc */
	ASSERT_EQ(0, strcmp(fold[3].name, "rtc"));
	vm_free(vm);
}

/* ---------------------------------------------------------------- */
/* Removal                                                           */
/* ---------------------------------------------------------------- */

TEST(remove_rules)
{
	struct axvm_passthrough pt = {
		.size = sizeof(pt), .gpa = G, .len = P,
	};
	const struct exp_ent whole[] = { { G, H, 8 * P, 0, "dev" } };
	const struct exp_ent split[] = {
		{ G, H, 2 * P, 0, "dev" },
		{ G + 4 * P, H + 4 * P, 4 * P, 0, "dev" },
	};
	const struct exp_ent trimmed[] = {
		{ G + P, H + P, P, 0, "dev" },
		{ G + 4 * P, H + 4 * P, 3 * P, 0, "dev" },
	};
	struct tvm *vm;

	REQUIRE_HOLE();
	vm = vm_create_guest();
	ASSERT_EQ(0, pt_add(vm, G, H, 8 * P, DEV, "dev"));
	/* Only gpa and len may be set. */
	pt.flags = IDENT;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_REMOVE_PASSTHROUGH, &pt));
	pt.flags = 0;
	pt.hpa = H;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_REMOVE_PASSTHROUGH, &pt));
	pt.hpa = 0;
	pt.name[0] = 'x';
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_REMOVE_PASSTHROUGH, &pt));
	pt.name[0] = 0;
	pt.reserved[1] = 1;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_REMOVE_PASSTHROUGH, &pt));
	pt.reserved[1] = 0;
	ASSERT_EQ(-EINVAL, pt_remove(vm, G, 0));
	ASSERT_EQ(-ERANGE, pt_remove(vm, ~0ULL - 0xfff, 2 * P));
	ASSERT_EQ(-ERANGE, pt_remove(vm, 1ULL << 60, P));
	/* Nothing mapped there: guest memory, or nothing at all. */
	ASSERT_EQ(-ENOENT, pt_remove(vm, 0, P));
	ASSERT_EQ(-ENOENT, pt_remove(vm, G + 8 * P, SZ_1M));
	ASSERT_EQ(-ENOENT, pt_remove(vm, G - P, P));
	check_map(vm, whole, 1);
	/* A hole in the middle splits it; unaligned input is widened. */
	ASSERT_EQ(0, pt_remove(vm, G + 2 * P + 0x10, P));
	check_map(vm, split, 2);
	/* Trim the head and the tail; a range may reach past both ends. */
	ASSERT_EQ(0, pt_remove(vm, G - SZ_1M, SZ_1M + P));
	ASSERT_EQ(0, pt_remove(vm, G + 7 * P, SZ_1M));
	check_map(vm, trimmed, 2);
	/* The pieces are linear again: re-adding the holes fuses them. */
	ASSERT_EQ(0, pt_add(vm, G, H, 8 * P, DEV, "again"));
	check_map(vm, whole, 1);
	/* One call across several ranges (and guest memory between). */
	ASSERT_EQ(0, pt_add(vm, GUEST_MEM_SIZE, H + SZ_1M, P, DEV, "low"));
	ASSERT_EQ(0, pt_remove(vm, 0, G + 8 * P));
	check_map(vm, NULL, 0);
	vm_free(vm);
}

TEST(too_many_ranges)
{
	struct axvm_passthrough_entry *e = calloc(MAX_ENTS, sizeof(*e));
	struct tvm *vm;
	unsigned int i;

	REQUIRE_HOLE();
	vm = vm_create_barebones();
	/* 256 linear ranges that do not touch: no merging. */
	for (i = 0; i < 256; i++)
		ASSERT_EQ(0, pt_add(vm, G + 2 * i * P, H + 2 * i * P, P, DEV,
				    0)) ITER("range %u", i);
	ASSERT_EQ(-ENOSPC, pt_add(vm, G + 512 * P, H + 512 * P, P, DEV, 0));
	/* Growing one needs no slot; filling a gap frees one. */
	ASSERT_EQ(0, pt_add(vm, G, H, P, DEV, 0));
	ASSERT_EQ(0, pt_add(vm, G + P, H + P, P, DEV, 0));
	ASSERT_EQ(0, pt_add(vm, G + 3 * P, H + 3 * P, P, DEV, 0));
	ASSERT_EQ(254U, pt_map(vm, e));
	ASSERT_EQ(5 * P, e[0].len);
	ASSERT_EQ(0, pt_add(vm, G + 512 * P, H + 512 * P, P, DEV, 0));
	ASSERT_EQ(0, pt_add(vm, G + 514 * P, H + 514 * P, P, DEV, 0));
	/* Punching a hole needs a slot; trimming does not. */
	ASSERT_EQ(-ENOSPC, pt_remove(vm, G + 2 * P + 0x10, 0x10));
	ASSERT_EQ(0, pt_remove(vm, G, P));
	ASSERT_EQ(256U, pt_map(vm, e));
	ASSERT_EQ(G + P, e[0].gpa);
	ASSERT_EQ(4 * P, e[0].len);
	free(e);
	vm_free(vm);
}

TEST(get_map_rules)
{
	struct axvm_passthrough_entry e[4];
	struct axvm_passthrough_map m = {
		.size = sizeof(m), .nr_entries = 0,
		.entries = (uint64_t)(uintptr_t)e,
	};
	struct tvm *vm;

	REQUIRE_HOLE();
	vm = vm_create_barebones();
	/* Empty map, no room, any pointer: fine. */
	m.entries = 8;
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_GET_PASSTHROUGH_MAP, &m));
	ASSERT_EQ(0U, m.nr_entries);
	m.entries = (uint64_t)(uintptr_t)e;
	m.flags = 1;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_GET_PASSTHROUGH_MAP, &m));
	m.flags = 0;
	m.reserved0 = 1;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_GET_PASSTHROUGH_MAP, &m));
	m.reserved0 = 0;
	m.reserved[1] = 1;
	ASSERT_EQ(-EINVAL, VM_IOCTL(vm, AXVM_GET_PASSTHROUGH_MAP, &m));
	m.reserved[1] = 0;

	ASSERT_EQ(0, pt_add(vm, G, H, P, DEV, "a"));
	ASSERT_EQ(0, pt_add(vm, G + 2 * P, H, P, DEV, "b"));
	ASSERT_EQ(0, pt_add(vm, G + 4 * P, H, P, DEV, "c"));
	/* Short of room: the count needed, nothing copied. */
	memset(e, 0xa5, sizeof(e));
	m.nr_entries = 2;
	ASSERT_EQ(-ENOSPC, VM_IOCTL(vm, AXVM_GET_PASSTHROUGH_MAP, &m));
	ASSERT_EQ(3U, m.nr_entries);
	ASSERT_EQ(0xa5a5a5a5a5a5a5a5ULL, e[0].gpa);
	/* A bad pointer with room. */
	m.entries = 8;
	ASSERT_EQ(-EFAULT, VM_IOCTL(vm, AXVM_GET_PASSTHROUGH_MAP, &m));
	/* Exactly enough room, then more than enough. */
	m.entries = (uint64_t)(uintptr_t)e;
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_GET_PASSTHROUGH_MAP, &m));
	ASSERT_EQ(3U, m.nr_entries);
	ASSERT_EQ(G + 4 * P, e[2].gpa);
	ASSERT_EQ(0xa5a5a5a5a5a5a5a5ULL, e[3].gpa);
	m.nr_entries = 4;
	ASSERT_EQ(0, VM_IOCTL(vm, AXVM_GET_PASSTHROUGH_MAP, &m));
	ASSERT_EQ(3U, m.nr_entries);
	ASSERT_EQ(0, strcmp(e[1].name, "b"));
	ASSERT_EQ(0xa5a5a5a5a5a5a5a5ULL, e[3].gpa);
	vm_free(vm);
}

#undef P
#undef G
#undef H

/* ---------------------------------------------------------------- */
/* Guests                                                            */
/* ---------------------------------------------------------------- */

#define HPET_GCAP_ID	0x000
#define HPET_PERIOD	0x004
#define HPET_GEN_CONF	0x010
#define HPET_COUNTER	0x0f0

static uint32_t mmio_read32(uint64_t gpa)
{
	return *(volatile uint32_t *)(uintptr_t)gpa;
}

static void guest_read_hpet(void)
{
	uint32_t gcap = mmio_read32(HPET_HPA + HPET_GCAP_ID);
	uint32_t period = mmio_read32(HPET_HPA + HPET_PERIOD);
	uint32_t conf = mmio_read32(HPET_HPA + HPET_GEN_CONF);
	uint32_t c1 = mmio_read32(HPET_HPA + HPET_COUNTER), c2 = c1;
	int i;

	/* The main counter runs if the host enabled the HPET. */
	for (i = 0; i < 1000000 && c2 == c1; i++)
		c2 = mmio_read32(HPET_HPA + HPET_COUNTER);
	GUEST_SYNC4(gcap, period, conf, (uint64_t)c2 - c1);
	/* Execute from the device page: mapped no-execute. */
	((void (*)(void))(uintptr_t)HPET_HPA)();
	GUEST_FAIL("executed from a device range");
}

/* "hpet0: 3 comparators, 64-bit 100.000000 MHz counter" from the log. */
static bool host_hpet_line(unsigned int *comparators, unsigned int *bits,
			   unsigned int *mhz, unsigned int *frac)
{
	int size = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	bool found = false;
	char *buf, *p;
	int n;

	if (size <= 0)
		return false;
	buf = calloc(1, size + 1);
	if (!buf)
		return false;
	n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, size);
	for (p = buf; n > 0 && (p = strstr(p, "hpet0: ")); p++)
		if (sscanf(p, "hpet0: %u comparators, %u-bit %u.%u MHz",
			   comparators, bits, mhz, frac) == 4) {
			found = true;
			break;
		}
	free(buf);
	return found;
}

TEST(guest_reads_hpet)
{
	unsigned int comparators, bits, mhz, frac;
	uint32_t gcap, period, conf, delta;
	struct tvcpu *vcpu;
	struct ucall uc;
	struct tvm *vm;

	REQUIRE_HPET();
	vm = vm_create_guest();
	ASSERT_EQ(0, pt_add(vm, HPET_HPA, 0, 0x400, DEV | IDENT, "hpet"));
	vcpu = vm_guest_vcpu_add(vm, 0, guest_read_hpet);
	vm_start(vm);

	vcpu_run_sync_uc(vcpu, &uc);
	gcap = uc.args[0];
	period = uc.args[1];
	conf = uc.args[2];
	delta = uc.args[3];
	TH_LOG("HPET through passthrough: GCAP_ID %#x period %u fs, conf %#x, counter +%u",
	       gcap, period, conf, delta);
	/* The register format (HPET spec 1.0a, 2.3.4). */
	ASSERT_NE(0U, gcap & 0xff);				/* REV_ID */
	ASSERT_NE(0U, gcap >> 16);				/* VENDOR_ID */
	ASSERT_NE(0xffffU, gcap >> 16);
	ASSERT_LT(0U, period);
	ASSERT_GE(100000000U, period);			/* <= 100 ns */
	if (conf & 1)
		ASSERT_NE(0U, delta);			/* it is live */
	/* What the host kernel's hpet driver read at boot. */
	if (host_hpet_line(&comparators, &bits, &mhz, &frac)) {
		uint64_t hz = 1000000000000000ULL / period;

		ASSERT_EQ(comparators, ((gcap >> 8) & 0x1f) + 1);
		ASSERT_EQ(bits, (gcap & (1U << 13)) ? 64U : 32U);
		ASSERT_EQ(mhz, hz / 1000000);
		ASSERT_EQ(frac, hz % 1000000);
	} else {
		TH_LOG("no 'hpet0: ... comparators' line in the kernel log");
	}

	/* The fetch from the no-execute device page. */
	vcpu_run(vcpu);
	ucall_check_abort(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_INTERNAL_ERROR);
	ASSERT_EQ((uint32_t)AXVM_INTERNAL_EXEC_FAULT,
		  vcpu->v.run->internal.suberror);
	vm_free(vm);
}

/* Reserved memory: VM A at the carve-out's own GPA, VM B elsewhere. */
#define SHARE_OFF	0x100000ULL		/* into the carve-out */
#define SHARE_LEN	0x10000ULL
#define B_GPA		0x20000000ULL
#define MAGIC		0x5afe5afe00000000ULL

/* Words of the shared buffer: pattern, then these three. */
#define W_CODE		(SHARE_LEN / 8 - 3)	/* a `ret` the writer runs */
#define W_HOST		(SHARE_LEN / 8 - 2)	/* the host's /dev/mem word */
#define W_REPLY		(SHARE_LEN / 8 - 1)	/* the reader's answer */

static void guest_writer(uint64_t base)
{
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)base;
	uint64_t i;

	p[W_REPLY] = 0;
	p[W_HOST] = 0;
	for (i = 0; i < W_CODE; i++)
		p[i] = MAGIC | i;
	/* Reserved memory is executable: a `ret` placed there returns. */
	p[W_CODE] = 0xc3;
	((void (*)(void))(uintptr_t)&p[W_CODE])();
	GUEST_SYNC(1);
	/* Wait for the reader's answer. */
	while (p[W_REPLY] != ~MAGIC)
		;
	GUEST_SYNC(2);
}

static void guest_reader(uint64_t base)
{
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)base;
	uint64_t i;

	for (i = 0; i < W_CODE; i++)
		GUEST_ASSERT_EQ(p[i], MAGIC | i);
	GUEST_ASSERT_EQ(p[W_CODE], 0xc3);
	GUEST_SYNC(p[W_HOST]);
	p[W_REPLY] = ~MAGIC;
	GUEST_SYNC(2);
}

TEST(reserved_memory_shared_between_vms)
{
	const struct exp_ent exp_a[] = {
		{ RES_HPA, RES_HPA, RES_SIZE, RES | IDENT, "carveout" },
	};
	const struct exp_ent exp_b[] = {
		{ B_GPA, RES_HPA + SHARE_OFF, SHARE_LEN, RES, "" },
	};
	uint64_t word = 0, host_word = 0x0123456789abcdefULL;
	struct tvcpu *va, *vb;
	struct tvm *a, *b;
	int fd;

	REQUIRE_CARVEOUT();
	a = vm_create_guest();
	b = vm_create_guest();
	ASSERT_EQ(0, pt_add(a, RES_HPA, 0, RES_SIZE, RES | IDENT, "carveout"));
	ASSERT_EQ(0, pt_add(b, B_GPA, RES_HPA + SHARE_OFF, SHARE_LEN, RES, 0));
	check_map(a, exp_a, 1);
	check_map(b, exp_b, 1);
	va = vm_guest_vcpu_add(a, 0, guest_writer);
	vcpu_set_arg(va, RES_HPA + SHARE_OFF);
	vb = vm_guest_vcpu_add(b, 0, guest_reader);
	vcpu_set_arg(vb, B_GPA);
	vm_start(a);
	vm_start(b);

	vcpu_run_sync(va, 1);
	/* The host sees the same bytes through /dev/mem, if it may. */
	fd = open("/dev/mem", O_RDWR | O_SYNC);
	if (fd >= 0 && pread(fd, &word, 8, RES_HPA + SHARE_OFF + 8) == 8) {
		ASSERT_EQ(MAGIC | 1, word);
		ASSERT_EQ(8, pwrite(fd, &host_word, 8,
				    RES_HPA + SHARE_OFF + W_HOST * 8));
	} else {
		TH_LOG("/dev/mem: %s; host cross-check skipped",
		       strerror(errno));
		host_word = 0;		/* what guest_writer left there */
	}
	if (fd >= 0)
		close(fd);

	vcpu_run_sync(vb, host_word);
	vcpu_run_sync(vb, 2);
	vcpu_run_sync(va, 2);
	vm_free(b);
	vm_free(a);
}

/* Reads the u64 at gpa, reports it, and again after the host acts. */
static void guest_read_twice(uint64_t gpa)
{
	GUEST_SYNC(*(volatile uint64_t *)(uintptr_t)gpa);
	GUEST_SYNC(*(volatile uint64_t *)(uintptr_t)gpa);
}

TEST(remove_gives_mmio_exit)
{
	const uint64_t mid = RES_HPA + 0x201000;
	const struct exp_ent exp[] = {
		{ mid - SZ_4K, mid - SZ_4K, SZ_4K, RES | IDENT, "res" },
		{ mid + SZ_4K, mid + SZ_4K, SZ_4K, RES | IDENT, "res" },
	};
	struct axvm_run *run;
	struct tvcpu *vcpu;
	struct ucall uc;
	struct tvm *vm;

	REQUIRE_CARVEOUT();
	vm = vm_create_guest();
	ASSERT_EQ(0, pt_add(vm, RES_HPA + 0x200000, 0, 3 * SZ_4K,
			    RES | IDENT, "res"));
	vcpu = vm_guest_vcpu_add(vm, 0, guest_read_twice);
	vcpu_set_arg(vcpu, mid);
	run = vcpu->v.run;
	vm_start(vm);

	/* Mapped: a plain read, no exit (the guest's TLB now holds it). */
	vcpu_run_sync_uc(vcpu, &uc);
	/* Unmapped: the same read is MMIO now. */
	ASSERT_EQ(0, pt_remove(vm, mid, SZ_4K));
	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_MMIO);
	ASSERT_EQ(mid, run->mmio.gpa);
	ASSERT_EQ(8, run->mmio.width);
	ASSERT_EQ(0, run->mmio.is_write);
	run->mmio.data = 0x1234567890ULL;
	vcpu_run_sync(vcpu, 0x1234567890ULL);
	vcpu_run_done(vcpu);
	check_map(vm, exp, 2);
	vm_free(vm);
}

/* Reads gpa in a loop until a read does not return what it first did. */
static void guest_poll(uint64_t gpa)
{
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)gpa;
	uint64_t first = *p, v;

	GUEST_SYNC(first);
	for (;;) {	/* one read per iteration: each may be an exit */
		v = *p;
		if (v != first)
			break;
		guest_spin_counter++;
	}
	GUEST_SYNC(v);
}

static void *run_thread(void *arg)
{
	struct tvcpu *vcpu = arg;

	return (void *)(intptr_t)__vcpu_run(vcpu);
}

/* A vCPU inside the guest, using the range, when the range goes. */
TEST(remove_while_guest_runs)
{
	uint64_t gpa = RES_HPA + 0x300000, c0;
	struct axvm_run *run;
	struct tvcpu *vcpu;
	struct ucall uc;
	pthread_t thread;
	struct tvm *vm;
	void *ret;
	int i;

	REQUIRE_CARVEOUT();
	vm = vm_create_guest();
	ASSERT_EQ(0, pt_add(vm, gpa, 0, SZ_4K, RES | IDENT, 0));
	vcpu = vm_guest_vcpu_add(vm, 0, guest_poll);
	vcpu_set_arg(vcpu, gpa);
	run = vcpu->v.run;
	vm_start(vm);
	vcpu_run_sync_uc(vcpu, &uc);

	ASSERT_EQ(0, pthread_create(&thread, NULL, run_thread, vcpu));
	/* Wait until the guest is polling (its counter moves). */
	c0 = vm_read_u64(vm, (uint64_t)(uintptr_t)&guest_spin_counter);
	for (i = 0; i < 10000; i++) {
		if (vm_read_u64(vm, (uint64_t)(uintptr_t)&guest_spin_counter) !=
		    c0)
			break;
		usleep(1000);
	}
	ASSERT_LT(i, 10000);
	ASSERT_EQ(0, pt_remove(vm, gpa, SZ_4K));
	ASSERT_EQ(0, pthread_join(thread, &ret));
	ASSERT_EQ(0, (int)(intptr_t)ret);
	ASSERT_EXIT(vcpu, AXVM_EXIT_MMIO);
	ASSERT_EQ(gpa, run->mmio.gpa);
	run->mmio.data = ~uc.args[0];
	vcpu_run_sync(vcpu, ~uc.args[0]);
	vm_free(vm);
}

#define PATTERN		0xfeedfacecafebeefULL

static void guest_store(uint64_t gpa)
{
	*(volatile uint64_t *)(uintptr_t)gpa = PATTERN;
}

/* A range added while the VM runs replaces MMIO exits at once. */
TEST(add_while_running)
{
	uint64_t gpa = RES_HPA + 0x400000;
	struct tvcpu *vcpu, *w;
	struct axvm_run *run;
	struct tvm *vm, *wvm;

	REQUIRE_CARVEOUT();
	vm = vm_create_guest();
	vcpu = vm_guest_vcpu_add(vm, 0, guest_read_twice);
	vcpu_set_arg(vcpu, gpa);
	run = vcpu->v.run;
	vm_start(vm);

	/* Nothing there yet: MMIO. */
	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_MMIO);
	ASSERT_EQ(gpa, run->mmio.gpa);
	run->mmio.data = 7;
	vcpu_run_sync(vcpu, 7);

	/* Another VM leaves a known value in that reserved page. */
	wvm = vm_create_guest();
	ASSERT_EQ(0, pt_add(wvm, gpa, 0, SZ_4K, RES | IDENT, 0));
	w = vm_guest_vcpu_add(wvm, 0, guest_store);
	vcpu_set_arg(w, gpa);
	vm_start(wvm);
	vcpu_run_done(w);
	vm_free(wvm);

	ASSERT_EQ(0, pt_add(vm, gpa, 0, SZ_4K, RES | IDENT, "late"));
	vcpu_run_sync(vcpu, PATTERN);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

/* ---------------------------------------------------------------- */
/* The launcher's --passthrough and --reserved                       */
/* ---------------------------------------------------------------- */

#define LAUNCHER	"/bin/axvm"
#define HELLO		"/demo/hello-long.bin"

/* Runs the launcher with args; returns its exit status, output in out. */
static int launcher(const char *args, char *out, size_t size)
{
	char cmd[512];
	size_t n = 0;
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd), LAUNCHER " run --image " HELLO
		 " --load 0x100000 --mem 16M %s 2>&1 </dev/null", args);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (n + 1 < size && fgets(out + n, size - n, f))
		n += strlen(out + n);
	out[n] = 0;
	/* Read the rest too: a launcher writing to a closed pipe dies. */
	while (fgets(cmd, sizeof(cmd), f))
		;
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(launcher_flags)
{
	char out[16384];

	if (access(LAUNCHER, X_OK) || access(HELLO, R_OK))
		SKIP(return, "no %s or %s (not the test VM?)", LAUNCHER, HELLO);
	REQUIRE_CARVEOUT();
	REQUIRE_HPET();
	REQUIRE_RAM();
	ASSERT_EQ(0, launcher("--reserved 0x30000000:0x30000000:16M "
			      "--passthrough 0xfed00000:0xfed00000:0x400 "
			      "-p 0x40000000:0xfed00000:4K", out, sizeof(out)))
		TH_LOG("%s", out);
	ASSERT_NE(NULL, strstr(out, "Hello from axvm (long mode)"));
	/* RAM as a device, RAM as reserved memory: refused, status 2. */
	ASSERT_EQ(2, launcher("--passthrough 0x40000000:0x1000000:4K", out,
			      sizeof(out)));
	ASSERT_NE(NULL, strstr(out, "--passthrough 0x40000000:0x1000000:0x1000: refused"))
		TH_LOG("%s", out);
	ASSERT_EQ(2, launcher("-r 0x40000000:0x1000000:4K", out, sizeof(out)));
	ASSERT_NE(NULL, strstr(out, "refused")) TH_LOG("%s", out);
	/* Over guest RAM (--mem 16M). */
	ASSERT_EQ(2, launcher("--reserved 0:0x30000000:4K", out, sizeof(out)));
	ASSERT_NE(NULL, strstr(out, "overlaps guest RAM")) TH_LOG("%s", out);
	/* Malformed. */
	ASSERT_EQ(2, launcher("--passthrough 0x40000000:0xfed00000", out,
			      sizeof(out)));
	ASSERT_NE(NULL, strstr(out, "expected GPA:HPA:SIZE")) TH_LOG("%s", out);
	ASSERT_EQ(2, launcher("--reserved 1:2:0", out, sizeof(out)));
	ASSERT_EQ(2, launcher("--reserved 1:x:4K", out, sizeof(out)));
	ASSERT_EQ(0, launcher("--help", out, sizeof(out)));
	ASSERT_NE(NULL, strstr(out, "--passthrough GPA:HPA:SIZE"));
	ASSERT_NE(NULL, strstr(out, "--reserved GPA:HPA:SIZE"));
}

AXVM_TEST_HARNESS_MAIN
