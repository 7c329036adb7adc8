// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Growth checks for unit tests, in place of wall-clock bounds (which fail on
// a loaded machine): the CPU time this thread spends on an input 10x larger,
// as a ratio to the smaller input's, in one run.
#ifndef CRPID_TESTS_GROWTH_H_
#define CRPID_TESTS_GROWTH_H_

#include <time.h>

#include <algorithm>
#include <functional>

namespace crpid::testing {

// The least CPU time (seconds) this thread spent in run() over `repeats`
// runs. Thread CPU time leaves out the time spent waiting for a CPU, so other
// processes' load does not enter it; the least of several runs leaves out a
// run that an interrupt or a migration slowed.
inline double LeastThreadCpuSeconds(const std::function<void()>& run, int repeats = 3) {
  double least = 1e30;
  for (int i = 0; i < repeats; ++i) {
    timespec start{}, end{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
    run();
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end);
    least = std::min(least, static_cast<double>(end.tv_sec - start.tv_sec) +
                                static_cast<double>(end.tv_nsec - start.tv_nsec) / 1e9);
  }
  return least;
}

// A linear (or n log n) algorithm takes about 10x (measured: see each test)
// for 10x input; a quadratic one about 100x. Tests fail above this ratio,
// far from both.
inline constexpr double kMaxLinearRatio = 30.0;

}  // namespace crpid::testing

#endif  // CRPID_TESTS_GROWTH_H_
