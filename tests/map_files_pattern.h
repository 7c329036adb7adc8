// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// The contents map_files_target writes, so tests can check saved bytes.
#ifndef CRPID_TESTS_MAP_FILES_PATTERN_H_
#define CRPID_TESTS_MAP_FILES_PATTERN_H_

#include <cstddef>
#include <cstdint>

namespace crpid::testing {

enum PatternKind { kRegular = 1, kDeleted = 2, kMemfd = 3, kShared = 4, kSysvShm = 5 };

inline constexpr size_t kRegularSize = 3 * 4096 + 100;
inline constexpr size_t kDeletedSize = 5000;
inline constexpr size_t kMemfdSize = 256u << 20;
inline constexpr size_t kMemfdDataOffset1 = 0;
inline constexpr size_t kMemfdDataOffset2 = 100u << 20;
inline constexpr size_t kMemfdDataLength = 4096;
inline constexpr size_t kMemfdDenseOffset = 128u << 20;
inline constexpr size_t kSharedSize = 64 << 10;
inline constexpr size_t kSysvShmSize = 8192;  // sysv_shm_target

// Never zero, so a hole read back as zeros cannot pass for data.
inline uint8_t PatternByte(int kind, size_t offset) {
  return static_cast<uint8_t>(1 + (offset * 131 + static_cast<size_t>(kind) * 17 +
                                   offset / 4096) % 251);
}

}  // namespace crpid::testing

#endif  // CRPID_TESTS_MAP_FILES_PATTERN_H_
