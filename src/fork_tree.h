// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Recreating a recorded process tree at its PIDs, with its parentage,
// process groups and sessions, then running a command in every process.
//
// Every process of the tree starts as a small crpid-controlled process
// that shares crpid's memory until it execs (clone3 CLONE_VM, on a stack
// crpid mapped before the first creation: src/clone_vm.h says why that is
// sound), so it reads the plan crpid computed and copies nothing; it
// allocates nothing and makes only raw system calls, which leave errno
// (shared too) alone. A fork would copy the address space, and the
// kernel would link each copy to every ancestor's anon_vma: O(depth) per
// process. Its parent creates it with clone3 set_tid (or the ns_last_pid
// fallback, which still forks: a copy of crpid's memory per process, so
// that a deep chain's setup still grows with depth² there); it then
// creates its own children, calls setsid and joins its group when the coordinator (crpid, a child
// subreaper) says so, and execs its command only once every process is in
// place. They synchronize through one shared anonymous mapping (futexes):
// no descriptor per process.
//
// Privilege phases of a tree process (those of crpid are capabilities.h's):
//  T1. Born from clone3 with CAP_CHECKPOINT_RESTORE effective (its creator
//      raised it for the call): it lowers the effective set first thing,
//      keeping the capability only in its permitted set. Its credentials
//      are its own (sharing the mm shares no credentials), so T1-T3 are
//      as they were with fork.
//  T2. It raises the capability around each clone3 (or ns_last_pid write)
//      that creates one of its children or placeholders, and lowers it after.
//  T3. After its last creation it empties every set (permitted, effective,
//      inheritable, ambient), root included; setsid, setpgid, chdir, the
//      command's lookup and exec all happen without any capability.
// Between its creation and its exec a tree process runs only the code of
// fork_tree_child.cc, built without sanitizers, and makes only
// async-signal-safe calls (raw syscalls on memory prepared before the
// first creation, which crpid neither changes nor frees until every
// process has exec'd or been reaped; a setup whose deadline passes before
// every command started is killed whole for that reason).
//
// Placeholders: a session or group whose leader is not in the tree gets a
// process at the leader's PID, as CRIU does. A session placeholder is
// created by the recorded parent of the session's first members (crpid for
// the root), calls setsid, creates those members (CLONE_PARENT: born as
// its creator's children, so they die with it from their first
// instruction) and exits; its creator reaps it and is made a
// child subreaper (crpid is one anyway; a tree process keeps the attribute
// across exec, as the original must have had it). A group placeholder is
// created by the group's first member, calls setpgid(0, 0), stays until
// every member has joined, then exits and is reaped by that member before
// any command runs.
#ifndef CRPID_SRC_FORK_TREE_H_
#define CRPID_SRC_FORK_TREE_H_

#include <signal.h>
#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "src/capabilities.h"
#include "src/fork_at.h"
#include "src/process_tree.h"
#include "src/result.h"

namespace crpid {

// The environment variable each command finds its entry's index in.
inline constexpr char kTreeIndexVariable[] = "CRPID_TREE_INDEX";

enum class PlanNodeKind { kProcess, kSessionPlaceholder, kGroupPlaceholder };

struct PlanNode {
  PlanNodeKind kind = PlanNodeKind::kProcess;
  pid_t pid = 0;
  pid_t sid = 0;
  pid_t pgid = 0;
  int tree_index = -1;     // kProcess: its entry in ProcessTree::processes
  int creator = -1;        // node that creates it; -1: crpid itself
  bool setsid = false;     // leads its session
  bool lead_group = false; // setpgid(0, 0) once all exist
  bool join_group = false; // setpgid(0, pgid) once the leaders have
  bool subreaper = false;  // adopts members a session placeholder made
  std::vector<int> early_children;  // created before its setsid
  std::vector<int> children;        // created after (placeholders included)
  int group_placeholder = -1;       // the placeholder it creates, if any
};

struct TreePlan {
  std::vector<PlanNode> nodes;
  std::vector<int> top;  // created by crpid: the root or its session's placeholder
  int root = -1;         // the root's node
};

// What the plan depends on besides the file.
struct TreePlanFacts {
  pid_t own_sid = 0;   // crpid's session: a root may stay in it
  pid_t own_pgid = 0;  // crpid's group, likewise
  // crpid's own PID, which no entry or placeholder can have while crpid
  // runs (0: not checked, for --check, whose run ends before the restore).
  pid_t own_pid = 0;
  long pid_max = 32768;
  // Whether a PID is used outside the tree now, and by whom ("PID 42 (held
  // by 'bash')"): a leader that is gone gets a placeholder, one that lives
  // elsewhere cannot be honored.
  std::function<bool(pid_t)> pid_in_use;
  std::function<std::string(pid_t)> describe;
};

// Checks that every PID, session and group of the tree can be recreated as
// recorded, and decides who creates whom. kInvalidInput (kBusy when an
// outside process holds a needed leader PID) with one line naming the PID.
Result<TreePlan> PlanTree(const ProcessTree& tree, const TreePlanFacts& facts);

// The PIDs restoring the tree takes: its processes' and the placeholders'
// (leaders of its sessions and groups that are not in the tree), lowest
// first, for --wait and --check. Errors: PlanTree's, apart from PIDs in use
// (crpid's own among them only when refuse_own_pid: a --wait would wait for
// ever for the PID of the crpid that waits).
Result<std::vector<pid_t>> PidsTreeNeeds(const ProcessTree& tree, bool refuse_own_pid);

// The facts of crpid itself (its session, group and PID, kernel.pid_max),
// without pid_in_use and describe. Errors: ReadPidMax's.
Result<TreePlanFacts> OwnPlanFacts();

struct ForkTreeRequest {
  ProcessTree tree;
  ForkMethod method = ForkMethod::kAuto;
  std::vector<std::string> environment;  // the commands' base environment
  sigset_t command_signal_mask;          // each command's mask at exec
  CapabilityState capabilities;          // as read at start-up
  // Ends a setup with no progress for this long, or that takes longer;
  // 0: 30 s without progress, or 60 s + 100 ms per process in all.
  int setup_timeout_seconds = 0;
};

struct RestoredTree {
  pid_t root = 0;
  size_t processes = 0;
  size_t placeholders = 0;
  ForkMethod method = ForkMethod::kClone3;
};

// Builds the whole tree; on success every command has been exec'd and crpid
// (a child subreaper from now on) holds no capability. On any failure every
// process created so far has been killed and reaped, no command ran (an
// exec failure after the start kills and reaps the whole tree), and the
// error names the PID: kBusy (a PID taken: "PID N is held by process 'x'
// (uid U)", as DescribeHolder says), kPermission (EPERM: capability
// missing), kUnsupported, kInvalidInput (the plan), kNotFound/kPermission for a command or cwd
// (err ENOENT/EACCES: the caller exits 127/126).
Result<RestoredTree> ForkTree(const ForkTreeRequest& request);

// Waits until every process of the tree (and whatever it left to crpid) has
// ended, forwarding SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to
// the root (to every remaining child of crpid once the root has ended), and
// returns the root's status shell-style. Signals in ForwardedSignals() must
// be blocked by the caller.
Result<int> WaitForTree(pid_t root);

}  // namespace crpid

#endif  // CRPID_SRC_FORK_TREE_H_
