// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/regular_file.h"

#include <fcntl.h>

#include <cerrno>

namespace crpid {

Result<RegularFile> OpenRegularFile(const std::string& path) {
  auto fd = OpenFile(path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  if (!fd) return fd.error();
  RegularFile file{std::move(*fd), {}};
  if (::fstat(file.fd.get(), &file.st) != 0) return SystemError(errno, "fstat " + path);
  if (!S_ISREG(file.st.st_mode)) {
    return Error{ErrorKind::kPermission, EACCES, path + " is not a regular file",
                 "give an executable file"};
  }
  const int flags = ::fcntl(file.fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(file.fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return SystemError(errno, "fcntl " + path);
  }
  return file;
}

}  // namespace crpid
