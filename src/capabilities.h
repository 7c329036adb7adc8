// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// What crpid holds and the scoped use of CAP_CHECKPOINT_RESTORE.
//
// Privilege phases, in order (every subcommand follows them):
//  1. Start-up: ClearEffective() first thing in main(), so no capability is
//     effective while arguments and /proc are parsed; then RefuseSetuid()
//     and ReadCapabilityState() once.
//     Installed `+ep` or `+p`, the capability then sits only in the permitted
//     set. Root (euid 0) keeps its own sets: the file grants it nothing.
//  2. The one privileged syscall (clone3 with set_tid, the ns_last_pid write,
//     a map_files open, PR_SET_MM_MAP) runs inside a ScopedEffectiveCapability
//     that raises CAP_CHECKPOINT_RESTORE and lowers it again on scope exit.
//  3. As soon as the privileged object exists, DropCapabilitiesForGood()
//     empties every set (permitted, effective, inheritable, ambient); only
//     then are user-chosen paths touched. A forked child calls
//     DropAllCapabilitiesRaw() (async-signal-safe) before anything else,
//     whoever runs crpid, so a command never inherits a capability from it
//     (root's come back from execve itself).
// Nothing read from the environment steers crpid in phases 1 and 2.
#ifndef CRPID_SRC_CAPABILITIES_H_
#define CRPID_SRC_CAPABILITIES_H_

#include <string>

#include "src/result.h"

namespace crpid {

// CAP_CHECKPOINT_RESTORE, Linux 5.9+. Spelled out so crpid builds against
// headers that predate it.
inline constexpr int kCapCheckpointRestore = 40;

struct CapabilityState {
  int cap_last_cap = -1;           // /proc/sys/kernel/cap_last_cap
  bool checkpoint_restore_known = false;  // cap_last_cap >= 40
  bool checkpoint_restore_permitted = false;
  bool checkpoint_restore_in_bounding = false;
  bool sys_admin_permitted = false;
  bool no_new_privs = false;
  // The running binary's own file capability (security.capability) grants
  // CAP_CHECKPOINT_RESTORE in its permitted set.
  bool file_grants_checkpoint_restore = false;
};

// Reads the calling process's capability state. Errors only if /proc or
// capget fail.
Result<CapabilityState> ReadCapabilityState();

// Fails with kPermission if real and effective (or saved) ids differ: crpid
// is installed with a file capability, never setuid/setgid.
Status RefuseSetuid();

// Empties the effective set, keeping permitted (phase 1).
Status ClearEffective();

// Which capability the kernel accepts for checkpoint/restore operations that
// this process can raise: CAP_CHECKPOINT_RESTORE when permitted, else
// CAP_SYS_ADMIN when permitted (root on a pre-5.9 kernel), else -1.
int CheckpointRestoreCapabilityToRaise(const CapabilityState& state);

// Raises one capability in the effective set for the lifetime of the object
// (phase 2). A value of -1, a capability already effective, or a failed
// raise leaves the set alone: the syscall then fails with the kernel's own
// EPERM, which callers explain.
class ScopedEffectiveCapability {
 public:
  explicit ScopedEffectiveCapability(int capability);
  ~ScopedEffectiveCapability();
  ScopedEffectiveCapability(const ScopedEffectiveCapability&) = delete;
  ScopedEffectiveCapability& operator=(const ScopedEffectiveCapability&) =
      delete;
  bool raised() const { return raised_; }

 private:
  int capability_;
  bool raised_ = false;
};

// Empties the permitted, effective, inheritable and ambient sets.
Status DropAllCapabilities();

// Phase 3: gives up for good what crpid's file capability granted, by
// emptying every set. Root (euid 0, also in a user namespace) keeps its
// sets: they are root's own, and root writing its output without
// CAP_DAC_OVERRIDE would only fail where root expects to succeed.
Status DropCapabilitiesForGood();

// The same with raw syscalls, for a child between fork and exec. Returns 0 or
// an errno value.
int DropAllCapabilitiesRaw();

// Why CAP_CHECKPOINT_RESTORE cannot be used, most fundamental reason first.
enum class CapabilityProblem {
  kNone,               // permitted: an EPERM has another cause
  kUnknownToKernel,    // kernel older than 5.9 without kernel-patch/
  kNotInBoundingSet,   // e.g. Docker's default set; file caps are capped by it
  kNoNewPrivs,         // file capability set, but no_new_privs is on
  kFileCapabilityIgnored,  // file capability set, not granted (nosuid mount)
  kNotPermitted,       // the binary lacks `setcap cap_checkpoint_restore+ep`
};
CapabilityProblem DiagnoseCapability(const CapabilityState& state);

// The path of the running binary (/proc/self/exe), for the setcap remedy.
std::string SelfExecutablePath();

}  // namespace crpid

#endif  // CRPID_SRC_CAPABILITIES_H_
