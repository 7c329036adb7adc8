// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// tree_spawner N PIDFILE -- COMMAND [ARG...]: the fork-tree benchmark's
// baseline. Forks N children with no chosen PID, each execs COMMAND, and
// returns once all N have exec'd (a close-on-exec pipe reaches EOF), as
// `crpid fork-tree --detach` does; the children keep running, their PIDs
// in PIDFILE for the caller to end.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc < 5 || std::string(argv[3]) != "--") {
    std::fputs("usage: tree_spawner N PIDFILE -- COMMAND [ARG...]\n", stderr);
    return 2;
  }
  const int count = std::atoi(argv[1]);
  int exec_pipe[2];
  if (::pipe2(exec_pipe, O_CLOEXEC) != 0) return 1;
  std::string pids;
  for (int i = 0; i < count; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execvp(argv[4], argv + 4);
      _exit(127);
    }
    if (pid < 0) return 1;
    pids += std::to_string(pid) + "\n";
  }
  ::close(exec_pipe[1]);
  char byte;
  while (::read(exec_pipe[0], &byte, 1) > 0) {
  }
  FILE* out = std::fopen(argv[2], "w");
  if (out == nullptr) return 1;
  std::fputs(pids.c_str(), out);
  std::fclose(out);
  return 0;
}
