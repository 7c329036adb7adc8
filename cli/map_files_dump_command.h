// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// `crpid map-files-dump`: save what a process maps from files.
#ifndef CRPID_CLI_MAP_FILES_DUMP_COMMAND_H_
#define CRPID_CLI_MAP_FILES_DUMP_COMMAND_H_

#include <CLI/CLI.hpp>

#include <string>

namespace crpid::cli {

struct MapFilesDumpArguments {
  std::string pid;
  std::string output;
  bool list = false;
  bool json = false;
  std::string only;  // empty: what no path reaches
  bool force = false;
  bool by_path = false;
  std::string verify;
};

CLI::App* RegisterMapFilesDump(CLI::App& app, MapFilesDumpArguments& arguments);

// Returns the process exit code: 0, 1 (--verify found a mismatch), 125.
int RunMapFilesDump(const MapFilesDumpArguments& arguments);

}  // namespace crpid::cli

#endif  // CRPID_CLI_MAP_FILES_DUMP_COMMAND_H_
