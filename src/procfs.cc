// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/procfs.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>

#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "src/unique_fd.h"

namespace crpid {
namespace {

std::string ReadLink(const char* path) {
  char buf[PATH_MAX];
  ssize_t n = ::readlink(path, buf, sizeof buf - 1);
  if (n <= 0) return {};
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

Result<long> ReadPidMax() {
  auto text = ReadFileToString("/proc/sys/kernel/pid_max");
  if (!text) return text.error();
  char* end = nullptr;
  long value = std::strtol(text->c_str(), &end, 10);
  if (end == text->c_str() || value <= 0) {
    return Error{ErrorKind::kSystem, 0,
                 "cannot parse /proc/sys/kernel/pid_max: '" + *text + "'", {}};
  }
  return value;
}

Result<std::string> ReadComm(pid_t pid) {
  auto comm = ReadFileToString("/proc/" + std::to_string(pid) + "/comm");
  if (!comm) return comm.error();
  while (!comm->empty() && comm->back() == '\n') comm->pop_back();
  return comm;
}

bool ProcShowsOwnPidNamespace() {
  return ReadLink("/proc/self") == std::to_string(::getpid());
}

bool PidInUse(pid_t pid) {
  if (ProcShowsOwnPidNamespace()) {
    // /proc/N resolves thread IDs too, which kill(N, 0) does not see.
    struct stat st;
    return ::stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0;
  }
  return ::kill(pid, 0) == 0 || errno != ESRCH;
}

bool ChildrenShareOwnPidNamespace() {
  std::string own = ReadLink("/proc/self/ns/pid");
  errno = 0;
  std::string children = ReadLink("/proc/self/ns/pid_for_children");
  // ENOENT: `unshare --pid` (without --fork) made the children's namespace,
  // which has no process yet.
  if (children.empty() && errno == ENOENT) return false;
  return own.empty() || children.empty() || own == children;
}

Result<std::vector<uint64_t>> ReadStatFields(const std::string& pid) {
  auto text = ReadFileToString("/proc/" + pid + "/stat");
  if (!text) {
    Error error = text.error();
    if (error.err == ENOENT) {
      error.kind = ErrorKind::kNotFound;
      error.message = "no process with PID " + pid;
    }
    return error;
  }
  return ParseStatFields(*text, pid);
}

Result<std::vector<uint64_t>> ParseStatFields(const std::string& text,
                                              const std::string& pid) {
  // "pid (comm) state ppid …": comm may hold spaces and ')', so the fields
  // start after the last ')'; the state is field 3.
  const size_t close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size()) {
    return Error{ErrorKind::kSystem, 0, "cannot parse /proc/" + pid + "/stat", {}};
  }
  std::vector<uint64_t> fields = {0, 0, 0, static_cast<uint64_t>(text[close + 2])};
  const char* cursor = text.c_str() + close + 3;
  for (;;) {
    char* end = nullptr;
    const unsigned long long value = std::strtoull(cursor, &end, 10);
    if (end == cursor) break;
    fields.push_back(value);
    cursor = end;
  }
  return fields;
}

Result<ProcessStat> ReadProcessStat(pid_t pid) {
  auto fields = ReadStatFields(std::to_string(pid));
  if (!fields) return fields.error();
  return ProcessStatOf(*fields, std::to_string(pid));
}

Result<ProcessStat> ProcessStatOf(const std::vector<uint64_t>& fields,
                                  const std::string& pid) {
  if (fields.size() <= 22) {
    return Error{ErrorKind::kSystem, 0, "short /proc/" + pid + "/stat", {}};
  }
  ProcessStat stat;
  stat.state = static_cast<char>(fields[3]);
  stat.kernel_thread = (fields[9] & 0x00200000) != 0;  // PF_KTHREAD
  stat.start_time = fields[22];
  return stat;
}

std::string ReadExeLink(pid_t pid) {
  return ReadLink(("/proc/" + std::to_string(pid) + "/exe").c_str());
}

Result<std::vector<std::string>> InitialEnvironment() {
  auto fields = ReadStatFields("self");
  if (!fields) return fields.error();
  const uint64_t env_start = fields->size() > 51 ? (*fields)[50] : 0;
  const uint64_t env_end = fields->size() > 51 ? (*fields)[51] : 0;
  // A user can bind-mount anything over /proc/self/stat in a mount namespace
  // of their own: read only where the kernel put the strings, between argv[0]
  // (the lowest of them) and AT_EXECFN (right above the environment).
  const uint64_t strings_start = reinterpret_cast<uintptr_t>(program_invocation_name);
  if (env_start == 0 || env_end < env_start || env_start < strings_start ||
      env_end != ::getauxval(AT_EXECFN)) {
    return Error{ErrorKind::kSystem, 0,
                 "/proc/self/stat has no environment range of this process", {}};
  }
  std::vector<std::string> environment;
  const char* text = reinterpret_cast<const char*>(env_start);
  const char* text_end = reinterpret_cast<const char*>(env_end);
  while (text < text_end) {
    const size_t length = ::strnlen(text, static_cast<size_t>(text_end - text));
    if (length > 0) environment.emplace_back(text, length);
    text += length + 1;
  }
  return environment;
}

std::optional<uid_t> UidInParentUserNamespace() {
  auto map = ReadFileToString("/proc/self/uid_map");
  if (!map) return std::nullopt;
  const unsigned long uid = ::getuid();
  const char* line = map->c_str();
  while (*line != '\0') {
    unsigned long inside = 0, outside = 0, count = 0;
    if (std::sscanf(line, "%lu %lu %lu", &inside, &outside, &count) == 3 && uid >= inside &&
        uid - inside < count) {
      return static_cast<uid_t>(outside + (uid - inside));
    }
    const char* next = std::strchr(line, '\n');
    if (next == nullptr) break;
    line = next + 1;
  }
  return std::nullopt;
}

bool InNonInitialUserNamespace() {
  auto map = ReadFileToString("/proc/self/uid_map");
  if (!map) return false;
  // The initial namespace maps the whole range: "0 0 4294967295".
  unsigned long inside = 1, outside = 1, count = 0;
  if (std::sscanf(map->c_str(), "%lu %lu %lu", &inside, &outside, &count) != 3) {
    return true;
  }
  return !(inside == 0 && outside == 0 && count == 4294967295UL);
}

Result<bool> OwnsPidNamespace() {
  auto pid_namespace = OpenFile("/proc/self/ns/pid", O_RDONLY);
  if (!pid_namespace) return pid_namespace.error();
  UniqueFd owner(::ioctl(pid_namespace->get(), NS_GET_USERNS));
  // EPERM: the owner is an ancestor of the caller's user namespace (e.g.
  // `unshare -Ur` without -p), so not the caller's own.
  if (!owner.valid() && errno == EPERM) return false;
  if (!owner.valid()) return SystemError(errno, "NS_GET_USERNS on /proc/self/ns/pid");
  uid_t creator = 0;
  if (::ioctl(owner.get(), NS_GET_OWNER_UID, &creator) != 0) {
    return SystemError(errno, "NS_GET_OWNER_UID");
  }
  return creator == ::getuid();
}

}  // namespace crpid
