#include "src/procfs.h"

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
  std::string children = ReadLink("/proc/self/ns/pid_for_children");
  return own.empty() || children.empty() || own == children;
}

Result<ProcessStat> ReadProcessStat(pid_t pid) {
  auto text = ReadFileToString("/proc/" + std::to_string(pid) + "/stat");
  if (!text) {
    Error error = text.error();
    if (error.err == ENOENT) {
      error.kind = ErrorKind::kNotFound;
      error.message = "no process with PID " + std::to_string(pid);
    }
    return error;
  }
  // "pid (comm) state ppid …": comm may hold spaces and ')', so the fields
  // start after the last ')'.
  size_t close = text->rfind(')');
  if (close == std::string::npos || close + 2 >= text->size()) {
    return Error{ErrorKind::kSystem, 0,
                 "cannot parse /proc/" + std::to_string(pid) + "/stat", {}};
  }
  ProcessStat stat;
  stat.state = (*text)[close + 2];
  // Fields after the state, 1-based as in proc(5): flags is field 9, start
  // time field 22; the state is field 3.
  const char* cursor = text->c_str() + close + 3;
  for (int field = 4; field <= 22; ++field) {
    char* end = nullptr;
    unsigned long long value = std::strtoull(cursor, &end, 10);
    if (end == cursor) break;
    if (field == 9) stat.kernel_thread = (value & 0x00200000) != 0;
    if (field == 22) stat.start_time = value;
    cursor = end;
  }
  return stat;
}

std::string ReadExeLink(pid_t pid) {
  return ReadLink(("/proc/" + std::to_string(pid) + "/exe").c_str());
}

Result<std::vector<std::string>> InitialEnvironment() {
  auto stat = ReadFileToString("/proc/self/stat");
  if (!stat) return stat.error();
  const size_t close = stat->rfind(')');
  if (close == std::string::npos) {
    return Error{ErrorKind::kSystem, 0, "cannot parse /proc/self/stat", {}};
  }
  // Fields after ") S ": field 4 onwards; env_start and env_end are 50, 51.
  const char* cursor = stat->c_str() + close + 4;
  unsigned long long env_start = 0, env_end = 0;
  for (int field = 4; field <= 51; ++field) {
    char* end = nullptr;
    const unsigned long long value = std::strtoull(cursor, &end, 10);
    if (end == cursor) break;
    if (field == 50) env_start = value;
    if (field == 51) env_end = value;
    cursor = end;
  }
  if (env_start == 0 || env_end < env_start) {
    return Error{ErrorKind::kSystem, 0, "no environment range in /proc/self/stat", {}};
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

}  // namespace crpid
