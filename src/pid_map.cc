// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/pid_map.h"

#include <fmt/core.h>

#include <cerrno>
#include <map>
#include <string>

#include "src/fork_at.h"
#include "src/steering_file.h"

namespace crpid {
namespace {

constexpr char kFormatHint[] =
    "each line is 'KEY PID[,PID…]', '#' starts a comment line";

Error MapError(size_t line, const std::string& what) {
  return Error{ErrorKind::kInvalidInput, 0,
               fmt::format("line {}: {}", line, what), kFormatHint};
}

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// Splits a line into blank-separated fields.
std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsBlank(line[i])) ++i;
    size_t start = i;
    while (i < line.size() && !IsBlank(line[i])) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

// The first byte that is neither printable ASCII nor a blank, or npos.
size_t FindUnprintable(std::string_view line) {
  for (size_t i = 0; i < line.size(); ++i) {
    const auto byte = static_cast<unsigned char>(line[i]);
    if (!IsBlank(line[i]) && (byte < 0x20 || byte > 0x7e)) return i;
  }
  return std::string_view::npos;
}

// Parses one line that is not blank or a comment.
Result<PidMapEntry> ParseEntry(std::string_view line, size_t number) {
  if (size_t bad = FindUnprintable(line); bad != std::string_view::npos) {
    return MapError(number, fmt::format("byte 0x{:02x} at column {} is not "
                                        "printable ASCII",
                                        static_cast<unsigned char>(line[bad]),
                                        bad + 1));
  }
  std::vector<std::string_view> fields = Fields(line);
  if (fields.size() != 2) {
    return MapError(number, fmt::format("{} fields, expected 2 (KEY PID[,PID…])",
                                        fields.size()));
  }
  if (Status key = ValidatePidMapKey(fields[0], "key"); !key) {
    return MapError(number, key.error().message);
  }
  auto pids = ParsePidList(fields[1]);
  if (!pids) return MapError(number, pids.error().message);
  return PidMapEntry{std::string(fields[0]), std::move(*pids), number};
}

}  // namespace

Status ValidatePidMapKey(std::string_view key, std::string_view what) {
  if (key.empty()) {
    return Error{ErrorKind::kInvalidInput, 0, fmt::format("{} is empty", what),
                 "give a key such as the task's SLURM_PROCID"};
  }
  if (key.size() > kMaxPidMapKeyBytes) {
    return Error{ErrorKind::kInvalidInput, 0,
                 fmt::format("{} is {} bytes long, more than {}", what,
                             key.size(), kMaxPidMapKeyBytes),
                 "use a shorter key"};
  }
  for (char c : key) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte > 0x7e) {
      return Error{ErrorKind::kInvalidInput, 0,
                   fmt::format("{} holds byte 0x{:02x}", what, byte),
                   "keys are printable ASCII without blanks"};
    }
  }
  if (key.front() == '#') {
    return Error{ErrorKind::kInvalidInput, 0,
                 fmt::format("{} '{}' starts with '#'", what, key),
                 "'#' starts a comment line; choose another key"};
  }
  return Ok{};
}

Result<std::vector<PidMapEntry>> ParsePidMap(std::string_view text) {
  std::vector<PidMapEntry> entries;
  std::map<std::string, size_t, std::less<>> first_line;  // key: the line it is on
  size_t number = 0;
  size_t start = 0;
  while (start < text.size()) {
    ++number;
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (line.size() > kMaxPidMapLineBytes) {
      return MapError(number, fmt::format("longer than {} bytes",
                                          kMaxPidMapLineBytes));
    }
    size_t first = 0;
    while (first < line.size() && IsBlank(line[first])) ++first;
    if (first == line.size() || line[first] == '#') continue;
    auto entry = ParseEntry(line, number);
    if (!entry) return entry.error();
    // Keys seen so far by key: a scan of the list per line was quadratic
    // (a 1 MiB map of 140,000 keys took 11 s).
    if (const auto [seen, added] = first_line.emplace(entry->key, number); !added) {
      return MapError(number, fmt::format("key '{}' again (first on line {})", entry->key,
                                          seen->second));
    }
    entries.push_back(std::move(*entry));
  }
  return entries;
}

Result<std::vector<pid_t>> LookUpPidMap(const std::vector<PidMapEntry>& map,
                                        std::string_view key) {
  for (const PidMapEntry& entry : map) {
    if (entry.key == key) return entry.pids;
  }
  return Error{ErrorKind::kNotFound, 0,
               fmt::format("no key '{}' in the PID map", key),
               "add a line 'KEY PID' for it, or give another --key"};
}

Result<std::vector<PidMapEntry>> ReadPidMap(const std::string& path) {
  // A map someone else can write or swap would let them pick the PIDs this
  // user's command runs at: the rule of src/steering_file.h.
  auto text = ReadSteeringFile(path, "PID map", kMaxPidMapBytes);
  if (!text) {
    Error error = text.error();
    if (error.err == EFBIG) error.hint = "give one line per task";
    return error;
  }
  auto map = ParsePidMap(*text);
  if (!map) {
    Error error = map.error();
    error.message = fmt::format("PID map {}: {}", path, error.message);
    return error;
  }
  return map;
}

}  // namespace crpid
