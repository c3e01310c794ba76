#!/usr/bin/env bash
# make check: libxbypass.so exports exactly the functions include/xbypass/plugin.h declares (XB_API),
# under the XBYPASS_1 version, with soname libxbypass.so.1 — no C++ symbol of the core leaks out.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(pwd)
lib="$build/.libs/libxbypass.so.1"
header="$here/../../include/xbypass/plugin.h"
[ -e "$lib" ] || { echo "exports.sh: $lib was not built"; exit 1; }
declared=$(grep -oE '^XB_API [^(]*\(' "$header" | grep -oE 'xb_[a-z_]+ *\($' | tr -d ' (' | sort -u)
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TtWw]$/ {print $3}' | sed 's/@.*//' | sort -u)
versions=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TtWw]$/ {print $3}' | grep -v '@@XBYPASS_1$' || true)
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
rc=0
extra=$(comm -13 <(echo "$declared") <(echo "$exported"))
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
[ -z "$extra" ] || { echo "exported but not in plugin.h:"; echo "$extra"; rc=1; }
[ -z "$missing" ] || { echo "declared in plugin.h but not exported:"; echo "$missing"; rc=1; }
[ -z "$versions" ] || { echo "exported without the XBYPASS_1 version:"; echo "$versions"; rc=1; }
[ "$soname" = libxbypass.so.1 ] || { echo "soname is '$soname', expected libxbypass.so.1"; rc=1; }
echo "$(echo "$declared" | wc -l) functions declared, $(echo "$exported" | wc -l) exported, soname $soname"
if [ $rc -eq 0 ]; then echo "[  PASSED  ] 1 test."; else echo "[  FAILED  ] 1 test, listed above"; fi
exit $rc
