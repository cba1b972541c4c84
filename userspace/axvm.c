// SPDX-License-Identifier: GPL-2.0
/*
 * axvm: the command-line launcher for /dev/axvm.
 *
 *   axvm info                 what the module offers
 *   axvm run --image FILE ... run a raw image on one vCPU
 *   axvm run --kernel FILE .. boot a Linux bzImage (Linux mode)
 *   axvm run --multiboot FILE boot a Multiboot (v1) OS image
 *
 * The guest sees a minimal machine: RAM at [0, --mem), COM1: axvm.ko's
 * in-kernel 16550 UART at port 0x3f8, whose output a console thread
 * copies to our stdout (no exit per byte), an "exit port" whose value
 * becomes our exit status, and hypercall 0 as a second way to exit.
 * Everything the guest does beyond that stops the run with a
 * diagnostic: this is a test launcher, not an emulator.
 *
 * Exit status (also in --help; scripts and selftests rely on it):
 *   0..255  the value the guest wrote to the exit port (or passed to
 *           hypercall 0), & 0xff; 0 as well when the guest halts
 *   1       host error: no /dev/axvm, an ioctl failed, I/O error
 *   2       usage error or refused input (bad flag or value, missing
 *           or too large image); or a guest exit the launcher cannot
 *           handle (MMIO, unknown port, FAIL_ENTRY, INTERNAL_ERROR...)
 *   3       the guest triple-faulted (AXVM_EXIT_SHUTDOWN)
 *   130     SIGINT, 143 SIGTERM (128 + signal, as shells report it)
 * A guest can of course also write 1, 2 or 3 to the exit port: scripts
 * that need to tell them apart look at stderr, where the launcher
 * always says why it stopped unless the guest chose the status.
 *
 * All launcher messages go to stderr, prefixed "axvm: "; stdout carries
 * only the guest's serial output.
 *
 * Linux mode (--kernel) is a small PC instead: the in-kernel I/O APIC,
 * local APICs and UART (interrupt on I/O APIC pin 4), the bzImage and
 * its tables loaded by lib/linux.c, the legacy ports Linux probes
 * answered here (pc.c), the console on stdin/stdout with Ctrl-A x, and
 * its own exit statuses: 0 powered off/halted, 4 reboot (--reboot=exit),
 * 5 Ctrl-A x, 3 triple fault, 1, 2, 130, 143 as above
 * (Documentation/launcher.md, Documentation/linux-guest.md).
 *
 * Multiboot mode (--multiboot) boots an OS image the Multiboot way
 * (lib/multiboot.c) on Linux mode's machine, plus what kvm-unit-tests'
 * x86 guests expect of QEMU's pc machine: QEMU's isa-debug-exit at
 * 0xf4 (status (V << 1) | 1), fw_cfg at 0x510 and the interrupt lines
 * of pc-testdev at 0x2000 (Documentation/launcher.md, "axvm run
 * --multiboot").
 */
#define _GNU_SOURCE		/* pthread_setaffinity_np(), CPU_SET() */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "libaxvm.h"
#include "pc.h"

#define EXIT_HOST_ERROR		1
#define EXIT_USAGE		2
#define EXIT_GUEST_ERROR	2
#define EXIT_TRIPLE_FAULT	3
#define EXIT_REBOOT		4	/* Linux mode: the guest rebooted */
#define EXIT_QUIT		5	/* Linux mode: Ctrl-A x */
#define EXIT_SIGNAL_BASE	128

/* Returned by exit handlers that want the vCPU to run again. */
#define KEEP_RUNNING		(-1)

/*
 * Guest devices. The exit port works like QEMU's isa-debug-exit at the
 * same port, except that the status is the value itself rather than
 * (value << 1) | 1: a guest writes 0 to mean success.
 */
#define EXIT_PORT		0xf4
#define COM1_BASE		0x3f8	/* the in-kernel UART (AXVM_ADD_DEVICE) */
#define COM1_IRQ		4	/* Linux mode: ISA IRQ 4 = I/O APIC pin 4 */
#define HYPERCALL_EXIT		0	/* args[0] is the exit status */

#define DEFAULT_LOAD		0x100000ULL
#define DEFAULT_MEM		(16ULL << 20)
#define DEFAULT_LINUX_MEM	(256ULL << 20)
#define DEFAULT_MULTIBOOT_MEM	(128ULL << 20)	/* QEMU's default -m */
/*
 * The Linux guest's default command line: its console on the UART,
 * reboot through the i8042 (the launcher's reboot signal; reboot=k),
 * a panic reboots at once instead of hanging (panic=-1), so a
 * panicking guest ends the run with status 4, and no PCI (pci=off, as
 * Firecracker's default): the platform has none, and on a CPU that
 * looks like an old AMD one (family 0xF, as QEMU's TCG) Linux's early
 * GART aperture scan would otherwise read every PCI bus and slot, about
 * 33,000 port exits to the launcher per boot.
 */
#define DEFAULT_CMDLINE		"console=ttyS0 reboot=k panic=-1 pci=off"
#define SIZE_2M			(2ULL << 20)
#define SIZE_4G			(4ULL << 30)

static const char *progname = "axvm";

/* Set by the SIGINT/SIGTERM handler, read by the run loop. */
static volatile sig_atomic_t stop_signal;

/* --passthrough / --reserved GPA:HPA:SIZE (Documentation/passthrough.md). */
#define MAX_PT_RANGES		32
struct pt_range {
	uint64_t gpa, hpa, len;
	uint32_t flags;		/* AXVM_PT_RESERVED_MEM or 0 */
	const char *flag;	/* "--passthrough" or "--reserved" */
};

/* --cpus N / --pin LIST: one thread per vCPU, vCPU i's stack 64 KiB
 * below vCPU i-1's. */
#define MAX_CPUS		64
#define CPU_STACK_SPACING	0x10000ULL

struct run_options {
	unsigned int cpus;		/* --cpus, default 1 */
	int pin[MAX_CPUS];		/* --pin: host CPU of vCPU i */
	unsigned int nr_pin;		/* 0: no --pin */
	const char *image;
	uint64_t load;
	uint64_t entry;
	bool entry_given;
	bool image_opts;		/* --load, --entry or --mode given */
	uint64_t mem;
	bool mem_given;
	enum axvm_cpu_mode mode;
	struct pt_range pt[MAX_PT_RANGES];
	unsigned int nr_pt;
	/* Linux mode */
	const char *kernel;		/* --kernel: a bzImage */
	const char *initrd;
	const char *cmdline;
	bool reboot_restart;		/* --reboot=restart */
	bool verbose;			/* -v: exit statistics at the end */
	/* Multiboot mode (--initrd and -v too) */
	const char *multiboot;		/* --multiboot: the OS image */
	const char *append;		/* --append: after the image's path */
};

struct guest {
	struct axvm_vm vm;
	struct axvm_vcpu vcpu;		/* vCPU 0, or the one this thread runs */
	struct axvm_vcpu more[MAX_CPUS - 1];	/* --cpus: vCPUs 1.. */
	struct axvm_mem ram;
	struct axvm_x86_layout layout;
};

/*
 * The console: the fd of the in-kernel UART at COM1_BASE. A thread
 * copies its output to stdout as it arrives; msg() and the end of the
 * run drain it too. Every read happens under `lock` on the O_NONBLOCK
 * fd, so each byte is written exactly once and in order.
 */
static struct {
	int fd;			/* UART fd, -1 before AXVM_ADD_DEVICE */
	int stop_fd;		/* eventfd: tells the thread to finish */
	bool running;		/* the thread exists */
	pthread_t thread;
	pthread_mutex_t lock;
	/*
	 * Linux mode: stdin is the guest's input. The thread reads it,
	 * handles Ctrl-A escapes when stdin is a terminal, and writes to
	 * the UART fd, waiting for room rather than dropping bytes.
	 */
	bool input;		/* forward stdin */
	bool escapes;		/* stdin is a terminal: Ctrl-A x etc. */
	bool got_escape;	/* the last byte read was Ctrl-A */
	bool stdin_done;	/* EOF or error on stdin: stop reading it */
	char pending[256];	/* read from stdin, not yet in the UART */
	size_t pending_off, pending_len;
	void (*quit)(void);	/* Ctrl-A x */
} console = { .fd = -1, .stop_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static bool console_drain(void);

/* Guest output first, so a terminal shows events in the order seen. */
static void msg(const char *fmt, ...)
{
	va_list ap;

	console_drain();
	fflush(stdout);
	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void usage(FILE *out)
{
	fprintf(out,
"usage: axvm info\n"
"       axvm run --image FILE [--load GPA] [--entry GPA] [--mem SIZE]\n"
"                [--mode real|protected|long]\n"
"                [--passthrough GPA:HPA:SIZE]... [--reserved GPA:HPA:SIZE]...\n"
"                [--cpus N] [--pin CPU,CPU,...] [-v]\n"
"       axvm run --kernel BZIMAGE [--initrd FILE] [--cmdline STR] [--mem SIZE]\n"
"                [--cpus N] [--pin CPU,CPU,...] [--reboot=exit|restart] [-v]\n"
"       axvm run --multiboot FILE [--append STR] [--initrd FILE] [--mem SIZE]\n"
"                [--cpus N] [--pin CPU,CPU,...] [-v]\n"
"       axvm help\n"
"\n"
"info    print the backend, API version, features and limits of /dev/axvm\n"
"run     run a raw binary image on one vCPU (or --cpus N), boot Linux, or\n"
"        boot a Multiboot OS image\n"
"\n"
"run options:\n"
"  -i, --image FILE   raw image to load (required)\n"
"  -l, --load GPA     guest physical address of the image (default 0x100000)\n"
"  -e, --entry GPA    where the vCPU starts (default: the load address)\n"
"  -m, --mem SIZE     guest RAM [0, SIZE), a multiple of 4K (default 16M)\n"
"  -M, --mode MODE    real, protected or long (default long)\n"
"  -p, --passthrough GPA:HPA:SIZE\n"
"                     give the guest host MMIO [HPA, +SIZE) at GPA, uncached\n"
"                     (repeatable; needs CAP_SYS_RAWIO; never RAM)\n"
"  -r, --reserved GPA:HPA:SIZE\n"
"                     map RAM carved out at boot (memmap=SIZE$HPA) at GPA,\n"
"                     write-back (repeatable; needs CAP_SYS_RAWIO)\n"
"  -c, --cpus N       N vCPUs (default 1, at most 64), each in its own thread,\n"
"                     all starting at --entry with their vCPU id in RDI and\n"
"                     the stack 64 KiB lower per vCPU; they share COM1,\n"
"                     so their output interleaves byte by byte; the exit\n"
"                     status is the\n"
"                     first non-zero vCPU status by id (a non-zero one stops\n"
"                     the other vCPUs)\n"
"  -P, --pin LIST     comma-separated host CPUs, one per vCPU: vCPU i is\n"
"                     created with AXVM_VCPU_AFFINITY {LIST[i]} and phys_id i\n"
"                     (its APIC id) and its thread pinned there; LIST must\n"
"                     name at least N CPUs (extra ones are ignored)\n"
"  -v, --verbose      at the end, print the exit statistics (AXVM_GET_STATS)\n"
"                     and, in Linux mode, the legacy port and MMIO counts\n"
"  -h, --help         this text\n"
"Numbers are decimal or 0x-hex, with an optional K, M, G or T suffix.\n"
"\n"
"CPU state at entry (stack pointer at the top of RAM):\n"
"  real       CS:IP = (entry >> 4 & 0xf000):(rest); stack below 1 MiB\n"
"  protected  flat 32-bit segments, no paging, GDT at 0x1000\n"
"  long       64-bit, RAM identity-mapped with 2 MiB pages (up to 4 GiB),\n"
"             GDT at 0x1000, page tables from 0x2000\n"
"  The image must not overlap [0x1000, 0x1020) (protected, long) or the\n"
"  page tables (long: 0x2000 + 4 KiB * (2 + GiB mapped)).\n"
"\n"
"Guest devices:\n"
"  port 0x3f8   COM1: axvm.ko's in-kernel 16550A UART (ports 0x3f8-0x3ff,\n"
"               no interrupt); the guest's accesses cost no exit to\n"
"               userspace; what it transmits is copied to stdout; input\n"
"               is not connected\n"
"  port 0xf4    exit port: OUT of value V ends the run with status V & 0xff\n"
"  VMMCALL      RAX = 0: ends the run with status RBX & 0xff;\n"
"               any other RAX: returns -ENOSYS in RAX\n"
"  HLT          ends the run: \"guest halted\", status 0\n"
"\n"
"Exit status:\n"
"  0-255  the guest's exit port value / hypercall 0 status (0 after HLT)\n"
"  1      host error: no /dev/axvm, an ioctl failed\n"
"  2      usage error or refused input; or a guest exit axvm cannot handle\n"
"         (MMIO, unknown port, FAIL_ENTRY, INTERNAL_ERROR; details on stderr)\n"
"  3      the guest triple-faulted (SHUTDOWN exit)\n"
"  130    SIGINT, 143 SIGTERM\n"
"\n"
"Linux mode (--kernel; not with --image, --load, --entry, --mode,\n"
"--passthrough, --reserved):\n"
"  -k, --kernel FILE  a bzImage (x86 boot protocol 2.12+, 64-bit entry)\n"
"  -I, --initrd FILE  initramfs, loaded at the top of RAM\n"
"  -C, --cmdline STR  kernel command line (default\n"
"                     \"" DEFAULT_CMDLINE "\")\n"
"  -m, --mem SIZE     RAM, at most 3G (default 256M)\n"
"  -c, --cpus N       N vCPUs: vCPU 0 boots, the others wait for its SIPI\n"
"  --reboot=exit      a guest reboot ends the run with status 4 (default)\n"
"  --reboot=restart   a guest reboot boots the same kernel again\n"
"  The platform: RAM from 0 (e820 map, MP table), the in-kernel I/O APIC,\n"
"  local APICs, kvmclock and COM1 UART (IRQ 4); stdin is the guest's\n"
"  ttyS0 input (a terminal is put in raw mode; Ctrl-A x quits, Ctrl-A\n"
"  Ctrl-A sends Ctrl-A); i8042, CMOS, PIT and PIC ports are answered by\n"
"  the launcher; other ports and MMIO read all-ones.\n"
"  Exit status: 0 the guest powered off or halted, 4 it rebooted,\n"
"  5 Ctrl-A x, 3 triple fault, 1, 2, 130, 143 as above.\n"
"\n"
"Multiboot mode (--multiboot; not with --image, --kernel and their options):\n"
"  -b, --multiboot FILE  a Multiboot (v1) OS image: ELF32, or with the load\n"
"                     addresses in its Multiboot header (flags bit 16);\n"
"                     kvm-unit-tests' x86/*.flat are such images\n"
"  -a, --append STR   the command line after the image's path: the guest\n"
"                     gets \"FILE STR\" (as from GRUB and QEMU -kernel)\n"
"  -I, --initrd FILE  module 0 (its string: FILE), page-aligned after the image\n"
"  -m, --mem SIZE     RAM, 2M to 3G (default 128M)\n"
"  -c, --cpus N       N vCPUs: vCPU 0 boots, the others wait for its SIPI\n"
"  vCPU 0 starts in 32-bit protected mode, paging off, EAX 0x2badb002,\n"
"  EBX the Multiboot information (memory map, command line, modules).\n"
"  The platform: Linux mode's (APICs, UART on IRQ 4, legacy ports, MP\n"
"  table), plus QEMU pc devices kvm-unit-tests uses: isa-debug-exit at\n"
"  0xf4-0xf7 (OUT of V ends the run with status (V << 1) | 1), fw_cfg at\n"
"  0x510/0x511 (RAM size, CPU count), pc-testdev's interrupt lines at\n"
"  0x2000-0x2017 (OUT of 0/1 to 0x2000 + n sets I/O APIC pin n).\n"
"  Exit status: (V << 1) | 1 & 0xff from port 0xf4; 0 vCPU 0 halted with\n"
"  interrupts off; 4 reset through the i8042; 1, 2, 3, 5, 130, 143 as above\n"
"  (1 and 3 also come from the guest: stderr says which).\n"
"\n"
"Examples (the demo guests of userspace/demo/):\n"
"  axvm run --image hello-long.bin --load 0x100000 --mem 16M\n"
"  axvm run --image hello-protected.bin --load 0x100000 --mode protected\n"
"  axvm run --image hello-real.bin --load 0x10000 --mem 1M --mode real\n"
"  axvm run --kernel /boot/vmlinuz --initrd initrd.gz --cpus 2\n"
"  axvm run --multiboot x86/smptest.flat --cpus 2   (kvm-unit-tests)\n");
}

/* ------------------------------------------------------------------ */
/* axvm info                                                           */
/* ------------------------------------------------------------------ */

static void print_features(uint64_t features)
{
	unsigned int bit;

	printf("%-16s", "features:");
	if (!features)
		printf(" none");
	for (bit = 0; bit < 64; bit++) {
		uint64_t feature = 1ULL << bit;

		if (!(features & feature))
			continue;
		if (strcmp(axvm_feature_name(feature), "unknown"))
			printf(" %s", axvm_feature_name(feature));
		else
			printf(" unknown(bit %u)", bit);
	}
	printf("\n");
}

static void print_caps(int api_version, const struct axvm_caps *caps)
{
	printf("%-16s %s\n", "backend:", axvm_backend_name(caps->backend));
	printf("%-16s %d\n", "api version:", api_version);
	print_features(caps->features);
	printf("%-16s %u\n", "max vcpus:", caps->max_vcpus);
	printf("%-16s %u\n", "max regions:", caps->max_mem_regions);
	printf("%-16s %u\n", "gpa bits:", caps->gpa_bits);
	printf("%-16s %u\n", "npt levels:", caps->npt_levels);
	printf("%-16s %u\n", "asids:", caps->nr_asids);
	printf("%-16s %u\n", "run size:", caps->run_size);
}

/* Says what to do when /dev/axvm is missing, the usual first error. */
static void report_open_error(int err)
{
	if (err == -ENOENT)
		msg("%s: no such device; is axvm.ko loaded?", AXVM_DEV_PATH);
	else
		msg("%s: %s", AXVM_DEV_PATH, strerror(-err));
}

static int open_axvm(void)
{
	int fd = axvm_open();

	if (fd < 0)
		report_open_error(fd);
	return fd;
}

/* The library would work with a newer module too, but an API version
 * this launcher does not know means the ioctls may mean other things. */
static int check_api_version(int sys_fd)
{
	int version = axvm_get_api_version(sys_fd);

	if (version < 0) {
		msg("AXVM_GET_API_VERSION: %s", strerror(-version));
		return version;
	}
	if (version != AXVM_API_VERSION) {
		msg("module API version %d, launcher built for %d", version,
		    AXVM_API_VERSION);
		return -EPROTO;
	}
	return version;
}

static int cmd_info(int argc, char **argv)
{
	struct axvm_caps caps;
	int sys_fd, version, ret;

	if (argc > 1) {
		if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
			usage(stdout);
			return 0;
		}
		msg("info: unexpected argument '%s'", argv[1]);
		return EXIT_USAGE;
	}

	sys_fd = open_axvm();
	if (sys_fd < 0)
		return EXIT_HOST_ERROR;
	version = check_api_version(sys_fd);
	ret = version < 0 ? version : axvm_get_caps(sys_fd, &caps);
	if (version >= 0 && ret < 0)
		msg("AXVM_GET_CAPS: %s", strerror(-ret));
	close(sys_fd);
	if (ret < 0)
		return EXIT_HOST_ERROR;

	print_caps(version, &caps);
	return 0;
}

/* ------------------------------------------------------------------ */
/* axvm run: options                                                   */
/* ------------------------------------------------------------------ */

/* Returns 0, or EXIT_USAGE after saying what is wrong. */
static int parse_number(const char *flag, const char *arg, uint64_t *out)
{
	int ret = axvm_parse_size(arg, out);

	if (ret == -ERANGE)
		msg("%s '%s': too large", flag, arg);
	else if (ret)
		msg("%s '%s': not a number (decimal or 0x-hex, optional K/M/G/T)",
		    flag, arg);
	return ret ? EXIT_USAGE : 0;
}

static int parse_mem(const char *arg, uint64_t *mem)
{
	if (parse_number("--mem", arg, mem))
		return EXIT_USAGE;
	if (*mem == 0 || *mem % AXVM_PAGE_SIZE) {
		msg("--mem '%s': must be a non-zero multiple of 4 KiB", arg);
		return EXIT_USAGE;
	}
	return 0;
}

static int parse_mode(const char *arg, enum axvm_cpu_mode *mode)
{
	if (axvm_parse_mode(arg, mode)) {
		msg("--mode '%s': expected real, protected or long", arg);
		return EXIT_USAGE;
	}
	return 0;
}

/* GPA:HPA:SIZE, each a number as parse_number() takes it. */
static int parse_pt_range(const char *flag, const char *arg,
			  struct run_options *o, uint32_t flags)
{
	char buf[3][64];
	struct pt_range *r;
	const char *p = arg;
	int i;

	if (o->nr_pt == MAX_PT_RANGES) {
		msg("%s: at most %d ranges", flag, MAX_PT_RANGES);
		return EXIT_USAGE;
	}
	for (i = 0; i < 3; i++) {
		size_t n = strcspn(p, ":");

		if (n == 0 || n >= sizeof(buf[i]) || (i < 2 && p[n] != ':') ||
		    (i == 2 && p[n])) {
			msg("%s '%s': expected GPA:HPA:SIZE", flag, arg);
			return EXIT_USAGE;
		}
		memcpy(buf[i], p, n);
		buf[i][n] = 0;
		p += n + 1;
	}
	r = &o->pt[o->nr_pt];
	if (parse_number(flag, buf[0], &r->gpa) ||
	    parse_number(flag, buf[1], &r->hpa) ||
	    parse_number(flag, buf[2], &r->len))
		return EXIT_USAGE;
	if (!r->len) {
		msg("%s '%s': SIZE must not be 0", flag, arg);
		return EXIT_USAGE;
	}
	r->flags = flags;
	r->flag = flag;
	o->nr_pt++;
	return 0;
}

static int parse_cpus(const char *arg, struct run_options *o)
{
	uint64_t n;

	if (parse_number("--cpus", arg, &n))
		return EXIT_USAGE;
	if (n < 1 || n > MAX_CPUS) {
		msg("--cpus '%s': must be 1 to %d", arg, MAX_CPUS);
		return EXIT_USAGE;
	}
	o->cpus = (unsigned int)n;
	return 0;
}

/* --pin LIST: comma-separated host CPU numbers, vCPU 0 first. */
static int parse_pin(const char *arg, struct run_options *o)
{
	const char *p = arg;

	o->nr_pin = 0;
	for (;;) {
		char *end;
		unsigned long cpu;

		if (*p < '0' || *p > '9')
			break;
		errno = 0;
		cpu = strtoul(p, &end, 10);
		if (errno || cpu >= AXVM_MAX_HOST_CPUS || o->nr_pin == MAX_CPUS)
			break;
		o->pin[o->nr_pin++] = (int)cpu;
		p = end;
		if (!*p)
			return 0;
		if (*p++ != ',')
			break;
	}
	msg("--pin '%s': expected a comma-separated list of at most %d host CPUs (0-%d)",
	    arg, MAX_CPUS, AXVM_MAX_HOST_CPUS - 1);
	return EXIT_USAGE;
}

static int parse_reboot(const char *arg, struct run_options *o)
{
	if (!strcmp(arg, "exit") || !strcmp(arg, "restart")) {
		o->reboot_restart = arg[0] == 'r';
		return 0;
	}
	msg("--reboot '%s': expected exit or restart", arg);
	return EXIT_USAGE;
}

static int parse_linux_option(int opt, const char *arg, struct run_options *o)
{
	switch (opt) {
	case 'k':
		o->kernel = arg;
		return 0;
	case 'I':
		o->initrd = arg;
		return 0;
	case 'C':
		o->cmdline = arg;
		return 0;
	case 'R':
		return parse_reboot(arg, o);
	case 'b':
		o->multiboot = arg;
		return 0;
	case 'a':
		o->append = arg;
		return 0;
	case 'v':
		o->verbose = true;
		return 0;
	}
	return EXIT_USAGE;
}

static int parse_one_option(int opt, const char *arg, struct run_options *o)
{
	switch (opt) {
	case 'c':
		return parse_cpus(arg, o);
	case 'P':
		return parse_pin(arg, o);
	case 'p':
		return parse_pt_range("--passthrough", arg, o, 0);
	case 'r':
		return parse_pt_range("--reserved", arg, o,
				      AXVM_PT_RESERVED_MEM);
	case 'i':
		o->image = arg;
		return 0;
	case 'l':
		o->image_opts = true;
		return parse_number("--load", arg, &o->load);
	case 'e':
		o->entry_given = o->image_opts = true;
		return parse_number("--entry", arg, &o->entry);
	case 'm':
		o->mem_given = true;
		return parse_mem(arg, &o->mem);
	case 'M':
		o->image_opts = true;
		return parse_mode(arg, &o->mode);
	}
	return parse_linux_option(opt, arg, o);
}

/* --multiboot: no raw-image or Linux-only option. */
static int check_multiboot_options(struct run_options *o)
{
	if (o->image || o->kernel || o->image_opts || o->nr_pt) {
		msg("run: --multiboot boots a Multiboot image; --image, --kernel, --load, --entry, --mode, --passthrough and --reserved do not go with it");
		return EXIT_USAGE;
	}
	if (o->cmdline || o->reboot_restart) {
		msg("run: --cmdline and --reboot go with --kernel; a Multiboot image's command line is its path and --append");
		return EXIT_USAGE;
	}
	if (!o->mem_given)
		o->mem = DEFAULT_MULTIBOOT_MEM;
	return 0;
}

/*
 * --image, --kernel and --multiboot exclude each other and each other's
 * options.
 */
static int check_mode_options(struct run_options *o)
{
	if (o->multiboot)
		return check_multiboot_options(o);
	if (!o->kernel) {
		if (!o->image) {
			msg("run: --image FILE, --kernel FILE or --multiboot FILE is required (see axvm --help)");
			return EXIT_USAGE;
		}
		if (o->initrd || o->cmdline || o->reboot_restart || o->append) {
			msg("run: --initrd, --cmdline and --reboot need --kernel (--initrd and --append: or --multiboot)");
			return EXIT_USAGE;
		}
		return 0;
	}
	if (o->image || o->image_opts || o->nr_pt) {
		msg("run: --kernel boots Linux; --image, --load, --entry, --mode, --passthrough and --reserved do not go with it");
		return EXIT_USAGE;
	}
	if (o->append) {
		msg("run: --append goes with --multiboot; --kernel takes the whole command line in --cmdline");
		return EXIT_USAGE;
	}
	if (!o->mem_given)
		o->mem = DEFAULT_LINUX_MEM;
	if (!o->cmdline)
		o->cmdline = DEFAULT_CMDLINE;
	return 0;
}

/* parse_run_options() result when --help was printed: exit 0. */
#define HELP_SHOWN	(-1)

/* Returns 0, EXIT_USAGE after a message, or HELP_SHOWN. */
static int parse_run_options(int argc, char **argv, struct run_options *o)
{
	static const struct option longopts[] = {
		{ "image", required_argument, NULL, 'i' },
		{ "load",  required_argument, NULL, 'l' },
		{ "entry", required_argument, NULL, 'e' },
		{ "mem",   required_argument, NULL, 'm' },
		{ "mode",  required_argument, NULL, 'M' },
		{ "passthrough", required_argument, NULL, 'p' },
		{ "reserved", required_argument, NULL, 'r' },
		{ "cpus",  required_argument, NULL, 'c' },
		{ "pin",   required_argument, NULL, 'P' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'I' },
		{ "cmdline", required_argument, NULL, 'C' },
		{ "reboot", required_argument, NULL, 'R' },
		{ "multiboot", required_argument, NULL, 'b' },
		{ "append", required_argument, NULL, 'a' },
		{ "verbose", no_argument,     NULL, 'v' },
		{ "help",  no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, ret;

	*o = (struct run_options){
		.load = DEFAULT_LOAD, .mem = DEFAULT_MEM, .mode = AXVM_MODE_LONG,
		.cpus = 1,
	};
	opterr = 0;	/* our own messages, naming the flag */
	while ((opt = getopt_long(argc, argv, ":i:l:e:m:M:p:r:c:P:k:I:C:b:a:vh", longopts,
				  NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			return HELP_SHOWN;
		}
		if (opt == ':') {
			msg("run: %s needs a value", argv[optind - 1]);
			return EXIT_USAGE;
		}
		if (opt == '?') {
			msg("run: unknown option '%s' (see axvm --help)",
			    argv[optind - 1]);
			return EXIT_USAGE;
		}
		ret = parse_one_option(opt, optarg, o);
		if (ret)
			return ret;
	}
	if (optind < argc) {
		msg("run: unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	ret = check_mode_options(o);
	if (ret)
		return ret;
	if (o->nr_pin && o->nr_pin < o->cpus) {
		msg("run: --pin names %u host CPUs, --cpus %u needs one per vCPU",
		    o->nr_pin, o->cpus);
		return EXIT_USAGE;
	}
	if (!o->entry_given)
		o->entry = o->load;
	return 0;
}

/* ------------------------------------------------------------------ */
/* axvm run: checking the guest layout before creating anything        */
/* ------------------------------------------------------------------ */

/* Long mode maps all RAM, rounded up to 2 MiB, up to 4 GiB. */
static uint64_t identity_map_size(uint64_t mem)
{
	uint64_t rounded = (mem + SIZE_2M - 1) & ~(SIZE_2M - 1);

	return rounded < SIZE_4G ? rounded : SIZE_4G;
}

/* Highest address the initial stack pointer can hold in this mode. */
static uint64_t stack_top(const struct run_options *o)
{
	uint64_t limit = SIZE_4G;

	if (o->mode == AXVM_MODE_REAL)
		limit = AXVM_X86_REAL_MODE_LIMIT;
	return o->mem < limit ? o->mem : limit;
}

static bool overlaps(uint64_t a, uint64_t a_len, uint64_t b, uint64_t b_len)
{
	return a < b + b_len && b < a + a_len;
}

/* The bytes the mode setup writes into guest memory: [*start, *end). */
static void setup_footprint(const struct run_options *o,
			    const struct axvm_x86_layout *layout,
			    uint64_t *start, uint64_t *end)
{
	*start = *end = 0;
	if (o->mode == AXVM_MODE_REAL)
		return;
	*start = layout->gdt_gpa;
	*end = layout->gdt_gpa + AXVM_X86_GDT_SIZE;
	if (o->mode == AXVM_MODE_LONG)
		*end = layout->pml4_gpa + axvm_x86_page_tables_size(layout);
}

static int check_entry(const struct run_options *o, uint64_t map_size)
{
	const char *mode = axvm_mode_name(o->mode);

	if (o->entry >= o->mem) {
		msg("--entry 0x%" PRIx64 " is outside guest memory (--mem 0x%"
		    PRIx64 ")", o->entry, o->mem);
		return EXIT_USAGE;
	}
	if ((o->mode == AXVM_MODE_REAL && o->entry >= AXVM_X86_REAL_MODE_LIMIT) ||
	    (o->mode == AXVM_MODE_PROTECTED && o->entry >= SIZE_4G) ||
	    (o->mode == AXVM_MODE_LONG && o->entry >= map_size)) {
		msg("--entry 0x%" PRIx64 " is not reachable in %s mode", o->entry,
		    mode);
		return EXIT_USAGE;
	}
	return 0;
}

static int check_layout(const struct run_options *o, uint64_t image_size,
			const struct axvm_x86_layout *layout)
{
	uint64_t setup_start, setup_end;

	if (image_size > o->mem || o->load > o->mem - image_size) {
		msg("image %s (%" PRIu64 " bytes) at 0x%" PRIx64
		    " does not fit in guest memory [0, 0x%" PRIx64 ")",
		    o->image, image_size, o->load, o->mem);
		return EXIT_USAGE;
	}
	setup_footprint(o, layout, &setup_start, &setup_end);
	if (setup_end > 0 && setup_end >= stack_top(o)) {
		msg("--mem 0x%" PRIx64 " too small: %s mode uses [0x%" PRIx64
		    ", 0x%" PRIx64 ") and needs a stack above it", o->mem,
		    axvm_mode_name(o->mode), setup_start, setup_end);
		return EXIT_USAGE;
	}
	if (overlaps(o->load, image_size, setup_start,
		     setup_end - setup_start)) {
		msg("image at [0x%" PRIx64 ", 0x%" PRIx64 ") overlaps the GDT/"
		    "page tables of %s mode at [0x%" PRIx64 ", 0x%" PRIx64 ")",
		    o->load, o->load + image_size, axvm_mode_name(o->mode),
		    setup_start, setup_end);
		return EXIT_USAGE;
	}
	return check_entry(o, layout->identity_map_size);
}

/* Opens the image and gets its size; EXIT_USAGE if it is unusable. */
static int open_image(const char *path, int *fd, uint64_t *size)
{
	struct stat st;

	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		msg("--image %s: %s", path, strerror(errno));
		return EXIT_USAGE;
	}
	if (fstat(*fd, &st) || !S_ISREG(st.st_mode) || st.st_size == 0) {
		msg("--image %s: not a non-empty regular file", path);
		close(*fd);
		*fd = -1;
		return EXIT_USAGE;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

/* Copies the image through the mmap() of guest RAM. */
static int load_image(int fd, const char *path, uint64_t size, void *dest)
{
	uint64_t done = 0;

	while (done < size) {
		ssize_t n = read(fd, (char *)dest + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			msg("--image %s: %s", path,
			    n < 0 ? strerror(errno) : "file shrank while read");
			return -EIO;
		}
		done += (uint64_t)n;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* axvm run: guest exits                                               */
/* ------------------------------------------------------------------ */

static void dump_registers(struct axvm_vcpu *vcpu)
{
	struct axvm_sregs sregs;
	struct axvm_regs regs;
	int ret;

	ret = axvm_vcpu_get_regs(vcpu, &regs);
	if (!ret)
		ret = axvm_vcpu_get_sregs(vcpu, &sregs);
	if (ret) {
		msg("cannot read guest registers: %s", strerror(-ret));
		return;
	}
	msg("  rip 0x%llx  rsp 0x%llx  rax 0x%llx"
	    "  rflags 0x%llx", regs.rip, regs.rsp, regs.rax, regs.rflags);
	msg("  cs 0x%x (base 0x%llx attrib 0x%x)  cr0 0x%llx"
	    "  cr3 0x%llx  cr4 0x%llx  efer 0x%llx",
	    sregs.cs.selector, sregs.cs.base, sregs.cs.attrib, sregs.cr0,
	    sregs.cr3, sregs.cr4, sregs.efer);
}

static void describe_exit(const struct axvm_run *run)
{
	uint32_t i;

	switch (run->exit_reason) {
	case AXVM_EXIT_IO:
		msg("  port 0x%x %s width %u data 0x%llx", run->io.port,
		    run->io.direction == AXVM_IO_OUT ? "out" : "in",
		    run->io.width, run->io.data);
		break;
	case AXVM_EXIT_MMIO:
		msg("  gpa 0x%llx %s width %u data 0x%llx",
		    run->mmio.gpa, run->mmio.is_write ? "write" : "read",
		    run->mmio.width, run->mmio.data);
		break;
	case AXVM_EXIT_FAIL_ENTRY:
		msg("  hw_reason 0x%llx info1 0x%llx",
		    run->fail_entry.hw_reason, run->fail_entry.info1);
		break;
	case AXVM_EXIT_INTERNAL_ERROR:
		msg("  suberror %u (%s), %u data words",
		    run->internal.suberror,
		    axvm_internal_error_name(run->internal.suberror),
		    run->internal.ndata);
		for (i = 0; i < run->internal.ndata && i < 8; i++)
			msg("  data[%u] 0x%llx", i, run->internal.data[i]);
		break;
	case AXVM_EXIT_SHUTDOWN:
	case AXVM_EXIT_HLT:
		msg("  guest rip 0x%llx", run->guest.rip);
		break;
	}
}

/* Every exit the launcher does not handle ends here. */
static int stop_on_vcpu_exit(struct axvm_vcpu *v, const char *why,
			     int status)
{
	struct axvm_run *run = v->run;

	msg("%s: exit %s (%u) after %llu exits", why,
	    axvm_exit_name(run->exit_reason), run->exit_reason,
	    run->exit_count);
	describe_exit(run);
	dump_registers(v);
	return status;
}

static int stop_on_exit(struct guest *g, const char *why, int status)
{
	return stop_on_vcpu_exit(&g->vcpu, why, status);
}

static int handle_io(struct guest *g)
{
	struct axvm_run *run = g->vcpu.run;
	uint16_t port = run->io.port;

	/* COM1 accesses never get here: the in-kernel UART takes them. */
	if (port == EXIT_PORT && run->io.direction == AXVM_IO_OUT)
		return (int)(run->io.data & 0xff);
	return stop_on_exit(g, "unhandled port I/O", EXIT_GUEST_ERROR);
}

static int handle_hypercall(struct guest *g)
{
	struct axvm_run *run = g->vcpu.run;

	if (run->hypercall.nr == HYPERCALL_EXIT)
		return (int)(run->hypercall.args[0] & 0xff);
	run->hypercall.ret = (uint64_t)-ENOSYS;
	return KEEP_RUNNING;
}

/* KEEP_RUNNING, or the launcher's exit status. */
static int handle_exit(struct guest *g)
{
	struct axvm_run *run = g->vcpu.run;

	switch (run->exit_reason) {
	case AXVM_EXIT_IO:
		return handle_io(g);
	case AXVM_EXIT_HYPERCALL:
		return handle_hypercall(g);
	case AXVM_EXIT_HLT:
		msg("guest halted at rip 0x%llx", run->guest.rip);
		return 0;
	case AXVM_EXIT_INTR:
		return KEEP_RUNNING;	/* a signal we do not stop for */
	case AXVM_EXIT_SHUTDOWN:
		return stop_on_exit(g, "guest triple fault", EXIT_TRIPLE_FAULT);
	case AXVM_EXIT_STOPPED:
		return 0;	/* --cpus: another vCPU ended the run */
	}
	return stop_on_exit(g, "unhandled guest exit", EXIT_GUEST_ERROR);
}

static int signal_status(void)
{
	msg("stopped by %s", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
	return EXIT_SIGNAL_BASE + stop_signal;
}

/*
 * A signal arriving between the stop_signal check and AXVM_RUN is only
 * seen at the next exit (the ABI has no signal mask for RUN); a second
 * Ctrl-C then interrupts RUN itself.
 */
static int run_vcpu(struct guest *g)
{
	int ret, status;

	for (;;) {
		if (stop_signal)
			return signal_status();
		ret = axvm_vcpu_run(&g->vcpu);
		if (stop_signal)
			return signal_status();
		if (ret == -EINTR)
			continue;
		/* --cpus: another vCPU stopped the VM while this one was
		 * out of AXVM_RUN; like AXVM_EXIT_STOPPED. */
		if (ret == -ESHUTDOWN)
			return 0;
		if (ret) {
			msg("AXVM_RUN: %s", strerror(-ret));
			dump_registers(&g->vcpu);
			return EXIT_HOST_ERROR;
		}
		status = handle_exit(g);
		if (status != KEEP_RUNNING)
			return status;
	}
}

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

/* No SA_RESTART: the signal must make AXVM_RUN return -EINTR. */
static void install_signal_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* ------------------------------------------------------------------ */
/* axvm run: building the VM                                           */
/* ------------------------------------------------------------------ */

/* Logs which step failed; returns EXIT_HOST_ERROR for convenience. */
static int host_error(const char *step, int err)
{
	msg("%s: %s", step, strerror(-err));
	return EXIT_HOST_ERROR;
}

/* ------------------------------------------------------------------ */
/* axvm run: the console (the in-kernel UART's fd)                     */
/* ------------------------------------------------------------------ */

/* Writes all of buf to stdout; a stdout that fails loses the output. */
static void console_write(const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(STDOUT_FILENO, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/*
 * Copies everything the UART holds now to stdout: non-blocking reads
 * until EAGAIN. Returns true at EOF (the VM is gone and the fd empty)
 * or on a read error, when there is nothing more to wait for.
 */
static bool console_drain(void)
{
	char buf[4096];
	bool done = false;

	if (console.fd < 0)
		return true;
	pthread_mutex_lock(&console.lock);
	for (;;) {
		ssize_t n = read(console.fd, buf, sizeof(buf));

		if (n > 0) {
			console_write(buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		done = n == 0 || errno != EAGAIN;
		break;
	}
	pthread_mutex_unlock(&console.lock);
	return done;
}

/* QEMU's escape character, Ctrl-A, and what may follow it. */
#define ESCAPE_CHAR		0x01
#define ESCAPE_QUIT		'x'
#define ESCAPE_HELP		'h'

static void console_escape_help(void)
{
	msg("Ctrl-A x: quit (status 5); Ctrl-A Ctrl-A: send Ctrl-A; Ctrl-A h: this help");
}

/*
 * Turns what stdin gave into bytes for the guest: on a terminal,
 * Ctrl-A starts an escape (the byte after it is a command, as in QEMU;
 * unknown ones are dropped). Returns the bytes left in `buf`.
 */
static size_t console_escapes(char *buf, size_t len)
{
	size_t in, out = 0;

	for (in = 0; in < len; in++) {
		char c = buf[in];

		if (!console.got_escape) {
			if (c == ESCAPE_CHAR)
				console.got_escape = true;
			else
				buf[out++] = c;
			continue;
		}
		console.got_escape = false;
		if (c == ESCAPE_CHAR)
			buf[out++] = c;
		else if (c == ESCAPE_QUIT && console.quit)
			console.quit();
		else if (c == ESCAPE_HELP || c == '?')
			console_escape_help();
	}
	return out;
}

/* Reads what stdin has (POLLIN said so); EOF ends the input only. */
static void console_read_stdin(void)
{
	ssize_t n = read(STDIN_FILENO, console.pending,
			 sizeof(console.pending));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		console.stdin_done = true;
		return;
	}
	console.pending_off = 0;
	console.pending_len = console.escapes ?
			      console_escapes(console.pending, (size_t)n) :
			      (size_t)n;
}

/* Writes what fits into the UART's input; the rest waits for POLLOUT. */
static void console_feed_uart(void)
{
	ssize_t n = write(console.fd, console.pending + console.pending_off,
			  console.pending_len - console.pending_off);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n < 0) {		/* EPIPE: the VM is gone; drop the input */
		console.pending_len = console.pending_off = 0;
		console.stdin_done = true;
		return;
	}
	console.pending_off += (size_t)n;
	if (console.pending_off == console.pending_len)
		console.pending_len = console.pending_off = 0;
}

/* Copies output as it arrives, and input, until console_stop(). */
static void *console_thread_fn(void *arg)
{
	struct pollfd pfd[3] = {
		{ .fd = console.fd, .events = POLLIN },
		{ .fd = console.stop_fd, .events = POLLIN },
		{ .fd = STDIN_FILENO },
	};

	(void)arg;
	for (;;) {
		bool pending = console.pending_len != 0;

		pfd[0].events = POLLIN | (pending ? POLLOUT : 0);
		pfd[2].fd = console.input && !console.stdin_done && !pending ?
			    STDIN_FILENO : -1;
		pfd[2].events = POLLIN;
		if (poll(pfd, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if ((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    console_drain())
			break;
		if (pfd[1].revents)
			break;
		if (pending && (pfd[0].revents & POLLOUT))
			console_feed_uart();
		if (pfd[2].revents) {
			console_read_stdin();
			if (console.pending_len)
				console_feed_uart();
		}
	}
	return NULL;
}

/* Starts the console thread, with SIGINT/SIGTERM blocked in it so that
 * they interrupt the vCPU threads' AXVM_RUN instead. */
static int console_start(void)
{
	sigset_t block, old;
	int e;

	console.stop_fd = eventfd(0, EFD_CLOEXEC);
	if (console.stop_fd < 0)
		return host_error("eventfd for the console", -errno);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	e = pthread_create(&console.thread, NULL, console_thread_fn, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e)
		return host_error("starting the console thread", -e);
	console.running = true;
	return 0;
}

/* Ends the console thread and copies what is left: after the vCPUs
 * stopped, so every byte the guest sent is already in the fd. */
static void console_stop(void)
{
	uint64_t one = 1;

	if (console.running) {
		if (write(console.stop_fd, &one, sizeof(one)) < 0)
			msg("stopping the console thread: %s", strerror(errno));
		pthread_join(console.thread, NULL);
		console.running = false;
	}
	console_drain();
}

static void console_close(void)
{
	if (console.stop_fd >= 0)
		close(console.stop_fd);
	if (console.fd >= 0)
		close(console.fd);
	console.stop_fd = console.fd = -1;
}

/*
 * COM1: the in-kernel 16550 UART at 0x3f8 (8 ports), added in LOADING;
 * no interrupt for raw images, ISA IRQ 4 (I/O APIC pin 4, as the MP
 * table says) for Linux. Without it (a module before AXVM_ADD_DEVICE)
 * the guest would have no console, so that is a host error.
 */
static int add_console(struct guest *g, bool irq_line)
{
	int fd = -1;
	int ret = axvm_vm_add_device_flags(&g->vm, AXVM_DEV_UART16550,
					   AXVM_DEV_SPACE_PIO, COM1_BASE, 0,
					   irq_line ? COM1_IRQ : 0,
					   irq_line ? AXVM_DEVICE_IRQ_LINE : 0,
					   &fd);

	if (!ret && fd < 0)
		ret = -EPROTO;		/* a UART always comes with its fd */
	if (ret) {
		msg("AXVM_ADD_DEVICE: cannot add the console UART at port 0x%x: %s%s",
		    COM1_BASE, strerror(-ret),
		    ret == -ENOTTY || ret == -EOPNOTSUPP ?
		    " (axvm.ko too old? it needs AXVM_FEATURE_DEVICES)" : "");
		return EXIT_HOST_ERROR;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		int err = -errno;

		close(fd);
		return host_error("O_NONBLOCK on the console UART", err);
	}
	console.fd = fd;
	return 0;
}

static struct axvm_vcpu *guest_vcpu(struct guest *g, unsigned int i)
{
	return i ? &g->more[i - 1] : &g->vcpu;
}

/* With --pin: AXVM_VCPU_AFFINITY, mask {pin[i]}, phys_id i. */
static int create_vcpu(struct guest *g, const struct run_options *o,
		       unsigned int i)
{
	struct axvm_vcpu *v = guest_vcpu(g, i);
	struct axvm_create_vcpu c;
	struct axvm_caps caps;
	void *run;
	int fd, ret;

	if (!o->nr_pin)
		return axvm_vcpu_create(&g->vm, i, v);
	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.flags = AXVM_VCPU_AFFINITY;
	c.vcpu_id = i;
	c.phys_id = i;
	c.cpu_mask[o->pin[i] / 64] = 1ULL << (o->pin[i] % 64);
	fd = ioctl(g->vm.fd, AXVM_CREATE_VCPU, &c);
	if (fd < 0)
		return -errno;
	v->fd = fd;
	v->id = i;
	ret = axvm_get_caps(g->vm.sys_fd, &caps);
	if (ret)
		return ret;
	run = mmap(NULL, caps.run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fd, 0);
	if (run == MAP_FAILED)
		return -errno;
	v->run = run;
	v->run_size = caps.run_size;
	return 0;
}

/* The VM with its RAM at GPA 0 (--mem bytes, mapped here too). */
static int create_vm(struct guest *g, const struct run_options *o)
{
	int ret;

	ret = axvm_vm_create(&g->vm);
	if (ret == -ENOENT || ret == -EACCES) {	/* from open() */
		report_open_error(ret);
		return EXIT_HOST_ERROR;
	}
	if (ret)
		return host_error("AXVM_CREATE_VM", ret);
	if (check_api_version(g->vm.sys_fd) < 0)
		return EXIT_HOST_ERROR;

	ret = axvm_vm_add_memory(&g->vm, 0, o->mem, AXVM_MEM_READ |
				 AXVM_MEM_WRITE | AXVM_MEM_EXEC, &g->ram);
	if (ret)
		return host_error("adding guest memory", ret);
	return 0;
}

static int create_vcpus(struct guest *g, const struct run_options *o)
{
	unsigned int i;
	int ret;

	for (i = 0; i < o->cpus; i++) {
		ret = create_vcpu(g, o, i);
		if (ret == -EINVAL && o->nr_pin) {
			msg("--pin: host CPU %d of vCPU %u is offline or does not exist",
			    o->pin[i], i);
			return EXIT_USAGE;
		}
		if (ret) {
			msg("creating vCPU %u: %s", i, strerror(-ret));
			return EXIT_HOST_ERROR;
		}
	}
	return 0;
}

static int create_guest(struct guest *g, const struct run_options *o)
{
	int ret;

	ret = create_vm(g, o);
	if (!ret)
		ret = add_console(g, false);
	if (!ret)
		ret = create_vcpus(g, o);
	return ret;
}

/* The kernel checks the host side; refusals are the user's input. */
static int add_passthrough(struct guest *g, const struct pt_range *r)
{
	struct axvm_passthrough pt = {
		.size = sizeof(pt), .flags = r->flags,
		.gpa = r->gpa, .hpa = r->hpa, .len = r->len,
	};
	const char *why;

	if (ioctl(g->vm.fd, AXVM_ADD_PASSTHROUGH, &pt) == 0)
		return 0;
	switch (errno) {
	case EPERM:
		why = "refused: needs CAP_SYS_RAWIO, and the HPA range must "
		      "not be RAM (--passthrough) or must be a memmap=$ "
		      "carve-out (--reserved); dmesg says which";
		break;
	case EEXIST:
		why = "overlaps guest RAM (--mem) or another range at "
		      "another offset";
		break;
	case EINVAL:
		why = "GPA and HPA must have the same offset within a 4 KiB page";
		break;
	case ERANGE:
		why = "beyond the guest or host physical address space";
		break;
	default:
		return host_error("AXVM_ADD_PASSTHROUGH", -errno);
	}
	msg("%s 0x%" PRIx64 ":0x%" PRIx64 ":0x%" PRIx64 ": %s (%s)", r->flag,
	    r->gpa, r->hpa, r->len, why, strerror(errno));
	return EXIT_USAGE;
}

static int start_guest(struct guest *g, const struct run_options *o)
{
	unsigned int i;
	int ret;

	for (i = 0; i < o->nr_pt; i++) {
		ret = add_passthrough(g, &o->pt[i]);
		if (ret)
			return ret;
	}
	for (i = 0; i < o->cpus; i++) {
		struct axvm_vcpu *v = guest_vcpu(g, i);
		struct axvm_regs regs;

		ret = axvm_x86_setup_mode(&g->vm, v, o->mode, o->entry,
					  stack_top(o) - i * CPU_STACK_SPACING,
					  &g->layout);
		if (ret)
			return host_error("setting up the CPU mode", ret);
		if (!i)
			continue;
		ret = axvm_vcpu_get_regs(v, &regs);
		if (!ret) {
			regs.rdi = i;	/* the vCPU id */
			ret = axvm_vcpu_set_regs(v, &regs);
		}
		if (ret)
			return host_error("setting RDI", ret);
	}
	ret = axvm_vm_finalize(&g->vm);
	if (ret)
		return host_error("AXVM_FINALIZE", ret);
	ret = axvm_vm_boot(&g->vm);
	if (ret)
		return host_error("AXVM_BOOT", ret);
	return 0;
}

/*
 * While the vCPU threads run, the thread that started them only joins
 * them: SIGINT and SIGTERM must then reach a vCPU thread, since one
 * running the guest or asleep in HLT leaves AXVM_RUN only when the
 * signal interrupts it there (its loop then stops the VM). Caught by
 * the joining thread, the signal would be noticed by nobody.
 */
static void block_stop_signals(sigset_t *old)
{
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, old);
}

/* --cpus N: one thread per vCPU, each with its own view of the guest. */
struct vcpu_thread {
	struct guest g;		/* g.vcpu is this thread's vCPU */
	pthread_t thread;
	int pin;		/* host CPU, or -1 */
	int status;
};

/* --pin: the calling vCPU thread onto its host CPU (cpu < 0: none). */
static int pin_thread(unsigned int vcpu_id, int cpu)
{
	cpu_set_t set;
	int e;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	e = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (e) {
		msg("vCPU %u: pinning to host CPU %d: %s", vcpu_id, cpu,
		    strerror(e));
		return EXIT_HOST_ERROR;
	}
	return 0;
}

static void *vcpu_thread_fn(void *arg)
{
	struct vcpu_thread *t = arg;

	t->status = pin_thread(t->g.vcpu.id, t->pin);
	if (!t->status)
		t->status = run_vcpu(&t->g);
	/* A failure or a chosen exit status stops the other vCPUs. */
	if (t->status)
		axvm_vm_shutdown(&t->g.vm);
	return NULL;
}

/* Waits for every vCPU; the status is the first non-zero one by id. */
static int run_vcpus(struct guest *g, const struct run_options *o)
{
	static struct vcpu_thread t[MAX_CPUS];
	unsigned int i, started;
	int e, status = 0;
	sigset_t old;

	for (started = 0; started < o->cpus; started++) {
		struct vcpu_thread *vt = &t[started];

		vt->g = *g;
		vt->g.vcpu = *guest_vcpu(g, started);
		vt->pin = o->nr_pin ? o->pin[started] : -1;
		vt->status = 0;
		e = pthread_create(&vt->thread, NULL, vcpu_thread_fn, vt);
		if (e) {
			msg("starting the thread of vCPU %u: %s", started,
			    strerror(e));
			status = EXIT_HOST_ERROR;
			axvm_vm_shutdown(&g->vm);
			break;
		}
	}
	block_stop_signals(&old);
	for (i = 0; i < started; i++) {
		pthread_join(t[i].thread, NULL);
		if (!status)
			status = t[i].status;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return status;
}

/* ------------------------------------------------------------------ */
/* axvm run -v: statistics                                             */
/* ------------------------------------------------------------------ */

/* Linux and Multiboot modes' legacy ports and MMIO (pc.c), one set per boot. */
static struct pc machine_pc;
static int machine_irq_error;	/* first AXVM_SET_IRQ_LINE failure */

/*
 * Multiboot mode: the devices of QEMU's pc machine that kvm-unit-tests'
 * x86 guests use, beyond Linux mode's platform.
 *
 * isa-debug-exit (QEMU's hw/misc/debugexit.c, "-device isa-debug-exit,
 * iobase=0xf4,iosize=0x4"): an OUT of V to any of its ports ends the run
 * with status (V << 1) | 1, truncated to 8 bits as every exit status
 * is; so a guest cannot make it 0, and kvm-unit-tests reads 1 as
 * success. Reads return 0.
 *
 * pc-testdev's interrupt lines (QEMU's hw/misc/pc-testdev.c): an OUT
 * of V to port 0x2000 + n sets ISA IRQ n, which is I/O APIC pin n here
 * (MP table), to V != 0. kvm-unit-tests' ioapic test drives the I/O
 * APIC through them. The rest of pc-testdev (port 0xe0, the page flush
 * at 0xe4, the MMIO page at 0xff000000) is not there.
 *
 * fw_cfg (lib/multiboot.c): the RAM size and CPU count.
 */
#define DEBUG_EXIT_PORT		0xf4
#define DEBUG_EXIT_PORTS	4
#define TESTDEV_IRQ_PORT	0x2000
#define TESTDEV_IRQ_LINES	24	/* the I/O APIC's pins */

static struct {
	bool on;		/* Multiboot mode */
	pthread_mutex_t lock;	/* fwcfg: vCPU threads race for it */
	struct axvm_fwcfg fwcfg;
	uint64_t fwcfg_accesses, testdev_writes;
} qemu_pc = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void print_vm_stats(struct guest *g)
{
	struct axvm_stats st;
	unsigned int i;
	int ret;

	ret = axvm_vm_get_stats(&g->vm, &st);
	if (ret) {
		msg("AXVM_GET_STATS: %s", strerror(-ret));
		return;
	}
	msg("exit statistics (AXVM_GET_STATS, all vCPUs):");
	for (i = 0; i < AXVM_STAT_NR; i++)
		if (st.exits[i])
			msg("  %-16s %llu", axvm_stat_name(i), st.exits[i]);
	msg("  %-16s %llu", "irqs_injected", st.irqs_injected);
	msg("  %-16s %llu", "pages_populated", st.pages_populated);
}

static void print_pc_stats(void)
{
	unsigned int dev, port;

	msg("legacy ports and MMIO answered by the launcher (exits):");
	for (dev = 0; dev < PC_NR_DEVS; dev++)
		msg("  %-30s %llu", pc_dev_name(dev),
		    (unsigned long long)machine_pc.count[dev]);
	for (port = 0; port < 65536; port++)
		if (machine_pc.other_ports[port])
			msg("    port 0x%04x %u", port,
			    machine_pc.other_ports[port]);
	msg("  %-30s %llu reads, %llu writes", "MMIO outside RAM/devices",
	    (unsigned long long)machine_pc.mmio_reads,
	    (unsigned long long)machine_pc.mmio_writes);
	if (qemu_pc.on) {
		msg("  %-30s %llu", "fw_cfg (0x510, 0x511)",
		    (unsigned long long)qemu_pc.fwcfg_accesses);
		msg("  %-30s %llu", "pc-testdev IRQ lines (0x2000)",
		    (unsigned long long)qemu_pc.testdev_writes);
	}
	if (machine_irq_error)
		msg("  AXVM_SET_IRQ_LINE failed: %s (no i8042 or pc-testdev interrupts)",
		    strerror(-machine_irq_error));
}

static void print_stats(struct guest *g, bool machine)
{
	print_vm_stats(g);
	if (machine)
		print_pc_stats();
}

static void destroy_guest(struct guest *g)
{
	if (g->vm.fd >= 0)
		axvm_vm_shutdown(&g->vm);	/* best effort: close frees */
	unsigned int i;

	for (i = 0; i < MAX_CPUS; i++)
		axvm_vcpu_destroy(guest_vcpu(g, i));
	axvm_mem_unmap(&g->ram);
	axvm_vm_destroy(&g->vm);
	console_close();
}

static int run_image(const struct run_options *o, int image_fd,
		     uint64_t image_size, struct guest *g)
{
	int ret;

	ret = create_guest(g, o);
	if (ret)
		return ret;
	if (load_image(image_fd, o->image, image_size,
		       (char *)g->ram.hva + o->load))
		return EXIT_HOST_ERROR;
	ret = start_guest(g, o);
	if (ret)
		return ret;
	ret = console_start();
	if (ret)
		return ret;
	install_signal_handlers();
	if (o->cpus == 1)
		ret = run_vcpu(g);
	else
		ret = run_vcpus(g, o);
	console_stop();
	if (o->verbose)
		print_stats(g, false);
	return ret;
}

/* ------------------------------------------------------------------ */
/* --kernel and --multiboot: the terminal                             */
/* ------------------------------------------------------------------ */

static struct {
	volatile sig_atomic_t raw;	/* stdin's settings are changed */
	struct termios saved;
} term;

/* Async-signal-safe (tcsetattr() is): atexit, fatal signals, the end. */
static void term_restore(void)
{
	if (term.raw) {
		term.raw = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &term.saved);
	}
}

/* SA_RESETHAND made the action the default: the re-raised signal ends
 * the launcher as it would have, with the terminal back to normal. */
static void term_fatal_signal(int sig)
{
	term_restore();
	raise(sig);
}

static void term_catch_fatal_signals(void)
{
	static const int fatal[] = {
		SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL,
		SIGPIPE, SIGXCPU, SIGXFSZ,
	};
	struct sigaction sa;
	unsigned int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = term_fatal_signal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
}

/*
 * A terminal on stdin goes raw, as for QEMU's stdio console: the guest
 * gets every byte as typed, with no echo, no line editing and no
 * signals (ISIG off: Ctrl-C, Ctrl-Z and Ctrl-\ are the guest's; Ctrl-A x
 * quits). Output processing stays on, so our messages start at the
 * beginning of a line. Restored at every exit: the end of the run,
 * exit() (atexit), SIGINT/SIGTERM (which end the run normally) and the
 * signals that would kill us (term_catch_fatal_signals()).
 */
static bool term_raw(void)
{
	static bool registered;
	struct termios raw;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &term.saved))
		return false;
	raw = term.saved;
	raw.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR |
			 ICRNL | IXON);
	raw.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	raw.c_cflag = (raw.c_cflag & ~(tcflag_t)(CSIZE | PARENB)) | CS8;
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (!registered) {
		atexit(term_restore);
		term_catch_fatal_signals();
		registered = true;
	}
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw))
		return false;
	term.raw = 1;
	return true;
}

/* ------------------------------------------------------------------ */
/* --kernel and --multiboot: how the run ends                         */
/* ------------------------------------------------------------------ */

/*
 * The first decision wins: vCPU 0 halting (0), a reboot (4), Ctrl-A x
 * (5), a triple fault (3), an error, a signal. Deciding stops every
 * vCPU (AXVM_SHUTDOWN: the others get AXVM_EXIT_STOPPED).
 */
static struct {
	pthread_mutex_t lock;
	bool decided;
	int status;
	struct axvm_vm *vm;	/* the VM running now, or NULL */
} outcome = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Returns true if this call decided the status. */
static bool decide(int status)
{
	bool first;

	pthread_mutex_lock(&outcome.lock);
	first = !outcome.decided;
	if (first) {
		outcome.decided = true;
		outcome.status = status;
	}
	if (outcome.vm)
		axvm_vm_shutdown(outcome.vm);
	pthread_mutex_unlock(&outcome.lock);
	return first;
}

/* Ctrl-A x, from the console thread. */
static void machine_quit(void)
{
	if (decide(EXIT_QUIT))
		msg("quit (Ctrl-A x)");
}

/* ------------------------------------------------------------------ */
/* --kernel and --multiboot: the vCPUs                                */
/* ------------------------------------------------------------------ */

/* machine_exit(): this vCPU is done, without deciding the outcome. */
#define VCPU_DONE		(-2)

struct machine_vcpu {
	struct axvm_vcpu *vcpu;
	struct axvm_vm *vm;
	pthread_t thread;
	int pin;		/* host CPU, or -1 */
};

/*
 * pc.c drives the i8042's IRQ 1 and 12 through the I/O APIC, and
 * Multiboot mode pc-testdev's lines.
 */
static void machine_set_irq(void *opaque, unsigned int pin, int level)
{
	int ret = axvm_vm_set_irq_line(opaque, pin, (uint32_t)level);

	if (ret && ret != -ESHUTDOWN && !machine_irq_error)
		machine_irq_error = ret;
}

/*
 * Multiboot mode's QEMU pc devices (qemu_pc above): KEEP_RUNNING after
 * an access they took (*data set for a read), the exit status for
 * isa-debug-exit, or VCPU_DONE for a port that is none of theirs.
 */
static int qemu_pc_io(uint16_t port, unsigned int width, bool out,
		      uint32_t *data, struct axvm_vm *vm)
{
	unsigned int i;
	int mine;

	if (port >= DEBUG_EXIT_PORT && port < DEBUG_EXIT_PORT + DEBUG_EXIT_PORTS) {
		if (out)
			return (int)((*data << 1 | 1) & 0xff);
		*data = 0;
		return KEEP_RUNNING;
	}
	if (port >= TESTDEV_IRQ_PORT &&
	    port < TESTDEV_IRQ_PORT + TESTDEV_IRQ_LINES) {
		if (!out) {
			*data = 0xffffffffU;	/* write-only */
			return KEEP_RUNNING;
		}
		/* A wider OUT: one byte per line, as the ISA bus splits it. */
		for (i = 0; i < width; i++) {
			unsigned int line = port - TESTDEV_IRQ_PORT + i;

			if (line < TESTDEV_IRQ_LINES)
				machine_set_irq(vm, line, (*data >> (8 * i)) & 0xff ? 1 : 0);
		}
		__atomic_add_fetch(&qemu_pc.testdev_writes, 1, __ATOMIC_RELAXED);
		return KEEP_RUNNING;
	}
	pthread_mutex_lock(&qemu_pc.lock);
	mine = axvm_fwcfg_io(&qemu_pc.fwcfg, port, width, out, data);
	if (mine)
		qemu_pc.fwcfg_accesses++;
	pthread_mutex_unlock(&qemu_pc.lock);
	return mine ? KEEP_RUNNING : VCPU_DONE;
}

static int machine_io(struct axvm_run *run, struct axvm_vm *vm)
{
	bool out = run->io.direction == AXVM_IO_OUT;
	uint32_t data = (uint32_t)run->io.data;
	int status;

	if (qemu_pc.on) {
		status = qemu_pc_io(run->io.port, run->io.width, out, &data, vm);
		if (status != VCPU_DONE) {
			if (!out && status == KEEP_RUNNING)
				run->io.data = data;
			return status;
		}
	}
	if (pc_io(&machine_pc, run->io.port, run->io.width, out, &data)) {
		msg("guest reboot: reset pulse through the i8042 (port 0x%x)",
		    run->io.port);
		return EXIT_REBOOT;
	}
	if (!out)
		run->io.data = data;
	return KEEP_RUNNING;
}

/* KEEP_RUNNING, VCPU_DONE, or the run's exit status. */
static int machine_exit(struct axvm_vcpu *v, struct axvm_vm *vm)
{
	struct axvm_run *run = v->run;
	uint64_t data;

	switch (run->exit_reason) {
	case AXVM_EXIT_IO:
		return machine_io(run, vm);
	case AXVM_EXIT_MMIO:
		data = pc_mmio(&machine_pc, run->mmio.is_write, run->mmio.width);
		if (!run->mmio.is_write)
			run->mmio.data = data;
		return KEEP_RUNNING;
	case AXVM_EXIT_HLT:
		/*
		 * HLT with interrupts off: Linux's halt and poweroff (which
		 * it turns into halt without ACPI) park every CPU so, the
		 * boot CPU last. An AP stays parked; vCPU 0 ends the run.
		 * (A Multiboot guest that halts so is stuck as well.)
		 */
		if (v->id)
			return VCPU_DONE;
		msg("guest halted%s: vCPU 0 HLT with interrupts off at rip 0x%llx",
		    qemu_pc.on ? "" : " (powered off)", run->guest.rip);
		return 0;
	case AXVM_EXIT_HYPERCALL:
		run->hypercall.ret = (uint64_t)-ENOSYS;
		return KEEP_RUNNING;
	case AXVM_EXIT_INTR:
		return KEEP_RUNNING;
	case AXVM_EXIT_STOPPED:
		return VCPU_DONE;
	case AXVM_EXIT_SHUTDOWN:
		return stop_on_vcpu_exit(v, "guest triple fault",
					 EXIT_TRIPLE_FAULT);
	}
	return stop_on_vcpu_exit(v, "unhandled guest exit", EXIT_GUEST_ERROR);
}

/*
 * One thread per vCPU. vCPU 0 starts at the kernel's 64-bit entry (or
 * the Multiboot entry); the others wait inside AXVM_RUN for the guest's
 * INIT and SIPI.
 */
static void *machine_vcpu_fn(void *arg)
{
	struct machine_vcpu *t = arg;
	int ret, status = pin_thread(t->vcpu->id, t->pin);

	while (!status) {
		if (stop_signal) {
			if (decide(EXIT_SIGNAL_BASE + stop_signal))
				msg("stopped by %s", stop_signal == SIGINT ?
				    "SIGINT" : "SIGTERM");
			return NULL;
		}
		ret = axvm_vcpu_run(t->vcpu);
		if (ret == -EINTR || stop_signal)
			continue;
		if (ret == -ESHUTDOWN)	/* stopped while out of RUN */
			return NULL;
		if (ret) {
			msg("vCPU %u: AXVM_RUN: %s", t->vcpu->id, strerror(-ret));
			dump_registers(t->vcpu);
			status = EXIT_HOST_ERROR;
			break;
		}
		status = machine_exit(t->vcpu, t->vm);
		if (status == KEEP_RUNNING)
			status = 0;
		else if (status == VCPU_DONE)
			return NULL;
		else
			break;
	}
	decide(status);
	return NULL;
}

static int run_machine_vcpus(struct guest *g, const struct run_options *o)
{
	static struct machine_vcpu t[MAX_CPUS];
	unsigned int i, started;
	sigset_t old;
	int e;

	for (started = 0; started < o->cpus; started++) {
		t[started].vcpu = guest_vcpu(g, started);
		t[started].vm = &g->vm;
		t[started].pin = o->nr_pin ? o->pin[started] : -1;
		e = pthread_create(&t[started].thread, NULL, machine_vcpu_fn,
				   &t[started]);
		if (e) {
			msg("starting the thread of vCPU %u: %s", started,
			    strerror(e));
			decide(EXIT_HOST_ERROR);
			break;
		}
	}
	block_stop_signals(&old);
	for (i = 0; i < started; i++)
		pthread_join(t[i].thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return outcome.decided ? outcome.status : EXIT_HOST_ERROR;
}

/* ------------------------------------------------------------------ */
/* --kernel and --multiboot: the machine                              */
/* ------------------------------------------------------------------ */

/* The I/O APIC, then the local APICs (AXVM_FEATURE_X86_PLATFORM). */
static int add_platform(struct guest *g)
{
	struct axvm_caps caps;
	int ret;

	ret = axvm_get_caps(g->vm.sys_fd, &caps);
	if (ret)
		return host_error("AXVM_GET_CAPS", ret);
	if (!(caps.features & AXVM_FEATURE_X86_PLATFORM)) {
		msg("axvm.ko has no local APIC and I/O APIC (AXVM_FEATURE_X86_PLATFORM): it cannot run Linux or Multiboot guests");
		return EXIT_HOST_ERROR;
	}
	ret = axvm_vm_add_device_flags(&g->vm, AXVM_DEV_IOAPIC,
				       AXVM_DEV_SPACE_MMIO,
				       AXVM_IOAPIC_DEFAULT_BASE, 0x1000, 0, 0,
				       NULL);
	if (ret)
		return host_error("AXVM_ADD_DEVICE (I/O APIC)", ret);
	ret = axvm_vm_add_device_flags(&g->vm, AXVM_DEV_LAPIC,
				       AXVM_DEV_SPACE_MMIO,
				       AXVM_LAPIC_DEFAULT_BASE, 0x1000, 0, 0,
				       NULL);
	if (ret)
		return host_error("AXVM_ADD_DEVICE (local APIC)", ret);
	return 0;
}

/* What a machine boots: a bzImage or a Multiboot image, planned already. */
struct machine_boot {
	const char *file;		/* for messages */
	struct axvm_linux *bzimage;	/* Linux mode, or NULL */
	struct axvm_multiboot *mb;	/* Multiboot mode, or NULL */
};

/* Into the mmap() of RAM (checked already by the plan), vCPU 0 set. */
static int load_machine_guest(struct guest *g, const struct machine_boot *b)
{
	const char *error;
	int ret;

	if (b->mb)
		ret = axvm_multiboot_load(b->mb, g->ram.hva);
	else
		ret = axvm_linux_load(b->bzimage, g->ram.hva);
	if (ret) {
		error = b->mb ? b->mb->error : b->bzimage->error;
		msg("loading %s: %s", b->file, error);
		return EXIT_HOST_ERROR;
	}
	if (b->mb) {
		ret = axvm_multiboot_setup_bsp(&g->vcpu, b->mb);
		if (ret)
			return host_error("vCPU 0 at the Multiboot entry", ret);
		return 0;
	}
	ret = axvm_linux_setup_bsp(&g->vcpu, b->bzimage);
	if (ret)
		return host_error("vCPU 0 at the 64-bit entry", ret);
	return 0;
}

static int create_machine_guest(struct guest *g, const struct run_options *o,
				const struct machine_boot *b)
{
	int ret;

	ret = create_vm(g, o);
	if (!ret)
		ret = add_platform(g);
	if (!ret)
		ret = add_console(g, true);
	if (!ret)
		ret = create_vcpus(g, o);
	if (!ret)
		ret = load_machine_guest(g, b);
	if (ret)
		return ret;
	ret = axvm_vm_finalize(&g->vm);
	if (ret)
		return host_error("AXVM_FINALIZE", ret);
	ret = axvm_vm_boot(&g->vm);
	if (ret)
		return host_error("AXVM_BOOT", ret);
	return 0;
}

static void init_guest(struct guest *g)
{
	unsigned int i;

	memset(g, 0, sizeof(*g));
	g->vm.sys_fd = g->vm.fd = g->vcpu.fd = -1;
	for (i = 0; i < MAX_CPUS - 1; i++)
		g->more[i].fd = -1;
}

/* One boot, from creating the VM to destroying it. */
static int boot_machine(const struct run_options *o,
			const struct machine_boot *b, bool tty)
{
	static struct guest g;
	int status;

	init_guest(&g);
	pc_init(&machine_pc, machine_set_irq, &g.vm);
	machine_irq_error = 0;
	qemu_pc.on = b->mb != NULL;
	axvm_fwcfg_init(&qemu_pc.fwcfg, o->mem, o->cpus);
	qemu_pc.fwcfg_accesses = qemu_pc.testdev_writes = 0;
	outcome.decided = false;
	status = create_machine_guest(&g, o, b);
	if (!status) {
		console.input = true;
		console.escapes = tty;
		console.quit = machine_quit;
		console.pending_len = console.pending_off = 0;
		console.got_escape = false;
		status = console_start();
	}
	if (!status) {
		pthread_mutex_lock(&outcome.lock);
		outcome.vm = &g.vm;
		pthread_mutex_unlock(&outcome.lock);
		install_signal_handlers();
		status = run_machine_vcpus(&g, o);
		pthread_mutex_lock(&outcome.lock);
		outcome.vm = NULL;
		pthread_mutex_unlock(&outcome.lock);
		console_stop();
		if (o->verbose)
			print_stats(&g, true);
	}
	destroy_guest(&g);
	return status;
}

/* ------------------------------------------------------------------ */
/* --kernel and --multiboot: the files                                */
/* ------------------------------------------------------------------ */

struct mapped_file {
	const uint8_t *data;
	uint64_t size;
};

/* A non-empty regular file, mapped read-only; EXIT_USAGE otherwise. */
static int map_file(const char *flag, const char *path, struct mapped_file *f)
{
	struct stat st;
	void *p;
	int fd;

	f->data = NULL;
	f->size = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		msg("%s %s: %s", flag, path, strerror(errno));
		return EXIT_USAGE;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size == 0) {
		msg("%s %s: not a non-empty regular file", flag, path);
		close(fd);
		return EXIT_USAGE;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		msg("%s %s: mmap: %s", flag, path, strerror(errno));
		return EXIT_HOST_ERROR;
	}
	f->data = p;
	f->size = (uint64_t)st.st_size;
	return 0;
}

static void unmap_file(struct mapped_file *f)
{
	if (f->data)
		munmap((void *)f->data, f->size);
	f->data = NULL;
}

/* Checks the image and the layout before anything is created. */
static int plan_linux(const struct run_options *o,
		      const struct mapped_file *kernel,
		      const struct mapped_file *initrd, struct axvm_linux *l)
{
	memset(l, 0, sizeof(*l));
	l->kernel = kernel->data;
	l->kernel_size = kernel->size;
	l->initrd = initrd->data;
	l->initrd_size = initrd->size;
	l->cmdline = o->cmdline;
	l->ram_size = o->mem;
	l->nr_cpus = o->cpus;
	axvm_linux_host_cpu(&l->cpu_signature, &l->cpu_features);
	if (axvm_linux_parse(l)) {
		msg("--kernel %s: %s", o->kernel, l->error);
		return EXIT_USAGE;
	}
	if (axvm_linux_plan(l)) {
		msg("cannot boot %s: %s", o->kernel, l->error);
		return EXIT_USAGE;
	}
	return 0;
}

/* Boots, and again after a reboot with --reboot=restart. */
static int run_machine(const struct run_options *o,
		       const struct machine_boot *b)
{
	bool tty = term_raw();
	int status;

	for (;;) {
		status = boot_machine(o, b, tty);
		if (status != EXIT_REBOOT || !o->reboot_restart)
			break;
		msg("--reboot=restart: booting %s again", b->file);
	}
	term_restore();
	return status;
}

static int run_linux(const struct run_options *o)
{
	struct mapped_file kernel = { 0 }, initrd = { 0 };
	struct axvm_linux l;
	struct machine_boot b = { .file = o->kernel, .bzimage = &l };
	int status;

	status = map_file("--kernel", o->kernel, &kernel);
	if (!status && o->initrd)
		status = map_file("--initrd", o->initrd, &initrd);
	if (!status)
		status = plan_linux(o, &kernel, &initrd, &l);
	if (!status)
		status = run_machine(o, &b);
	unmap_file(&initrd);
	unmap_file(&kernel);
	fflush(stdout);
	return status;
}

/* Checks the image and the layout before anything is created. */
static int plan_multiboot(const struct run_options *o,
			  const struct mapped_file *image,
			  const struct mapped_file *initrd,
			  struct axvm_multiboot *m)
{
	memset(m, 0, sizeof(*m));
	m->image = image->data;
	m->image_size = image->size;
	m->image_name = o->multiboot;
	m->append = o->append;
	if (initrd->data) {
		m->modules[0].data = initrd->data;
		m->modules[0].size = initrd->size;
		m->modules[0].string = o->initrd;
		m->nr_modules = 1;
	}
	m->ram_size = o->mem;
	m->nr_cpus = o->cpus;
	axvm_linux_host_cpu(&m->cpu_signature, &m->cpu_features);
	if (axvm_multiboot_parse(m)) {
		msg("--multiboot %s: %s", o->multiboot, m->error);
		return EXIT_USAGE;
	}
	if (axvm_multiboot_plan(m)) {
		msg("cannot boot %s: %s", o->multiboot, m->error);
		return EXIT_USAGE;
	}
	return 0;
}

static int run_multiboot(const struct run_options *o)
{
	struct mapped_file image = { 0 }, initrd = { 0 };
	static struct axvm_multiboot m;
	struct machine_boot b = { .file = o->multiboot, .mb = &m };
	int status;

	status = map_file("--multiboot", o->multiboot, &image);
	if (!status && o->initrd)
		status = map_file("--initrd", o->initrd, &initrd);
	if (!status)
		status = plan_multiboot(o, &image, &initrd, &m);
	if (!status)
		status = run_machine(o, &b);
	unmap_file(&initrd);
	unmap_file(&image);
	fflush(stdout);
	return status;
}

static int cmd_run(int argc, char **argv)
{
	struct run_options opts;
	struct guest guest = {
		.vm = { .sys_fd = -1, .fd = -1 },
		.vcpu = { .fd = -1 },
	};
	uint64_t image_size;
	int image_fd, status;
	unsigned int i;

	for (i = 0; i < MAX_CPUS - 1; i++)
		guest.more[i].fd = -1;
	status = parse_run_options(argc, argv, &opts);
	if (status)
		return status == HELP_SHOWN ? 0 : status;
	if (opts.kernel)
		return run_linux(&opts);
	if (opts.multiboot)
		return run_multiboot(&opts);
	if (stack_top(&opts) < opts.cpus * CPU_STACK_SPACING) {
		msg("--cpus %u: --mem too small for one 64 KiB stack per vCPU",
		    opts.cpus);
		return EXIT_USAGE;
	}

	axvm_x86_default_layout(&guest.layout);
	guest.layout.identity_map_size = identity_map_size(opts.mem);

	status = open_image(opts.image, &image_fd, &image_size);
	if (status)
		return status;
	status = check_layout(&opts, image_size, &guest.layout);
	if (!status)
		status = run_image(&opts, image_fd, image_size, &guest);

	close(image_fd);
	destroy_guest(&guest);
	fflush(stdout);
	return status;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "info"))
		return cmd_info(argc - 1, argv + 1);
	if (!strcmp(cmd, "help") || !strcmp(cmd, "-h") ||
	    !strcmp(cmd, "--help")) {
		usage(stdout);
		return 0;
	}
	msg("unknown command '%s' (see axvm --help)", cmd);
	return EXIT_USAGE;
}
