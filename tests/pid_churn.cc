// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Test helper: forks and reaps for N seconds, as fast as it can or at most
// RATE forks per second: to race crpid's ns_last_pid fallback for the PIDs
// it targets, and to cycle PIDs under scripts/test.sh --under-load.
//   pid_churn [SECONDS [RATE]]
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double Since(const struct timespec* start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 5.0;
  const double rate = argc > 2 ? atof(argv[2]) : 0.0;  // 0: unlimited
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (long forks = 1;; ++forks) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, NULL, 0);
    const double elapsed = Since(&start);
    if (elapsed > seconds) return 0;
    const double ahead = rate > 0 ? (double)forks / rate - elapsed : 0;
    if (ahead > 0) {
      struct timespec pause = {(time_t)ahead, (long)((ahead - (double)(time_t)ahead) * 1e9)};
      nanosleep(&pause, NULL);
    }
  }
}
