// SPDX-License-Identifier: GPL-2.0
/*
 * pc_test: host unit test of the launcher's legacy PC ports (pc.c) with
 * a fake clock and a recorded IRQ line: the sequences Linux's drivers
 * use (i8042 probe, atkbd GETID, the reset pulse, rtc-cmos reads and
 * sets, the TSC calibration's PIT channel 2 loop, the 8259 probe).
 * Output as linux_loader_test.c.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pc.h"

#include "unit.h"

static struct pc pc;
static uint64_t fake_ns;
static int64_t fake_wall;
static unsigned int edges[16];	/* rising edges per pin */
static int level[16];

static uint64_t fake_mono(void) { return fake_ns; }
static int64_t fake_wall_s(void) { return fake_wall; }

static void record_irq(void *opaque, unsigned int pin, int lvl)
{
	(void)opaque;
	if (lvl && !level[pin])
		edges[pin]++;
	level[pin] = lvl;
}

static void reset_pc(void)
{
	pc_init(&pc, record_irq, NULL);
	pc.mono_ns = fake_mono;
	pc.wall_s = fake_wall_s;
	fake_ns = 1000000000ULL;
	fake_wall = 1700000000;		/* 2023-11-14 22:13:20 UTC, a Tuesday */
	memset(edges, 0, sizeof(edges));
	memset(level, 0, sizeof(level));
}

static uint8_t in8(uint16_t port)
{
	uint32_t v = 0x12345678;

	pc_io(&pc, port, 1, false, &v);
	return (uint8_t)v;
}

static bool out8(uint16_t port, uint8_t val)
{
	uint32_t v = val;

	return pc_io(&pc, port, 1, true, &v);
}

/* i8042_command(): command, parameters, then each result after OBF. */
static int kbc_command(uint8_t cmd, const uint8_t *params, int nparams,
		       uint8_t *results, int nresults)
{
	int i;

	if (in8(0x64) & 0x02)
		return -1;		/* IBF never set */
	out8(0x64, cmd);
	for (i = 0; i < nparams; i++)
		out8(0x60, params[i]);
	for (i = 0; i < nresults; i++) {
		if (!(in8(0x64) & 0x01))
			return -2;	/* would time out */
		results[i] = in8(0x60);
	}
	return 0;
}

/* The i8042 probe of drivers/input/serio/i8042.c, in order. */
static void t_i8042_probe(void)
{
	uint8_t r[3], p, ctr;

	reset_pc();
	CHECK_EQ(in8(0x64) & 0x01, 0);		/* flush: nothing buffered */
	CHECK_EQ(in8(0x64) & 0x10, 0x10);	/* no keylock */
	CHECK_EQ(kbc_command(0xaa, NULL, 0, r, 1), 0);
	CHECK_EQ(r[0], 0x55);			/* self-test */
	CHECK_EQ(kbc_command(0x20, NULL, 0, r, 1), 0);
	ctr = r[0];
	CHECK_EQ(ctr & 0x40, 0x40);		/* translation on */
	ctr = (ctr | 0x10) & ~0x01;		/* KBDDIS, no KBDINT */
	CHECK_EQ(kbc_command(0x60, &ctr, 1, r, 0), 0);
	CHECK_EQ(kbc_command(0x20, NULL, 0, r, 1), 0);
	CHECK_EQ(r[0], ctr);
	/* AUX loop returns the byte as AUX data: an AUX port exists... */
	p = 0x5a;
	out8(0x64, 0xd3);
	out8(0x60, p);
	CHECK_EQ(in8(0x64) & 0x21, 0x21);
	CHECK_EQ(in8(0x60), 0x5a);
	/* ...and its enable/disable bit works (i8042_toggle_aux). */
	kbc_command(0xa7, NULL, 0, r, 0);
	kbc_command(0x20, NULL, 0, r, 1);
	CHECK_EQ(r[0] & 0x20, 0x20);
	kbc_command(0xa8, NULL, 0, r, 0);
	kbc_command(0x20, NULL, 0, r, 1);
	CHECK_EQ(r[0] & 0x20, 0);
	/* Active multiplexing check: the 3rd loop byte comes back as is,
	 * which means "no MUX". */
	p = 0xa4;
	kbc_command(0xd3, &p, 1, r, 1);
	CHECK_EQ(r[0], 0xa4);
	/* Nothing on the AUX port: a byte for it times out with 0xfe. */
	p = 0xf2;
	kbc_command(0xd4, &p, 1, r, 0);
	CHECK_EQ(in8(0x64) & 0x61, 0x61);	/* OBF, AUXDATA, TIMEOUT */
	CHECK_EQ(in8(0x60), 0xfe);
	CHECK_EQ(in8(0x64) & 0x01, 0);
}

/* atkbd: GETID through the translating controller, with IRQ 1. */
static void t_keyboard(void)
{
	uint8_t ctr = 0x45;	/* KBDINT, SYS, XLATE */

	reset_pc();
	kbc_command(0x60, &ctr, 1, NULL, 0);
	out8(0x60, 0xf2);
	CHECK_EQ(edges[1], 1);
	CHECK_EQ(in8(0x60), 0xfa);
	CHECK_EQ(edges[1], 2);		/* a new edge for the next byte */
	CHECK_EQ(in8(0x60), 0xab);
	CHECK_EQ(in8(0x60), 0x41);
	CHECK_EQ(level[1], 0);
	CHECK_EQ(edges[1], 3);
	CHECK_EQ(edges[12], 0);
	out8(0x60, 0xed);		/* SETLEDS + parameter */
	CHECK_EQ(in8(0x60), 0xfa);
	out8(0x60, 0x07);
	CHECK_EQ(in8(0x60), 0xfa);
	out8(0x60, 0xff);		/* reset: ACK, BAT OK */
	CHECK_EQ(in8(0x60), 0xfa);
	CHECK_EQ(in8(0x60), 0xaa);
	CHECK_EQ(in8(0x64) & 0x01, 0);
}

static void t_reset(void)
{
	reset_pc();
	CHECK(!out8(0x64, 0xff), "0xff pulses nothing");
	CHECK(!pc.reset, "no reset yet");
	CHECK(out8(0x64, 0xfe), "0xfe is a reset");
	CHECK(pc.reset, "pc.reset set");
	reset_pc();
	out8(0x64, 0xd1);		/* write output port, bit 0 clear */
	CHECK(out8(0x60, 0x02), "output port bit 0 clear is a reset");
}

static uint8_t cmos(uint8_t index)
{
	out8(0x70, index);
	return in8(0x71);
}

static void cmos_set(uint8_t index, uint8_t val)
{
	out8(0x70, index);
	out8(0x71, val);
}

static void t_cmos(void)
{
	reset_pc();
	/* 1700000000 = 2023-11-14 22:13:20 UTC, Tuesday (weekday 3). */
	CHECK_EQ(cmos(0x00), 0x20);
	CHECK_EQ(cmos(0x02), 0x13);
	CHECK_EQ(cmos(0x04), 0x22);
	CHECK_EQ(cmos(0x06), 0x03);
	CHECK_EQ(cmos(0x07), 0x14);
	CHECK_EQ(cmos(0x08), 0x11);
	CHECK_EQ(cmos(0x09), 0x23);
	CHECK_EQ(cmos(0x32), 0x20);
	CHECK_EQ(cmos(0x0a) & 0x80, 0);		/* never UIP */
	CHECK_EQ(cmos(0x0b), 0x02);		/* 24 h, BCD */
	CHECK_EQ(cmos(0x0d), 0x80);		/* valid */
	CHECK_EQ(cmos(0x0c), 0x00);
	fake_wall += 61;
	CHECK_EQ(cmos(0x00), 0x21);
	CHECK_EQ(cmos(0x02), 0x14);
	/* NVRAM keeps what is written (the warm reset code in 0x0f). */
	cmos_set(0x0f, 0x0a);
	CHECK_EQ(cmos(0x0f), 0x0a);
	/* Setting the clock as rtc-cmos does: SET, fields, clear SET. */
	cmos_set(0x0b, 0x82);
	cmos_set(0x04, 0x01);
	cmos_set(0x09, 0x30);
	fake_wall += 100;			/* halted while SET */
	CHECK_EQ(cmos(0x00), 0x21);
	cmos_set(0x0b, 0x02);
	CHECK_EQ(cmos(0x04), 0x01);
	CHECK_EQ(cmos(0x09), 0x30);
	fake_wall += 5;
	CHECK_EQ(cmos(0x00), 0x26);		/* runs again from there */
	/* Binary, 12 h mode: 01:14 is 1 AM. */
	cmos_set(0x0b, 0x04);
	CHECK_EQ(cmos(0x04), 0x01);
	CHECK_EQ(cmos(0x02), 14);
	cmos_set(0x04, 0x80 | 11);		/* 11 PM */
	cmos_set(0x0b, 0x06);
	CHECK_EQ(cmos(0x04), 23);
}

/* arch/x86/kernel/tsc.c pit_calibrate_tsc(): channel 2, mode 0, gate
 * via port 0x61, waits for OUT2. */
static void t_pit_channel2(void)
{
	uint16_t latch = 59659;	/* 50 ms */
	uint8_t lo, hi;

	reset_pc();
	out8(0x61, (in8(0x61) & ~0x02) | 0x01);
	out8(0x43, 0xb0);
	out8(0x42, latch & 0xff);
	out8(0x42, latch >> 8);
	CHECK_EQ(in8(0x61) & 0x20, 0);
	fake_ns += 10000000;			/* 10 ms: 11931 ticks */
	out8(0x43, 0x80);			/* latch channel 2 */
	lo = in8(0x42);
	hi = in8(0x42);
	CHECK_EQ(lo | hi << 8, latch - 11931);
	CHECK_EQ(in8(0x61) & 0x20, 0);
	fake_ns += 40000000;
	CHECK_EQ(in8(0x61) & 0x20, 0x20);	/* OUT2 high at terminal count */
	/* Gate low holds the count. */
	out8(0x43, 0xb0);
	out8(0x42, 0xff);
	out8(0x42, 0xff);
	fake_ns += 1000000;
	out8(0x61, 0x00);
	out8(0x43, 0x80);
	lo = in8(0x42);
	hi = in8(0x42);
	fake_ns += 5000000;
	out8(0x43, 0x80);
	CHECK_EQ(in8(0x42) | in8(0x42) << 8, lo | hi << 8);
}

static void t_pit_channel0(void)
{
	uint32_t v;

	reset_pc();
	out8(0x43, 0x34);			/* ch 0, lo/hi, mode 2 */
	out8(0x40, 0x9c);
	out8(0x40, 0x2e);			/* 11932: 100 Hz */
	fake_ns += 15000000;			/* 1.5 periods */
	out8(0x43, 0xc2);			/* read-back count+status, ch 0 */
	CHECK_EQ(in8(0x40), 0xb4);		/* status: OUT high, lo/hi, mode 2 */
	v = in8(0x40) | in8(0x40) << 8;
	CHECK(v > 5900 && v < 6000, "count %u", v);
}

static void t_pic_and_others(void)
{
	uint32_t v = 0;

	reset_pc();
	/* probe_8259A(): mask all, write 0xfb, read back: not a PIC. */
	out8(0xa1, 0xff);
	out8(0x21, 0xfb);
	CHECK_EQ(in8(0x21), 0xff);
	CHECK_EQ(in8(0xa1), 0xff);
	out8(0x80, 0x12);
	CHECK_EQ(in8(0x80), 0xff);
	pc_io(&pc, 0xcf8, 4, false, &v);
	CHECK_EQ(v, 0xffffffff);
	pc_io(&pc, 0x2f9, 1, false, &v);
	CHECK_EQ(v, 0xff);
	v = 0x80000000;
	pc_io(&pc, 0xcf8, 4, true, &v);
	CHECK_EQ(pc.other_ports[0xcf8], 2);
	CHECK_EQ(pc.other_ports[0x2f9], 1);
	CHECK_EQ(pc.count[PC_OTHER], 3);
	CHECK_EQ(pc.count[PC_PIC], 4);
	CHECK_EQ(pc.count[PC_POST], 2);
	CHECK_EQ(pc_mmio(&pc, false, 4), 0xffffffff);
	CHECK_EQ(pc_mmio(&pc, false, 8), ~0ULL);
	CHECK_EQ(pc_mmio(&pc, true, 1), 0xff);
	CHECK_EQ(pc.mmio_reads, 2);
	CHECK_EQ(pc.mmio_writes, 1);
	/* Port 0x61 never reports NMI sources (bits 7:6). */
	CHECK_EQ(in8(0x61) & 0xc0, 0);
}

int main(void)
{
	run("i8042: Linux's probe sequence (self-test, CTR, AUX loop/toggle, no mouse)", t_i8042_probe);
	run("i8042: keyboard GETID/SETLEDS/RESET with one IRQ 1 edge per byte", t_keyboard);
	run("i8042: 0xfe and output port bit 0 are resets", t_reset);
	run("CMOS: host time in BCD/24h, NVRAM, setting the clock, binary/12h", t_cmos);
	run("PIT: channel 2 mode 0 and OUT2 on port 0x61, gate", t_pit_channel2);
	run("PIT: channel 0 mode 2 count and read-back status", t_pit_channel0);
	run("PIC, port 0x80, other ports and MMIO: all-ones, counted", t_pic_and_others);
	return unit_summary();
}
