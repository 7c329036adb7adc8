// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Waiting for a child the way `timeout` and `unshare --fork` do: forward the
// usual termination signals to it and report its status shell-style.
#ifndef CRPID_SRC_SUPERVISE_H_
#define CRPID_SRC_SUPERVISE_H_

#include <signal.h>
#include <sys/types.h>

#include "src/result.h"

namespace crpid {

// SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2.
sigset_t ForwardedSignals();

// Blocks a set of signals for its lifetime, so that those arriving before a
// child exists stay pending and are forwarded once it does.
class ScopedSignalBlock {
 public:
  explicit ScopedSignalBlock(const sigset_t& signals);
  ~ScopedSignalBlock();
  ScopedSignalBlock(const ScopedSignalBlock&) = delete;
  ScopedSignalBlock& operator=(const ScopedSignalBlock&) = delete;
  // The mask from before, for the child to restore before exec.
  const sigset_t& previous() const { return previous_; }

 private:
  sigset_t previous_;
};

// For --detach: passes the ForwardedSignals() that arrived (blocked) while
// the child was being set up on to it, instead of letting them end crpid
// once they are unblocked after it reported success.
void ForwardPendingSignals(pid_t child);

// Waits until child ends, forwarding ForwardedSignals() to it meanwhile.
// Returns its exit code, or 128 + the signal that killed it.
Result<int> WaitForwardingSignals(pid_t child);

// Shell convention for a wait status: exit code, or 128 + signal number.
int ShellStatus(int wait_status);

// A file size limit (ulimit -f) kills a writer with SIGXFSZ, which would end
// crpid with its temporary files in place and no error line. Ignored, the
// write fails with EFBIG instead, which crpid reports and cleans up after.
// IgnoreFileSizeSignal() (first thing in main) remembers whether the caller
// had SIGXFSZ ignored; RestoreFileSizeSignal() gives COMMAND or PROGRAM the
// caller's disposition back (async-signal-safe: for a child before exec).
void IgnoreFileSizeSignal();
void RestoreFileSizeSignal();
// Whether the caller had SIGXFSZ ignored (for a child that restores it
// with a raw system call).
bool CallerIgnoredFileSizeSignal();

}  // namespace crpid

#endif  // CRPID_SRC_SUPERVISE_H_
