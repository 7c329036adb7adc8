// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// RHEL 8's system-call surface: every subcommand run as nobody with the
// file capability under a seccomp filter that answers ENOSYS for each call
// RHEL 8.5's kernel lacks (clone3, pidfd_open, pidfd_send_signal,
// pidfd_getfd, openat2 and every call numbered above faccessat2: see
// tests/seccomp_enosys_clone3.cc --el8). CI cannot boot that kernel; this
// keeps newer calls out of the paths EL8 users take (the ns_last_pid fork,
// waits without pidfds). Asserts what the kernel reports: the real PID,
// /proc/PID/status, the dumped bytes.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_support.h"

namespace crpid::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// The command prints the PID it sees and its effective set.
const std::vector<std::string> kShowPidAndCapEff = {
    "sh", "-c",
    "echo $$; while read -r line; do case $line in CapEff*) echo \"$line\";; "
    "esac; done < /proc/$$/status"};

struct Ids {
  long ppid = 0, pgid = 0, sid = 0;
  bool operator==(const Ids&) const = default;
};

// ppid, pgid and sid from /proc/PID/stat.
Ids IdsOf(pid_t pid) {
  const std::string stat = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
  Ids ids;
  const size_t end = stat.rfind(')');
  if (end == std::string::npos) return ids;
  std::istringstream fields(stat.substr(end + 2));
  char state;
  fields >> state >> ids.ppid >> ids.pgid >> ids.sid;
  return ids;
}

class El8Surface : public InstalledCrpidTest {
 protected:
  static void SetUpTestSuite() {
    InstalledCrpidTest::SetUpTestSuite();
    if (::geteuid() != 0) return;
    ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    enosys_ = copies_.CopyHelper("tests/seccomp_enosys_clone3");
    builder_ = copies_.CopyHelper("tests/tree_builder");
    target_ = copies_.CopyHelper("tests/map_files_target");
  }

  // argv as a user runs it (AsNobody), under the EL8 filter, which root
  // installs before dropping to nobody (no no_new_privs: the file
  // capability still counts).
  static std::vector<std::string> OnEl8(const std::vector<std::string>& argv) {
    std::vector<std::string> full = {enosys_, "--el8"};
    for (const std::string& arg : AsNobody(argv)) full.push_back(arg);
    return full;
  }
  static std::vector<std::string> Crpid(std::vector<std::string> args) {
    args.insert(args.begin(), copies_.with_ep);
    return args;
  }

  static inline std::string enosys_, builder_, target_;
};

TEST_F(El8Surface, CheckSaysCrpidWorksWithoutClone3) {
  RunResult result = RunProgram(OnEl8(Crpid({"check"})));
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("verdict: crpid works here"));
  EXPECT_THAT(result.out, ::testing::ContainsRegex("\nclone3 +no "));
  EXPECT_THAT(result.out, ::testing::ContainsRegex("\nfork-at +yes "));
}

TEST_F(El8Surface, ForkAtLandsOnThePidThroughNsLastPid) {
  for (const char* method : {"auto", "ns-last-pid"}) {
    SCOPED_TRACE(method);
    const pid_t pid = FreePid();
    std::vector<std::string> args = {"fork-at", "--method", method, std::to_string(pid), "--"};
    args.insert(args.end(), kShowPidAndCapEff.begin(), kShowPidAndCapEff.end());
    RunResult result = RunProgram(OnEl8(Crpid(args)));
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out, std::to_string(pid) + "\nCapEff:\t0000000000000000\n");
  }
}

TEST_F(El8Surface, ForkAtClone3SaysThereIsNone) {
  const pid_t pid = FreePid();
  RunResult result =
      RunProgram(OnEl8(Crpid({"fork-at", "--method", "clone3", std::to_string(pid), "--", "true"})));
  ExpectOneErrorLine(result, "fork-at", "no clone3");
  EXPECT_TRUE(PidIsFree(pid));
}

// Without pidfd_open crpid polls: it still waits for the holder to end.
TEST_F(El8Surface, CheckAndWaitWithoutPidfds) {
  BackgroundProcess holder({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "sleep", "1000"});
  const std::string held = std::to_string(holder.pid());
  ASSERT_TRUE(WaitForComm(holder.pid(), "sleep"));
  RunResult check = RunProgram(OnEl8(Crpid({"fork-at", "--check", held})));
  EXPECT_EQ(check.exit_code, 1) << check.err;
  EXPECT_THAT(check.out, StartsWith(held + ": held by process 'sleep' (uid 65534)"));

  std::vector<std::string> args = {"fork-at", "--wait", "120", held, "--"};
  args.insert(args.end(), kShowPidAndCapEff.begin(), kShowPidAndCapEff.end());
  BackgroundProcess waiting(OnEl8(Crpid(args)));
  // Still waiting a second later, nothing at the PID but the holder.
  ::sleep(1);
  EXPECT_EQ(ReadFileOrEmpty("/proc/" + held + "/comm"), "sleep\n");
  ::kill(holder.pid(), SIGKILL);
  holder.Wait();
  EXPECT_EQ(waiting.Wait(), 0) << waiting.Stderr();
  EXPECT_EQ(waiting.Stdout(), held + "\nCapEff:\t0000000000000000\n");
}

TEST_F(El8Surface, TreeSaveAndForkTreeRestoreEveryProcess) {
  const std::string pids_file = copies_.nobody_dir + "/el8-pids";
  const std::string saved = copies_.nobody_dir + "/el8.tree";
  BackgroundProcess builder({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh",
                             "-c", "cd \"$0\" && exec \"$1\" \"$2\"", copies_.nobody_dir,
                             builder_, pids_file});
  ASSERT_TRUE(WaitForFile(pids_file));
  std::vector<pid_t> pids;
  std::istringstream all(ReadFileOrEmpty(pids_file));
  for (long pid; all >> pid;) pids.push_back(static_cast<pid_t>(pid));
  ASSERT_EQ(pids.size(), 8u);
  pids.erase(pids.begin() + 2);  // E, which exited: a placeholder's PID
  std::vector<Ids> recorded;
  for (pid_t pid : pids) {
    ASSERT_TRUE(WaitForComm(pid, "sleep")) << pid;
    recorded.push_back(IdsOf(pid));
  }
  RunResult save = RunProgram(
      OnEl8(Crpid({"tree", "save", std::to_string(pids[0]), "-o", saved})));
  ASSERT_EQ(save.exit_code, 0) << save.err;
  for (pid_t pid : pids) ::kill(pid, SIGKILL);
  builder.Wait();
  ASSERT_TRUE(WaitUntilPidsFree(pids));

  RunResult restore = RunProgram(OnEl8(Crpid({"fork-tree", "--wait", "60", "--detach", saved})));
  EXPECT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_EQ(restore.out, std::to_string(pids[0]) + "\n");
  for (size_t i = 0; i < pids.size(); ++i) {
    SCOPED_TRACE(pids[i]);
    const std::string status = ReadFileOrEmpty("/proc/" + std::to_string(pids[i]) + "/status");
    EXPECT_THAT(status, HasSubstr("\nUid:\t65534\t"));
    EXPECT_EQ(CapabilityLine(status, "CapEff"), "CapEff:0000000000000000");
    Ids now = IdsOf(pids[i]);
    if (i == 0) now.ppid = recorded[0].ppid;  // the root's parent is crpid's
    EXPECT_EQ(now, recorded[i]);
  }
  for (pid_t pid : pids) ::kill(pid, SIGKILL);
  EXPECT_TRUE(WaitUntilPidsFree(pids));
}

TEST_F(El8Surface, MapFilesDumpSavesTheMappedBytes) {
  const std::string dir = copies_.nobody_dir + "/el8-target";
  const std::string dump = copies_.nobody_dir + "/el8-dump";
  ASSERT_EQ(RunProgram({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "mkdir",
                        dir})
                .exit_code,
            0);
  BackgroundProcess target({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            target_, dir, "memfds", "1"});
  ASSERT_TRUE(WaitForFile(dir + "/ready"));
  RunResult result = RunProgram(OnEl8(
      Crpid({"map-files-dump", "--only", "memfd", std::to_string(target.pid()), "-o", dump})));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  RunResult verify = RunProgram(OnEl8(Crpid({"map-files-dump", "--verify", dump})));
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  // The saved file holds the memfd's bytes, as root reads them through
  // the target's own map_files entry.
  std::string original;
  const std::string map_files = "/proc/" + std::to_string(target.pid()) + "/map_files";
  for (const auto& entry : std::filesystem::directory_iterator(map_files)) {
    std::error_code error;
    const std::string link = std::filesystem::read_symlink(entry.path(), error).string();
    if (link.find("/memfd:") == 0) original = ReadFileOrEmpty(entry.path());
  }
  std::vector<std::string> saved;
  for (const auto& entry : std::filesystem::directory_iterator(dump + "/files")) {
    saved.push_back(ReadFileOrEmpty(entry.path()));
  }
  ASSERT_EQ(saved.size(), 1u);
  EXPECT_FALSE(original.empty());
  EXPECT_EQ(saved[0].size(), original.size());
  EXPECT_TRUE(saved[0] == original) << "the dumped bytes differ from the memfd's";
  ::kill(target.pid(), SIGKILL);
}

TEST_F(El8Surface, SetMmRunsTheProgramWithItsExeLink) {
  RunResult result = RunProgram(OnEl8(Crpid(
      {"set-mm", "--", "/bin/sh", "-c",
       "readlink /proc/$$/exe; echo $$; while read -r line; do case $line in CapEff*) echo \"$line\";; esac; done "
       "< /proc/$$/status"})));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  // The process that ran crpid is the program now: sh sees that PID.
  std::istringstream lines(result.out);
  std::string exe, pid, caps;
  std::getline(lines, exe);
  std::getline(lines, pid);
  EXPECT_EQ(exe, std::filesystem::canonical("/bin/sh").string());
  std::getline(lines, caps);
  EXPECT_FALSE(pid.empty());
  EXPECT_EQ(caps, "CapEff:\t0000000000000000");
}

}  // namespace
}  // namespace crpid::testing
