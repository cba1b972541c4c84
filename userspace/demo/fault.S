/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fault: a 64-bit guest that triple-faults on purpose, to show how the
 * launcher reports it (message "guest triple fault", exit status 3).
 *
 *   axvm run --image fault.bin --load 0x100000 --entry 0x100000 \
 *            --mem 16M --mode long
 *
 * It divides by zero with an empty IDT: #DE cannot be delivered, so
 * #GP, which cannot be delivered either, so #DF, and the failure to
 * deliver #DF is the triple fault (SHUTDOWN). #DE is used rather than
 * ud2 or int3 because no hypervisor intercepts it for its own needs.
 */
	.code64
	.text
	.globl	_start
_start:
	lea	announce(%rip), %rsi
	call	puts
	lidt	empty_idt(%rip)
	xor	%ecx, %ecx
	div	%ecx
	/* Not reached; if it were, the run would end with status 0 */
	jmp	exit_success

#include "serial.inc"

empty_idt:
	.word	0		/* limit */
	.quad	0		/* base */

announce:
	.asciz	"fault: dividing by zero with an empty IDT\n"
