// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// `crpid set-mm`: run a program whose exe link, argv/env ranges and auxv are
// set with PR_SET_MM_MAP.
#ifndef CRPID_CLI_SET_MM_COMMAND_H_
#define CRPID_CLI_SET_MM_COMMAND_H_

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace crpid::cli {

struct SetMmArguments {
  std::string exe;
  std::string comm;
  std::vector<std::string> command;
};

CLI::App* RegisterSetMm(CLI::App& app, SetMmArguments& arguments);

// Runs PROGRAM in this process; returns only when a check fails before the
// point of no return, with the exit code.
// initial_envp: main()'s argv + argc + 1 (see SetMmRequest).
int RunSetMm(const SetMmArguments& arguments, const char* const* initial_envp);

}  // namespace crpid::cli

#endif  // CRPID_CLI_SET_MM_COMMAND_H_
