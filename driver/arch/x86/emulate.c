// SPDX-License-Identifier: GPL-2.0
/*
 * MMIO instruction decoder and guest page-table walker, see emulate.h.
 *
 * References:
 *   Intel SDM vol. 2 ch. 2 "Instruction Format" (prefixes, REX, ModRM/SIB
 *   tables 2-1 to 2-3 and 2-5), AMD APM vol. 3 ch. 1 "Instruction Encoding".
 *   Intel SDM vol. 3 ch. 4 "Paging" (32-bit 4.3, PAE 4.4, 4/5-level 4.5,
 *   access rights 4.6, page-fault error code 4.7), AMD APM vol. 2 ch. 5.
 *
 * Builds in the kernel and in userspace, so only u8..u64, bool and the
 * errno values are used.
 */
#ifdef __KERNEL__
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/types.h>
#else
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#endif

#include "emulate.h"

/* ===================== Instruction decoder ===================== */

/* Legacy prefixes, SDM vol. 2 sec. 2.1.1 / APM vol. 3 sec. 1.2. */
#define PFX_OPSIZE	0x66
#define PFX_ADDRSIZE	0x67
#define PFX_LOCK	0xf0
#define PFX_REPNE	0xf2
#define PFX_REP		0xf3

/* REX, SDM vol. 2 sec. 2.2.1: 0100WRXB, 64-bit mode only. */
#define REX_W		0x08
#define REX_R		0x04

#define OPC_ESCAPE	0x0f

struct decoder {
	const u8 *bytes;
	unsigned int nbytes;
	unsigned int pos;	/* next byte to consume */
	int cpu_mode;		/* 16, 32 or 64 */
	bool opsize_prefix;	/* 66 seen */
	bool addrsize_prefix;	/* 67 seen */
	bool rep_prefix;	/* f2 or f3 seen */
	u8 rex;			/* 0 if none (or not directly before opcode) */
};

/* -EINVAL beyond the 15-byte limit, -ENODATA beyond the caller's bytes. */
static int dec_need(const struct decoder *d, unsigned int count)
{
	if (d->pos + count > X86_MAX_INSN_LEN)
		return -EINVAL;
	if (d->pos + count > d->nbytes)
		return -ENODATA;
	return 0;
}

static int dec_peek(const struct decoder *d, u8 *byte)
{
	int err = dec_need(d, 1);

	if (!err)
		*byte = d->bytes[d->pos];
	return err;
}

static int dec_byte(struct decoder *d, u8 *byte)
{
	int err = dec_peek(d, byte);

	if (!err)
		d->pos++;
	return err;
}

/* Reads a little-endian value of size bytes (displacement, imm, moffs). */
static int dec_le(struct decoder *d, unsigned int size, u64 *value)
{
	int err = dec_need(d, size);
	unsigned int i;

	if (err)
		return err;
	*value = 0;
	for (i = size; i-- > 0;)
		*value = (*value << 8) | d->bytes[d->pos + i];
	d->pos += size;
	return 0;
}

static int dec_skip(struct decoder *d, unsigned int size)
{
	int err = dec_need(d, size);

	if (!err)
		d->pos += size;
	return err;
}

static bool is_legacy_prefix(u8 byte)
{
	switch (byte) {
	case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65:
	case PFX_OPSIZE: case PFX_ADDRSIZE:
	case PFX_LOCK: case PFX_REPNE: case PFX_REP:
		return true;
	}
	return false;
}

static bool is_rex(const struct decoder *d, u8 byte)
{
	return d->cpu_mode == 64 && (byte & 0xf0) == 0x40;
}

/*
 * Consumes legacy and REX prefixes. A REX prefix only counts when it
 * immediately precedes the opcode; one followed by a legacy prefix is
 * ignored (SDM vol. 2 sec. 2.2.1, APM vol. 3 sec. 1.2.7).
 * Segment overrides do not change the decoding (the GPA comes from the
 * nested page fault). LOCK is accepted and ignored: LOCK MOV raises #UD
 * before any memory access, so it never reaches us.
 */
static int dec_prefixes(struct decoder *d)
{
	u8 byte;
	int err;

	for (;;) {
		err = dec_peek(d, &byte);
		if (err)
			return err;
		if (is_rex(d, byte)) {
			d->rex = byte;
		} else if (is_legacy_prefix(byte)) {
			d->rex = 0;
			d->opsize_prefix |= byte == PFX_OPSIZE;
			d->addrsize_prefix |= byte == PFX_ADDRSIZE;
			d->rep_prefix |= byte == PFX_REP || byte == PFX_REPNE;
		} else {
			return 0;
		}
		d->pos++;
	}
}

/* Effective operand size in bytes, SDM vol. 2 sec. 2.2.1.2 table 2-4. */
static unsigned int operand_size(const struct decoder *d)
{
	if (d->rex & REX_W)
		return 8;
	if (d->cpu_mode == 16)
		return d->opsize_prefix ? 4 : 2;
	return d->opsize_prefix ? 2 : 4;
}

/* Effective address size in bytes, APM vol. 3 sec. 1.2.3 table 1-3. */
static unsigned int address_size(const struct decoder *d)
{
	if (d->cpu_mode == 64)
		return d->addrsize_prefix ? 4 : 8;
	if (d->cpu_mode == 32)
		return d->addrsize_prefix ? 2 : 4;
	return d->addrsize_prefix ? 4 : 2;
}

#define MODRM_MOD(m)	((m) >> 6)
#define MODRM_REG(m)	(((m) >> 3) & 7)
#define MODRM_RM(m)	((m) & 7)
#define SIB_BASE(s)	((s) & 7)

/* Displacement after a 16-bit ModRM, SDM vol. 2 table 2-1. */
static unsigned int disp_size_16(u8 modrm)
{
	if (MODRM_MOD(modrm) == 1)
		return 1;
	if (MODRM_MOD(modrm) == 2)
		return 2;
	return MODRM_RM(modrm) == 6 ? 2 : 0;	/* mod 00 rm 110: disp16 */
}

/*
 * SIB and displacement after a 32/64-bit ModRM, SDM vol. 2 tables 2-2,
 * 2-3 and 2-7. REX.B does not change these special cases (table 2-5):
 * rm 100 always means SIB, mod 00 rm 101 always means disp32 (RIP-relative
 * in 64-bit mode), and SIB base 101 with mod 00 means disp32, no base.
 */
static int skip_sib_disp_32(struct decoder *d, u8 modrm)
{
	unsigned int disp = MODRM_MOD(modrm) == 1 ? 1 :
			    MODRM_MOD(modrm) == 2 ? 4 : 0;
	u8 sib;
	int err;

	if (MODRM_RM(modrm) == 4) {
		err = dec_byte(d, &sib);
		if (err)
			return err;
		if (MODRM_MOD(modrm) == 0 && SIB_BASE(sib) == 5)
			disp = 4;
	} else if (MODRM_MOD(modrm) == 0 && MODRM_RM(modrm) == 5) {
		disp = 4;
	}
	return dec_skip(d, disp);
}

/* Reads ModRM and skips its memory operand; mod 11 (no memory) is -EINVAL. */
static int dec_modrm_mem(struct decoder *d, u8 *modrm)
{
	int err = dec_byte(d, modrm);

	if (err)
		return err;
	if (MODRM_MOD(*modrm) == 3)
		return -EINVAL;
	if (address_size(d) == 2)
		return dec_skip(d, disp_size_16(*modrm));
	return skip_sib_disp_32(d, *modrm);
}

static u64 width_mask(unsigned int width)
{
	return width >= 8 ? ~0ULL : (1ULL << (width * 8)) - 1;
}

static u64 sign_extend(u64 value, unsigned int width)
{
	unsigned int shift = 64 - width * 8;

	if (width == 0 || width >= 8)
		return value;

	return (u64)((s64)(value << shift) >> shift);
}

/*
 * Sets the register operand from ModRM.reg extended by REX.R. For byte
 * registers without any REX prefix, 4-7 are AH, CH, DH, BH (SDM vol. 2
 * sec. 3.7.2.1 / table 2-5 note, APM vol. 3 sec. 1.4.3 table 1-9).
 */
static void set_reg_operand(const struct decoder *d, u8 modrm,
			    unsigned int reg_width, struct x86_mmio_insn *out)
{
	u8 reg = MODRM_REG(modrm) | ((d->rex & REX_R) ? 8 : 0);

	out->reg_width = reg_width;
	if (reg_width == 1 && !d->rex && reg >= 4) {
		out->high_byte = true;
		reg -= 4;
	}
	out->reg = reg;
}

/* 88, 89: mov r/m, reg (store); 8a, 8b: mov reg, r/m (load). */
static int dec_mov_modrm(struct decoder *d, u8 opcode, struct x86_mmio_insn *out)
{
	unsigned int width = (opcode & 1) ? operand_size(d) : 1;
	u8 modrm;
	int err = dec_modrm_mem(d, &modrm);

	if (err)
		return err;
	out->kind = (opcode & 2) ? X86_OP_LOAD : X86_OP_STORE;
	out->width = width;
	set_reg_operand(d, modrm, width, out);
	return 0;
}

/*
 * c6 /0 ib, c7 /0 iw/id: mov r/m, imm. The immediate is at most 32 bits and
 * is sign-extended to 64 with REX.W (SDM vol. 2 "MOV").
 */
static int dec_mov_imm(struct decoder *d, u8 opcode, struct x86_mmio_insn *out)
{
	unsigned int width = (opcode & 1) ? operand_size(d) : 1;
	unsigned int imm_size = width > 4 ? 4 : width;
	u8 modrm;
	u64 imm;
	int err = dec_modrm_mem(d, &modrm);

	if (err)
		return err;
	if (MODRM_REG(modrm) != 0)
		return -EINVAL;
	err = dec_le(d, imm_size, &imm);
	if (err)
		return err;
	out->kind = X86_OP_STORE;
	out->width = width;
	out->has_imm = true;
	out->imm = sign_extend(imm, imm_size) & width_mask(width);
	return 0;
}

/*
 * a0-a3: mov AL/rAX <-> moffs. No ModRM; the offset has the address size,
 * so 8 bytes in 64-bit mode unless 67 (SDM vol. 2 "MOV", APM vol. 3
 * sec. 2.5.4). The register is always rAX: REX.B does not apply.
 */
static int dec_mov_moffs(struct decoder *d, u8 opcode, struct x86_mmio_insn *out)
{
	unsigned int width = (opcode & 1) ? operand_size(d) : 1;
	int err = dec_skip(d, address_size(d));

	if (err)
		return err;
	out->kind = (opcode & 2) ? X86_OP_STORE : X86_OP_LOAD;
	out->width = width;
	out->reg = 0;
	out->reg_width = width;
	return 0;
}

/* Loads whose destination register may be wider than the memory operand. */
static int dec_extending_load(struct decoder *d, unsigned int width,
			      bool sign, struct x86_mmio_insn *out)
{
	u8 modrm;
	int err = dec_modrm_mem(d, &modrm);

	if (err)
		return err;
	out->kind = X86_OP_LOAD;
	out->width = width;
	out->sign_extend = sign;
	set_reg_operand(d, modrm, operand_size(d), out);
	return 0;
}

/* 0f b6/b7 movzx, 0f be/bf movsx. f2/f3 would select other instructions. */
static int dec_escape_0f(struct decoder *d, struct x86_mmio_insn *out)
{
	u8 opcode;
	int err = dec_byte(d, &opcode);

	if (err)
		return err;
	if (d->rep_prefix)
		return -EINVAL;
	switch (opcode) {
	case 0xb6: return dec_extending_load(d, 1, false, out);
	case 0xb7: return dec_extending_load(d, 2, false, out);
	case 0xbe: return dec_extending_load(d, 1, true, out);
	case 0xbf: return dec_extending_load(d, 2, true, out);
	}
	return -EINVAL;
}

/*
 * 63: movsxd in 64-bit mode (ARPL elsewhere, unsupported). With REX.W it
 * sign-extends 32 -> 64; without, it is a plain 32- or 16-bit load.
 */
static int dec_movsxd(struct decoder *d, struct x86_mmio_insn *out)
{
	unsigned int size = operand_size(d);

	if (d->cpu_mode != 64)
		return -EINVAL;
	return dec_extending_load(d, size > 4 ? 4 : size, size == 8, out);
}

static int dec_opcode(struct decoder *d, struct x86_mmio_insn *out)
{
	u8 opcode;
	int err = dec_byte(d, &opcode);

	if (err)
		return err;
	switch (opcode) {
	case 0x88: case 0x89: case 0x8a: case 0x8b:
		return dec_mov_modrm(d, opcode, out);
	case 0xc6: case 0xc7:
		return dec_mov_imm(d, opcode, out);
	case 0xa0: case 0xa1: case 0xa2: case 0xa3:
		return dec_mov_moffs(d, opcode, out);
	case 0x63:
		return dec_movsxd(d, out);
	case OPC_ESCAPE:
		return dec_escape_0f(d, out);
	}
	return -EINVAL;	/* includes the string forms a4-a7, aa-af */
}

/*
 * f2/f3 are accepted and ignored on the one-byte movs (f3 on a store is
 * XRELEASE); string instructions are not decoded at all.
 */
int x86_decode_mmio(const u8 *bytes, unsigned int nbytes, int cpu_mode,
		    struct x86_mmio_insn *out)
{
	struct decoder d = {
		.bytes = bytes, .nbytes = nbytes, .cpu_mode = cpu_mode,
	};
	int err;

	*out = (struct x86_mmio_insn){ 0 };
	if (cpu_mode != 16 && cpu_mode != 32 && cpu_mode != 64)
		return -EINVAL;
	err = dec_prefixes(&d);
	if (!err)
		err = dec_opcode(&d, out);
	if (err) {
		*out = (struct x86_mmio_insn){ 0 };
		return err;
	}
	out->len = d.pos;
	return 0;
}

/* Register write rules: SDM vol. 1 sec. 3.4.1.1, APM vol. 1 sec. 3.1.2.3. */
u64 x86_merge_load(u64 old_reg, const struct x86_mmio_insn *insn,
		   u64 mem_value)
{
	u64 value = mem_value & width_mask(insn->width);
	u64 reg_mask = width_mask(insn->reg_width);

	if (insn->sign_extend)
		value = sign_extend(value, insn->width);
	value &= reg_mask;
	if (insn->reg_width >= 4)
		return value;	/* 32-bit writes zero-extend to 64 bits */
	if (insn->high_byte)
		return (old_reg & ~0xff00ULL) | (value << 8);
	return (old_reg & ~reg_mask) | value;
}

u64 x86_store_value(u64 reg_value, const struct x86_mmio_insn *insn)
{
	if (insn->has_imm)
		return insn->imm;
	if (insn->high_byte)
		return (reg_value >> 8) & 0xff;
	return reg_value & width_mask(insn->width);
}

/* ==================== Guest page-table walker ==================== */

#define CR0_WP		(1ULL << 16)
#define CR0_PG		(1ULL << 31)
#define CR4_PSE		(1ULL << 4)
#define CR4_PAE		(1ULL << 5)
#define CR4_LA57	(1ULL << 12)
#define CR4_SMEP	(1ULL << 20)
#define EFER_LMA	(1ULL << 10)
#define EFER_NXE	(1ULL << 11)

/* Paging-structure entry bits, SDM vol. 3 tables 4-4 to 4-20. */
#define PTE_PRESENT	(1ULL << 0)
#define PTE_WRITE	(1ULL << 1)
#define PTE_USER	(1ULL << 2)
#define PTE_PS		(1ULL << 7)
#define PTE_NX		(1ULL << 63)

#define PAGE_SHIFT_4K	12
#define PAGE_SIZE_4K	(1ULL << PAGE_SHIFT_4K)
/* Physical address bits of an 8-byte entry, assuming MAXPHYADDR = 52. */
#define PTE64_ADDR_MASK	0x000ffffffffff000ULL
#define PTE32_ADDR_MASK	0xfffff000ULL
/* Bits 62:52, reserved in PAE entries (SDM vol. 3 tables 4-8 to 4-11). */
#define PAE_HIGH_RSVD	0x7ff0000000000000ULL
/* PAE PDPTE bits 2:1 and 8:5 are reserved (SDM vol. 3 table 4-8). */
#define PDPTE_PAE_RSVD	0x1e6ULL
/* PAT is bit 12 of a large-page entry; bits 20:13 / 29:13 are reserved. */
#define LARGE_2M_RSVD	0x1fe000ULL
#define LARGE_1G_RSVD	0x3fffe000ULL
/* 32-bit 4 MiB PDE: bits 20:13 are PA 39:32 (PSE-36), bit 21 reserved. */
#define PSE36_HIGH_BITS	0x1fe000ULL
#define PSE36_RSVD	(1ULL << 21)

struct walker {
	const struct x86_walk_regs *regs;
	unsigned int access;	/* X86_WALK_* */
	x86_read_gpa_fn read;
	void *ctx;
	unsigned int levels;	/* 2 (32-bit), 3 (PAE), 4 or 5 */
	unsigned int entry_size;/* 4 or 8 bytes */
	unsigned int index_bits;/* 10 or 9 */
	bool long_mode;
};

/* Accumulated access rights, SDM vol. 3 sec. 4.6. */
struct walk_rights {
	bool writable;	/* R/W = 1 at every level */
	bool user;	/* U/S = 1 at every level */
	bool nx;	/* XD = 1 at some level */
};

/* Paging mode selection, SDM vol. 3 sec. 4.1.1 table 4-1. */
static void walker_set_mode(struct walker *w)
{
	const struct x86_walk_regs *r = w->regs;

	w->long_mode = r->efer & EFER_LMA;
	if (!(r->cr4 & CR4_PAE)) {
		w->levels = 2;
		w->entry_size = 4;
		w->index_bits = 10;
	} else {
		w->levels = !w->long_mode ? 3 : (r->cr4 & CR4_LA57) ? 5 : 4;
		w->entry_size = 8;
		w->index_bits = 9;
	}
}

/* Root table address from CR3, SDM vol. 3 tables 4-3, 4-7 and 4-12. */
static u64 walker_root(const struct walker *w)
{
	if (w->entry_size == 4)
		return w->regs->cr3 & PTE32_ADDR_MASK;
	if (!w->long_mode)
		return w->regs->cr3 & 0xffffffe0ULL;	/* PDPT: bits 31:5 */
	return w->regs->cr3 & PTE64_ADDR_MASK;
}

/* Linear address bits 47:0 (56:0 with LA57) sign-extended, sec. 4.5. */
static bool is_canonical(u64 gva, unsigned int levels)
{
	unsigned int unused_bits = 64 - (PAGE_SHIFT_4K + 9 * levels);

	return (u64)((s64)(gva << unused_bits) >> unused_bits) == gva;
}

static unsigned int level_shift(const struct walker *w, unsigned int level)
{
	return PAGE_SHIFT_4K + w->index_bits * (level - 1);
}

static u64 entry_address(const struct walker *w, u64 table, u64 gva,
			 unsigned int level)
{
	u64 index = (gva >> level_shift(w, level)) &
		    ((1ULL << w->index_bits) - 1);

	return table + index * w->entry_size;
}

/* Calls the read callback; -EFAULT is reserved for page faults. */
static int read_guest(x86_read_gpa_fn read, void *ctx, u64 gpa, void *buf,
		      unsigned int len)
{
	int err = read(ctx, gpa, buf, len);

	return err == -EFAULT ? -EIO : err;
}

static int read_entry(const struct walker *w, u64 gpa, u64 *entry)
{
	u8 raw[8];
	unsigned int i;
	int err = read_guest(w->read, w->ctx, gpa, raw, w->entry_size);

	if (err)
		return err;
	*entry = 0;
	for (i = w->entry_size; i-- > 0;)
		*entry = (*entry << 8) | raw[i];
	return 0;
}

/* Does this entry map a page (rather than point to the next table)? */
static bool maps_page(const struct walker *w, unsigned int level, u64 entry)
{
	if (level == 1)
		return true;
	if (!(entry & PTE_PS))
		return false;
	if (w->entry_size == 4)		/* 4 MiB page only with CR4.PSE */
		return level == 2 && (w->regs->cr4 & CR4_PSE);
	return level == 2 || (level == 3 && w->long_mode);
}

static u64 reserved_bits_64(const struct walker *w, unsigned int level,
			    u64 entry)
{
	u64 rsvd = (w->regs->efer & EFER_NXE) ? 0 : PTE_NX;

	if (!w->long_mode) {
		rsvd |= PAE_HIGH_RSVD;
		if (level == 3)
			rsvd |= PTE_NX | PDPTE_PAE_RSVD;
	} else if (level >= 4) {
		rsvd |= PTE_PS;
	}
	if (level == 2 && maps_page(w, level, entry))
		rsvd |= LARGE_2M_RSVD;
	if (level == 3 && maps_page(w, level, entry))
		rsvd |= LARGE_1G_RSVD;
	return rsvd;
}

static u64 reserved_bits(const struct walker *w, unsigned int level, u64 entry)
{
	if (w->entry_size == 8)
		return reserved_bits_64(w, level, entry);
	if (level == 2 && maps_page(w, level, entry))
		return PSE36_RSVD;
	return 0;
}

/* A PAE PDPTE has no access-right bits (SDM vol. 3 sec. 4.4.1). */
static void add_rights(const struct walker *w, unsigned int level, u64 entry,
		       struct walk_rights *rights)
{
	if (!w->long_mode && w->entry_size == 8 && level == 3)
		return;
	rights->writable &= !!(entry & PTE_WRITE);
	rights->user &= !!(entry & PTE_USER);
	if (w->entry_size == 8)
		rights->nx |= !!(entry & PTE_NX);
}

/* Physical base of the page mapped by entry at level. */
static u64 page_frame(const struct walker *w, unsigned int level, u64 entry)
{
	u64 page_mask = ~((1ULL << level_shift(w, level)) - 1);

	if (w->entry_size == 8)
		return entry & PTE64_ADDR_MASK & page_mask;
	if (level == 1)
		return entry & PTE32_ADDR_MASK;
	return (entry & page_mask & 0xffffffffULL) |
	       ((entry & PSE36_HIGH_BITS) << 19);
}

/* Access-rights check, SDM vol. 3 sec. 4.6.1 (SMAP is not modelled). */
static bool access_allowed(const struct walker *w,
			   const struct walk_rights *rights)
{
	bool user = w->access & X86_WALK_USER;
	bool write = w->access & X86_WALK_WRITE;
	bool fetch = w->access & X86_WALK_FETCH;

	if (user && !rights->user)
		return false;
	if (write && !rights->writable && (user || (w->regs->cr0 & CR0_WP)))
		return false;
	if (fetch && rights->nx)
		return false;
	if (fetch && !user && rights->user && (w->regs->cr4 & CR4_SMEP))
		return false;
	return true;
}

/* Page-fault error code, SDM vol. 3 sec. 4.7. */
static u32 make_fault_code(const struct walker *w, u32 cause)
{
	u32 code = cause | (w->access & (X86_WALK_WRITE | X86_WALK_USER));
	bool nx_enabled = w->entry_size == 8 && (w->regs->efer & EFER_NXE);

	if ((w->access & X86_WALK_FETCH) &&
	    (nx_enabled || (w->regs->cr4 & CR4_SMEP)))
		code |= X86_PFERR_FETCH;
	return code;
}

/* The entry that maps the page, where the walk ended. */
struct walk_leaf {
	unsigned int level;
	u64 entry;
	struct walk_rights rights;
};

/*
 * Walks from the root down to the entry mapping gva. Returns 0, a read
 * error, or -EFAULT with *fault_cause = 0 (not present) or
 * PRESENT | RSVD (reserved bit set).
 */
static int find_leaf(const struct walker *w, u64 gva, struct walk_leaf *leaf,
		     u32 *fault_cause)
{
	u64 table = walker_root(w), entry;
	unsigned int level;
	int err;

	leaf->rights = (struct walk_rights){ .writable = true, .user = true };
	for (level = w->levels; level >= 1; level--) {
		err = read_entry(w, entry_address(w, table, gva, level), &entry);
		if (err)
			return err;
		if (!(entry & PTE_PRESENT)) {
			*fault_cause = 0;
			return -EFAULT;
		}
		if (entry & reserved_bits(w, level, entry)) {
			*fault_cause = X86_PFERR_PRESENT | X86_PFERR_RSVD;
			return -EFAULT;
		}
		add_rights(w, level, entry, &leaf->rights);
		if (maps_page(w, level, entry)) {
			leaf->level = level;
			leaf->entry = entry;
			return 0;
		}
		table = entry & (w->entry_size == 8 ? PTE64_ADDR_MASK :
						      PTE32_ADDR_MASK);
	}
	return -EINVAL;	/* not reached: a level-1 entry always maps a page */
}

static int walk_tables(const struct walker *w, u64 gva, u64 *gpa,
		       u32 *fault_code)
{
	struct walk_leaf leaf = { 0 };
	u32 fault_cause = X86_PFERR_PRESENT;	/* protection violation */
	int err = find_leaf(w, gva, &leaf, &fault_cause);

	if (!err && !access_allowed(w, &leaf.rights))
		err = -EFAULT;
	if (err == -EFAULT)
		*fault_code = make_fault_code(w, fault_cause);
	if (err)
		return err;
	*gpa = page_frame(w, leaf.level, leaf.entry) +
	       (gva & ((1ULL << level_shift(w, leaf.level)) - 1));
	return 0;
}

int x86_walk_gva(const struct x86_walk_regs *r, u64 gva, unsigned int access,
		 x86_read_gpa_fn read, void *ctx, u64 *gpa, u32 *fault_code)
{
	struct walker w = {
		.regs = r, .access = access, .read = read, .ctx = ctx,
	};

	*fault_code = 0;
	if (!(r->cr0 & CR0_PG)) {	/* no paging: 32-bit linear = physical */
		*gpa = gva & 0xffffffffULL;
		return 0;
	}
	walker_set_mode(&w);
	if (!w.long_mode)
		gva &= 0xffffffffULL;
	else if (!is_canonical(gva, w.levels))
		return -EINVAL;
	return walk_tables(&w, gva, gpa, fault_code);
}

/* Fetches the part of the instruction that lies in the page of linear. */
static int fetch_in_page(const struct x86_walk_regs *r, u64 linear,
			 unsigned int access, x86_read_gpa_fn read, void *ctx,
			 u8 *buf, unsigned int want, unsigned int *got)
{
	u64 room = PAGE_SIZE_4K - (linear & (PAGE_SIZE_4K - 1));
	unsigned int len = want < room ? want : (unsigned int)room;
	u32 fault_code;
	u64 gpa;
	int err = x86_walk_gva(r, linear, access, read, ctx, &gpa, &fault_code);

	if (err)
		return err;
	err = read_guest(read, ctx, gpa, buf, len);
	if (err)
		return err;
	*got = len;
	return 0;
}

int x86_fetch_insn(const struct x86_walk_regs *r, u64 linear_rip,
		   unsigned int access, x86_read_gpa_fn read, void *ctx,
		   u8 *buf, unsigned int *nbytes)
{
	unsigned int fetched = 0, chunk;
	int err;

	access = (access & X86_WALK_USER) | X86_WALK_FETCH;
	*nbytes = 0;
	while (fetched < X86_MAX_INSN_LEN) {
		err = fetch_in_page(r, linear_rip + fetched, access, read, ctx,
				    buf + fetched, X86_MAX_INSN_LEN - fetched,
				    &chunk);
		if (err && !fetched)
			return err;
		if (err)
			break;
		fetched += chunk;
	}
	*nbytes = fetched;
	return 0;
}
