// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/set_mm_command.h"

#include <signal.h>

#include <cerrno>

#include "cli/exit_codes.h"
#include "cli/report.h"
#include "src/set_mm.h"

namespace crpid::cli {
namespace {

constexpr char kContext[] = "set-mm";

}  // namespace

CLI::App* RegisterSetMm(CLI::App& app, SetMmArguments& arguments) {
  CLI::App* command = app.add_subcommand(
      "set-mm",
      "Run PROGRAM in this process with its exe link, argv/env and auxv set "
      "by PR_SET_MM_MAP");
  command->add_option("--exe", arguments.exe,
                      "what /proc/PID/exe shows (default: PROGRAM)");
  command->add_option("--comm", arguments.comm,
                      "the process name (default: PROGRAM's base name)");
  command->add_option("PROGRAM", arguments.command, "program and arguments")
      ->required();
  command->footer(
      "Examples:\n"
      "  crpid set-mm --exe /opt/app/bin/app -- /restore/bin/app-resume --from ckpt\n"
      "  crpid fork-at 3000 -- crpid set-mm --exe /opt/app/bin/app -- "
      "/restore/bin/app-resume\n"
      "Exit status: PROGRAM's own once it runs; 125 crpid failed (before "
      "PROGRAM started, or after the point of no return: then the process "
      "ends with a message), 126 PROGRAM not executable, 127 not found.");
  return command;
}

int RunSetMm(const SetMmArguments& arguments, const char* const* initial_envp) {
  // The mask PROGRAM starts with: the one crpid was started with.
  sigset_t mask;
  ::sigprocmask(SIG_SETMASK, nullptr, &mask);
  auto capabilities = StartUp();
  if (!capabilities) return ReportError(kContext, capabilities.error());

  SetMmRequest request;
  request.command = arguments.command;
  request.exe = arguments.exe;
  request.comm = arguments.comm;
  request.signal_mask = mask;
  request.initial_envp = initial_envp;
  request.capabilities = *capabilities;
  Error error = RunAsProgram(request);
  if (error.err == EPERM && error.hint.empty()) {
    error.hint = CapabilityRemedy(*capabilities);
  }
  ReportError(kContext, error);
  if (error.kind == ErrorKind::kNotFound) return kExitNotFound;
  if (error.err == EACCES || error.err == ENOEXEC || error.err == ELOOP) {
    return kExitCannotExecute;
  }
  return kExitCrpidError;
}

}  // namespace crpid::cli
