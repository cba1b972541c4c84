// SPDX-License-Identifier: GPL-2.0
/*
 * A paravirtual clock in the format of KVM's kvmclock (Linux's
 * Documentation/virt/kvm/x86/msr.rst, MSR_KVM_SYSTEM_TIME_NEW and
 * MSR_KVM_WALL_CLOCK_NEW), offered at CPUID 0x40000100 so that stock
 * Linux guests learn the TSC frequency without calibrating it against
 * an emulated timer (and find it next to our own 0x40000000 leaves,
 * as Linux scans 0x40000000-0x4000ff00 in steps of 0x100).
 *
 * One mapping from TSC to nanoseconds serves every vCPU of every VM: it
 * is fixed at module load (host TSC t0 <-> guest time 0, the host's
 * tsc_khz as the rate) and never updated. It needs a known TSC rate
 * (tsc_khz). Only if the host's TSC is also constant and synchronised
 * (X86_FEATURE_CONSTANT_TSC, and the host kernel has not marked it
 * unstable) does the record carry the "TSC stable" flag, which lets the
 * guest skip its cross-CPU monotonicity guard; otherwise (old CPUs,
 * or a host that is itself an emulated machine, like our test VM) the
 * guest keeps that guard. A vCPU's guest TSC is the host's plus its
 * VMCB TSC offset, so its record carries tsc_timestamp = t0 + offset.
 */
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/timekeeping.h>
#include <asm/cpufeature.h>
#include <asm/tsc.h>
#include "axvm.h"
#include "lapic.h"

#define PVCLOCK_TSC_STABLE_BIT	BIT(0)

/* The guest's view, 32 bytes (pvclock-abi.h in Linux). */
struct pvclock_time_record {
	u32 version;
	u32 pad0;
	u64 tsc_timestamp;
	u64 system_time;
	u32 tsc_to_system_mul;
	s8 tsc_shift;
	u8 flags;
	u8 pad[2];
} __packed;
static_assert(sizeof(struct pvclock_time_record) == 32);

struct pvclock_wall_record {
	u32 version;
	u32 sec;
	u32 nsec;
} __packed;
static_assert(sizeof(struct pvclock_wall_record) == 12);

static struct {
	bool available;
	u64 tsc0;		/* host TSC at guest time 0 */
	u32 mul;		/* ns = ((delta << shift) * mul) >> 32 */
	s8 shift;
} pvclock;

/* mul and shift with 1e9 / tsc_hz = mul * 2^shift / 2^32, mul < 2^32. */
static void pvclock_scale(u64 tsc_hz, u32 *mul, s8 *shift)
{
	u64 hz = tsc_hz;
	s8 s = 0;

	while (hz <= NSEC_PER_SEC / 2 + 1 && s < 31) {	/* slow TSC */
		hz <<= 1;
		s++;
	}
	while (hz > 2 * NSEC_PER_SEC) {			/* fast TSC */
		hz >>= 1;
		s--;
	}
	/* Now hz is in (5e8, 2e9]: mul = 1e9 * 2^32 / hz fits 32 bits. */
	if (hz <= NSEC_PER_SEC) {
		hz <<= 1;
		s++;
	}
	*mul = div64_u64((u64)NSEC_PER_SEC << 32, hz);
	*shift = s;
}

static u64 pvclock_ns_since_t0(u64 host_tsc)
{
	u64 delta = host_tsc - pvclock.tsc0;

	if (pvclock.shift >= 0)
		delta <<= pvclock.shift;
	else
		delta >>= -pvclock.shift;
	return mul_u64_u32_shr(delta, pvclock.mul, 32);
}

int x86_pvclock_setup(void)
{
	if (!tsc_khz)
		return 0;	/* no pvclock: guests calibrate themselves */
	pvclock_scale((u64)tsc_khz * 1000, &pvclock.mul, &pvclock.shift);
	pvclock.tsc0 = rdtsc();
	pvclock.available = true;
	return 0;
}

bool x86_pvclock_available(void)
{
	return pvclock.available;
}

bool x86_pvclock_stable(void)
{
	return pvclock.available && boot_cpu_has(X86_FEATURE_CONSTANT_TSC) &&
	       !check_tsc_unstable();
}

/* MSR_KVM_SYSTEM_TIME_NEW with the enable bit: publish the record. */
int x86_pvclock_publish(struct axvm_vcpu *vcpu, u64 gpa, u64 tsc_offset)
{
	struct pvclock_time_record rec = {
		.version = 2,		/* even: a consistent record */
		.tsc_timestamp = pvclock.tsc0 + tsc_offset,
		.system_time = 0,
		.tsc_to_system_mul = pvclock.mul,
		.tsc_shift = pvclock.shift,
	};

	if (!pvclock.available)
		return -EINVAL;
	if (x86_pvclock_stable())
		rec.flags = PVCLOCK_TSC_STABLE_BIT;
	if ((gpa & ~PAGE_MASK) > PAGE_SIZE - sizeof(rec))
		return -EINVAL;	/* the record must not cross a page */
	return axvm_guest_copy(vcpu->vm, gpa, &rec, NULL, sizeof(rec), true);
}

/* MSR_KVM_WALL_CLOCK_NEW: the real time at guest time 0. */
int x86_pvclock_wall_clock(struct axvm_vcpu *vcpu, u64 gpa)
{
	u64 guest_now = pvclock_ns_since_t0(rdtsc());
	u64 boot = ktime_get_real_ns() - guest_now;
	u32 rem;
	struct pvclock_wall_record rec = {
		.version = 2,
	};

	if (!pvclock.available)
		return -EINVAL;
	rec.sec = div_u64_rem(boot, NSEC_PER_SEC, &rem);
	rec.nsec = rem;
	return axvm_guest_copy(vcpu->vm, gpa, &rec, NULL, sizeof(rec), true);
}
