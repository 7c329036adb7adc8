// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Parsing /proc/PID/maps into mappings and classifying what backs them.
#ifndef CRPID_SRC_PROC_MAPS_H_
#define CRPID_SRC_PROC_MAPS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "src/result.h"

namespace crpid {

// The most of /proc/PID/maps crpid reads: vm.max_map_count (65,530 by
// default) lines, each mostly well under 1 KiB.
inline constexpr size_t kMaxMapsBytes = 64u << 20;

enum class MappingKind {
  kAnonymous,        // no file (inode 0): heap, stack, private anonymous
  kFile,             // a file some path still reaches
  kDeletedFile,      // a file unlinked after mmap: "PATH (deleted)"
  kMemfd,            // memfd_create(): "/memfd:NAME (deleted)"
  kSharedAnonymous,  // MAP_SHARED|MAP_ANONYMOUS: "/dev/zero (deleted)"
  kSysvShm,          // shmat(): "/SYSV%08x (deleted)"
  kSpecial,          // not a file: "anon_inode:[io_uring]", DMA buffers…
};
const char* MappingKindName(MappingKind kind);

// True for what no path reaches: only map_files/ opens it.
bool ReachableOnlyThroughMapFiles(MappingKind kind);

struct Mapping {
  uint64_t start = 0;
  uint64_t end = 0;
  std::string permissions;  // "r-xp"
  uint64_t offset = 0;      // in the file, bytes
  unsigned device_major = 0;
  unsigned device_minor = 0;
  uint64_t inode = 0;
  std::string path;  // as the kernel shows it, " (deleted)" included
  MappingKind kind = MappingKind::kAnonymous;

  // The entry name under /proc/PID/map_files/: "start-end" in hex.
  std::string MapFilesName() const;
  // "major:minor" in hex, as in /proc/PID/maps.
  std::string DeviceText() const;
};

// Parses the text of /proc/PID/maps. kInvalidInput on a malformed line.
Result<std::vector<Mapping>> ParseMaps(std::string_view text);

// Reads and parses /proc/PID/maps. The kernel checks ptrace read access
// (PTRACE_MODE_READ_FSCREDS): another user's process gives kPermission.
Result<std::vector<Mapping>> ReadMaps(pid_t pid);

}  // namespace crpid

#endif  // CRPID_SRC_PROC_MAPS_H_
