// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// A fork-tree file (ParseProcessTree): JSON from the user, read while crpid
// holds its capability in the permitted set. What it accepts must satisfy
// what the planner relies on, and must survive a write-and-read round trip.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string_view>

#include "src/process_tree.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto tree = crpid::ParseProcessTree(text);
  if (!tree) {
    // One line, bounded, whatever the file holds.
    FUZZ_CHECK(tree.error().message.find('\n') == std::string::npos);
    FUZZ_CHECK(tree.error().message.size() < 4096);
    return 0;
  }
  FUZZ_CHECK(!tree->processes.empty() && tree->processes.size() <= crpid::kMaxTreeProcesses);
  std::set<pid_t> pids;
  bool root_seen = false;
  for (const crpid::TreeProcess& p : tree->processes) {
    FUZZ_CHECK(p.pid > 0 && pids.insert(p.pid).second);  // positive, unique
    root_seen |= p.pid == tree->root;
  }
  FUZZ_CHECK(root_seen);
  for (const crpid::TreeProcess& p : tree->processes) {
    if (p.pid != tree->root) FUZZ_CHECK(pids.count(p.ppid) == 1);
  }
  auto again = crpid::ParseProcessTree(crpid::ProcessTreeToJson(*tree));
  FUZZ_CHECK(again.ok() && again->processes.size() == tree->processes.size());
  return 0;
}
