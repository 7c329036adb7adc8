// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Holds the memfds map_files_bench.sh copies, mapped shared, until killed:
// "dense" is 1 GiB of pseudo-random bytes (no hole to skip, nothing a
// filesystem could compress), "sparse" is 1 GiB with 4 KiB of data at 0 and
// at 512 MiB. Prints "KIND START-END" a memfd (its /proc/PID/map_files
// name), then closes stdout so that the script's read of it ends.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr uint64_t kSize = uint64_t{1} << 30;
constexpr size_t kChunk = size_t{1} << 20;
constexpr size_t kSparseData = 4096;

// splitmix64: cheap, and its output is incompressible.
uint64_t NextRandom(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}

void FillRandom(std::vector<uint64_t>& words, uint64_t& state) {
  for (uint64_t& word : words) word = NextRandom(state);
}

bool WriteAt(int fd, const void* data, size_t length, uint64_t offset) {
  const char* bytes = static_cast<const char*>(data);
  while (length > 0) {
    const ssize_t n = ::pwrite(fd, bytes, length, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes += n;
    offset += static_cast<uint64_t>(n);
    length -= static_cast<size_t>(n);
  }
  return true;
}

bool Fill(int fd, const std::string& kind) {
  uint64_t state = 42;
  if (::ftruncate(fd, static_cast<off_t>(kSize)) != 0) return false;
  if (kind == "sparse") {
    std::vector<uint64_t> data(kSparseData / sizeof(uint64_t));
    FillRandom(data, state);
    return WriteAt(fd, data.data(), kSparseData, 0) &&
           WriteAt(fd, data.data(), kSparseData, kSize / 2);
  }
  std::vector<uint64_t> chunk(kChunk / sizeof(uint64_t));
  for (uint64_t at = 0; at < kSize; at += kChunk) {
    FillRandom(chunk, state);
    if (!WriteAt(fd, chunk.data(), kChunk, at)) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: memfd_holder {dense|sparse}...\n");
    return 2;
  }
  for (int i = 1; i < argc; ++i) {
    const std::string kind = argv[i];
    if (kind != "dense" && kind != "sparse") {
      std::fprintf(stderr, "memfd_holder: unknown kind '%s'\n", argv[i]);
      return 2;
    }
    const int fd = ::memfd_create(("bench-" + kind).c_str(), MFD_CLOEXEC);
    if (fd < 0 || !Fill(fd, kind)) {
      std::fprintf(stderr, "memfd_holder: %s memfd: %s\n", argv[i],
                   std::strerror(errno));
      return 1;
    }
    void* address = ::mmap(nullptr, kSize, PROT_READ, MAP_SHARED, fd, 0);
    if (address == MAP_FAILED) {
      std::perror("memfd_holder: mmap");
      return 1;
    }
    ::close(fd);  // the mapping alone keeps the memfd, as in a real process
    const auto start = reinterpret_cast<uintptr_t>(address);
    std::printf("%s %jx-%jx\n", argv[i], static_cast<uintmax_t>(start),
                static_cast<uintmax_t>(start + kSize));
  }
  std::fclose(stdout);
  for (;;) ::pause();  // the script kills us with SIGTERM
}
