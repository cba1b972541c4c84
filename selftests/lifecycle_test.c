// SPDX-License-Identifier: GPL-2.0
/*
 * lifecycle_test: the VM state machine of uapi/linux/axvm.h.
 *
 *   LOADING --FINALIZE--> LOADED --BOOT--> RUNNING --SHUTDOWN--> STOPPING
 *   (SHUTDOWN from LOADING/LOADED: STOPPED)        last vCPU leaves RUN: STOPPED
 *
 * Every transition and every refusal (EBUSY, EBADFD, EALREADY,
 * ESHUTDOWN, EINPROGRESS), configuration ioctls outside LOADING, AXVM_RUN
 * in each state, the counters of AXVM_GET_VM_STATUS and the vCPU id
 * rules. The STOPPING state is caught deterministically: the vCPU thread
 * is SCHED_OTHER on the same CPU as a SCHED_FIFO main thread, so after
 * SHUTDOWN it cannot leave AXVM_RUN until the main thread blocks.
 */
#include <sched.h>

#include "axvm_test.h"

/* A VM with one small region and vCPU 0, in state LOADING. */
static struct tvm *small_vm(void)
{
	struct tvm *vm = vm_create_barebones();

	vm_add_region(vm, 0, SZ_1M, AXVM_MEM_READ | AXVM_MEM_WRITE |
		      AXVM_MEM_EXEC);
	vm_vcpu_add(vm, 0);
	return vm;
}

static int vm_ioctl0(struct tvm *vm, unsigned long req)
{
	return __vm_ioctl(vm, req, NULL);
}

static int try_add_region(struct tvm *vm, uint64_t gpa)
{
	return __vm_add_region(vm, gpa, SZ_4K, AXVM_MEM_READ, NULL);
}

static int try_add_vcpu(struct tvm *vm, uint32_t id)
{
	struct axvm_create_vcpu c = { .size = sizeof(c), .vcpu_id = id };
	int fd = __vm_ioctl(vm, AXVM_CREATE_VCPU, &c);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return fd;
}

static void guest_sync_three(void)
{
	GUEST_SYNC(1);
	GUEST_SYNC(2);
	GUEST_SYNC(3);
}

TEST(new_vm_status)
{
	struct tvm *vm = vm_create_barebones();
	struct axvm_vm_status st;

	vm_status(vm, &st);
	ASSERT_EQ((uint32_t)AXVM_VM_LOADING, st.state);
	ASSERT_EQ(0U, st.nr_vcpus);
	ASSERT_EQ(0U, st.nr_running);
	ASSERT_EQ(0U, st.nr_regions);
	ASSERT_EQ(0ULL, st.mem_bytes);
	ASSERT_EQ(0ULL, st.populated_bytes);
	ASSERT_EQ(0ULL, st.reserved[0]);
	ASSERT_EQ(0ULL, st.reserved[1]);
	vm_free(vm);
}

TEST(status_counts)
{
	struct tvm *vm = vm_create_barebones();
	struct axvm_vm_status st;

	vm_add_region(vm, 0, SZ_1M, AXVM_MEM_READ | AXVM_MEM_WRITE);
	vm_add_region(vm, SZ_4G, SZ_4G, AXVM_MEM_READ | AXVM_MEM_LAZY);
	vm_add_region(vm, 0x10000000, 3 * SZ_4K, AXVM_MEM_READ);
	vm_vcpu_add(vm, 0);
	vm_vcpu_add(vm, 7);
	vm_vcpu_add(vm, 63);
	vm_status(vm, &st);
	ASSERT_EQ((uint32_t)AXVM_VM_LOADING, st.state);
	ASSERT_EQ(3U, st.nr_vcpus);
	ASSERT_EQ(0U, st.nr_running);
	ASSERT_EQ(3U, st.nr_regions);
	ASSERT_EQ(SZ_1M + SZ_4G + 3 * SZ_4K, st.mem_bytes);
	/* Eager regions are allocated, the lazy one is not. */
	ASSERT_EQ(SZ_1M + 3 * SZ_4K, st.populated_bytes);
	vm_free(vm);
}

TEST(finalize_transitions)
{
	struct tvm *vm = small_vm();

	ASSERT_EQ(0, vm_ioctl0(vm, AXVM_FINALIZE));
	ASSERT_STATE(vm, AXVM_VM_LOADED);
	ASSERT_EQ(-EBUSY, vm_ioctl0(vm, AXVM_FINALIZE));
	ASSERT_STATE(vm, AXVM_VM_LOADED);
	ASSERT_EQ(0, vm_ioctl0(vm, AXVM_BOOT));
	ASSERT_EQ(-EBUSY, vm_ioctl0(vm, AXVM_FINALIZE));
	ASSERT_STATE(vm, AXVM_VM_RUNNING);
	ASSERT_EQ(0, vm_ioctl0(vm, AXVM_SHUTDOWN));
	ASSERT_EQ(-EBUSY, vm_ioctl0(vm, AXVM_FINALIZE));
	ASSERT_STATE(vm, AXVM_VM_STOPPED);
	vm_free(vm);
}

TEST(boot_transitions)
{
	struct tvm *vm = small_vm();

	ASSERT_EQ(-EBADFD, vm_ioctl0(vm, AXVM_BOOT));
	ASSERT_STATE(vm, AXVM_VM_LOADING);
	ASSERT_EQ(0, vm_ioctl0(vm, AXVM_FINALIZE));
	ASSERT_EQ(0, vm_ioctl0(vm, AXVM_BOOT));
	ASSERT_STATE(vm, AXVM_VM_RUNNING);
	ASSERT_EQ(-EALREADY, vm_ioctl0(vm, AXVM_BOOT));
	ASSERT_STATE(vm, AXVM_VM_RUNNING);
	ASSERT_EQ(0, vm_ioctl0(vm, AXVM_SHUTDOWN));
	ASSERT_EQ(-ESHUTDOWN, vm_ioctl0(vm, AXVM_BOOT));
	ASSERT_STATE(vm, AXVM_VM_STOPPED);
	vm_free(vm);
}

TEST(shutdown_from_loading)
{
	struct tvm *vm = small_vm();

	ASSERT_EQ(0, vm_ioctl0(vm, AXVM_SHUTDOWN));
	ASSERT_STATE(vm, AXVM_VM_STOPPED);
	ASSERT_EQ(-ESHUTDOWN, vm_ioctl0(vm, AXVM_SHUTDOWN));
	ASSERT_EQ(-ESHUTDOWN, vm_ioctl0(vm, AXVM_BOOT));
	ASSERT_EQ(-EBUSY, vm_ioctl0(vm, AXVM_FINALIZE));
	ASSERT_STATE(vm, AXVM_VM_STOPPED);
	vm_free(vm);
}

TEST(shutdown_from_loaded)
{
	struct tvm *vm = small_vm();

	vm_finalize(vm);
	ASSERT_EQ(0, vm_ioctl0(vm, AXVM_SHUTDOWN));
	ASSERT_STATE(vm, AXVM_VM_STOPPED);
	ASSERT_EQ(-ESHUTDOWN, vm_ioctl0(vm, AXVM_SHUTDOWN));
	ASSERT_EQ(-ESHUTDOWN, vm_ioctl0(vm, AXVM_BOOT));
	vm_free(vm);
}

/* With no vCPU inside AXVM_RUN, RUNNING goes straight to STOPPED. */
TEST(shutdown_running_idle)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_with_one_vcpu(&vcpu, guest_sync_three);
	struct axvm_vm_status st;

	vcpu_run_sync(vcpu, 1);
	ASSERT_EQ(0, vm_ioctl0(vm, AXVM_SHUTDOWN));
	vm_status(vm, &st);
	ASSERT_EQ((uint32_t)AXVM_VM_STOPPED, st.state);
	ASSERT_EQ(0U, st.nr_running);
	ASSERT_EQ(-ESHUTDOWN, __vcpu_run(vcpu));
	ASSERT_EQ(-ESHUTDOWN, vm_ioctl0(vm, AXVM_SHUTDOWN));
	vm_free(vm);
}

TEST(config_ioctls_only_while_loading)
{
	struct tvm *vm = small_vm();
	struct axvm_vm_status st;

	/* LOADING: fine. */
	ASSERT_EQ(0, try_add_region(vm, 0x200000));
	vm_vcpu_add(vm, 1);

	vm_finalize(vm);
	ASSERT_EQ(-EBUSY, try_add_region(vm, 0x300000));
	ASSERT_EQ(-EBUSY, try_add_vcpu(vm, 2));

	vm_boot(vm);
	ASSERT_EQ(-EBUSY, try_add_region(vm, 0x300000));
	ASSERT_EQ(-EBUSY, try_add_vcpu(vm, 2));

	ASSERT_EQ(0, vm_ioctl0(vm, AXVM_SHUTDOWN));
	ASSERT_EQ(-EBUSY, try_add_region(vm, 0x300000));
	ASSERT_EQ(-EBUSY, try_add_vcpu(vm, 2));

	/* Refused calls left nothing behind. */
	vm_status(vm, &st);
	ASSERT_EQ(2U, st.nr_regions);
	ASSERT_EQ(2U, st.nr_vcpus);
	vm_free(vm);
}

/* Configuration refusals in STOPPED after a SHUTDOWN from LOADING too. */
TEST(config_ioctls_stopped_from_loading)
{
	struct tvm *vm = small_vm();

	ASSERT_EQ(0, vm_ioctl0(vm, AXVM_SHUTDOWN));
	ASSERT_EQ(-EBUSY, try_add_region(vm, 0x300000));
	ASSERT_EQ(-EBUSY, try_add_vcpu(vm, 2));
	vm_free(vm);
}

TEST(run_requires_running)
{
	struct tvm *vm = small_vm();
	struct tvcpu *vcpu = vm->vcpus[0];

	ASSERT_EQ(-EBADFD, __vcpu_run(vcpu));
	vm_finalize(vm);
	ASSERT_EQ(-EBADFD, __vcpu_run(vcpu));
	ASSERT_STATE(vm, AXVM_VM_LOADED);
	vm_boot(vm);
	ASSERT_EQ(0, vm_ioctl0(vm, AXVM_SHUTDOWN));
	ASSERT_EQ(-ESHUTDOWN, __vcpu_run(vcpu));
	vm_free(vm);
}

TEST(vcpu_id_rules)
{
	struct tvm *vm = vm_create_barebones();
	uint32_t max = vm->caps.max_vcpus;
	uint32_t bad[] = { max, max + 1, 1000, 0x80000000U, 0xffffffffU };
	struct axvm_vm_status st;
	int fds[64];
	unsigned int i;

	ASSERT_EQ(64U, max);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		ASSERT_EQ(-EINVAL, try_add_vcpu(vm, bad[i]))
			ITER("vcpu_id %#x", bad[i]);
	}
	for (i = 0; i < max; i++) {
		struct axvm_create_vcpu c = { .size = sizeof(c), .vcpu_id = i };

		fds[i] = __vm_ioctl(vm, AXVM_CREATE_VCPU, &c);
		ASSERT_LE(0, fds[i]);
	}
	vm_status(vm, &st);
	ASSERT_EQ(max, st.nr_vcpus);
	ASSERT_EQ(-EEXIST, try_add_vcpu(vm, 0));
	ASSERT_EQ(-EEXIST, try_add_vcpu(vm, 5));
	ASSERT_EQ(-EEXIST, try_add_vcpu(vm, max - 1));
	vm_status(vm, &st);
	ASSERT_EQ(max, st.nr_vcpus);
	for (i = 0; i < max; i++)
		close(fds[i]);
	vm_free(vm);
}

TEST(guest_runs_through_lifecycle)
{
	struct tvcpu *vcpu;
	struct tvm *vm = vm_create_guest();
	uint64_t count;

	vcpu = vm_guest_vcpu_add(vm, 0, guest_sync_three);
	ASSERT_STATE(vm, AXVM_VM_LOADING);
	vm_start(vm);
	ASSERT_STATE(vm, AXVM_VM_RUNNING);
	vcpu_run_sync(vcpu, 1);
	count = vcpu->v.run->exit_count;
	ASSERT_LE(1ULL, count);
	vcpu_run_sync(vcpu, 2);
	ASSERT_LT(count, vcpu->v.run->exit_count);
	count = vcpu->v.run->exit_count;
	vcpu_run_sync(vcpu, 3);
	ASSERT_LT(count, vcpu->v.run->exit_count);
	vcpu_run_done(vcpu);
	ASSERT_STATE(vm, AXVM_VM_RUNNING);
	ASSERT_EQ(0, vm_ioctl0(vm, AXVM_SHUTDOWN));
	ASSERT_STATE(vm, AXVM_VM_STOPPED);
	vm_free(vm);
}

/*
 * SHUTDOWN while a vCPU is inside AXVM_RUN: the VM is STOPPING until
 * that vCPU leaves. Meanwhile SHUTDOWN is EINPROGRESS, BOOT ESHUTDOWN,
 * FINALIZE and configuration EBUSY, and another vCPU's AXVM_RUN returns
 * at once with AXVM_EXIT_STOPPED.
 */
TEST(stopping_state)
{
	struct sched_param fifo = { .sched_priority = 10 };
	struct sched_param other = { .sched_priority = 0 };
	struct spinner sp = { 0 };
	struct tvcpu *vcpu0, *vcpu1;
	struct axvm_vm_status st;
	pthread_attr_t attr;
	cpu_set_t cpus;
	struct tvm *vm;
	int cpu;

	cpu = sched_getcpu();
	ASSERT_LE(0, cpu);
	CPU_ZERO(&cpus);
	CPU_SET(cpu, &cpus);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(cpus), &cpus));

	vm = vm_create_guest();
	vcpu0 = vm_guest_vcpu_add(vm, 0, guest_spin);
	vcpu1 = vm_guest_vcpu_add(vm, 1, guest_sync_three);
	vm_start(vm);

	ASSERT_EQ(0, pthread_attr_init(&attr));
	ASSERT_EQ(0, pthread_attr_setinheritsched(&attr,
						  PTHREAD_EXPLICIT_SCHED));
	ASSERT_EQ(0, pthread_attr_setschedpolicy(&attr, SCHED_OTHER));
	ASSERT_EQ(0, pthread_attr_setschedparam(&attr, &other));
	ASSERT_EQ(0, pthread_attr_setaffinity_np(&attr, sizeof(cpus), &cpus));
	if (sched_setscheduler(0, SCHED_FIFO, &fifo))
		SKIP(goto out, "SCHED_FIFO not permitted: %s", strerror(errno));

	sp.attr = &attr;
	spinner_start(&sp, vcpu0);
	spinners_wait_running(vm, &sp, 1);

	/* From here the spinner cannot run until this thread blocks. */
	ASSERT_EQ(0, vm_ioctl0(vm, AXVM_SHUTDOWN));
	vm_status(vm, &st);
	ASSERT_EQ((uint32_t)AXVM_VM_STOPPING, st.state);
	ASSERT_EQ(1U, st.nr_running);
	ASSERT_EQ(-EINPROGRESS, vm_ioctl0(vm, AXVM_SHUTDOWN));
	ASSERT_EQ(-ESHUTDOWN, vm_ioctl0(vm, AXVM_BOOT));
	ASSERT_EQ(-EBUSY, vm_ioctl0(vm, AXVM_FINALIZE));
	ASSERT_EQ(-EBUSY, try_add_region(vm, 0x2000000));
	ASSERT_EQ(-EBUSY, try_add_vcpu(vm, 2));

	ASSERT_EQ(0, __vcpu_run(vcpu1));
	ASSERT_EXIT(vcpu1, AXVM_EXIT_STOPPED);
	vm_status(vm, &st);
	ASSERT_EQ((uint32_t)AXVM_VM_STOPPING, st.state);
	ASSERT_EQ(1U, st.nr_running);

	/* Blocking lets the spinner see the shutdown and leave. */
	spinner_join(&sp);
	ASSERT_EQ(0, sp.ret);
	ASSERT_EQ((uint32_t)AXVM_EXIT_STOPPED, sp.exit_reason);
	vm_status(vm, &st);
	ASSERT_EQ((uint32_t)AXVM_VM_STOPPED, st.state);
	ASSERT_EQ(0U, st.nr_running);
	ASSERT_EQ(-ESHUTDOWN, vm_ioctl0(vm, AXVM_SHUTDOWN));
	ASSERT_EQ(-ESHUTDOWN, __vcpu_run(vcpu0));
	ASSERT_EQ(-ESHUTDOWN, __vcpu_run(vcpu1));
out:
	pthread_attr_destroy(&attr);
	vm_free(vm);
}

/* A VM fd that is closed in any state frees quietly; vCPU fds too. */
TEST(close_in_every_state)
{
	uint32_t target;

	for (target = AXVM_VM_LOADING; target <= AXVM_VM_STOPPED; target++) {
		struct tvcpu *vcpu;
		struct tvm *vm;

		if (target == AXVM_VM_SUSPENDED || target == AXVM_VM_STOPPING)
			continue;
		vm = vm_create_guest();
		vcpu = vm_guest_vcpu_add(vm, 0, guest_sync_three);
		if (target >= AXVM_VM_LOADED)
			vm_finalize(vm);
		if (target >= AXVM_VM_RUNNING) {
			vm_boot(vm);
			vcpu_run_sync(vcpu, 1);
		}
		if (target == AXVM_VM_STOPPED)
			ASSERT_EQ(0, vm_ioctl0(vm, AXVM_SHUTDOWN));
		ASSERT_STATE(vm, target);
		/* Close the VM first, the vCPU after. */
		axvm_vm_destroy(&vm->vm);
		vm->vcpus[0] = NULL;
		vcpu_free(vcpu);
		free(vm);
	}
}

AXVM_TEST_HARNESS_MAIN
