// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/supervise.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace crpid {
namespace {

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
                              SIGUSR2};

volatile sig_atomic_t g_forward_to = 0;
// SIGXFSZ's disposition when crpid started: SIG_IGN or SIG_DFL (a handler
// cannot survive the exec that started crpid).
bool g_caller_ignored_sigxfsz = false;

// A signal the kernel sent to the whole foreground process group (Ctrl-C,
// Ctrl-\, a hangup: si_code SI_KERNEL) has reached the child too: passing it
// on would deliver it twice.
void ForwardSignal(int signal_number, siginfo_t* info, void*) {
  const int saved_errno = errno;
  if (g_forward_to > 0 && info->si_code != SI_KERNEL) {
    ::kill(g_forward_to, signal_number);
  }
  errno = saved_errno;
}

}  // namespace

sigset_t ForwardedSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int signal_number : kForwarded) sigaddset(&set, signal_number);
  return set;
}

ScopedSignalBlock::ScopedSignalBlock(const sigset_t& signals) {
  ::sigprocmask(SIG_BLOCK, &signals, &previous_);
}

ScopedSignalBlock::~ScopedSignalBlock() {
  ::sigprocmask(SIG_SETMASK, &previous_, nullptr);
}

int ShellStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 125;
}

void ForwardPendingSignals(pid_t child) {
  const sigset_t forwarded = ForwardedSignals();
  const timespec no_wait = {0, 0};
  siginfo_t info;
  for (int signal_number; (signal_number = ::sigtimedwait(&forwarded, &info, &no_wait)) > 0;) {
    if (info.si_code != SI_KERNEL) ::kill(child, signal_number);
  }
}

Result<int> WaitForwardingSignals(pid_t child) {
  g_forward_to = child;
  struct sigaction forward = {};
  forward.sa_sigaction = ForwardSignal;
  forward.sa_flags = SA_RESTART | SA_SIGINFO;
  sigemptyset(&forward.sa_mask);
  for (int signal_number : kForwarded) {
    ::sigaction(signal_number, &forward, nullptr);
  }
  sigset_t forwarded = ForwardedSignals();
  ::sigprocmask(SIG_UNBLOCK, &forwarded, nullptr);
  // Wait without reaping, stop forwarding, then reap: the PID cannot be
  // reused by another process while a signal might still be sent to it.
  siginfo_t exited = {};
  int waited;
  do {
    waited = ::waitid(P_PID, static_cast<id_t>(child), &exited, WEXITED | WNOWAIT);
  } while (waited < 0 && errno == EINTR);
  const int err = errno;
  ::sigprocmask(SIG_BLOCK, &forwarded, nullptr);
  g_forward_to = 0;
  if (waited < 0) {
    return SystemError(err, "waitid " + std::to_string(child));
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return ShellStatus(status);
}

void IgnoreFileSizeSignal() {
  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction previous = {};
  if (::sigaction(SIGXFSZ, &ignore, &previous) == 0) {
    g_caller_ignored_sigxfsz = previous.sa_handler == SIG_IGN;
  }
}

bool CallerIgnoredFileSizeSignal() { return g_caller_ignored_sigxfsz; }

void RestoreFileSizeSignal() {
  struct sigaction caller = {};
  caller.sa_handler = g_caller_ignored_sigxfsz ? SIG_IGN : SIG_DFL;
  ::sigaction(SIGXFSZ, &caller, nullptr);
}

}  // namespace crpid
