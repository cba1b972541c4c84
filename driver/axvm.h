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
#include <linux/axvm.h>

#define AXVM_MAX_VCPUS		64	/* the seed's TEMP_MAX_VCPU_NUM */
#define AXVM_MAX_REGIONS	64
/* The seed's VM_ASPACE_SIZE: guest physical space is [0, 0x7fff_ffff_f000). */
#define AXVM_GPA_LIMIT		0x7ffffffff000ULL

#define axvm_err_ratelimited(fmt, ...) \
	pr_err_ratelimited("axvm: " fmt, ##__VA_ARGS__)
#define axvm_info(fmt, ...) pr_info("axvm: " fmt, ##__VA_ARGS__)

struct axvm_vm;
struct axvm_vcpu;

/* A guest memory region (the seed's VMMemoryRegion). */
struct axvm_region {
	u64 gpa;
	u64 size;
	u32 flags;		/* AXVM_MEM_* */
	struct xarray pages;	/* page index in region -> struct page * */
};

struct axvm_vm {
	struct kref ref;
	u32 id;

	/* Protects state, regions[], vcpus[] and their counts. */
	struct mutex lock;
	enum axvm_vm_state state;
	struct axvm_region regions[AXVM_MAX_REGIONS];	/* sorted by gpa */
	unsigned int nr_regions;
	struct axvm_vcpu *vcpus[AXVM_MAX_VCPUS];
	unsigned int nr_vcpus;
	atomic_t nr_running;	/* vCPUs inside AXVM_RUN */

	/* Serialises page population and nested page table updates. */
	struct mutex mmu_lock;
	atomic64_t populated_bytes;
	u64 gpa_limit;

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
	/* Held while the vCPU runs and while its registers are accessed. */
	struct mutex run_lock;
	struct axvm_run *run;	/* one page, mmap()ed by userspace */
	atomic_t mode;		/* enum axvm_vcpu_mode */
	int cpu;		/* physical CPU while IN_GUEST */
	struct {
		u64 gpa;
		u32 access;	/* AXVM_NPF_* */
	} npf;
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
	/* One guest entry; called with preemption enabled. */
	enum axvm_entry_result (*vcpu_enter)(struct axvm_vcpu *vcpu);
	/* Nested page fault outside guest memory: decode it as MMIO. */
	enum axvm_entry_result (*vcpu_mmio)(struct axvm_vcpu *vcpu);

	void (*get_regs)(struct axvm_vcpu *vcpu, struct axvm_regs *regs);
	int (*set_regs)(struct axvm_vcpu *vcpu, const struct axvm_regs *regs);
	void (*get_sregs)(struct axvm_vcpu *vcpu, struct axvm_sregs *sregs);
	int (*set_sregs)(struct axvm_vcpu *vcpu, const struct axvm_sregs *sregs);
};

extern const struct axvm_arch_ops *axvm_arch;
extern const struct axvm_arch_ops axvm_svm_ops;

/* main.c: copy an extensible {size, flags, ...} struct from userspace. */
int axvm_copy_args(void *dst, size_t dst_size, const void __user *src);
int axvm_copy_args_out(void __user *dst, const void *src, size_t src_size);
bool axvm_mem_is_zero(const void *p, size_t len);

/* vm.c */
int axvm_create_vm(struct axvm_create_vm __user *uarg);
void axvm_vm_get(struct axvm_vm *vm);
void axvm_vm_put(struct axvm_vm *vm);
void axvm_vm_vcpu_left(struct axvm_vm *vm);

/* vcpu.c */
int axvm_vcpu_create(struct axvm_vm *vm, struct axvm_create_vcpu __user *uarg);
void axvm_vcpu_kick(struct axvm_vcpu *vcpu);

/* memory.c: guest memory regions and their pages. */
struct axvm_region *axvm_find_region(struct axvm_vm *vm, u64 gpa);
int axvm_region_add(struct axvm_vm *vm, struct axvm_memory_region *args);
void axvm_regions_free(struct axvm_vm *vm);
int axvm_handle_npf(struct axvm_vm *vm, u64 gpa, u32 access);
int axvm_guest_copy(struct axvm_vm *vm, u64 gpa, void *kbuf,
		    void __user *ubuf, u64 len, bool write);
int axvm_read_gpa(struct axvm_vm *vm, u64 gpa, void *buf, unsigned int len);
int axvm_vm_mmap(struct axvm_vm *vm, struct vm_area_struct *vma);

#endif /* AXVM_CORE_H */
