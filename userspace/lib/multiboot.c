// SPDX-License-Identifier: GPL-2.0
/*
 * libaxvm: loading a Multiboot (version 1) OS image, as the Multiboot
 * Specification version 0.6.96 describes it (the GNU GRUB project's
 * "Multiboot Specification"; sections cited as "MB 3.1.2" etc.), plus
 * the fw_cfg ports such a guest of QEMU's pc machine reads.
 *
 * Like lib/linux.c, everything but axvm_multiboot_setup_bsp() works on
 * a plain buffer that stands for guest RAM [0, ram_size), in three
 * steps so that the launcher refuses bad input before it creates a VM:
 *
 *   axvm_multiboot_parse()  the image: header, flags, segments  -ENOEXEC
 *   axvm_multiboot_plan()   where everything goes in RAM        -ENOSPC,
 *                                                               -E2BIG,
 *                                                               -EINVAL
 *   axvm_multiboot_load()   writes it all into the buffer
 *
 * Each failure leaves a one-line reason in m->error; nothing here
 * prints.
 *
 * The memory map is Linux mode's (lib/linux.c): RAM [0, 639 KiB), the
 * EBDA's last KiB and [0xf0000, 1 MiB) reserved (the MP table lives
 * there), RAM [1 MiB, ram_size). The boot information (GDT, MBI, memory
 * map, module list, strings) goes into the lowest free spot at or above
 * 0x1000 that no segment of the image uses, so that an OS allocating
 * memory after its own image (kvm-unit-tests does, from its end to the
 * top of RAM) does not overwrite it; the modules go page-aligned right
 * after the image, as QEMU and GRUB put them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "libaxvm.h"

/* MB 3.1.1-3.1.3: the header's fields, by offset. */
#define MBH_MAGIC		0
#define MBH_FLAGS		4
#define MBH_CHECKSUM		8
#define MBH_HEADER_ADDR		12
#define MBH_LOAD_ADDR		16
#define MBH_LOAD_END_ADDR	20
#define MBH_BSS_END_ADDR	24
#define MBH_ENTRY_ADDR		28
#define MBH_SIZE_BASE		12	/* magic, flags, checksum */
#define MBH_SIZE_AOUT		32	/* + the address fields */
#define MBH_SIZE_VIDEO		48	/* + mode_type, width, height, depth */

/* MB 3.1.2: flags. Bits 0-15 are requirements, 16-31 optional. */
#define MBF_PAGE_ALIGN		(1U << 0)	/* modules page-aligned */
#define MBF_MEMORY_INFO		(1U << 1)	/* mem_* (and mmap) wanted */
#define MBF_VIDEO_MODE		(1U << 2)	/* video mode table wanted */
#define MBF_REQUIRED		0x0000ffffU
#define MBF_KNOWN		(MBF_PAGE_ALIGN | MBF_MEMORY_INFO)
#define MBF_AOUT_KLUDGE		(1U << 16)

/* MB 3.3: the Multiboot information structure. */
#define MBI_FLAGS		0
#define MBI_MEM_LOWER		4
#define MBI_MEM_UPPER		8
#define MBI_CMDLINE		16
#define MBI_MODS_COUNT		20
#define MBI_MODS_ADDR		24
#define MBI_MMAP_LENGTH		44
#define MBI_MMAP_ADDR		48
#define MBI_BOOT_LOADER_NAME	64
#define MBI_SIZE		120	/* 116 with the framebuffer fields, rounded */
#define MBI_F_MEM		(1U << 0)
#define MBI_F_CMDLINE		(1U << 2)
#define MBI_F_MODS		(1U << 3)
#define MBI_F_MMAP		(1U << 6)
#define MBI_F_LOADER_NAME	(1U << 9)
#define MB_MOD_SIZE		16	/* mod_start, mod_end, string, reserved */
#define MB_MMAP_ENTRY_SIZE	24	/* size (20: what follows it), base,
					 * length, type */
#define MB_MMAP_RAM		1
#define MB_MMAP_RESERVED	2
#define MB_MMAP_ENTRIES		4
#define LOADER_NAME		"axvm"

/* ELF32 (System V ABI, Intel386 supplement): what a loader reads. */
#define EI_CLASS		4
#define EI_DATA			5
#define ELFCLASS32		1
#define ELFCLASS64		2
#define ELFDATA2LSB		1
#define ET_EXEC			2
#define EM_386			3
#define PT_LOAD			1
#define EH_TYPE			16
#define EH_MACHINE		18
#define EH_ENTRY		24
#define EH_PHOFF		28
#define EH_PHENTSIZE		42
#define EH_PHNUM		44
#define EH_SIZE			52
#define PH_TYPE			0
#define PH_OFFSET		4
#define PH_VADDR		8
#define PH_PADDR		12
#define PH_FILESZ		16
#define PH_MEMSZ		20
#define PH_SIZE			32

#define SIZE_1M			(1ULL << 20)
#define SIZE_4G			(1ULL << 32)
#define PAGE_MASK		(AXVM_PAGE_SIZE - 1)

/* GDT descriptors: flat 4 GiB 32-bit code (0xcf9b) and data (0xcf93). */
#define GDT_CODE32		0x00cf9b000000ffffULL
#define GDT_DATA32		0x00cf93000000ffffULL
/* The same as hidden segment state (struct axvm_segment.attrib). */
#define ATTR_CODE32		(AXVM_SEG_P | AXVM_SEG_S | AXVM_SEG_TYPE(0xb) | \
				 AXVM_SEG_DB | AXVM_SEG_G)
#define ATTR_DATA32		(AXVM_SEG_P | AXVM_SEG_S | AXVM_SEG_TYPE(0x3) | \
				 AXVM_SEG_DB | AXVM_SEG_G)
#define ATTR_TSS_BUSY		(AXVM_SEG_P | AXVM_SEG_TYPE(0xb))
#define ATTR_LDT		(AXVM_SEG_P | AXVM_SEG_TYPE(0x2))
#define X86_CR0_PE		(1ULL << 0)
#define X86_CR0_ET		(1ULL << 4)

static uint16_t get16(const uint8_t *p, uint64_t off)
{
	uint16_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static uint32_t get32(const uint8_t *p, uint64_t off)
{
	uint32_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static void put32(uint8_t *p, uint64_t off, uint32_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static void put64(uint8_t *p, uint64_t off, uint64_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static int fail(struct axvm_multiboot *m, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records why the step failed and returns err. */
static int fail(struct axvm_multiboot *m, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->error, sizeof(m->error), fmt, ap);
	va_end(ap);
	return err;
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static bool overlaps(uint64_t a, uint64_t a_len, uint64_t b, uint64_t b_len)
{
	return a < b + b_len && b < a + a_len;
}

/* ------------------------------------------------------------------ */
/* The image                                                           */
/* ------------------------------------------------------------------ */

/*
 * MB 3.1.1: the header lies, 32-bit aligned, within the first 8192
 * bytes; magic + flags + checksum is 0 mod 2^32. The first offset with
 * both is the header; a magic with a bad checksum is remembered so that
 * the refusal can say so.
 */
static int find_header(struct axvm_multiboot *m)
{
	uint64_t end = m->image_size < AXVM_MULTIBOOT_SEARCH ?
		       m->image_size : AXVM_MULTIBOOT_SEARCH;
	uint64_t off, bad_sum_at = UINT64_MAX;

	for (off = 0; off + MBH_SIZE_BASE <= end; off += 4) {
		uint32_t magic = get32(m->image, off);

		if (magic != AXVM_MULTIBOOT_HEADER_MAGIC)
			continue;
		if ((uint32_t)(magic + get32(m->image, off + MBH_FLAGS) +
			       get32(m->image, off + MBH_CHECKSUM)) == 0) {
			m->hdr.offset = (uint32_t)off;
			m->hdr.flags = get32(m->image, off + MBH_FLAGS);
			return 0;
		}
		if (bad_sum_at == UINT64_MAX)
			bad_sum_at = off;
	}
	if (bad_sum_at != UINT64_MAX)
		return fail(m, -ENOEXEC,
			    "Multiboot magic 0x1badb002 at offset 0x%llx, but magic + flags + checksum is not 0: no valid Multiboot header",
			    (unsigned long long)bad_sum_at);
	return fail(m, -ENOEXEC,
		    "no Multiboot header (magic 0x1badb002, 4-byte aligned) in the first %llu bytes: not a Multiboot image",
		    (unsigned long long)end);
}

/* MB 3.1.2: a loader that cannot honour a requirement bit must fail. */
static int check_flags(struct axvm_multiboot *m)
{
	uint32_t flags = m->hdr.flags, unknown;
	uint64_t need = MBH_SIZE_BASE;

	if (flags & MBF_VIDEO_MODE)
		return fail(m, -ENOEXEC,
			    "the header's flags (0x%x) ask for video mode information (bit 2); axvm has no display",
			    flags);
	unknown = flags & MBF_REQUIRED & ~MBF_KNOWN;
	if (unknown)
		return fail(m, -ENOEXEC,
			    "the header's flags (0x%x) require features 0x%x that Multiboot 0.6.96 does not define",
			    flags, unknown);
	if (flags & MBF_AOUT_KLUDGE)
		need = MBH_SIZE_AOUT;
	if (m->hdr.offset + need > m->image_size ||
	    m->hdr.offset + need > AXVM_MULTIBOOT_SEARCH)
		return fail(m, -ENOEXEC,
			    "the Multiboot header at offset 0x%x is cut short: it needs %llu bytes within the file's first 8 KiB",
			    m->hdr.offset, (unsigned long long)need);
	return 0;
}

static void add_segment(struct axvm_multiboot *m, uint64_t offset,
			uint64_t file_size, uint64_t addr, uint64_t mem_size)
{
	struct axvm_multiboot_header *h = &m->hdr;
	struct axvm_multiboot_segment *s = &h->segments[h->nr_segments++];

	s->offset = offset;
	s->file_size = file_size;
	s->addr = addr;
	s->mem_size = mem_size;
	if (h->nr_segments == 1 || addr < h->image_start)
		h->image_start = addr;
	if (addr + mem_size > h->image_end)
		h->image_end = addr + mem_size;
}

/*
 * MB 3.1.3, the address fields (flags bit 16): the file's bytes from
 * header_offset - (header_addr - load_addr) on go to load_addr, up to
 * load_end_addr (0: the end of the file), then zeros to bss_end_addr
 * (0: none); entry_addr is where the OS starts.
 */
static int parse_aout_kludge(struct axvm_multiboot *m)
{
	struct axvm_multiboot_header *h = &m->hdr;
	const uint8_t *p = m->image + h->offset;
	uint64_t before, offset, file_size, mem_end;

	h->aout_kludge = 1;
	h->header_addr = get32(p, MBH_HEADER_ADDR);
	h->load_addr = get32(p, MBH_LOAD_ADDR);
	h->load_end_addr = get32(p, MBH_LOAD_END_ADDR);
	h->bss_end_addr = get32(p, MBH_BSS_END_ADDR);
	h->entry_addr = get32(p, MBH_ENTRY_ADDR);
	if (h->header_addr < h->load_addr)
		return fail(m, -ENOEXEC,
			    "header_addr 0x%x is below load_addr 0x%x",
			    h->header_addr, h->load_addr);
	before = h->header_addr - h->load_addr;
	if (before > h->offset)
		return fail(m, -ENOEXEC,
			    "load_addr 0x%x is 0x%llx bytes before header_addr 0x%x, but the header is at file offset 0x%x",
			    h->load_addr, (unsigned long long)before,
			    h->header_addr, h->offset);
	offset = h->offset - before;
	if (!h->load_end_addr) {
		file_size = m->image_size - offset;
	} else {
		if (h->load_end_addr <= h->header_addr)
			return fail(m, -ENOEXEC,
				    "load_end_addr 0x%x is not above header_addr 0x%x",
				    h->load_end_addr, h->header_addr);
		file_size = h->load_end_addr - h->load_addr;
		if (offset + file_size > m->image_size)
			return fail(m, -ENOEXEC,
				    "truncated: load_addr 0x%x to load_end_addr 0x%x needs file bytes up to 0x%llx, but the file has %llu",
				    h->load_addr, h->load_end_addr,
				    (unsigned long long)(offset + file_size),
				    (unsigned long long)m->image_size);
	}
	mem_end = h->load_addr + file_size;
	if (h->bss_end_addr) {
		if (h->bss_end_addr < mem_end)
			return fail(m, -ENOEXEC,
				    "bss_end_addr 0x%x is below the end of the loaded part, 0x%llx",
				    h->bss_end_addr, (unsigned long long)mem_end);
		mem_end = h->bss_end_addr;
	}
	if (mem_end > SIZE_4G)
		return fail(m, -ENOEXEC,
			    "the image would end at 0x%llx, above 4 GiB",
			    (unsigned long long)mem_end);
	add_segment(m, offset, file_size, h->load_addr, mem_end - h->load_addr);
	h->entry = h->entry_addr;
	return 0;
}

static int check_elf_ident(struct axvm_multiboot *m)
{
	const uint8_t *e = m->image;

	if (m->image_size < EH_SIZE || memcmp(e, "\177ELF", 4))
		return fail(m, -ENOEXEC,
			    "neither an ELF file nor a Multiboot header with load addresses (flags bit 16)");
	if (e[EI_CLASS] == ELFCLASS64)
		return fail(m, -ENOEXEC,
			    "a 64-bit ELF file: Multiboot loads ELF32 images (kvm-unit-tests' x86/*.flat are ELF32)");
	if (e[EI_CLASS] != ELFCLASS32 || e[EI_DATA] != ELFDATA2LSB)
		return fail(m, -ENOEXEC,
			    "ELF class %u, data encoding %u: not a little-endian ELF32 file",
			    e[EI_CLASS], e[EI_DATA]);
	if (get16(e, EH_TYPE) != ET_EXEC || get16(e, EH_MACHINE) != EM_386)
		return fail(m, -ENOEXEC,
			    "ELF type %u, machine %u: not an i386 executable (ET_EXEC 2, EM_386 3)",
			    get16(e, EH_TYPE), get16(e, EH_MACHINE));
	return 0;
}

/* One PT_LOAD program header; -ENOEXEC if it is bad. */
static int parse_phdr(struct axvm_multiboot *m, unsigned int i,
		      const uint8_t *ph, uint64_t vaddr_entry,
		      uint64_t *entry)
{
	uint64_t offset = get32(ph, PH_OFFSET), vaddr = get32(ph, PH_VADDR);
	uint64_t paddr = get32(ph, PH_PADDR), filesz = get32(ph, PH_FILESZ);
	uint64_t memsz = get32(ph, PH_MEMSZ);

	if (get32(ph, PH_TYPE) != PT_LOAD || !memsz)
		return 0;
	if (filesz > memsz)
		return fail(m, -ENOEXEC,
			    "program header %u: p_filesz 0x%llx above p_memsz 0x%llx",
			    i, (unsigned long long)filesz,
			    (unsigned long long)memsz);
	if (offset + filesz > m->image_size)
		return fail(m, -ENOEXEC,
			    "truncated: program header %u needs file bytes up to 0x%llx, but the file has %llu",
			    i, (unsigned long long)(offset + filesz),
			    (unsigned long long)m->image_size);
	if (paddr + memsz > SIZE_4G)
		return fail(m, -ENOEXEC,
			    "program header %u: [0x%llx, 0x%llx) reaches above 4 GiB",
			    i, (unsigned long long)paddr,
			    (unsigned long long)(paddr + memsz));
	if (m->hdr.nr_segments == AXVM_MULTIBOOT_MAX_SEGMENTS)
		return fail(m, -ENOEXEC, "more than %d loadable segments",
			    AXVM_MULTIBOOT_MAX_SEGMENTS);
	/* An entry given as a virtual address: the physical one. */
	if (vaddr_entry >= vaddr && vaddr_entry < vaddr + memsz)
		*entry = paddr + (vaddr_entry - vaddr);
	add_segment(m, offset, filesz, paddr, memsz);
	return 0;
}

/*
 * MB 3.1.3: without flags bit 16 the image must be ELF; its PT_LOAD
 * segments go to their physical addresses (p_paddr), as GRUB and QEMU
 * load them, and e_entry, if it falls in a segment's virtual range, is
 * translated to that segment's physical address.
 */
static int parse_elf(struct axvm_multiboot *m)
{
	const uint8_t *e = m->image;
	uint64_t phoff, phnum, entry, i;
	int ret;

	ret = check_elf_ident(m);
	if (ret)
		return ret;
	phoff = get32(e, EH_PHOFF);
	phnum = get16(e, EH_PHNUM);
	if (get16(e, EH_PHENTSIZE) != PH_SIZE || !phnum ||
	    phoff + phnum * PH_SIZE > m->image_size)
		return fail(m, -ENOEXEC,
			    "bad program header table: %llu entries of %u bytes at offset 0x%llx in a file of %llu bytes",
			    (unsigned long long)phnum, get16(e, EH_PHENTSIZE),
			    (unsigned long long)phoff,
			    (unsigned long long)m->image_size);
	entry = get32(e, EH_ENTRY);
	m->hdr.entry = entry;
	for (i = 0; i < phnum; i++) {
		ret = parse_phdr(m, (unsigned int)i, e + phoff + i * PH_SIZE,
				 entry, &m->hdr.entry);
		if (ret)
			return ret;
	}
	if (!m->hdr.nr_segments)
		return fail(m, -ENOEXEC, "no loadable (PT_LOAD) segment");
	return 0;
}

/* The entry must be in the image: a wrong one would run zeros. */
static int check_entry(struct axvm_multiboot *m)
{
	const struct axvm_multiboot_header *h = &m->hdr;
	unsigned int i;

	for (i = 0; i < h->nr_segments; i++) {
		const struct axvm_multiboot_segment *s = &h->segments[i];

		if (h->entry >= s->addr && h->entry < s->addr + s->mem_size)
			return 0;
	}
	return fail(m, -ENOEXEC,
		    "the entry point 0x%llx is outside the loaded image",
		    (unsigned long long)h->entry);
}

int axvm_multiboot_parse(struct axvm_multiboot *m)
{
	int ret;

	memset(&m->hdr, 0, sizeof(m->hdr));
	m->error[0] = 0;
	if (!m->image || !m->image_size)
		return fail(m, -ENOEXEC, "an empty image");
	ret = find_header(m);
	if (!ret)
		ret = check_flags(m);
	if (ret)
		return ret;
	/* MB 3.1.3: with bit 16 the header's addresses win over ELF's. */
	if (m->hdr.flags & MBF_AOUT_KLUDGE)
		ret = parse_aout_kludge(m);
	else
		ret = parse_elf(m);
	return ret ? ret : check_entry(m);
}

/* ------------------------------------------------------------------ */
/* The layout in guest RAM                                             */
/* ------------------------------------------------------------------ */

/* [addr, addr + len) is RAM in the memory map (MB 3.3, mmap). */
static bool in_ram(const struct axvm_multiboot *m, uint64_t addr,
		   uint64_t len)
{
	return addr + len <= AXVM_LINUX_LOW_RAM_END ||
	       (addr >= SIZE_1M && addr + len <= m->ram_size);
}

static bool hits_image(const struct axvm_multiboot *m, uint64_t addr,
		       uint64_t len)
{
	const struct axvm_multiboot_header *h = &m->hdr;
	unsigned int i;

	for (i = 0; i < h->nr_segments; i++)
		if (overlaps(addr, len, h->segments[i].addr,
			     h->segments[i].mem_size))
			return true;
	return false;
}

static int check_ram(struct axvm_multiboot *m)
{
	if (m->ram_size % AXVM_PAGE_SIZE || m->ram_size < AXVM_MULTIBOOT_MIN_RAM ||
	    m->ram_size > AXVM_MULTIBOOT_MAX_RAM)
		return fail(m, -EINVAL,
			    "RAM of 0x%llx bytes: must be a multiple of 4 KiB, 2 MiB to 3 GiB (the last GiB below 4 GiB holds the APICs)",
			    (unsigned long long)m->ram_size);
	if (!m->nr_cpus || m->nr_cpus > AXVM_MPTABLE_MAX_CPUS)
		return fail(m, -EINVAL, "%u CPUs: the MP table holds 1 to %u",
			    m->nr_cpus, AXVM_MPTABLE_MAX_CPUS);
	if (m->nr_modules > AXVM_MULTIBOOT_MAX_MODULES)
		return fail(m, -EINVAL, "%u modules: at most %d",
			    m->nr_modules, AXVM_MULTIBOOT_MAX_MODULES);
	return 0;
}

/* Every segment in RAM: the memory map's holes are not ours to fill. */
static int check_segments(struct axvm_multiboot *m)
{
	const struct axvm_multiboot_header *h = &m->hdr;
	unsigned int i;

	for (i = 0; i < h->nr_segments; i++) {
		const struct axvm_multiboot_segment *s = &h->segments[i];

		if (in_ram(m, s->addr, s->mem_size))
			continue;
		return fail(m, -ENOSPC,
			    "the image needs [0x%llx, 0x%llx), but RAM is [0, 0x%llx) and [0x100000, 0x%llx) (--mem)",
			    (unsigned long long)s->addr,
			    (unsigned long long)(s->addr + s->mem_size),
			    AXVM_LINUX_LOW_RAM_END,
			    (unsigned long long)m->ram_size);
	}
	return 0;
}

static uint64_t cmdline_len(const struct axvm_multiboot *m)
{
	uint64_t len = m->image_name ? strlen(m->image_name) : 0;

	if (m->append && *m->append)
		len += (len ? 1 : 0) + strlen(m->append);
	return len;
}

static const char *module_string(const struct axvm_multiboot *m,
				 unsigned int i)
{
	return m->modules[i].string ? m->modules[i].string : "";
}

/* The boot information area's parts, at offsets from its start. */
static uint64_t plan_info_parts(struct axvm_multiboot *m, uint64_t base)
{
	struct axvm_multiboot_layout *lay = &m->layout;
	uint64_t at = base;
	unsigned int i;

	lay->gdt = at;
	at += align_up(AXVM_MULTIBOOT_GDT_SIZE, 8);
	lay->mbi = at;
	at += MBI_SIZE;
	lay->mmap = at;
	lay->mmap_length = MB_MMAP_ENTRIES * MB_MMAP_ENTRY_SIZE;
	at += lay->mmap_length;
	lay->mods = at;
	at += (uint64_t)m->nr_modules * MB_MOD_SIZE;
	lay->loader_name = at;
	at += sizeof(LOADER_NAME);
	lay->cmdline = at;
	at += lay->cmdline_len + 1;
	for (i = 0; i < m->nr_modules; i++) {
		lay->module_string[i] = at;
		at += strlen(module_string(m, i)) + 1;
	}
	return align_up(at, 8) - base;
}

/*
 * The lowest page-aligned spot at or above AXVM_MULTIBOOT_INFO_LOW that
 * is RAM and clear of the image: 0x1000 for an image above 1 MiB, else
 * the end of one of its segments, else 1 MiB.
 */
static int place_info(struct axvm_multiboot *m)
{
	const struct axvm_multiboot_header *h = &m->hdr;
	struct axvm_multiboot_layout *lay = &m->layout;
	uint64_t size = plan_info_parts(m, 0), best = UINT64_MAX;
	uint64_t cand[AXVM_MULTIBOOT_MAX_SEGMENTS + 2];
	unsigned int i, n = 0;

	cand[n++] = AXVM_MULTIBOOT_INFO_LOW;
	cand[n++] = SIZE_1M;
	for (i = 0; i < h->nr_segments; i++)
		cand[n++] = align_up(h->segments[i].addr +
				     h->segments[i].mem_size, AXVM_PAGE_SIZE);
	for (i = 0; i < n; i++) {
		if (cand[i] < AXVM_MULTIBOOT_INFO_LOW || cand[i] >= best ||
		    !in_ram(m, cand[i], size) || hits_image(m, cand[i], size))
			continue;
		best = cand[i];
	}
	if (best == UINT64_MAX)
		return fail(m, -ENOSPC,
			    "no room for the boot information (%llu bytes) in RAM next to the image",
			    (unsigned long long)size);
	lay->info = best;
	lay->info_end = best + plan_info_parts(m, best);
	return 0;
}

/* Page-aligned (flags bit 0 or not) after everything else. */
static int place_modules(struct axvm_multiboot *m)
{
	struct axvm_multiboot_layout *lay = &m->layout;
	uint64_t at = m->hdr.image_end;
	unsigned int i;

	if (lay->info_end > at)
		at = lay->info_end;
	at = align_up(at < SIZE_1M ? SIZE_1M : at, AXVM_PAGE_SIZE);
	for (i = 0; i < m->nr_modules; i++) {
		uint64_t size = m->modules[i].size;

		if (at + size > m->ram_size)
			return fail(m, -ENOSPC,
				    "module %u (%llu bytes) does not fit in RAM after the image: it would end at 0x%llx, RAM at 0x%llx",
				    i, (unsigned long long)size,
				    (unsigned long long)(at + size),
				    (unsigned long long)m->ram_size);
		lay->module[i] = at;
		at = align_up(at + size, AXVM_PAGE_SIZE);
		lay->modules_end = at;
	}
	return 0;
}

int axvm_multiboot_plan(struct axvm_multiboot *m)
{
	struct axvm_multiboot_layout *lay = &m->layout;
	int ret;

	memset(lay, 0, sizeof(*lay));
	m->error[0] = 0;
	if (!m->hdr.nr_segments)
		return fail(m, -EINVAL, "no parsed image (axvm_multiboot_parse)");
	ret = check_ram(m);
	if (!ret)
		ret = check_segments(m);
	if (ret)
		return ret;
	lay->cmdline_len = cmdline_len(m);
	if (lay->cmdline_len >= AXVM_MULTIBOOT_CMDLINE_MAX)
		return fail(m, -E2BIG,
			    "command line of %llu bytes; at most %d fit",
			    (unsigned long long)lay->cmdline_len,
			    AXVM_MULTIBOOT_CMDLINE_MAX - 1);
	ret = place_info(m);
	if (!ret)
		ret = place_modules(m);
	if (ret)
		return ret;
	lay->mptable = AXVM_LINUX_MPTABLE;
	lay->mptable_size = axvm_mptable_size(m->nr_cpus);
	/* MB 3.3: mem_upper ends at the first hole above 1 MiB. */
	lay->mem_lower = AXVM_LINUX_LOW_RAM_END / 1024;
	lay->mem_upper = (uint32_t)((m->ram_size - SIZE_1M) / 1024);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Writing it                                                          */
/* ------------------------------------------------------------------ */

static void mmap_entry(uint8_t *p, uint64_t base, uint64_t len, uint32_t type)
{
	put32(p, 0, MB_MMAP_ENTRY_SIZE - 4);	/* size excludes itself */
	put64(p, 4, base);
	put64(p, 12, len);
	put32(p, 20, type);
}

/* The same map as Linux mode's e820 (lib/linux.c, build_e820()). */
static void write_mmap(const struct axvm_multiboot *m, uint8_t *p)
{
	mmap_entry(p, 0, AXVM_LINUX_LOW_RAM_END, MB_MMAP_RAM);
	mmap_entry(p + MB_MMAP_ENTRY_SIZE, AXVM_LINUX_LOW_RAM_END,
		   AXVM_LINUX_EBDA_END - AXVM_LINUX_LOW_RAM_END,
		   MB_MMAP_RESERVED);
	mmap_entry(p + 2 * MB_MMAP_ENTRY_SIZE, AXVM_LINUX_BIOS_AREA,
		   SIZE_1M - AXVM_LINUX_BIOS_AREA, MB_MMAP_RESERVED);
	mmap_entry(p + 3 * MB_MMAP_ENTRY_SIZE, SIZE_1M,
		   m->ram_size - SIZE_1M, MB_MMAP_RAM);
}

static void write_cmdline(const struct axvm_multiboot *m, char *p)
{
	size_t n = 0;

	if (m->image_name) {
		n = strlen(m->image_name);
		memcpy(p, m->image_name, n);
	}
	if (m->append && *m->append) {
		if (n)
			p[n++] = ' ';
		memcpy(p + n, m->append, strlen(m->append));
		n += strlen(m->append);
	}
	p[n] = 0;
}

/* MB 3.3: the MBI and what it points at. */
static void write_info(const struct axvm_multiboot *m, uint8_t *ram)
{
	const struct axvm_multiboot_layout *lay = &m->layout;
	uint8_t *mbi = ram + lay->mbi;
	uint64_t gdt[3] = { 0, GDT_CODE32, GDT_DATA32 };
	unsigned int i;

	memset(ram + lay->info, 0, lay->info_end - lay->info);
	memcpy(ram + lay->gdt, gdt, sizeof(gdt));
	put32(mbi, MBI_FLAGS, MBI_F_MEM | MBI_F_CMDLINE | MBI_F_MODS |
			      MBI_F_MMAP | MBI_F_LOADER_NAME);
	put32(mbi, MBI_MEM_LOWER, lay->mem_lower);
	put32(mbi, MBI_MEM_UPPER, lay->mem_upper);
	put32(mbi, MBI_CMDLINE, (uint32_t)lay->cmdline);
	put32(mbi, MBI_MODS_COUNT, m->nr_modules);
	put32(mbi, MBI_MODS_ADDR, m->nr_modules ? (uint32_t)lay->mods : 0);
	put32(mbi, MBI_MMAP_LENGTH, lay->mmap_length);
	put32(mbi, MBI_MMAP_ADDR, (uint32_t)lay->mmap);
	put32(mbi, MBI_BOOT_LOADER_NAME, (uint32_t)lay->loader_name);
	write_mmap(m, ram + lay->mmap);
	memcpy(ram + lay->loader_name, LOADER_NAME, sizeof(LOADER_NAME));
	write_cmdline(m, (char *)ram + lay->cmdline);
	for (i = 0; i < m->nr_modules; i++) {
		uint8_t *mod = ram + lay->mods + (uint64_t)i * MB_MOD_SIZE;
		const char *s = module_string(m, i);

		/* mod_end is the first byte past the module (MB 3.3). */
		put32(mod, 0, (uint32_t)lay->module[i]);
		put32(mod, 4, (uint32_t)(lay->module[i] + m->modules[i].size));
		put32(mod, 8, (uint32_t)lay->module_string[i]);
		memcpy(ram + lay->module_string[i], s, strlen(s) + 1);
	}
}

int axvm_multiboot_load(struct axvm_multiboot *m, void *ram)
{
	const struct axvm_multiboot_header *h = &m->hdr;
	const struct axvm_multiboot_layout *lay = &m->layout;
	uint8_t *mem = ram;
	unsigned int i;
	int ret;

	ret = axvm_multiboot_parse(m);
	if (!ret)
		ret = axvm_multiboot_plan(m);
	if (ret)
		return ret;
	for (i = 0; i < h->nr_segments; i++) {
		const struct axvm_multiboot_segment *s = &h->segments[i];

		memcpy(mem + s->addr, m->image + s->offset, s->file_size);
		memset(mem + s->addr + s->file_size, 0,
		       s->mem_size - s->file_size);
	}
	for (i = 0; i < m->nr_modules; i++)
		if (m->modules[i].size)
			memcpy(mem + lay->module[i], m->modules[i].data,
			       m->modules[i].size);
	write_info(m, mem);
	ret = axvm_mptable_build(mem + lay->mptable,
				 AXVM_LINUX_MPTABLE_END - lay->mptable,
				 lay->mptable, m->nr_cpus, m->cpu_signature,
				 m->cpu_features);
	return ret < 0 ? fail(m, ret, "building the MP table failed") : 0;
}

/* ------------------------------------------------------------------ */
/* The entry state                                                     */
/* ------------------------------------------------------------------ */

static struct axvm_segment flat(uint16_t selector, uint16_t attrib)
{
	struct axvm_segment s = {
		.base = 0, .limit = 0xffffffffU,
		.selector = selector, .attrib = attrib,
	};

	return s;
}

/* MB 3.2: the machine state when the boot loader invokes the OS. */
int axvm_multiboot_setup_bsp(struct axvm_vcpu *vcpu,
			     const struct axvm_multiboot *m)
{
	struct axvm_sregs sregs;
	struct axvm_regs regs;
	int ret;

	memset(&sregs, 0, sizeof(sregs));
	memset(&regs, 0, sizeof(regs));
	sregs.cs = flat(AXVM_MULTIBOOT_SEL_CODE, ATTR_CODE32);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss =
		flat(AXVM_MULTIBOOT_SEL_DATA, ATTR_DATA32);
	/* TR and LDTR: valid but empty, as the hardware wants them. */
	sregs.tr.limit = 0x67;
	sregs.tr.attrib = ATTR_TSS_BUSY;
	sregs.ldtr.limit = 0xffff;
	sregs.ldtr.attrib = ATTR_LDT;
	/*
	 * MB 3.2 says the GDTR may be invalid; a valid one costs nothing.
	 * The IDTR is left empty: the OS sets its own before it enables
	 * interrupts, and an exception before that is a triple fault.
	 */
	sregs.gdt.base = m->layout.gdt;
	sregs.gdt.limit = AXVM_MULTIBOOT_GDT_SIZE - 1;
	sregs.cr0 = X86_CR0_PE | X86_CR0_ET;	/* PG clear */
	regs.rax = AXVM_MULTIBOOT_BOOT_MAGIC;
	regs.rbx = m->layout.mbi;
	regs.rip = m->hdr.entry;
	regs.rflags = 2;			/* IF and VM clear */
	ret = axvm_vcpu_set_sregs(vcpu, &sregs);
	if (ret)
		return ret;
	return axvm_vcpu_set_regs(vcpu, &regs);
}

/* ------------------------------------------------------------------ */
/* fw_cfg                                                              */
/* ------------------------------------------------------------------ */

void axvm_fwcfg_init(struct axvm_fwcfg *f, uint64_t ram_size,
		     unsigned int nr_cpus)
{
	memset(f, 0, sizeof(*f));
	f->ram_size = ram_size;
	f->nr_cpus = (uint16_t)nr_cpus;
}

/* Byte `off` of the selected item; 0 past its end or for other items. */
static uint8_t fwcfg_byte(const struct axvm_fwcfg *f, uint32_t off)
{
	uint8_t item[8] = { 0 };
	uint32_t len = 0;

	switch (f->selector) {
	case AXVM_FWCFG_SIGNATURE:
		memcpy(item, "QEMU", 4);
		len = 4;
		break;
	case AXVM_FWCFG_ID:
		item[0] = 1;		/* the traditional interface, no DMA */
		len = 4;
		break;
	case AXVM_FWCFG_RAM_SIZE:
		put64(item, 0, f->ram_size);
		len = 8;
		break;
	case AXVM_FWCFG_NB_CPUS:
	case AXVM_FWCFG_MAX_CPUS:
		item[0] = (uint8_t)f->nr_cpus;
		item[1] = (uint8_t)(f->nr_cpus >> 8);
		len = 2;
		break;
	}
	return off < len ? item[off] : 0;
}

/*
 * fw_cfg.rst, "Selector (Control) Register" and "Data Register": the
 * selector is 16 bits wide, the data port 8 bits; selecting an item
 * rewinds it, each data read advances by one byte, data writes do
 * nothing (QEMU 2.4 and later).
 */
int axvm_fwcfg_io(struct axvm_fwcfg *f, uint16_t port, unsigned int width,
		  int is_write, uint32_t *data)
{
	if (port != AXVM_FWCFG_PORT_SEL && port != AXVM_FWCFG_PORT_DATA)
		return 0;
	if (port == AXVM_FWCFG_PORT_SEL && width == 2 && is_write) {
		f->selector = (uint16_t)*data;
		f->offset = 0;
	} else if (port == AXVM_FWCFG_PORT_DATA && width == 1) {
		if (!is_write)
			*data = fwcfg_byte(f, f->offset++);
	} else if (!is_write) {
		*data = width >= 4 ? 0xffffffffU : (1U << (8 * width)) - 1;
	}
	return 1;
}
