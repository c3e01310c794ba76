#!/usr/bin/env bash
# Runs the libFuzzer targets for a bounded time on the build in BUILD_DIR: config_fuzz (60 s by
# default), then pcap_fuzz and flows_fuzz (30 s each), decode_fuzz (15 s), rules_fuzz (20 s) and control_fuzz (15 s). Fails on any crash, leak, timeout or sanitizer
# report. New inputs go to a temporary directory, never into the seed corpus of the source tree.
#   scripts/fuzz.sh BUILD_DIR [TARGET...]
#   XB_FUZZ_SECONDS overrides the config fuzzer's time, XB_FUZZ_INPUT_SECONDS each input format's.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: scripts/fuzz.sh BUILD_DIR [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(config_fuzz pcap_fuzz flows_fuzz decode_fuzz rules_fuzz control_fuzz)

work=$(mktemp -d /tmp/xb-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

run_target() {
  local name=$1 seconds=$2 corpus=$3 max_len=$4 dict=$5
  local fuzzer="$build/tests/fuzz/$name"
  if [ ! -x "$fuzzer" ]; then
    make -C "$build" "tests/fuzz/$name" >/dev/null 2>&1 || {
      echo "fuzz.sh: $fuzzer is missing and cannot be built (configure with --enable-fuzzers; needs clang++ and libclang-rt-14-dev)" >&2
      return 1
    }
  fi
  mkdir -p "$work/$name/corpus" "$work/$name/artifacts"
  local dict_arg=()
  [ -n "$dict" ] && dict_arg=(-dict="$dict")
  echo "fuzz.sh: $name for ${seconds}s"
  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
    "${dict_arg[@]}" -artifact_prefix="$work/$name/artifacts/" -print_final_stats=1 \
    "$work/$name/corpus" "$corpus" >"$work/$name/log" 2>&1
  local rc=$?
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$work/$name/log"
  if [ $rc -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$work/$name/log"; then
    echo "fuzz.sh: $name failed (exit $rc):" >&2
    tail -60 "$work/$name/log" >&2
    for a in "$work/$name"/artifacts/*; do
      [ -f "$a" ] && { mkdir -p "$build/fuzz-artifacts"; cp "$a" "$build/fuzz-artifacts/"; echo "fuzz.sh: reproducer saved to $build/fuzz-artifacts/$(basename "$a")" >&2; }
    done
    return 1
  fi
  echo "fuzz.sh: $name passed"
}

failed=0
for t in "${targets[@]}"; do
  case $t in
    config_fuzz) run_target config_fuzz "${XB_FUZZ_SECONDS:-60}" "$top/tests/fuzz/corpus/config" 65536 "$top/tests/fuzz/config.dict" || failed=1 ;;
    pcap_fuzz) run_target pcap_fuzz "${XB_FUZZ_INPUT_SECONDS:-30}" "$top/tests/fuzz/corpus/pcap" 65536 "" || failed=1 ;;
    flows_fuzz) run_target flows_fuzz "${XB_FUZZ_INPUT_SECONDS:-30}" "$top/tests/fuzz/corpus/flows" 16384 "$top/tests/fuzz/flows.dict" || failed=1 ;;
    # The engine's frame decoder (frames up to a jumbo MTU) and the rule parser and matcher.
    decode_fuzz) run_target decode_fuzz "${XB_FUZZ_DECODE_SECONDS:-15}" "$top/tests/fuzz/corpus/decode" 9100 "" || failed=1 ;;
    rules_fuzz) run_target rules_fuzz "${XB_RULES_FUZZ_SECONDS:-20}" "$top/tests/fuzz/corpus/rules" 65536 "$top/tests/fuzz/rules.dict" || failed=1 ;;
    # Control socket requests: lines up to the 64 KiB limit and past it.
    control_fuzz) run_target control_fuzz "${XB_CONTROL_FUZZ_SECONDS:-15}" "$top/tests/fuzz/corpus/control" 70000 "$top/tests/fuzz/control.dict" || failed=1 ;;
    *) echo "fuzz.sh: unknown target $t" >&2; failed=1 ;;
  esac
done
exit $failed
