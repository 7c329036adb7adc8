#include "cli/fork_at_command.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <map>

#include "cli/exit_codes.h"
#include "cli/report.h"
#include "src/fork_at.h"
#include "src/procfs.h"
#include "src/supervise.h"
#include "src/unique_fd.h"

namespace crpid::cli {
namespace {

constexpr char kContext[] = "fork-at";

const std::map<std::string, ForkMethod> kMethods = {
    {"auto", ForkMethod::kAuto},
    {"clone3", ForkMethod::kClone3},
    {"ns-last-pid", ForkMethod::kNsLastPid},
};

}  // namespace

CLI::App* RegisterForkAt(CLI::App& app, ForkAtArguments& arguments) {
  CLI::App* command = app.add_subcommand(
      "fork-at", "Run COMMAND as exactly PID (clone3 set_tid, or ns_last_pid)");
  command->add_option("--method", arguments.method,
                      "auto (clone3, falling back to ns_last_pid where the "
                      "kernel lacks clone3 set_tid), clone3, or ns-last-pid")
      ->check(CLI::IsMember({"auto", "clone3", "ns-last-pid"}));
  command->add_flag("--detach", arguments.detach,
                    "print the PID and return once COMMAND runs, without "
                    "waiting for it");
  command->add_option("--pid-file", arguments.pid_file,
                      "write the PID to this file (atomically) before "
                      "COMMAND starts");
  command
      ->add_option("PID", arguments.pid_list,
                   "PID for COMMAND; PID,PID,… sets it in nested PID "
                   "namespaces, innermost first (clone3 only)")
      ->required();
  command->add_option("COMMAND", arguments.command, "command and arguments")
      ->required();
  command->footer(
      "Examples:\n"
      "  crpid fork-at 3000 -- ./restart-job.sh\n"
      "  crpid fork-at --detach --pid-file job.pid 3000 -- ./server\n"
      "  unshare -Urp --fork --mount-proc crpid fork-at 50 -- sh -c 'echo $$'\n"
      "Exit status: COMMAND's own; 125 crpid failed, 126 COMMAND not "
      "executable,\n127 COMMAND not found, 128+N COMMAND killed by signal N.");
  return command;
}

int RunForkAt(const ForkAtArguments& arguments) {
  auto capabilities = StartUp();
  if (!capabilities) return ReportError(kContext, capabilities.error());

  auto pids = ParsePidList(arguments.pid_list);
  if (!pids) return ReportError(kContext, pids.error());
  const ForkMethod method = kMethods.at(arguments.method);
  auto pid_max = ReadPidMax();
  if (!pid_max) return ReportError(kContext, pid_max.error());
  if (Status valid = ValidatePidList(*pids, method, *pid_max,
                                     !ChildrenShareOwnPidNamespace());
      !valid) {
    return ReportError(kContext, valid.error());
  }

  ScopedSignalBlock blocked(ForwardedSignals());
  ForkAtRequest request;
  request.pids = *pids;
  request.method = method;
  request.command = arguments.command;
  // The environment crpid was started with, not glibc's secure-mode copy:
  // COMMAND runs without any capability, like any program the user starts.
  if (auto environment = InitialEnvironment()) request.environment = *environment;
  request.child_signal_mask = blocked.previous();
  request.capabilities = *capabilities;
  auto child = ForkAt(request);
  if (!child) {
    Error error = child.error();
    if (error.err == EPERM && error.hint.empty()) {
      error.hint = CapabilityRemedy(*capabilities);
    }
    return ReportError(kContext, error);
  }
  const pid_t pid = child->pid();
  spdlog::debug("PID {} created with {} after {} attempt(s)", pid,
                ForkMethodName(child->method()), child->attempts());

  // Every capability is gone now (ForkAt), so user-chosen paths are safe.
  if (!arguments.pid_file.empty()) {
    Status written =
        WriteFileAtomically(arguments.pid_file, fmt::format("{}\n", pid));
    if (!written) return ReportError(kContext, written.error());
  }
  if (Status released = child->Release(); !released) {
    if (!arguments.pid_file.empty()) ::unlink(arguments.pid_file.c_str());
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    ReportError(kContext, released.error());
    if (released.error().err == EPIPE) return kExitCrpidError;  // nothing ran
    return released.error().err == ENOENT ? kExitNotFound : kExitCannotExecute;
  }
  if (arguments.detach) {
    ForwardPendingSignals(pid);
    fmt::print("{}\n", pid);
    std::fflush(stdout);
    return kExitOk;
  }
  auto status = WaitForwardingSignals(pid);
  if (!status) return ReportError(kContext, status.error());
  return *status;
}

}  // namespace crpid::cli
