// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Test helper run by `crpid set-mm`: prints, as key=value lines, what a
// program sees of itself after execve — exe link, argv, environ, auxv,
// /proc/self/stat fields, capabilities, dumpable — and exercises malloc,
// a thread and a signal handler. Built static, static-pie and dynamic.
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <string>

extern char** environ;

namespace {

volatile sig_atomic_t g_signalled = 0;

std::string ReadFile(const char* path) {
  std::string content;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "<unreadable>";
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) content.append(buffer, n);
  close(fd);
  return content;
}

std::string Joined(char** strings) {
  std::string joined;
  for (char** s = strings; *s != nullptr; ++s) {
    joined += *s;
    joined += '\0';
  }
  return joined;
}

void* Thread(void* argument) {
  *static_cast<int*>(argument) = 42;
  return nullptr;
}

// True if the program headers AT_PHDR points at are the main program's
// (glibc's first dl_iterate_phdr entry) and one of their PT_LOADs, with the
// load bias applied, holds this code.
bool CodeInsideAtPhdr() {
  struct Found {
    bool phdr_matches = false;
    bool code_inside = false;
  } found;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* found = static_cast<Found*>(data);
        found->phdr_matches =
            reinterpret_cast<unsigned long>(info->dlpi_phdr) == getauxval(AT_PHDR);
        const auto code = reinterpret_cast<unsigned long>(&Thread);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& phdr = info->dlpi_phdr[i];
          const unsigned long start = info->dlpi_addr + phdr.p_vaddr;
          if (phdr.p_type == PT_LOAD && code >= start && code < start + phdr.p_memsz) {
            found->code_inside = true;
          }
        }
        return 1;  // the main program only
      },
      &found);
  return found.phdr_matches && found.code_inside;
}

}  // namespace

int main(int argc, char** argv) {
  char exe[4096] = {};
  readlink("/proc/self/exe", exe, sizeof exe - 1);
  printf("pid=%d\n", getpid());
  printf("exe=%s\n", exe);
  printf("argc=%d\n", argc);
  for (int i = 0; i < argc; ++i) printf("argv%d=%s\n", i, argv[i]);
  printf("env_CRPID_PROBE=%s\n", getenv("CRPID_PROBE") ? getenv("CRPID_PROBE") : "");
  printf("comm=%s", ReadFile("/proc/self/comm").c_str());
  printf("cmdline_matches=%d\n", ReadFile("/proc/self/cmdline") == Joined(argv));
  printf("environ_matches=%d\n", ReadFile("/proc/self/environ") == Joined(environ));

  // /proc/self/auxv is what PR_SET_MM_MAP saved; it must be what this
  // program got (AT_HWCAP aside: glibc rewrites its copy on x86).
  const std::string auxv = ReadFile("/proc/self/auxv");
  bool auxv_matches = auxv.size() >= 16;
  for (size_t i = 0; i + 16 <= auxv.size(); i += 16) {
    unsigned long pair[2];
    memcpy(pair, auxv.data() + i, 16);
    if (pair[0] == AT_NULL) break;
    if (pair[0] != AT_HWCAP && getauxval(pair[0]) != pair[1]) auxv_matches = false;
  }
  printf("auxv_matches=%d\n", auxv_matches);
  printf("at_secure=%lu\n", getauxval(AT_SECURE));
  printf("at_execfn=%s\n", reinterpret_cast<const char*>(getauxval(AT_EXECFN)));
  printf("at_platform=%s\n", reinterpret_cast<const char*>(getauxval(AT_PLATFORM)));
  printf("at_random_set=%d\n", getauxval(AT_RANDOM) != 0);
  printf("at_sysinfo_ehdr_set=%d\n", getauxval(AT_SYSINFO_EHDR) != 0);
  printf("at_uid=%lu\n", getauxval(AT_UID));
  printf("at_pagesz=%lu\n", getauxval(AT_PAGESZ));
  printf("at_clktck=%lu\n", getauxval(AT_CLKTCK));
  printf("at_base_set=%d\n", getauxval(AT_BASE) != 0);
  printf("code_inside_at_phdr=%d\n", CodeInsideAtPhdr());

  // /proc/self/stat: code, stack, data, brk, arg and env fields (26-28,
  // 45-51) must describe this program.
  const std::string stat = ReadFile("/proc/self/stat");
  const char* cursor = strrchr(stat.c_str(), ')') + 4;  // past ") S "
  unsigned long fields[64] = {};
  for (int field = 4; field < 64 && *cursor != 0; ++field) {
    char* end = nullptr;
    fields[field] = strtoul(cursor, &end, 10);
    if (end == cursor) break;
    cursor = end;
  }
  const unsigned long entry = getauxval(AT_ENTRY);
  printf("entry_in_code=%d\n", entry >= fields[26] && entry < fields[27]);
  printf("arg_range_is_argv=%d\n",
         fields[48] == reinterpret_cast<unsigned long>(argv[0]) &&
             fields[49] == reinterpret_cast<unsigned long>(argv[argc - 1]) +
                               strlen(argv[argc - 1]) + 1);
  printf("env_range_starts_at_environ=%d\n",
         environ[0] == nullptr || fields[50] == reinterpret_cast<unsigned long>(environ[0]));
  printf("stack_below_argv=%d\n", fields[28] < reinterpret_cast<unsigned long>(argv[0]));
  printf("data_before_brk=%d\n", fields[46] < fields[47]);

  const std::string status = ReadFile("/proc/self/status");
  for (const char* set : {"CapInh:", "CapPrm:", "CapEff:", "CapAmb:"}) {
    const char* line = strstr(status.c_str(), set);
    if (line != nullptr) printf("%.*s\n", static_cast<int>(strcspn(line, "\n")), line);
  }
  printf("dumpable=%d\n", prctl(PR_GET_DUMPABLE));
  sigset_t mask;
  sigprocmask(SIG_SETMASK, nullptr, &mask);
  printf("sigusr1_blocked=%d\n", sigismember(&mask, SIGUSR1));

  char* small = static_cast<char*>(malloc(100));
  char* large = static_cast<char*>(malloc(64 << 20));
  bool malloc_ok = small != nullptr && large != nullptr;
  if (malloc_ok) {
    memset(small, 1, 100);
    memset(large, 2, 64 << 20);
    malloc_ok = small[99] == 1 && large[(64 << 20) - 1] == 2;
  }
  free(small);
  free(large);
  printf("malloc=%d\n", malloc_ok);

  int value = 0;
  pthread_t thread;
  bool thread_ok = pthread_create(&thread, nullptr, Thread, &value) == 0 &&
                   pthread_join(thread, nullptr) == 0 && value == 42;
  printf("thread=%d\n", thread_ok);

  struct sigaction action = {};
  action.sa_handler = [](int) { g_signalled = 1; };
  sigaction(SIGUSR2, &action, nullptr);
  raise(SIGUSR2);
  printf("signal=%d\n", static_cast<int>(g_signalled));

  // crpid's own image and descriptors must be gone.
  // Every file mapped, so the test can tell that crpid's image is gone.
  const std::string maps = ReadFile("/proc/self/maps");
  size_t line_start = 0;
  while (line_start < maps.size()) {
    size_t line_end = maps.find('\n', line_start);
    if (line_end == std::string::npos) line_end = maps.size();
    const std::string line = maps.substr(line_start, line_end - line_start);
    const size_t slash = line.find('/');
    if (slash != std::string::npos) printf("mapped=%s\n", line.substr(slash).c_str());
    line_start = line_end + 1;
  }
  int open_fds = 0;
  for (int fd = 3; fd < 1024; ++fd) {
    if (fcntl(fd, F_GETFD) >= 0) ++open_fds;
  }
  printf("fds_above_2=%d\n", open_fds);
  printf("done=1\n");
  return 0;
}
