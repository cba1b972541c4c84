// SPDX-License-Identifier: GPL-2.0
/*
 * The emulated I/O APIC (Intel 82093AA datasheet; version 0x20 adds the
 * EOI register at 0x40, as in ICH and later chipsets): 24 input pins,
 * each with a 64-bit redirection entry that turns a pin into an
 * interrupt message for the local APICs (lapic.c).
 *
 * Pins are driven by in-kernel devices (the UART, with
 * AXVM_DEVICE_IRQ_LINE) and by AXVM_SET_IRQ_LINE from userspace. An
 * edge-triggered entry sends a message on each 0 -> 1 transition; a
 * level-triggered one sends while the pin is high and Remote IRR is
 * clear, sets Remote IRR, and waits for the local APIC's EOI of that
 * vector (x86_ioapic_eoi()) or a write to the EOI register.
 *
 * One spinlock covers the registers and pin levels; it is taken from
 * vCPU threads (MMIO, EOI), device fds and ioctls, never from hard
 * interrupt context. Delivery under the lock only sets bits and kicks.
 */
#include <linux/slab.h>
#include <linux/spinlock.h>
#include "axvm.h"
#include "lapic.h"

#define IOAPIC_REG_SELECT	0x00
#define IOAPIC_REG_WINDOW	0x10
#define IOAPIC_REG_EOI		0x40
#define IOAPIC_ID		0x00
#define IOAPIC_VERSION		0x01
#define IOAPIC_ARB		0x02
#define IOAPIC_REDIR_FIRST	0x10
#define IOAPIC_VERSION_VALUE	(((AXVM_IOAPIC_PINS - 1) << 16) | 0x20)

#define REDIR_MASKED		BIT_ULL(16)
#define REDIR_LEVEL		BIT_ULL(15)
#define REDIR_REMOTE_IRR	BIT_ULL(14)
#define REDIR_DELIV_STATUS	BIT_ULL(12)
#define REDIR_DEST_LOGICAL	BIT_ULL(11)
/* What the guest may write: all but delivery status and Remote IRR. */
#define REDIR_WRITABLE		(~(REDIR_REMOTE_IRR | REDIR_DELIV_STATUS) & \
				 (GENMASK_ULL(16, 0) | GENMASK_ULL(63, 56)))

struct axvm_ioapic {
	struct axvm_io_dev dev;
	struct axvm_vm *vm;
	spinlock_t lock;
	u32 select;
	u32 id;
	u64 redir[AXVM_IOAPIC_PINS];
	DECLARE_BITMAP(level, AXVM_IOAPIC_PINS);	/* pin inputs */
	u64 deliveries;
};

static struct axvm_ioapic *to_ioapic(struct axvm_io_dev *dev)
{
	return container_of(dev, struct axvm_ioapic, dev);
}

/* The VM's I/O APIC, once bus.c has placed it (vm->ioapic), or NULL. */
static struct axvm_ioapic *vm_ioapic(struct axvm_vm *vm)
{
	struct axvm_io_dev *dev = READ_ONCE(vm->ioapic);

	return dev ? to_ioapic(dev) : NULL;
}

/* Sends pin's message; lock held. */
static void ioapic_deliver(struct axvm_ioapic *io, u32 pin)
{
	u64 e = io->redir[pin];
	struct x86_apic_msg m = {
		.vector = e & 0xff,
		.delivery = (e >> 8) & 7,
		.dest_logical = e & REDIR_DEST_LOGICAL,
		.dest = e >> 56,
		.level_trigger = e & REDIR_LEVEL,
	};

	if (e & REDIR_MASKED)
		return;
	if (e & REDIR_LEVEL)
		io->redir[pin] |= REDIR_REMOTE_IRR;
	io->deliveries++;
	x86_apic_deliver(io->vm, NULL, &m);
}

int x86_ioapic_set_irq(struct axvm_vm *vm, u32 pin, int level)
{
	struct axvm_ioapic *io = vm_ioapic(vm);
	unsigned long flags;
	bool was;

	if (!io)
		return -ENODEV;
	if (pin >= AXVM_IOAPIC_PINS)
		return -EINVAL;
	spin_lock_irqsave(&io->lock, flags);
	was = test_bit(pin, io->level);
	if (level)
		__set_bit(pin, io->level);
	else
		__clear_bit(pin, io->level);
	if (level && (io->redir[pin] & REDIR_LEVEL ?
		      !(io->redir[pin] & REDIR_REMOTE_IRR) : !was))
		ioapic_deliver(io, pin);
	spin_unlock_irqrestore(&io->lock, flags);
	return 0;
}

/* EOI of `vector`: level entries waiting for it may fire again. Lock held. */
static void ioapic_eoi_locked(struct axvm_ioapic *io, u8 vector)
{
	u32 pin;

	for (pin = 0; pin < AXVM_IOAPIC_PINS; pin++) {
		u64 *e = &io->redir[pin];

		if ((*e & 0xff) != vector || !(*e & REDIR_REMOTE_IRR))
			continue;
		*e &= ~REDIR_REMOTE_IRR;
		if (test_bit(pin, io->level))
			ioapic_deliver(io, pin);
	}
}

void x86_ioapic_eoi(struct axvm_vm *vm, u8 vector)
{
	struct axvm_ioapic *io = vm_ioapic(vm);
	unsigned long flags;

	if (!io)
		return;
	spin_lock_irqsave(&io->lock, flags);
	ioapic_eoi_locked(io, vector);
	spin_unlock_irqrestore(&io->lock, flags);
}

/* The register behind IOWIN; lock held. */
static u32 ioapic_read_indirect(struct axvm_ioapic *io)
{
	u32 reg = io->select, pin;

	switch (reg) {
	case IOAPIC_ID:
	case IOAPIC_ARB:
		return io->id << 24;
	case IOAPIC_VERSION:
		return IOAPIC_VERSION_VALUE;
	}
	pin = (reg - IOAPIC_REDIR_FIRST) / 2;
	if (reg < IOAPIC_REDIR_FIRST || pin >= AXVM_IOAPIC_PINS)
		return 0;
	return reg & 1 ? io->redir[pin] >> 32 : (u32)io->redir[pin];
}

static void ioapic_write_indirect(struct axvm_ioapic *io, u32 val)
{
	u32 reg = io->select, pin;
	u64 e;

	if (reg == IOAPIC_ID) {
		io->id = (val >> 24) & 0xf;
		return;
	}
	pin = (reg - IOAPIC_REDIR_FIRST) / 2;
	if (reg < IOAPIC_REDIR_FIRST || pin >= AXVM_IOAPIC_PINS)
		return;
	e = io->redir[pin];
	if (reg & 1)
		e = (e & U32_MAX) | ((u64)val << 32);
	else
		e = (e & ~(u64)U32_MAX) | val;
	io->redir[pin] = (io->redir[pin] & ~REDIR_WRITABLE) |
			 (e & REDIR_WRITABLE);
	if (!(io->redir[pin] & REDIR_LEVEL))
		io->redir[pin] &= ~REDIR_REMOTE_IRR;
	/* Unmasking a level entry whose pin is high delivers it now. */
	if ((io->redir[pin] & REDIR_LEVEL) && test_bit(pin, io->level) &&
	    !(io->redir[pin] & REDIR_REMOTE_IRR))
		ioapic_deliver(io, pin);
}

static int ioapic_read(struct axvm_io_dev *dev, struct axvm_vcpu *vcpu,
		       u64 offset, unsigned int width, u64 *val)
{
	struct axvm_ioapic *io = to_ioapic(dev);
	unsigned long flags;

	*val = 0;
	if (width != 4)
		return 0;	/* only dword accesses are defined */
	spin_lock_irqsave(&io->lock, flags);
	if (offset == IOAPIC_REG_SELECT)
		*val = io->select;
	else if (offset == IOAPIC_REG_WINDOW)
		*val = ioapic_read_indirect(io);
	spin_unlock_irqrestore(&io->lock, flags);
	return 0;
}

static int ioapic_write(struct axvm_io_dev *dev, struct axvm_vcpu *vcpu,
			u64 offset, unsigned int width, u64 val)
{
	struct axvm_ioapic *io = to_ioapic(dev);
	unsigned long flags;

	if (width != 4)
		return 0;
	spin_lock_irqsave(&io->lock, flags);
	if (offset == IOAPIC_REG_SELECT)
		io->select = val & 0xff;
	else if (offset == IOAPIC_REG_WINDOW)
		ioapic_write_indirect(io, val);
	else if (offset == IOAPIC_REG_EOI)
		ioapic_eoi_locked(io, val & 0xff);
	spin_unlock_irqrestore(&io->lock, flags);
	return 0;
}

static void ioapic_destroy(struct axvm_io_dev *dev)
{
	struct axvm_ioapic *io = to_ioapic(dev);

	if (io->vm && io->vm->ioapic == dev)
		io->vm->ioapic = NULL;
	kfree(io);
}

/*
 * Power-on: ID 0, every entry masked, edge, vector 0, Remote IRR clear
 * (82093AA, 3.2.4). The input pins keep their levels: what drives them
 * (the UART, AXVM_SET_IRQ_LINE) is not reset with the chip.
 */
static void ioapic_power_on(struct axvm_ioapic *io)
{
	u32 pin;

	io->select = 0;
	io->id = 0;
	for (pin = 0; pin < AXVM_IOAPIC_PINS; pin++)
		io->redir[pin] = REDIR_MASKED;
}

static void ioapic_reset(struct axvm_io_dev *dev)
{
	struct axvm_ioapic *io = to_ioapic(dev);
	unsigned long flags;

	spin_lock_irqsave(&io->lock, flags);
	ioapic_power_on(io);
	spin_unlock_irqrestore(&io->lock, flags);
}

static const struct axvm_io_dev_ops ioapic_ops = {
	.read = ioapic_read,
	.write = ioapic_write,
	.reset = ioapic_reset,
	.destroy = ioapic_destroy,
};

struct axvm_io_dev *x86_ioapic_device_create(struct axvm_vm *vm)
{
	struct axvm_ioapic *io = kzalloc(sizeof(*io), GFP_KERNEL_ACCOUNT);

	if (!io)
		return ERR_PTR(-ENOMEM);
	io->vm = vm;
	spin_lock_init(&io->lock);
	ioapic_power_on(io);
	io->dev.ops = &ioapic_ops;
	return &io->dev;
}
