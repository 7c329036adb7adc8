// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// `crpid tree save` and `crpid fork-tree`: record a process tree from /proc
// and recreate it at its PIDs, with its parents, groups and sessions.
#ifndef CRPID_CLI_TREE_COMMAND_H_
#define CRPID_CLI_TREE_COMMAND_H_

#include <CLI/CLI.hpp>

#include <string>

namespace crpid::cli {

struct TreeSaveArguments {
  std::string pid;
  std::string output;  // empty: stdout
};

struct ForkTreeArguments {
  std::string file;
  std::string method = "auto";
  bool detach = false;
  int wait_seconds = -1;  // --wait SECONDS; -1: not given
  bool check = false;     // --check: say whether the tree's PIDs are free
  bool json = false;      // --json, with --check
  bool run_others_commands_as_me = false;  // entries of other uids
  bool flatten_pid_namespaces = false;     // entries with several NSpids
};

// Registers `tree` (with its subcommand `save`); returns the `save` app.
CLI::App* RegisterTreeSave(CLI::App& app, TreeSaveArguments& arguments);
CLI::App* RegisterForkTree(CLI::App& app, ForkTreeArguments& arguments);

// Return the process exit code.
int RunTreeSave(const TreeSaveArguments& arguments);
int RunForkTree(const ForkTreeArguments& arguments);

}  // namespace crpid::cli

#endif  // CRPID_CLI_TREE_COMMAND_H_
