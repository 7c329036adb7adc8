// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/steering_file.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <deque>

#include "src/procfs.h"

namespace crpid {
namespace {

constexpr int kMaxSymlinks = 40;  // the kernel's MAXSYMLINKS

Error Refused(std::string message, std::string hint) {
  return Error{ErrorKind::kInvalidInput, 0, std::move(message), std::move(hint)};
}

// Appends the components of path (no empty ones, no ".") to the front of
// `rest`, keeping their order.
void PushFrontComponents(const std::string& path, std::deque<std::string>& rest) {
  std::deque<std::string> components;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string name = path.substr(start, end - start);
    if (!name.empty() && name != ".") components.push_back(std::move(name));
    start = end + 1;
  }
  rest.insert(rest.begin(), components.begin(), components.end());
}

Result<UniqueFd> OpenDirectory(const char* path) {
  const int fd = ::open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return SystemError(errno, std::string("cannot open ") + path);
  return UniqueFd(fd);
}

// Resolves path one component at a time and opens its last one for reading
// (O_NONBLOCK: a FIFO must not block crpid). Each symlink met is opened
// itself (O_PATH | O_NOFOLLOW), its owner checked on that descriptor, and
// its target read from it.
Result<UniqueFd> OpenWithoutForeignSymlinks(const std::string& path, std::string_view what,
                                            uid_t caller) {
  if (path.empty()) return SystemError(ENOENT, "cannot open an empty path");
  std::deque<std::string> rest;
  PushFrontComponents(path, rest);
  auto dir = OpenDirectory(path[0] == '/' ? "/" : ".");
  if (!dir) return dir.error();
  int symlinks = 0;
  const auto failed = [&path](int err) { return SystemError(err, "cannot open " + path); };
  while (!rest.empty()) {
    const std::string name = std::move(rest.front());
    rest.pop_front();
    if (rest.empty()) {
      const int fd = ::openat(dir->get(), name.c_str(),
                              O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0) return UniqueFd(fd);
      if (errno != ELOOP) return failed(errno);
      // A symlink: checked and followed below like one on the way.
    }
    UniqueFd at(::openat(dir->get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!at.valid()) return failed(errno);
    struct stat st;
    if (::fstat(at.get(), &st) != 0) return failed(errno);
    if (S_ISLNK(st.st_mode)) {
      if (++symlinks > kMaxSymlinks) return failed(ELOOP);
      if (st.st_uid != caller && st.st_uid != 0) {
        return Refused(fmt::format("{} {}: the symlink '{}' on its way is owned by uid {}, "
                                   "not by you (uid {}) or root; crpid does not follow it",
                                   what, path, name, st.st_uid, caller),
                       "give the path of the file itself, in a directory only you can write");
      }
      char target[PATH_MAX];
      const ssize_t n = ::readlinkat(at.get(), "", target, sizeof target);
      if (n < 0) return failed(errno);
      if (n == 0 || static_cast<size_t>(n) >= sizeof target) return failed(ENAMETOOLONG);
      const std::string link(target, static_cast<size_t>(n));
      PushFrontComponents(link, rest);
      if (link[0] == '/') {
        dir = OpenDirectory("/");
        if (!dir) return dir.error();
      }
      // A link to "." or "/" leaves nothing to open as the last component.
      if (rest.empty()) rest.push_back(".");
      continue;
    }
    if (rest.empty()) {
      // Only "." after a symlink gets here: a directory.
      return Refused(fmt::format("{} {} is not a regular file", what, path),
                     "give a regular file");
    }
    if (!S_ISDIR(st.st_mode)) return failed(ENOTDIR);
    *dir = std::move(at);
  }
  // "/" or a path of only "." components.
  return Refused(fmt::format("{} {} is not a regular file", what, path), "give a regular file");
}

}  // namespace

Status CheckSteeringFile(const struct stat& st, long filesystem_type, uid_t caller,
                         const std::string& path, std::string_view what) {
  const std::string named = fmt::format("{} {}", what, path);
  if (!S_ISREG(st.st_mode)) {
    return Refused(named + " is not a regular file",
                   fmt::format("give a {} that is a regular file", what));
  }
  if (filesystem_type == PROC_SUPER_MAGIC || filesystem_type == SYSFS_MAGIC) {
    return Refused(fmt::format("{} is on {}, whose files the kernel makes up", named,
                               filesystem_type == PROC_SUPER_MAGIC ? "procfs" : "sysfs"),
                   fmt::format("give a {} of your own on an ordinary filesystem", what));
  }
  if (st.st_uid != caller) {
    return Refused(fmt::format("{} is owned by uid {}, not by you (uid {})", named,
                               st.st_uid, caller),
                   "use a copy of your own ('cp FILE mine && chmod go-w mine')");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    const bool group = (st.st_mode & S_IWGRP) != 0;
    const bool others = (st.st_mode & S_IWOTH) != 0;
    return Refused(fmt::format("{} can be written by {} (mode {:04o})", named,
                               group && others ? "its group and by others"
                               : group         ? "its group"
                                               : "others",
                               st.st_mode & 07777),
                   "run 'chmod go-w' on it");
  }
  return Ok{};
}

Result<UniqueFd> OpenSteeringFile(const std::string& path, std::string_view what) {
  const uid_t caller = ::getuid();
  // In a user namespace that does not map the caller's uid, getuid() is the
  // overflow uid, and so is every unmapped owner's: another user's file
  // would pass for the caller's.
  if (!UidInParentUserNamespace()) {
    return Refused(fmt::format("{} {}: crpid cannot tell who owns files here: your uid is "
                               "not mapped in this user namespace (uid {} is the overflow "
                               "uid, which every unmapped owner also shows as)",
                               what, path, caller),
                   "run crpid where your uid is mapped (e.g. 'unshare -Ur' maps it to 0)");
  }
  auto fd = OpenWithoutForeignSymlinks(path, what, caller);
  if (!fd) return fd.error();
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return SystemError(errno, "cannot stat " + path);
  struct statfs filesystem = {};
  if (::fstatfs(fd->get(), &filesystem) != 0) {
    return SystemError(errno, "cannot statfs " + path);
  }
  if (Status trusted = CheckSteeringFile(st, static_cast<long>(filesystem.f_type), caller,
                                         path, what);
      !trusted) {
    return trusted.error();
  }
  const int flags = ::fcntl(fd->get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd->get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return SystemError(errno, "fcntl " + path);
  }
  return fd;
}

Result<std::string> ReadSteeringFile(const std::string& path, std::string_view what,
                                     size_t max_bytes) {
  auto fd = OpenSteeringFile(path, what);
  if (!fd) return fd.error();
  return ReadAll(fd->get(), max_bytes, fmt::format("{} {}", what, path));
}

}  // namespace crpid
