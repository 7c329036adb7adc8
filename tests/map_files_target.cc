// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Test helper: maps what map-files-dump must save, then waits.
//   map_files_target DIR [DENSE_MIB | regular]
// Maps DIR/regular.bin twice, DIR/deleted.bin (then unlinks it), a sparse
// 256 MiB memfd with data at 0 and at 100 MiB (plus DENSE_MIB dense MiB at
// 128 MiB when given, the memfd growing to hold them), and 64 KiB of MAP_SHARED anonymous memory, each
// filled with PatternByte(kind, offset). Creates DIR/ready when set up.
// With "regular" it maps only regular.bin (twice). With "memfds N" it maps
// only N memfds of 64 KiB, 4 KiB written in each (many small mappings). SIGUSR1 truncates the
// memfd to 4 KiB (a file shrinking mid-dump).
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "tests/map_files_pattern.h"

namespace {

int g_memfd = -1;

void Shrink(int) { ftruncate(g_memfd, 4096); }

void Fill(char* data, size_t length, int kind, size_t offset) {
  for (size_t i = 0; i < length; ++i) {
    data[i] = static_cast<char>(crpid::testing::PatternByte(kind, offset + i));
  }
}

void* MapFile(const std::string& path, size_t length, int kind) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ftruncate(fd, static_cast<off_t>(length)) != 0) {
    perror(path.c_str());
    exit(1);
  }
  char* data = static_cast<char*>(
      mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  if (data == MAP_FAILED) exit(1);
  Fill(data, length, kind, 0);
  close(fd);
  return data;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace crpid::testing;
  if (argc < 2) {
    fprintf(stderr, "usage: %s DIR [DENSE_MIB]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const bool regular_only = argc > 2 && strcmp(argv[2], "regular") == 0;
  if (argc > 3 && strcmp(argv[2], "memfds") == 0) {
    const unsigned long count = strtoul(argv[3], nullptr, 10);
    for (unsigned long i = 0; i < count; ++i) {
      const int fd = memfd_create("crpid-small", MFD_CLOEXEC);
      if (fd < 0 || ftruncate(fd, 64 << 10) != 0) return 1;
      char* data = static_cast<char*>(
          mmap(nullptr, 64 << 10, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
      if (data == MAP_FAILED) return 1;
      Fill(data, 4096, kMemfd, i);
      close(fd);
    }
    close(open((dir + "/ready").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    for (;;) pause();
  }
  const size_t dense_mib =
      argc > 2 && !regular_only ? strtoul(argv[2], nullptr, 10) : 0;

  MapFile(dir + "/regular.bin", kRegularSize, kRegular);
  int regular = open((dir + "/regular.bin").c_str(), O_RDONLY | O_CLOEXEC);
  if (mmap(nullptr, kRegularSize, PROT_READ, MAP_SHARED, regular, 0) == MAP_FAILED) {
    return 1;
  }
  if (regular_only) {
    close(open((dir + "/ready").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    for (;;) pause();
  }
  MapFile(dir + "/deleted.bin", kDeletedSize, kDeleted);
  unlink((dir + "/deleted.bin").c_str());

  const size_t memfd_size = std::max(kMemfdSize, kMemfdDenseOffset + (dense_mib << 20));
  g_memfd = memfd_create("crpid-test", MFD_CLOEXEC);
  if (g_memfd < 0 || ftruncate(g_memfd, static_cast<off_t>(memfd_size)) != 0) return 1;
  char* memfd = static_cast<char*>(mmap(nullptr, memfd_size, PROT_READ | PROT_WRITE,
                                        MAP_SHARED, g_memfd, 0));
  if (memfd == MAP_FAILED) return 1;
  for (size_t offset : {kMemfdDataOffset1, kMemfdDataOffset2}) {
    Fill(memfd + offset, kMemfdDataLength, kMemfd, offset);
  }
  if (dense_mib > 0) {
    Fill(memfd + kMemfdDenseOffset, dense_mib << 20, kMemfd, kMemfdDenseOffset);
  }

  char* shared = static_cast<char*>(mmap(nullptr, kSharedSize, PROT_READ | PROT_WRITE,
                                         MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (shared == MAP_FAILED) return 1;
  Fill(shared, kSharedSize, kShared, 0);

  signal(SIGUSR1, Shrink);
  int ready = open((dir + "/ready").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (ready < 0) return 1;
  close(ready);
  for (;;) pause();
}
