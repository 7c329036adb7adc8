// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/fork_tree.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/auxv.h>
#include <sys/eventfd.h>
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
#include "src/fork_tree_child.h"
#include "src/stack_arena.h"
#include "src/kernel_probe.h"
#include "src/pid_holder.h"
#include "src/procfs.h"
#include "src/supervise.h"
#include "src/unique_fd.h"

namespace crpid {
namespace {

using tree_child::ChildNode;
using tree_child::EndedChild;
using tree_child::kAborted;
using tree_child::kNsLastPidAttempts;
using tree_child::kPhases;
using tree_child::Shared;
using tree_child::SharedSlot;
using tree_child::WaitWhile;
using tree_child::WakeAll;
using tree_child::World;
using tree_child::kStepCapabilities;
using tree_child::kStepChdir;
using tree_child::kStepChildEnded;
using tree_child::kStepCommand;
using tree_child::kStepCreate;
using tree_child::kStepEnvironment;
using tree_child::kStepJoinGroup;
using tree_child::kStepLeadGroup;
using tree_child::kStepPlaceholder;
using tree_child::kStepSetsid;
using tree_child::kStepSubreaper;

// A node's command, prepared before the first creation: the storage its
// ChildNode points into.
struct NodeExec {
  std::vector<std::string> strings;  // argv, then CRPID_TREE_INDEX=i
  std::vector<char*> argv;
  std::vector<char*> own_env;        // the entry's variables, CRPID_TREE_INDEX
  std::vector<size_t> overridden;    // base_env entries they replace, ascending
  std::vector<char*> shell_argv;     // {"/bin/sh", (the child's), argv[1]…}
  std::string cwd;                   // empty: keep crpid's
  const char* path = nullptr;        // PATH of the command's environment
};

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
  // Left by an exception (std::bad_alloc) while tree processes may still run
  // on stacks_ and read what world_ points to: they end before those are
  // freed (should that throw too, std::terminate ends crpid, which unmaps
  // nothing: its processes then die with it).
  ~Coordinator() {
    if (tree_may_run_) KillAndReapEverything();
  }
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

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
  std::vector<ChildNode> child_nodes_;  // points into plan_ and exec_
  std::unique_ptr<SharedMapping> mapping_;
  // Where the tree's processes run until they exec (kClone3). Declared
  // after everything they read, so destroyed before it: every path out of
  // Run has seen each process exec or be reaped by then.
  StackArena stacks_;
  World world_;
  ForkMethod method_ = ForkMethod::kClone3;
  // From the first creation until every process has exec'd or been reaped.
  bool tree_may_run_ = false;
  UniqueFd ns_last_pid_;
  UniqueFd coordinator_pidfd_;  // close-on-exec, as pidfd_open makes it
  UniqueFd go_;                 // World::go_fd
  // Opened before the first fork, so that a descriptor limit reached later
  // cannot keep crpid from finding (and killing) its children.
  UniqueFd own_children_;
  Pipe exec_pipe_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::duration stall_{};
  std::chrono::steady_clock::time_point deadline_;
};

static_assert(static_cast<int>(tree_child::ChildKind::kGroupPlaceholder) ==
              static_cast<int>(PlanNodeKind::kGroupPlaceholder));
static_assert(static_cast<int>(tree_child::ChildKind::kSessionPlaceholder) ==
              static_cast<int>(PlanNodeKind::kSessionPlaceholder));

// What a tree process reads of its node: pointers into node and exec.
ChildNode ChildNodeOf(const PlanNode& node, NodeExec& exec) {
  ChildNode child;
  child.kind = static_cast<tree_child::ChildKind>(node.kind);
  child.pid = node.pid;
  child.pgid = node.pgid;
  child.creator = node.creator;
  child.setsid = node.setsid;
  child.lead_group = node.lead_group;
  child.join_group = node.join_group;
  child.subreaper = node.subreaper;
  child.group_placeholder = node.group_placeholder;
  child.early_children = node.early_children.data();
  child.early_children_count = node.early_children.size();
  child.children = node.children.data();
  child.children_count = node.children.size();
  if (node.kind != PlanNodeKind::kProcess) return child;
  child.argv = exec.argv.data();
  child.shell_argv = exec.shell_argv.data();
  child.own_env = exec.own_env.data();
  child.own_env_count = exec.own_env.size();
  child.overridden = exec.overridden.data();
  child.overridden_count = exec.overridden.size();
  child.cwd = exec.cwd.empty() ? nullptr : exec.cwd.c_str();
  child.path = exec.path;
  return child;
}

// crpid's signal mask, as the kernel's sigset.
uint64_t OwnSignalMask() {
  uint64_t mask = 0;
  ::syscall(SYS_rt_sigprocmask, SIG_BLOCK, nullptr, &mask, sizeof mask);
  return mask;
}

// The signals crpid has a handler for (a sanitizer's runtime installs
// some): bit n - 1 for signal n.
uint64_t SignalsWithHandlers() {
  struct KernelSigaction {
    void* handler;
    unsigned long flags;
    void* restorer;
    uint64_t mask;
  };
  uint64_t handled = 0;
  for (int n = 1; n <= 64; ++n) {
    KernelSigaction action = {};
    if (::syscall(SYS_rt_sigaction, n, nullptr, &action, sizeof action.mask) == 0 &&
        action.handler != reinterpret_cast<void*>(SIG_DFL) &&
        action.handler != reinterpret_cast<void*>(SIG_IGN)) {
      handled |= uint64_t{1} << (n - 1);
    }
  }
  return handled;
}

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
  child_nodes_.reserve(plan_.nodes.size());
  for (size_t i = 0; i < plan_.nodes.size(); ++i) {
    child_nodes_.push_back(ChildNodeOf(plan_.nodes[i], exec_[i]));
  }
  world_.nodes = child_nodes_.data();
  world_.node_count = child_nodes_.size();
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
  world_.shared = s;
  world_.capability =
      ::geteuid() == 0 ? -1 : CheckpointRestoreCapabilityToRaise(request_.capabilities);
  // The kernel's sigset is the first 8 bytes of glibc's.
  std::memcpy(&world_.command_mask, &request_.command_signal_mask, sizeof world_.command_mask);
  world_.tree_mask = OwnSignalMask();
  world_.handled_signals = SignalsWithHandlers();
  world_.ignore_file_size_signal = CallerIgnoredFileSizeSignal();
  world_.page_size = ::getauxval(AT_PAGESZ);
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
  go_.Reset(::eventfd(0, EFD_CLOEXEC));
  if (!go_.valid()) return SystemError(errno, "eventfd");
  world_.go_fd = go_.get();
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
  method_ = method;
  world_.ns_last_pid = method == ForkMethod::kNsLastPid;
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
// CheckChain 4,608, CheckOpenExec 304, the rest < 200 each; the same in
// every build: fork_tree_child is never instrumented); 64 KiB leaves
// room. Above it, the envp of the largest command.
constexpr size_t kNodeStackBytes = 64 * 1024;

Status Coordinator::MapStacks() {
  size_t env_count = 0;
  for (size_t i = 0; i < plan_.nodes.size(); ++i) {
    if (plan_.nodes[i].kind != PlanNodeKind::kProcess) continue;
    env_count = std::max(env_count, tree_child::EnvironmentCount(world_, child_nodes_[i]));
  }
  world_.env_bytes = (env_count * sizeof(char*) + 15) / 16 * 16;
  if (int err = stacks_.Map(plan_.nodes.size(), kNodeStackBytes + world_.env_bytes); err != 0) {
    return SystemError(err, "cannot map the stacks of " + std::to_string(plan_.nodes.size()) +
                                " processes");
  }
  for (size_t i = 0; i < child_nodes_.size(); ++i) child_nodes_[i].stack = stacks_.Stack(i);
  return Ok{};
}

Status Coordinator::CreateTop() {
  for (int node : plan_.top) {
    const pid_t pid = tree_child::CreateNode(world_, node);
    if (pid == 0) tree_child::TreeProcessMain(world_, node);  // kNsLastPid: the base frame of the tree
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
  if (phase == 4) {
    const uint64_t one = 1;
    if (::write(go_.get(), &one, sizeof one) != sizeof one) {
      return Abort(SystemError(errno, "cannot start the commands (eventfd)"));
    }
    return Ok{};
  }
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
    if (pid < 0 && errno == ECHILD) {
      tree_may_run_ = false;
      return;
    }
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
  if (method_ != ForkMethod::kNsLastPid) {
    if (Status mapped = MapStacks(); !mapped) return mapped.error();
  }
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    return SystemError(errno, "PR_SET_CHILD_SUBREAPER");
  }
  tree_may_run_ = true;
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
  if (Status go = OpenPhase(4); !go) return go.error();
  if (Status execs = WaitForExecs(); !execs) return execs.error();
  tree_may_run_ = false;  // every process has exec'd
  RestoredTree restored;
  restored.root = plan_.nodes[plan_.root].pid;
  restored.processes = request_.tree.processes.size();
  restored.placeholders = plan_.nodes.size() - restored.processes;
  restored.method = method_;
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
