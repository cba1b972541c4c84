/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hello-real: a 16-bit real-mode guest.
 *
 * Linked at 0 and loaded at 0x10000, so that the launcher's real-mode
 * setup (CS = entry >> 4 & 0xf000) gives CS = 0x1000, IP = 0 and the
 * link-time offsets are the segment offsets:
 *
 *   axvm run --image hello-real.bin --load 0x10000 --entry 0x10000 \
 *            --mem 1M --mode real
 */
	.code16
	.text
	.globl	_start
_start:
	/* The launcher starts data segments at 0; our data is in CS. */
	mov	%cs, %ax
	mov	%ax, %ds
	mov	$greeting, %si
	call	puts
	jmp	exit_success

#include "serial.inc"

greeting:
	.asciz	"Hello from axvm (real mode)\n"
