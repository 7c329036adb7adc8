// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/fork_at.h"

#include <pthread.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <climits>
#include <string>
#include <ctime>
#include <utility>

#include "src/clone3.h"
#include "src/kernel_probe.h"
#include "src/pid_holder.h"
#include "src/procfs.h"
#include "src/supervise.h"

namespace crpid {
namespace {

constexpr char kGo = 'G';
// ns_last_pid's flock is tried every 10 ms for this many times (10 s).
constexpr int kLockTries = 1000;
// Exit status of a child that was told not to exec (never seen by users:
// the parent reaps it and reports its own error).
constexpr int kChildAborted = 125;

// What the child needs between fork and exec, prepared before forking so the
// child allocates nothing.
struct ChildContext {
  pid_t expected_pid;  // innermost PID, as the child itself will read it
  int go_read;
  int go_write;
  int report_read;
  int report_write;
  char* const* argv;
  char* const* envp;
  const sigset_t* signal_mask;
  // crpid, which the child dies with until it execs, as getppid shows it:
  // 0 where the child is in a new PID namespace crpid is not in.
  pid_t parent;
};

// Runs in the new process: async-signal-safe calls only. First every
// capability set is emptied (also what a child stopped by its owner before
// its first instruction does once it runs again, whatever happened to
// crpid meanwhile), then it is killed with crpid until it execs, also while
// stopped; a crpid that died before prctl is seen by getppid.
[[noreturn]] void ChildMain(const ChildContext& context) {
  if (DropAllCapabilitiesRaw() != 0) _exit(kChildAborted);
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || ::getppid() != context.parent) {
    _exit(kChildAborted);
  }
  ::close(context.go_write);
  ::close(context.report_read);
  pid_t self = static_cast<pid_t>(::syscall(SYS_getpid));
  if (WriteFullyRaw(context.report_write, &self, sizeof self) < 0 ||
      self != context.expected_pid) {
    _exit(kChildAborted);
  }
  char go = 0;
  if (ReadFullyRaw(context.go_read, &go, 1) != 1 || go != kGo) {
    _exit(kChildAborted);
  }
  ::close(context.go_read);
  // COMMAND runs as if started directly: it does not die with crpid.
  ::prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
  RestoreFileSizeSignal();
  ::sigprocmask(SIG_SETMASK, context.signal_mask, nullptr);
  ::execvpe(context.argv[0], context.argv, context.envp);
  int err = errno;
  WriteFullyRaw(context.report_write, &err, sizeof err);
  _exit(err == ENOENT ? 127 : 126);
}

void Reap(pid_t pid) {
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}


std::string JoinPids(const std::vector<pid_t>& pids) {
  std::string text;
  for (pid_t pid : pids) {
    if (!text.empty()) text += ',';
    text += std::to_string(pid);
  }
  return text;
}

// One attempt's pipes and the child created with them.
struct Attempt {
  Pipe go;
  Pipe report;
  std::vector<char*> argv;
  std::vector<char*> envp;
  ChildContext context;
};

Result<Attempt> PrepareAttempt(const ForkAtRequest& request,
                               std::vector<std::string>& argv_storage,
                               std::vector<std::string>& envp_storage) {
  auto go = MakePipe();
  if (!go) return go.error();
  auto report = MakePipe();
  if (!report) return report.error();
  Attempt attempt{std::move(*go), std::move(*report), {}, {}, {}};
  for (std::string& arg : argv_storage) attempt.argv.push_back(arg.data());
  attempt.argv.push_back(nullptr);
  if (envp_storage.empty()) {
    for (char** entry = environ; *entry != nullptr; ++entry) attempt.envp.push_back(*entry);
  } else {
    for (std::string& entry : envp_storage) attempt.envp.push_back(entry.data());
  }
  attempt.envp.push_back(nullptr);
  attempt.context = ChildContext{
      request.pids.front(),           attempt.go.read_end.get(),
      attempt.go.write_end.get(),     attempt.report.read_end.get(),
      attempt.report.write_end.get(), attempt.argv.data(),
      attempt.envp.data(),            &request.child_signal_mask,
      ChildrenShareOwnPidNamespace() ? ::getpid() : 0};
  return attempt;
}

// After fork in the parent: keep only the parent's ends and read the PID the
// child reports. Returns -1 if the child died before reporting.
pid_t ReadReportedPid(Attempt& attempt) {
  attempt.go.read_end.Reset();
  attempt.report.write_end.Reset();
  pid_t reported = -1;
  if (ReadFullyRaw(attempt.report.read_end.get(), &reported,
                   sizeof reported) != sizeof reported) {
    return -1;
  }
  return reported;
}

// EEXIST: says what holds the PID (the innermost one is the only one this
// namespace's /proc shows).
Error InUseError(const std::vector<pid_t>& pids) {
  const PidHolder holder = FindPidHolder(pids.front());
  Error error{ErrorKind::kBusy, EEXIST, DescribeHolder(holder),
              "pick a free PID, or " + HolderRemedy(holder)};
  if (holder.free()) {
    error.message = pids.size() == 1
                        ? "PID " + JoinPids(pids) + " was in use a moment ago (it is free now)"
                        : "one of PIDs " + JoinPids(pids) + " is already in use";
    error.hint = "run crpid again; --wait SECONDS waits for a PID to be free";
  }
  return error;
}

Error Clone3Error(int err, const std::vector<pid_t>& pids) {
  std::string what = "cannot create PID " + JoinPids(pids) + " with clone3";
  Error error = SystemError(err, what);
  if (err == EEXIST) {
    error = InUseError(pids);
  } else if (err == EINVAL && pids.size() == 1 && !ChildrenShareOwnPidNamespace()) {
    error.message = "cannot create PID " + JoinPids(pids) +
                    ": the new PID namespace has no init yet, and its first "
                    "process is always PID 1";
    error.hint = "create PID 1 first: 'unshare -Urp crpid fork-at 1 -- COMMAND'";
  } else if (err == EINVAL && pids.size() > 1) {
    error.message = "PID list " + JoinPids(pids) +
                    " has more entries than the PID namespaces crpid's "
                    "children are nested in";
    error.hint =
        "give one PID per namespace level, innermost first, no more than the "
        "nesting depth";
  }
  return error;
}

}  // namespace

// Hands a verified child over to a PendingChild.
struct PendingChildMaker {
  static PendingChild Make(pid_t pid, ForkMethod method, int attempts,
                           Attempt& attempt, const std::string& command_name) {
    return PendingChild(pid, method, attempts,
                        std::move(attempt.go.write_end),
                        std::move(attempt.report.read_end), command_name);
  }
};

const char* ForkMethodName(ForkMethod method) {
  switch (method) {
    case ForkMethod::kAuto:
      return "auto";
    case ForkMethod::kClone3:
      return "clone3";
    case ForkMethod::kNsLastPid:
      return "ns-last-pid";
  }
  return "unknown";
}

namespace {

// The user's text in an error line, bounded (an argument can be 128 KiB).
std::string Shown(std::string_view text) {
  constexpr size_t kShown = 24;
  return text.size() > kShown ? std::string(text.substr(0, kShown)) + "..."
                              : std::string(text);
}

}  // namespace

Result<std::vector<pid_t>> ParsePidList(std::string_view text) {
  std::vector<pid_t> pids;
  size_t start = 0;
  for (;;) {
    size_t comma = text.find(',', start);
    std::string_view item = text.substr(
        start, comma == std::string_view::npos ? comma : comma - start);
    const std::string shown = Shown(item);
    if (item.empty()) {
      return Error{ErrorKind::kInvalidInput, 0,
                   "empty PID in '" + Shown(text) + "'",
                   "give PID[,PID…], decimal numbers, innermost namespace "
                   "first"};
    }
    if (item.front() == '-' &&
        item.find_first_not_of("0123456789", 1) == std::string_view::npos &&
        item.size() > 1) {
      return Error{ErrorKind::kInvalidInput, 0,
                   "PID " + shown + " is not positive",
                   "PIDs start at 1"};
    }
    if (item.find_first_not_of("0123456789") != std::string_view::npos) {
      return Error{ErrorKind::kInvalidInput, 0,
                   "PID '" + shown + "' is not a number",
                   "give PID[,PID…], decimal numbers, innermost namespace "
                   "first"};
    }
    long long value = 0;
    auto [end, ec] =
        std::from_chars(item.data(), item.data() + item.size(), value);
    if (ec != std::errc() || end != item.data() + item.size() ||
        value > INT_MAX) {
      return Error{ErrorKind::kInvalidInput, 0,
                   "PID " + shown + " is out of range",
                   "PIDs are below kernel.pid_max, at most 4194304"};
    }
    if (value <= 0) {
      return Error{ErrorKind::kInvalidInput, 0,
                   "PID " + shown + " is not positive", "PIDs start at 1"};
    }
    pids.push_back(static_cast<pid_t>(value));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (pids.size() > kMaxPidNamespaceLevels) {
    return Error{ErrorKind::kInvalidInput, 0,
                 "PID list has " + std::to_string(pids.size()) +
                     " entries, more than the kernel's " +
                     std::to_string(kMaxPidNamespaceLevels) +
                     " PID namespace levels",
                 "give one PID per namespace level, innermost first"};
  }
  return pids;
}

Status ValidatePidList(const std::vector<pid_t>& pids, ForkMethod method,
                       long pid_max, bool children_in_new_pid_namespace) {
  if (pids.empty()) {
    return Error{ErrorKind::kInvalidInput, 0, "no PID given", {}};
  }
  if (pids.front() >= pid_max) {
    return Error{ErrorKind::kInvalidInput, 0,
                 "PID " + std::to_string(pids.front()) +
                     " is not below kernel.pid_max (" +
                     std::to_string(pid_max) + ")",
                 "choose a smaller PID, or raise the limit as root: sysctl "
                 "-w kernel.pid_max=4194304"};
  }
  if (pids.size() > 1 && method == ForkMethod::kNsLastPid) {
    return Error{ErrorKind::kInvalidInput, 0,
                 "--method ns-last-pid takes a single PID, not the list " +
                     JoinPids(pids),
                 "nested PIDs need clone3 with set_tid (--method clone3, "
                 "Linux 5.5+)"};
  }
  if (pids.front() == 1 && !children_in_new_pid_namespace) {
    return Error{ErrorKind::kInvalidInput, 0,
                 "PID 1 is the init of this PID namespace and always taken",
                 "PID 1 can only be the first process of a new PID namespace: "
                 "run 'unshare -Urp crpid fork-at 1 -- COMMAND' (no --fork)"};
  }
  return Ok{};
}

PendingChild::PendingChild(pid_t pid, ForkMethod method, int attempts,
                           UniqueFd go, UniqueFd report,
                           std::string command_name)
    : pid_(pid),
      waiting_(true),
      method_(method),
      attempts_(attempts),
      go_(std::move(go)),
      report_(std::move(report)),
      command_name_(std::move(command_name)) {}

PendingChild::PendingChild(PendingChild&& other) noexcept
    : pid_(other.pid_),
      waiting_(std::exchange(other.waiting_, false)),
      method_(other.method_),
      attempts_(other.attempts_),
      go_(std::move(other.go_)),
      report_(std::move(other.report_)),
      command_name_(std::move(other.command_name_)) {}

PendingChild::~PendingChild() {
  if (waiting_) Abort();
}

void PendingChild::Abort() {
  waiting_ = false;
  go_.Reset();  // the child reads EOF and exits without exec
  Reap(pid_);
}

Status PendingChild::Release() {
  waiting_ = false;
  const char go = kGo;
  // A child killed while waiting makes this write raise SIGPIPE: block it
  // for the write and discard it, so crpid reports instead of dying.
  sigset_t pipe_signal, previous;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_signal, &previous);
  const bool sent = WriteFullyRaw(go_.get(), &go, 1) == 1;
  const int write_errno = errno;
  if (!sent && write_errno == EPIPE) {
    const timespec no_wait = {0, 0};
    ::sigtimedwait(&pipe_signal, nullptr, &no_wait);
  }
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (!sent) {
    Error error = SystemError(write_errno, "cannot start the command in PID " +
                                               std::to_string(pid_));
    if (write_errno == EPIPE) {
      error.message = "PID " + std::to_string(pid_) +
                      " ended (killed?) before the command started";
      error.hint = "nothing ran; run crpid again";
    }
    go_.Reset();
    Reap(pid_);
    return error;
  }
  go_.Reset();
  int exec_errno = 0;
  ssize_t n = ReadFullyRaw(report_.get(), &exec_errno, sizeof exec_errno);
  report_.Reset();
  if (n == sizeof exec_errno) {
    Error error = SystemError(exec_errno, "cannot run '" + command_name_ + "'");
    if (exec_errno == ENOENT) {
      error.hint = "check the command name and PATH";
    }
    return error;
  }
  return Ok{};
}

namespace {

// Creates the child with clone3; the capability is effective only around
// the call itself.
Result<PendingChild> ForkWithClone3(const ForkAtRequest& request,
                                    std::vector<std::string>& argv_storage,
                                    std::vector<std::string>& envp_storage) {
  auto attempt = PrepareAttempt(request, argv_storage, envp_storage);
  if (!attempt) return attempt.error();
  pid_t pid;
  int err;
  {
    ScopedEffectiveCapability capability(
        CheckpointRestoreCapabilityToRaise(request.capabilities));
    pid = Clone3WithSetTid(request.pids.data(), request.pids.size());
    if (pid == 0) ChildMain(attempt->context);
    err = errno;
  }
  if (pid < 0) return Clone3Error(err, request.pids);
  if (ReadReportedPid(*attempt) != request.pids.front()) {
    attempt->go.write_end.Reset();
    Reap(pid);
    return Error{ErrorKind::kSystem, 0,
                 "clone3 created the child, but not at PID " +
                     std::to_string(request.pids.front()),
                 {}};
  }
  return PendingChildMaker::Make(pid, ForkMethod::kClone3, 1, *attempt,
                     request.command.front());
}

}  // namespace

Status NsLastPidPermitted() {
  auto owned = OwnsPidNamespace();
  if (owned && *owned) return Ok{};
  // Only a definite "no set_tid here" lets an ordinary user move the
  // namespace's counter: a clone3 that failed for another reason (EAGAIN
  // when RLIMIT_NPROC is used up, which the user controls) says nothing.
  switch (ProbeClone3()) {
    case Clone3Support::kMissing:
    case Clone3Support::kNoSetTid:
    case Clone3Support::kBlocked:
      return Ok{};
    case Clone3Support::kUnknown: {
      Error error = SystemError(errno, "cannot tell whether clone3 set_tid works here");
      error.hint = "crpid writes ns_last_pid only where it does not; if the process "
                   "limit (ulimit -u) or a pids cgroup is used up, end some processes";
      return error;
    }
    case Clone3Support::kSetTid:
      break;
  }
  return Error{ErrorKind::kInvalidInput, 0,
               "--method ns-last-pid is refused where clone3 set_tid works: "
               "writing ns_last_pid sets the next PID of every process in "
               "this PID namespace, not only crpid's child",
               "use --method auto or clone3 (ns-last-pid is for kernels "
               "without set_tid, or inside your own 'unshare -Urp')"};
}

namespace {

// Sets the namespace's last PID to target-1 and forks, under an exclusive
// flock on ns_last_pid (CRIU's convention) so cooperating restorers take
// turns. Any other process forking in between steals the PID: the child
// reports where it landed, and a wrong one is discarded and retried.
Result<PendingChild> ForkWithNsLastPid(const ForkAtRequest& request,
                                       std::vector<std::string>& argv_storage,
                                       std::vector<std::string>& envp_storage) {
  if (Status permitted = NsLastPidPermitted(); !permitted) return permitted.error();
  const pid_t target = request.pids.front();
  auto last_pid = OpenFile("/proc/sys/kernel/ns_last_pid", O_RDWR);
  if (!last_pid) {
    Error error = last_pid.error();
    if (error.err == ENOENT) {
      error.kind = ErrorKind::kUnsupported;
      error.hint = "the kernel lacks CONFIG_CHECKPOINT_RESTORE";
    }
    return error;
  }
  // The file is 0666: anyone can hold this lock. Wait a while for another
  // restorer's turn, but not forever.
  for (int tries = 0; ::flock(last_pid->get(), LOCK_EX | LOCK_NB) != 0; ++tries) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return SystemError(errno, "cannot lock /proc/sys/kernel/ns_last_pid");
    }
    if (tries == kLockTries) {
      return Error{ErrorKind::kBusy, EWOULDBLOCK,
                   "another process has held the lock on "
                   "/proc/sys/kernel/ns_last_pid for " +
                       std::to_string(kLockTries / 100) + " s",
                   "find it with 'fuser /proc/sys/kernel/ns_last_pid'"};
    }
    ::usleep(10000);
  }
  const std::string previous = std::to_string(target - 1);
  for (int attempt_number = 1; attempt_number <= request.max_attempts;
       ++attempt_number) {
    auto attempt = PrepareAttempt(request, argv_storage, envp_storage);
    if (!attempt) return attempt.error();
    int err = 0;
    {
      ScopedEffectiveCapability capability(
          CheckpointRestoreCapabilityToRaise(request.capabilities));
      if (::pwrite(last_pid->get(), previous.data(), previous.size(), 0) < 0) {
        err = errno;
      }
    }
    if (err != 0) {
      return SystemError(err, "cannot write " + previous +
                                  " to /proc/sys/kernel/ns_last_pid");
    }
    pid_t pid = ::fork();
    if (pid == 0) ChildMain(attempt->context);
    if (pid < 0) return SystemError(errno, "fork");
    if (ReadReportedPid(*attempt) == target) {
      return PendingChildMaker::Make(pid, ForkMethod::kNsLastPid, attempt_number,
                         *attempt, request.command.front());
    }
    attempt->go.write_end.Reset();
    Reap(pid);
    // Landing elsewhere also means the PID is held, perhaps by no process:
    // a group or session ID the fork skipped over.
    if (!FindPidHolder(target).free()) return InUseError(request.pids);
  }
  return Error{ErrorKind::kBusy, 0,
               "other processes took PID " + std::to_string(target) +
                   " first in all " + std::to_string(request.max_attempts) +
                   " attempts through ns_last_pid",
               "retry when the machine forks less, or use a kernel with "
               "clone3 set_tid (5.5+), which cannot race"};
}

// Phase 3 (capabilities.h): the child exists at its PID and nothing
// privileged is left to do, so the parent gives up every capability.
Result<PendingChild> DropCapabilitiesAfter(Result<PendingChild> child) {
  if (!child) return child;
  if (Status dropped = DropCapabilitiesForGood(); !dropped) return dropped.error();
  return child;
}

}  // namespace

Result<PendingChild> ForkAt(const ForkAtRequest& request) {
  if (request.pids.empty() || request.command.empty()) {
    return Error{ErrorKind::kInvalidInput, 0, "no PID or no command", {}};
  }
  std::vector<std::string> argv_storage = request.command;
  std::vector<std::string> envp_storage = request.environment;
  if (request.method == ForkMethod::kNsLastPid) {
    return DropCapabilitiesAfter(ForkWithNsLastPid(request, argv_storage, envp_storage));
  }
  Result<PendingChild> cloned = ForkWithClone3(request, argv_storage, envp_storage);
  if (cloned) return DropCapabilitiesAfter(std::move(cloned));
  Error error = cloned.error();
  // A seccomp profile may answer EPERM for clone3 itself; CRIU's probe tells
  // that from a missing capability (set_tid {-1} is refused before that).
  const bool blocked =
      error.err == EPERM && ProbeClone3() == Clone3Support::kBlocked;
  if (error.err != ENOSYS && error.err != E2BIG && !blocked) return error;
  if (request.method == ForkMethod::kAuto && request.pids.size() == 1) {
    return DropCapabilitiesAfter(ForkWithNsLastPid(request, argv_storage, envp_storage));
  }
  error.kind = ErrorKind::kUnsupported;
  error.message += error.err == E2BIG
                       ? " (clone3 without set_tid: Linux < 5.5)"
                       : " (no clone3: Linux < 5.3, or a seccomp filter)";
  error.hint = request.pids.size() > 1
                   ? "a PID list needs clone3 with set_tid (Linux 5.5+)"
                   : "use --method auto or --method ns-last-pid";
  return error;
}

}  // namespace crpid
