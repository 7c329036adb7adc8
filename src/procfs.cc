#include "src/procfs.h"

#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
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

}  // namespace crpid
