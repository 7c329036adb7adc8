# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by the shell tests: free_pid prints a PID that no process, thread,
# process group or session uses now, picked behind the kernel's last PID (at
# a random distance) so that new forks reach it only after a wrap of the
# PID space. The shell form of FreePidBlock in tests/test_support.h.
free_pid() {
  local max last p used tries
  max=$(cat /proc/sys/kernel/pid_max)
  # Task IDs, then each process's group and session (fields 5 and 6 of
  # stat, counted after the command name's closing parenthesis).
  used=" $(ls /proc/[0-9]*/task 2>/dev/null | grep -x '[0-9][0-9]*' | tr '\n' ' ')"
  used+=" $(cat /proc/[0-9]*/stat 2>/dev/null | sed 's/.*) //' | awk '{print $3, $4}' | tr '\n' ' ') "
  last=$(cat /proc/sys/kernel/ns_last_pid)
  p=$((last - 100 - RANDOM % 2000))
  for ((tries = 0; tries < max; tries++, p--)); do
    ((p < 300)) && p=$((max - 1))
    if [[ $used != *" $p "* ]]; then
      echo "$p"
      return 0
    fi
  done
  return 1
}
