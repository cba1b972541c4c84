/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libaxvm: a thin C library over /dev/axvm, shared by the launcher
 * (userspace/axvm.c) and the selftests.
 *
 * Like kvmtool's library code, every function returns 0 (or a
 * non-negative value) on success and -errno on failure, and never
 * prints or exits: only the CLI layer does that.
 */
#ifndef LIBAXVM_H
#define LIBAXVM_H

#include <stdint.h>
#include <stddef.h>
#include <linux/axvm.h>

#define AXVM_DEV_PATH		"/dev/axvm"
#define AXVM_PAGE_SIZE		4096ULL

struct axvm_vm {
	int sys_fd;		/* /dev/axvm */
	int fd;			/* VM fd */
	uint32_t id;
};

struct axvm_vcpu {
	int fd;
	uint32_t id;
	struct axvm_run *run;	/* mmap()ed run structure */
	size_t run_size;
};

/* A guest memory region as userspace sees it. */
struct axvm_mem {
	uint64_t gpa;
	uint64_t size;
	uint32_t flags;
	void *hva;		/* mmap() of the VM fd; NULL if not mapped */
};

/* --- system --- */
int axvm_open(void);				/* fd of /dev/axvm */
int axvm_get_caps(int sys_fd, struct axvm_caps *caps);
const char *axvm_backend_name(uint32_t backend);
int axvm_get_api_version(int sys_fd);		/* AXVM_API_VERSION or -errno */
/* Name of one AXVM_FEATURE_* bit (the bit itself, not its index). */
const char *axvm_feature_name(uint64_t feature);

/* --- VMs --- */
int axvm_vm_create(struct axvm_vm *vm);		/* opens /dev/axvm too */
void axvm_vm_destroy(struct axvm_vm *vm);	/* closes both fds */
/* Adds a region and maps it into this process (mem->hva). */
int axvm_vm_add_memory(struct axvm_vm *vm, uint64_t gpa, uint64_t size,
		       uint32_t flags, struct axvm_mem *mem);
/* Only the ioctl: no mmap(). mmap_offset may be NULL. */
int axvm_vm_add_memory_region(struct axvm_vm *vm, uint64_t gpa,
			      uint64_t size, uint32_t flags,
			      uint64_t *mmap_offset);
void axvm_mem_unmap(struct axvm_mem *mem);
/*
 * AXVM_ADD_DEVICE (LOADING only): an in-kernel device of `type`
 * (AXVM_DEV_*) at [base, base + len) in `space` (AXVM_DEV_SPACE_*),
 * raising vector `irq` on vCPU 0 (0: none). len 0 means the type's size;
 * len_out (may be NULL) receives the size used. Returns the device's fd
 * or -errno.
 */
int axvm_vm_add_device(struct axvm_vm *vm, uint32_t type, uint32_t space,
		       uint64_t base, uint64_t len, uint32_t irq,
		       uint64_t *len_out);
	/* undoes the mmap() only */
int axvm_vm_finalize(struct axvm_vm *vm);
int axvm_vm_boot(struct axvm_vm *vm);
int axvm_vm_shutdown(struct axvm_vm *vm);
int axvm_vm_status(struct axvm_vm *vm, struct axvm_vm_status *st);
int axvm_vm_read(struct axvm_vm *vm, uint64_t gpa, void *buf, size_t len);
int axvm_vm_write(struct axvm_vm *vm, uint64_t gpa, const void *buf,
		  size_t len);
const char *axvm_state_name(uint32_t state);

/* --- vCPUs --- */
int axvm_vcpu_create(struct axvm_vm *vm, uint32_t id,
		     struct axvm_vcpu *vcpu);	/* also maps run */
void axvm_vcpu_destroy(struct axvm_vcpu *vcpu);
int axvm_vcpu_run(struct axvm_vcpu *vcpu);	/* 0 or -errno */
int axvm_vcpu_get_regs(struct axvm_vcpu *vcpu, struct axvm_regs *regs);
int axvm_vcpu_set_regs(struct axvm_vcpu *vcpu, struct axvm_regs *regs);
int axvm_vcpu_get_sregs(struct axvm_vcpu *vcpu, struct axvm_sregs *sregs);
int axvm_vcpu_set_sregs(struct axvm_vcpu *vcpu, struct axvm_sregs *sregs);
const char *axvm_exit_name(uint32_t exit_reason);
const char *axvm_internal_error_name(uint32_t suberror);

/* --- x86 CPU modes (userspace/lib/x86.c) --- */
enum axvm_cpu_mode {
	AXVM_MODE_REAL,		/* 16-bit real mode, CS:IP from entry */
	AXVM_MODE_PROTECTED,	/* 32-bit flat protected mode, no paging */
	AXVM_MODE_LONG,		/* 64-bit, identity-mapped with 2 MiB pages */
};

/*
 * Where the long/protected mode setup puts its structures in guest
 * memory. All must lie inside a writable memory region that the caller
 * added; the default layout uses GPAs 0x1000-0x7fff.
 */
struct axvm_x86_layout {
	uint64_t gdt_gpa;	/* GDT: null, code64, data, code32 */
	uint64_t pml4_gpa;	/* page tables: 6 pages from here */
	uint64_t identity_map_size; /* bytes identity-mapped, <= 4 GiB */
};
#define AXVM_X86_DEFAULT_GDT	0x1000ULL
#define AXVM_X86_DEFAULT_PML4	0x2000ULL
#define AXVM_X86_DEFAULT_IDENTITY_MAP	(1ULL << 30)	/* also used for 0 */
#define AXVM_X86_MAX_IDENTITY_MAP	(4ULL << 30)

/* The GDT that protected and long mode write (selectors, RPL 0). */
#define AXVM_X86_SEL_CODE64	0x08	/* 64-bit code, P|S|type 0xb|L|G */
#define AXVM_X86_SEL_DATA	0x10	/* flat 4 GiB data, 0xc93 */
#define AXVM_X86_SEL_CODE32	0x18	/* flat 4 GiB 32-bit code, 0xc9b */
#define AXVM_X86_GDT_ENTRIES	4
#define AXVM_X86_GDT_SIZE	(AXVM_X86_GDT_ENTRIES * 8)

/* Real-mode entry and stack must lie below this. */
#define AXVM_X86_REAL_MODE_LIMIT	0x100000ULL

void axvm_x86_default_layout(struct axvm_x86_layout *layout);
/* Bytes of page tables long mode writes at layout->pml4_gpa. */
uint64_t axvm_x86_page_tables_size(const struct axvm_x86_layout *layout);

/*
 * Puts vcpu in `mode` with RIP = entry and RSP = stack. For real mode,
 * entry must be below 1 MiB: CS = entry >> 4 & 0xf000, IP the rest.
 * For long mode the page tables and GDT are written through
 * AXVM_WRITE_GUEST, so the region needs no mmap().
 *
 * layout NULL means the default layout (1 GiB identity map). Real mode
 * writes nothing to guest memory; protected mode writes the GDT; long
 * mode writes the GDT and axvm_x86_page_tables_size() bytes of page
 * tables. In real mode SS:SP is derived from stack like CS:IP from
 * entry (SS = (stack - 1) >> 4 & 0xf000, SP = stack - SS base, mod
 * 64 KiB); stack must be <= 1 MiB. In protected mode entry and stack
 * must be <= 4 GiB. The vCPU starts with all other GPRs zero, RFLAGS 2,
 * an empty IDT (except real mode's 1 KiB IVT at 0) and CR2 0.
 * -EINVAL for a bad mode, entry, stack or layout.
 */
int axvm_x86_setup_mode(struct axvm_vm *vm, struct axvm_vcpu *vcpu,
			enum axvm_cpu_mode mode, uint64_t entry,
			uint64_t stack, const struct axvm_x86_layout *layout);
int axvm_parse_mode(const char *s, enum axvm_cpu_mode *mode);
const char *axvm_mode_name(enum axvm_cpu_mode mode);

/* --- misc helpers --- */
/*
 * Parses "64M", "1G", "0x1000", "4096" into bytes (suffixes K M G T,
 * powers of 1024, optionally followed by B or iB). -EINVAL if malformed,
 * -ERANGE if it does not fit 64 bits.
 */
int axvm_parse_size(const char *s, uint64_t *out);

#endif /* LIBAXVM_H */
