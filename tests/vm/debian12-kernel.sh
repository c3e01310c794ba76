#!/usr/bin/env bash
# make check: the kernel tests that load, attach and move packets, run a second time on Debian 12's
# own kernel (6.1, what most sensors run) inside a VM (run-in-vm.sh). There the netdev family is
# missing, so XDP features are unknown: native XDP is tried only for programs that need basic XDP,
# with generic XDP when the driver refuses it; the tests know that. probe_kernel_test's expectations
# follow the kernel it runs on (netdev family, lockdown, tcx).
here=$(cd "$(dirname "$0")" && pwd)
build=$(pwd)  # automake runs tests from the top build directory
tests="attach_test pin_test run_test probe_kernel_test flow_table_test bpf_parser_test bpf_actions_test datapath_simulate_test harness_test"
args=(--copy "$build/xbypass")
list=""
for t in $tests; do
  args+=(--copy "$build/tests/$t")
  list="$list $build/tests/$t"
done
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
  [ -n "${!v:-}" ] && args+=(--env "$v=${!v}")
done
# One boot for all: each binary's gtest summary lands in this script's log (scripts/test.sh sums them).
exec "$here/run-in-vm.sh" "${args[@]}" -- /bin/sh -c \
  "rc=0; for t in $list; do echo \"=== \$t (in the VM)\"; \$t || rc=1; done; exit \$rc"
