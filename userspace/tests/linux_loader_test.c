// SPDX-License-Identifier: GPL-2.0
/*
 * linux_loader_test: host unit test of libaxvm's bzImage loader
 * (lib/linux.c) and MP table (lib/mptable.c), on a plain buffer that
 * stands for guest RAM; no /dev/axvm needed. Run by `make -C userspace
 * test` (and so by `make check`, before the test VM boots).
 *
 * The expected values come from the specifications, not from the
 * library: the offsets below are re-derived from
 * Documentation/x86/boot.rst and arch/x86/include/uapi/asm/bootparam.h,
 * the MP structures are walked byte by byte per MP spec 1.4 chapter 4.
 *
 * Output: one "ok N - what" / "not ok N - what" line per case, the
 * failed checks as "#" lines, then "N passed, N failed, N skipped".
 * Exit status 1 if anything failed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libaxvm.h"
#include "unit.h"


/* ------------------------------------------------------------------ */
/* A synthetic bzImage                                                 */
/* ------------------------------------------------------------------ */

/* boot.rst offsets, spelled out again on purpose. */
#define O_SETUP_SECTS	0x1f1
#define O_SYSSIZE	0x1f4
#define O_BOOT_FLAG	0x1fe
#define O_JUMP		0x200
#define O_HEADER	0x202
#define O_VERSION	0x206
#define O_TYPE_OF_LOADER 0x210
#define O_LOADFLAGS	0x211
#define O_RAMDISK_IMAGE	0x218
#define O_RAMDISK_SIZE	0x21c
#define O_CMD_LINE_PTR	0x228
#define O_INITRD_ADDR_MAX 0x22c
#define O_KERNEL_ALIGN	0x230
#define O_RELOCATABLE	0x234
#define O_XLOADFLAGS	0x236
#define O_CMDLINE_SIZE	0x238
#define O_PREF_ADDRESS	0x258
#define O_INIT_SIZE	0x260
#define O_E820_ENTRIES	0x1e8
#define O_E820_TABLE	0x2d0

#define SETUP_SECTS	4
#define SETUP_SIZE	((SETUP_SECTS + 1) * 512)
#define SYSSIZE		0x100			/* 4 KiB of "kernel" */
#define PM_SIZE		(SYSSIZE * 16)
#define IMAGE_SIZE	(SETUP_SIZE + PM_SIZE)
#define INIT_SIZE	0x400000		/* 4 MiB */
#define CMDLINE_SIZE	255
#define RAM_SIZE	(64ULL << 20)
#define MIB		(1ULL << 20)

static uint8_t image[IMAGE_SIZE];

static void put16(uint8_t *p, unsigned int off, uint16_t v) { memcpy(p + off, &v, 2); }
static void put32(uint8_t *p, unsigned int off, uint32_t v) { memcpy(p + off, &v, 4); }
static void put64(uint8_t *p, unsigned int off, uint64_t v) { memcpy(p + off, &v, 8); }
static uint16_t get16(const uint8_t *p, uint64_t off) { uint16_t v; memcpy(&v, p + off, 2); return v; }
static uint32_t get32(const uint8_t *p, uint64_t off) { uint32_t v; memcpy(&v, p + off, 4); return v; }
static uint64_t get64(const uint8_t *p, uint64_t off) { uint64_t v; memcpy(&v, p + off, 8); return v; }

/* A 2.15 header like Debian's 6.1 kernel's, with a small kernel. */
static void make_image(void)
{
	unsigned int i;

	memset(image, 0, sizeof(image));
	image[O_SETUP_SECTS] = SETUP_SECTS;
	put32(image, O_SYSSIZE, SYSSIZE);
	put16(image, O_BOOT_FLAG, 0xaa55);
	image[O_JUMP] = 0xeb;
	image[O_JUMP + 1] = 0x6a;		/* header ends at 0x26c */
	memcpy(image + O_HEADER, "HdrS", 4);
	put16(image, O_VERSION, 0x020f);
	image[O_LOADFLAGS] = 0x01;		/* LOADED_HIGH */
	put32(image, O_INITRD_ADDR_MAX, 0x7fffffff);
	put32(image, O_KERNEL_ALIGN, 0x200000);
	image[O_RELOCATABLE] = 1;
	put16(image, O_XLOADFLAGS, 0x0003);	/* KERNEL_64, ABOVE_4G */
	put32(image, O_CMDLINE_SIZE, CMDLINE_SIZE);
	put64(image, O_PREF_ADDRESS, 0x1000000);
	put32(image, O_INIT_SIZE, INIT_SIZE);
	/* A byte past the header that must not reach boot_params. */
	image[0x26c] = 0x5a;
	for (i = 0; i < PM_SIZE; i++)
		image[SETUP_SIZE + i] = (uint8_t)(i * 7 + 1);
}

static uint8_t *ram;
static uint8_t initrd[3 * 4096 + 100];

static void init_linux(struct axvm_linux *l, uint64_t image_size)
{
	unsigned int i;

	for (i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0xa5);
	memset(l, 0, sizeof(*l));
	l->kernel = image;
	l->kernel_size = image_size;
	l->initrd = initrd;
	l->initrd_size = sizeof(initrd);
	l->cmdline = "console=ttyS0 reboot=k panic=-1";
	l->ram_size = RAM_SIZE;
	l->nr_cpus = 1;
	l->cpu_signature = 0x00a00f11;
	l->cpu_features = 0x178bfbff;
	memset(ram, 0, RAM_SIZE);
}

/* ------------------------------------------------------------------ */
/* Accepted image                                                      */
/* ------------------------------------------------------------------ */

static void check_e820(const uint8_t *bp, uint64_t ram_size)
{
	static const struct { uint64_t addr, size; uint32_t type; } want[] = {
		{ 0, 0x9fc00, 1 }, { 0x9fc00, 0x400, 2 },
		{ 0xf0000, 0x10000, 2 }, { 0x100000, 0, 1 },
	};
	unsigned int i;

	CHECK_EQ(bp[O_E820_ENTRIES], 4);
	for (i = 0; i < 4; i++) {
		uint64_t off = O_E820_TABLE + i * 20;
		uint64_t size = want[i].size ? want[i].size :
				ram_size - want[i].addr;

		CHECK_EQ(get64(bp, off), want[i].addr);
		CHECK_EQ(get64(bp, off + 8), size);
		CHECK_EQ(get32(bp, off + 16), want[i].type);
	}
}

static void check_boot_params(const struct axvm_linux *l)
{
	const uint8_t *bp = ram + 0x7000;
	unsigned int i;

	CHECK_EQ(l->layout.boot_params, 0x7000);
	/* The setup header, 0x1f1 up to its end, as in the file... */
	for (i = O_SETUP_SECTS; i < 0x26c; i++) {
		if (i == O_TYPE_OF_LOADER || i == O_LOADFLAGS ||
		    (i >= O_RAMDISK_IMAGE && i < O_RAMDISK_SIZE + 4) ||
		    (i >= 0x224 && i < 0x226) ||	/* heap_end_ptr */
		    (i >= O_CMD_LINE_PTR && i < O_CMD_LINE_PTR + 4))
			continue;
		CHECK(bp[i] == image[i], "boot_params[0x%x] 0x%x, file 0x%x",
		      i, bp[i], image[i]);
	}
	/* ...and nothing outside it but what the loader sets. */
	CHECK_EQ(bp[0x26c], 0);
	for (i = 0; i < O_E820_ENTRIES; i++)
		CHECK(bp[i] == 0, "boot_params[0x%x] = 0x%x", i, bp[i]);
	CHECK_EQ(bp[O_TYPE_OF_LOADER], 0xff);
	CHECK_EQ(bp[O_LOADFLAGS], 0x81);	/* LOADED_HIGH | CAN_USE_HEAP */
	CHECK_EQ(get32(bp, O_CMD_LINE_PTR), 0x20000);
	CHECK(!strcmp((const char *)ram + 0x20000, l->cmdline),
	      "command line '%s'", (const char *)ram + 0x20000);
	check_e820(bp, l->ram_size);
}

static void check_initrd(const struct axvm_linux *l)
{
	const uint8_t *bp = ram + 0x7000;
	uint32_t addr = get32(bp, O_RAMDISK_IMAGE);

	CHECK_EQ(get32(bp, O_RAMDISK_SIZE), sizeof(initrd));
	CHECK_EQ(addr % 4096, 0);
	/* As high as it goes: within the last page below the RAM end. */
	CHECK(addr + sizeof(initrd) <= RAM_SIZE &&
	      addr + sizeof(initrd) + 4096 > RAM_SIZE, "initrd at 0x%x", addr);
	CHECK(addr >= 0x1000000 + INIT_SIZE, "initrd at 0x%x", addr);
	CHECK(!memcmp(ram + addr, initrd, sizeof(initrd)), "initrd bytes");
	CHECK_EQ(l->layout.initrd, addr);
}

/* GDT: 0x10 64-bit code, 0x18 data; page tables: 4 GiB, 2 MiB pages. */
static void check_cpu_tables(const struct axvm_linux *l)
{
	uint64_t pml4 = l->layout.page_tables, pdpt, pd;
	uint64_t code = get64(ram, l->layout.gdt + 0x10);
	uint64_t data = get64(ram, l->layout.gdt + 0x18);
	unsigned int i;

	CHECK_EQ(get64(ram, l->layout.gdt), 0);
	CHECK_EQ(get64(ram, l->layout.gdt + 8), 0);
	/* P, S, type execute/read, L set, D clear (Intel SDM 3.4.5). */
	CHECK_EQ((code >> 40) & 0xff, 0x9b);
	CHECK_EQ((code >> 53) & 3, 1);
	CHECK_EQ((data >> 40) & 0xff, 0x93);
	CHECK_EQ((data >> 54) & 1, 1);	/* B: 32-bit */
	CHECK_EQ(pml4 % 4096, 0);
	CHECK(pml4 + 6 * 4096 <= 0x20000 &&
	      (pml4 >= 0x8000 || pml4 + 6 * 4096 <= 0x7000),
	      "page tables at 0x%llx overlap", (unsigned long long)pml4);
	pdpt = get64(ram, pml4) & ~0xfffULL;
	CHECK_EQ(get64(ram, pml4) & 1, 1);
	for (i = 0; i < 4; i++) {
		uint64_t e = get64(ram, pdpt + i * 8);

		CHECK_EQ(e & 1, 1);
		pd = e & ~0xfffULL;
		/* first and last 2 MiB page of each GiB, identity, PS */
		CHECK_EQ(get64(ram, pd) & ~0xfffULL, i * (1ULL << 30));
		CHECK_EQ(get64(ram, pd) & 0x83, 0x83);
		CHECK_EQ(get64(ram, pd + 511 * 8) & ~0xfffULL,
			 i * (1ULL << 30) + 511 * (2ULL << 20));
	}
	CHECK_EQ(get64(ram, pdpt + 4 * 8), 0);
}

static void t_accepted(void)
{
	struct axvm_linux l;
	int ret;

	init_linux(&l, IMAGE_SIZE);
	ret = axvm_linux_load(&l, ram);
	CHECK(ret == 0, "axvm_linux_load: %d (%s)", ret, l.error);
	if (ret)
		return;
	CHECK_EQ(l.hdr.version, 0x020f);
	CHECK_EQ(l.hdr.setup_size, SETUP_SIZE);
	CHECK_EQ(l.hdr.pm_size, PM_SIZE);
	CHECK_EQ(l.layout.kernel, 0x1000000);
	CHECK_EQ(l.layout.entry, 0x1000200);
	CHECK(!memcmp(ram + 0x1000000, image + SETUP_SIZE, PM_SIZE),
	      "kernel bytes at 16 MiB");
	check_boot_params(&l);
	check_initrd(&l);
	check_cpu_tables(&l);
	CHECK_EQ(get16(ram, 0x413), 639);
	CHECK(!memcmp(ram + 0xf0000, "_MP_", 4), "no MP table at 0xf0000");
}

static void t_setup_sects_zero(void)
{
	struct axvm_linux l;

	/* 0 means 4: the same image parses the same way. */
	make_image();
	image[O_SETUP_SECTS] = 0;
	init_linux(&l, IMAGE_SIZE);
	CHECK(axvm_linux_parse(&l) == 0, "%s", l.error);
	CHECK_EQ(l.hdr.setup_sects, 4);
	CHECK_EQ(l.hdr.setup_size, SETUP_SIZE);
	make_image();
}

static void t_no_initrd_empty_cmdline(void)
{
	struct axvm_linux l;

	init_linux(&l, IMAGE_SIZE);
	l.initrd = NULL;
	l.initrd_size = 0;
	l.cmdline = NULL;
	CHECK(axvm_linux_load(&l, ram) == 0, "%s", l.error);
	CHECK_EQ(get32(ram + 0x7000, O_RAMDISK_IMAGE), 0);
	CHECK_EQ(get32(ram + 0x7000, O_RAMDISK_SIZE), 0);
	CHECK_EQ(ram[0x20000], 0);
}

/* initrd_addr_max below the RAM end caps the initrd's last byte. */
static void t_initrd_addr_max(void)
{
	struct axvm_linux l;
	uint32_t addr;

	make_image();
	put32(image, O_INITRD_ADDR_MAX, 0x1ffffff);	/* 32 MiB - 1 */
	init_linux(&l, IMAGE_SIZE);
	CHECK(axvm_linux_load(&l, ram) == 0, "%s", l.error);
	addr = get32(ram + 0x7000, O_RAMDISK_IMAGE);
	CHECK(addr + sizeof(initrd) - 1 <= 0x1ffffff &&
	      addr + sizeof(initrd) + 4096 > 0x2000000, "initrd at 0x%x", addr);
	make_image();
}

/* A relocatable kernel whose pref_address is below 1 MiB goes to 16 MiB;
 * a non-relocatable one is refused. */
static void t_load_address(void)
{
	struct axvm_linux l;
	int ret;

	make_image();
	put64(image, O_PREF_ADDRESS, 0x10000);
	init_linux(&l, IMAGE_SIZE);
	CHECK(axvm_linux_parse(&l) == 0, "%s", l.error);
	CHECK_EQ(l.hdr.load_address, 0x1000000);
	image[O_RELOCATABLE] = 0;
	ret = axvm_linux_parse(&l);
	CHECK(ret == -ENOEXEC, "non-relocatable below 1 MiB: %d", ret);
	put64(image, O_PREF_ADDRESS, 0x2000000);
	CHECK(axvm_linux_parse(&l) == 0, "%s", l.error);
	CHECK_EQ(l.hdr.load_address, 0x2000000);
	make_image();
}

/* ------------------------------------------------------------------ */
/* Refused images and layouts                                          */
/* ------------------------------------------------------------------ */

static void expect_refusal(struct axvm_linux *l, int err, const char *words,
			   const char *what)
{
	int ret = axvm_linux_load(l, ram);

	CHECK(ret == err, "%s: got %d (%s), want %d", what, ret, l->error,
	      err);
	CHECK(l->error[0] && strstr(l->error, words),
	      "%s: reason '%s' lacks '%s'", what, l->error, words);
	CHECK(ram[0x7000 + O_TYPE_OF_LOADER] == 0 && ram[0x1000000] == 0,
	      "%s: wrote guest memory although refused", what);
}

static void t_truncated(void)
{
	static const uint64_t cuts[] = {
		0, 1, 100, 0x1ff, 0x201, 0x205, 0x263,	/* in the header */
		0x264, 0x400, SETUP_SIZE - 1,		/* in the setup */
		SETUP_SIZE, SETUP_SIZE + 1, IMAGE_SIZE - 16, IMAGE_SIZE - 1,
	};
	struct axvm_linux l;
	unsigned int i;

	make_image();
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		char what[32];

		snprintf(what, sizeof(what), "cut at %llu",
			 (unsigned long long)cuts[i]);
		init_linux(&l, cuts[i]);
		expect_refusal(&l, -ENOEXEC, cuts[i] < 0x264 ? "too short" :
			       "truncated", what);
	}
}

static void t_bad_magic(void)
{
	struct axvm_linux l;

	make_image();
	put16(image, O_BOOT_FLAG, 0xaa56);
	init_linux(&l, IMAGE_SIZE);
	expect_refusal(&l, -ENOEXEC, "0xaa55", "boot flag");
	make_image();
	memcpy(image + O_HEADER, "HdrX", 4);
	init_linux(&l, IMAGE_SIZE);
	expect_refusal(&l, -ENOEXEC, "HdrS", "HdrS");
	make_image();
}

static void t_old_protocol(void)
{
	struct axvm_linux l;

	make_image();
	put16(image, O_VERSION, 0x020b);
	init_linux(&l, IMAGE_SIZE);
	expect_refusal(&l, -ENOEXEC, "2.11", "protocol 2.11");
	make_image();
}

static void t_not_64bit(void)
{
	struct axvm_linux l;

	make_image();
	put16(image, O_XLOADFLAGS, 0x0002);
	init_linux(&l, IMAGE_SIZE);
	expect_refusal(&l, -ENOEXEC, "XLF_KERNEL_64", "no XLF_KERNEL_64");
	make_image();
	image[O_LOADFLAGS] = 0;
	init_linux(&l, IMAGE_SIZE);
	expect_refusal(&l, -ENOEXEC, "zImage", "no LOADED_HIGH");
	make_image();
}

static void t_cmdline_too_long(void)
{
	char line[CMDLINE_SIZE + 2];
	struct axvm_linux l;

	make_image();
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = 0;		/* cmdline_size + 1 */
	init_linux(&l, IMAGE_SIZE);
	l.cmdline = line;
	expect_refusal(&l, -E2BIG, "cmdline_size", "cmdline_size + 1");
	line[CMDLINE_SIZE] = 0;			/* exactly cmdline_size */
	init_linux(&l, IMAGE_SIZE);
	l.cmdline = line;
	CHECK(axvm_linux_load(&l, ram) == 0, "%s", l.error);
	CHECK_EQ(strlen((const char *)ram + 0x20000), CMDLINE_SIZE);
}

static void t_initrd_does_not_fit(void)
{
	struct axvm_linux l;

	make_image();
	init_linux(&l, IMAGE_SIZE);
	/* The kernel ends at 16 + 4 MiB: 44 MiB are left above it. */
	l.initrd_size = RAM_SIZE - 0x1000000 - INIT_SIZE + 1;
	l.initrd = NULL;	/* never read: the plan fails first */
	expect_refusal(&l, -ENOSPC, "initrd", "initrd 1 byte too big");
	/* initrd_addr_max can make it not fit either. */
	put32(image, O_INITRD_ADDR_MAX, 0x1000000 + INIT_SIZE + 4095);
	init_linux(&l, IMAGE_SIZE);
	expect_refusal(&l, -ENOSPC, "initrd_addr_max", "initrd_addr_max");
	make_image();
}

static void t_kernel_does_not_fit(void)
{
	struct axvm_linux l;

	make_image();
	init_linux(&l, IMAGE_SIZE);
	l.ram_size = 0x1000000 + INIT_SIZE - 4096;
	expect_refusal(&l, -ENOSPC, "init_size", "RAM below init_size");
	init_linux(&l, IMAGE_SIZE);
	l.ram_size = (3ULL << 30) + 4096;
	expect_refusal(&l, -EINVAL, "3 GiB", "RAM above 3 GiB");
}

/* ------------------------------------------------------------------ */
/* MP table                                                            */
/* ------------------------------------------------------------------ */

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

struct mp_seen {
	unsigned int cpus, bsp, buses, ioapics, io_irqs, local_irqs;
	uint8_t ioapic_id;
	bool io_irq_ok[16];
	bool extint_lint0, nmi_lint1;
};

/* MP spec 4.3: walks the base table entries by type. */
static void walk_mp_entries(const uint8_t *e, unsigned int count,
			    unsigned int nr_cpus, struct mp_seen *s)
{
	unsigned int i;

	for (i = 0; i < count; i++) {
		switch (e[0]) {
		case 0:
			CHECK_EQ(e[1], s->cpus);	/* APIC id i */
			CHECK_EQ(e[2], 0x14);
			CHECK_EQ(e[3] & 1, 1);		/* EN */
			CHECK_EQ((e[3] >> 1) & 1, s->cpus == 0);	/* BP */
			CHECK_EQ(get32(e, 4), 0x00a00f11);
			CHECK_EQ(get32(e, 8), 0x178bfbff);
			s->bsp += (e[3] >> 1) & 1;
			s->cpus++;
			e += 20;
			continue;
		case 1:
			CHECK_EQ(e[1], 0);
			CHECK(!memcmp(e + 2, "ISA   ", 6), "bus name");
			s->buses++;
			break;
		case 2:
			CHECK_EQ(e[1], nr_cpus);
			CHECK_EQ(e[2], 0x20);
			CHECK_EQ(e[3] & 1, 1);
			CHECK_EQ(get32(e, 4), 0xfec00000);
			s->ioapic_id = e[1];
			s->ioapics++;
			break;
		case 3:
			/* INT, conforming, ISA bus irq n -> this I/O APIC pin n */
			if (e[1] == 0 && get16(e, 2) == 0 && e[4] == 0 &&
			    e[5] < 16 && e[6] == nr_cpus && e[7] == e[5])
				s->io_irq_ok[e[5]] = true;
			s->io_irqs++;
			break;
		case 4:
			if (e[1] == 3 && e[6] == 0xff && e[7] == 0)
				s->extint_lint0 = true;
			if (e[1] == 1 && e[6] == 0xff && e[7] == 1)
				s->nmi_lint1 = true;
			s->local_irqs++;
			break;
		default:
			CHECK(0, "entry %u has type %u", i, e[0]);
			return;
		}
		e += 8;
	}
}

static void check_mptable(unsigned int nr_cpus)
{
	static uint8_t buf[0x10000];
	const uint8_t *mpc;
	struct mp_seen s;
	unsigned int i;
	int size;

	memset(buf, 0xcc, sizeof(buf));
	size = axvm_mptable_build(buf, sizeof(buf), 0xf0000, nr_cpus,
				  0x00a00f11, 0x178bfbff);
	CHECK(size > 0, "axvm_mptable_build: %d", size);
	if (size <= 0)
		return;
	/* 4.1: the floating pointer */
	CHECK(!memcmp(buf, "_MP_", 4), "signature");
	CHECK_EQ(buf[8], 1);
	CHECK_EQ(buf[9], 4);
	CHECK_EQ(sum(buf, 16), 0);
	CHECK_EQ(buf[11], 0);			/* a table exists */
	CHECK_EQ(get32(buf, 4), 0xf0010);
	/* 4.2: the header */
	mpc = buf + (get32(buf, 4) - 0xf0000);
	CHECK(!memcmp(mpc, "PCMP", 4), "PCMP");
	CHECK_EQ(mpc[6], 4);
	CHECK_EQ(sum(mpc, get16(mpc, 4)), 0);
	CHECK_EQ(get32(mpc, 36), 0xfee00000);
	CHECK_EQ(get16(mpc, 34), nr_cpus + 1 + 1 + 16 + 2);
	CHECK_EQ(get16(mpc, 4), 44 + 20 * nr_cpus + 8 * (1 + 1 + 16 + 2));
	CHECK_EQ((uint64_t)size, 16 + get16(mpc, 4));
	CHECK_EQ(get16(mpc, 40), 0);		/* no extended table */
	memset(&s, 0, sizeof(s));
	walk_mp_entries(mpc + 44, get16(mpc, 34), nr_cpus, &s);
	CHECK_EQ(s.cpus, nr_cpus);
	CHECK_EQ(s.bsp, 1);
	CHECK_EQ(s.buses, 1);
	CHECK_EQ(s.ioapics, 1);
	CHECK_EQ(s.io_irqs, 16);
	for (i = 0; i < 16; i++)
		CHECK(s.io_irq_ok[i], "ISA IRQ %u -> pin %u missing", i, i);
	CHECK_EQ(s.local_irqs, 2);
	CHECK(s.extint_lint0 && s.nmi_lint1, "LINT0/LINT1 entries");
	CHECK_EQ(buf[size], 0xcc);		/* nothing written past it */
}

static void t_mptable_1cpu(void) { check_mptable(1); }
static void t_mptable_4cpus(void) { check_mptable(4); }

static void t_mptable_refusals(void)
{
	uint8_t buf[4096];

	CHECK_EQ(axvm_mptable_build(buf, sizeof(buf), 0xf0000, 0, 0, 0), -EINVAL);
	CHECK_EQ(axvm_mptable_build(buf, sizeof(buf), 0xf0008, 1, 0, 0), -EINVAL);
	CHECK_EQ(axvm_mptable_build(buf, 100, 0xf0000, 1, 0, 0), -ENOSPC);
}

/* In guest RAM through the loader: 4 vCPUs, found where Linux looks. */
static void t_mptable_loaded(void)
{
	struct axvm_linux l;

	make_image();
	init_linux(&l, IMAGE_SIZE);
	l.nr_cpus = 4;
	CHECK(axvm_linux_load(&l, ram) == 0, "%s", l.error);
	CHECK(!memcmp(ram + 0xf0000, "_MP_", 4), "no _MP_ at 0xf0000");
	CHECK_EQ(sum(ram + 0xf0000, 16), 0);
	CHECK_EQ(get16(ram + 0xf0010, 34), 4 + 20);
}

/* ------------------------------------------------------------------ */
/* The host's own kernel                                               */
/* ------------------------------------------------------------------ */

/* The first /boot/vmlinuz-*, or NULL. */
static char *find_host_kernel(void)
{
	static char path[512];
	struct dirent *d;
	DIR *dir = opendir("/boot");

	if (!dir)
		return NULL;
	path[0] = 0;
	while ((d = readdir(dir))) {
		if (!strncmp(d->d_name, "vmlinuz-", 8)) {
			snprintf(path, sizeof(path), "/boot/%s", d->d_name);
			break;
		}
	}
	closedir(dir);
	return path[0] ? path : NULL;
}

static void t_host_kernel(void)
{
	char *path = find_host_kernel();
	struct axvm_linux l;
	struct stat st;
	uint8_t *k;
	int fd;

	if (!path) {
		skip_reason = "no /boot/vmlinuz-*";
		return;
	}
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st)) {
		skip_reason = "cannot read /boot/vmlinuz-*";
		if (fd >= 0)
			close(fd);
		return;
	}
	k = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	CHECK(k != MAP_FAILED, "mmap %s", path);
	if (k == MAP_FAILED)
		return;
	printf("# %s: %lld bytes\n", path, (long long)st.st_size);
	memset(&l, 0, sizeof(l));
	l.kernel = k;
	l.kernel_size = st.st_size;
	l.cmdline = "console=ttyS0 reboot=k panic=-1";
	l.ram_size = 256 * MIB;
	l.nr_cpus = 2;
	l.initrd = initrd;
	l.initrd_size = sizeof(initrd);
	CHECK(axvm_linux_parse(&l) == 0, "%s", l.error);
	CHECK(l.hdr.version >= 0x020c, "protocol 0x%x", l.hdr.version);
	CHECK(l.hdr.setup_size + l.hdr.pm_size <= (uint64_t)st.st_size,
	      "sizes");
	printf("# protocol %u.%02u, setup %llu, kernel %llu, init_size 0x%x, load 0x%llx\n",
	       l.hdr.version >> 8, l.hdr.version & 0xff,
	       (unsigned long long)l.hdr.setup_size,
	       (unsigned long long)l.hdr.pm_size, l.hdr.init_size,
	       (unsigned long long)l.hdr.load_address);
	CHECK(axvm_linux_plan(&l) == 0, "%s", l.error);
	/* Cut in the middle of the kernel: refused. */
	l.kernel_size = l.hdr.setup_size + l.hdr.pm_size / 2;
	CHECK(axvm_linux_parse(&l) == -ENOEXEC, "half a kernel accepted");
	munmap(k, st.st_size);
}

static void t_identity_map(void)
{
	static uint64_t t[6 * 512];

	CHECK_EQ(axvm_x86_identity_map_tables_size(1ULL << 32), 6 * 4096);
	CHECK_EQ(axvm_x86_identity_map_tables_size(1), 3 * 4096);
	CHECK_EQ(axvm_x86_build_identity_map(t, 0x1001, 1ULL << 30), -EINVAL);
	CHECK_EQ(axvm_x86_build_identity_map(t, 0x1000, (1ULL << 32) + 1),
		 -EINVAL);
	CHECK_EQ(axvm_x86_build_identity_map(t, 0x10000, 3 << 20), 0);
	CHECK_EQ(t[0], 0x11000 | 0x23);	/* P, RW, A */
	CHECK_EQ(t[512], 0x12000 | 0x23);
	CHECK_EQ(t[513], 0);
	CHECK_EQ(t[1024], 0 | 0xe3);	/* P, RW, A, D, PS */
	CHECK_EQ(t[1025], (2 << 20) | 0xe3);
	CHECK_EQ(t[1026], 0);		/* 3 MiB rounds up to 2 pages */
}

int main(void)
{
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	make_image();
	run("a synthetic bzImage: kernel, boot_params, e820, cmdline, initrd, GDT, page tables", t_accepted);
	run("setup_sects 0 means 4", t_setup_sects_zero);
	run("no initrd, no command line", t_no_initrd_empty_cmdline);
	run("the initrd ends at or below initrd_addr_max", t_initrd_addr_max);
	run("load address: pref_address, else 16 MiB if relocatable", t_load_address);
	run("truncated images refused with -ENOEXEC at 14 cut points", t_truncated);
	run("bad boot flag or HdrS refused with -ENOEXEC", t_bad_magic);
	run("boot protocol 2.11 refused with -ENOEXEC", t_old_protocol);
	run("no XLF_KERNEL_64 / no LOADED_HIGH refused with -ENOEXEC", t_not_64bit);
	run("command line longer than cmdline_size refused with -E2BIG", t_cmdline_too_long);
	run("an initrd that does not fit refused with -ENOSPC", t_initrd_does_not_fit);
	run("RAM too small for init_size (-ENOSPC) or above 3 GiB (-EINVAL)", t_kernel_does_not_fit);
	run("MP table, 1 CPU: checksums and entries", t_mptable_1cpu);
	run("MP table, 4 CPUs: checksums and entries", t_mptable_4cpus);
	run("MP table: bad CPU count, alignment, room refused", t_mptable_refusals);
	run("MP table in guest RAM at 0xf0000 through the loader", t_mptable_loaded);
	run("identity map tables: 2 MiB pages, sizes, refusals", t_identity_map);
	run("the host's /boot/vmlinuz-* parses and plans", t_host_kernel);
	munmap(ram, RAM_SIZE);
	return unit_summary();
}
