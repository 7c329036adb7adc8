// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// What runs in each process of a tree fork-tree creates, from its first
// instruction to its exec (fork_tree.h's T1-T3), and what it reads: the
// plan and the commands as plain data (ChildNode), prepared by crpid
// (fork_tree.cc) before the first creation, and the shared futex words.
//
// ASYNC-SIGNAL-SAFE AND UNINSTRUMENTED ONLY. These processes share crpid's
// memory and TLS block (src/clone_vm.h) and run on stacks no sanitizer
// runtime knows. So fork_tree_child.cc is built without sanitizers in every
// configuration (src/BUILD.bazel: fork_tree_child) and calls nothing but
// itself, exec_check, clone_vm and raw system calls: no libc (a
// sanitizer's runtime interposes memcpy, sigaction, waitpid ...), no
// allocation, no locks, no logging, no std::string, no Result, and no
// inline function of a C++ header that the compiler might leave out of
// line (the linker may then pick an instrumented copy of it): ChildNode
// holds pointers, not vectors. tests/tree_child_calls_test.sh checks the
// built objects for calls to anything else.
#ifndef CRPID_SRC_FORK_TREE_CHILD_H_
#define CRPID_SRC_FORK_TREE_CHILD_H_

#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <ctime>

#include "src/clone_vm.h"

namespace crpid::tree_child {

// Exit status of a tree process that stopped before its command (never
// seen by users: crpid reaps it and reports its own error).
inline constexpr int kAborted = 125;
// An ns_last_pid fork that did not land on its PID.
inline constexpr int kWrongLanding = 124;
inline constexpr int kPhases = 5;  // 0 created, 1 leaders, 2 members, 3 ready, 4 go
inline constexpr int kNsLastPidAttempts = 32;

// What a tree process was doing when it failed (Shared::error_step).
enum Step : int {
  kStepNone,
  kStepCreate,
  kStepSubreaper,
  kStepSetsid,
  kStepLeadGroup,
  kStepJoinGroup,
  kStepCapabilities,
  kStepChdir,
  kStepCommand,
  kStepExec,
  kStepChildEnded,
  kStepPlaceholder,
  kStepEnvironment,
};

struct SharedSlot {
  std::atomic<pid_t> pid;       // written by the process itself at birth
  std::atomic<int> reaped;      // its creator reaps it: never signal it
  std::atomic<int> exec_errno;  // execve failed with this
  std::atomic<int> phases_done; // how many phases it has completed
};

// The one MAP_SHARED mapping every process of the tree shares with crpid
// (also the forked ones of the ns_last_pid fallback).
struct Shared {
  std::atomic<int> phase;
  std::atomic<int> done[kPhases];
  std::atomic<int> expected[kPhases];
  std::atomic<int> aborted;
  std::atomic<int> ns_last_pid_lock;
  // The first failure, filled by whoever set `aborted`.
  int error_node;
  int error_step;
  int error_errno;
  pid_t error_pid;
  SharedSlot slots[1];  // really the number of nodes
};

// One node of the plan (PlanNode, fork_tree.h) and its command, as a tree process reads
// them. Every pointer points into crpid's memory (TreePlan, the commands'
// strings), which crpid changes and frees only once every process has
// exec'd or been reaped. The size grows with the entry, never with crpid's
// environment: the base environment is shared by every node
// (World::base_env), and each envp is built in the process itself right
// before exec.
// As PlanNodeKind (fork_tree.h).
enum class ChildKind { kProcess, kSessionPlaceholder, kGroupPlaceholder };

struct ChildNode {
  ChildKind kind = ChildKind::kProcess;
  pid_t pid = 0;
  pid_t pgid = 0;
  int creator = -1;  // -1: crpid itself
  bool setsid = false;
  bool lead_group = false;
  bool join_group = false;
  bool subreaper = false;
  int group_placeholder = -1;
  const int* early_children = nullptr;  // created before its setsid
  size_t early_children_count = 0;
  const int* children = nullptr;  // created after
  size_t children_count = 0;
  // kClone3: the stack it runs on; the top env_bytes hold its envp.
  ChildStack stack;
  // kProcess only.
  char* const* argv = nullptr;     // NULL-terminated
  // execvp's fallback for a file without #! or ELF header (ENOEXEC):
  // {"/bin/sh", <the resolved path>, argv[1]…}; slot 1 is filled in the child.
  char** shell_argv = nullptr;
  char* const* own_env = nullptr;  // the entry's variables, CRPID_TREE_INDEX
  size_t own_env_count = 0;
  const size_t* overridden = nullptr;  // base_env entries they replace, ascending
  size_t overridden_count = 0;
  const char* cwd = nullptr;   // nullptr: keep crpid's
  const char* path = nullptr;  // PATH of the command's environment
};

// Everything a tree process reads between its creation and its exec.
// Built by crpid before the first creation and never changed after it.
struct World {
  const ChildNode* nodes = nullptr;
  size_t node_count = 0;
  char* const* base_env = nullptr;  // the caller's environment, one copy
  size_t base_env_count = 0;
  Shared* shared = nullptr;
  // ForkMethod::kNsLastPid: each process is forked after a write to
  // ns_last_pid (ns_last_pid_fd); otherwise clone3 CLONE_VM set_tid.
  bool ns_last_pid = false;
  int capability = -1;       // to raise around clone3; -1: none or root
  int ns_last_pid_fd = -1;
  // Signal masks as the kernel's sigset (the first 8 bytes of glibc's).
  uint64_t command_mask = 0;  // each command's mask at exec
  uint64_t tree_mask = 0;     // crpid's while it creates the tree
  // Signals crpid has a handler for (none, but a sanitizer's runtime
  // installs some): blocked around each clone3, reset in the new process.
  uint64_t handled_signals = 0;
  bool ignore_file_size_signal = false;  // SIGXFSZ's action for the commands
  size_t page_size = 0;       // AT_PAGESZ, for CheckExecutable
  // crpid itself: a tree process whose crpid is gone (killed, crashed) or
  // whose setup outlived the deadline ends instead of waiting forever with
  // the capability in its permitted set.
  pid_t coordinator = 0;
  int coordinator_pidfd = -1;  // readable once crpid has exited (5.3+)
  // An eventfd crpid makes readable when it opens "go" (phase 4): a process
  // waits for it and for coordinator_pidfd together, since its death signal
  // is disarmed by then (ProcessMain) and a crpid killed meanwhile wakes no
  // futex.
  int go_fd = -1;
  timespec deadline = {};      // CLOCK_MONOTONIC
  size_t env_bytes = 0;        // kClone3: the top of each stack that holds envp
};

// Creates `node` at its PID. In the creator: its PID, or -errno (EEXIST
// taken, EPERM capability missing, EBUSY lost kNsLastPidAttempts
// ns_last_pid races). kClone3: the new process shares the creator's memory
// and runs the node on its own stack. kNsLastPid: a fork; it returns 0 in
// the new process, which must call TreeProcessMain(w, node).
pid_t CreateNode(const World& w, int node);

// A tree process, from its first instruction to its exec.
[[noreturn]] void TreeProcessMain(const World& w, int node);

// Futex helpers crpid shares with the tree's processes.
void WakeAll(std::atomic<int>* word);
// Waits while *word == value, at most millis. false on timeout.
bool WaitWhile(std::atomic<int>* word, int value, int millis);

// Whether a child of the caller has ended (left to be reaped). A member
// that ns_last_pid made land at a wrong PID (born with CLONE_PARENT, so
// the caller's child) is reaped here and does not count.
bool EndedChild(siginfo_t* info);

// The number of envp pointers a node's command needs, its NULL included.
size_t EnvironmentCount(const World& w, const ChildNode& node);

}  // namespace crpid::tree_child

#endif  // CRPID_SRC_FORK_TREE_CHILD_H_
