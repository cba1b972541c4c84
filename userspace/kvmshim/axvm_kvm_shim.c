// SPDX-License-Identifier: GPL-2.0
/*
 * axvm_kvm_shim: the /dev/axvm ABI played by KVM, for checking the
 * launcher, libaxvm's CPU-mode setup and the demo guests on a machine
 * that has /dev/kvm but cannot load axvm.ko. It is a test double, not
 * a model of axvm.ko: it implements just what the launcher uses.
 *
 * Linked into a copy of the launcher with -Wl,--wrap=open,... so the
 * library's open/ioctl/mmap/munmap/close calls land here first; any fd
 * that is not one of ours goes to the real call.
 */
#define _GNU_SOURCE	/* O_TMPFILE */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "libaxvm.h"

int __real_open(const char *path, int flags, ...);
int __real_ioctl(int fd, unsigned long req, ...);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off);
int __real_munmap(void *addr, size_t len);
int __real_close(int fd);

#define MAX_FDS		256
#define MAX_REGIONS	8
#define RUN_SIZE	4096

enum fd_kind { FD_NONE, FD_SYS, FD_VM, FD_VCPU };

struct region {
	uint64_t gpa, size;
	void *hva;
};

struct vm {
	struct region regions[MAX_REGIONS];
	unsigned int nr_regions;
};

struct vcpu {
	struct kvm_run *kvm_run;
	size_t kvm_run_size;
	struct axvm_run *run;
	int pending_in;		/* an IN exit whose data goes back to KVM */
};

static struct {
	enum fd_kind kind;
	struct vm *vm;
	struct vcpu *vcpu;
	int kvm_sys_fd;
} fds[MAX_FDS];

static int fail(int err)
{
	errno = err;
	return -1;
}

static void *zalloc(size_t size)
{
	void *p = __real_mmap(NULL, size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

int __wrap_open(const char *path, int flags, ...)
{
	va_list ap;
	int mode = 0, fd;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, int);
		va_end(ap);
	}
	if (strcmp(path, AXVM_DEV_PATH))
		return __real_open(path, flags, mode);
	fd = __real_open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd >= 0 && fd < MAX_FDS)
		fds[fd].kind = FD_SYS;
	return fd;
}

static int sys_ioctl(int fd, unsigned long req, void *arg)
{
	struct axvm_caps *caps = arg;
	struct axvm_create_vm *create = arg;
	int vm_fd;

	switch (req) {
	case AXVM_GET_API_VERSION:
		return AXVM_API_VERSION;
	case AXVM_GET_CAPS:
		caps->api_version = AXVM_API_VERSION;
		caps->backend = AXVM_BACKEND_SVM;
		caps->features = AXVM_FEATURE_NESTED_PAGING |
				 AXVM_FEATURE_GUEST_RW;
		caps->max_vcpus = 1;
		caps->max_mem_regions = MAX_REGIONS;
		caps->gpa_bits = 40;
		caps->npt_levels = 4;
		caps->nr_asids = 16;
		caps->run_size = RUN_SIZE;
		return 0;
	case AXVM_CREATE_VM:
		vm_fd = __real_ioctl(fd, KVM_CREATE_VM, 0);
		if (vm_fd < 0 || vm_fd >= MAX_FDS)
			return vm_fd;
		fds[vm_fd].kind = FD_VM;
		fds[vm_fd].vm = zalloc(sizeof(struct vm));
		fds[vm_fd].kvm_sys_fd = fd;
		create->vm_id = vm_fd;
		return vm_fd;
	}
	return fail(ENOTTY);
}

static int add_region(int fd, struct vm *vm, struct axvm_memory_region *r)
{
	struct kvm_userspace_memory_region kr;
	struct region *reg = &vm->regions[vm->nr_regions];

	if (vm->nr_regions == MAX_REGIONS)
		return fail(ENOSPC);
	reg->hva = __real_mmap(NULL, r->mem_size, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (reg->hva == MAP_FAILED)
		return -1;
	reg->gpa = r->gpa;
	reg->size = r->mem_size;
	memset(&kr, 0, sizeof(kr));
	kr.slot = vm->nr_regions;
	kr.guest_phys_addr = r->gpa;
	kr.memory_size = r->mem_size;
	kr.userspace_addr = (uintptr_t)reg->hva;
	if (__real_ioctl(fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0)
		return -1;
	r->mmap_offset = (uint64_t)vm->nr_regions << 32;
	vm->nr_regions++;
	return 0;
}

static void *gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len)
{
	unsigned int i;

	for (i = 0; i < vm->nr_regions; i++) {
		struct region *r = &vm->regions[i];

		if (gpa >= r->gpa && gpa + len <= r->gpa + r->size)
			return (char *)r->hva + (gpa - r->gpa);
	}
	return NULL;
}

static int guest_rw(struct vm *vm, struct axvm_guest_memory *gm, int write)
{
	void *hva = gpa_to_hva(vm, gm->gpa, gm->len);

	if (!hva)
		return fail(EFAULT);
	if (write)
		memcpy(hva, (void *)(uintptr_t)gm->buf, gm->len);
	else
		memcpy((void *)(uintptr_t)gm->buf, hva, gm->len);
	return 0;
}

static int create_vcpu(int fd, struct axvm_create_vcpu *c)
{
	int vcpu_fd = __real_ioctl(fd, KVM_CREATE_VCPU, c->vcpu_id);
	struct vcpu *vcpu;
	int size;

	if (vcpu_fd < 0 || vcpu_fd >= MAX_FDS)
		return vcpu_fd;
	size = __real_ioctl(fds[fd].kvm_sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	vcpu = zalloc(sizeof(*vcpu));
	vcpu->kvm_run_size = size;
	vcpu->kvm_run = __real_mmap(NULL, size, PROT_READ | PROT_WRITE,
				    MAP_SHARED, vcpu_fd, 0);
	vcpu->run = zalloc(RUN_SIZE);
	fds[vcpu_fd].kind = FD_VCPU;
	fds[vcpu_fd].vcpu = vcpu;
	return vcpu_fd;
}

static int vm_ioctl(int fd, unsigned long req, void *arg)
{
	struct vm *vm = fds[fd].vm;

	switch (req) {
	case AXVM_ADD_MEMORY_REGION:
		return add_region(fd, vm, arg);
	case AXVM_CREATE_VCPU:
		return create_vcpu(fd, arg);
	case AXVM_FINALIZE:
	case AXVM_BOOT:
	case AXVM_SHUTDOWN:
		return 0;
	case AXVM_READ_GUEST:
		return guest_rw(vm, arg, 0);
	case AXVM_WRITE_GUEST:
		return guest_rw(vm, arg, 1);
	}
	return fail(ENOTTY);
}

/* --- registers: axvm <-> KVM --- */

static void seg_to_kvm(const struct axvm_segment *a, struct kvm_segment *k)
{
	memset(k, 0, sizeof(*k));
	k->base = a->base;
	k->limit = a->limit;
	k->selector = a->selector;
	k->type = a->attrib & 0xf;
	k->s = !!(a->attrib & AXVM_SEG_S);
	k->dpl = (a->attrib >> 5) & 3;
	k->present = !!(a->attrib & AXVM_SEG_P);
	k->avl = !!(a->attrib & AXVM_SEG_AVL);
	k->l = !!(a->attrib & AXVM_SEG_L);
	k->db = !!(a->attrib & AXVM_SEG_DB);
	k->g = !!(a->attrib & AXVM_SEG_G);
	k->unusable = !!(a->attrib & (1U << 12));
}

static void seg_from_kvm(const struct kvm_segment *k, struct axvm_segment *a)
{
	a->base = k->base;
	a->limit = k->limit;
	a->selector = k->selector;
	a->attrib = k->type | k->s << 4 | k->dpl << 5 | k->present << 7 |
		    k->avl << 8 | k->l << 9 | k->db << 10 | k->g << 11 |
		    k->unusable << 12;
}

#define SEGS(X) X(cs) X(ds) X(es) X(fs) X(gs) X(ss) X(tr) X(ldt)

static int set_sregs(int fd, struct axvm_sregs *a)
{
	struct kvm_sregs k;

	if (__real_ioctl(fd, KVM_GET_SREGS, &k) < 0)
		return -1;
	seg_to_kvm(&a->cs, &k.cs); seg_to_kvm(&a->ds, &k.ds);
	seg_to_kvm(&a->es, &k.es); seg_to_kvm(&a->fs, &k.fs);
	seg_to_kvm(&a->gs, &k.gs); seg_to_kvm(&a->ss, &k.ss);
	seg_to_kvm(&a->tr, &k.tr); seg_to_kvm(&a->ldtr, &k.ldt);
	k.gdt.base = a->gdt.base; k.gdt.limit = a->gdt.limit;
	k.idt.base = a->idt.base; k.idt.limit = a->idt.limit;
	k.cr0 = a->cr0; k.cr2 = a->cr2; k.cr3 = a->cr3; k.cr4 = a->cr4;
	k.efer = a->efer;
	return __real_ioctl(fd, KVM_SET_SREGS, &k);
}

static int get_sregs(int fd, struct axvm_sregs *a)
{
	struct kvm_sregs k;

	if (__real_ioctl(fd, KVM_GET_SREGS, &k) < 0)
		return -1;
	seg_from_kvm(&k.cs, &a->cs); seg_from_kvm(&k.ds, &a->ds);
	seg_from_kvm(&k.es, &a->es); seg_from_kvm(&k.fs, &a->fs);
	seg_from_kvm(&k.gs, &a->gs); seg_from_kvm(&k.ss, &a->ss);
	seg_from_kvm(&k.tr, &a->tr); seg_from_kvm(&k.ldt, &a->ldtr);
	a->gdt.base = k.gdt.base; a->gdt.limit = k.gdt.limit;
	a->idt.base = k.idt.base; a->idt.limit = k.idt.limit;
	a->cr0 = k.cr0; a->cr2 = k.cr2; a->cr3 = k.cr3; a->cr4 = k.cr4;
	a->efer = k.efer;
	return 0;
}

#define GPRS(X) X(rax) X(rbx) X(rcx) X(rdx) X(rsi) X(rdi) X(rsp) X(rbp) \
	X(r8) X(r9) X(r10) X(r11) X(r12) X(r13) X(r14) X(r15) X(rip) X(rflags)

static int set_regs(int fd, struct axvm_regs *a)
{
	struct kvm_regs k;

#define TO_KVM(r) k.r = a->r;
	GPRS(TO_KVM)
	return __real_ioctl(fd, KVM_SET_REGS, &k);
}

static int get_regs(int fd, struct axvm_regs *a)
{
	struct kvm_regs k;

	if (__real_ioctl(fd, KVM_GET_REGS, &k) < 0)
		return -1;
#define FROM_KVM(r) a->r = k.r;
	GPRS(FROM_KVM)
	return 0;
}

/* --- RUN: KVM exits -> axvm exits --- */

static void *kvm_io_data(struct vcpu *v)
{
	return (char *)v->kvm_run + v->kvm_run->io.data_offset;
}

static void translate_exit(struct vcpu *v)
{
	struct kvm_run *k = v->kvm_run;
	struct axvm_run *a = v->run;

	memset(&a->io, 0, sizeof(a->pad));
	a->exit_count++;
	switch (k->exit_reason) {
	case KVM_EXIT_IO:
		a->exit_reason = AXVM_EXIT_IO;
		a->io.port = k->io.port;
		a->io.width = k->io.size;
		a->io.direction = k->io.direction == KVM_EXIT_IO_OUT ?
				  AXVM_IO_OUT : AXVM_IO_IN;
		memcpy(&a->io.data, kvm_io_data(v), k->io.size);
		v->pending_in = a->io.direction == AXVM_IO_IN;
		break;
	case KVM_EXIT_HLT:
		a->exit_reason = AXVM_EXIT_HLT;
		break;
	case KVM_EXIT_SHUTDOWN:
		a->exit_reason = AXVM_EXIT_SHUTDOWN;
		break;
	case KVM_EXIT_MMIO:
		a->exit_reason = AXVM_EXIT_MMIO;
		a->mmio.gpa = k->mmio.phys_addr;
		a->mmio.width = k->mmio.len;
		a->mmio.is_write = k->mmio.is_write;
		break;
	case KVM_EXIT_FAIL_ENTRY:
		a->exit_reason = AXVM_EXIT_FAIL_ENTRY;
		a->fail_entry.hw_reason =
			k->fail_entry.hardware_entry_failure_reason;
		break;
	default:
		a->exit_reason = AXVM_EXIT_INTERNAL_ERROR;
		a->internal.suberror = AXVM_INTERNAL_UNEXPECTED;
		a->internal.ndata = 1;
		a->internal.data[0] = k->exit_reason;
	}
}

static int vcpu_run(int fd, struct vcpu *v)
{
	if (v->pending_in) {
		memcpy(kvm_io_data(v), &v->run->io.data, v->run->io.width);
		v->pending_in = 0;
	}
	if (__real_ioctl(fd, KVM_RUN, 0) < 0) {
		if (errno == EINTR)
			v->run->exit_reason = AXVM_EXIT_INTR;
		return -1;
	}
	translate_exit(v);
	return 0;
}

static int vcpu_ioctl(int fd, unsigned long req, void *arg)
{
	switch (req) {
	case AXVM_RUN:
		return vcpu_run(fd, fds[fd].vcpu);
	case AXVM_GET_REGS:
		return get_regs(fd, arg);
	case AXVM_SET_REGS:
		return set_regs(fd, arg);
	case AXVM_GET_SREGS:
		return get_sregs(fd, arg);
	case AXVM_SET_SREGS:
		return set_sregs(fd, arg);
	}
	return fail(ENOTTY);
}

int __wrap_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fd < 0 || fd >= MAX_FDS || fds[fd].kind == FD_NONE)
		return __real_ioctl(fd, req, arg);
	if (fds[fd].kind == FD_SYS)
		return sys_ioctl(fd, req, arg);
	if (fds[fd].kind == FD_VM)
		return vm_ioctl(fd, req, arg);
	return vcpu_ioctl(fd, req, arg);
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off)
{
	if (fd < 0 || fd >= MAX_FDS || fds[fd].kind == FD_NONE)
		return __real_mmap(addr, len, prot, flags, fd, off);
	if (fds[fd].kind == FD_VCPU)
		return fds[fd].vcpu->run;
	if (fds[fd].kind == FD_VM && (uint64_t)off >> 32 < MAX_REGIONS)
		return fds[fd].vm->regions[off >> 32].hva;
	errno = EINVAL;
	return MAP_FAILED;
}

/* Our fake mappings live as long as the process: nothing to undo. */
int __wrap_munmap(void *addr, size_t len)
{
	(void)addr;
	(void)len;
	return 0;
}

int __wrap_close(int fd)
{
	if (fd >= 0 && fd < MAX_FDS)
		fds[fd].kind = FD_NONE;
	return __real_close(fd);
}
