// SPDX-License-Identifier: GPL-2.0
/*
 * libaxvm: an Intel MultiProcessor Specification 1.4 table (MP spec,
 * chapter 4) describing axvm's x86 platform to a guest without ACPI:
 * one processor per vCPU (APIC id = vCPU index = phys_id), the ISA bus,
 * the I/O APIC at AXVM_IOAPIC_DEFAULT_BASE with ISA IRQ n on pin n, and
 * the local APICs' LINT0 (ExtINT) and LINT1 (NMI) wiring.
 *
 * Why not ACPI: see Documentation/linux-guest.md. Linux looks for the
 * MP floating pointer when it finds no RSDP (arch/x86/kernel/mpparse.c
 * scans the first KiB, the last KiB below 640 KiB and [0xf0000, 1 MiB)).
 */
#include <errno.h>
#include <string.h>

#include "libaxvm.h"

/* MP spec 1.4, 4.1: the floating pointer structure, 16 bytes. */
struct mpf {
	char signature[4];	/* "_MP_" */
	uint32_t config;	/* physical address of the configuration table */
	uint8_t length;		/* in 16-byte paragraphs: 1 */
	uint8_t spec_rev;	/* 4: version 1.4 */
	uint8_t checksum;	/* all 16 bytes sum to 0 */
	uint8_t feature[5];	/* [0] = 0: a configuration table exists;
				 * [1] bit 7 clear: virtual wire mode, no
				 * IMCR (there is no 8259 to route) */
} __attribute__((packed));

/* 4.2: the configuration table header, 44 bytes. */
struct mpc_header {
	char signature[4];	/* "PCMP" */
	uint16_t length;	/* base table, header included */
	uint8_t spec_rev;
	uint8_t checksum;	/* the base table sums to 0 */
	char oem[8];
	char product[12];
	uint32_t oem_table;
	uint16_t oem_table_size;
	uint16_t count;		/* entries in the base table */
	uint32_t lapic;		/* local APIC address */
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

/* 4.3.1: processor entry, 20 bytes. */
struct mpc_cpu {
	uint8_t type;		/* 0 */
	uint8_t apic_id;
	uint8_t apic_version;
	uint8_t flags;		/* EN, BP */
	uint32_t signature;	/* CPUID 1 EAX: stepping, model, family */
	uint32_t features;	/* CPUID 1 EDX */
	uint32_t reserved[2];
} __attribute__((packed));

/* 4.3.2: bus entry, 8 bytes. */
struct mpc_bus {
	uint8_t type;		/* 1 */
	uint8_t id;
	char name[6];		/* "ISA   ", space-padded */
} __attribute__((packed));

/* 4.3.3: I/O APIC entry, 8 bytes. */
struct mpc_ioapic {
	uint8_t type;		/* 2 */
	uint8_t id;
	uint8_t version;
	uint8_t flags;		/* EN */
	uint32_t address;
} __attribute__((packed));

/* 4.3.4 and 4.3.5: I/O and local interrupt assignment, 8 bytes each. */
struct mpc_irq {
	uint8_t type;		/* 3: I/O interrupt, 4: local interrupt */
	uint8_t irq_type;	/* INT, NMI, SMI, ExtINT */
	uint16_t flags;		/* polarity bits 1:0, trigger bits 3:2;
				 * 0 and 0: "conforms to the bus" (ISA:
				 * active high, edge) */
	uint8_t src_bus;
	uint8_t src_irq;
	uint8_t dst_apic;	/* I/O APIC id, or local APIC id (0xff: all) */
	uint8_t dst_pin;	/* INTIN# or LINTIN# */
} __attribute__((packed));

_Static_assert(sizeof(struct mpf) == 16, "MP floating pointer");
_Static_assert(sizeof(struct mpc_header) == 44, "MP table header");
_Static_assert(sizeof(struct mpc_cpu) == 20, "MP processor entry");
_Static_assert(sizeof(struct mpc_bus) == 8, "MP bus entry");
_Static_assert(sizeof(struct mpc_ioapic) == 8, "MP I/O APIC entry");
_Static_assert(sizeof(struct mpc_irq) == 8, "MP interrupt entry");

#define MP_SPEC_REV		4	/* 1.4 */
#define MP_ENTRY_CPU		0
#define MP_ENTRY_BUS		1
#define MP_ENTRY_IOAPIC		2
#define MP_ENTRY_IO_IRQ		3
#define MP_ENTRY_LOCAL_IRQ	4
#define MP_CPU_EN		(1U << 0)
#define MP_CPU_BP		(1U << 1)
#define MP_IOAPIC_EN		(1U << 0)
#define MP_IRQ_INT		0
#define MP_IRQ_NMI		1
#define MP_IRQ_EXTINT		3
#define MP_IRQ_CONFORMS		0
#define MP_ALL_LAPICS		0xff

/* The versions the in-kernel devices report (driver/arch/x86). */
#define LAPIC_VERSION		0x14	/* integrated xAPIC */
#define IOAPIC_VERSION		0x20	/* 82093AA */
#define ISA_BUS			0
#define ISA_IRQS		16

uint64_t axvm_mptable_size(unsigned int nr_cpus)
{
	return sizeof(struct mpf) + sizeof(struct mpc_header) +
	       nr_cpus * sizeof(struct mpc_cpu) + sizeof(struct mpc_bus) +
	       sizeof(struct mpc_ioapic) +
	       (ISA_IRQS + 2) * sizeof(struct mpc_irq);
}

/* The byte that makes len bytes at p sum to 0 (MP spec 4.1, 4.2). */
static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return (uint8_t)-sum;
}

static uint8_t *add_cpus(uint8_t *p, unsigned int nr_cpus, uint32_t signature,
			 uint32_t features)
{
	unsigned int i;

	for (i = 0; i < nr_cpus; i++) {
		struct mpc_cpu cpu = {
			.type = MP_ENTRY_CPU, .apic_id = (uint8_t)i,
			.apic_version = LAPIC_VERSION,
			.flags = MP_CPU_EN | (i == 0 ? MP_CPU_BP : 0),
			.signature = signature, .features = features,
		};

		memcpy(p, &cpu, sizeof(cpu));
		p += sizeof(cpu);
	}
	return p;
}

static uint8_t *add_irq(uint8_t *p, uint8_t type, uint8_t irq_type,
			uint8_t src_irq, uint8_t dst_apic, uint8_t dst_pin)
{
	struct mpc_irq e = {
		.type = type, .irq_type = irq_type, .flags = MP_IRQ_CONFORMS,
		.src_bus = ISA_BUS, .src_irq = src_irq,
		.dst_apic = dst_apic, .dst_pin = dst_pin,
	};

	memcpy(p, &e, sizeof(e));
	return p + sizeof(e);
}

/* Bus, I/O APIC (id nr_cpus, after the local APICs), ISA IRQ n -> pin
 * n, ExtINT -> LINT0 and NMI -> LINT1 of every local APIC. */
static uint8_t *add_platform(uint8_t *p, unsigned int nr_cpus)
{
	struct mpc_bus bus = { .type = MP_ENTRY_BUS, .id = ISA_BUS };
	struct mpc_ioapic ioapic = {
		.type = MP_ENTRY_IOAPIC, .id = (uint8_t)nr_cpus,
		.version = IOAPIC_VERSION, .flags = MP_IOAPIC_EN,
		.address = (uint32_t)AXVM_IOAPIC_DEFAULT_BASE,
	};
	unsigned int irq;

	memcpy(bus.name, "ISA   ", sizeof(bus.name));
	memcpy(p, &bus, sizeof(bus));
	p += sizeof(bus);
	memcpy(p, &ioapic, sizeof(ioapic));
	p += sizeof(ioapic);
	for (irq = 0; irq < ISA_IRQS; irq++)
		p = add_irq(p, MP_ENTRY_IO_IRQ, MP_IRQ_INT, (uint8_t)irq,
			    ioapic.id, (uint8_t)irq);
	p = add_irq(p, MP_ENTRY_LOCAL_IRQ, MP_IRQ_EXTINT, 0, MP_ALL_LAPICS, 0);
	return add_irq(p, MP_ENTRY_LOCAL_IRQ, MP_IRQ_NMI, 0, MP_ALL_LAPICS, 1);
}

/*
 * Writes the floating pointer at buf (guest address gpa, 16-byte
 * aligned) and the configuration table right after it. Returns the
 * bytes written, or -EINVAL (no CPU, more than the 8-bit APIC ids
 * allow, misaligned or above 4 GiB), -ENOSPC (len too small).
 */
int axvm_mptable_build(void *buf, size_t len, uint64_t gpa,
		       unsigned int nr_cpus, uint32_t cpu_signature,
		       uint32_t cpu_features)
{
	uint64_t size = axvm_mptable_size(nr_cpus);
	struct mpf *mpf = buf;
	struct mpc_header *mpc = (struct mpc_header *)(mpf + 1);
	uint8_t *p;

	if (!nr_cpus || nr_cpus > AXVM_MPTABLE_MAX_CPUS || gpa % 16 ||
	    gpa + size > (1ULL << 32))
		return -EINVAL;
	if (len < size)
		return -ENOSPC;
	memset(buf, 0, size);

	p = add_cpus((uint8_t *)(mpc + 1), nr_cpus, cpu_signature,
		     cpu_features);
	p = add_platform(p, nr_cpus);

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)(p - (uint8_t *)mpc);
	mpc->spec_rev = MP_SPEC_REV;
	memcpy(mpc->oem, "AXVM    ", sizeof(mpc->oem));
	memcpy(mpc->product, "AXVM X86    ", sizeof(mpc->product));
	mpc->count = (uint16_t)(nr_cpus + 1 + 1 + ISA_IRQS + 2);
	mpc->lapic = (uint32_t)AXVM_LAPIC_DEFAULT_BASE;
	mpc->checksum = checksum(mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->config = (uint32_t)(gpa + sizeof(*mpf));
	mpf->length = 1;
	mpf->spec_rev = MP_SPEC_REV;
	mpf->checksum = checksum(mpf, sizeof(*mpf));
	return (int)size;
}
