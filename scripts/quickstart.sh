#!/usr/bin/env bash
# Quickstart: the main job on a fresh Debian 12 machine, as root.
#  1. installs the dependencies and builds xbypass;
#  2. creates two private network namespaces joined by a veth pair (a sender and a sensor);
#  3. runs `xbypass run` on the sensor side with the default conf/xbypass.yaml (its interface name
#     given on the command line), bypassing one UDP flow;
#  4. sends that flow and another one for a few seconds;
#  5. shows the startup block and the counters: the bypassed flow dropped in the kernel, the other
#     passed to the stack; then removes everything it made.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
build=${XB_BUILD_DIR:-$top/build/quickstart}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then echo "quickstart: run as root (from a root shell: scripts/quickstart.sh)" >&2; exit 1; fi

say "dependencies and build"
bash scripts/deps.sh
autoreconf -fi >/dev/null 2>&1
mkdir -p "$build"
( cd "$build" && "$top/configure" -q )
make -C "$build" -j2 >/dev/null
xbypass="$build/xbypass"
send="$build/tests/tools/xb-udp-send"
"$xbypass" --version

tx=xbq-tx-$$
sensor=xbq-sensor-$$
work=$(mktemp -d)
xb_pid=
cleanup() {
  [ -n "$xb_pid" ] && kill "$xb_pid" 2>/dev/null && wait "$xb_pid" 2>/dev/null || true
  ip netns delete "$tx" 2>/dev/null || true
  ip netns delete "$sensor" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say "a veth pair between namespace $tx (sender, 10.200.0.1) and $sensor (sensor, 10.200.0.2)"
ip netns add "$tx"
ip netns add "$sensor"
ip -n "$tx" link add qs-tx type veth peer name qs-sensor netns "$sensor"
ip -n "$tx" addr add 10.200.0.1/24 dev qs-tx
ip -n "$sensor" addr add 10.200.0.2/24 dev qs-sensor
ip -n "$tx" link set qs-tx up
ip -n "$sensor" link set qs-sensor up
# Static neighbours (no ARP needed) and full checksums on the sender, as frames from a wire have.
mac_sensor=$(ip -n "$sensor" -o link show qs-sensor | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
mac_tx=$(ip -n "$tx" -o link show qs-tx | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
ip -n "$tx" neigh replace 10.200.0.2 lladdr "$mac_sensor" dev qs-tx nud permanent
ip -n "$sensor" neigh replace 10.200.0.1 lladdr "$mac_tx" dev qs-sensor nud permanent
nsenter --net="/run/netns/$tx" ethtool -K qs-tx tx off >/dev/null

cat > "$work/flows" <<FLOWS
# The IDS decided this flow needs no more inspection: bypass it in the kernel.
udp 10.200.0.1 40000 10.200.0.2 5001
FLOWS

say "xbypass run -c conf/xbypass.yaml --interface qs-sensor (startup block, then counters)"
"$xbypass" run --netns "$sensor" -c "$top/conf/xbypass.yaml" --interface qs-sensor \
  --flows "$work/flows" --duration 10 >"$work/xbypass.log" 2>&1 &
xb_pid=$!
for _ in $(seq 100); do
  ip -n "$sensor" link show qs-sensor | grep -q 'prog/xdp' && break
  kill -0 "$xb_pid" 2>/dev/null || break
  sleep 0.1
done
if ! ip -n "$sensor" link show qs-sensor | grep -q 'prog/xdp'; then
  cat "$work/xbypass.log"; echo "quickstart: xbypass did not attach" >&2; exit 1
fi
ip -n "$sensor" link show qs-sensor | grep prog/xdp | sed 's/^ */  kernel: /'

say "traffic for a few seconds: flow A (bypassed, port 5001) and flow B (not bypassed, port 5002)"
"$send" --netns "$tx" 10.200.0.1 40000 10.200.0.2 5001 3000 1000 &
a=$!
"$send" --netns "$tx" 10.200.0.1 40001 10.200.0.2 5002 3000 1000
wait $a

kill -TERM "$xb_pid"
wait "$xb_pid" || { cat "$work/xbypass.log"; echo "quickstart: xbypass exited with an error" >&2; exit 1; }
xb_pid=
cat "$work/xbypass.log"

say "result"
last=$(grep '\[stats\] qs-sensor:' "$work/xbypass.log" | tail -1)
count() { echo "$last" | grep -o " $1=[0-9]*" | cut -d= -f2; }
echo "  bypassed in the kernel (flow table hits, dropped before user space): hit=$(count hit) drop=$(count drop)"
echo "  passed to the stack (flow table misses):                             miss=$(count miss) pass=$(count pass)"
if [ "$(count hit)" -ge 3000 ] && [ "$(count pass)" -ge 3000 ]; then
  echo "  OK: flow A was dropped in the kernel, flow B reached the stack; nothing is left attached."
else
  echo "quickstart: the counters do not show the expected bypass" >&2; exit 1
fi
