// SPDX-License-Identifier: GPL-2.0
/*
 * The x86 guest CPU model: a CPUID policy filtered from the host's, and
 * the checks MSR and XSETBV emulation need.
 *
 * The policy is an allow-list: a leaf we do not describe reads as zeros,
 * so a newer host CPU never leaks a feature we do not virtualise. What
 * we hide and why:
 *  - SVM (we do not offer nested virtualisation): 0x80000001 ECX[2] and
 *    leaf 0x8000000a;
 *  - features whose MSRs or state we do not switch: APIC, MCE/MCA, MTRR,
 *    PKU, RDTSCP/RDPID (TSC_AUX), perf counters, speculation-control
 *    MSRs, XSAVES (IA32_XSS), MONITOR/MWAIT;
 *  - the hypervisor bit and leaf 0x40000000 ("axvmaxvmaxvm") are added.
 * With local APICs in the VM (lapic.c) the APIC, x2APIC, TSC-deadline
 * and ARAT (the APIC timer runs in every C-state: it is an hrtimer) bits
 * appear. Leaves 0x40000100-0x40000101 are the subset of KVM's
 * paravirtual interface we implement: the KVM clock (pvclock.c, if the
 * host TSC is constant) and "port 0x80 delays are not needed", both
 * understood by stock Linux kernels.
 */
#include <linux/kernel.h>
#include <asm/processor.h>
#include <asm/fpu/xcr.h>
#include "x86.h"

#define AXVM_CPUID_SIGNATURE	0x40000000
#define AXVM_CPUID_FEATURES	0x40000001
#define AXVM_MAX_BASIC_LEAF	0xd
#define AXVM_MAX_EXT_LEAF	0x80000008

/* XCR0 components (SDM vol. 1, 13.1). */
#define XCR0_X87	BIT_ULL(0)
#define XCR0_SSE	BIT_ULL(1)
#define XCR0_YMM	BIT_ULL(2)
#define XCR0_AVX512	(BIT_ULL(5) | BIT_ULL(6) | BIT_ULL(7))

static u64 host_xcr0;

int x86_xcr0_setup(void)
{
	host_xcr0 = xgetbv(XCR_XFEATURE_ENABLED_MASK);
	return (host_xcr0 & (XCR0_X87 | XCR0_SSE)) == (XCR0_X87 | XCR0_SSE) ?
	       0 : -ENODEV;
}

u64 x86_host_xcr0(void)
{
	return host_xcr0;
}

u64 x86_guest_xcr0_mask(void)
{
	return host_xcr0 & (XCR0_X87 | XCR0_SSE | XCR0_YMM | XCR0_AVX512);
}

/* The XSETBV rules of SDM vol. 2, "XSETBV": #GP for anything else. */
bool x86_xcr0_valid(u64 xcr0)
{
	if (!(xcr0 & XCR0_X87) || (xcr0 & ~x86_guest_xcr0_mask()))
		return false;
	if ((xcr0 & XCR0_YMM) && !(xcr0 & XCR0_SSE))
		return false;
	if ((xcr0 & XCR0_AVX512) &&
	    ((xcr0 & XCR0_AVX512) != XCR0_AVX512 || !(xcr0 & XCR0_YMM)))
		return false;
	return true;
}

/* Each PAT entry must be a defined memory type (SDM vol. 3, 11.12.2). */
bool x86_pat_valid(u64 pat)
{
	int i;

	for (i = 0; i < 8; i++) {
		u8 type = (pat >> (i * 8)) & 0xff;

		if (type == 2 || type == 3 || type > 7)
			return false;
	}
	return true;
}

bool x86_is_canonical(u64 addr, bool la57)
{
	int bits = la57 ? 57 : 48;

	return (u64)((s64)(addr << (64 - bits)) >> (64 - bits)) == addr;
}

/* The legacy region (512 bytes) and the XSAVE header (64). */
#define XSAVE_BASE_SIZE		(512 + 64)

/*
 * Bytes XSAVE needs for the components in xcr0 (SDM vol. 1, 13.4). In
 * the standard format each component sits at its fixed offset (leaf 0xd
 * subleaf i, EBX); in the compacted format of XSAVEC (13.4.3) they are
 * packed in order after the header, each aligned to 64 bytes if subleaf
 * i ECX bit 1 says so. Leaf 0xd subleaf 1 EBX reports the compacted
 * size for XCR0 | IA32_XSS; the guest has no IA32_XSS (no XSAVES), so
 * for XCR0. Linux checks both against its own sums
 * (fpu__init_system_xstate()).
 */
static u32 x86_xsave_size(u64 xcr0, bool compacted)
{
	u32 size = XSAVE_BASE_SIZE, eax, ebx, ecx, edx;
	int i;

	for (i = 2; i < 64; i++) {
		if (!(xcr0 & BIT_ULL(i)))
			continue;
		cpuid_count(0xd, i, &eax, &ebx, &ecx, &edx);
		if (!compacted) {
			size = max(size, eax + ebx);
			continue;
		}
		if (ecx & BIT(1))
			size = ALIGN(size, 64);
		size += eax;
	}
	return size;
}

static void x86_cpuid_leaf1(const struct x86_cpuid_ctx *ctx, u32 *r)
{
	/* ECX: SSE3, PCLMUL, SSSE3, FMA, CX16, SSE4.1/2, MOVBE, POPCNT, AES, XSAVE, AVX, F16C, RDRAND. */
	const u32 ecx_ok = BIT(0) | BIT(1) | BIT(9) | BIT(12) | BIT(13) |
			   BIT(19) | BIT(20) | BIT(22) | BIT(23) | BIT(25) |
			   BIT(26) | BIT(28) | BIT(29) | BIT(30) | BIT(17);
	/* EDX: FPU VME DE PSE TSC MSR PAE CX8 SEP PGE CMOV PAT PSE36 CLFSH MMX FXSR SSE SSE2. */
	const u32 edx_ok = BIT(0) | BIT(1) | BIT(2) | BIT(3) | BIT(4) |
			   BIT(5) | BIT(6) | BIT(8) | BIT(11) | BIT(13) |
			   BIT(15) | BIT(16) | BIT(17) | BIT(19) | BIT(23) |
			   BIT(24) | BIT(25) | BIT(26);

	r[1] = (r[1] & 0x0000ffff) | (1U << 16) | (ctx->vcpu_id << 24);
	r[2] = (r[2] & ecx_ok) | BIT(31);		/* hypervisor */
	if (ctx->cr4 & X86_CR4_OSXSAVE)
		r[2] |= BIT(27);
	r[3] &= edx_ok;
	if (ctx->lapic) {
		r[2] |= BIT(21) | BIT(24);		/* x2APIC, TSC deadline */
		/* APIC follows IA32_APIC_BASE.EN (SDM vol. 3, 10.4.3). */
		if (ctx->apic_enabled)
			r[3] |= BIT(9);
	}
	/* AVX, FMA and F16C need the YMM state component. */
	if (!(x86_guest_xcr0_mask() & XCR0_YMM))
		r[2] &= ~(BIT(28) | BIT(12) | BIT(29));
}

static void x86_cpuid_leaf7(u32 subleaf, u32 *r)
{
	/* EBX: FSGSBASE BMI1 AVX2 SMEP BMI2 ERMS INVPCID AVX512F/DQ RDSEED ADX SMAP AVX512IFMA CLFLUSHOPT CLWB AVX512CD SHA AVX512BW/VL. */
	const u32 ebx_ok = BIT(0) | BIT(3) | BIT(5) | BIT(7) | BIT(8) |
			   BIT(9) | BIT(10) | BIT(16) | BIT(17) | BIT(18) |
			   BIT(19) | BIT(20) | BIT(21) | BIT(23) | BIT(24) |
			   BIT(28) | BIT(29) | BIT(30) | BIT(31);
	/* ECX: AVX512VBMI UMIP GFNI VAES VPCLMULQDQ AVX512VNNI BITALG VPOPCNTDQ LA57. */
	const u32 ecx_ok = BIT(1) | BIT(2) | BIT(8) | BIT(9) | BIT(10) |
			   BIT(11) | BIT(12) | BIT(14) | BIT(16);

	if (subleaf) {
		r[0] = r[1] = r[2] = r[3] = 0;
		return;
	}
	r[0] = 0;
	r[1] &= ebx_ok;
	r[2] &= ecx_ok;
	r[3] &= BIT(4);					/* FSRM */
	if (!(x86_guest_xcr0_mask() & XCR0_AVX512))
		r[1] &= ~(BIT(16) | BIT(17) | BIT(21) | BIT(28) | BIT(30) |
			  BIT(31));
}

static void x86_cpuid_leafd(const struct x86_cpuid_ctx *ctx, u32 subleaf,
			    u32 *r)
{
	u64 mask = x86_guest_xcr0_mask();

	if (subleaf == 0) {
		r[0] = (u32)mask;
		r[1] = x86_xsave_size(ctx->xcr0, false);
		r[2] = x86_xsave_size(mask, false);
		r[3] = (u32)(mask >> 32);
	} else if (subleaf == 1) {
		/* XSAVEOPT, XSAVEC, XGETBV ECX=1; no XSAVES, no IA32_XSS. */
		r[0] &= BIT(0) | BIT(1) | BIT(2);
		r[1] = (r[0] & BIT(1)) ? x86_xsave_size(ctx->xcr0, true) : 0;
		r[2] = r[3] = 0;
	} else if (subleaf >= 64 || !(mask & BIT_ULL(subleaf))) {
		r[0] = r[1] = r[2] = r[3] = 0;
	}
}

static void x86_cpuid_ext(u32 leaf, u32 *r)
{
	switch (leaf) {
	case 0x80000000:
		r[0] = min_t(u32, r[0], AXVM_MAX_EXT_LEAF);
		break;
	case 0x80000001:
		/* ECX: LAHF/SAHF, ABM, SSE4A, misaligned SSE, PREFETCHW. */
		r[2] &= BIT(0) | BIT(5) | BIT(6) | BIT(7) | BIT(8);
		/* EDX: SYSCALL NX MMXEXT FFXSR PDPE1GB LM (no RDTSCP). */
		r[3] &= BIT(11) | BIT(20) | BIT(22) | BIT(25) | BIT(26) |
			BIT(29);
		break;
	case 0x80000007:
		r[0] = r[1] = r[2] = 0;
		r[3] &= BIT(8);				/* invariant TSC */
		break;
	case 0x80000008:
		r[0] &= 0xffff;				/* address sizes */
		r[1] = r[2] = r[3] = 0;
		break;
	default:	/* brand string and cache descriptors pass through */
		break;
	}
}

static void x86_cpuid_hv(const struct x86_cpuid_ctx *ctx, u32 leaf, u32 *r)
{
	r[0] = r[1] = r[2] = r[3] = 0;
	switch (leaf) {
	case AXVM_CPUID_SIGNATURE:
		r[0] = AXVM_CPUID_FEATURES;
		memcpy(&r[1], "axvm", 4);
		memcpy(&r[2], "axvm", 4);
		memcpy(&r[3], "axvm", 4);
		break;
	case X86_CPUID_KVM_BASE:
		r[0] = X86_CPUID_KVM_BASE + 1;
		memcpy(&r[1], "KVMK", 4);
		memcpy(&r[2], "VMKV", 4);
		memcpy(&r[3], "M\0\0\0", 4);
		break;
	case X86_CPUID_KVM_BASE + 1:
		r[0] = KVM_FEATURE_NOP_IO_DELAY;
		if (ctx->pvclock)
			r[0] |= KVM_FEATURE_CLOCKSOURCE2;
		if (ctx->pvclock_stable)
			r[0] |= KVM_FEATURE_CLOCKSOURCE_STABLE;
		break;
	}
}

static bool x86_cpuid_leaf_known(u32 leaf)
{
	u32 max_ext = cpuid_eax(0x80000000);

	if (leaf <= AXVM_MAX_BASIC_LEAF)
		return true;
	if (leaf >= 0x80000000 && leaf <= min(max_ext, AXVM_MAX_EXT_LEAF))
		return true;
	return false;
}

void x86_cpuid(const struct x86_cpuid_ctx *ctx, u32 leaf, u32 subleaf,
	       u32 out[4])
{
	if ((leaf >> 16) == 0x4000) {	/* hypervisor leaves */
		x86_cpuid_hv(ctx, leaf, out);
		return;
	}
	if (leaf == 6) {		/* thermal and power: only ARAT */
		out[0] = ctx->lapic ? BIT(2) : 0;
		out[1] = out[2] = out[3] = 0;
		return;
	}
	if (!x86_cpuid_leaf_known(leaf) || (leaf >= 2 && leaf <= 5)) {
		out[0] = out[1] = out[2] = out[3] = 0;
		return;
	}
	cpuid_count(leaf, subleaf, &out[0], &out[1], &out[2], &out[3]);
	switch (leaf) {
	case 0:
		out[0] = min_t(u32, out[0], AXVM_MAX_BASIC_LEAF);
		break;
	case 1:
		x86_cpuid_leaf1(ctx, out);
		break;
	case 7:
		x86_cpuid_leaf7(subleaf, out);
		break;
	case 0xd:
		x86_cpuid_leafd(ctx, subleaf, out);
		break;
	case 8: case 9: case 0xa: case 0xc:
		out[0] = out[1] = out[2] = out[3] = 0;
		break;
	case 0xb:
		/*
		 * No topology levels (one vCPU per socket): every subleaf
		 * is invalid, EAX = EBX = 0 and ECX = the subleaf with level
		 * type 0; EDX still holds the x2APIC ID, as for any
		 * subleaf (SDM vol. 2, CPUID leaf 0BH; APM vol. 3,
		 * Fn0000_000B_EDX).
		 */
		out[0] = out[1] = 0;
		out[2] = subleaf & 0xff;
		out[3] = ctx->vcpu_id;
		break;
	default:
		x86_cpuid_ext(leaf, out);
		break;
	}
}
