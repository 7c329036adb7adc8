// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Opening a file a user named, as a privileged program must: without
// blocking on it. open() of a FIFO waits for a writer and a read of some
// devices waits forever, while crpid still holds a capability in its
// permitted set; execve itself only ever accepts regular files.
#ifndef CRPID_SRC_REGULAR_FILE_H_
#define CRPID_SRC_REGULAR_FILE_H_

#include <sys/stat.h>

#include <string>

#include "src/result.h"
#include "src/unique_fd.h"

namespace crpid {

struct RegularFile {
  UniqueFd fd;     // O_RDONLY | O_CLOEXEC, blocking reads
  struct stat st;  // fstat of fd: the file actually opened
};

// Opens path with O_RDONLY | O_NONBLOCK | O_NOCTTY (a FIFO opens at once,
// a terminal does not become the controlling one), checks S_ISREG on the
// descriptor, then clears O_NONBLOCK. Errors: those of open(2) (kNotFound
// for ENOENT); kPermission with EACCES when it is not a regular file.
Result<RegularFile> OpenRegularFile(const std::string& path);

}  // namespace crpid

#endif  // CRPID_SRC_REGULAR_FILE_H_
