// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// set-mm: run a program in this very process (same PID) so that its exe
// link, argv/env ranges, auxv and code/data/brk fields are exactly those of
// the program, set with prctl(PR_SET_MM, PR_SET_MM_MAP) and its exe_fd.
// Needs CAP_CHECKPOINT_RESTORE (5.9+) or CAP_SYS_ADMIN in the caller's user
// namespace for the exe link. x86_64 and aarch64 (src/machine.h).
#ifndef CRPID_SRC_SET_MM_H_
#define CRPID_SRC_SET_MM_H_

#include <signal.h>

#include <string>
#include <vector>

#include "src/capabilities.h"
#include "src/result.h"

namespace crpid {

struct SetMmRequest {
  std::vector<std::string> command;  // PROGRAM [ARG…]; PROGRAM searched in PATH
  std::string exe;  // the exe link's target; empty: the ELF file loaded
                    // (PROGRAM, or the interpreter of a #! script)
  std::string comm;                  // empty: PROGRAM's base name
  sigset_t signal_mask;              // the mask PROGRAM starts with
  // main()'s argv + argc + 1: the environment as execve laid it on the
  // stack, followed by the kernel's auxv, whose keys PROGRAM gets too.
  const char* const* initial_envp = nullptr;
  CapabilityState capabilities;      // as read at start-up
};

// Asks the kernel to make exe_fd the exe link while crpid's own executable
// is still mapped: EBUSY means the capability and the file were accepted and
// only that mapping stands in the way (which set-mm removes) — Ok. kPermission
// with EPERM (capability missing) or EACCES (file refused) otherwise.
Status ProbeExeChange(int exe_fd, const std::string& exe_path,
                      const CapabilityState& capabilities);

// Checks everything that can be checked — PROGRAM and its interpreter
// (found, regular, executable, not noexec, ELF for this machine), the exe file,
// and the capability, by a PR_SET_MM_MAP probe that the kernel refuses with
// EBUSY only once it has accepted the capability — then hands over to the
// trampoline (trampoline.h), which does not return. Returns only the error
// of a check: kNotFound, kPermission (EPERM: capability; EACCES: file),
// kInvalidInput (not an ELF executable for this machine).
Error RunAsProgram(const SetMmRequest& request);

}  // namespace crpid

#endif  // CRPID_SRC_SET_MM_H_
