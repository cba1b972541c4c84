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

const char *axvm_stat_name(uint32_t stat)
{
	static const char *const names[] = {
		[AXVM_STAT_EXITS]		= "exits",
		[AXVM_STAT_USER_IO]		= "user_io",
		[AXVM_STAT_USER_MMIO]		= "user_mmio",
		[AXVM_STAT_USER_HLT]		= "user_hlt",
		[AXVM_STAT_USER_HYPERCALL]	= "user_hypercall",
		[AXVM_STAT_SHUTDOWN]		= "shutdown",
		[AXVM_STAT_FAIL_ENTRY]		= "fail_entry",
		[AXVM_STAT_INTERNAL_ERROR]	= "internal_error",
		[AXVM_STAT_SIGNAL]		= "signal",
		[AXVM_STAT_STOPPED]		= "stopped",
		[AXVM_STAT_SUSPENDED]		= "suspended",
		[AXVM_STAT_CPUID]		= "cpuid",
		[AXVM_STAT_MSR]			= "msr",
		[AXVM_STAT_MSR_UNKNOWN]		= "msr_unknown",
		[AXVM_STAT_NPF_POPULATE]	= "npf_populate",
		[AXVM_STAT_HOST_IRQ]		= "host_irq",
		[AXVM_STAT_DEVICE_IO]		= "device_io",
		[AXVM_STAT_DEVICE_MMIO]		= "device_mmio",
		[AXVM_STAT_IRQ_WINDOW]		= "irq_window",
		[AXVM_STAT_HLT_BLOCK]		= "hlt_block",
		[AXVM_STAT_EXCEPTION]		= "exception",
		[AXVM_STAT_FORBIDDEN]		= "forbidden",
		[AXVM_STAT_IVC_RING]		= "ivc_ring",
		[AXVM_STAT_OTHER]		= "other",
		[AXVM_STAT_APIC_ACCESS]		= "apic_access",
		[AXVM_STAT_APIC_TIMER]		= "apic_timer",
		[AXVM_STAT_IPI]			= "ipi",
	};

	return name_or_unknown(names, ARRAY_SIZE(names), stat);
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
	case AXVM_FEATURE_PASSTHROUGH:		return "passthrough";
	case AXVM_FEATURE_DEVICES:		return "devices";
	case AXVM_FEATURE_AFFINITY:		return "affinity";
	case AXVM_FEATURE_IRQ_INJECT:		return "irq_inject";
	case AXVM_FEATURE_IVC:			return "ivc";
	case AXVM_FEATURE_SUSPEND:		return "suspend";
	case AXVM_FEATURE_RESET:		return "reset";
	case AXVM_FEATURE_STATS:		return "stats";
	case AXVM_FEATURE_X86_PLATFORM:		return "x86_platform";
	case AXVM_FEATURE_PVCLOCK:		return "pvclock";
	}
	return "unknown";
}
