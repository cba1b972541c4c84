/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * axvm: the userspace ABI of /dev/axvm.
 *
 * This is the only header shared by axvm.ko and userspace. Every rule
 * below is part of the contract and is tested by selftests/:
 *
 *  - Every ioctl argument is a struct whose first two fields are
 *    `__u32 size` (sizeof the struct as userspace knows it) and
 *    `__u32 flags`. A size smaller than the first version of the struct
 *    is -EINVAL; a larger size is accepted only if the extra bytes are
 *    zero (-E2BIG otherwise), so old binaries keep working when a
 *    struct grows.
 *  - Unknown flag bits and non-zero reserved fields are -EINVAL.
 *  - Pointers travel as __u64; a bad pointer is -EFAULT.
 *  - No implicit padding: every struct is a multiple of 8 bytes and
 *    laid out by hand.
 *  - Unknown ioctls are -ENOTTY.
 *
 * See Documentation/api.md for the reference of every ioctl.
 */
#ifndef _UAPI_LINUX_AXVM_H
#define _UAPI_LINUX_AXVM_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define AXVM_API_VERSION	1
#define AXVM_IOCTL_TYPE		0xA7

/* ------------------------------------------------------------------ */
/* System ioctls, on the fd of /dev/axvm                               */
/* ------------------------------------------------------------------ */

/* Returns AXVM_API_VERSION; takes no argument. */
#define AXVM_GET_API_VERSION	_IO(AXVM_IOCTL_TYPE, 0x00)

enum axvm_backend {
	AXVM_BACKEND_NONE	= 0,
	AXVM_BACKEND_SVM	= 1,	/* AMD SVM with nested paging */
	AXVM_BACKEND_VMX	= 2,	/* Intel VMX with EPT */
	AXVM_BACKEND_ARM64_EL2	= 3,
};

/* axvm_caps.features */
#define AXVM_FEATURE_NESTED_PAGING	(1ULL << 0) /* NPT/EPT in use */
#define AXVM_FEATURE_LAZY_MEMORY	(1ULL << 1) /* AXVM_MEM_LAZY works */
#define AXVM_FEATURE_MMIO_DECODE	(1ULL << 2) /* MMIO exits carry data */
#define AXVM_FEATURE_GUEST_RW		(1ULL << 3) /* AXVM_READ/WRITE_GUEST */
#define AXVM_FEATURE_HYPERCALL		(1ULL << 4) /* AXVM_EXIT_HYPERCALL */
#define AXVM_FEATURE_XSAVE		(1ULL << 5) /* guest FPU/XSAVE state */

struct axvm_caps {
	__u32 size;
	__u32 flags;		/* in: must be 0 */
	__u32 api_version;	/* out: AXVM_API_VERSION */
	__u32 backend;		/* out: enum axvm_backend */
	__u64 features;		/* out: AXVM_FEATURE_* */
	__u32 max_vcpus;	/* out: per VM */
	__u32 max_mem_regions;	/* out: per VM */
	__u32 gpa_bits;		/* out: guest physical address width */
	__u32 npt_levels;	/* out: levels of the nested page tables */
	__u32 nr_asids;		/* out: hardware address-space ids (SVM) */
	__u32 run_size;		/* out: bytes to mmap() from a vCPU fd */
	__u64 reserved[4];	/* out: zero */
};
#define AXVM_GET_CAPS		_IO(AXVM_IOCTL_TYPE, 0x01)

struct axvm_create_vm {
	__u32 size;
	__u32 flags;		/* in: must be 0 */
	__u32 vm_id;		/* out: module-wide id, as in dmesg */
	__u32 reserved0;	/* in: must be 0 */
	__u64 reserved[2];	/* in: must be 0 */
};
/* Returns a new VM fd (O_CLOEXEC). */
#define AXVM_CREATE_VM		_IO(AXVM_IOCTL_TYPE, 0x02)

/* ------------------------------------------------------------------ */
/* VM ioctls, on a VM fd                                              */
/* ------------------------------------------------------------------ */

/*
 * VM lifecycle, after the seed's VMStatus:
 *
 *   LOADING --FINALIZE--> LOADED --BOOT--> RUNNING --SHUTDOWN--> STOPPING
 *                                                                   |
 *   (SHUTDOWN from LOADING or LOADED goes straight to STOPPED)   last vCPU
 *                                                                 leaves RUN
 *                                                                   v
 *                                                                STOPPED
 */
enum axvm_vm_state {
	AXVM_VM_LOADING		= 0,	/* being configured */
	AXVM_VM_LOADED		= 1,	/* configuration frozen */
	AXVM_VM_RUNNING		= 2,
	AXVM_VM_SUSPENDED	= 3,	/* reserved for a later API version */
	AXVM_VM_STOPPING	= 4,	/* vCPUs are leaving */
	AXVM_VM_STOPPED		= 5,
};

/* axvm_memory_region.flags */
#define AXVM_MEM_READ		(1U << 0) /* required: NPT cannot omit it */
#define AXVM_MEM_WRITE		(1U << 1)
#define AXVM_MEM_EXEC		(1U << 2)
#define AXVM_MEM_LAZY		(1U << 3) /* populate on first touch */

/*
 * Adds a region of zeroed, module-allocated guest memory at gpa.
 * gpa and mem_size are multiples of 4 KiB. On success mmap_offset is
 * the offset to pass to mmap() on the VM fd to see the same memory.
 * Only in state LOADING.
 */
struct axvm_memory_region {
	__u32 size;
	__u32 flags;		/* AXVM_MEM_* */
	__u64 gpa;
	__u64 mem_size;
	__u64 mmap_offset;	/* out */
	__u64 reserved[2];
};
#define AXVM_ADD_MEMORY_REGION	_IO(AXVM_IOCTL_TYPE, 0x10)

/* Creates vCPU vcpu_id (0 <= vcpu_id < max_vcpus); returns its fd. */
struct axvm_create_vcpu {
	__u32 size;
	__u32 flags;		/* must be 0 */
	__u32 vcpu_id;
	__u32 reserved0;
	__u64 reserved[2];
};
#define AXVM_CREATE_VCPU	_IO(AXVM_IOCTL_TYPE, 0x11)

/* LOADING -> LOADED; no argument. */
#define AXVM_FINALIZE		_IO(AXVM_IOCTL_TYPE, 0x12)
/* LOADED -> RUNNING; no argument. */
#define AXVM_BOOT		_IO(AXVM_IOCTL_TYPE, 0x13)
/* RUNNING -> STOPPING (-> STOPPED); LOADING/LOADED -> STOPPED. */
#define AXVM_SHUTDOWN		_IO(AXVM_IOCTL_TYPE, 0x14)

struct axvm_vm_status {
	__u32 size;
	__u32 flags;		/* in: must be 0 */
	__u32 state;		/* out: enum axvm_vm_state */
	__u32 nr_vcpus;		/* out: vCPUs created */
	__u32 nr_running;	/* out: vCPUs inside AXVM_RUN now */
	__u32 nr_regions;	/* out */
	__u64 mem_bytes;	/* out: sum of region sizes */
	__u64 populated_bytes;	/* out: memory actually allocated */
	__u64 reserved[2];
};
#define AXVM_GET_VM_STATUS	_IO(AXVM_IOCTL_TYPE, 0x15)

/*
 * Copies len bytes between guest physical memory at gpa and the user
 * buffer at buf, across page and region boundaries. -EFAULT if any byte
 * of the range is outside guest memory regions (nothing is copied then)
 * or buf is bad (the bytes before the bad part may have been copied). Reading an untouched lazy page reads zeros and does not
 * populate it.
 */
struct axvm_guest_memory {
	__u32 size;
	__u32 flags;		/* must be 0 */
	__u64 gpa;
	__u64 len;
	__u64 buf;		/* user pointer */
	__u64 reserved[2];
};
#define AXVM_READ_GUEST		_IO(AXVM_IOCTL_TYPE, 0x16)
#define AXVM_WRITE_GUEST	_IO(AXVM_IOCTL_TYPE, 0x17)

/* ------------------------------------------------------------------ */
/* vCPU ioctls, on a vCPU fd                                           */
/* ------------------------------------------------------------------ */

/* Runs the vCPU in the calling thread until an exit userspace must see. */
#define AXVM_RUN		_IO(AXVM_IOCTL_TYPE, 0x20)

struct axvm_regs {
	__u32 size;
	__u32 flags;		/* must be 0 */
	__u64 rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
	__u64 r8, r9, r10, r11, r12, r13, r14, r15;
	__u64 rip, rflags;
	__u64 reserved[2];
};
#define AXVM_GET_REGS		_IO(AXVM_IOCTL_TYPE, 0x21)
#define AXVM_SET_REGS		_IO(AXVM_IOCTL_TYPE, 0x22)

/* A segment register with its hidden part, in VMCB/VMCS terms. */
struct axvm_segment {
	__u64 base;
	__u32 limit;
	__u16 selector;
	/*
	 * attrib: bits 0-3 type, 4 S, 5-6 DPL, 7 P, 8 AVL, 9 L, 10 D/B,
	 * 11 G, 12 unusable (the "12-bit" SVM layout).
	 */
	__u16 attrib;
};

struct axvm_dtable {
	__u64 base;
	__u32 limit;
	__u32 reserved;
};

struct axvm_sregs {
	__u32 size;
	__u32 flags;		/* must be 0 */
	struct axvm_segment cs, ds, es, fs, gs, ss, tr, ldtr;
	struct axvm_dtable gdt, idt;
	__u64 cr0, cr2, cr3, cr4;
	__u64 efer;
	__u64 reserved[4];
};
#define AXVM_GET_SREGS		_IO(AXVM_IOCTL_TYPE, 0x23)
#define AXVM_SET_SREGS		_IO(AXVM_IOCTL_TYPE, 0x24)

/* Segment attribute bits (struct axvm_segment.attrib). */
#define AXVM_SEG_TYPE(t)	((t) & 0xf)
#define AXVM_SEG_S		(1U << 4)
#define AXVM_SEG_DPL(d)		(((d) & 3) << 5)
#define AXVM_SEG_P		(1U << 7)
#define AXVM_SEG_AVL		(1U << 8)
#define AXVM_SEG_L		(1U << 9)
#define AXVM_SEG_DB		(1U << 10)
#define AXVM_SEG_G		(1U << 11)

/* ------------------------------------------------------------------ */
/* The run structure: mmap(run_size) of a vCPU fd at offset 0          */
/* ------------------------------------------------------------------ */

enum axvm_exit_reason {
	AXVM_EXIT_NONE		= 0,
	AXVM_EXIT_IO		= 1,	/* port I/O nobody in the kernel claims */
	AXVM_EXIT_MMIO		= 2,	/* access to a GPA outside guest memory */
	AXVM_EXIT_HLT		= 3,	/* guest executed HLT */
	AXVM_EXIT_HYPERCALL	= 4,	/* guest executed VMMCALL (SVM) */
	AXVM_EXIT_SHUTDOWN	= 5,	/* triple fault */
	AXVM_EXIT_FAIL_ENTRY	= 6,	/* hardware refused the guest state */
	AXVM_EXIT_INTERNAL_ERROR = 7,	/* axvm could not handle an exit */
	AXVM_EXIT_INTR		= 8,	/* a signal is pending (RUN: -EINTR) */
	AXVM_EXIT_STOPPED	= 9,	/* the VM is shutting down */
};

#define AXVM_IO_IN		0
#define AXVM_IO_OUT		1

/* axvm_run.internal.suberror */
enum axvm_internal_error {
	AXVM_INTERNAL_EMULATION	= 1,	/* instruction could not be decoded */
	AXVM_INTERNAL_FETCH	= 2,	/* instruction fetch outside memory */
	AXVM_INTERNAL_UNEXPECTED = 3,	/* hardware exit axvm does not know */
	AXVM_INTERNAL_EXEC_FAULT = 4,	/* execute from a non-exec region */
	AXVM_INTERNAL_NPT	= 5,	/* nested page table update failed */
	AXVM_INTERNAL_EVENT_DELIVERY = 6, /* MMIO hit while delivering an event */
};

struct axvm_run {
	__u32 exit_reason;	/* out: enum axvm_exit_reason */
	__u32 flags;		/* reserved, 0 */
	__u64 exit_count;	/* out: exits seen by this vCPU, all kinds */
	__u64 reserved[2];
	union {
		/*
		 * AXVM_EXIT_IO. For IN, write data before the next RUN; the
		 * low `width` bytes go to AL/AX/EAX.
		 */
		struct {
			__u16 port;
			__u8 width;	/* 1, 2 or 4 */
			__u8 direction;	/* AXVM_IO_IN / AXVM_IO_OUT */
			__u32 reserved;
			__u64 data;
		} io;
		/*
		 * AXVM_EXIT_MMIO. For a read, write data before the next
		 * RUN; axvm completes the instruction (register, zero or
		 * sign extension, RIP).
		 */
		struct {
			__u64 gpa;
			__u64 data;
			__u8 width;	/* 1, 2, 4 or 8 */
			__u8 is_write;
			__u8 reserved[6];
		} mmio;
		/*
		 * AXVM_EXIT_HYPERCALL: nr from RAX, args from RBX, RCX,
		 * RDX, RSI. ret is written to RAX on the next RUN.
		 */
		struct {
			__u64 nr;
			__u64 args[4];
			__u64 ret;
		} hypercall;
		/* AXVM_EXIT_FAIL_ENTRY: SVM exit code / VMX exit reason. */
		struct {
			__u64 hw_reason;
			__u64 info1;
		} fail_entry;
		/* AXVM_EXIT_INTERNAL_ERROR */
		struct {
			__u32 suberror;	/* enum axvm_internal_error */
			__u32 ndata;	/* valid entries in data[] */
			__u64 data[8];	/* hw exit code, GPA, RIP, bytes.. */
		} internal;
		/* AXVM_EXIT_SHUTDOWN, AXVM_EXIT_HLT: guest RIP at the exit. */
		struct {
			__u64 rip;
		} guest;
		__u8 pad[256];
	};
};

#endif /* _UAPI_LINUX_AXVM_H */
