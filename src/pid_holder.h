// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// What holds a PID: a live process, a zombie its parent has not reaped, a
// thread of another process, or the process-group or session ID of live or
// zombie processes (the kernel keeps a PID allocated while any task uses it
// as its PID, thread-group, group or session ID). Read from a /proc root
// given by the caller, so that snapshots built in a directory can stand in
// for the kernel's in unit tests. Needs no capability; /proc's contents are
// treated as hostile (any comm byte, truncated files).
#ifndef CRPID_SRC_PID_HOLDER_H_
#define CRPID_SRC_PID_HOLDER_H_

#include <signal.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "src/result.h"

namespace crpid {

inline constexpr char kProcRoot[] = "/proc";
// Group and session members named in a description; the rest are counted.
inline constexpr size_t kNamedMembers = 3;

enum class PidHolderKind {
  kFree,
  kProcess,         // a live (or exiting) process has the PID
  kZombie,          // a zombie its parent has not reaped
  kThread,          // a thread (not the leader) of another process
  kGroupOrSession,  // no task has it, but it is a pgid or sid of some
  kUnknown,         // in use, but this /proc is another PID namespace's
};

struct HolderProcess {
  pid_t pid = 0;
  std::string comm;          // as the kernel has it (any byte but NUL)
  char state = '?';          // /proc/PID/stat's: R, S, D, Z, …
  std::optional<uid_t> uid;  // real uid, where /proc/PID/status shows it
};

struct PidHolder {
  pid_t pid = 0;
  PidHolderKind kind = PidHolderKind::kFree;
  // kProcess, kZombie: the process itself; kThread: its thread group leader.
  HolderProcess process;
  // kZombie: the parent that has not reaped it (pid 0 when unknown).
  HolderProcess parent;
  // kGroupOrSession: which IDs, and the members, lowest PIDs first.
  bool as_pgid = false;
  bool as_sid = false;
  std::vector<HolderProcess> members;  // at most kNamedMembers
  size_t member_count = 0;

  bool free() const { return kind == PidHolderKind::kFree; }
};

// What holds each of pids, in their order, under proc_root ("/proc", or a
// snapshot directory laid out like it: N/stat, N/status). A PID with no
// entry of its own costs nothing more than the others: one pass over
// proc_root/*/stat answers all of them at once. Never fails: what cannot be
// read is left out of the description.
std::vector<PidHolder> FindPidHolders(const std::vector<pid_t>& pids,
                                      const std::string& proc_root = kProcRoot);

// The same for one PID, from the caller's /proc; kUnknown (when in use)
// where that /proc shows another PID namespace than the caller's.
PidHolder FindPidHolder(pid_t pid);

// "free", or what holds it: "held by process 'sleep' (uid 1000)", "held by
// a zombie of 'sh' (uid 0) that its parent, PID 90 'bash', has not reaped",
// "held by a thread of PID 80 'java'", "held as the session and
// process-group ID of PID 81 'sleep' (uid 0), … and 2 more". Comms are shown
// with control bytes and quotes escaped.
std::string HolderText(const PidHolder& holder);

// "PID N is " + HolderText: the fragment one-line errors use.
std::string DescribeHolder(const PidHolder& holder);

// FindPidHolder + DescribeHolder.
std::string DescribePidHolder(pid_t pid);

// What a user can do about a held PID, for an error's hint ("" when free).
std::string HolderRemedy(const PidHolder& holder);

// One word for scripts: "free", "process", "zombie", "thread",
// "group-or-session", "unknown".
const char* HolderKindName(PidHolderKind kind);

struct WaitOutcome {
  std::vector<PidHolder> held;  // what still holds a PID; empty: all free
  int signal = 0;               // the signal that ended the wait, or 0
};

// Waits up to `seconds` until every one of pids is free in the caller's
// /proc. Sleeps in poll(2): on a pidfd (pidfd_open, Linux 5.3+) of each live
// holder, and for at most 100 ms at a time where no pidfd tells (zombies
// waiting to be reaped, a thread, a group of zombies, a kernel without
// pidfd_open). A signal of `stop`, which the caller must have blocked, ends
// the wait (it is consumed and returned). Uses no capability. Errors: only
// signalfd(2)'s.
Result<WaitOutcome> WaitUntilFree(const std::vector<pid_t>& pids, int seconds,
                                  const sigset_t& stop);

}  // namespace crpid

#endif  // CRPID_SRC_PID_HOLDER_H_
