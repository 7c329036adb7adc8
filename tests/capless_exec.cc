// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// capless_exec PROGRAM [ARG…]: execs PROGRAM after checking that this process
// holds no capability at all, the way a user's shell runs crpid. Tests start
// it through `setpriv --reuid=65534 …` from root: setpriv keeps root's
// permitted set until it execs, and an exec from such a parent is not the
// secure exec users get. This launcher is exec'd without any file capability
// as nobody, so the kernel empties its sets; it verifies that and execs.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

namespace {

// Returns the first Cap* line of /proc/self/status that is not all zeros,
// or "" when every set is empty.
std::string NonEmptyCapabilitySet() {
  std::ifstream status("/proc/self/status");
  std::string line;
  bool seen = false;
  while (std::getline(status, line)) {
    for (const char* name : {"CapInh:", "CapPrm:", "CapEff:", "CapAmb:"}) {
      if (line.rfind(name, 0) != 0) continue;
      seen = true;
      if (line.find_first_not_of("0 \t", std::strlen(name)) != std::string::npos) {
        return line;
      }
    }
  }
  return seen ? "" : "no Cap* lines in /proc/self/status";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs("usage: capless_exec PROGRAM [ARG…]\n", stderr);
    return 2;
  }
  if (std::string held = NonEmptyCapabilitySet(); !held.empty()) {
    std::fprintf(stderr, "capless_exec: this process holds capabilities (%s)\n",
                 held.c_str());
    return 2;
  }
  ::execvp(argv[1], argv + 1);
  std::perror(argv[1]);
  return 127;
}
