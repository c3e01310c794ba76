#!/usr/bin/env bash
# make check: the coexist: multiprog tests (tests/kernel/dispatcher_test.cpp) need freplace
# programs, which this host's kernel may refuse (lockdown does); they run inside a VM booted on
# Debian 12's own kernel instead (run-in-vm.sh), with xbypass itself for the SIGKILL test.
here=$(cd "$(dirname "$0")" && pwd)
build=$(pwd)  # automake runs tests from the top build directory
envs=()
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
  [ -n "${!v:-}" ] && envs+=(--env "$v=${!v}")
done
exec "$here/run-in-vm.sh" --copy "$build/xbypass" --copy "$build/tests/dispatcher_test" \
  --copy "$build/tests/data/config/bpf/xdp_pass.bpf.o" "${envs[@]}" \
  -- "$build/tests/dispatcher_test"
