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
  # benchmarks: a fixed-rate replay of the same frames (bench/xids_cpu.sh)
  tcpreplay
  # the test VM (tests/vm): a second kernel for what this one refuses (freplace, libxdp's dispatcher)
  qemu-system-x86 busybox-static cpio
)

# Suricata 7 for the tests under tests/suricata: Debian 12's bookworm-backports suite. The apt
# source is derived from the machine's own Debian entry (same URI and key), never a fixed host.
# Best effort: a failure here is reported and does not fail the main job; the tests that need
# Suricata then skip with "kernel test skipped: suricata not installable".
suricata_deps() {
  [ "$(id -u)" -eq 0 ] || return 0
  if command -v suricata >/dev/null 2>&1 && suricata -V 2>/dev/null | grep -q 'version 7\.'; then
    echo "deps: $(suricata -V 2>/dev/null | head -n1)"
    return 0
  fi
  local uri="" key="" f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    # The first stanza whose suites include bookworm (not -security): its URIs and Signed-By.
    read -r uri key < <(awk '
      BEGIN { RS=""; FS="\n" }
      {
        u=""; s=""; k="";
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { u=$i; sub(/^URIs:[ \t]*/, "", u); split(u, a, /[ \t]+/); u=a[1] }
          if ($i ~ /^Suites:/) s=$i
          if ($i ~ /^Signed-By:/) { k=$i; sub(/^Signed-By:[ \t]*/, "", k) }
        }
        if (u != "" && s ~ /[ \t]bookworm([ \t]|$)/) { print u, k; exit }
      }' "$f") || true
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $3 == "bookworm" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
  fi
  if [ -z "$uri" ]; then
    echo "deps: no Debian bookworm apt source to derive bookworm-backports from; suricata not installed" >&2
    return 0
  fi
  local src=/etc/apt/sources.list.d/xbypass-bookworm-backports.sources
  {
    echo "Types: deb"
    echo "URIs: $uri"
    echo "Suites: bookworm-backports"
    echo "Components: main"
    if [ -n "$key" ]; then echo "Signed-By: $key"; fi
  } > "$src.new"
  if ! cmp -s "$src.new" "$src" 2>/dev/null; then mv "$src.new" "$src"; else rm -f "$src.new"; fi
  export DEBIAN_FRONTEND=noninteractive
  local try
  for try in 1 2 3; do
    if apt-get update -qq >/dev/null \
       && apt-get install -y -qq --no-install-recommends -t bookworm-backports suricata >/dev/null; then
      echo "deps: $(suricata -V 2>/dev/null | head -n1) from bookworm-backports"
      return 0
    fi
    sleep $((try * 5))
  done
  echo "deps: suricata from bookworm-backports could not be installed; tests/suricata will skip" >&2
  return 0
}

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
  suricata_deps
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
suricata_deps
vm_kernel
