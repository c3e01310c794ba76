# Sourced by scripts/quickstart.sh and tests/engine/xids_e2e.sh: a client and a server namespace
# joined by a veth pair (10.77.1.1 <-> 10.77.1.2), and a sensor namespace whose interface qs-sensor
# receives a copy of every frame of the server's link, both directions (tc mirred on the server's
# side: what a SPAN port gives an IDS). IPv6 is off in all three, so nothing but the test's traffic
# is on the wire.
#   span_net_up CLIENT_NS SERVER_NS SENSOR_NS     span_net_down CLIENT_NS SERVER_NS SENSOR_NS
span_in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }

span_net_up() {
  local client=$1 server=$2 sensor=$3 ns
  for ns in "$client" "$server" "$sensor"; do
    ip netns add "$ns" || return 1
    ip -n "$ns" link set lo up
    span_in_ns "$ns" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6' 2>/dev/null || true
  done
  ip -n "$client" link add qs-client type veth peer name qs-server netns "$server" || return 1
  ip -n "$server" link add qs-mirror type veth peer name qs-sensor netns "$sensor" || return 1
  ip -n "$client" addr add 10.77.1.1/24 dev qs-client
  ip -n "$server" addr add 10.77.1.2/24 dev qs-server
  ip -n "$client" link set qs-client up
  ip -n "$server" link set qs-server up
  ip -n "$server" link set qs-mirror up
  ip -n "$sensor" link set qs-sensor up
  # u32 with an empty match: every frame (kernels without cls_matchall have u32).
  span_in_ns "$server" tc qdisc add dev qs-server clsact || return 1
  local dir
  for dir in ingress egress; do
    span_in_ns "$server" tc filter add dev qs-server "$dir" protocol all u32 match u32 0 0 \
      action mirred egress mirror dev qs-mirror || return 1
  done
}

span_net_down() {
  local ns pids
  for ns in "$@"; do
    # What still runs in a namespace goes with it: a process started there in the background is
    # the child of a subshell, which the caller's kill does not reach, and it would keep the
    # deleted namespace alive.
    pids=$(ip netns pids "$ns" 2>/dev/null)
    # shellcheck disable=SC2086 # a list of pids
    [ -n "$pids" ] && kill $pids 2>/dev/null
    ip netns delete "$ns" 2>/dev/null
  done
  return 0
}
