// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// fork-at's PID list, as the user types it (ParsePidList), then checked
// against each method, two pid_max values and both kinds of PID namespace
// (ValidatePidList), as fork-at does before creating anything.
#include <climits>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/fork_at.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto pids = crpid::ParsePidList(text);
  if (!pids) {
    // One readable error line, whatever the argument's length.
    FUZZ_CHECK(pids.error().message.size() + pids.error().hint.size() < 256);
    return 0;
  }
  FUZZ_CHECK(!pids->empty());
  for (pid_t pid : *pids) FUZZ_CHECK(pid >= 1);
  for (crpid::ForkMethod method :
       {crpid::ForkMethod::kAuto, crpid::ForkMethod::kClone3, crpid::ForkMethod::kNsLastPid}) {
    for (long pid_max : {32768L, 4194304L}) {
      for (bool new_namespace : {false, true}) {
        crpid::Status valid = crpid::ValidatePidList(*pids, method, pid_max, new_namespace);
        if (valid) {
          FUZZ_CHECK(pids->front() < pid_max);
        }
      }
    }
  }
  return 0;
}
