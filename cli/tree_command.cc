// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/tree_command.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <vector>

#include "cli/exit_codes.h"
#include "cli/pid_status.h"
#include "cli/report.h"
#include "src/capabilities.h"
#include "src/fork_at.h"
#include "src/fork_tree.h"
#include "src/process_tree.h"
#include "src/procfs.h"
#include "src/steering_file.h"
#include "src/supervise.h"
#include "src/temporaries.h"
#include "src/unique_fd.h"

namespace crpid::cli {
namespace {

constexpr char kSaveContext[] = "tree save";
constexpr char kForkTreeContext[] = "fork-tree";

const std::map<std::string, ForkMethod> kMethods = {
    {"auto", ForkMethod::kAuto},
    {"clone3", ForkMethod::kClone3},
    {"ns-last-pid", ForkMethod::kNsLastPid},
};

// What tree save could not read, and the threads a restart will not have:
// one warning line each, the file says the rest.
void WarnAboutGaps(const ProcessTree& tree) {
  size_t unreadable = 0, threaded = 0;
  for (const TreeProcess& process : tree.processes) {
    unreadable += !process.unreadable.empty();
    threaded += process.threads > 1;
  }
  if (unreadable > 0) {
    spdlog::warn("{} of {} processes have fields /proc would not show (listed under "
                 "\"unreadable\"; other users' processes hide cwd and exe)",
                 unreadable, tree.processes.size());
  }
  if (threaded > 0) {
    spdlog::warn("{} processes have several threads; threads are recorded, not "
                 "recreated: fork-tree starts each command with one",
                 threaded);
  }
}

// Other users' processes in a saved tree: fork-tree refuses them unless
// told to run their commands as the caller. One line naming them.
void WarnAboutOtherUsers(const ProcessTree& tree) {
  constexpr size_t kNamed = 8;
  const uid_t self = ::getuid();
  std::string named;
  size_t others = 0;
  for (const TreeProcess& process : tree.processes) {
    if (!process.uid || *process.uid == self) continue;
    if (++others <= kNamed) {
      named += fmt::format("{}PID {} uid {}", named.empty() ? "" : ", ", process.pid,
                           *process.uid);
    }
  }
  if (others == 0) return;
  if (others > kNamed) named += fmt::format(" and {} more", others - kNamed);
  spdlog::warn("{} of {} processes belong to users other than you (uid {}): {}; fork-tree "
               "refuses them unless given --run-others-commands-as-me",
               others, tree.processes.size(), self, named);
}

Result<pid_t> ParseRootPid(const std::string& text) {
  auto pids = ParsePidList(text);
  if (!pids) return pids.error();
  if (pids->size() != 1) {
    return Error{ErrorKind::kInvalidInput, 0, "give one PID, not '" + text + "'", {}};
  }
  return pids->front();
}

}  // namespace

CLI::App* RegisterTreeSave(CLI::App& app, TreeSaveArguments& arguments) {
  CLI::App* tree = app.add_subcommand("tree", "Process trees: 'tree save PID'");
  tree->require_subcommand(1);
  CLI::App* save = tree->add_subcommand(
      "save", "Record the process tree rooted at PID from /proc, as JSON (no capability used)");
  save->add_option("PID", arguments.pid, "the root of the tree")->required();
  save->add_option("-o,--output", arguments.output,
                   "write to FILE (atomically) instead of standard output");
  save->footer(
      "Examples:\n"
      "  crpid tree save 4242 -o job.tree\n"
      "  crpid tree save $$ | jq '.processes[].pid'\n"
      "Exit status: 0 saved, 125 crpid failed (also when standard output cannot be\n"
      "written), 128+N signal N interrupted the write (nothing is left behind).");
  return save;
}

CLI::App* RegisterForkTree(CLI::App& app, ForkTreeArguments& arguments) {
  CLI::App* command = app.add_subcommand(
      "fork-tree",
      "Recreate a saved process tree at its PIDs, groups and sessions, and run each "
      "process's command");
  command->add_option("--method", arguments.method,
                      "auto (clone3 set_tid, ns_last_pid where the kernel lacks it), "
                      "clone3, or ns-last-pid")
      ->check(CLI::IsMember({"auto", "clone3", "ns-last-pid"}));
  command->add_flag("--detach", arguments.detach,
                    "print the root's PID and return once every command runs");
  command->add_option("--wait", arguments.wait_seconds,
                      "wait up to SECONDS for the tree's PIDs to be free (zombies reaped, "
                      "groups and sessions emptied) before creating anything")
      ->check(CLI::Range(0, 86400));
  command->add_flag("--check", arguments.check,
                    "create nothing: print for each PID the tree needs 'free' or what "
                    "holds it; exit 0 when all are free, 1 when not");
  command->add_flag("--json", arguments.json, "with --check: print JSON");
  command->add_flag("--run-others-commands-as-me", arguments.run_others_commands_as_me,
                    "restore entries tree save recorded as other users' processes too, "
                    "running the commands they chose as you (refused by default)");
  command->add_flag("--flatten-pid-namespaces", arguments.flatten_pid_namespaces,
                    "recreate processes saved inside a nested PID namespace at their "
                    "outer PIDs, in crpid's namespace, without the nested one "
                    "(refused by default)");
  command->add_option("FILE", arguments.file, "a file 'crpid tree save' wrote (may be edited)")
      ->required();
  command->footer(
      "Examples:\n"
      "  crpid fork-tree job.tree\n"
      "  jq '.processes[0].command = [\"./restart.sh\"]' job.tree > restart.tree &&\n"
      "    crpid fork-tree restart.tree\n"
      "  crpid fork-tree --wait 10 job.tree\n"
      "  crpid fork-tree --check --json job.tree\n"
      "Each command gets CRPID_TREE_INDEX, its entry's index in \"processes\".\n"
      "Exit status: the root's own; 125 crpid failed (nothing ran; also a PID still\n"
      "held after --wait), 126 a command not executable, 127 a command not found,\n"
      "128+N the root killed by signal N (or crpid's wait ended by it).\n"
      "--check: 0 all free, 1 not.");
  return command;
}

int RunTreeSave(const TreeSaveArguments& arguments) {
  auto capabilities = StartUp();
  if (!capabilities) return ReportError(kSaveContext, capabilities.error());
  // Nothing here needs a capability: give it up before reading anything.
  if (Status dropped = DropCapabilitiesForGood(); !dropped) {
    return ReportError(kSaveContext, dropped.error());
  }
  auto root = ParseRootPid(arguments.pid);
  if (!root) return ReportError(kSaveContext, root.error());
  auto tree = ReadProcessTree(*root);
  if (!tree) return ReportError(kSaveContext, tree.error());
  const std::string json = ProcessTreeToJson(*tree);
  if (arguments.output.empty()) {
    PrintOut(json);
    if (!FlushStandardOutput(kSaveContext)) return kExitCrpidError;
  } else {
    // A signal during the write must not leave the temporary behind: held
    // back, it ends crpid once the temporary is gone (src/temporaries.h).
    TerminationHold hold;
    if (Status written = WriteFileAtomically(arguments.output, json); !written) {
      if (written.error().err == EINTR && TerminationHold::Pending() != 0) {
        return ReportInterrupted(kSaveContext, written.error());
      }
      return ReportError(kSaveContext, written.error());
    }
  }
  WarnAboutGaps(*tree);
  WarnAboutOtherUsers(*tree);
  spdlog::debug("saved {} processes under PID {}", tree->processes.size(), *root);
  return kExitOk;
}

int RunForkTree(const ForkTreeArguments& arguments) {
  auto capabilities = StartUp();
  if (!capabilities) return ReportError(kForkTreeContext, capabilities.error());
  if (arguments.json && !arguments.check) {
    return ReportError(kForkTreeContext, Error{ErrorKind::kInvalidInput, 0,
                                               "--json goes with --check", "give --check too"});
  }
  if (arguments.check && arguments.detach) {
    return ReportError(kForkTreeContext,
                       Error{ErrorKind::kInvalidInput, 0,
                             "--check runs nothing: --detach does not go with it",
                             "leave it out"});
  }
  // --check creates nothing: it keeps no capability, from before the file
  // is read. Otherwise the file is read with an empty effective set: the
  // user's own access rights. The file chooses PIDs and commands: the rule
  // of src/steering_file.h.
  if (arguments.check) {
    if (Status dropped = DropCapabilitiesForGood(); !dropped) {
      return ReportError(kForkTreeContext, dropped.error());
    }
  }
  auto text = ReadSteeringFile(arguments.file, "tree file", kMaxTreeFileBytes);
  if (!text) return ReportError(kForkTreeContext, text.error());
  // The file's problems name the file.
  const auto refuse = [&arguments](Error error) {
    error.message = arguments.file + ": " + error.message;
    return ReportError(kForkTreeContext, error);
  };
  auto tree = ParseProcessTree(*text);
  if (!tree) return refuse(tree.error());
  if (!arguments.run_others_commands_as_me) {
    std::vector<uid_t> callers = {::getuid()};
    if (auto outside = UidInParentUserNamespace()) callers.push_back(*outside);
    if (Status own = CheckEntriesAreCallers(*tree, callers); !own) return refuse(own.error());
  }
  if (!arguments.flatten_pid_namespaces) {
    if (Status flat = CheckNoNestedPidNamespaces(*tree); !flat) return refuse(flat.error());
  }
  if (arguments.check || arguments.wait_seconds >= 0) {
    const char* option = arguments.check ? "--check" : "--wait";
    if (Status can_tell = ProcCanTell(option); !can_tell) {
      return ReportError(kForkTreeContext, can_tell.error());
    }
  }
  std::vector<pid_t> needed;
  if (arguments.check || arguments.wait_seconds >= 0) {
    auto pids = PidsTreeNeeds(*tree, /*refuse_own_pid=*/!arguments.check);
    if (!pids) return refuse(pids.error());
    needed = std::move(*pids);
  }
  if (arguments.check) {
    return CheckPids(kForkTreeContext, needed, arguments.json, arguments.wait_seconds);
  }
  ScopedSignalBlock blocked(ForwardedSignals());
  if (arguments.wait_seconds >= 0) {
    const int code = WaitForFreePids(kForkTreeContext, needed, arguments.wait_seconds);
    if (code >= 0) return code;
  }
  ForkTreeRequest request;
  request.tree = std::move(*tree);
  request.method = kMethods.at(arguments.method);
  if (auto environment = InitialEnvironment()) request.environment = *environment;
  request.command_signal_mask = blocked.previous();
  request.capabilities = *capabilities;
  auto restored = ForkTree(request);
  if (!restored) {
    Error error = restored.error();
    if (error.err == EPERM && error.hint.empty()) error.hint = CapabilityRemedy(*capabilities);
    ReportError(kForkTreeContext, error);
    if (error.message.rfind("cannot run '", 0) == 0) {
      return error.err == ENOENT ? kExitNotFound : kExitCannotExecute;
    }
    return kExitCrpidError;
  }
  spdlog::debug("{} processes and {} placeholders created with {}; root PID {}",
                restored->processes, restored->placeholders,
                ForkMethodName(restored->method), restored->root);
  if (arguments.detach) {
    ForwardPendingSignals(restored->root);
    PrintOut(fmt::format("{}\n", restored->root));
    // The PID is the result: a caller that cannot get it must not see 0.
    if (!FlushStandardOutput(kForkTreeContext,
                             fmt::format("the tree runs, its root as PID {}", restored->root))) {
      return kExitCrpidError;
    }
    return kExitOk;
  }
  auto status = WaitForTree(restored->root);
  if (!status) return ReportError(kForkTreeContext, status.error());
  return *status;
}

}  // namespace crpid::cli
