// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/check_command.h"

#include <fmt/core.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "cli/exit_codes.h"
#include "cli/report.h"
#include "src/feature_probes.h"

namespace crpid::cli {
namespace {

constexpr char kContext[] = "check";
constexpr int kExitMissing = 1;

std::string FeatureNames() {
  std::string names;
  for (const FeatureProbe& probe : FeatureProbes()) {
    if (!names.empty()) names += ", ";
    names += probe.name;
  }
  return names;
}

}  // namespace

CLI::App* RegisterCheck(CLI::App& app, CheckArguments& arguments) {
  CLI::App* command = app.add_subcommand(
      "check", "Probe, by trying each operation, what crpid can do here");
  command->add_flag("--json", arguments.json, "print the results as JSON");
  command->add_option("--feature", arguments.feature, "probe one feature only: " +
                                                          FeatureNames());
  command->footer(
      "Examples:\n"
      "  crpid check\n"
      "  crpid check --feature fork-at && echo usable\n"
      "Exit status: 0 every needed feature present (or the one asked for); "
      "1 not; 125 crpid failed.");
  return command;
}

int RunCheck(const CheckArguments& arguments) {
  auto capabilities = StartUp();
  if (!capabilities) return ReportError(kContext, capabilities.error());
  std::vector<const FeatureProbe*> selected;
  for (const FeatureProbe& probe : FeatureProbes()) {
    if (arguments.feature.empty() || arguments.feature == probe.name) {
      selected.push_back(&probe);
    }
  }
  if (selected.empty()) {
    return ReportError(kContext, Error{ErrorKind::kInvalidInput, 0,
                                       "no feature named '" + arguments.feature + "'",
                                       "choose one of " + FeatureNames()});
  }
  nlohmann::json features = nlohmann::json::array();
  std::vector<std::string> missing;
  for (const FeatureProbe* probe : selected) {
    const ProbeResult result = RunProbe(*probe, *capabilities);
    // Asked for by name, a feature decides the status whether needed or not.
    const bool counts = probe->needed || !arguments.feature.empty();
    if (counts && !result.ok) missing.push_back(probe->name);
    if (arguments.json) {
      features.push_back({{"name", probe->name},
                          {"ok", result.ok},
                          {"needed", probe->needed},
                          {"detail", result.detail}});
    } else {
      PrintOut(fmt::format("{:<16} {:<4} {}\n", probe->name,
                 result.ok ? "yes" : (probe->needed ? "NO" : "no"), result.detail));
    }
  }
  const std::string verdict =
      missing.empty()
          ? "crpid works here"
          : fmt::format("missing: {}", fmt::join(missing, ", "));
  if (arguments.json) {
    nlohmann::json report = {{"features", features},
                             {"ok", missing.empty()},
                             {"verdict", verdict}};
    PrintOut(fmt::format("{}\n", report.dump(2)));
  } else {
    PrintOut(fmt::format("verdict: {}\n", verdict));
  }
  return missing.empty() ? kExitOk : kExitMissing;
}

}  // namespace crpid::cli
