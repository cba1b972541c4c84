# SPDX-License-Identifier: GPL-2.0
#
# axvm top-level Makefile.
#
#   make              module + userspace + selftests (= make all)
#   make module       axvm.ko against $(KDIR) (built with W=1 by default)
#   make userspace    userspace/axvm, the launcher
#   make selftests    selftests/*_test, with the kselftest headers taken from
#                     Debian's linux-source tarball into .build/ksft/ (once)
#   make check        build against Debian's kernel, boot it under QEMU (TCG,
#                     emulated SVM) and run selftests/run_tests.sh in it
#   make demo         boot the test VM, run a raw-image guest and boot Linux
#                     (Debian's kernel) on axvm, on 1 then 2 vCPUs
#   make demo-shell   the same Linux guest, interactive: this terminal ends
#                     at the guest's shell (leave with poweroff or Ctrl-A x)
#   make bench        axvm vs KVM vs bare VMRUN in one test VM (bench/run)
#   make kvm-unit-tests  by hand: kvm-unit-tests' x86 tests on axvm in one test
#                     VM, next to KVM's results (scripts/kvm-unit-tests; needs
#                     ../shared/third_party/kvm-unit-tests-*.tar.gz or
#                     KUT_ARGS="SOURCE [TEST...]")
#   make clean        remove build products and test VM logs (keeps the
#                     .build/ksft cache; make distclean removes it too)
#
# The kbuild side of the module lives in ./Kbuild.  For `make module` on your
# own machine KDIR defaults to the running kernel; `make check` and `make demo`
# build against the Debian kernel that linux-image-amd64 installs instead
# (scripts/testvm, scripts/check).

KDIR ?= /lib/modules/$(shell uname -r)/build
W ?= 1
KSFT_DEFAULT := $(CURDIR)/.build/ksft
KSFT_INC ?= $(KSFT_DEFAULT)

.PHONY: all module userspace selftests ksft-headers check demo demo-shell kvm-unit-tests clean distclean help

all: module userspace selftests

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=$(W) modules

userspace:
	$(MAKE) -C userspace

ksft-headers:
ifeq ($(KSFT_INC),$(KSFT_DEFAULT))
	@$(CURDIR)/scripts/ksft-headers >/dev/null
endif

# Until selftests/Makefile exists there is nothing to build there (the
# selftests/*.sh tests still run).
selftests: ksft-headers
	@if [ -f selftests/Makefile ]; then \
		$(MAKE) -C selftests KSFT_INC=$(KSFT_INC); \
	else \
		echo "selftests: no selftests/Makefile, nothing to build"; \
	fi

check:
	$(CURDIR)/scripts/check

demo:
	$(CURDIR)/scripts/demo

demo-shell:
	$(CURDIR)/scripts/demo --shell

# Not part of make check: the suite's source is outside the repository.
kvm-unit-tests:
	$(CURDIR)/scripts/kvm-unit-tests $(KUT_ARGS)

clean:
	@if [ -d "$(KDIR)" ]; then $(MAKE) -C $(KDIR) M=$(CURDIR) clean; fi
	@if [ -f userspace/Makefile ]; then $(MAKE) -C userspace clean; fi
	@if [ -f selftests/Makefile ]; then $(MAKE) -C selftests clean; fi
	find $(CURDIR)/driver \( -name '*.o' -o -name '.*.cmd' -o -name '*.o.d' \) -delete 2>/dev/null || true
	rm -f $(CURDIR)/axvm.ko $(CURDIR)/axvm.mod $(CURDIR)/axvm.mod.c $(CURDIR)/axvm.mod.o \
		$(CURDIR)/axvm.o $(CURDIR)/Module.symvers $(CURDIR)/modules.order \
		$(CURDIR)/.axvm*.cmd $(CURDIR)/.Module.symvers.cmd $(CURDIR)/.modules.order.cmd
	rm -rf $(CURDIR)/.build/testvm* $(CURDIR)/.build/check*

distclean: clean
	rm -rf $(CURDIR)/.build

help:
	@sed -n '3,28s/^# \{0,1\}//p' $(CURDIR)/Makefile

# Benchmarks (Documentation/benchmarks.md): results in bench/results/.
.PHONY: bench
bench:
	$(CURDIR)/bench/run
