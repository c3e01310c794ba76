#!/usr/bin/env bash
# xids's CPU time per second of traffic with the kernel bypass on and off, in one run, under the
# same traffic: one generated capture (bench/xids_cpu_frames.py) replayed by tcpreplay at a fixed
# packet rate into the sensor's veth, once per mode, alternated ROUNDS times. Replaying the same
# frames at the same rate is what makes the two modes comparable: live TCP between namespaces on
# this machine speeds up when the sensor's CPU is freed, so "the same traffic" would not be.
#
# "on" is conf/xids.yaml with the example rules (sid 1000001 bypasses the TCP flow at its marker);
# "off" is the same engine and rules with every bypass trigger removed (no `bypass` keyword, stream
# bypass off, TLS track-only). Three mixes: "bulk" (95% of the packets in the bypassed TCP flow, the
# rest UDP datagrams that nothing bypasses), "mixed" (50%, the rest those datagrams) and "twin" (50%,
# the rest a second TCP transfer like the first that nothing bypasses: the packets left to the engine
# then cost what the bypassed ones did, so the cut shows the bypass's own overhead).
#
# A third run per round, "rest", replays only the frames the bypass leaves to the engine, in the
# same order, at the rate they reach it with the bypass on (the same seconds), with the bypass off:
# what the engine costs for that traffic if the bypassed frames never existed. on/rest is then the
# bypass's own overhead; rest/off says how far the engine's cost is from proportional to its frames.
# Prints per round the engine's CPU seconds per second of traffic (the scheduler's own accounting,
# /proc/PID/task/*/schedstat, per thread name too), the packets it inspected, the share of the
# replayed packets the kernel bypassed and the cut (1 - on/off); then the medians and the issue's
# goal: the cut is at least the bypassed share.
# DEPTH sets stream.reassembly.depth in both modes: the default file's 1mb means "off" stops
# scanning the transfer after its first megabyte (what an engine without bypass does), 0 means it
# scans every byte (what the bypass rule then saves).
# BLOCK_TIMEOUT, when given, sets the interface's block-timeout (ms) in both modes: how long the
# AF_XDP receiver may sleep for a batch (default 10), which is what the engine's wakeups follow.
#   bench/xids_cpu.sh [BUILD_DIR] [ROUNDS] [SECONDS] [MIXES] [PPS] [DEPTH] [BLOCK_TIMEOUT]
#       (root; MIXES "bulk mixed twin", PPS 100000, DEPTH 1mb, BLOCK_TIMEOUT the file's)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build/dev}
rounds=${2:-3}
seconds=${3:-5}
mixes=${4:-bulk mixed twin}
pps=${5:-100000}
depth=${6:-1mb}
block_timeout=${7:-}
[ "$(id -u)" -eq 0 ] || { echo "xids_cpu: run as root"; exit 1; }
command -v tcpreplay >/dev/null || { echo "xids_cpu: tcpreplay is missing (scripts/deps.sh installs it)"; exit 1; }
export LD_LIBRARY_PATH="$build/.libs"
work=$(mktemp -d /tmp/xb-xidscpu.XXXXXX)
sensor=xbc-$$-sensor inject=xbc-$$-inject
xp=
cleanup() {
  [ -n "$xp" ] && { kill "$xp" 2>/dev/null; wait "$xp" 2>/dev/null; }
  ip netns del "$sensor" 2>/dev/null
  ip netns del "$inject" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$sensor" && ip netns add "$inject" || exit 1
ip -n "$inject" link add in0 type veth peer name qs-sensor netns "$sensor" || exit 1
ip -n "$inject" link set in0 up && ip -n "$sensor" link set qs-sensor up || exit 1

for mode in on off; do
  sed -e "s|^default-log-dir: .*|default-log-dir: $work|" -e "s|^default-rule-path: .*|default-rule-path: $work|" \
      -e "s|^  interval: 8|  interval: 1|" -e "s|^    depth: 1mb|    depth: $depth|" "$top/conf/xids.yaml" > "$work/$mode.yaml"
  [ -n "$block_timeout" ] && sed -i "s|^      capture: auto|      capture: auto\n      block-timeout: $block_timeout|" "$work/$mode.yaml"
  cp "$top/conf/rules/xids.rules" "$work/xids.rules.$mode"
done
sed -i 's/ bypass;)/)/' "$work/xids.rules.off"
sed -i 's/encryption-handling: bypass/encryption-handling: track-only/; s/^  bypass: yes/  bypass: no/' "$work/off.yaml"
sed -i "s|  - xids.rules|  - xids.rules.off|" "$work/off.yaml"
sed -i "s|  - xids.rules|  - xids.rules.on|" "$work/on.yaml"

# thread_ns PID: "comm nanoseconds" per thread, from the scheduler (utime/stime tick in 10 ms steps,
# coarser than the engine's whole use with the bypass on).
thread_ns() {
  local t
  for t in /proc/"$1"/task/*; do
    # schedstat: CPU time (ns), wait time, times scheduled in (each wakeup of a sleeping thread is one)
    printf '%s %s\n' "$(cat "$t/comm" 2>/dev/null)" "$(cut -d' ' -f1,3 "$t/schedstat" 2>/dev/null)"
  done
}

measure() {  # measure MODE PCAP: prints "cpu_per_s packets bypassed_share"
  local mode=$1 pcap=$2
  "$build/xids" -c "$work/$mode.yaml" --netns "$sensor" -i qs-sensor >"$work/$mode.log" 2>&1 &
  xp=$!
  for _ in $(seq 100); do grep -q 'threads' "$work/$mode.log" && break; sleep 0.1; done
  thread_ns "$xp" >"$work/$mode.t0"
  nsenter --net="/run/netns/$inject" tcpreplay -q -i in0 --pps="$pps" "$pcap" >"$work/$mode.replay" 2>&1
  sleep 0.3
  thread_ns "$xp" >"$work/$mode.t1"
  kill -TERM "$xp"; wait "$xp"; xp=
  # Per thread name: milliseconds used and times scheduled in during the replay (threads begun
  # meanwhile count from 0).
  awk 'NR == FNR { a[$1] += $2; w[$1] += $3; next } { b[$1] += $2; x[$1] += $3 }
       END { for (k in b) printf "%s=%.1fms/%d ", k, (b[k] - a[k]) / 1e6, x[k] - w[k] }' \
      "$work/$mode.t0" "$work/$mode.t1" >"$work/$mode.threads"
  local used final kernel packets drop redirect
  used=$(awk 'NR == FNR { a += $2; next } { b += $2 } END { printf "%d", b - a }' "$work/$mode.t0" "$work/$mode.t1")
  final=$(grep 'final:' "$work/$mode.log" | tail -1)
  kernel=$(grep '\[stats\] notice\[XB7222\]: kernel:' "$work/$mode.log" | tail -1)
  packets=$(echo "$final" | grep -o ' packets=[0-9]*' | cut -d= -f2)
  drop=$(echo "$kernel" | grep -o ' drop=[0-9]*' | cut -d= -f2)
  redirect=$(echo "$kernel" | grep -o ' xsk-redirect=[0-9]*' | cut -d= -f2)
  awk -v t="$used" -v s="$seconds" -v p="${packets:-0}" -v d="${drop:-0}" -v r="${redirect:-0}" \
    'BEGIN { printf "%.6f %d %.6f\n", t / 1e9 / s, p, (d + r) ? d / (d + r) : 0 }'
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
summary=()
for mix in $mixes; do
  rest_frames=$(python3 "$top/bench/xids_cpu_frames.py" "$work/$mix.pcap" "$mix" $((pps * seconds)) "$work/$mix.rest.pcap") || exit 1
  rest_pps=$((rest_frames / seconds))
  echo "mix $mix: $((pps * seconds)) frames replayed at $pps packets/s, stream depth $depth, block-timeout ${block_timeout:-10 (default)} ms"
  echo "round  mode  cpu-s/s    packets-inspected  kernel-bypassed-share  cut      threads (ms/times scheduled in during the replay)"
  cuts=() ons=() offs=() shares=() rests=()
  for r in $(seq "$rounds"); do
    read -r on_cpu on_pkts on_share < <(measure on "$work/$mix.pcap")
    on_threads=$(cat "$work/on.threads")
    read -r off_cpu off_pkts _ < <(measure off "$work/$mix.pcap")
    off_threads=$(cat "$work/off.threads")
    read -r rest_cpu rest_pkts _ < <(pps=$rest_pps measure off "$work/$mix.rest.pcap")
    cut=$(awk -v a="$off_cpu" -v b="$on_cpu" 'BEGIN { printf "%.5f", (a > 0) ? 1 - b / a : 0 }')
    printf '%5d  on    %9.6f  %17d  %21.5f  %.5f  %s\n' "$r" "$on_cpu" "$on_pkts" "$on_share" "$cut" "$on_threads"
    printf '%5d  off   %9.6f  %17d  %21s  %7s  %s\n' "$r" "$off_cpu" "$off_pkts" "" "" "$off_threads"
    printf '%5d  rest  %9.6f  %17d  %21s  %7s  %s\n' "$r" "$rest_cpu" "$rest_pkts" "" "" "$(cat "$work/off.threads")"
    ons+=("$on_cpu"); offs+=("$off_cpu"); shares+=("$on_share"); cuts+=("$cut"); rests+=("$rest_cpu")
  done
  m_on=$(median "${ons[@]}") m_off=$(median "${offs[@]}") m_share=$(median "${shares[@]}") m_cut=$(median "${cuts[@]}")
  m_rest=$(median "${rests[@]}")
  verdict=$(awk -v c="$m_cut" -v s="$m_share" 'BEGIN { print (c >= s) ? "met" : "not met" }')
  summary+=("$(printf '%-5s median: cpu on %s s/s, off %s s/s, off/on %sx; cut %s against a bypassed share of %s: goal (cut >= share) %s' \
    "$mix" "$m_on" "$m_off" "$(awk -v a="$m_off" -v b="$m_on" 'BEGIN { printf "%.1f", (b > 0) ? a / b : 0 }')" "$m_cut" "$m_share" "$verdict")")
  summary+=("$(awk -v m="$mix" -v o="$m_on" -v r="$m_rest" -v f="$m_off" -v p="$rest_pps" -v q="$rest_frames" \
    -v t=$((pps * seconds)) 'BEGIN {
    printf "%-5s the left-over frames alone at %d/s: cpu %s s/s; on/rest %.2fx (the bypass'"'"'s own overhead), rest/off %.2f (proportional to the frames would be %.2f)", m, p, r, (r > 0) ? o / r : 0, (f > 0) ? r / f : 0, q / t }')")
done
printf '%s\n' "${summary[@]}"
