/* SPDX-License-Identifier: GPL-2.0 */
/* The guest payload, built from bench/guest/payload.S, inside axbench. */
	.section .rodata
	.balign	16
	.globl	payload_start, payload_end
payload_start:
	.incbin	PAYLOAD_BIN
payload_end:
	.section .note.GNU-stack,"",@progbits
