#!/usr/bin/env bash
# make check: the Suricata mode (doc/suricata.md) with a real, unmodified Suricata 7 (Debian 12's
# bookworm-backports package, installed by scripts/deps.sh). On a veth pair in two namespaces this
# script makes: `xbypass check` refuses what Suricata would only get wrong later; `xbypass run -c
# suricata.yaml` pins Suricata's maps and attaches; Suricata (entered with nsenter --net, so that the
# pins are visible) bypasses UDP flows, one of them 802.1Q-tagged (written raw with a packet socket),
# and an IPv6 tagged one; their later packets are dropped in the kernel while the other flow reaches
# Suricata; the VLAN words Suricata stored are checked byte for byte; TCP conversations are bypassed
# by a `bypass` rule on the stream and at stream depth (stream.bypass); Suricata's own accounting
# (its EVE flow records' `bypassed` counts and its flow_bypassed stats, which it reads from the
# per-CPU pairs the kernel adds to) agrees with xbypass's counters; `xbypass status` shows the pairing;
# Suricata killed with SIGKILL: the bypassed flow reaches the stack again within a second; Suricata
# restarted: it adopts the maps.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

work=$(mktemp -d /tmp/xb-suricata.XXXXXX)
chmod 755 "$work"
ns=xbs-$$-ids peer=xbs-$$-tx
ifc=xs$$a; ifc=${ifc:0:15}
ift=xs$$b; ift=${ift:0:15}
xb_pid="" rx_pid=""
pins=(/sys/fs/bpf/suricata-$ifc-flow_table_v4 /sys/fs/bpf/suricata-$ifc-flow_table_v6)
trap 'cleanup "$ns" "$peer" -- $rx_pid' EXIT  # (unquoted: no receiver yet, no argument)
in_ns() { nsenter --net=/run/netns/"$ns" "$@"; }
in_peer() { nsenter --net=/run/netns/"$peer" "$@"; }

ip netns add "$ns" && ip netns add "$peer" || { echo "cannot make namespaces"; exit 1; }
ip link add "$ifc" type veth peer name "$ift"
ip link set "$ifc" netns "$ns"; ip link set "$ift" netns "$peer"
in_ns ip link set lo up; in_ns ip link set "$ifc" up; in_peer ip link set "$ift" up
in_ns ip addr add 10.77.0.2/24 dev "$ifc"
# (nsenter --net keeps the host's /sys: read the address through netlink)
mac=$(in_ns ip -o link show "$ifc" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)
py=/usr/bin/python3; [ -x "$py" ] || py=python3  # a real interpreter: its pid is the one to kill

# --- a minimal suricata.yaml (an operator's own file works the same) ----------------------------
write_yaml() {  # write_yaml FILE [EXTRA af-packet LINES...]
  local f=$1; shift
  mkdir -p "$work/log"
  {
    cat <<EOF
%YAML 1.1
---
default-log-dir: $work/log
pid-file: $work/suricata.pid
outputs:
  - eve-log:
      enabled: yes
      filetype: regular
      filename: eve.json
      types:
        - alert
        - flow
        - stats:
            totals: yes
            threads: no
stats:
  enabled: yes
  interval: 1
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
  enabled: yes
  filename: $work/suricata.socket
default-rule-path: $work
rule-files:
  - test.rules
classification-file: /etc/suricata/classification.config
reference-config-file: /etc/suricata/reference.config
stream:
  midstream: true
  bypass: yes             # a TCP stream at its reassembly depth is bypassed
  reassembly:
    depth: 1kb
# (flow-timeouts.<proto>.bypassed is for flows Suricata bypasses itself, in user space: a flow the
# kernel bypasses for it (capture bypass) is read after a fixed 100 s, FLOW_BYPASSED_TIMEOUT)
flow-timeouts:
  udp:
    bypassed: 4
  tcp:
    bypassed: 4
af-packet:
  - interface: $ifc
    threads: 1
    cluster-id: 93
    cluster-type: cluster_flow
    bypass: yes
    xdp-mode: soft
    xdp-filter-file: /usr/lib/suricata/ebpf/xdp_filter.bpf
    pinned-maps: yes
EOF
    for l in "$@"; do echo "    $l"; done
  } > "$f"
}
cat > "$work/test.rules" <<'EOF'
alert udp any any -> any 5001 (msg:"xbypass test: bypass"; bypass; sid:1001; rev:1;)
alert udp any any -> any 5002 (msg:"xbypass test: inspected"; content:"xbypass-suricata-test"; sid:1002; rev:1;)
alert tcp any any -> any 5003 (msg:"xbypass test: tcp bypass"; flow:established,to_server; content:"xbypass-tcp"; bypass; sid:1003; rev:1;)
EOF

# --- refusals Suricata lacks, with their suricata.yaml line ------------------------------------
check_refuses() {  # check_refuses NAME CODE LINE_PATTERN EXTRA...
  local name=$1 code=$2 pat=$3; shift 3
  write_yaml "$work/bad.yaml" "$@"
  local out; out=$("$xbypass" check -c "$work/bad.yaml" --netns "$ns" 2>&1); local rc=$?
  [ $rc -eq 1 ] && echo "$out" | grep -q "bad.yaml:$pat.*error\[$code\]"
  local st=$?; [ $st -ne 0 ] && echo "$out" | tail -n 8
  result "refuses $name ($code)" $st
}
check_refuses "use-percpu-hash: no" XB1212 '[0-9]*:5: ' "use-percpu-hash: no"
check_refuses "an unknown xdp-mode" XB1201 '[0-9]*:' "xdp-mode: fast"
sed -i '/xdp-mode: soft/d' "$work/bad.yaml"
# cpu redirect on a device whose driver cannot redirect in native mode (lo: generic XDP only)
write_yaml "$work/bad.yaml" "xdp-cpu-redirect: [0]"
sed -i "s/interface: $ifc/interface: lo/; s/xdp-mode: soft/xdp-mode: driver/" "$work/bad.yaml"
out=$("$xbypass" check -c "$work/bad.yaml" --netns "$ns" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "bad.yaml:[0-9]*:[0-9]*: error\[XB40"
st=$?; [ $st -ne 0 ] && echo "$out" | tail -n 8
result "refuses cpu redirect on a device that cannot (XB40xx with its line)" $st
# the tc datapath (only an xbypass section can ask for it): Suricata's packet sockets get frames
# before tc ingress, so nothing would be bypassed for Suricata
cat > "$work/tc.yaml" <<EOF
xbypass:
  suricata-pid-file: $work/suricata.pid
  interfaces:
    - interface: $ifc
      suricata-maps: yes
      datapath: tc
EOF
out=$("$xbypass" check -c "$work/tc.yaml" --netns "$ns" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "tc.yaml:6:7: error\[XB4051\]"
st=$?; [ $st -ne 0 ] && echo "$out" | tail -n 8
result "refuses datapath tc in the Suricata mode (XB4051 with its line)" $st
write_yaml "$work/suricata.yaml"
out=$("$xbypass" check -c "$work/suricata.yaml" --netns "$ns" 2>&1); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q "info\[XB1213\]" && echo "$out" | grep -q "program xdp_sur_ids" &&
  ! echo "$out" | grep -q XB1121
result "accepts the file; xdp-filter-file is a note (XB1213), not XB1121" $?

# --- xbypass first, then Suricata ------------------------------------------------------------
"$xbypass" run -c "$work/suricata.yaml" --netns "$ns" > "$work/xbypass.log" 2>&1 &
xb_pid=$!
wait_for 20 test -e "${pins[1]}"
result "xbypass pins ${pins[0]##*/} and _v6" $?
wait_for 5 grep -q "XB6032" "$work/xbypass.log"
result "xbypass waits for Suricata (XB6032)" $?

start_suricata() {
  rm -f "$work/suricata.pid"
  : > "$work/log/suricata.log"
  in_ns suricata -c "$work/suricata.yaml" --af-packet -D > "$work/suricata.out" 2>&1
  wait_for 60 grep -q "Engine started" "$work/log/suricata.log"
}
start_suricata
grep -q "Loaded pinned maps, will use already loaded eBPF filter" "$work/log/suricata.log"
result "Suricata uses the pinned maps" $?
wait_for 5 grep -q "XB6030.*pid $(suricata_pid)" "$work/xbypass.log"
result "xbypass pairs with Suricata's pid (XB6030)" $?

counter() {  # counter NAME: from xbypass's stats lines (the latest)
  grep -o " $1=[0-9]*" "$work/xbypass.log" | tail -n 1 | cut -d= -f2
}
# A UDP receiver on the capture side: what reaches the stack.
nsenter --net=/run/netns/"$ns" "$py" -c "
import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('10.77.0.2',5001))
n=0
while True:
    s.recv(2048); n+=1; open('$work/rx','w').write(str(n))
" &
rx_pid=$!
sleep 0.5
tx() { in_peer "$py" "$send" "$ift" --dst-mac "$mac" "$@"; }
tx udp 10.77.0.1 4001 10.77.0.2 5001 20 &
tx udp 10.77.0.1 4002 10.77.0.2 5001 20 --vlan 5 &
tx udp fd00:77::1 4003 fd00:77::2 5001 20 --vlan 7 &
tx udp 10.77.0.1 4009 10.77.0.2 5002 20 &
wait_for 5 test "$(cat "$work/rx" 2>/dev/null)" -ge 1
wait $(jobs -p | grep -v "^$rx_pid$" | grep -v "^$xb_pid$") 2>/dev/null
sleep 1

# What Suricata stored: both directions; the VLAN words in host byte order, (vlan << 1) | tcp.
dump=$(bpftool map dump pinned "${pins[0]}" -j)
echo "$dump" | python3 -c "
import json,sys
keys=[bytes(int(b,16) for b in e['key']) for e in json.load(sys.stdin)]
want={bytes([10,77,0,1,10,77,0,2])+(4002).to_bytes(2,'big')+(5001).to_bytes(2,'big')+bytes([0x0a,0,0,0]),
      bytes([10,77,0,2,10,77,0,1])+(5001).to_bytes(2,'big')+(4002).to_bytes(2,'big')+bytes([0x0a,0,0,0]),
      bytes([10,77,0,1,10,77,0,2])+(4001).to_bytes(2,'big')+(5001).to_bytes(2,'big')+bytes(4)}
missing=want-set(keys)
print('v4 keys:', [k.hex(' ') for k in keys])
sys.exit(1 if missing else 0)"
result "Suricata's v4 keys: both directions, VLAN 5 UDP stored as 0a 00 00 00" $?
bpftool map dump pinned "${pins[1]}" -j | python3 -c "
import json,sys
keys=[bytes(int(b,16) for b in e['key']) for e in json.load(sys.stdin)]
sys.exit(0 if len(keys)==2 and all(k[36:40]==bytes([0x0e,0,0,0]) for k in keys) else 1)"
result "Suricata's v6 keys: VLAN 7 UDP stored as 0e 00 00 00" $?

# What xbypass counted per entry (xbypass flows: the per-CPU pairs summed), before Suricata reads and
# deletes the entries (not before its flow manager sees the flows idle: 4 s, flow-timeouts above).
"$xbypass" flows --netns "$ns" --json > "$work/flows-udp.json"
python3 -c "import json,sys; f=json.load(open(sys.argv[1]))['flows']; sys.exit(0 if len(f)==6 and sum(x['packets'] for x in f)==57 else 1)" "$work/flows-udp.json"
result "xbypass flows lists Suricata's six entries with their counts" $?

# --- xbypass status: the pairing --------------------------------------------------------------
status_state() {  # status_state: the pairing's "state pid" from xbypass status --json
  "$xbypass" status "$ifc" --netns "$ns" --json | python3 -c "
import json,sys
a=json.load(sys.stdin)['attachments'][0]; s=(a.get('run') and a.get('suricata')) or {}
print(s.get('state'), s.get('pid'), a['owner'], s.get('entries-v4'), 'since' in s)"
}
st=$(status_state)
echo "status: $st"
[ "$st" = "paired $(suricata_pid) xbypass 4 True" ]
result "xbypass status --json: paired with Suricata's pid, since when, its entries ($st)" $?
"$xbypass" status "$ifc" --netns "$ns" | grep -q "suricata: paired with Suricata-Main (pid $(suricata_pid)), since "
result "xbypass status: the pairing in text" $?
# --- xbypass stats (control socket): the Suricata-mode interface with its tables --------------
"$xbypass" stats --netns "$ns" --json > "$work/stats.json"
python3 - "$work/stats.json" "$ifc" "$(suricata_pid)" <<'PY'
import json,sys
i=json.load(open(sys.argv[1]))['interfaces'].get(sys.argv[2],{})
print('xbypass stats:', i)
sys.exit(0 if i.get('suricata-pid')==int(sys.argv[3]) and i.get('suricata-entries-v4')==4 and
         i.get('suricata-entries-v6')==2 and i.get('suricata-packets')==57 and i.get('hit')==57 and
         i.get('drop')==57 and i.get('suricata-bytes',0)>0 else 1)
PY
result "xbypass stats --json: the Suricata-mode interface, its counters and Suricata's tables" $?
"$xbypass" stats --netns "$ns" | grep -q "^$ifc: datapath=xdp-generic .* hit=57 .*suricata-entries-v4=4 suricata-entries-v6=2 suricata-packets=57"
result "xbypass stats: the same in text" $?

# stats lines come every stats-interval (8 s)
wait_for 12 grep -q "suricata-entries-v4=4" "$work/xbypass.log"
drop=$(counter drop); hit=$(counter hit); pass=$(counter pass); sp=$(counter suricata-packets)
echo "xbypass: drop=$drop hit=$hit pass=$pass suricata-packets=$sp"
[ "${drop:-0}" -eq 57 ] && [ "${sp:-0}" -eq 57 ]
result "the three bypassed flows' later packets are dropped in the kernel (57 = 3 x 19), counted per CPU for Suricata" $?
rx=$(cat "$work/rx" 2>/dev/null)
[ "${rx:-0}" -eq 1 ]
result "of the untagged bypassed flow only the first packet reached the stack ($rx)" $?
alerts=$(grep -c '"signature_id":1002' "$work/log/eve.json")
[ "$alerts" -eq 20 ]
result "the flow that is not bypassed reaches Suricata: 20 alerts ($alerts)" $?
# --- TCP: bypassed on a rule that matches the stream, and at stream depth ---------------------
# Whole conversations written from the peer (both directions arrive on the capture side, as on a
# tap), to an address the namespace does not have: its stack drops them without answering.
tx tcp-session 10.77.0.1 4021 10.77.0.9 5003 20 --payload xbypass-tcp --size 100 &
tx tcp-session 10.77.0.1 4022 10.77.0.9 5004 30 --payload depth --size 200 &
wait $(jobs -p | grep -v "^$rx_pid$" | grep -v "^$xb_pid$") 2>/dev/null
bypassed_at=$(date +%s)  # no bypassed flow has a packet after this (Suricata's flows' lastts)
sleep 1
"$xbypass" flows --netns "$ns" --json > "$work/flows-tcp.json"
python3 - "$work/flows-tcp.json" <<'PY'
import json,sys
f=[x for x in json.load(open(sys.argv[1]))['flows'] if x['proto']=='tcp']
by={(x['sport'],x['dport']):x['packets'] for x in f}
print('tcp entries:', by)
# both directions of each conversation, and later segments of both dropped in the kernel
ok=all(by.get(k,0)>0 for k in [(4021,5003),(5003,4021),(4022,5004),(5004,4022)])
sys.exit(0 if ok and len(f)==4 else 1)
PY
result "TCP: Suricata bypasses on a bypass rule and at stream depth, both directions, later segments dropped" $?
# Suricata stored them with bit 0 of the VLAN word set (TCP)
bpftool map dump pinned "${pins[0]}" -j | python3 -c "
import json,sys
keys=[bytes(int(b,16) for b in e['key']) for e in json.load(sys.stdin)]
tcp=[k for k in keys if k[4:8]==bytes([10,77,0,9]) or k[0:4]==bytes([10,77,0,9])]
sys.exit(0 if len(tcp)==4 and all(k[12:16]==bytes([1,0,0,0]) for k in tcp) else 1)"
result "Suricata's TCP keys: the protocol word stored as 01 00 00 00" $?

# --- Suricata's accounting agrees with xbypass's ----------------------------------------------
# Suricata reads the per-CPU pairs of a flow the kernel bypasses for it once the flow's capture-bypass
# timeout has passed: FLOW_BYPASSED_TIMEOUT, a fixed 100 s after the flow's last packet Suricata saw
# (Suricata 7.0.10's flow-private.h; flow-timeouts.<proto>.bypassed does not apply to it). Its flow
# manager then visits the flow at its next pass (a full pass of the flow hash takes about 10 s): it
# adds what changed to flow_bypassed.pkts/bytes, and at the pass after that, when nothing changed,
# deletes the entries (flow_bypassed.closed) and logs the flow with its bypassed counts.
# The TCP conversations are read and closed the same way, later (their last packet Suricata saw is
# later): the wait ends when every count is read and the three UDP flows are closed.
# Bounded wait: 100 s + two passes + 30 s for a loaded machine after the last bypassed packet.
bypassed_stat() {  # bypassed_stat KEY: from Suricata's latest stats record
  grep '"event_type":"stats"' "$work/log/eve.json" | tail -n 1 |
    python3 -c "import json,sys; print(json.loads(sys.stdin.read())['stats']['flow_bypassed'].get('$1',0))" 2>/dev/null
}
# What the kernel bypassed into Suricata's entries (xbypass flows, summed; no traffic since)
xb_total=$(python3 -c "import json,sys; print(sum(x['packets'] for x in json.load(open(sys.argv[1]))['flows']))" "$work/flows-tcp.json")
first_read=""
suricata_read_all() {
  local pkts; pkts=$(bypassed_stat pkts)
  [ -z "$first_read" ] && [ "${pkts:-0}" -gt 0 ] && first_read=$(( $(date +%s) - bypassed_at ))
  [ "${pkts:-0}" -ge "$xb_total" ] && [ "$(bypassed_stat closed)" -ge 3 ]
} 2>/dev/null
deadline=$(( bypassed_at + 100 + 20 + 30 ))
while ! suricata_read_all && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.5; done
suricata_read_all; read_all=$?
echo "Suricata read $(bypassed_stat pkts) of $xb_total bypassed packets and closed $(bypassed_stat closed) flows" \
  "$(( $(date +%s) - bypassed_at )) s after the last bypassed packet (first read after ${first_read:-no} s)"
result "Suricata read every bypassed flow's counts within the bound (100 s + two flow-manager passes + 30 s)" $read_all
sleep 2  # the flow records of the last flows closed
python3 - "$work/flows-udp.json" "$work/flows-tcp.json" "$work/log/eve.json" "$(counter hit)" "$(counter drop)" <<'PY'
import ipaddress,json,sys
ip=lambda a: ipaddress.ip_address(a).compressed  # Suricata writes IPv6 addresses in full
xb={}
for path in sys.argv[1:3]:
    for x in json.load(open(path))['flows']:
        k=(x['proto'],ip(x['src']),x['sport'],ip(x['dst']),x['dport'])
        xb[k]=(x['packets'],x['bytes'])  # the later snapshot wins (the TCP one holds the UDP entries too)
hit,drop=int(sys.argv[4]),int(sys.argv[5])
ev=[json.loads(l) for l in open(sys.argv[3])]
flows=[e for e in ev if e.get('event_type')=='flow' and 'bypassed' in e.get('flow',{})]
stats=[e for e in ev if e.get('event_type')=='stats'][-1]['stats']['flow_bypassed']
bad=0
tot_p=tot_b=0
for e in flows:
    b=e['flow']['bypassed']
    fwd=xb.get((e['proto'].lower(),ip(e['src_ip']),e['src_port'],ip(e['dest_ip']),e['dest_port']),(0,0))
    rev=xb.get((e['proto'].lower(),ip(e['dest_ip']),e['dest_port'],ip(e['src_ip']),e['src_port']),(0,0))
    sp=b['pkts_toserver']+b['pkts_toclient']; sb=b['bytes_toserver']+b['bytes_toclient']
    xp=fwd[0]+rev[0]; xbb=fwd[1]+rev[1]
    # the direction Suricata calls to-server is one of the two entries
    dir_ok={b['pkts_toserver'],b['pkts_toclient']}=={fwd[0],rev[0]}
    ok=sp==xp and sb==xbb and dir_ok and sp>0
    bad+=not ok
    tot_p+=sp; tot_b+=sb
    print('%s %s:%s -> %s:%s (%s, %s): suricata bypassed %d pkts %d bytes, xbypass %d pkts %d bytes %s' %
          (e['proto'],ip(e['src_ip']),e['src_port'],ip(e['dest_ip']),e['dest_port'],e['flow'].get('state'),
           e['flow'].get('reason'),sp,sb,xp,xbb,'ok' if ok else 'DIFFERENT'))
print('suricata flow_bypassed:', stats, 'xbypass hit', hit, 'drop', drop)
udp=[e for e in flows if e['proto']=='UDP']
ok=(len(udp)==3 and bad==0 and stats['pkts']==hit==drop==sum(v[0] for v in xb.values())
    and stats['bytes']==sum(v[1] for v in xb.values()))
sys.exit(0 if ok else 1)
PY
result "Suricata's bypassed counts (its EVE flow records, flow_bypassed pkts/bytes) agree with xbypass's" $?

# --- Suricata killed: fail open within a second ------------------------------------------------
tx udp 10.77.0.1 4001 10.77.0.2 5001 200 --interval 0.05 &
sender=$!
sleep 0.5
before=$(cat "$work/rx")
kill -9 "$(suricata_pid)"
killed=$(date +%s%N)
rx_grew() { [ "$(cat "$work/rx")" -gt "$before" ]; }  # re-read at every poll
wait_for 8 rx_grew
st=$?
ms=$(( ($(date +%s%N) - killed) / 1000000 ))
echo "the bypassed flow reached the stack again ${ms} ms after SIGKILL"
# Within a second of the kill (measured 127 ms), with half a second of margin for a loaded machine.
[ $st -eq 0 ] && [ "$ms" -le 1500 ] && grep -q "XB6031" "$work/xbypass.log"
result "Suricata killed: bypassed flow reaches the stack within a second ($ms ms), logged XB6031" $?
wait "$sender" 2>/dev/null
[ "$(bpftool map dump pinned "${pins[0]}" -j)" = "[]" ]
result "the dead Suricata's entries are removed" $?
st=$(status_state)
[ "${st%% *}" = "failed-open" ]
result "xbypass status: failed open after the kill ($st)" $?

# --- Suricata restarted: it adopts the maps again ----------------------------------------------
rm -f "$work/suricata.socket"
start_suricata
grep -q "Loaded pinned maps" "$work/log/suricata.log" &&
  wait_for 5 grep -q "XB6030.*pid $(suricata_pid)" "$work/xbypass.log"
result "Suricata restarted: adopts the maps, xbypass pairs again" $?
st=$(status_state)
[ "$(echo "$st" | cut -d' ' -f1-2)" = "paired $(suricata_pid)" ]
result "xbypass status: paired with the new pid ($st)" $?
tx udp 10.77.0.1 4011 10.77.0.2 5001 20
sleep 1
bpftool map dump pinned "${pins[0]}" -j | grep -q '"key"'
result "the restarted Suricata bypasses into the maps again" $?

# --- xbypass stops: detached, pins kept for the next run ---------------------------------------
kill "$xb_pid"; wait "$xb_pid"; rc=$?; xb_pid=""
! in_ns ip link show "$ifc" | grep -q xdp
result "xbypass stopped (exit $rc): nothing left attached" $?

echo "[==========] $((passed + failed)) tests ran."
echo "[  PASSED  ] $passed tests."
[ "$failed" -eq 0 ] || { echo "[  FAILED  ] $failed tests."; exit 1; }
