// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Creating a process at a chosen PID: clone3() with set_tid (Linux 5.5+), or
// the ns_last_pid + fork fallback. Needs CAP_CHECKPOINT_RESTORE (5.9+; or
// CAP_SYS_ADMIN) in the user namespace owning each target PID namespace.
#ifndef CRPID_SRC_FORK_AT_H_
#define CRPID_SRC_FORK_AT_H_

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "src/capabilities.h"
#include "src/result.h"
#include "src/unique_fd.h"

namespace crpid {

// The kernel's MAX_PID_NS_LEVEL: at most this many PIDs in a set_tid list.
inline constexpr size_t kMaxPidNamespaceLevels = 32;

enum class ForkMethod {
  kAuto,       // clone3 with set_tid; ns_last_pid if the kernel lacks it
  kClone3,     // clone3 with set_tid only
  kNsLastPid,  // write PID-1 to /proc/sys/kernel/ns_last_pid, then fork
};
const char* ForkMethodName(ForkMethod method);

// Parses "PID[,PID…]" (innermost namespace first): decimal digits only,
// 1..INT_MAX each, at most kMaxPidNamespaceLevels. kInvalidInput otherwise.
Result<std::vector<pid_t>> ParsePidList(std::string_view text);

// Checks a parsed list against what this kernel and method accept, before
// anything is created: every PID below pid_max (the caller's namespace's
// value applies to the innermost one), one PID for ns_last_pid, PID 1 only as
// the first process of a new PID namespace.
Status ValidatePidList(const std::vector<pid_t>& pids, ForkMethod method,
                       long pid_max, bool children_in_new_pid_namespace);

// Whether crpid may use its capability on /proc/sys/kernel/ns_last_pid: only
// where clone3 set_tid is missing (the fallback's reason to exist), or in a
// PID namespace whose user namespace the caller created (root on the host,
// `unshare -Urp`). Elsewhere a write would let any user choose the next PID
// of every other user's processes. kInvalidInput when refused.
Status NsLastPidPermitted();

struct ForkAtRequest {
  std::vector<pid_t> pids;           // innermost namespace first
  ForkMethod method = ForkMethod::kAuto;
  std::vector<std::string> command;  // argv; argv[0] is searched in PATH
  std::vector<std::string> environment;  // the command's; empty: environ
  sigset_t child_signal_mask;        // the child's mask at exec
  int max_attempts = 32;             // ns_last_pid: forks before giving up
  CapabilityState capabilities;      // as read at start-up
};

// A child created at the requested PID that has not exec'd yet: it waits
// until Release(). Destroying it unreleased makes the child exit unseen.
class PendingChild {
 public:
  PendingChild(PendingChild&& other) noexcept;
  PendingChild& operator=(PendingChild&&) = delete;
  PendingChild(const PendingChild&) = delete;
  PendingChild& operator=(const PendingChild&) = delete;
  ~PendingChild();

  // The child's PID in the caller's namespace.
  pid_t pid() const { return pid_; }
  ForkMethod method() const { return method_; }
  int attempts() const { return attempts_; }

  // Lets the child exec the command and waits until it has. An exec failure
  // comes back with its errno (ENOENT: not found, EACCES: not executable);
  // the child has then exited with 127 or 126 and must still be reaped.
  // EPIPE: the child was gone (killed) before it was told to exec; it has
  // been reaped and nothing ran.
  Status Release();

 private:
  friend Result<PendingChild> ForkAt(const ForkAtRequest& request);
  friend struct PendingChildMaker;
  PendingChild(pid_t pid, ForkMethod method, int attempts, UniqueFd go,
               UniqueFd report, std::string command_name);
  void Abort();

  pid_t pid_ = -1;
  bool waiting_ = false;  // created, neither released nor aborted
  ForkMethod method_ = ForkMethod::kAuto;
  int attempts_ = 0;
  UniqueFd go_;      // write 'G' to let the child exec
  UniqueFd report_;  // the child's errno if exec fails; EOF once it exec'd
  std::string command_name_;
};

// Creates the child at request.pids and verifies, from the PID the child
// itself reads, that it landed there; the command never starts elsewhere.
// On success every capability of the caller has been dropped (phase 3 in
// capabilities.h). Errors: kBusy (EEXIST, or ns_last_pid raced max_attempts
// times), kPermission (EPERM), kUnsupported (no clone3/set_tid where needed),
// kInvalidInput (EINVAL: PID list too long for the nesting).
Result<PendingChild> ForkAt(const ForkAtRequest& request);

}  // namespace crpid

#endif  // CRPID_SRC_FORK_AT_H_
