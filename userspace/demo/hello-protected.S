/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hello-protected: a 32-bit flat protected-mode guest, no paging.
 *
 *   axvm run --image hello-protected.bin --load 0x100000 \
 *            --entry 0x100000 --mem 16M --mode protected
 */
#define SEL_DATA	0x10	/* the launcher's GDT (libaxvm.h) */
#define SEL_CODE32	0x18

	.code32
	.text
	.globl	_start
_start:
	/* Reload every segment from the launcher's GDT: this fails (and
	 * triple-faults) unless the GDT really is at GDTR. */
	ljmp	$SEL_CODE32, $1f
1:	mov	$SEL_DATA, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss

	mov	$greeting, %esi
	call	puts
	jmp	exit_success

#include "serial.inc"

greeting:
	.asciz	"Hello from axvm (protected mode)\n"
