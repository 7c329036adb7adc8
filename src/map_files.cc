// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/map_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <string>

#include "src/capabilities.h"

namespace crpid {

Result<UniqueFd> OpenMapFile(pid_t pid, const Mapping& mapping,
                             int capability) {
  const std::string path = "/proc/" + std::to_string(pid) + "/map_files/" +
                           mapping.MapFilesName();
  int fd = -1;
  int err = 0;
  struct stat st;
  {
    ScopedEffectiveCapability raised(capability);
    // stat first: opening a mapped device node could do something.
    if (::stat(path.c_str(), &st) != 0) {
      err = errno;
    } else if (S_ISREG(st.st_mode)) {
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
      if (fd < 0) err = errno;
    }
  }
  if (err != 0) return SystemError(err, "cannot open " + path);
  if (fd < 0) {
    return Error{ErrorKind::kInvalidInput, ENODEV,
                 path + " is not a regular file (a device's mapping)", {}};
  }
  return UniqueFd(fd);
}

Result<UniqueFd> OpenMappedPath(const Mapping& mapping) {
  struct stat before;
  if (::stat(mapping.path.c_str(), &before) == 0 && !S_ISREG(before.st_mode)) {
    return Error{ErrorKind::kInvalidInput, ENODEV,
                 mapping.path + " is not a regular file (a device's mapping)", {}};
  }
  // O_NONBLOCK: if a FIFO replaced the file meanwhile, open must not hang.
  auto fd = OpenFile(mapping.path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (!fd) return fd.error();
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return SystemError(errno, "fstat");
  if (!S_ISREG(st.st_mode) || major(st.st_dev) != mapping.device_major ||
      minor(st.st_dev) != mapping.device_minor || st.st_ino != mapping.inode) {
    return Error{ErrorKind::kBusy, 0,
                 mapping.path + " is no longer the file mapped at " +
                     mapping.MapFilesName() + " (device or inode differ)",
                 "it was replaced after mmap; only map_files reaches the "
                 "mapped one"};
  }
  ::fcntl(fd->get(), F_SETFL, 0);
  return fd;
}

}  // namespace crpid
