// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Move-only file descriptor owner and EINTR-safe whole reads and writes.
#ifndef CRPID_SRC_UNIQUE_FD_H_
#define CRPID_SRC_UNIQUE_FD_H_

#include <string>
#include <string_view>

#include "src/result.h"

namespace crpid {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership without closing.
  int Release();
  // Closes the descriptor now (close(2) errors are ignored: nothing to retry).
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// open(2) with O_CLOEXEC added; errno in the error.
Result<UniqueFd> OpenFile(const std::string& path, int flags, mode_t mode = 0);

struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
};
// pipe2(O_CLOEXEC).
Result<Pipe> MakePipe();

// The bound of ReadFileToString unless its caller gives another: more than
// any small /proc or /sys file holds (a status with 65,536 groups is ~450 KiB).
inline constexpr size_t kMaxSmallFileBytes = 1u << 20;

// Reads until EOF, retrying on EINTR, but never more than max_bytes + 1
// bytes (a file read only in whole records, such as pagemap: at most 4 KiB
// past the bound): a file's st_size says nothing (/proc/self/pagemap: 0,
// and 256 GiB to read). More than max_bytes: kInvalidInput with EFBIG, "NAME holds more
// than max_bytes bytes" (name says what was read, e.g. the path). Another
// read error: its errno. Async-signal-safe variants below.
Result<std::string> ReadAll(int fd, size_t max_bytes, const std::string& name);
// Reads the whole file at path, at most max_bytes (ReadAll's errors; a path
// under /proc/ must be on procfs).
Result<std::string> ReadFileToString(const std::string& path,
                                     size_t max_bytes = kMaxSmallFileBytes);
// Writes all of data, retrying on EINTR and short writes.
Status WriteAll(int fd, std::string_view data);

// For use between fork and exec: plain syscalls, no allocation. Return the
// byte count transferred (short only at EOF) or -1 with errno set.
ssize_t ReadFullyRaw(int fd, void* buf, size_t len);
ssize_t WriteFullyRaw(int fd, const void* buf, size_t len);

}  // namespace crpid

#endif  // CRPID_SRC_UNIQUE_FD_H_
