/* SPDX-License-Identifier: GPL-2.0 */
/*
 * MMIO instruction decoder and guest page-table walker.
 *
 * Used on a nested page fault for a GPA outside guest memory when the CPU
 * provides neither decode assists nor NRIP save: the faulting instruction
 * is fetched from guest memory (x86_fetch_insn, which walks the guest's
 * own page tables with x86_walk_gva) and decoded with x86_decode_mmio.
 *
 * Pure C with no dependency on the rest of the module: it builds both in
 * the kernel and in userspace (selftests/x86_decode_test.c includes
 * emulate.c directly).
 */
#ifndef AXVM_ARCH_X86_EMULATE_H
#define AXVM_ARCH_X86_EMULATE_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdbool.h>
#include <stdint.h>
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int64_t s64;
#endif

/* Architectural limit on instruction length (SDM vol. 2 sec. 2.1). */
#define X86_MAX_INSN_LEN 15

enum x86_op_kind {
	X86_OP_LOAD,	/* memory -> register */
	X86_OP_STORE,	/* register or immediate -> memory */
};

struct x86_mmio_insn {
	u8 len;		 /* total instruction length, prefixes included */
	u8 width;	 /* memory access width: 1, 2, 4 or 8 */
	u8 kind;	 /* enum x86_op_kind */
	u8 reg;		 /* GPR 0-15 (rax=0 .. r15=15); 0 for immediate stores */
	/*
	 * Register bytes: written on a load (may exceed width for movzx,
	 * movsx, movsxd), read on a register store (== width); 0 for
	 * immediate stores.
	 */
	u8 reg_width;
	bool sign_extend;/* movsx / movsxd */
	bool high_byte;	 /* AH/CH/DH/BH: 8-bit reg 4-7 without REX, reg = 0-3 */
	bool has_imm;	 /* store of an immediate */
	u64 imm;	 /* immediate for stores, sign-extended to width */
};

/*
 * Decodes the instruction in bytes[0..nbytes) as an MMIO access.
 * cpu_mode: 16, 32 or 64, the default operand/address size from CS.D,
 * CS.L and EFER.LMA.
 * Returns 0, -EINVAL (undecodable, unsupported, register-only operand,
 * longer than 15 bytes, bad cpu_mode) or -ENODATA (the instruction
 * needs more than nbytes bytes).
 */
int x86_decode_mmio(const u8 *bytes, unsigned int nbytes, int cpu_mode,
		    struct x86_mmio_insn *out);

/*
 * New value of the destination GPR of a load: mem_value is truncated to
 * insn->width, zero- or sign-extended, then written as reg_width bytes:
 * 8 replaces, 4 zero-extends to 64 bits, 2 and 1 merge into old_reg,
 * high_byte writes bits 15:8.
 */
u64 x86_merge_load(u64 old_reg, const struct x86_mmio_insn *insn,
		   u64 mem_value);

/* The value a store writes: the immediate, AH..BH, or reg_value's low bits. */
u64 x86_store_value(u64 reg_value, const struct x86_mmio_insn *insn);

/* Guest paging state, straight from the VMCB save area. */
struct x86_walk_regs {
	u64 cr0, cr3, cr4, efer;
};

/*
 * Access bits for x86_walk_gva. They have the same values as the matching
 * page-fault error-code bits (SDM vol. 3 sec. 4.7).
 */
#define X86_WALK_WRITE		(1u << 1)
#define X86_WALK_USER		(1u << 2)
#define X86_WALK_FETCH		(1u << 4)

/* Page-fault error code bits reported in *fault_code. */
#define X86_PFERR_PRESENT	(1u << 0)	/* protection / reserved, not "not present" */
#define X86_PFERR_WRITE		(1u << 1)
#define X86_PFERR_USER		(1u << 2)
#define X86_PFERR_RSVD		(1u << 3)
#define X86_PFERR_FETCH		(1u << 4)

/*
 * Reads len bytes of guest physical memory at gpa into buf.
 * Returns 0 or a negative errno, which the walker passes through, except
 * that -EFAULT becomes -EIO: from the walker, -EFAULT always means #PF.
 */
typedef int (*x86_read_gpa_fn)(void *ctx, u64 gpa, void *buf, unsigned int len);

/*
 * Translates the guest linear address gva to a guest physical address
 * following the guest paging mode (none, 32-bit with PSE, PAE, 4-level,
 * 5-level). Accessed/dirty bits are not updated.
 * Returns 0 with *gpa set, -EFAULT with *fault_code set to the #PF error
 * code, -EINVAL for a non-canonical address in long mode (#GP, not #PF),
 * or the read callback's error (-EFAULT mapped to -EIO). *fault_code is 0
 * unless -EFAULT.
 */
int x86_walk_gva(const struct x86_walk_regs *r, u64 gva, unsigned int access,
		 x86_read_gpa_fn read, void *ctx, u64 *gpa, u32 *fault_code);

/*
 * Fetches up to X86_MAX_INSN_LEN instruction bytes at linear_rip into buf,
 * page by page. access: X86_WALK_USER when the guest CPL is 3, else 0
 * (X86_WALK_FETCH is implied). Stops early, returning 0 with a short
 * *nbytes, if a later page cannot be translated or read. Returns the
 * x86_walk_gva error (-EFAULT, -EINVAL, callback error) if not even the
 * first byte can be fetched; walk linear_rip (or linear_rip + *nbytes when
 * the decoder says -ENODATA) again to get the #PF error code.
 */
int x86_fetch_insn(const struct x86_walk_regs *r, u64 linear_rip,
		   unsigned int access, x86_read_gpa_fn read, void *ctx,
		   u8 *buf, unsigned int *nbytes);

#endif /* AXVM_ARCH_X86_EMULATE_H */
