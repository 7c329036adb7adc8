// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/fork_at_command.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>

#include "cli/exit_codes.h"
#include "cli/pid_status.h"
#include "cli/report.h"
#include "src/capabilities.h"
#include "src/fork_at.h"
#include "src/pid_holder.h"
#include "src/pid_map.h"
#include "src/procfs.h"
#include "src/supervise.h"
#include "src/temporaries.h"
#include "src/unique_fd.h"

namespace crpid::cli {
namespace {

constexpr char kContext[] = "fork-at";

const std::map<std::string, ForkMethod> kMethods = {
    {"auto", ForkMethod::kAuto},
    {"clone3", ForkMethod::kClone3},
    {"ns-last-pid", ForkMethod::kNsLastPid},
};

Error UsageError(std::string message, std::string hint) {
  return Error{ErrorKind::kInvalidInput, 0, std::move(message), std::move(hint)};
}

// The key of the task's line: --key, else SLURM_PROCID as the task was
// started with it (the caller's own input, like PID on the command line).
Result<std::string> PidMapKey(const std::optional<std::string>& key) {
  if (key) {  // given, even empty: checked, never replaced by SLURM_PROCID
    if (Status valid = ValidatePidMapKey(*key, "--key"); !valid) return valid.error();
    return *key;
  }
  auto environment = InitialEnvironment();
  if (!environment) return environment.error();
  std::optional<std::string> procid;
  for (const std::string& variable : *environment) {
    if (!variable.starts_with("SLURM_PROCID=")) continue;
    // The command's shell would take the last of two, crpid the first.
    if (procid) {
      return UsageError("SLURM_PROCID is set twice in the environment",
                        "give --key KEY, or start crpid with one SLURM_PROCID");
    }
    procid = variable.substr(std::strlen("SLURM_PROCID="));
  }
  if (procid) {
    if (Status valid = ValidatePidMapKey(*procid, "SLURM_PROCID"); !valid) {
      return valid.error();
    }
    return *procid;
  }
  return UsageError("--pid-map needs a key: neither --key nor SLURM_PROCID is set",
                    "give --key KEY, or run it as a Slurm task (srun)");
}

// The PID list from the command line or from the PID map. With --pid-map,
// CLI11 has put COMMAND's first word where PID goes (nothing tells it apart
// after "--"); it moves back to COMMAND. A PID list there is refused as
// ambiguous rather than run as a program named like a number.
Result<std::vector<pid_t>> ResolvePid(ForkAtArguments& arguments) {
  if (!arguments.pid_map_given) {
    if (arguments.key_given) {
      return UsageError("--key goes with --pid-map", "give --pid-map FILE too");
    }
    if (arguments.pid_list.empty()) {
      return UsageError("PID is required", "give PID, or --pid-map FILE");
    }
    if (arguments.command.empty()) {
      return UsageError("COMMAND is required",
                        "give it after --, as in 'crpid fork-at 3000 -- ./job'");
    }
    return ParsePidList(arguments.pid_list);
  }
  if (!arguments.pid_list.empty()) {
    if (ParsePidList(arguments.pid_list)) {
      return UsageError("both a PID (" + arguments.pid_list + ") and --pid-map given",
                        "give one of them");
    }
    arguments.command.insert(arguments.command.begin(), arguments.pid_list);
  }
  if (arguments.command.empty()) {
    return UsageError("COMMAND is required",
                      "give it after --, as in 'crpid fork-at --pid-map FILE -- ./job'");
  }
  auto key = PidMapKey(arguments.key_given ? std::optional<std::string>(arguments.key)
                                            : std::nullopt);
  if (!key) return key.error();
  auto map = ReadPidMap(arguments.pid_map);
  if (!map) return map.error();
  auto pids = LookUpPidMap(*map, *key);
  if (!pids) {
    return UsageError("no key '" + *key + "' in PID map " + arguments.pid_map,
                      pids.error().hint);
  }
  spdlog::debug("PID map {}: key {}", arguments.pid_map, *key);
  return pids;
}

// --check's PIDs: each argument's innermost one (the one this namespace's
// /proc shows), or those of the PID map: the key's line when a key is
// given (--key, SLURM_PROCID), every line otherwise.
Result<std::vector<pid_t>> PidsToCheck(const ForkAtArguments& arguments) {
  std::vector<std::string> lists = arguments.command;
  if (!arguments.pid_list.empty()) lists.insert(lists.begin(), arguments.pid_list);
  if (arguments.detach || !arguments.pid_file.empty()) {
    return UsageError("--check runs nothing: --detach and --pid-file do not go with it",
                      "leave them out");
  }
  std::vector<pid_t> pids;
  if (!arguments.pid_map_given) {
    if (arguments.key_given) {
      return UsageError("--key goes with --pid-map", "give --pid-map FILE too");
    }
    if (lists.empty()) return UsageError("--check needs a PID", "give PID…, or --pid-map FILE");
    for (const std::string& list : lists) {
      auto parsed = ParsePidList(list);
      if (!parsed) return parsed.error();
      pids.push_back(parsed->front());
    }
    return pids;
  }
  if (!lists.empty()) {
    return UsageError("both PIDs (" + lists.front() + ") and --pid-map given", "give one of them");
  }
  auto map = ReadPidMap(arguments.pid_map);
  if (!map) return map.error();
  bool has_key = arguments.key_given;
  if (!has_key) {
    if (auto environment = InitialEnvironment()) {
      for (const std::string& variable : *environment) {
        has_key = has_key || variable.starts_with("SLURM_PROCID=");
      }
    }
  }
  if (!has_key) {
    for (const PidMapEntry& entry : *map) pids.push_back(entry.pids.front());
    return pids;
  }
  auto key = PidMapKey(arguments.key_given ? std::optional<std::string>(arguments.key)
                                            : std::nullopt);
  if (!key) return key.error();
  auto found = LookUpPidMap(*map, *key);
  if (!found) {
    return UsageError("no key '" + *key + "' in PID map " + arguments.pid_map,
                      found.error().hint);
  }
  return std::vector<pid_t>{found->front()};
}

int RunForkAtCheck(const ForkAtArguments& arguments) {
  // Nothing is created: no capability is needed, so none is kept, before
  // the PID map (a user's file) or /proc is read.
  if (Status dropped = DropCapabilitiesForGood(); !dropped) {
    return ReportError(kContext, dropped.error());
  }
  if (Status can_tell = ProcCanTell("--check"); !can_tell) {
    return ReportError(kContext, can_tell.error());
  }
  auto pids = PidsToCheck(arguments);
  if (!pids) return ReportError(kContext, pids.error());
  return CheckPids(kContext, *pids, arguments.json, arguments.wait_seconds);
}

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
      ->add_option("--pid-map", arguments.pid_map,
                   "take the PID from this file's line 'KEY PID[,PID…]' "
                   "instead of the command line")
      ->each([&arguments](const std::string&) { arguments.pid_map_given = true; });
  command
      ->add_option("--key", arguments.key,
                   "the --pid-map line to use (default: $SLURM_PROCID)")
      ->each([&arguments](const std::string&) { arguments.key_given = true; });
  command->add_option("--wait", arguments.wait_seconds,
                      "wait up to SECONDS for the PID to be free (a zombie reaped, a "
                      "group or session emptied) before creating it")
      ->check(CLI::Range(0, 86400));
  command->add_flag("--check", arguments.check,
                    "create nothing: print for each PID 'free' or what holds it; exit 0 "
                    "when all are free, 1 when not");
  command->add_flag("--json", arguments.json, "with --check: print JSON");
  // Neither is required here: with --pid-map the first word after "--" is
  // COMMAND, which CLI11 would otherwise take for PID (see ResolvePid).
  command->add_option("PID", arguments.pid_list,
                      "PID for COMMAND; PID,PID,… sets it in nested PID "
                      "namespaces, innermost first (clone3 only)");
  command->add_option("COMMAND", arguments.command, "command and arguments");
  command->footer(
      "Examples:\n"
      "  crpid fork-at 3000 -- ./restart-job.sh\n"
      "  crpid fork-at --detach --pid-file job.pid 3000 -- ./server\n"
      "  unshare -Urp --fork --mount-proc crpid fork-at 50 -- sh -c 'echo $$'\n"
      "  srun crpid fork-at --pid-map ckpt/pids -- ./rank --resume ckpt\n"
      "  crpid fork-at --wait 10 3000 -- ./restart-job.sh\n"
      "  crpid fork-at --check 3000 3001 || echo taken\n"
      "Exit status: COMMAND's own; 125 crpid failed (also: a PID still held after\n"
      "--wait), 126 COMMAND not executable, 127 COMMAND not found, 128+N COMMAND\n"
      "killed by signal N (or crpid's wait ended by it). --check: 0 all free, 1 not.");
  return command;
}

int RunForkAt(const ForkAtArguments& parsed) {
  auto capabilities = StartUp();
  if (!capabilities) return ReportError(kContext, capabilities.error());

  if (parsed.json && !parsed.check) {
    return ReportError(kContext, UsageError("--json goes with --check", "give --check too"));
  }
  if (parsed.check) return RunForkAtCheck(parsed);
  ForkAtArguments arguments = parsed;
  auto pids = ResolvePid(arguments);
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
  // A new PID namespace of crpid's children (unshare -p without --fork) is
  // empty: nothing to wait for.
  if (arguments.wait_seconds >= 0 && ChildrenShareOwnPidNamespace()) {
    // Only the innermost PID is in this namespace's /proc.
    if (Status can_tell = ProcCanTell("--wait"); !can_tell) {
      return ReportError(kContext, can_tell.error());
    }
    const int code = WaitForFreePids(kContext, {pids->front()}, arguments.wait_seconds);
    if (code >= 0) return code;
  }
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

  {
    // From the PID file's temporary until COMMAND runs, a signal that ends
    // crpid waits (src/temporaries.h): interrupted, the write leaves
    // nothing and COMMAND never starts; later, it ends crpid with COMMAND
    // running and the PID file in place, as if it had come after.
    TerminationHold hold;
    // Every capability is gone now (ForkAt), so user-chosen paths are safe.
    if (!arguments.pid_file.empty()) {
      Status written =
          WriteFileAtomically(arguments.pid_file, fmt::format("{}\n", pid));
      if (!written && written.error().err == EINTR && TerminationHold::Pending() != 0) {
        return ReportInterrupted(kContext, written.error());
      }
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
  }
  if (arguments.detach) {
    ForwardPendingSignals(pid);
    PrintOut(fmt::format("{}\n", pid));
    // The PID is the result: a caller that cannot get it must not see 0.
    if (!FlushStandardOutput(kContext, fmt::format("COMMAND runs as PID {}", pid))) {
      return kExitCrpidError;
    }
    return kExitOk;
  }
  auto status = WaitForwardingSignals(pid);
  if (!status) return ReportError(kContext, status.error());
  return *status;
}

}  // namespace crpid::cli
