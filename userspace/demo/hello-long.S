/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hello-long: a 64-bit guest (the launcher's default mode).
 *
 *   axvm run --image hello-long.bin --load 0x100000 --entry 0x100000 \
 *            --mem 16M --mode long
 */
#define SEL_CODE64	0x08	/* the launcher's GDT (libaxvm.h) */
#define SEL_DATA	0x10

	.code64
	.text
	.globl	_start
_start:
	/* Reload every segment from the launcher's GDT: this fails (and
	 * triple-faults) unless the GDT really is at GDTR. */
	mov	$SEL_DATA, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	lea	1f(%rip), %rax
	pushq	$SEL_CODE64
	pushq	%rax
	lretq
1:
	lea	greeting(%rip), %rsi
	call	puts
	jmp	exit_success

#include "serial.inc"

greeting:
	.asciz	"Hello from axvm (long mode)\n"
