// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Temporaries crpid writes beside a destination and renames over it (tree
// save -o, --pid-file, map-files-dump), and what keeps them from being left
// behind however crpid ends:
//
// - A signal: while a temporary exists, every signal whose default action
//   ends a process is held back (blocked) by a TerminationHold. Writers poll
//   CheckHeldSignals() and, once one has arrived, remove what they wrote and
//   fail with EINTR; when the hold ends, the signal ends crpid as it would
//   have (a shell reports 128+N). Faults the kernel raises itself (a real
//   SIGSEGV) are never held back: it unblocks them to deliver them.
// - SIGKILL, which nothing can hold back: a temporary is named
//   DEST.crpid-tmp-PID.START.PIDNS.XXXXXX after the run that made it (its
//   PID, its start time from /proc/PID/stat, so that a reused PID is not
//   taken for it, and its PID namespace). The next write to DEST removes the
//   temporaries whose maker has ended — only the caller's own files, never
//   through a symlink.
#ifndef CRPID_SRC_TEMPORARIES_H_
#define CRPID_SRC_TEMPORARIES_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "src/result.h"
#include "src/unique_fd.h"

namespace crpid {

// The kernel's signal mask bit for signal n (1..64).
inline constexpr uint64_t SignalBit(int n) { return uint64_t{1} << (n - 1); }

// Every signal whose default action ends the process, SIGKILL aside: HUP INT
// QUIT ILL TRAP ABRT BUS FPE USR1 SEGV USR2 PIPE ALRM TERM STKFLT XCPU XFSZ
// VTALRM PROF IO PWR SYS, and 32..64 (the real-time signals, glibc's two
// internal ones included: unhandled, they end a process too).
uint64_t TerminatingSignals();

// Blocks, for its lifetime, each terminating signal whose action is the
// default and that was not blocked already (one the caller ignores, as
// nohup does SIGHUP, or has blocked, as fork-at does the signals it
// forwards, is not crpid's to act on), with rt_sigprocmask itself: glibc
// refuses to block signals 32 and 33. Holds nest. The destructor restores the mask: a signal
// that arrived meanwhile then ends crpid by its default action.
class TerminationHold {
 public:
  TerminationHold();
  ~TerminationHold();
  TerminationHold(const TerminationHold&) = delete;
  TerminationHold& operator=(const TerminationHold&) = delete;

  // The lowest-numbered signal held back by a live hold that has arrived;
  // 0 if none.
  static int Pending();

 private:
  uint64_t previous_ = 0;
  uint64_t added_ = 0;
};

// Ok while no held signal has arrived; otherwise an error with err EINTR,
// "interrupted by SIGALRM", for the writer to unwind with.
Status CheckHeldSignals();

// "SIGALRM", "SIGRTMIN+3", "SIG32": the signal's name for messages.
std::string SignalName(int signal_number);

// A new regular file DEST.crpid-tmp-…, made with O_EXCL | O_NOFOLLOW and
// mode 0666, so that the umask gives it its mode as open(2) gives a new
// file's (umask 077: 0600).
struct TemporaryFile {
  UniqueFd fd;
  std::string path;
};
Result<TemporaryFile> CreateTemporaryFile(const std::string& destination);

// A new directory DEST.crpid-tmp-… (mode 0700: it holds another process's
// memory).
Result<std::string> CreateTemporaryDirectory(const std::string& destination);

// True when only caller (or root) can rename or remove what directory
// holds: it is caller's or root's, and not writable by group or others
// unless sticky. Elsewhere a name says nothing about who made the entry: a
// member of a group-writable job directory can rename any of the caller's
// directories there to look like an abandoned temporary. Pure.
bool OnlyOwnerRenamesIn(const struct stat& directory, uid_t caller);

// Removes the temporaries of destination (DEST.crpid-tmp-*, and
// DEST.crpid-tmp-*.old where a dump was moved aside) that a crpid run which
// has ended left behind: named by this naming, made in crpid's PID namespace
// by a process that no longer exists with that start time, owned by the
// caller (euid), a regular file or a directory at most two levels deep,
// reached without following symlinks, in a directory where
// OnlyOwnerRenamesIn (elsewhere nothing is removed). An abandoned .old (an
// earlier dump moved aside) goes back to destination when nothing is there.
// Best effort: returns how many it removed or moved back; what it cannot
// judge or remove is left alone.
int RemoveAbandonedTemporaries(const std::string& destination);

// Removes a temporary made by this run (a file, or a directory at most two
// levels deep) without following symlinks. false if something was left.
bool RemoveTemporary(const std::string& path);

// Removes the directory at path with what it holds (directories at most 16
// levels deep), through descriptors and without following symlinks, only
// if it is still the directory `expected` (st_dev, st_ino): where others
// can write the parent, the name may have been given to another of the
// caller's directories meanwhile. false if something was left.
bool RemoveDirectoryIfStill(const std::string& path, const struct stat& expected);

// Writes content to path so that readers see either nothing or all of it:
// a temporary file beside it (CreateTemporaryFile: mode 0666 less the
// umask) renamed over path, written under a TerminationHold and removed when
// a held signal arrives (err EINTR then). Replaces an existing regular file;
// refuses to follow a symlink. Removes abandoned temporaries of path first.
Status WriteFileAtomically(const std::string& path, std::string_view content);

}  // namespace crpid

#endif  // CRPID_SRC_TEMPORARIES_H_
