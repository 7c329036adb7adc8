#!/bin/bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# The Debian package end to end, on this machine: install it with dpkg (its
# postinst sets the capability), run crpid as an unprivileged user, check
# the man page and completion are there, remove it. Needs root.
set -uo pipefail

deb=$1
failures=0
check() {  # check DESCRIPTION COMMAND...
  if "${@:2}"; then echo "ok: $1"; else echo "FAILED: $1"; failures=$((failures + 1)); fi
}

if [[ $EUID -ne 0 ]]; then
  echo "package_test: needs root (dpkg -i)" >&2
  [[ ${CRPID_TEST_NO_SKIP:-} == 1 ]] && exit 1
  exit 0
fi
if dpkg-query -W crpid >/dev/null 2>&1; then
  echo "package_test: crpid is already installed from a package; not touching it" >&2
  exit 1
fi

# Debian's own checks: no error and no warning (each override, in
# packaging/debian/lintian-overrides, says why).
lint=$(lintian --tag-display-limit 0 "$deb" 2>&1 | grep -v 'running with root privileges')
check "lintian: no errors or warnings${lint:+ ($lint)}" \
  bash -c '! grep -qE "^[EW]: " <<<"$1"' lint "$lint"
check "copyright in Debian's machine-readable format, GPL-2+" bash -c '
  dpkg-deb --fsys-tarfile "$1" | tar -xO ./usr/share/doc/crpid/copyright |
    grep -qx "License: GPL-2+"' copyright "$deb"
check "dpkg -i" dpkg -i "$deb"
check "postinst set the capability" \
  bash -c '[[ $(getcap /usr/bin/crpid) == *cap_checkpoint_restore=ep ]]'
source "$(dirname "$0")/free_pid.sh"
pid=$(free_pid)
# As a user runs it: from a shell of nobody's holding no capability, so the
# exec of crpid is a secure exec.
as_user() {
  setpriv --reuid=65534 --regid=65534 --clear-groups sh -c '
    grep -qE "^CapPrm:[[:space:]]+0+$" /proc/self/status || exit 99
    exec "$@"' as_user "$@"
}
output=$(as_user /usr/bin/crpid fork-at "$pid" -- sh -c 'echo $$')
check "fork-at as nobody lands on PID $pid (got '$output')" test "$output" = "$pid"
check "crpid check passes as nobody" as_user /usr/bin/crpid check --feature fork-at
check "man page installed" test -s /usr/share/man/man1/crpid.1.gz
check "man page renders" bash -c 'zcat /usr/share/man/man1/crpid.1.gz | grep -q "PRIVILEGE MODEL"'
check "bash completion installed" test -s /usr/share/bash-completion/completions/crpid
check "bash completion parses" bash -n /usr/share/bash-completion/completions/crpid
check "bash completion offers the subcommands" bash -c '
  source /usr/share/bash-completion/bash_completion
  source /usr/share/bash-completion/completions/crpid
  COMP_WORDS=(crpid f); COMP_CWORD=1; COMP_LINE="crpid f"; COMP_POINT=7
  _crpid; [[ "${COMPREPLY[*]}" == "fork-at fork-tree" ]]' 
check "dpkg -r" dpkg -r crpid
check "removed" test ! -e /usr/bin/crpid

echo "package_test: $failures failed"
((failures == 0))
