// SPDX-License-Identifier: GPL-2.0
/*
 * libaxvm: system, VM and vCPU wrappers over the /dev/axvm ioctls.
 *
 * Every function returns 0 (or a non-negative value) on success and
 * -errno on failure; nothing here prints or exits.
 *
 * The structs passed to the kernel always get `size` and `flags` filled
 * in here (size = sizeof the struct this library was built with,
 * flags = 0), so callers never have to remember the header rule. Tests
 * of the header rule itself (bad size, bad flags) use raw ioctl().
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "libaxvm.h"

/* ioctl() that reports failure as -errno instead of -1 + errno. */
static int axvm_ioctl(int fd, unsigned long request, void *arg)
{
	int ret = ioctl(fd, request, arg);

	return ret < 0 ? -errno : ret;
}

/* For ioctls whose non-negative result carries nothing: 0 or -errno. */
static int axvm_ioctl0(int fd, unsigned long request, void *arg)
{
	int ret = axvm_ioctl(fd, request, arg);

	return ret < 0 ? ret : 0;
}

#define AXVM_INIT_HDR(s)			\
	do {					\
		(s)->size = sizeof(*(s));	\
		(s)->flags = 0;			\
	} while (0)

/* ------------------------------------------------------------------ */
/* System                                                              */
/* ------------------------------------------------------------------ */

int axvm_open(void)
{
	int fd = open(AXVM_DEV_PATH, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int axvm_get_api_version(int sys_fd)
{
	return axvm_ioctl(sys_fd, AXVM_GET_API_VERSION, NULL);
}

int axvm_get_caps(int sys_fd, struct axvm_caps *caps)
{
	memset(caps, 0, sizeof(*caps));
	AXVM_INIT_HDR(caps);
	return axvm_ioctl0(sys_fd, AXVM_GET_CAPS, caps);
}

/* ------------------------------------------------------------------ */
/* VMs                                                                 */
/* ------------------------------------------------------------------ */

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int axvm_vm_create(struct axvm_vm *vm)
{
	struct axvm_create_vm create;
	int ret;

	vm->fd = -1;
	vm->id = 0;
	vm->sys_fd = axvm_open();
	if (vm->sys_fd < 0)
		return vm->sys_fd;

	memset(&create, 0, sizeof(create));
	AXVM_INIT_HDR(&create);
	ret = axvm_ioctl(vm->sys_fd, AXVM_CREATE_VM, &create);
	if (ret < 0) {
		close_fd(&vm->sys_fd);
		return ret;
	}
	vm->fd = ret;
	vm->id = create.vm_id;
	return 0;
}

/* Safe on a VM whose creation failed, and idempotent. */
void axvm_vm_destroy(struct axvm_vm *vm)
{
	close_fd(&vm->fd);
	close_fd(&vm->sys_fd);
}

int axvm_vm_add_memory_region(struct axvm_vm *vm, uint64_t gpa,
			      uint64_t size, uint32_t flags,
			      uint64_t *mmap_offset)
{
	struct axvm_memory_region region;
	int ret;

	memset(&region, 0, sizeof(region));
	region.size = sizeof(region);
	region.flags = flags;
	region.gpa = gpa;
	region.mem_size = size;
	ret = axvm_ioctl(vm->fd, AXVM_ADD_MEMORY_REGION, &region);
	if (ret < 0)
		return ret;
	if (mmap_offset)
		*mmap_offset = region.mmap_offset;
	return 0;
}

/*
 * AXVM_ADD_DEVICE. Returns the device's fd (O_RDWR | O_CLOEXEC) or
 * -errno. len 0 means the type's size; *len_out (may be NULL) gets the
 * size the kernel chose.
 */
/* AXVM_ADD_DEVICE with these fields; dev gets what the kernel wrote. */
static int add_device(struct axvm_vm *vm, uint32_t type, uint32_t space,
		      uint64_t base, uint64_t len, uint32_t irq,
		      uint32_t flags, struct axvm_device *dev)
{
	memset(dev, 0, sizeof(*dev));
	AXVM_INIT_HDR(dev);
	dev->flags = flags;
	dev->type = type;
	dev->space = space;
	dev->base = base;
	dev->len = len;
	dev->irq = irq;
	dev->fd = -1;
	return axvm_ioctl(vm->fd, AXVM_ADD_DEVICE, dev);
}

int axvm_vm_add_device(struct axvm_vm *vm, uint32_t type, uint32_t space,
		       uint64_t base, uint64_t len, uint32_t irq,
		       uint64_t *len_out)
{
	struct axvm_device dev;
	int ret = add_device(vm, type, space, base, len, irq, 0, &dev);

	if (ret >= 0 && len_out)
		*len_out = dev.len;
	return ret;
}

int axvm_vm_add_device_flags(struct axvm_vm *vm, uint32_t type,
			     uint32_t space, uint64_t base, uint64_t len,
			     uint32_t irq, uint32_t flags, int *fd)
{
	struct axvm_device dev;
	int ret = add_device(vm, type, space, base, len, irq, flags, &dev);

	if (ret < 0)
		return ret;
	if (fd)
		*fd = dev.fd;
	return 0;
}

int axvm_vm_set_irq_line(struct axvm_vm *vm, uint32_t pin, uint32_t level)
{
	struct axvm_irq_line line;

	memset(&line, 0, sizeof(line));
	AXVM_INIT_HDR(&line);
	line.pin = pin;
	line.level = level;
	return axvm_ioctl0(vm->fd, AXVM_SET_IRQ_LINE, &line);
}

int axvm_vm_get_stats(struct axvm_vm *vm, struct axvm_stats *stats)
{
	memset(stats, 0, sizeof(*stats));
	AXVM_INIT_HDR(stats);
	return axvm_ioctl0(vm->fd, AXVM_GET_STATS, stats);
}

int axvm_vm_add_memory(struct axvm_vm *vm, uint64_t gpa, uint64_t size,
		       uint32_t flags, struct axvm_mem *mem)
{
	uint64_t mmap_offset;
	void *hva;
	int ret;

	memset(mem, 0, sizeof(*mem));
	ret = axvm_vm_add_memory_region(vm, gpa, size, flags, &mmap_offset);
	if (ret < 0)
		return ret;

	/*
	 * The region stays in the VM if mmap() fails: the ABI has no way
	 * to remove one. The caller can still reach it via AXVM_READ/
	 * WRITE_GUEST, so report the failure with the region described.
	 */
	mem->gpa = gpa;
	mem->size = size;
	mem->flags = flags;
	hva = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->fd,
		   (off_t)mmap_offset);
	if (hva == MAP_FAILED)
		return -errno;
	mem->hva = hva;
	return 0;
}

void axvm_mem_unmap(struct axvm_mem *mem)
{
	if (mem->hva)
		munmap(mem->hva, mem->size);
	mem->hva = NULL;
}

int axvm_vm_finalize(struct axvm_vm *vm)
{
	return axvm_ioctl0(vm->fd, AXVM_FINALIZE, NULL);
}

int axvm_vm_boot(struct axvm_vm *vm)
{
	return axvm_ioctl0(vm->fd, AXVM_BOOT, NULL);
}

int axvm_vm_shutdown(struct axvm_vm *vm)
{
	return axvm_ioctl0(vm->fd, AXVM_SHUTDOWN, NULL);
}

int axvm_vm_status(struct axvm_vm *vm, struct axvm_vm_status *st)
{
	memset(st, 0, sizeof(*st));
	AXVM_INIT_HDR(st);
	return axvm_ioctl0(vm->fd, AXVM_GET_VM_STATUS, st);
}

static int axvm_vm_rw(struct axvm_vm *vm, unsigned long request,
		      uint64_t gpa, const void *buf, size_t len)
{
	struct axvm_guest_memory gm;

	memset(&gm, 0, sizeof(gm));
	AXVM_INIT_HDR(&gm);
	gm.gpa = gpa;
	gm.len = len;
	gm.buf = (uint64_t)(uintptr_t)buf;
	return axvm_ioctl0(vm->fd, request, &gm);
}

int axvm_vm_read(struct axvm_vm *vm, uint64_t gpa, void *buf, size_t len)
{
	return axvm_vm_rw(vm, AXVM_READ_GUEST, gpa, buf, len);
}

int axvm_vm_write(struct axvm_vm *vm, uint64_t gpa, const void *buf,
		  size_t len)
{
	return axvm_vm_rw(vm, AXVM_WRITE_GUEST, gpa, buf, len);
}

/* ------------------------------------------------------------------ */
/* vCPUs                                                               */
/* ------------------------------------------------------------------ */

/*
 * The run struct is as big as the kernel says (caps.run_size), never
 * smaller than the struct this library reads: a smaller one means the
 * module and the header disagree, which no caller can work around.
 */
static int axvm_vcpu_map_run(struct axvm_vm *vm, struct axvm_vcpu *vcpu)
{
	struct axvm_caps caps;
	void *run;
	int ret;

	ret = axvm_get_caps(vm->sys_fd, &caps);
	if (ret < 0)
		return ret;
	if (caps.run_size < sizeof(struct axvm_run))
		return -EPROTO;

	run = mmap(NULL, caps.run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   vcpu->fd, 0);
	if (run == MAP_FAILED)
		return -errno;
	vcpu->run = run;
	vcpu->run_size = caps.run_size;
	return 0;
}

int axvm_vcpu_create(struct axvm_vm *vm, uint32_t id, struct axvm_vcpu *vcpu)
{
	struct axvm_create_vcpu create;
	int ret;

	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->fd = -1;
	vcpu->id = id;

	memset(&create, 0, sizeof(create));
	AXVM_INIT_HDR(&create);
	create.vcpu_id = id;
	ret = axvm_ioctl(vm->fd, AXVM_CREATE_VCPU, &create);
	if (ret < 0)
		return ret;
	vcpu->fd = ret;

	ret = axvm_vcpu_map_run(vm, vcpu);
	if (ret < 0)
		close_fd(&vcpu->fd);
	return ret;
}

/* Safe on a vCPU whose creation failed, and idempotent. */
void axvm_vcpu_destroy(struct axvm_vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	vcpu->run = NULL;
	vcpu->run_size = 0;
	close_fd(&vcpu->fd);
}

/*
 * -EINTR means a signal is pending; run->exit_reason is then
 * AXVM_EXIT_INTR. The caller decides whether to run again.
 */
int axvm_vcpu_run(struct axvm_vcpu *vcpu)
{
	return axvm_ioctl0(vcpu->fd, AXVM_RUN, NULL);
}

int axvm_vcpu_get_regs(struct axvm_vcpu *vcpu, struct axvm_regs *regs)
{
	memset(regs, 0, sizeof(*regs));
	AXVM_INIT_HDR(regs);
	return axvm_ioctl0(vcpu->fd, AXVM_GET_REGS, regs);
}

int axvm_vcpu_set_regs(struct axvm_vcpu *vcpu, struct axvm_regs *regs)
{
	AXVM_INIT_HDR(regs);
	return axvm_ioctl0(vcpu->fd, AXVM_SET_REGS, regs);
}

int axvm_vcpu_get_sregs(struct axvm_vcpu *vcpu, struct axvm_sregs *sregs)
{
	memset(sregs, 0, sizeof(*sregs));
	AXVM_INIT_HDR(sregs);
	return axvm_ioctl0(vcpu->fd, AXVM_GET_SREGS, sregs);
}

int axvm_vcpu_set_sregs(struct axvm_vcpu *vcpu, struct axvm_sregs *sregs)
{
	AXVM_INIT_HDR(sregs);
	return axvm_ioctl0(vcpu->fd, AXVM_SET_SREGS, sregs);
}
