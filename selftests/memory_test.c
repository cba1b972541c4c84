// SPDX-License-Identifier: GPL-2.0
/*
 * memory_test: guest memory regions.
 *
 * AXVM_ADD_MEMORY_REGION's validation (flags, alignment, size, range,
 * overlap, the region limit), mmap() of the VM fd, AXVM_READ_GUEST and
 * AXVM_WRITE_GUEST (page and region crossings, all-or-nothing EFAULT,
 * bad buffers), lazy regions (free until touched, by the host or by the
 * guest, one page per touched page), and region permissions as the
 * guest sees them (a write to a read-only region is an MMIO exit,
 * executing a non-executable region or unbacked memory fails).
 */
#include <sys/mman.h>

#include "axvm_test.h"

#define RW	(AXVM_MEM_READ | AXVM_MEM_WRITE)
#define RWX	(AXVM_MEM_READ | AXVM_MEM_WRITE | AXVM_MEM_EXEC)

static int add(struct tvm *vm, uint64_t gpa, uint64_t size, uint32_t flags)
{
	return __vm_add_region(vm, gpa, size, flags, NULL);
}

static uint32_t nr_regions(struct tvm *vm)
{
	struct axvm_vm_status st;

	vm_status(vm, &st);
	return st.nr_regions;
}

static uint64_t populated(struct tvm *vm)
{
	struct axvm_vm_status st;

	vm_status(vm, &st);
	return st.populated_bytes;
}

static bool all_bytes(const void *p, size_t len, uint8_t v)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != v)
			return false;
	return true;
}

static int rw_raw(struct tvm *vm, unsigned long req, uint64_t gpa,
		  void *buf, uint64_t len)
{
	struct axvm_guest_memory g = {
		.size = sizeof(g), .gpa = gpa, .len = len,
		.buf = (uint64_t)(uintptr_t)buf,
	};

	return __vm_ioctl(vm, req, &g);
}

/* ---------------------------------------------------------------- */

TEST(add_region_basics)
{
	struct tvm *vm = vm_create_barebones();
	uint64_t off1, off2;
	struct axvm_vm_status st;

	off1 = vm_add_region(vm, 0, SZ_1M, RWX);
	off2 = vm_add_region(vm, 0x10000000, SZ_64K, AXVM_MEM_READ);
	ASSERT_NE(off1, off2);
	ASSERT_EQ(0ULL, off1 & (SZ_4K - 1));
	ASSERT_EQ(0ULL, off2 & (SZ_4K - 1));
	/* The two offset ranges do not overlap. */
	ASSERT_TRUE(off1 + SZ_1M <= off2 || off2 + SZ_64K <= off1);
	vm_status(vm, &st);
	ASSERT_EQ(2U, st.nr_regions);
	ASSERT_EQ(SZ_1M + SZ_64K, st.mem_bytes);
	ASSERT_EQ(SZ_1M + SZ_64K, st.populated_bytes);
	vm_free(vm);
}

TEST(region_flags_invalid)
{
	struct tvm *vm = vm_create_barebones();
	uint32_t bad[] = {
		0, AXVM_MEM_WRITE, AXVM_MEM_EXEC, AXVM_MEM_LAZY,
		AXVM_MEM_WRITE | AXVM_MEM_EXEC | AXVM_MEM_LAZY,
		AXVM_MEM_READ | (1U << 4), AXVM_MEM_READ | (1U << 8),
		AXVM_MEM_READ | (1U << 31), RWX | 0xfffffff0U,
	};
	uint32_t good[] = {
		AXVM_MEM_READ, AXVM_MEM_READ | AXVM_MEM_EXEC, RW, RWX,
		RWX | AXVM_MEM_LAZY, AXVM_MEM_READ | AXVM_MEM_LAZY,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		ASSERT_EQ(-EINVAL, add(vm, 0, SZ_4K, bad[i]))
			ITER("flags %#x", bad[i]);
	}
	ASSERT_EQ(0U, nr_regions(vm));
	for (i = 0; i < ARRAY_SIZE(good); i++) {
		ASSERT_EQ(0, add(vm, i * SZ_64K, SZ_64K, good[i]))
			ITER("flags %#x", good[i]);
	}
	ASSERT_EQ(ARRAY_SIZE(good), nr_regions(vm));
	vm_free(vm);
}

TEST(region_unaligned_edom)
{
	struct tvm *vm = vm_create_barebones();
	struct { uint64_t gpa, size; } bad[] = {
		{ 0x1, SZ_4K }, { 0x800, SZ_4K }, { 0xfff, SZ_4K },
		{ SZ_1M + 0x10, SZ_64K },
		{ 0, 0x1 }, { 0, 0x800 }, { 0, 0x1001 }, { SZ_1M, 0x1fff },
		{ 0x800, 0x800 },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		ASSERT_EQ(-EDOM, add(vm, bad[i].gpa, bad[i].size, RW))
			ITER("#%u", i);
		ASSERT_EQ(-EDOM, add(vm, bad[i].gpa, bad[i].size,
				     RW | AXVM_MEM_LAZY))
			ITER("#%u, lazy", i);
	}
	ASSERT_EQ(0U, nr_regions(vm));
	vm_free(vm);
}

TEST(region_zero_size_emsgsize)
{
	struct tvm *vm = vm_create_barebones();

	ASSERT_EQ(-EMSGSIZE, add(vm, 0, 0, RW));
	ASSERT_EQ(-EMSGSIZE, add(vm, SZ_1M, 0, RW | AXVM_MEM_LAZY));
	ASSERT_EQ(0U, nr_regions(vm));
	vm_free(vm);
}

TEST(region_out_of_range_erange)
{
	struct tvm *vm = vm_create_barebones();
	uint64_t top = 1ULL << vm->caps.gpa_bits;
	struct { uint64_t gpa, size; } bad[] = {
		{ top, SZ_4K },
		{ top - SZ_4K, 2 * SZ_4K },
		{ top - SZ_1M, SZ_2M },
		{ 0, top + SZ_4K },
		{ 1ULL << 62, SZ_4K },
		{ 1ULL << 63, SZ_4K },
		/* gpa + size wraps around 2^64 */
		{ 0xfffffffffffff000ULL, 2 * SZ_4K },
		{ SZ_4K, 0xfffffffffffff000ULL },
		{ 0xfffffffffffff000ULL, 0xfffffffffffff000ULL },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		/* Lazy, so nothing would be allocated even if it were taken. */
		ASSERT_EQ(-ERANGE, add(vm, bad[i].gpa, bad[i].size,
				       RW | AXVM_MEM_LAZY))
			ITER("#%u", i);
	}
	ASSERT_EQ(-ERANGE, add(vm, top, SZ_4K, RW));
	ASSERT_EQ(0U, nr_regions(vm));
	vm_free(vm);
}

TEST(region_at_top_of_gpa_space)
{
	struct tvm *vm = vm_create_barebones();
	uint64_t top = 1ULL << vm->caps.gpa_bits;
	uint64_t v = 0x1122334455667788ULL, r = 0;

	ASSERT_EQ(0, add(vm, top - SZ_4K, SZ_4K, RW));
	ASSERT_EQ(0, add(vm, top - SZ_1G, SZ_1G - SZ_4K, RW | AXVM_MEM_LAZY));
	ASSERT_EQ(2U, nr_regions(vm));
	vm_write(vm, top - 8, &v, sizeof(v));
	vm_read(vm, top - 8, &r, sizeof(r));
	ASSERT_EQ(v, r);
	/* One byte past the end of guest physical memory. */
	ASSERT_EQ(-EFAULT, rw_raw(vm, AXVM_READ_GUEST, top - 8, &r, 9));
	vm_free(vm);
}

TEST(region_overlap_eexist)
{
	struct tvm *vm = vm_create_barebones();
	struct { uint64_t gpa, size; } bad[] = {
		{ 0x100000, 0x100000 },		/* the same */
		{ 0x0ff000, 0x2000 },		/* over the start */
		{ 0x1ff000, 0x2000 },		/* over the end */
		{ 0x180000, 0x1000 },		/* inside */
		{ 0x000000, 0x400000 },		/* around */
		{ 0x1ff000, 0x1000 },		/* last page */
		{ 0x100000, 0x1000 },		/* first page */
	};
	unsigned int i;

	ASSERT_EQ(0, add(vm, 0x100000, 0x100000, RW));
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		ASSERT_EQ(-EEXIST, add(vm, bad[i].gpa, bad[i].size, RW))
			ITER("#%u", i);
		ASSERT_EQ(-EEXIST, add(vm, bad[i].gpa, bad[i].size,
				       AXVM_MEM_READ | AXVM_MEM_LAZY))
			ITER("#%u, lazy", i);
	}
	ASSERT_EQ(1U, nr_regions(vm));
	/* Touching is not overlapping. */
	ASSERT_EQ(0, add(vm, 0x0ff000, 0x1000, RW));
	ASSERT_EQ(0, add(vm, 0x200000, 0x1000, RW));
	ASSERT_EQ(3U, nr_regions(vm));
	/* And a new region may not overlap the newer ones either. */
	ASSERT_EQ(-EEXIST, add(vm, 0x200000, 0x2000, RW));
	ASSERT_EQ(-EEXIST, add(vm, 0x0fe000, 0x2000, RW));
	vm_free(vm);
}

TEST(region_limit_enospc)
{
	struct tvm *vm = vm_create_barebones();
	uint32_t max = vm->caps.max_mem_regions;
	struct axvm_vm_status st;
	uint32_t i;

	ASSERT_EQ(64U, max);
	for (i = 0; i < max; i++)
		ASSERT_EQ(0, add(vm, i * SZ_64K, SZ_4K, RW));
	ASSERT_EQ(-ENOSPC, add(vm, max * SZ_64K, SZ_4K, RW));
	ASSERT_EQ(-ENOSPC, add(vm, SZ_4G, SZ_4G, RW | AXVM_MEM_LAZY));
	vm_status(vm, &st);
	ASSERT_EQ(max, st.nr_regions);
	ASSERT_EQ(max * SZ_4K, st.mem_bytes);
	vm_free(vm);
}

/* ---- mmap() of the VM fd ---- */

TEST(mmap_shared_coherent)
{
	struct tvm *vm = vm_create_barebones();
	struct axvm_mem a, b;
	uint64_t v;

	ASSERT_EQ(0, axvm_vm_add_memory(&vm->vm, 0, SZ_1M, RW, &a));
	ASSERT_EQ(0, axvm_vm_add_memory(&vm->vm, SZ_1M, SZ_64K, RW, &b));
	ASSERT_TRUE(all_bytes(a.hva, SZ_1M, 0));
	ASSERT_TRUE(all_bytes(b.hva, SZ_64K, 0));

	/* mapping -> READ_GUEST */
	memset((uint8_t *)a.hva + 0x5000, 0x5a, 0x3000);
	((uint64_t *)b.hva)[3] = 0xb0b0b0b0b0b0b0b0ULL;
	v = vm_read_u64(vm, 0x6000);
	ASSERT_EQ(0x5a5a5a5a5a5a5a5aULL, v);
	v = vm_read_u64(vm, SZ_1M + 24);
	ASSERT_EQ(0xb0b0b0b0b0b0b0b0ULL, v);

	/* WRITE_GUEST -> mapping, and the regions do not alias */
	vm_write_u64(vm, SZ_1M - 8, 0x0123456789abcdefULL);
	ASSERT_EQ(0x0123456789abcdefULL,
		  *(uint64_t *)((uint8_t *)a.hva + SZ_1M - 8));
	ASSERT_EQ(0ULL, ((uint64_t *)b.hva)[0]);
	ASSERT_TRUE(all_bytes(a.hva, 0x5000, 0));

	axvm_mem_unmap(&a);
	axvm_mem_unmap(&b);
	vm_free(vm);
}

TEST(mmap_private_einval)
{
	struct tvm *vm = vm_create_barebones();
	uint64_t off = vm_add_region(vm, 0, SZ_64K, RW);
	void *p;

	p = mmap(NULL, SZ_64K, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		 vm->vm.fd, (off_t)off);
	ASSERT_EQ(MAP_FAILED, p);
	ASSERT_EQ(EINVAL, errno);
	p = mmap(NULL, SZ_64K, PROT_READ, MAP_PRIVATE, vm->vm.fd, (off_t)off);
	ASSERT_EQ(MAP_FAILED, p);
	ASSERT_EQ(EINVAL, errno);
	vm_free(vm);
}

TEST(mmap_outside_region_einval)
{
	struct tvm *vm = vm_create_barebones();
	uint64_t oa = vm_add_region(vm, 0, SZ_64K, RW);
	uint64_t ob = vm_add_region(vm, SZ_64K, SZ_64K, RW);
	uint64_t beyond = (oa > ob ? oa : ob) + SZ_64K;
	struct { uint64_t off, len; } bad[] = {
		{ oa, SZ_64K + SZ_4K },		/* past the end of a */
		{ oa, 2 * SZ_64K },		/* a and whatever follows */
		{ oa + SZ_64K - SZ_4K, 2 * SZ_4K },
		{ ob, SZ_64K + SZ_4K },
		{ beyond, SZ_4K },		/* no region at all */
		{ beyond + SZ_1G, SZ_4K },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		void *p = mmap(NULL, bad[i].len, PROT_READ | PROT_WRITE,
			       MAP_SHARED, vm->vm.fd, (off_t)bad[i].off);

		ASSERT_EQ(MAP_FAILED, p) ITER("#%u", i);
		ASSERT_EQ(EINVAL, errno) ITER("#%u", i);
	}
	vm_free(vm);
}

TEST(mmap_subrange)
{
	struct tvm *vm = vm_create_barebones();
	uint64_t off = vm_add_region(vm, SZ_1M, SZ_64K, RW);
	uint64_t *p;

	p = mmap(NULL, 2 * SZ_4K, PROT_READ | PROT_WRITE, MAP_SHARED,
		 vm->vm.fd, (off_t)(off + 3 * SZ_4K));
	ASSERT_NE(MAP_FAILED, (void *)p);
	vm_write_u64(vm, SZ_1M + 3 * SZ_4K + 16, 0xfeedULL);
	ASSERT_EQ(0xfeedULL, p[2]);
	p[512 + 1] = 0xbeefULL;
	ASSERT_EQ(0xbeefULL, vm_read_u64(vm, SZ_1M + 4 * SZ_4K + 8));
	munmap(p, 2 * SZ_4K);
	vm_free(vm);
}

/* A mapping keeps the memory alive after the VM fd is closed. */
TEST(mapping_outlives_vm_fd)
{
	struct tvm *vm = vm_create_barebones();
	struct axvm_mem m;
	uint8_t *p;

	ASSERT_EQ(0, axvm_vm_add_memory(&vm->vm, 0, SZ_64K, RW, &m));
	vm_write_u64(vm, 8, 0x1234ULL);
	p = m.hva;
	axvm_vm_destroy(&vm->vm);
	ASSERT_EQ(0x1234ULL, ((uint64_t *)p)[1]);
	memset(p, 0x77, SZ_64K);
	ASSERT_TRUE(all_bytes(p, SZ_64K, 0x77));
	axvm_mem_unmap(&m);
	free(vm);
}

/* ---- AXVM_READ_GUEST / AXVM_WRITE_GUEST ---- */

TEST(guest_rw_cross_page)
{
	struct tvm *vm = vm_create_barebones();
	static uint8_t in[3 * 4096 + 100], out[sizeof(in)];
	unsigned int i;

	vm_add_region(vm, 0, SZ_64K, RW);
	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 13 + 5);
	vm_write(vm, 0x1ff7, in, sizeof(in));
	vm_read(vm, 0x1ff7, out, sizeof(out));
	ASSERT_EQ(0, memcmp(in, out, sizeof(in)));
	/* Sub-ranges at odd places read what was written there. */
	memset(out, 0, sizeof(out));
	vm_read(vm, 0x2ffd, out, 7);
	ASSERT_EQ(0, memcmp(in + (0x2ffd - 0x1ff7), out, 7));
	vm_read(vm, 0x1ff6, out, 2);
	ASSERT_EQ(0, out[0]);
	ASSERT_EQ(in[0], out[1]);
	vm_free(vm);
}

TEST(guest_rw_adjacent_regions)
{
	struct tvm *vm = vm_create_barebones();
	uint8_t *in = malloc(2 * SZ_64K), *out = malloc(2 * SZ_64K);
	const size_t len = 2 * SZ_64K;
	unsigned int i;

	ASSERT_TRUE(in && out);

	vm_add_region(vm, 0x100000, SZ_64K, RW);
	vm_add_region(vm, 0x110000, SZ_64K, RW | AXVM_MEM_LAZY);
	for (i = 0; i < len; i++)
		in[i] = (uint8_t)(i ^ (i >> 8));
	vm_write(vm, 0x10f000, in, 2 * SZ_4K);
	vm_read(vm, 0x10f000, out, 2 * SZ_4K);
	ASSERT_EQ(0, memcmp(in, out, 2 * SZ_4K));
	vm_write(vm, 0x100000, in, len);
	vm_read(vm, 0x100000, out, len);
	ASSERT_EQ(0, memcmp(in, out, len));
	vm_free(vm);
}

TEST(guest_rw_outside_efault_copies_nothing)
{
	struct tvm *vm = vm_create_barebones();
	const size_t buf_len = 0x40000;
	uint8_t *buf = malloc(buf_len), *mem = malloc(SZ_64K);
	struct { uint64_t gpa, len; } bad[] = {
		{ 0x10f000, 0x2000 },	/* end of A into the gap */
		{ 0x10ffff, 2 },
		{ 0x110000, 0x1000 },	/* the gap */
		{ 0x11ffff, 2 },	/* gap into C */
		{ 0x100000, 0x30000 },	/* A, gap, C */
		{ 0x0, 16 },		/* below everything */
		{ 0x12f000, 0x1001 },	/* end of C and beyond */
		{ 0xfffffffffffff000ULL, 0x2000 },	/* wraps */
		{ 0x100000, 0xfffffffffff00000ULL },	/* wraps */
	};
	unsigned int i;

	ASSERT_TRUE(buf && mem);
	vm_add_region(vm, 0x100000, SZ_64K, RW);	/* A */
	vm_add_region(vm, 0x120000, SZ_64K, RW);	/* C */
	memset(mem, 0x11, SZ_64K);
	vm_write(vm, 0x100000, mem, SZ_64K);
	vm_write(vm, 0x120000, mem, SZ_64K);

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		/* The wrapping lengths exceed buf: they must be refused
		 * before anything is copied anyway. */
		memset(buf, 0xcc, buf_len);
		ASSERT_EQ(-EFAULT, rw_raw(vm, AXVM_READ_GUEST, bad[i].gpa,
					  buf, bad[i].len))
			ITER("read #%u", i);
		ASSERT_TRUE(all_bytes(buf, buf_len, 0xcc)) ITER("read #%u", i);

		memset(buf, 0xee, buf_len);
		ASSERT_EQ(-EFAULT, rw_raw(vm, AXVM_WRITE_GUEST, bad[i].gpa,
					  buf, bad[i].len))
			ITER("write #%u", i);
		vm_read(vm, 0x100000, mem, SZ_64K);
		ASSERT_TRUE(all_bytes(mem, SZ_64K, 0x11)) ITER("write #%u", i);
		vm_read(vm, 0x120000, mem, SZ_64K);
		ASSERT_TRUE(all_bytes(mem, SZ_64K, 0x11)) ITER("write #%u", i);
	}
	vm_free(vm);
}

TEST(guest_rw_bad_buffer_efault)
{
	struct tvm *vm = vm_create_barebones();
	uint8_t *guard = alloc_guarded_page();
	long psz = getpagesize();
	void *ro;

	vm_add_region(vm, 0, SZ_64K, RW);
	ASSERT_EQ(-EFAULT, rw_raw(vm, AXVM_READ_GUEST, 0, NULL, 16));
	ASSERT_EQ(-EFAULT, rw_raw(vm, AXVM_WRITE_GUEST, 0, NULL, 16));
	ASSERT_EQ(-EFAULT, rw_raw(vm, AXVM_READ_GUEST, 0,
				  unmapped_address(), 16));
	ASSERT_EQ(-EFAULT, rw_raw(vm, AXVM_WRITE_GUEST, 0,
				  unmapped_address(), 16));
	ASSERT_EQ(-EFAULT, rw_raw(vm, AXVM_READ_GUEST, 0,
				  (void *)0xffffffff81000000ULL, 16));
	ASSERT_EQ(-EFAULT, rw_raw(vm, AXVM_WRITE_GUEST, 0,
				  (void *)0xffff888000000000ULL, 16));
	/* The last byte of the buffer is not accessible. */
	ASSERT_EQ(-EFAULT, rw_raw(vm, AXVM_READ_GUEST, 0,
				  guard + psz - 15, 16));
	ASSERT_EQ(-EFAULT, rw_raw(vm, AXVM_WRITE_GUEST, 0,
				  guard + psz - 15, 16));
	/* READ_GUEST writes into the buffer: read-only memory is bad. */
	ro = mmap(NULL, psz, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	ASSERT_EQ(-EFAULT, rw_raw(vm, AXVM_READ_GUEST, 0, ro, 16));
	ASSERT_EQ(0, rw_raw(vm, AXVM_WRITE_GUEST, 0, ro, 16));
	munmap(ro, psz);
	vm_free(vm);
}

/* ---- lazy regions ---- */

#define LAZY_GPA	SZ_4G
#define LAZY_SIZE	SZ_4G

TEST(lazy_region_costs_nothing)
{
	struct tvm *vm = vm_create_barebones();
	uint8_t *buf = malloc(SZ_1M);
	struct axvm_vm_status st;
	uint64_t offs[] = { 0, SZ_1G + 0x123000, LAZY_SIZE - SZ_1M };
	unsigned int i;

	ASSERT_NE(NULL, buf);
	vm_add_region(vm, LAZY_GPA, LAZY_SIZE, RW | AXVM_MEM_LAZY);
	vm_status(vm, &st);
	ASSERT_EQ(LAZY_SIZE, st.mem_bytes);
	ASSERT_EQ(0ULL, st.populated_bytes);
	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		memset(buf, 0xcc, SZ_1M);
		vm_read(vm, LAZY_GPA + offs[i], buf, SZ_1M);
		ASSERT_TRUE(all_bytes(buf, SZ_1M, 0));
	}
	ASSERT_EQ(0ULL, populated(vm));
	vm_free(vm);
}

TEST(lazy_host_write_populates_pages)
{
	struct tvm *vm = vm_create_barebones();
	uint64_t a = LAZY_GPA + SZ_1G + 100;
	uint64_t b = LAZY_GPA + 2 * SZ_1G - 4;	/* straddles two pages */
	uint8_t page[4096];

	vm_add_region(vm, LAZY_GPA, LAZY_SIZE, RW | AXVM_MEM_LAZY);
	vm_write_u64(vm, a, 0xa1a2a3a4a5a6a7a8ULL);
	ASSERT_EQ(SZ_4K, populated(vm));
	ASSERT_EQ(0xa1a2a3a4a5a6a7a8ULL, vm_read_u64(vm, a));
	vm_write_u64(vm, a + 8, 1);
	ASSERT_EQ(SZ_4K, populated(vm));
	/* The rest of the populated page is zero. */
	vm_read(vm, LAZY_GPA + SZ_1G, page, sizeof(page));
	ASSERT_TRUE(all_bytes(page, 100, 0));
	ASSERT_TRUE(all_bytes(page + 116, sizeof(page) - 116, 0));
	vm_write_u64(vm, b, 0x0102030405060708ULL);
	ASSERT_EQ(3 * SZ_4K, populated(vm));
	ASSERT_EQ(0x0102030405060708ULL, vm_read_u64(vm, b));
	vm_free(vm);
}

static const uint64_t lazy_write_offs[] = {
	0x0, 0x20001000, 0x40002000, 0x60003000,
	0x80004000, 0xa0005000, 0xc0006000, 0xfffff000,
};
static const uint64_t lazy_read_offs[] = { 0x30000ff8, 0xe0100000 };

static void guest_lazy_touch(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(lazy_write_offs); i++)
		*(volatile uint64_t *)(LAZY_GPA + lazy_write_offs[i]) =
			0xabc0 + i;
	for (i = 0; i < ARRAY_SIZE(lazy_read_offs); i++)
		GUEST_ASSERT_EQ(*(volatile uint64_t *)(LAZY_GPA +
						      lazy_read_offs[i]), 0);
	GUEST_SYNC(1);
	for (i = 0; i < ARRAY_SIZE(lazy_write_offs); i++)
		GUEST_ASSERT_EQ(*(volatile uint64_t *)(LAZY_GPA +
						      lazy_write_offs[i]),
				0xabc0 + i);
	GUEST_SYNC(2);
}

TEST(lazy_guest_touch_populates_pages)
{
	struct tvm *vm = vm_create_guest();
	struct tvcpu *vcpu;
	uint64_t before;
	unsigned int i;

	vm_add_region(vm, LAZY_GPA, LAZY_SIZE, RW | AXVM_MEM_LAZY);
	vcpu = vm_guest_vcpu_add(vm, 0, guest_lazy_touch);
	for (i = 0; i < ARRAY_SIZE(lazy_write_offs); i++)
		virt_map(vm, LAZY_GPA + (lazy_write_offs[i] & ~(SZ_2M - 1)),
			 LAZY_GPA + (lazy_write_offs[i] & ~(SZ_2M - 1)), SZ_2M);
	for (i = 0; i < ARRAY_SIZE(lazy_read_offs); i++)
		virt_map(vm, LAZY_GPA + (lazy_read_offs[i] & ~(SZ_2M - 1)),
			 LAZY_GPA + (lazy_read_offs[i] & ~(SZ_2M - 1)), SZ_2M);
	vm_start(vm);

	before = populated(vm);
	ASSERT_EQ(GUEST_MEM_SIZE, before);
	vcpu_run_sync(vcpu, 1);
	ASSERT_EQ(before + (ARRAY_SIZE(lazy_write_offs) +
			    ARRAY_SIZE(lazy_read_offs)) * SZ_4K,
		  populated(vm));
	vcpu_run_sync(vcpu, 2);
	ASSERT_EQ(before + (ARRAY_SIZE(lazy_write_offs) +
			    ARRAY_SIZE(lazy_read_offs)) * SZ_4K,
		  populated(vm));
	for (i = 0; i < ARRAY_SIZE(lazy_write_offs); i++)
		ASSERT_EQ(0xabc0ULL + i,
			  vm_read_u64(vm, LAZY_GPA + lazy_write_offs[i]));
	vcpu_run_done(vcpu);
	vm_free(vm);
}

TEST(eager_region_zeroed_and_populated)
{
	struct tvm *vm = vm_create_barebones();
	const size_t len = 4 * SZ_1M;
	uint8_t *buf = malloc(len);

	ASSERT_NE(NULL, buf);
	vm_add_region(vm, SZ_1M, len, RW);
	ASSERT_EQ((uint64_t)len, populated(vm));
	memset(buf, 0xcc, len);
	vm_read(vm, SZ_1M, buf, len);
	ASSERT_TRUE(all_bytes(buf, len, 0));
	vm_free(vm);
}

/* ---- what the guest sees ---- */

#define DATA_GPA	0x2000000ULL

static void guest_shared_memory(void)
{
	volatile uint64_t *data = (volatile uint64_t *)DATA_GPA;
	volatile uint64_t *scratch = (volatile uint64_t *)GUEST_SCRATCH_GPA;

	GUEST_ASSERT_EQ(data[0], 0x1111111111111111ULL);
	GUEST_ASSERT_EQ(scratch[0], 0x2222222222222222ULL);
	data[1] = data[0] + 1;
	scratch[1] = scratch[0] + 1;
	GUEST_SYNC(0);
	/* The host changed both through its mapping / WRITE_GUEST. */
	GUEST_ASSERT_EQ(data[2], 0x3333333333333333ULL);
	GUEST_ASSERT_EQ(scratch[2], 0x4444444444444444ULL);
}

TEST(guest_and_host_share_memory)
{
	struct tvm *vm = vm_create_guest();
	struct tvcpu *vcpu;
	struct axvm_mem m;
	volatile uint64_t *hva;

	ASSERT_EQ(0, axvm_vm_add_memory(&vm->vm, DATA_GPA, SZ_64K, RW, &m));
	hva = m.hva;
	vcpu = vm_guest_vcpu_add(vm, 0, guest_shared_memory);
	vm_start(vm);

	hva[0] = 0x1111111111111111ULL;
	vm_write_u64(vm, GUEST_SCRATCH_GPA, 0x2222222222222222ULL);
	vcpu_run_sync(vcpu, 0);
	ASSERT_EQ(0x1111111111111112ULL, hva[1]);
	ASSERT_EQ(0x1111111111111112ULL, vm_read_u64(vm, DATA_GPA + 8));
	ASSERT_EQ(0x2222222222222223ULL,
		  vm_read_u64(vm, GUEST_SCRATCH_GPA + 8));
	hva[2] = 0x3333333333333333ULL;
	vm_write_u64(vm, GUEST_SCRATCH_GPA + 16, 0x4444444444444444ULL);
	vcpu_run_done(vcpu);
	axvm_mem_unmap(&m);
	vm_free(vm);
}

#define RO_GPA		0x2000000ULL

static void guest_readonly(void)
{
	volatile uint32_t *p = (volatile uint32_t *)RO_GPA;

	GUEST_ASSERT_EQ(p[0], 0x600dda7a);
	asm volatile("movl $0xcafef00d, (%0)" : : "r"(p) : "memory");
	GUEST_ASSERT_EQ(p[0], 0x600dda7a);
	asm volatile("movb $0x42, 0xfff(%0)" : : "r"(p) : "memory");
	GUEST_ASSERT_EQ(p[1023], 0);
}

TEST(readonly_region_write_is_mmio)
{
	struct tvm *vm = vm_create_guest();
	struct axvm_run *run;
	struct tvcpu *vcpu;

	vm_add_region(vm, RO_GPA, SZ_64K, AXVM_MEM_READ);
	vm_write_u64(vm, RO_GPA, 0x600dda7aULL);
	vcpu = vm_guest_vcpu_add(vm, 0, guest_readonly);
	run = vcpu->v.run;
	vm_start(vm);

	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_MMIO);
	ASSERT_EQ(RO_GPA, run->mmio.gpa);
	ASSERT_EQ(4, run->mmio.width);
	ASSERT_EQ(1, run->mmio.is_write);
	ASSERT_EQ(0xcafef00dULL, run->mmio.data);
	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_MMIO);
	ASSERT_EQ(RO_GPA + 0xfff, run->mmio.gpa);
	ASSERT_EQ(1, run->mmio.width);
	ASSERT_EQ(1, run->mmio.is_write);
	ASSERT_EQ(0x42ULL, run->mmio.data);
	vcpu_run_done(vcpu);
	ASSERT_EQ(0x600dda7aULL, vm_read_u64(vm, RO_GPA));
	vm_free(vm);
}

#define NX_GPA		0x3000000ULL

static void guest_exec_at(uint64_t addr)
{
	((void (*)(void))addr)();
	GUEST_FAIL("returned from a region it may not execute");
}

TEST(nonexec_region_exec_fault)
{
	struct tvm *vm = vm_create_guest();
	struct axvm_run *run;
	struct tvcpu *vcpu;
	uint8_t ret = 0xc3;

	vm_add_region(vm, NX_GPA, SZ_64K, RW);
	vm_write(vm, NX_GPA, &ret, 1);
	vcpu = vm_guest_vcpu_add(vm, 0, guest_exec_at);
	vcpu_set_arg(vcpu, NX_GPA);
	run = vcpu->v.run;
	vm_start(vm);

	vcpu_run(vcpu);
	ucall_check_abort(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_INTERNAL_ERROR);
	ASSERT_EQ((uint32_t)AXVM_INTERNAL_EXEC_FAULT, run->internal.suberror);
	vm_free(vm);
}

/* The same code in an executable region runs fine (control for the above). */
TEST(exec_region_runs)
{
	struct tvm *vm = vm_create_guest();
	struct tvcpu *vcpu;
	struct ucall uc;
	uint8_t ret = 0xc3;

	vm_add_region(vm, NX_GPA, SZ_64K, AXVM_MEM_READ | AXVM_MEM_EXEC);
	vm_write(vm, NX_GPA, &ret, 1);
	vcpu = vm_guest_vcpu_add(vm, 0, guest_exec_at);
	vcpu_set_arg(vcpu, NX_GPA);
	vm_start(vm);
	vcpu_run(vcpu);
	/* It came back and reached GUEST_FAIL(). */
	ASSERT_EXIT(vcpu, AXVM_EXIT_IO);
	ASSERT_EQ((uint64_t)UCALL_ABORT, get_ucall(vcpu, &uc));
	vm_free(vm);
}

TEST(fetch_outside_memory_fails)
{
	struct tvm *vm = vm_create_guest();
	struct tvcpu *vcpu;

	vcpu = vm_guest_vcpu_add(vm, 0, guest_exec_at);
	vcpu_set_arg(vcpu, GUEST_MMIO_GPA);
	vm_start(vm);
	vcpu_run(vcpu);
	ucall_check_abort(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_INTERNAL_ERROR);
	ASSERT_EQ((uint32_t)AXVM_INTERNAL_FETCH, vcpu->v.run->internal.suberror);
	vm_free(vm);
}

AXVM_TEST_HARNESS_MAIN
