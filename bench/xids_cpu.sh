#!/usr/bin/env bash
# xids's CPU time per second of traffic with the kernel bypass on and off, in one run: the same
# mirrored (SPAN) link and the same traffic (scripts/xids_traffic.py: a TCP transfer whose rule says
# bypass, a TLS-looking exchange, plain UDP), alternated ROUNDS times. "off" is the same engine and
# rules with every bypass trigger removed (no `bypass` keyword, TLS track-only). Prints per round the
# engine's CPU seconds per second of traffic and packets it inspected, the share of the traffic the
# kernel bypassed, and the ratio off/on; then the medians.
#   bench/xids_cpu.sh [BUILD_DIR] [ROUNDS] [SECONDS]     (root)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build/dev}
rounds=${2:-3}
seconds=${3:-6}
[ "$(id -u)" -eq 0 ] || { echo "xids_cpu: run as root"; exit 1; }
export LD_LIBRARY_PATH="$build/.libs"
work=$(mktemp -d /tmp/xb-xidscpu.XXXXXX)
client=xbc-$$-client server=xbc-$$-server sensor=xbc-$$-sensor
pids=()
. "$top/scripts/span-net.sh"
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  span_net_down "$client" "$server" "$sensor"
  rm -rf "$work"
}
trap cleanup EXIT
span_net_up "$client" "$server" "$sensor" || exit 1
span_in_ns "$server" python3 "$top/scripts/xids_traffic.py" server 10.77.1.2 >/dev/null 2>&1 &
pids+=("$!")

for mode in on off; do
  sed -e "s|^default-log-dir: .*|default-log-dir: $work|" -e "s|^default-rule-path: .*|default-rule-path: $work|" \
      -e "s|^  interval: 8|  interval: 1|" "$top/conf/xids.yaml" > "$work/$mode.yaml"
  cp "$top/conf/rules/xids.rules" "$work/xids.rules.$mode"
done
sed -i 's/ bypass;)/)/' "$work/xids.rules.off"
sed -i 's/encryption-handling: bypass/encryption-handling: track-only/; s/^  bypass: yes/  bypass: no/' "$work/off.yaml"
sed -i "s|  - xids.rules|  - xids.rules.off|" "$work/off.yaml"
sed -i "s|  - xids.rules|  - xids.rules.on|" "$work/on.yaml"

ticks=$(getconf CLK_TCK)
measure() {  # measure MODE: prints "cpu_per_s packets bypassed_share"
  local mode=$1
  "$build/xids" -c "$work/$mode.yaml" --netns "$sensor" -i qs-sensor >"$work/$mode.log" 2>&1 &
  local xp=$!
  for _ in $(seq 100); do grep -q 'threads' "$work/$mode.log" && break; sleep 0.1; done
  local t0; t0=$(awk '{print $14 + $15}' "/proc/$xp/stat")
  XIDS_TRAFFIC_PACE=${XIDS_TRAFFIC_PACE:-0} span_in_ns "$client" python3 "$top/scripts/xids_traffic.py" client 10.77.1.2 "$seconds" >/dev/null 2>&1
  sleep 0.5
  local t1; t1=$(awk '{print $14 + $15}' "/proc/$xp/stat")
  kill -TERM "$xp"; wait "$xp"
  local final kernel
  final=$(grep 'final:' "$work/$mode.log" | tail -1)
  kernel=$(grep '\[stats\] kernel:' "$work/$mode.log" | tail -1)
  local packets drop redirect
  packets=$(echo "$final" | grep -o ' packets=[0-9]*' | cut -d= -f2)
  drop=$(echo "$kernel" | grep -o ' drop=[0-9]*' | cut -d= -f2)
  redirect=$(echo "$kernel" | grep -o ' xsk-redirect=[0-9]*' | cut -d= -f2)
  awk -v t=$((t1 - t0)) -v hz="$ticks" -v s="$seconds" -v p="${packets:-0}" -v d="${drop:-0}" -v r="${redirect:-0}" \
    'BEGIN { printf "%.4f %d %.3f\n", t / hz / s, p, (d + r) ? d / (d + r) : 0 }'
}

echo "round  mode  cpu-s/s  packets-inspected  bypassed-share"
ratios=() ons=() offs=() shares=()
for r in $(seq "$rounds"); do
  read -r on_cpu on_pkts on_share < <(measure on)
  read -r off_cpu off_pkts _ < <(measure off)
  printf '%5d  on    %7.4f  %17d  %14.3f\n' "$r" "$on_cpu" "$on_pkts" "$on_share"
  printf '%5d  off   %7.4f  %17d\n' "$r" "$off_cpu" "$off_pkts"
  ons+=("$on_cpu"); offs+=("$off_cpu"); shares+=("$on_share")
  ratios+=("$(awk -v a="$off_cpu" -v b="$on_cpu" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
echo "median: cpu on $(median "${ons[@]}") s/s, off $(median "${offs[@]}") s/s, off/on $(median "${ratios[@]}")x;" \
     "bypassed share $(median "${shares[@]}") (so bypass should cut CPU to at most $(awk -v s="$(median "${shares[@]}")" 'BEGIN{printf "%.2f", 1 - s}') of off)"
