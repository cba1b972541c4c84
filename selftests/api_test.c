// SPDX-License-Identifier: GPL-2.0
/*
 * api_test: the ioctl contract of uapi/linux/axvm.h itself.
 *
 * The "contract" fixture runs the same checks against every ioctl that
 * takes a struct (one variant per ioctl): exact size works and has its
 * effect; a size below the first version is EINVAL; a larger size is
 * accepted with a zero tail and E2BIG with any non-zero byte in it;
 * unknown flag bits and non-zero reserved fields are EINVAL; bad
 * pointers are EFAULT; and a rejected call changes nothing.
 *
 * The remaining tests cover the system ioctls' values, ENOTTY for
 * unknown numbers and for ioctls sent to the wrong kind of fd, fd
 * properties, the run structure mapping and register round trips.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "axvm_test.h"

enum fd_kind { FD_SYS, FD_VM, FD_VCPU };

struct rsv_field {
	uint16_t off;
	uint16_t len;
};

#define ARG_BUF_SIZE	1024
#define RSV(type, field) \
	{ offsetof(type, field), sizeof(((type *)0)->field) }

/* Pattern the fixture writes at GPA 0; READ_GUEST must return it. */
static uint8_t pattern_byte(unsigned int i)
{
	return (uint8_t)(i * 7 + 0x3c);
}

static bool all_zero(const uint8_t *p, size_t len)
{
	while (len--)
		if (*p++)
			return false;
	return true;
}

static int count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	TEST_ASSERT(d, "cannot open /proc/self/fd");
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

FIXTURE(contract) {
	int sys_fd;
	struct axvm_vm vm;
	struct axvm_vcpu vcpu;
	uint8_t guest_buf[64];
	unsigned int seq;
	uint8_t *guard;		/* a page, then a PROT_NONE page */
	uint8_t arg[ARG_BUF_SIZE] __attribute__((aligned(8)));
};

FIXTURE_VARIANT(contract) {
	int fd_kind;
	unsigned long req;
	uint32_t size;		/* sizeof the struct in this header */
	uint32_t size_v1;	/* its first version's size, if it grew */
	uint32_t valid_flags;
	/* Fills a valid argument into a zeroed buffer. */
	void (*prepare)(FIXTURE_DATA(contract) *self, void *arg);
	/* Checks the effect of a successful call returning ret. */
	void (*check)(struct __test_metadata *_metadata,
		      FIXTURE_DATA(contract) *self, void *arg, int ret);
	/* Fields that must be zero on input (len 0 terminates). */
	struct rsv_field reserved[6];
	/* Output-only reserved fields: may be ignored, but must come back 0. */
	struct rsv_field reserved_out[4];
};

/* ---- valid arguments ---- */

static void prep_none(FIXTURE_DATA(contract) *self, void *arg)
{
	(void)self;
	(void)arg;
}

static void prep_region(FIXTURE_DATA(contract) *self, void *arg)
{
	struct axvm_memory_region *r = arg;

	r->flags = AXVM_MEM_READ | AXVM_MEM_WRITE;
	r->gpa = 0x100000 + (uint64_t)self->seq++ * 0x1000;
	r->mem_size = 0x1000;
}

static void prep_vcpu(FIXTURE_DATA(contract) *self, void *arg)
{
	struct axvm_create_vcpu *c = arg;

	c->vcpu_id = 1 + self->seq++ % 63;
}

static void prep_read(FIXTURE_DATA(contract) *self, void *arg)
{
	struct axvm_guest_memory *g = arg;

	memset(self->guest_buf, 0, sizeof(self->guest_buf));
	g->gpa = 0;
	g->len = sizeof(self->guest_buf);
	g->buf = (uint64_t)(uintptr_t)self->guest_buf;
}

static void prep_write(FIXTURE_DATA(contract) *self, void *arg)
{
	struct axvm_guest_memory *g = arg;

	memset(self->guest_buf, 0xa5, sizeof(self->guest_buf));
	g->gpa = 0;
	g->len = sizeof(self->guest_buf);
	g->buf = (uint64_t)(uintptr_t)self->guest_buf;
}

static void prep_set_regs(FIXTURE_DATA(contract) *self, void *arg)
{
	struct axvm_regs *r = arg;

	TEST_ASSERT(!axvm_vcpu_get_regs(&self->vcpu, r), "GET_REGS");
	r->rax = 0x5a5a5a5a;
	r->size = 0;
	r->flags = 0;
}

static void prep_set_sregs(FIXTURE_DATA(contract) *self, void *arg)
{
	struct axvm_sregs *s = arg;

	TEST_ASSERT(!axvm_vcpu_get_sregs(&self->vcpu, s), "GET_SREGS");
	s->cr2 = 0x5a5a000;
	s->size = 0;
	s->flags = 0;
}

/* ---- effects of a successful call ---- */

static void check_caps(struct __test_metadata *_metadata,
		       FIXTURE_DATA(contract) *self, void *arg, int ret)
{
	struct axvm_caps *c = arg;

	(void)self;
	ASSERT_EQ(0, ret);
	ASSERT_EQ((uint32_t)AXVM_API_VERSION, c->api_version);
	ASSERT_EQ((uint32_t)AXVM_BACKEND_SVM, c->backend);
	ASSERT_NE(0U, c->run_size);
}

static void check_new_fd(struct __test_metadata *_metadata,
			 FIXTURE_DATA(contract) *self, void *arg, int ret)
{
	(void)self;
	(void)arg;
	ASSERT_LE(0, ret);
	ASSERT_NE(-1, fcntl(ret, F_GETFD));
	ASSERT_EQ(0, close(ret));
}

static void check_region(struct __test_metadata *_metadata,
			 FIXTURE_DATA(contract) *self, void *arg, int ret)
{
	struct axvm_memory_region *r = arg;
	uint64_t v = 1;

	ASSERT_EQ(0, ret);
	/* The new region is guest memory now, and zeroed. */
	ASSERT_EQ(0, axvm_vm_read(&self->vm, r->gpa, &v, sizeof(v)));
	ASSERT_EQ(0ULL, v);
}

static void check_status(struct __test_metadata *_metadata,
			 FIXTURE_DATA(contract) *self, void *arg, int ret)
{
	struct axvm_vm_status *st = arg;

	(void)self;
	ASSERT_EQ(0, ret);
	ASSERT_EQ((uint32_t)AXVM_VM_LOADING, st->state);
	ASSERT_EQ(1U, st->nr_vcpus);
	ASSERT_EQ(1U, st->nr_regions);
	ASSERT_EQ(SZ_64K, st->mem_bytes);
}

static void check_read(struct __test_metadata *_metadata,
		       FIXTURE_DATA(contract) *self, void *arg, int ret)
{
	unsigned int i;

	(void)arg;
	ASSERT_EQ(0, ret);
	for (i = 0; i < sizeof(self->guest_buf); i++)
		ASSERT_EQ(pattern_byte(i), self->guest_buf[i]);
}

static void check_write(struct __test_metadata *_metadata,
			FIXTURE_DATA(contract) *self, void *arg, int ret)
{
	uint8_t buf[64];
	unsigned int i;

	(void)arg;
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, axvm_vm_read(&self->vm, 0, buf, sizeof(buf)));
	for (i = 0; i < sizeof(buf); i++)
		ASSERT_EQ(0xa5, buf[i]);
}

static void check_get_regs(struct __test_metadata *_metadata,
			   FIXTURE_DATA(contract) *self, void *arg, int ret)
{
	struct axvm_regs *r = arg;

	(void)self;
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0x1234ULL, r->rip);
	ASSERT_EQ(0x8000ULL, r->rsp);
}

static void check_set_regs(struct __test_metadata *_metadata,
			   FIXTURE_DATA(contract) *self, void *arg, int ret)
{
	struct axvm_regs r;

	(void)arg;
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, axvm_vcpu_get_regs(&self->vcpu, &r));
	ASSERT_EQ(0x5a5a5a5aULL, r.rax);
}

static void check_get_sregs(struct __test_metadata *_metadata,
			    FIXTURE_DATA(contract) *self, void *arg, int ret)
{
	struct axvm_sregs *s = arg;

	(void)self;
	ASSERT_EQ(0, ret);
	ASSERT_EQ(AXVM_X86_DEFAULT_PML4, s->cr3);
	ASSERT_EQ(EFER_LME | EFER_LMA, s->efer & (EFER_LME | EFER_LMA));
	ASSERT_EQ(0ULL, s->efer & EFER_SVME);
}

static void check_set_sregs(struct __test_metadata *_metadata,
			    FIXTURE_DATA(contract) *self, void *arg, int ret)
{
	struct axvm_sregs s;

	(void)arg;
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, axvm_vcpu_get_sregs(&self->vcpu, &s));
	ASSERT_EQ(0x5a5a000ULL, s.cr2);
}

FIXTURE_VARIANT_ADD(contract, get_caps) {
	.fd_kind = FD_SYS, .req = AXVM_GET_CAPS,
	.size = sizeof(struct axvm_caps),
	.prepare = prep_none, .check = check_caps,
	.reserved_out = {
		RSV(struct axvm_caps, reserved[0]),
		RSV(struct axvm_caps, reserved[3]),
	},
};

FIXTURE_VARIANT_ADD(contract, create_vm) {
	.fd_kind = FD_SYS, .req = AXVM_CREATE_VM,
	.size = sizeof(struct axvm_create_vm),
	.prepare = prep_none, .check = check_new_fd,
	.reserved = {
		RSV(struct axvm_create_vm, reserved0),
		RSV(struct axvm_create_vm, reserved[0]),
		RSV(struct axvm_create_vm, reserved[1]),
	},
};

FIXTURE_VARIANT_ADD(contract, add_memory_region) {
	.fd_kind = FD_VM, .req = AXVM_ADD_MEMORY_REGION,
	.size = sizeof(struct axvm_memory_region),
	.valid_flags = AXVM_MEM_READ | AXVM_MEM_WRITE | AXVM_MEM_EXEC |
		       AXVM_MEM_LAZY,
	.prepare = prep_region, .check = check_region,
	.reserved = {
		RSV(struct axvm_memory_region, reserved[0]),
		RSV(struct axvm_memory_region, reserved[1]),
	},
};

FIXTURE_VARIANT_ADD(contract, create_vcpu) {
	.fd_kind = FD_VM, .req = AXVM_CREATE_VCPU,
	.size = sizeof(struct axvm_create_vcpu),
	.size_v1 = AXVM_CREATE_VCPU_SIZE_V1,
	.valid_flags = AXVM_VCPU_AFFINITY,
	.prepare = prep_vcpu, .check = check_new_fd,
	.reserved = {
		RSV(struct axvm_create_vcpu, reserved0),
		RSV(struct axvm_create_vcpu, reserved[0]),
		RSV(struct axvm_create_vcpu, reserved[1]),
		RSV(struct axvm_create_vcpu, reserved1),
	},
};

FIXTURE_VARIANT_ADD(contract, get_vm_status) {
	.fd_kind = FD_VM, .req = AXVM_GET_VM_STATUS,
	.size = sizeof(struct axvm_vm_status),
	.prepare = prep_none, .check = check_status,
	.reserved = {
		RSV(struct axvm_vm_status, reserved[0]),
		RSV(struct axvm_vm_status, reserved[1]),
	},
};

FIXTURE_VARIANT_ADD(contract, read_guest) {
	.fd_kind = FD_VM, .req = AXVM_READ_GUEST,
	.size = sizeof(struct axvm_guest_memory),
	.prepare = prep_read, .check = check_read,
	.reserved = {
		RSV(struct axvm_guest_memory, reserved[0]),
		RSV(struct axvm_guest_memory, reserved[1]),
	},
};

FIXTURE_VARIANT_ADD(contract, write_guest) {
	.fd_kind = FD_VM, .req = AXVM_WRITE_GUEST,
	.size = sizeof(struct axvm_guest_memory),
	.prepare = prep_write, .check = check_write,
	.reserved = {
		RSV(struct axvm_guest_memory, reserved[0]),
		RSV(struct axvm_guest_memory, reserved[1]),
	},
};

FIXTURE_VARIANT_ADD(contract, get_regs) {
	.fd_kind = FD_VCPU, .req = AXVM_GET_REGS,
	.size = sizeof(struct axvm_regs),
	.prepare = prep_none, .check = check_get_regs,
	.reserved = {
		RSV(struct axvm_regs, reserved[0]),
		RSV(struct axvm_regs, reserved[1]),
	},
};

FIXTURE_VARIANT_ADD(contract, set_regs) {
	.fd_kind = FD_VCPU, .req = AXVM_SET_REGS,
	.size = sizeof(struct axvm_regs),
	.prepare = prep_set_regs, .check = check_set_regs,
	.reserved = {
		RSV(struct axvm_regs, reserved[0]),
		RSV(struct axvm_regs, reserved[1]),
	},
};

FIXTURE_VARIANT_ADD(contract, get_sregs) {
	.fd_kind = FD_VCPU, .req = AXVM_GET_SREGS,
	.size = sizeof(struct axvm_sregs),
	.prepare = prep_none, .check = check_get_sregs,
	.reserved = {
		RSV(struct axvm_sregs, reserved[0]),
		RSV(struct axvm_sregs, reserved[3]),
	},
};

FIXTURE_VARIANT_ADD(contract, set_sregs) {
	.fd_kind = FD_VCPU, .req = AXVM_SET_SREGS,
	.size = sizeof(struct axvm_sregs),
	.prepare = prep_set_sregs, .check = check_set_sregs,
	.reserved = {
		RSV(struct axvm_sregs, gdt.reserved),
		RSV(struct axvm_sregs, idt.reserved),
		RSV(struct axvm_sregs, reserved[0]),
		RSV(struct axvm_sregs, reserved[3]),
	},
};

FIXTURE_SETUP(contract)
{
	struct axvm_x86_layout layout;
	uint8_t pat[64];
	unsigned int i;

	self->sys_fd = sys_open();
	ASSERT_EQ(0, axvm_vm_create(&self->vm));
	ASSERT_EQ(0, axvm_vm_add_memory_region(&self->vm, 0, SZ_64K,
					       AXVM_MEM_READ | AXVM_MEM_WRITE |
					       AXVM_MEM_EXEC, NULL));
	ASSERT_EQ(0, axvm_vcpu_create(&self->vm, 0, &self->vcpu));
	axvm_x86_default_layout(&layout);
	ASSERT_EQ(0, axvm_x86_setup_mode(&self->vm, &self->vcpu,
					 AXVM_MODE_LONG, 0x1234, 0x8000,
					 &layout));
	for (i = 0; i < sizeof(pat); i++)
		pat[i] = pattern_byte(i);
	ASSERT_EQ(0, axvm_vm_write(&self->vm, 0, pat, sizeof(pat)));
	self->guard = alloc_guarded_page();
	ASSERT_LE(variant->size, (uint32_t)ARG_BUF_SIZE - 256);
}

FIXTURE_TEARDOWN(contract)
{
	axvm_vcpu_destroy(&self->vcpu);
	axvm_vm_destroy(&self->vm);
	close(self->sys_fd);
	munmap(self->guard, 2 * getpagesize());
}

static int contract_fd(FIXTURE_DATA(contract) *self,
		       const FIXTURE_VARIANT(contract) *variant)
{
	switch (variant->fd_kind) {
	case FD_SYS:
		return self->sys_fd;
	case FD_VM:
		return self->vm.fd;
	default:
		return self->vcpu.fd;
	}
}

static void *fresh_arg(FIXTURE_DATA(contract) *self,
		       const FIXTURE_VARIANT(contract) *variant,
		       uint32_t size)
{
	memset(self->arg, 0, sizeof(self->arg));
	variant->prepare(self, self->arg);
	memcpy(self->arg, &size, sizeof(size));
	return self->arg;
}

static uint32_t arg_flags(const void *arg)
{
	uint32_t f;

	memcpy(&f, (const uint8_t *)arg + 4, sizeof(f));
	return f;
}

static void set_arg_flags(void *arg, uint32_t f)
{
	memcpy((uint8_t *)arg + 4, &f, sizeof(f));
}

/* The size below which the struct is refused: its first version's. */
static uint32_t v1_size(const FIXTURE_VARIANT(contract) *variant)
{
	return variant->size_v1 ? variant->size_v1 : variant->size;
}

static int call(FIXTURE_DATA(contract) *self,
		const FIXTURE_VARIANT(contract) *variant, void *arg)
{
	return __test_ioctl(contract_fd(self, variant), variant->req, arg);
}

TEST_F(contract, exact_size)
{
	void *arg = fresh_arg(self, variant, variant->size);

	variant->check(_metadata, self, arg, call(self, variant, arg));
}

/* Callers built against the first version of a struct keep working. */
TEST_F(contract, first_version_size)
{
	void *arg = fresh_arg(self, variant, v1_size(variant));

	variant->check(_metadata, self, arg, call(self, variant, arg));
}

TEST_F(contract, size_too_small)
{
	uint32_t v1 = v1_size(variant);
	uint32_t sizes[] = { 0, 4, 8, v1 - 8, v1 - 1 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		void *arg = fresh_arg(self, variant, sizes[i]);

		ASSERT_EQ(-EINVAL, call(self, variant, arg))
			ITER("size %u", sizes[i]);
	}
}

TEST_F(contract, larger_size_zero_tail)
{
	uint32_t extra[] = { 8, 256 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(extra); i++) {
		void *arg = fresh_arg(self, variant, variant->size + extra[i]);

		variant->check(_metadata, self, arg, call(self, variant, arg));
	}
}

TEST_F(contract, larger_size_nonzero_tail)
{
	uint32_t pos[] = { 0, 7, 100, 255 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(pos); i++) {
		uint8_t *arg = fresh_arg(self, variant, variant->size + 256);

		arg[variant->size + pos[i]] = 0x01;
		ASSERT_EQ(-E2BIG, call(self, variant, arg))
			ITER("non-zero byte at size + %u", pos[i]);
	}
}

TEST_F(contract, unknown_flags)
{
	unsigned int bit;

	for (bit = 0; bit < 32; bit++) {
		void *arg;

		if (variant->valid_flags & (1U << bit))
			continue;
		arg = fresh_arg(self, variant, variant->size);
		set_arg_flags(arg, arg_flags(arg) | (1U << bit));
		ASSERT_EQ(-EINVAL, call(self, variant, arg))
			ITER("flag bit %u", bit);
	}
}

TEST_F(contract, reserved_nonzero)
{
	const struct rsv_field *r;

	ASSERT_TRUE(variant->reserved[0].len || variant->reserved_out[0].len);
	/* Output-only: refused, or overwritten with zero. */
	for (r = variant->reserved_out; r->len; r++) {
		uint8_t *arg = fresh_arg(self, variant, variant->size);
		int ret;

		memset(arg + r->off, 0xa5, r->len);
		ret = call(self, variant, arg);
		if (ret != -EINVAL) {
			ASSERT_EQ(0, ret)
				ITER("output reserved field at %u", r->off);
			ASSERT_TRUE(all_zero(arg + r->off, r->len))
				ITER("output reserved field at %u", r->off);
		}
	}
	for (r = variant->reserved; r->len; r++) {
		uint8_t *arg;

		/* Lowest byte, then highest byte of the field. */
		arg = fresh_arg(self, variant, variant->size);
		arg[r->off] = 1;
		ASSERT_EQ(-EINVAL, call(self, variant, arg))
			ITER("reserved field at %u, low byte", r->off);

		arg = fresh_arg(self, variant, variant->size);
		arg[r->off + r->len - 1] = 0x80;
		ASSERT_EQ(-EINVAL, call(self, variant, arg))
			ITER("reserved field at %u, high byte", r->off);
	}
}

TEST_F(contract, bad_pointer)
{
	long psz = getpagesize();
	void *arg;
	uint8_t *straddle;

	ASSERT_EQ(-EFAULT, call(self, variant, NULL));
	ASSERT_EQ(-EFAULT, call(self, variant, unmapped_address()));
	ASSERT_EQ(-EFAULT,
		  call(self, variant, (void *)0xffffffff81000000ULL));
	ASSERT_EQ(-EFAULT,
		  call(self, variant, (void *)0x0000800000000000ULL));

	/* The size field is readable, the struct's last byte is not. */
	arg = fresh_arg(self, variant, variant->size);
	straddle = self->guard + psz - (variant->size - 1);
	memcpy(straddle, arg, variant->size - 1);
	ASSERT_EQ(-EFAULT, call(self, variant, straddle));
}

TEST_F(contract, failure_changes_nothing)
{
	struct axvm_vm_status st0, st1;
	struct axvm_regs r0, r1;
	struct axvm_sregs s0, s1;
	uint8_t g0[64], g1[64];
	const struct rsv_field *r;
	int fds0, fds1;
	uint8_t *arg;

	ASSERT_EQ(0, axvm_vm_status(&self->vm, &st0));
	ASSERT_EQ(0, axvm_vcpu_get_regs(&self->vcpu, &r0));
	ASSERT_EQ(0, axvm_vcpu_get_sregs(&self->vcpu, &s0));
	ASSERT_EQ(0, axvm_vm_read(&self->vm, 0, g0, sizeof(g0)));
	fds0 = count_open_fds();

	arg = fresh_arg(self, variant, v1_size(variant) - 8);
	ASSERT_EQ(-EINVAL, call(self, variant, arg));

	arg = fresh_arg(self, variant, variant->size + 8);
	arg[variant->size + 7] = 0xff;
	ASSERT_EQ(-E2BIG, call(self, variant, arg));

	arg = fresh_arg(self, variant, variant->size);
	set_arg_flags(arg, arg_flags(arg) | 0x80000000U);
	ASSERT_EQ(-EINVAL, call(self, variant, arg));

	for (r = variant->reserved; r->len; r++) {
		arg = fresh_arg(self, variant, variant->size);
		arg[r->off] = 0xff;
		ASSERT_EQ(-EINVAL, call(self, variant, arg));
	}

	ASSERT_EQ(0, axvm_vm_status(&self->vm, &st1));
	ASSERT_EQ(st0.state, st1.state);
	ASSERT_EQ(st0.nr_vcpus, st1.nr_vcpus);
	ASSERT_EQ(st0.nr_regions, st1.nr_regions);
	ASSERT_EQ(st0.mem_bytes, st1.mem_bytes);
	ASSERT_EQ(0, axvm_vcpu_get_regs(&self->vcpu, &r1));
	ASSERT_EQ(r0.rax, r1.rax);
	ASSERT_EQ(r0.rip, r1.rip);
	ASSERT_EQ(0, axvm_vcpu_get_sregs(&self->vcpu, &s1));
	ASSERT_EQ(s0.cr2, s1.cr2);
	ASSERT_EQ(s0.cr3, s1.cr3);
	ASSERT_EQ(0, axvm_vm_read(&self->vm, 0, g1, sizeof(g1)));
	ASSERT_EQ(0, memcmp(g0, g1, sizeof(g0)));
	fds1 = count_open_fds();
	ASSERT_EQ(fds0, fds1);
}

/* ---------------------------------------------------------------- */

TEST(api_version)
{
	int fd = sys_open();

	ASSERT_EQ(AXVM_API_VERSION, ioctl(fd, AXVM_GET_API_VERSION, 0));
	ASSERT_EQ(1, ioctl(fd, AXVM_GET_API_VERSION, 0));
	close(fd);
}

TEST(caps_values)
{
	const uint64_t want = AXVM_FEATURE_NESTED_PAGING |
			      AXVM_FEATURE_LAZY_MEMORY |
			      AXVM_FEATURE_MMIO_DECODE |
			      AXVM_FEATURE_GUEST_RW |
			      AXVM_FEATURE_HYPERCALL | AXVM_FEATURE_XSAVE;
	struct axvm_caps caps;
	int fd = sys_open();
	unsigned int i;

	memset(&caps, 0, sizeof(caps));
	caps.size = sizeof(caps);
	ASSERT_EQ(0, ioctl(fd, AXVM_GET_CAPS, &caps));
	ASSERT_EQ(sizeof(caps), caps.size);
	ASSERT_EQ(0U, caps.flags);
	ASSERT_EQ((uint32_t)AXVM_API_VERSION, caps.api_version);
	ASSERT_EQ((uint32_t)AXVM_BACKEND_SVM, caps.backend);
	ASSERT_EQ(want, caps.features & want);
	ASSERT_EQ(64U, caps.max_vcpus);
	ASSERT_EQ(64U, caps.max_mem_regions);
	/* A 4 GiB lazy region at 4 GiB must fit; the guest's VA is 48 bits. */
	ASSERT_LE(36U, caps.gpa_bits);
	ASSERT_GE(47U, caps.gpa_bits);
	ASSERT_TRUE(caps.npt_levels == 4 || caps.npt_levels == 5);
	ASSERT_LE(2U, caps.nr_asids);
	ASSERT_EQ(4096U, caps.run_size);
	ASSERT_LE(sizeof(struct axvm_run), (size_t)caps.run_size);
	for (i = 0; i < ARRAY_SIZE(caps.reserved); i++)
		ASSERT_EQ(0ULL, caps.reserved[i]);
	close(fd);
}

/*
 * Nested page tables must have as many levels as the host's paging: a
 * 5-level host (CR4.LA57, as in the test VM) hands out user addresses
 * above 47 bits when asked for one.
 */
TEST(npt_levels_follow_host_paging)
{
	void *hint = (void *)(1ULL << 50);
	bool la57;
	void *p;

	p = mmap(hint, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	la57 = (uint64_t)(uintptr_t)p >= (1ULL << 47);
	munmap(p, 4096);
	TH_LOG("host paging: %d levels", la57 ? 5 : 4);
	ASSERT_EQ(la57 ? 5U : 4U, sys_caps()->npt_levels);
}

static void expect_enotty(struct __test_metadata *_metadata, int fd,
			  const char *what)
{
	/* Numbers no ioctl of this header uses (on any kind of fd). */
	static const unsigned long nrs[] = {
		_IO(AXVM_IOCTL_TYPE, 0x03), _IO(AXVM_IOCTL_TYPE, 0x0f),
		_IO(AXVM_IOCTL_TYPE, 0x2f), _IO(AXVM_IOCTL_TYPE, 0x3f),
		_IO(AXVM_IOCTL_TYPE, 0x7f), _IO(AXVM_IOCTL_TYPE, 0xff),
		/* Known numbers with direction/size bits: not the same ioctl. */
		_IOR(AXVM_IOCTL_TYPE, 0x00, int),
		_IOWR(AXVM_IOCTL_TYPE, 0x01, struct axvm_caps),
		_IOW(AXVM_IOCTL_TYPE, 0x15, struct axvm_vm_status),
		_IOWR(AXVM_IOCTL_TYPE, 0x21, struct axvm_regs),
		/* Other ioctl types. */
		_IO(0xAE, 0x00), _IO(0xAE, 0x01), _IO(0xA6, 0x20),
		TCGETS, FIONREAD,
	};
	uint8_t buf[1024];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(nrs); i++) {
		memset(buf, 0, sizeof(buf));
		ASSERT_EQ(-ENOTTY, __test_ioctl(fd, nrs[i], buf))
			ITER("%s: ioctl %#lx", what, nrs[i]);
	}
}

TEST(unknown_ioctls_enotty)
{
	struct tvm *vm = vm_create_barebones();
	struct tvcpu *vcpu = vm_vcpu_add(vm, 0);

	expect_enotty(_metadata, vm->vm.sys_fd, "/dev/axvm");
	expect_enotty(_metadata, vm->vm.fd, "VM fd");
	expect_enotty(_metadata, vcpu->v.fd, "vCPU fd");
	vm_free(vm);
}

/* Every ioctl belongs to one kind of fd; on the others it is unknown. */
TEST(ioctls_on_wrong_fd_enotty)
{
	static const unsigned long sys_ioctls[] = {
		AXVM_GET_API_VERSION, AXVM_GET_CAPS, AXVM_CREATE_VM,
	};
	static const unsigned long vm_ioctls[] = {
		AXVM_ADD_MEMORY_REGION, AXVM_CREATE_VCPU, AXVM_FINALIZE,
		AXVM_BOOT, AXVM_SHUTDOWN, AXVM_GET_VM_STATUS,
		AXVM_READ_GUEST, AXVM_WRITE_GUEST,
	};
	static const unsigned long vcpu_ioctls[] = {
		AXVM_RUN, AXVM_GET_REGS, AXVM_SET_REGS, AXVM_GET_SREGS,
		AXVM_SET_SREGS,
	};
	struct tvm *vm = vm_create_barebones();
	struct tvcpu *vcpu = vm_vcpu_add(vm, 0);
	uint8_t buf[1024];
	unsigned int i;

	/* Any argument would be valid-looking: size set, rest zero. */
	memset(buf, 0, sizeof(buf));
	buf[0] = 0xff;
	buf[1] = 0x01;

	for (i = 0; i < ARRAY_SIZE(sys_ioctls); i++) {
		ASSERT_EQ(-ENOTTY, __test_ioctl(vm->vm.fd, sys_ioctls[i], buf));
		ASSERT_EQ(-ENOTTY, __test_ioctl(vcpu->v.fd, sys_ioctls[i], buf));
	}
	for (i = 0; i < ARRAY_SIZE(vm_ioctls); i++) {
		ASSERT_EQ(-ENOTTY,
			  __test_ioctl(vm->vm.sys_fd, vm_ioctls[i], buf));
		ASSERT_EQ(-ENOTTY, __test_ioctl(vcpu->v.fd, vm_ioctls[i], buf));
	}
	for (i = 0; i < ARRAY_SIZE(vcpu_ioctls); i++) {
		ASSERT_EQ(-ENOTTY,
			  __test_ioctl(vm->vm.sys_fd, vcpu_ioctls[i], buf));
		ASSERT_EQ(-ENOTTY, __test_ioctl(vm->vm.fd, vcpu_ioctls[i], buf));
	}
	/* Nothing above may have changed the VM. */
	ASSERT_STATE(vm, AXVM_VM_LOADING);
	vm_free(vm);
}

TEST(create_vm_fds_and_ids)
{
	struct axvm_memory_region r = {
		.size = sizeof(r), .flags = AXVM_MEM_READ,
		.gpa = 0, .mem_size = 4096,
	};
	struct axvm_vm_status st = { .size = sizeof(st) };
	struct axvm_create_vm c1, c2;
	int fd = sys_open();
	struct stat s0, s1, s2;
	int vm1, vm2;

	memset(&c1, 0, sizeof(c1));
	c1.size = sizeof(c1);
	c2 = c1;
	vm1 = ioctl(fd, AXVM_CREATE_VM, &c1);
	ASSERT_LE(0, vm1);
	vm2 = ioctl(fd, AXVM_CREATE_VM, &c2);
	ASSERT_LE(0, vm2);
	ASSERT_NE(c1.vm_id, c2.vm_id);
	/* O_CLOEXEC, and not /dev/axvm itself. */
	ASSERT_EQ(FD_CLOEXEC, fcntl(vm1, F_GETFD) & FD_CLOEXEC);
	ASSERT_EQ(FD_CLOEXEC, fcntl(vm2, F_GETFD) & FD_CLOEXEC);
	ASSERT_EQ(0, fstat(fd, &s0));
	ASSERT_EQ(0, fstat(vm1, &s1));
	ASSERT_EQ(0, fstat(vm2, &s2));
	ASSERT_FALSE(s0.st_ino == s1.st_ino && s0.st_dev == s1.st_dev);
	/* Each VM fd is its own VM. */
	ASSERT_EQ(0, ioctl(vm1, AXVM_ADD_MEMORY_REGION, &r));
	ASSERT_EQ(0, ioctl(vm2, AXVM_GET_VM_STATUS, &st));
	ASSERT_EQ(0U, st.nr_regions);
	ASSERT_EQ(0, ioctl(vm1, AXVM_GET_VM_STATUS, &st));
	ASSERT_EQ(1U, st.nr_regions);
	close(vm1);
	close(vm2);
	close(fd);
}

TEST(vm_outlives_sys_fd)
{
	struct axvm_create_vm c = { .size = sizeof(c) };
	struct axvm_memory_region r = {
		.size = sizeof(r), .flags = AXVM_MEM_READ | AXVM_MEM_WRITE,
		.gpa = 0, .mem_size = SZ_64K,
	};
	struct axvm_create_vcpu cv = { .size = sizeof(cv), .vcpu_id = 0 };
	struct axvm_vm_status st = { .size = sizeof(st) };
	int fd = sys_open();
	int vm, vcpu;

	vm = ioctl(fd, AXVM_CREATE_VM, &c);
	ASSERT_LE(0, vm);
	ASSERT_EQ(0, close(fd));

	ASSERT_EQ(0, ioctl(vm, AXVM_ADD_MEMORY_REGION, &r));
	vcpu = ioctl(vm, AXVM_CREATE_VCPU, &cv);
	ASSERT_LE(0, vcpu);
	ASSERT_EQ(0, ioctl(vm, AXVM_FINALIZE, 0));
	ASSERT_EQ(0, ioctl(vm, AXVM_GET_VM_STATUS, &st));
	ASSERT_EQ((uint32_t)AXVM_VM_LOADED, st.state);
	ASSERT_EQ(1U, st.nr_vcpus);
	ASSERT_EQ(1U, st.nr_regions);
	close(vcpu);
	close(vm);
}

TEST(vcpu_run_mapping)
{
	struct tvm *vm = vm_create_barebones();
	struct tvcpu *vcpu = vm_vcpu_add(vm, 0);
	uint32_t run_size = vm->caps.run_size;
	struct axvm_run *a, *b;

	a = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 vcpu->v.fd, 0);
	ASSERT_NE(MAP_FAILED, a);
	b = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 vcpu->v.fd, 0);
	ASSERT_NE(MAP_FAILED, b);
	ASSERT_NE(a, b);
	/* A fresh vCPU has not exited yet. */
	ASSERT_EQ((uint32_t)AXVM_EXIT_NONE, a->exit_reason);
	ASSERT_EQ(0ULL, a->exit_count);
	/* Both mappings, and libaxvm's, are the same page. */
	a->io.data = 0x0123456789abcdefULL;
	ASSERT_EQ(0x0123456789abcdefULL, b->io.data);
	ASSERT_EQ(0x0123456789abcdefULL, vcpu->v.run->io.data);
	munmap(a, run_size);
	munmap(b, run_size);
	vm_free(vm);
}

TEST(regs_roundtrip)
{
	struct tvm *vm = vm_create_barebones();
	struct tvcpu *vcpu = vm_vcpu_add(vm, 0);
	struct axvm_regs in, out;
	__u64 *gpr;
	unsigned int i;

	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	/* rax .. r15: 16 distinct values with every byte in use. */
	gpr = &in.rax;
	for (i = 0; i < 16; i++)
		gpr[i] = 0x0102030405060708ULL * (i + 1) ^ 0x8000000000000000ULL;
	in.rip = 0xfedcba9876543210ULL & 0x00007fffffffffffULL;
	in.rflags = 0x2 | (1ULL << 11) | (1ULL << 0); /* OF, CF */
	ASSERT_EQ(0, ioctl(vcpu->v.fd, AXVM_SET_REGS, &in));
	memset(&out, 0, sizeof(out));
	out.size = sizeof(out);
	ASSERT_EQ(0, ioctl(vcpu->v.fd, AXVM_GET_REGS, &out));
	ASSERT_EQ(0, memcmp(&in.rax, &out.rax, 16 * sizeof(uint64_t)));
	ASSERT_EQ(in.rip, out.rip);
	ASSERT_EQ(in.rflags, out.rflags);
	vm_free(vm);
}

TEST(sregs_roundtrip)
{
	struct tvm *vm = vm_create_guest();
	struct tvcpu *vcpu = vm_guest_vcpu_add(vm, 0, (void *)0x400000);
	struct axvm_sregs a, b;

	vcpu_sregs_get(vcpu, &a);
	a.cr2 = 0xdeadb000;
	a.fs.base = 0x12345000;
	a.gs.base = 0x0000765400001000ULL;
	a.tr.base = 0x7000;
	vcpu_sregs_set(vcpu, &a);
	vcpu_sregs_get(vcpu, &b);
	ASSERT_EQ(0, memcmp(&a.cs, &b.cs, sizeof(struct axvm_segment)));
	ASSERT_EQ(0, memcmp(&a.ss, &b.ss, sizeof(struct axvm_segment)));
	ASSERT_EQ(0, memcmp(&a.fs, &b.fs, sizeof(struct axvm_segment)));
	ASSERT_EQ(0, memcmp(&a.gs, &b.gs, sizeof(struct axvm_segment)));
	ASSERT_EQ(0, memcmp(&a.tr, &b.tr, sizeof(struct axvm_segment)));
	ASSERT_EQ(a.gdt.base, b.gdt.base);
	ASSERT_EQ(a.gdt.limit, b.gdt.limit);
	ASSERT_EQ(a.idt.base, b.idt.base);
	ASSERT_EQ(a.idt.limit, b.idt.limit);
	ASSERT_EQ(a.cr0, b.cr0);
	ASSERT_EQ(a.cr2, b.cr2);
	ASSERT_EQ(a.cr3, b.cr3);
	ASSERT_EQ(a.cr4, b.cr4);
	ASSERT_EQ(a.efer, b.efer);
	vm_free(vm);
}

TEST(set_sregs_svme_einval)
{
	struct tvm *vm = vm_create_guest();
	struct tvcpu *vcpu = vm_guest_vcpu_add(vm, 0, (void *)0x400000);
	struct axvm_sregs s, t;

	vcpu_sregs_get(vcpu, &s);
	ASSERT_EQ(0ULL, s.efer & EFER_SVME);
	s.efer |= EFER_SVME;
	s.cr2 = 0x1000;
	ASSERT_EQ(-EINVAL, VCPU_IOCTL(vcpu, AXVM_SET_SREGS, &s));
	vcpu_sregs_get(vcpu, &t);
	ASSERT_EQ(0ULL, t.efer & EFER_SVME);
	ASSERT_NE(0x1000ULL, t.cr2);
	vm_free(vm);
}

AXVM_TEST_HARNESS_MAIN
