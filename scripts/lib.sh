# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers shared by scripts/testvm, scripts/check, scripts/demo and
# scripts/ksft-headers.  Source it; it defines functions and a few variables
# and does nothing else.
#
#   AXVM_ROOT   the repository's top directory
#   AXVM_BUILD  $AXVM_ROOT/.build (caches, logs, the test VM's initramfs)
#
# Environment knobs understood here:
#   AXVM_KVER        Debian kernel release to test against (default: the one
#                    linux-image-amd64 points at, e.g. 6.1.0-56-amd64)
#   AXVM_NO_INSTALL  if set to 1, never run apt-get; fail on missing packages

AXVM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AXVM_BUILD="$AXVM_ROOT/.build"
AXVM_LOG_TAG=${AXVM_LOG_TAG:-$(basename "$0")}

# shellcheck disable=SC2034  # used by the scripts that source this file
# Packages needed to boot the test VM and to build what goes into it.
AXVM_PKGS_VM=(qemu-system-x86 linux-image-amd64 busybox-static cpio)
# shellcheck disable=SC2034
AXVM_PKGS_BUILD=(linux-headers-amd64 gcc make libc6-dev)

axvm_log() {
	printf '%s: %s\n' "$AXVM_LOG_TAG" "$*" >&2
}

axvm_die() {
	printf '%s: error: %s\n' "$AXVM_LOG_TAG" "$*" >&2
	exit 125
}

# Seconds since the epoch with two decimals, for timings.
axvm_now() {
	local t
	t=$(date +%s.%N)
	printf '%.2f' "$t"
}

axvm_elapsed() { # START -> seconds since START, "%.1f"
	local now
	now=$(axvm_now)
	awk -v a="$1" -v b="$now" 'BEGIN { printf "%.1f", b - a }'
}

axvm_pkg_installed() {
	[[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

AXVM_APT_UPDATED=0

# axvm_ensure_pkgs PKG... : install the packages that are missing (as root,
# through apt-get), or fail saying which are missing.
axvm_ensure_pkgs() {
	local p missing=()
	for p in "$@"; do
		axvm_pkg_installed "$p" || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	if [[ ${AXVM_NO_INSTALL:-0} == 1 || $(id -u) -ne 0 ]]; then
		axvm_die "missing packages: ${missing[*]} (as root: apt-get update && apt-get install -y ${missing[*]})"
	fi
	axvm_log "installing ${missing[*]}"
	if ((AXVM_APT_UPDATED == 0)); then
		apt-get -q update >&2 || axvm_die "apt-get update failed"
		AXVM_APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		"${missing[@]}" >&2 || axvm_die "apt-get install ${missing[*]} failed"
}

# axvm_kver: print the Debian kernel release the test VM boots (the one the
# installed linux-image-amd64 meta-package depends on, falling back to the
# newest /lib/modules/*-amd64 that has both headers and a /boot/vmlinuz).
axvm_kver() {
	local v dep d best=""
	if [[ -n ${AXVM_KVER:-} ]]; then
		printf '%s\n' "$AXVM_KVER"
		return 0
	fi
	dep=$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null || true)
	v=$(sed -n 's/.*linux-image-\([0-9][^ ,]*-amd64\).*/\1/p' <<<"$dep" | head -n 1)
	if [[ -n $v && -f /boot/vmlinuz-$v && -d /lib/modules/$v/build ]]; then
		printf '%s\n' "$v"
		return 0
	fi
	for d in /lib/modules/*-amd64; do
		v=${d##*/}
		[[ -f /boot/vmlinuz-$v && -d $d/build ]] || continue
		best=$(printf '%s\n%s\n' "$best" "$v" | sed '/^$/d' | sort -V | tail -n 1)
	done
	[[ -n $best ]] || return 1
	printf '%s\n' "$best"
}

# axvm_source_pkg KVER: the Debian package holding that kernel's source
# tarball (6.1.0-56-amd64 -> linux-source-6.1).
axvm_source_pkg() {
	local mm
	mm=$(sed -n 's/^\([0-9]*\.[0-9]*\).*/\1/p' <<<"$1")
	printf 'linux-source-%s\n' "${mm:-6.1}"
}

# axvm_ksft_dir: make sure $AXVM_BUILD/ksft holds kselftest.h and
# kselftest_harness.h (extracted once from Debian's linux-source tarball)
# and print that directory.
axvm_ksft_dir() {
	local dir="$AXVM_BUILD/ksft" kver pkg mm tarball tmp h
	if [[ -f $dir/kselftest.h && -f $dir/kselftest_harness.h ]]; then
		printf '%s\n' "$dir"
		return 0
	fi
	kver=$(axvm_kver || true)
	pkg=$(axvm_source_pkg "${kver:-6.1}")
	mm=${pkg#linux-source-}
	tarball="/usr/src/linux-source-$mm.tar.xz"
	if [[ ! -f $tarball ]]; then
		axvm_ensure_pkgs "$pkg" xz-utils
	fi
	command -v xz >/dev/null || axvm_ensure_pkgs xz-utils
	[[ -f $tarball ]] || axvm_die "$tarball not found (package $pkg)"
	axvm_log "extracting kselftest headers from $tarball"
	mkdir -p "$AXVM_BUILD"
	tmp=$(mktemp -d "$AXVM_BUILD/ksft.tmp.XXXXXX")
	# --occurrence stops reading the (big) archive once both are found.
	if ! tar -xJf "$tarball" -C "$tmp" --occurrence=1 --wildcards \
		'*/tools/testing/selftests/kselftest.h' \
		'*/tools/testing/selftests/kselftest_harness.h'; then
		rm -rf "$tmp"
		axvm_die "could not extract the kselftest headers from $tarball"
	fi
	mkdir -p "$tmp/out"
	for h in kselftest.h kselftest_harness.h; do
		find "$tmp" -path "*/tools/testing/selftests/$h" -exec mv {} "$tmp/out/$h" \;
		[[ -f $tmp/out/$h ]] || { rm -rf "$tmp"; axvm_die "$h missing from $tarball"; }
	done
	# Another run may have finished first: keep whichever complete copy exists.
	if [[ ! -f $dir/kselftest.h || ! -f $dir/kselftest_harness.h ]]; then
		rm -rf "$dir"
		mv -T "$tmp/out" "$dir" || true
	fi
	rm -rf "$tmp"
	[[ -f $dir/kselftest.h && -f $dir/kselftest_harness.h ]] ||
		axvm_die "could not install the kselftest headers into $dir"
	printf '%s\n' "$dir"
}
