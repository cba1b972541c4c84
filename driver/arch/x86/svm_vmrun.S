/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The SVM world switch.
 *
 * VMRUN itself switches only RAX, RSP, RIP, RFLAGS, the control
 * registers, EFER and the ES/CS/SS/DS/GDTR/IDTR segments (APM vol. 2,
 * 15.5.1). FS, GS, TR, LDTR, KernelGSBase and the SYSCALL/SYSENTER MSRs
 * are switched with VMSAVE/VMLOAD (15.5.2), and the other GPRs by hand.
 * Until the host's state is VMLOADed back, GS holds the guest's base, so
 * nothing here may touch per-CPU data; the caller runs with GIF=0 (CLGI)
 * so no interrupt or NMI can arrive on the way.
 *
 * STI just before VMRUN is what lets a physical interrupt force a
 * #VMEXIT: with V_INTR_MASKING, the host's RFLAGS.IF at VMRUN decides
 * whether physical interrupts are taken in the guest (15.21.1). GIF=0
 * keeps them pending in the host until the caller's STGI.
 */
#include <linux/linkage.h>
#include <asm/asm.h>
#include <asm/nospec-branch.h>

/* Index of each GPR in the gprs[] array: x86 encoding order. */
#define G_RCX	(1 * 8)
#define G_RDX	(2 * 8)
#define G_RBX	(3 * 8)
#define G_RBP	(5 * 8)
#define G_RSI	(6 * 8)
#define G_RDI	(7 * 8)
#define G_R8	(8 * 8)
#define G_R9	(9 * 8)
#define G_R10	(10 * 8)
#define G_R11	(11 * 8)
#define G_R12	(12 * 8)
#define G_R13	(13 * 8)
#define G_R14	(14 * 8)
#define G_R15	(15 * 8)

/* Stack slots after the pushes below. */
#define S_HOST_SAVE_PA	0
#define S_VMCB_PA	8
#define S_GPRS		16

	.text

/*
 * void __svm_vcpu_run(u64 vmcb_pa, u64 *gprs, u64 host_save_pa)
 */
SYM_FUNC_START(__svm_vcpu_run)
	push	%rbp
	mov	%rsp, %rbp
	push	%r15
	push	%r14
	push	%r13
	push	%r12
	push	%rbx
	push	%rsi		/* S_GPRS */
	push	%rdi		/* S_VMCB_PA */
	push	%rdx		/* S_HOST_SAVE_PA */

	/* Host FS/GS/TR/LDTR and syscall MSRs out, the guest's in. */
	mov	%rdx, %rax
	vmsave	%rax
	mov	%rdi, %rax
	vmload	%rax

	/* Guest GPRs in; RSI last since it addresses the array. */
	mov	G_RCX(%rsi), %rcx
	mov	G_RDX(%rsi), %rdx
	mov	G_RBX(%rsi), %rbx
	mov	G_RBP(%rsi), %rbp
	mov	G_RDI(%rsi), %rdi
	mov	G_R8(%rsi), %r8
	mov	G_R9(%rsi), %r9
	mov	G_R10(%rsi), %r10
	mov	G_R11(%rsi), %r11
	mov	G_R12(%rsi), %r12
	mov	G_R13(%rsi), %r13
	mov	G_R14(%rsi), %r14
	mov	G_R15(%rsi), %r15
	mov	G_RSI(%rsi), %rsi

	/* RAX = VMCB address: VMRUN saves it as the host's RAX. */
	mov	S_VMCB_PA(%rsp), %rax
	sti
	vmrun	%rax
	cli

	/* RAX and RSP are the host's again; the guest's are in the VMCB. */
	mov	S_GPRS(%rsp), %rax
	mov	%rcx, G_RCX(%rax)
	mov	%rdx, G_RDX(%rax)
	mov	%rbx, G_RBX(%rax)
	mov	%rbp, G_RBP(%rax)
	mov	%rsi, G_RSI(%rax)
	mov	%rdi, G_RDI(%rax)
	mov	%r8, G_R8(%rax)
	mov	%r9, G_R9(%rax)
	mov	%r10, G_R10(%rax)
	mov	%r11, G_R11(%rax)
	mov	%r12, G_R12(%rax)
	mov	%r13, G_R13(%rax)
	mov	%r14, G_R14(%rax)
	mov	%r15, G_R15(%rax)

	mov	S_VMCB_PA(%rsp), %rax
	vmsave	%rax
	mov	S_HOST_SAVE_PA(%rsp), %rax
	vmload	%rax

	/* Leave no guest value in a register the host might speculate on. */
	xor	%ecx, %ecx
	xor	%edx, %edx
	xor	%esi, %esi
	xor	%edi, %edi
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d

	/* The guest may have filled the return stack buffer: refill it. */
	FILL_RETURN_BUFFER %rax, RSB_CLEAR_LOOPS, X86_FEATURE_RETPOLINE

	add	$24, %rsp
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET
SYM_FUNC_END(__svm_vcpu_run)
