// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// tree_builder OUT: builds the process tree the fork-tree tests restore and
// writes "R A E G" and the other four PIDs to OUT once it is in place (E
// already gone), then every process execs `sleep 1000`:
//
//   R  subreaper, leads session R and group R
//   ├─ A  setsid: leads session A and group A
//   │  ├─ B  setpgid(0, 0): group B in session A
//   │  │  └─ C  group B (four levels: R, A, B, C)
//   │  └─ D  group A
//   ├─ F  orphan: E's child, reparented to R; group E, whose leader E exited
//   └─ G  group R
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace {

int g_ready[2];

[[noreturn]] void Sleep() {
  ::execlp("sleep", "sleep", "1000", static_cast<char*>(nullptr));
  _exit(127);
}

void Ready() {
  char byte = 'r';
  if (::write(g_ready[1], &byte, 1) != 1) _exit(2);
}

pid_t Fork(void (*body)()) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    body();
    Sleep();
  }
  return pid;
}

void C() { Ready(); }
void D() { Ready(); }
void F() { Ready(); }
void G() { Ready(); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fputs("usage: tree_builder OUT\n", stderr);
    return 2;
  }
  if (::setsid() < 0 || ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 ||
      ::pipe(g_ready) != 0) {
    std::perror("tree_builder");
    return 1;
  }
  // PIDs of grandchildren travel back through a second pipe.
  int pids[2];
  if (::pipe(pids) != 0) return 1;
  const pid_t a = ::fork();
  if (a == 0) {
    ::setsid();
    const pid_t b = ::fork();
    if (b == 0) {
      ::setpgid(0, 0);
      const pid_t c = Fork(C);
      if (::write(pids[1], &c, sizeof c) != sizeof c) _exit(2);
      Ready();
      Sleep();
    }
    const pid_t d = Fork(D);
    if (::write(pids[1], &b, sizeof b) != sizeof b || ::write(pids[1], &d, sizeof d) != sizeof d) _exit(2);
    Ready();
    Sleep();
  }
  const pid_t e = ::fork();
  if (e == 0) {
    ::setpgid(0, 0);
    const pid_t f = Fork(F);
    if (::write(pids[1], &f, sizeof f) != sizeof f) _exit(2);
    _exit(0);  // F becomes R's orphan; group E loses its leader
  }
  const pid_t g = Fork(G);
  // Ready bytes: A, B, C, D, F, G.
  for (int i = 0; i < 6; ++i) {
    char byte;
    if (::read(g_ready[0], &byte, 1) != 1) return 1;
  }
  // C, B, D and F, in whatever order they were written.
  pid_t got[4];
  for (pid_t& pid : got) {
    if (::read(pids[0], &pid, sizeof pid) != sizeof pid) return 1;
  }
  ::waitpid(e, nullptr, 0);
  std::string text;
  for (pid_t pid : got) text += " " + std::to_string(pid);
  FILE* out = std::fopen((std::string(argv[1]) + ".tmp").c_str(), "w");
  if (out == nullptr) return 1;
  std::fprintf(out, "%d %d %d %d%s\n", ::getpid(), a, e, g, text.c_str());
  std::fclose(out);
  ::rename((std::string(argv[1]) + ".tmp").c_str(), argv[1]);
  ::close(g_ready[0]);
  ::close(g_ready[1]);
  ::close(pids[0]);
  ::close(pids[1]);
  Sleep();
}
