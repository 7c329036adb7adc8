// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/clone3.h"

#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif

namespace crpid {

pid_t Clone3WithSetTid(const pid_t* set_tid, size_t count, uint64_t flags) {
  CloneArgsV1 args{};
  args.flags = flags;
  // With CLONE_PARENT the child gets the caller's exit signal; clone3
  // refuses any other (EINVAL).
  args.exit_signal = (flags & CLONE_PARENT) != 0 ? 0 : SIGCHLD;
  args.set_tid = reinterpret_cast<uintptr_t>(set_tid);
  args.set_tid_size = count;
  return static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
}

}  // namespace crpid
