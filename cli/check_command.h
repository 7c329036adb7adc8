// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// `crpid check`: why crpid does or does not work here, feature by feature.
#ifndef CRPID_CLI_CHECK_COMMAND_H_
#define CRPID_CLI_CHECK_COMMAND_H_

#include <CLI/CLI.hpp>

#include <string>

namespace crpid::cli {

struct CheckArguments {
  bool json = false;
  std::string feature;  // empty: all
};

CLI::App* RegisterCheck(CLI::App& app, CheckArguments& arguments);

// 0 when every needed feature (or the one asked for) is there, 1 when not,
// 125 on a usage error.
int RunCheck(const CheckArguments& arguments);

}  // namespace crpid::cli

#endif  // CRPID_CLI_CHECK_COMMAND_H_
