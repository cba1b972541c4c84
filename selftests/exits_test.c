// SPDX-License-Identifier: GPL-2.0
/*
 * exits_test: what the guest does and what userspace sees of it.
 *
 * Port I/O (widths 1/2/4, imm8 and DX forms, IN merging and zero
 * extension), MMIO (every supported instruction form and addressing
 * mode, for reads and writes, and an unsupported one), HLT, VMMCALL,
 * CPUID and MSRs handled in the kernel, exception delivery to the
 * guest's IDT, #UD for every SVM instruction, guest register and FPU
 * state across exits (and the host's FPU state across AXVM_RUN),
 * SET_REGS at an exit, entry failures and triple faults.
 *
 * Guest code uses inline asm wherever the exact instruction matters.
 */
#include <sys/syscall.h>

#include "axvm_test.h"

#define PRE	0x1111111111111111ULL
#define M	GUEST_MMIO_GPA

/* ---------------------------------------------------------------- */
/* Port I/O                                                          */
/* ---------------------------------------------------------------- */

struct io_exp {
	uint16_t port;
	uint8_t width;
	uint64_t data;		/* OUT: expected; IN: what the host supplies */
};

static void guest_io_out(void)
{
	const uint64_t v = 0x1122334455667788ULL;

	asm volatile("outb %%al, $0x42" : : "a"(v) : "memory");
	asm volatile("outw %%ax, $0x44" : : "a"(v) : "memory");
	asm volatile("outl %%eax, $0x46" : : "a"(v) : "memory");
	asm volatile("outb %%al, %%dx" : : "a"(v), "d"(0x5678) : "memory");
	asm volatile("outw %%ax, %%dx" : : "a"(v), "d"(0x567a) : "memory");
	asm volatile("outl %%eax, %%dx" : : "a"(v), "d"(0x567c) : "memory");
	asm volatile("outb %%al, %%dx" : : "a"(0xffULL), "d"(0xffff) : "memory");
}

TEST(io_out)
{
	static const struct io_exp exp[] = {
		{ 0x42, 1, 0x88 }, { 0x44, 2, 0x7788 }, { 0x46, 4, 0x55667788 },
		{ 0x5678, 1, 0x88 }, { 0x567a, 2, 0x7788 },
		{ 0x567c, 4, 0x55667788 }, { 0xffff, 1, 0xff },
	};
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_io_out);
	struct axvm_run *run = vcpu->v.run;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(exp); i++) {
		vcpu_run(vcpu);
		ASSERT_EXIT(vcpu, AXVM_EXIT_IO);
		ASSERT_EQ(exp[i].port, run->io.port) ITER("OUT #%u", i);
		ASSERT_EQ(exp[i].width, run->io.width);
		ASSERT_EQ(AXVM_IO_OUT, run->io.direction);
		ASSERT_EQ(exp[i].data, run->io.data);
	}
	vcpu_run_done(vcpu);
	vm_free(vm);
}

static void guest_io_in(void)
{
	uint64_t v;

	v = PRE;
	asm volatile("inb $0x42, %%al" : "+a"(v));
	GUEST_ASSERT_EQ(v, (PRE & ~0xffULL) | 0x0d);
	v = PRE;
	asm volatile("inw $0x44, %%ax" : "+a"(v));
	GUEST_ASSERT_EQ(v, (PRE & ~0xffffULL) | 0xf00d);
	v = PRE;
	asm volatile("inl $0x46, %%eax" : "+a"(v));
	GUEST_ASSERT_EQ(v, 0xcafef00dULL);
	v = PRE;
	asm volatile("inb %%dx, %%al" : "+a"(v) : "d"(0x5678));
	GUEST_ASSERT_EQ(v, (PRE & ~0xffULL) | 0x0d);
	v = PRE;
	asm volatile("inw %%dx, %%ax" : "+a"(v) : "d"(0x567a));
	GUEST_ASSERT_EQ(v, (PRE & ~0xffffULL) | 0xf00d);
	v = PRE;
	asm volatile("inl %%dx, %%eax" : "+a"(v) : "d"(0x567c));
	GUEST_ASSERT_EQ(v, 0xcafef00dULL);
}

TEST(io_in)
{
	static const struct io_exp exp[] = {
		{ 0x42, 1, 0 }, { 0x44, 2, 0 }, { 0x46, 4, 0 },
		{ 0x5678, 1, 0 }, { 0x567a, 2, 0 }, { 0x567c, 4, 0 },
	};
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_io_in);
	struct axvm_run *run = vcpu->v.run;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(exp); i++) {
		vcpu_run(vcpu);
		ASSERT_EXIT(vcpu, AXVM_EXIT_IO);
		ASSERT_EQ(exp[i].port, run->io.port) ITER("IN #%u", i);
		ASSERT_EQ(exp[i].width, run->io.width);
		ASSERT_EQ(AXVM_IO_IN, run->io.direction);
		/* Only the low `width` bytes may reach the guest. */
		run->io.data = 0xdeadbeefcafef00dULL;
	}
	vcpu_run_done(vcpu);
	vm_free(vm);
}

/* ---------------------------------------------------------------- */
/* MMIO                                                              */
/* ---------------------------------------------------------------- */

struct mmio_exp {
	uint64_t gpa;
	uint8_t width;
	uint64_t data;		/* writes only */
};

static void guest_mmio_writes(void)
{
	const uint64_t b = GUEST_MMIO_GPA;
	register uint64_t r9 asm("r9") = 0xffffffffffff0055ULL;
	register uint64_t r12 asm("r12") = b + 0x300;
	register uint64_t r13 asm("r13") = b + 0x400;

	/* 88 /r: AL, AH (no REX), SIL (REX), R9B (REX.R), disp8 */
	asm volatile("mov %%al, (%%rbx)" : : "b"(b), "a"(0x88ULL) : "memory");
	asm volatile("mov %%ah, 1(%%rbx)" : : "b"(b), "a"(0x7700ULL) : "memory");
	asm volatile("mov %%sil, 2(%%rbx)" : : "b"(b), "S"(0x66ULL) : "memory");
	asm volatile("mov %%r9b, 0x13(%%rbx)" : : "b"(b), "r"(r9) : "memory");
	/* 66 89, 89 disp32, REX.W 89 with SIB, SIB + disp8 */
	asm volatile("mov %%ax, 0x20(%%rbx)"
		     : : "b"(b), "a"(0xffffbeefULL) : "memory");
	asm volatile("mov %%eax, 0x1004(%%rbx)"
		     : : "b"(b), "a"(0x11deadbeefULL) : "memory");
	asm volatile("mov %%rax, (%%rbx,%%rcx,8)"
		     : : "b"(b), "c"(8ULL), "a"(0x0123456789abcdefULL)
		     : "memory");
	asm volatile("mov %%eax, 0x10(%%rbx,%%rcx,2)"
		     : : "b"(b), "c"(0x28ULL), "a"(0x12345678ULL) : "memory");
	/* SIB without base (disp32 + index), without base and index */
	asm volatile("mov %%eax, " __stringify(GUEST_MMIO_GPA_ASM) "+0x80(,%%rcx,4)"
		     : : "c"(4ULL), "a"(0x9abcdef0ULL) : "memory");
	asm volatile("mov %%rax, " __stringify(GUEST_MMIO_GPA_ASM) "+0x100"
		     : : "a"(0xfedcba9876543210ULL) : "memory");
	/* RIP-relative */
	asm volatile("movl %%eax, guest_mmio_base+0x200(%%rip)"
		     : : "a"(0x0badf00dULL) : "memory");
	/* r12 base (needs a SIB byte), r13 base (needs a displacement) */
	asm volatile("mov %%r9w, (%%r12)" : : "r"(r12), "r"(r9) : "memory");
	asm volatile("mov %%r9d, 8(%%r13)" : : "r"(r13), "r"(r9) : "memory");
	/* negative disp8 */
	asm volatile("mov %%eax, -8(%%rbx)"
		     : : "b"(b + 0x508), "a"(0x5a5a5a5aULL) : "memory");
	/* c6 / c7 immediates */
	asm volatile("movb $0x5a, (%%rbx)" : : "b"(b + 0x600) : "memory");
	asm volatile("movw $0x1234, (%%rbx)" : : "b"(b + 0x610) : "memory");
	asm volatile("movl $0xcafebabe, (%%rbx)" : : "b"(b + 0x620) : "memory");
	asm volatile("movq $-2, (%%rbx)" : : "b"(b + 0x630) : "memory");
	asm volatile("movq $0x7eadbeef, 8(%%rbx)" : : "b"(b + 0x630) : "memory");
	/* a2 / a3 moffs */
	asm volatile("movabs %%al, " __stringify(GUEST_MMIO_GPA_ASM) "+0x900"
		     : : "a"(0xa2ULL) : "memory");
	asm volatile("movabs %%ax, " __stringify(GUEST_MMIO_GPA_ASM) "+0x902"
		     : : "a"(0xa3a3ULL) : "memory");
	asm volatile("movabs %%eax, " __stringify(GUEST_MMIO_GPA_ASM) "+0x904"
		     : : "a"(0xa3a3a3a3ULL) : "memory");
	asm volatile("movabs %%rax, " __stringify(GUEST_MMIO_GPA_ASM) "+0x908"
		     : : "a"(0xa3a3a3a3a3a3a3a3ULL) : "memory");
	/* The last bytes of a page. */
	asm volatile("mov %%eax, (%%rbx)"
		     : : "b"(b + 0xffc), "a"(0x1a2b3c4dULL) : "memory");
}

TEST(mmio_write_forms)
{
	static const struct mmio_exp exp[] = {
		{ M + 0x00, 1, 0x88 },
		{ M + 0x01, 1, 0x77 },
		{ M + 0x02, 1, 0x66 },
		{ M + 0x13, 1, 0x55 },
		{ M + 0x20, 2, 0xbeef },
		{ M + 0x1004, 4, 0xdeadbeef },
		{ M + 0x40, 8, 0x0123456789abcdefULL },
		{ M + 0x60, 4, 0x12345678 },
		{ M + 0x90, 4, 0x9abcdef0 },
		{ M + 0x100, 8, 0xfedcba9876543210ULL },
		{ M + 0x200, 4, 0x0badf00d },
		{ M + 0x300, 2, 0x0055 },
		{ M + 0x408, 4, 0xffff0055 },
		{ M + 0x500, 4, 0x5a5a5a5a },
		{ M + 0x600, 1, 0x5a },
		{ M + 0x610, 2, 0x1234 },
		{ M + 0x620, 4, 0xcafebabe },
		{ M + 0x630, 8, 0xfffffffffffffffeULL },
		{ M + 0x638, 8, 0x7eadbeef },
		{ M + 0x900, 1, 0xa2 },
		{ M + 0x902, 2, 0xa3a3 },
		{ M + 0x904, 4, 0xa3a3a3a3 },
		{ M + 0x908, 8, 0xa3a3a3a3a3a3a3a3ULL },
		{ M + 0xffc, 4, 0x1a2b3c4d },
	};
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_mmio_writes);
	struct axvm_run *run = vcpu->v.run;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(exp); i++) {
		vcpu_run(vcpu);
		ucall_check_abort(vcpu);
		ASSERT_EXIT(vcpu, AXVM_EXIT_MMIO);
		ASSERT_EQ(exp[i].gpa, run->mmio.gpa) ITER("write #%u", i);
		ASSERT_EQ(exp[i].width, run->mmio.width) ITER("write #%u", i);
		ASSERT_EQ(1, run->mmio.is_write) ITER("write #%u", i);
		ASSERT_EQ(exp[i].data, run->mmio.data) ITER("write #%u", i);
	}
	vcpu_run_done(vcpu);
	vm_free(vm);
}

/* What the host answers to every MMIO read (more bytes than asked for). */
#define D	0xf1e2d3c4b5a69788ULL

static void guest_mmio_reads(void)
{
	const uint64_t b = GUEST_MMIO_GPA;
	uint64_t v, w;

	/* 8a: AL merges, AH (no REX) is bits 8-15, DH too, SIL (REX) */
	v = PRE;
	asm volatile("mov (%%rbx), %%al" : "+a"(v) : "b"(b) : "memory");
	GUEST_ASSERT_EQ(v, (PRE & ~0xffULL) | 0x88);
	v = PRE;
	asm volatile("mov 1(%%rbx), %%ah" : "+a"(v) : "b"(b) : "memory");
	GUEST_ASSERT_EQ(v, (PRE & ~0xff00ULL) | 0x8800);
	v = PRE;
	asm volatile("mov 2(%%rbx), %%dh" : "+d"(v) : "b"(b) : "memory");
	GUEST_ASSERT_EQ(v, (PRE & ~0xff00ULL) | 0x8800);
	v = PRE;
	asm volatile("mov 3(%%rbx), %%sil" : "+S"(v) : "b"(b) : "memory");
	GUEST_ASSERT_EQ(v, (PRE & ~0xffULL) | 0x88);
	{
		register uint64_t r11 asm("r11") = PRE;

		asm volatile("mov 4(%%rbx), %%r11b" : "+r"(r11) : "b"(b)
			     : "memory");
		GUEST_ASSERT_EQ(r11, (PRE & ~0xffULL) | 0x88);
	}
	/* 66 8b merges 16 bits; 8b zero-extends; REX.W 8b is 64 bits */
	v = PRE;
	asm volatile("mov 0x10(%%rbx), %%ax" : "+a"(v) : "b"(b) : "memory");
	GUEST_ASSERT_EQ(v, (PRE & ~0xffffULL) | 0x9788);
	{
		register uint64_t r10 asm("r10") = PRE;

		asm volatile("mov 0x14(%%rbx), %%r10w" : "+r"(r10) : "b"(b)
			     : "memory");
		GUEST_ASSERT_EQ(r10, (PRE & ~0xffffULL) | 0x9788);
	}
	v = PRE;
	asm volatile("mov 0x1000(%%rbx), %%eax" : "+a"(v) : "b"(b) : "memory");
	GUEST_ASSERT_EQ(v, 0xb5a69788ULL);
	{
		register uint64_t r9 asm("r9") = PRE;

		asm volatile("mov (%%rbx,%%rcx,4), %%r9d" : "+r"(r9)
			     : "b"(b), "c"(8ULL) : "memory");
		GUEST_ASSERT_EQ(r9, 0xb5a69788ULL);
	}
	v = PRE;
	asm volatile("mov 0x30(%%rbx), %%rax" : "+a"(v) : "b"(b) : "memory");
	GUEST_ASSERT_EQ(v, D);
	{
		register uint64_t r8 asm("r8") = PRE;

		asm volatile("mov 0x38(%%rbx,%%rcx,1), %%r8" : "+r"(r8)
			     : "b"(b), "c"(8ULL) : "memory");
		GUEST_ASSERT_EQ(r8, D);
	}
	/* movzx */
	v = PRE;
	asm volatile("movzbl 0x50(%%rbx), %%eax" : "+a"(v) : "b"(b) : "memory");
	GUEST_ASSERT_EQ(v, 0x88ULL);
	v = PRE;
	asm volatile("movzbw 0x51(%%rbx), %%ax" : "+a"(v) : "b"(b) : "memory");
	GUEST_ASSERT_EQ(v, (PRE & ~0xffffULL) | 0x0088);
	v = PRE;
	asm volatile("movzwl 0x52(%%rbx), %%eax" : "+a"(v) : "b"(b) : "memory");
	GUEST_ASSERT_EQ(v, 0x9788ULL);
	v = PRE;
	asm volatile("movzbq 0x54(%%rbx), %%rax" : "+a"(v) : "b"(b) : "memory");
	GUEST_ASSERT_EQ(v, 0x88ULL);
	{
		register uint64_t r12 asm("r12") = PRE;

		asm volatile("movzwq 0x56(%%rbx), %%r12" : "+r"(r12) : "b"(b)
			     : "memory");
		GUEST_ASSERT_EQ(r12, 0x9788ULL);
	}
	/* movsx */
	v = PRE;
	asm volatile("movsbl 0x60(%%rbx), %%eax" : "+a"(v) : "b"(b) : "memory");
	GUEST_ASSERT_EQ(v, 0xffffff88ULL);
	v = PRE;
	asm volatile("movsbw 0x61(%%rbx), %%ax" : "+a"(v) : "b"(b) : "memory");
	GUEST_ASSERT_EQ(v, (PRE & ~0xffffULL) | 0xff88);
	v = PRE;
	asm volatile("movswl 0x62(%%rbx), %%eax" : "+a"(v) : "b"(b) : "memory");
	GUEST_ASSERT_EQ(v, 0xffff9788ULL);
	v = PRE;
	asm volatile("movsbq 0x64(%%rbx), %%rax" : "+a"(v) : "b"(b) : "memory");
	GUEST_ASSERT_EQ(v, 0xffffffffffffff88ULL);
	v = PRE;
	asm volatile("movswq 0x66(%%rbx), %%rax" : "+a"(v) : "b"(b) : "memory");
	GUEST_ASSERT_EQ(v, 0xffffffffffff9788ULL);
	/* a0 / a1 moffs */
	v = PRE;
	asm volatile("movabs " __stringify(GUEST_MMIO_GPA_ASM) "+0x70, %%al"
		     : "+a"(v) : : "memory");
	GUEST_ASSERT_EQ(v, (PRE & ~0xffULL) | 0x88);
	v = PRE;
	asm volatile("movabs " __stringify(GUEST_MMIO_GPA_ASM) "+0x72, %%ax"
		     : "+a"(v) : : "memory");
	GUEST_ASSERT_EQ(v, (PRE & ~0xffffULL) | 0x9788);
	v = PRE;
	asm volatile("movabs " __stringify(GUEST_MMIO_GPA_ASM) "+0x74, %%eax"
		     : "+a"(v) : : "memory");
	GUEST_ASSERT_EQ(v, 0xb5a69788ULL);
	v = PRE;
	asm volatile("movabs " __stringify(GUEST_MMIO_GPA_ASM) "+0x78, %%rax"
		     : "+a"(v) : : "memory");
	GUEST_ASSERT_EQ(v, D);
	/* RIP-relative, SIB without base, negative disp8 off r13 */
	v = PRE;
	asm volatile("mov guest_mmio_base+0x280(%%rip), %%ecx"
		     : "+c"(v) : : "memory");
	GUEST_ASSERT_EQ(v, 0xb5a69788ULL);
	v = PRE;
	w = 1;
	asm volatile("mov " __stringify(GUEST_MMIO_GPA_ASM) "+0x90(,%%rcx,8), %%edx"
		     : "+d"(v) : "c"(w) : "memory");
	GUEST_ASSERT_EQ(v, 0xb5a69788ULL);
	{
		register uint64_t r13 asm("r13") = b + 0xb0;
		register uint64_t r14 asm("r14") = PRE;

		asm volatile("mov -0x10(%%r13), %%r14d" : "+r"(r14)
			     : "r"(r13) : "memory");
		GUEST_ASSERT_EQ(r14, 0xb5a69788ULL);
	}
}

TEST(mmio_read_forms)
{
	static const struct mmio_exp exp[] = {
		{ M + 0x00, 1, 0 }, { M + 0x01, 1, 0 }, { M + 0x02, 1, 0 },
		{ M + 0x03, 1, 0 }, { M + 0x04, 1, 0 },
		{ M + 0x10, 2, 0 }, { M + 0x14, 2, 0 },
		{ M + 0x1000, 4, 0 }, { M + 0x20, 4, 0 },
		{ M + 0x30, 8, 0 }, { M + 0x40, 8, 0 },
		{ M + 0x50, 1, 0 }, { M + 0x51, 1, 0 }, { M + 0x52, 2, 0 },
		{ M + 0x54, 1, 0 }, { M + 0x56, 2, 0 },
		{ M + 0x60, 1, 0 }, { M + 0x61, 1, 0 }, { M + 0x62, 2, 0 },
		{ M + 0x64, 1, 0 }, { M + 0x66, 2, 0 },
		{ M + 0x70, 1, 0 }, { M + 0x72, 2, 0 }, { M + 0x74, 4, 0 },
		{ M + 0x78, 8, 0 },
		{ M + 0x280, 4, 0 }, { M + 0x98, 4, 0 }, { M + 0xa0, 4, 0 },
	};
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_mmio_reads);
	struct axvm_run *run = vcpu->v.run;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(exp); i++) {
		vcpu_run(vcpu);
		ucall_check_abort(vcpu);
		ASSERT_EXIT(vcpu, AXVM_EXIT_MMIO);
		ASSERT_EQ(exp[i].gpa, run->mmio.gpa) ITER("read #%u", i);
		ASSERT_EQ(exp[i].width, run->mmio.width) ITER("read #%u", i);
		ASSERT_EQ(0, run->mmio.is_write) ITER("read #%u", i);
		run->mmio.data = D;
	}
	vcpu_run_done(vcpu);
	vm_free(vm);
}

static void guest_mmio_unsupported(void)
{
	asm volatile("addl $1, (%%rbx)" : : "b"(GUEST_MMIO_GPA) : "memory");
	GUEST_FAIL("an unsupported MMIO instruction completed");
}

TEST(mmio_unsupported_instruction)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu,
						 guest_mmio_unsupported);

	vcpu_run(vcpu);
	ucall_check_abort(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_INTERNAL_ERROR);
	ASSERT_EQ((uint32_t)AXVM_INTERNAL_EMULATION,
		  vcpu->v.run->internal.suberror);
	vm_free(vm);
}

/* ---------------------------------------------------------------- */
/* HLT, VMMCALL                                                      */
/* ---------------------------------------------------------------- */

static void guest_hlt(void)
{
	uint64_t after;

	asm volatile("lea 1f(%%rip), %0\n\t"
		     "hlt\n"
		     "1:" : "=r"(after) : : "memory");
	GUEST_SYNC(after);
	asm volatile("hlt\n\thlt" : : : "memory");
	GUEST_SYNC(2);
}

TEST(hlt_exit)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_hlt);
	struct axvm_run *run = vcpu->v.run;
	struct axvm_regs regs;
	struct ucall uc;
	uint64_t guest_rip;

	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_HLT);
	vcpu_regs_get(vcpu, &regs);
	guest_rip = run->guest.rip;
	vcpu_run_sync_uc(vcpu, &uc);
	/* RIP is already past the HLT. */
	ASSERT_EQ(uc.args[0], regs.rip);
	ASSERT_TRUE(guest_rip == uc.args[0] || guest_rip == uc.args[0] - 1);
	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_HLT);
	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_HLT);
	vcpu_run_sync(vcpu, 2);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

static void guest_hypercall(void)
{
	uint64_t i;

	for (i = 0; i < 4; i++) {
		uint64_t rax = 0x100 + i, rbx = 0xb0b0 + i, rcx = 0xc0c0 + i;
		uint64_t rdx = 0xd0d0 + i, rsi = 0x5050 + i, rdi = 0xd1d1 + i;

		asm volatile("vmmcall"
			     : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx),
			       "+S"(rsi), "+D"(rdi)
			     : : "memory");
		GUEST_ASSERT_EQ(rax, 0xfeed0000ULL + i);
		GUEST_ASSERT_EQ(rbx, 0xb0b0 + i);
		GUEST_ASSERT_EQ(rcx, 0xc0c0 + i);
		GUEST_ASSERT_EQ(rdx, 0xd0d0 + i);
		GUEST_ASSERT_EQ(rsi, 0x5050 + i);
		GUEST_ASSERT_EQ(rdi, 0xd1d1 + i);
	}
}

TEST(hypercall)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_hypercall);
	struct axvm_run *run = vcpu->v.run;
	uint64_t i;

	for (i = 0; i < 4; i++) {
		vcpu_run(vcpu);
		ucall_check_abort(vcpu);
		ASSERT_EXIT(vcpu, AXVM_EXIT_HYPERCALL);
		ASSERT_EQ(0x100 + i, run->hypercall.nr);
		ASSERT_EQ(0xb0b0 + i, run->hypercall.args[0]);
		ASSERT_EQ(0xc0c0 + i, run->hypercall.args[1]);
		ASSERT_EQ(0xd0d0 + i, run->hypercall.args[2]);
		ASSERT_EQ(0x5050 + i, run->hypercall.args[3]);
		run->hypercall.ret = 0xfeed0000ULL + i;
	}
	vcpu_run_done(vcpu);
	vm_free(vm);
}

/* ---------------------------------------------------------------- */
/* CPUID                                                             */
/* ---------------------------------------------------------------- */

static void guest_cpuid(uint64_t leaf)
{
	uint32_t a, b, c, d;

	cpuid_count(leaf, 0, &a, &b, &c, &d);
	GUEST_SYNC4(a, b, c, d);
}

static void run_cpuid(struct __test_metadata *_metadata, uint32_t vcpu_id,
		      uint32_t leaf, struct ucall *uc)
{
	struct tvm *vm = vm_create_guest();
	struct tvcpu *vcpu = vm_guest_vcpu_add(vm, vcpu_id, guest_cpuid);

	vcpu_set_arg(vcpu, leaf);
	vm_start(vm);
	vcpu_run_sync_uc(vcpu, uc);
	vcpu_run_done(vcpu);
	vm_free(vm);
	(void)_metadata;
}

TEST(cpuid_hypervisor_leaf)
{
	const uint32_t sig = 'a' | 'x' << 8 | 'v' << 16 | (uint32_t)'m' << 24;
	struct ucall uc;

	run_cpuid(_metadata, 0, 0x40000000, &uc);
	ASSERT_LE(0x40000000ULL, uc.args[0]);
	ASSERT_GT(0x40000100ULL, uc.args[0]);
	ASSERT_EQ(sig, uc.args[1]);
	ASSERT_EQ(sig, uc.args[2]);
	ASSERT_EQ(sig, uc.args[3]);
}

TEST(cpuid_hypervisor_bit)
{
	struct ucall uc;

	run_cpuid(_metadata, 0, 1, &uc);
	ASSERT_EQ(1ULL << 31, uc.args[2] & (1ULL << 31));
}

TEST(cpuid_svm_hidden)
{
	struct ucall uc;

	run_cpuid(_metadata, 0, 0x80000001, &uc);
	ASSERT_EQ(0ULL, uc.args[2] & (1ULL << 2));
}

/*
 * Leaf 0xd describes the XSAVE area the guest's XSAVE and XSAVEC really
 * write (Linux turns XSAVE off, with a WARNING, when its own sum
 * disagrees). With every offered component on in XCR0: subleaf 0 EBX
 * and ECX are the standard format's size, subleaf 1 EBX the compacted
 * format's (SDM vol. 1, 13.4), both summed here from the per-component
 * subleaves, and neither instruction writes beyond them.
 */
#define XSAVE_AREA_SIZE		16384
#define XSAVE_POISON		0xcc
static uint8_t xsave_area[XSAVE_AREA_SIZE] __attribute__((aligned(64)));

static void guest_xsave_fill(void)
{
	unsigned int i;

	for (i = 0; i < XSAVE_AREA_SIZE; i++)
		xsave_area[i] = XSAVE_POISON;
}

/* Bytes from the end of xsave_area back to the last one written. */
static uint32_t guest_xsave_used(void)
{
	uint32_t n = XSAVE_AREA_SIZE;

	while (n && xsave_area[n - 1] == XSAVE_POISON)
		n--;
	return n;
}

static void guest_xsave_sizes(void)
{
	uint32_t a, b, c, d, ea, eb, ec, ed, std = 576, cmp = 576, i;
	uint64_t mask;

	cpuid_count(1, 0, &a, &b, &c, &d);
	GUEST_ASSERT(c & (1U << 26));			/* XSAVE */
	write_cr4(read_cr4() | X86_CR4_OSXSAVE);
	cpuid_count(0xd, 0, &a, &b, &c, &d);
	mask = a | (uint64_t)d << 32;
	GUEST_ASSERT_EQ(3ULL, mask & 3);		/* x87, SSE */
	xsetbv(0, mask);
	for (i = 2; i < 64; i++) {
		if (!(mask & (1ULL << i)))
			continue;
		cpuid_count(0xd, i, &ea, &eb, &ec, &ed);
		GUEST_ASSERT(ea != 0);
		std = eb + ea > std ? eb + ea : std;
		if (ec & 2)
			cmp = (cmp + 63) & ~63U;
		cmp += ea;
	}
	cpuid_count(0xd, 0, &a, &b, &c, &d);
	GUEST_ASSERT_EQ(std, b);
	GUEST_ASSERT_EQ(std, c);
	guest_xsave_fill();
	xsave(xsave_area, mask);
	GUEST_ASSERT(guest_xsave_used() <= std);
	cpuid_count(0xd, 1, &a, &b, &c, &d);
	if (a & 2) {					/* XSAVEC */
		GUEST_ASSERT_EQ(cmp, b);
		guest_xsave_fill();
		xsavec(xsave_area, mask);
		GUEST_ASSERT(guest_xsave_used() <= cmp);
		/* XCOMP_BV: bit 63 (compacted) and the components saved. */
		GUEST_ASSERT_EQ((1ULL << 63) | mask,
				*(uint64_t *)(xsave_area + 520));
	} else {
		GUEST_ASSERT_EQ(0U, b);
	}
	GUEST_SYNC2(std, a & 2 ? cmp : 0);
}

TEST(cpuid_xsave_sizes)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_xsave_sizes);
	struct ucall uc;

	vcpu_run_sync_uc(vcpu, &uc);
	TH_LOG("XSAVE area: %llu bytes standard, %llu compacted (0: no XSAVEC)",
	       (unsigned long long)uc.args[0],
	       (unsigned long long)uc.args[1]);
	ASSERT_LE(576ULL, uc.args[0]);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

TEST(cpuid_apic_id_is_vcpu_id)
{
	static const uint32_t ids[] = { 0, 1, 5, 63 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		struct ucall uc;

		run_cpuid(_metadata, ids[i], 1, &uc);
		ASSERT_EQ(ids[i], uc.args[1] >> 24) ITER("vCPU %u", ids[i]);
	}
}

/* Several vCPUs of one VM each see their own id. */
TEST(cpuid_apic_id_per_vcpu)
{
	struct tvm *vm = vm_create_guest();
	struct tvcpu *vcpus[3];
	static const uint32_t ids[] = { 2, 9, 40 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		vcpus[i] = vm_guest_vcpu_add(vm, ids[i], guest_cpuid);
		vcpu_set_arg(vcpus[i], 1);
	}
	vm_start(vm);
	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		struct ucall uc;

		vcpu_run_sync_uc(vcpus[i], &uc);
		ASSERT_EQ(ids[i], uc.args[1] >> 24);
	}
	vm_free(vm);
}

static void guest_cpuid_loop(void)
{
	uint32_t a, b, c, d;
	int i;

	GUEST_SYNC(0);
	for (i = 0; i < 100; i++)
		cpuid_count(0, 0, &a, &b, &c, &d);
	GUEST_SYNC(a);
}

/* CPUID never reaches userspace, but counts as an exit. */
TEST(cpuid_handled_in_kernel)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_cpuid_loop);
	uint64_t before;
	struct ucall uc;

	vcpu_run_sync(vcpu, 0);
	before = vcpu->v.run->exit_count;
	vcpu_run_sync_uc(vcpu, &uc);
	ASSERT_LE(before + 101, vcpu->v.run->exit_count);
	ASSERT_LE(1ULL, uc.args[0]);	/* max basic leaf */
	vcpu_run_done(vcpu);
	vm_free(vm);
}

/* ---------------------------------------------------------------- */
/* MSRs                                                              */
/* ---------------------------------------------------------------- */

static void guest_msr_unknown(uint64_t msr)
{
	uint64_t v = 0;
	uint8_t rd, wr;

	rd = rdmsr_safe(msr, &v);
	wr = wrmsr_safe(msr, 0x1234);
	GUEST_SYNC4(msr, rd, wr, 0);
}

TEST(msr_unknown_gp)
{
	static const uint32_t msrs[] = { 0x40001234, 0xdeadbeef, 0x2ff0 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(msrs); i++) {
		struct tvcpu *vcpu;
		struct tvm *vm = vm_create_with_one_vcpu(&vcpu,
							 guest_msr_unknown);
		struct ucall uc;

		vcpu_set_arg(vcpu, msrs[i]);
		vcpu_run_sync_uc(vcpu, &uc);
		ASSERT_EQ((uint64_t)GP_VECTOR, uc.args[1])
			ITER("RDMSR %#x", msrs[i]);
		ASSERT_EQ((uint64_t)GP_VECTOR, uc.args[2])
			ITER("WRMSR %#x", msrs[i]);
		vcpu_run_done(vcpu);
		vm_free(vm);
	}
}

static void guest_msr_efer(void)
{
	uint64_t efer = rdmsr(MSR_EFER), with, without, after;
	uint8_t vec;

	vec = wrmsr_safe(MSR_EFER, efer | EFER_SVME);
	after = rdmsr(MSR_EFER);
	wrmsr(MSR_EFER, efer | EFER_SCE);
	with = rdmsr(MSR_EFER);
	wrmsr(MSR_EFER, efer & ~EFER_SCE);
	without = rdmsr(MSR_EFER);
	GUEST_SYNC4(efer, vec, after, with);
	GUEST_SYNC(without);
}

TEST(msr_efer)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_msr_efer);
	struct ucall uc;
	uint64_t efer;

	vcpu_run_sync_uc(vcpu, &uc);
	efer = uc.args[0];
	/* Long mode, and no SVM to be seen. */
	ASSERT_EQ(EFER_LME | EFER_LMA, efer & (EFER_LME | EFER_LMA));
	ASSERT_EQ(0ULL, efer & EFER_SVME);
	/* Setting SVME is #GP and changes nothing. */
	ASSERT_EQ((uint64_t)GP_VECTOR, uc.args[1]);
	ASSERT_EQ(efer, uc.args[2]);
	ASSERT_EQ(efer | EFER_SCE, uc.args[3]);
	vcpu_run_sync_uc(vcpu, &uc);
	ASSERT_EQ(efer & ~EFER_SCE, uc.args[0]);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

static const struct {
	uint32_t msr;
	uint64_t val;
} msr_values[] = {
	{ MSR_STAR, 0x0023001000000000ULL },
	{ MSR_LSTAR, 0xffffffff81a00000ULL },
	{ MSR_KERNEL_GS_BASE, 0xffff888012345000ULL },
	{ MSR_FS_BASE, GUEST_SCRATCH_GPA + 0x100 },
};

static void guest_msr_readback(void)
{
	volatile uint64_t *scratch = (volatile uint64_t *)GUEST_SCRATCH_GPA;
	unsigned int i;
	uint64_t v;

	for (i = 0; i < ARRAY_SIZE(msr_values); i++) {
		wrmsr(msr_values[i].msr, msr_values[i].val);
		GUEST_SYNC2(msr_values[i].msr, rdmsr(msr_values[i].msr));
	}
	/* The FS_BASE written above is the one FS-relative accesses use. */
	scratch[0x100 / 8] = 0x5eed5eed5eed5eedULL;
	asm volatile("mov %%fs:0, %0" : "=r"(v) : : "memory");
	GUEST_SYNC2(0, v);
}

TEST(msr_readback)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_msr_readback);
	unsigned int i;
	struct ucall uc;

	for (i = 0; i < ARRAY_SIZE(msr_values); i++) {
		vcpu_run_sync_uc(vcpu, &uc);
		ASSERT_EQ(msr_values[i].msr, uc.args[0]);
		ASSERT_EQ(msr_values[i].val, uc.args[1])
			ITER("MSR %#x", msr_values[i].msr);
	}
	vcpu_run_sync_uc(vcpu, &uc);
	ASSERT_EQ(0x5eed5eed5eed5eedULL, uc.args[1]);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

static void guest_msr_tsc(void)
{
	const uint64_t t0 = 1ULL << 40;
	uint64_t r, t;

	wrmsr(MSR_IA32_TSC, t0);
	r = rdmsr(MSR_IA32_TSC);
	t = rdtsc();
	GUEST_SYNC2(r, t);
}

TEST(msr_tsc)
{
	const uint64_t t0 = 1ULL << 40, slack = 1ULL << 36;
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_msr_tsc);
	struct ucall uc;

	vcpu_run_sync_uc(vcpu, &uc);
	ASSERT_LE(t0, uc.args[0]);
	ASSERT_GT(t0 + slack, uc.args[0]);
	ASSERT_LE(uc.args[0], uc.args[1]);
	ASSERT_GT(t0 + slack, uc.args[1]);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

/* ---------------------------------------------------------------- */
/* Exceptions                                                        */
/* ---------------------------------------------------------------- */

static void guest_exceptions(void)
{
	uint64_t rax = 1, rdx = 0, cr2;
	uint32_t ud, bp, de, pf, gp;

	asm volatile(ASM_SAFE("ud2") : ASM_SAFE_OUTPUTS(ud) : : ASM_SAFE_CLOBBERS);
	asm volatile(ASM_SAFE("int3") : ASM_SAFE_OUTPUTS(bp) : : ASM_SAFE_CLOBBERS);
	asm volatile(ASM_SAFE("divq %%rcx")
		     : "+a"(rax), "+d"(rdx), ASM_SAFE_OUTPUTS(de)
		     : "c"(0ULL) : ASM_SAFE_CLOBBERS);
	/* 8 GiB is not mapped by the guest's page tables. */
	rax = 8 * SZ_1G;
	asm volatile(ASM_SAFE("mov (%%rax), %%rax")
		     : "+a"(rax), ASM_SAFE_OUTPUTS(pf) : : ASM_SAFE_CLOBBERS);
	asm volatile("mov %%cr2, %0" : "=r"(cr2));
	rax = 0x8000000000000000ULL;
	asm volatile(ASM_SAFE("mov (%%rax), %%rax")
		     : "+a"(rax), ASM_SAFE_OUTPUTS(gp) : : ASM_SAFE_CLOBBERS);
	GUEST_SYNC4(ud, bp, de, pf);
	GUEST_SYNC2(gp, cr2);
}

/* The guest's own IDT gets its exceptions (and ASM_SAFE() works). */
TEST(exceptions_reach_guest_idt)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_exceptions);
	struct ucall uc;

	vcpu_run_sync_uc(vcpu, &uc);
	ASSERT_EQ((uint64_t)UD_VECTOR, uc.args[0]);
	ASSERT_EQ((uint64_t)BP_VECTOR, uc.args[1]);
	ASSERT_EQ((uint64_t)DE_VECTOR, uc.args[2]);
	ASSERT_EQ((uint64_t)PF_VECTOR, uc.args[3]);
	vcpu_run_sync_uc(vcpu, &uc);
	ASSERT_EQ((uint64_t)GP_VECTOR, uc.args[0]);
	ASSERT_EQ(8 * SZ_1G, uc.args[1]);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

/* Every SVM instruction is #UD inside the guest. */
static void guest_svm_insn(uint64_t which)
{
	const uint64_t scratch = GUEST_SCRATCH_GPA;
	uint32_t vec = 0;

	switch (which) {
	case 0:	/* VMRUN */
		asm volatile(ASM_SAFE(".byte 0x0f, 0x01, 0xd8")
			     : ASM_SAFE_OUTPUTS(vec) : "a"(scratch)
			     : ASM_SAFE_CLOBBERS);
		break;
	case 1:	/* VMLOAD */
		asm volatile(ASM_SAFE(".byte 0x0f, 0x01, 0xda")
			     : ASM_SAFE_OUTPUTS(vec) : "a"(scratch)
			     : ASM_SAFE_CLOBBERS);
		break;
	case 2:	/* VMSAVE */
		asm volatile(ASM_SAFE(".byte 0x0f, 0x01, 0xdb")
			     : ASM_SAFE_OUTPUTS(vec) : "a"(scratch)
			     : ASM_SAFE_CLOBBERS);
		break;
	case 3:	/* STGI */
		asm volatile(ASM_SAFE(".byte 0x0f, 0x01, 0xdc")
			     : ASM_SAFE_OUTPUTS(vec) : : ASM_SAFE_CLOBBERS);
		break;
	case 4:	/* CLGI */
		asm volatile(ASM_SAFE(".byte 0x0f, 0x01, 0xdd")
			     : ASM_SAFE_OUTPUTS(vec) : : ASM_SAFE_CLOBBERS);
		break;
	case 5:	/* SKINIT */
		asm volatile(ASM_SAFE(".byte 0x0f, 0x01, 0xde")
			     : ASM_SAFE_OUTPUTS(vec) : "a"(scratch)
			     : ASM_SAFE_CLOBBERS);
		break;
	case 6:	/* INVLPGA */
		asm volatile(ASM_SAFE(".byte 0x0f, 0x01, 0xdf")
			     : ASM_SAFE_OUTPUTS(vec) : "a"(scratch), "c"(1)
			     : ASM_SAFE_CLOBBERS);
		break;
	}
	GUEST_SYNC(vec);
	/* Still alive and in control after it. */
	GUEST_SYNC(0x600d);
}

FIXTURE(svm_insn) {
	struct tvm *vm;
	struct tvcpu *vcpu;
};

FIXTURE_VARIANT(svm_insn) {
	uint64_t which;
};

FIXTURE_VARIANT_ADD(svm_insn, vmrun) { .which = 0 };
FIXTURE_VARIANT_ADD(svm_insn, vmload) { .which = 1 };
FIXTURE_VARIANT_ADD(svm_insn, vmsave) { .which = 2 };
FIXTURE_VARIANT_ADD(svm_insn, stgi) { .which = 3 };
FIXTURE_VARIANT_ADD(svm_insn, clgi) { .which = 4 };
FIXTURE_VARIANT_ADD(svm_insn, skinit) { .which = 5 };
FIXTURE_VARIANT_ADD(svm_insn, invlpga) { .which = 6 };

FIXTURE_SETUP(svm_insn)
{
	self->vm = vm_create_with_one_vcpu(&self->vcpu, guest_svm_insn);
	vcpu_set_arg(self->vcpu, variant->which);
}

FIXTURE_TEARDOWN(svm_insn)
{
	vm_free(self->vm);
}

TEST_F(svm_insn, raises_ud)
{
	uint8_t before[64], after[64];
	struct ucall uc;

	vm_read(self->vm, GUEST_SCRATCH_GPA, before, sizeof(before));
	vcpu_run_sync_uc(self->vcpu, &uc);
	ASSERT_EQ((uint64_t)UD_VECTOR, uc.args[0]);
	vcpu_run_sync(self->vcpu, 0x600d);
	/* VMSAVE & co. did not write the "VMCB" either. */
	vm_read(self->vm, GUEST_SCRATCH_GPA, after, sizeof(after));
	ASSERT_EQ(0, memcmp(before, after, sizeof(before)));
	vcpu_run_done(self->vcpu);
}

/* ---------------------------------------------------------------- */
/* Guest and host state across exits                                 */
/* ---------------------------------------------------------------- */

#define GPR(n)	(0x0101010101010101ULL * (n) + 0x1000 * (n))

static void guest_gprs_preserved(void)
{
	uint64_t rbx = GPR(3), rcx = GPR(1), rdx = 0x98, rsi = GPR(6);
	uint64_t rdi = GPR(7), rax = GPR(0) & ~0xffULL;
	register uint64_t r8 asm("r8") = GPR(8);
	register uint64_t r9 asm("r9") = GPR(9);
	register uint64_t r10 asm("r10") = GPR(10);
	register uint64_t r11 asm("r11") = GPR(11);
	register uint64_t r12 asm("r12") = GPR(12);
	register uint64_t r13 asm("r13") = GPR(13);
	register uint64_t r14 asm("r14") = GPR(14);
	register uint64_t r15 asm("r15") = GPR(15);

	asm volatile("outb %%al, %%dx"
		     : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx), "+S"(rsi),
		       "+D"(rdi), "+r"(r8), "+r"(r9), "+r"(r10), "+r"(r11),
		       "+r"(r12), "+r"(r13), "+r"(r14), "+r"(r15)
		     : : "memory");
	GUEST_ASSERT_EQ(rax, GPR(0) & ~0xffULL);
	GUEST_ASSERT_EQ(rbx, GPR(3));
	GUEST_ASSERT_EQ(rcx, GPR(1));
	GUEST_ASSERT_EQ(rdx, 0x98);
	GUEST_ASSERT_EQ(rsi, GPR(6));
	GUEST_ASSERT_EQ(rdi, GPR(7));
	GUEST_ASSERT_EQ(r8, GPR(8));
	GUEST_ASSERT_EQ(r9, GPR(9));
	GUEST_ASSERT_EQ(r10, GPR(10));
	GUEST_ASSERT_EQ(r11, GPR(11));
	GUEST_ASSERT_EQ(r12, GPR(12));
	GUEST_ASSERT_EQ(r13, GPR(13));
	GUEST_ASSERT_EQ(r14, GPR(14));
	GUEST_ASSERT_EQ(r15, GPR(15));
}

/* GET_REGS shows the guest's registers at an exit; they survive it. */
TEST(gprs_at_exit)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_gprs_preserved);
	struct axvm_regs r;

	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_IO);
	ASSERT_EQ(0x98, vcpu->v.run->io.port);
	vcpu_regs_get(vcpu, &r);
	ASSERT_EQ(GPR(0) & ~0xffULL, r.rax);
	ASSERT_EQ(GPR(3), r.rbx);
	ASSERT_EQ(GPR(1), r.rcx);
	ASSERT_EQ(0x98ULL, r.rdx);
	ASSERT_EQ(GPR(6), r.rsi);
	ASSERT_EQ(GPR(7), r.rdi);
	ASSERT_EQ(GPR(8), r.r8);
	ASSERT_EQ(GPR(9), r.r9);
	ASSERT_EQ(GPR(10), r.r10);
	ASSERT_EQ(GPR(11), r.r11);
	ASSERT_EQ(GPR(12), r.r12);
	ASSERT_EQ(GPR(13), r.r13);
	ASSERT_EQ(GPR(14), r.r14);
	ASSERT_EQ(GPR(15), r.r15);
	ASSERT_LE(GUEST_STACKS_GPA, r.rsp);
	ASSERT_GT(GUEST_STACKS_GPA + GUEST_STACK_SIZE, r.rsp);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

static void guest_set_regs(void)
{
	uint64_t rbx = 0;

	asm volatile("hlt" : "+b"(rbx) : : "memory");
	GUEST_SYNC(rbx);
	asm volatile("hlt" : : : "memory");
	GUEST_FAIL("RIP was not redirected");
}

static void guest_redirected(void)
{
	GUEST_SYNC(0x77);
}

TEST(set_regs_at_exit)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_set_regs);
	struct axvm_regs r;

	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_HLT);
	vcpu_regs_get(vcpu, &r);
	r.rbx = 0xfeedfacecafebeefULL;
	vcpu_regs_set(vcpu, &r);
	vcpu_run_sync(vcpu, 0xfeedfacecafebeefULL);

	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_HLT);
	vcpu_regs_get(vcpu, &r);
	r.rip = (uint64_t)(uintptr_t)guest_redirected;
	r.rsp = (r.rsp & ~0xfULL) - 8;	/* as if just called */
	vcpu_regs_set(vcpu, &r);
	vcpu_run_sync(vcpu, 0x77);
	vm_free(vm);
}

static const uint64_t xmm_pattern[16][2] __attribute__((aligned(16))) = {
	{ 0x0001020304050607ULL, 0x08090a0b0c0d0e0fULL },
	{ 0x1011121314151617ULL, 0x18191a1b1c1d1e1fULL },
	{ 0x2021222324252627ULL, 0x28292a2b2c2d2e2fULL },
	{ 0x3031323334353637ULL, 0x38393a3b3c3d3e3fULL },
	{ 0x4041424344454647ULL, 0x48494a4b4c4d4e4fULL },
	{ 0x5051525354555657ULL, 0x58595a5b5c5d5e5fULL },
	{ 0x6061626364656667ULL, 0x68696a6b6c6d6e6fULL },
	{ 0x7071727374757677ULL, 0x78797a7b7c7d7e7fULL },
	{ 0x8081828384858687ULL, 0x88898a8b8c8d8e8fULL },
	{ 0x9091929394959697ULL, 0x98999a9b9c9d9e9fULL },
	{ 0xa0a1a2a3a4a5a6a7ULL, 0xa8a9aaabacadaeafULL },
	{ 0xb0b1b2b3b4b5b6b7ULL, 0xb8b9babbbcbdbebfULL },
	{ 0xc0c1c2c3c4c5c6c7ULL, 0xc8c9cacbcccdcecfULL },
	{ 0xd0d1d2d3d4d5d6d7ULL, 0xd8d9dadbdcdddedfULL },
	{ 0xe0e1e2e3e4e5e6e7ULL, 0xe8e9eaebecedeeefULL },
	{ 0xf0f1f2f3f4f5f6f7ULL, 0xf8f9fafbfcfdfeffULL },
};

#define LOAD_XMM(p)							\
	"movdqu 0x00(" p "), %%xmm0\n\t"  "movdqu 0x10(" p "), %%xmm1\n\t" \
	"movdqu 0x20(" p "), %%xmm2\n\t"  "movdqu 0x30(" p "), %%xmm3\n\t" \
	"movdqu 0x40(" p "), %%xmm4\n\t"  "movdqu 0x50(" p "), %%xmm5\n\t" \
	"movdqu 0x60(" p "), %%xmm6\n\t"  "movdqu 0x70(" p "), %%xmm7\n\t" \
	"movdqu 0x80(" p "), %%xmm8\n\t"  "movdqu 0x90(" p "), %%xmm9\n\t" \
	"movdqu 0xa0(" p "), %%xmm10\n\t" "movdqu 0xb0(" p "), %%xmm11\n\t" \
	"movdqu 0xc0(" p "), %%xmm12\n\t" "movdqu 0xd0(" p "), %%xmm13\n\t" \
	"movdqu 0xe0(" p "), %%xmm14\n\t" "movdqu 0xf0(" p "), %%xmm15\n\t"
#define STORE_XMM(p)							\
	"movdqu %%xmm0, 0x00(" p ")\n\t"  "movdqu %%xmm1, 0x10(" p ")\n\t" \
	"movdqu %%xmm2, 0x20(" p ")\n\t"  "movdqu %%xmm3, 0x30(" p ")\n\t" \
	"movdqu %%xmm4, 0x40(" p ")\n\t"  "movdqu %%xmm5, 0x50(" p ")\n\t" \
	"movdqu %%xmm6, 0x60(" p ")\n\t"  "movdqu %%xmm7, 0x70(" p ")\n\t" \
	"movdqu %%xmm8, 0x80(" p ")\n\t"  "movdqu %%xmm9, 0x90(" p ")\n\t" \
	"movdqu %%xmm10, 0xa0(" p ")\n\t" "movdqu %%xmm11, 0xb0(" p ")\n\t" \
	"movdqu %%xmm12, 0xc0(" p ")\n\t" "movdqu %%xmm13, 0xd0(" p ")\n\t" \
	"movdqu %%xmm14, 0xe0(" p ")\n\t" "movdqu %%xmm15, 0xf0(" p ")\n\t"
#define XMM_CLOBBERS							\
	"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",	\
	"xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

/* SSE registers and MXCSR survive exits to userspace and back. */
static void guest_fpu(void)
{
	uint64_t out[16][2] __attribute__((aligned(16)));
	uint32_t mxcsr_in = 0x7f80 | (3 << 13), mxcsr_out = 0;
	unsigned int i;

	asm volatile("ldmxcsr %[in]\n\t"
		     LOAD_XMM("%[p]")
		     "outb %%al, %%dx\n\t"
		     STORE_XMM("%[o]")
		     "stmxcsr %[out]\n\t"
		     : [out] "=m"(mxcsr_out)
		     : [in] "m"(mxcsr_in), [p] "r"(xmm_pattern), [o] "r"(out),
		       "a"(0), "d"(0x99)
		     : "memory", XMM_CLOBBERS);
	GUEST_ASSERT_EQ(mxcsr_out, mxcsr_in);
	for (i = 0; i < 16; i++) {
		GUEST_ASSERT_EQ(out[i][0], xmm_pattern[i][0]);
		GUEST_ASSERT_EQ(out[i][1], xmm_pattern[i][1]);
	}
}

TEST(fpu_guest_state_preserved)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_fpu);
	uint64_t junk[16][2] __attribute__((aligned(16)));
	uint32_t mxcsr = 0x1f80;
	char text[64];
	unsigned int i;

	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_IO);
	ASSERT_EQ(0x99, vcpu->v.run->io.port);
	/* Use the FPU here with other values before resuming. */
	for (i = 0; i < 16; i++)
		junk[i][0] = junk[i][1] = ~0ULL / (i + 3);
	asm volatile("ldmxcsr %[m]\n\t" LOAD_XMM("%[p]")
		     : : [m] "m"(mxcsr), [p] "r"(junk) : "memory", XMM_CLOBBERS);
	snprintf(text, sizeof(text), "%f", 3.25 * (double)junk[3][0]);
	ASSERT_NE(0, text[0]);
	vcpu_run_done(vcpu);
	vm_free(vm);
}

/*
 * The host's SSE registers and MXCSR survive AXVM_RUN while the guest
 * loads its own: the ioctl is issued from asm with them live.
 */
TEST(fpu_host_state_preserved)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_fpu);
	uint64_t host[16][2] __attribute__((aligned(16)));
	uint64_t out[16][2] __attribute__((aligned(16)));
	uint32_t mxcsr_in = 0x1f80 | (1 << 13), mxcsr_out = 0, saved = 0;
	long ret;
	unsigned int i;

	for (i = 0; i < 16; i++) {
		host[i][0] = 0x5a5a5a5a00000000ULL | i;
		host[i][1] = 0xa5a5a5a500000000ULL | (i << 8);
	}
	asm volatile("stmxcsr %[saved]\n\t"
		     "ldmxcsr %[in]\n\t"
		     LOAD_XMM("%[p]")
		     "syscall\n\t"
		     STORE_XMM("%[o]")
		     "stmxcsr %[out]\n\t"
		     "ldmxcsr %[saved]\n\t"
		     : "=a"(ret), [out] "=m"(mxcsr_out), [saved] "+m"(saved)
		     : "0"((long)SYS_ioctl), "D"((long)vcpu->v.fd),
		       "S"((long)AXVM_RUN), "d"(0L),
		       [in] "m"(mxcsr_in), [p] "r"(host), [o] "r"(out)
		     : "rcx", "r11", "memory", XMM_CLOBBERS);
	ASSERT_EQ(0L, ret);
	ASSERT_EXIT(vcpu, AXVM_EXIT_IO);
	ASSERT_EQ(mxcsr_in, mxcsr_out);
	for (i = 0; i < 16; i++) {
		ASSERT_EQ(host[i][0], out[i][0]);
		ASSERT_EQ(host[i][1], out[i][1]);
	}
	vcpu_run_done(vcpu);
	vm_free(vm);
}

/* ---------------------------------------------------------------- */
/* Entry failure and triple fault (last: they go furthest)           */
/* ---------------------------------------------------------------- */

static void guest_after_recovery(void)
{
	GUEST_SYNC(0xacce55);
}

FIXTURE(entry_failure) {
	struct tvm *vm;
	struct tvcpu *vcpu;
};

FIXTURE_VARIANT(entry_failure) {
	int kind;
};

/* Long mode with CR0.PG set and CR0.PE clear. */
FIXTURE_VARIANT_ADD(entry_failure, paging_without_protection) { .kind = 0 };
/* A 64-bit code segment with both L and D/B set. */
FIXTURE_VARIANT_ADD(entry_failure, cs_long_and_default_big) { .kind = 1 };

FIXTURE_SETUP(entry_failure)
{
	self->vm = vm_create_with_one_vcpu(&self->vcpu, guest_after_recovery);
}

FIXTURE_TEARDOWN(entry_failure)
{
	vm_free(self->vm);
}

TEST_F(entry_failure, fail_entry_then_recover)
{
	struct axvm_sregs good, bad;
	struct axvm_regs before, after;

	vcpu_regs_get(self->vcpu, &before);
	vcpu_sregs_get(self->vcpu, &good);
	bad = good;
	if (variant->kind == 0)
		bad.cr0 &= ~X86_CR0_PE;
	else
		bad.cs.attrib |= AXVM_SEG_DB;
	ASSERT_EQ(0, VCPU_IOCTL(self->vcpu, AXVM_SET_SREGS, &bad));
	ASSERT_EQ(0, __vcpu_run(self->vcpu));
	ASSERT_EXIT(self->vcpu, AXVM_EXIT_FAIL_ENTRY);
	ASSERT_EQ(~0ULL, self->vcpu->v.run->fail_entry.hw_reason);
	/* Nothing ran: the registers are what they were. */
	vcpu_regs_get(self->vcpu, &after);
	ASSERT_EQ(before.rip, after.rip);
	ASSERT_EQ(before.rsp, after.rsp);
	ASSERT_EQ(before.rflags, after.rflags);
	/* The VM is still usable once the state is fixed. */
	vcpu_sregs_set(self->vcpu, &good);
	vcpu_run_sync(self->vcpu, 0xacce55);
}

static void guest_triple_fault(uint64_t insn)
{
	struct desc_ptr empty = { .limit = 0, .base = 0 };

	lidt(&empty);
	if (insn)
		asm volatile("ud2");
	else
		asm volatile("int3");
	GUEST_FAIL("survived an exception without an IDT");
}

TEST(triple_fault_int3)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_triple_fault);

	vcpu_set_arg(vcpu, 0);
	vcpu_run(vcpu);
	ucall_check_abort(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_SHUTDOWN);
	vm_free(vm);
}

TEST(triple_fault_ud2)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_triple_fault);

	vcpu_set_arg(vcpu, 1);
	vcpu_run(vcpu);
	ucall_check_abort(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_SHUTDOWN);
	vm_free(vm);
}

AXVM_TEST_HARNESS_MAIN
