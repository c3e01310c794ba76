#!/usr/bin/env bash
# Runs the libFuzzer targets for a bounded time on the build in BUILD_DIR: config_fuzz (default
# 60 s) and rules_fuzz (default 20 s). Fails on any crash, leak, timeout or sanitizer report. New
# inputs go to a temporary directory, never into the seed corpus of the source tree.
#   scripts/fuzz.sh BUILD_DIR   (XB_FUZZ_SECONDS and XB_RULES_FUZZ_SECONDS override the budgets)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: scripts/fuzz.sh BUILD_DIR}

work=$(mktemp -d /tmp/xb-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

# run_fuzzer NAME SECONDS DICT SEED_CORPUS
run_fuzzer() {
  local name=$1 seconds=$2 dict=$3 seeds=$4
  local fuzzer="$build/tests/fuzz/$name"
  if [ ! -x "$fuzzer" ]; then
    make -C "$build" "tests/fuzz/$name" >/dev/null 2>&1 || {
      echo "fuzz.sh: $fuzzer is missing and cannot be built (configure with --enable-fuzzers; needs clang++ and libclang-rt-14-dev)" >&2
      return 1
    }
  fi
  local dir="$work/$name"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  echo "fuzz.sh: $name for ${seconds}s"
  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -dict="$dict" -artifact_prefix="$dir/artifacts/" -print_final_stats=1 \
    "$dir/corpus" "$seeds" >"$dir/log" 2>&1
  local rc=$?
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$dir/log"
  if [ $rc -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$dir/log"; then
    echo "fuzz.sh: $name failed (exit $rc):" >&2
    tail -60 "$dir/log" >&2
    for a in "$dir"/artifacts/*; do
      [ -f "$a" ] && { mkdir -p "$build/fuzz-artifacts"; cp "$a" "$build/fuzz-artifacts/"; echo "fuzz.sh: reproducer saved to $build/fuzz-artifacts/$(basename "$a")" >&2; }
    done
    return 1
  fi
  echo "fuzz.sh: $name passed"
}

status=0
run_fuzzer config_fuzz "${XB_FUZZ_SECONDS:-60}" "$top/tests/fuzz/config.dict" "$top/tests/fuzz/corpus/config" || status=1
run_fuzzer rules_fuzz "${XB_RULES_FUZZ_SECONDS:-20}" "$top/tests/fuzz/rules.dict" "$top/tests/fuzz/corpus/rules" || status=1
exit $status
