# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# tools/packages.sh - the Debian packages vmfs needs to build and test, and the installer
# that adds the missing ones (as root, quietly). Sourced by tools/run-tests and
# tools/vmfs-local, so the list lives in one place; README.md's "Dependencies" names the
# same packages.
#
#	. tools/packages.sh
#	vmfs_install_packages PROG [EXTRA-PACKAGE...]   # PROG prefixes its messages; 1 on failure

# Build tools, libraries (configure names each), test tools.
vmfs_packages=(
	build-essential autoconf automake pkg-config
	libfuse3-dev libcpg-dev libquorum-dev libvotequorum-dev libcmap-dev libqb-dev
	libcmocka-dev libjansson-dev libisal-dev libcorosync-common-dev
	corosync nftables iproute2 python3 util-linux
	fuse3 attr fio qemu-utils
	qemu-system-x86 busybox-static cpio
)

vmfs_install_packages() {
	local prog=$1 missing=() p
	shift
	for p in "${vmfs_packages[@]}" "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "$prog: missing Debian packages: ${missing[*]} (run as root to install)" >&2
		return 1
	fi
	echo "$prog: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null &&
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
