// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// FindPidHolders on /proc snapshots built in a temporary directory (N/stat,
// N/status as the kernel lays them out, hostile ones too), and
// WaitUntilFree against the real /proc.
#include "src/pid_holder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "src/procfs.h"

namespace crpid {
namespace {

using ::testing::HasSubstr;

class Snapshot {
 public:
  Snapshot() {
    const char* tmp = std::getenv("TEST_TMPDIR");
    root_ = std::string(tmp ? tmp : "/tmp") + "/proc-" + std::to_string(::getpid()) + "-" +
            std::to_string(counter_++);
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  ~Snapshot() { std::filesystem::remove_all(root_); }
  const std::string& root() const { return root_; }

  // A process (or, with tgid != pid, a thread's entry) as /proc shows it.
  void Add(pid_t pid, const std::string& comm, char state, pid_t ppid, pid_t pgid, pid_t sid,
           uid_t uid, pid_t tgid = 0) {
    AddRaw(pid,
           std::to_string(pid) + " (" + comm + ") " + state + " " + std::to_string(ppid) + " " +
               std::to_string(pgid) + " " + std::to_string(sid) +
               " 34816 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 1234 2000000 100\n",
           "Name:\t" + comm + "\nState:\t" + state + "\nTgid:\t" +
               std::to_string(tgid ? tgid : pid) + "\nPid:\t" + std::to_string(pid) +
               "\nPPid:\t" + std::to_string(ppid) + "\nUid:\t" + std::to_string(uid) + "\t" +
               std::to_string(uid) + "\t" + std::to_string(uid) + "\t" + std::to_string(uid) +
               "\n");
  }
  void AddRaw(pid_t pid, const std::string& stat, const std::string& status) {
    const std::string dir = root_ + "/" + std::to_string(pid);
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/stat") << stat;
    if (!status.empty()) std::ofstream(dir + "/status") << status;
  }

 private:
  std::string root_;
  static inline int counter_ = 0;
};

std::string Describe(pid_t pid, const Snapshot& snapshot) {
  return DescribeHolder(FindPidHolders({pid}, snapshot.root()).front());
}

TEST(PidHolder, FreeWhenNothingCarriesIt) {
  Snapshot proc;
  proc.Add(100, "bash", 'S', 1, 100, 100, 1000);
  const PidHolder holder = FindPidHolders({4242}, proc.root()).front();
  EXPECT_TRUE(holder.free());
  EXPECT_EQ(DescribeHolder(holder), "PID 4242 is free");
  EXPECT_EQ(HolderRemedy(holder), "");
}

TEST(PidHolder, LiveProcess) {
  Snapshot proc;
  proc.Add(4242, "sleep", 'S', 100, 100, 100, 1000);
  const PidHolder holder = FindPidHolders({4242}, proc.root()).front();
  EXPECT_EQ(holder.kind, PidHolderKind::kProcess);
  EXPECT_EQ(DescribeHolder(holder), "PID 4242 is held by process 'sleep' (uid 1000)");
  EXPECT_THAT(HolderRemedy(holder), HasSubstr("--wait SECONDS"));
}

TEST(PidHolder, ZombieNamesTheParentThatHasNotReapedIt) {
  Snapshot proc;
  proc.Add(90, "bash", 'S', 1, 90, 90, 1000);
  proc.Add(4242, "sh", 'Z', 90, 90, 90, 1000);
  const PidHolder holder = FindPidHolders({4242}, proc.root()).front();
  EXPECT_EQ(holder.kind, PidHolderKind::kZombie);
  EXPECT_EQ(holder.parent.pid, 90);
  EXPECT_EQ(DescribeHolder(holder),
            "PID 4242 is held by a zombie of 'sh' (uid 1000) that its parent, PID 90 "
            "'bash' (uid 1000), has not reaped");
}

TEST(PidHolder, ThreadNamesItsProcess) {
  Snapshot proc;
  proc.Add(80, "java", 'S', 1, 80, 80, 1000);
  proc.Add(4242, "GC thread", 'S', 1, 80, 80, 1000, /*tgid=*/80);
  const PidHolder holder = FindPidHolders({4242}, proc.root()).front();
  EXPECT_EQ(holder.kind, PidHolderKind::kThread);
  EXPECT_EQ(DescribeHolder(holder), "PID 4242 is held by a thread of PID 80 'java' (uid 1000)");
}

TEST(PidHolder, SessionLeaderGoneWhileAMemberLivesOn) {
  Snapshot proc;
  proc.Add(4243, "sleep", 'S', 1, 4242, 4242, 0);
  const PidHolder holder = FindPidHolders({4242}, proc.root()).front();
  EXPECT_EQ(holder.kind, PidHolderKind::kGroupOrSession);
  EXPECT_TRUE(holder.as_pgid);
  EXPECT_TRUE(holder.as_sid);
  EXPECT_EQ(DescribeHolder(holder),
            "PID 4242 is held as the session and process-group ID of PID 4243 'sleep' (uid 0)");
}

TEST(PidHolder, ProcessGroupOnlyAndSessionOnly) {
  Snapshot proc;
  proc.Add(500, "bash", 'S', 1, 500, 500, 1000);
  proc.Add(501, "make", 'S', 500, 4242, 500, 1000);    // group 4242, leader gone
  proc.Add(600, "sleep", 'Z', 1, 600, 4343, 1000);     // session 4343, leader gone
  const auto holders = FindPidHolders({4242, 4343}, proc.root());
  EXPECT_EQ(DescribeHolder(holders[0]),
            "PID 4242 is held as the process-group ID of PID 501 'make' (uid 1000)");
  EXPECT_EQ(DescribeHolder(holders[1]),
            "PID 4343 is held as the session ID of PID 600 'sleep' (zombie, uid 1000)");
}

TEST(PidHolder, ManyMembersAreBounded) {
  Snapshot proc;
  for (pid_t pid = 5010; pid > 5000; --pid) proc.Add(pid, "worker", 'S', 1, 4242, 4242, 7);
  const PidHolder holder = FindPidHolders({4242}, proc.root()).front();
  EXPECT_EQ(holder.member_count, 10u);
  ASSERT_EQ(holder.members.size(), kNamedMembers);
  EXPECT_EQ(DescribeHolder(holder),
            "PID 4242 is held as the session and process-group ID of PID 5001 'worker' (uid "
            "7), PID 5002 'worker' (uid 7), PID 5003 'worker' (uid 7) and 7 more");
}

TEST(PidHolder, TwoMembersAreJoinedWithAnd) {
  Snapshot proc;
  proc.Add(11, "a", 'S', 1, 10, 10, 0);
  proc.Add(12, "b", 'Z', 1, 10, 10, 0);
  EXPECT_EQ(Describe(10, proc),
            "PID 10 is held as the session and process-group ID of PID 11 'a' (uid 0) and PID "
            "12 'b' (zombie, uid 0)");
}

TEST(PidHolder, HostileCommIsParsedAndShownEscaped) {
  Snapshot proc;
  // A comm with ") S 1 1 1" and a newline in it: the fields start after the last ')'.
  proc.Add(4242, "x) R 1 77 77 '\n\x1b", 'S', 1, 4242, 4242, 1000);
  proc.Add(4300, "y) Z 9 10 10 (", 'S', 1, 10, 10, 0);
  const auto holders = FindPidHolders({4242, 10}, proc.root());
  EXPECT_EQ(holders[0].kind, PidHolderKind::kProcess);
  EXPECT_EQ(DescribeHolder(holders[0]),
            "PID 4242 is held by process 'x) R 1 77 77 \\'\\n\\x1b' (uid 1000)");
  ASSERT_EQ(holders[1].kind, PidHolderKind::kGroupOrSession);
  EXPECT_EQ(holders[1].members.at(0).pid, 4300);
  EXPECT_EQ(holders[1].members.at(0).state, 'S');
}

TEST(PidHolder, TruncatedOrMissingFilesStillSayInUse) {
  Snapshot proc;
  proc.AddRaw(4242, "4242 (sle", "");              // cut inside the comm, no status
  proc.AddRaw(4243, "4243 (sleep) S", "Uid:\t5");  // no fields after the state
  proc.AddRaw(4300, "4300 (x) S 1", "");           // no pgid or sid: not a member
  proc.AddRaw(4301, "", "");
  const auto holders = FindPidHolders({4242, 4243, 1}, proc.root());
  EXPECT_EQ(DescribeHolder(holders[0]), "PID 4242 is held by a process /proc does not describe");
  EXPECT_EQ(DescribeHolder(holders[1]), "PID 4243 is held by process 'sleep' (uid 5)");
  EXPECT_TRUE(holders[2].free());
}

TEST(PidHolder, OnePassAnswersManyPidsInOrder) {
  Snapshot proc;
  proc.Add(20, "a", 'S', 1, 30, 40, 0);
  proc.Add(21, "b", 'S', 1, 21, 21, 0);
  const auto holders = FindPidHolders({40, 21, 30, 50, 30}, proc.root());
  ASSERT_EQ(holders.size(), 5u);
  EXPECT_EQ(holders[0].kind, PidHolderKind::kGroupOrSession);
  EXPECT_TRUE(holders[0].as_sid);
  EXPECT_FALSE(holders[0].as_pgid);
  EXPECT_EQ(holders[1].kind, PidHolderKind::kProcess);
  EXPECT_EQ(holders[2].kind, PidHolderKind::kGroupOrSession);
  EXPECT_TRUE(holders[2].as_pgid);
  EXPECT_TRUE(holders[3].free());
  EXPECT_EQ(DescribeHolder(holders[4]), DescribeHolder(holders[2]));
}

TEST(PidHolder, NoProcRootMeansNothingFound) {
  EXPECT_TRUE(FindPidHolders({4242}, "/nonexistent/proc").front().free());
}

// The real /proc: the test's own PID is a live process, and a wait for it
// ends at the deadline naming it, or at a blocked signal.
TEST(WaitUntilFree, DeadlineAndSignal) {
  if (!ProcShowsOwnPidNamespace()) GTEST_SKIP() << "/proc is another PID namespace's";
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGUSR1);
  ASSERT_EQ(::sigprocmask(SIG_BLOCK, &stop, nullptr), 0);
  auto outcome = WaitUntilFree({::getpid()}, 0, stop);
  ASSERT_TRUE(outcome.ok()) << outcome.error().message;
  ASSERT_EQ(outcome->held.size(), 1u);
  EXPECT_EQ(outcome->held[0].kind, PidHolderKind::kProcess);
  EXPECT_EQ(outcome->signal, 0);

  ::kill(::getpid(), SIGUSR1);
  outcome = WaitUntilFree({::getpid()}, 60, stop);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->signal, SIGUSR1);
  ::sigprocmask(SIG_UNBLOCK, &stop, nullptr);
}

TEST(WaitUntilFree, EndsOnceTheHolderIsReaped) {
  if (!ProcShowsOwnPidNamespace()) GTEST_SKIP() << "/proc is another PID namespace's";
  const pid_t child = ::fork();
  if (child == 0) {
    ::usleep(200 * 1000);
    _exit(0);
  }
  ASSERT_GT(child, 0);
  sigset_t stop;
  sigemptyset(&stop);
  // The test itself is the parent that must reap: a thread does it once
  // the child has exited, which the wait sees through the pidfd and polls.
  std::thread reaper([child] { ::waitpid(child, nullptr, 0); });
  auto outcome = WaitUntilFree({child}, 60, stop);
  reaper.join();
  ASSERT_TRUE(outcome.ok());
  EXPECT_TRUE(outcome->held.empty());
}

}  // namespace
}  // namespace crpid
