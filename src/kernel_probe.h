// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Kernel feature probes: each one tries the operation, never trusts version
// numbers (distributions backport; seccomp filters hide syscalls).
#ifndef CRPID_SRC_KERNEL_PROBE_H_
#define CRPID_SRC_KERNEL_PROBE_H_

namespace crpid {

enum class Clone3Support {
  kMissing,   // ENOSYS: kernel < 5.3, or a seccomp filter (Docker's default)
  kNoSetTid,  // E2BIG: clone3 without set_tid (5.3, 5.4)
  kSetTid,    // EINVAL for set_tid = {-1}: set_tid understood (5.5+)
  kBlocked,   // EPERM/EACCES: a seccomp profile or an LSM refused clone3
  kUnknown,   // any other answer (EAGAIN: RLIMIT_NPROC or a pids cgroup
              // exhausted; ENOMEM): the kernel said nothing of set_tid
};

// Calls clone3 with set_tid = {-1}, which no kernel accepts, and reads the
// answer from the errno (CRIU's probe). Creates no process. For kUnknown,
// errno holds the kernel's answer.
Clone3Support ProbeClone3();

const char* Clone3SupportName(Clone3Support support);

}  // namespace crpid

#endif  // CRPID_SRC_KERNEL_PROBE_H_
