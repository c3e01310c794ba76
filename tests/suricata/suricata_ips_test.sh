#!/usr/bin/env bash
# make check: the Suricata mode in IPS (doc/suricata.md) with a real, unmodified Suricata 7: client
# namespace -- veth -- [ids namespace: a, b] -- veth -- server namespace. Suricata runs af-packet
# copy-mode ips between a and b (entered with nsenter --net, so that the pins are visible); xbypass
# runs on the same suricata.yaml and attaches xdp_sur_ips on both, with the other as its IPS peer.
# A flow Suricata bypasses is forwarded in the kernel from the interface Suricata bypassed it on
# (devmap redirect to the peer), counted in the per-CPU pairs Suricata reads; a flow it inspects is
# forwarded by Suricata; the server and the client receive every packet of both. The pair shares
# one pair of maps, so the reverse direction, arriving on the other interface, is forwarded in the
# kernel too.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

work=$(mktemp -d /tmp/xb-suricata-ips.XXXXXX)
chmod 755 "$work"
cl=xbi-$$-cl ids=xbi-$$-ids sv=xbi-$$-sv
ifa=xi$$a; ifa=${ifa:0:15}   # ids, towards the client
ifb=xi$$b; ifb=${ifb:0:15}   # ids, towards the server
ifc=xi$$c; ifc=${ifc:0:15}   # client
ifs=xi$$s; ifs=${ifs:0:15}   # server
xb_pid="" rx_pids=()
pins=()
for i in "$ifa" "$ifb"; do pins+=(/sys/fs/bpf/suricata-$i-flow_table_v4 /sys/fs/bpf/suricata-$i-flow_table_v6); done
trap 'cleanup "$cl" "$ids" "$sv" -- "${rx_pids[@]}"' EXIT
in_ns() { local n=$1; shift; nsenter --net=/run/netns/"$n" "$@"; }
mac_of() { in_ns "$1" ip -o link show "$2" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2; }

ip netns add "$cl" && ip netns add "$ids" && ip netns add "$sv" || { echo "cannot make namespaces"; exit 1; }
ip link add "$ifc" type veth peer name "$ifa"
ip link add "$ifs" type veth peer name "$ifb"
ip link set "$ifc" netns "$cl"; ip link set "$ifa" netns "$ids"
ip link set "$ifs" netns "$sv"; ip link set "$ifb" netns "$ids"
for n in "$cl" "$ids" "$sv"; do in_ns "$n" ip link set lo up; done
in_ns "$cl" ip link set "$ifc" up; in_ns "$sv" ip link set "$ifs" up
in_ns "$ids" ip link set "$ifa" up; in_ns "$ids" ip link set "$ifb" up
in_ns "$cl" ip addr add 10.78.0.1/24 dev "$ifc"
in_ns "$sv" ip addr add 10.78.0.2/24 dev "$ifs"
mac_c=$(mac_of "$cl" "$ifc"); mac_s=$(mac_of "$sv" "$ifs")
py=/usr/bin/python3; [ -x "$py" ] || py=python3

mkdir -p "$work/log"
cat > "$work/suricata.yaml" <<EOF
%YAML 1.1
---
default-log-dir: $work/log
pid-file: $work/suricata.pid
runmode: workers
outputs:
  - eve-log:
      enabled: yes
      filetype: regular
      filename: eve.json
      types:
        - alert
logging:
  default-log-level: info
  outputs:
    - console:
        enabled: no
    - file:
        enabled: yes
        level: info
        filename: $work/log/suricata.log
unix-command:
  enabled: no
default-rule-path: $work
rule-files:
  - test.rules
classification-file: /etc/suricata/classification.config
reference-config-file: /etc/suricata/reference.config
af-packet:
  - interface: $ifa
    threads: 1
    cluster-id: 95
    cluster-type: cluster_flow
    copy-mode: ips
    copy-iface: $ifb
    bypass: yes
    xdp-mode: soft
    xdp-filter-file: /usr/lib/suricata/ebpf/xdp_filter.bpf
    pinned-maps: yes
  - interface: $ifb
    threads: 1
    cluster-id: 96
    cluster-type: cluster_flow
    copy-mode: ips
    copy-iface: $ifa
    bypass: yes
    xdp-mode: soft
    xdp-filter-file: /usr/lib/suricata/ebpf/xdp_filter.bpf
    pinned-maps: yes
EOF
cat > "$work/test.rules" <<'EOF'
alert udp any any -> any 5001 (msg:"xbypass ips test: bypass"; bypass; sid:2001; rev:1;)
alert udp any any -> any 5002 (msg:"xbypass ips test: inspected"; content:"xbypass-suricata-test"; sid:2002; rev:1;)
EOF

out=$("$xbypass" check -c "$work/suricata.yaml" --netns "$ids" 2>&1); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q "chosen: xdp-generic, program xdp_sur_ips, ips-peer $ifb$" &&
  echo "$out" | grep -q "chosen: xdp-generic, program xdp_sur_ips, ips-peer $ifa$"
st=$?; [ $st -ne 0 ] && echo "$out" | tail -n 12
result "xbypass check plans xdp_sur_ips on both IPS interfaces (copy-iface is the peer)" $st

"$xbypass" run -c "$work/suricata.yaml" --netns "$ids" > "$work/xbypass.log" 2>&1 &
xb_pid=$!
wait_for 20 test -e "${pins[3]}"
result "xbypass pins the maps of both interfaces" $?
rm -f "$work/suricata.pid"
in_ns "$ids" suricata -c "$work/suricata.yaml" --af-packet -D > "$work/suricata.out" 2>&1
wait_for 60 grep -q "Engine started" "$work/log/suricata.log"
[ "$(grep -c "Loaded pinned maps, will use already loaded eBPF filter" "$work/log/suricata.log")" -ge 2 ]
result "Suricata (copy-mode ips) uses the pinned maps of both interfaces" $?
wait_for 5 grep -q "XB6030.*$ifb: paired.*pid $(suricata_pid)" "$work/xbypass.log" &&
  wait_for 5 grep -q "XB6030.*$ifa: paired.*pid $(suricata_pid)" "$work/xbypass.log"
result "xbypass pairs both interfaces with Suricata's pid (XB6030)" $?

# Receivers: the server's ports 5001 and 5002, the client's 4001 (the bypassed flow's replies).
receiver() {  # receiver NS ADDR PORT FILE
  nsenter --net=/run/netns/"$1" "$py" -c "
import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('$2',$3))
n=0
while True:
    s.recv(2048); n+=1; open('$4','w').write(str(n))
" &
  rx_pids+=($!)
}
receiver "$sv" 10.78.0.2 5001 "$work/rx-5001"
receiver "$sv" 10.78.0.2 5002 "$work/rx-5002"
receiver "$cl" 10.78.0.1 4001 "$work/rx-4001"
sleep 0.5
count() { cat "$1" 2>/dev/null || echo 0; }
counter() {  # counter IFACE NAME: from xbypass stats --json
  "$xbypass" stats --netns "$ids" --json |
    python3 -c "import json,sys; print(json.load(sys.stdin)['interfaces'].get('$1',{}).get('$2',0))"
}

# client -> server: a flow Suricata bypasses and one it inspects, 20 packets each
in_ns "$cl" "$py" "$send" "$ifc" --src-mac "$mac_c" --dst-mac "$mac_s" udp 10.78.0.1 4001 10.78.0.2 5001 20 &
s1=$!
in_ns "$cl" "$py" "$send" "$ifc" --src-mac "$mac_c" --dst-mac "$mac_s" udp 10.78.0.1 4009 10.78.0.2 5002 20 &
s2=$!
wait "$s1" "$s2"
wait_for 5 test "$(count "$work/rx-5001")" -ge 20 -a "$(count "$work/rx-5002")" -ge 20
rx1=$(count "$work/rx-5001"); rx2=$(count "$work/rx-5002")
fwd_a=$(counter "$ifa" ips-forward); hit_a=$(counter "$ifa" hit); drop_a=$(counter "$ifa" drop)
echo "server received: bypassed flow $rx1 of 20, inspected flow $rx2 of 20; $ifa: hit=$hit_a ips-forward=$fwd_a drop=$drop_a"
[ "$rx1" -eq 20 ] && [ "$rx2" -eq 20 ]
result "the server receives every packet of both flows" $?
# Suricata saw the first packet (or the first few, before its insert took effect): the rest went
# from $ifa to $ifb in the kernel, counted per CPU in the entries Suricata reads.
sp_a=$(counter "$ifa" suricata-packets)
[ "${fwd_a:-0}" -ge 15 ] && [ "$fwd_a" -eq "$hit_a" ] && [ "$fwd_a" -eq "$sp_a" ] && [ "${drop_a:-1}" -eq 0 ]
result "the bypassed flow's later packets are forwarded in the kernel to the peer ($fwd_a ips-forward = hit = Suricata's pairs, no drop)" $?
alerts=$(grep -c '"signature_id":2002' "$work/log/eve.json")
[ "$alerts" -eq 20 ]
result "the inspected flow goes through Suricata: 20 alerts ($alerts)" $?

# The pair shares one pair of maps, pinned under both names: Suricata writes both directions of
# the flow into the maps of the interface it bypassed it on ($ifa), and the other direction
# arrives on $ifb.
map_id() { bpftool map show pinned "$1" -j 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['id'])" 2>/dev/null; }
v4a=$(map_id "${pins[0]}") v6a=$(map_id "${pins[1]}") v4b=$(map_id "${pins[2]}") v6b=$(map_id "${pins[3]}")
# Ids that could not be read (no pin) must not compare equal as two empty strings.
[ -n "$v4a" ] && [ -n "$v6a" ] && [ "$v4a" = "$v4b" ] && [ "$v6a" = "$v6b" ] && [ "$v4a" != "$v6a" ]
result "the IPS pair's pins are one pair of maps (flow_table_v4 and _v6 of $ifa and $ifb)" $?

# server -> client: the bypassed flow's other direction, arriving on $ifb: every packet is in the
# entry Suricata wrote for that direction, so every one is forwarded in the kernel to $ifa.
in_ns "$sv" "$py" "$send" "$ifs" --src-mac "$mac_s" --dst-mac "$mac_c" udp 10.78.0.2 5001 10.78.0.1 4001 20
wait_for 5 test "$(count "$work/rx-4001")" -ge 20
rx3=$(count "$work/rx-4001"); fwd_b=$(counter "$ifb" ips-forward); hit_b=$(counter "$ifb" hit)
sp=$(counter "$ifb" suricata-packets)
echo "client received $rx3 of 20 replies; $ifb: hit=$hit_b ips-forward=$fwd_b; the pair's entries hold $sp packets"
[ "$rx3" -eq 20 ] && [ "$fwd_b" -eq 20 ] && [ "$hit_b" -eq 20 ] && [ "$sp" -eq $((fwd_a + 20)) ] &&
  [ "$(counter "$ifa" suricata-packets)" -eq "$sp" ]
result "the reverse direction: every reply reaches the client, all forwarded in the kernel from $ifb, counted in Suricata's entry" $?

kill "$xb_pid"; wait "$xb_pid"; rc=$?; xb_pid=""
! in_ns "$ids" ip link show "$ifa" | grep -q xdp && ! in_ns "$ids" ip link show "$ifb" | grep -q xdp
result "xbypass stopped (exit $rc): nothing left attached" $?

echo "[==========] $((passed + failed)) tests ran."
echo "[  PASSED  ] $passed tests."
[ "$failed" -eq 0 ] || { echo "[  FAILED  ] $failed tests."; exit 1; }
