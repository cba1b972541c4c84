// SPDX-License-Identifier: GPL-2.0
/*
 * vmrun_limit.ko: the bare SVM world switch, for `make bench`'s "limit"
 * column. Not part of axvm: it does nothing but VMRUN, take the #VMEXIT,
 * move RIP past the intercepted instruction and enter again, so what it
 * measures is what the CPU (here: QEMU's emulated SVM) charges for one
 * exit of each kind, with no hypervisor logic at all.
 *
 * The guest is a 64-bit long-mode loop under nested paging, like the
 * axvm and KVM guests of the bench: guest page tables map GPA [0, 2 MiB)
 * with one 2 MiB page; the nested page tables map only GPA 0-0x4fff (the
 * guest's page tables and its code page), so a store to GPA 0x100000 is
 * a nested page fault with nothing behind it, like MMIO.
 *
 * debugfs (/sys/kernel/debug/vmrun_limit/):
 *   iterations       exits per measurement (read/write, default 10000)
 *   vmmcall cpuid rdmsr pio_out npf
 *                    reading one runs `iterations` exits of that kind and
 *                    prints "kind=... iterations=N ns_total=T
 *                    ns_per_exit=X tsc_per_exit=Y"
 *   vmmcall_vmload   VMMCALL with the VMSAVE/VMLOAD pair a real
 *                    hypervisor puts around VMRUN (host FS/GS/TR/... out,
 *                    the guest's in, and back), as axvm and KVM both do.
 *
 * SVM is turned on (EFER.SVME, VM_HSAVE_PA) on every CPU at load and off
 * at unload; the load fails with -EBUSY if another hypervisor (axvm.ko,
 * kvm_amd with a VM alive) has it.
 */
#define pr_fmt(fmt) "vmrun_limit: " fmt

#include <linux/module.h>
#include <linux/cpu.h>
#include <linux/debugfs.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/sched.h>
#include <linux/smp.h>
#include <linux/timekeeping.h>
#include <asm/cpufeature.h>
#include <asm/io.h>
#include <asm/msr.h>
#include <asm/svm.h>
#include <asm/tsc.h>

/* Guest physical layout. */
#define G_PML4		0x0000
#define G_PDPT		0x1000
#define G_PD		0x2000
#define G_CODE		0x3000
#define G_SPARE		0x4000
#define G_NR_PAGES	5
#define G_UNBACKED	0x100000	/* in the guest's 2 MiB page, not in NPT */

#define PTE_P		BIT_ULL(0)
#define PTE_RW		BIT_ULL(1)
#define PTE_US		BIT_ULL(2)
#define PTE_A		BIT_ULL(5)
#define PTE_D		BIT_ULL(6)
#define PTE_PS		BIT_ULL(7)
#define NPT_TABLE	(PTE_P | PTE_RW | PTE_US)

#define VMCB_CLEAN_ALL	0xfffU		/* the clean bits APM vol. 2 defines */

enum limit_kind {
	K_VMMCALL, K_CPUID, K_RDMSR, K_PIO_OUT, K_NPF, K_VMMCALL_VMLOAD,
	NR_KINDS
};

/*
 * Each guest loop: its offset in the code page, the entry RIP, the
 * intercepted instruction's RIP and length, the exit code it gives.
 */
static const struct limit_loop {
	const char *name;
	unsigned int offset;
	u8 code[16];
	unsigned int code_len;
	unsigned int insn_off, insn_len;
	u32 exit_code;
} loops[NR_KINDS] = {
	/* 0: vmmcall; jmp 0 */
	[K_VMMCALL] = { "vmmcall", 0x00, { 0x0f, 0x01, 0xd9, 0xeb, 0xfb }, 5,
			0, 3, SVM_EXIT_VMMCALL },
	/* 0: cpuid; jmp 0 */
	[K_CPUID] = { "cpuid", 0x10, { 0x0f, 0xa2, 0xeb, 0xfc }, 4,
		      0, 2, SVM_EXIT_CPUID },
	/* 0: mov $0x10, %ecx; 5: rdmsr; jmp 0 */
	[K_RDMSR] = { "rdmsr", 0x20,
		      { 0xb9, 0x10, 0x00, 0x00, 0x00, 0x0f, 0x32, 0xeb, 0xf7 },
		      9, 5, 2, SVM_EXIT_MSR },
	/* 0: mov $0x500, %dx; 4: out %al, %dx; jmp 0 */
	[K_PIO_OUT] = { "pio_out", 0x30,
			{ 0x66, 0xba, 0x00, 0x05, 0xee, 0xeb, 0xf9 }, 7,
			4, 1, SVM_EXIT_IOIO },
	/* 0: mov $G_UNBACKED, %ebx; 5: mov %eax, (%rbx); jmp 0 */
	[K_NPF] = { "npf", 0x40,
		    { 0xbb, 0x00, 0x00, 0x10, 0x00, 0x89, 0x03, 0xeb, 0xf7 },
		    9, 5, 2, SVM_EXIT_NPF },
	[K_VMMCALL_VMLOAD] = { "vmmcall_vmload", 0x00,
			       { 0x0f, 0x01, 0xd9, 0xeb, 0xfb }, 5,
			       0, 3, SVM_EXIT_VMMCALL },
};

struct limit_cpu {
	struct page *hsave;
	struct page *host_save;		/* VMSAVE area of the vmload variant */
	bool enabled;
	int err;
};

static DEFINE_PER_CPU(struct limit_cpu, limit_cpus);
static DEFINE_MUTEX(limit_lock);
static struct vmcb *vmcb;
static struct page *guest_pages[G_NR_PAGES];
static u64 *npt_tables[5];
static int npt_levels;
static void *iopm, *msrpm;
static u64 iterations = 10000;
static struct dentry *dir;

#define IOPM_ORDER	2	/* 12 KiB used */
#define MSRPM_ORDER	1	/* 8 KiB */

static void limit_cpu_enable(void *unused)
{
	struct limit_cpu *lc = this_cpu_ptr(&limit_cpus);
	u64 efer;

	rdmsrl(MSR_EFER, efer);
	if (efer & EFER_SVME) {
		lc->err = -EBUSY;
		return;
	}
	wrmsrl(MSR_VM_HSAVE_PA, page_to_phys(lc->hsave));
	wrmsrl(MSR_EFER, efer | EFER_SVME);
	lc->enabled = true;
}

static void limit_cpu_disable(void *unused)
{
	struct limit_cpu *lc = this_cpu_ptr(&limit_cpus);
	u64 efer;

	if (!lc->enabled)
		return;
	rdmsrl(MSR_EFER, efer);
	wrmsrl(MSR_EFER, efer & ~EFER_SVME);
	wrmsrl(MSR_VM_HSAVE_PA, 0);
	lc->enabled = false;
}

static void set_intercept(struct vmcb_control_area *c, unsigned int bit)
{
	c->intercepts[bit / 32] |= BIT(bit % 32);
}

static void init_seg(struct vmcb_seg *s, u16 sel, u16 attrib, u32 limit)
{
	s->selector = sel;
	s->attrib = attrib;
	s->limit = limit;
	s->base = 0;
}

static u64 gpa_to_hpa(u64 gpa)
{
	return page_to_phys(guest_pages[gpa >> PAGE_SHIFT]);
}

static u64 *guest_page(u64 gpa)
{
	return page_address(guest_pages[gpa >> PAGE_SHIFT]);
}

/* Nested tables: one table per level for GPA [0, 2 MiB); leaves 0-4. */
static void build_npt(void)
{
	int level, i;

	for (level = npt_levels; level > 1; level--)
		npt_tables[level - 1][0] = __pa(npt_tables[level - 2]) | NPT_TABLE;
	for (i = 0; i < G_NR_PAGES; i++)
		npt_tables[0][i] = gpa_to_hpa((u64)i << PAGE_SHIFT) |
				   PTE_P | PTE_RW | PTE_US;
}

static void build_guest(void)
{
	unsigned int k;

	guest_page(G_PML4)[0] = G_PDPT | PTE_P | PTE_RW | PTE_US | PTE_A;
	guest_page(G_PDPT)[0] = G_PD | PTE_P | PTE_RW | PTE_US | PTE_A;
	guest_page(G_PD)[0] = 0 | PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D | PTE_PS;
	for (k = 0; k < NR_KINDS; k++)
		memcpy((u8 *)guest_page(G_CODE) + loops[k].offset, loops[k].code,
		       loops[k].code_len);
}

static void build_vmcb(void)
{
	struct vmcb_control_area *c = &vmcb->control;
	struct vmcb_save_area *s = &vmcb->save;

	memset(vmcb, 0, PAGE_SIZE);
	set_intercept(c, INTERCEPT_INTR);
	set_intercept(c, INTERCEPT_NMI);
	set_intercept(c, INTERCEPT_SMI);
	set_intercept(c, INTERCEPT_CPUID);
	set_intercept(c, INTERCEPT_IOIO_PROT);
	set_intercept(c, INTERCEPT_MSR_PROT);
	set_intercept(c, INTERCEPT_SHUTDOWN);
	set_intercept(c, INTERCEPT_VMRUN);
	set_intercept(c, INTERCEPT_VMMCALL);
	c->iopm_base_pa = __pa(iopm);
	c->msrpm_base_pa = __pa(msrpm);
	c->asid = 1;
	c->tlb_ctl = TLB_CONTROL_FLUSH_ALL_ASID;
	c->int_ctl = V_INTR_MASKING_MASK;
	c->nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
	c->nested_cr3 = __pa(npt_tables[npt_levels - 1]);
	c->clean = 0;

	init_seg(&s->cs, 0x08, 0xa9b, 0xffffffff);	/* 64-bit code */
	init_seg(&s->ds, 0x10, 0xc93, 0xffffffff);
	init_seg(&s->es, 0x10, 0xc93, 0xffffffff);
	init_seg(&s->ss, 0x10, 0xc93, 0xffffffff);
	init_seg(&s->fs, 0x10, 0xc93, 0xffffffff);
	init_seg(&s->gs, 0x10, 0xc93, 0xffffffff);
	init_seg(&s->tr, 0, 0x8b, 0x67);
	init_seg(&s->ldtr, 0, 0x82, 0xffff);
	s->cpl = 0;
	s->efer = EFER_SVME | EFER_LME | EFER_LMA;
	s->cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE |
		 X86_CR0_WP | X86_CR0_PG;
	s->cr3 = G_PML4;
	s->cr4 = X86_CR4_PAE;
	s->dr6 = 0xffff0ff0;
	s->dr7 = 0x400;
	s->rflags = X86_EFLAGS_FIXED;
	s->rsp = G_SPARE + PAGE_SIZE;
	s->g_pat = 0x0007040600070406ULL;
}

/*
 * One world switch. The guest loops only touch RAX (saved in the VMCB),
 * RBX, RCX and RDX, but everything the compiler may hold is declared
 * clobbered so no host value is assumed to survive the guest.
 */
static __always_inline void limit_vmrun(u64 vmcb_pa)
{
	asm volatile("vmrun %%rax"
		     : "+a"(vmcb_pa)
		     :
		     : "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10",
		       "r11", "r12", "r13", "r14", "r15", "memory", "cc");
}

static __always_inline void limit_vmrun_vmload(u64 vmcb_pa, u64 host_pa)
{
	asm volatile("mov %[host], %%rax\n\t"
		     "vmsave %%rax\n\t"
		     "mov %[guest], %%rax\n\t"
		     "vmload %%rax\n\t"
		     "vmrun %%rax\n\t"
		     "mov %[guest], %%rax\n\t"
		     "vmsave %%rax\n\t"
		     "mov %[host], %%rax\n\t"
		     "vmload %%rax\n\t"
		     :
		     : [guest] "m"(vmcb_pa), [host] "m"(host_pa)
		     : "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9",
		       "r10", "r11", "r12", "r13", "r14", "r15", "memory", "cc");
}

static int limit_run(enum limit_kind kind, u64 n, u64 *ns, u64 *tsc)
{
	const struct limit_loop *l = &loops[kind];
	u64 vmcb_pa = __pa(vmcb);
	u64 rip_entry = G_CODE + l->offset;
	u64 rip_insn = rip_entry + l->insn_off;
	u64 t0 = 0, c0 = 0, i;
	unsigned long flags;
	int ret = 0;

	vmcb->save.rip = rip_entry;
	vmcb->save.rax = 0;
	vmcb->control.tlb_ctl = TLB_CONTROL_FLUSH_ALL_ASID;
	vmcb->control.clean = 0;

	/* One untimed entry: the guest runs up to its first exit. */
	for (i = 0; i <= n; i++) {
		if (i == 1) {
			t0 = ktime_get_ns();
			c0 = rdtsc_ordered();
		}
		local_irq_save(flags);
		asm volatile("clgi" ::: "memory");
		if (kind == K_VMMCALL_VMLOAD) {
			struct limit_cpu *lc = this_cpu_ptr(&limit_cpus);

			limit_vmrun_vmload(vmcb_pa, page_to_phys(lc->host_save));
		} else {
			limit_vmrun(vmcb_pa);
		}
		asm volatile("stgi" ::: "memory");
		local_irq_restore(flags);

		if (vmcb->control.exit_code != l->exit_code) {
			if (vmcb->control.exit_code == SVM_EXIT_INTR ||
			    vmcb->control.exit_code == SVM_EXIT_NMI ||
			    vmcb->control.exit_code == SVM_EXIT_SMI) {
				continue;	/* counted: the host took it */
			}
			pr_err("%s: unexpected exit 0x%x info1 0x%llx info2 0x%llx rip 0x%llx\n",
			       l->name, vmcb->control.exit_code,
			       vmcb->control.exit_info_1,
			       vmcb->control.exit_info_2, vmcb->save.rip);
			ret = -EIO;
			break;
		}
		if (vmcb->save.rip != rip_insn) {
			pr_err("%s: exit at rip 0x%llx, expected 0x%llx\n",
			       l->name, vmcb->save.rip, rip_insn);
			ret = -EIO;
			break;
		}
		vmcb->save.rip = rip_insn + l->insn_len;
		/* Nothing in the VMCB changes but RIP/RAX from now on. */
		vmcb->control.tlb_ctl = TLB_CONTROL_DO_NOTHING;
		vmcb->control.clean = VMCB_CLEAN_ALL;
		if ((i & 63) == 63)
			cond_resched();
	}
	if (!ret) {
		*tsc = rdtsc_ordered() - c0;
		*ns = ktime_get_ns() - t0;
	}
	return ret;
}


static ssize_t limit_read(struct file *file, char __user *ubuf, size_t len,
			  loff_t *ppos)
{
	enum limit_kind kind = (enum limit_kind)(uintptr_t)file->private_data;
	char buf[192];
	u64 n, ns = 0, tsc = 0, per100;
	int ret, size;

	if (*ppos)
		return 0;
	n = READ_ONCE(iterations);
	if (!n || n > 100000000)
		return -EINVAL;
	mutex_lock(&limit_lock);
	ret = limit_run(kind, n, &ns, &tsc);
	mutex_unlock(&limit_lock);
	if (ret)
		return ret;
	per100 = div64_u64(ns * 1000, n);	/* ns per exit, x1000 */
	size = scnprintf(buf, sizeof(buf),
			 "kind=%s iterations=%llu ns_total=%llu ns_per_exit=%llu.%03llu tsc_per_exit=%llu\n",
			 loops[kind].name, n, ns, per100 / 1000, per100 % 1000,
			 div64_u64(tsc, n));
	return simple_read_from_buffer(ubuf, len, ppos, buf, size);
}

static int limit_open(struct inode *inode, struct file *file)
{
	file->private_data = inode->i_private;
	return nonseekable_open(inode, file);
}

static const struct file_operations limit_fops = {
	.owner = THIS_MODULE,
	.open = limit_open,
	.read = limit_read,
	.llseek = no_llseek,
};

static void limit_free(void)
{
	int cpu, i;

	for_each_possible_cpu(cpu) {
		struct limit_cpu *lc = per_cpu_ptr(&limit_cpus, cpu);

		if (lc->hsave)
			__free_page(lc->hsave);
		if (lc->host_save)
			__free_page(lc->host_save);
		lc->hsave = lc->host_save = NULL;
	}
	for (i = 0; i < G_NR_PAGES; i++)
		if (guest_pages[i])
			__free_page(guest_pages[i]);
	for (i = 0; i < 5; i++)
		free_page((unsigned long)npt_tables[i]);
	free_page((unsigned long)vmcb);
	free_pages((unsigned long)iopm, IOPM_ORDER);
	free_pages((unsigned long)msrpm, MSRPM_ORDER);
}

static int __init limit_init(void)
{
	int cpu, i, ret = 0;

	if (!boot_cpu_has(X86_FEATURE_SVM) || !boot_cpu_has(X86_FEATURE_NPT)) {
		pr_err("needs AMD SVM with nested paging\n");
		return -ENODEV;
	}
	npt_levels = (native_read_cr4() & X86_CR4_LA57) ? 5 : 4;
	for_each_possible_cpu(cpu) {
		struct limit_cpu *lc = per_cpu_ptr(&limit_cpus, cpu);

		lc->hsave = alloc_page(GFP_KERNEL | __GFP_ZERO);
		lc->host_save = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!lc->hsave || !lc->host_save)
			ret = -ENOMEM;
	}
	for (i = 0; i < G_NR_PAGES; i++) {
		guest_pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!guest_pages[i])
			ret = -ENOMEM;
	}
	for (i = 0; i < npt_levels; i++) {
		npt_tables[i] = (u64 *)get_zeroed_page(GFP_KERNEL);
		if (!npt_tables[i])
			ret = -ENOMEM;
	}
	vmcb = (struct vmcb *)get_zeroed_page(GFP_KERNEL);
	iopm = (void *)__get_free_pages(GFP_KERNEL, IOPM_ORDER);
	msrpm = (void *)__get_free_pages(GFP_KERNEL, MSRPM_ORDER);
	if (!vmcb || !iopm || !msrpm)
		ret = -ENOMEM;
	if (ret)
		goto fail;
	memset(iopm, 0xff, PAGE_SIZE << IOPM_ORDER);	/* every port exits */
	memset(msrpm, 0xff, PAGE_SIZE << MSRPM_ORDER);	/* every MSR exits */
	build_npt();
	build_guest();
	build_vmcb();

	cpus_read_lock();
	on_each_cpu(limit_cpu_enable, NULL, 1);
	for_each_online_cpu(cpu)
		if (per_cpu_ptr(&limit_cpus, cpu)->err)
			ret = -EBUSY;
	if (ret) {
		on_each_cpu(limit_cpu_disable, NULL, 1);
		cpus_read_unlock();
		pr_err("SVM is already in use by another hypervisor (axvm.ko or kvm_amd with a VM)\n");
		goto fail;
	}
	cpus_read_unlock();

	dir = debugfs_create_dir("vmrun_limit", NULL);
	debugfs_create_u64("iterations", 0600, dir, &iterations);
	for (i = 0; i < NR_KINDS; i++)
		debugfs_create_file(loops[i].name, 0400, dir,
				    (void *)(uintptr_t)i, &limit_fops);
	pr_info("SVM on, %d-level NPT; /sys/kernel/debug/vmrun_limit/\n",
		npt_levels);
	return 0;
fail:
	limit_free();
	return ret;
}

static void __exit limit_exit(void)
{
	debugfs_remove_recursive(dir);
	cpus_read_lock();
	on_each_cpu(limit_cpu_disable, NULL, 1);
	cpus_read_unlock();
	limit_free();
}

module_init(limit_init);
module_exit(limit_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Bare SVM VMRUN/#VMEXIT loop: the limit column of make bench");
