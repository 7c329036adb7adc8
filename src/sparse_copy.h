// Copying a file's data, holes kept, with a checksum of what was saved.
#ifndef CRPID_SRC_SPARSE_COPY_H_
#define CRPID_SRC_SPARSE_COPY_H_

#include <cstdint>
#include <functional>
#include <string>

#include "src/result.h"

namespace crpid {

// The checksum's definition, stored in manifests: XXH3-128 over the data
// extents (maximal runs SEEK_DATA/SEEK_HOLE report, so holes cost nothing),
// each fed as its offset and length (little-endian u64) then its bytes,
// followed by the file size. Identical for a file and its sparse copy.
inline constexpr char kChecksumAlgorithm[] =
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

// Recomputes the checksum of a file by the definition above.
Result<CopyStats> ChecksumSparse(int fd);

}  // namespace crpid

#endif  // CRPID_SRC_SPARSE_COPY_H_
