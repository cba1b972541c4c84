// SPDX-License-Identifier: GPL-2.0
/*
 * libaxvm: names of the ABI's enums and bits, for messages.
 * Unknown values get a fixed string rather than NULL so callers can
 * print the result unconditionally.
 */
#include "libaxvm.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static const char *name_or_unknown(const char *const *names, size_t count,
				   uint32_t value)
{
	if (value < count && names[value])
		return names[value];
	return "unknown";
}

const char *axvm_backend_name(uint32_t backend)
{
	static const char *const names[] = {
		[AXVM_BACKEND_NONE]	 = "none",
		[AXVM_BACKEND_SVM]	 = "svm",
		[AXVM_BACKEND_VMX]	 = "vmx",
		[AXVM_BACKEND_ARM64_EL2] = "arm64-el2",
	};

	return name_or_unknown(names, ARRAY_SIZE(names), backend);
}

const char *axvm_state_name(uint32_t state)
{
	static const char *const names[] = {
		[AXVM_VM_LOADING]   = "LOADING",
		[AXVM_VM_LOADED]    = "LOADED",
		[AXVM_VM_RUNNING]   = "RUNNING",
		[AXVM_VM_SUSPENDED] = "SUSPENDED",
		[AXVM_VM_STOPPING]  = "STOPPING",
		[AXVM_VM_STOPPED]   = "STOPPED",
	};

	return name_or_unknown(names, ARRAY_SIZE(names), state);
}

const char *axvm_exit_name(uint32_t exit_reason)
{
	static const char *const names[] = {
		[AXVM_EXIT_NONE]	   = "NONE",
		[AXVM_EXIT_IO]		   = "IO",
		[AXVM_EXIT_MMIO]	   = "MMIO",
		[AXVM_EXIT_HLT]		   = "HLT",
		[AXVM_EXIT_HYPERCALL]	   = "HYPERCALL",
		[AXVM_EXIT_SHUTDOWN]	   = "SHUTDOWN",
		[AXVM_EXIT_FAIL_ENTRY]	   = "FAIL_ENTRY",
		[AXVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
		[AXVM_EXIT_INTR]	   = "INTR",
		[AXVM_EXIT_STOPPED]	   = "STOPPED",
	};

	return name_or_unknown(names, ARRAY_SIZE(names), exit_reason);
}

const char *axvm_internal_error_name(uint32_t suberror)
{
	static const char *const names[] = {
		[AXVM_INTERNAL_EMULATION]  = "EMULATION",
		[AXVM_INTERNAL_FETCH]	   = "FETCH",
		[AXVM_INTERNAL_UNEXPECTED] = "UNEXPECTED",
		[AXVM_INTERNAL_EXEC_FAULT] = "EXEC_FAULT",
		[AXVM_INTERNAL_NPT]	   = "NPT",
	};

	return name_or_unknown(names, ARRAY_SIZE(names), suberror);
}

/* Name of one AXVM_FEATURE_* bit (pass the bit, not its index). */
const char *axvm_feature_name(uint64_t feature)
{
	switch (feature) {
	case AXVM_FEATURE_NESTED_PAGING:	return "nested_paging";
	case AXVM_FEATURE_LAZY_MEMORY:		return "lazy_memory";
	case AXVM_FEATURE_MMIO_DECODE:		return "mmio_decode";
	case AXVM_FEATURE_GUEST_RW:		return "guest_rw";
	case AXVM_FEATURE_HYPERCALL:		return "hypercall";
	case AXVM_FEATURE_XSAVE:		return "xsave";
	}
	return "unknown";
}
