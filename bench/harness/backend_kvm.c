// SPDX-License-Identifier: GPL-2.0
/*
 * axbench's KVM backend: /dev/kvm directly, set up as a minimal VMM
 * would (QEMU-like CPUID from KVM_GET_SUPPORTED_CPUID, no in-kernel
 * irqchip unless a workload needs one).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "bench.h"

#ifndef KVM_HC_MAP_GPA_RANGE
#define KVM_HC_MAP_GPA_RANGE	12
#endif

#define HUGE_2M		(2ULL << 20)

struct bvm {
	int fd, vcpu_fd;
	struct kvm_run *run;
	void *low;
	uint64_t low_size;
	void *touch;
	uint64_t touch_size;
};

static int kvm_fd = -1;
static int run_size;
static struct kvm_cpuid2 *cpuid;
static int user_hypercall;
static int holder_vm = -1, holder_vcpu = -1;

static int kioctl(int fd, unsigned long req, void *arg)
{
	int ret = ioctl(fd, req, arg);

	return ret < 0 ? -errno : ret;
}

static int kvm_init(void)
{
	int nent = 64, ret;

	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0)
		return -errno;
	run_size = kioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (run_size < 0)
		return run_size;
	for (;;) {
		cpuid = calloc(1, sizeof(*cpuid) + nent * sizeof(cpuid->entries[0]));
		if (!cpuid)
			return -ENOMEM;
		cpuid->nent = nent;
		ret = kioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid);
		if (ret != -E2BIG)
			break;
		free(cpuid);
		nent *= 2;
	}
	if (ret < 0)
		return ret;
	ret = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_EXIT_HYPERCALL);
	user_hypercall = ret > 0 && (ret & (1 << KVM_HC_MAP_GPA_RANGE));
	/*
	 * One VM with a vCPU and no in-kernel APIC, alive as long as this
	 * process: KVM 6.1 enables SVM on every CPU when its first VM
	 * appears and disables it with the last, and flips a static key
	 * (kernel text patching) with the first APIC-less vCPU. A host
	 * running guests pays both once; without the holder every workload
	 * would, and under QEMU TCG that cycle has been seen to wedge the
	 * test VM (soft lockup on both CPUs).
	 */
	holder_vm = kioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (holder_vm < 0)
		return holder_vm;
	holder_vcpu = kioctl(holder_vm, KVM_CREATE_VCPU, (void *)0);
	return holder_vcpu < 0 ? holder_vcpu : 0;
}

static void seg_to_kvm(const struct gseg *g, struct kvm_segment *k)
{
	memset(k, 0, sizeof(*k));
	k->base = g->base;
	k->limit = g->limit;
	k->selector = g->selector;
	k->type = g->attrib & 0xf;
	k->s = !!(g->attrib & (1 << 4));
	k->dpl = (g->attrib >> 5) & 3;
	k->present = !!(g->attrib & (1 << 7));
	k->avl = !!(g->attrib & (1 << 8));
	k->l = !!(g->attrib & (1 << 9));
	k->db = !!(g->attrib & (1 << 10));
	k->g = !!(g->attrib & (1 << 11));
	k->unusable = !!(g->attrib & (1 << 12));
}

static int kvm_load_state(struct bvm *b)
{
	struct kvm_sregs sr;
	struct gstate st;
	int ret;

	ret = kioctl(b->vcpu_fd, KVM_GET_SREGS, &sr);
	if (ret < 0)
		return ret;
	guest_state(&st);
	seg_to_kvm(&st.cs, &sr.cs);
	seg_to_kvm(&st.ds, &sr.ds);
	seg_to_kvm(&st.es, &sr.es);
	seg_to_kvm(&st.fs, &sr.fs);
	seg_to_kvm(&st.gs, &sr.gs);
	seg_to_kvm(&st.ss, &sr.ss);
	seg_to_kvm(&st.tr, &sr.tr);
	seg_to_kvm(&st.ldtr, &sr.ldt);
	sr.gdt.base = st.gdt_base;
	sr.gdt.limit = st.gdt_limit;
	sr.idt.base = st.idt_base;
	sr.idt.limit = st.idt_limit;
	sr.cr0 = st.cr0;
	sr.cr3 = st.cr3;
	sr.cr4 = st.cr4;
	sr.efer = st.efer;
	ret = kioctl(b->vcpu_fd, KVM_SET_SREGS, &sr);
	return ret < 0 ? ret : 0;
}

static int kvm_add_slot(struct bvm *b, int slot, uint64_t gpa, uint64_t size,
			int thp, void **hva)
{
	struct kvm_userspace_memory_region r;
	uintptr_t head;
	void *p;
	int ret;

	/*
	 * 2 MiB aligned, as VMMs align guest RAM: KVM maps a 2 MiB page
	 * only where GPA and host address agree modulo 2 MiB.
	 */
	p = mmap(NULL, size + HUGE_2M, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	head = (HUGE_2M - ((uintptr_t)p & (HUGE_2M - 1))) & (HUGE_2M - 1);
	if (head)
		munmap(p, head);
	if (HUGE_2M - head)
		munmap((char *)p + head + size, HUGE_2M - head);
	p = (char *)p + head;
	*hva = p;
	/*
	 * Like for like with axvm's 4 KiB pages: Debian's kernel has THP
	 * "always", which would back the slot with 2 MiB pages.
	 */
	if (!thp)
		madvise(p, size, MADV_NOHUGEPAGE);
	memset(&r, 0, sizeof(r));
	r.slot = slot;
	r.guest_phys_addr = gpa;
	r.memory_size = size;
	r.userspace_addr = (uintptr_t)p;
	ret = kioctl(b->fd, KVM_SET_USER_MEMORY_REGION, &r);
	return ret < 0 ? ret : 0;
}

static void kvm_vm_destroy(struct bvm *b)
{
	if (b->run)
		munmap(b->run, run_size);
	if (b->vcpu_fd >= 0)
		close(b->vcpu_fd);
	if (b->fd >= 0)
		close(b->fd);
	if (b->low)
		munmap(b->low, b->low_size);
	if (b->touch)
		munmap(b->touch, b->touch_size);
	free(b);
}

static int kvm_vm_create(const struct vm_opts *o, struct bvm **out)
{
	struct bvm *b = calloc(1, sizeof(*b));
	void *run;
	int ret;

	if (!b)
		return -ENOMEM;
	b->vcpu_fd = -1;
	b->fd = kioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (b->fd < 0) {
		ret = b->fd;
		free(b);
		return ret;
	}
	b->low_size = o->mem_size;
	ret = kvm_add_slot(b, 0, 0, o->mem_size, 1, &b->low);
	if (!ret && o->touch_size) {
		b->touch_size = o->touch_size;
		ret = kvm_add_slot(b, 1, TOUCH_GPA, o->touch_size,
				   o->touch_thp, &b->touch);
	}
	if (!ret && o->irqchip) {
		ret = kioctl(b->fd, KVM_CREATE_IRQCHIP, NULL);
		ret = ret < 0 ? ret : 0;
	}
	if (!ret && o->hypercall_exit) {
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_EXIT_HYPERCALL,
			.args[0] = 1ULL << KVM_HC_MAP_GPA_RANGE,
		};

		ret = user_hypercall ? kioctl(b->fd, KVM_ENABLE_CAP, &cap) :
				       -EOPNOTSUPP;
	}
	if (!ret) {
		b->vcpu_fd = kioctl(b->fd, KVM_CREATE_VCPU, (void *)0);
		if (b->vcpu_fd < 0)
			ret = b->vcpu_fd;
	}
	if (!ret) {
		run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			   b->vcpu_fd, 0);
		if (run == MAP_FAILED)
			ret = -errno;
		else
			b->run = run;
	}
	if (!ret && o->payload) {
		ret = kioctl(b->vcpu_fd, KVM_SET_CPUID2, cpuid);
		if (!ret) {
			guest_memory_init(b->low);
			ret = kvm_load_state(b);
		}
	}
	if (ret) {
		kvm_vm_destroy(b);
		return ret;
	}
	*out = b;
	return 0;
}

static void *kvm_low_hva(struct bvm *b)
{
	return b->low;
}

static int kvm_set_entry(struct bvm *b, uint64_t rip, uint64_t rdi,
			 uint64_t rsi, uint64_t rdx)
{
	struct kvm_regs r;
	int ret;

	memset(&r, 0, sizeof(r));
	r.rip = rip;
	r.rdi = rdi;
	r.rsi = rsi;
	r.rdx = rdx;
	r.rsp = STACK_TOP;
	r.rflags = 2;
	ret = kioctl(b->vcpu_fd, KVM_SET_REGS, &r);
	return ret < 0 ? ret : 0;
}

static int kvm_run_vcpu(struct bvm *b, struct bexit *ex)
{
	struct kvm_run *run = b->run;
	int ret;

	do {
		ret = kioctl(b->vcpu_fd, KVM_RUN, NULL);
	} while (ret == -EINTR);
	if (ret < 0)
		return ret;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		ex->kind = BX_IO;
		ex->port = run->io.port;
		break;
	case KVM_EXIT_MMIO:
		ex->kind = BX_MMIO;
		ex->gpa = run->mmio.phys_addr;
		ex->is_write = run->mmio.is_write;
		break;
	case KVM_EXIT_HYPERCALL:
		ex->kind = BX_HYPERCALL;
		ex->nr = run->hypercall.nr;
		run->hypercall.ret = 0;
		break;
	case KVM_EXIT_HLT:
		ex->kind = BX_HLT;
		break;
	default:
		ex->kind = BX_OTHER;
		ex->reason = run->exit_reason;
		break;
	}
	return 0;
}

static int64_t kvm_exit_count(struct bvm *b)
{
	(void)b;
	return -1;
}

/* An edge-triggered fixed MSI to APIC ID 0: any thread may send it. */
static int kvm_inject_irq(struct bvm *b, int vector)
{
	struct kvm_msi msi = {
		.address_lo = LAPIC_GPA,
		.data = (uint32_t)vector,
	};
	int ret;

	if (!b)
		return 0;	/* probe: supported */
	ret = kioctl(b->fd, KVM_SIGNAL_MSI, &msi);
	if (ret < 0)
		return ret;
	return ret == 1 ? 0 : -EIO;	/* 1: delivered, 0: blocked */
}

static int kvm_has_user_hypercall(void)
{
	return user_hypercall;
}

const struct backend backend_kvm = {
	.name = "kvm",
	.init = kvm_init,
	.vm_create = kvm_vm_create,
	.vm_destroy = kvm_vm_destroy,
	.low_hva = kvm_low_hva,
	.set_entry = kvm_set_entry,
	.run = kvm_run_vcpu,
	.exit_count = kvm_exit_count,
	.inject_irq = kvm_inject_irq,
	.has_user_hypercall = kvm_has_user_hypercall,
};
