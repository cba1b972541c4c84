// SPDX-License-Identifier: GPL-2.0
/* VM and vCPU helpers for the axvm selftests; see axvm_util.h. */
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "axvm_util.h"
#include "processor.h"
#include "ucall.h"

/* Linker-provided bounds of the loaded image. */
extern char __executable_start[], _end[];

int sys_open(void)
{
	int fd = axvm_open();

	if (fd == -ENOENT || fd == -ENODEV || fd == -ENXIO)
		test_skip("%s is not available (is axvm.ko loaded?)",
			  AXVM_DEV_PATH);
	TEST_ASSERT(fd >= 0, "open(%s) failed: %s", AXVM_DEV_PATH,
		    strerror(-fd));
	return fd;
}

const struct axvm_caps *sys_caps(void)
{
	static struct axvm_caps caps;
	static bool valid;
	int fd, r;

	if (valid)
		return &caps;
	fd = sys_open();
	memset(&caps, 0, sizeof(caps));
	caps.size = sizeof(caps);
	r = axvm_get_caps(fd, &caps);
	TEST_ASSERT(!r, "AXVM_GET_CAPS failed: %s", strerror(-r));
	close(fd);
	valid = true;
	return &caps;
}

struct tvm *vm_create_barebones(void)
{
	struct tvm *vm = calloc(1, sizeof(*vm));
	int r;

	TEST_ASSERT(vm, "out of memory");
	vm->caps = *sys_caps();
	r = axvm_vm_create(&vm->vm);
	TEST_ASSERT(!r, "creating a VM failed: %s", strerror(-r));
	vm->pt_pool_next = GUEST_PT_POOL_GPA;
	return vm;
}

int __vm_ioctl(struct tvm *vm, unsigned long req, void *arg)
{
	return __test_ioctl(vm->vm.fd, req, arg);
}

int __vm_add_region(struct tvm *vm, uint64_t gpa, uint64_t size,
		    uint32_t flags, uint64_t *mmap_offset)
{
	return axvm_vm_add_memory_region(&vm->vm, gpa, size, flags,
					 mmap_offset);
}

uint64_t vm_add_region(struct tvm *vm, uint64_t gpa, uint64_t size,
		       uint32_t flags)
{
	uint64_t off = 0;
	int r = __vm_add_region(vm, gpa, size, flags, &off);

	TEST_ASSERT(!r, "adding region gpa %#llx size %#llx flags %#x: %s",
		    (unsigned long long)gpa, (unsigned long long)size, flags,
		    strerror(-r));
	return off;
}

static int copy_segment(struct dl_phdr_info *info, size_t size, void *data)
{
	uint64_t lo = (uint64_t)(uintptr_t)__executable_start;
	uint64_t hi = (uint64_t)(uintptr_t)_end;
	struct tvm *vm = data;
	int i;

	(void)size;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uint64_t start, end;

		if (ph->p_type != PT_LOAD)
			continue;
		start = info->dlpi_addr + ph->p_vaddr;
		end = start + ph->p_memsz;
		/* Only the test binary itself, not the vDSO. */
		if (start < (lo & ~(SZ_4K - 1)) || end > ALIGN_UP(hi, SZ_4K))
			continue;
		start &= ~(SZ_4K - 1);
		end = ALIGN_UP(end, SZ_4K);
		vm_write(vm, start, (const void *)(uintptr_t)start,
			 end - start);
	}
	return 0;
}

struct tvm *vm_create_guest(void)
{
	struct tvm *vm = vm_create_barebones();
	uint64_t img_end = (uint64_t)(uintptr_t)_end;

	TEST_ASSERT((uint64_t)(uintptr_t)__executable_start >= GUEST_IMAGE_GPA,
		    "binary must be linked -static -no-pie (text at %#llx), "
		    "it starts at %p", GUEST_IMAGE_GPA, __executable_start);
	TEST_ASSERT(img_end + SZ_1M <= GUEST_MEM_SIZE,
		    "test image too large: ends at %#llx",
		    (unsigned long long)img_end);
	vm_add_region(vm, 0, GUEST_MEM_SIZE,
		      AXVM_MEM_READ | AXVM_MEM_WRITE | AXVM_MEM_EXEC);
	vm->has_guest_mem = true;
	dl_iterate_phdr(copy_segment, vm);
	return vm;
}

struct tvm *vm_create_with_one_vcpu(struct tvcpu **vcpu, void *guest_code)
{
	struct tvm *vm = vm_create_guest();

	*vcpu = vm_guest_vcpu_add(vm, 0, guest_code);
	vm_start(vm);
	return vm;
}

void vm_free(struct tvm *vm)
{
	int i;

	if (!vm)
		return;
	for (i = 0; i < TEST_MAX_VCPUS; i++)
		if (vm->vcpus[i])
			vcpu_free(vm->vcpus[i]);
	axvm_vm_destroy(&vm->vm);
	free(vm);
}

void vm_finalize(struct tvm *vm)
{
	int r = axvm_vm_finalize(&vm->vm);

	TEST_ASSERT(!r, "AXVM_FINALIZE failed: %s", strerror(-r));
}

void vm_boot(struct tvm *vm)
{
	int r = axvm_vm_boot(&vm->vm);

	TEST_ASSERT(!r, "AXVM_BOOT failed: %s", strerror(-r));
}

void vm_start(struct tvm *vm)
{
	vm_finalize(vm);
	vm_boot(vm);
}

void vm_status(struct tvm *vm, struct axvm_vm_status *st)
{
	int r;

	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	r = axvm_vm_status(&vm->vm, st);
	TEST_ASSERT(!r, "AXVM_GET_VM_STATUS failed: %s", strerror(-r));
}

uint32_t vm_state(struct tvm *vm)
{
	struct axvm_vm_status st;

	vm_status(vm, &st);
	return st.state;
}

void vm_write(struct tvm *vm, uint64_t gpa, const void *buf, size_t len)
{
	int r = axvm_vm_write(&vm->vm, gpa, buf, len);

	TEST_ASSERT(!r, "AXVM_WRITE_GUEST gpa %#llx len %#zx: %s",
		    (unsigned long long)gpa, len, strerror(-r));
}

void vm_read(struct tvm *vm, uint64_t gpa, void *buf, size_t len)
{
	int r = axvm_vm_read(&vm->vm, gpa, buf, len);

	TEST_ASSERT(!r, "AXVM_READ_GUEST gpa %#llx len %#zx: %s",
		    (unsigned long long)gpa, len, strerror(-r));
}

static uint64_t pt_alloc(struct tvm *vm)
{
	static const uint8_t zero[SZ_4K];
	uint64_t gpa = vm->pt_pool_next;

	TEST_ASSERT(gpa < GUEST_PT_POOL_END, "page table pool exhausted");
	vm->pt_pool_next += SZ_4K;
	vm_write(vm, gpa, zero, sizeof(zero));
	return gpa;
}

/* Returns the table an entry points to, creating it if absent. */
static uint64_t pt_next(struct tvm *vm, uint64_t table, unsigned int idx)
{
	uint64_t e = vm_read_u64(vm, table + idx * 8);

	if (e & PTE_P) {
		TEST_ASSERT(!(e & PTE_PS),
			    "virt_map: cannot split a large page (entry %#llx)",
			    (unsigned long long)e);
		return e & PTE_ADDR_MASK;
	}
	e = pt_alloc(vm) | PTE_P | PTE_RW;
	vm_write_u64(vm, table + idx * 8, e);
	return e & PTE_ADDR_MASK;
}

void virt_map(struct tvm *vm, uint64_t gva, uint64_t gpa, uint64_t size)
{
	uint64_t end = gva + size;

	TEST_ASSERT(vm->have_template, "virt_map() needs a guest vCPU first");
	TEST_ASSERT(!(gva & (SZ_2M - 1)) && !(gpa & (SZ_2M - 1)) &&
		    !(size & (SZ_2M - 1)), "virt_map() works in 2 MiB pages");
	TEST_ASSERT(gva < (1ULL << 47), "virt_map(): 4-level paging only");

	for (; gva < end; gva += SZ_2M, gpa += SZ_2M) {
		uint64_t pml4 = vm->sregs_template.cr3 & PTE_ADDR_MASK;
		uint64_t pdpt = pt_next(vm, pml4, (gva >> 39) & 511);
		uint64_t pd = pt_next(vm, pdpt, (gva >> 30) & 511);

		vm_write_u64(vm, pd + ((gva >> 21) & 511) * 8,
			     gpa | PTE_P | PTE_RW | PTE_PS);
	}
}

struct tvcpu *vm_vcpu_add(struct tvm *vm, uint32_t id)
{
	struct tvcpu *vcpu = calloc(1, sizeof(*vcpu));
	int r;

	TEST_ASSERT(vcpu, "out of memory");
	TEST_ASSERT(id < TEST_MAX_VCPUS, "vCPU id %u too large for tests", id);
	TEST_ASSERT(!vm->vcpus[id], "vCPU %u exists", id);
	r = axvm_vcpu_create(&vm->vm, id, &vcpu->v);
	TEST_ASSERT(!r, "creating vCPU %u failed: %s", id, strerror(-r));
	TEST_ASSERT(vcpu->v.run, "libaxvm did not map the run structure");
	vcpu->vm = vm;
	vm->vcpus[id] = vcpu;
	return vcpu;
}

static void install_idt(struct tvm *vm, uint16_t cs)
{
	uint8_t idt[4096];
	int v;

	memset(idt, 0, sizeof(idt));
	for (v = 0; v < 256; v++) {
		uint64_t h = v < 32 ?
			(uint64_t)(uintptr_t)guest_exception_stubs + 16 * v :
			(uint64_t)(uintptr_t)guest_exception_stub_other;
		uint8_t *e = idt + 16 * v;
		uint16_t w;
		uint32_t d;

		w = h & 0xffff;
		memcpy(e + 0, &w, 2);
		memcpy(e + 2, &cs, 2);
		e[4] = 0;		/* IST */
		e[5] = 0x8e;		/* present, DPL 0, 64-bit interrupt gate */
		w = (h >> 16) & 0xffff;
		memcpy(e + 6, &w, 2);
		d = h >> 32;
		memcpy(e + 8, &d, 4);
	}
	vm_write(vm, GUEST_IDT_GPA, idt, sizeof(idt));
}

static uint64_t vcpu_stack_top(uint32_t id)
{
	return GUEST_STACKS_GPA + (id + 1) * GUEST_STACK_SIZE;
}

struct tvcpu *vm_guest_vcpu_add(struct tvm *vm, uint32_t id, void *guest_code)
{
	struct tvcpu *vcpu = vm_vcpu_add(vm, id);
	uint64_t entry = (uint64_t)(uintptr_t)guest_code;
	uint64_t top = vcpu_stack_top(id);
	uint64_t ret_addr = (uint64_t)(uintptr_t)guest_return_trampoline;
	struct axvm_regs regs;
	int r;

	TEST_ASSERT(vm->has_guest_mem, "the VM has no guest image");
	if (!vm->have_template) {
		struct axvm_x86_layout layout = {
			.gdt_gpa = GUEST_GDT_GPA,
			.pml4_gpa = GUEST_PML4_GPA,
			.identity_map_size = GUEST_IDENTITY_MAP,
		};
		struct axvm_sregs *s = &vm->sregs_template;

		r = axvm_x86_setup_mode(&vm->vm, &vcpu->v, AXVM_MODE_LONG,
					entry, top - 8, &layout);
		TEST_ASSERT(!r, "axvm_x86_setup_mode(LONG) failed: %s",
			    strerror(-r));
		vcpu_sregs_get(vcpu, s);
		s->cr0 |= X86_CR0_MP;
		s->cr0 &= ~(X86_CR0_EM | X86_CR0_TS);
		s->cr4 |= X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
		s->idt.base = GUEST_IDT_GPA;
		s->idt.limit = 4095;
		install_idt(vm, s->cs.selector);
		vm->have_template = true;
	}
	vcpu_sregs_set(vcpu, &vm->sregs_template);

	vm_write_u64(vm, top - 8, ret_addr);
	vcpu_regs_get(vcpu, &regs);
	regs.rip = entry;
	regs.rsp = top - 8;
	regs.rdi = 0;
	regs.rflags = 0x2;
	vcpu_regs_set(vcpu, &regs);
	return vcpu;
}

void vcpu_set_arg(struct tvcpu *vcpu, uint64_t arg)
{
	struct axvm_regs regs;

	vcpu_regs_get(vcpu, &regs);
	regs.rdi = arg;
	vcpu_regs_set(vcpu, &regs);
}

void vcpu_free(struct tvcpu *vcpu)
{
	if (vcpu->vm && vcpu->vm->vcpus[vcpu->v.id] == vcpu)
		vcpu->vm->vcpus[vcpu->v.id] = NULL;
	axvm_vcpu_destroy(&vcpu->v);
	free(vcpu);
}

int __vcpu_ioctl(struct tvcpu *vcpu, unsigned long req, void *arg)
{
	return __test_ioctl(vcpu->v.fd, req, arg);
}

int __vcpu_run(struct tvcpu *vcpu)
{
	return axvm_vcpu_run(&vcpu->v);
}

void vcpu_run(struct tvcpu *vcpu)
{
	int r = __vcpu_run(vcpu);

	TEST_ASSERT(!r, "AXVM_RUN on vCPU %u failed: %s (%d), exit %s",
		    vcpu->v.id, strerror(-r), r, exit_desc(vcpu));
}

void vcpu_regs_get(struct tvcpu *vcpu, struct axvm_regs *regs)
{
	int r;

	memset(regs, 0, sizeof(*regs));
	regs->size = sizeof(*regs);
	r = axvm_vcpu_get_regs(&vcpu->v, regs);
	TEST_ASSERT(!r, "AXVM_GET_REGS failed: %s", strerror(-r));
}

void vcpu_regs_set(struct tvcpu *vcpu, struct axvm_regs *regs)
{
	int r;

	regs->size = sizeof(*regs);
	regs->flags = 0;
	r = axvm_vcpu_set_regs(&vcpu->v, regs);
	TEST_ASSERT(!r, "AXVM_SET_REGS failed: %s", strerror(-r));
}

void vcpu_sregs_get(struct tvcpu *vcpu, struct axvm_sregs *sregs)
{
	int r;

	memset(sregs, 0, sizeof(*sregs));
	sregs->size = sizeof(*sregs);
	r = axvm_vcpu_get_sregs(&vcpu->v, sregs);
	TEST_ASSERT(!r, "AXVM_GET_SREGS failed: %s", strerror(-r));
}

void vcpu_sregs_set(struct tvcpu *vcpu, struct axvm_sregs *sregs)
{
	int r;

	sregs->size = sizeof(*sregs);
	sregs->flags = 0;
	r = axvm_vcpu_set_sregs(&vcpu->v, sregs);
	TEST_ASSERT(!r, "AXVM_SET_SREGS failed: %s", strerror(-r));
}

const char *exit_desc(struct tvcpu *vcpu)
{
	static __thread char buf[512];
	struct axvm_run *run = vcpu->v.run;
	struct axvm_regs regs;
	uint64_t rip = ~0ULL;
	int n;

	memset(&regs, 0, sizeof(regs));
	regs.size = sizeof(regs);
	if (!axvm_vcpu_get_regs(&vcpu->v, &regs))
		rip = regs.rip;

	n = snprintf(buf, sizeof(buf), "%s (%u), rip %#llx",
		     axvm_exit_name(run->exit_reason), run->exit_reason,
		     (unsigned long long)rip);
	switch (run->exit_reason) {
	case AXVM_EXIT_IO:
		snprintf(buf + n, sizeof(buf) - n,
			 ": port %#x width %u %s data %#llx", run->io.port,
			 run->io.width,
			 run->io.direction == AXVM_IO_OUT ? "out" : "in",
			 (unsigned long long)run->io.data);
		break;
	case AXVM_EXIT_MMIO:
		snprintf(buf + n, sizeof(buf) - n,
			 ": gpa %#llx width %u %s data %#llx",
			 (unsigned long long)run->mmio.gpa, run->mmio.width,
			 run->mmio.is_write ? "write" : "read",
			 (unsigned long long)run->mmio.data);
		break;
	case AXVM_EXIT_HYPERCALL:
		snprintf(buf + n, sizeof(buf) - n, ": nr %#llx",
			 (unsigned long long)run->hypercall.nr);
		break;
	case AXVM_EXIT_FAIL_ENTRY:
		snprintf(buf + n, sizeof(buf) - n,
			 ": hw_reason %#llx info1 %#llx",
			 (unsigned long long)run->fail_entry.hw_reason,
			 (unsigned long long)run->fail_entry.info1);
		break;
	case AXVM_EXIT_INTERNAL_ERROR:
		snprintf(buf + n, sizeof(buf) - n,
			 ": suberror %u ndata %u data %#llx %#llx %#llx",
			 run->internal.suberror, run->internal.ndata,
			 (unsigned long long)run->internal.data[0],
			 (unsigned long long)run->internal.data[1],
			 (unsigned long long)run->internal.data[2]);
		break;
	case AXVM_EXIT_SHUTDOWN:
	case AXVM_EXIT_HLT:
		snprintf(buf + n, sizeof(buf) - n, ": guest.rip %#llx",
			 (unsigned long long)run->guest.rip);
		break;
	}
	return buf;
}

static void *spinner_fn(void *arg)
{
	struct spinner *s = arg;

	vcpu_run_sync(s->vcpu, 1);
	atomic_store(&s->spinning, true);
	s->ret = __vcpu_run(s->vcpu);
	s->exit_reason = s->vcpu->v.run->exit_reason;
	return NULL;
}

void spinner_start(struct spinner *s, struct tvcpu *vcpu)
{
	int r;

	s->vcpu = vcpu;
	s->ret = 1;
	s->exit_reason = ~0U;
	atomic_store(&s->spinning, false);
	r = pthread_create(&s->thread, s->attr, spinner_fn, s);
	TEST_ASSERT(!r, "pthread_create: %s", strerror(r));
}

bool vm_wait_nr_running(struct tvm *vm, uint32_t n, uint64_t timeout_ms)
{
	uint64_t deadline = now_ns() + timeout_ms * 1000000ULL;
	struct axvm_vm_status st;

	for (;;) {
		vm_status(vm, &st);
		if (st.nr_running >= n)
			return true;
		if (now_ns() > deadline)
			return false;
		usleep(1000);
	}
}

void spinners_wait_running(struct tvm *vm, struct spinner *s, int n)
{
	uint64_t deadline = now_ns() + 10000000000ULL;
	int i;

	for (i = 0; i < n; i++) {
		while (!atomic_load(&s[i].spinning)) {
			TEST_ASSERT(now_ns() < deadline,
				    "vCPU %u never reached its spin loop",
				    s[i].vcpu->v.id);
			usleep(1000);
		}
	}
	TEST_ASSERT(vm_wait_nr_running(vm, n, 10000),
		    "nr_running never reached %d", n);
	/* Let the guests get into their loops for real. */
	usleep(5000);
}

void spinner_join(struct spinner *s)
{
	int r = pthread_join(s->thread, NULL);

	TEST_ASSERT(!r, "pthread_join: %s", strerror(r));
}

static void noop_handler(int sig)
{
	(void)sig;
}

void install_noop_handler(int sig)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = noop_handler;
	sa.sa_flags = 0;	/* no SA_RESTART: AXVM_RUN must see EINTR */
	sigemptyset(&sa.sa_mask);
	TEST_ASSERT(!sigaction(sig, &sa, NULL), "sigaction failed");
}

/* Points IDT entry `vector` of the guest at handler (an interrupt gate). */
void vm_set_idt_gate(struct tvm *vm, uint8_t vector, const void *handler)
{
	uint64_t h = (uint64_t)(uintptr_t)handler;
	uint16_t cs = vm->sregs_template.cs.selector;
	uint8_t e[16];
	uint16_t w;
	uint32_t d;

	TEST_ASSERT(vm->have_template, "vm_set_idt_gate() needs a guest vCPU");
	memset(e, 0, sizeof(e));
	w = h & 0xffff;
	memcpy(e + 0, &w, 2);
	memcpy(e + 2, &cs, 2);
	e[5] = 0x8e;		/* present, DPL 0, 64-bit interrupt gate */
	w = (h >> 16) & 0xffff;
	memcpy(e + 6, &w, 2);
	d = h >> 32;
	memcpy(e + 8, &d, 4);
	vm_write(vm, GUEST_IDT_GPA + 16ULL * vector, e, sizeof(e));
}
