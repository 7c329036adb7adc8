// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// The baseline fork-at replaces: without privilege, the only way to get a
// chosen PID is to burn PIDs (fork and reap empty children) until the
// kernel's counter sits just before the target, then spawn the command and
// hope nobody else forked in between. Each timed run covers the whole
// cycling plus the spawn, for a target AHEAD PIDs past ns_last_pid.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>

#include "bench/bench_support.h"
#include "src/procfs.h"
#include "src/unique_fd.h"

namespace crpid::bench {
namespace {

// The kernel hands out PIDs cyclically, skipping those in use; past
// pid_max-1 it wraps to RESERVED_PIDS (300), not to 1.
constexpr pid_t kReservedPids = 300;

class PidRing {
 public:
  explicit PidRing(long pid_max) : pid_max_(pid_max) {}

  pid_t Next(pid_t pid) const {
    return pid + 1 < pid_max_ ? pid + 1 : kReservedPids;
  }
  pid_t Advance(pid_t pid, long steps) const {
    if (pid + steps < pid_max_) return static_cast<pid_t>(pid + steps);
    return static_cast<pid_t>(kReservedPids + (pid + steps - pid_max_) %
                                                  (pid_max_ - kReservedPids));
  }
  // How many Next steps lead from `from` to `to`.
  long Distance(pid_t from, pid_t to) const {
    return to >= from ? to - from : (pid_max_ - from) + (to - kReservedPids);
  }
  long size() const { return pid_max_ - kReservedPids; }

 private:
  long pid_max_;
};

// Near the target, PIDs in use just before it mean the counter is already
// as close as it can get; checking only then keeps the loop as lean as the
// workaround people actually ran.
constexpr long kBusyCheckWindow = 64;

struct Landing {
  pid_t target;
  pid_t landed;
  long burned;  // empty children forked
};

long ReadNsLastPid() {
  auto text = ReadFileToString("/proc/sys/kernel/ns_last_pid");
  return text ? std::strtol(text->c_str(), nullptr, 10) : -1;
}

// vfork: the cheapest unprivileged way to use up one PID (about 3x faster
// than fork here), so the baseline is not a straw man.
pid_t BurnPid() {
  const pid_t pid = ::vfork();
  if (pid == 0) _exit(0);
  if (pid > 0) ::waitpid(pid, nullptr, 0);
  return pid;
}

bool OnlyBusyBetween(const PidRing& ring, pid_t from, pid_t to) {
  for (pid_t pid = ring.Next(from); pid != to; pid = ring.Next(pid)) {
    if (!PidInUse(pid)) return false;
  }
  return true;
}

std::optional<Landing> CycleAndSpawn(const PidRing& ring, long ahead,
                                     char* const argv[]) {
  const long last = ReadNsLastPid();
  if (last < 0) return std::nullopt;
  Landing landing{ring.Advance(static_cast<pid_t>(last), ahead), -1, 0};
  while (PidInUse(landing.target)) landing.target = ring.Next(landing.target);
  pid_t current = static_cast<pid_t>(last);
  for (;;) {
    // 0 means an empty child took the target: go round again.
    const long remaining = ring.Distance(current, landing.target);
    if (remaining == 1 || (remaining > 1 && remaining <= kBusyCheckWindow &&
                           OnlyBusyBetween(ring, current, landing.target))) {
      break;
    }
    current = BurnPid();
    if (current < 0 || ++landing.burned > 3 * ring.size()) return std::nullopt;
  }
  landing.landed = Spawn(argv);
  if (!WaitSucceeded(landing.landed)) return std::nullopt;
  return landing;
}

}  // namespace
}  // namespace crpid::bench

int main(int argc, char** argv) {
  using namespace crpid::bench;
  auto line = ParseCommandLine(
      argc, argv, {{"runs", 10}, {"warmup", 0}, {"ahead", 1000}},
      "pid_cycler [--runs N] [--warmup N] [--ahead PIDS] -- COMMAND [ARG...]");
  if (!line) return 2;
  auto pid_max = crpid::ReadPidMax();
  if (!pid_max) return 1;
  const PidRing ring(*pid_max);
  const long ahead = line->options["ahead"];
  long overshoot = 0, burned = 0, exact = 0, landings = 0;
  auto summary = TimeRuns(*line, [&] {
    auto landing = CycleAndSpawn(ring, ahead, line->command.data());
    if (!landing) return false;
    overshoot += ring.Distance(landing->target, landing->landed);
    exact += landing->landed == landing->target;
    burned += landing->burned;
    ++landings;
    return true;
  });
  if (!summary) {
    std::fprintf(stderr, "pid_cycler: cycling to '%s' failed\n",
                 line->command[0]);
    return 1;
  }
  std::printf(
      "%s ahead=%ld burned_mean=%.0f overshoot_mean=%.2f exact=%ld/%ld\n",
      FormatSummary(*summary).c_str(), ahead,
      static_cast<double>(burned) / landings,
      static_cast<double>(overshoot) / landings, exact, landings);
  return 0;
}
