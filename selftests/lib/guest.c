// SPDX-License-Identifier: GPL-2.0
/*
 * Code that runs inside guests: the ucall channel, the exception
 * handlers behind ASM_SAFE(), the return trampoline, and guest_spin().
 * Nothing here may call into libc.
 */
#include "axvm_util.h"
#include "processor.h"
#include "ucall.h"

volatile uint64_t guest_spin_stop;
volatile uint64_t guest_spin_counter;

void guest_ucall(uint64_t cmd, uint64_t a0, uint64_t a1, uint64_t a2,
		 uint64_t a3)
{
	struct ucall uc;

	uc.cmd = cmd;
	uc.args[0] = a0;
	uc.args[1] = a1;
	uc.args[2] = a2;
	uc.args[3] = a3;
	uc.file = 0;
	uc.expr = 0;
	uc.line = 0;
	uc.has_values = 0;
	asm volatile("out %%eax, %%dx"
		     : : "a"((uint32_t)(uintptr_t)&uc), "D"(&uc),
		       "d"((uint16_t)UCALL_PORT)
		     : "memory");
}

void guest_ucall_abort(const char *file, uint64_t line, const char *expr,
		       uint64_t a, uint64_t b, uint64_t has_values)
{
	struct ucall uc;

	uc.cmd = UCALL_ABORT;
	uc.args[0] = a;
	uc.args[1] = b;
	uc.args[2] = 0;
	uc.args[3] = 0;
	uc.file = file;
	uc.expr = expr;
	uc.line = line;
	uc.has_values = has_values;
	for (;;)
		asm volatile("out %%eax, %%dx"
			     : : "a"((uint32_t)(uintptr_t)&uc), "D"(&uc),
			       "d"((uint16_t)UCALL_PORT)
			     : "memory");
}

void guest_unexpected_exception(uint64_t vector, uint64_t error_code,
				uint64_t rip)
	__attribute__((noreturn, used));
void guest_unexpected_exception(uint64_t vector, uint64_t error_code,
				uint64_t rip)
{
	for (;;)
		guest_ucall(UCALL_UNHANDLED, vector, error_code, rip, 0);
}

void guest_done_and_halt(void) __attribute__((noreturn, used));
void guest_done_and_halt(void)
{
	GUEST_DONE();
	for (;;)
		hlt();
}

void guest_spin(void)
{
	GUEST_SYNC(1);
	while (!guest_spin_stop)
		guest_spin_counter++;
	GUEST_SYNC(guest_spin_counter);
}

/*
 * Exception entry. Vectors 0-31 have one 16-byte stub each at
 * guest_exception_stubs + 16 * vector; every other vector uses
 * guest_exception_stub_other (reported as vector 255). A stub pushes a
 * dummy error code when the CPU does not push one, then the vector.
 *
 * The common code implements ASM_SAFE(): if the saved RIP is r9 (a
 * fault on the instruction) or r10 (a trap after it), it resumes at r10
 * with the vector in r11. Anything else is reported to the host as
 * UCALL_UNHANDLED.
 *
 * guest_mmio_base is an absolute symbol at GUEST_MMIO_GPA, defined here
 * so that other files can address it RIP-relative (the assembler would
 * take a local absolute symbol as a plain displacement).
 */
asm(
"	.pushsection .text\n"
"	.align 16\n"
"guest_exception_common:\n"
"	cmp %r9, 16(%rsp)\n"		/* a fault on the instruction */
"	je 2f\n"
"	cmp %r10, 16(%rsp)\n"		/* a trap (int3) after it */
"	jne 1f\n"
"2:	mov (%rsp), %r11\n"
"	mov %r10, 16(%rsp)\n"
"	add $16, %rsp\n"
"	iretq\n"
"1:	mov (%rsp), %rdi\n"
"	mov 8(%rsp), %rsi\n"
"	mov 16(%rsp), %rdx\n"
"	and $-16, %rsp\n"
"	call guest_unexpected_exception\n"
"	ud2\n"
"	.align 16\n"
"	.globl guest_exception_stubs\n"
"guest_exception_stubs:\n"
"	.irp vec, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
"	.align 16\n"
"	.if (\\vec == 8) || ((\\vec >= 10) && (\\vec <= 14)) || (\\vec == 17) || (\\vec == 21) || (\\vec == 29) || (\\vec == 30)\n"
"	.else\n"
"	pushq $0\n"
"	.endif\n"
"	pushq $\\vec\n"
"	jmp guest_exception_common\n"
"	.endr\n"
"	.align 16\n"
"	.globl guest_exception_stub_other\n"
"guest_exception_stub_other:\n"
"	pushq $0\n"
"	pushq $255\n"
"	jmp guest_exception_common\n"
"	.align 16\n"
"	.globl guest_return_trampoline\n"
"guest_return_trampoline:\n"
"	and $-16, %rsp\n"
"	call guest_done_and_halt\n"
"	ud2\n"
"	.globl guest_mmio_base\n"
"	.set guest_mmio_base, " __stringify(GUEST_MMIO_GPA_ASM) "\n"
"	.popsection\n"
);
