/* SPDX-License-Identifier: GPL-2.0 */
/*
 * axvm: the in-kernel 16550A UART (uart16550.c), as bus.c sees it.
 */
#ifndef AXVM_UART16550_H
#define AXVM_UART16550_H

#include "axvm.h"

struct file;

/* Eight byte-wide registers, on eight ports or eight bytes of MMIO. */
#define AXVM_UART16550_LEN	8

/*
 * A UART in its power-on state, not yet on a bus, with one reference
 * (the caller's, handed to the bus by axvm_bus_register(); drop it with
 * dev->ops->destroy() if registration fails). irq: vector raised on
 * vCPU 0, 0 for none; with irq_line, the interrupt controller pin it
 * pulses instead. The UART keeps a plain pointer to vm, cleared by
 * destroy(): it never holds a reference on the VM beyond one interrupt
 * injection.
 */
struct axvm_io_dev *axvm_uart16550_create(struct axvm_vm *vm, u32 irq,
					  bool irq_line);
/* The UART's fd file (not installed); it holds its own reference. */
struct file *axvm_uart16550_get_file(struct axvm_io_dev *dev);

#endif /* AXVM_UART16550_H */
