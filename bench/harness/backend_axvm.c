// SPDX-License-Identifier: GPL-2.0
/*
 * axbench's axvm.ko backend, through libaxvm (userspace/lib).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "libaxvm.h"
#include "bench.h"

struct bvm {
	struct axvm_vm vm;	/* vm.sys_fd is the shared one: never closed here */
	struct axvm_vcpu vcpu;
	void *low;
	uint64_t low_size;
};

/*
 * One /dev/axvm fd for every VM, as the KVM backend shares one /dev/kvm
 * fd: creating a VM costs the same ioctls on both (CREATE_VM, a memory
 * region, CREATE_VCPU, mmap of the run structure).
 */
static int sys_fd = -1;
static uint32_t run_size;
static int irq_inject;		/* AXVM_FEATURE_IRQ_INJECT */

static int ax_init(void)
{
	struct axvm_caps caps;
	int ret;

	sys_fd = axvm_open();
	if (sys_fd < 0)
		return sys_fd;
	ret = axvm_get_caps(sys_fd, &caps);
	if (ret)
		return ret;
	if (!(caps.features & AXVM_FEATURE_LAZY_MEMORY) ||
	    !(caps.features & AXVM_FEATURE_MMIO_DECODE) ||
	    !(caps.features & AXVM_FEATURE_HYPERCALL) ||
	    caps.run_size < sizeof(struct axvm_run))
		return -EOPNOTSUPP;
	run_size = caps.run_size;
#ifdef AXVM_FEATURE_IRQ_INJECT
	irq_inject = !!(caps.features & AXVM_FEATURE_IRQ_INJECT);
#endif
	return 0;
}

static int ax_ioctl(int fd, unsigned long req, void *arg)
{
	int ret = ioctl(fd, req, arg);

	return ret < 0 ? -errno : ret;
}

static int ax_add_region(struct bvm *b, uint64_t gpa, uint64_t size,
			 uint32_t flags, uint64_t *offset)
{
	struct axvm_memory_region r;
	int ret;

	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.flags = flags;
	r.gpa = gpa;
	r.mem_size = size;
	ret = ax_ioctl(b->vm.fd, AXVM_ADD_MEMORY_REGION, &r);
	if (!ret && offset)
		*offset = r.mmap_offset;
	return ret < 0 ? ret : 0;
}

static int ax_create_vcpu(struct bvm *b)
{
	struct axvm_create_vcpu c;
	void *run;
	int fd;

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	fd = ax_ioctl(b->vm.fd, AXVM_CREATE_VCPU, &c);
	if (fd < 0)
		return fd;
	b->vcpu.fd = fd;
	run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (run == MAP_FAILED)
		return -errno;
	b->vcpu.run = run;
	b->vcpu.run_size = run_size;
	return 0;
}

static void seg_to_ax(const struct gseg *g, struct axvm_segment *a)
{
	a->base = g->base;
	a->limit = g->limit;
	a->selector = g->selector;
	a->attrib = g->attrib;
}

static int ax_load_state(struct bvm *b)
{
	struct axvm_sregs sr;
	struct gstate st;

	guest_state(&st);
	memset(&sr, 0, sizeof(sr));
	sr.size = sizeof(sr);
	seg_to_ax(&st.cs, &sr.cs);
	seg_to_ax(&st.ds, &sr.ds);
	seg_to_ax(&st.es, &sr.es);
	seg_to_ax(&st.fs, &sr.fs);
	seg_to_ax(&st.gs, &sr.gs);
	seg_to_ax(&st.ss, &sr.ss);
	seg_to_ax(&st.tr, &sr.tr);
	seg_to_ax(&st.ldtr, &sr.ldtr);
	sr.gdt.base = st.gdt_base;
	sr.gdt.limit = st.gdt_limit;
	sr.idt.base = st.idt_base;
	sr.idt.limit = st.idt_limit;
	sr.cr0 = st.cr0;
	sr.cr3 = st.cr3;
	sr.cr4 = st.cr4;
	sr.efer = st.efer;
	return axvm_vcpu_set_sregs(&b->vcpu, &sr);
}

static void ax_vm_destroy(struct bvm *b)
{
	if (b->vcpu.run)
		munmap(b->vcpu.run, b->vcpu.run_size);
	if (b->vcpu.fd >= 0)
		close(b->vcpu.fd);
	if (b->low)
		munmap(b->low, b->low_size);
	if (b->vm.fd >= 0)
		close(b->vm.fd);
	free(b);
}

static int ax_vm_create(const struct vm_opts *o, struct bvm **out)
{
	uint32_t flags = AXVM_MEM_READ | AXVM_MEM_WRITE | AXVM_MEM_EXEC;
	struct axvm_create_vm c;
	struct bvm *b = calloc(1, sizeof(*b));
	uint64_t offset = 0;
	int ret;

	if (!b)
		return -ENOMEM;
	b->vm.sys_fd = sys_fd;
	b->vcpu.fd = -1;
	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	b->vm.fd = ax_ioctl(sys_fd, AXVM_CREATE_VM, &c);
	if (b->vm.fd < 0) {
		ret = b->vm.fd;
		free(b);
		return ret;
	}
	b->vm.id = c.vm_id;
	if (!o->eager)
		flags |= AXVM_MEM_LAZY;
	ret = ax_add_region(b, 0, o->mem_size, flags, &offset);
	if (!ret && o->touch_size)
		ret = ax_add_region(b, TOUCH_GPA, o->touch_size,
				    AXVM_MEM_READ | AXVM_MEM_WRITE | AXVM_MEM_LAZY,
				    NULL);
	if (!ret)
		ret = ax_create_vcpu(b);
	if (!ret && o->payload) {
		b->low = mmap(NULL, o->mem_size, PROT_READ | PROT_WRITE,
			      MAP_SHARED, b->vm.fd, (off_t)offset);
		if (b->low == MAP_FAILED) {
			b->low = NULL;
			ret = -errno;
		} else {
			b->low_size = o->mem_size;
			guest_memory_init(b->low);
			ret = ax_load_state(b);
		}
		if (!ret)
			ret = axvm_vm_finalize(&b->vm);
		if (!ret)
			ret = axvm_vm_boot(&b->vm);
	}
	if (ret) {
		ax_vm_destroy(b);
		return ret;
	}
	*out = b;
	return 0;
}

static void *ax_low_hva(struct bvm *b)
{
	return b->low;
}

static int ax_set_entry(struct bvm *b, uint64_t rip, uint64_t rdi,
			uint64_t rsi, uint64_t rdx)
{
	struct axvm_regs r;

	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.rip = rip;
	r.rdi = rdi;
	r.rsi = rsi;
	r.rdx = rdx;
	r.rsp = STACK_TOP;
	r.rflags = 2;
	return axvm_vcpu_set_regs(&b->vcpu, &r);
}

static int ax_run(struct bvm *b, struct bexit *ex)
{
	struct axvm_run *run = b->vcpu.run;
	int ret;

	do {
		ret = axvm_vcpu_run(&b->vcpu);
	} while (ret == -EINTR);
	if (ret)
		return ret;
	switch (run->exit_reason) {
	case AXVM_EXIT_IO:
		ex->kind = BX_IO;
		ex->port = run->io.port;
		break;
	case AXVM_EXIT_MMIO:
		ex->kind = BX_MMIO;
		ex->gpa = run->mmio.gpa;
		ex->is_write = run->mmio.is_write;
		break;
	case AXVM_EXIT_HYPERCALL:
		ex->kind = BX_HYPERCALL;
		ex->nr = run->hypercall.nr;
		break;
	case AXVM_EXIT_HLT:
		ex->kind = BX_HLT;
		break;
	default:
		ex->kind = BX_OTHER;
		ex->reason = run->exit_reason;
		break;
	}
	return 0;
}

static int64_t ax_exit_count(struct bvm *b)
{
	return (int64_t)b->vcpu.run->exit_count;
}

/*
 * AXVM_INJECT_IRQ (uapi since the seed-model core, issue 3): the vector
 * goes to vCPU 0, which is kicked out of the guest if it is running. The
 * harness builds against older uapi headers too: then, and on a module
 * without AXVM_FEATURE_IRQ_INJECT, the workload is n/a.
 */
static int ax_inject_irq(struct bvm *b, int vector)
{
#ifdef AXVM_INJECT_IRQ
	struct axvm_irq irq;
	int ret;

	if (!irq_inject)
		return -ENOSYS;
	if (!b)
		return 0;	/* probe: supported */
	memset(&irq, 0, sizeof(irq));
	irq.size = sizeof(irq);
	irq.vector = (uint32_t)vector;
	irq.vcpu_mask = 1;
	ret = ax_ioctl(b->vm.fd, AXVM_INJECT_IRQ, &irq);
	return ret < 0 ? ret : 0;
#else
	(void)b;
	(void)vector;
	(void)irq_inject;
	return -ENOSYS;
#endif
}

static int ax_has_user_hypercall(void)
{
	return 1;		/* every VMMCALL is AXVM_EXIT_HYPERCALL */
}

const struct backend backend_axvm = {
	.name = "axvm",
	.init = ax_init,
	.vm_create = ax_vm_create,
	.vm_destroy = ax_vm_destroy,
	.low_hva = ax_low_hva,
	.set_entry = ax_set_entry,
	.run = ax_run,
	.exit_count = ax_exit_count,
	.inject_irq = ax_inject_irq,
	.has_user_hypercall = ax_has_user_hypercall,
};
