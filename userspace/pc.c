// SPDX-License-Identifier: GPL-2.0
/*
 * Legacy PC ports for Linux guests, answered in userspace (pc.h says
 * which and why). References: the IBM PC/AT Technical Reference and the
 * Intel 8042/8254/82C59 and Motorola MC146818 datasheets; what Linux
 * needs from each is noted where it matters (drivers/input/serio/
 * i8042.c, arch/x86/kernel/tsc.c, arch/x86/kernel/i8259.c,
 * drivers/rtc/rtc-mc146818-lib.c).
 */
#define _GNU_SOURCE		/* timegm() */
#include <string.h>
#include <time.h>

#include "pc.h"

#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

static uint64_t host_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int64_t host_wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

const char *pc_dev_name(enum pc_dev dev)
{
	static const char *const names[] = {
		[PC_I8042]  = "i8042 (0x60, 0x64)",
		[PC_CMOS]   = "CMOS/RTC (0x70, 0x71)",
		[PC_PIT]    = "PIT (0x40-0x43)",
		[PC_PORT61] = "port 0x61",
		[PC_PIC]    = "PIC (0x20, 0x21, 0xa0, 0xa1)",
		[PC_POST]   = "POST (0x80)",
		[PC_OTHER]  = "other ports",
	};

	return dev < PC_NR_DEVS ? names[dev] : "?";
}

/* ------------------------------------------------------------------ */
/* i8042 keyboard controller                                           */
/* ------------------------------------------------------------------ */

/* Status register (port 0x64 read) */
#define KBC_STR_OBF		0x01	/* output buffer full */
#define KBC_STR_SYS		0x04	/* system flag: self-test passed */
#define KBC_STR_CMD		0x08	/* last write was to 0x64 */
#define KBC_STR_NOLOCK		0x10	/* keyboard not inhibited */
#define KBC_STR_AUXDATA		0x20	/* the byte is from the AUX port */
#define KBC_STR_TIMEOUT		0x40

/* Controller command byte (0x20 / 0x60) */
#define KBC_CTR_KBDINT		0x01
#define KBC_CTR_AUXINT		0x02
#define KBC_CTR_SYS		0x04
#define KBC_CTR_KBDDIS		0x10
#define KBC_CTR_AUXDIS		0x20
#define KBC_CTR_XLATE		0x40
/*
 * As a BIOS leaves it: keyboard interrupt on, POST passed, no mouse
 * found (AUX disabled), scancode translation on.
 */
#define KBC_CTR_RESET		(KBC_CTR_KBDINT | KBC_CTR_SYS | \
				 KBC_CTR_AUXDIS | KBC_CTR_XLATE)
#define KBC_OUTPORT_RESET	0x03	/* reset line high, A20 on */

/* Controller commands (port 0x64 write) */
#define KBC_CMD_READ_CTR	0x20
#define KBC_CMD_WRITE_CTR	0x60
#define KBC_CMD_AUX_DISABLE	0xa7
#define KBC_CMD_AUX_ENABLE	0xa8
#define KBC_CMD_AUX_TEST	0xa9
#define KBC_CMD_SELF_TEST	0xaa
#define KBC_CMD_KBD_TEST	0xab
#define KBC_CMD_KBD_DISABLE	0xad
#define KBC_CMD_KBD_ENABLE	0xae
#define KBC_CMD_READ_OUTPORT	0xd0
#define KBC_CMD_WRITE_OUTPORT	0xd1
#define KBC_CMD_KBD_LOOP	0xd2
#define KBC_CMD_AUX_LOOP	0xd3
#define KBC_CMD_AUX_SEND	0xd4
#define KBC_CMD_PULSE		0xf0	/* 0xf0-0xff: pulse output port
					 * bits 3:0 low where clear */
#define KBC_SELF_TEST_OK	0x55
#define KBC_PORT_TEST_OK	0x00

/* Keyboard commands and replies (port 0x60 write) */
#define KBD_CMD_SET_LEDS	0xed
#define KBD_CMD_ECHO		0xee
#define KBD_CMD_SCAN_SET	0xf0
#define KBD_CMD_GET_ID		0xf2
#define KBD_CMD_SET_RATE	0xf3
#define KBD_CMD_RESET		0xff
#define KBD_ACK			0xfa
#define KBD_RESEND		0xfe	/* also: no device on the AUX port */
#define KBD_BAT_OK		0xaa
#define KBD_ID_MF2		0xab
#define KBD_ID_MF2_2		0x83	/* 0x41 after translation */
#define KBD_ID_MF2_2_XLATED	0x41

/*
 * Drives IRQ 1 / IRQ 12 from the byte at the head of the output buffer
 * and the CTR's enables. A read lowers the line first (see kbc_read) so
 * every byte is a new rising edge on the edge-triggered ISA pin.
 */
static void kbc_update_irq(struct pc *pc)
{
	struct pc_i8042 *k = &pc->kbc;
	bool aux = k->len && (k->q[k->head].status & KBC_STR_AUXDATA);
	bool level[2] = {
		k->len && !aux && (k->ctr & KBC_CTR_KBDINT),
		aux && (k->ctr & KBC_CTR_AUXINT),
	};
	static const unsigned int pin[2] = { PC_IRQ_KBD, PC_IRQ_AUX };
	unsigned int i;

	for (i = 0; i < 2; i++) {
		if (level[i] == k->irq_level[i])
			continue;
		k->irq_level[i] = level[i];
		if (pc->set_irq)
			pc->set_irq(pc->opaque, pin[i], level[i]);
	}
}

static void kbc_lower_irqs(struct pc *pc)
{
	static const unsigned int pin[2] = { PC_IRQ_KBD, PC_IRQ_AUX };
	struct pc_i8042 *k = &pc->kbc;
	unsigned int i;

	for (i = 0; i < 2; i++) {
		if (!k->irq_level[i])
			continue;
		k->irq_level[i] = false;
		if (pc->set_irq)
			pc->set_irq(pc->opaque, pin[i], 0);
	}
}

/* Queues a byte behind the output buffer; a full queue drops it, like
 * a device whose byte the controller never clocked in. */
static void kbc_queue(struct pc *pc, uint8_t byte, uint8_t status)
{
	struct pc_i8042 *k = &pc->kbc;
	unsigned int tail = (k->head + k->len) % PC_KBC_QUEUE;

	if (k->len == PC_KBC_QUEUE)
		return;
	k->q[tail].byte = byte;
	k->q[tail].status = status;
	k->len++;
	kbc_update_irq(pc);
}

static uint8_t kbc_status(const struct pc_i8042 *k)
{
	uint8_t s = KBC_STR_NOLOCK | (k->ctr & KBC_CTR_SYS ? KBC_STR_SYS : 0);

	if (k->last_was_cmd)
		s |= KBC_STR_CMD;
	if (k->len)
		s |= KBC_STR_OBF | k->q[k->head].status;
	return s;
}

/* Port 0x60 read: the output buffer; it keeps its last byte when empty. */
static uint8_t kbc_read(struct pc *pc)
{
	struct pc_i8042 *k = &pc->kbc;
	uint8_t byte;

	if (!k->len)
		return k->q[(k->head + PC_KBC_QUEUE - 1) % PC_KBC_QUEUE].byte;
	byte = k->q[k->head].byte;
	k->head = (k->head + 1) % PC_KBC_QUEUE;
	k->len--;
	kbc_lower_irqs(pc);
	kbc_update_irq(pc);
	return byte;
}

static void kbd_reply(struct pc *pc, uint8_t byte)
{
	kbc_queue(pc, byte, 0);
}

/* A parameter byte for SET_LEDS, SET_RATE or SCAN_SET. */
static void kbd_param(struct pc *pc, uint8_t cmd, uint8_t val)
{
	kbd_reply(pc, KBD_ACK);
	if (cmd != KBD_CMD_SCAN_SET)
		return;
	if (val)
		pc->kbc.scan_set = val;
	else
		kbd_reply(pc, pc->kbc.scan_set);
}

/* A byte for the keyboard: an MF2 keyboard that never sends a key. */
static void kbd_write(struct pc *pc, uint8_t val)
{
	struct pc_i8042 *k = &pc->kbc;

	/* Sending to the keyboard re-enables its interface (as QEMU). */
	k->ctr &= ~KBC_CTR_KBDDIS;
	if (k->kbd_cmd) {
		kbd_param(pc, k->kbd_cmd, val);
		k->kbd_cmd = 0;
		return;
	}
	switch (val) {
	case KBD_CMD_SET_LEDS:
	case KBD_CMD_SET_RATE:
	case KBD_CMD_SCAN_SET:
		k->kbd_cmd = val;
		kbd_reply(pc, KBD_ACK);
		break;
	case KBD_CMD_ECHO:
		kbd_reply(pc, KBD_CMD_ECHO);
		break;
	case KBD_CMD_GET_ID:
		kbd_reply(pc, KBD_ACK);
		kbd_reply(pc, KBD_ID_MF2);
		kbd_reply(pc, k->ctr & KBC_CTR_XLATE ? KBD_ID_MF2_2_XLATED :
			  KBD_ID_MF2_2);
		break;
	case KBD_CMD_RESET:
		k->scan_set = 2;
		kbd_reply(pc, KBD_ACK);
		kbd_reply(pc, KBD_BAT_OK);
		break;
	default:		/* enable, disable, defaults, typematic... */
		kbd_reply(pc, KBD_ACK);
		break;
	}
}

/* Returns true if the write asks for a CPU reset. */
static bool kbc_set_outport(struct pc *pc, uint8_t val)
{
	pc->kbc.outport = val;
	return !(val & 1);
}

/* The data byte of a controller command (port 0x60 after 0x64). */
static bool kbc_cmd_data(struct pc *pc, uint8_t cmd, uint8_t val)
{
	struct pc_i8042 *k = &pc->kbc;

	switch (cmd) {
	case KBC_CMD_WRITE_CTR:
		k->ctr = val;
		kbc_update_irq(pc);
		return false;
	case KBC_CMD_WRITE_OUTPORT:
		return kbc_set_outport(pc, val);
	case KBC_CMD_KBD_LOOP:
		kbc_queue(pc, val, 0);
		return false;
	case KBC_CMD_AUX_LOOP:
		kbc_queue(pc, val, KBC_STR_AUXDATA);
		return false;
	case KBC_CMD_AUX_SEND:
		/* Nothing on the AUX port: the controller times out. */
		kbc_queue(pc, KBD_RESEND, KBC_STR_AUXDATA | KBC_STR_TIMEOUT);
		return false;
	}
	return false;
}

static bool kbc_data_write(struct pc *pc, uint8_t val)
{
	struct pc_i8042 *k = &pc->kbc;
	uint8_t cmd = k->cmd;

	k->last_was_cmd = false;
	if (!cmd) {
		kbd_write(pc, val);
		return false;
	}
	k->cmd = 0;
	return kbc_cmd_data(pc, cmd, val);
}

static void kbc_set_ctr_bits(struct pc *pc, uint8_t set, uint8_t clear)
{
	pc->kbc.ctr = (pc->kbc.ctr | set) & ~clear;
	kbc_update_irq(pc);
}

/* Port 0x64 write. Returns true for a reset. */
static bool kbc_command(struct pc *pc, uint8_t cmd)
{
	struct pc_i8042 *k = &pc->kbc;

	k->last_was_cmd = true;
	k->cmd = 0;
	if (cmd >= KBC_CMD_PULSE)	/* 0xfe: pulse the reset line */
		return !(cmd & 1);
	switch (cmd) {
	case KBC_CMD_READ_CTR:
		kbc_queue(pc, k->ctr, 0);
		break;
	case KBC_CMD_WRITE_CTR:
	case KBC_CMD_WRITE_OUTPORT:
	case KBC_CMD_KBD_LOOP:
	case KBC_CMD_AUX_LOOP:
	case KBC_CMD_AUX_SEND:
		k->cmd = cmd;
		break;
	case KBC_CMD_AUX_DISABLE:
		kbc_set_ctr_bits(pc, KBC_CTR_AUXDIS, 0);
		break;
	case KBC_CMD_AUX_ENABLE:
		kbc_set_ctr_bits(pc, 0, KBC_CTR_AUXDIS);
		break;
	case KBC_CMD_KBD_DISABLE:
		kbc_set_ctr_bits(pc, KBC_CTR_KBDDIS, 0);
		break;
	case KBC_CMD_KBD_ENABLE:
		kbc_set_ctr_bits(pc, 0, KBC_CTR_KBDDIS);
		break;
	case KBC_CMD_SELF_TEST:
		kbc_queue(pc, KBC_SELF_TEST_OK, 0);
		break;
	case KBC_CMD_AUX_TEST:
	case KBC_CMD_KBD_TEST:
		kbc_queue(pc, KBC_PORT_TEST_OK, 0);
		break;
	case KBC_CMD_READ_OUTPORT:
		kbc_queue(pc, k->outport, 0);
		break;
	}			/* others: ignored, no reply */
	return false;
}

static bool kbc_io(struct pc *pc, uint16_t port, bool is_write, uint8_t *val)
{
	if (!is_write) {
		*val = port == 0x60 ? kbc_read(pc) : kbc_status(&pc->kbc);
		return false;
	}
	return port == 0x60 ? kbc_data_write(pc, *val) :
			      kbc_command(pc, *val);
}

static void kbc_init(struct pc_i8042 *k)
{
	memset(k, 0, sizeof(*k));
	k->ctr = KBC_CTR_RESET;
	k->outport = KBC_OUTPORT_RESET;
	k->scan_set = 2;
}

/* ------------------------------------------------------------------ */
/* CMOS / RTC (MC146818)                                               */
/* ------------------------------------------------------------------ */

#define RTC_SECONDS		0x00
#define RTC_MINUTES		0x02
#define RTC_HOURS		0x04
#define RTC_WEEKDAY		0x06
#define RTC_MDAY		0x07
#define RTC_MONTH		0x08
#define RTC_YEAR		0x09
#define RTC_REG_A		0x0a
#define RTC_REG_B		0x0b
#define RTC_REG_C		0x0c
#define RTC_REG_D		0x0d
#define RTC_CENTURY		0x32	/* the IBM PC convention (ACPI FADT) */

#define RTC_A_UIP		0x80	/* update in progress: never seen */
#define RTC_A_RESET		0x26	/* 32.768 kHz time base, 1024 Hz */
#define RTC_B_SET		0x80	/* halt updates while setting */
#define RTC_B_DM_BINARY		0x04
#define RTC_B_24H		0x02
#define RTC_B_RESET		RTC_B_24H	/* BCD, 24 h, no interrupts */
#define RTC_D_VRT		0x80	/* valid RAM and time */
#define RTC_HOUR_PM		0x80	/* 12 h mode */

static uint8_t to_bcd(unsigned int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static unsigned int from_bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0xf);
}

static void rtc_now(struct pc *pc, struct tm *tm)
{
	time_t t;

	if (pc->cmos.frozen) {
		*tm = pc->cmos.set_tm;
		return;
	}
	t = (time_t)(pc->wall_s() + pc->cmos.offset);
	gmtime_r(&t, tm);
}

/* A register value in the mode register B selects. */
static uint8_t rtc_encode(const struct pc_cmos *c, unsigned int v)
{
	return c->ram[RTC_REG_B] & RTC_B_DM_BINARY ? (uint8_t)v : to_bcd(v);
}

static unsigned int rtc_decode(const struct pc_cmos *c, uint8_t v)
{
	return c->ram[RTC_REG_B] & RTC_B_DM_BINARY ? v : from_bcd(v);
}

static uint8_t rtc_hour(const struct pc_cmos *c, unsigned int hour)
{
	unsigned int h12;

	if (c->ram[RTC_REG_B] & RTC_B_24H)
		return rtc_encode(c, hour);
	h12 = hour % 12 ? hour % 12 : 12;
	return rtc_encode(c, h12) | (hour >= 12 ? RTC_HOUR_PM : 0);
}

static unsigned int rtc_decode_hour(const struct pc_cmos *c, uint8_t v)
{
	unsigned int h;

	if (c->ram[RTC_REG_B] & RTC_B_24H)
		return rtc_decode(c, v);
	h = rtc_decode(c, v & ~RTC_HOUR_PM) % 12;
	return v & RTC_HOUR_PM ? h + 12 : h;
}

/* The struct tm field behind a time register, or NULL. */
static int *rtc_field(struct tm *tm, uint8_t index)
{
	switch (index) {
	case RTC_SECONDS:	return &tm->tm_sec;
	case RTC_MINUTES:	return &tm->tm_min;
	case RTC_HOURS:		return &tm->tm_hour;
	case RTC_WEEKDAY:	return &tm->tm_wday;
	case RTC_MDAY:		return &tm->tm_mday;
	case RTC_MONTH:		return &tm->tm_mon;
	case RTC_YEAR:
	case RTC_CENTURY:	return &tm->tm_year;
	}
	return NULL;
}

static bool rtc_is_time(uint8_t index)
{
	struct tm tm;

	return rtc_field(&tm, index) != NULL;
}

static uint8_t rtc_read_time(struct pc *pc, uint8_t index)
{
	const struct pc_cmos *c = &pc->cmos;
	unsigned int year;
	struct tm tm;

	rtc_now(pc, &tm);
	year = (unsigned int)tm.tm_year + 1900;
	switch (index) {
	case RTC_HOURS:		return rtc_hour(c, (unsigned int)tm.tm_hour);
	case RTC_WEEKDAY:	return rtc_encode(c, (unsigned int)tm.tm_wday + 1);
	case RTC_MONTH:		return rtc_encode(c, (unsigned int)tm.tm_mon + 1);
	case RTC_YEAR:		return rtc_encode(c, year % 100);
	case RTC_CENTURY:	return rtc_encode(c, year / 100);
	case RTC_SECONDS:	return rtc_encode(c, (unsigned int)tm.tm_sec);
	case RTC_MINUTES:	return rtc_encode(c, (unsigned int)tm.tm_min);
	default:		return rtc_encode(c, (unsigned int)tm.tm_mday);
	}
}

/* Sets one field of the guest's clock; the host clock is not touched:
 * the guest's time runs on as an offset from it. */
static void rtc_write_time(struct pc *pc, uint8_t index, uint8_t v)
{
	struct pc_cmos *c = &pc->cmos;
	unsigned int val = index == RTC_HOURS ? rtc_decode_hour(c, v) :
			   rtc_decode(c, v);
	int year, *field;
	struct tm tm;

	rtc_now(pc, &tm);
	field = rtc_field(&tm, index);
	if (!field)
		return;
	year = tm.tm_year + 1900;
	if (index == RTC_YEAR)
		val = (unsigned int)(year / 100 * 100) + val - 1900;
	else if (index == RTC_CENTURY)
		val = val * 100 + (unsigned int)(year % 100) - 1900;
	else if (index == RTC_MONTH || index == RTC_WEEKDAY)
		val -= 1;
	*field = (int)val;
	if (c->frozen) {
		c->set_tm = tm;
		return;
	}
	c->offset = (int64_t)timegm(&tm) - pc->wall_s();
}

static void rtc_write_reg_b(struct pc *pc, uint8_t v)
{
	struct pc_cmos *c = &pc->cmos;
	bool set = v & RTC_B_SET;

	if (set && !c->frozen) {
		rtc_now(pc, &c->set_tm);
		c->frozen = true;
	} else if (!set && c->frozen) {
		c->frozen = false;
		c->offset = (int64_t)timegm(&c->set_tm) - pc->wall_s();
	}
	c->ram[RTC_REG_B] = v;
}

static uint8_t cmos_read(struct pc *pc, uint8_t index)
{
	if (rtc_is_time(index))
		return rtc_read_time(pc, index);
	switch (index) {
	case RTC_REG_A:
		return pc->cmos.ram[RTC_REG_A] & ~RTC_A_UIP;
	case RTC_REG_C:
		return 0;	/* no interrupt ever pending */
	case RTC_REG_D:
		return RTC_D_VRT;
	}
	return pc->cmos.ram[index];
}

static void cmos_write(struct pc *pc, uint8_t index, uint8_t v)
{
	if (rtc_is_time(index)) {
		rtc_write_time(pc, index, v);
		return;
	}
	switch (index) {
	case RTC_REG_A:
		pc->cmos.ram[RTC_REG_A] = v & ~RTC_A_UIP;
		return;
	case RTC_REG_B:
		rtc_write_reg_b(pc, v);
		return;
	case RTC_REG_C:
	case RTC_REG_D:
		return;		/* read-only */
	}
	pc->cmos.ram[index] = v;	/* alarms and NVRAM */
}

/* Port 0x70: index (bit 7 is the NMI mask, kept nowhere), 0x71: data. */
static void cmos_io(struct pc *pc, uint16_t port, bool is_write, uint8_t *val)
{
	if (port == 0x70) {
		if (is_write)
			pc->cmos.index = *val & 0x7f;
		else
			*val = 0xff;	/* write-only */
		return;
	}
	if (is_write)
		cmos_write(pc, pc->cmos.index, *val);
	else
		*val = cmos_read(pc, pc->cmos.index);
}

static void cmos_init(struct pc_cmos *c)
{
	memset(c, 0, sizeof(*c));
	c->ram[RTC_REG_A] = RTC_A_RESET;
	c->ram[RTC_REG_B] = RTC_B_RESET;
}

/* ------------------------------------------------------------------ */
/* 8254 PIT and port 0x61                                              */
/* ------------------------------------------------------------------ */

#define PIT_HZ			1193182ULL
#define NSEC_PER_SEC		1000000000ULL
#define PIT_CMD_READBACK	3	/* select field of the control word */
#define PIT_ACCESS_LATCH	0
#define PIT_ACCESS_LO		1
#define PIT_ACCESS_HI		2
#define PIT_ACCESS_LOHI		3
#define PORT61_GATE2		0x01
#define PORT61_WRITABLE		0x0f	/* gate 2, speaker, parity/IOCHK off */
#define PORT61_REFRESH		0x10	/* toggles every 15.085 us */
#define PORT61_OUT2		0x20
#define REFRESH_NS		15085

static uint64_t ns_to_ticks(uint64_t ns)
{
	return ns / NSEC_PER_SEC * PIT_HZ + ns % NSEC_PER_SEC * PIT_HZ /
	       NSEC_PER_SEC;
}

static bool pit_gate(const struct pc *pc, unsigned int ch)
{
	return ch != 2 || (pc->port61 & PORT61_GATE2);
}

/* Ticks counted since the count was loaded (gate-low time excluded). */
static uint64_t pit_ticks(struct pc *pc, unsigned int ch)
{
	const struct pc_pit_channel *c = &pc->pit[ch];

	if (!c->counting || !pit_gate(pc, ch))
		return c->paused_ticks;
	return c->paused_ticks + ns_to_ticks(pc->mono_ns() - c->start_ns);
}

/* Count and OUT now, per mode (8254 datasheet, "Modes of Operation"). */
static uint16_t pit_count(struct pc *pc, unsigned int ch, bool *out)
{
	const struct pc_pit_channel *c = &pc->pit[ch];
	uint64_t t = pit_ticks(pc, ch), r = c->reload, phase, half;

	switch (c->mode) {
	case 2:			/* rate generator: OUT low for 1 tick */
		phase = t % r;
		*out = r - phase != 1;
		return (uint16_t)(r - phase);
	case 3:			/* square wave: counts by 2 each half */
		half = (r + 1) / 2;
		phase = t % r;
		*out = phase < half;
		return (uint16_t)(r - 2 * (phase % (r / 2 ? r / 2 : 1)));
	case 4:
	case 5:			/* strobe: OUT low for 1 tick at 0 */
		*out = t != r;
		return (uint16_t)(r - t);
	default:		/* 0, 1: OUT rises at terminal count */
		*out = c->counting && t >= r;
		return (uint16_t)(r - t);	/* wraps past 0 */
	}
}

static uint8_t pit_status(struct pc *pc, unsigned int ch)
{
	const struct pc_pit_channel *c = &pc->pit[ch];
	bool out;

	pit_count(pc, ch, &out);
	return (uint8_t)((out ? 0x80 : 0) | (c->counting ? 0 : 0x40) |
			 c->access << 4 | c->mode << 1);
}

static void pit_latch(struct pc *pc, unsigned int ch)
{
	struct pc_pit_channel *c = &pc->pit[ch];
	bool out;

	if (c->latched)
		return;		/* a second latch is ignored until read */
	c->latch = pit_count(pc, ch, &out);
	c->latched = true;
	c->read_hi = false;
}

/* Read-back (0xc0-0xff): bit 5 clear latches counts, bit 4 status. */
static void pit_readback(struct pc *pc, uint8_t v)
{
	unsigned int ch;

	for (ch = 0; ch < 3; ch++) {
		struct pc_pit_channel *c = &pc->pit[ch];

		if (!(v & (2 << ch)))
			continue;
		if (!(v & 0x20))
			pit_latch(pc, ch);
		if (!(v & 0x10) && !c->status_latched) {
			c->status = pit_status(pc, ch);
			c->status_latched = true;
		}
	}
}

static void pit_control(struct pc *pc, uint8_t v)
{
	unsigned int ch = v >> 6, access = (v >> 4) & 3, mode = (v >> 1) & 7;
	struct pc_pit_channel *c;

	if (ch == PIT_CMD_READBACK) {
		pit_readback(pc, v);
		return;
	}
	if (access == PIT_ACCESS_LATCH) {
		pit_latch(pc, ch);
		return;
	}
	c = &pc->pit[ch];
	c->access = (uint8_t)access;
	c->mode = (uint8_t)(mode > 5 ? mode - 4 : mode);	/* 6, 7: 2, 3 */
	c->counting = false;	/* until a count is written */
	c->paused_ticks = 0;
	c->write_hi = c->read_hi = c->latched = c->status_latched = false;
}

static void pit_load(struct pc *pc, unsigned int ch, uint16_t count)
{
	struct pc_pit_channel *c = &pc->pit[ch];

	c->reload = count ? count : 65536;
	c->start_ns = pc->mono_ns();
	c->paused_ticks = 0;
	c->counting = true;
}

static void pit_write(struct pc *pc, unsigned int ch, uint8_t v)
{
	struct pc_pit_channel *c = &pc->pit[ch];

	switch (c->access) {
	case PIT_ACCESS_LO:
		pit_load(pc, ch, v);
		break;
	case PIT_ACCESS_HI:
		pit_load(pc, ch, (uint16_t)(v << 8));
		break;
	default:
		if (!c->write_hi) {
			c->write_lo = v;
			c->write_hi = true;
			break;
		}
		c->write_hi = false;
		pit_load(pc, ch, (uint16_t)(c->write_lo | v << 8));
		break;
	}
}

static uint8_t pit_read(struct pc *pc, unsigned int ch)
{
	struct pc_pit_channel *c = &pc->pit[ch];
	uint16_t value;
	bool out, hi;

	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	value = c->latched ? c->latch : pit_count(pc, ch, &out);
	hi = c->access == PIT_ACCESS_HI ||
	     (c->access == PIT_ACCESS_LOHI && c->read_hi);
	if (c->access == PIT_ACCESS_LOHI)
		c->read_hi = !c->read_hi;
	if (c->access != PIT_ACCESS_LOHI || !c->read_hi)
		c->latched = false;	/* the whole latched value was read */
	return hi ? value >> 8 : value & 0xff;
}

static void pit_io(struct pc *pc, uint16_t port, bool is_write, uint8_t *val)
{
	unsigned int ch = port - 0x40;

	if (port == 0x43) {
		if (is_write)
			pit_control(pc, *val);
		else
			*val = 0xff;	/* write-only */
		return;
	}
	if (is_write)
		pit_write(pc, ch, *val);
	else
		*val = pit_read(pc, ch);
}

/*
 * Gate 2 low stops channel 2 (mode 0 holds its count); a rising edge
 * resumes mode 0 and restarts the other modes with their reload value.
 */
static void port61_write(struct pc *pc, uint8_t v)
{
	struct pc_pit_channel *c = &pc->pit[2];
	bool was = pit_gate(pc, 2), now = v & PORT61_GATE2;

	if (was && !now)
		c->paused_ticks = pit_ticks(pc, 2);
	pc->port61 = v & PORT61_WRITABLE;
	if (!was && now) {
		c->start_ns = pc->mono_ns();
		if (c->mode != 0)
			c->paused_ticks = 0;
	}
}

static uint8_t port61_read(struct pc *pc)
{
	uint8_t v = pc->port61;
	bool out2;

	pit_count(pc, 2, &out2);
	if (out2)
		v |= PORT61_OUT2;
	if ((pc->mono_ns() / REFRESH_NS) & 1)
		v |= PORT61_REFRESH;
	return v;	/* bits 7:6 clear: no parity or I/O channel error */
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

static enum pc_dev port_dev(uint16_t port)
{
	switch (port) {
	case 0x60: case 0x64:			return PC_I8042;
	case 0x70: case 0x71:			return PC_CMOS;
	case 0x40: case 0x41: case 0x42: case 0x43: return PC_PIT;
	case 0x61:				return PC_PORT61;
	case 0x20: case 0x21: case 0xa0: case 0xa1: return PC_PIC;
	case 0x80:				return PC_POST;
	}
	return PC_OTHER;
}

/* One byte; returns true for a reset. */
static bool pc_io_byte(struct pc *pc, uint16_t port, bool is_write,
		       uint8_t *val)
{
	switch (port_dev(port)) {
	case PC_I8042:
		return kbc_io(pc, port, is_write, val);
	case PC_CMOS:
		cmos_io(pc, port, is_write, val);
		return false;
	case PC_PIT:
		pit_io(pc, port, is_write, val);
		return false;
	case PC_PORT61:
		if (is_write)
			port61_write(pc, *val);
		else
			*val = port61_read(pc);
		return false;
	default:
		/*
		 * No 8259: Linux's probe_8259A() writes a mask and reads
		 * back 0xff, says "Using NULL legacy PIC" and routes the
		 * ISA IRQs through the I/O APIC. Port 0x80 and the rest:
		 * nothing there.
		 */
		if (!is_write)
			*val = 0xff;
		return false;
	}
}

bool pc_io(struct pc *pc, uint16_t port, unsigned int width, bool is_write,
	   uint32_t *data)
{
	enum pc_dev dev = port_dev(port);
	uint32_t in = is_write ? *data : 0, out = 0;
	bool reset = false;
	unsigned int i;

	pthread_mutex_lock(&pc->lock);
	pc->count[dev]++;
	if (dev == PC_OTHER)
		pc->other_ports[port]++;
	for (i = 0; i < width && i < 4; i++) {
		uint8_t b = (uint8_t)(in >> (8 * i));

		reset |= pc_io_byte(pc, (uint16_t)(port + i), is_write, &b);
		out |= (uint32_t)b << (8 * i);
	}
	if (!is_write)
		*data = out;
	pc->reset |= reset;
	pthread_mutex_unlock(&pc->lock);
	return reset;
}

uint64_t pc_mmio(struct pc *pc, bool is_write, unsigned int width)
{
	pthread_mutex_lock(&pc->lock);
	if (is_write)
		pc->mmio_writes++;
	else
		pc->mmio_reads++;
	pthread_mutex_unlock(&pc->lock);
	return width >= 8 ? ~0ULL : (1ULL << (8 * width)) - 1;
}

void pc_init(struct pc *pc, void (*set_irq)(void *, unsigned int, int),
	     void *opaque)
{
	unsigned int ch;

	memset(pc, 0, sizeof(*pc));
	pthread_mutex_init(&pc->lock, NULL);
	pc->set_irq = set_irq;
	pc->opaque = opaque;
	pc->mono_ns = host_mono_ns;
	pc->wall_s = host_wall_s;
	kbc_init(&pc->kbc);
	cmos_init(&pc->cmos);
	for (ch = 0; ch < ARRAY_SIZE(pc->pit); ch++) {
		pc->pit[ch].mode = 3;	/* what a BIOS leaves on channel 0 */
		pc->pit[ch].access = PIT_ACCESS_LOHI;
		pc->pit[ch].reload = 65536;
	}
}
