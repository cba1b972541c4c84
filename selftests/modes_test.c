// SPDX-License-Identifier: GPL-2.0
/*
 * modes_test: guests outside 64-bit mode, and a guest changing mode.
 *
 * A 16-bit real-mode guest and a 32-bit protected-mode guest do port I/O
 * and MMIO with their own default operand and address sizes (16-bit
 * moffs, segment bases, the 66 prefix meaning the other size), and a
 * protected-mode guest takes itself into long mode the way every 64-bit
 * OS loader does: CR4.PAE, CR3, EFER.LME with WRMSR, CR0.PG, a far jump
 * to a 64-bit code segment, with a HLT after each step so that the host
 * can check the state in between. Last, a guest sets EFER.LME with PAE
 * off (legal while paging is off), which has wedged the host CPU.
 *
 * The guest code is assembled here with .code16/.code32; the 32-bit
 * code runs from the test image itself (flat segments), the 16-bit code
 * is copied below 1 MiB.
 */
#include "axvm_test.h"

#define RWX	(AXVM_MEM_READ | AXVM_MEM_WRITE | AXVM_MEM_EXEC)

extern const char real_code_start[], real_code_end[];
extern const char prot_code[], prot_long_mode[], prot_lme_no_pae[];

asm(
"	.pushsection .rodata\n"
"	.code16\n"
"	.globl real_code_start, real_code_end\n"
"real_code_start:\n"
"	mov $0x1234, %ax\n"
"	out %ax, $0x42\n"		/* 16-bit operand size by default */
"	out %al, $0x43\n"
"	mov $0x9000, %bx\n"
"	mov %bx, %ds\n"			/* DS base 0x90000: no memory there */
"	movw $0xbeef, 0x10\n"		/* c7 06: 16-bit address, imm16 */
"	movl $0xcafef00d, 0x20\n"	/* 66 c7 06: 32-bit operand */
"	mov 0x30, %ax\n"		/* a1: 16-bit moffs */
"	mov %ax, %cx\n"
"	mov %cs, %ax\n"
"	mov %ax, %ds\n"
"	mov %cx, %ax\n"
"	out %ax, $0x44\n"		/* what the MMIO read returned */
"	hlt\n"
"real_code_end:\n"
"	.code64\n"
"	.popsection\n"
"\n"
"	.pushsection .text\n"
"	.code32\n"
"	.globl prot_code, prot_long_mode, prot_lme_no_pae\n"
"prot_code:\n"
"	mov $0x12345678, %eax\n"
"	out %eax, $0x42\n"		/* 32-bit operand size by default */
"	out %ax, $0x44\n"		/* 66: 16-bit */
"	mov $" __stringify(GUEST_MMIO_GPA_ASM) ", %ebx\n"
"	mov %eax, (%ebx)\n"		/* 89 03: 4 bytes */
"	mov %ax, 4(%ebx)\n"		/* 66 89 43 04: 2 bytes */
"	movzbl 8(%ebx), %ecx\n"
"	mov %ecx, %eax\n"
"	out %eax, $0x46\n"
"	mov 0xc(%ebx), %eax\n"
"	out %eax, $0x46\n"
"	hlt\n"
"\n"
"prot_long_mode:\n"
"	hlt\n"					/* 1: protected mode */
"	mov %cr4, %eax\n"
"	or $0x20, %eax\n"			/* CR4.PAE */
"	mov %eax, %cr4\n"
"	mov $" __stringify(GUEST_PML4_GPA_ASM) ", %eax\n"
"	mov %eax, %cr3\n"
"	mov $0xc0000080, %ecx\n"
"	rdmsr\n"
"	or $0x100, %eax\n"			/* EFER.LME */
"	wrmsr\n"
"	hlt\n"					/* 2: LME, no paging yet */
"	mov %cr0, %eax\n"
"	or $0x80000000, %eax\n"			/* CR0.PG: long mode active */
"	mov %eax, %cr0\n"
"	hlt\n"					/* 3: compatibility mode */
"	ljmp $" __stringify(AXVM_X86_SEL_CODE64) ", $1f\n"
"	.code64\n"
"1:	hlt\n"					/* 4: 64-bit mode */
"	movabs $0x123456789abcdef0, %rax\n"	/* only 64-bit code can */
"	hlt\n"					/* 5 */
"\n"
"	.code32\n"
"prot_lme_no_pae:\n"
"	mov $0xc0000080, %ecx\n"
"	rdmsr\n"
"	or $0x100, %eax\n"			/* EFER.LME, CR4.PAE clear */
"	wrmsr\n"
"	hlt\n"
"	and $~0x100, %eax\n"
"	wrmsr\n"
"	hlt\n"
"	.code64\n"
"	.popsection\n"
);

static void expect_io(struct __test_metadata *_metadata, struct tvcpu *vcpu,
		      uint16_t port, uint8_t width, uint64_t data)
{
	struct axvm_run *run = vcpu->v.run;

	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_IO);
	ASSERT_EQ(port, run->io.port);
	ASSERT_EQ(width, run->io.width);
	ASSERT_EQ(AXVM_IO_OUT, run->io.direction);
	ASSERT_EQ(data, run->io.data);
}

static void expect_mmio(struct __test_metadata *_metadata,
			struct tvcpu *vcpu, uint64_t gpa, uint8_t width,
			bool is_write, uint64_t data)
{
	struct axvm_run *run = vcpu->v.run;

	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_MMIO);
	ASSERT_EQ(gpa, run->mmio.gpa);
	ASSERT_EQ(width, run->mmio.width);
	ASSERT_EQ(is_write, run->mmio.is_write);
	if (is_write) {
		ASSERT_EQ(data, run->mmio.data);
	} else {
		run->mmio.data = data;
	}
}

TEST(real_mode_io_and_mmio)
{
	const uint64_t code = 0x10000, len = real_code_end - real_code_start;
	struct tvm *vm = vm_create_barebones();
	struct tvcpu *vcpu = vm_vcpu_add(vm, 0);

	/* Memory below 512 KiB only: 0x90000 and up is unbacked. */
	vm_add_region(vm, 0, 0x80000, RWX);
	vm_write(vm, code, real_code_start, len);
	ASSERT_EQ(0, axvm_x86_setup_mode(&vm->vm, &vcpu->v, AXVM_MODE_REAL,
					 code, 0x8000, NULL));
	vm_start(vm);

	expect_io(_metadata, vcpu, 0x42, 2, 0x1234);
	expect_io(_metadata, vcpu, 0x43, 1, 0x34);
	expect_mmio(_metadata, vcpu, 0x90010, 2, true, 0xbeef);
	expect_mmio(_metadata, vcpu, 0x90020, 4, true, 0xcafef00d);
	expect_mmio(_metadata, vcpu, 0x90030, 2, false, 0xabcd5678);
	expect_io(_metadata, vcpu, 0x44, 2, 0x5678);
	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_HLT);
	vm_free(vm);
}

TEST(protected_mode_io_and_mmio)
{
	struct tvm *vm = vm_create_guest();
	struct tvcpu *vcpu = vm_vcpu_add(vm, 0);

	ASSERT_EQ(0, axvm_x86_setup_mode(&vm->vm, &vcpu->v,
					 AXVM_MODE_PROTECTED,
					 (uint64_t)(uintptr_t)prot_code,
					 GUEST_STACKS_GPA + GUEST_STACK_SIZE,
					 NULL));
	vm_start(vm);

	expect_io(_metadata, vcpu, 0x42, 4, 0x12345678);
	expect_io(_metadata, vcpu, 0x44, 2, 0x5678);
	expect_mmio(_metadata, vcpu, GUEST_MMIO_GPA, 4, true, 0x12345678);
	expect_mmio(_metadata, vcpu, GUEST_MMIO_GPA + 4, 2, true, 0x5678);
	expect_mmio(_metadata, vcpu, GUEST_MMIO_GPA + 8, 1, false,
		    0xffffff88);
	expect_io(_metadata, vcpu, 0x46, 4, 0x88);
	expect_mmio(_metadata, vcpu, GUEST_MMIO_GPA + 0xc, 4, false,
		    0x1122334455667788ULL);
	expect_io(_metadata, vcpu, 0x46, 4, 0x55667788);
	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_HLT);
	vm_free(vm);
}

/* Runs to the next HLT and returns the state there. */
static void run_to_hlt(struct __test_metadata *_metadata, struct tvcpu *vcpu,
		       struct axvm_regs *r, struct axvm_sregs *s)
{
	vcpu_run(vcpu);
	ASSERT_EXIT(vcpu, AXVM_EXIT_HLT);
	vcpu_regs_get(vcpu, r);
	vcpu_sregs_get(vcpu, s);
}

/*
 * Every 64-bit OS loader passes through EFER.LME=1 with paging still
 * off; the guest must get through it like on hardware.
 */
TEST(guest_enters_long_mode)
{
	struct tvm *vm = vm_create_guest();
	struct tvcpu *vcpu = vm_vcpu_add(vm, 0);
	struct axvm_x86_layout layout = {
		.gdt_gpa = GUEST_GDT_GPA,
		.pml4_gpa = GUEST_PML4_GPA,
		.identity_map_size = GUEST_IDENTITY_MAP,
	};
	uint64_t entry = (uint64_t)(uintptr_t)prot_long_mode;
	uint64_t stack = GUEST_STACKS_GPA + GUEST_STACK_SIZE;
	struct axvm_sregs s;
	struct axvm_regs r;

	/* Long mode setup writes the page tables; then start in 32-bit. */
	ASSERT_EQ(0, axvm_x86_setup_mode(&vm->vm, &vcpu->v, AXVM_MODE_LONG,
					 entry, stack, &layout));
	ASSERT_EQ(0, axvm_x86_setup_mode(&vm->vm, &vcpu->v,
					 AXVM_MODE_PROTECTED, entry, stack,
					 &layout));
	vm_start(vm);

	run_to_hlt(_metadata, vcpu, &r, &s);
	ASSERT_EQ(entry + 1, r.rip);
	ASSERT_EQ(0ULL, s.efer & (EFER_LME | EFER_LMA));
	ASSERT_EQ(0ULL, s.cr0 & X86_CR0_PG);

	run_to_hlt(_metadata, vcpu, &r, &s);
	ASSERT_EQ(EFER_LME, s.efer & (EFER_LME | EFER_LMA | EFER_SVME));
	ASSERT_EQ(X86_CR4_PAE, s.cr4 & X86_CR4_PAE);
	ASSERT_EQ(GUEST_PML4_GPA, s.cr3);
	ASSERT_EQ(0ULL, s.cr0 & X86_CR0_PG);

	run_to_hlt(_metadata, vcpu, &r, &s);
	ASSERT_EQ(EFER_LME | EFER_LMA, s.efer & (EFER_LME | EFER_LMA));
	ASSERT_EQ(X86_CR0_PG, s.cr0 & X86_CR0_PG);
	ASSERT_EQ(0U, s.cs.attrib & AXVM_SEG_L);

	run_to_hlt(_metadata, vcpu, &r, &s);
	ASSERT_EQ(AXVM_X86_SEL_CODE64, s.cs.selector);
	ASSERT_EQ(AXVM_SEG_L, s.cs.attrib & AXVM_SEG_L);

	run_to_hlt(_metadata, vcpu, &r, &s);
	ASSERT_EQ(0x123456789abcdef0ULL, r.rax);
	vm_free(vm);
}

/*
 * EFER.LME with paging and PAE off is a legal state (long mode would
 * only start with CR0.PG). A guest that goes there on its own must
 * still exit on the next HLT, and not take the host CPU with it.
 */
TEST(guest_sets_lme_without_pae)
{
	struct tvm *vm = vm_create_guest();
	struct tvcpu *vcpu = vm_vcpu_add(vm, 0);
	struct axvm_sregs s;
	struct axvm_regs r;

	ASSERT_EQ(0, axvm_x86_setup_mode(&vm->vm, &vcpu->v,
					 AXVM_MODE_PROTECTED,
					 (uint64_t)(uintptr_t)prot_lme_no_pae,
					 GUEST_STACKS_GPA + GUEST_STACK_SIZE,
					 NULL));
	vm_start(vm);
	run_to_hlt(_metadata, vcpu, &r, &s);
	ASSERT_EQ(EFER_LME, s.efer & (EFER_LME | EFER_LMA | EFER_SVME));
	ASSERT_EQ(0ULL, s.cr4 & X86_CR4_PAE);
	run_to_hlt(_metadata, vcpu, &r, &s);
	ASSERT_EQ(0ULL, s.efer & (EFER_LME | EFER_LMA | EFER_SVME));
	vm_free(vm);
}

AXVM_TEST_HARNESS_MAIN
