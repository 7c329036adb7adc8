// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// A memfd that a fuzz target refills with each input and hands to crpid's
// path-taking readers as /proc/self/fd/N: they then open, fstat and read a
// regular file holding exactly the input, as they would the user's file.
#ifndef CRPID_TESTS_FUZZ_MEMFD_FILE_H_
#define CRPID_TESTS_FUZZ_MEMFD_FILE_H_

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace crpid::fuzz {

class MemfdFile {
 public:
  MemfdFile() : fd_(::memfd_create("crpid-fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  MemfdFile(const MemfdFile&) = delete;
  MemfdFile& operator=(const MemfdFile&) = delete;
  ~MemfdFile() { ::close(fd_); }

  // Makes the file hold exactly data; aborts if it cannot (not a finding of
  // the target: the fuzzer itself would be broken).
  void Fill(const uint8_t* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0) Die("ftruncate");
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) Die("pwrite");
      done += static_cast<size_t>(n);
    }
  }
  const std::string& path() const { return path_; }

 private:
  [[noreturn]] static void Die(const char* what) {
    std::perror(what);
    std::abort();
  }

  int fd_;
  std::string path_;
};

}  // namespace crpid::fuzz

#endif  // CRPID_TESTS_FUZZ_MEMFD_FILE_H_
