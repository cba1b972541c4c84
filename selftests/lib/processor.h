/* SPDX-License-Identifier: GPL-2.0 */
/*
 * x86 definitions and instruction wrappers for guest code (and a few
 * constants the host side needs). Everything here is static inline and
 * calls nothing, so guest code may use it.
 */
#ifndef SELFTEST_AXVM_PROCESSOR_H
#define SELFTEST_AXVM_PROCESSOR_H

#include <stdint.h>

#define X86_CR0_PE	(1ULL << 0)
#define X86_CR0_MP	(1ULL << 1)
#define X86_CR0_EM	(1ULL << 2)
#define X86_CR0_TS	(1ULL << 3)
#define X86_CR0_ET	(1ULL << 4)
#define X86_CR0_NE	(1ULL << 5)
#define X86_CR0_WP	(1ULL << 16)
#define X86_CR0_NW	(1ULL << 29)
#define X86_CR0_CD	(1ULL << 30)
#define X86_CR0_PG	(1ULL << 31)

#define X86_CR4_PAE		(1ULL << 5)
#define X86_CR4_OSFXSR		(1ULL << 9)
#define X86_CR4_OSXMMEXCPT	(1ULL << 10)
#define X86_CR4_LA57		(1ULL << 12)
#define X86_CR4_OSXSAVE		(1ULL << 18)

#define EFER_SCE	(1ULL << 0)
#define EFER_LME	(1ULL << 8)
#define EFER_LMA	(1ULL << 10)
#define EFER_NXE	(1ULL << 11)
#define EFER_SVME	(1ULL << 12)

#define MSR_IA32_TSC		0x00000010
#define MSR_IA32_SYSENTER_CS	0x00000174
#define MSR_IA32_SYSENTER_ESP	0x00000175
#define MSR_IA32_SYSENTER_EIP	0x00000176
#define MSR_EFER		0xc0000080
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SYSCALL_MASK	0xc0000084
#define MSR_FS_BASE		0xc0000100
#define MSR_GS_BASE		0xc0000101
#define MSR_KERNEL_GS_BASE	0xc0000102
#define MSR_TSC_AUX		0xc0000103

#define DE_VECTOR	0
#define BP_VECTOR	3
#define UD_VECTOR	6
#define DF_VECTOR	8
#define GP_VECTOR	13
#define PF_VECTOR	14
/* "No exception happened" in the ASM_SAFE() protocol below. */
#define NO_VECTOR	0xff

/* Page table entry bits. */
#define PTE_P		(1ULL << 0)
#define PTE_RW		(1ULL << 1)
#define PTE_US		(1ULL << 2)
#define PTE_PS		(1ULL << 7)
#define PTE_ADDR_MASK	0x000ffffffffff000ULL

#define __stringify_1(x)	#x
#define __stringify(x)		__stringify_1(x)

/*
 * ASM_SAFE(insn): execute insn, catching any exception it raises.
 *
 * Protocol with the guest exception handler (lib/guest.c): r9 holds the
 * address of insn, r10 where to resume, r11 receives the vector (it is
 * NO_VECTOR if nothing was raised). The vector lands in the output
 * operand named "vector", declared with ASM_SAFE_OUTPUTS().
 */
#define ASM_SAFE(insn)						\
	"lea 1f(%%rip), %%r9\n\t"				\
	"lea 2f(%%rip), %%r10\n\t"				\
	"mov $" __stringify(NO_VECTOR) ", %%r11d\n\t"		\
	"1: " insn "\n\t"					\
	"2: mov %%r11d, %k[vector]\n\t"

#define ASM_SAFE_OUTPUTS(v)	[vector] "=r"(v)
#define ASM_SAFE_CLOBBERS	"r9", "r10", "r11", "memory", "cc"

static inline void cpuid_count(uint32_t leaf, uint32_t subleaf, uint32_t *a,
			       uint32_t *b, uint32_t *c, uint32_t *d)
{
	asm volatile("cpuid"
		     : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d)
		     : "a"(leaf), "c"(subleaf)
		     : "memory");
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
	return lo | ((uint64_t)hi << 32);
}

static inline void wrmsr(uint32_t msr, uint64_t val)
{
	asm volatile("wrmsr"
		     : : "c"(msr), "a"((uint32_t)val), "d"((uint32_t)(val >> 32))
		     : "memory");
}

/* Returns the vector raised by RDMSR, or NO_VECTOR. */
static inline uint8_t rdmsr_safe(uint32_t msr, uint64_t *val)
{
	uint32_t lo = 0, hi = 0, vector;

	asm volatile(ASM_SAFE("rdmsr")
		     : "+a"(lo), "+d"(hi), ASM_SAFE_OUTPUTS(vector)
		     : "c"(msr)
		     : ASM_SAFE_CLOBBERS);
	*val = lo | ((uint64_t)hi << 32);
	return vector;
}

static inline uint8_t wrmsr_safe(uint32_t msr, uint64_t val)
{
	uint32_t vector;

	asm volatile(ASM_SAFE("wrmsr")
		     : ASM_SAFE_OUTPUTS(vector)
		     : "c"(msr), "a"((uint32_t)val), "d"((uint32_t)(val >> 32))
		     : ASM_SAFE_CLOBBERS);
	return vector;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return lo | ((uint64_t)hi << 32);
}

static inline void outb(uint16_t port, uint8_t v)
{
	asm volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void outl(uint16_t port, uint32_t v)
{
	asm volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void hlt(void)
{
	asm volatile("hlt" : : : "memory");
}

static inline uint64_t vmmcall(uint64_t nr, uint64_t a0, uint64_t a1,
			       uint64_t a2, uint64_t a3)
{
	uint64_t ret;

	asm volatile("vmmcall"
		     : "=a"(ret)
		     : "a"(nr), "b"(a0), "c"(a1), "d"(a2), "S"(a3)
		     : "memory");
	return ret;
}

static inline uint64_t read_cr0(void)
{
	uint64_t v;

	asm volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

static inline uint64_t read_cr4(void)
{
	uint64_t v;

	asm volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static inline void write_cr4(uint64_t v)
{
	asm volatile("mov %0, %%cr4" : : "r"(v) : "memory");
}

static inline void xsetbv(uint32_t xcr, uint64_t v)
{
	asm volatile("xsetbv" : : "c"(xcr), "a"((uint32_t)v),
		     "d"((uint32_t)(v >> 32)) : "memory");
}

/* XSAVE / XSAVEC of the components in `mask` to a 64-byte aligned area. */
static inline void xsave(void *area, uint64_t mask)
{
	asm volatile("xsave64 (%0)" : : "r"(area), "a"((uint32_t)mask),
		     "d"((uint32_t)(mask >> 32)) : "memory");
}

static inline void xsavec(void *area, uint64_t mask)
{
	asm volatile("xsavec64 (%0)" : : "r"(area), "a"((uint32_t)mask),
		     "d"((uint32_t)(mask >> 32)) : "memory");
}

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

static inline void lidt(const struct desc_ptr *p)
{
	asm volatile("lidt %0" : : "m"(*p) : "memory");
}

#endif /* SELFTEST_AXVM_PROCESSOR_H */
