// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// The privilege phases of src/capabilities.h on a real process: run as root
// (full permitted set) in a forked child so the test process keeps its own.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "src/capabilities.h"
#include "src/unique_fd.h"
#include "tests/test_support.h"

namespace crpid {
namespace {

std::string OwnCapabilities() {
  const std::string status = testing::ReadFileOrEmpty("/proc/self/status");
  std::string sets;
  for (const char* set : {"CapPrm", "CapEff", "CapInh", "CapAmb"}) {
    sets += testing::CapabilityLine(status, set) + " ";
  }
  return sets;
}

// Runs the phases in a child and returns what it saw at each step.
std::string PhasesSeenByAChild() {
  auto pipe = MakePipe();
  if (!pipe) return "pipe failed";
  pid_t child = fork();
  if (child == 0) {
    std::string report;
    auto state = ReadCapabilityState();
    if (!state || !ClearEffective()) _exit(1);
    report += "start: " + OwnCapabilities() + "\n";
    {
      ScopedEffectiveCapability raised(
          CheckpointRestoreCapabilityToRaise(*state));
      report += "scoped: " + OwnCapabilities() + "\n";
    }
    report += "after: " + OwnCapabilities() + "\n";
    if (!DropAllCapabilities()) _exit(1);
    report += "dropped: " + OwnCapabilities() + "\n";
    (void)WriteAll(pipe->write_end.get(), report);
    _exit(0);
  }
  pipe->write_end.Reset();
  auto report = ReadAll(pipe->read_end.get(), 1 << 20, "the child's report");
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_EQ(status, 0);
  return report ? *report : "read failed";
}

TEST(Capabilities, EffectiveOnlyInsideTheScopeThenNothingAtAll) {
  if (geteuid() != 0) CRPID_SKIP_OR_FAIL("needs root's permitted set");
  const std::string report = PhasesSeenByAChild();
  EXPECT_NE(report.find("start: CapPrm:000001ff"), std::string::npos) << report;
  EXPECT_NE(report.find("CapEff:0000000000000000 CapInh:0000000000000000 "
                        "CapAmb:0000000000000000 \nscoped:"),
            std::string::npos)
      << report;
  // Only bit 40, CAP_CHECKPOINT_RESTORE, is effective inside the scope.
  EXPECT_NE(report.find("scoped: CapPrm:000001ff"), std::string::npos) << report;
  EXPECT_NE(report.find("CapEff:0000010000000000"), std::string::npos) << report;
  const size_t after = report.find("after: CapPrm:000001ff");
  ASSERT_NE(after, std::string::npos) << report;
  EXPECT_EQ(report.find("CapEff:0000000000000000", after), after + 31) << report;
  EXPECT_NE(report.find("dropped: CapPrm:0000000000000000 CapEff:0000000000000000 "
                        "CapInh:0000000000000000 CapAmb:0000000000000000"),
            std::string::npos)
      << report;
}

}  // namespace
}  // namespace crpid
