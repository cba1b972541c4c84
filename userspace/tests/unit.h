/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The host unit tests' tiny harness (one per program: everything is
 * static). run() prints a TAP line per case; CHECK() marks the case
 * failed and goes on; a case sets skip_reason to skip itself;
 * unit_summary() prints the "N passed, N failed, N skipped" line that
 * tests/run sums, and gives the exit status.
 */
#ifndef AXVM_UNIT_H
#define AXVM_UNIT_H

#include <stdio.h>

static int passed, failed, skipped, case_failed, case_nr;
static const char *skip_reason;

#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			printf("#   %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);				\
			printf("\n");					\
			case_failed = 1;				\
		}							\
	} while (0)

#define CHECK_EQ(a, b)							\
	CHECK((unsigned long long)(a) == (unsigned long long)(b),	\
	      "0x%llx != 0x%llx", (unsigned long long)(a),		\
	      (unsigned long long)(b))

static inline void run(const char *name, void (*fn)(void))
{
	case_failed = 0;
	skip_reason = NULL;
	fn();
	case_nr++;
	if (skip_reason) {
		printf("ok %d - %s # SKIP %s\n", case_nr, name, skip_reason);
		skipped++;
	} else if (case_failed) {
		printf("not ok %d - %s\n", case_nr, name);
		failed++;
	} else {
		printf("ok %d - %s\n", case_nr, name);
		passed++;
	}
}

static inline int unit_summary(void)
{
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}

#endif /* AXVM_UNIT_H */
