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
  libbpf-dev libxdp-dev libyaml-dev libhyperscan-dev libmnl-dev
  # tests, fuzzing (libFuzzer runtime), kernel test harness
  libgtest-dev libgmock-dev libclang-rt-14-dev iproute2 util-linux ethtool kmod
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages: ${missing[*]} — run as root (sudo scripts/deps.sh)" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: installed ${#missing[@]} packages"
