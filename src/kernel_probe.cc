// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/kernel_probe.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "src/clone3.h"

namespace crpid {

Clone3Support ProbeClone3() {
  const pid_t invalid_tid = -1;
  pid_t pid = Clone3WithSetTid(&invalid_tid, 1);
  if (pid == 0) _exit(0);  // unreachable: -1 is never a valid PID
  if (pid > 0) {
    ::waitpid(pid, nullptr, 0);
    return Clone3Support::kSetTid;
  }
  if (errno == ENOSYS) return Clone3Support::kMissing;
  if (errno == E2BIG) return Clone3Support::kNoSetTid;
  if (errno == EINVAL) return Clone3Support::kSetTid;
  if (errno == EPERM || errno == EACCES) return Clone3Support::kBlocked;
  return Clone3Support::kUnknown;
}

const char* Clone3SupportName(Clone3Support support) {
  switch (support) {
    case Clone3Support::kMissing:
      return "no clone3";
    case Clone3Support::kNoSetTid:
      return "clone3 without set_tid";
    case Clone3Support::kSetTid:
      return "clone3 with set_tid";
    case Clone3Support::kBlocked:
      return "clone3 refused before set_tid was read (seccomp or an LSM)";
    case Clone3Support::kUnknown:
      return "clone3 failed before set_tid was read (process limit or memory)";
  }
  return "unknown";
}

}  // namespace crpid
