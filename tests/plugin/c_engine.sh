#!/usr/bin/env bash
# make check: a third-party engine's view of the plugin. The plugin's library, header and pkg-config
# file are installed into a staging root (make install DESTDIR=...), tests/plugin/c_engine.c is
# compiled as strict C99 against that tree alone (pkg-config xbypass), and run against the real
# kernel on a veth pair in two namespaces this script makes: API misuse, a refused configuration,
# then live traffic with each capture method (AF_PACKET, AF_XDP), one of two UDP flows bypassed.
# Afterwards nothing may be left attached. Prints a gtest-style summary for scripts/test.sh.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(pwd)  # automake runs tests from the top build directory
[ "$(id -u)" -eq 0 ] || { echo "kernel test skipped: needs root"; exit 77; }

work=$(mktemp -d /tmp/xb-cengine.XXXXXX)
tx=xbc-$$-tx cap=xbc-$$-cap
senders=()
cleanup() {
  for p in "${senders[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  ip netns delete "$tx" 2>/dev/null
  ip netns delete "$cap" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
passed=0 failed=0
result() {  # result NAME STATUS
  if [ "$2" -eq 0 ]; then echo "[       OK ] $1"; passed=$((passed + 1)); else echo "[  FAILED  ] $1"; failed=$((failed + 1)); fi
}

# --- install and build as a user would ---------------------------------------------------------
root="$work/root"
make -C "$build" install-libLTLIBRARIES install-xbypassincludeHEADERS install-pkgconfigDATA DESTDIR="$root" \
  >"$work/install.log" 2>&1 || { cat "$work/install.log"; echo "c_engine.sh: make install failed"; exit 1; }
pc=$(find "$root" -name xbypass.pc | head -1)
[ -n "$pc" ] || { echo "c_engine.sh: no xbypass.pc was installed"; exit 1; }
export PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_PATH="$(dirname "$pc")"
flags=$(pkg-config --cflags --libs xbypass) || { echo "c_engine.sh: pkg-config xbypass failed"; exit 1; }
echo "pkg-config xbypass: $flags"
lib=$(find "$root" -name 'libxbypass.so.1' | head -1)
# A sanitizer build's library calls into ASan/UBSan's runtimes, which libtool does not record as
# its dependencies: the engine is then built with the same sanitizers (its own choice of build mode).
sanitize=""
case "$(nm -D --undefined-only "$lib")" in *__asan_*) sanitize="-fsanitize=address,undefined" ;; esac
# shellcheck disable=SC2086 # flags are words
gcc $sanitize -std=c99 -Wall -Wextra -Werror -pedantic "$here/c_engine.c" $flags -o "$work/c_engine" 2>"$work/cc.log" || {
  cat "$work/cc.log"; echo "c_engine.sh: the C engine does not compile against the installed header"; exit 1; }
export LD_LIBRARY_PATH="$(dirname "$lib")"
engine="$work/c_engine"

# --- the network ---------------------------------------------------------------------------------
ip netns add "$tx" && ip netns add "$cap" || exit 1
ip -n "$tx" link add t0 type veth peer name c0 netns "$cap"
for ns in "$tx" "$cap"; do
  nsenter --net="/run/netns/$ns" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6' 2>/dev/null || true
done
ip -n "$tx" addr add 10.210.0.1/24 dev t0
ip -n "$cap" addr add 10.210.0.2/24 dev c0
ip -n "$tx" link set t0 up
ip -n "$cap" link set c0 up
ip -n "$tx" link set lo up
ip -n "$cap" link set lo up
mac() { ip -n "$1" -o link show "$2" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }
ip -n "$tx" neigh replace 10.210.0.2 lladdr "$(mac "$cap" c0)" dev t0 nud permanent
ip -n "$cap" neigh replace 10.210.0.1 lladdr "$(mac "$tx" t0)" dev c0 nud permanent
send="$build/tests/tools/xb-udp-send"

nothing_attached() {
  if ip -n "$cap" link show c0 | grep -q 'prog/xdp'; then echo "an XDP program is still attached to c0"; return 1; fi
  if [ -n "$(nsenter --net="/run/netns/$cap" tc filter show dev c0 ingress 2>/dev/null)" ]; then
    echo "a tc filter is still attached to c0"; return 1; fi
  return 0
}

# --- the cases -------------------------------------------------------------------------------------
"$engine" --misuse; result CEngine.MisuseGetsErrorCodes $?

cat > "$work/refused.yaml" <<'YAML'
xbypass:
  interfaces:
    - interface: nosuch0
YAML
"$engine" --refused "$work/refused.yaml" "$cap"; rc=$?
nothing_attached || rc=1
result CEngine.RefusedConfigurationReturnsItsDiagnostics $rc

live() {  # live CAPTURE-METHOD
  cat > "$work/$1.yaml" <<YAML
xbypass:
  interfaces:
    - interface: c0
      capture: $1
YAML
  "$send" --netns "$tx" 10.210.0.1 40000 10.210.0.2 5001 200000 300 & senders+=($!)
  "$send" --netns "$tx" 10.210.0.1 40001 10.210.0.2 5002 200000 300 & senders+=($!)
  "$engine" "$work/$1.yaml" "$cap" c0 5001 5002; local rc=$?
  for p in "${senders[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  senders=()
  nothing_attached || rc=1
  return $rc
}
live af-packet; result CEngine.AfPacketBypassedFlowStopsArriving $?
live af-xdp; result CEngine.AfXdpBypassedFlowStopsArriving $?

echo "[==========] $((passed + failed)) tests ran."
echo "[  PASSED  ] $passed tests."
[ "$failed" -eq 0 ] || { echo "[  FAILED  ] $failed tests, listed above"; exit 1; }
exit 0
