// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Prints the process attributes a program inherits from whoever runs it, one
// per line, so that a test can compare a program run directly with the same
// program run through crpid. "pid" and "exe" are what crpid exists to set.
#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

std::string Link(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  return n < 0 ? "?" : std::string(buf, static_cast<size_t>(n));
}

void PrintLimits() {
  const std::pair<int, const char*> limits[] = {
      {RLIMIT_CPU, "cpu"},         {RLIMIT_FSIZE, "fsize"},   {RLIMIT_DATA, "data"},
      {RLIMIT_STACK, "stack"},     {RLIMIT_CORE, "core"},     {RLIMIT_RSS, "rss"},
      {RLIMIT_NPROC, "nproc"},     {RLIMIT_NOFILE, "nofile"}, {RLIMIT_MEMLOCK, "memlock"},
      {RLIMIT_AS, "as"},           {RLIMIT_LOCKS, "locks"},   {RLIMIT_SIGPENDING, "sigpending"},
      {RLIMIT_MSGQUEUE, "msgqueue"}, {RLIMIT_NICE, "nice"},   {RLIMIT_RTPRIO, "rtprio"},
      {RLIMIT_RTTIME, "rttime"}};
  for (const auto& [resource, name] : limits) {
    rlimit limit = {};
    ::getrlimit(resource, &limit);
    std::printf("rlimit %s %llu %llu\n", name, static_cast<unsigned long long>(limit.rlim_cur),
                static_cast<unsigned long long>(limit.rlim_max));
  }
}

void PrintStatusLines() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    for (const char* key : {"Uid:", "Gid:", "Groups:", "SigBlk:", "SigIgn:", "SigCgt:",
                            "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:",
                            "NoNewPrivs:", "Seccomp:"}) {
      if (line.rfind(key, 0) == 0) std::printf("status %s\n", line.c_str());
    }
  }
}

void PrintOpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  std::vector<int> fds;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    const int fd = std::stoi(entry->d_name);
    if (fd != ::dirfd(dir)) fds.push_back(fd);
  }
  std::sort(fds.begin(), fds.end());
  for (int fd : fds) {
    const int flags = ::fcntl(fd, F_GETFD);
    std::printf("fd %d %s%s\n", fd, Link("/proc/self/fd/" + std::to_string(fd)).c_str(),
                (flags & FD_CLOEXEC) ? " cloexec" : "");
  }
  ::closedir(dir);
}

}  // namespace

int main() {
  std::printf("pid %d\n", ::getpid());
  std::printf("exe %s\n", Link("/proc/self/exe").c_str());
  PrintLimits();
  const mode_t mask = ::umask(0);
  std::printf("umask %04o\n", mask);
  PrintStatusLines();
  PrintOpenFds();
  std::printf("cwd %s\n", Link("/proc/self/cwd").c_str());
  std::printf("nice %d\n", ::getpriority(PRIO_PROCESS, 0));
  std::ifstream oom("/proc/self/oom_score_adj");
  std::string oom_score_adj;
  oom >> oom_score_adj;
  std::printf("oom_score_adj %s\n", oom_score_adj.c_str());
  std::printf("dumpable %d\n", ::prctl(PR_GET_DUMPABLE));
  std::vector<std::string> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) environment.emplace_back(*entry);
  std::sort(environment.begin(), environment.end());
  for (const std::string& entry : environment) std::printf("env %s\n", entry.c_str());
  return 0;
}
