// SPDX-License-Identifier: GPL-2.0
/*
 * axvm: an emulated 16550A UART on the in-kernel device bus.
 *
 * The guest sees eight byte-wide registers (Documentation/devices.md has
 * the table); the host sees one file descriptor: read() returns what the
 * guest transmitted, write() is what the guest receives. No byte costs an
 * exit to userspace.
 *
 * Data paths:
 *
 *   guest THR write --> out (64 KiB kfifo) --> read() on the fd
 *   write() on the fd --> in (4 KiB kfifo, "the line") --> rx (the 16-byte
 *   receive FIFO, 1 byte with FIFOs off) --> guest RBR read
 *
 * Transmission is instantaneous, so THR is empty again as soon as it is
 * written: THRE and TEMT are 1, except while `out` is full. Then they
 * read 0 (a guest that polls LSR waits for the host to read, like a UART
 * held back by flow control), and a byte written anyway is dropped and
 * counted (tx_dropped in the fd's fdinfo). The guest never blocks the
 * host and the host never blocks the guest. Bytes move from `in` to `rx`
 * only while rx has room, so host input is never overrun; in loopback the
 * line is disconnected and THR feeds rx directly, overrunning it (LSR.OE)
 * as the hardware does.
 *
 * Interrupts: the IIR condition (line status, received data, THR empty,
 * modem status, each gated by IER) is the UART's INTR pin. A rising edge
 * of that pin injects `irq` into vCPU 0 with axvm_vm_inject_irq(), as an
 * edge-triggered ISA line would. Writing THR drops THRE and raises it
 * again at once (the character left instantly), which is an edge when
 * nothing else holds the pin high.
 *
 * Locking: u->lock (a spinlock, never taken in interrupt context) covers
 * the registers, the three FIFOs and u->vm. Guest accesses come from vCPU
 * threads (the bus, with vcpu->run_lock held), fd calls from any thread.
 * Nothing sleeps under it; user copies go through a stack buffer outside
 * it. read() and write() on the fd are each serialised by a mutex so that
 * peek-then-consume is safe.
 *
 * Lifetime: a kref, held by the VM's bus and by the fd. The UART holds no
 * reference on the VM: the VM may go away while the fd stays open. The
 * bus calls destroy() from the VM's free path, which clears u->vm under
 * u->lock; from then on read() drains what is left and then returns 0
 * (EOF), write() fails with EPIPE and poll() reports EPOLLHUP. An
 * injection takes a temporary VM reference (kref_get_unless_zero) under
 * u->lock and injects after unlocking.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kfifo.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/serial_reg.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include "axvm.h"
#include "uart16550.h"

#define UART_OUT_SIZE		(64 * 1024)	/* guest output for read() */
#define UART_IN_SIZE		4096		/* write() data not yet in rx */
#define UART_FIFO_SIZE		16		/* the 16550A's receive FIFO */
#define UART_IIR_FIFOS_ON	0xc0		/* IIR bits 7:6 with FCR.0 set */
#define UART_MCR_MASK		0x1f		/* DTR RTS OUT1 OUT2 LOOP */
#define UART_IER_MASK		0x0f		/* RDI THRI RLSI MSI */
/* Modem inputs of the virtual line: a terminal is always there. */
#define UART_MSR_LINE		(UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS)
#define UART_COPY_CHUNK		256

struct axvm_uart {
	struct axvm_io_dev dev;
	struct kref ref;		/* the bus's and the fd's */
	u32 irq;			/* vector, 0: none; or a pin: */
	bool irq_line;			/* irq is an interrupt controller pin */

	spinlock_t lock;		/* everything below, up to wq */
	struct axvm_vm *vm;		/* NULL once the VM is gone */
	bool fd_open;			/* someone can read out */
	u8 ier, lcr, mcr, fcr, scr, dll, dlm;
	u8 lsr_errors;			/* OE (PE FE BI never happen) */
	u8 msr_delta;			/* DDCD TERI DDSR DCTS */
	bool thri;			/* THR-empty interrupt pending */
	bool pin;			/* the INTR pin */
	bool edge;			/* rose since the lock was taken */
	DECLARE_KFIFO(rx, u8, UART_FIFO_SIZE);
	struct kfifo out;		/* guest -> host */
	struct kfifo in;		/* host -> rx */
	void *out_buf, *in_buf;
	u64 tx_bytes, tx_dropped, rx_bytes, rx_overruns, irqs;

	wait_queue_head_t wq;		/* readers, writers and pollers */
	struct mutex read_mutex;
	struct mutex write_mutex;
};

static inline struct axvm_uart *to_uart(struct axvm_io_dev *dev)
{
	return container_of(dev, struct axvm_uart, dev);
}

static void uart_free(struct kref *ref)
{
	struct axvm_uart *u = container_of(ref, struct axvm_uart, ref);

	kvfree(u->out_buf);
	kvfree(u->in_buf);
	kfree(u);
}

static void uart_put(struct axvm_uart *u)
{
	kref_put(&u->ref, uart_free);
}

/* --- register model, u->lock held ----------------------------------- */

static bool uart_loop(const struct axvm_uart *u)
{
	return u->mcr & UART_MCR_LOOP;
}

static bool uart_fifos_on(const struct axvm_uart *u)
{
	return u->fcr & UART_FCR_ENABLE_FIFO;
}

static unsigned int uart_rx_room(const struct axvm_uart *u)
{
	unsigned int cap = uart_fifos_on(u) ? UART_FIFO_SIZE : 1;

	return cap - min(cap, kfifo_len(&u->rx));
}

/* THR can take a byte: it leaves at once unless out is full. */
static bool uart_thr_empty(const struct axvm_uart *u)
{
	return uart_loop(u) || !u->fd_open || !kfifo_is_full(&u->out);
}

static u8 uart_rx_trigger(const struct axvm_uart *u)
{
	static const u8 levels[] = { 1, 4, 8, 14 };

	return levels[UART_FCR_R_TRIG_BITS(u->fcr)];
}

/* IIR bits 3:0, by the 16550's priorities. */
static u8 uart_iir_id(const struct axvm_uart *u)
{
	if ((u->ier & UART_IER_RLSI) && u->lsr_errors)
		return UART_IIR_RLSI;
	if ((u->ier & UART_IER_RDI) && !kfifo_is_empty(&u->rx)) {
		/* No timer: below the trigger level the timeout is at once. */
		if (uart_fifos_on(u) && kfifo_len(&u->rx) < uart_rx_trigger(u))
			return UART_IIR_RX_TIMEOUT;
		return UART_IIR_RDI;
	}
	if ((u->ier & UART_IER_THRI) && u->thri)
		return UART_IIR_THRI;
	if ((u->ier & UART_IER_MSI) && u->msr_delta)
		return UART_IIR_MSI;
	return UART_IIR_NO_INT;
}

/* Samples the INTR pin; a rising edge is injected at unlock. */
static void uart_update_irq(struct axvm_uart *u)
{
	bool pin = uart_iir_id(u) != UART_IIR_NO_INT;

	if (pin && !u->pin)
		u->edge = true;
	u->pin = pin;
}

/*
 * After something that may have filled or emptied THR (out filling up or
 * draining, loopback on or off, the fd closed): THRE rising is a THR-empty
 * interrupt, THRE falling withdraws one.
 */
static void uart_thr_changed(struct axvm_uart *u, bool was_empty)
{
	bool now = uart_thr_empty(u);

	if (now && !was_empty)
		u->thri = true;
	else if (!now)
		u->thri = false;
	uart_update_irq(u);
}

static void uart_lock(struct axvm_uart *u)
{
	spin_lock(&u->lock);
}

/*
 * Drops u->lock and raises the interrupt if the pin rose meanwhile. The
 * VM reference keeps the VM alive across the injection even when the
 * caller is an fd thread and the VM's last other reference goes now.
 */
static void uart_unlock(struct axvm_uart *u)
{
	struct axvm_vm *vm = NULL;

	if (u->edge) {
		u->edge = false;
		if ((u->irq || u->irq_line) && u->vm &&
		    kref_get_unless_zero(&u->vm->ref)) {
			vm = u->vm;
			u->irqs++;
		}
	}
	spin_unlock(&u->lock);
	if (vm && u->irq_line) {
		/* An edge on the pin: the controller takes it from there. */
		axvm_arch->set_irq_line(vm, u->irq, 1);
		axvm_arch->set_irq_line(vm, u->irq, 0);
		axvm_vm_put(vm);
	} else if (vm) {
		/* -ENOENT without a vCPU 0: nobody to interrupt. */
		axvm_vm_inject_irq(vm, 1, u->irq);
		axvm_vm_put(vm);
	}
}

/* Moves host input from the line into rx while rx has room. */
static void uart_rx_refill(struct axvm_uart *u)
{
	unsigned int n = 0;
	u8 c;

	if (uart_loop(u))
		return;		/* the line is disconnected in loopback */
	while (uart_rx_room(u) && kfifo_get(&u->in, &c)) {
		kfifo_put(&u->rx, c);
		n++;
	}
	if (n) {
		u->rx_bytes += n;
		wake_up_interruptible_poll(&u->wq, EPOLLOUT | EPOLLWRNORM);
	}
}

static u8 uart_msr_lines(const struct axvm_uart *u)
{
	u8 m = 0;

	if (!uart_loop(u))
		return UART_MSR_LINE;
	/* Loopback: the outputs drive the inputs. */
	if (u->mcr & UART_MCR_DTR)
		m |= UART_MSR_DSR;
	if (u->mcr & UART_MCR_RTS)
		m |= UART_MSR_CTS;
	if (u->mcr & UART_MCR_OUT1)
		m |= UART_MSR_RI;
	if (u->mcr & UART_MCR_OUT2)
		m |= UART_MSR_DCD;
	return m;
}

static void uart_transmit(struct axvm_uart *u, u8 c)
{
	u->thri = false;
	uart_update_irq(u);		/* the pin may drop ... */
	if (uart_loop(u)) {
		if (uart_rx_room(u)) {
			kfifo_put(&u->rx, c);
		} else {
			u->lsr_errors |= UART_LSR_OE;
			u->rx_overruns++;
		}
	} else if (!u->fd_open) {
		/* Nobody can ever read it: an unplugged line. */
	} else if (kfifo_put(&u->out, c)) {
		u->tx_bytes++;
		wake_up_interruptible_poll(&u->wq, EPOLLIN | EPOLLRDNORM);
	} else {
		u->tx_dropped++;	/* the guest ignored THRE */
	}
	if (uart_thr_empty(u))
		u->thri = true;
	uart_update_irq(u);		/* ... and rise again */
}

static void uart_write_mcr(struct axvm_uart *u, u8 val)
{
	u8 old = uart_msr_lines(u), new, changed;
	bool thr_was_empty = uart_thr_empty(u);

	u->mcr = val & UART_MCR_MASK;
	new = uart_msr_lines(u);
	changed = old ^ new;
	if (changed & UART_MSR_CTS)
		u->msr_delta |= UART_MSR_DCTS;
	if (changed & UART_MSR_DSR)
		u->msr_delta |= UART_MSR_DDSR;
	if (changed & UART_MSR_DCD)
		u->msr_delta |= UART_MSR_DDCD;
	if ((old & UART_MSR_RI) && !(new & UART_MSR_RI))
		u->msr_delta |= UART_MSR_TERI;
	/* Leaving loopback reconnects the line, and THR to out. */
	uart_rx_refill(u);
	uart_thr_changed(u, thr_was_empty);
}

static void uart_write_fcr(struct axvm_uart *u, u8 val)
{
	u8 fcr = 0;

	/* The other bits are only written together with FIFO enable. */
	if (val & UART_FCR_ENABLE_FIFO)
		fcr = val & (UART_FCR_ENABLE_FIFO | UART_FCR_DMA_SELECT |
			     UART_FCR_TRIGGER_MASK);
	/* Switching the FIFOs on or off clears them, as does CLEAR_RCVR. */
	if ((fcr ^ u->fcr) & UART_FCR_ENABLE_FIFO || val & UART_FCR_CLEAR_RCVR)
		kfifo_reset(&u->rx);
	u->fcr = fcr;
	/* CLEAR_XMIT: nothing waits in THR, transmission is instant. */
	uart_rx_refill(u);
}

static void uart_write_reg(struct axvm_uart *u, unsigned int reg, u8 val)
{
	bool dlab = u->lcr & UART_LCR_DLAB;

	switch (reg) {
	case UART_TX:
		if (dlab)
			u->dll = val;
		else
			uart_transmit(u, val);
		break;
	case UART_IER:
		if (dlab) {
			u->dlm = val;
			break;
		}
		/*
		 * Enabling the THR interrupt while THR is empty raises it,
		 * even if an IIR read had cleared it (Linux's 8250 driver
		 * and Windows rely on this).
		 */
		if ((val & ~u->ier) & UART_IER_THRI && uart_thr_empty(u))
			u->thri = true;
		u->ier = val & UART_IER_MASK;
		break;
	case UART_FCR:
		uart_write_fcr(u, val);
		break;
	case UART_LCR:
		u->lcr = val;
		break;
	case UART_MCR:
		uart_write_mcr(u, val);
		break;
	case UART_SCR:
		u->scr = val;
		break;
	default:
		break;		/* LSR and MSR are read-only */
	}
	uart_update_irq(u);
}

static u8 uart_read_reg(struct axvm_uart *u, unsigned int reg)
{
	bool dlab = u->lcr & UART_LCR_DLAB;
	u8 v = 0;

	switch (reg) {
	case UART_RX:
		if (dlab)
			return u->dll;
		if (kfifo_get(&u->rx, &v))
			uart_rx_refill(u);
		break;
	case UART_IER:
		return dlab ? u->dlm : u->ier;
	case UART_IIR:
		v = uart_iir_id(u);
		/* Reading IIR acknowledges a THR-empty interrupt it reports. */
		if (v == UART_IIR_THRI)
			u->thri = false;
		if (uart_fifos_on(u))
			v |= UART_IIR_FIFOS_ON;
		break;
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		v = u->lsr_errors;
		if (!kfifo_is_empty(&u->rx))
			v |= UART_LSR_DR;
		if (uart_thr_empty(u))
			v |= UART_LSR_THRE | UART_LSR_TEMT;
		u->lsr_errors = 0;
		break;
	case UART_MSR:
		v = uart_msr_lines(u) | u->msr_delta;
		u->msr_delta = 0;
		break;
	case UART_SCR:
		return u->scr;
	}
	uart_update_irq(u);
	return v;
}

/* --- bus ops (vCPU threads) ----------------------------------------- */

/*
 * A wider access is split into byte accesses at ascending offsets, as a
 * bus does for an 8-bit device; the bus never passes one that leaves the
 * device.
 */
static int uart_bus_read(struct axvm_io_dev *dev, struct axvm_vcpu *vcpu,
			 u64 offset, unsigned int width, u64 *val)
{
	struct axvm_uart *u = to_uart(dev);
	unsigned int i;
	u64 v = 0;

	if (offset >= AXVM_UART16550_LEN ||
	    width > AXVM_UART16550_LEN - offset)
		return -EINVAL;
	uart_lock(u);
	for (i = 0; i < width; i++)
		v |= (u64)uart_read_reg(u, offset + i) << (8 * i);
	uart_unlock(u);
	*val = v;
	return 0;
}

static int uart_bus_write(struct axvm_io_dev *dev, struct axvm_vcpu *vcpu,
			  u64 offset, unsigned int width, u64 val)
{
	struct axvm_uart *u = to_uart(dev);
	unsigned int i;

	if (offset >= AXVM_UART16550_LEN ||
	    width > AXVM_UART16550_LEN - offset)
		return -EINVAL;
	uart_lock(u);
	for (i = 0; i < width; i++)
		uart_write_reg(u, offset + i, val >> (8 * i));
	uart_unlock(u);
	return 0;
}

/*
 * AXVM_RESET: the registers as after the MR pin (16550D datasheet,
 * table IV: IER, FCR, LCR, MCR 0; LSR THRE and TEMT; no interrupt),
 * the receiver FIFO emptied. The divisor and scratch registers, which
 * the datasheet leaves undefined, go to 0 too. What the host wrote that
 * is still on the line (the fd's input) and the output not yet read
 * stay: they belong to the other end.
 */
static void uart_bus_reset(struct axvm_io_dev *dev)
{
	struct axvm_uart *u = to_uart(dev);

	uart_lock(u);
	u->ier = u->lcr = u->mcr = u->fcr = u->scr = u->dll = u->dlm = 0;
	u->lsr_errors = u->msr_delta = 0;
	u->thri = false;
	kfifo_reset(&u->rx);
	uart_rx_refill(u);
	uart_update_irq(u);
	uart_unlock(u);
}

/* The VM is being freed: forget it, wake everyone, drop the bus's ref. */
static void uart_bus_destroy(struct axvm_io_dev *dev)
{
	struct axvm_uart *u = to_uart(dev);

	uart_lock(u);
	u->vm = NULL;
	u->edge = false;
	spin_unlock(&u->lock);
	wake_up_interruptible_poll(&u->wq, EPOLLHUP | EPOLLIN | EPOLLOUT);
	uart_put(u);
}

static const struct axvm_io_dev_ops uart_bus_ops = {
	.read		= uart_bus_read,
	.write		= uart_bus_write,
	.reset		= uart_bus_reset,
	.destroy	= uart_bus_destroy,
};

/* --- the fd ---------------------------------------------------------- */

static bool uart_readable(struct axvm_uart *u)
{
	bool r;

	uart_lock(u);
	r = !kfifo_is_empty(&u->out) || !u->vm;
	spin_unlock(&u->lock);
	return r;
}

static bool uart_writable(struct axvm_uart *u)
{
	bool r;

	uart_lock(u);
	r = !kfifo_is_full(&u->in) || !u->vm;
	spin_unlock(&u->lock);
	return r;
}

/*
 * Guest output. Returns what is there (at most count bytes) without
 * waiting for more; with nothing there: 0 once the VM is gone, EAGAIN
 * with O_NONBLOCK, otherwise waits (interruptibly).
 */
static ssize_t uart_fd_read(struct file *file, char __user *buf,
			    size_t count, loff_t *ppos)
{
	struct axvm_uart *u = file->private_data;
	u8 kbuf[UART_COPY_CHUNK];
	bool gone, was_empty;
	ssize_t done = 0;
	unsigned int n;

	if (!count)
		return 0;
	if (mutex_lock_interruptible(&u->read_mutex))
		return -ERESTARTSYS;
	while (done < count) {
		uart_lock(u);
		n = kfifo_out_peek(&u->out, kbuf,
				   min_t(size_t, count - done, sizeof(kbuf)));
		gone = !u->vm;
		spin_unlock(&u->lock);
		if (!n) {
			if (done || gone)
				break;
			if (file->f_flags & O_NONBLOCK) {
				done = -EAGAIN;
				break;
			}
			if (wait_event_interruptible(u->wq, uart_readable(u))) {
				done = -ERESTARTSYS;
				break;
			}
			continue;
		}
		if (copy_to_user(buf + done, kbuf, n)) {
			if (!done)
				done = -EFAULT;
			break;		/* the bytes stay in the buffer */
		}
		uart_lock(u);
		was_empty = uart_thr_empty(u);
		/* Only readers consume, and they hold read_mutex. */
		n = kfifo_out(&u->out, kbuf, n);
		uart_thr_changed(u, was_empty);
		uart_unlock(u);
		done += n;
	}
	mutex_unlock(&u->read_mutex);
	return done;
}

/*
 * Guest input. Blocking writes take everything (waiting for the guest
 * to read); O_NONBLOCK writes take what fits, EAGAIN if nothing does.
 * EPIPE once the VM is gone.
 */
static ssize_t uart_fd_write(struct file *file, const char __user *buf,
			     size_t count, loff_t *ppos)
{
	struct axvm_uart *u = file->private_data;
	u8 kbuf[UART_COPY_CHUNK];
	ssize_t done = 0;
	unsigned int n;
	size_t chunk;
	bool gone;

	if (!count)
		return 0;
	if (mutex_lock_interruptible(&u->write_mutex))
		return -ERESTARTSYS;
	while (done < count) {
		chunk = min_t(size_t, count - done, sizeof(kbuf));
		if (copy_from_user(kbuf, buf + done, chunk)) {
			if (!done)
				done = -EFAULT;
			break;
		}
		uart_lock(u);
		gone = !u->vm;
		n = 0;
		if (!gone) {
			n = kfifo_in(&u->in, kbuf, chunk);
			uart_rx_refill(u);
			uart_update_irq(u);
		}
		uart_unlock(u);
		if (gone) {
			if (!done)
				done = -EPIPE;
			break;
		}
		done += n;
		if (n == chunk)
			continue;
		if (file->f_flags & O_NONBLOCK) {
			if (!done)
				done = -EAGAIN;
			break;
		}
		if (wait_event_interruptible(u->wq, uart_writable(u))) {
			if (!done)
				done = -ERESTARTSYS;
			break;
		}
	}
	mutex_unlock(&u->write_mutex);
	return done;
}

static __poll_t uart_fd_poll(struct file *file, poll_table *wait)
{
	struct axvm_uart *u = file->private_data;
	__poll_t mask = 0;

	poll_wait(file, &u->wq, wait);
	uart_lock(u);
	if (!kfifo_is_empty(&u->out))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (!u->vm)
		mask |= EPOLLHUP;
	else if (!kfifo_is_full(&u->in))
		mask |= EPOLLOUT | EPOLLWRNORM;
	spin_unlock(&u->lock);
	return mask;
}

static void uart_fd_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct axvm_uart *u = file->private_data;
	u64 tx, dropped, rx, overruns, irqs;
	unsigned int out_len, in_len;
	bool attached;

	uart_lock(u);
	tx = u->tx_bytes;
	dropped = u->tx_dropped;
	rx = u->rx_bytes;
	overruns = u->rx_overruns;
	irqs = u->irqs;
	out_len = kfifo_len(&u->out);
	in_len = kfifo_len(&u->in) + kfifo_len(&u->rx);
	attached = u->vm;
	spin_unlock(&u->lock);

	seq_printf(m, "axvm-device:\tuart16550\n"
		   "space:\t%s\nbase:\t%#llx\nirq:\t%u\nattached:\t%d\n"
		   "tx_bytes:\t%llu\ntx_dropped:\t%llu\ntx_queued:\t%u\n"
		   "rx_bytes:\t%llu\nrx_queued:\t%u\nrx_overruns:\t%llu\n"
		   "irqs:\t%llu\n",
		   u->dev.space == AXVM_DEV_SPACE_PIO ? "pio" : "mmio",
		   u->dev.base, u->irq, attached, tx, dropped, out_len, rx,
		   in_len, overruns, irqs);
}

static int uart_fd_release(struct inode *inode, struct file *file)
{
	struct axvm_uart *u = file->private_data;
	bool was_empty;

	uart_lock(u);
	was_empty = uart_thr_empty(u);
	u->fd_open = false;		/* THR can never be full again */
	kfifo_reset_out(&u->out);	/* nobody will read it */
	uart_thr_changed(u, was_empty);
	uart_unlock(u);
	uart_put(u);
	return 0;
}

static const struct file_operations uart_fops = {
	.owner		= THIS_MODULE,
	.read		= uart_fd_read,
	.write		= uart_fd_write,
	.poll		= uart_fd_poll,
	.release	= uart_fd_release,
	.show_fdinfo	= uart_fd_show_fdinfo,
	.llseek		= no_llseek,
};

/* --- creation -------------------------------------------------------- */

static int uart_fifo_alloc(struct kfifo *fifo, void **buf, unsigned int size)
{
	*buf = kvmalloc(size, GFP_KERNEL_ACCOUNT);
	if (!*buf)
		return -ENOMEM;
	return kfifo_init(fifo, *buf, size);
}

struct axvm_io_dev *axvm_uart16550_create(struct axvm_vm *vm, u32 irq,
					  bool irq_line)
{
	struct axvm_uart *u;

	u = kzalloc(sizeof(*u), GFP_KERNEL_ACCOUNT);
	if (!u)
		return ERR_PTR(-ENOMEM);
	if (uart_fifo_alloc(&u->out, &u->out_buf, UART_OUT_SIZE) ||
	    uart_fifo_alloc(&u->in, &u->in_buf, UART_IN_SIZE)) {
		kvfree(u->out_buf);
		kvfree(u->in_buf);
		kfree(u);
		return ERR_PTR(-ENOMEM);
	}
	kref_init(&u->ref);
	u->dev.ops = &uart_bus_ops;
	u->irq = irq;
	u->irq_line = irq_line;
	u->vm = vm;
	spin_lock_init(&u->lock);
	INIT_KFIFO(u->rx);
	init_waitqueue_head(&u->wq);
	mutex_init(&u->read_mutex);
	mutex_init(&u->write_mutex);
	/* Power-on values; the divisor latch says 9600 baud. */
	u->dll = 0x0c;
	return &u->dev;
}

struct file *axvm_uart16550_get_file(struct axvm_io_dev *dev)
{
	struct axvm_uart *u = to_uart(dev);
	struct file *file;

	kref_get(&u->ref);
	file = anon_inode_getfile("axvm-uart16550", &uart_fops, u, O_RDWR);
	if (IS_ERR(file)) {
		uart_put(u);
		return file;
	}
	stream_open(file_inode(file), file);	/* no pread, no lseek */
	uart_lock(u);
	u->fd_open = true;
	spin_unlock(&u->lock);
	return file;
}
