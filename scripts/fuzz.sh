#!/usr/bin/env bash
# Runs the libFuzzer targets for a bounded time (default 60 s in total) on the build in BUILD_DIR.
# Fails on any crash, leak, timeout or sanitizer report. New inputs go to a temporary directory,
# never into the seed corpus of the source tree.
#   scripts/fuzz.sh BUILD_DIR            (XB_FUZZ_SECONDS overrides the time budget)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: scripts/fuzz.sh BUILD_DIR}
seconds=${XB_FUZZ_SECONDS:-60}

fuzzer="$build/tests/fuzz/config_fuzz"
if [ ! -x "$fuzzer" ]; then
  make -C "$build" tests/fuzz/config_fuzz >/dev/null 2>&1 || {
    echo "fuzz.sh: $fuzzer is missing and cannot be built (configure with --enable-fuzzers; needs clang++ and libclang-rt-14-dev)" >&2
    exit 1
  }
fi

work=$(mktemp -d /tmp/xb-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/artifacts"

echo "fuzz.sh: config_fuzz for ${seconds}s"
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -dict="$top/tests/fuzz/config.dict" -artifact_prefix="$work/artifacts/" -print_final_stats=1 \
  "$work/corpus" "$top/tests/fuzz/corpus/config" >"$work/log" 2>&1
rc=$?
grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$work/log"
if [ $rc -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$work/log"; then
  echo "fuzz.sh: config_fuzz failed (exit $rc):" >&2
  tail -60 "$work/log" >&2
  for a in "$work"/artifacts/*; do
    [ -f "$a" ] && { mkdir -p "$build/fuzz-artifacts"; cp "$a" "$build/fuzz-artifacts/"; echo "fuzz.sh: reproducer saved to $build/fuzz-artifacts/$(basename "$a")" >&2; }
  done
  exit 1
fi
echo "fuzz.sh: config_fuzz passed"
