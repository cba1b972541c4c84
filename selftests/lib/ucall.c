// SPDX-License-Identifier: GPL-2.0
/* Host side of the ucall channel; see ucall.h. */
#include "axvm_util.h"
#include "ucall.h"

extern char __executable_start[], _end[];

/* A guest-supplied string pointer is printed only if it is in the image. */
static const char *image_str(const char *p)
{
	if (p >= __executable_start && p < _end)
		return p;
	return "(bad pointer)";
}

uint64_t get_ucall(struct tvcpu *vcpu, struct ucall *uc)
{
	struct axvm_run *run = vcpu->v.run;
	struct axvm_regs regs;

	memset(uc, 0, sizeof(*uc));
	if (run->exit_reason != AXVM_EXIT_IO || run->io.port != UCALL_PORT)
		return UCALL_NONE;

	TEST_ASSERT(run->io.direction == AXVM_IO_OUT && run->io.width == 4,
		    "ucall port used with direction %u width %u",
		    run->io.direction, run->io.width);
	vcpu_regs_get(vcpu, &regs);
	TEST_ASSERT((uint32_t)regs.rdi == (uint32_t)run->io.data,
		    "ucall: OUT data %#llx does not match RDI %#llx",
		    (unsigned long long)run->io.data,
		    (unsigned long long)regs.rdi);
	vm_read(vcpu->vm, regs.rdi, uc, sizeof(*uc));
	return uc->cmd;
}

static void report_abort(struct tvcpu *vcpu, struct ucall *uc)
{
	if (uc->cmd == UCALL_ABORT) {
		if (uc->has_values)
			TEST_FAIL("vCPU %u: guest assertion failed at %s:%llu: "
				  "%s (%#llx != %#llx)", vcpu->v.id,
				  image_str(uc->file),
				  (unsigned long long)uc->line,
				  image_str(uc->expr),
				  (unsigned long long)uc->args[0],
				  (unsigned long long)uc->args[1]);
		TEST_FAIL("vCPU %u: guest assertion failed at %s:%llu: %s",
			  vcpu->v.id, image_str(uc->file),
			  (unsigned long long)uc->line, image_str(uc->expr));
	}
	if (uc->cmd == UCALL_UNHANDLED)
		TEST_FAIL("vCPU %u: unexpected guest exception: vector %llu, "
			  "error code %#llx, rip %#llx", vcpu->v.id,
			  (unsigned long long)uc->args[0],
			  (unsigned long long)uc->args[1],
			  (unsigned long long)uc->args[2]);
}

void ucall_check_abort(struct tvcpu *vcpu)
{
	struct ucall uc;

	if (get_ucall(vcpu, &uc) != UCALL_NONE)
		report_abort(vcpu, &uc);
}

uint64_t vcpu_run_ucall(struct tvcpu *vcpu, struct ucall *uc)
{
	struct ucall tmp;
	uint64_t cmd;

	if (!uc)
		uc = &tmp;
	vcpu_run(vcpu);
	cmd = get_ucall(vcpu, uc);
	TEST_ASSERT(cmd != UCALL_NONE, "vCPU %u: expected a ucall, got %s",
		    vcpu->v.id, exit_desc(vcpu));
	report_abort(vcpu, uc);
	TEST_ASSERT(cmd == UCALL_SYNC || cmd == UCALL_DONE,
		    "vCPU %u: unknown ucall %llu", vcpu->v.id,
		    (unsigned long long)cmd);
	return cmd;
}

void vcpu_run_sync_uc(struct tvcpu *vcpu, struct ucall *uc)
{
	uint64_t cmd = vcpu_run_ucall(vcpu, uc);

	TEST_ASSERT(cmd == UCALL_SYNC, "vCPU %u: expected GUEST_SYNC, got %s",
		    vcpu->v.id, cmd == UCALL_DONE ? "GUEST_DONE" : "?");
}

void vcpu_run_sync(struct tvcpu *vcpu, uint64_t arg0)
{
	struct ucall uc;

	vcpu_run_sync_uc(vcpu, &uc);
	TEST_ASSERT(uc.args[0] == arg0,
		    "vCPU %u: GUEST_SYNC(%#llx), expected GUEST_SYNC(%#llx)",
		    vcpu->v.id, (unsigned long long)uc.args[0],
		    (unsigned long long)arg0);
}

void vcpu_run_done(struct tvcpu *vcpu)
{
	struct ucall uc;
	uint64_t cmd = vcpu_run_ucall(vcpu, &uc);

	TEST_ASSERT(cmd == UCALL_DONE,
		    "vCPU %u: expected GUEST_DONE, got GUEST_SYNC(%#llx)",
		    vcpu->v.id, (unsigned long long)uc.args[0]);
}
