#!/bin/bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# The RPM end to end, with Debian's rpm: the package carries the file
# capability (rpm -qp --filecaps), rpmlint is clean with the project's
# filters, installing it into a scratch root gives a file whose getcap shows
# cap_checkpoint_restore=ep, an unprivileged user started from a shell that
# holds no capability runs fork-at with it and lands on the PID, and
# removal removes it. Needs root (rpm --root, setcap through rpm).
#
# Usage: rpm_package_test.sh RPM RPMLINTRC SPEC
set -uo pipefail

rpm_file=$1
rpmlintrc=$2
spec=$3
failures=0
check() {  # check DESCRIPTION COMMAND...
  if "${@:2}"; then echo "ok: $1"; else echo "FAILED: $1"; failures=$((failures + 1)); fi
}

if [[ $EUID -ne 0 ]]; then
  echo "rpm_package_test: needs root (rpm --root)" >&2
  [[ ${CRPID_TEST_NO_SKIP:-} == 1 ]] && exit 1
  exit 0
fi
for tool in rpm rpmlint getcap; do
  command -v "$tool" >/dev/null ||
    { echo "rpm_package_test: $tool missing (scripts/install-deps.sh)"; exit 1; }
done

check "the package carries cap_checkpoint_restore=ep on /usr/bin/crpid" \
  bash -c '[[ $(rpm -qp --filecaps "$1" 2>/dev/null | grep "^/usr/bin/crpid") == \
    "/usr/bin/crpid"*"cap_checkpoint_restore=ep" ]]' _ "$rpm_file"
lint=$(rpmlint -r "$rpmlintrc" "$spec" "$rpm_file" 2>&1)
check "rpmlint: no errors or warnings ($(tail -1 <<<"$lint"))" \
  grep -q " 0 errors, 0 warnings" <<<"$lint"

# A scratch root nobody can traverse to reach the binary, on a filesystem
# that holds file capabilities (not a nosuid mount).
root=$(mktemp -d /tmp/crpid-rpm-XXXXXX)
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"
check "rpm --initdb" rpm --root "$root" --initdb
check "rpm -i" rpm --root "$root" -i --nodeps --nosignature "$rpm_file"
check "installed file has cap_checkpoint_restore=ep (getcap)" \
  bash -c '[[ $(getcap "$1/usr/bin/crpid") == *"cap_checkpoint_restore=ep" ]]' _ "$root"
check "installed file is 0755, root's, not setuid" \
  test "$(stat -c %a:%U "$root/usr/bin/crpid")" = 755:root
check "man page and completion installed" \
  test -s "$root/usr/share/man/man1/crpid.1.gz" -a \
  -s "$root/usr/share/bash-completion/completions/crpid"

source "$(dirname "$0")/free_pid.sh"
pid=$(free_pid)
# As a user runs it: from a shell of nobody's holding no capability.
output=$(setpriv --reuid=65534 --regid=65534 --clear-groups sh -c '
  grep -qE "^CapPrm:[[:space:]]+0+$" /proc/self/status || exit 99
  exec "$1" fork-at "$2" -- sh -c "echo \$\$; grep ^CapEff: /proc/\$\$/status"' \
  sh "$root/usr/bin/crpid" "$pid")
check "fork-at as nobody lands on PID $pid" test "$(head -1 <<<"$output")" = "$pid"
check "the command holds no capability" grep -qE "^CapEff:[[:space:]]+0+$" <<<"$output"

check "rpm -e" rpm --root "$root" -e crpid
check "removed" test ! -e "$root/usr/bin/crpid"

echo "rpm_package_test: $failures failed"
((failures == 0))
