// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/proc_maps.h"

#include <cinttypes>
#include <cstdio>
#include <string>

#include "src/unique_fd.h"

namespace crpid {
namespace {

constexpr std::string_view kDeletedSuffix = " (deleted)";

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         text.substr(text.size() - suffix.size()) == suffix;
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

MappingKind Classify(uint64_t inode, std::string_view path) {
  // A SysV segment's inode number is its shmid, and the first segment of an
  // IPC namespace has shmid 0: "/SYSV00000000 (deleted)" with inode 0.
  if (inode == 0 && !StartsWith(path, "/SYSV")) return MappingKind::kAnonymous;
  if (path.empty() || path.front() != '/') return MappingKind::kSpecial;
  const bool deleted = EndsWith(path, kDeletedSuffix);
  if (StartsWith(path, "/memfd:")) return MappingKind::kMemfd;
  if (deleted && path == "/dev/zero (deleted)") {
    return MappingKind::kSharedAnonymous;
  }
  if (deleted && StartsWith(path, "/SYSV")) return MappingKind::kSysvShm;
  return deleted ? MappingKind::kDeletedFile : MappingKind::kFile;
}

Error Malformed(std::string_view line) {
  return Error{ErrorKind::kInvalidInput, 0,
               "malformed /proc/PID/maps line: '" + std::string(line) + "'",
               {}};
}

}  // namespace

const char* MappingKindName(MappingKind kind) {
  switch (kind) {
    case MappingKind::kAnonymous:
      return "anonymous";
    case MappingKind::kFile:
      return "file";
    case MappingKind::kDeletedFile:
      return "deleted";
    case MappingKind::kMemfd:
      return "memfd";
    case MappingKind::kSharedAnonymous:
      return "shared-anonymous";
    case MappingKind::kSysvShm:
      return "sysv-shm";
    case MappingKind::kSpecial:
      return "special";
  }
  return "unknown";
}

bool ReachableOnlyThroughMapFiles(MappingKind kind) {
  return kind == MappingKind::kDeletedFile || kind == MappingKind::kMemfd ||
         kind == MappingKind::kSharedAnonymous || kind == MappingKind::kSysvShm;
}

std::string Mapping::MapFilesName() const {
  char name[40];
  std::snprintf(name, sizeof name, "%" PRIx64 "-%" PRIx64, start, end);
  return name;
}

std::string Mapping::DeviceText() const {
  char text[24];
  std::snprintf(text, sizeof text, "%02x:%02x", device_major, device_minor);
  return text;
}

Result<std::vector<Mapping>> ParseMaps(std::string_view text) {
  std::vector<Mapping> mappings;
  while (!text.empty()) {
    size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view()
                                             : text.substr(newline + 1);
    if (line.empty()) continue;
    const std::string copy(line);
    Mapping mapping;
    char permissions[8] = {};
    int path_start = -1;
    // start-end perms offset major:minor inode [path]
    if (std::sscanf(copy.c_str(), "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64
                                  " %x:%x %" SCNu64 " %n",
                    &mapping.start, &mapping.end, permissions, &mapping.offset,
                    &mapping.device_major, &mapping.device_minor,
                    &mapping.inode, &path_start) != 7 ||
        path_start < 0 || mapping.end < mapping.start) {
      // "%n" after trailing spaces is absent when the line ends at the inode.
      if (std::sscanf(copy.c_str(), "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64
                                    " %x:%x %" SCNu64,
                      &mapping.start, &mapping.end, permissions,
                      &mapping.offset, &mapping.device_major,
                      &mapping.device_minor, &mapping.inode) != 7 ||
          mapping.end < mapping.start) {
        return Malformed(line);
      }
      path_start = static_cast<int>(copy.size());
    }
    mapping.permissions = permissions;
    mapping.path = copy.substr(static_cast<size_t>(path_start));
    mapping.kind = Classify(mapping.inode, mapping.path);
    mappings.push_back(std::move(mapping));
  }
  return mappings;
}

Result<std::vector<Mapping>> ReadMaps(pid_t pid) {
  auto text = ReadFileToString("/proc/" + std::to_string(pid) + "/maps", kMaxMapsBytes);
  if (!text) return text.error();
  return ParseMaps(*text);
}

}  // namespace crpid
