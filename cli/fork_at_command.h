// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// `crpid fork-at`: run a command as a chosen PID.
#ifndef CRPID_CLI_FORK_AT_COMMAND_H_
#define CRPID_CLI_FORK_AT_COMMAND_H_

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace crpid::cli {

struct ForkAtArguments {
  std::string pid_list;
  std::string method = "auto";
  bool detach = false;
  std::string pid_file;
  std::string pid_map;  // --pid-map FILE: the PID comes from its KEY line
  bool pid_map_given = false;  // even as '' (which is then refused)
  std::string key;      // --key; SLURM_PROCID when not given
  bool key_given = false;
  std::vector<std::string> command;
  int wait_seconds = -1;  // --wait SECONDS; -1: not given
  bool check = false;     // --check: say whether the PIDs are free, run nothing
  bool json = false;      // --json, with --check
};

CLI::App* RegisterForkAt(CLI::App& app, ForkAtArguments& arguments);

// Returns the process exit code.
int RunForkAt(const ForkAtArguments& arguments);

}  // namespace crpid::cli

#endif  // CRPID_CLI_FORK_AT_COMMAND_H_
