// SPDX-License-Identifier: GPL-2.0
/*
 * Userspace unit test of the MMIO instruction decoder and the guest page
 * walker in driver/arch/x86/emulate.c, which is compiled in directly.
 *
 * Encodings marked "as16/as32/as64:" were produced by GNU as (.code16,
 * .code32, .code64) and objdump -d from the mnemonic in the comment.
 * Encodings marked "hand:" cannot be produced by as (prefix placements it
 * never emits, architecturally odd forms) and were built from SDM vol. 2
 * ch. 2 by hand.
 */
#include <errno.h>
#include <string.h>

/* The unit under test, compiled with every warning enabled. */
#include "../driver/arch/x86/emulate.c"

/*
 * kselftest_harness.h and the wrappers its TEST() macro generates have
 * unused parameters, which -Wextra -Werror would reject.
 */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"

/* ------------------------------------------------------------------ */
/* Decoder helpers                                                     */
/* ------------------------------------------------------------------ */

/*
 * Decodes arr (exactly one instruction) in mode and checks that
 *  - the length is sizeof(arr),
 *  - trailing bytes do not change the result,
 *  - every truncation of it is -ENODATA.
 */
#define DECODE_OK(arr, mode, insn)						\
	do {									\
		struct x86_mmio_insn padded_;					\
		u8 buf_[X86_MAX_INSN_LEN + 4];					\
		unsigned int cut_;						\
										\
		ASSERT_EQ(0, x86_decode_mmio(arr, sizeof(arr), mode, insn));	\
		ASSERT_EQ(sizeof(arr), (insn)->len);				\
		memset(buf_, 0x90, sizeof(buf_));				\
		memcpy(buf_, arr, sizeof(arr));					\
		ASSERT_EQ(0, x86_decode_mmio(buf_, sizeof(buf_), mode,		\
					     &padded_));			\
		ASSERT_EQ(0, memcmp(&padded_, insn, sizeof(padded_)));		\
		for (cut_ = 0; cut_ < sizeof(arr); cut_++)			\
			ASSERT_EQ(-ENODATA, x86_decode_mmio(arr, cut_, mode,	\
							    &padded_));		\
	} while (0)

#define DECODE_FAILS(arr, mode, err)						\
	do {									\
		struct x86_mmio_insn bad_;					\
										\
		ASSERT_EQ(err, x86_decode_mmio(arr, sizeof(arr), mode, &bad_));	\
		ASSERT_EQ(0, bad_.len);						\
	} while (0)

#define EXPECT_LOAD(insn, w, r, rw)					\
	do {								\
		EXPECT_EQ(X86_OP_LOAD, (insn).kind);			\
		EXPECT_EQ(w, (insn).width);				\
		EXPECT_EQ(r, (insn).reg);				\
		EXPECT_EQ(rw, (insn).reg_width);			\
		EXPECT_FALSE((insn).has_imm);				\
	} while (0)

#define EXPECT_REG_STORE(insn, w, r)					\
	do {								\
		EXPECT_EQ(X86_OP_STORE, (insn).kind);			\
		EXPECT_EQ(w, (insn).width);				\
		EXPECT_EQ(r, (insn).reg);				\
		EXPECT_EQ(w, (insn).reg_width);				\
		EXPECT_FALSE((insn).has_imm);				\
		EXPECT_FALSE((insn).sign_extend);			\
	} while (0)

#define EXPECT_IMM_STORE(insn, w, value)				\
	do {								\
		EXPECT_EQ(X86_OP_STORE, (insn).kind);			\
		EXPECT_EQ(w, (insn).width);				\
		EXPECT_TRUE((insn).has_imm);				\
		EXPECT_EQ((u64)(value), (insn).imm);			\
		EXPECT_FALSE((insn).high_byte);				\
	} while (0)

/* ------------------------------------------------------------------ */
/* Decoder: opcode forms                                               */
/* ------------------------------------------------------------------ */

TEST(mov_store_byte_registers)
{
	static const u8 al[] = { 0x88, 0x03 };		/* as64: mov %al,(%rbx) */
	static const u8 ah[] = { 0x88, 0x23 };		/* as64: mov %ah,(%rbx) */
	static const u8 bh[] = { 0x88, 0x3b };		/* as64: mov %bh,(%rbx) */
	static const u8 spl[] = { 0x40, 0x88, 0x23 };	/* as64: mov %spl,(%rbx) */
	static const u8 r9b[] = { 0x44, 0x88, 0x08 };	/* as64: mov %r9b,(%rax) */
	struct x86_mmio_insn insn;

	DECODE_OK(al, 64, &insn);
	EXPECT_REG_STORE(insn, 1, 0);
	EXPECT_FALSE(insn.high_byte);

	DECODE_OK(ah, 64, &insn);
	EXPECT_REG_STORE(insn, 1, 0);
	EXPECT_TRUE(insn.high_byte);

	DECODE_OK(bh, 64, &insn);
	EXPECT_REG_STORE(insn, 1, 3);
	EXPECT_TRUE(insn.high_byte);

	DECODE_OK(spl, 64, &insn);
	EXPECT_REG_STORE(insn, 1, 4);
	EXPECT_FALSE(insn.high_byte);

	DECODE_OK(r9b, 64, &insn);
	EXPECT_REG_STORE(insn, 1, 9);
	EXPECT_FALSE(insn.high_byte);
}

TEST(mov_store_word_registers)
{
	static const u8 ecx[] = { 0x89, 0x08 };		/* as64: mov %ecx,(%rax) */
	static const u8 rcx[] = { 0x48, 0x89, 0x08 };	/* as64: mov %rcx,(%rax) */
	static const u8 cx[] = { 0x66, 0x89, 0x08 };	/* as64: mov %cx,(%rax) */
	static const u8 r15[] = { 0x4d, 0x89, 0x7c, 0x24, 0x10 }; /* as64: mov %r15,0x10(%r12) */
	static const u8 esp[] = { 0x89, 0x60, 0x08 };	/* as64: mov %esp,0x8(%rax) */
	struct x86_mmio_insn insn;

	DECODE_OK(ecx, 64, &insn);
	EXPECT_REG_STORE(insn, 4, 1);

	DECODE_OK(rcx, 64, &insn);
	EXPECT_REG_STORE(insn, 8, 1);

	DECODE_OK(cx, 64, &insn);
	EXPECT_REG_STORE(insn, 2, 1);

	DECODE_OK(r15, 64, &insn);
	EXPECT_REG_STORE(insn, 8, 15);

	/* reg 4 is only AH for byte operands */
	DECODE_OK(esp, 64, &insn);
	EXPECT_REG_STORE(insn, 4, 4);
	EXPECT_FALSE(insn.high_byte);
}

TEST(mov_load_registers)
{
	static const u8 cl[] = { 0x8a, 0x4b, 0x08 };	/* as64: mov 0x8(%rbx),%cl */
	static const u8 ah[] = { 0x8a, 0x63, 0x08 };	/* as64: mov 0x8(%rbx),%ah */
	static const u8 eax[] = { 0x8b, 0x80, 0x00, 0x01, 0x00, 0x00 }; /* as64: mov 0x100(%rax),%eax */
	static const u8 r8[] = { 0x4c, 0x8b, 0x80, 0x00, 0x01, 0x00, 0x00 }; /* as64: mov 0x100(%rax),%r8 */
	static const u8 ax[] = { 0x66, 0x8b, 0x01 };	/* as64: mov (%rcx),%ax */
	static const u8 r14w[] = { 0x66, 0x44, 0x8b, 0x31 }; /* as64: mov (%rcx),%r14w */
	struct x86_mmio_insn insn;

	DECODE_OK(cl, 64, &insn);
	EXPECT_LOAD(insn, 1, 1, 1);
	EXPECT_FALSE(insn.high_byte);

	DECODE_OK(ah, 64, &insn);
	EXPECT_LOAD(insn, 1, 0, 1);
	EXPECT_TRUE(insn.high_byte);

	DECODE_OK(eax, 64, &insn);
	EXPECT_LOAD(insn, 4, 0, 4);

	DECODE_OK(r8, 64, &insn);
	EXPECT_LOAD(insn, 8, 8, 8);

	DECODE_OK(ax, 64, &insn);
	EXPECT_LOAD(insn, 2, 0, 2);

	DECODE_OK(r14w, 64, &insn);
	EXPECT_LOAD(insn, 2, 14, 2);
	EXPECT_FALSE(insn.sign_extend);
}

TEST(mov_store_immediates)
{
	static const u8 b[] = { 0xc6, 0x00, 0x80 };	/* as64: movb $0x80,(%rax) */
	static const u8 w[] = { 0x66, 0xc7, 0x00, 0x34, 0x12 }; /* as64: movw $0x1234,(%rax) */
	static const u8 l[] = { 0xc7, 0x40, 0x08, 0x00, 0x00, 0x00, 0x80 }; /* as64: movl $0x80000000,0x8(%rax) */
	static const u8 q_m1[] = { 0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0xff }; /* as64: movq $-1,(%rax) */
	static const u8 q_neg[] = { 0x48, 0xc7, 0x00, 0x00, 0x00, 0x00, 0x80 }; /* as64: movq $-0x80000000,(%rax) */
	static const u8 q_pos[] = { 0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0x7f }; /* as64: movq $0x7fffffff,(%rax) */
	static const u8 r12b[] = { 0x41, 0xc6, 0x04, 0x24, 0xff }; /* as64: movb $0xff,(%r12) */
	struct x86_mmio_insn insn;

	DECODE_OK(b, 64, &insn);
	EXPECT_IMM_STORE(insn, 1, 0x80);

	DECODE_OK(w, 64, &insn);
	EXPECT_IMM_STORE(insn, 2, 0x1234);

	DECODE_OK(l, 64, &insn);
	EXPECT_IMM_STORE(insn, 4, 0x80000000u);

	DECODE_OK(q_m1, 64, &insn);
	EXPECT_IMM_STORE(insn, 8, ~0ULL);

	DECODE_OK(q_neg, 64, &insn);
	EXPECT_IMM_STORE(insn, 8, 0xffffffff80000000ULL);

	DECODE_OK(q_pos, 64, &insn);
	EXPECT_IMM_STORE(insn, 8, 0x7fffffffULL);

	DECODE_OK(r12b, 64, &insn);
	EXPECT_IMM_STORE(insn, 1, 0xff);
}

TEST(moffs_64bit_mode)
{
	static const u8 load_al[] = { 0xa0, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 }; /* as64: movabs 0x1122334455667788,%al */
	static const u8 load_ax[] = { 0x66, 0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 }; /* as64: movabs 0x1122334455667788,%ax */
	static const u8 load_eax[] = { 0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 }; /* as64: movabs 0x1122334455667788,%eax */
	static const u8 store_al[] = { 0xa2, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 }; /* as64: movabs %al,0x1122334455667788 */
	static const u8 store_rax[] = { 0x48, 0xa3, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 }; /* as64: movabs %rax,0x1122334455667788 */
	static const u8 addr32[] = { 0x67, 0xa1, 0x78, 0x56, 0x34, 0x12 }; /* as64: addr32 mov 0x12345678,%eax */
	static const u8 rex_b[] = { 0x49, 0xa3, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 }; /* hand: rex.WB movabs %rax,moffs64 (REX.B ignored) */
	struct x86_mmio_insn insn;

	DECODE_OK(load_al, 64, &insn);
	EXPECT_LOAD(insn, 1, 0, 1);
	EXPECT_FALSE(insn.high_byte);

	DECODE_OK(load_ax, 64, &insn);
	EXPECT_LOAD(insn, 2, 0, 2);

	DECODE_OK(load_eax, 64, &insn);
	EXPECT_LOAD(insn, 4, 0, 4);

	DECODE_OK(store_al, 64, &insn);
	EXPECT_REG_STORE(insn, 1, 0);

	DECODE_OK(store_rax, 64, &insn);
	EXPECT_REG_STORE(insn, 8, 0);

	DECODE_OK(addr32, 64, &insn);
	EXPECT_LOAD(insn, 4, 0, 4);

	DECODE_OK(rex_b, 64, &insn);
	EXPECT_REG_STORE(insn, 8, 0);
}

TEST(moffs_32bit_and_16bit_modes)
{
	static const u8 m32_load[] = { 0xa1, 0x78, 0x56, 0x34, 0x12 }; /* as32: mov 0x12345678,%eax */
	static const u8 m32_store_ax[] = { 0x66, 0xa3, 0x78, 0x56, 0x34, 0x12 }; /* as32: mov %ax,0x12345678 */
	static const u8 m32_addr16[] = { 0x67, 0xa1, 0x34, 0x12 }; /* as32: addr16 mov 0x1234,%eax */
	static const u8 m16_load[] = { 0xa1, 0x34, 0x12 };	/* as16: mov 0x1234,%ax */
	static const u8 m16_eax[] = { 0x66, 0xa1, 0x34, 0x12 }; /* as16: mov 0x1234,%eax */
	static const u8 m16_addr32[] = { 0x67, 0xa2, 0x78, 0x56, 0x34, 0x12 }; /* as16: addr32 mov %al,0x12345678 */
	struct x86_mmio_insn insn;

	DECODE_OK(m32_load, 32, &insn);
	EXPECT_LOAD(insn, 4, 0, 4);

	DECODE_OK(m32_store_ax, 32, &insn);
	EXPECT_REG_STORE(insn, 2, 0);

	DECODE_OK(m32_addr16, 32, &insn);
	EXPECT_LOAD(insn, 4, 0, 4);

	DECODE_OK(m16_load, 16, &insn);
	EXPECT_LOAD(insn, 2, 0, 2);

	DECODE_OK(m16_eax, 16, &insn);
	EXPECT_LOAD(insn, 4, 0, 4);

	DECODE_OK(m16_addr32, 16, &insn);
	EXPECT_REG_STORE(insn, 1, 0);
}

TEST(movzx_forms)
{
	static const u8 bl[] = { 0x0f, 0xb6, 0x00 };		/* as64: movzbl (%rax),%eax */
	static const u8 bq[] = { 0x48, 0x0f, 0xb6, 0x08 };	/* as64: movzbq (%rax),%rcx */
	static const u8 bw[] = { 0x66, 0x0f, 0xb6, 0x00 };	/* as64: movzbw (%rax),%ax */
	static const u8 wl[] = { 0x0f, 0xb7, 0x00 };		/* as64: movzwl (%rax),%eax */
	static const u8 wq[] = { 0x4c, 0x0f, 0xb7, 0x00 };	/* as64: movzwq (%rax),%r8 */
	static const u8 esp[] = { 0x0f, 0xb6, 0x60, 0x08 };	/* as64: movzbl 0x8(%rax),%esp */
	static const u8 m32[] = { 0x0f, 0xb6, 0x0d, 0x78, 0x56, 0x34, 0x12 }; /* as32: movzbl 0x12345678,%ecx */
	struct x86_mmio_insn insn;

	DECODE_OK(bl, 64, &insn);
	EXPECT_LOAD(insn, 1, 0, 4);
	EXPECT_FALSE(insn.sign_extend);

	DECODE_OK(bq, 64, &insn);
	EXPECT_LOAD(insn, 1, 1, 8);

	DECODE_OK(bw, 64, &insn);
	EXPECT_LOAD(insn, 1, 0, 2);

	DECODE_OK(wl, 64, &insn);
	EXPECT_LOAD(insn, 2, 0, 4);

	DECODE_OK(wq, 64, &insn);
	EXPECT_LOAD(insn, 2, 8, 8);

	/* the destination is never a byte register: reg 4 is esp, not ah */
	DECODE_OK(esp, 64, &insn);
	EXPECT_LOAD(insn, 1, 4, 4);
	EXPECT_FALSE(insn.high_byte);

	DECODE_OK(m32, 32, &insn);
	EXPECT_LOAD(insn, 1, 1, 4);
}

TEST(movsx_forms)
{
	static const u8 bl[] = { 0x0f, 0xbe, 0x00 };		/* as64: movsbl (%rax),%eax */
	static const u8 bq[] = { 0x48, 0x0f, 0xbe, 0x00 };	/* as64: movsbq (%rax),%rax */
	static const u8 bw[] = { 0x66, 0x0f, 0xbe, 0x00 };	/* as64: movsbw (%rax),%ax */
	static const u8 wl[] = { 0x0f, 0xbf, 0x00 };		/* as64: movswl (%rax),%eax */
	static const u8 wq[] = { 0x4c, 0x0f, 0xbf, 0x38 };	/* as64: movswq (%rax),%r15 */
	struct x86_mmio_insn insn;

	DECODE_OK(bl, 64, &insn);
	EXPECT_LOAD(insn, 1, 0, 4);
	EXPECT_TRUE(insn.sign_extend);

	DECODE_OK(bq, 64, &insn);
	EXPECT_LOAD(insn, 1, 0, 8);
	EXPECT_TRUE(insn.sign_extend);

	DECODE_OK(bw, 64, &insn);
	EXPECT_LOAD(insn, 1, 0, 2);
	EXPECT_TRUE(insn.sign_extend);

	DECODE_OK(wl, 64, &insn);
	EXPECT_LOAD(insn, 2, 0, 4);
	EXPECT_TRUE(insn.sign_extend);

	DECODE_OK(wq, 64, &insn);
	EXPECT_LOAD(insn, 2, 15, 8);
	EXPECT_TRUE(insn.sign_extend);
}

TEST(movsxd_forms)
{
	static const u8 slq[] = { 0x48, 0x63, 0x08 };		/* as64: movslq (%rax),%rcx */
	static const u8 r8[] = { 0x4c, 0x63, 0x40, 0x10 };	/* as64: movslq 0x10(%rax),%r8 */
	static const u8 no_w[] = { 0x63, 0x08 };		/* as64: movsxd (%rax),%ecx */
	static const u8 arpl[] = { 0x63, 0x08 };		/* as32: arpl %cx,(%eax) */
	struct x86_mmio_insn insn;

	DECODE_OK(slq, 64, &insn);
	EXPECT_LOAD(insn, 4, 1, 8);
	EXPECT_TRUE(insn.sign_extend);

	DECODE_OK(r8, 64, &insn);
	EXPECT_LOAD(insn, 4, 8, 8);
	EXPECT_TRUE(insn.sign_extend);

	DECODE_OK(no_w, 64, &insn);
	EXPECT_LOAD(insn, 4, 1, 4);
	EXPECT_FALSE(insn.sign_extend);

	DECODE_FAILS(arpl, 32, -EINVAL);
	DECODE_FAILS(arpl, 16, -EINVAL);
}

/* ------------------------------------------------------------------ */
/* Decoder: addressing forms                                           */
/* ------------------------------------------------------------------ */

TEST(addressing_16bit_lengths)
{
	static const u8 bx_si[] = { 0x8b, 0x00 };		/* as16: mov (%bx,%si),%ax */
	static const u8 disp16[] = { 0x8b, 0x0e, 0x34, 0x12 };	/* as16: mov 0x1234,%cx */
	static const u8 bp_d8[] = { 0x8b, 0x46, 0x12 };		/* as16: mov 0x12(%bp),%ax */
	static const u8 bx_di_d16[] = { 0x8b, 0x81, 0x34, 0x12 }; /* as16: mov 0x1234(%bx,%di),%ax */
	static const u8 ah_bx[] = { 0x88, 0x27 };		/* as16: mov %ah,(%bx) */
	static const u8 imm_w[] = { 0xc7, 0x06, 0x34, 0x12, 0x78, 0x56 }; /* as16: movw $0x5678,0x1234 */
	static const u8 imm_l[] = { 0x66, 0xc7, 0x07, 0x78, 0x56, 0x34, 0x12 }; /* as16: movl $0x12345678,(%bx) */
	static const u8 a32_sib[] = { 0x67, 0x8b, 0x04, 0x24 };	/* as16: mov (%esp),%ax */
	static const u8 a32_abs[] = { 0x67, 0x8b, 0x0d, 0x78, 0x56, 0x34, 0x12 }; /* as16: addr32 mov 0x12345678,%cx */
	static const u8 m32_a16[] = { 0x67, 0x8b, 0x46, 0x12 };	/* as32: mov 0x12(%bp),%eax */
	static const u8 m32_a16_abs[] = { 0x67, 0x8b, 0x0e, 0x34, 0x12 }; /* as32: addr16 mov 0x1234,%ecx */
	struct x86_mmio_insn insn;

	DECODE_OK(bx_si, 16, &insn);
	EXPECT_LOAD(insn, 2, 0, 2);

	DECODE_OK(disp16, 16, &insn);
	EXPECT_LOAD(insn, 2, 1, 2);

	DECODE_OK(bp_d8, 16, &insn);
	DECODE_OK(bx_di_d16, 16, &insn);

	DECODE_OK(ah_bx, 16, &insn);
	EXPECT_REG_STORE(insn, 1, 0);
	EXPECT_TRUE(insn.high_byte);

	DECODE_OK(imm_w, 16, &insn);
	EXPECT_IMM_STORE(insn, 2, 0x5678);

	DECODE_OK(imm_l, 16, &insn);
	EXPECT_IMM_STORE(insn, 4, 0x12345678);

	DECODE_OK(a32_sib, 16, &insn);
	DECODE_OK(a32_abs, 16, &insn);
	EXPECT_LOAD(insn, 2, 1, 2);

	DECODE_OK(m32_a16, 32, &insn);
	EXPECT_LOAD(insn, 4, 0, 4);
	DECODE_OK(m32_a16_abs, 32, &insn);
}

TEST(addressing_32bit_mode)
{
	static const u8 abs32[] = { 0x8b, 0x0d, 0x78, 0x56, 0x34, 0x12 }; /* as32: mov 0x12345678,%ecx */
	static const u8 esp[] = { 0x8b, 0x04, 0x24 };		/* as32: mov (%esp),%eax */
	static const u8 ebp_d8[] = { 0x89, 0x45, 0xfc };	/* as32: mov %eax,-0x4(%ebp) */
	static const u8 ah[] = { 0x88, 0x20 };			/* as32: mov %ah,(%eax) */
	struct x86_mmio_insn insn;

	DECODE_OK(abs32, 32, &insn);
	EXPECT_LOAD(insn, 4, 1, 4);

	DECODE_OK(esp, 32, &insn);
	DECODE_OK(ebp_d8, 32, &insn);
	EXPECT_REG_STORE(insn, 4, 0);

	DECODE_OK(ah, 32, &insn);
	EXPECT_REG_STORE(insn, 1, 0);
	EXPECT_TRUE(insn.high_byte);
}

TEST(addressing_rip_relative)
{
	static const u8 load[] = { 0x8b, 0x05, 0x00, 0x01, 0x00, 0x00 }; /* as64: mov 0x100(%rip),%eax */
	static const u8 imm[] = { 0xc7, 0x05, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00 }; /* as64: movl $1,0x10(%rip) */
	static const u8 imm_q[] = { 0x48, 0xc7, 0x05, 0xf0, 0xff, 0xff, 0xff, 0x2a, 0x00, 0x00, 0x00 }; /* as64: movq $42,-0x10(%rip) */
	static const u8 eip[] = { 0x67, 0x8b, 0x05, 0x00, 0x01, 0x00, 0x00 }; /* as64: mov 0x100(%eip),%eax */
	static const u8 rex_b[] = { 0x41, 0x8b, 0x05, 0x00, 0x01, 0x00, 0x00 }; /* hand: rex.B mov 0x100(%rip),%eax (REX.B ignored) */
	static const u8 movb[] = { 0xc6, 0x05, 0xff, 0x0f, 0x00, 0x00, 0x7f }; /* as64: movb $0x7f,0xfff(%rip) */
	struct x86_mmio_insn insn;

	DECODE_OK(load, 64, &insn);
	EXPECT_LOAD(insn, 4, 0, 4);

	DECODE_OK(imm, 64, &insn);
	EXPECT_IMM_STORE(insn, 4, 1);

	DECODE_OK(imm_q, 64, &insn);
	EXPECT_IMM_STORE(insn, 8, 42);

	DECODE_OK(eip, 64, &insn);
	DECODE_OK(rex_b, 64, &insn);

	DECODE_OK(movb, 64, &insn);
	EXPECT_IMM_STORE(insn, 1, 0x7f);
}

TEST(addressing_sib_forms)
{
	static const u8 no_base[] = { 0x8b, 0x04, 0x8d, 0x00, 0x10, 0x00, 0x00 }; /* as64: mov 0x1000(,%rcx,4),%eax */
	static const u8 abs[] = { 0x8b, 0x04, 0x25, 0x78, 0x56, 0x34, 0x12 }; /* as64: mov 0x12345678,%eax */
	static const u8 rbp_d8[] = { 0x8b, 0x44, 0x0d, 0x08 };	/* as64: mov 0x8(%rbp,%rcx,1),%eax */
	static const u8 r12[] = { 0x41, 0x8b, 0x04, 0x24 };	/* as64: mov (%r12),%eax */
	static const u8 r13[] = { 0x41, 0x8b, 0x45, 0x00 };	/* as64: mov 0x0(%r13),%eax */
	static const u8 d32[] = { 0x8b, 0x84, 0xc8, 0x00, 0x01, 0x00, 0x00 }; /* as64: mov 0x100(%rax,%rcx,8),%eax */
	static const u8 r13_nobase[] = { 0x41, 0x8b, 0x04, 0x25, 0x78, 0x56, 0x34, 0x12 }; /* hand: SIB base 101 + REX.B, mod 00: still disp32, no base */
	static const u8 r13_index[] = { 0x42, 0x89, 0x0c, 0xad, 0x00, 0x00, 0x00, 0x00 }; /* as64: mov %ecx,0x0(,%r13,4) */
	struct x86_mmio_insn insn;

	DECODE_OK(no_base, 64, &insn);
	EXPECT_LOAD(insn, 4, 0, 4);
	DECODE_OK(abs, 64, &insn);
	DECODE_OK(rbp_d8, 64, &insn);
	DECODE_OK(r12, 64, &insn);
	DECODE_OK(r13, 64, &insn);
	DECODE_OK(d32, 64, &insn);
	DECODE_OK(r13_nobase, 64, &insn);
	DECODE_OK(r13_index, 64, &insn);
	EXPECT_REG_STORE(insn, 4, 1);
}

/* ------------------------------------------------------------------ */
/* Decoder: prefixes, limits, failures                                 */
/* ------------------------------------------------------------------ */

TEST(segment_lock_and_rep_prefixes)
{
	static const u8 fs[] = { 0x64, 0x8b, 0x04, 0x25, 0x10, 0x00, 0x00, 0x00 }; /* as64: mov %fs:0x10,%eax */
	static const u8 gs[] = { 0x65, 0x48, 0x8b, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00 }; /* as64: mov %gs:0x28,%rax */
	static const u8 cs[] = { 0x2e, 0x89, 0x08 };		/* as64: cs mov %ecx,(%rax) */
	static const u8 es16[] = { 0x26, 0x88, 0x07 };		/* as16: mov %al,%es:(%bx) */
	static const u8 ss32[] = { 0x36, 0x8b, 0x00 };		/* as32: mov %ss:(%eax),%eax */
	static const u8 ds[] = { 0x3e, 0x89, 0x08 };		/* as64: ds mov %ecx,(%rax) */
	static const u8 xrelease[] = { 0xf3, 0x89, 0x08 };	/* as64: xrelease mov %ecx,(%rax) */
	static const u8 lock[] = { 0xf0, 0x89, 0x08 };		/* hand: lock mov %ecx,(%rax) */
	static const u8 many[] = { 0x64, 0x67, 0x66, 0x8b, 0x00 }; /* as64: mov %fs:(%eax),%ax */
	struct x86_mmio_insn insn;

	DECODE_OK(fs, 64, &insn);
	EXPECT_LOAD(insn, 4, 0, 4);
	DECODE_OK(gs, 64, &insn);
	EXPECT_LOAD(insn, 8, 0, 8);
	DECODE_OK(cs, 64, &insn);
	DECODE_OK(es16, 16, &insn);
	EXPECT_REG_STORE(insn, 1, 0);
	DECODE_OK(ss32, 32, &insn);
	DECODE_OK(ds, 64, &insn);
	DECODE_OK(xrelease, 64, &insn);
	EXPECT_REG_STORE(insn, 4, 1);
	DECODE_OK(lock, 64, &insn);
	DECODE_OK(many, 64, &insn);
	EXPECT_LOAD(insn, 2, 0, 2);
}

TEST(rex_placement_and_operand_size)
{
	static const u8 data16_rex_w[] = { 0x66, 0x48, 0x89, 0x08 }; /* as64: data16 mov %rcx,(%rax) */
	static const u8 rex_then_66[] = { 0x48, 0x66, 0x89, 0x08 }; /* hand: REX.W then 66: REX ignored, 16-bit */
	static const u8 two_rex[] = { 0x4c, 0x41, 0x89, 0x08 };	/* hand: only the last REX (41) counts */
	static const u8 rex_m32[] = { 0x48, 0x89, 0x08 };	/* hand: 48 is dec %eax in 32-bit mode */
	struct x86_mmio_insn insn;

	DECODE_OK(data16_rex_w, 64, &insn);
	EXPECT_REG_STORE(insn, 8, 1);

	DECODE_OK(rex_then_66, 64, &insn);
	EXPECT_REG_STORE(insn, 2, 1);

	DECODE_OK(two_rex, 64, &insn);
	EXPECT_REG_STORE(insn, 4, 1);

	DECODE_FAILS(rex_m32, 32, -EINVAL);
	DECODE_FAILS(rex_m32, 16, -EINVAL);
}

TEST(length_limit_15_bytes)
{
	u8 buf[X86_MAX_INSN_LEN + 8];
	struct x86_mmio_insn insn;

	/* 13 prefixes + 89 08 = 15 bytes: valid */
	memset(buf, 0x3e, sizeof(buf));
	buf[13] = 0x89;
	buf[14] = 0x08;
	ASSERT_EQ(0, x86_decode_mmio(buf, 15, 64, &insn));
	EXPECT_EQ(15, insn.len);

	/* 14 prefixes + 89 08 = 16 bytes: #GP on hardware */
	memset(buf, 0x3e, sizeof(buf));
	buf[14] = 0x89;
	buf[15] = 0x08;
	EXPECT_EQ(-EINVAL, x86_decode_mmio(buf, sizeof(buf), 64, &insn));
	EXPECT_EQ(-EINVAL, x86_decode_mmio(buf, 15, 64, &insn));
	EXPECT_EQ(-ENODATA, x86_decode_mmio(buf, 14, 64, &insn));

	/* 12-byte movq $42,0x100(%rax,%rcx,8) after 4 prefixes: 16 bytes */
	memset(buf, 0x3e, sizeof(buf));
	memcpy(buf + 4, (const u8[]){ 0x48, 0xc7, 0x84, 0xc8, 0, 1, 0, 0,
				      0x2a, 0, 0, 0 }, 12);
	EXPECT_EQ(-EINVAL, x86_decode_mmio(buf, sizeof(buf), 64, &insn));
	EXPECT_EQ(0, x86_decode_mmio(buf + 1, sizeof(buf) - 1, 64, &insn));
	EXPECT_EQ(15, insn.len);
}

TEST(truncated_input_is_enodata)
{
	static const u8 movabs[] = { 0x48, 0xa3, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 }; /* as64: movabs %rax,0x1122334455667788 */
	static const u8 prefixes_only[] = { 0x66, 0x67, 0x48 };	/* hand: prefixes, no opcode */
	static const u8 escape_only[] = { 0x0f };		/* hand: escape, no second byte */
	struct x86_mmio_insn insn;
	unsigned int n;

	for (n = 0; n < sizeof(movabs); n++)
		EXPECT_EQ(-ENODATA, x86_decode_mmio(movabs, n, 64, &insn));
	EXPECT_EQ(-ENODATA, x86_decode_mmio(movabs, 0, 16, &insn));
	DECODE_FAILS(prefixes_only, 64, -ENODATA);
	DECODE_FAILS(escape_only, 64, -ENODATA);
}

TEST(unsupported_opcodes_are_einval)
{
	static const u8 add[] = { 0x01, 0x08 };			/* as64: add %ecx,(%rax) */
	static const u8 movsb[] = { 0xa4 };			/* as64: movsb %ds:(%rsi),%es:(%rdi) */
	static const u8 rep_movsl[] = { 0xf3, 0xa5 };		/* as64: rep movsl %ds:(%rsi),%es:(%rdi) */
	static const u8 stosb[] = { 0xaa };			/* as64: stos %al,%es:(%rdi) */
	static const u8 reg_reg[] = { 0x89, 0xc8 };		/* as64: mov %ecx,%eax */
	static const u8 reg_reg16[] = { 0x8b, 0xc1 };		/* as16: {load} mov %cx,%ax */
	static const u8 movzx_reg[] = { 0x0f, 0xb6, 0xc1 };	/* as64: movzbl %cl,%eax */
	static const u8 xbegin[] = { 0xc7, 0xf8, 0x00, 0x00, 0x00, 0x00 }; /* hand: xbegin (c7 /7, mod 11) */
	static const u8 c6_reg1[] = { 0xc6, 0x08, 0x00 };	/* hand: c6 /1 is undefined */
	static const u8 popcnt[] = { 0xf3, 0x0f, 0xb8, 0x00 };	/* as64: popcnt (%rax),%eax */
	static const u8 rep_movzx[] = { 0xf3, 0x0f, 0xb6, 0x00 }; /* hand: f3 0f b6 (mandatory-prefix space) */
	static const u8 movups[] = { 0x0f, 0x10, 0x00 };	/* as64: movups (%rax),%xmm0 */
	static const u8 ud2[] = { 0x0f, 0x0b };			/* as64: ud2 */
	static const u8 ok[] = { 0x89, 0x08 };			/* as64: mov %ecx,(%rax) */
	struct x86_mmio_insn insn;

	DECODE_FAILS(add, 64, -EINVAL);
	DECODE_FAILS(movsb, 64, -EINVAL);
	DECODE_FAILS(rep_movsl, 64, -EINVAL);
	DECODE_FAILS(stosb, 64, -EINVAL);
	DECODE_FAILS(reg_reg, 64, -EINVAL);
	DECODE_FAILS(reg_reg16, 16, -EINVAL);
	DECODE_FAILS(movzx_reg, 64, -EINVAL);
	DECODE_FAILS(xbegin, 64, -EINVAL);
	DECODE_FAILS(c6_reg1, 64, -EINVAL);
	DECODE_FAILS(popcnt, 64, -EINVAL);
	DECODE_FAILS(rep_movzx, 64, -EINVAL);
	DECODE_FAILS(movups, 64, -EINVAL);
	DECODE_FAILS(ud2, 64, -EINVAL);
	EXPECT_EQ(-EINVAL, x86_decode_mmio(ok, sizeof(ok), 0, &insn));
	EXPECT_EQ(-EINVAL, x86_decode_mmio(ok, sizeof(ok), 8, &insn));
}

/* ------------------------------------------------------------------ */
/* Register merge and store values                                     */
/* ------------------------------------------------------------------ */

static struct x86_mmio_insn decode64(const u8 *bytes, unsigned int len)
{
	struct x86_mmio_insn insn;

	if (x86_decode_mmio(bytes, len, 64, &insn))
		insn = (struct x86_mmio_insn){ 0 };
	return insn;
}

#define DECODE64(...) \
	decode64((const u8[]){ __VA_ARGS__ }, sizeof((const u8[]){ __VA_ARGS__ }))

TEST(merge_plain_loads)
{
	const u64 ones = ~0ULL;
	struct x86_mmio_insn q = DECODE64(0x48, 0x8b, 0x00);	/* as64: mov (%rax),%rax */
	struct x86_mmio_insn l = DECODE64(0x8b, 0x00);		/* as64: mov (%rax),%eax */
	struct x86_mmio_insn w = DECODE64(0x66, 0x8b, 0x00);	/* as64: mov (%rax),%ax */
	struct x86_mmio_insn b = DECODE64(0x8a, 0x08);		/* as64: mov (%rax),%cl */
	struct x86_mmio_insn ah = DECODE64(0x8a, 0x20);		/* as64: mov (%rax),%ah */

	ASSERT_EQ(8, q.width);
	EXPECT_EQ(0x1122334455667788ULL, x86_merge_load(0, &q, 0x1122334455667788ULL));
	/* 32-bit destination: upper half zeroed */
	EXPECT_EQ(0x12345678ULL, x86_merge_load(ones, &l, 0x12345678));
	EXPECT_EQ(0x89abcdefULL, x86_merge_load(ones, &l, 0xffffffff89abcdefULL));
	/* 16- and 8-bit destinations merge */
	EXPECT_EQ(0xffffffffffff5678ULL, x86_merge_load(ones, &w, 0x12345678));
	EXPECT_EQ(0x1111111111111178ULL,
		  x86_merge_load(0x1111111111111111ULL, &b, 0x12345678));
	/* AH: bits 15:8 only */
	ASSERT_TRUE(ah.high_byte);
	EXPECT_EQ(0x111111111111ab11ULL,
		  x86_merge_load(0x1111111111111111ULL, &ah, 0xab));
	EXPECT_EQ(0xffffffffffff00ffULL, x86_merge_load(ones, &ah, 0xff00));
}

TEST(merge_extending_loads)
{
	const u64 ones = ~0ULL, pattern = 0x1111111111111111ULL;
	struct x86_mmio_insn sbl = DECODE64(0x0f, 0xbe, 0x00);		/* as64: movsbl (%rax),%eax */
	struct x86_mmio_insn sbq = DECODE64(0x48, 0x0f, 0xbe, 0x00);	/* as64: movsbq (%rax),%rax */
	struct x86_mmio_insn sbw = DECODE64(0x66, 0x0f, 0xbe, 0x00);	/* as64: movsbw (%rax),%ax */
	struct x86_mmio_insn swq = DECODE64(0x48, 0x0f, 0xbf, 0x00);	/* as64: movswq (%rax),%rax */
	struct x86_mmio_insn zbl = DECODE64(0x0f, 0xb6, 0x00);		/* as64: movzbl (%rax),%eax */
	struct x86_mmio_insn zwq = DECODE64(0x48, 0x0f, 0xb7, 0x00);	/* as64: movzwq (%rax),%rax */
	struct x86_mmio_insn sxd = DECODE64(0x48, 0x63, 0x00);		/* as64: movslq (%rax),%rax */

	EXPECT_EQ(0x00000000ffffff80ULL, x86_merge_load(ones, &sbl, 0x80));
	EXPECT_EQ(0x7fULL, x86_merge_load(ones, &sbl, 0x7f));
	EXPECT_EQ(0xffffffffffffff80ULL, x86_merge_load(0, &sbq, 0x80));
	EXPECT_EQ(0x111111111111ff80ULL, x86_merge_load(pattern, &sbw, 0x80));
	EXPECT_EQ(0xffffffffffff8000ULL, x86_merge_load(0, &swq, 0x8000));
	EXPECT_EQ(0x80ULL, x86_merge_load(ones, &zbl, 0xff80));
	EXPECT_EQ(0x8000ULL, x86_merge_load(ones, &zwq, 0x12348000));
	EXPECT_EQ(0xffffffff80000000ULL, x86_merge_load(0, &sxd, 0x80000000));
	EXPECT_EQ(0x7fffffffULL, x86_merge_load(ones, &sxd, 0x7fffffff));
}

TEST(store_values)
{
	const u64 reg = 0x1122334455667788ULL;
	struct x86_mmio_insn q = DECODE64(0x48, 0x89, 0x08);	/* as64: mov %rcx,(%rax) */
	struct x86_mmio_insn l = DECODE64(0x89, 0x08);		/* as64: mov %ecx,(%rax) */
	struct x86_mmio_insn w = DECODE64(0x66, 0x89, 0x08);	/* as64: mov %cx,(%rax) */
	struct x86_mmio_insn b = DECODE64(0x88, 0x08);		/* as64: mov %cl,(%rax) */
	struct x86_mmio_insn ch = DECODE64(0x88, 0x28);		/* as64: mov %ch,(%rax) */
	struct x86_mmio_insn imm = DECODE64(0x48, 0xc7, 0x00, 0xfe, 0xff, 0xff, 0xff); /* as64: movq $-2,(%rax) */

	EXPECT_EQ(reg, x86_store_value(reg, &q));
	EXPECT_EQ(0x55667788ULL, x86_store_value(reg, &l));
	EXPECT_EQ(0x7788ULL, x86_store_value(reg, &w));
	EXPECT_EQ(0x88ULL, x86_store_value(reg, &b));
	ASSERT_TRUE(ch.high_byte);
	ASSERT_EQ(1, ch.reg);
	EXPECT_EQ(0x77ULL, x86_store_value(reg, &ch));
	EXPECT_EQ(0xfffffffffffffffeULL, x86_store_value(reg, &imm));
}

/* ------------------------------------------------------------------ */
/* Page walks over hand-built tables in a fake guest memory            */
/* ------------------------------------------------------------------ */

#define FAKE_MEM_SIZE	0x200000u	/* 2 MiB of guest RAM at GPA 0 */

#define PG_P		0x001ULL
#define PG_W		0x002ULL
#define PG_U		0x004ULL
#define PG_PS		0x080ULL
#define PG_NX		(1ULL << 63)
#define PG_PWU		(PG_P | PG_W | PG_U)

#define CR0_PE_PG	0x80000001ULL
#define CR0_PE_PG_WP	0x80010001ULL
#define CR4_PSE_BIT	0x10ULL
#define CR4_PAE_BIT	0x20ULL
#define CR4_LA57_BIT	0x1000ULL
#define CR4_SMEP_BIT	0x100000ULL
#define EFER_LME_LMA	0x500ULL
#define EFER_NXE_BIT	0x800ULL

struct fake_mem {
	u8 bytes[FAKE_MEM_SIZE];
	unsigned int reads;
};

static struct fake_mem mem;

static int fake_read(void *ctx, u64 gpa, void *buf, unsigned int len)
{
	struct fake_mem *m = ctx;

	m->reads++;
	if (gpa >= FAKE_MEM_SIZE || len > FAKE_MEM_SIZE - gpa)
		return -ENXIO;
	memcpy(buf, m->bytes + gpa, len);
	return 0;
}

static void mem_reset(void)
{
	memset(&mem, 0, sizeof(mem));
}

static void put64(u64 gpa, u64 value)
{
	memcpy(mem.bytes + gpa, &value, 8);
}

static void put32(u64 gpa, u32 value)
{
	memcpy(mem.bytes + gpa, &value, 4);
}

/* Entry for gva at level (1 = PT) in a table of 512 8-byte entries. */
static void set64(u64 table, u64 gva, unsigned int level, u64 value)
{
	put64(table + ((gva >> (12 + 9 * (level - 1))) & 511) * 8, value);
}

/* Entry for gva at level in a 32-bit paging table of 1024 entries. */
static void set32(u64 table, u64 gva, unsigned int level, u32 value)
{
	put32(table + ((gva >> (12 + 10 * (level - 1))) & 1023) * 4, value);
}

static const struct x86_walk_regs long4 = {
	.cr0 = CR0_PE_PG_WP, .cr3 = 0x1000, .cr4 = CR4_PAE_BIT,
	.efer = EFER_LME_LMA | EFER_NXE_BIT,
};

/* 4-level: PML4 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000, user RW. */
static void map_long4_4k(u64 gva, u64 pte)
{
	set64(0x1000, gva, 4, 0x2000 | PG_PWU);
	set64(0x2000, gva, 3, 0x3000 | PG_PWU);
	set64(0x3000, gva, 2, 0x4000 | PG_PWU);
	set64(0x4000, gva, 1, pte);
}

#define WALK(regs, gva, access, gpa, code) \
	x86_walk_gva(regs, gva, access, fake_read, &mem, gpa, code)

TEST(walk_paging_disabled_is_identity)
{
	struct x86_walk_regs regs = { .cr0 = 0x11, .cr4 = CR4_PAE_BIT };
	u32 code = 123;
	u64 gpa;

	mem_reset();
	ASSERT_EQ(0, WALK(&regs, 0xfee00020, X86_WALK_WRITE, &gpa, &code));
	EXPECT_EQ(0xfee00020ULL, gpa);
	EXPECT_EQ(0u, code);
	ASSERT_EQ(0, WALK(&regs, 0x1fffff000ULL, 0, &gpa, &code));
	EXPECT_EQ(0xfffff000ULL, gpa);	/* linear addresses are 32-bit */
	EXPECT_EQ(0u, mem.reads);
}

TEST(walk_long4_4k)
{
	const u64 gva = 0x00007f1234567abcULL;
	u32 code;
	u64 gpa;

	mem_reset();
	map_long4_4k(gva, 0xabcde000ULL | PG_PWU);
	ASSERT_EQ(0, WALK(&long4, gva, X86_WALK_USER | X86_WALK_WRITE, &gpa, &code));
	EXPECT_EQ(0xabcdeabcULL, gpa);
	EXPECT_EQ(0u, code);
	EXPECT_EQ(4u, mem.reads);

	/* high kernel half, canonical */
	mem_reset();
	map_long4_4k(0xffffffff81234567ULL, 0x000ffffffffff000ULL | PG_P | PG_W);
	ASSERT_EQ(0, WALK(&long4, 0xffffffff81234567ULL, 0, &gpa, &code));
	EXPECT_EQ(0x000ffffffffff567ULL, gpa);
}

TEST(walk_long4_2m_and_1g_pages)
{
	const u64 gva = 0x00007f1234567abcULL;
	u32 code;
	u64 gpa;

	/* 2 MiB page; bit 12 is PAT, not address */
	mem_reset();
	set64(0x1000, gva, 4, 0x2000 | PG_PWU);
	set64(0x2000, gva, 3, 0x3000 | PG_PWU);
	set64(0x3000, gva, 2, 0x40000000ULL | 0x1000 | PG_PS | PG_PWU);
	ASSERT_EQ(0, WALK(&long4, gva, X86_WALK_WRITE, &gpa, &code));
	EXPECT_EQ(0x40000000ULL + (gva & 0x1fffff), gpa);
	EXPECT_EQ(3u, mem.reads);

	/* 1 GiB page */
	mem_reset();
	set64(0x1000, gva, 4, 0x2000 | PG_PWU);
	set64(0x2000, gva, 3, 0x1c0000000ULL | PG_PS | PG_PWU);
	ASSERT_EQ(0, WALK(&long4, gva, X86_WALK_USER, &gpa, &code));
	EXPECT_EQ(0x1c0000000ULL + (gva & 0x3fffffff), gpa);
	EXPECT_EQ(2u, mem.reads);
}

TEST(walk_long5)
{
	struct x86_walk_regs regs = long4;
	const u64 gva = 0xfff2345678abc123ULL;	/* canonical only with LA57 */
	u32 code;
	u64 gpa;

	mem_reset();
	regs.cr4 |= CR4_LA57_BIT;
	regs.cr3 = 0x5000;
	set64(0x5000, gva, 5, 0x1000 | PG_PWU);
	map_long4_4k(gva, 0x77000ULL | PG_PWU);
	ASSERT_EQ(0, WALK(&regs, gva, X86_WALK_FETCH, &gpa, &code));
	EXPECT_EQ(0x77123ULL, gpa);
	EXPECT_EQ(5u, mem.reads);

	/* not canonical with 4 levels: #GP, not #PF */
	EXPECT_EQ(-EINVAL, WALK(&long4, gva, 0, &gpa, &code));
	EXPECT_EQ(0u, code);
	EXPECT_EQ(-EINVAL, WALK(&regs, 0x0100000000000000ULL, 0, &gpa, &code));
	EXPECT_EQ(-EINVAL, WALK(&long4, 0x0000800000000000ULL, 0, &gpa, &code));
}

TEST(walk_pae_4k_and_2m)
{
	struct x86_walk_regs regs = {
		.cr0 = CR0_PE_PG_WP, .cr3 = 0x1020, .cr4 = CR4_PAE_BIT,
	};
	const u64 gva = 0xc0345abcULL;
	u32 code;
	u64 gpa;

	mem_reset();
	put64(0x1020 + 3 * 8, 0x2000 | PG_P);	/* PDPTE: no R/W, U/S */
	set64(0x2000, gva, 2, 0x3000 | PG_PWU);
	set64(0x3000, gva, 1, 0x5000 | PG_PWU);
	ASSERT_EQ(0, WALK(&regs, gva, X86_WALK_USER | X86_WALK_WRITE, &gpa, &code));
	EXPECT_EQ(0x5abcULL, gpa);
	EXPECT_EQ(3u, mem.reads);

	/* upper bits of the linear address are ignored outside long mode */
	ASSERT_EQ(0, WALK(&regs, 0xabcd00000000ULL | gva, 0, &gpa, &code));
	EXPECT_EQ(0x5abcULL, gpa);

	/* 2 MiB page, physical address above 4 GiB */
	set64(0x2000, gva, 2, 0x123400000ULL | PG_PS | PG_PWU);
	ASSERT_EQ(0, WALK(&regs, gva, 0, &gpa, &code));
	EXPECT_EQ(0x123400000ULL + (gva & 0x1fffff), gpa);

	/* PDPTE bit 1 (R/W in long mode) is reserved in PAE */
	put64(0x1020 + 3 * 8, 0x2000 | PG_P | PG_W);
	EXPECT_EQ(-EFAULT, WALK(&regs, gva, 0, &gpa, &code));
	EXPECT_EQ(X86_PFERR_PRESENT | X86_PFERR_RSVD, code);

	/* bits 62:52 are reserved in PAE entries */
	put64(0x1020 + 3 * 8, 0x2000 | PG_P);
	set64(0x2000, gva, 2, 0x3000 | PG_PWU);
	set64(0x3000, gva, 1, (1ULL << 52) | 0x5000 | PG_PWU);
	EXPECT_EQ(-EFAULT, WALK(&regs, gva, 0, &gpa, &code));
	EXPECT_EQ(X86_PFERR_PRESENT | X86_PFERR_RSVD, code);
}

TEST(walk_32bit_4k)
{
	struct x86_walk_regs regs = { .cr0 = CR0_PE_PG_WP, .cr3 = 0x1000 };
	const u64 gva = 0x80401abcULL;
	u32 code;
	u64 gpa;

	mem_reset();
	set32(0x1000, gva, 2, 0x2000 | PG_PWU);
	set32(0x2000, gva, 1, 0xfffff000u | PG_PWU);
	ASSERT_EQ(0, WALK(&regs, gva, X86_WALK_USER | X86_WALK_WRITE, &gpa, &code));
	EXPECT_EQ(0xfffffabcULL, gpa);
	EXPECT_EQ(2u, mem.reads);

	/* supervisor write to a read-only page with CR0.WP = 0 is allowed */
	set32(0x2000, gva, 1, 0x7000 | PG_P | PG_U);
	regs.cr0 = CR0_PE_PG;
	ASSERT_EQ(0, WALK(&regs, gva, X86_WALK_WRITE, &gpa, &code));
	EXPECT_EQ(0x7abcULL, gpa);
	EXPECT_EQ(-EFAULT, WALK(&regs, gva, X86_WALK_WRITE | X86_WALK_USER, &gpa, &code));
	EXPECT_EQ(X86_PFERR_PRESENT | X86_PFERR_WRITE | X86_PFERR_USER, code);

	/* no NX in 32-bit paging: fetch error codes never carry I/D */
	set32(0x2000, gva, 1, 0);
	EXPECT_EQ(-EFAULT, WALK(&regs, gva, X86_WALK_FETCH, &gpa, &code));
	EXPECT_EQ(0u, code);
}

TEST(walk_32bit_pse_4m)
{
	struct x86_walk_regs regs = {
		.cr0 = CR0_PE_PG_WP, .cr3 = 0x1000, .cr4 = CR4_PSE_BIT,
	};
	const u64 gva = 0x80401abcULL;
	u32 code;
	u64 gpa;

	mem_reset();
	/* 4 MiB page at 0x12c00000 */
	set32(0x1000, gva, 2, 0x12c00000u | PG_PS | PG_PWU);
	ASSERT_EQ(0, WALK(&regs, gva, X86_WALK_WRITE, &gpa, &code));
	EXPECT_EQ(0x12c01abcULL, gpa);
	EXPECT_EQ(1u, mem.reads);

	/* PSE-36: PDE bits 20:13 are physical address bits 39:32 */
	set32(0x1000, gva, 2, 0x12c00000u | (0x3u << 13) | PG_PS | PG_PWU);
	ASSERT_EQ(0, WALK(&regs, gva, 0, &gpa, &code));
	EXPECT_EQ(0x312c01abcULL, gpa);

	/* bit 21 is reserved */
	set32(0x1000, gva, 2, 0x12c00000u | (1u << 21) | PG_PS | PG_PWU);
	EXPECT_EQ(-EFAULT, WALK(&regs, gva, X86_WALK_WRITE, &gpa, &code));
	EXPECT_EQ(X86_PFERR_PRESENT | X86_PFERR_RSVD | X86_PFERR_WRITE, code);

	/* without CR4.PSE the PS bit is ignored: the PDE points to a PT */
	set32(0x1000, gva, 2, 0x4000u | PG_PS | PG_PWU);
	set32(0x4000, gva, 1, 0x9000u | PG_PWU);
	ASSERT_EQ(0, WALK(&regs, gva, 0, &gpa, &code));
	EXPECT_EQ(0x200001abcULL, gpa);	/* with PSE: 4 MiB page at 8 GiB */
	regs.cr4 = 0;
	ASSERT_EQ(0, WALK(&regs, gva, 0, &gpa, &code));
	EXPECT_EQ(0x9abcULL, gpa);
}

TEST(walk_not_present_error_codes)
{
	const u64 gva = 0x0000000040201000ULL;
	u32 code;
	u64 gpa;

	mem_reset();
	map_long4_4k(gva, 0);	/* PTE not present */
	EXPECT_EQ(-EFAULT, WALK(&long4, gva, 0, &gpa, &code));
	EXPECT_EQ(0u, code);
	EXPECT_EQ(-EFAULT, WALK(&long4, gva, X86_WALK_WRITE | X86_WALK_USER, &gpa, &code));
	EXPECT_EQ(X86_PFERR_WRITE | X86_PFERR_USER, code);
	/* I/D is reported for fetches when EFER.NXE = 1 */
	EXPECT_EQ(-EFAULT, WALK(&long4, gva, X86_WALK_FETCH, &gpa, &code));
	EXPECT_EQ(X86_PFERR_FETCH, code);

	/* not present at the PML4 level: walk stops after one read */
	mem_reset();
	EXPECT_EQ(-EFAULT, WALK(&long4, gva, X86_WALK_USER, &gpa, &code));
	EXPECT_EQ(X86_PFERR_USER, code);
	EXPECT_EQ(1u, mem.reads);

	/* not present at the PD level */
	mem_reset();
	map_long4_4k(gva, 0x5000 | PG_PWU);
	set64(0x3000, gva, 2, 0x4000 | PG_W | PG_U);
	EXPECT_EQ(-EFAULT, WALK(&long4, gva, 0, &gpa, &code));
	EXPECT_EQ(0u, code);
	EXPECT_EQ(3u, mem.reads);
}

TEST(walk_user_and_write_protection)
{
	const u64 gva = 0x0000000040201234ULL;
	u32 code;
	u64 gpa;

	mem_reset();
	map_long4_4k(gva, 0x5000 | PG_P | PG_W);	/* supervisor page */
	EXPECT_EQ(-EFAULT, WALK(&long4, gva, X86_WALK_USER, &gpa, &code));
	EXPECT_EQ(X86_PFERR_PRESENT | X86_PFERR_USER, code);
	EXPECT_EQ(0, WALK(&long4, gva, X86_WALK_WRITE, &gpa, &code));
	EXPECT_EQ(0x5234ULL, gpa);

	/* read-only at the PDPT level makes the whole range read-only */
	map_long4_4k(gva, 0x5000 | PG_PWU);
	set64(0x2000, gva, 3, 0x3000 | PG_P | PG_U);
	EXPECT_EQ(0, WALK(&long4, gva, X86_WALK_USER, &gpa, &code));
	EXPECT_EQ(-EFAULT, WALK(&long4, gva, X86_WALK_USER | X86_WALK_WRITE, &gpa, &code));
	EXPECT_EQ(X86_PFERR_PRESENT | X86_PFERR_WRITE | X86_PFERR_USER, code);
	/* CR0.WP = 1: supervisor writes are checked too */
	EXPECT_EQ(-EFAULT, WALK(&long4, gva, X86_WALK_WRITE, &gpa, &code));
	EXPECT_EQ(X86_PFERR_PRESENT | X86_PFERR_WRITE, code);

	/* supervisor-only at the PML4 level */
	map_long4_4k(gva, 0x5000 | PG_PWU);
	set64(0x1000, gva, 4, 0x2000 | PG_P | PG_W);
	EXPECT_EQ(-EFAULT, WALK(&long4, gva, X86_WALK_USER, &gpa, &code));
	EXPECT_EQ(X86_PFERR_PRESENT | X86_PFERR_USER, code);
}

TEST(walk_nx)
{
	struct x86_walk_regs no_nxe = long4;
	const u64 gva = 0x0000000040201234ULL;
	u32 code;
	u64 gpa;

	mem_reset();
	map_long4_4k(gva, PG_NX | 0x5000 | PG_PWU);
	EXPECT_EQ(0, WALK(&long4, gva, X86_WALK_USER, &gpa, &code));
	EXPECT_EQ(-EFAULT, WALK(&long4, gva, X86_WALK_FETCH | X86_WALK_USER, &gpa, &code));
	EXPECT_EQ(X86_PFERR_PRESENT | X86_PFERR_FETCH | X86_PFERR_USER, code);

	/* NX in a PDPTE applies to everything below it */
	map_long4_4k(gva, 0x5000 | PG_PWU);
	set64(0x2000, gva, 3, PG_NX | 0x3000 | PG_PWU);
	EXPECT_EQ(-EFAULT, WALK(&long4, gva, X86_WALK_FETCH, &gpa, &code));
	EXPECT_EQ(X86_PFERR_PRESENT | X86_PFERR_FETCH, code);

	/* without EFER.NXE bit 63 is reserved, even for data accesses */
	no_nxe.efer = EFER_LME_LMA;
	EXPECT_EQ(-EFAULT, WALK(&no_nxe, gva, 0, &gpa, &code));
	EXPECT_EQ(X86_PFERR_PRESENT | X86_PFERR_RSVD, code);
	set64(0x2000, gva, 3, 0x3000 | PG_PWU);
	EXPECT_EQ(0, WALK(&no_nxe, gva, X86_WALK_FETCH, &gpa, &code));
	EXPECT_EQ(0x5234ULL, gpa);
}

TEST(walk_reserved_bits_long_mode)
{
	const u64 gva = 0x00007f1234567abcULL;
	u32 code;
	u64 gpa;

	/* PS in a PML4E is reserved */
	mem_reset();
	map_long4_4k(gva, 0x5000 | PG_PWU);
	set64(0x1000, gva, 4, 0x2000 | PG_PS | PG_PWU);
	EXPECT_EQ(-EFAULT, WALK(&long4, gva, X86_WALK_USER, &gpa, &code));
	EXPECT_EQ(X86_PFERR_PRESENT | X86_PFERR_RSVD | X86_PFERR_USER, code);

	/* 2 MiB page: bits 20:13 reserved */
	map_long4_4k(gva, 0x5000 | PG_PWU);
	set64(0x3000, gva, 2, 0x40000000ULL | (1ULL << 13) | PG_PS | PG_PWU);
	EXPECT_EQ(-EFAULT, WALK(&long4, gva, 0, &gpa, &code));
	EXPECT_EQ(X86_PFERR_PRESENT | X86_PFERR_RSVD, code);

	/* 1 GiB page: bits 29:13 reserved */
	set64(0x2000, gva, 3, 0x40000000ULL | (1ULL << 20) | PG_PS | PG_PWU);
	EXPECT_EQ(-EFAULT, WALK(&long4, gva, 0, &gpa, &code));
	EXPECT_EQ(X86_PFERR_PRESENT | X86_PFERR_RSVD, code);

	/* bits 62:52 are ignored in long mode */
	set64(0x2000, gva, 3, 0x3000 | PG_PWU);
	set64(0x3000, gva, 2, 0x4000 | PG_PWU);
	set64(0x4000, gva, 1, (0x7ffULL << 52) | 0x5000 | PG_PWU);
	EXPECT_EQ(0, WALK(&long4, gva, 0, &gpa, &code));
	EXPECT_EQ(0x5abcULL, gpa);
}

TEST(walk_smep)
{
	struct x86_walk_regs regs = long4;
	const u64 gva = 0x0000000040201234ULL;
	u32 code;
	u64 gpa;

	mem_reset();
	regs.cr4 |= CR4_SMEP_BIT;
	regs.efer = EFER_LME_LMA;	/* I/D must be reported because of SMEP */
	map_long4_4k(gva, 0x5000 | PG_PWU);
	EXPECT_EQ(-EFAULT, WALK(&regs, gva, X86_WALK_FETCH, &gpa, &code));
	EXPECT_EQ(X86_PFERR_PRESENT | X86_PFERR_FETCH, code);
	EXPECT_EQ(0, WALK(&regs, gva, X86_WALK_FETCH | X86_WALK_USER, &gpa, &code));
	EXPECT_EQ(0, WALK(&regs, gva, 0, &gpa, &code));	/* data: no SMAP */

	/* a supervisor page is fine for supervisor fetches */
	set64(0x4000, gva, 1, 0x5000 | PG_P);
	EXPECT_EQ(0, WALK(&regs, gva, X86_WALK_FETCH, &gpa, &code));
}

static int efault_read(void *ctx, u64 gpa, void *buf, unsigned int len)
{
	(void)ctx;
	(void)gpa;
	(void)buf;
	(void)len;
	return -EFAULT;
}

TEST(walk_callback_error_passes_through)
{
	struct x86_walk_regs regs = long4;
	u32 code = 99;
	u64 gpa;

	mem_reset();
	regs.cr3 = 0x40000000;	/* outside the fake RAM */
	EXPECT_EQ(-ENXIO, WALK(&regs, 0x1000, 0, &gpa, &code));
	EXPECT_EQ(0u, code);

	/* a table pointer outside RAM, one level down */
	set64(0x1000, 0x1000, 4, 0x80000000ULL | PG_PWU);
	EXPECT_EQ(-ENXIO, WALK(&long4, 0x1000, 0, &gpa, &code));

	/* a callback -EFAULT must not look like a guest #PF */
	EXPECT_EQ(-EIO, x86_walk_gva(&long4, 0x1000, 0, efault_read, NULL,
				     &gpa, &code));
	EXPECT_EQ(0u, code);
}

/* ------------------------------------------------------------------ */
/* Instruction fetch                                                   */
/* ------------------------------------------------------------------ */

#define FETCH(regs, rip, access, buf, n) \
	x86_fetch_insn(regs, rip, access, fake_read, &mem, buf, n)

/* movq $42,-0x10(%rip): 11 bytes */
static const u8 movq_rip[] = { 0x48, 0xc7, 0x05, 0xf0, 0xff, 0xff, 0xff, 0x2a, 0x00, 0x00, 0x00 }; /* as64: movq $42,-0x10(%rip) */

/* Code pages: linear 0x400000 -> GPA 0x10000, 0x401000 -> GPA 0x30000. */
static void map_code_pages(u64 user)
{
	map_long4_4k(0x400000, 0x10000 | PG_P | user);
	set64(0x4000, 0x401000, 1, 0x30000 | PG_P | user);
}

TEST(fetch_within_one_page)
{
	u8 buf[X86_MAX_INSN_LEN];
	struct x86_mmio_insn insn;
	unsigned int n;
	unsigned int i;

	mem_reset();
	map_code_pages(PG_U);
	for (i = 0; i < 32; i++)
		mem.bytes[0x10100 + i] = 0xc0 + i;
	memcpy(mem.bytes + 0x10100, movq_rip, sizeof(movq_rip));
	ASSERT_EQ(0, FETCH(&long4, 0x400100, X86_WALK_USER, buf, &n));
	ASSERT_EQ(15u, n);
	EXPECT_EQ(0, memcmp(buf, mem.bytes + 0x10100, 15));
	EXPECT_EQ(5u, mem.reads);	/* one 4-level walk, one read */

	ASSERT_EQ(0, x86_decode_mmio(buf, n, 64, &insn));
	EXPECT_EQ(sizeof(movq_rip), insn.len);
	EXPECT_IMM_STORE(insn, 8, 42);
}

TEST(fetch_across_pages)
{
	u8 buf[X86_MAX_INSN_LEN];
	struct x86_mmio_insn insn;
	unsigned int n;

	mem_reset();
	map_code_pages(PG_U);
	memcpy(mem.bytes + 0x10ffa, movq_rip, 6);
	memcpy(mem.bytes + 0x30000, movq_rip + 6, sizeof(movq_rip) - 6);
	ASSERT_EQ(0, FETCH(&long4, 0x400ffa, X86_WALK_USER, buf, &n));
	ASSERT_EQ(15u, n);
	EXPECT_EQ(0, memcmp(buf, movq_rip, sizeof(movq_rip)));

	ASSERT_EQ(0, x86_decode_mmio(buf, n, 64, &insn));
	EXPECT_EQ(sizeof(movq_rip), insn.len);
	EXPECT_IMM_STORE(insn, 8, 42);
}

TEST(fetch_second_page_missing_is_short)
{
	u8 buf[X86_MAX_INSN_LEN];
	struct x86_mmio_insn insn;
	unsigned int n;
	u32 code;
	u64 gpa;

	mem_reset();
	map_code_pages(PG_U);
	set64(0x4000, 0x401000, 1, 0);
	memcpy(mem.bytes + 0x10ffa, movq_rip, 6);
	ASSERT_EQ(0, FETCH(&long4, 0x400ffa, X86_WALK_USER, buf, &n));
	ASSERT_EQ(6u, n);
	EXPECT_EQ(0, memcmp(buf, movq_rip, 6));
	EXPECT_EQ(-ENODATA, x86_decode_mmio(buf, n, 64, &insn));
	/* the caller re-walks the missing byte for the #PF error code */
	EXPECT_EQ(-EFAULT, WALK(&long4, 0x400ffa + n, X86_WALK_FETCH | X86_WALK_USER, &gpa, &code));
	EXPECT_EQ(X86_PFERR_USER | X86_PFERR_FETCH, code);

	/* an instruction that ends before the page boundary still decodes */
	memcpy(mem.bytes + 0x10ffe, (const u8[]){ 0x89, 0x08 }, 2); /* mov %ecx,(%rax) */
	ASSERT_EQ(0, FETCH(&long4, 0x400ffe, X86_WALK_USER, buf, &n));
	ASSERT_EQ(2u, n);
	ASSERT_EQ(0, x86_decode_mmio(buf, n, 64, &insn));
	EXPECT_EQ(2, insn.len);
}

TEST(fetch_first_page_fault)
{
	u8 buf[X86_MAX_INSN_LEN];
	unsigned int n = 77;

	mem_reset();
	map_code_pages(PG_U);
	set64(0x4000, 0x400000, 1, 0);
	EXPECT_EQ(-EFAULT, FETCH(&long4, 0x400ff0, 0, buf, &n));
	EXPECT_EQ(0u, n);

	/* user fetch from a supervisor page */
	mem_reset();
	map_code_pages(0);
	EXPECT_EQ(-EFAULT, FETCH(&long4, 0x400000, X86_WALK_USER, buf, &n));
	EXPECT_EQ(0, FETCH(&long4, 0x400000, 0, buf, &n));
	EXPECT_EQ(15u, n);

	/* NX code page */
	mem_reset();
	map_code_pages(PG_U);
	set64(0x4000, 0x400000, 1, PG_NX | 0x10000 | PG_PWU);
	EXPECT_EQ(-EFAULT, FETCH(&long4, 0x400000, X86_WALK_USER, buf, &n));
}

TEST(fetch_without_paging_and_read_errors)
{
	struct x86_walk_regs real = { .cr0 = 0 };
	u8 buf[X86_MAX_INSN_LEN];
	unsigned int n;

	mem_reset();
	memcpy(mem.bytes + 0x7c00, movq_rip, sizeof(movq_rip));
	ASSERT_EQ(0, FETCH(&real, 0x7c00, 0, buf, &n));
	ASSERT_EQ(15u, n);
	EXPECT_EQ(0, memcmp(buf, movq_rip, sizeof(movq_rip)));

	/* RAM ends 8 bytes into the instruction: short fetch */
	ASSERT_EQ(0, FETCH(&real, FAKE_MEM_SIZE - 8, 0, buf, &n));
	EXPECT_EQ(8u, n);

	/* nothing readable at all: the callback's error */
	EXPECT_EQ(-ENXIO, FETCH(&real, FAKE_MEM_SIZE, 0, buf, &n));
	EXPECT_EQ(0u, n);
}

TEST_HARNESS_MAIN
