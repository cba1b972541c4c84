// SPDX-License-Identifier: GPL-2.0
/*
 * kvm_hold_vm: creates one KVM VM and holds it until killed.
 *
 * Linux 6.1's KVM turns SVM on (EFER.SVME) only while a KVM VM exists,
 * so module_test.sh uses this to make KVM the owner of SVM and check
 * that axvm.ko refuses to load, and the reverse.
 *
 * Prints "held" once the VM exists and exits 0 on SIGTERM; exits 1
 * with the errno name if KVM_CREATE_VM fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

int main(void)
{
	int kvm, vm;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		printf("open /dev/kvm: %s\n", strerror(errno));
		return 1;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		printf("KVM_CREATE_VM: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGTERM, on_term);
	printf("held\n");
	fflush(stdout);
	for (;;)
		pause();
}
