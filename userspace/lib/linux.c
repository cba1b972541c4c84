// SPDX-License-Identifier: GPL-2.0
/*
 * libaxvm: loading a Linux bzImage with the x86 boot protocol, 64-bit
 * entry (Documentation/x86/boot.rst in the Linux tree), plus the two
 * platform tables the kernel reads at boot: the e820 memory map in
 * boot_params and an Intel MultiProcessor Specification 1.4 table.
 *
 * Everything but axvm_linux_setup_bsp() works on a plain buffer that
 * stands for guest RAM [0, ram_size): the launcher passes its mmap() of
 * the VM's RAM region, tests/linux_loader_test.c a malloc()ed one. The
 * steps are separate so that the launcher can refuse bad input before
 * it creates a VM:
 *
 *   axvm_linux_parse()  the image's setup header       -ENOEXEC
 *   axvm_linux_plan()   where everything goes in RAM   -ENOSPC, -E2BIG,
 *                                                      -EINVAL
 *   axvm_linux_load()   writes it all into the buffer
 *
 * Each failure leaves a one-line reason in l->error for the CLI to
 * print; nothing here prints.
 */
#include <cpuid.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "libaxvm.h"

/*
 * The real-mode kernel header, at these offsets in the file and in
 * boot_params (boot.rst, "The Real-Mode Kernel Header").
 */
#define HDR_SETUP_SECTS		0x1f1
#define HDR_SYSSIZE		0x1f4
#define HDR_BOOT_FLAG		0x1fe
#define HDR_JUMP		0x200	/* 0xeb, offset to the end of the header */
#define HDR_HEADER		0x202
#define HDR_VERSION		0x206
#define HDR_TYPE_OF_LOADER	0x210
#define HDR_LOADFLAGS		0x211
#define HDR_RAMDISK_IMAGE	0x218
#define HDR_RAMDISK_SIZE	0x21c
#define HDR_HEAP_END_PTR	0x224
#define HDR_CMD_LINE_PTR	0x228
#define HDR_INITRD_ADDR_MAX	0x22c
#define HDR_KERNEL_ALIGNMENT	0x230
#define HDR_RELOCATABLE		0x234
#define HDR_XLOADFLAGS		0x236
#define HDR_CMDLINE_SIZE	0x238
#define HDR_PREF_ADDRESS	0x258
#define HDR_INIT_SIZE		0x260
#define HDR_FIELDS_END		0x264	/* the fields above, through init_size */
#define HDR_MAX_END		0x290	/* boot_params' edd_mbr_sig_buffer */

#define BOOT_FLAG		0xaa55
#define HDRS_MAGIC		0x53726448	/* "HdrS" */
#define MIN_VERSION		0x020c	/* 2.12: xloadflags, 64-bit entry */
#define DEFAULT_SETUP_SECTS	4	/* setup_sects 0 means 4 */
#define SECTOR			512

/* loadflags and xloadflags bits (boot.rst) */
#define LOADED_HIGH		(1U << 0)	/* a bzImage */
#define CAN_USE_HEAP		(1U << 7)
#define XLF_KERNEL_64		(1U << 0)	/* 64-bit entry at +0x200 */

#define TYPE_OF_LOADER_UNDEFINED 0xff	/* boot.rst: "0xFF = undefined" */
/*
 * boot.rst: with CAN_USE_HEAP, heap_end_ptr is the end of the setup
 * heap/stack relative to the real-mode code, minus 0x200. Only the
 * 16-bit setup code uses it, which the 64-bit entry skips; this is the
 * value the protocol suggests for a loader that gives it all of 0xe000.
 */
#define HEAP_END_PTR		(0xe000 - 0x200)
#define ENTRY_64_OFFSET		0x200	/* boot.rst, "64-bit Boot Protocol" */

/* boot_params, arch/x86/include/uapi/asm/bootparam.h */
#define BP_SIZE			4096
#define BP_E820_ENTRIES		0x1e8
#define BP_E820_TABLE		0x2d0
#define E820_ENTRY_SIZE		20	/* packed u64 addr, u64 size, u32 type */
#define E820_TYPE_RAM		1
#define E820_TYPE_RESERVED	2

/* BIOS data area: base memory size in KiB (Linux's reserve_bios_regions()) */
#define BDA_BASE_MEM_KB		0x413

#define SIZE_1M			(1ULL << 20)
#define SIZE_4G			(4ULL << 30)
#define PAGE_MASK		(AXVM_PAGE_SIZE - 1)

static uint16_t get16(const uint8_t *p, unsigned int off)
{
	uint16_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static uint32_t get32(const uint8_t *p, unsigned int off)
{
	uint32_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static uint64_t get64(const uint8_t *p, unsigned int off)
{
	uint64_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static void put16(uint8_t *p, unsigned int off, uint16_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static void put32(uint8_t *p, unsigned int off, uint32_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static void put64(uint8_t *p, unsigned int off, uint64_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

/* Records why the step failed and returns err. */
static int fail(struct axvm_linux *l, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct axvm_linux *l, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->error, sizeof(l->error), fmt, ap);
	va_end(ap);
	return err;
}

/* ------------------------------------------------------------------ */
/* The image                                                           */
/* ------------------------------------------------------------------ */

/* Boot sector signature, "HdrS", protocol 2.12 or later. */
static int check_magic(struct axvm_linux *l)
{
	const uint8_t *k = l->kernel;
	uint16_t version;

	if (l->kernel_size < HDR_FIELDS_END)
		return fail(l, -ENOEXEC,
			    "%llu bytes: too short to hold a Linux boot header (0x%x bytes)",
			    (unsigned long long)l->kernel_size, HDR_FIELDS_END);
	if (get16(k, HDR_BOOT_FLAG) != BOOT_FLAG)
		return fail(l, -ENOEXEC,
			    "no boot sector signature 0xaa55 at offset 0x1fe: not a bzImage");
	if (get32(k, HDR_HEADER) != HDRS_MAGIC)
		return fail(l, -ENOEXEC,
			    "no \"HdrS\" at offset 0x202: not a Linux kernel, or one older than boot protocol 2.00");
	version = get16(k, HDR_VERSION);
	if (version < MIN_VERSION)
		return fail(l, -ENOEXEC,
			    "boot protocol %u.%02u; the 64-bit entry needs 2.12 or later",
			    version >> 8, version & 0xff);
	return 0;
}

/* The setup part: sectors, header end; then the protected-mode part. */
static int check_sizes(struct axvm_linux *l)
{
	struct axvm_linux_header *h = &l->hdr;
	const uint8_t *k = l->kernel;

	h->setup_sects = k[HDR_SETUP_SECTS] ? k[HDR_SETUP_SECTS] :
			 DEFAULT_SETUP_SECTS;
	h->setup_size = (h->setup_sects + 1ULL) * SECTOR;
	if (l->kernel_size < h->setup_size)
		return fail(l, -ENOEXEC,
			    "truncated: %llu bytes, but the setup code alone is %llu bytes (setup_sects %u)",
			    (unsigned long long)l->kernel_size,
			    (unsigned long long)h->setup_size, h->setup_sects);
	/* boot.rst: the header ends at 0x202 + the byte at 0x201. */
	h->header_end = HDR_HEADER + k[HDR_JUMP + 1];
	if (h->header_end < HDR_FIELDS_END || h->header_end > HDR_MAX_END)
		return fail(l, -ENOEXEC,
			    "setup header ends at 0x%x, not within [0x%x, 0x%x]",
			    h->header_end, HDR_FIELDS_END, HDR_MAX_END);
	h->syssize = get32(k, HDR_SYSSIZE);
	h->pm_size = (uint64_t)h->syssize * 16;
	if (!h->syssize)
		return fail(l, -ENOEXEC, "syssize is 0: no protected-mode kernel");
	if (l->kernel_size - h->setup_size < h->pm_size)
		return fail(l, -ENOEXEC,
			    "truncated: %llu bytes, but setup (%llu) + kernel (syssize %u x 16 = %llu) need %llu",
			    (unsigned long long)l->kernel_size,
			    (unsigned long long)h->setup_size, h->syssize,
			    (unsigned long long)h->pm_size,
			    (unsigned long long)(h->setup_size + h->pm_size));
	return 0;
}

static bool is_power_of_2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/*
 * boot.rst: a relocatable kernel may go anywhere aligned to
 * kernel_alignment; the others only at pref_address. Use pref_address
 * when it is sane (at or above 1 MiB, aligned), else 16 MiB (Linux's
 * default CONFIG_PHYSICAL_START) for a relocatable kernel.
 */
static int choose_load_address(struct axvm_linux *l)
{
	struct axvm_linux_header *h = &l->hdr;
	uint64_t align = h->kernel_alignment;
	bool aligned = !h->relocatable ||
		       (is_power_of_2(align) && !(h->pref_address & (align - 1)));

	if (h->pref_address >= SIZE_1M && aligned) {
		h->load_address = h->pref_address;
		return 0;
	}
	if (!h->relocatable)
		return fail(l, -ENOEXEC,
			    "not relocatable, and its pref_address 0x%llx is below 1 MiB",
			    (unsigned long long)h->pref_address);
	if (!is_power_of_2(align) || align > AXVM_LINUX_DEFAULT_LOAD)
		return fail(l, -ENOEXEC, "kernel_alignment 0x%llx is not a power of 2 up to 16 MiB",
			    (unsigned long long)align);
	h->load_address = AXVM_LINUX_DEFAULT_LOAD;
	return 0;
}

int axvm_linux_parse(struct axvm_linux *l)
{
	struct axvm_linux_header *h = &l->hdr;
	const uint8_t *k = l->kernel;
	int ret;

	memset(h, 0, sizeof(*h));
	l->error[0] = 0;
	if (!k)
		return fail(l, -EINVAL, "no kernel image");
	ret = check_magic(l);
	if (!ret)
		ret = check_sizes(l);
	if (ret)
		return ret;
	h->version = get16(k, HDR_VERSION);
	h->loadflags = k[HDR_LOADFLAGS];
	h->xloadflags = get16(k, HDR_XLOADFLAGS);
	h->relocatable = k[HDR_RELOCATABLE];
	h->kernel_alignment = get32(k, HDR_KERNEL_ALIGNMENT);
	h->initrd_addr_max = get32(k, HDR_INITRD_ADDR_MAX);
	h->cmdline_size = get32(k, HDR_CMDLINE_SIZE);
	h->pref_address = get64(k, HDR_PREF_ADDRESS);
	h->init_size = get32(k, HDR_INIT_SIZE);
	if (!(h->loadflags & LOADED_HIGH))
		return fail(l, -ENOEXEC,
			    "a zImage (LOADED_HIGH clear in loadflags); only bzImages have a 64-bit entry");
	if (!(h->xloadflags & XLF_KERNEL_64))
		return fail(l, -ENOEXEC,
			    "no 64-bit entry point (XLF_KERNEL_64 clear in xloadflags): a 32-bit kernel?");
	if (h->init_size < h->pm_size)
		return fail(l, -ENOEXEC,
			    "init_size 0x%x is smaller than the kernel itself (0x%llx bytes)",
			    h->init_size, (unsigned long long)h->pm_size);
	return choose_load_address(l);
}

/* ------------------------------------------------------------------ */
/* The layout in guest RAM                                             */
/* ------------------------------------------------------------------ */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static int plan_cmdline(struct axvm_linux *l)
{
	struct axvm_linux_layout *lay = &l->layout;
	size_t len = l->cmdline ? strlen(l->cmdline) : 0;

	lay->cmdline = AXVM_LINUX_CMDLINE;
	lay->cmdline_len = len;
	/* boot.rst: cmdline_size is the longest line without its NUL. */
	if (len > l->hdr.cmdline_size)
		return fail(l, -E2BIG,
			    "command line of %zu bytes; this kernel takes at most %u (cmdline_size)",
			    len, l->hdr.cmdline_size);
	if (len >= AXVM_LINUX_CMDLINE_MAX)
		return fail(l, -E2BIG,
			    "command line of %zu bytes; at most %llu fit",
			    len, AXVM_LINUX_CMDLINE_MAX - 1);
	return 0;
}

/*
 * boot.rst: the initrd goes as high as possible, its last byte at or
 * below initrd_addr_max; it must also stay below 4 GiB for the 32-bit
 * ramdisk_image field, and clear of the kernel's init_size (the
 * decompressor's working area).
 */
static int plan_initrd(struct axvm_linux *l)
{
	struct axvm_linux_layout *lay = &l->layout;
	uint64_t top, addr;

	lay->initrd = lay->initrd_size = 0;
	if (!l->initrd_size)
		return 0;
	top = min_u64(min_u64(l->ram_size, SIZE_4G),
		      (uint64_t)l->hdr.initrd_addr_max + 1);
	addr = top >= l->initrd_size ? (top - l->initrd_size) & ~PAGE_MASK : 0;
	if (top < l->initrd_size || addr < lay->kernel_end)
		return fail(l, -ENOSPC,
			    "the initrd (%llu bytes) does not fit between the kernel's end at 0x%llx and 0x%llx (min of RAM end, initrd_addr_max + 1, 4 GiB)",
			    (unsigned long long)l->initrd_size,
			    (unsigned long long)lay->kernel_end,
			    (unsigned long long)top);
	lay->initrd = addr;
	lay->initrd_size = l->initrd_size;
	return 0;
}

int axvm_linux_plan(struct axvm_linux *l)
{
	struct axvm_linux_layout *lay = &l->layout;
	const struct axvm_linux_header *h = &l->hdr;
	uint64_t need;
	int ret;

	memset(lay, 0, sizeof(*lay));
	l->error[0] = 0;
	if (!h->load_address)
		return fail(l, -EINVAL, "no parsed kernel (axvm_linux_parse)");
	if (l->ram_size % AXVM_PAGE_SIZE || l->ram_size > AXVM_LINUX_MAX_RAM)
		return fail(l, -EINVAL,
			    "RAM of 0x%llx bytes: must be a multiple of 4 KiB, at most 3 GiB (the last GiB below 4 GiB holds the APICs)",
			    (unsigned long long)l->ram_size);
	if (!l->nr_cpus || l->nr_cpus > AXVM_MPTABLE_MAX_CPUS)
		return fail(l, -EINVAL, "%u CPUs: the MP table holds 1 to %u",
			    l->nr_cpus, AXVM_MPTABLE_MAX_CPUS);

	lay->kernel = h->load_address;
	lay->kernel_end = h->load_address + h->init_size;
	lay->entry = h->load_address + ENTRY_64_OFFSET;
	need = lay->kernel_end;
	if (need > l->ram_size)
		return fail(l, -ENOSPC,
			    "the kernel needs RAM up to 0x%llx (loaded at 0x%llx, init_size 0x%x), but RAM ends at 0x%llx",
			    (unsigned long long)need,
			    (unsigned long long)lay->kernel, h->init_size,
			    (unsigned long long)l->ram_size);

	lay->boot_params = AXVM_LINUX_BOOT_PARAMS;
	lay->gdt = AXVM_LINUX_GDT;
	lay->page_tables = AXVM_LINUX_PAGE_TABLES;
	lay->page_tables_size = axvm_x86_identity_map_tables_size(SIZE_4G);
	lay->stack = AXVM_LINUX_STACK;
	lay->mptable = AXVM_LINUX_MPTABLE;
	lay->mptable_size = axvm_mptable_size(l->nr_cpus);
	ret = plan_cmdline(l);
	if (!ret)
		ret = plan_initrd(l);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Writing it                                                          */
/* ------------------------------------------------------------------ */

static void e820_add(uint8_t *bp, uint64_t addr, uint64_t size, uint32_t type)
{
	unsigned int n = bp[BP_E820_ENTRIES];
	unsigned int off = BP_E820_TABLE + n * E820_ENTRY_SIZE;

	put64(bp, off, addr);
	put64(bp, off + 8, size);
	put32(bp, off + 16, type);
	bp[BP_E820_ENTRIES] = n + 1;
}

/*
 * The PC memory map without firmware: low RAM up to the usual 639 KiB,
 * the last KiB of it as the EBDA would be, the VGA/ROM hole, the BIOS
 * area holding the MP table (Linux scans [0xf0000, 1 MiB) for it, MP
 * spec 1.4, 4.1), and RAM from 1 MiB on.
 */
static void build_e820(uint8_t *bp, uint64_t ram_size)
{
	e820_add(bp, 0, AXVM_LINUX_LOW_RAM_END, E820_TYPE_RAM);
	e820_add(bp, AXVM_LINUX_LOW_RAM_END,
		 AXVM_LINUX_EBDA_END - AXVM_LINUX_LOW_RAM_END,
		 E820_TYPE_RESERVED);
	e820_add(bp, AXVM_LINUX_BIOS_AREA, SIZE_1M - AXVM_LINUX_BIOS_AREA,
		 E820_TYPE_RESERVED);
	e820_add(bp, SIZE_1M, ram_size - SIZE_1M, E820_TYPE_RAM);
}

/*
 * The "zero page": zeros, the setup header as the file has it, then the
 * fields boot.rst says a boot loader writes ("Details of Header Fields",
 * "obligatory" for type_of_loader, cmd_line_ptr, ramdisk_*).
 */
static void build_boot_params(const struct axvm_linux *l, uint8_t *bp)
{
	const struct axvm_linux_layout *lay = &l->layout;

	memset(bp, 0, BP_SIZE);
	memcpy(bp + HDR_SETUP_SECTS, l->kernel + HDR_SETUP_SECTS,
	       l->hdr.header_end - HDR_SETUP_SECTS);
	bp[HDR_TYPE_OF_LOADER] = TYPE_OF_LOADER_UNDEFINED;
	bp[HDR_LOADFLAGS] = l->hdr.loadflags | CAN_USE_HEAP;
	put16(bp, HDR_HEAP_END_PTR, HEAP_END_PTR);
	put32(bp, HDR_CMD_LINE_PTR, (uint32_t)lay->cmdline);
	put32(bp, HDR_RAMDISK_IMAGE, (uint32_t)lay->initrd);
	put32(bp, HDR_RAMDISK_SIZE, (uint32_t)lay->initrd_size);
	build_e820(bp, l->ram_size);
}

static void build_cpu_tables(const struct axvm_linux *l, uint8_t *ram)
{
	const struct axvm_linux_layout *lay = &l->layout;
	uint64_t gdt[AXVM_X86_BOOT_GDT_ENTRIES];

	axvm_x86_boot_gdt(gdt);
	memcpy(ram + lay->gdt, gdt, sizeof(gdt));
	memset(ram + lay->page_tables, 0, lay->page_tables_size);
	axvm_x86_build_identity_map(ram + lay->page_tables, lay->page_tables,
				    SIZE_4G);
}

int axvm_linux_load(struct axvm_linux *l, void *ram)
{
	const struct axvm_linux_layout *lay = &l->layout;
	uint8_t *mem = ram;
	int ret;

	ret = axvm_linux_parse(l);
	if (!ret)
		ret = axvm_linux_plan(l);
	if (ret)
		return ret;

	memcpy(mem + lay->kernel, l->kernel + l->hdr.setup_size,
	       l->hdr.pm_size);
	if (lay->initrd_size)
		memcpy(mem + lay->initrd, l->initrd, lay->initrd_size);
	memset(mem + lay->cmdline, 0, lay->cmdline_len + 1);
	if (lay->cmdline_len)
		memcpy(mem + lay->cmdline, l->cmdline, lay->cmdline_len);
	build_boot_params(l, mem + lay->boot_params);
	build_cpu_tables(l, mem);
	/* 639 KiB of base memory, as in the e820 map. */
	put16(mem, BDA_BASE_MEM_KB, AXVM_LINUX_LOW_RAM_END / 1024);
	ret = axvm_mptable_build(mem + lay->mptable,
				 AXVM_LINUX_MPTABLE_END - lay->mptable,
				 lay->mptable, l->nr_cpus, l->cpu_signature,
				 l->cpu_features);
	return ret < 0 ? fail(l, ret, "building the MP table failed") : 0;
}

/* The thin part that talks to the VM: vCPU 0 at the 64-bit entry. */
int axvm_linux_setup_bsp(struct axvm_vcpu *vcpu, const struct axvm_linux *l)
{
	const struct axvm_linux_layout *lay = &l->layout;
	struct axvm_x86_long_entry e = {
		.gdt_gpa = lay->gdt,
		.gdt_size = AXVM_X86_BOOT_GDT_SIZE,
		.cs = AXVM_X86_BOOT_CS,
		.ds = AXVM_X86_BOOT_DS,
		.cr3 = lay->page_tables,
		.rip = lay->entry,
		/*
		 * boot.rst asks nothing of RSP (the decompressor sets up
		 * its own stack first thing); a valid one costs nothing.
		 */
		.rsp = lay->stack,
		.rsi = lay->boot_params,	/* boot.rst: %rsi = boot_params */
	};

	return axvm_x86_setup_long_entry(vcpu, &e);
}

/* CPUID leaf 1 EAX (signature) and EDX (features) of the host, which
 * the guest's filtered CPUID passes through for these fields. */
void axvm_linux_host_cpu(uint32_t *signature, uint32_t *features)
{
	unsigned int eax, ebx, ecx, edx;

	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
		eax = edx = 0;
	*signature = eax;
	*features = edx;
}
