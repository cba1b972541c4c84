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
#define AXVM_FEATURE_PASSTHROUGH	(1ULL << 6) /* AXVM_ADD_PASSTHROUGH */
#define AXVM_FEATURE_DEVICES		(1ULL << 7) /* AXVM_ADD_DEVICE */
#define AXVM_FEATURE_AFFINITY		(1ULL << 8) /* AXVM_VCPU_AFFINITY */
#define AXVM_FEATURE_IRQ_INJECT		(1ULL << 9) /* AXVM_INJECT_IRQ */
#define AXVM_FEATURE_IVC		(1ULL << 10) /* inter-VM channels */
#define AXVM_FEATURE_SUSPEND		(1ULL << 11) /* SUSPEND/RESUME */
#define AXVM_FEATURE_RESET		(1ULL << 12) /* AXVM_RESET */
#define AXVM_FEATURE_STATS		(1ULL << 13) /* GET_STATS, debugfs */
#define AXVM_FEATURE_X86_PLATFORM	(1ULL << 14) /* LAPIC, IOAPIC, SET_IRQ_LINE */
#define AXVM_FEATURE_PVCLOCK		(1ULL << 15) /* kvmclock, CPUID 0x40000100 */

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

/*
 * Creates vCPU vcpu_id (0 <= vcpu_id < max_vcpus); returns its fd.
 *
 * The struct grew after its first version (32 bytes, up to reserved[]);
 * a caller passing the first version gets the defaults: any host CPU,
 * phys_id = vcpu_id. With AXVM_VCPU_AFFINITY (and the full size), the
 * vCPU may only run on the host CPUs in cpu_mask (the seed's
 * phys_cpu_ls): AXVM_RUN from a thread allowed on any other CPU fails
 * with -EPERM. phys_id is the id the guest sees for this vCPU
 * (APIC id on x86, MPIDR on arm64).
 */
#define AXVM_VCPU_AFFINITY	(1U << 0)
#define AXVM_MAX_HOST_CPUS	1024
struct axvm_create_vcpu {
	__u32 size;
	__u32 flags;		/* AXVM_VCPU_AFFINITY */
	__u32 vcpu_id;
	__u32 reserved0;
	__u64 reserved[2];
	/* Since the affinity extension: */
	__u32 phys_id;
	__u32 reserved1;
	__u64 cpu_mask[AXVM_MAX_HOST_CPUS / 64];	/* bit n: host CPU n */
};
#define AXVM_CREATE_VCPU_SIZE_V1	32
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

/*
 * Host-physical ranges given to the guest (the seed's pass-through
 * devices and addresses), mapped GPA -> HPA linearly; see
 * Documentation/passthrough.md. ADD and REMOVE need CAP_SYS_RAWIO
 * (-EPERM) and are allowed in LOADING, LOADED, RUNNING and SUSPENDED
 * (-EBUSY once STOPPING or STOPPED); a running guest sees the change on
 * its next access (REMOVE flushes the guest TLBs before it returns).
 *
 * Without AXVM_PT_RESERVED_MEM the range is device MMIO: mapped
 * uncached, read/write, no execute. -EPERM if it meets System RAM, RAM
 * the kernel owns under another name (ACPI tables/NVS, crash kernel,
 * persistent, soft-reserved, device-private or CXL memory), RAM reserved
 * at boot (a "Reserved" range that was RAM in the firmware's map) or a
 * resource a driver claimed exclusively. With AXVM_PT_RESERVED_MEM the
 * range must lie wholly inside memory the administrator carved out of
 * RAM at boot (a "Reserved" /proc/iomem range that was RAM in the
 * firmware's map, e.g. memmap=16M$0x30000000), unclaimed by any driver,
 * else -EPERM; it is mapped write-back, read/write/execute (the seed's
 * map_reserved_memory_region). AXVM_PT_IDENTITY maps HPA := GPA (hpa
 * must be 0, else -EINVAL).
 *
 * -EINVAL: unknown flags, non-zero reserved, len 0, gpa and hpa at
 * different offsets within their 4 KiB page, or a name that is not
 * printable ASCII, NUL-terminated within its 16 bytes (at most 15
 * characters) and zero after the NUL. -ERANGE: gpa + len or hpa + len
 * wraps, or the range ends beyond the guest physical space or the host
 * physical address width. The range is widened to whole pages (start
 * aligned down, end aligned up), then merged with the ranges it overlaps
 * or touches if the GPA -> HPA offset and the AXVM_PT_RESERVED_MEM flag
 * agree; touching ranges that disagree stay separate. -EEXIST: it
 * overlaps a range that disagrees, or a memory region. -ENOSPC: the map
 * would hold more than 256 ranges.
 */
#define AXVM_PT_RESERVED_MEM	(1U << 0)
#define AXVM_PT_IDENTITY	(1U << 1)
struct axvm_passthrough {
	__u32 size;
	__u32 flags;		/* AXVM_PT_* */
	__u64 gpa;
	__u64 hpa;		/* 0 with AXVM_PT_IDENTITY */
	__u64 len;
	char name[16];		/* optional label (the seed's device name) */
	__u64 reserved[2];
};
#define AXVM_ADD_PASSTHROUGH	_IO(AXVM_IOCTL_TYPE, 0x18)
/*
 * Unmaps the passthrough pages in [gpa, gpa + len) (widened to pages),
 * trimming or splitting ranges, and flushes the guest TLBs: the guest's
 * next access there is an MMIO exit. Only gpa and len may be set
 * (-EINVAL otherwise); -ENOENT if no passthrough page is in the range;
 * -ENOSPC if a split would exceed 256 ranges. Memory regions in the
 * range are left alone.
 */
#define AXVM_REMOVE_PASSTHROUGH	_IO(AXVM_IOCTL_TYPE, 0x19)

struct axvm_passthrough_entry {
	__u64 gpa;
	__u64 hpa;		/* 0 unless the caller has CAP_SYS_RAWIO */
	__u64 len;
	__u32 flags;		/* AXVM_PT_RESERVED_MEM; AXVM_PT_IDENTITY
				 * when hpa == gpa */
	__u32 reserved;
	char name[16];		/* label of the earliest-added named range
				 * merged into it, "" if none had one */
};
/*
 * The merged passthrough map, sorted by gpa; any state, no capability
 * needed. nr_entries in = room in entries[], out = entries in the map.
 * If the room is short: -ENOSPC, nr_entries = the count needed, nothing
 * copied. -EFAULT if entries is bad (and there is something to copy).
 */
struct axvm_passthrough_map {
	__u32 size;
	__u32 flags;		/* must be 0 */
	__u32 nr_entries;
	__u32 reserved0;
	__u64 entries;		/* user pointer to struct axvm_passthrough_entry[] */
	__u64 reserved[2];
};
#define AXVM_GET_PASSTHROUGH_MAP _IO(AXVM_IOCTL_TYPE, 0x1a)

/*
 * In-kernel emulated devices (the seed's AxVmDevices), looked up by the
 * run loop before an exit goes to userspace. Only in LOADING.
 */
enum axvm_device_type {
	AXVM_DEV_UART16550	= 1,	/* 8 registers; fd: read = guest
					 * output, write = guest input */
	/*
	 * x86: an I/O APIC (82093AA register model, version 0x20, 24
	 * pins) in MMIO space, len 0x1000 (usually at
	 * AXVM_IOAPIC_DEFAULT_BASE). Pins are raised by devices added with
	 * AXVM_DEVICE_IRQ_LINE and by AXVM_SET_IRQ_LINE. irq: 0; fd: -1.
	 */
	AXVM_DEV_IOAPIC		= 2,
	/*
	 * x86: a local APIC in every vCPU of the VM (existing and later
	 * ones): xAPIC MMIO at base (must be AXVM_LAPIC_DEFAULT_BASE, len
	 * 0x1000), x2APIC MSRs, the timer (one-shot, periodic, TSC
	 * deadline), IPIs, INIT and SIPI. APIC id = the vCPU's phys_id.
	 * With it, vCPU 0 is the bootstrap processor and every other vCPU
	 * waits inside AXVM_RUN for INIT + SIPI from the guest, as a CPU
	 * does after reset. AXVM_INJECT_IRQ then sets the vector in the
	 * target's IRR. irq: 0; fd: -1.
	 */
	AXVM_DEV_LAPIC		= 3,
};
#define AXVM_IOAPIC_DEFAULT_BASE	0xfec00000ULL
#define AXVM_IOAPIC_PINS		24
#define AXVM_LAPIC_DEFAULT_BASE		0xfee00000ULL
/*
 * axvm_device.flags: irq is an input pin of the VM's I/O APIC (which
 * must exist), not a vector. The device drives the pin edge-style: a
 * rising edge of its interrupt condition is one pulse.
 */
#define AXVM_DEVICE_IRQ_LINE		(1U << 0)
#define AXVM_DEV_SPACE_PIO	0
#define AXVM_DEV_SPACE_MMIO	1
struct axvm_device {
	__u32 size;
	__u32 flags;		/* AXVM_DEVICE_IRQ_LINE */
	__u32 type;		/* enum axvm_device_type */
	__u32 space;		/* AXVM_DEV_SPACE_* */
	__u64 base;		/* port or GPA */
	__u64 len;		/* 0: the type's size (UART: 8 ports / 8 bytes) */
	__u32 irq;		/* vector raised on vCPU 0, 0: no interrupt;
				 * with AXVM_DEVICE_IRQ_LINE: I/O APIC pin */
	__s32 fd;		/* out: the device's fd (O_CLOEXEC), or -1 */
	__u64 reserved[2];
};
#define AXVM_ADD_DEVICE		_IO(AXVM_IOCTL_TYPE, 0x1b)

/*
 * Injects `vector` (32-255) into every vCPU in vcpu_mask (the seed's
 * inject_interrupt_to_vcpu). A vCPU in the guest on another CPU is
 * kicked; one outside takes it on its next entry, once the guest can
 * accept it (RFLAGS.IF set, no interrupt shadow). vm_id 0 means this VM;
 * any other id than this VM's is -EXDEV (never a panic, unlike the seed).
 */
struct axvm_irq {
	__u32 size;
	__u32 flags;		/* must be 0 */
	__u32 vector;
	__u32 vm_id;
	__u64 vcpu_mask;	/* bit n: vCPU n; must name existing vCPUs */
	__u64 reserved[2];
};
#define AXVM_INJECT_IRQ		_IO(AXVM_IOCTL_TYPE, 0x1c)

/*
 * Drives input pin `pin` of the VM's I/O APIC to `level` (0 or 1), as a
 * device wire would (KVM's KVM_IRQ_LINE). An edge-triggered pin
 * delivers on 0 -> 1; a level-triggered one while 1 and not waiting for
 * the guest's EOI. -ENODEV without an I/O APIC; any state but STOPPING
 * and STOPPED.
 */
struct axvm_irq_line {
	__u32 size;
	__u32 flags;		/* must be 0 */
	__u32 pin;		/* 0 .. AXVM_IOAPIC_PINS - 1 */
	__u32 level;		/* 0 or 1 */
	__u64 reserved[2];
};
#define AXVM_SET_IRQ_LINE	_IO(AXVM_IOCTL_TYPE, 0x45)

/*
 * Inter-VM communication channels (the seed's IVC). CREATE allocates a
 * zeroed shared buffer of len bytes (rounded up to 4 KiB), maps it in
 * this VM at gpa (0: the kernel picks the lowest free GPA at or above
 * AXVM_IVC_DEFAULT_BASE and returns it) and returns a channel fd.
 * ATTACH maps the channel behind ivc_fd into another VM at gpa. Each
 * attached VM names the vector it wants for the doorbell and the vCPUs
 * that take it. Ringing (the guest's AXVM_HC_IVC_RING hypercall, handled
 * in the kernel, or AXVM_IVC_RING on the channel fd) raises every other
 * attached VM's doorbell. DETACH unmaps the channel at gpa from this VM;
 * the memory is freed when the last mapping and fd are gone.
 */
#define AXVM_IVC_DEFAULT_BASE	0xe0000000ULL
struct axvm_ivc {
	__u32 size;
	__u32 flags;		/* must be 0 */
	__u64 len;		/* CREATE: in; ATTACH: out */
	__u64 gpa;		/* in (CREATE: 0 = pick), out */
	__u64 vcpu_mask;	/* doorbell targets in this VM; 0: vCPU 0 */
	__u32 vector;		/* doorbell vector in this VM, 0: none */
	__s32 fd;		/* CREATE: out; ATTACH: in */
	__u64 reserved[2];
};
#define AXVM_IVC_CREATE		_IO(AXVM_IOCTL_TYPE, 0x1d)
#define AXVM_IVC_ATTACH		_IO(AXVM_IOCTL_TYPE, 0x1e)
#define AXVM_IVC_DETACH		_IO(AXVM_IOCTL_TYPE, 0x1f)
/* On a channel fd, no argument: ring every attached VM's doorbell. */
#define AXVM_IVC_RING		_IO(AXVM_IOCTL_TYPE, 0x50)
/* Guest hypercall (VMMCALL, RAX = nr, RBX = GPA of the channel in this
 * VM): rings the other VMs; RAX = 0 or -errno. Never leaves the kernel. */
#define AXVM_HC_IVC_RING	0x41580001ULL

/* RUNNING -> SUSPENDED: every vCPU leaves the guest, RUN returns
 * AXVM_EXIT_SUSPENDED until RESUME (SUSPENDED -> RUNNING). */
#define AXVM_SUSPEND		_IO(AXVM_IOCTL_TYPE, 0x40)
#define AXVM_RESUME		_IO(AXVM_IOCTL_TYPE, 0x41)

/* STOPPED -> LOADED (the seed's missing re-init): vCPUs get their
 * power-on state back, pending interrupts are dropped, guest memory is
 * zeroed unless AXVM_RESET_KEEP_MEMORY. BOOT may follow. */
#define AXVM_RESET_KEEP_MEMORY	(1U << 0)
struct axvm_reset {
	__u32 size;
	__u32 flags;		/* AXVM_RESET_* */
	__u64 reserved[3];
};
#define AXVM_RESET		_IO(AXVM_IOCTL_TYPE, 0x42)

/* Every vCPU's (vcpu_id, cpu_mask, phys_id), like the seed's
 * get_vcpu_affinities_pcpu_ids(). nr_entries in = room, out = vCPUs. */
struct axvm_vcpu_affinity {
	__u32 vcpu_id;
	__u32 phys_id;
	__u64 cpu_mask[AXVM_MAX_HOST_CPUS / 64];
};
struct axvm_affinities {
	__u32 size;
	__u32 flags;		/* must be 0 */
	__u32 nr_entries;
	__u32 reserved0;
	__u64 entries;		/* user pointer to struct axvm_vcpu_affinity[] */
	__u64 reserved[2];
};
#define AXVM_GET_VCPU_AFFINITIES _IO(AXVM_IOCTL_TYPE, 0x43)

/* Statistics: exits[] is indexed by enum axvm_stat. */
enum axvm_stat {
	AXVM_STAT_EXITS = 0,		/* hardware exits, all kinds */
	AXVM_STAT_USER_IO,		/* exits to userspace, by kind... */
	AXVM_STAT_USER_MMIO,
	AXVM_STAT_USER_HLT,
	AXVM_STAT_USER_HYPERCALL,
	AXVM_STAT_SHUTDOWN,
	AXVM_STAT_FAIL_ENTRY,
	AXVM_STAT_INTERNAL_ERROR,
	AXVM_STAT_SIGNAL,
	AXVM_STAT_STOPPED,
	AXVM_STAT_SUSPENDED,
	AXVM_STAT_CPUID,		/* handled in the kernel... */
	AXVM_STAT_MSR,
	AXVM_STAT_MSR_UNKNOWN,		/* #GP for an MSR axvm does not know */
	AXVM_STAT_NPF_POPULATE,		/* lazy page populated */
	AXVM_STAT_HOST_IRQ,		/* host interrupt/NMI while in guest */
	AXVM_STAT_DEVICE_IO,		/* port I/O to an in-kernel device */
	AXVM_STAT_DEVICE_MMIO,
	AXVM_STAT_IRQ_WINDOW,		/* waited for the guest to take an IRQ */
	AXVM_STAT_HLT_BLOCK,		/* HLT slept in the kernel */
	AXVM_STAT_EXCEPTION,		/* intercepted exception reinjected */
	AXVM_STAT_FORBIDDEN,		/* #UD/#GP for a forbidden instruction */
	AXVM_STAT_IVC_RING,		/* doorbell hypercalls */
	AXVM_STAT_OTHER,		/* XSETBV, DR, WBINVD, ... */
	AXVM_STAT_APIC_ACCESS,		/* local APIC register, MMIO or MSR */
	AXVM_STAT_APIC_TIMER,		/* local APIC timer interrupts */
	AXVM_STAT_IPI,			/* IPIs this vCPU sent */
	AXVM_STAT_NR
};
#define AXVM_STAT_SLOTS		32
struct axvm_stats {
	__u32 size;
	__u32 flags;		/* must be 0 */
	__u64 exits[AXVM_STAT_SLOTS];	/* enum axvm_stat */
	__u64 irqs_injected;	/* interrupts delivered into the guest */
	__u64 pages_populated;	/* VM: guest pages allocated */
	__u64 reserved[4];
};
/* On a VM fd: the sum over its vCPUs, plus VM-wide counters. */
#define AXVM_GET_STATS		_IO(AXVM_IOCTL_TYPE, 0x44)

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
/* On a vCPU fd: this vCPU's counters (struct axvm_stats). */
#define AXVM_GET_VCPU_STATS	_IO(AXVM_IOCTL_TYPE, 0x25)

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
	AXVM_EXIT_SUSPENDED	= 10,	/* the VM is suspended: RUN after RESUME */
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
