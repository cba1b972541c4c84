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
/*
 * AXVM_ADD_DEVICE with flags (AXVM_DEVICE_IRQ_LINE: irq is an I/O APIC
 * pin). 0 or -errno; *fd (may be NULL) gets the device's fd, or -1 for
 * the types that have none (AXVM_DEV_IOAPIC, AXVM_DEV_LAPIC).
 */
int axvm_vm_add_device_flags(struct axvm_vm *vm, uint32_t type,
			     uint32_t space, uint64_t base, uint64_t len,
			     uint32_t irq, uint32_t flags, int *fd);
/* AXVM_SET_IRQ_LINE: I/O APIC input pin to level 0 or 1. */
int axvm_vm_set_irq_line(struct axvm_vm *vm, uint32_t pin, uint32_t level);
/* AXVM_GET_STATS: the VM's counters, summed over its vCPUs. */
int axvm_vm_get_stats(struct axvm_vm *vm, struct axvm_stats *stats);
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
const char *axvm_stat_name(uint32_t stat);	/* enum axvm_stat */
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
 * Building blocks for a 64-bit entry whose GDT and page tables the
 * caller places itself (the Linux boot protocol, lib/linux.c).
 *
 * axvm_x86_build_identity_map() fills buf, which the guest will see at
 * gpa (4 KiB aligned), with page tables identity-mapping [0, map_size)
 * (rounded up to 2 MiB, 0 < map_size <= 4 GiB) with 2 MiB pages: PML4,
 * PDPT, one page directory per GiB; buf holds
 * axvm_x86_identity_map_tables_size(map_size) bytes. -EINVAL otherwise.
 */
uint64_t axvm_x86_identity_map_tables_size(uint64_t map_size);
int axvm_x86_build_identity_map(void *buf, uint64_t gpa, uint64_t map_size);

/* Linux's 64-bit boot protocol selectors (Documentation/x86/boot.rst). */
#define AXVM_X86_BOOT_CS	0x10	/* __BOOT_CS: flat 64-bit code */
#define AXVM_X86_BOOT_DS	0x18	/* __BOOT_DS: flat data */
#define AXVM_X86_BOOT_GDT_ENTRIES 4	/* null, null, __BOOT_CS, __BOOT_DS */
#define AXVM_X86_BOOT_GDT_SIZE	(AXVM_X86_BOOT_GDT_ENTRIES * 8)
void axvm_x86_boot_gdt(uint64_t gdt[AXVM_X86_BOOT_GDT_ENTRIES]);

struct axvm_x86_long_entry {
	uint64_t gdt_gpa;	/* the GDT, already in guest memory */
	uint32_t gdt_size;	/* bytes: the GDTR limit + 1 */
	uint16_t cs;		/* selector of a 64-bit code descriptor */
	uint16_t ds;		/* selector of a flat data descriptor: DS,
				 * ES, FS, GS and SS */
	uint64_t cr3;		/* PML4, already in guest memory */
	uint64_t rip, rsp, rsi;
};
/*
 * Puts vcpu in 64-bit mode (paging, PAE, LME/LMA, CR0 0x80050033) with
 * that GDT and CR3, RIP, RSP and RSI as given, every other GPR 0 and
 * RFLAGS 2 (interrupts off), an empty IDT. Writes no guest memory.
 * -EINVAL for a selector outside the GDT or a misaligned GDT or CR3.
 */
int axvm_x86_setup_long_entry(struct axvm_vcpu *vcpu,
			      const struct axvm_x86_long_entry *e);

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

/* --- Linux guests (userspace/lib/linux.c, mptable.c) --- */
/*
 * Guest physical layout of a Linux guest (Documentation/linux-guest.md,
 * "Loading a bzImage"): all of it below 1 MiB except the kernel, at
 * its pref_address (usually 16 MiB), and the initrd, at the top of RAM.
 */
#define AXVM_LINUX_GDT		0x1000ULL	/* __BOOT_CS/__BOOT_DS GDT */
#define AXVM_LINUX_STACK	0x7000ULL	/* initial RSP, [0x2000, 0x7000) free */
#define AXVM_LINUX_BOOT_PARAMS	0x7000ULL	/* the zero page, 4 KiB */
#define AXVM_LINUX_PAGE_TABLES	0x9000ULL	/* 4 GiB identity map, 24 KiB */
#define AXVM_LINUX_CMDLINE	0x20000ULL
#define AXVM_LINUX_CMDLINE_MAX	0x10000ULL	/* bytes, NUL included */
#define AXVM_LINUX_LOW_RAM_END	0x9fc00ULL	/* 639 KiB */
#define AXVM_LINUX_EBDA_END	0xa0000ULL	/* [639 KiB, 640 KiB) reserved */
#define AXVM_LINUX_BIOS_AREA	0xf0000ULL	/* reserved to 1 MiB */
#define AXVM_LINUX_MPTABLE	0xf0000ULL	/* MP floating pointer + table */
#define AXVM_LINUX_MPTABLE_END	0x100000ULL
#define AXVM_LINUX_DEFAULT_LOAD	0x1000000ULL	/* relocatable kernels whose
						 * pref_address is unusable */
#define AXVM_LINUX_MAX_RAM	(3ULL << 30)	/* [3 GiB, 4 GiB): the APICs */
#define AXVM_MPTABLE_MAX_CPUS	254		/* 8-bit APIC ids, I/O APIC last */

/* What axvm_linux_parse() read from the setup header. */
struct axvm_linux_header {
	uint16_t version;	/* boot protocol: 0x020f is 2.15 */
	uint8_t setup_sects;	/* as used: 0 in the file means 4 */
	uint8_t loadflags;
	uint16_t xloadflags;
	uint8_t relocatable;	/* relocatable_kernel */
	uint32_t syssize;	/* protected-mode kernel, 16-byte units */
	uint32_t kernel_alignment;
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;
	uint32_t init_size;
	uint64_t pref_address;
	uint64_t setup_size;	/* bytes of setup: (setup_sects + 1) * 512 */
	uint64_t pm_size;	/* bytes of protected-mode kernel: syssize * 16 */
	uint32_t header_end;	/* 0x202 + the byte at 0x201 */
	uint64_t load_address;	/* where it will be loaded */
};

/* Where axvm_linux_plan() puts everything (guest physical addresses). */
struct axvm_linux_layout {
	uint64_t kernel;	/* the protected-mode kernel */
	uint64_t kernel_end;	/* kernel + init_size */
	uint64_t entry;		/* kernel + 0x200: the 64-bit entry */
	uint64_t boot_params;
	uint64_t cmdline;
	uint64_t cmdline_len;	/* without the NUL */
	uint64_t initrd;	/* 0 without one */
	uint64_t initrd_size;
	uint64_t gdt;
	uint64_t page_tables;
	uint64_t page_tables_size;
	uint64_t stack;
	uint64_t mptable;	/* the MP floating pointer structure */
	uint64_t mptable_size;	/* floating pointer + configuration table */
};

struct axvm_linux {
	/* in */
	const uint8_t *kernel;	/* the bzImage file's bytes */
	uint64_t kernel_size;
	const uint8_t *initrd;	/* NULL or initrd_size 0: none */
	uint64_t initrd_size;
	const char *cmdline;	/* NULL: empty */
	uint64_t ram_size;	/* RAM is [0, ram_size) */
	unsigned int nr_cpus;	/* MP table processors, APIC ids 0.. */
	uint32_t cpu_signature;	/* MP processor entries: CPUID 1 EAX */
	uint32_t cpu_features;	/* and EDX (axvm_linux_host_cpu()) */
	/* out */
	struct axvm_linux_header hdr;		/* axvm_linux_parse() */
	struct axvm_linux_layout layout;	/* axvm_linux_plan() */
	char error[192];	/* why the last call failed, one line */
};

/*
 * axvm_linux_parse(): checks the bzImage (boot sector signature, "HdrS",
 * protocol >= 2.12, a bzImage with XLF_KERNEL_64, file long enough for
 * setup + syssize * 16 bytes, a usable load address); -ENOEXEC.
 * axvm_linux_plan(): places kernel, initrd and tables for ram_size and
 * nr_cpus; -ENOSPC (kernel or initrd does not fit), -E2BIG (command
 * line longer than cmdline_size), -EINVAL (RAM size, CPU count).
 * axvm_linux_load(): parse + plan, then writes the kernel, initrd,
 * command line, boot_params with the e820 map, GDT, page tables, BIOS
 * data area and MP table into ram, a buffer that is guest physical
 * [0, ram_size). On failure l->error says why.
 */
int axvm_linux_parse(struct axvm_linux *l);
int axvm_linux_plan(struct axvm_linux *l);
int axvm_linux_load(struct axvm_linux *l, void *ram);
/* vCPU 0 at the 64-bit entry: CS 0x10, DS 0x18, RSI = boot_params. */
int axvm_linux_setup_bsp(struct axvm_vcpu *vcpu, const struct axvm_linux *l);
void axvm_linux_host_cpu(uint32_t *signature, uint32_t *features);

/* MP spec 1.4 table at gpa (16-byte aligned, below 4 GiB); returns its
 * size or -EINVAL, -ENOSPC (lib/mptable.c). */
uint64_t axvm_mptable_size(unsigned int nr_cpus);
int axvm_mptable_build(void *buf, size_t len, uint64_t gpa,
		       unsigned int nr_cpus, uint32_t cpu_signature,
		       uint32_t cpu_features);

/* --- Multiboot (v1) guests (userspace/lib/multiboot.c) --- */
/*
 * The Multiboot Specification 0.6.96: an OS image (ELF32, or any format
 * with the "a.out kludge" load addresses in its header) entered in
 * 32-bit protected mode with paging off, EAX = the boot magic and EBX =
 * the physical address of the Multiboot information structure (MBI).
 * The machine is Linux mode's (RAM from 0, the same memory map, the MP
 * table at 0xf0000); Documentation/launcher.md, "axvm run --multiboot".
 */
#define AXVM_MULTIBOOT_HEADER_MAGIC	0x1badb002U	/* in the image */
#define AXVM_MULTIBOOT_BOOT_MAGIC	0x2badb002U	/* EAX at entry */
#define AXVM_MULTIBOOT_SEARCH		8192	/* the header lies in these bytes */
#define AXVM_MULTIBOOT_MAX_SEGMENTS	16	/* ELF PT_LOAD segments */
#define AXVM_MULTIBOOT_MAX_MODULES	8
#define AXVM_MULTIBOOT_CMDLINE_MAX	4096	/* bytes, NUL included */
#define AXVM_MULTIBOOT_INFO_LOW		0x1000ULL	/* the MBI & co. start at or
							 * above: page 0 is the
							 * real-mode IVT and BDA */
#define AXVM_MULTIBOOT_MIN_RAM		(2ULL << 20)
#define AXVM_MULTIBOOT_MAX_RAM		(3ULL << 30)	/* as Linux mode: the APICs */
/* The GDT the entry state points at: null, flat code, flat data. */
#define AXVM_MULTIBOOT_SEL_CODE		0x08
#define AXVM_MULTIBOOT_SEL_DATA		0x10
#define AXVM_MULTIBOOT_GDT_SIZE		24

/* One piece of the image, copied from the file and zero-filled after. */
struct axvm_multiboot_segment {
	uint64_t offset;	/* in the file */
	uint64_t file_size;	/* bytes copied from the file */
	uint64_t addr;		/* guest physical load address */
	uint64_t mem_size;	/* bytes in memory; past file_size: zeros */
};

/* What axvm_multiboot_parse() found in the image. */
struct axvm_multiboot_header {
	uint32_t offset;	/* of the Multiboot header in the file */
	uint32_t flags;
	int aout_kludge;	/* flags bit 16: addresses from the header */
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr,
		 entry_addr;	/* valid with aout_kludge */
	unsigned int nr_segments;
	struct axvm_multiboot_segment segments[AXVM_MULTIBOOT_MAX_SEGMENTS];
	uint64_t entry;		/* physical address of the entry point */
	uint64_t image_start;	/* lowest byte any segment occupies */
	uint64_t image_end;	/* and the end of the highest one */
};

struct axvm_multiboot_module {
	const uint8_t *data;	/* the file's bytes */
	uint64_t size;
	const char *string;	/* its string in the module list (NULL: "") */
};

/* Where axvm_multiboot_plan() puts everything (guest physical). */
struct axvm_multiboot_layout {
	uint64_t info;		/* the boot information area: [info, info_end) */
	uint64_t info_end;	/* holds the GDT, MBI, memory map, module list, strings */
	uint64_t gdt;
	uint64_t mbi;
	uint64_t mmap;
	uint32_t mmap_length;	/* bytes */
	uint64_t mods;		/* the module list (16 bytes per module) */
	uint64_t cmdline;
	uint64_t cmdline_len;	/* without the NUL */
	uint64_t loader_name;
	uint64_t module_string[AXVM_MULTIBOOT_MAX_MODULES];
	uint64_t module[AXVM_MULTIBOOT_MAX_MODULES];	/* page-aligned */
	uint64_t modules_end;	/* 0 without modules */
	uint64_t mptable;	/* the MP floating pointer at 0xf0000 */
	uint64_t mptable_size;
	uint32_t mem_lower;	/* KiB of RAM below 1 MiB (the MBI's) */
	uint32_t mem_upper;	/* KiB from 1 MiB to the first hole */
};

struct axvm_multiboot {
	/* in */
	const uint8_t *image;	/* the OS image file's bytes */
	uint64_t image_size;
	const char *image_name;	/* the command line's first word: the
				 * image's path, as GRUB and QEMU pass it
				 * (NULL: none) */
	const char *append;	/* the rest of the command line (NULL: none) */
	struct axvm_multiboot_module modules[AXVM_MULTIBOOT_MAX_MODULES];
	unsigned int nr_modules;
	uint64_t ram_size;	/* RAM is [0, ram_size) */
	unsigned int nr_cpus;	/* MP table processors */
	uint32_t cpu_signature;	/* MP processor entries (axvm_linux_host_cpu()) */
	uint32_t cpu_features;
	/* out */
	struct axvm_multiboot_header hdr;	/* axvm_multiboot_parse() */
	struct axvm_multiboot_layout layout;	/* axvm_multiboot_plan() */
	char error[192];	/* why the last call failed, one line */
};

/*
 * axvm_multiboot_parse(): finds the header (magic and checksum, 4-byte
 * aligned, in the first 8 KiB), checks its flags (bits 0 and 1 are
 * honoured, bit 2, video, and undefined bits 3-15 are refused) and reads
 * the load addresses from the header (bit 16) or the ELF32 program
 * headers; -ENOEXEC. axvm_multiboot_plan(): checks the image against
 * ram_size and the memory map and places the boot information, the
 * modules and the MP table; -ENOSPC (does not fit), -E2BIG (command
 * line), -EINVAL (RAM size, CPU or module count).
 * axvm_multiboot_load(): parse + plan, then writes the image (bss
 * zeroed), the modules, the GDT, the MBI with its memory map, module
 * list and strings, and the MP table into ram, a buffer that is guest
 * physical [0, ram_size). On failure m->error says why.
 */
int axvm_multiboot_parse(struct axvm_multiboot *m);
int axvm_multiboot_plan(struct axvm_multiboot *m);
int axvm_multiboot_load(struct axvm_multiboot *m, void *ram);
/*
 * vCPU 0 at the entry (Multiboot 0.6.96, 3.2 "Machine state"): 32-bit
 * protected mode, paging off, flat CS (AXVM_MULTIBOOT_SEL_CODE) and data
 * segments from the GDT in the boot information area, EFLAGS 2 (IF and
 * VM clear), EAX = AXVM_MULTIBOOT_BOOT_MAGIC, EBX = the MBI, every other
 * GPR 0 (the OS sets up its own stack), CR4 and EFER 0, an empty IDT.
 */
int axvm_multiboot_setup_bsp(struct axvm_vcpu *vcpu,
			     const struct axvm_multiboot *m);

/*
 * fw_cfg, QEMU's firmware configuration device, through its legacy I/O
 * interface (QEMU's docs/specs/fw_cfg.rst): a 16-bit write to the
 * selector port picks an item, byte reads from the data port return it.
 * The items a multiboot guest of QEMU's pc machine reads (kvm-unit-tests'
 * lib/x86/fwcfg.c): the signature "QEMU", the interface ID (1: no DMA),
 * the RAM size, the CPU count and the maximum CPU count; other items
 * are empty and read 0. Pure state machine; the caller serializes.
 */
#define AXVM_FWCFG_PORT_SEL		0x510
#define AXVM_FWCFG_PORT_DATA		0x511
#define AXVM_FWCFG_SIGNATURE		0x00
#define AXVM_FWCFG_ID			0x01
#define AXVM_FWCFG_RAM_SIZE		0x03
#define AXVM_FWCFG_NB_CPUS		0x05
#define AXVM_FWCFG_MAX_CPUS		0x0f

struct axvm_fwcfg {
	uint16_t selector;
	uint32_t offset;	/* next byte of the selected item */
	uint64_t ram_size;
	uint16_t nr_cpus;
};

void axvm_fwcfg_init(struct axvm_fwcfg *f, uint64_t ram_size,
		     unsigned int nr_cpus);
/*
 * One port access: returns 1 if port is the device's (0x510, 0x511),
 * with *data set for a read, 0 otherwise (untouched). Accesses the
 * device does not decode (a byte at 0x510, a word at 0x511, ...) read
 * all-ones and are ignored, as on an empty bus.
 */
int axvm_fwcfg_io(struct axvm_fwcfg *f, uint16_t port, unsigned int width,
		  int is_write, uint32_t *data);

/* --- misc helpers --- */
/*
 * Parses "64M", "1G", "0x1000", "4096" into bytes (suffixes K M G T,
 * powers of 1024, optionally followed by B or iB). -EINVAL if malformed,
 * -ERANGE if it does not fit 64 bits.
 */
int axvm_parse_size(const char *s, uint64_t *out);

#endif /* LIBAXVM_H */
