/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VM and vCPU helpers for the axvm selftests, built on libaxvm.
 *
 * Naming follows KVM's selftests: __foo() returns 0 or -errno and never
 * fails the test; foo() asserts success.
 *
 * Guest code lives in the test binaries themselves. The binaries are
 * static and non-PIE (text at 0x400000); vm_create_guest() gives the VM
 * one RWX region at GPA 0 and copies the binary's loaded image (every
 * PT_LOAD segment, i.e. text, data and bss as they are in memory at
 * that moment) to the same addresses, so a guest C function runs at
 * the address the host knows it by. vCPUs start in 64-bit mode with the
 * first 4 GiB identity mapped (libaxvm's axvm_x86_setup_mode()), SSE
 * enabled, an IDT whose handlers implement ASM_SAFE() (processor.h),
 * RSP on a private stack and a return address that reports GUEST_DONE()
 * if the guest function returns.
 *
 * Guest memory layout (region 0, GUEST_MEM_SIZE bytes at GPA 0):
 *   0x001000  GDT (libaxvm)
 *   0x002000  page tables, 6 pages (libaxvm)
 *   0x008000  IDT
 *   0x010000  pool for extra page tables (virt_map())
 *   0x100000  scratch: free for tests, 1 MiB
 *   0x200000  vCPU stacks, GUEST_STACK_SIZE each
 *   0x400000  the test binary's image
 */
#ifndef SELFTEST_AXVM_UTIL_H
#define SELFTEST_AXVM_UTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/axvm.h>
#include "libaxvm.h"
#include "test_util.h"

#define GUEST_GDT_GPA		0x1000ULL
#define GUEST_PML4_GPA_ASM	0x2000		/* for asm: no suffix */
#define GUEST_PML4_GPA		((uint64_t)GUEST_PML4_GPA_ASM)
#define GUEST_IDT_GPA		0x8000ULL
#define GUEST_PT_POOL_GPA	0x10000ULL
#define GUEST_PT_POOL_END	0x100000ULL
#define GUEST_SCRATCH_GPA	0x100000ULL
#define GUEST_SCRATCH_SIZE	0x100000ULL
#define GUEST_STACKS_GPA	0x200000ULL
#define GUEST_STACK_SIZE	0x4000ULL
#define GUEST_IMAGE_GPA		0x400000ULL
#define GUEST_MEM_SIZE		(16ULL << 20)
#define GUEST_IDENTITY_MAP	SZ_4G
/*
 * Inside the identity map, outside every region the helpers add. Guest
 * asm can address it RIP-relative as the symbol guest_mmio_base.
 */
#define GUEST_MMIO_GPA_ASM	0x40000000
#define GUEST_MMIO_GPA		((uint64_t)GUEST_MMIO_GPA_ASM)

#define TEST_MAX_VCPUS		64

struct tvm;

struct tvcpu {
	struct axvm_vcpu v;	/* fd, id, run */
	struct tvm *vm;
};

struct tvm {
	struct axvm_vm vm;	/* fd, sys_fd, id */
	struct axvm_caps caps;
	bool has_guest_mem;	/* region 0 holds the test image */
	bool have_template;	/* sregs_template is valid */
	struct axvm_sregs sregs_template;
	uint64_t pt_pool_next;
	struct tvcpu *vcpus[TEST_MAX_VCPUS];
};

/* --- /dev/axvm --- */
/* Opens /dev/axvm; the test is skipped if it does not exist. */
int sys_open(void);
/* The module's capabilities (cached per process). */
const struct axvm_caps *sys_caps(void);

/* --- VMs --- */
/* A VM in state LOADING with no regions and no vCPUs. */
struct tvm *vm_create_barebones(void);
/* The same plus region 0 holding the test image (still LOADING). */
struct tvm *vm_create_guest(void);
/* vm_create_guest() + vCPU 0 running guest_code + FINALIZE + BOOT. */
struct tvm *vm_create_with_one_vcpu(struct tvcpu **vcpu, void *guest_code);
/* Closes every vCPU, the VM and frees *vm. */
void vm_free(struct tvm *vm);

/* Adds a region without mapping it; returns its mmap offset. */
int __vm_add_region(struct tvm *vm, uint64_t gpa, uint64_t size,
		    uint32_t flags, uint64_t *mmap_offset);
uint64_t vm_add_region(struct tvm *vm, uint64_t gpa, uint64_t size,
		       uint32_t flags);
void vm_finalize(struct tvm *vm);
void vm_boot(struct tvm *vm);
/* FINALIZE + BOOT. */
void vm_start(struct tvm *vm);
void vm_status(struct tvm *vm, struct axvm_vm_status *st);
uint32_t vm_state(struct tvm *vm);
int __vm_ioctl(struct tvm *vm, unsigned long req, void *arg);

void vm_write(struct tvm *vm, uint64_t gpa, const void *buf, size_t len);
void vm_read(struct tvm *vm, uint64_t gpa, void *buf, size_t len);
static inline uint64_t vm_read_u64(struct tvm *vm, uint64_t gpa)
{
	uint64_t v;

	vm_read(vm, gpa, &v, sizeof(v));
	return v;
}
static inline void vm_write_u64(struct tvm *vm, uint64_t gpa, uint64_t v)
{
	vm_write(vm, gpa, &v, sizeof(v));
}

/* Copies a global variable of the test binary into / out of the guest. */
#define sync_global_to_guest(vm, g) \
	vm_write(vm, (uint64_t)(uintptr_t)&(g), (const void *)&(g), sizeof(g))
#define sync_global_from_guest(vm, g) \
	vm_read(vm, (uint64_t)(uintptr_t)&(g), (void *)&(g), sizeof(g))

/*
 * Maps guest virtual [gva, gva+size) to guest physical [gpa, ...) with
 * 2 MiB pages in the page tables the vCPUs use, taking new tables from
 * the pool. Needs a guest vCPU to exist (vm_guest_vcpu_add()).
 */
void virt_map(struct tvm *vm, uint64_t gva, uint64_t gpa, uint64_t size);

/* --- vCPUs --- */
/* A vCPU in its reset state. */
struct tvcpu *vm_vcpu_add(struct tvm *vm, uint32_t id);
/* A vCPU set up to run guest_code(arg = 0) as described above. */
struct tvcpu *vm_guest_vcpu_add(struct tvm *vm, uint32_t id,
				void *guest_code);
/* Sets the first argument (RDI) of the guest function. */
void vcpu_set_arg(struct tvcpu *vcpu, uint64_t arg);
void vcpu_free(struct tvcpu *vcpu);

int __vcpu_run(struct tvcpu *vcpu);
void vcpu_run(struct tvcpu *vcpu);
void vcpu_regs_get(struct tvcpu *vcpu, struct axvm_regs *regs);
void vcpu_regs_set(struct tvcpu *vcpu, struct axvm_regs *regs);
void vcpu_sregs_get(struct tvcpu *vcpu, struct axvm_sregs *sregs);
void vcpu_sregs_set(struct tvcpu *vcpu, struct axvm_sregs *sregs);
int __vcpu_ioctl(struct tvcpu *vcpu, unsigned long req, void *arg);

/* A description of the current exit, for failure messages. */
const char *exit_desc(struct tvcpu *vcpu);
/* Fails with exit_desc() unless the last exit has this reason. */
#define TEST_ASSERT_EXIT(vcpu, reason)					\
	TEST_ASSERT((vcpu)->v.run->exit_reason == (reason),		\
		    "expected exit %s, got %s", axvm_exit_name(reason),	\
		    exit_desc(vcpu))

/* --- guest code shared by several tests (lib/guest.c) --- */
/*
 * guest_spin(): GUEST_SYNC(1), then counts in guest_spin_counter until
 * guest_spin_stop is non-zero, then GUEST_SYNC(counter) and returns.
 */
void guest_spin(void);
extern volatile uint64_t guest_spin_stop;
extern volatile uint64_t guest_spin_counter;

/*
 * A host thread that runs a vCPU past guest_spin()'s first GUEST_SYNC,
 * then calls AXVM_RUN once more and records how that call ended.
 */
struct spinner {
	struct tvcpu *vcpu;
	pthread_t thread;
	atomic_bool spinning;	/* the second AXVM_RUN is about to start */
	int ret;		/* its result, 0 or -errno */
	uint32_t exit_reason;	/* and run->exit_reason after it */
	pthread_attr_t *attr;	/* optional, for spinner_start() */
};
void spinner_start(struct spinner *s, struct tvcpu *vcpu);
/* Waits until every spinner is inside AXVM_RUN (status.nr_running). */
void spinners_wait_running(struct tvm *vm, struct spinner *s, int n);
void spinner_join(struct spinner *s);

/* Installs a no-op handler for sig, without SA_RESTART. */
void install_noop_handler(int sig);

/* Waits (polling) until the VM reports nr_running >= n; false on timeout. */
bool vm_wait_nr_running(struct tvm *vm, uint32_t n, uint64_t timeout_ms);

/* Guest exception entry points (lib/guest.c). */
extern char guest_exception_stubs[];
extern char guest_exception_stub_other[];
extern char guest_return_trampoline[];

/* Points IDT entry `vector` of the guest at handler (an interrupt gate). */
void vm_set_idt_gate(struct tvm *vm, uint8_t vector, const void *handler);

#endif /* SELFTEST_AXVM_UTIL_H */
