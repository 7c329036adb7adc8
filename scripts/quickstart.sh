#!/bin/bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# Sets crpid up on a Debian 12 machine (as root) and shows the main job: an
# ordinary user starts a command at a PID of their choosing.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/install.sh

# A free PID well ahead of the kernel's last allocated one, below pid_max.
pid_max=$(cat /proc/sys/kernel/pid_max)
last=$(cat /proc/sys/kernel/ns_last_pid)
pid=$((last + 1000))
((pid < pid_max - 1)) || pid=1000
while [[ -e /proc/$pid ]]; do pid=$((pid + 1)); done

echo "quickstart: as user nobody: crpid fork-at $pid -- sh -c 'echo \"I am PID \$\$\"'"
# From a shell of nobody's, which holds no capability, as a user's shell.
output=$(setpriv --reuid=65534 --regid=65534 --clear-groups sh -c '
  exec /usr/local/bin/crpid fork-at "$1" -- sh -c "echo \"I am PID \$\$\""' sh "$pid")
echo "$output"
if [[ "$output" == "I am PID $pid" ]]; then
  echo "quickstart: OK: the command ran as PID $pid, started by an unprivileged user"
else
  echo "quickstart: FAILED: expected 'I am PID $pid'" >&2
  exit 1
fi
