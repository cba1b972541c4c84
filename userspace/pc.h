/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The legacy PC ports a Linux guest probes that axvm.ko does not
 * emulate, answered by the launcher in Linux mode (axvm run --kernel):
 * an i8042 keyboard controller (whose reset pulse is the guest's
 * reboot), the CMOS RTC, the 8254 PIT, port 0x61, the 8259 PICs (absent:
 * reads 0xff) and the POST port 0x80. Every other port reads all-ones
 * and ignores writes; every access is counted. MMIO outside RAM and the
 * in-kernel devices is answered the same way.
 *
 * The guest touches these ports a handful of times per boot
 * (Documentation/linux-guest.md has the counts), so an exit to userspace
 * per access costs nothing that matters. Pure state machines: nothing
 * here prints; the caller serializes nothing (pc->lock does).
 */
#ifndef AXVM_PC_H
#define AXVM_PC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

enum pc_dev {
	PC_I8042,	/* 0x60, 0x64 */
	PC_CMOS,	/* 0x70, 0x71 */
	PC_PIT,		/* 0x40-0x43 */
	PC_PORT61,	/* 0x61: PIT gate 2, speaker, OUT2 */
	PC_PIC,		/* 0x20, 0x21, 0xa0, 0xa1 */
	PC_POST,	/* 0x80 */
	PC_OTHER,	/* everything else: all-ones */
	PC_NR_DEVS
};

#define PC_IRQ_KBD	1	/* ISA IRQs = I/O APIC pins (MP table) */
#define PC_IRQ_AUX	12
#define PC_KBC_QUEUE	16

/* The 8042 and the keyboard behind it (no mouse on the AUX port). */
struct pc_i8042 {
	uint8_t ctr;		/* controller command byte */
	uint8_t outport;	/* output port: bit 0 reset line, bit 1 A20 */
	uint8_t cmd;		/* controller command awaiting its data byte */
	uint8_t kbd_cmd;	/* keyboard command awaiting its parameter */
	uint8_t scan_set;
	bool last_was_cmd;	/* status bit 3: last write went to 0x64 */
	struct {
		uint8_t byte;
		uint8_t status;	/* AUXDATA / TIMEOUT for this byte */
	} q[PC_KBC_QUEUE];	/* the output buffer and what waits behind it */
	unsigned int head, len;
	bool irq_level[2];	/* IRQ 1, IRQ 12 as last driven */
};

/* MC146818 RTC and its NVRAM (time: the host's UTC clock + offset). */
struct pc_cmos {
	uint8_t index;
	uint8_t ram[128];	/* registers A-D and NVRAM; time comes live */
	int64_t offset;		/* guest time - host time, seconds */
	bool frozen;		/* register B SET: time as written, halted */
	struct tm set_tm;	/* the time while frozen */
};

/* One 8254 counter, counting at 1.193182 MHz in host time. */
struct pc_pit_channel {
	uint8_t mode;		/* 0-5 */
	uint8_t access;		/* 1 low byte, 2 high byte, 3 low then high */
	uint32_t reload;	/* 1-65536 */
	uint64_t start_ns;	/* when the count was loaded (or gated on) */
	bool counting;
	bool write_hi;		/* access 3: next write is the high byte */
	uint8_t write_lo;
	bool read_hi;		/* access 3: next read is the high byte */
	bool latched;		/* a latch command froze `latch` */
	uint16_t latch;
	bool status_latched;	/* read-back latched `status` */
	uint8_t status;
	uint64_t paused_ticks;	/* gate low in mode 0: ticks so far */
};

struct pc {
	pthread_mutex_t lock;
	/* I/O APIC pins, through AXVM_SET_IRQ_LINE; NULL: no interrupts. */
	void (*set_irq)(void *opaque, unsigned int pin, int level);
	void *opaque;
	/* Clocks; the tests replace them. */
	uint64_t (*mono_ns)(void);
	int64_t (*wall_s)(void);

	struct pc_i8042 kbc;
	struct pc_cmos cmos;
	struct pc_pit_channel pit[3];
	uint8_t port61;		/* bits 0-3 as written */
	bool gate2_paused;	/* channel 2's gate is low */

	bool reset;		/* the guest pulsed the reset line */
	uint64_t count[PC_NR_DEVS];
	uint64_t mmio_reads, mmio_writes;
	uint32_t other_ports[65536];	/* PC_OTHER accesses by port */
};

void pc_init(struct pc *pc, void (*set_irq)(void *, unsigned int, int),
	     void *opaque);
/*
 * One port access of width 1, 2 or 4 bytes: a wider access is done a
 * byte at a time on consecutive ports, as the ISA bus splits it. For a
 * read, *data gets the bytes (little-endian). Returns true if the guest
 * asked for a reset (i8042 command 0xFE or the output port's bit 0):
 * the caller decides what a reset means; pc->reset stays set.
 */
bool pc_io(struct pc *pc, uint16_t port, unsigned int width, bool is_write,
	   uint32_t *data);
/* MMIO nobody claims: reads all-ones, writes ignored, counted. */
uint64_t pc_mmio(struct pc *pc, bool is_write, unsigned int width);
const char *pc_dev_name(enum pc_dev dev);

#endif /* AXVM_PC_H */
