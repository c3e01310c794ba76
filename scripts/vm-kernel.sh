#!/usr/bin/env bash
# Fetches the guest kernel for tests/vm: Debian 12's cloud kernel, unpacked (not installed) into
# $XB_VM_DIR (default /var/cache/xbypass/vm). Booted under qemu, it runs what this host's lockdown
# refuses — freplace programs, hence libxdp's dispatcher. Idempotent; prints the directory.
set -euo pipefail
dir=${XB_VM_DIR:-/var/cache/xbypass/vm}
# Modules the kernel tests use, in load order (vxlan needs the two tunnel modules first).
modules="veth ifb tun sch_ingress cls_bpf udp_tunnel ip6_udp_tunnel vxlan"
if [ -f "$dir/vmlinuz" ] && [ "$(cat "$dir/modules" 2>/dev/null)" = "$modules" ]; then echo "$dir"; exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"   # apt-get download runs as _apt where it can
cd "$work"
fetch() { apt-get download -q "$1" >/dev/null 2>&1 || { apt-get update -qq && apt-get download -q "$1" >/dev/null; }; }
# The metapackage names the current kernel package of the release.
fetch linux-image-cloud-amd64
image=$(dpkg-deb -f linux-image-cloud-amd64_*.deb Depends | grep -oE 'linux-image-[0-9][^ ,(]*' | head -1)
[ -n "$image" ] || { echo "vm-kernel: cannot tell the kernel package from linux-image-cloud-amd64" >&2; exit 1; }
fetch "$image"
dpkg-deb -x "$image"_*.deb root
mkdir -p "$dir.tmp"
cp root/boot/vmlinuz-* "$dir.tmp/vmlinuz"
for m in $modules; do
  ko=$(find root/lib/modules -name "$m.ko" | head -1)
  [ -n "$ko" ] || { echo "vm-kernel: $image has no module $m" >&2; exit 1; }
  cp "$ko" "$dir.tmp/"
done
echo "$modules" > "$dir.tmp/modules"
echo "$image" > "$dir.tmp/version"
rm -rf "$dir" && mkdir -p "$(dirname "$dir")" && mv "$dir.tmp" "$dir"
echo "$dir"
