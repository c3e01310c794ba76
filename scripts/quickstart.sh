#!/usr/bin/env bash
# Quickstart: the main job on a fresh Debian 12 machine, from a root shell.
#  1. installs the dependencies and builds xbypass and xids;
#  2. makes a client and a server namespace joined by a veth pair, and a sensor namespace that gets a
#     copy of every frame of the server's link (tc mirred: what a SPAN port gives an IDS);
#  3. runs xids with the plugin on the sensor's interface, on the default conf/xids.yaml (its
#     interface name given on the command line) and the example rules in conf/rules/;
#  4. sends real traffic: a TCP transfer with a marker a rule alerts on and bypasses, a TLS-looking
#     exchange (bypassed once encrypted both ways) and plain UDP with one probe datagram;
#  5. shows the startup diagnostics, the alerts, and the counters: what the kernel dropped for the
#     bypassed flows and what still reached the engine; then removes everything it made.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
build=${XB_BUILD_DIR:-$top/build/quickstart}
seconds=${XB_QUICKSTART_SECONDS:-6}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then echo "quickstart: run as root (from a root shell: scripts/quickstart.sh)" >&2; exit 1; fi

say "dependencies and build"
bash scripts/deps.sh
autoreconf -fi >/dev/null 2>&1
mkdir -p "$build"
( cd "$build" && "$top/configure" -q )
make -C "$build" -j2 >/dev/null
xids="$build/xids"
export LD_LIBRARY_PATH="$build/.libs"   # the plugin, libxbypass.so.1, as xids dlopen()s it
"$build/xbypass" --version

client=xbq-client-$$ server=xbq-server-$$ sensor=xbq-sensor-$$
work=$(mktemp -d)
pids=()
# shellcheck source=scripts/span-net.sh
. "$top/scripts/span-net.sh"
cleanup() {
  set +e  # a process already gone must not end the cleanup before the namespaces are removed
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  span_net_down "$client" "$server" "$sensor"
  rm -rf "$work"
}
trap cleanup EXIT
in_ns() { span_in_ns "$@"; }

say "namespaces: $client (10.77.1.1) <-> $server (10.77.1.2), mirrored to $sensor (qs-sensor)"
span_net_up "$client" "$server" "$sensor" || { echo "quickstart: cannot make the namespaces" >&2; exit 1; }

# The default configuration, with the EVE log in the work directory; the interface comes from -i.
sed -e "s|^default-log-dir: .*|default-log-dir: $work|" -e "s|^default-rule-path: .*|default-rule-path: $top/conf/rules|" \
  "$top/conf/xids.yaml" > "$work/xids.yaml"

say "xids -c conf/xids.yaml -i qs-sensor (startup diagnostics, then stats)"
"$xids" -c "$work/xids.yaml" --netns "$sensor" -i qs-sensor >"$work/xids.log" 2>&1 &
xids_pid=$!
pids+=("$xids_pid")
for _ in $(seq 100); do
  grep -q 'threads' "$work/xids.log" 2>/dev/null && break
  kill -0 "$xids_pid" 2>/dev/null || break
  sleep 0.1
done
if ! kill -0 "$xids_pid" 2>/dev/null; then cat "$work/xids.log"; echo "quickstart: xids did not start" >&2; exit 1; fi
sleep 0.5
ip -n "$sensor" link show qs-sensor | grep -o 'prog/xdp.*' | sed 's/^/  kernel: /' || true

say "traffic for ${seconds} s: TCP transfer with a marker, TLS-looking exchange, UDP"
in_ns "$server" python3 "$top/scripts/xids_traffic.py" server 10.77.1.2 >"$work/server.log" 2>&1 &
pids+=("$!")
sleep 0.5
in_ns "$client" python3 "$top/scripts/xids_traffic.py" client 10.77.1.2 "$seconds"
sleep 1
kill -TERM "$xids_pid"
wait "$xids_pid" || { cat "$work/xids.log"; echo "quickstart: xids exited with an error" >&2; exit 1; }
cat "$work/xids.log"

say "alerts (EVE)"
python3 "$top/scripts/eve_summary.py" alerts "$work/eve.json"

say "bypassed flows (EVE flow records: what the engine inspected, then what the kernel took)"
python3 "$top/scripts/eve_summary.py" bypassed "$work/eve.json"

say "result"
final=$(grep 'final:' "$work/xids.log" | tail -1)
kernel=$(grep '\[stats\] notice\[XB7222\]: kernel:' "$work/xids.log" | tail -1)
echo "  engine: ${final#*final: }"
echo "  ${kernel#*\[stats\] }"
alerts=$(grep -c '"event_type":"alert"' "$work/eve.json" || true)
drop=$(echo "$kernel" | grep -o ' drop=[0-9]*' | head -1 | cut -d= -f2)
accepted=$(echo "$final" | grep -o 'bypass-accepted=[0-9]*' | cut -d= -f2)
if [ "${alerts:-0}" -ge 2 ] && [ "${accepted:-0}" -ge 2 ] && [ "${drop:-0}" -gt 100 ]; then
  echo "  OK: $alerts alerts; $accepted flows bypassed, whose later $drop packets the kernel dropped before user space."
else
  echo "quickstart: the alerts or the bypass counters are not what the traffic should give" >&2; exit 1
fi
