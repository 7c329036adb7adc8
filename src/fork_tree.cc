#include "src/fork_tree.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <set>
#include <string_view>
#include <unordered_map>
#include <string>
#include <utility>

#include "src/clone3.h"
#include "src/clone_vm.h"
#include "src/exec_check.h"
#include "src/kernel_probe.h"
#include "src/pid_holder.h"
#include "src/procfs.h"
#include "src/supervise.h"
#include "src/unique_fd.h"

namespace crpid {
namespace {

// Exit status of a tree process that stopped before its command (never
// seen by users: crpid reaps it and reports its own error).
constexpr int kAborted = 125;
constexpr int kWrongLanding = 124;
constexpr int kPhases = 5;  // 0 created, 1 leaders, 2 members, 3 ready, 4 go
constexpr int kNsLastPidAttempts = 32;
constexpr int kTreeWaitMillis = 200;

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

// The one mapping every process of the tree shares with crpid.
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
  SharedSlot slots[1];  // really plan.nodes.size()
};

// A node's command, prepared before the first fork. Its size grows with
// the entry, never with crpid's environment: the base environment is
// shared by every node (World::base_env) and each envp is built in the
// process itself right before exec (BuildEnvironment).
struct NodeExec {
  std::vector<std::string> strings;  // argv, then CRPID_TREE_INDEX=i
  std::vector<char*> argv;
  std::vector<char*> own_env;        // the entry's variables, CRPID_TREE_INDEX
  std::vector<size_t> overridden;    // base_env entries they replace, ascending
  // execvp's fallback for a file without #! or ELF header (ENOEXEC):
  // {"/bin/sh", <the resolved path>, argv[1]…}; slot 1 is filled in the child.
  std::vector<char*> shell_argv;
  std::string cwd;     // empty: keep crpid's
  const char* path = nullptr;  // PATH of the command's environment
};

// Everything a tree process reads between fork and exec. Built by crpid
// before the first fork and never changed after it.
struct World {
  const TreePlan* plan = nullptr;
  const std::vector<NodeExec>* exec = nullptr;
  char* const* base_env = nullptr;  // the caller's environment, one copy
  size_t base_env_count = 0;
  Shared* shared = nullptr;
  ForkMethod method = ForkMethod::kClone3;
  int capability = -1;       // to raise around clone3; -1: none or root
  int ns_last_pid_fd = -1;
  sigset_t command_mask;
  // crpid itself: a tree process whose crpid is gone (killed, crashed) or
  // whose setup outlived the deadline ends instead of waiting forever with
  // the capability in its permitted set.
  pid_t coordinator = 0;
  int coordinator_pidfd = -1;  // readable once crpid has exited (5.3+)
  timespec deadline = {};      // CLOCK_MONOTONIC
  // kClone3: node i runs on stacks->Stack(i) (it shares crpid's memory);
  // the top env_bytes of that region hold its command's envp.
  const StackArena* stacks = nullptr;
  size_t env_bytes = 0;
};

// --- async-signal-safe helpers ------------------------------------------

// Every system call a tree process makes is a raw one (src/clone_vm.h):
// it shares crpid's memory, so its errno too, until it execs.
long Futex(std::atomic<int>* word, int op, int value, const timespec* timeout) {
  return RawSyscall(SYS_futex, reinterpret_cast<long>(word), op, value,
                    reinterpret_cast<long>(timeout), 0, 0);
}

void WakeAll(std::atomic<int>* word) { Futex(word, FUTEX_WAKE, INT_MAX, nullptr); }

// Waits while *word == value, at most millis. false on timeout.
bool WaitWhile(std::atomic<int>* word, int value, int millis) {
  const timespec timeout = {millis / 1000, (millis % 1000) * 1000000L};
  return Futex(word, FUTEX_WAIT, value, &timeout) != -ETIMEDOUT;
}

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
  // CLOCK_MONOTONIC cannot fail: glibc (the vDSO) writes no errno.
  timespec now = {};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
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

// Whether a child of this process has ended (left to be reaped). A member
// that ns_last_pid made land at a wrong PID (born with CLONE_PARENT, so
// this process's child) is reaped here and does not count.
bool EndedChild(siginfo_t* info) {
  for (;;) {
    *info = {};
    if (RawSyscall(SYS_waitid, P_ALL, 0, reinterpret_cast<long>(info),
                   WEXITED | WNOHANG | WNOWAIT, 0) != 0 ||
        info->si_pid == 0) {
      return false;
    }
    if (info->si_code != CLD_EXITED || info->si_status != kWrongLanding) return true;
    RawSyscall(SYS_wait4, info->si_pid, 0, WNOHANG, 0);
  }
}

// Waits for crpid to open `phase`. While waiting, a child of this process
// that ends (killed) fails the whole tree.
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
    if (w.method == ForkMethod::kNsLastPid) {
      siginfo_t info;
      (void)EndedChild(&info);  // reaps the members that landed wrong
    }
    const int now = s->phase.load();
    if (now >= phase) return;
    if (!SleepWhile(w, &s->phase, now) || Abandoned(w)) GiveUp();
  }
  (void)node;
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
  int parent = w.plan->nodes[node].creator;
  if (parent >= 0 && w.plan->nodes[parent].kind == PlanNodeKind::kSessionPlaceholder) {
    parent = w.plan->nodes[parent].creator;
  }
  return parent < 0 ? w.coordinator : w.plan->nodes[parent].pid;
}

// The first instructions of every tree process (T1): lower the capability
// its creator raised for clone3, then be killed with its parent until it
// execs, so that a tree whose crpid or creator was killed mid-setup (even
// while stopped) does not linger. A parent that died before prctl is seen
// by getppid.
void StartNode(const World& w, int node) {
  if (SetEffectiveRaw(w.capability, false) != 0) GiveUp();
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
  const int creator = w.plan->nodes[node].creator;
  return creator >= 0 && w.plan->nodes[creator].kind == PlanNodeKind::kSessionPlaceholder
             ? CLONE_PARENT
             : 0;
}

[[noreturn]] void TreeProcessMain(const World& w, int node);

// Where a process created with clone3 starts, on its own stack (crpid's
// StackArena) in crpid's memory: it never returns.
int NodeEntry(void* world, long node) {
  const World& w = *static_cast<const World*>(world);
  StartNode(w, static_cast<int>(node));
  TreeProcessMain(w, static_cast<int>(node));
}

// The region of node's stack that holds its command's envp.
char** EnvironmentArea(const World& w, int node) {
  const ChildStack region = w.stacks->Stack(static_cast<size_t>(node));
  return reinterpret_cast<char**>(region.base + region.size - w.env_bytes);
}

// Creates `node` at its PID. In the creator: its PID, or -errno (EEXIST
// taken, EPERM capability missing, EBUSY lost 32 ns_last_pid races).
// kClone3: the new process shares the creator's memory and runs
// NodeEntry on its own stack. kNsLastPid: a fork; in the new process,
// after StartNode, 0: it continues on (its copy of) the creator's stack at
// the creator's depth (see TreeProcessMain).
pid_t CreateNode(const World& w, int node) {
  const pid_t target = w.plan->nodes[node].pid;
  const uint64_t flags = CloneFlags(w, node);
  if (w.method != ForkMethod::kNsLastPid) {
    if (int err = SetEffectiveRaw(w.capability, true); err != 0) return -err;
    ChildStack stack = w.stacks->Stack(static_cast<size_t>(node));
    stack.size -= w.env_bytes;
    const long pid = Clone3VmWithSetTid(&target, 1, flags, stack, NodeEntry,
                                        const_cast<World*>(&w), node);
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
    if (err == 0 && ::pwrite(w.ns_last_pid_fd, text, length, 0) < 0) err = errno;
    if (SetEffectiveRaw(w.capability, false) != 0) GiveUp();
    if (err != 0) {
      UnlockNsLastPid(w);
      return -err;
    }
    const pid_t pid = static_cast<pid_t>(::syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0));
    if (pid == 0) {
      if (OwnPid() != target) {
        DropAllCapabilitiesInTree();
        ExitRaw(kWrongLanding);
      }
      StartNode(w, node);
      return 0;
    }
    if (pid < 0 || pid == target) {
      err = errno;
      if (pid > 0) w.shared->slots[node].pid.store(pid);
      UnlockNsLastPid(w);
      return pid > 0 ? pid : -err;
    }
    // A member that landed wrong is its grandparent's child: that one reaps
    // it (ReapWrongLandings).
    if (flags == 0) {
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    // Held by a process, or (the fork skipped it) as a group ID.
    if (::kill(target, 0) == 0 || errno == EPERM || ::kill(-target, 0) == 0 ||
        errno == EPERM) {
      UnlockNsLastPid(w);
      return -EEXIST;
    }
  }
  UnlockNsLastPid(w);
  return -EBUSY;
}

pid_t CreateOrFail(const World& w, int creator, int node) {
  const pid_t pid = CreateNode(w, node);
  if (pid < 0) Fail(w, creator, kStepCreate, -pid, w.plan->nodes[node].pid);
  return pid;
}

// Reaps a placeholder this process created; its failure is the tree's.
void ReapPlaceholder(const World& w, int creator, int placeholder) {
  w.shared->slots[placeholder].reaped.store(1);
  int status = 0;
  const pid_t pid = w.plan->nodes[placeholder].pid;
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
  const size_t name_length = std::strlen(name);
  if (std::strchr(name, '/') != nullptr) {
    if (name_length >= PATH_MAX) return ENAMETOOLONG;
    std::memcpy(out, name, name_length + 1);
    return RawErrno(RawSyscall(SYS_faccessat, AT_FDCWD, reinterpret_cast<long>(out), X_OK));
  }
  if (path == nullptr) path = "/usr/local/bin:/usr/bin:/bin";
  int found = ENOENT;
  for (const char* dir = path;; ++dir) {
    const char* end = std::strchr(dir, ':');
    const size_t dir_length = end == nullptr ? std::strlen(dir) : static_cast<size_t>(end - dir);
    if (dir_length + name_length + 2 < PATH_MAX) {
      size_t at = 0;
      if (dir_length == 0) {
        out[at++] = '.';
      } else {
        std::memcpy(out, dir, dir_length);
        at = dir_length;
      }
      out[at++] = '/';
      std::memcpy(out + at, name, name_length + 1);
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

// The number of envp pointers a node's command needs, its NULL included.
size_t EnvironmentCount(const World& w, const NodeExec& exec) {
  return w.base_env_count - exec.overridden.size() + exec.own_env.size() + 1;
}

// The command's environment, built in the process itself right before
// exec: the base environment's pointers minus what the entry overrides,
// the entry's own variables, CRPID_TREE_INDEX. kClone3: in the top of the
// process's own stack region (crpid unmaps it once every process has
// exec'd); kNsLastPid: in memory the forked process maps (its own, freed
// by exec). nullptr with *err set if mmap fails.
char** BuildEnvironment(const World& w, int node, const NodeExec& exec, int* err) {
  const size_t count = EnvironmentCount(w, exec);
  char** envp = nullptr;
  if (w.stacks != nullptr) {
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
    if (skip < exec.overridden.size() && exec.overridden[skip] == i) {
      ++skip;
      continue;
    }
    envp[at++] = w.base_env[i];
  }
  for (char* variable : exec.own_env) envp[at++] = variable;
  envp[at] = nullptr;
  return envp;
}

// Every node function below returns, in a process it has just created, the
// node that process is to become (>= 0); TreeProcessMain then runs that
// node in the same frame. So a process continues where its creator's
// clone3 returned, but at a depth that does not grow with the tree's.
constexpr int kNoNewNode = -1;

int SessionPlaceholderMain(const World& w, int node) {
  const PlanNode& n = w.plan->nodes[node];
  if (long r = RawSyscall(SYS_setsid); RawFailed(r)) Fail(w, node, kStepSetsid, RawErrno(r), n.pid);
  for (int child : n.children) {
    if (CreateOrFail(w, node, child) == 0) return child;
  }
  if (int err = DropAllCapabilitiesInTree(); err != 0) {
    Fail(w, node, kStepCapabilities, err, n.pid);
  }
  MarkDone(w, node, 0);
  ExitRaw(0);
}

[[noreturn]] void GroupPlaceholderMain(const World& w, int node) {
  const PlanNode& n = w.plan->nodes[node];
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
  const PlanNode& n = w.plan->nodes[node];
  if (n.subreaper) {
    if (long r = RawSyscall(SYS_prctl, PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); r != 0) {
      Fail(w, node, kStepSubreaper, RawErrno(r), n.pid);
    }
  }
  for (int child : n.early_children) {
    if (CreateOrFail(w, node, child) == 0) return child;
  }
  if (n.setsid) {
    if (long r = RawSyscall(SYS_setsid); RawFailed(r)) {
      Fail(w, node, kStepSetsid, RawErrno(r), n.pid);
    }
  }
  for (int child : n.children) {
    if (CreateOrFail(w, node, child) == 0) return child;
    if (w.plan->nodes[child].kind == PlanNodeKind::kSessionPlaceholder) {
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
  const PlanNode& n = w.plan->nodes[node];
  const NodeExec& exec = (*w.exec)[node];
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
  if (!exec.cwd.empty()) {
    if (long r = RawSyscall(SYS_chdir, reinterpret_cast<long>(exec.cwd.c_str())); r != 0) {
      Fail(w, node, kStepChdir, RawErrno(r), n.pid);
    }
  }
  char path[PATH_MAX];
  if (int err = ResolveCommand(exec.argv[0], exec.path, path); err != 0) {
    Fail(w, node, kStepCommand, err, n.pid);
  }
  // What execve checks (access(X_OK) passes a directory or a script whose
  // interpreter is missing), before "go": nothing runs unless all can start.
  if (int err = CheckExecutable(path); err != 0) Fail(w, node, kStepCommand, err, n.pid);
  int env_err = 0;
  char** envp = BuildEnvironment(w, node, exec, &env_err);
  if (envp == nullptr) Fail(w, node, kStepEnvironment, env_err, n.pid);
  // Before "go" can open: no parent's command may exit (and kill this
  // process) before this one execs; COMMAND runs as if started directly.
  RawSyscall(SYS_prctl, PR_SET_PDEATHSIG, 0, 0, 0, 0);
  MarkDone(w, node, 3);
  WaitPhase(w, node, 4);
  // sigaction of SIGXFSZ to SIG_DFL or SIG_IGN cannot fail: no errno.
  RestoreFileSizeSignal();
  // The kernel's sigset is the first 8 bytes of glibc's.
  RawSyscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&w.command_mask), 0, 8);
  long result = RawSyscall(SYS_execve, reinterpret_cast<long>(path),
                           reinterpret_cast<long>(exec.argv.data()), reinterpret_cast<long>(envp));
  if (result == -ENOEXEC) {  // as execvp: a file without #! is a shell script
    char** shell_argv = const_cast<char**>(exec.shell_argv.data());
    shell_argv[1] = path;
    result = RawSyscall(SYS_execve, reinterpret_cast<long>("/bin/sh"),
                        reinterpret_cast<long>(shell_argv), reinterpret_cast<long>(envp));
  }
  const int err = RawErrno(result);
  w.shared->slots[node].exec_errno.store(err);
  ExitRaw(err == ENOENT ? 127 : 126);
}

int RunNode(const World& w, int node) {
  switch (w.plan->nodes[node].kind) {
    case PlanNodeKind::kSessionPlaceholder:
      return SessionPlaceholderMain(w, node);
    case PlanNodeKind::kGroupPlaceholder:
      GroupPlaceholderMain(w, node);
    case PlanNodeKind::kProcess:
      return ProcessMain(w, node);
  }
  ExitRaw(kAborted);
}

// A tree process, from its first instruction (StartNode has run) to its
// exec. kClone3: each process calls it once, from NodeEntry (RunNode
// never returns a new node: a created process does not return from
// CreateNode). kNsLastPid: called once, by crpid's child; every later
// process of the tree comes back here from the fork that created it.
[[noreturn]] void TreeProcessMain(const World& w, int node) {
  for (;;) node = RunNode(w, node);
}

// --- crpid's side ---------------------------------------------------------

// crpid's children, from /proc/self/task/TID/children read through fd
// (opened by OpenOwnChildren), or an error (EMFILE and the like) when it
// cannot tell.
Result<std::vector<pid_t>> OwnChildren(int fd) {
  if (::lseek(fd, 0, SEEK_SET) != 0) return SystemError(errno, "children");
  // At most PID_MAX_LIMIT PIDs of up to 7 digits and a blank each.
  auto text = ReadAll(fd, 32u << 20, "children");
  if (!text) return text.error();
  std::vector<pid_t> children;
  const char* cursor = text->c_str();
  for (;;) {
    char* end = nullptr;
    const long pid = std::strtol(cursor, &end, 10);
    if (end == cursor) break;
    children.push_back(static_cast<pid_t>(pid));
    cursor = end;
  }
  return children;
}

Result<UniqueFd> OpenOwnChildren() {
  const std::string self = std::to_string(::getpid());
  return OpenFile("/proc/" + self + "/task/" + self + "/children", O_RDONLY);
}

// The shared mapping, unmapped when crpid is done with the tree.
class SharedMapping {
 public:
  explicit SharedMapping(size_t nodes)
      : size_(sizeof(Shared) + nodes * sizeof(SharedSlot)) {
    void* memory = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    shared_ = memory == MAP_FAILED ? nullptr : static_cast<Shared*>(memory);
  }
  ~SharedMapping() {
    if (shared_ != nullptr) ::munmap(shared_, size_);
  }
  SharedMapping(const SharedMapping&) = delete;
  SharedMapping& operator=(const SharedMapping&) = delete;
  Shared* get() const { return shared_; }

 private:
  size_t size_;
  Shared* shared_;
};

class Coordinator {
 public:
  Coordinator(const ForkTreeRequest& request, const TreePlan& plan)
      : request_(request), plan_(plan) {}

  Result<RestoredTree> Run();

 private:
  Status Prepare();
  Status ChooseMethod();
  Status MapStacks();
  Status CreateTop();
  Status WaitDone(int phase);
  Status OpenPhase(int phase);
  Status Verify();
  Status WaitForExecs();
  Error Abort(std::optional<Error> own = std::nullopt);
  void KillAndReapEverything();
  Error DescribeFailure();
  Error Late(int phase, bool overall);
  std::optional<pid_t> EndedProcess(int phase);
  void ReapOwnSessionPlaceholders();

  const ForkTreeRequest& request_;
  const TreePlan& plan_;
  std::vector<NodeExec> exec_;
  std::vector<char*> base_env_;
  std::unique_ptr<SharedMapping> mapping_;
  // Where the tree's processes run until they exec (kClone3). Declared
  // after everything they read, so destroyed before it: every path out of
  // Run has seen each process exec or be reaped by then.
  StackArena stacks_;
  World world_;
  UniqueFd ns_last_pid_;
  UniqueFd coordinator_pidfd_;  // close-on-exec, as pidfd_open makes it
  // Opened before the first fork, so that a descriptor limit reached later
  // cannot keep crpid from finding (and killing) its children.
  UniqueFd own_children_;
  Pipe exec_pipe_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::duration stall_{};
  std::chrono::steady_clock::time_point deadline_;
};

std::string EntryName(const ProcessTree& tree, const PlanNode& node) {
  if (node.kind == PlanNodeKind::kSessionPlaceholder) {
    return "the placeholder for session " + std::to_string(node.pid);
  }
  if (node.kind == PlanNodeKind::kGroupPlaceholder) {
    return "the placeholder for group " + std::to_string(node.pid);
  }
  return "PID " + std::to_string(node.pid) + " (processes[" +
         std::to_string(node.tree_index) + "], '" + tree.processes[node.tree_index].comm +
         "')";
}

Status Coordinator::Prepare() {
  auto own_children = OpenOwnChildren();
  if (!own_children) return own_children.error();
  own_children_ = std::move(*own_children);
  const ProcessTree& tree = request_.tree;
  const std::string index_prefix = std::string(kTreeIndexVariable) + "=";
  // One copy of the caller's environment for the whole tree: pointers into
  // request_, and where each name is.
  std::unordered_map<std::string_view, std::vector<size_t>> base_index;
  const char* base_path = nullptr;
  for (const std::string& variable : request_.environment) {
    if (variable.rfind(index_prefix, 0) == 0) continue;
    const std::string_view name = std::string_view(variable).substr(0, variable.find('='));
    base_index[name].push_back(base_env_.size());
    if (name == "PATH") base_path = variable.c_str() + 5;
    base_env_.push_back(const_cast<char*>(variable.c_str()));
  }
  exec_.resize(plan_.nodes.size());
  for (size_t i = 0; i < plan_.nodes.size(); ++i) {
    const PlanNode& node = plan_.nodes[i];
    if (node.kind != PlanNodeKind::kProcess) continue;
    const TreeProcess& entry = tree.processes[node.tree_index];
    const std::vector<std::string>& command = CommandOf(entry);
    if (command.empty() || command[0].empty()) {
      return Error{ErrorKind::kInvalidInput, 0,
                   EntryName(tree, node) + " has no command (it was a zombie, a kernel "
                                           "thread or unreadable when saved)",
                   "give it one: jq '.processes[" + std::to_string(node.tree_index) +
                       "].command = [\"sleep\", \"infinity\"]'"};
    }
    NodeExec& e = exec_[i];
    e.strings = command;
    e.strings.push_back(index_prefix + std::to_string(node.tree_index));
    const size_t argc = command.size();
    for (size_t k = 0; k < argc; ++k) e.argv.push_back(e.strings[k].data());
    e.argv.push_back(nullptr);
    e.path = base_path;
    for (const std::string& variable : entry.env) {
      const std::string_view name = std::string_view(variable).substr(0, variable.find('='));
      if (auto found = base_index.find(name); found != base_index.end()) {
        e.overridden.insert(e.overridden.end(), found->second.begin(), found->second.end());
      }
      if (name == "PATH") e.path = variable.c_str() + 5;
      e.own_env.push_back(const_cast<char*>(variable.c_str()));
    }
    std::sort(e.overridden.begin(), e.overridden.end());
    e.overridden.erase(std::unique(e.overridden.begin(), e.overridden.end()),
                       e.overridden.end());
    e.own_env.push_back(e.strings.back().data());
    e.shell_argv = {const_cast<char*>("/bin/sh"), nullptr};
    e.shell_argv.insert(e.shell_argv.end(), e.argv.begin() + 1, e.argv.end());
    if (entry.cwd) e.cwd = *entry.cwd;
  }
  world_.base_env = base_env_.data();
  world_.base_env_count = base_env_.size();
  mapping_ = std::make_unique<SharedMapping>(plan_.nodes.size());
  if (mapping_->get() == nullptr) return SystemError(errno, "mmap");
  Shared* s = mapping_->get();
  size_t processes = 0, group_placeholders = 0;
  for (const PlanNode& node : plan_.nodes) {
    processes += node.kind == PlanNodeKind::kProcess;
    group_placeholders += node.kind == PlanNodeKind::kGroupPlaceholder;
  }
  s->expected[0] = static_cast<int>(plan_.nodes.size());
  s->expected[1] = s->expected[2] = static_cast<int>(processes + group_placeholders);
  s->expected[3] = static_cast<int>(processes);
  s->expected[4] = 0;
  auto pipe = MakePipe();
  if (!pipe) return pipe.error();
  exec_pipe_ = std::move(*pipe);
  world_.plan = &plan_;
  world_.exec = &exec_;
  world_.shared = s;
  world_.capability =
      ::geteuid() == 0 ? -1 : CheckpointRestoreCapabilityToRaise(request_.capabilities);
  world_.command_mask = request_.command_signal_mask;
  // A setup that makes no progress for 30 s is stuck (a process stopped);
  // one that progresses may take its time (a loaded machine, a deep chain
  // whose every step waits for the scheduler), up to 60 s + 100 ms per node.
  const int timeout = request_.setup_timeout_seconds;
  const int seconds = timeout > 0 ? timeout : 60 + static_cast<int>(plan_.nodes.size() / 10);
  stall_ = std::chrono::seconds(timeout > 0 ? timeout : 30);
  started_ = std::chrono::steady_clock::now();
  deadline_ = started_ + std::chrono::seconds(seconds);
  world_.coordinator = ::getpid();
  coordinator_pidfd_.Reset(static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0)));
  world_.coordinator_pidfd = coordinator_pidfd_.get();
  // The tree's own deadline comes a little after crpid's, which normally
  // ends a late setup itself (and says so).
  ::clock_gettime(CLOCK_MONOTONIC, &world_.deadline);
  world_.deadline.tv_sec += seconds + 5;
  return Ok{};
}

// clone3 set_tid where the kernel has it; ns_last_pid only under fork-at's
// rule (NsLastPidPermitted), with CRIU's flock held for the whole creation.
Status Coordinator::ChooseMethod() {
  ForkMethod method = request_.method;
  if (method == ForkMethod::kAuto) {
    switch (ProbeClone3()) {
      case Clone3Support::kMissing:
      case Clone3Support::kNoSetTid:
      case Clone3Support::kBlocked:
        method = ForkMethod::kNsLastPid;
        break;
      default:
        method = ForkMethod::kClone3;
    }
  }
  world_.method = method;
  if (method != ForkMethod::kNsLastPid) return Ok{};
  if (Status permitted = NsLastPidPermitted(); !permitted) return permitted;
  auto file = OpenFile("/proc/sys/kernel/ns_last_pid", O_RDWR);
  if (!file) return file.error();
  for (int tries = 0; ::flock(file->get(), LOCK_EX | LOCK_NB) != 0; ++tries) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return SystemError(errno, "cannot lock /proc/sys/kernel/ns_last_pid");
    }
    if (tries == 1000) {
      return Error{ErrorKind::kBusy, EWOULDBLOCK,
                   "another process has held the lock on /proc/sys/kernel/ns_last_pid "
                   "for 10 s",
                   "find it with 'fuser /proc/sys/kernel/ns_last_pid'"};
    }
    ::usleep(10000);
  }
  ns_last_pid_ = std::move(*file);
  world_.ns_last_pid_fd = ns_last_pid_.get();
  return Ok{};
}

// A tree process's stack: its deepest path (NodeEntry, TreeProcessMain,
// ProcessMain, CheckExecutable's chain down to a raw system call) takes
// about 10 KiB (gcc -O2 -fstack-usage: ProcessMain 4,384 bytes,
// CheckChain 4,608, CheckOpenExec 304, the rest < 200 each); 64 KiB
// leaves room for a sanitizer build's larger frames. Above it, the envp
// of the largest command.
constexpr size_t kNodeStackBytes = 64 * 1024;

Status Coordinator::MapStacks() {
  size_t env_count = 0;
  for (size_t i = 0; i < plan_.nodes.size(); ++i) {
    if (plan_.nodes[i].kind != PlanNodeKind::kProcess) continue;
    env_count = std::max(env_count, EnvironmentCount(world_, exec_[i]));
  }
  world_.env_bytes = (env_count * sizeof(char*) + 15) / 16 * 16;
  if (int err = stacks_.Map(plan_.nodes.size(), kNodeStackBytes + world_.env_bytes); err != 0) {
    return SystemError(err, "cannot map the stacks of " + std::to_string(plan_.nodes.size()) +
                                " processes");
  }
  world_.stacks = &stacks_;
  return Ok{};
}

Status Coordinator::CreateTop() {
  for (int node : plan_.top) {
    const pid_t pid = CreateNode(world_, node);
    if (pid == 0) TreeProcessMain(world_, node);  // kNsLastPid: the base frame of the tree
    if (pid < 0) {
      Shared* s = world_.shared;
      int expected = 0;
      if (s->aborted.compare_exchange_strong(expected, 1)) {
        s->error_node = node;
        s->error_step = kStepCreate;
        s->error_errno = -pid;
        s->error_pid = plan_.nodes[node].pid;
        s->aborted.store(2);
      }
      return Abort();
    }
  }
  return Ok{};
}

void Coordinator::ReapOwnSessionPlaceholders() {
  for (int node : plan_.top) {
    if (plan_.nodes[node].kind != PlanNodeKind::kSessionPlaceholder) continue;
    world_.shared->slots[node].reaped.store(1);
    while (::waitpid(plan_.nodes[node].pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

Status Coordinator::WaitDone(int phase) {
  Shared* s = world_.shared;
  std::set<pid_t> own_placeholders;
  for (int node : plan_.top) {
    if (plan_.nodes[node].kind == PlanNodeKind::kSessionPlaceholder) {
      own_placeholders.insert(plan_.nodes[node].pid);
    }
  }
  int last_done = -1;
  auto last_progress = std::chrono::steady_clock::now();
  int progress_done = -1;
  auto progressed = last_progress;
  for (;;) {
    if (s->aborted.load() != 0) return Abort();
    const int done = s->done[phase].load();
    if (done >= s->expected[phase].load()) return Ok{};
    if (WaitWhile(&s->done[phase], done, 100)) continue;
    const auto now = std::chrono::steady_clock::now();
    if (done != progress_done) {
      progress_done = done;
      progressed = now;
    }
    if (now > deadline_ || now - progressed > stall_) return Abort(Late(phase, now > deadline_));
    // No progress for a second: has a process that had yet to do its part
    // ended (killed)? Its parent, asleep, does not reap it: a zombie.
    if (done != last_done) {
      last_done = done;
      last_progress = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_progress > std::chrono::seconds(1)) {
      last_progress = std::chrono::steady_clock::now();
      if (std::optional<pid_t> ended = EndedProcess(phase)) {
        return Abort(Error{ErrorKind::kSystem, 0,
                           "PID " + std::to_string(*ended) +
                               " ended (killed?) before the commands started",
                           "nothing ran; run crpid again"});
      }
    }
    // A child of crpid that ended unexpectedly (its session placeholder
    // ends by design once its members exist).
    siginfo_t info = {};
    if (EndedChild(&info) && (phase > 0 || own_placeholders.count(info.si_pid) == 0)) {
      return Abort(Error{ErrorKind::kSystem, 0,
                         "PID " + std::to_string(info.si_pid) +
                             " ended (killed?) before the commands started",
                         "nothing ran; run crpid again"});
    }
  }
}

// Whether `node` takes part in `phase` (is counted in expected[phase]).
bool Counted(const PlanNode& node, int phase) {
  return phase == 0 || (phase < 3 && node.kind != PlanNodeKind::kSessionPlaceholder) ||
         node.kind == PlanNodeKind::kProcess;
}

// A process that had yet to complete `phase` and has ended (a zombie, or
// gone), if any.
std::optional<pid_t> Coordinator::EndedProcess(int phase) {
  Shared* s = world_.shared;
  for (size_t i = 0; i < plan_.nodes.size(); ++i) {
    if (!Counted(plan_.nodes[i], phase) || s->slots[i].phases_done.load() > phase) continue;
    const pid_t pid = s->slots[i].pid.load();
    if (pid == 0) continue;
    auto stat = ReadProcessStat(pid);
    if (!stat || stat->state == 'Z' || stat->state == 'X') return pid;
  }
  return std::nullopt;
}

// The deadline passed in `phase`: what was in place, and the first process
// that was not, with its state as /proc shows it.
Error Coordinator::Late(int phase, bool overall) {
  static const char* const kAll[] = {"creating their children", "leading their groups",
                                     "joining their groups", "preparing their commands"};
  static const char* const kOne[] = {"creating its children", "leading its group",
                                     "joining its group", "preparing its command"};
  Shared* s = world_.shared;
  std::string late;
  bool stopped = false;
  for (size_t i = 0; i < plan_.nodes.size() && late.empty(); ++i) {
    const PlanNode& node = plan_.nodes[i];
    if (!Counted(node, phase) || s->slots[i].phases_done.load() > phase) continue;
    const std::string who = EntryName(request_.tree, node);
    if (s->slots[i].pid.load() == 0) {
      late = who + " did not exist yet";
      continue;
    }
    auto stat = ReadProcessStat(node.pid);
    const char state = stat ? stat->state : '?';
    stopped = state == 'T' || state == 't';
    late = who + " had not finished " + kOne[phase] +
           (stopped ? " (it was stopped)" : state == '?' ? " (it was gone)" : "");
  }
  auto whole_seconds = [](std::chrono::steady_clock::duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count());
  };
  const std::string what = overall ? "the " + whole_seconds(deadline_ - started_) +
                                         " s setup deadline passed"
                                   : "the setup made no progress for " +
                                         whole_seconds(stall_) + " s";
  return Error{ErrorKind::kSystem, ETIMEDOUT,
               what + ": " + std::to_string(s->done[phase].load()) + " of " +
                   std::to_string(s->expected[phase].load()) + " processes had finished " +
                   kAll[phase] + (late.empty() ? "" : "; " + late) + "; nothing ran",
               stopped ? "let the tree's processes run (do not stop them) while crpid sets "
                         "the tree up, and run crpid again"
                       : "run crpid again when the machine is less loaded"};
}

Status Coordinator::OpenPhase(int phase) {
  world_.shared->phase.store(phase);
  WakeAll(&world_.shared->phase);
  if (phase == 4) return Ok{};
  return WaitDone(phase);
}

// Reads back from /proc what each process became: the command never starts
// in a tree that differs from the file.
Status Coordinator::Verify() {
  if (!ProcShowsOwnPidNamespace()) return Ok{};
  for (const PlanNode& node : plan_.nodes) {
    if (node.kind != PlanNodeKind::kProcess) continue;
    auto fields = ReadStatFields(std::to_string(node.pid));
    // EMFILE and the like are crpid's own shortage, not the process's.
    if (!fields && fields.error().kind != ErrorKind::kNotFound) return Abort(fields.error());
    if (!fields || fields->size() <= 6) {
      return Abort(Error{ErrorKind::kSystem, 0,
                         "cannot read back PID " + std::to_string(node.pid), {}});
    }
    const TreeProcess& entry = request_.tree.processes[node.tree_index];
    // crpid adopts the root, also when a session placeholder made it.
    const bool crpid_is_parent =
        node.creator < 0 ||
        (plan_.nodes[node.creator].kind == PlanNodeKind::kSessionPlaceholder &&
         plan_.nodes[node.creator].creator < 0);
    const pid_t ppid = crpid_is_parent ? ::getpid() : entry.ppid;
    if (static_cast<pid_t>((*fields)[4]) != ppid ||
        static_cast<pid_t>((*fields)[5]) != node.pgid ||
        static_cast<pid_t>((*fields)[6]) != node.sid) {
      return Abort(Error{ErrorKind::kSystem, 0,
                         "PID " + std::to_string(node.pid) + " came out with parent " +
                             std::to_string((*fields)[4]) + ", group " +
                             std::to_string((*fields)[5]) + ", session " +
                             std::to_string((*fields)[6]) + " instead of " +
                             std::to_string(ppid) + ", " + std::to_string(node.pgid) +
                             ", " + std::to_string(node.sid),
                         "nothing ran; please report this"});
    }
  }
  return Ok{};
}

Status Coordinator::WaitForExecs() {
  exec_pipe_.write_end.Reset();
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline_ - std::chrono::steady_clock::now());
    pollfd poll_fd = {exec_pipe_.read_end.get(), POLLIN, 0};
    const int ready = ::poll(&poll_fd, 1, static_cast<int>(std::max<long>(left.count(), 0)));
    if (ready < 0 && errno == EINTR) continue;
    // Not every process has exec'd: one that still runs crpid's code in
    // crpid's memory must not outlive what it reads (World).
    if (ready <= 0) {
      return Abort(Error{ErrorKind::kSystem, ETIMEDOUT,
                         "the setup deadline passed before every command had started; the "
                         "whole tree was killed",
                         "let the tree's processes run (do not stop them) while crpid sets "
                         "the tree up, and run crpid again"});
    }
    char byte;
    if (::read(exec_pipe_.read_end.get(), &byte, 1) <= 0) break;
  }
  for (size_t i = 0; i < plan_.nodes.size(); ++i) {
    const int err = world_.shared->slots[i].exec_errno.load();
    if (err == 0) continue;
    const TreeProcess& entry = request_.tree.processes[plan_.nodes[i].tree_index];
    Error error = SystemError(err, "cannot run '" + CommandOf(entry)[0] + "' as " +
                                       EntryName(request_.tree, plan_.nodes[i]));
    error.hint = "the whole tree was killed";
    KillAndReapEverything();
    return error;
  }
  return Ok{};
}

// Kills every process of the tree created so far and reaps it (crpid is
// their subreaper, so orphans come back to it). A PID is signalled only
// while crpid, its only reaper, has not reaped it.
void Coordinator::KillAndReapEverything() {
  Shared* s = world_.shared;
  WakeAll(&s->phase);
  std::set<pid_t> reaped;
  for (;;) {
    for (size_t i = 0; i < plan_.nodes.size(); ++i) {
      const pid_t pid = s->slots[i].pid.load();
      if (pid > 0 && s->slots[i].reaped.load() == 0 && reaped.count(pid) == 0) {
        ::kill(pid, SIGKILL);
      }
    }
    if (auto children = OwnChildren(own_children_.get())) {
      for (pid_t child : *children) ::kill(child, SIGKILL);
    }
    pid_t pid;
    while ((pid = ::waitpid(-1, nullptr, WNOHANG)) > 0) reaped.insert(pid);
    if (pid < 0 && errno == ECHILD) return;
    ::usleep(1000);
  }
}

Error Coordinator::DescribeFailure() {
  Shared* s = world_.shared;
  const int node = s->error_node;
  const int err = s->error_errno;
  const pid_t pid = s->error_pid;
  const std::string who = node >= 0 && node < static_cast<int>(plan_.nodes.size())
                              ? EntryName(request_.tree, plan_.nodes[node])
                              : "a process";
  switch (s->error_step) {
    case kStepCreate: {
      // What holds it now; an ns_last_pid fork that kept landing elsewhere
      // (EBUSY) may have met a group or session ID, not other forks.
      const PidHolder holder = err == EEXIST || err == EBUSY ? FindPidHolder(pid) : PidHolder{};
      if ((err == EEXIST || err == EBUSY) && !holder.free()) {
        return Error{ErrorKind::kBusy, EEXIST, DescribeHolder(holder) + "; nothing ran",
                     HolderRemedy(holder)};
      }
      if (err == EEXIST) {
        return Error{ErrorKind::kBusy, EEXIST,
                     "PID " + std::to_string(pid) +
                         " was in use a moment ago (it is free now); nothing ran",
                     "run fork-tree again; --wait SECONDS waits for PIDs to be free"};
      }
      if (err == EBUSY) {
        return Error{ErrorKind::kBusy, 0,
                     "other processes took PID " + std::to_string(pid) + " first in all " +
                         std::to_string(kNsLastPidAttempts) +
                         " attempts through ns_last_pid; nothing ran",
                     "retry when the machine forks less, or use a kernel with clone3 "
                     "set_tid (5.5+)"};
      }
      Error error = SystemError(err, "cannot create PID " + std::to_string(pid));
      return error;
    }
    case kStepChdir:
      return Error{KindForErrno(err), err,
                   "cannot enter the cwd of " + who + ": " + std::strerror(err) +
                       "; nothing ran",
                   "fix its \"cwd\" in the file"};
    case kStepCommand: {
      Error error{KindForErrno(err), err,
                  "cannot run '" + CommandOf(request_.tree.processes[plan_.nodes[node].tree_index])[0] +
                      "' as " + who + ": " + std::strerror(err) + "; nothing ran",
                  "fix its \"command\" in the file, or PATH"};
      return error;
    }
    case kStepChildEnded:
      return Error{ErrorKind::kSystem, 0,
                   "PID " + std::to_string(pid) +
                       " ended (killed?) before the commands started; nothing ran",
                   "run crpid again"};
    case kStepSetsid:
      return SystemError(err, "setsid in " + who);
    case kStepLeadGroup:
      return SystemError(err, "setpgid(0, 0) in " + who);
    case kStepJoinGroup:
      return SystemError(err, "joining group " + std::to_string(pid) + " in " + who);
    case kStepSubreaper:
      return SystemError(err, "PR_SET_CHILD_SUBREAPER in " + who);
    case kStepCapabilities:
      return SystemError(err, "dropping capabilities in " + who);
    case kStepPlaceholder:
      return Error{ErrorKind::kSystem, 0,
                   "the placeholder at PID " + std::to_string(pid) + " failed", {}};
    case kStepEnvironment:
      return SystemError(err, "cannot map the environment of " + who);
    default:
      return Error{ErrorKind::kSystem, err, "the tree could not be created", {}};
  }
}

// Stops everything: the first failure (a tree process's, or crpid's own)
// becomes the error; every process created so far is killed and reaped.
Error Coordinator::Abort(std::optional<Error> own) {
  Shared* s = world_.shared;
  int expected = 0;
  const bool first = s->aborted.compare_exchange_strong(expected, 1);
  if (first) s->aborted.store(2);
  // A tree process that set `aborted` fills the record right after.
  for (int i = 0; i < 1000 && s->aborted.load() != 2; ++i) ::usleep(1000);
  KillAndReapEverything();
  if (first && own) return *own;
  return DescribeFailure();
}

Result<RestoredTree> Coordinator::Run() {
  if (Status prepared = Prepare(); !prepared) return prepared.error();
  if (Status method = ChooseMethod(); !method) return method.error();
  if (world_.method != ForkMethod::kNsLastPid) {
    if (Status mapped = MapStacks(); !mapped) return mapped.error();
  }
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    return SystemError(errno, "PR_SET_CHILD_SUBREAPER");
  }
  if (Status created = CreateTop(); !created) return created.error();
  // Phase 3 of capabilities.h: the tree's processes hold their own copies.
  if (Status dropped = DropCapabilitiesForGood(); !dropped) return Abort(dropped.error());
  if (Status done = WaitDone(0); !done) return done.error();
  ReapOwnSessionPlaceholders();
  if (ns_last_pid_.valid()) {
    // The tree's processes share this open file until they exec.
    ::flock(ns_last_pid_.get(), LOCK_UN);
    ns_last_pid_.Reset();
  }
  for (int phase = 1; phase <= 3; ++phase) {
    if (Status opened = OpenPhase(phase); !opened) return opened.error();
  }
  if (Status verified = Verify(); !verified) return verified.error();
  (void)OpenPhase(4);
  if (Status execs = WaitForExecs(); !execs) return execs.error();
  RestoredTree restored;
  restored.root = plan_.nodes[plan_.root].pid;
  restored.processes = request_.tree.processes.size();
  restored.placeholders = plan_.nodes.size() - restored.processes;
  restored.method = world_.method;
  return restored;
}

}  // namespace

Result<RestoredTree> ForkTree(const ForkTreeRequest& request) {
  auto own_facts = OwnPlanFacts();
  if (!own_facts) return own_facts.error();
  TreePlanFacts facts = *own_facts;
  facts.pid_in_use = [](pid_t pid) { return PidInUse(pid); };
  facts.describe = [](pid_t pid) { return DescribePidHolder(pid); };
  auto plan = PlanTree(request.tree, facts);
  if (!plan) return plan.error();
  Coordinator coordinator(request, *plan);
  return coordinator.Run();
}

Result<int> WaitForTree(pid_t root) {
  // Best effort: without it, signals still reach the root while it lives.
  UniqueFd own_children;
  if (auto opened = OpenOwnChildren()) own_children = std::move(*opened);
  const sigset_t forwarded = ForwardedSignals();
  sigset_t waited = forwarded;
  sigaddset(&waited, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &waited, nullptr);
  bool root_alive = true;
  int root_status = 125;
  for (;;) {
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      if (pid == root) {
        root_alive = false;
        root_status = ShellStatus(status);
      }
    }
    if (pid < 0 && errno == ECHILD) break;
    siginfo_t info = {};
    const timespec slice = {0, 200 * 1000000L};
    const int signal_number = ::sigtimedwait(&waited, &info, &slice);
    // The kernel sent a terminal's signal to the whole foreground group
    // (SI_KERNEL): the tree's processes there got it already.
    if (signal_number <= 0 || signal_number == SIGCHLD || info.si_code == SI_KERNEL) continue;
    if (root_alive) {
      ::kill(root, signal_number);
    } else if (own_children.valid()) {
      if (auto children = OwnChildren(own_children.get())) {
        for (pid_t child : *children) ::kill(child, signal_number);
      }
    }
  }
  return root_status;
}

}  // namespace crpid
