// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/unique_fd.h"

#include <linux/magic.h>
#include <sys/vfs.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <vector>

namespace crpid {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) Reset(other.Release());
  return *this;
}

int UniqueFd::Release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<UniqueFd> OpenFile(const std::string& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return SystemError(errno, "cannot open " + path);
  return UniqueFd(fd);
}

Result<Pipe> MakePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return SystemError(errno, "pipe2");
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

Result<std::string> ReadAll(int fd, size_t max_bytes, const std::string& name) {
  std::string out;
  char buf[4096];
  for (;;) {
    // One byte past the bound tells "more" from "exactly max_bytes".
    const size_t want = std::min(sizeof buf, max_bytes + 1 - out.size());
    ssize_t n = ::read(fd, buf, want);
    // Some files read only in whole records (/proc/PID/pagemap: 8 bytes,
    // EINVAL for less): one buffer at most then.
    if (n < 0 && errno == EINVAL && want < sizeof buf) n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return SystemError(errno, "cannot read " + name);
    }
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      return Error{ErrorKind::kInvalidInput, EFBIG,
                   name + " holds more than " + std::to_string(max_bytes) + " bytes",
                   "give a smaller file"};
    }
  }
}

Result<std::string> ReadFileToString(const std::string& path, size_t max_bytes) {
  auto fd = OpenFile(path, O_RDONLY);
  if (!fd) return fd.error();
  // crpid steers privileged calls by what /proc says; a user can bind-mount
  // their own file over /proc/self/... in a mount namespace of their own.
  struct statfs filesystem = {};
  if (path.rfind("/proc/", 0) == 0 &&
      (::fstatfs(fd->get(), &filesystem) != 0 || filesystem.f_type != PROC_SUPER_MAGIC)) {
    return Error{ErrorKind::kSystem, 0, path + " is not on procfs",
                 "run crpid where /proc is the kernel's"};
  }
  return ReadAll(fd->get(), max_bytes, path);
}

Status WriteAll(int fd, std::string_view data) {
  if (WriteFullyRaw(fd, data.data(), data.size()) < 0) {
    return SystemError(errno, "write");
  }
  return Ok{};
}

ssize_t ReadFullyRaw(int fd, void* buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::read(fd, static_cast<char*>(buf) + done, len - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

ssize_t WriteFullyRaw(int fd, const void* buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::write(fd, static_cast<const char*>(buf) + done, len - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

}  // namespace crpid
