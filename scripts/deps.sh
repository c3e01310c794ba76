#!/usr/bin/env bash
# Installs every build and test dependency of xbypass from Debian 12 packages. Idempotent: does
# nothing when all are present; runs `apt-get update` only when something must be installed.
set -euo pipefail

PACKAGES=(
  # build
  autoconf automake libtool pkg-config make g++
  # BPF programs and skeletons
  clang llvm bpftool linux-libc-dev libelf-dev zlib1g-dev
  # libraries
  libbpf-dev libxdp-dev libyaml-dev libhyperscan-dev libmnl-dev libpcap-dev
  # tests, fuzzing (libFuzzer runtime), kernel test harness
  libgtest-dev libgmock-dev libclang-rt-14-dev iproute2 util-linux ethtool kmod
  # the test VM (tests/vm): a second kernel for what this one refuses (freplace, libxdp's dispatcher)
  qemu-system-x86 busybox-static cpio
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The guest kernel of the test VM is unpacked, not installed (scripts/vm-kernel.sh).
vm_kernel() {
  [ "$(id -u)" -eq 0 ] || return 0
  dir=$(bash "$(dirname "$0")/vm-kernel.sh") || { echo "deps: cannot fetch the test VM's kernel" >&2; return 1; }
  echo "deps: test VM kernel in $dir ($(cat "$dir/version"))"
}
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} packages present"
  vm_kernel
  exit $?
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages: ${missing[*]} — run as root (as root: scripts/deps.sh)" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: installed ${#missing[@]} packages"
vm_kernel
