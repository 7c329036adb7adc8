// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/result.h"

#include <cerrno>
#include <cstring>

namespace crpid {

Error ErrnoError(ErrorKind kind, int err, std::string what) {
  what += ": ";
  what += std::strerror(err);
  return Error{kind, err, std::move(what), {}};
}

ErrorKind KindForErrno(int err) {
  switch (err) {
    case EPERM:
    case EACCES:
      return ErrorKind::kPermission;
    case ENOSYS:
    case EOPNOTSUPP:
      return ErrorKind::kUnsupported;
    case EEXIST:
    case EBUSY:
      return ErrorKind::kBusy;
    case ENOENT:
    case ESRCH:
      return ErrorKind::kNotFound;
    case EINVAL:
    case E2BIG:
    case ERANGE:
      return ErrorKind::kInvalidInput;
    default:
      return ErrorKind::kSystem;
  }
}

Error SystemError(int err, std::string what) {
  return ErrnoError(KindForErrno(err), err, std::move(what));
}

}  // namespace crpid
