/* SPDX-License-Identifier: GPL-2.0 */
/*
 * axbench: one harness, two backends (axvm.ko through libaxvm, KVM
 * through /dev/kvm directly), the same guest payload and the same guest
 * CPU state on both. See Documentation/benchmarks.md.
 */
#ifndef AXBENCH_H
#define AXBENCH_H

#include <stddef.h>
#include <stdint.h>
#include "../guest/layout.h"

/* Userspace's view of one exit, reduced to what the workloads check. */
enum bexit_kind {
	BX_IO,		/* port I/O: port */
	BX_MMIO,	/* MMIO: gpa, is_write */
	BX_HYPERCALL,	/* VMMCALL that reached userspace: nr */
	BX_HLT,
	BX_OTHER,	/* anything else: reason, backend-specific */
};

struct bexit {
	enum bexit_kind kind;
	uint16_t port;
	uint8_t is_write;
	uint64_t gpa;
	uint64_t nr;
	uint64_t reason;	/* BX_OTHER: the backend's exit reason */
};

struct vm_opts {
	uint64_t mem_size;	/* region at GPA 0 */
	int eager;		/* axvm: populate at creation (not AXVM_MEM_LAZY) */
	int payload;		/* load payload, page tables, long-mode state */
	uint64_t touch_size;	/* extra lazy region at TOUCH_GPA */
	int touch_thp;		/* KVM: leave THP on the touch region's mmap */
	int irqchip;		/* KVM: in-kernel local APIC/IOAPIC/PIC */
	int hypercall_exit;	/* KVM: KVM_CAP_EXIT_HYPERCALL for nr 12 */
};

struct bvm;

struct backend {
	const char *name;
	int (*init)(void);
	int (*vm_create)(const struct vm_opts *o, struct bvm **out);
	void (*vm_destroy)(struct bvm *vm);
	/* Host view of the region at GPA 0 (payload VMs only). */
	void *(*low_hva)(struct bvm *vm);
	int (*set_entry)(struct bvm *vm, uint64_t rip, uint64_t rdi,
			 uint64_t rsi, uint64_t rdx);
	int (*run)(struct bvm *vm, struct bexit *ex);
	/* Exits the vCPU has taken, all kinds (-1 if unknown). */
	int64_t (*exit_count)(struct bvm *vm);
	/* Injects an external interrupt from any thread; -ENOSYS if none. */
	int (*inject_irq)(struct bvm *vm, int vector);
	/* Whether KVM_CAP_EXIT_HYPERCALL-like userspace hypercalls work. */
	int (*has_user_hypercall)(void);
};

extern const struct backend backend_axvm;
extern const struct backend backend_kvm;

/* The long-mode guest state both backends load (harness.c). */
struct gseg {
	uint64_t base;
	uint32_t limit;
	uint16_t selector;
	uint16_t attrib;	/* SVM 12-bit layout, bit 12 = unusable */
};

struct gstate {
	struct gseg cs, ds, es, fs, gs, ss, tr, ldtr;
	uint64_t gdt_base, idt_base;
	uint16_t gdt_limit, idt_limit;
	uint64_t cr0, cr3, cr4, efer;
};

void guest_state(struct gstate *st);
/* Writes GDT, page tables, IDT and payload into the low region. */
void guest_memory_init(void *low);

extern const unsigned char payload_start[], payload_end[];

#endif
