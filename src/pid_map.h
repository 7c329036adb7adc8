// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// A PID map: the file a batch script hands `crpid fork-at --pid-map` so
// that each Slurm task finds its own PID without awk or jq. One entry per
// line, `KEY PID[,PID…]` (KEY is the task's SLURM_PROCID, or any name such
// as `3.child`); blank lines and lines starting with `#` are ignored.
//
// The file chooses PIDs: it must be the caller's own (src/steering_file.h);
// it is opened without blocking (a FIFO is refused at once), its size and
// line length are bounded, and every line must parse — a damaged map is refused whole, with
// the line number, rather than trusted in part.
#ifndef CRPID_SRC_PID_MAP_H_
#define CRPID_SRC_PID_MAP_H_

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "src/result.h"

namespace crpid {

inline constexpr size_t kMaxPidMapBytes = 1 << 20;  // 1 MiB
inline constexpr size_t kMaxPidMapLineBytes = 1024;
inline constexpr size_t kMaxPidMapKeyBytes = 255;

struct PidMapEntry {
  std::string key;
  std::vector<pid_t> pids;  // as ParsePidList returns them
  size_t line = 0;          // 1-based, for messages
};

// Checks a key: 1..kMaxPidMapKeyBytes printable ASCII bytes, no space, not
// starting with '#'. kInvalidInput otherwise ("what" names where it came
// from, e.g. "--key" or "SLURM_PROCID").
Status ValidatePidMapKey(std::string_view key, std::string_view what);

// Parses a whole map. kInvalidInput, naming the first problem: a line
// longer than kMaxPidMapLineBytes, a byte that is not printable ASCII, a
// line that is not exactly two fields, a bad key or PID list (with
// ParsePidList's reason), a key given twice (both line numbers).
Result<std::vector<PidMapEntry>> ParsePidMap(std::string_view text);

// The PID list for key. kNotFound when the map has no such key.
Result<std::vector<pid_t>> LookUpPidMap(const std::vector<PidMapEntry>& map,
                                        std::string_view key);

// Opens path under the rule of src/steering_file.h (the caller's own
// regular file, not writable by group or others, not on procfs or sysfs,
// no other user's symlink on the way; kInvalidInput naming the reason),
// reads at most kMaxPidMapBytes (one more byte tells a larger file) and
// parses it. Open errors are open(2)'s (kNotFound for ENOENT). Messages
// name the path.
Result<std::vector<PidMapEntry>> ReadPidMap(const std::string& path);

}  // namespace crpid

#endif  // CRPID_SRC_PID_MAP_H_
