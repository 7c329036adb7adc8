// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// A process tree as `crpid tree save` records it and `crpid fork-tree`
// recreates it: PIDs, parentage, process groups, sessions and what each
// process ran. Read from /proc with no capability; written and read as JSON
// (format "crpid-process-tree", version 1).
#ifndef CRPID_SRC_PROCESS_TREE_H_
#define CRPID_SRC_PROCESS_TREE_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/result.h"

namespace crpid {

inline constexpr char kProcessTreeFormat[] = "crpid-process-tree";
inline constexpr int kProcessTreeVersion = 1;

// Bounds on what a tree file may hold: the file is the user's, and
// fork-tree builds its plan from it before anything is created.
inline constexpr size_t kMaxTreeFileBytes = 64u << 20;
inline constexpr size_t kMaxTreeProcesses = 16384;
inline constexpr size_t kMaxArgvEntries = 65536;
inline constexpr size_t kMaxArgvBytes = 2u << 20;  // per process, argv + env
inline constexpr size_t kMaxPathBytes = 4095;      // PATH_MAX - 1
inline constexpr size_t kMaxEnvEntries = 4096;

struct TreeProcess {
  pid_t pid = 0;              // as the reader's /proc numbers it
  std::vector<pid_t> nspid;   // NSpid of /proc/PID/status, outermost first
  pid_t ppid = 0;
  pid_t pgid = 0;
  pid_t sid = 0;
  // Real uid. nullopt: the file gives none (an entry written by hand).
  std::optional<uid_t> uid;
  char state = '?';           // R, S, D, Z…: a zombie has no argv
  std::string comm;
  std::vector<std::string> argv;  // empty: unreadable, zombie, kernel thread
  std::optional<std::string> cwd;  // nullopt: /proc refused it
  std::optional<std::string> exe;
  int threads = 1;            // recorded only: a fresh command starts one
  uint64_t start_time = 0;    // clock ticks after boot
  // fork-tree input: the command to run instead of argv, and variables
  // added to the environment. Never filled by tree save.
  std::optional<std::vector<std::string>> command;
  std::vector<std::string> env;
  // What /proc refused to tell, e.g. {"cwd", "exe"} for another user's
  // process: tree save says so instead of failing.
  std::vector<std::string> unreadable;
};

struct ProcessTree {
  pid_t root = 0;
  // Parents before their children (depth first, children by PID).
  std::vector<TreeProcess> processes;
};

// Reads the tree rooted at root from /proc (which must be procfs and show
// the caller's PID namespace). The tree is read, its details gathered, and
// read again; the answer is given only if both reads show the same
// processes (PID and start time) with the same parent, group, session and
// comm, else it retries up to `attempts` times and fails with kBusy, so a
// tree that never existed is never returned. kNotFound: no such root.
Result<ProcessTree> ReadProcessTree(pid_t root, int attempts = 5);

// The JSON text of a tree (with a trailing newline).
std::string ProcessTreeToJson(const ProcessTree& tree);

// Parses and validates a tree file's text: format and version, every
// field's type and range, the bounds above, no duplicate PIDs, the root
// present and every other process's parent in the tree, no parent cycle.
// kInvalidInput with one line naming the first problem.
Result<ProcessTree> ParseProcessTree(std::string_view text);

// Entries recorded as another user's processes (uid given and none of
// caller_uids): their argv, cwd and environment were chosen by that user,
// and fork-tree would run them as the caller. caller_uids: the caller's uid
// first, then the same user as the parent user namespace numbers it (a tree
// saved on the host and restored inside `unshare -Ur`). kPermission naming
// the first such entry, its PID and both uids; Ok when every entry is the
// caller's or gives no uid.
Status CheckEntriesAreCallers(const ProcessTree& tree, const std::vector<uid_t>& caller_uids);

// Entries saved inside a nested PID namespace (more than one NSpid): crpid
// recreates PIDs in its own namespace only, so restoring one at its outer
// PID silently drops the namespace. kInvalidInput naming the first such
// entry, its namespace PIDs and what crpid can do instead.
Status CheckNoNestedPidNamespaces(const ProcessTree& tree);

// The command an entry runs: `command` if given, else the recorded argv.
const std::vector<std::string>& CommandOf(const TreeProcess& process);

}  // namespace crpid

#endif  // CRPID_SRC_PROCESS_TREE_H_
