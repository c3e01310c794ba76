# Sourced by the Suricata end-to-end tests: their preconditions and small helpers.
# The caller sets `here` (this folder) first; `work` before calling suricata_pid; `work`, `xb_pid`
# and `pins` before cleanup can run (it is the caller's EXIT trap).
build=$(pwd)  # automake runs tests from the top build directory
xbypass="$build/xbypass"
send="$here/send_frames.py"
[ "$(id -u)" -eq 0 ] || { echo "kernel test skipped: needs root"; exit 77; }
skip() {  # under CI a skip is a failure: the install must be made reliable, not skipped
  echo "kernel test skipped: $1"
  [ "${CI:-}" = true ] && exit 1
  exit 77
}
command -v suricata >/dev/null 2>&1 && suricata -V 2>/dev/null | grep -q 'version 7\.' ||
  skip "suricata not installable"
command -v bpftool >/dev/null 2>&1 || skip "bpftool missing"

suricata_pid() { cat "$work/suricata.pid" 2>/dev/null; }
passed=0 failed=0
result() {  # result NAME STATUS
  if [ "$2" -eq 0 ]; then echo "[       OK ] $1"; passed=$((passed + 1)); else echo "[  FAILED  ] $1"; failed=$((failed + 1)); fi
}
wait_for() {  # wait_for SECONDS COMMAND...: polls every 0.1 s
  local end=$(( $(date +%s%N) + $1 * 1000000000 )); shift
  while [ "$(date +%s%N)" -lt "$end" ]; do "$@" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
# The EXIT trap of both scripts: cleanup NAMESPACE... -- [RECEIVER_PID...]. Suricata (its pid file in
# $work) is killed, xbypass ($xb_pid) stopped and waited for, the receivers killed, the namespaces
# deleted and the caller's `pins` removed; when a test failed the tails of both logs are shown before
# $work goes with them.
cleanup() {
  local namespaces=() p n
  while [ $# -gt 0 ] && [ "$1" != -- ]; do namespaces+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  p=$(suricata_pid); [ -n "$p" ] && kill -9 "$p" 2>/dev/null
  [ -n "$xb_pid" ] && kill "$xb_pid" 2>/dev/null && wait "$xb_pid" 2>/dev/null
  for p in "$@"; do kill "$p" 2>/dev/null; done
  for n in "${namespaces[@]}"; do ip netns delete "$n" 2>/dev/null; done
  rm -f "${pins[@]}"
  if [ "$failed" -gt 0 ]; then
    echo "--- xbypass log"; tail -n 40 "$work/xbypass.log" 2>/dev/null
    echo "--- suricata log"; tail -n 20 "$work/log/suricata.log" 2>/dev/null
  fi
  rm -rf "$work"
}
