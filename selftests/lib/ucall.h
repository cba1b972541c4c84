/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ucall: a tiny guest -> host call channel, after KVM selftests' ucall.
 *
 * The guest builds a struct ucall on its stack and executes
 * "out %eax, %dx" to UCALL_PORT with RDI (and EAX, truncated) holding
 * the struct's address. Guest memory is identity mapped, so the host
 * reads the struct with AXVM_READ_GUEST at that address. Strings the
 * guest passes (file, expression) point into the test binary's own
 * .rodata, which sits at the same address in host and guest.
 */
#ifndef SELFTEST_AXVM_UCALL_H
#define SELFTEST_AXVM_UCALL_H

#include <stdint.h>

/* Not 0x3f8 (serial), 0xf4 (isa-debug-exit) or anything else well known. */
#define UCALL_PORT	0xe8a0

enum {
	UCALL_NONE	= 0,
	UCALL_SYNC	= 1,
	UCALL_DONE	= 2,
	UCALL_ABORT	= 3,	/* GUEST_ASSERT*() failed */
	UCALL_UNHANDLED	= 4,	/* unexpected exception in the guest */
};

struct ucall {
	uint64_t cmd;
	uint64_t args[4];
	const char *file;	/* UCALL_ABORT */
	const char *expr;	/* UCALL_ABORT */
	uint64_t line;		/* UCALL_ABORT */
	uint64_t has_values;	/* UCALL_ABORT: args[0], args[1] meaningful */
};

/* --- guest side (lib/guest.c) --- */
void guest_ucall(uint64_t cmd, uint64_t a0, uint64_t a1, uint64_t a2,
		 uint64_t a3);
void guest_ucall_abort(const char *file, uint64_t line, const char *expr,
		       uint64_t a, uint64_t b, uint64_t has_values)
	__attribute__((noreturn));

#define GUEST_SYNC(a)		guest_ucall(UCALL_SYNC, (a), 0, 0, 0)
#define GUEST_SYNC2(a, b)	guest_ucall(UCALL_SYNC, (a), (b), 0, 0)
#define GUEST_SYNC4(a, b, c, d)	guest_ucall(UCALL_SYNC, (a), (b), (c), (d))
#define GUEST_DONE()		guest_ucall(UCALL_DONE, 0, 0, 0, 0)

#define GUEST_ASSERT(cond) do {						\
	if (!(cond))							\
		guest_ucall_abort(__FILE__, __LINE__, #cond, 0, 0, 0);	\
} while (0)

#define GUEST_ASSERT_EQ(a, b) do {					\
	uint64_t __ga = (uint64_t)(a), __gb = (uint64_t)(b);		\
	if (__ga != __gb)						\
		guest_ucall_abort(__FILE__, __LINE__, #a " == " #b,	\
				  __ga, __gb, 1);			\
} while (0)

#define GUEST_FAIL(what)						\
	guest_ucall_abort(__FILE__, __LINE__, what, 0, 0, 0)

/* --- host side (lib/ucall.c) --- */
struct tvcpu;

/* Decodes the current exit: UCALL_NONE if it is not a ucall. */
uint64_t get_ucall(struct tvcpu *vcpu, struct ucall *uc);
/*
 * Runs the vCPU and requires a ucall exit. UCALL_ABORT and
 * UCALL_UNHANDLED fail the test with the guest's report; any other
 * exit fails with a description of it. Returns the command.
 */
uint64_t vcpu_run_ucall(struct tvcpu *vcpu, struct ucall *uc);
/* Requires GUEST_SYNC(arg0) with the given first argument. */
void vcpu_run_sync(struct tvcpu *vcpu, uint64_t arg0);
/* Requires GUEST_SYNC*() and returns it in *uc. */
void vcpu_run_sync_uc(struct tvcpu *vcpu, struct ucall *uc);
/* Requires GUEST_DONE(). */
void vcpu_run_done(struct tvcpu *vcpu);
/* Fails the test if the current exit is a guest abort report. */
void ucall_check_abort(struct tvcpu *vcpu);

#endif /* SELFTEST_AXVM_UCALL_H */
