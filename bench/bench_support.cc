// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "bench/bench_support.h"

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace crpid::bench {
namespace {

// Nearest-rank percentile of sorted samples, q in [0, 1].
double Percentile(const std::vector<double>& sorted, double q) {
  return sorted[static_cast<size_t>(q * (sorted.size() - 1) + 0.5)];
}

Summary Summarize(std::vector<double> micros) {
  std::sort(micros.begin(), micros.end());
  return Summary{micros.size(), micros.front(), Percentile(micros, 0.1),
                 Percentile(micros, 0.5), Percentile(micros, 0.9)};
}

}  // namespace

double NowMicros() {
  timespec now;
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec) * 1e6 +
         static_cast<double>(now.tv_nsec) / 1e3;
}

pid_t Spawn(char* const argv[]) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execvp(argv[0], argv);
    _exit(127);
  }
  return pid;
}

bool WaitSucceeded(pid_t pid) {
  if (pid < 0) return false;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return false;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string FormatSummary(const Summary& summary) {
  char text[160];
  std::snprintf(text, sizeof text,
                "runs=%zu min_us=%.1f p10_us=%.1f median_us=%.1f p90_us=%.1f",
                summary.runs, summary.min, summary.p10, summary.median,
                summary.p90);
  return text;
}

std::optional<CommandLine> ParseCommandLine(
    int argc, char** argv, std::map<std::string, long> defaults,
    std::string_view usage) {
  CommandLine line{std::move(defaults), {}};
  int i = 1;
  for (; i + 1 < argc && std::strncmp(argv[i], "--", 2) == 0 &&
         argv[i][2] != '\0';
       i += 2) {
    auto option = line.options.find(argv[i] + 2);
    char* end = nullptr;
    const long value = std::strtol(argv[i + 1], &end, 10);
    if (option == line.options.end() || *end != '\0' || value < 0) break;
    option->second = value;
  }
  if (i < argc && std::strcmp(argv[i], "--") == 0) ++i;
  if (i >= argc || argv[i][0] == '-' || line.options["runs"] < 1) {
    std::fprintf(stderr, "usage: %.*s\n", static_cast<int>(usage.size()),
                 usage.data());
    return std::nullopt;
  }
  line.command.assign(argv + i, argv + argc);
  line.command.push_back(nullptr);
  return line;
}

std::optional<Summary> TimeRuns(const CommandLine& line,
                                const std::function<bool()>& run) {
  const long warmup = line.options.at("warmup");
  const long runs = line.options.at("runs");
  std::vector<double> micros;
  for (long i = 0; i < warmup + runs; ++i) {
    const double start = NowMicros();
    if (!run()) return std::nullopt;
    if (i >= warmup) micros.push_back(NowMicros() - start);
  }
  return Summarize(std::move(micros));
}

}  // namespace crpid::bench
