#!/usr/bin/env bash
# Quickstart: install dependencies, build, and run xbypass. Later issues turn this into the main
# job (the engine on a veth pair in a private namespace, with traffic and bypass counters).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
build=${XB_BUILD_DIR:-$top/build/quickstart}

bash scripts/deps.sh
autoreconf -fi >/dev/null 2>&1
mkdir -p "$build"
( cd "$build" && "$top/configure" -q )
make -C "$build" -j2 >/dev/null
"$build/xbypass" --version
"$build/xbypass" --help
