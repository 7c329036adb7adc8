// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// crpid front end: parses arguments with CLI11 and hands each subcommand to
// its Run function, which calls the library and picks the exit code.
#include <CLI/CLI.hpp>
#include <sys/prctl.h>
#include <cerrno>
#include <unistd.h>
#include <fmt/core.h>

#include <cstdio>
#include <exception>
#include <new>
#include <sstream>
#include <string>

#include "cli/check_command.h"
#include "cli/exit_codes.h"
#include "cli/fork_at_command.h"
#include "cli/map_files_dump_command.h"
#include "cli/report.h"
#include "cli/set_mm_command.h"
#include "cli/tree_command.h"
#include "src/capabilities.h"
#include "src/stack_limit.h"
#include "src/standard_fds.h"
#include "src/supervise.h"

namespace {

// The subcommand's name for error lines, "start-up" before one is known.
std::string SubcommandName(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) {
    std::string name = sub->get_name();
    for (const CLI::App* inner : sub->get_subcommands()) name += " " + inner->get_name();
    return name;
  }
  return "start-up";
}

// --help and --version through PrintOut, so that a failed write is seen
// with its errno (std::cout's flush would lose it).
int PrintHelp(CLI::App& app, const CLI::Error& request) {
  std::ostringstream out, err;
  const int status = app.exit(request, out, err);
  crpid::cli::PrintOut(out.str());
  std::fputs(err.str().c_str(), stderr);
  return crpid::cli::CloseStandardOutput("", status);
}

// Phase 1 (src/capabilities.h), before anything else, arguments included.
crpid::Status StartPrivileged() {
  // Non-dumpable first: nobody may ptrace crpid or read its memory while it
  // holds the capability. A secure exec already does this, but started from
  // a parent whose permitted set held the capability (root's setpriv, a
  // capability-aware launcher), the kernel leaves crpid dumpable. fork-at's
  // COMMAND is dumpable again through its own execve; set-mm's trampoline
  // sets it for PROGRAM.
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return crpid::SystemError(errno, "cannot make crpid non-dumpable");
  }
  crpid::CloseOnExecWhatSecureModeOpened();
  crpid::IgnoreFileSizeSignal();
  // Nothing runs with the capability effective. Root (euid 0, also in a
  // user namespace) holds its capabilities by being root, not through
  // crpid's file; emptying its effective set would only make the kernel's
  // ptrace checks refuse root's own processes. Phase 3 still drops all.
  if (::geteuid() != 0) return crpid::ClearEffective();
  return crpid::Ok{};
}

// The last resort for an exception nothing caught (one thrown through a
// noexcept function, or in a thread): the default handler aborts with
// SIGABRT and two lines. One line and crpid's own exit code instead;
// write(2) and _exit only, as std::terminate may run anywhere.
[[noreturn]] void TerminateWithOneLine() {
  static constexpr char kLine[] =
      "crpid: internal error: an exception ended crpid; if memory ran out, raise "
      "ulimit -v or give a smaller input\n";
  (void)!::write(STDERR_FILENO, kLine, sizeof kLine - 1);
  ::_exit(crpid::cli::kExitCrpidError);
}

// A failed allocation (std::bad_alloc: ulimit -v, a huge input) or any other
// exception out of a subcommand or a CLI11 callback: one line, exit 125.
int ReportException(const std::string& context, const std::exception* exception) {
  crpid::Error error{crpid::ErrorKind::kSystem, 0, {}, {}};
  if (exception != nullptr && dynamic_cast<const std::bad_alloc*>(exception) != nullptr) {
    error.err = ENOMEM;
    error.message = "out of memory (std::bad_alloc)";
    error.hint = "raise the memory limit (ulimit -v, -d) or give a smaller input";
  } else {
    error.message = std::string("internal error: ") +
                    (exception != nullptr ? exception->what() : "an unknown exception");
    error.hint = "please report it";
  }
  return crpid::cli::ReportError(context, error);
}

int Run(int argc, char** argv);

}  // namespace

int main(int argc, char** argv) {
  std::set_terminate(TerminateWithOneLine);
  try {
    return Run(argc, argv);
  } catch (const std::exception& exception) {
    return ReportException("start-up", &exception);
  } catch (...) {
    return ReportException("start-up", nullptr);
  }
}

namespace {

int Run(int argc, char** argv) {
  using namespace crpid::cli;
  if (crpid::Status started = StartPrivileged(); !started) {
    return ReportError("start-up", started.error());
  }
  CLI::App app{
      "crpid: checkpoint/restore operations for ordinary users, with the "
      "single file capability CAP_CHECKPOINT_RESTORE",
      "crpid"};
  app.set_version_flag("--version", fmt::format("crpid {}", kVersion));
  app.require_subcommand(1);
  app.fallthrough();
  int verbosity = 0;
  std::string log_level;
  app.add_flag("-v,--verbose", verbosity, "more detail on stderr (-vv: more)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error",
                             "critical", "off"}));
  app.footer(
      "Exit status: 125 crpid failed; fork-at passes on COMMAND's status "
      "(126 not executable, 127 not found, 128+N killed by signal N),\n"
      "fork-tree the root's; "
      "map-files-dump --verify exits 1 on a mismatch; check exits 1 when a "
      "needed feature is missing.\n"
      "Run 'crpid SUBCOMMAND --help' for a subcommand's options and "
      "examples.");

  ForkAtArguments fork_at;
  CLI::App* fork_at_command = RegisterForkAt(app, fork_at);
  MapFilesDumpArguments map_files_dump;
  CLI::App* map_files_dump_command = RegisterMapFilesDump(app, map_files_dump);
  CheckArguments check;
  CLI::App* check_command = RegisterCheck(app, check);
  SetMmArguments set_mm;
  CLI::App* set_mm_command = RegisterSetMm(app, set_mm);
  TreeSaveArguments tree_save;
  CLI::App* tree_save_command = RegisterTreeSave(app, tree_save);
  ForkTreeArguments fork_tree;
  CLI::App* fork_tree_command = RegisterForkTree(app, fork_tree);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return PrintHelp(app, e);
  } catch (const CLI::CallForAllHelp& e) {
    return PrintHelp(app, e);
  } catch (const CLI::CallForVersion& e) {
    return PrintHelp(app, e);
  } catch (const CLI::ParseError& e) {
    std::string context = "crpid";
    for (const CLI::App* sub : app.get_subcommands()) {
      context += " " + sub->get_name();
      for (const CLI::App* inner : sub->get_subcommands()) context += " " + inner->get_name();
    }
    std::fputs(fmt::format("crpid: {}; run '{} --help'\n",
                           EscapeControlCharacters(e.what()), context)
                   .c_str(),
               stderr);
    return kExitCrpidError;
  } catch (const std::exception& e) {  // thrown by a callback of CLI11's
    return ReportException(SubcommandName(app), &e);
  }
  int status = kExitCrpidError;
  try {
    SetUpLogging(verbosity, log_level);
    // The caller's soft stack limit, which a secure exec clamped (see
    // src/stack_limit.h); COMMAND and PROGRAM inherit it.
    if (auto stack = crpid::RestoreCallerStackLimit(); !stack) {
      return ReportError(SubcommandName(app), stack.error());
    }
    if (fork_at_command->parsed()) {
      status = RunForkAt(fork_at);
    } else if (map_files_dump_command->parsed()) {
      status = RunMapFilesDump(map_files_dump);
    } else if (set_mm_command->parsed()) {
      status = RunSetMm(set_mm, argv + argc + 1);
    } else if (check_command->parsed()) {
      status = RunCheck(check);
    } else if (tree_save_command->parsed()) {
      status = RunTreeSave(tree_save);
    } else if (fork_tree_command->parsed()) {
      status = RunForkTree(fork_tree);
    }
  } catch (const std::exception& e) {
    return ReportException(SubcommandName(app), &e);
  } catch (...) {
    return ReportException(SubcommandName(app), nullptr);
  }
  // One place checks that what went to standard output got out.
  return CloseStandardOutput(SubcommandName(app), status);
}

}  // namespace
