// SPDX-License-Identifier: GPL-2.0
/*
 * multiboot_loader_test: host unit test of libaxvm's Multiboot loader
 * and fw_cfg device (lib/multiboot.c), on a plain buffer that stands for
 * guest RAM; no /dev/axvm needed. Run by `make -C userspace test` (and so
 * by `make check`, before the test VM boots).
 *
 * The expected values come from the specifications, not from the
 * library: the Multiboot header and information structure offsets are
 * spelled out again from the Multiboot Specification 0.6.96 (sections
 * 3.1 and 3.3), the ELF32 layout from the System V ABI, the fw_cfg items
 * from QEMU's docs/specs/fw_cfg.rst.
 *
 * With KUT_FLAT=path/to/x86/something.flat (kvm-unit-tests) one more
 * case parses and plans a real image; without it that case is skipped.
 *
 * Output: one "ok N - what" / "not ok N - what" line per case, the
 * failed checks as "#" lines, then "N passed, N failed, N skipped".
 * Exit status 1 if anything failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libaxvm.h"
#include "unit.h"


static void put16(uint8_t *p, uint64_t off, uint16_t v) { memcpy(p + off, &v, 2); }
static void put32(uint8_t *p, uint64_t off, uint32_t v) { memcpy(p + off, &v, 4); }
static uint32_t get32(const uint8_t *p, uint64_t off) { uint32_t v; memcpy(&v, p + off, 4); return v; }
static uint64_t get64(const uint8_t *p, uint64_t off) { uint64_t v; memcpy(&v, p + off, 8); return v; }

#define MIB		(1ULL << 20)
#define RAM_SIZE	(64 * MIB)
#define MB_MAGIC	0x1badb002U

/* Multiboot 0.6.96, 3.3: the information structure's offsets. */
#define MBI_FLAGS	0
#define MBI_MEM_LOWER	4
#define MBI_MEM_UPPER	8
#define MBI_CMDLINE	16
#define MBI_MODS_COUNT	20
#define MBI_MODS_ADDR	24
#define MBI_MMAP_LENGTH	44
#define MBI_MMAP_ADDR	48
#define MBI_LOADER_NAME	64

static uint8_t *ram;

/* ------------------------------------------------------------------ */
/* Synthetic images                                                    */
/* ------------------------------------------------------------------ */

#define IMG_MAX		0x6000
static uint8_t img[IMG_MAX];
static size_t img_size;

static void mb_header(uint64_t off, uint32_t flags)
{
	put32(img, off, MB_MAGIC);
	put32(img, off + 4, flags);
	put32(img, off + 8, (uint32_t)-(MB_MAGIC + flags));
}

struct phdr {
	uint32_t type, offset, vaddr, paddr, filesz, memsz;
};

/*
 * An ELF32 i386 executable: header, program headers at 52, the
 * Multiboot header at 0x80 (flags given), the segments' bytes from
 * their offsets (filled with a pattern derived from the offset).
 */
static void make_elf(uint32_t mb_flags, uint32_t entry,
		     const struct phdr *ph, unsigned int n, size_t size)
{
	unsigned int i;

	memset(img, 0, sizeof(img));
	img_size = size;
	memcpy(img, "\177ELF", 4);
	img[4] = 1;			/* ELFCLASS32 */
	img[5] = 1;			/* ELFDATA2LSB */
	img[6] = 1;			/* EV_CURRENT */
	put16(img, 16, 2);		/* ET_EXEC */
	put16(img, 18, 3);		/* EM_386 */
	put32(img, 20, 1);
	put32(img, 24, entry);
	put32(img, 28, 52);		/* e_phoff */
	put16(img, 40, 52);		/* e_ehsize */
	put16(img, 42, 32);		/* e_phentsize */
	put16(img, 44, (uint16_t)n);
	for (i = 0; i < n; i++) {
		uint8_t *p = img + 52 + i * 32;
		uint32_t j;

		put32(p, 0, ph[i].type);
		put32(p, 4, ph[i].offset);
		put32(p, 8, ph[i].vaddr);
		put32(p, 12, ph[i].paddr);
		put32(p, 16, ph[i].filesz);
		put32(p, 20, ph[i].memsz);
		for (j = 0; j < ph[i].filesz && ph[i].offset + j < size; j++)
			if (ph[i].offset + j >= 0x100)	/* keep the headers */
				img[ph[i].offset + j] = (uint8_t)((ph[i].offset + j) * 13 + 5);
	}
	mb_header(0x80, mb_flags);
}

/* Like kvm-unit-tests' .flat files: text at 4 MiB, data + bss after. */
static const struct phdr kut_like[] = {
	{ 1, 0x100, 0x400100, 0x400100, 0x1f00, 0x1f00 },
	{ 1, 0x2000, 0x402000, 0x402000, 0x1000, 0x5000 },	/* 16 KiB bss */
};
#define KUT_ENTRY	0x400180

static void make_kut_like(void)
{
	make_elf(0, KUT_ENTRY, kut_like, 2, 0x3000);
}

static void init_mb(struct axvm_multiboot *m)
{
	memset(m, 0, sizeof(*m));
	m->image = img;
	m->image_size = img_size;
	m->image_name = "/x86/test.flat";
	m->ram_size = RAM_SIZE;
	m->nr_cpus = 2;
	m->cpu_signature = 0x00a00f11;
	m->cpu_features = 0x178bfbff;
}

static const char env_module[] = "TEST_DEVICE=0\nNR_CPUS=2\n";

/* ------------------------------------------------------------------ */
/* Cases                                                               */
/* ------------------------------------------------------------------ */

static void t_elf_loaded(void)
{
	struct axvm_multiboot m;
	const struct axvm_multiboot_layout *lay = &m.layout;
	uint8_t *mbi, *mmap, *mod;
	uint32_t flags;
	unsigned int i;

	make_kut_like();
	init_mb(&m);
	m.append = "tsc -smp 2";
	m.modules[0].data = (const uint8_t *)env_module;
	m.modules[0].size = sizeof(env_module) - 1;
	m.modules[0].string = "/tmp/env";
	m.nr_modules = 1;
	memset(ram, 0xaa, RAM_SIZE);
	CHECK_EQ(axvm_multiboot_load(&m, ram), 0);
	if (case_failed) {
		printf("# %s\n", m.error);
		return;
	}
	/* The header and the segments. */
	CHECK_EQ(m.hdr.offset, 0x80);
	CHECK_EQ(m.hdr.aout_kludge, 0);
	CHECK_EQ(m.hdr.nr_segments, 2);
	CHECK_EQ(m.hdr.entry, KUT_ENTRY);
	CHECK_EQ(m.hdr.image_start, 0x400100);
	CHECK_EQ(m.hdr.image_end, 0x407000);
	CHECK(!memcmp(ram + 0x400100, img + 0x100, 0x1f00), "text copied");
	CHECK(!memcmp(ram + 0x402000, img + 0x2000, 0x1000), "data copied");
	for (i = 0x403000; i < 0x407000; i++)
		if (ram[i]) {
			CHECK(0, "bss byte at 0x%x is 0x%x", i, ram[i]);
			break;
		}
	/* Nothing past the bss but the module, right after it. */
	CHECK_EQ(ram[0x407000 + sizeof(env_module) - 1], 0xaa);
	CHECK_EQ(ram[0x4000ff], 0xaa);	/* nor before the text */

	/* The MBI: at 0x1000 + the GDT, the lowest free spot. */
	CHECK_EQ(lay->info, 0x1000);
	mbi = ram + lay->mbi;
	flags = get32(mbi, MBI_FLAGS);
	CHECK_EQ(flags, (1 << 0) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9));
	CHECK_EQ(get32(mbi, MBI_MEM_LOWER), 639);
	CHECK_EQ(get32(mbi, MBI_MEM_UPPER), (RAM_SIZE - MIB) / 1024);
	CHECK(!strcmp((char *)ram + get32(mbi, MBI_CMDLINE),
		      "/x86/test.flat tsc -smp 2"), "cmdline '%s'",
	      (char *)ram + get32(mbi, MBI_CMDLINE));
	CHECK(!strcmp((char *)ram + get32(mbi, MBI_LOADER_NAME), "axvm"),
	      "boot loader name");
	/* Modules: start page-aligned after the image, end exclusive. */
	CHECK_EQ(get32(mbi, MBI_MODS_COUNT), 1);
	mod = ram + get32(mbi, MBI_MODS_ADDR);
	CHECK_EQ(get32(mod, 0), 0x407000);
	CHECK_EQ(get32(mod, 4), 0x407000 + sizeof(env_module) - 1);
	CHECK(!strcmp((char *)ram + get32(mod, 8), "/tmp/env"), "module string");
	CHECK(!memcmp(ram + 0x407000, env_module, sizeof(env_module) - 1),
	      "module bytes");
	/* Memory map: 4 entries of size 20 (+ the size field itself). */
	CHECK_EQ(get32(mbi, MBI_MMAP_LENGTH), 4 * 24);
	mmap = ram + get32(mbi, MBI_MMAP_ADDR);
	for (i = 0; i < 4; i++)
		CHECK_EQ(get32(mmap, i * 24), 20);
	CHECK_EQ(get64(mmap, 4), 0);
	CHECK_EQ(get64(mmap, 12), 0x9fc00);
	CHECK_EQ(get32(mmap, 20), 1);
	CHECK_EQ(get64(mmap, 24 + 4), 0x9fc00);
	CHECK_EQ(get32(mmap, 24 + 20), 2);
	CHECK_EQ(get64(mmap, 48 + 4), 0xf0000);
	CHECK_EQ(get64(mmap, 48 + 12), 0x10000);
	CHECK_EQ(get32(mmap, 48 + 20), 2);
	CHECK_EQ(get64(mmap, 72 + 4), MIB);
	CHECK_EQ(get64(mmap, 72 + 12), RAM_SIZE - MIB);
	CHECK_EQ(get32(mmap, 72 + 20), 1);
	/* The GDT: null, flat 32-bit code at 0x08, flat data at 0x10. */
	CHECK_EQ(get64(ram + lay->gdt, 0), 0);
	CHECK_EQ(get64(ram + lay->gdt, 8), 0x00cf9b000000ffffULL);
	CHECK_EQ(get64(ram + lay->gdt, 16), 0x00cf93000000ffffULL);
	/* The whole info area is below the image, nothing overlaps. */
	CHECK(lay->info_end <= 0x9fc00, "info area ends at 0x%llx",
	      (unsigned long long)lay->info_end);
	/* The MP table's floating pointer, as in Linux mode. */
	CHECK(!memcmp(ram + 0xf0000, "_MP_", 4), "MP floating pointer");
}

static void t_no_module_no_append(void)
{
	struct axvm_multiboot m;
	uint8_t *mbi;

	make_kut_like();
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_load(&m, ram), 0);
	mbi = ram + m.layout.mbi;
	CHECK(!strcmp((char *)ram + get32(mbi, MBI_CMDLINE), "/x86/test.flat"),
	      "cmdline '%s'", (char *)ram + get32(mbi, MBI_CMDLINE));
	CHECK_EQ(get32(mbi, MBI_MODS_COUNT), 0);
	CHECK_EQ(m.layout.modules_end, 0);
	/* No name either: an empty command line, still valid. */
	init_mb(&m);
	m.image_name = NULL;
	CHECK_EQ(axvm_multiboot_load(&m, ram), 0);
	CHECK_EQ(ram[m.layout.cmdline], 0);
}

/* e_entry a virtual address: the physical one of its segment. */
static void t_virtual_entry(void)
{
	static const struct phdr high[] = {
		{ 1, 0x100, 0xc0100100, 0x100100, 0x1f00, 0x1f00 },
	};
	struct axvm_multiboot m;

	make_elf(3, 0xc0100200, high, 1, 0x2000);
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), 0);
	CHECK_EQ(m.hdr.entry, 0x100200);
	CHECK_EQ(m.hdr.segments[0].addr, 0x100100);
	CHECK_EQ(axvm_multiboot_plan(&m), 0);
}

/*
 * The a.out kludge (flags bit 16): a flat binary whose header says
 * where it goes. Header at file offset 0x40, header_addr 0x200040, so
 * the file loads at 0x200000; load_end 0 means the whole file.
 */
static void make_aout(uint32_t load_end, uint32_t bss_end, uint32_t entry)
{
	uint32_t flags = (1U << 16) | 3;
	size_t i;

	memset(img, 0, sizeof(img));
	img_size = 0x1000;
	for (i = 0; i < img_size; i++)
		img[i] = (uint8_t)(i * 7 + 3);
	mb_header(0x40, flags);
	put32(img, 0x4c, 0x200040);	/* header_addr */
	put32(img, 0x50, 0x200000);	/* load_addr */
	put32(img, 0x54, load_end);
	put32(img, 0x58, bss_end);
	put32(img, 0x5c, entry);
}

static void t_aout_kludge(void)
{
	struct axvm_multiboot m;
	unsigned int i;

	make_aout(0, 0x203000, 0x200100);
	init_mb(&m);
	memset(ram, 0xaa, RAM_SIZE);
	CHECK_EQ(axvm_multiboot_load(&m, ram), 0);
	CHECK_EQ(m.hdr.aout_kludge, 1);
	CHECK_EQ(m.hdr.nr_segments, 1);
	CHECK_EQ(m.hdr.entry, 0x200100);
	CHECK_EQ(m.hdr.segments[0].offset, 0);
	CHECK_EQ(m.hdr.segments[0].file_size, 0x1000);
	CHECK_EQ(m.hdr.segments[0].mem_size, 0x3000);
	CHECK(!memcmp(ram + 0x200000, img, 0x1000), "image copied");
	for (i = 0x201000; i < 0x203000; i++)
		if (ram[i]) {
			CHECK(0, "bss byte at 0x%x", i);
			break;
		}
	/* load_end_addr: only part of the file. */
	make_aout(0x200800, 0, 0x200100);
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), 0);
	CHECK_EQ(m.hdr.segments[0].file_size, 0x800);
	CHECK_EQ(m.hdr.segments[0].mem_size, 0x800);
	/* Bad address fields. */
	make_aout(0x202000, 0, 0x200100);	/* past the file's end */
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	CHECK(strstr(m.error, "truncated"), "%s", m.error);
	make_aout(0, 0x200800, 0x200100);	/* bss_end below load end */
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	make_aout(0, 0, 0x300000);		/* entry outside */
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	CHECK(strstr(m.error, "entry point"), "%s", m.error);
	make_aout(0, 0, 0x200100);
	put32(img, 0x50, 0x200000 - 0x100);	/* 0x140 before the header */
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	put32(img, 0x50, 0x200041);		/* above header_addr */
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
}

/* MB 3.1.3: with bit 16 the header's addresses win over ELF's. */
static void t_aout_kludge_over_elf(void)
{
	struct axvm_multiboot m;
	uint32_t flags = 1U << 16;

	make_kut_like();
	mb_header(0x80, flags);
	put32(img, 0x8c, 0x300080);	/* header_addr: file offset 0 at 3 MiB */
	put32(img, 0x90, 0x300000);
	put32(img, 0x94, 0);
	put32(img, 0x98, 0);
	put32(img, 0x9c, 0x300100);
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), 0);
	CHECK_EQ(m.hdr.nr_segments, 1);
	CHECK_EQ(m.hdr.segments[0].addr, 0x300000);
	CHECK_EQ(m.hdr.entry, 0x300100);
}

static void t_header_search(void)
{
	struct axvm_multiboot m;

	/* The last aligned spot in 8 KiB holds a 12-byte header. */
	memset(img, 0, sizeof(img));
	img_size = 0x4000;
	mb_header(8192 - 12, 0);
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);	/* found, but no ELF */
	CHECK(strstr(m.error, "neither an ELF"), "%s", m.error);
	CHECK_EQ(m.hdr.offset, 8192 - 12);
	/* Past 8 KiB: not found. */
	memset(img, 0, sizeof(img));
	mb_header(8192 - 8, 0);
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	CHECK(strstr(m.error, "no Multiboot header"), "%s", m.error);
	/* Not 4-byte aligned: not found. */
	memset(img, 0, sizeof(img));
	mb_header(0x102, 0);
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	CHECK(strstr(m.error, "no Multiboot header"), "%s", m.error);
	/* A bad checksum is named. */
	make_kut_like();
	put32(img, 0x88, 0);
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	CHECK(strstr(m.error, "checksum"), "%s", m.error);
	/* The a.out fields must be inside the 8 KiB too. */
	memset(img, 0, sizeof(img));
	mb_header(8192 - 16, 1U << 16);
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	CHECK(strstr(m.error, "cut short"), "%s", m.error);
}

static void t_flags(void)
{
	struct axvm_multiboot m;

	make_elf(3, KUT_ENTRY, kut_like, 2, 0x3000);	/* page align, mem info */
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), 0);
	make_elf(4, KUT_ENTRY, kut_like, 2, 0x3000);	/* video */
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	CHECK(strstr(m.error, "video"), "%s", m.error);
	make_elf(1U << 5, KUT_ENTRY, kut_like, 2, 0x3000);	/* undefined */
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	CHECK(strstr(m.error, "0x20"), "%s", m.error);
	make_elf(1U << 20, KUT_ENTRY, kut_like, 2, 0x3000);	/* optional */
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), 0);
}

static void t_bad_elf(void)
{
	static const struct phdr nothing[] = {
		{ 4, 0x100, 0x400100, 0x400100, 0x100, 0x100 },	/* PT_NOTE */
	};
	static const struct phdr too_big[] = {
		{ 1, 0x100, 0x400100, 0x400100, 0x200, 0x100 },
	};
	static const struct phdr cut[] = {
		{ 1, 0x100, 0x400100, 0x400100, 0x4000, 0x4000 },
	};
	static const struct phdr above_4g[] = {
		{ 1, 0x100, 0xfffff000, 0xfffff000, 0x100, 0x2000 },
	};
	struct axvm_multiboot m;

	make_kut_like();
	img[4] = 2;				/* ELFCLASS64 */
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	CHECK(strstr(m.error, "64-bit"), "%s", m.error);
	make_kut_like();
	put16(img, 18, 62);			/* EM_X86_64 */
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	make_kut_like();
	put16(img, 16, 3);			/* ET_DYN */
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	make_kut_like();
	img[5] = 2;				/* big-endian */
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	make_kut_like();
	put16(img, 42, 40);			/* e_phentsize */
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	make_elf(0, 0x400100, nothing, 1, 0x3000);
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	CHECK(strstr(m.error, "PT_LOAD"), "%s", m.error);
	make_elf(0, 0x400100, too_big, 1, 0x3000);
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	make_elf(0, 0x400100, cut, 1, 0x3000);
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	CHECK(strstr(m.error, "truncated"), "%s", m.error);
	make_elf(0, 0xfffff000, above_4g, 1, 0x3000);
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	make_elf(0, 0x500000, kut_like, 2, 0x3000);	/* entry outside */
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
	CHECK(strstr(m.error, "entry point"), "%s", m.error);
	/* Truncated files at every length up to the first segment's end. */
	{
		size_t len;

		for (len = 0; len < 0x2000; len += 0x1ff) {
			make_kut_like();
			img_size = len;
			init_mb(&m);
			CHECK_EQ(axvm_multiboot_parse(&m), -ENOEXEC);
		}
	}
}

static void t_plan_refusals(void)
{
	static const struct phdr in_hole[] = {
		{ 1, 0x100, 0xa0000, 0xa0000, 0x100, 0x100 },
	};
	static const struct phdr ebda[] = {
		{ 1, 0x100, 0x9f000, 0x9f000, 0x100, 0x1000 },
	};
	struct axvm_multiboot m;
	static char longline[AXVM_MULTIBOOT_CMDLINE_MAX + 8];

	make_elf(0, 0xa0000, in_hole, 1, 0x3000);
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), 0);
	CHECK_EQ(axvm_multiboot_plan(&m), -ENOSPC);
	make_elf(0, 0x9f000, ebda, 1, 0x3000);
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_parse(&m), 0);
	CHECK_EQ(axvm_multiboot_plan(&m), -ENOSPC);
	/* kvm-unit-tests' images end above 4 MiB: --mem 4M is too small. */
	make_kut_like();
	init_mb(&m);
	m.ram_size = 4 * MIB;
	CHECK_EQ(axvm_multiboot_parse(&m), 0);
	CHECK_EQ(axvm_multiboot_plan(&m), -ENOSPC);
	CHECK(strstr(m.error, "RAM"), "%s", m.error);
	m.ram_size = RAM_SIZE + 1;
	CHECK_EQ(axvm_multiboot_plan(&m), -EINVAL);
	m.ram_size = (3ULL << 30) + 4096;
	CHECK_EQ(axvm_multiboot_plan(&m), -EINVAL);
	m.ram_size = MIB;
	CHECK_EQ(axvm_multiboot_plan(&m), -EINVAL);
	m.ram_size = RAM_SIZE;
	m.nr_cpus = 0;
	CHECK_EQ(axvm_multiboot_plan(&m), -EINVAL);
	m.nr_cpus = 255;
	CHECK_EQ(axvm_multiboot_plan(&m), -EINVAL);
	m.nr_cpus = 1;
	m.nr_modules = AXVM_MULTIBOOT_MAX_MODULES + 1;
	CHECK_EQ(axvm_multiboot_plan(&m), -EINVAL);
	m.nr_modules = 0;
	/* The command line: path + ' ' + append, at most 4095 bytes. */
	memset(longline, 'a', sizeof(longline) - 1);
	longline[AXVM_MULTIBOOT_CMDLINE_MAX - 1 - 15] = 0;	/* 4080 + 15 = 4095 */
	m.append = longline;
	CHECK_EQ(axvm_multiboot_plan(&m), 0);
	longline[AXVM_MULTIBOOT_CMDLINE_MAX - 1 - 15] = 'a';
	longline[AXVM_MULTIBOOT_CMDLINE_MAX - 15] = 0;
	CHECK_EQ(axvm_multiboot_plan(&m), -E2BIG);
	m.append = NULL;
	/* A module larger than what is left of RAM. */
	m.modules[0].data = ram;
	m.modules[0].size = RAM_SIZE - 0x407000 + 1;
	m.nr_modules = 1;
	CHECK_EQ(axvm_multiboot_plan(&m), -ENOSPC);
	m.modules[0].size = RAM_SIZE - 0x407000;
	CHECK_EQ(axvm_multiboot_plan(&m), 0);
	/* plan before parse */
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_plan(&m), -EINVAL);
}

/*
 * Where the boot information goes when the image is low, as
 * kvm-unit-tests' realmode.flat is ([0x8000, 0xda30)).
 */
static void t_info_placement(void)
{
	static const struct phdr realmode[] = {
		{ 1, 0x100, 0x8000, 0x8000, 0x1000, 0x286c },
		{ 1, 0x1100, 0xb000, 0xb000, 0x277c, 0x2a30 },
	};
	static const struct phdr at_0x1000[] = {
		{ 1, 0x100, 0x1000, 0x1000, 0x1000, 0x2000 },
	};
	static const struct phdr low_full[] = {
		{ 1, 0x100, 0x0, 0x0, 0x1000, 0x9fc00 },
	};
	struct axvm_multiboot m;

	make_elf(0, 0x8018, realmode, 2, 0x4000);
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_load(&m, ram), 0);
	CHECK_EQ(m.layout.info, 0x1000);
	CHECK(m.layout.info_end <= 0x8000, "info ends at 0x%llx",
	      (unsigned long long)m.layout.info_end);
	make_elf(0, 0x1000, at_0x1000, 1, 0x2000);
	init_mb(&m);
	CHECK_EQ(axvm_multiboot_plan(&m), -EINVAL);	/* not parsed yet */
	CHECK_EQ(axvm_multiboot_load(&m, ram), 0);
	CHECK_EQ(m.layout.info, 0x3000);		/* right after it */
	make_elf(0, 0x100, low_full, 1, 0x2000);
	init_mb(&m);
	m.modules[0].data = (const uint8_t *)env_module;
	m.modules[0].size = sizeof(env_module) - 1;
	m.nr_modules = 1;
	CHECK_EQ(axvm_multiboot_load(&m, ram), 0);
	CHECK_EQ(m.layout.info, MIB);			/* low memory is full */
	CHECK(m.layout.module[0] >= m.layout.info_end &&
	      !(m.layout.module[0] & 0xfff), "module at 0x%llx",
	      (unsigned long long)m.layout.module[0]);
}

static uint32_t fw_read(struct axvm_fwcfg *f, uint16_t port, unsigned int w)
{
	uint32_t v = 0x5a5a5a5a;

	CHECK_EQ(axvm_fwcfg_io(f, port, w, 0, &v), 1);
	return v;
}

static void fw_select(struct axvm_fwcfg *f, uint16_t key)
{
	uint32_t v = key;

	CHECK_EQ(axvm_fwcfg_io(f, 0x510, 2, 1, &v), 1);
}

static uint64_t fw_item(struct axvm_fwcfg *f, uint16_t key, unsigned int len)
{
	uint64_t v = 0;
	unsigned int i;

	fw_select(f, key);
	for (i = 0; i < len; i++)
		v |= (uint64_t)fw_read(f, 0x511, 1) << (8 * i);
	return v;
}

static void t_fwcfg(void)
{
	struct axvm_fwcfg f;
	uint32_t v;
	char sig[5] = { 0 };
	unsigned int i;

	axvm_fwcfg_init(&f, 256 * MIB, 4);
	fw_select(&f, 0x00);
	for (i = 0; i < 4; i++)
		sig[i] = (char)fw_read(&f, 0x511, 1);
	CHECK(!strcmp(sig, "QEMU"), "signature '%s'", sig);
	CHECK_EQ(fw_read(&f, 0x511, 1), 0);		/* past the end */
	CHECK_EQ(fw_item(&f, 0x01, 4), 1);		/* ID: no DMA */
	CHECK_EQ(fw_item(&f, 0x03, 8), 256 * MIB);	/* RAM size */
	CHECK_EQ(fw_item(&f, 0x05, 2), 4);		/* NB_CPUS */
	CHECK_EQ(fw_item(&f, 0x0f, 2), 4);		/* MAX_CPUS */
	CHECK_EQ(fw_item(&f, 0x11, 8), 0);		/* anything else */
	CHECK_EQ(fw_item(&f, 0x4000, 8), 0);
	/* Selecting again rewinds. */
	CHECK_EQ(fw_item(&f, 0x05, 1), 4);
	CHECK_EQ(fw_item(&f, 0x05, 1), 4);
	/* A data write changes nothing; undecoded accesses read ones. */
	fw_select(&f, 0x05);
	v = 0x77;
	CHECK_EQ(axvm_fwcfg_io(&f, 0x511, 1, 1, &v), 1);
	CHECK_EQ(fw_read(&f, 0x511, 1), 4);
	CHECK_EQ(fw_read(&f, 0x510, 1), 0xff);
	CHECK_EQ(fw_read(&f, 0x510, 2), 0xffff);
	CHECK_EQ(fw_read(&f, 0x511, 4), 0xffffffff);
	v = 0x03;
	CHECK_EQ(axvm_fwcfg_io(&f, 0x510, 1, 1, &v), 1);	/* byte select: ignored */
	CHECK_EQ(fw_read(&f, 0x511, 1), 0);		/* still item 5, byte 1 */
	/* Other ports are not the device's. */
	v = 0x12345678;
	CHECK_EQ(axvm_fwcfg_io(&f, 0x50f, 1, 0, &v), 0);
	CHECK_EQ(axvm_fwcfg_io(&f, 0x512, 1, 0, &v), 0);
	CHECK_EQ(axvm_fwcfg_io(&f, 0x514, 4, 1, &v), 0);	/* no DMA */
	CHECK_EQ(v, 0x12345678);
}

/* A real kvm-unit-tests image, when KUT_FLAT names one. */
static void t_kut_flat(void)
{
	const char *path = getenv("KUT_FLAT");
	struct axvm_multiboot m;
	struct stat st;
	void *p;
	int fd;

	if (!path || !*path) {
		skip_reason = "KUT_FLAT not set (a kvm-unit-tests x86/*.flat)";
		return;
	}
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && !fstat(fd, &st), "open %s", path);
	if (case_failed)
		return;
	p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	CHECK(p != MAP_FAILED, "mmap");
	if (case_failed)
		return;
	memset(&m, 0, sizeof(m));
	m.image = p;
	m.image_size = st.st_size;
	m.image_name = path;
	m.ram_size = 4 * MIB;	/* most load at 4 MiB, realmode.flat low */
	m.nr_cpus = 2;
	CHECK_EQ(axvm_multiboot_parse(&m), 0);
	CHECK_EQ(axvm_multiboot_plan(&m), m.hdr.image_end > 4 * MIB ? -ENOSPC : 0);
	m.ram_size = RAM_SIZE;
	CHECK_EQ(axvm_multiboot_load(&m, ram), 0);
	CHECK_EQ(m.hdr.offset % 4, 0);
	printf("# %s: header at 0x%x, flags 0x%x, %u segments, [0x%llx, 0x%llx), entry 0x%llx, info at 0x%llx\n",
	       path, m.hdr.offset, m.hdr.flags, m.hdr.nr_segments,
	       (unsigned long long)m.hdr.image_start,
	       (unsigned long long)m.hdr.image_end,
	       (unsigned long long)m.hdr.entry,
	       (unsigned long long)m.layout.info);
	munmap(p, st.st_size);
}

int main(void)
{
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	run("ELF32 like kvm-unit-tests': segments, bss, MBI, cmdline, module, memory map, GDT, MP table", t_elf_loaded);
	run("no module, no --append: the path alone; no path: empty", t_no_module_no_append);
	run("a virtual e_entry is translated to its segment's p_paddr", t_virtual_entry);
	run("a.out kludge (flags bit 16): load, load_end, bss_end, entry; refusals", t_aout_kludge);
	run("bit 16 wins over the ELF program headers", t_aout_kludge_over_elf);
	run("header search: within 8 KiB, 4-byte aligned, checksum named", t_header_search);
	run("flags: bits 0-1 honoured, video (2) and undefined 3-15 refused", t_flags);
	run("bad ELF32 files refused with -ENOEXEC", t_bad_elf);
	run("plan refusals: holes, RAM size, CPUs, modules, command line", t_plan_refusals);
	run("boot information placed clear of a low image", t_info_placement);
	run("fw_cfg: signature, ID, RAM size, CPU counts, undecoded accesses", t_fwcfg);
	run("KUT_FLAT: a real kvm-unit-tests image parses and loads", t_kut_flat);
	munmap(ram, RAM_SIZE);
	return unit_summary();
}
