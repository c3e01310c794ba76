#!/usr/bin/env bash
# Runs the libFuzzer targets for a bounded time (config_fuzz 60 s by default, decode_fuzz 15 s, rules_fuzz 20 s,
# control_fuzz 15 s) on the
# build in BUILD_DIR.
# Fails on any crash, leak, timeout or sanitizer report. New inputs go to a temporary directory,
# never into the seed corpus of the source tree.
#   scripts/fuzz.sh BUILD_DIR            (XB_FUZZ_SECONDS overrides the time budget)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: scripts/fuzz.sh BUILD_DIR}
seconds=${XB_FUZZ_SECONDS:-60}

work=$(mktemp -d /tmp/xb-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

# run_fuzzer NAME SECONDS [libFuzzer options...]: runs tests/fuzz/NAME on tests/fuzz/corpus/${NAME%_fuzz}.
run_fuzzer() {
  local name=$1 secs=$2
  shift 2
  local fuzzer="$build/tests/fuzz/$name" dir="$work/$name"
  if [ ! -x "$fuzzer" ]; then
    make -C "$build" "tests/fuzz/$name" >/dev/null 2>&1 || {
      echo "fuzz.sh: $fuzzer is missing and cannot be built (configure with --enable-fuzzers; needs clang++ and libclang-rt-14-dev)" >&2
      return 1
    }
  fi
  mkdir -p "$dir/corpus" "$dir/artifacts"
  echo "fuzz.sh: $name for ${secs}s"
  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 "$@" \
    -artifact_prefix="$dir/artifacts/" -print_final_stats=1 \
    "$dir/corpus" "$top/tests/fuzz/corpus/${name%_fuzz}" >"$dir/log" 2>&1
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
run_fuzzer config_fuzz "$seconds" -max_len=65536 -dict="$top/tests/fuzz/config.dict" || status=1
# The engine's frame decoder: 15 s (XB_FUZZ_DECODE_SECONDS overrides), frames up to a jumbo MTU.
run_fuzzer decode_fuzz "${XB_FUZZ_DECODE_SECONDS:-15}" -max_len=9100 || status=1
# The rule parser and matcher: 20 s (XB_RULES_FUZZ_SECONDS overrides).
run_fuzzer rules_fuzz "${XB_RULES_FUZZ_SECONDS:-20}" -max_len=65536 -dict="$top/tests/fuzz/rules.dict" || status=1
# Control socket requests: 15 s (XB_CONTROL_FUZZ_SECONDS overrides), lines up to the 64 KiB limit and past it.
run_fuzzer control_fuzz "${XB_CONTROL_FUZZ_SECONDS:-15}" -max_len=70000 -dict="$top/tests/fuzz/control.dict" || status=1
exit $status
