// SPDX-License-Identifier: GPL-2.0
/* Host-side helpers shared by the axvm selftests. */
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

void test_assert(bool exp, const char *exp_str, const char *file,
		 unsigned int line, const char *fmt, ...)
{
	int saved_errno = errno;
	va_list ap;

	if (exp)
		return;

	fflush(stdout);
	fprintf(stderr, "# ==== Test Assertion Failure ====\n");
	fprintf(stderr, "#   %s:%u: %s\n", file, line, exp_str);
	fprintf(stderr, "#   pid=%d errno=%d (%s)\n", getpid(), saved_errno,
		strerror(saved_errno));
	fprintf(stderr, "#   ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	fflush(stderr);
	exit(TEST_EXIT_FAIL);
}

void test_skip(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "#      SKIP      ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	fflush(stderr);
	exit(TEST_EXIT_SKIP);
}

uint64_t meminfo_kb(const char *field)
{
	size_t flen = strlen(field);
	char line[256];
	uint64_t val = 0;
	bool found = false;
	FILE *f;

	f = fopen("/proc/meminfo", "r");
	TEST_ASSERT(f, "cannot open /proc/meminfo");
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, flen) && line[flen] == ':') {
			val = strtoull(line + flen + 1, NULL, 10);
			found = true;
			break;
		}
	}
	fclose(f);
	TEST_ASSERT(found, "no %s in /proc/meminfo", field);
	return val;
}

static void write_sysctl(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0)
		return;
	if (write(fd, val, strlen(val)) < 0) {
		/* not root: /proc/meminfo is just noisier */
	}
	close(fd);
}

void drop_caches(void)
{
	sync();
	write_sysctl("/proc/sys/vm/drop_caches", "3");
	write_sysctl("/proc/sys/vm/stat_refresh", "1");
}

int64_t free_memory_kb(void)
{
	int64_t pages = 0;
	char line[256];
	long long v;
	FILE *f;

	drop_caches();
	f = fopen("/proc/zoneinfo", "r");
	TEST_ASSERT(f, "cannot open /proc/zoneinfo");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " nr_free_pages %lld", &v) == 1 ||
		    sscanf(line, " count: %lld", &v) == 1)
			pages += v;
	}
	fclose(f);
	return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

void *alloc_guarded_page(void)
{
	long psz = sysconf(_SC_PAGESIZE);
	char *p;

	p = mmap(NULL, 2 * psz, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(p != MAP_FAILED, "mmap of two pages failed");
	TEST_ASSERT(!mprotect(p + psz, psz, PROT_NONE), "mprotect failed");
	return p;
}

void *unmapped_address(void)
{
	long psz = sysconf(_SC_PAGESIZE);
	void *p;

	p = mmap(NULL, psz, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(p != MAP_FAILED, "mmap failed");
	TEST_ASSERT(!munmap(p, psz), "munmap failed");
	return p;
}
