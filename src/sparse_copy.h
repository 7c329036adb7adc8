// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Copying a file's data, holes kept, with a checksum of what was saved.
#ifndef CRPID_SRC_SPARSE_COPY_H_
#define CRPID_SRC_SPARSE_COPY_H_

#include <cstdint>
#include <functional>
#include <string>

#include "src/result.h"

namespace crpid {

// The checksum's definition, stored in manifests (format 2): a function of
// the logical bytes, a hole reading as zeros, so that any byte-identical
// copy verifies whatever its holes. The file is cut into 64 KiB blocks (the
// last may be shorter); XXH3-128 is fed, for each block whose XXH3-128
// differs from that of as many zero bytes, its index (u64le) and that
// digest (high u64le, low u64le), then the file size (u64le). Blocks that
// hold no data are never read: holes cost nothing.
inline constexpr char kChecksumAlgorithm[] =
    "xxh3-128(64 KiB blocks not all zeros: index u64le, xxh3-128 high u64le, "
    "low u64le; then size u64le)";
inline constexpr int kChecksumFormat = 2;
// Format 1 (crpid 0.1.0 dumps), kept to verify them: XXH3-128 over the data
// extents SEEK_DATA/SEEK_HOLE report, each as offset and length (u64le) then
// its bytes, then the size. It depends on the filesystem's extent layout.
inline constexpr char kChecksumAlgorithmV1[] =
    "xxh3-128(extents: offset u64le, length u64le, bytes; then size u64le)";

struct CopyStats {
  uint64_t size = 0;        // logical file size
  uint64_t data_bytes = 0;  // bytes in data extents, copied
  std::string checksum;     // 32 hex digits
};

// Called with the data bytes copied so far, after each window; an error it
// returns (e.g. a signal asking to stop) ends the copy with that error.
using CopyProgress = std::function<Status(uint64_t copied)>;

// Copies in_fd's size bytes into out_fd (a new, empty, read-write file)
// extent by extent: copy_file_range in the kernel, falling back to sendfile,
// then read/write; holes stay holes. Memory use is bounded whatever the
// size. Fails with kSystem if the source shrinks while being copied, and
// with the errno of a full disk (ENOSPC, EDQUOT).
Result<CopyStats> CopySparse(int in_fd, int out_fd, uint64_t size,
                             const CopyProgress& progress = nullptr);

// Recomputes the checksum of a file by the definition of `format` (1 or 2).
Result<CopyStats> ChecksumSparse(int fd, int format = kChecksumFormat);

}  // namespace crpid

#endif  // CRPID_SRC_SPARSE_COPY_H_
