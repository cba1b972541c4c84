// SPDX-License-Identifier: GPL-2.0
/*
 * axvm: the in-kernel device bus (the seed's AxVmDevices) and
 * AXVM_ADD_DEVICE.
 *
 * Each VM has one bus per address space (vm->buses[AXVM_DEV_SPACE_PIO]
 * and [AXVM_DEV_SPACE_MMIO]): an array of at most AXVM_MAX_DEVICES
 * devices, sorted by base and pairwise disjoint, searched by bisection.
 * The run loop offers every IO and MMIO exit to axvm_bus_handle_exit()
 * before it would return to userspace; a device that covers the whole
 * access performs it and the exit never leaves the kernel.
 *
 * Devices are added only in LOADING, under vm->lock, and removed only
 * when the VM is freed (axvm_bus_destroy()). vCPUs run only in RUNNING,
 * so the run loop reads the buses without a lock, as it does regions[].
 *
 * Documentation/devices.md describes the bus and the devices.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/uaccess.h>
#include "axvm.h"
#include "devices/uart16550.h"

#define AXVM_PIO_LIMIT		0x10000ULL	/* ports 0 - 0xffff */

/* Index of the first device whose base is above addr (0 .. nr). */
static unsigned int axvm_bus_upper_bound(const struct axvm_bus *bus, u64 addr)
{
	unsigned int lo = 0, hi = bus->nr;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (bus->devs[mid]->base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The device that holds all of [addr, addr + len), or NULL. Devices are
 * disjoint, so only the last one starting at or below addr can.
 */
static struct axvm_io_dev *axvm_bus_find(const struct axvm_bus *bus,
					 u64 addr, u64 len)
{
	unsigned int pos = axvm_bus_upper_bound(bus, addr);
	struct axvm_io_dev *dev;
	u64 off;

	if (!pos)
		return NULL;
	dev = bus->devs[pos - 1];
	off = addr - dev->base;
	if (off >= dev->len || len > dev->len - off)
		return NULL;	/* past it, or straddling its end */
	return dev;
}

/* Does any device in `space` meet [base, base + len)? vm->lock held. */
bool axvm_bus_overlaps(struct axvm_vm *vm, u32 space, u64 base, u64 len)
{
	const struct axvm_bus *bus = &vm->buses[space];
	unsigned int i;

	lockdep_assert_held(&vm->lock);
	for (i = 0; i < bus->nr; i++)
		if (base < bus->devs[i]->base + bus->devs[i]->len &&
		    bus->devs[i]->base < base + len)
			return true;
	return false;
}

int axvm_bus_register(struct axvm_vm *vm, struct axvm_io_dev *dev)
{
	struct axvm_bus *bus;
	unsigned int pos;

	lockdep_assert_held(&vm->lock);
	if (vm->state != AXVM_VM_LOADING)
		return -EBUSY;
	if (dev->space >= ARRAY_SIZE(vm->buses) || !dev->len ||
	    dev->len - 1 > U64_MAX - dev->base)
		return -EINVAL;
	bus = &vm->buses[dev->space];
	if (bus->nr == AXVM_MAX_DEVICES)
		return -ENOSPC;
	pos = axvm_bus_upper_bound(bus, dev->base);
	/* Sorted and disjoint: only the two neighbours can overlap. */
	if (pos > 0 && dev->base - bus->devs[pos - 1]->base <
		       bus->devs[pos - 1]->len)
		return -EEXIST;
	if (pos < bus->nr && bus->devs[pos]->base - dev->base < dev->len)
		return -EEXIST;
	memmove(&bus->devs[pos + 1], &bus->devs[pos],
		(bus->nr - pos) * sizeof(bus->devs[0]));
	bus->devs[pos] = dev;
	bus->nr++;
	return 0;
}

/* Undoes axvm_bus_register() while no vCPU can be looking (LOADING). */
static void axvm_bus_unregister(struct axvm_vm *vm, struct axvm_io_dev *dev)
{
	struct axvm_bus *bus = &vm->buses[dev->space];
	unsigned int pos;

	lockdep_assert_held(&vm->lock);
	for (pos = 0; pos < bus->nr; pos++) {
		if (bus->devs[pos] != dev)
			continue;
		bus->nr--;
		memmove(&bus->devs[pos], &bus->devs[pos + 1],
			(bus->nr - pos) * sizeof(bus->devs[0]));
		bus->devs[bus->nr] = NULL;
		return;
	}
}

bool axvm_bus_handle_exit(struct axvm_vcpu *vcpu)
{
	struct axvm_run *run = vcpu->run;
	const struct axvm_bus *bus;
	struct axvm_io_dev *dev;
	unsigned int width;
	enum axvm_stat stat;
	u64 addr, mask, val;
	__u64 *data;
	bool write;
	int ret;

	/*
	 * run is shared with userspace: read each field once, and trust
	 * none of them beyond what the lookup checks.
	 */
	switch (READ_ONCE(run->exit_reason)) {
	case AXVM_EXIT_IO:
		bus = &vcpu->vm->buses[AXVM_DEV_SPACE_PIO];
		addr = READ_ONCE(run->io.port);
		width = READ_ONCE(run->io.width);
		write = READ_ONCE(run->io.direction) == AXVM_IO_OUT;
		data = &run->io.data;
		stat = AXVM_STAT_DEVICE_IO;
		break;
	case AXVM_EXIT_MMIO:
		bus = &vcpu->vm->buses[AXVM_DEV_SPACE_MMIO];
		addr = READ_ONCE(run->mmio.gpa);
		width = READ_ONCE(run->mmio.width);
		write = READ_ONCE(run->mmio.is_write);
		data = &run->mmio.data;
		stat = AXVM_STAT_DEVICE_MMIO;
		break;
	default:
		return false;
	}
	if (!bus->nr)
		return false;
	if (width != 1 && width != 2 && width != 4 && width != 8)
		return false;
	dev = axvm_bus_find(bus, addr, width);
	if (!dev)
		return false;

	mask = width == 8 ? ~0ULL : (1ULL << (8 * width)) - 1;
	if (write) {
		ret = dev->ops->write(dev, vcpu, addr - dev->base, width,
				      READ_ONCE(*data) & mask);
	} else {
		val = 0;
		ret = dev->ops->read(dev, vcpu, addr - dev->base, width, &val);
		if (!ret)
			WRITE_ONCE(*data, val & mask);
	}
	if (ret)
		return false;	/* let userspace see it */
	axvm_stat_inc(vcpu, stat);
	return true;
}

/* AXVM_RESET: every device that has a power-on state; vm->lock held. */
void axvm_bus_reset(struct axvm_vm *vm)
{
	unsigned int space, i;

	for (space = 0; space < ARRAY_SIZE(vm->buses); space++) {
		struct axvm_bus *bus = &vm->buses[space];

		for (i = 0; i < bus->nr; i++)
			if (bus->devs[i]->ops->reset)
				bus->devs[i]->ops->reset(bus->devs[i]);
	}
}

void axvm_bus_destroy(struct axvm_vm *vm)
{
	unsigned int space, i;

	for (space = 0; space < ARRAY_SIZE(vm->buses); space++) {
		struct axvm_bus *bus = &vm->buses[space];

		for (i = 0; i < bus->nr; i++) {
			bus->devs[i]->ops->destroy(bus->devs[i]);
			bus->devs[i] = NULL;
		}
		bus->nr = 0;
	}
}

/* Puts dev on its bus; vm->lock held. */
static int axvm_bus_place(struct axvm_vm *vm, struct axvm_io_dev *dev)
{
	bool clear;
	int ret;

	lockdep_assert_held(&vm->lock);
	if (vm->state != AXVM_VM_LOADING)
		return -EBUSY;
	if (dev->space == AXVM_DEV_SPACE_MMIO) {
		mutex_lock(&vm->mmu_lock);
		clear = axvm_range_is_free_of_regions(vm, dev->base, dev->len) &&
		       !axvm_passthrough_overlaps(vm, dev->base, dev->len);
		mutex_unlock(&vm->mmu_lock);
		if (!clear) {
			axvm_err_ratelimited("ADD_DEVICE: base 0x%llx len 0x%llx overlaps guest memory or a passthrough range\n",
					     dev->base, dev->len);
			return -EEXIST;
		}
	}
	ret = axvm_bus_register(vm, dev);
	if (ret == -EEXIST)
		axvm_err_ratelimited("ADD_DEVICE: base 0x%llx len 0x%llx overlaps another device\n",
				     dev->base, dev->len);
	else if (ret == -ENOSPC)
		axvm_err_ratelimited("ADD_DEVICE: the VM has %u devices in this space already\n",
				     AXVM_MAX_DEVICES);
	return ret;
}

/* The interrupt controllers: MMIO only, no irq, at most one each. */
static int axvm_irqchip_check(struct axvm_vm *vm, struct axvm_device *args)
{
	bool present = args->type == AXVM_DEV_IOAPIC ? !!vm->ioapic :
						       vm->has_lapic;

	if (!axvm_arch->device_create) {
		axvm_err_ratelimited("ADD_DEVICE: type %u needs an x86 backend\n",
				     args->type);
		return -EOPNOTSUPP;
	}
	if (args->space != AXVM_DEV_SPACE_MMIO || args->irq ||
	    args->flags) {
		axvm_err_ratelimited("ADD_DEVICE: type %u is MMIO, with no irq or flags\n",
				     args->type);
		return -EINVAL;
	}
	if (args->type == AXVM_DEV_LAPIC &&
	    args->base != AXVM_LAPIC_DEFAULT_BASE) {
		axvm_err_ratelimited("ADD_DEVICE: the local APIC lives at 0x%llx, not 0x%llx\n",
				     AXVM_LAPIC_DEFAULT_BASE, args->base);
		return -EINVAL;
	}
	if (present) {
		axvm_err_ratelimited("ADD_DEVICE: the VM has a type %u device already\n",
				     args->type);
		return -EEXIST;
	}
	return 0;
}

static int axvm_uart_irq_check(struct axvm_vm *vm, struct axvm_device *args)
{
	if (args->flags & AXVM_DEVICE_IRQ_LINE) {
		if (!vm->ioapic) {
			axvm_err_ratelimited("ADD_DEVICE: AXVM_DEVICE_IRQ_LINE needs an I/O APIC first\n");
			return -ENODEV;
		}
		if (args->irq >= AXVM_IOAPIC_PINS) {
			axvm_err_ratelimited("ADD_DEVICE: irq %u is not an I/O APIC pin\n",
					     args->irq);
			return -EINVAL;
		}
		return 0;
	}
	if (args->irq && (args->irq < 32 || args->irq > 255)) {
		axvm_err_ratelimited("ADD_DEVICE: irq %u is not a vector 32-255\n",
				     args->irq);
		return -EINVAL;
	}
	return 0;
}

/* Field checks, before anything is allocated. */
static int axvm_device_check(struct axvm_vm *vm, struct axvm_device *args)
{
	u64 limit, def_len;
	int ret;

	if ((args->flags & ~AXVM_DEVICE_IRQ_LINE) ||
	    !axvm_mem_is_zero(args->reserved, sizeof(args->reserved))) {
		axvm_err_ratelimited("ADD_DEVICE: flags 0x%x or reserved[] not 0\n",
				     args->flags);
		return -EINVAL;
	}
	if (args->space != AXVM_DEV_SPACE_PIO &&
	    args->space != AXVM_DEV_SPACE_MMIO) {
		axvm_err_ratelimited("ADD_DEVICE: bad space %u\n", args->space);
		return -EINVAL;
	}
	switch (args->type) {
	case AXVM_DEV_UART16550:
		def_len = AXVM_UART16550_LEN;
		ret = axvm_uart_irq_check(vm, args);
		break;
	case AXVM_DEV_IOAPIC:
	case AXVM_DEV_LAPIC:
		def_len = PAGE_SIZE;
		ret = axvm_irqchip_check(vm, args);
		break;
	default:
		axvm_err_ratelimited("ADD_DEVICE: unknown type %u\n",
				     args->type);
		return -EOPNOTSUPP;
	}
	if (ret)
		return ret;
	if (!args->len)
		args->len = def_len;
	if (args->len != def_len) {
		axvm_err_ratelimited("ADD_DEVICE: len %llu, this type has %llu\n",
				     args->len, def_len);
		return -EINVAL;
	}
	limit = args->space == AXVM_DEV_SPACE_PIO ? AXVM_PIO_LIMIT :
						    vm->gpa_limit;
	if (args->base >= limit || args->len > limit - args->base) {
		axvm_err_ratelimited("ADD_DEVICE: base 0x%llx len 0x%llx beyond 0x%llx\n",
				     args->base, args->len, limit);
		return -ERANGE;
	}
	return 0;
}

/* Publishes (or, with on = false, withdraws) a placed controller. */
static void axvm_irqchip_publish(struct axvm_vm *vm, struct axvm_io_dev *dev,
				 u32 type, bool on)
{
	lockdep_assert_held(&vm->lock);
	if (type == AXVM_DEV_IOAPIC)
		WRITE_ONCE(vm->ioapic, on ? dev : NULL);
	else
		WRITE_ONCE(vm->has_lapic, on);
}

/* The I/O APIC and the local APICs: no fd, at most one of each. */
static long axvm_add_irqchip(struct axvm_vm *vm, struct axvm_device *args,
			     struct axvm_device __user *u)
{
	struct axvm_io_dev *dev;
	int ret;

	dev = axvm_arch->device_create(vm, args->type);
	if (IS_ERR(dev))
		return PTR_ERR(dev);
	dev->base = args->base;
	dev->len = args->len;
	dev->space = args->space;
	mutex_lock(&vm->lock);
	ret = axvm_irqchip_check(vm, args);	/* again, under the lock */
	if (!ret)
		ret = axvm_bus_place(vm, dev);
	if (!ret)
		axvm_irqchip_publish(vm, dev, args->type, true);
	mutex_unlock(&vm->lock);
	if (ret) {
		dev->ops->destroy(dev);
		return ret;
	}
	args->fd = -1;
	ret = axvm_copy_args_out(u, args, sizeof(*args));
	if (!ret)
		return 0;
	mutex_lock(&vm->lock);
	if (vm->state == AXVM_VM_LOADING) {	/* else it stays, see below */
		axvm_irqchip_publish(vm, dev, args->type, false);
		axvm_bus_unregister(vm, dev);
		dev->ops->destroy(dev);
	}
	mutex_unlock(&vm->lock);
	return ret;
}

long axvm_vm_ioctl_add_device(struct axvm_vm *vm, struct axvm_device __user *u)
{
	struct axvm_device args;
	struct axvm_io_dev *dev;
	struct file *file;
	int fd, ret;

	ret = axvm_copy_args(&args, sizeof(args), u);
	if (ret)
		return ret;
	ret = axvm_device_check(vm, &args);
	if (ret)
		return ret;
	if (args.type != AXVM_DEV_UART16550)
		return axvm_add_irqchip(vm, &args, u);

	dev = axvm_uart16550_create(vm, args.irq,
				    args.flags & AXVM_DEVICE_IRQ_LINE);
	if (IS_ERR(dev))
		return PTR_ERR(dev);
	dev->base = args.base;
	dev->len = args.len;
	dev->space = args.space;
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		ret = fd;
		goto err_dev;
	}
	file = axvm_uart16550_get_file(dev);
	if (IS_ERR(file)) {
		ret = PTR_ERR(file);
		goto err_fd;
	}

	mutex_lock(&vm->lock);
	ret = axvm_bus_place(vm, dev);
	mutex_unlock(&vm->lock);
	if (ret)
		goto err_file;

	/* No lock across user memory (it may be this VM's own mapping). */
	args.fd = fd;
	ret = axvm_copy_args_out(u, &args, sizeof(args));
	if (ret) {
		/*
		 * Still LOADING unless FINALIZE raced with us; if it did, the
		 * device stays on the bus without an fd (its output is
		 * discarded) until the VM goes.
		 */
		mutex_lock(&vm->lock);
		if (vm->state == AXVM_VM_LOADING) {
			axvm_bus_unregister(vm, dev);
			mutex_unlock(&vm->lock);
			goto err_file;
		}
		mutex_unlock(&vm->lock);
		fput(file);
		put_unused_fd(fd);
		return ret;
	}
	fd_install(fd, file);
	return fd;

err_file:
	fput(file);		/* drops the fd's reference on dev */
err_fd:
	put_unused_fd(fd);
err_dev:
	dev->ops->destroy(dev);	/* and the bus's, never taken */
	return ret;
}
