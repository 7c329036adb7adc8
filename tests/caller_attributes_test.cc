// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// What COMMAND (fork-at) and PROGRAM (set-mm) see must be what they would
// see run directly — limits, umask, ignored and blocked signals, inherited
// fds, cwd, environment, nice, oom_score_adj — apart from the PID and the
// exe link. Run as nobody from a shell holding no capability, so every
// crpid start is a secure exec (which clamps the soft stack limit to 8 MiB).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_support.h"

namespace crpid::testing {
namespace {

using ::testing::HasSubstr;

class CallerAttributes : public InstalledCrpidTest {
 protected:
  void SetUp() override {
    InstalledCrpidTest::SetUp();
    probe_ = copies_.CopyHelper("tests/attributes_probe");
    // The shell below raises its soft stack limit to unlimited: the hard
    // one must allow it, whatever the test runner was given.
    const rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
    ASSERT_EQ(::setrlimit(RLIMIT_STACK, &unlimited), 0);
  }

  // Runs script as nobody in a shell set up the way a batch script may
  // be: no stack limit, umask 027, HUP and USR1 ignored, USR2 blocked, fd 7
  // open without close-on-exec, nice 5, oom_score_adj 500, cwd nobody's.
  RunResult RunInPreparedShell(const std::string& script) {
    const std::string prepared =
        "ulimit -s unlimited && umask 027 && trap '' HUP USR1 && exec 7</etc/hostname "
        "&& echo 500 >/proc/self/oom_score_adj && cd " + copies_.nobody_dir +
        " && export JOB_STATE=resume && " + script;
    const std::string block_usr2 =
        "import os, signal, sys; signal.pthread_sigmask(signal.SIG_BLOCK, "
        "[signal.SIGUSR2]); os.execvp(sys.argv[1], sys.argv[1:])";
    return RunProgram(
        AsNobody({"python3", "-c", block_usr2, "nice", "-n", "5", "sh", "-c", prepared}));
  }

  // Splits "== NAME" sections of out into their lines, less "pid" and "exe".
  static std::map<std::string, std::string> Sections(const std::string& out) {
    std::map<std::string, std::string> sections;
    std::istringstream lines(out);
    std::string line, name;
    while (std::getline(lines, line)) {
      if (line.rfind("== ", 0) == 0) {
        name = line.substr(3);
      } else if (line.rfind("pid ", 0) != 0 && line.rfind("exe ", 0) != 0) {
        sections[name] += line + "\n";
      }
    }
    return sections;
  }

  // Whether the status line `set` (SigIgn, SigBlk) of a probe's output
  // holds signal_number.
  static bool SignalInSet(const std::string& out, const std::string& set, int signal_number) {
    const std::string key = "status " + set + ":\t";
    const size_t at = out.find(key);
    if (at == std::string::npos) return false;
    const unsigned long long mask = std::stoull(out.substr(at + key.size(), 16), nullptr, 16);
    return (mask >> (signal_number - 1)) & 1;
  }

  std::string probe_;
};

TEST_F(CallerAttributes, CommandAndProgramSeeWhatTheyWouldSeeRunDirectly) {
  const std::string crpid = copies_.with_ep;
  const pid_t first = FreePid();
  const pid_t second = FreePid();
  const std::string script =
      "echo '== direct'; " + probe_ +
      "; echo '== fork-at'; " + crpid + " fork-at " + std::to_string(first) + " -- " + probe_ +
      "; echo '== set-mm'; " + crpid + " set-mm -- " + probe_ +
      "; echo '== fork-at set-mm'; " + crpid + " fork-at " + std::to_string(second) + " -- " +
      crpid + " set-mm -- " + probe_ + "; true";
  RunResult result = RunInPreparedShell(script);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  auto sections = Sections(result.out);
  const std::string& direct = sections["direct"];
  // What the shell set up, as the probe run directly sees it.
  EXPECT_THAT(direct, HasSubstr("rlimit stack 18446744073709551615 18446744073709551615\n"));
  EXPECT_THAT(direct, HasSubstr("umask 0027\n"));
  EXPECT_TRUE(SignalInSet(direct, "SigIgn", SIGHUP)) << direct;
  EXPECT_TRUE(SignalInSet(direct, "SigIgn", SIGUSR1)) << direct;
  EXPECT_THAT(direct, HasSubstr("fd 7 /etc/hostname\n"));
  EXPECT_THAT(direct, HasSubstr("nice 5\n"));
  EXPECT_THAT(direct, HasSubstr("oom_score_adj 500\n"));
  EXPECT_THAT(direct, HasSubstr("cwd " + copies_.nobody_dir + "\n"));
  EXPECT_THAT(direct, HasSubstr("env JOB_STATE=resume\n"));
  for (const char* way : {"fork-at", "set-mm", "fork-at set-mm"}) {
    SCOPED_TRACE(way);
    EXPECT_EQ(sections[way], direct);
  }
  // And the PID and exe link are the ones asked for.
  EXPECT_THAT(result.out, HasSubstr("pid " + std::to_string(first) + "\n"));
  EXPECT_THAT(result.out, HasSubstr("pid " + std::to_string(second) + "\n"));
}

// dash clears the signal mask it was started with, so the blocked set is
// checked without a shell: crpid exec'd straight from a process that blocks
// USR2 and ignores HUP.
TEST_F(CallerAttributes, BlockedAndIgnoredSignalsWithoutAShell) {
  const std::string launcher =
      "import os, signal, sys; signal.pthread_sigmask(signal.SIG_BLOCK, "
      "[signal.SIGUSR2]); signal.signal(signal.SIGHUP, signal.SIG_IGN); "
      "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
      "os.execvp(sys.argv[1], sys.argv[1:])";
  RunResult direct = RunProgram(AsNobody({"python3", "-c", launcher, probe_}));
  ASSERT_EQ(direct.exit_code, 0) << direct.err;
  EXPECT_TRUE(SignalInSet(direct.out, "SigBlk", SIGUSR2)) << direct.out;
  EXPECT_TRUE(SignalInSet(direct.out, "SigIgn", SIGHUP)) << direct.out;
  // crpid ignores SIGXFSZ itself (a file size limit is then a write error it
  // cleans up after) and gives COMMAND and PROGRAM the caller's disposition.
  EXPECT_TRUE(SignalInSet(direct.out, "SigIgn", SIGXFSZ)) << direct.out;
  const std::vector<std::vector<std::string>> ways = {
      {copies_.with_ep, "fork-at", std::to_string(FreePid()), "--", probe_},
      {copies_.with_ep, "set-mm", "--", probe_}};
  for (const auto& way : ways) {
    SCOPED_TRACE(way[1]);
    std::vector<std::string> argv = {"python3", "-c", launcher};
    argv.insert(argv.end(), way.begin(), way.end());
    RunResult through = RunProgram(AsNobody(argv));
    ASSERT_EQ(through.exit_code, 0) << through.err;
    for (const char* set : {"SigBlk", "SigIgn"}) {
      const std::string key = std::string("status ") + set + ":";
      EXPECT_EQ(through.out.substr(through.out.find(key), key.size() + 17),
                direct.out.substr(direct.out.find(key), key.size() + 17));
    }
  }
}

// Exec'd by the shell, crpid's parent is no longer the shell that raised
// the limit (in a Slurm task it is slurmstepd): CRPID_RLIMIT_STACK carries
// the caller's limit there. Without it the command gets the kernel's 8 MiB.
TEST_F(CallerAttributes, StackLimitFromTheVariableWhereTheParentCannotTell) {
  const std::string fork_at =
      "exec " + copies_.with_ep + " fork-at " + std::to_string(FreePid()) +
      " -- sh -c 'ulimit -s'";
  RunResult carried = RunInPreparedShell("CRPID_RLIMIT_STACK=$(ulimit -s) " + fork_at);
  EXPECT_EQ(carried.exit_code, 0) << carried.err;
  EXPECT_EQ(carried.out, "unlimited\n");
  RunResult sized = RunInPreparedShell("CRPID_RLIMIT_STACK=65536 " + fork_at);
  EXPECT_EQ(sized.out, "65536\n") << sized.err;
  RunResult lost = RunInPreparedShell(fork_at);
  EXPECT_EQ(lost.out, "8192\n") << lost.err;
}

TEST_F(CallerAttributes, BadStackLimitVariableIsOneLine) {
  const std::string fork_at = copies_.with_ep + " fork-at " + std::to_string(FreePid()) +
                              " -- true";
  ExpectOneErrorLine(RunInPreparedShell("CRPID_RLIMIT_STACK=lots exec " + fork_at), "fork-at",
                     "CRPID_RLIMIT_STACK='lots' is neither a number of KiB nor 'unlimited'");
  ExpectOneErrorLine(
      RunInPreparedShell("ulimit -Ss 8192 && ulimit -Hs 100000 && CRPID_RLIMIT_STACK=unlimited exec " + fork_at),
      "fork-at", "above the hard stack limit (100000 KiB)");
  ExpectOneErrorLine(
      RunInPreparedShell("CRPID_RLIMIT_STACK=1x exec " + copies_.with_ep + " set-mm -- true"),
      "set-mm", "CRPID_RLIMIT_STACK='1x'");
}

}  // namespace
}  // namespace crpid::testing
