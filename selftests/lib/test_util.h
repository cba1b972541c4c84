/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host-side test utilities for the axvm selftests, in the spirit of
 * KVM's tools/testing/selftests/kvm/include/test_util.h.
 *
 * The TEST_ASSERT() family is usable anywhere in host code (library
 * helpers, vCPU threads): on failure it prints a report and exits the
 * test's process with a status that kselftest_harness.h counts as a
 * failure. Inside TEST()/TEST_F() bodies the harness' own ASSERT_*()
 * and EXPECT_*() are preferred.
 */
#ifndef SELFTEST_AXVM_TEST_UTIL_H
#define SELFTEST_AXVM_TEST_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* Exit statuses of a test's child process, as kselftest_harness.h reads them. */
#define TEST_EXIT_FAIL	1
#define TEST_EXIT_SKIP	255

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

#define SZ_4K		0x1000ULL
#define SZ_64K		0x10000ULL
#define SZ_1M		0x100000ULL
#define SZ_2M		0x200000ULL
#define SZ_1G		0x40000000ULL
#define SZ_4G		0x100000000ULL

#define ALIGN_UP(x, a)	(((x) + (a) - 1) & ~((__typeof__(x))(a) - 1))

void test_assert(bool exp, const char *exp_str, const char *file,
		 unsigned int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void test_skip(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));

#define TEST_ASSERT(e, fmt, ...) \
	test_assert(!!(e), #e, __FILE__, __LINE__, fmt, ##__VA_ARGS__)

#define TEST_ASSERT_EQ(a, b) do {					\
	unsigned long long __ta = (unsigned long long)(a);		\
	unsigned long long __tb = (unsigned long long)(b);		\
	test_assert(__ta == __tb, #a " == " #b, __FILE__, __LINE__,	\
		    "%#llx != %#llx", __ta, __tb);			\
} while (0)

#define TEST_FAIL(fmt, ...) \
	test_assert(false, "(failure)", __FILE__, __LINE__, fmt, ##__VA_ARGS__)

#define TEST_REQUIRE(e) do {						\
	if (!(e))							\
		test_skip("requirement not met: %s", #e);		\
} while (0)

/* ioctl() returning the result or -errno, never printing. */
static inline int __test_ioctl(int fd, unsigned long req, void *arg)
{
	int r = ioctl(fd, req, arg);

	return r < 0 ? -errno : r;
}

#define test_ioctl(fd, req, arg) ({					\
	int __r = __test_ioctl(fd, req, arg);				\
	TEST_ASSERT(__r >= 0, "%s failed: %s (%d)", #req,		\
		    strerror(-__r), __r);				\
	__r;								\
})

/* Asserts that a -errno style return value is 0 (or positive). */
#define TEST_ASSERT_OK(r, what) do {					\
	long __rv = (r);						\
	TEST_ASSERT(__rv >= 0, "%s failed: %s (%ld)", what,		\
		    strerror((int)-__rv), __rv);			\
} while (0)

/* A field of /proc/meminfo in KiB ("MemFree", "MemAvailable"). */
uint64_t meminfo_kb(const char *field);
/*
 * Best effort, as root: sync, drop the page cache and fold the per-CPU
 * vmstat counters into the global ones (/proc/sys/vm/stat_refresh), so
 * that /proc/meminfo is current and quiet.
 */
void drop_caches(void);
/*
 * Free memory in KiB after drop_caches(): every zone's free pages plus
 * the pages cached on per-CPU lists (/proc/zoneinfo "count:"), which
 * MemFree leaves out although a CPU may hold MiBs there.
 */
int64_t free_memory_kb(void);

/* Monotonic time in nanoseconds. */
uint64_t now_ns(void);

/* A small deterministic PRNG (xorshift64*), for fuzzing. */
static inline uint64_t test_rand64(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/*
 * A page followed by an inaccessible page: a pointer near the end of
 * the first page makes an argument straddle into unmapped memory.
 */
void *alloc_guarded_page(void);
/* An address that is certainly not mapped in this process. */
void *unmapped_address(void);

#endif /* SELFTEST_AXVM_TEST_UTIL_H */
