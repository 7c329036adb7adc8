// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// What the fork-at benchmark drivers share: a monotonic clock, the spawn
// they time, percentile summaries and a small command-line parser.
#ifndef CRPID_BENCH_BENCH_SUPPORT_H_
#define CRPID_BENCH_BENCH_SUPPORT_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crpid::bench {

// Microseconds on CLOCK_MONOTONIC, which clock adjustments cannot skew.
double NowMicros();

// fork + execvp of a null-terminated argv. The child exits 127 if exec
// fails. Returns the child's PID, or -1 if fork failed.
pid_t Spawn(char* const argv[]);

// Reaps pid (retrying on EINTR); true if it exited with status 0.
bool WaitSucceeded(pid_t pid);

struct Summary {
  size_t runs = 0;
  double min = 0, p10 = 0, median = 0, p90 = 0;
};

// "runs=N min_us=… p10_us=… median_us=… p90_us=…": readable by people, and
// fork_at_bench.sh picks the fields out by name.
std::string FormatSummary(const Summary& summary);

// --NAME VALUE integer options, then "--" and the command to run.
struct CommandLine {
  std::map<std::string, long> options;
  std::vector<char*> command;  // null-terminated, ready for execvp
};

// Starts from `defaults`; unknown options or a missing command print usage
// to stderr and give nullopt.
std::optional<CommandLine> ParseCommandLine(
    int argc, char** argv, std::map<std::string, long> defaults,
    std::string_view usage);

// Calls run() options["warmup"] times untimed (to fill the page cache),
// then options["runs"] times timed. nullopt as soon as a run fails.
std::optional<Summary> TimeRuns(const CommandLine& line,
                                const std::function<bool()>& run);

}  // namespace crpid::bench

#endif  // CRPID_BENCH_BENCH_SUPPORT_H_
