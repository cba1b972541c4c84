// SPDX-License-Identifier: GPL-2.0
/*
 * exitpath.so: a QEMU TCG plugin that counts what a hypervisor running in
 * the test VM executes per exit: the instructions, the distinct code pages
 * and the distinct data pages from a #VMEXIT to the next VMRUN.
 *
 * Under TCG, QEMU flushes its whole software TLB on every VMRUN and
 * #VMEXIT (the CR3 switch), so each distinct page an exit path touches
 * costs a page-table walk in emulation on top of its instructions: these
 * three numbers are what the per-exit cost is made of.
 *
 * A "path" starts at the first instruction with a kernel address
 * (bit 63 set) after a VMRUN and ends at the next VMRUN (0f 01 d8); the
 * nested guest runs at low addresses in between and is not counted. For
 * an exit that goes to userspace the path includes the return to the
 * VMM, its loop and the next ioctl. Interrupts taken on the way are
 * counted too: read the median.
 *
 *   qemu-system-x86_64 ... -plugin file=exitpath.so,out=FILE[,mem=1]
 *
 * At exit, FILE gets "paths N insns MED P10 P90 code_pages MED ...
 * data_pages MED ..." (data pages only with mem=1).
 *
 * The plugin API (QEMU 7.2, plugin API version 1) is declared below by
 * hand: Debian ships the plugin-enabled binary but not the header.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- the QEMU plugin ABI used here ---------------------------------- */
typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;
typedef struct {
	const char *target_name;
	struct { int min, cur; } version;
	bool system_emulation;
	union { struct { int smp_vcpus, max_vcpus; } system; };
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { CB_NO_REGS };
enum qemu_plugin_mem_rw { MEM_R = 1, MEM_W, MEM_RW };
typedef void (*tb_trans_cb)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*vcpu_udata_cb)(unsigned int, void *);
typedef void (*vcpu_mem_cb)(unsigned int, qemu_plugin_meminfo_t, uint64_t, void *);
typedef void (*udata_cb)(qemu_plugin_id_t, void *);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, tb_trans_cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *, vcpu_udata_cb,
					  enum qemu_plugin_cb_flags, void *);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *, vcpu_mem_cb,
				      enum qemu_plugin_cb_flags,
				      enum qemu_plugin_mem_rw, void *);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, udata_cb, void *);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* --- state ------------------------------------------------------------ */
#define MAX_VCPUS	4
#define MAX_PATHS	(1 << 20)
#define SET_SIZE	8192		/* power of two */
#define TB_PAGES	4

struct page_set {
	uint64_t key[SET_SIZE];
	uint32_t gen[SET_SIZE];
	uint32_t cur;
	uint32_t count;
};

enum { OUTSIDE, IN_GUEST, IN_PATH };

struct vcpu_state {
	int state;
	uint64_t insns;
	struct page_set code, data;
	uint32_t n;
	uint32_t *s_insns, *s_code, *s_data;
};

/* Per translated block: what it adds to a path when it runs. */
struct tb_info {
	uint32_t n_insns;
	uint32_t n_pages;
	uint64_t pages[TB_PAGES];
	bool kernel;
	bool has_vmrun;
};

static struct vcpu_state vcpus[MAX_VCPUS];
static const char *out_path = "exitpath.txt";
static bool track_mem;

static void set_reset(struct page_set *s)
{
	s->cur++;
	s->count = 0;
}

static void set_add(struct page_set *s, uint64_t page)
{
	uint32_t h = (uint32_t)((page * 0x9e3779b97f4a7c15ULL) >> 51) & (SET_SIZE - 1);

	while (s->gen[h] == s->cur) {
		if (s->key[h] == page)
			return;
		h = (h + 1) & (SET_SIZE - 1);
	}
	if (s->count >= SET_SIZE / 2)
		return;			/* saturated: count stays at the cap */
	s->gen[h] = s->cur;
	s->key[h] = page;
	s->count++;
}

static void path_end(struct vcpu_state *v)
{
	if (v->n < MAX_PATHS && v->s_insns) {
		v->s_insns[v->n] = (uint32_t)v->insns;
		v->s_code[v->n] = v->code.count;
		v->s_data[v->n] = v->data.count;
		v->n++;
	}
}

static void tb_exec(unsigned int vcpu_index, void *udata)
{
	struct tb_info *t = udata;
	struct vcpu_state *v;
	uint32_t i;

	if (vcpu_index >= MAX_VCPUS)
		return;
	v = &vcpus[vcpu_index];
	if (v->state == IN_GUEST && t->kernel) {
		v->state = IN_PATH;		/* first host code after #VMEXIT */
		v->insns = 0;
		set_reset(&v->code);
		set_reset(&v->data);
	}
	if (v->state == IN_PATH) {
		v->insns += t->n_insns;
		for (i = 0; i < t->n_pages; i++)
			set_add(&v->code, t->pages[i]);
	}
	if (t->has_vmrun) {
		if (v->state == IN_PATH)
			path_end(v);
		v->state = IN_GUEST;
	}
}

static void mem_access(unsigned int vcpu_index, qemu_plugin_meminfo_t info,
		       uint64_t vaddr, void *udata)
{
	(void)info;
	(void)udata;
	if (vcpu_index < MAX_VCPUS && vcpus[vcpu_index].state == IN_PATH)
		set_add(&vcpus[vcpu_index].data, vaddr >> 12);
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	struct tb_info *t = calloc(1, sizeof(*t));
	size_t i, j, n = qemu_plugin_tb_n_insns(tb);

	(void)id;
	if (!t)
		return;
	t->n_insns = (uint32_t)n;
	t->kernel = (qemu_plugin_tb_vaddr(tb) >> 63) & 1;
	for (i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		const uint8_t *b = qemu_plugin_insn_data(insn);
		size_t sz = qemu_plugin_insn_size(insn);
		uint64_t page = qemu_plugin_insn_vaddr(insn) >> 12;

		for (j = 0; j + 2 < sz; j++)
			if (b[j] == 0x0f && b[j + 1] == 0x01 && b[j + 2] == 0xd8)
				t->has_vmrun = true;
		for (j = 0; j < t->n_pages && t->pages[j] != page; j++)
			;
		if (j == t->n_pages && t->n_pages < TB_PAGES)
			t->pages[t->n_pages++] = page;
		if (track_mem)
			qemu_plugin_register_vcpu_mem_cb(insn, mem_access, CB_NO_REGS,
							 MEM_RW, NULL);
	}
	qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, CB_NO_REGS, t);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void stats(FILE *f, const char *name, uint32_t *all, uint32_t n)
{
	if (!n)
		return;
	qsort(all, n, sizeof(*all), cmp_u32);
	fprintf(f, " %s %u %u %u", name, all[n / 2], all[n / 10], all[n * 9 / 10]);
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
	uint32_t total = 0, k = 0, i, c;
	uint32_t *a, *b, *d;
	FILE *f;

	(void)id;
	(void)udata;
	for (c = 0; c < MAX_VCPUS; c++)
		total += vcpus[c].n;
	a = calloc(total + 1, sizeof(*a));
	b = calloc(total + 1, sizeof(*b));
	d = calloc(total + 1, sizeof(*d));
	f = fopen(out_path, "w");
	if (!a || !b || !d || !f)
		return;
	for (c = 0; c < MAX_VCPUS; c++)
		for (i = 0; i < vcpus[c].n; i++, k++) {
			a[k] = vcpus[c].s_insns[i];
			b[k] = vcpus[c].s_code[i];
			d[k] = vcpus[c].s_data[i];
		}
	fprintf(f, "paths %u", total);
	stats(f, "insns", a, total);
	stats(f, "code_pages", b, total);
	if (track_mem)
		stats(f, "data_pages", d, total);
	fprintf(f, "\n");
	fclose(f);
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
			int argc, char **argv)
{
	int i;

	(void)info;
	for (i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "out=", 4))
			out_path = argv[i] + 4;
		else if (!strcmp(argv[i], "mem=1") || !strcmp(argv[i], "mem=on"))
			track_mem = true;
	}
	for (i = 0; i < MAX_VCPUS; i++) {
		vcpus[i].s_insns = calloc(MAX_PATHS, sizeof(uint32_t));
		vcpus[i].s_code = calloc(MAX_PATHS, sizeof(uint32_t));
		vcpus[i].s_data = calloc(MAX_PATHS, sizeof(uint32_t));
		vcpus[i].code.cur = vcpus[i].data.cur = 1;
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
