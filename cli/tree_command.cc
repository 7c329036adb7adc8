#include "cli/tree_command.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>

#include "cli/exit_codes.h"
#include "cli/report.h"
#include "src/fork_at.h"
#include "src/fork_tree.h"
#include "src/process_tree.h"
#include "src/procfs.h"
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

Result<std::string> ReadTreeFile(const std::string& path) {
  // O_NONBLOCK: a FIFO must not block crpid; only regular files are read.
  auto fd = OpenFile(path, O_RDONLY | O_NONBLOCK);
  if (!fd) return fd.error();
  struct stat st = {};
  if (::fstat(fd->get(), &st) != 0) return SystemError(errno, "cannot stat " + path);
  if (!S_ISREG(st.st_mode)) {
    return Error{ErrorKind::kInvalidInput, 0, path + " is not a regular file",
                 "give the file 'crpid tree save' wrote"};
  }
  if (static_cast<size_t>(st.st_size) > kMaxTreeFileBytes) {
    return Error{ErrorKind::kInvalidInput, 0,
                 path + " is larger than " + std::to_string(kMaxTreeFileBytes >> 20) + " MiB",
                 "give the file 'crpid tree save' wrote"};
  }
  auto text = ReadAll(fd->get());
  if (!text) return SystemError(text.error().err, "cannot read " + path);
  return text;
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
  command->add_option("FILE", arguments.file, "a file 'crpid tree save' wrote (may be edited)")
      ->required();
  command->footer(
      "Examples:\n"
      "  crpid fork-tree job.tree\n"
      "  jq '.processes[0].command = [\"./restart.sh\"]' job.tree > restart.tree &&\n"
      "    crpid fork-tree restart.tree\n"
      "Each command gets CRPID_TREE_INDEX, its entry's index in \"processes\".\n"
      "Exit status: the root's own; 125 crpid failed (nothing ran), 126 a command\n"
      "not executable, 127 a command not found, 128+N the root killed by signal N.");
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
  spdlog::debug("saved {} processes under PID {}", tree->processes.size(), *root);
  return kExitOk;
}

int RunForkTree(const ForkTreeArguments& arguments) {
  auto capabilities = StartUp();
  if (!capabilities) return ReportError(kForkTreeContext, capabilities.error());
  // Read with an empty effective set: the user's own access rights.
  auto text = ReadTreeFile(arguments.file);
  if (!text) return ReportError(kForkTreeContext, text.error());
  auto tree = ParseProcessTree(*text);
  if (!tree) {
    Error error = tree.error();
    error.message = arguments.file + ": " + error.message;
    return ReportError(kForkTreeContext, error);
  }
  ScopedSignalBlock blocked(ForwardedSignals());
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
