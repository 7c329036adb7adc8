// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Times a command line: fork + execvp + waitpid, N times, each run on
// CLOCK_MONOTONIC; prints min, p10, median and p90 in microseconds. The
// same driver times every case, so its own fork cost cancels out in ratios.
#include <cstdio>

#include "bench/bench_support.h"

int main(int argc, char** argv) {
  using namespace crpid::bench;
  auto line = ParseCommandLine(
      argc, argv, {{"runs", 300}, {"warmup", 10}},
      "spawn_timer [--runs N] [--warmup N] -- COMMAND [ARG...]");
  if (!line) return 2;
  auto summary = TimeRuns(
      *line, [&] { return WaitSucceeded(Spawn(line->command.data())); });
  if (!summary) {
    std::fprintf(stderr, "spawn_timer: '%s' failed\n", line->command[0]);
    return 1;
  }
  std::printf("%s\n", FormatSummary(*summary).c_str());
  return 0;
}
