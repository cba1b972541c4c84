/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every axvm *_test.c includes: kselftest_harness.h, the helpers,
 * and AXVM_TEST_HARNESS_MAIN, which skips the whole program (exit 4,
 * KSFT_SKIP) when /dev/axvm does not exist instead of failing every case.
 */
#ifndef SELFTEST_AXVM_TEST_H
#define SELFTEST_AXVM_TEST_H

#include <unistd.h>

/*
 * kselftest_harness.h (6.1) is not -Wextra clean: its own code and the
 * functions its TEST() macros expand to in our files have unused
 * parameters.
 */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"

#include "axvm_util.h"
#include "processor.h"
#include "ucall.h"

#define AXVM_TEST_HARNESS_MAIN						\
int main(int argc, char **argv)						\
{									\
	if (access(AXVM_DEV_PATH, F_OK)) {				\
		ksft_print_header();					\
		ksft_exit_skip("%s does not exist (is axvm.ko loaded?)\n", \
			       AXVM_DEV_PATH);				\
	}								\
	return test_harness_run(argc, argv);				\
}

/* -errno of an ioctl on a VM or vCPU, for ASSERT_EQ(-EXXX, ...). */
#define VM_IOCTL(vm, req, arg)		__vm_ioctl(vm, req, (void *)(arg))
#define VCPU_IOCTL(vcpu, req, arg)	__vcpu_ioctl(vcpu, req, (void *)(arg))

/*
 * Names the loop iteration, only when the assertion before it fails:
 *	ASSERT_EQ(-EINVAL, add(vm, bad[i])) ITER("flags %#x", bad[i]);
 * (the harness runs the statement after an ASSERT_*() on failure).
 */
#define ITER(fmt, ...)	TH_LOG("  at " fmt, ##__VA_ARGS__)

/* uapi enums are int, the fields they land in __u32. */
#define ASSERT_EXIT(vcpu, reason) do {					\
	if ((vcpu)->v.run->exit_reason != (uint32_t)(reason))		\
		TH_LOG("exit: %s", exit_desc(vcpu));			\
	ASSERT_EQ((uint32_t)(reason), (vcpu)->v.run->exit_reason);	\
} while (0)
#define ASSERT_STATE(vm, state) \
	ASSERT_EQ((uint32_t)(state), vm_state(vm))

#endif /* SELFTEST_AXVM_TEST_H */
