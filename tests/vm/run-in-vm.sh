#!/usr/bin/env bash
# Runs a command inside a throwaway virtual machine with another kernel (scripts/vm-kernel.sh:
# Debian's cloud kernel), for what this host's kernel refuses — here, freplace programs and so the
# libxdp dispatcher. The guest boots from an initramfs holding busybox, the files named with --copy
# (at the same absolute paths, with the shared libraries they need) and the tools the test harness
# uses; it prints the command's output on the console and powers off. Exit status: the command's,
# 77 (skip) when qemu or the guest kernel is missing, 99 when the guest did not report.
#
#   run-in-vm.sh [--copy PATH]... [--env NAME=VALUE]... -- COMMAND [ARG]...
set -uo pipefail

copies=() envs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --copy) copies+=("$2"); shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "run-in-vm: unknown option $1" >&2; exit 99 ;;
  esac
done
[ $# -gt 0 ] || { echo "run-in-vm: no command" >&2; exit 99; }

vm_dir=${XB_VM_DIR:-/var/cache/xbypass/vm}
qemu=$(command -v qemu-system-x86_64 || true)
busybox=$(command -v busybox || true)
for need in "$qemu" "$busybox" "$(command -v cpio || true)" "$vm_dir/vmlinuz"; do
  if [ -z "$need" ] || [ ! -e "$need" ]; then
    echo "kernel test skipped: the test VM needs qemu-system-x86, busybox-static, cpio and the guest kernel" \
         "(sudo scripts/deps.sh installs them all)"
    exit 77
  fi
done
# ldd exits 1 on a static binary, so its verdict is read from the text (pipefail is on).
if [[ "$(ldd "$busybox" 2>&1 || true)" != *"not a dynamic"* ]]; then
  echo "kernel test skipped: $busybox is not statically linked (install busybox-static)"
  exit 77
fi

root=$(mktemp -d /tmp/xb-vm.XXXXXX)
trap 'rm -rf "$root"' EXIT

# copy_with_libs PATH: the file at its own path, and every shared library ldd names for it.
copy_with_libs() {
  local f=$1
  [ -e "$f" ] || { echo "run-in-vm: $f does not exist" >&2; exit 99; }
  mkdir -p "$root$(dirname "$f")"
  cp -L "$f" "$root$f"
  ldd "$f" 2>/dev/null | grep -oE '/[^ ]+' | while read -r lib; do
    [ -e "$root$lib" ] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

mkdir -p "$root"/{bin,sbin,proc,sys,dev,run,tmp,root,etc,lib/modules}
cp "$busybox" "$root/bin/busybox"
for tool in dash ip tc nsenter ethtool timeout; do
  p=$(command -v "$tool" || true)
  [ -n "$p" ] && copy_with_libs "$(readlink -f "$p")" && [ "$(readlink -f "$p")" != "$p" ] && \
    mkdir -p "$root$(dirname "$p")" && ln -sf "$(readlink -f "$p")" "$root$p"
done
for f in "${copies[@]}"; do
  if [ -d "$f" ]; then mkdir -p "$root$(dirname "$f")" && cp -a "$f" "$root$(dirname "$f")/"
  else copy_with_libs "$(readlink -f "$f")"; [ "$(readlink -f "$f")" != "$f" ] && ln -sf "$(readlink -f "$f")" "$root$f"; fi
done
# libxdp looks for its dispatcher object here.
for d in /usr/lib/x86_64-linux-gnu/bpf /usr/lib/bpf; do
  [ -d "$d" ] && mkdir -p "$root$(dirname "$d")" && cp -a "$d" "$root$(dirname "$d")/"
done
cp "$vm_dir"/*.ko "$vm_dir/modules" "$root/lib/modules/"
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"

{
  echo '#!/bin/busybox sh'
  echo '/bin/busybox --install -s /bin'
  # Debian's static busybox runs its own applets before PATH (so `ip` would be busybox's): the
  # harness's sh -c gets dash, which runs the real iproute2.
  echo 'ln -sf /usr/bin/dash /bin/sh'
  echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root'
  echo 'mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev'
  echo 'mount -t tmpfs run /run; mkdir -p /dev/shm && mount -t tmpfs shm /dev/shm'
  # The accelerator trial (below) only needs to see the guest run.
  echo 'if grep -q xb_trial /proc/cmdline; then echo "XB-VM-EXIT 0"; poweroff -f; fi'
  echo 'for m in $(cat /lib/modules/modules); do insmod /lib/modules/$m.ko; done'
  echo 'ip link set lo up'
  for e in "${envs[@]}"; do printf 'export %q\n' "$e"; done
  printf 'cd %q\n' "$(pwd)"
  printf '%q ' "$@"; echo
  echo 'echo "XB-VM-EXIT $?"'
  echo 'sync; poweroff -f'
} > "$root/init"
chmod +x "$root/init"
mkdir -p "$root$(pwd)"

image="$root.cpio.gz"
( cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1 ) > "$image"
trap 'rm -rf "$root" "$image"' EXIT
echo "run-in-vm: booting $(cat "$vm_dir/version" 2>/dev/null || echo "$vm_dir/vmlinuz") ($(du -h "$image" | cut -f1) initramfs): $*"

# KVM where it works, software emulation (TCG) otherwise: /dev/kvm can exist and still hang the
# guest (nested virtualisation inside some VMs does). A 20 s trial boot decides, once per host boot
# (the verdict is cached under the VM directory with the boot id); XB_VM_ACCEL forces a choice.
boot_qemu() {  # boot_qemu TIMEOUT EXTRA-KERNEL-ARGS ACCEL-ARGS... : the guest's console on stdout
  local t=$1 extra=$2; shift 2
  timeout "$t" "$qemu" "$@" -smp 2 -m "${XB_VM_MEMORY:-2048}" -nic none \
    -kernel "$vm_dir/vmlinuz" -initrd "$image" -append "console=ttyS0 quiet panic=-1$extra" \
    -nographic -no-reboot -monitor none -serial stdio </dev/null 2>&1 | tr -d '\r'
}
choose_accel() {
  if [ -n "${XB_VM_ACCEL:-}" ]; then echo "$XB_VM_ACCEL"; return; fi
  local tcg="-accel tcg -cpu max" kvm="-accel kvm -cpu host"
  [ -w /dev/kvm ] || { echo "$tcg"; return; }
  local boot cache="$vm_dir/accel-verdict"
  boot=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
  if [ -f "$cache" ] && [ "$(head -1 "$cache")" = "$boot" ]; then sed -n 2p "$cache"; return; fi
  local verdict=$tcg
  # The trial boots the same image, whose init stops at once on xb_trial: its exit line proves
  # the guest ran under KVM.
  if boot_qemu 20 " xb_trial" $kvm | grep -q 'XB-VM-EXIT'; then verdict=$kvm; fi
  printf '%s\n%s\n' "$boot" "$verdict" > "$cache" 2>/dev/null || true
  echo "$verdict"
}
accel=$(choose_accel)
echo "run-in-vm: accelerator: $accel"
out="$root.console"
# shellcheck disable=SC2086 # the accelerator arguments are words
boot_qemu "${XB_VM_TIMEOUT:-600}" "" $accel | tee "$out" |
  sed -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' -e 's/\x1bc//g' | grep -avE 'SeaBIOS|iPXE|Booting from|^\s*$'
rc=$(grep -oE 'XB-VM-EXIT [0-9]+' "$out" | tail -1 | grep -oE '[0-9]+$')
rm -f "$out"
if [ -z "$rc" ]; then echo "run-in-vm: the guest did not report an exit status"; exit 99; fi
exit "$rc"
