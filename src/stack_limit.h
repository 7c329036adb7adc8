// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// The caller's soft stack limit, which the kernel takes from crpid at exec.
//
// Executing a file-capability binary from a process without that capability
// is a secure exec, and the kernel (fs/exec.c, since 4.13) then clamps the
// soft RLIMIT_STACK to _STK_LIM, 8 MiB; the hard limit is kept. Batch scripts
// of Fortran codes run `ulimit -s unlimited`, and the restored job would get
// 8 MiB and crash. crpid gives COMMAND and PROGRAM the caller's soft limit
// back where it can be known:
//  1. CRPID_RLIMIT_STACK, as `ulimit -s` prints it (KiB or "unlimited"): a
//     batch script exports it once and srun carries it to every task, whose
//     parent (slurmstepd) does not have the job's limit;
//  2. otherwise, after a secure exec that left exactly 8 MiB, the parent's
//     soft limit, when the parent is the caller's own process (same user and
//     group ids, so the kernel lets crpid read it with prlimit) with the same
//     hard limit: a shell running crpid as a command.
// Raising the soft limit up to the hard one needs no privilege, so this
// grants nothing the caller did not have.
#ifndef CRPID_SRC_STACK_LIMIT_H_
#define CRPID_SRC_STACK_LIMIT_H_

#include <sys/resource.h>
#include <sys/types.h>

#include <optional>
#include <string_view>

#include "src/result.h"

namespace crpid {

// The kernel's _STK_LIM: the soft stack limit after a secure exec.
inline constexpr rlim_t kSecureExecStackLimit = 8UL << 20;
inline constexpr char kStackLimitVariable[] = "CRPID_RLIMIT_STACK";

// Parses "unlimited" or a number of KiB (`ulimit -s`). kInvalidInput else.
Result<rlim_t> ParseStackLimit(std::string_view text);

// What decides the soft limit; gathered by CallerStackLimit's caller.
struct StackLimitFacts {
  std::optional<std::string_view> variable;  // CRPID_RLIMIT_STACK
  bool secure_exec = false;                  // AT_SECURE
  rlimit own = {};                           // crpid's RLIMIT_STACK now
  std::optional<rlimit> parent;              // the caller's own parent's
};

// The soft limit to set, or nullopt to leave crpid's own. kInvalidInput when
// the variable is malformed or above the hard limit.
Result<std::optional<rlim_t>> CallerStackLimit(const StackLimitFacts& facts);

// Reads the facts for this process and sets its soft RLIMIT_STACK, which
// fork-at's COMMAND and set-mm's PROGRAM inherit. Returns the limit set,
// or nullopt when crpid's own was kept.
Result<std::optional<rlim_t>> RestoreCallerStackLimit();

}  // namespace crpid

#endif  // CRPID_SRC_STACK_LIMIT_H_
