// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/standard_fds.h"

#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <initializer_list>

namespace crpid {
namespace {

// glibc's csu/check_fds.c: the device and access mode it opens fd `fd` with.
bool OpenedBySecureMode(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode)) return false;
  const int mode = ::fcntl(fd, F_GETFL);
  if (mode < 0) return false;
  if (fd == STDIN_FILENO) {
    return st.st_rdev == makedev(1, 7) && (mode & O_ACCMODE) == O_WRONLY;  // /dev/full
  }
  return st.st_rdev == makedev(1, 3) && (mode & O_ACCMODE) == O_RDONLY;  // /dev/null
}

}  // namespace

void CloseOnExecWhatSecureModeOpened() {
  if (::getauxval(AT_SECURE) == 0) return;
  for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) {
    if (OpenedBySecureMode(fd)) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
}

}  // namespace crpid
