// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// ASYNC-SIGNAL-SAFE AND UNINSTRUMENTED ONLY (see fork_tree_child.h): runs
// in every tree process between its creation and its exec.
#include "src/fork_tree_child.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "src/exec_check.h"

namespace crpid::tree_child {
namespace {

constexpr int kTreeWaitMillis = 200;

// Every system call a tree process makes is a raw one (src/clone_vm.h):
// it shares crpid's memory, so its errno too, until it execs.
long Futex(std::atomic<int>* word, int op, int value, const timespec* timeout) {
  return RawSyscall(SYS_futex, reinterpret_cast<long>(word), op, value,
                    reinterpret_cast<long>(timeout), 0, 0);
}

}  // namespace

void WakeAll(std::atomic<int>* word) { Futex(word, FUTEX_WAKE, INT_MAX, nullptr); }

bool WaitWhile(std::atomic<int>* word, int value, int millis) {
  const timespec timeout = {millis / 1000, (millis % 1000) * 1000000L};
  return Futex(word, FUTEX_WAIT, value, &timeout) != -ETIMEDOUT;
}

bool EndedChild(siginfo_t* info) {
  for (;;) {
    RawZero(info, sizeof *info);
    if (RawSyscall(SYS_waitid, P_ALL, 0, reinterpret_cast<long>(info),
                   WEXITED | WNOHANG | WNOWAIT, 0) != 0 ||
        info->si_pid == 0) {
      return false;
    }
    if (info->si_code != CLD_EXITED || info->si_status != kWrongLanding) return true;
    RawSyscall(SYS_wait4, info->si_pid, 0, WNOHANG, 0);
  }
}

namespace {

[[noreturn]] void ExitRaw(int status) {
  for (;;) RawSyscall(SYS_exit_group, status);
}

int SetEffectiveRaw(int capability, bool on) {
  if (capability < 0) return 0;
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  long result = RawSyscall(SYS_capget, reinterpret_cast<long>(&header),
                           reinterpret_cast<long>(data));
  if (RawFailed(result)) return RawErrno(result);
  const unsigned bit = 1u << (capability % 32);
  if (on) {
    data[capability / 32].effective |= bit;
  } else {
    data[capability / 32].effective &= ~bit;
  }
  result = RawSyscall(SYS_capset, reinterpret_cast<long>(&header), reinterpret_cast<long>(data));
  return RawErrno(result);
}

// DropAllCapabilitiesRaw (capabilities.h) with raw system calls: every
// set empty, ambient included. 0 or an errno.
int DropAllCapabilitiesInTree() {
  const long cleared =
      RawSyscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (RawFailed(cleared) && cleared != -EINVAL) return RawErrno(cleared);
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  return RawErrno(
      RawSyscall(SYS_capset, reinterpret_cast<long>(&header), reinterpret_cast<long>(data)));
}

pid_t OwnPid() { return static_cast<pid_t>(RawSyscall(SYS_getpid)); }

// The kernel's struct sigaction for rt_sigaction (x86_64 and aarch64 alike).
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  uint64_t mask;
};

// To SIG_DFL or SIG_IGN, which cannot fail for a catchable signal.
void SetSignalAction(int signal_number, void (*handler)(int)) {
  KernelSigaction action = {handler, 0, nullptr, 0};
  RawSyscall(SYS_rt_sigaction, signal_number, reinterpret_cast<long>(&action), 0,
             sizeof action.mask);
}

void SetSignalMask(uint64_t mask) {
  RawSyscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&mask), 0, sizeof mask);
}

// The signals with a handler of crpid's (World::handled_signals) back to
// their default action: a handler is crpid code, which must not run in a
// tree process (it would run on this stack, in crpid's memory and TLS).
// They arrive blocked (CreateNode) and are unblocked only after.
void DropCrpidHandlers(const World& w) {
  if (w.handled_signals == 0) return;
  for (int n = 1; n <= 64; ++n) {
    if ((w.handled_signals & (uint64_t{1} << (n - 1))) != 0) SetSignalAction(n, SIG_DFL);
  }
  SetSignalMask(w.tree_mask);
}

// Whether crpid is gone or the setup deadline has passed.
bool Abandoned(const World& w) {
  if (w.coordinator_pidfd >= 0) {
    pollfd exited = {w.coordinator_pidfd, POLLIN, 0};
    const timespec now = {0, 0};
    if (RawSyscall(SYS_ppoll, reinterpret_cast<long>(&exited), 1,
                   reinterpret_cast<long>(&now), 0, 0) > 0) {
      return true;
    }
  } else if (RawSyscall(SYS_kill, w.coordinator, 0) == -ESRCH) {
    return true;
  }
  // The system call, not glibc's vDSO wrapper (a sanitizer interposes it).
  timespec now = {};
  RawSyscall(SYS_clock_gettime, CLOCK_MONOTONIC, reinterpret_cast<long>(&now));
  return now.tv_sec > w.deadline.tv_sec ||
         (now.tv_sec == w.deadline.tv_sec && now.tv_nsec >= w.deadline.tv_nsec);
}

// A tree process that must not go on (its crpid or creator is gone, or the
// setup was abandoned) empties every capability set, then ends: it creates
// nothing. Also what a process stopped before its first instruction does
// once it runs again.
[[noreturn]] void GiveUp() {
  DropAllCapabilitiesInTree();
  ExitRaw(kAborted);
}

// Records the first failure, wakes crpid and every waiter, and ends.
[[noreturn]] void Fail(const World& w, int node, Step step, int err, pid_t pid) {
  Shared* s = w.shared;
  int expected = 0;
  if (s->aborted.compare_exchange_strong(expected, 1)) {
    s->error_node = node;
    s->error_step = step;
    s->error_errno = err;
    s->error_pid = pid;
    s->aborted.store(2);
  }
  for (auto& done : s->done) WakeAll(&done);
  WakeAll(&s->phase);
  ExitRaw(kAborted);
}

void MarkDone(const World& w, int node, int phase) {
  Shared* s = w.shared;
  s->slots[node].phases_done.store(phase + 1);
  if (s->done[phase].fetch_add(1) + 1 == s->expected[phase].load()) {
    WakeAll(&s->done[phase]);
  }
}

// Sleeps while *word == value, until the tree's deadline (absolute, so
// that a process woken often still ends on time). false once it passed.
bool SleepWhile(const World& w, std::atomic<int>* word, int value) {
  const long r = RawSyscall(SYS_futex, reinterpret_cast<long>(word), FUTEX_WAIT_BITSET, value,
                            reinterpret_cast<long>(&w.deadline), 0, FUTEX_BITSET_MATCH_ANY);
  return r != -ETIMEDOUT;
}

// Waits for crpid to open `phase`, asleep until woken: no process of the
// tree runs while it waits, whatever the tree's size (a process that
// polled would cost every waiting process a wake-up per period). A tree
// process ends if crpid dies (PR_SET_PDEATHSIG along the whole tree), the
// setup is aborted (woken), or the deadline passes; crpid itself notices a
// process that ends meanwhile (ReportEndedProcess).
void WaitPhase(const World& w, int node, int phase) {
  Shared* s = w.shared;
  for (;;) {
    if (s->aborted.load() != 0) ExitRaw(kAborted);
    if (w.ns_last_pid) {
      siginfo_t info;
      (void)EndedChild(&info);  // reaps the members that landed wrong
    }
    const int now = s->phase.load();
    if (now >= phase) return;
    if (!SleepWhile(w, &s->phase, now) || Abandoned(w)) GiveUp();
  }
  (void)node;
}

// Waits for "go" (phase 4). The process has disarmed PR_SET_PDEATHSIG
// (ProcessMain), so a crpid killed now would not end it, and nobody would
// wake a futex: it sleeps on crpid's pidfd and the go eventfd together and
// gives up the moment crpid has exited. Without a pidfd (before 5.3: the
// ns_last_pid method only), it looks at crpid once a second.
void WaitGo(const World& w) {
  Shared* s = w.shared;
  for (;;) {
    if (s->aborted.load() != 0) ExitRaw(kAborted);
    if (w.ns_last_pid) {
      siginfo_t info;
      (void)EndedChild(&info);  // reaps the members that landed wrong
    }
    if (s->phase.load() >= kPhases - 1) return;
    if (Abandoned(w)) GiveUp();
    timespec now = {};
    RawSyscall(SYS_clock_gettime, CLOCK_MONOTONIC, reinterpret_cast<long>(&now));
    timespec left = {w.deadline.tv_sec - now.tv_sec, w.deadline.tv_nsec - now.tv_nsec};
    if (left.tv_nsec < 0) {
      left.tv_nsec += 1000000000L;
      --left.tv_sec;
    }
    if (w.coordinator_pidfd < 0 && left.tv_sec >= 1) left = {1, 0};
    pollfd ready[2] = {{w.go_fd, POLLIN, 0}, {w.coordinator_pidfd, POLLIN, 0}};
    RawSyscall(SYS_ppoll, reinterpret_cast<long>(ready), 2, reinterpret_cast<long>(&left), 0, 0);
  }
}

void LockNsLastPid(const World& w, int node) {
  std::atomic<int>* lock = &w.shared->ns_last_pid_lock;
  for (;;) {
    int expected = 0;
    if (lock->compare_exchange_strong(expected, 1)) return;
    if (w.shared->aborted.load() != 0 || Abandoned(w)) GiveUp();
    WaitWhile(lock, 1, kTreeWaitMillis);
    (void)node;
  }
}

void UnlockNsLastPid(const World& w) {
  w.shared->ns_last_pid_lock.store(0);
  Futex(&w.shared->ns_last_pid_lock, FUTEX_WAKE, 1, nullptr);
}

// Decimal text of value into buf (no allocation); returns the length.
size_t FormatDecimal(long value, char* buf) {
  char digits[24];
  size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0);
  for (size_t i = 0; i < n; ++i) buf[i] = digits[n - 1 - i];
  return n;
}

// The process a new tree process must die with until it execs: its creator,
// or, for a member a session placeholder creates (born with CLONE_PARENT),
// the placeholder's creator; crpid for the top.
pid_t ParentAtBirth(const World& w, int node) {
  int parent = w.nodes[node].creator;
  if (parent >= 0 && w.nodes[parent].kind == ChildKind::kSessionPlaceholder) {
    parent = w.nodes[parent].creator;
  }
  return parent < 0 ? w.coordinator : w.nodes[parent].pid;
}

// The first instructions of every tree process (T1): lower the capability
// its creator raised for clone3, then be killed with its parent until it
// execs, so that a tree whose crpid or creator was killed mid-setup (even
// while stopped) does not linger. A parent that died before prctl is seen
// by getppid.
void StartNode(const World& w, int node) {
  if (SetEffectiveRaw(w.capability, false) != 0) GiveUp();
  DropCrpidHandlers(w);
  w.shared->slots[node].pid.store(OwnPid());
  if (RawSyscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) GiveUp();
  if (static_cast<pid_t>(RawSyscall(SYS_getppid)) != ParentAtBirth(w, node)) GiveUp();
  if (w.shared->aborted.load() != 0 || Abandoned(w)) GiveUp();
}

// A session placeholder's members are born as children of the
// placeholder's creator (CLONE_PARENT): the parent the recorded tree shows,
// which they can die with from their first instruction, where a member
// born to the placeholder would be orphaned when it exits.
uint64_t CloneFlags(const World& w, int node) {
  const int creator = w.nodes[node].creator;
  return creator >= 0 && w.nodes[creator].kind == ChildKind::kSessionPlaceholder
             ? CLONE_PARENT
             : 0;
}

// Where a process created with clone3 starts, on its own stack (crpid's
// StackArena) in crpid's memory: it never returns.
int NodeEntry(void* world, long node) {
  const World& w = *static_cast<const World*>(world);
  StartNode(w, static_cast<int>(node));
  TreeProcessMain(w, static_cast<int>(node));
}

// The region of node's stack that holds its command's envp.
char** EnvironmentArea(const World& w, int node) {
  const ChildStack region = w.nodes[node].stack;
  return reinterpret_cast<char**>(region.base + region.size - w.env_bytes);
}

}  // namespace

// kClone3: the new process runs NodeEntry. kNsLastPid: in the new process,
// after StartNode, 0: it continues on (its copy of) the creator's stack at
// the creator's depth (see TreeProcessMain).
pid_t CreateNode(const World& w, int node) {
  const pid_t target = w.nodes[node].pid;
  const uint64_t flags = CloneFlags(w, node);
  if (!w.ns_last_pid) {
    if (int err = SetEffectiveRaw(w.capability, true); err != 0) return -err;
    ChildStack stack = w.nodes[node].stack;
    stack.size -= w.env_bytes;
    if (w.handled_signals != 0) SetSignalMask(w.tree_mask | w.handled_signals);
    const long pid = Clone3VmWithSetTid(&target, 1, flags, stack, NodeEntry,
                                        const_cast<World*>(&w), node);
    if (w.handled_signals != 0) SetSignalMask(w.tree_mask);
    if (SetEffectiveRaw(w.capability, false) != 0) GiveUp();
    // crpid can kill it even if it never runs its first instruction.
    if (pid > 0) w.shared->slots[node].pid.store(static_cast<pid_t>(pid));
    return static_cast<pid_t>(pid);
  }
  // ns_last_pid: crpid holds the flock; the tree's processes take turns
  // through a lock in the shared mapping, since they create concurrently.
  LockNsLastPid(w, node);
  char text[24];
  const size_t length = FormatDecimal(target - 1, text);
  for (int attempt = 0; attempt < kNsLastPidAttempts; ++attempt) {
    int err = SetEffectiveRaw(w.capability, true);
    if (err == 0) {
      err = RawErrno(RawSyscall(SYS_pwrite64, w.ns_last_pid_fd, reinterpret_cast<long>(text),
                                static_cast<long>(length), 0));
    }
    if (SetEffectiveRaw(w.capability, false) != 0) GiveUp();
    if (err != 0) {
      UnlockNsLastPid(w);
      return -err;
    }
    // A fork: no new stack, so the child returns from the raw call as its
    // creator does, on its copy of the creator's stack.
    const long forked = RawSyscall(SYS_clone, static_cast<long>(flags | SIGCHLD), 0, 0, 0, 0);
    const pid_t pid = RawFailed(forked) ? -1 : static_cast<pid_t>(forked);
    if (pid == 0) {
      if (OwnPid() != target) {
        DropAllCapabilitiesInTree();
        ExitRaw(kWrongLanding);
      }
      StartNode(w, node);
      return 0;
    }
    if (pid < 0 || pid == target) {
      if (pid > 0) w.shared->slots[node].pid.store(pid);
      UnlockNsLastPid(w);
      return pid > 0 ? pid : static_cast<pid_t>(forked);
    }
    // A member that landed wrong is its grandparent's child: that one reaps
    // it (ReapWrongLandings).
    if (flags == 0) {
      while (RawSyscall(SYS_wait4, pid, 0, 0, 0) == -EINTR) {
      }
    }
    // Held by a process, or (the fork skipped it) as a group ID.
    const long held = RawSyscall(SYS_kill, target, 0);
    const long group_held = RawSyscall(SYS_kill, -target, 0);
    if (held == 0 || held == -EPERM || group_held == 0 || group_held == -EPERM) {
      UnlockNsLastPid(w);
      return -EEXIST;
    }
  }
  UnlockNsLastPid(w);
  return -EBUSY;
}

namespace {

pid_t CreateOrFail(const World& w, int creator, int node) {
  const pid_t pid = CreateNode(w, node);
  if (pid < 0) Fail(w, creator, kStepCreate, -pid, w.nodes[node].pid);
  return pid;
}

// Reaps a placeholder this process created; its failure is the tree's.
void ReapPlaceholder(const World& w, int creator, int placeholder) {
  w.shared->slots[placeholder].reaped.store(1);
  int status = 0;
  const pid_t pid = w.nodes[placeholder].pid;
  // Polled, not blocking: a stopped placeholder must not hold its creator
  // (and the capability it may still have) past crpid's end or the deadline.
  for (;;) {
    const long reaped = RawSyscall(SYS_wait4, pid, reinterpret_cast<long>(&status), WNOHANG, 0);
    if (reaped == pid || (RawFailed(reaped) && reaped != -EINTR)) break;
    if (Abandoned(w)) GiveUp();
    WaitWhile(&w.shared->aborted, 0, 20);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (w.shared->aborted.load() != 0) ExitRaw(kAborted);
    Fail(w, creator, kStepPlaceholder, 0, pid);
  }
}

// PATH search like execvp, into out (PATH_MAX bytes). 0 or an errno.
int ResolveCommand(const char* name, const char* path, char* out) {
  const size_t name_length = RawLength(name);
  if (RawFindChar(name, '/') != nullptr) {
    if (name_length >= PATH_MAX) return ENAMETOOLONG;
    RawCopy(out, name, name_length + 1);
    return RawErrno(RawSyscall(SYS_faccessat, AT_FDCWD, reinterpret_cast<long>(out), X_OK));
  }
  if (path == nullptr) path = "/usr/local/bin:/usr/bin:/bin";
  int found = ENOENT;
  for (const char* dir = path;; ++dir) {
    const char* end = RawFindChar(dir, ':');
    const size_t dir_length = end == nullptr ? RawLength(dir) : static_cast<size_t>(end - dir);
    if (dir_length + name_length + 2 < PATH_MAX) {
      size_t at = 0;
      if (dir_length == 0) {
        out[at++] = '.';
      } else {
        RawCopy(out, dir, dir_length);
        at = dir_length;
      }
      out[at++] = '/';
      RawCopy(out + at, name, name_length + 1);
      struct stat st;
      const long stat_result = RawSyscall(SYS_newfstatat, AT_FDCWD, reinterpret_cast<long>(out),
                                          reinterpret_cast<long>(&st), 0);
      if (stat_result == 0 && S_ISREG(st.st_mode)) {
        if (RawSyscall(SYS_faccessat, AT_FDCWD, reinterpret_cast<long>(out), X_OK) == 0) {
          return 0;
        }
        found = EACCES;
      } else if (stat_result == -EACCES) {
        found = EACCES;
      }
    }
    if (end == nullptr) break;
    dir = end;
  }
  return found;
}

// The command's environment, built in the process itself right before
// exec: the base environment's pointers minus what the entry overrides,
// the entry's own variables, CRPID_TREE_INDEX. kClone3: in the top of the
// process's own stack region (crpid unmaps it once every process has
// exec'd); kNsLastPid: in memory the forked process maps (its own, freed
// by exec). nullptr with *err set if mmap fails.
char** BuildEnvironment(const World& w, int node, int* err) {
  const ChildNode& n = w.nodes[node];
  const size_t count = EnvironmentCount(w, n);
  char** envp = nullptr;
  if (!w.ns_last_pid) {
    envp = EnvironmentArea(w, node);
  } else {
    const long memory = RawSyscall(SYS_mmap, 0, static_cast<long>(count * sizeof(char*)),
                                   PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (RawFailed(memory)) {
      *err = RawErrno(memory);
      return nullptr;
    }
    envp = reinterpret_cast<char**>(memory);
  }
  size_t at = 0;
  size_t skip = 0;
  for (size_t i = 0; i < w.base_env_count; ++i) {
    if (skip < n.overridden_count && n.overridden[skip] == i) {
      ++skip;
      continue;
    }
    envp[at++] = w.base_env[i];
  }
  for (size_t i = 0; i < n.own_env_count; ++i) envp[at++] = n.own_env[i];
  envp[at] = nullptr;
  return envp;
}

// Every node function below returns, in a process it has just created, the
// node that process is to become (>= 0); TreeProcessMain then runs that
// node in the same frame. So a process continues where its creator's
// clone3 returned, but at a depth that does not grow with the tree's.
constexpr int kNoNewNode = -1;

int SessionPlaceholderMain(const World& w, int node) {
  const ChildNode& n = w.nodes[node];
  if (long r = RawSyscall(SYS_setsid); RawFailed(r)) Fail(w, node, kStepSetsid, RawErrno(r), n.pid);
  for (size_t i = 0; i < n.children_count; ++i) {
    if (CreateOrFail(w, node, n.children[i]) == 0) return n.children[i];
  }
  if (int err = DropAllCapabilitiesInTree(); err != 0) {
    Fail(w, node, kStepCapabilities, err, n.pid);
  }
  MarkDone(w, node, 0);
  ExitRaw(0);
}

[[noreturn]] void GroupPlaceholderMain(const World& w, int node) {
  const ChildNode& n = w.nodes[node];
  if (int err = DropAllCapabilitiesInTree(); err != 0) {
    Fail(w, node, kStepCapabilities, err, n.pid);
  }
  MarkDone(w, node, 0);
  WaitPhase(w, node, 1);
  if (long r = RawSyscall(SYS_setpgid, 0, 0); r != 0) {
    Fail(w, node, kStepLeadGroup, RawErrno(r), n.pid);
  }
  MarkDone(w, node, 1);
  WaitPhase(w, node, 2);
  MarkDone(w, node, 2);
  WaitPhase(w, node, 3);
  ExitRaw(0);  // every member has joined; the creator reaps this
}

// Creation: children born into the old session, setsid, the others.
int CreateChildren(const World& w, int node) {
  const ChildNode& n = w.nodes[node];
  if (n.subreaper) {
    if (long r = RawSyscall(SYS_prctl, PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); r != 0) {
      Fail(w, node, kStepSubreaper, RawErrno(r), n.pid);
    }
  }
  for (size_t i = 0; i < n.early_children_count; ++i) {
    if (CreateOrFail(w, node, n.early_children[i]) == 0) return n.early_children[i];
  }
  if (n.setsid) {
    if (long r = RawSyscall(SYS_setsid); RawFailed(r)) {
      Fail(w, node, kStepSetsid, RawErrno(r), n.pid);
    }
  }
  for (size_t i = 0; i < n.children_count; ++i) {
    const int child = n.children[i];
    if (CreateOrFail(w, node, child) == 0) return child;
    if (w.nodes[child].kind == ChildKind::kSessionPlaceholder) {
      ReapPlaceholder(w, node, child);
    }
  }
  if (n.group_placeholder >= 0 && CreateOrFail(w, node, n.group_placeholder) == 0) {
    return n.group_placeholder;
  }
  if (int err = DropAllCapabilitiesInTree(); err != 0) {
    Fail(w, node, kStepCapabilities, err, n.pid);
  }
  return kNoNewNode;
}

int ProcessMain(const World& w, int node) {
  const ChildNode& n = w.nodes[node];
  if (int child = CreateChildren(w, node); child != kNoNewNode) return child;
  MarkDone(w, node, 0);
  WaitPhase(w, node, 1);
  if (n.lead_group) {
    if (long r = RawSyscall(SYS_setpgid, 0, 0); r != 0) {
      Fail(w, node, kStepLeadGroup, RawErrno(r), n.pid);
    }
  }
  MarkDone(w, node, 1);
  WaitPhase(w, node, 2);
  if (n.join_group) {
    if (long r = RawSyscall(SYS_setpgid, 0, n.pgid); r != 0) {
      Fail(w, node, kStepJoinGroup, RawErrno(r), n.pgid);
    }
  }
  MarkDone(w, node, 2);
  WaitPhase(w, node, 3);
  if (n.group_placeholder >= 0) ReapPlaceholder(w, node, n.group_placeholder);
  if (n.cwd != nullptr) {
    if (long r = RawSyscall(SYS_chdir, reinterpret_cast<long>(n.cwd)); r != 0) {
      Fail(w, node, kStepChdir, RawErrno(r), n.pid);
    }
  }
  char path[PATH_MAX];
  if (int err = ResolveCommand(n.argv[0], n.path, path); err != 0) {
    Fail(w, node, kStepCommand, err, n.pid);
  }
  // What execve checks (access(X_OK) passes a directory or a script whose
  // interpreter is missing), before "go": nothing runs unless all can start.
  if (int err = CheckExecutable(path, w.page_size); err != 0) Fail(w, node, kStepCommand, err, n.pid);
  int env_err = 0;
  char** envp = BuildEnvironment(w, node, &env_err);
  if (envp == nullptr) Fail(w, node, kStepEnvironment, env_err, n.pid);
  // Before "go" can open: no parent's command may exit (and kill this
  // process) before this one execs; COMMAND runs as if started directly.
  RawSyscall(SYS_prctl, PR_SET_PDEATHSIG, 0, 0, 0, 0);
  MarkDone(w, node, 3);
  WaitGo(w);
  // The caller's SIGXFSZ action (RestoreFileSizeSignal: crpid ignores it).
  SetSignalAction(SIGXFSZ, w.ignore_file_size_signal ? SIG_IGN : SIG_DFL);
  SetSignalMask(w.command_mask);
  long result = RawSyscall(SYS_execve, reinterpret_cast<long>(path),
                           reinterpret_cast<long>(n.argv), reinterpret_cast<long>(envp));
  if (result == -ENOEXEC) {  // as execvp: a file without #! is a shell script
    char** shell_argv = n.shell_argv;
    shell_argv[1] = path;
    result = RawSyscall(SYS_execve, reinterpret_cast<long>("/bin/sh"),
                        reinterpret_cast<long>(shell_argv), reinterpret_cast<long>(envp));
  }
  const int err = RawErrno(result);
  w.shared->slots[node].exec_errno.store(err);
  ExitRaw(err == ENOENT ? 127 : 126);
}

int RunNode(const World& w, int node) {
  switch (w.nodes[node].kind) {
    case ChildKind::kSessionPlaceholder:
      return SessionPlaceholderMain(w, node);
    case ChildKind::kGroupPlaceholder:
      GroupPlaceholderMain(w, node);
    case ChildKind::kProcess:
      return ProcessMain(w, node);
  }
  ExitRaw(kAborted);
}

}  // namespace

size_t EnvironmentCount(const World& w, const ChildNode& node) {
  return w.base_env_count - node.overridden_count + node.own_env_count + 1;
}

// A tree process, from its first instruction (StartNode has run) to its
// exec. kClone3: each process calls it once, from NodeEntry (RunNode
// never returns a new node: a created process does not return from
// CreateNode). kNsLastPid: called once, by crpid's child; every later
// process of the tree comes back here from the fork that created it.
[[noreturn]] void TreeProcessMain(const World& w, int node) {
  for (;;) node = RunNode(w, node);
}

}  // namespace crpid::tree_child
