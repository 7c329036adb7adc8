// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// The raw clone3() system call (Linux 5.3; set_tid since 5.5).
#ifndef CRPID_SRC_CLONE3_H_
#define CRPID_SRC_CLONE3_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace crpid {

// struct clone_args up to set_tid_size (CLONE_ARGS_SIZE_VER1, 80 bytes).
// Defined here because glibc 2.36 has no wrapper and older kernel headers
// stop at VER0; passing exactly 80 bytes makes a 5.3/5.4 kernel answer E2BIG
// (set_tid unknown) instead of ignoring the PID.
struct CloneArgsV1 {
  uint64_t flags;
  uint64_t pidfd;
  uint64_t child_tid;
  uint64_t parent_tid;
  uint64_t exit_signal;
  uint64_t stack;
  uint64_t stack_size;
  uint64_t tls;
  uint64_t set_tid;
  uint64_t set_tid_size;
};
static_assert(sizeof(CloneArgsV1) == 80);

// Forks like fork(2) (no shared memory, SIGCHLD on exit) with the PIDs in
// set_tid, innermost namespace first. Returns the child's PID in the caller's
// namespace, 0 in the child, or -1 with errno: ENOSYS no clone3 (< 5.3 or a
// seccomp filter), E2BIG no set_tid (< 5.5), EPERM capability missing in a
// namespace's owning user namespace, EEXIST a PID taken, EINVAL a PID not
// below pid_max or more PIDs than namespace levels.
// `flags`: CLONE_* flags such as CLONE_PARENT (nothing that shares memory).
// Raw syscall: the child must only make async-signal-safe calls, then exec.
pid_t Clone3WithSetTid(const pid_t* set_tid, size_t count, uint64_t flags = 0);

}  // namespace crpid

#endif  // CRPID_SRC_CLONE3_H_
