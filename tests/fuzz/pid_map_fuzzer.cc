// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// A --pid-map file (ParsePidMap): lines from the user, read while crpid
// holds its capability in the permitted set. Accepted keys are unique and
// valid, every PID list is one ParsePidList accepts, errors are one line
// that echoes no control byte.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "src/pid_map.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto map = crpid::ParsePidMap(text);
  if (!map) {
    for (const unsigned char c : map.error().message + map.error().hint) {
      FUZZ_CHECK(c >= 0x20 && c != 0x7f);
    }
    FUZZ_CHECK(map.error().message.size() < 4096);
    return 0;
  }
  std::set<std::string> keys;
  for (const crpid::PidMapEntry& entry : *map) {
    FUZZ_CHECK(keys.insert(entry.key).second);
    FUZZ_CHECK(crpid::ValidatePidMapKey(entry.key, "key").ok());
    FUZZ_CHECK(!entry.pids.empty());
    for (pid_t pid : entry.pids) FUZZ_CHECK(pid > 0);
    auto found = crpid::LookUpPidMap(*map, entry.key);
    FUZZ_CHECK(found.ok() && *found == entry.pids);
  }
  return 0;
}
