#!/usr/bin/env bash
# make check: xids end to end, against the real kernel, in namespaces this script makes.
#  - refusals: a rule file with errors, a missing rule file, an unloadable plugin: exit 1, coded;
#  - the same capture through `xids -r` and live (its frames sent into the sensor) gives the same alerts;
#  - on a mirrored (SPAN) link with real TCP, TLS-looking and UDP traffic: the alerts land in EVE, the
#    bypassed flows' later packets never reach the engine (the kernel drops them, its counters say so),
#    the flow that is not bypassed keeps being inspected, and the bypassed flows' EVE flow records
#    carry the kernel's counts.
# Prints a gtest-style summary for scripts/test.sh.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$(pwd)  # automake runs tests from the top build directory
[ "$(id -u)" -eq 0 ] || { echo "kernel test skipped: needs root"; exit 77; }
xids="$build/xids"
export LD_LIBRARY_PATH="$build/.libs"
work=$(mktemp -d /tmp/xb-xids.XXXXXX)
client=xbx-$$-client server=xbx-$$-server sensor=xbx-$$-sensor inject=xbx-$$-inject
pids=()
# shellcheck source=../../scripts/span-net.sh
. "$top/scripts/span-net.sh"
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  span_net_down "$client" "$server" "$sensor" "$inject"
  rm -rf "$work"
}
trap cleanup EXIT
passed=0 failed=0
result() {
  if [ "$2" -eq 0 ]; then echo "[       OK ] $1"; passed=$((passed + 1)); else echo "[  FAILED  ] $1"; failed=$((failed + 1)); fi
}
expect() {  # expect WHAT CONDITION-STATUS
  [ "$2" -eq 0 ] && return 0
  echo "  expected: $1"
  return 1
}

# A configuration in $work: RULES as xids.rules, PLUGIN as the plugin, the interface given by -i.
config() {  # config NAME PLUGIN
  cat > "$work/$1.yaml" <<YAML
plugins: [$2]
default-rule-path: $work
rule-files: [$1.rules]
default-log-dir: $work
outputs:
  - eve-log:
      filename: $1-eve.json
stream:
  bypass: no
app-layer:
  protocols:
    tls:
      encryption-handling: bypass
stats:
  interval: 1
xbypass:
  interfaces:
    - interface: eth0
YAML
}
sids() { python3 -c '
import json, sys
print(" ".join(sorted({str(json.loads(l)["alert"]["signature_id"]) for l in open(sys.argv[1]) if "\"alert\"" in l})))' "$1"; }

# --- refusals --------------------------------------------------------------------------------------
config bad libxbypass.so.1
printf 'alert tcp any any -> any any (msg:"ok"; content:"x"; sid:1;)\nalert tcp any any -> any any (msg:"bad"; contnt:"x"; sid:2;)\nalert tcp any any -> any any (msg:"dup"; sid:1;)\n' > "$work/bad.rules"
out=$("$xids" --check -c "$work/bad.yaml" 2>&1); rc=$?
ok=0
expect "exit 1 for a rule file with errors (got $rc)" $([ $rc -eq 1 ]; echo $?) || ok=1
expect "an XB7108 diagnostic at bad.rules:2" $(echo "$out" | grep -q 'bad.rules:2:[0-9]*: error\[XB7108\]'; echo $?) || ok=1
expect "an XB7111 diagnostic for the duplicate sid at bad.rules:3" $(echo "$out" | grep -q 'bad.rules:3:[0-9]*: error\[XB7111\]'; echo $?) || ok=1
[ $ok -eq 0 ] || echo "$out"
result XidsE2E.RuleFileWithErrorsIsRefused $ok

config missing libxbypass.so.1
out=$("$xids" --check -c "$work/missing.yaml" 2>&1); rc=$?
ok=0
expect "exit 1 for a missing rule file (got $rc)" $([ $rc -eq 1 ]; echo $?) || ok=1
expect "XB7117" $(echo "$out" | grep -q 'XB7117'; echo $?) || ok=1
[ $ok -eq 0 ] || echo "$out"
result XidsE2E.MissingRuleFileIsRefused $ok

config noplugin "$work/nonexistent-plugin.so"
printf 'alert udp any any -> any any (msg:"x"; content:"x"; sid:1;)\n' > "$work/noplugin.rules"
ok=0
for mode in "--check" "--duration 1"; do
  # shellcheck disable=SC2086 # mode is words
  out=$("$xids" $mode -c "$work/noplugin.yaml" 2>&1); rc=$?
  expect "xids $mode: exit 1 for an unloadable plugin (got $rc)" $([ $rc -eq 1 ]; echo $?) || ok=1
  expect "xids $mode: XB7201 naming the plugin" $(echo "$out" | grep -q 'XB7201.*nonexistent-plugin.so'; echo $?) || ok=1
done
[ $ok -eq 0 ] || echo "$out"
result XidsE2E.UnloadablePluginIsRefused $ok

# --- the same capture offline and live --------------------------------------------------------------
config replay libxbypass.so.1
cat > "$work/replay.rules" <<'RULES'
alert tcp any any -> any 5555 (msg:"marker across segments"; content:"XIDS-MARKER"; sid:1; rev:1;)
alert tcp any any -> any 6666 (msg:"exe download"; content:"GET "; depth:4; content:".exe"; distance:0; within:40; sid:2; rev:1;)
alert udp any any -> any 7777 (msg:"udp probe"; content:"|de ad be ef|"; sid:3; rev:1;)
alert tcp any any -> any 8888 (msg:"cleartext password"; content:"PASS "; nocase; depth:5; sid:4; rev:1;)
alert udp any any -> any 7778 (msg:"never"; content:"nothing-like-this"; sid:5; rev:1;)
RULES
python3 "$here/xids_frames.py" write "$work/frames.pcap"
"$xids" -c "$work/replay.yaml" -r "$work/frames.pcap" >"$work/offline.log" 2>&1; rc=$?
offline=$(sids "$work/replay-eve.json")
mv "$work/replay-eve.json" "$work/offline-eve.json"
ok=0
expect "xids -r exits 0 (got $rc)" $([ $rc -eq 0 ]; echo $?) || ok=1
expect "offline alerts 1 2 3 4 (got '$offline')" $([ "$offline" = "1 2 3 4" ]; echo $?) || ok=1
ip netns add "$sensor" && ip netns add "$inject"
ip -n "$inject" link add in0 type veth peer name qs-sensor netns "$sensor"
ip -n "$inject" link set in0 up && ip -n "$sensor" link set qs-sensor up
"$xids" -c "$work/replay.yaml" --netns "$sensor" -i qs-sensor >"$work/live.log" 2>&1 &
xp=$!; pids+=("$xp")
for _ in $(seq 100); do grep -q 'threads' "$work/live.log" && break; sleep 0.1; done
span_in_ns "$inject" python3 "$here/xids_frames.py" send in0 "$work/frames.pcap"
sleep 1
kill -TERM "$xp"; wait "$xp"; rc=$?
live=$(sids "$work/replay-eve.json")
expect "live exits 0 (got $rc)" $([ $rc -eq 0 ]; echo $?) || ok=1
expect "live alerts equal offline ('$live' vs '$offline')" $([ "$live" = "$offline" ]; echo $?) || ok=1
[ $ok -eq 0 ] || { cat "$work/offline.log" "$work/live.log"; }
result XidsE2E.OfflineAndLiveGiveTheSameAlerts $ok
span_net_down "$sensor" "$inject"

# --- a mirrored link with real traffic ----------------------------------------------------------------
config span libxbypass.so.1
# A short flow-table timeout: the plugin expires the bypassed flows once the traffic ends, and xids
# writes their flow records from the expiry events (reason timeout, the kernel's final counts).
printf '      flow-table:\n        timeout: 3\n' >> "$work/span.yaml"
cp "$top/conf/rules/xids.rules" "$work/span.rules"
sed -i 's|^xbypass:|vars:\n  address-groups:\n    HOME_NET: "[10.77.1.0/24]"\nxbypass:|' "$work/span.yaml"
span_net_up "$client" "$server" "$sensor" || exit 1
"$xids" -c "$work/span.yaml" --netns "$sensor" -i qs-sensor >"$work/span.log" 2>&1 &
xp=$!; pids+=("$xp")
for _ in $(seq 100); do grep -q 'threads' "$work/span.log" && break; sleep 0.1; done
span_in_ns "$server" python3 "$top/scripts/xids_traffic.py" server 10.77.1.2 >"$work/server.log" 2>&1 &
pids+=("$!")
sleep 0.5
span_in_ns "$client" python3 "$top/scripts/xids_traffic.py" client 10.77.1.2 5 >"$work/client.log" 2>&1
# Both bypassed flows idle for the timeout (3 s), a sweep (every 1.5 s), the engine's drain (1 s):
# wait for their two records, up to 30 s.
timeout_records() { python3 -c '
import json, sys
print(sum(1 for l in open(sys.argv[1]) if "\"flow\"" in l and json.loads(l).get("event_type") == "flow"
          and json.loads(l)["flow"].get("state") == "bypassed" and json.loads(l)["flow"].get("reason") == "timeout"))' "$1" 2>/dev/null || echo 0; }
for _ in $(seq 300); do [ "$(timeout_records "$work/span-eve.json")" -ge 2 ] && break; sleep 0.1; done
kill -TERM "$xp"; wait "$xp"; rc=$?
ok=0
final=$(grep 'final:' "$work/span.log" | tail -1)
kernel=$(grep '\[stats\] notice\[XB7222\]: kernel:' "$work/span.log" | tail -1)
num() { echo "$1" | grep -o " $2=[0-9]*" | head -1 | cut -d= -f2; }
udp_sent=$(grep -o 'udp 5353 sent [0-9]*' "$work/client.log" | grep -o '[0-9]*$')
expect "xids exits 0 (got $rc)" $([ $rc -eq 0 ]; echo $?) || ok=1
expect "alert 1000001 (TCP marker) and 1000004 (UDP probe) in EVE" \
  $(sids "$work/span-eve.json" | grep -qw 1000001 && sids "$work/span-eve.json" | grep -qw 1000004; echo $?) || ok=1
expect "two flows bypassed (the marker's, by its rule; the TLS one, once encrypted)" \
  $(echo "$final" | grep -q 'bypass-accepted=2 .*(rule 1, stream-depth 0, tls 1'; echo $?) || ok=1
drop=$(num "$kernel" drop); after=$(num "$final" after-bypass); packets=$(num "$final" packets)
expect "the kernel dropped the bypassed flows' packets (drop=$drop > 1000)" $([ "${drop:-0}" -gt 1000 ]; echo $?) || ok=1
expect "of them, at most what was queued reached the engine (after-bypass=$after <= 50)" $([ "${after:-999}" -le 50 ]; echo $?) || ok=1
expect "the UDP flow, not bypassed, was inspected whole (engine packets=$packets >= udp datagrams sent=$udp_sent)" \
  $([ -n "$udp_sent" ] && [ "${packets:-0}" -ge "$udp_sent" ]; echo $?) || ok=1
records=$(python3 -c '
import json, sys
n = 0
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("event_type") == "flow" and e["flow"].get("state") == "bypassed":
        b = e["flow"].get("bypassed", {})
        if b.get("pkts_toserver", 0) + b.get("pkts_toclient", 0) > 100 and e["flow"].get("bypass") == "capture":
            n += 1
print(n)' "$work/span-eve.json")
expect "two bypassed flow records carry the kernel's counts (got $records)" $([ "$records" = 2 ]; echo $?) || ok=1
expired=$(timeout_records "$work/span-eve.json")
expect "both were written when the plugin expired them (reason timeout: got $expired)" $([ "$expired" = 2 ]; echo $?) || ok=1
twice=$(python3 -c '
import collections, json, sys
ids = collections.Counter(json.loads(l).get("flow_id") for l in open(sys.argv[1]) if json.loads(l).get("event_type") == "flow")
print(sum(1 for n in ids.values() if n > 1))' "$work/span-eve.json")
expect "no flow has two flow records (got $twice)" $([ "$twice" = 0 ]; echo $?) || ok=1
expect "the plugin expired them and dropped no event (kernel: flows-expired=2 expiry-events-dropped=0)" \
  $(echo "$kernel" | grep -q 'flows-expired=2 expiry-events-dropped=0'; echo $?) || ok=1
expect "nothing left attached" $(! ip -n "$sensor" link show qs-sensor | grep -q 'prog/xdp'; echo $?) || ok=1
[ $ok -eq 0 ] || { cat "$work/span.log" "$work/client.log"; }
result XidsE2E.SpanTrafficIsBypassedAndReported $ok

echo "[==========] $((passed + failed)) tests ran."
echo "[  PASSED  ] $passed tests."
[ "$failed" -eq 0 ] || { echo "[  FAILED  ] $failed tests, listed above"; exit 1; }
exit 0
