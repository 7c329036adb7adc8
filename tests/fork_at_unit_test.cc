// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests: parsing, validation and every error message that needs no
// privilege. Runs inside Bazel's sandbox.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "cli/report.h"
#include "src/capabilities.h"
#include "src/fork_at.h"
#include "src/result.h"
#include "src/supervise.h"
#include "src/temporaries.h"
#include "src/unique_fd.h"
#include "tests/test_support.h"

namespace crpid {
namespace {

using ::testing::HasSubstr;

std::string ParseError(const std::string& text) {
  auto pids = ParsePidList(text);
  EXPECT_FALSE(pids.ok()) << text;
  if (pids) return "";
  EXPECT_EQ(pids.error().kind, ErrorKind::kInvalidInput);
  return pids.error().message + "; " + pids.error().hint;
}

TEST(ParsePidList, SinglePid) {
  auto pids = ParsePidList("300000");
  ASSERT_TRUE(pids.ok());
  EXPECT_EQ(*pids, std::vector<pid_t>{300000});
}

TEST(ParsePidList, NestedListInnermostFirst) {
  auto pids = ParsePidList("5,300,7000");
  ASSERT_TRUE(pids.ok());
  EXPECT_EQ(*pids, (std::vector<pid_t>{5, 300, 7000}));
}

TEST(ParsePidList, RejectsNotANumber) {
  EXPECT_THAT(ParseError("abc"), HasSubstr("PID 'abc' is not a number"));
  EXPECT_THAT(ParseError("12a"), HasSubstr("PID '12a' is not a number"));
  EXPECT_THAT(ParseError("+5"), HasSubstr("is not a number"));
  EXPECT_THAT(ParseError(" 5"), HasSubstr("is not a number"));
  EXPECT_THAT(ParseError("0x10"), HasSubstr("is not a number"));
}

TEST(ParsePidList, RejectsNonPositive) {
  EXPECT_THAT(ParseError("0"), HasSubstr("PID 0 is not positive"));
  EXPECT_THAT(ParseError("-5"), HasSubstr("PID -5 is not positive"));
  EXPECT_THAT(ParseError("5,0"), HasSubstr("PID 0 is not positive"));
}

TEST(ParsePidList, RejectsEmptyEntries) {
  EXPECT_THAT(ParseError(""), HasSubstr("empty PID"));
  EXPECT_THAT(ParseError("5,"), HasSubstr("empty PID in '5,'"));
  EXPECT_THAT(ParseError(",5"), HasSubstr("empty PID"));
}

TEST(ParsePidList, RejectsOutOfRange) {
  EXPECT_THAT(ParseError("99999999999"), HasSubstr("out of range"));
  EXPECT_THAT(ParseError("2147483648"), HasSubstr("out of range"));
}

// An argument can be 128 KiB: the error line names its start only (found
// by the pid_list fuzz target's bound on error lines).
TEST(ParsePidList, ErrorsShowABoundedPartOfTheText) {
  const std::string long_item(100000, '7');
  EXPECT_THAT(ParseError(long_item), HasSubstr("PID 777777777777777777777777... is out of range"));
  EXPECT_LT(ParseError(long_item).size(), 200u);
  EXPECT_LT(ParseError(std::string(100000, 'x')).size(), 200u);
  EXPECT_LT(ParseError(long_item + ",").size(), 200u);
}

TEST(ParsePidList, AtMostThirtyTwoLevels) {
  std::string list = "1";
  for (int i = 2; i <= 32; ++i) list += "," + std::to_string(i);
  EXPECT_TRUE(ParsePidList(list).ok());
  EXPECT_THAT(ParseError(list + ",33"), HasSubstr("33 entries"));
}

TEST(ValidatePidList, PidMaxIsExclusive) {
  EXPECT_TRUE(ValidatePidList({32767}, ForkMethod::kAuto, 32768, false).ok());
  Status status = ValidatePidList({32768}, ForkMethod::kAuto, 32768, false);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message,
            "PID 32768 is not below kernel.pid_max (32768)");
  EXPECT_THAT(status.error().hint, HasSubstr("sysctl -w kernel.pid_max="));
}

TEST(ValidatePidList, NsLastPidTakesOnePid) {
  Status status = ValidatePidList({5, 300}, ForkMethod::kNsLastPid, 32768, false);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message, HasSubstr("single PID"));
  EXPECT_THAT(status.error().hint, HasSubstr("clone3"));
  EXPECT_TRUE(ValidatePidList({5, 300}, ForkMethod::kClone3, 32768, false).ok());
}

TEST(ValidatePidList, PidOneOnlyInANewNamespace) {
  Status status = ValidatePidList({1}, ForkMethod::kAuto, 32768, false);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message, HasSubstr("PID 1 is the init"));
  EXPECT_THAT(status.error().hint, HasSubstr("unshare -Urp crpid fork-at 1"));
  EXPECT_TRUE(ValidatePidList({1}, ForkMethod::kAuto, 32768, true).ok());
}

TEST(ShellStatus, ExitCodeOrSignal) {
  pid_t child = fork();
  if (child == 0) _exit(7);
  int status;
  waitpid(child, &status, 0);
  EXPECT_EQ(ShellStatus(status), 7);
  child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  kill(child, SIGTERM);
  waitpid(child, &status, 0);
  EXPECT_EQ(ShellStatus(status), 128 + SIGTERM);
}

TEST(ErrnoError, MessageIsWhatColonStrerror) {
  Error error = SystemError(EEXIST, "cannot create PID 5");
  EXPECT_EQ(error.message, "cannot create PID 5: File exists");
  EXPECT_EQ(error.kind, ErrorKind::kBusy);
  EXPECT_EQ(SystemError(EPERM, "x").kind, ErrorKind::kPermission);
  EXPECT_EQ(SystemError(ENOSYS, "x").kind, ErrorKind::kUnsupported);
}

class WriteFileAtomicallyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/crpid-unit-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { ASSERT_EQ(system(("rm -rf " + dir_).c_str()), 0); }
  int FilesInDir() {
    return system(("test $(ls -A " + dir_ + " | wc -l) -eq 0").c_str()) == 0
               ? 0
               : 1;
  }
  std::string dir_;
};

TEST_F(WriteFileAtomicallyTest, WritesAndReplaces) {
  const std::string path = dir_ + "/job.pid";
  ASSERT_TRUE(WriteFileAtomically(path, "123\n").ok());
  EXPECT_EQ(testing::ReadFileOrEmpty(path), "123\n");
  ASSERT_TRUE(WriteFileAtomically(path, "456\n").ok());
  EXPECT_EQ(testing::ReadFileOrEmpty(path), "456\n");
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  const mode_t mask = umask(0);
  umask(mask);
  EXPECT_EQ(st.st_mode & 0777, 0666u & ~mask);  // as open(2) makes it
}

TEST_F(WriteFileAtomicallyTest, RefusesSymlinkAndLeavesNothing) {
  const std::string path = dir_ + "/link";
  ASSERT_EQ(symlink("/etc/passwd", path.c_str()), 0);
  Status status = WriteFileAtomically(path, "1\n");
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message, HasSubstr("exists and is not a regular file"));
  ASSERT_EQ(unlink(path.c_str()), 0);
  EXPECT_EQ(FilesInDir(), 0);
}

TEST_F(WriteFileAtomicallyTest, MissingDirectoryNamesThePath) {
  const std::string path = dir_ + "/no/such/dir/job.pid";
  Status status = WriteFileAtomically(path, "1\n");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message,
            "cannot write " + path + ": No such file or directory");
}

CapabilityState Held() {
  CapabilityState state;
  state.cap_last_cap = 40;
  state.checkpoint_restore_known = true;
  state.checkpoint_restore_in_bounding = true;
  state.checkpoint_restore_permitted = true;
  return state;
}

TEST(CapabilityRemedy, KernelWithoutTheCapabilityPointsToKernelPatch) {
  CapabilityState state = Held();
  state.cap_last_cap = 37;
  state.checkpoint_restore_known = false;
  EXPECT_EQ(DiagnoseCapability(state), CapabilityProblem::kUnknownToKernel);
  std::string remedy = cli::CapabilityRemedy(state);
  EXPECT_THAT(remedy, HasSubstr("cap_last_cap is 37"));
  EXPECT_THAT(remedy, HasSubstr("kernel-patch/"));
}

TEST(CapabilityRemedy, BoundingSet) {
  CapabilityState state = Held();
  state.checkpoint_restore_permitted = false;
  state.checkpoint_restore_in_bounding = false;
  EXPECT_THAT(cli::CapabilityRemedy(state), HasSubstr("bounding set"));
}

TEST(CapabilityRemedy, NoNewPrivs) {
  CapabilityState state = Held();
  state.checkpoint_restore_permitted = false;
  state.file_grants_checkpoint_restore = true;
  state.no_new_privs = true;
  EXPECT_THAT(cli::CapabilityRemedy(state), HasSubstr("no_new_privs"));
}

TEST(CapabilityRemedy, FileCapabilityNotGranted) {
  CapabilityState state = Held();
  state.checkpoint_restore_permitted = false;
  state.file_grants_checkpoint_restore = true;
  EXPECT_THAT(cli::CapabilityRemedy(state), HasSubstr("nosuid"));
}

TEST(CapabilityRemedy, MissingFileCapabilityGivesSetcapLine) {
  CapabilityState state = Held();
  state.checkpoint_restore_permitted = false;
  std::string remedy = cli::CapabilityRemedy(state);
  EXPECT_THAT(remedy, HasSubstr("setcap cap_checkpoint_restore+ep " +
                                SelfExecutablePath()));
  EXPECT_THAT(remedy, HasSubstr("unshare -Urp"));
}

TEST(CapabilityRemedy, HeldButRefusedNamesTheUserNamespace) {
  EXPECT_THAT(cli::CapabilityRemedy(Held()), HasSubstr("user namespace"));
}

TEST(ReportError, OneLineWithContextAndHint) {
  ::testing::internal::CaptureStderr();
  int code = cli::ReportError(
      "fork-at", Error{ErrorKind::kBusy, EEXIST, "PID 5 is in use", "pick another"});
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "crpid: fork-at: PID 5 is in use; pick another\n");
  EXPECT_EQ(code, 125);
}

}  // namespace
}  // namespace crpid
