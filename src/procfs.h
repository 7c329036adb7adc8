// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Small readers of /proc facts about PIDs and PID namespaces.
#ifndef CRPID_SRC_PROCFS_H_
#define CRPID_SRC_PROCFS_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/result.h"

namespace crpid {

// kernel.pid_max of the caller's PID namespace: valid PIDs are 1..pid_max-1.
Result<long> ReadPidMax();

// /proc/PID/comm without the newline. kNotFound if the PID does not exist.
Result<std::string> ReadComm(pid_t pid);

// True when the mounted /proc belongs to the caller's PID namespace, so that
// /proc/N names PID N as the caller numbers it (not so after `unshare -p`
// without --mount-proc).
bool ProcShowsOwnPidNamespace();

// True when a process or thread uses PID in the caller's namespace.
bool PidInUse(pid_t pid);

// True when children are created in the caller's own PID namespace (false
// after `unshare --pid` without --fork: they go into a new one).
bool ChildrenShareOwnPidNamespace();

// The numeric fields of /proc/PID/stat, indexed by their proc(5) number
// (1-based; the pid, comm and state slots 1-3 hold 0). "self" for the
// caller. kNotFound if there is no such process.
Result<std::vector<uint64_t>> ReadStatFields(const std::string& pid);

// What ReadStatFields does with the file's text (its caller's comm, which
// may hold any byte but NUL, is skipped); pid only names it in the error.
// kSystem when no "(comm) state" is found.
Result<std::vector<uint64_t>> ParseStatFields(const std::string& text,
                                              const std::string& pid);

struct ProcessStat {
  char state = '?';            // R, S, D, Z (zombie), …
  bool kernel_thread = false;  // PF_KTHREAD in the flags field
  uint64_t start_time = 0;     // clock ticks after boot: tells PID reuse
};

// The fields ReadProcessStat reports, from ParseStatFields' result.
// kSystem when there are too few.
Result<ProcessStat> ProcessStatOf(const std::vector<uint64_t>& fields,
                                  const std::string& pid);

// Parses /proc/PID/stat. kNotFound if there is no such process.
Result<ProcessStat> ReadProcessStat(pid_t pid);

// readlink of /proc/PID/exe; empty when the kernel refuses or there is none.
std::string ReadExeLink(pid_t pid);

// The environment this process was started with, as execve laid it out
// ([env_start, env_end) of /proc/self/stat). Started with a file
// capability, crpid runs in glibc's secure mode, which removes LD_*, TMPDIR
// and similar variables from `environ`; the programs crpid starts after
// dropping every capability get them back from here.
Result<std::vector<std::string>> InitialEnvironment();

// The caller's real uid as the parent user namespace numbers it (from
// /proc/self/uid_map); the uid itself in the initial namespace. nullopt
// when the map cannot be read or does not map it.
std::optional<uid_t> UidInParentUserNamespace();

// True when the caller runs in a user namespace other than the initial one.
bool InNonInitialUserNamespace();

// Whether the user namespace owning this process's PID namespace (the one
// /proc/sys/kernel/ns_last_pid acts on) was created by the caller's real
// uid: true for root in the initial namespaces and for `unshare -Urp` run
// by the caller; false for an ordinary user on the host, or when the owner is
// outside the caller's user namespace. Errors carry the
// errno of the nsfs ioctls (ENOTTY: kernel < 4.11).
Result<bool> OwnsPidNamespace();

}  // namespace crpid

#endif  // CRPID_SRC_PROCFS_H_
