#!/usr/bin/env bash
# make check: `make install DESTDIR=...` into a staging root, then the installed tree is what a user
# gets: every file in place, the binaries run, the man pages render with every section, the
# pkg-config file points at the staged header and library, the systemd units name the installed
# paths (and pass `systemd-analyze verify` when it is there), and a reinstall over an edited
# configuration keeps the edit. Needs no root; takes seconds. Prints a gtest-style summary.
set -uo pipefail
build=$(pwd)  # automake runs tests from the top build directory
work=$(mktemp -d /tmp/xb-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/root"
passed=0 failed=0
check() {  # check NAME COMMAND...: one gtest-style result line
  local name=$1; shift
  if "$@" >"$work/out" 2>&1; then echo "[       OK ] $name"; passed=$((passed + 1))
  else echo "[  FAILED  ] $name"; sed 's/^/    /' "$work/out" | head -20; failed=$((failed + 1)); fi
}

# The installation directories as this build's Makefile has them.
dirs=$(make -s -C "$build" -f Makefile -f - xb-print-dirs 2>/dev/null <<'MK'
xb-print-dirs:
	@echo "bindir='$(bindir)' libdir='$(libdir)' includedir='$(includedir)' mandir='$(mandir)' \
	sysconfdir='$(sysconfdir)' localstatedir='$(localstatedir)' systemdsystemunitdir='$(systemdsystemunitdir)'"
MK
) || { echo "install_tree.sh: cannot read the installation directories from $build/Makefile"; exit 1; }
eval "$dirs"

make -C "$build" install DESTDIR="$root" >"$work/install.log" 2>&1 || {
  tail -30 "$work/install.log"; echo "install_tree.sh: make install failed"; exit 1; }

r() { echo "$root$1"; }
files=(
  "$bindir/xbypass" "$bindir/xids" "$libdir/libxbypass.so.1" "$libdir/libxbypass.so"
  "$includedir/xbypass/plugin.h" "$libdir/pkgconfig/xbypass.pc"
  "$mandir/man8/xbypass.8" "$mandir/man8/xids.8" "$mandir/man5/xbypass.yaml.5"
  "$sysconfdir/xbypass/xbypass.yaml" "$sysconfdir/xbypass/suricata-af-packet.yaml"
  "$sysconfdir/xbypass/xids.yaml" "$sysconfdir/xbypass/rules/xids.rules"
)
[ -n "$systemdsystemunitdir" ] && files+=("$systemdsystemunitdir/xbypass@.service" "$systemdsystemunitdir/xids.service")
missing() { local m=0; for f in "${files[@]}"; do [ -e "$(r "$f")" ] || { echo "missing: $f"; m=1; }; done; return $m; }
check "every file is installed" missing

bin=$(r "$bindir")
check "xbypass --version" bash -c "'$bin/xbypass' --version | grep -q '^xbypass [0-9]'"
check "xbypass --help" "$bin/xbypass" --help
check "xids --version" bash -c "'$bin/xids' --version | grep -q '^xids [0-9]'"
check "xids --help" "$bin/xids" --help
# Every subcommand has its --help and its entry in xbypass(8).
commands=$("$bin/xbypass" --help | awk '/^Commands:/ {c = 1; next} c && NF == 0 {exit} c {print $1}')
check "xbypass lists its commands" test -n "$commands"
for c in $commands; do
  check "xbypass $c --help" "$bin/xbypass" "$c" --help
  check "xbypass(8) documents $c" grep -qx "\.B xbypass $c" "$(r "$mandir/man8/xbypass.8")"
done
check "the installed xbypass.yaml passes check --static" \
  "$bin/xbypass" check --static -c "$(r "$sysconfdir/xbypass/xbypass.yaml")"
check "the installed xids.yaml logs to $localstatedir/log/xbypass" \
  grep -qx "default-log-dir: $localstatedir/log/xbypass" "$(r "$sysconfdir/xbypass/xids.yaml")"

# Man pages: rendered without warnings, with every section.
render() {
  # Overstrikes removed with sed (col is not on every system).
  if command -v groff >/dev/null; then groff -man -Tascii -ww "$1" 2>"$work/warn" | sed 's/.\x08//g' >"$work/page" || return 1
    [ ! -s "$work/warn" ] || { cat "$work/warn"; return 1; }
  elif command -v man >/dev/null; then MANWIDTH=80 man -l "$1" 2>/dev/null | sed 's/.\x08//g' >"$work/page" || return 1
  else echo "no groff and no man: the page is only checked for its section macros"; cp "$1" "$work/page"
  fi
  for s in NAME SYNOPSIS DESCRIPTION OPTIONS FILES "EXIT STATUS" "SEE ALSO"; do
    case "$1" in *.5) [ "$s" = OPTIONS ] || [ "$s" = "EXIT STATUS" ] && continue ;; esac
    grep -q "^\(\.SH \"\?\)\?$s\"\?$" "$work/page" || { echo "$1: no section $s"; return 1; }
  done
}
for m in man8/xbypass.8 man8/xids.8 man5/xbypass.yaml.5; do check "$m renders" render "$(r "$mandir/$m")"; done

# pkg-config on the staged tree, and the header compiles as C with its flags alone.
pcflags() {
  local flags
  flags=$(PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_LIBDIR="$(r "$libdir/pkgconfig")" pkg-config --cflags --libs xbypass) || return 1
  echo "$flags"
  case " $flags " in *" -I$root$includedir "*) ;; *) echo "no -I$root$includedir"; return 1 ;; esac
  case " $flags " in *" -L$root$libdir "*) ;; *) echo "no -L$root$libdir"; return 1 ;; esac
  echo '#include <xbypass/plugin.h>' | ${CC:-cc} -std=c99 -Wall -Werror -fsyntax-only -x c - ${flags%% -L*}
}
check "pkg-config --cflags --libs xbypass" pcflags

# systemd units: the installed paths, and systemd's own verdict where it is installed.
if [ -n "$systemdsystemunitdir" ]; then
  u=$(r "$systemdsystemunitdir")
  check "xbypass@.service runs xbypass run on %i.yaml" \
    grep -qx "ExecStart=$bindir/xbypass run -c $sysconfdir/xbypass/%i.yaml" "$u/xbypass@.service"
  check "xids.service runs xids on xids.yaml" grep -qx "ExecStart=$bindir/xids -c $sysconfdir/xbypass/xids.yaml" "$u/xids.service"
  if command -v systemd-analyze >/dev/null; then
    # verify checks that ExecStart exists: point the units at the staged binaries.
    mkdir -p "$work/units"
    for f in "$u/xbypass@.service" "$u/xids.service"; do
      sed "s|=$bindir/|=$bin/|" "$f" >"$work/units/$(basename "$f")"
    done
    cp "$work/units/xbypass@.service" "$work/units/xbypass@test.service"
    verify() { systemd-analyze verify --man=no "$@" 2>&1 | grep -v -e 'Failed to .*cgroup' -e 'bpf-lsm' | tee "$work/verify"
               [ ! -s "$work/verify" ]; }
    check "systemd-analyze verify" verify "$work/units/xbypass@test.service" "$work/units/xids.service"
  fi
fi

# A reinstall keeps an edited configuration and puts the new one next to it; uninstall leaves only
# the edit.
conf=$(r "$sysconfdir/xbypass/xbypass.yaml")
echo "# edited" >>"$conf"
reinstall() {
  make -C "$build" install-data-local DESTDIR="$root" >"$work/reinstall.log" 2>&1 || { cat "$work/reinstall.log"; return 1; }
  tail -1 "$conf" | grep -qx "# edited" && test -f "$conf.new"
}
check "a reinstall keeps an edited configuration (the shipped one as .new)" reinstall
uninstall() {
  make -C "$build" uninstall DESTDIR="$root" >"$work/uninstall.log" 2>&1 || { cat "$work/uninstall.log"; return 1; }
  left=$(cd "$root" && find . -type f | sort)
  [ "$left" = ".$sysconfdir/xbypass/xbypass.yaml" ] || { echo "left after uninstall:"; echo "$left"; return 1; }
}
check "uninstall removes everything but the edited configuration" uninstall

echo "[==========] install tree"
echo "[  PASSED  ] $passed tests."
[ "$failed" -eq 0 ] || { echo "[  FAILED  ] $failed tests, listed above"; exit 1; }
