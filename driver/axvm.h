/* SPDX-License-Identifier: GPL-2.0 */
/*
 * axvm: the arch-neutral core's objects and the backend ops table.
 *
 * Object lifetimes (see Documentation/design.md):
 *   /dev/axvm fd  -> creates VMs, holds nothing.
 *   VM fd         -> one reference on struct axvm_vm.
 *   vCPU fd       -> one reference on its VM; owns struct axvm_vcpu.
 *   mmap()        -> pins the fd it came from, hence the VM.
 * The VM is freed when its last reference goes; the module cannot be
 * unloaded while any fd is open (file_operations.owner).
 */
#ifndef AXVM_CORE_H
#define AXVM_CORE_H

#include <linux/types.h>
#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/xarray.h>
#include <linux/ratelimit.h>
#include <linux/cpumask.h>
#include <linux/list.h>
#include <linux/rcuwait.h>
#include <linux/axvm.h>

#define AXVM_MAX_VCPUS		64	/* the seed's TEMP_MAX_VCPU_NUM */
#define AXVM_MAX_REGIONS	64
/* The seed's VM_ASPACE_SIZE: guest physical space is [0, 0x7fff_ffff_f000). */
#define AXVM_GPA_LIMIT		0x7ffffffff000ULL

/* Internal mapping flag next to AXVM_MEM_*: device memory, uncached. */
#define AXVM_MAP_UNCACHED	(1U << 31)
/* Internal region flag: pages are shared (IVC), owned by someone else. */
#define AXVM_REGION_SHARED	(1U << 30)

#define AXVM_MAX_DEVICES	32

#define axvm_err_ratelimited(fmt, ...) \
	pr_err_ratelimited("axvm: " fmt, ##__VA_ARGS__)
#define axvm_info(fmt, ...) pr_info("axvm: " fmt, ##__VA_ARGS__)

struct axvm_vm;
struct axvm_vcpu;
struct page;
struct dentry;
struct vm_area_struct;

/* A guest memory region (the seed's VMMemoryRegion). */
struct axvm_region {
	u64 gpa;
	u64 size;
	u32 flags;		/* AXVM_MEM_* */
	struct xarray pages;	/* page index in region -> struct page * */
};

/* An in-kernel emulated device on the VM's bus (bus.c). */
struct axvm_io_dev;
struct axvm_io_dev_ops {
	/*
	 * offset is from dev->base; width is 1, 2, 4 or 8; vcpu is the one
	 * accessing (per-vCPU devices such as the local APIC need it).
	 * 0, or -errno: not handled here, the access goes to userspace as
	 * an ordinary exit (a device that does not answer right now).
	 */
	int (*read)(struct axvm_io_dev *dev, struct axvm_vcpu *vcpu,
		    u64 offset, unsigned int width, u64 *val);
	int (*write)(struct axvm_io_dev *dev, struct axvm_vcpu *vcpu,
		     u64 offset, unsigned int width, u64 val);
	/*
	 * AXVM_RESET (optional): registers back to their power-on values.
	 * No vCPU runs; the host side (fds, data they buffered) stays.
	 */
	void (*reset)(struct axvm_io_dev *dev);
	/* The VM is going away: drop the device's hold on it. */
	void (*destroy)(struct axvm_io_dev *dev);
};
struct axvm_io_dev {
	u64 base;
	u64 len;
	u32 space;		/* AXVM_DEV_SPACE_* */
	const struct axvm_io_dev_ops *ops;
};
/* One address space's devices, sorted by base for binary search. */
struct axvm_bus {
	struct axvm_io_dev *devs[AXVM_MAX_DEVICES];
	unsigned int nr;
};

struct axvm_passthrough_range;	/* passthrough.c */
struct axvm_lapic;		/* arch/x86/lapic.c */
struct axvm_ivc_mapping;	/* ivc.c */

struct axvm_vm {
	struct kref ref;
	u32 id;

	/* Protects state, regions[], vcpus[] and their counts. */
	struct mutex lock;
	enum axvm_vm_state state;
	struct axvm_region regions[AXVM_MAX_REGIONS];	/* sorted by gpa */
	unsigned int nr_regions;
	/* Written under lock; read under RCU by injectors (irq.c). */
	struct axvm_vcpu __rcu *vcpus[AXVM_MAX_VCPUS];
	unsigned int nr_vcpus;
	atomic_t nr_running;	/* vCPUs inside AXVM_RUN */

	/* Serialises page population and nested page table updates. */
	struct mutex mmu_lock;
	atomic64_t populated_bytes;
	u64 gpa_limit;

	/* In-kernel devices, one bus per space; set up in LOADING only. */
	struct axvm_bus buses[2];	/* AXVM_DEV_SPACE_PIO, _MMIO */
	/* Passthrough ranges, merged and sorted (passthrough.c), mmu_lock. */
	struct list_head passthrough;
	/* IVC channels mapped into this VM (ivc.c), under vm->lock. */
	struct list_head ivc_mappings;
	struct dentry *debugfs;

	/*
	 * The interrupt controllers of the platform (x86: ioapic.c,
	 * lapic.c), set in LOADING when their devices are added.
	 */
	struct axvm_io_dev *ioapic;
	bool has_lapic;

	void *arch;		/* backend's per-VM state */
};

/* What the backend tells the core after one guest entry. */
enum axvm_entry_result {
	AXVM_ENTRY_HANDLED,	/* handled in the backend: enter again */
	AXVM_ENTRY_USER,	/* vcpu->run is filled: return to userspace */
	AXVM_ENTRY_NPF,		/* nested page fault: see vcpu->npf */
};

#define AXVM_NPF_WRITE	(1U << 0)
#define AXVM_NPF_FETCH	(1U << 1)
#define AXVM_NPF_WALK	(1U << 2)	/* while walking the guest's page tables */

/* vcpu->mode: where the vCPU thread is, for kicks (see vcpu.c). */
enum axvm_vcpu_mode {
	AXVM_VCPU_OUTSIDE = 0,
	AXVM_VCPU_IN_GUEST = 1,
};

struct axvm_vcpu {
	struct axvm_vm *vm;
	u32 id;
	u32 phys_id;		/* the id the guest sees (APIC id) */
	cpumask_var_t cpus;	/* host CPUs this vCPU may run on */
	/* Interrupts waiting for the guest to accept them (irq.c). */
	DECLARE_BITMAP(pending_irqs, 256);
	struct rcuwait hlt_wait;	/* a vCPU sleeping in HLT */
	u64 stats[AXVM_STAT_SLOTS];	/* enum axvm_stat, this vCPU only */
	u64 irqs_injected;
	struct dentry *debugfs;
	struct rcu_head rcu;		/* freed after readers of vcpus[] */
	/* Held while the vCPU runs and while its registers are accessed. */
	struct mutex run_lock;
	struct axvm_run *run;	/* one page, mmap()ed by userspace */
	atomic_t mode;		/* enum axvm_vcpu_mode */
	int cpu;		/* physical CPU while IN_GUEST */
	struct {
		u64 gpa;
		u32 access;	/* AXVM_NPF_* */
	} npf;
	struct axvm_lapic *lapic;	/* the backend's interrupt controller */
	void *arch;
};

/*
 * One backend per vendor (driver/arch/x86/svm.c now, vmx.c later).
 * Every hook that can fail returns 0 or -errno.
 */
struct axvm_arch_ops {
	const char *name;
	u32 backend;		/* enum axvm_backend */

	/* Module init/exit: probe the CPU, allocate global state. */
	int (*hardware_setup)(void);
	void (*hardware_unsetup)(void);
	/* Per physical CPU, called through CPU hotplug. */
	int (*cpu_enable)(unsigned int cpu);
	int (*cpu_disable)(unsigned int cpu);
	void (*fill_caps)(struct axvm_caps *caps);

	int (*vm_init)(struct axvm_vm *vm);
	void (*vm_destroy)(struct axvm_vm *vm);
	/* Maps one 4 KiB guest page to host pfn with AXVM_MEM_* flags. */
	int (*map_page)(struct axvm_vm *vm, u64 gpa, u64 pfn, u32 flags);
	/* Unmaps [gpa, gpa + size) and flushes the guest TLBs. */
	void (*unmap_range)(struct axvm_vm *vm, u64 gpa, u64 size);

	int (*vcpu_init)(struct axvm_vcpu *vcpu);
	void (*vcpu_destroy)(struct axvm_vcpu *vcpu);
	/*
	 * Completes the instruction that caused the last userspace exit
	 * (IN data, MMIO read data, hypercall return value).
	 */
	void (*vcpu_complete_user_exit)(struct axvm_vcpu *vcpu);
	/*
	 * Around one AXVM_RUN's loop (the vCPU thread, run_lock held):
	 * load the guest's long-lived state (FPU) and put it away again.
	 */
	void (*vcpu_load)(struct axvm_vcpu *vcpu);
	void (*vcpu_put)(struct axvm_vcpu *vcpu);
	/* One guest entry; called with preemption enabled. */
	enum axvm_entry_result (*vcpu_enter)(struct axvm_vcpu *vcpu);
	/* Nested page fault outside guest memory: decode it as MMIO. */
	enum axvm_entry_result (*vcpu_mmio)(struct axvm_vcpu *vcpu);

	/* Power-on state again (AXVM_RESET). */
	void (*vcpu_reset)(struct axvm_vcpu *vcpu);
	/* Can the guest take an external interrupt right now? */
	bool (*vcpu_irq_window_open)(struct axvm_vcpu *vcpu);
	/*
	 * The vector the vCPU's interrupt controller would deliver now
	 * (-1: none), and its acceptance; for HLT wake-ups and injection.
	 */
	int (*vcpu_next_irq)(struct axvm_vcpu *vcpu);
	void (*vcpu_irq_accepted)(struct axvm_vcpu *vcpu, int vector);

	/* Platform devices (AXVM_ADD_DEVICE types beyond the UART). */
	struct axvm_io_dev *(*device_create)(struct axvm_vm *vm, u32 type);
	/* Drives an interrupt controller input pin (AXVM_SET_IRQ_LINE). */
	int (*set_irq_line)(struct axvm_vm *vm, u32 pin, int level);

	void (*get_regs)(struct axvm_vcpu *vcpu, struct axvm_regs *regs);
	int (*set_regs)(struct axvm_vcpu *vcpu, const struct axvm_regs *regs);
	void (*get_sregs)(struct axvm_vcpu *vcpu, struct axvm_sregs *sregs);
	int (*set_sregs)(struct axvm_vcpu *vcpu, const struct axvm_sregs *sregs);
};

extern const struct axvm_arch_ops *axvm_arch;
/* Set by the reboot notifier: virtualisation is off on every CPU. */
extern bool axvm_rebooting;
extern const struct axvm_arch_ops axvm_svm_ops;

/* main.c: copy an extensible {size, flags, ...} struct from userspace. */
int axvm_copy_args(void *dst, size_t dst_size, const void __user *src);
/* The same for a struct that grew: callers may pass min_size or more. */
int axvm_copy_args_min(void *dst, size_t dst_size, size_t min_size,
		       const void __user *src);
int axvm_copy_args_out(void __user *dst, const void *src, size_t src_size);
bool axvm_mem_is_zero(const void *p, size_t len);
int axvm_copy_list_out(void __user *uarg, void *args, size_t args_size,
		       u32 *nr_entries, u64 entries, const void *ents, u32 n,
		       size_t ent_size);

/* vm.c */
int axvm_create_vm(struct axvm_create_vm __user *uarg);
void axvm_vm_get(struct axvm_vm *vm);
void axvm_vm_put(struct axvm_vm *vm);
void axvm_vm_vcpu_left(struct axvm_vm *vm);

/* vcpu.c */
int axvm_vcpu_create(struct axvm_vm *vm, struct axvm_create_vcpu __user *uarg);
/* Gets vcpu out of the guest; with wait, returns once it is out. */
void axvm_vcpu_kick(struct axvm_vcpu *vcpu, bool wait);
void axvm_vm_kick_all(struct axvm_vm *vm, bool wait);
static inline void axvm_stat_inc(struct axvm_vcpu *vcpu, enum axvm_stat s)
{
	vcpu->stats[s]++;
}

/* irq.c: interrupt injection (the seed's inject_interrupt_to_vcpu). */
int axvm_vm_inject_irq(struct axvm_vm *vm, u64 vcpu_mask, u32 vector);
long axvm_vm_ioctl_inject_irq(struct axvm_vm *vm, struct axvm_irq __user *u);
/* Backend: the highest pending vector, or -1. */
int axvm_vcpu_next_irq(struct axvm_vcpu *vcpu);
/* The highest vector in pending_irqs, whatever the controller says. */
int axvm_vcpu_highest_pending(struct axvm_vcpu *vcpu);
long axvm_vm_ioctl_set_irq_line(struct axvm_vm *vm,
				struct axvm_irq_line __user *u);
void axvm_vcpu_irq_delivered(struct axvm_vcpu *vcpu, int vector);
/* HLT with interrupts enabled: sleep until an IRQ, signal or kick. */
void axvm_vcpu_halt(struct axvm_vcpu *vcpu);

/* bus.c: in-kernel devices. */
int axvm_bus_register(struct axvm_vm *vm, struct axvm_io_dev *dev);
bool axvm_bus_overlaps(struct axvm_vm *vm, u32 space, u64 base, u64 len);
/* Completes an IO/MMIO exit in vcpu->run if a device claims it. */
bool axvm_bus_handle_exit(struct axvm_vcpu *vcpu);
void axvm_bus_reset(struct axvm_vm *vm);
void axvm_bus_destroy(struct axvm_vm *vm);
long axvm_vm_ioctl_add_device(struct axvm_vm *vm, struct axvm_device __user *u);

/* passthrough.c */
long axvm_vm_ioctl_add_passthrough(struct axvm_vm *vm,
				   struct axvm_passthrough __user *u);
long axvm_vm_ioctl_remove_passthrough(struct axvm_vm *vm,
				      struct axvm_passthrough __user *u);
long axvm_vm_ioctl_get_passthrough_map(struct axvm_vm *vm,
				       struct axvm_passthrough_map __user *u);
/* True if [gpa, gpa + size) meets a passthrough range; mmu_lock held. */
bool axvm_passthrough_overlaps(struct axvm_vm *vm, u64 gpa, u64 size);
/*
 * A nested page fault outside the regions: -EPERM for a fetch from a
 * device range, 0 if the page is mapped by now, -ENOENT (MMIO) otherwise.
 */
int axvm_passthrough_npf(struct axvm_vm *vm, u64 gpa, u32 access);
void axvm_passthrough_free(struct axvm_vm *vm);

/* ivc.c */
long axvm_vm_ioctl_ivc_create(struct axvm_vm *vm, struct axvm_ivc __user *u);
long axvm_vm_ioctl_ivc_attach(struct axvm_vm *vm, struct axvm_ivc __user *u);
long axvm_vm_ioctl_ivc_detach(struct axvm_vm *vm, struct axvm_ivc __user *u);
/* The AXVM_HC_IVC_RING hypercall: 0 or -errno for the guest's RAX. */
long axvm_ivc_hypercall_ring(struct axvm_vcpu *vcpu, u64 gpa);
void axvm_ivc_detach_all(struct axvm_vm *vm);

/* stats.c: AXVM_GET_STATS, AXVM_GET_VCPU_STATS and debugfs. */
long axvm_vm_ioctl_get_stats(struct axvm_vm *vm, struct axvm_stats __user *u);
long axvm_vcpu_ioctl_get_stats(struct axvm_vcpu *vcpu,
			       struct axvm_stats __user *u);
void axvm_debugfs_init(void);
void axvm_debugfs_exit(void);
void axvm_debugfs_add_vm(struct axvm_vm *vm);
void axvm_debugfs_add_vcpu(struct axvm_vcpu *vcpu);

/* memory.c: guest memory regions and their pages. */
struct axvm_region *axvm_find_region(struct axvm_vm *vm, u64 gpa);
int axvm_region_add(struct axvm_vm *vm, struct axvm_memory_region *args);
/*
 * A region of pages that belong to someone else (IVC): each page gets a
 * reference, dropped when the region goes. vm->lock held; any state.
 * -EEXIST on overlap with a region or passthrough range.
 */
int axvm_region_add_shared(struct axvm_vm *vm, u64 gpa, struct page **pages,
			   unsigned long nr_pages, u32 flags);
/* Removes the region starting at gpa: unmapped, TLBs flushed, freed. */
int axvm_region_remove(struct axvm_vm *vm, u64 gpa);
/* Zeroes guest memory (AXVM_RESET): lazy pages are dropped instead. */
void axvm_regions_zero(struct axvm_vm *vm);
/* Is [gpa, gpa + size) free of regions? mmu_lock held. */
bool axvm_range_is_free_of_regions(struct axvm_vm *vm, u64 gpa, u64 size);
void axvm_regions_free(struct axvm_vm *vm);
int axvm_handle_npf(struct axvm_vm *vm, u64 gpa, u32 access);
int axvm_guest_copy(struct axvm_vm *vm, u64 gpa, void *kbuf,
		    void __user *ubuf, u64 len, bool write);
int axvm_read_gpa(struct axvm_vm *vm, u64 gpa, void *buf, unsigned int len);
int axvm_vm_mmap(struct axvm_vm *vm, struct vm_area_struct *vma);

#endif /* AXVM_CORE_H */
