/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bench/guest/payload.S: the guest code of every `make bench` workload.
 *
 * The very same bytes run on axvm.ko and on KVM (bench/harness loads
 * payload.bin at PAYLOAD_GPA on both), in 64-bit long mode with the
 * identity map the harness writes (layout.h). Entry: RDI = workload,
 * RSI = count, RDX = argument. Each workload times its loop with RDTSC
 * into the mailbox and ends with OUT to DONE_PORT.
 */
#include "layout.h"

	.code64
	.text
	.globl	_start
_start:
	mov	$STACK_TOP, %rsp
	mov	%rsi, %r15		/* count */
	mov	%rdx, %r13		/* argument */
	cmp	$W_NOP, %rdi
	ja	done
	lea	table(%rip), %rax
	jmp	*(%rax, %rdi, 8)

	.balign	8
table:
	.quad	w_cpuid, w_rdmsr, w_vmmcall, w_pio_out
	.quad	w_mmio_write, w_mmio_read, w_touch, w_irq_spin, done

/* R14 = TSC now. Clobbers RAX, RDX. */
.macro	TSC_START
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	mov	%rax, %r14
.endm

/* Mailbox TSC_DELTA = TSC now - R14. Clobbers RAX, RDX. */
.macro	TSC_STOP
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	sub	%r14, %rax
	mov	%rax, MAILBOX_GPA + MB_TSC_DELTA
.endm

w_cpuid:
	TSC_START
1:	xor	%eax, %eax
	xor	%ecx, %ecx
	cpuid
	dec	%r15
	jnz	1b
	TSC_STOP
	jmp	done

w_rdmsr:
	TSC_START
1:	mov	$0x10, %ecx		/* IA32_TSC */
	rdmsr
	dec	%r15
	jnz	1b
	TSC_STOP
	jmp	done

/* KVM_HC_MAP_GPA_RANGE (12) wants RBX = page-aligned GPA, RCX = pages. */
w_vmmcall:
	TSC_START
1:	mov	%r13, %rax
	xor	%ebx, %ebx
	mov	$1, %ecx
	xor	%edx, %edx
	vmmcall
	dec	%r15
	jnz	1b
	TSC_STOP
	jmp	done

w_pio_out:
	TSC_START
1:	mov	$BENCH_PORT, %dx
	out	%al, %dx
	dec	%r15
	jnz	1b
	TSC_STOP
	jmp	done

w_mmio_write:
	TSC_START
	mov	$MMIO_GPA, %rbx
1:	mov	%r15d, (%rbx)
	dec	%r15
	jnz	1b
	TSC_STOP
	jmp	done

w_mmio_read:
	TSC_START
	mov	$MMIO_GPA, %rbx
1:	mov	(%rbx), %ecx
	dec	%r15
	jnz	1b
	TSC_STOP
	jmp	done

w_touch:
	TSC_START
	mov	%r13, %rbx
1:	movb	$1, (%rbx)
	add	$4096, %rbx
	dec	%r15
	jnz	1b
	TSC_STOP
	jmp	done

/*
 * The local APIC is software-enabled (SVR bit 8, spurious vector 0xff);
 * the host injects IRQ_VECTOR from another thread and watches
 * MB_IRQ_COUNT, which the handler bumps before anything else.
 */
w_irq_spin:
	mov	$LAPIC_GPA, %rax
	movl	$0x1ff, 0xf0(%rax)
	TSC_START
	sti
	movq	$1, MAILBOX_GPA + MB_READY
1:	pause
	cmp	MAILBOX_GPA + MB_IRQ_COUNT, %r15
	ja	1b
	cli
	TSC_STOP
	jmp	done

	.globl	irq_handler
irq_handler:
	incq	MAILBOX_GPA + MB_IRQ_COUNT
	push	%rax
	push	%rdx
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	mov	%rax, MAILBOX_GPA + MB_IRQ_TSC
	mov	$LAPIC_GPA, %rax
	movl	$0, 0xb0(%rax)		/* EOI */
	pop	%rdx
	pop	%rax
	iretq

done:
	incq	MAILBOX_GPA + MB_DONE
	mov	$DONE_PORT, %dx
	out	%al, %dx
	hlt
	jmp	done

/* The harness finds the handler here: payload.bin offset 8 from the end. */
	.balign	8
	.quad	irq_handler
