// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// What crpid writes, for real, outside Bazel's sandbox, as nobody from a
// shell without capabilities: the temporaries of tree save -o and
// --pid-file under every signal that ends a process and after SIGKILL, the
// modes the umask gives, standard output that cannot be written
// (>/dev/full), and a descriptor limit while /proc is read. To stop crpid
// while its temporary exists, strace delays crpid's first look at the
// signals it holds back (rt_sigpending(2)), which comes once the temporary
// is made and before anything is written into it. (Not its first write(2):
// in the sanitizer build UBSan writes to a pipe of its own long before.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_support.h"

namespace crpid::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct NamedSignal {
  int number;
  std::string name;  // as crpid's error line says it
};

// Every signal whose default action ends a process, SIGKILL aside (SIGXFSZ
// is ignored by crpid: a file size limit is a write error, EFBIG). Not 32
// and 33 (glibc's internal ones): crpid started with its file capability
// finds them ignored (SigIgn in /proc/PID/status, measured), so they end
// nothing; the unit test holds them back where they are not.
std::vector<NamedSignal> TerminatingSignals() {
  std::vector<NamedSignal> signals = {
      {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},     {SIGQUIT, "SIGQUIT"},
      {SIGILL, "SIGILL"},   {SIGTRAP, "SIGTRAP"},   {SIGABRT, "SIGABRT"},
      {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},     {SIGUSR1, "SIGUSR1"},
      {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},   {SIGPIPE, "SIGPIPE"},
      {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},   {SIGSTKFLT, "SIGSTKFLT"},
      {SIGXCPU, "SIGXCPU"}, {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"},
      {SIGIO, "SIGIO"},     {SIGPWR, "SIGPWR"},     {SIGSYS, "SIGSYS"},
      {SIGRTMIN, "SIGRTMIN"}, {SIGRTMIN + 5, "SIGRTMIN+5"},
      {SIGRTMAX, "SIGRTMIN+" + std::to_string(SIGRTMAX - SIGRTMIN)},
  };
  return signals;
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> Temporaries(const std::string& dir) {
  std::vector<std::string> found;
  for (const std::string& name : Entries(dir)) {
    if (name.find(".crpid-") != std::string::npos) found.push_back(name);
  }
  return found;
}

long ParentOf(pid_t pid) {
  const std::string stat = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  char state = 0;
  long ppid = -1;
  std::sscanf(stat.c_str() + close + 1, " %c %ld", &state, &ppid);
  return ppid;
}

// The process below root (a descendant) whose comm is comm; -1 if none.
pid_t DescendantNamed(pid_t root, const std::string& comm) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::atol(name.c_str()));
    if (ReadFileOrEmpty("/proc/" + name + "/comm") != comm + "\n") continue;
    for (long up = pid; up > 1; up = ParentOf(static_cast<pid_t>(up))) {
      if (up == root) return pid;
    }
  }
  return -1;
}

// Runs argv as nobody with stdout on /dev/full.
RunResult RunToFullStdout(const std::vector<std::string>& argv) {
  std::vector<std::string> shell = {"sh", "-c", "exec \"$0\" \"$@\" >/dev/full"};
  shell.insert(shell.end(), argv.begin(), argv.end());
  return RunProgram(AsNobody(shell));
}

class OutputIntegrity : public InstalledCrpidTest {
 protected:
  void SetUp() override {
    InstalledCrpidTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    work_ = copies_.nobody_dir + "/" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::create_directories(work_);
    ASSERT_EQ(::chown(work_.c_str(), kNobody, kNobody), 0);
  }

  void TearDown() override {
    if (!work_.empty()) std::filesystem::remove_all(work_);
  }

  // crpid_argv run as nobody under strace, which holds up crpid's first
  // rt_sigpending(2) for delay_seconds (in namespace: inside `unshare -Urpf
  // --mount-proc`, where fork-at needs no file capability). Returns once
  // a temporary is in work_, with crpid's PID.
  std::unique_ptr<BackgroundProcess> StartHeldUpInWrite(std::vector<std::string> crpid_argv,
                                                        int delay_seconds, pid_t& crpid,
                                                        bool in_namespace = false) {
    std::vector<std::string> argv = {
        "strace", "-qqq", "-o", "/dev/null", "-e", "trace=rt_sigpending", "-e",
        "inject=rt_sigpending:delay_enter=" + std::to_string(delay_seconds * 1000000) +
            ":when=1"};
    for (const std::string& arg : WithoutLeakCheck(crpid_argv)) argv.push_back(arg);
    if (in_namespace) argv.insert(argv.begin(), {"unshare", "-Urpf", "--mount-proc"});
    auto process = std::make_unique<BackgroundProcess>(AsNobody(argv));
    crpid = -1;
    const std::string comm = std::filesystem::path(crpid_argv[0]).filename().string();
    for (int i = 0; i < 60000 && (crpid < 0 || Temporaries(work_).empty()); ++i) {
      if (crpid < 0) crpid = DescendantNamed(process->pid(), comm.substr(0, 15));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_GT(crpid, 0);
    EXPECT_EQ(Temporaries(work_).size(), 1u);
    return process;
  }

  // A sleeping process of nobody's, to save: its own session and group,
  // in a directory nobody can enter, so that fork-tree can restore it.
  std::unique_ptr<BackgroundProcess> StartSleeper() {
    auto sleeper = std::make_unique<BackgroundProcess>(
        AsNobody({"setsid", "sh", "-c", "cd \"$0\" && exec sleep 1000", work_}));
    EXPECT_TRUE(WaitForComm(sleeper->pid(), "sleep"));
    return sleeper;
  }

  std::string work_;
};

// tree save -o: a signal while the file is being written left 12-40 MB
// *.crpid-* temporaries behind (SIGALRM, 9 of 20 tries). Now each one
// removes it, says so in one line, and ends crpid with 128+N.
TEST_F(OutputIntegrity, TreeSaveInterruptedMidWriteLeavesNothing) {
  auto sleeper = StartSleeper();
  const std::string out = work_ + "/job.tree";
  for (const NamedSignal& signal : TerminatingSignals()) {
    SCOPED_TRACE(signal.name);
    pid_t crpid = -1;
    auto save = StartHeldUpInWrite(
        {copies_.with_ep, "tree", "save", std::to_string(sleeper->pid()), "-o", out}, 2, crpid);
    if (crpid > 0) ::kill(crpid, signal.number);
    RunResult result;
    result.exit_code = save->Wait(60);
    result.err = save->Stderr();
    ExpectOneErrorLine(result, "tree save", "interrupted by " + signal.name +
                                                "; nothing was saved and nothing was left behind",
                       128 + signal.number);
    EXPECT_EQ(Entries(work_), std::vector<std::string>{}) << "left behind";
  }
}

// --pid-file: interrupted while the PID is written, nothing is left and
// COMMAND never runs.
TEST_F(OutputIntegrity, PidFileInterruptedMidWriteLeavesNothing) {
  const std::string pid_file = work_ + "/job.pid";
  const std::string ran = work_ + "/ran";
  for (const NamedSignal& signal :
       std::vector<NamedSignal>{{SIGALRM, "SIGALRM"}, {SIGXCPU, "SIGXCPU"}, {SIGPWR, "SIGPWR"},
                                {SIGIO, "SIGIO"}, {SIGRTMIN, "SIGRTMIN"}, {SIGSEGV, "SIGSEGV"},
                                {SIGVTALRM, "SIGVTALRM"}, {SIGSYS, "SIGSYS"}}) {
    SCOPED_TRACE(signal.name);
    pid_t crpid = -1;
    auto run = StartHeldUpInWrite({copies_.without, "fork-at", "--pid-file", pid_file, "50",
                                   "--", "touch", ran},
                                  2, crpid, /*in_namespace=*/true);
    if (crpid > 0) ::kill(crpid, signal.number);
    RunResult result;
    result.exit_code = run->Wait(60);
    result.err = run->Stderr();
    ExpectOneErrorLine(result, "fork-at", "interrupted by " + signal.name, 128 + signal.number);
    EXPECT_EQ(Entries(work_), std::vector<std::string>{}) << "left behind, or COMMAND ran";
  }
}

// SIGKILL cannot be held back: the temporary stays, named after its maker,
// and the next run on the same destination removes it.
TEST_F(OutputIntegrity, SigkilledRunsTemporaryIsRemovedByTheNextRun) {
  auto sleeper = StartSleeper();
  const std::string out = work_ + "/job.tree";
  const std::vector<std::string> save = {copies_.with_ep, "tree", "save",
                                         std::to_string(sleeper->pid()), "-o", out};
  pid_t crpid = -1;
  auto killed = StartHeldUpInWrite(save, 5, crpid);
  ASSERT_GT(crpid, 0);
  ::kill(crpid, SIGKILL);
  EXPECT_EQ(killed->Wait(60), 128 + SIGKILL);
  for (int i = 0; i < 2000 && std::filesystem::exists("/proc/" + std::to_string(crpid)); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const std::vector<std::string> left = Temporaries(work_);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_THAT(left[0], ::testing::StartsWith("job.tree.crpid-tmp-" + std::to_string(crpid) + "."));
  RunResult next = RunProgram(AsNobody(save));
  ASSERT_EQ(next.exit_code, 0) << next.err;
  EXPECT_EQ(Entries(work_), std::vector<std::string>{"job.tree"});
}

// The temporary of a run still going, and one that is not the caller's,
// are left alone.
TEST_F(OutputIntegrity, TemporariesOfLiveRunsAndOfOtherUsersAreLeftAlone) {
  auto sleeper = StartSleeper();
  const std::string out = work_ + "/job.tree";
  const std::vector<std::string> save = {copies_.with_ep, "tree", "save",
                                         std::to_string(sleeper->pid()), "-o", out};
  pid_t crpid = -1;
  auto live = StartHeldUpInWrite(save, 20, crpid);
  ASSERT_GT(crpid, 0);
  const std::string live_temporary = Temporaries(work_).at(0);
  // Root's file named like a temporary of a run that has ended.
  const pid_t ended = ::fork();
  if (ended == 0) _exit(0);
  ::waitpid(ended, nullptr, 0);
  struct stat ns;
  ASSERT_EQ(::stat("/proc/self/ns/pid", &ns), 0);
  const std::string roots = "job.tree.crpid-tmp-" + std::to_string(ended) + ".1." +
                            std::to_string(ns.st_ino) + ".AAAAAA";
  std::ofstream(work_ + "/" + roots) << "root's";

  RunResult next = RunProgram(AsNobody(save));
  ASSERT_EQ(next.exit_code, 0) << next.err;
  std::vector<std::string> expected = {"job.tree", live_temporary, roots};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(Entries(work_), expected);
  ::kill(crpid, SIGTERM);
  EXPECT_EQ(live->Wait(60), 128 + SIGTERM);
  expected = {"job.tree", roots};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(Entries(work_), expected);
}

// In a group-writable job directory any member can rename the caller's
// entries: another user renamed the caller's results directory to look like
// an abandoned temporary (and another to an abandoned ".old"), and the
// caller's next tree save -o there removed it, contents and all (which that
// user could not have done), or moved it to the destination. Where others
// can rename entries, a name proves nothing: nothing is removed or moved.
TEST_F(OutputIntegrity, OthersRenamesInASharedDirectoryRemoveNothing) {
  auto sleeper = StartSleeper();
  const std::string shared = work_ + "/shared";  // the job's group: nobody's
  ASSERT_EQ(::mkdir(shared.c_str(), 0770), 0);
  ASSERT_EQ(::chown(shared.c_str(), 0, kNobody), 0);
  ASSERT_EQ(::chmod(shared.c_str(), 02770), 0);
  const pid_t ended = ::fork();
  if (ended == 0) _exit(0);
  ::waitpid(ended, nullptr, 0);
  struct stat ns;
  ASSERT_EQ(::stat("/proc/self/ns/pid", &ns), 0);
  const std::string named = "job.tree.crpid-tmp-" + std::to_string(ended) + ".1." +
                            std::to_string(ns.st_ino) + ".";
  std::vector<std::string> expected = {"job.tree"};
  for (const std::string& renamed : {named + "AAAAAA", named + "BBBBBB.old"}) {
    // nobody's directory, renamed by root (the other member of the group).
    const std::string mine = work_ + "/results";
    ASSERT_TRUE(std::filesystem::create_directories(mine + "/sub"));
    std::ofstream(mine + "/data") << "precious";
    std::ofstream(mine + "/sub/more") << "precious";
    for (const std::string& path : {mine, mine + "/sub", mine + "/data", mine + "/sub/more"}) {
      ASSERT_EQ(::chown(path.c_str(), kNobody, kNobody), 0);
    }
    std::filesystem::rename(mine, shared + "/" + renamed);
    expected.push_back(renamed);
  }
  RunResult save = RunProgram(AsNobody({copies_.with_ep, "tree", "save",
                                        std::to_string(sleeper->pid()), "-o",
                                        shared + "/job.tree"}));
  EXPECT_EQ(save.exit_code, 0) << save.err;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(Entries(shared), expected);
  for (size_t i = 1; i < expected.size(); ++i) {
    EXPECT_EQ(ReadFileOrEmpty(shared + "/" + expected[i] + "/sub/more"), "precious");
  }
  EXPECT_NE(ReadFileOrEmpty(shared + "/job.tree").find("crpid-process-tree"),
            std::string::npos);
}

// tree save -o and --pid-file made their files 0644 whatever the umask:
// under umask 077 another user read what /proc hid from them.
TEST_F(OutputIntegrity, OutputFilesTakeTheirModeFromTheUmask) {
  auto sleeper = StartSleeper();
  for (const std::string mask : {"077", "027", "002"}) {
    SCOPED_TRACE(mask);
    const mode_t expected = 0666 & ~static_cast<mode_t>(std::strtol(mask.c_str(), nullptr, 8));
    const std::string tree = work_ + "/job" + mask + ".tree";
    RunResult saved = RunProgram(AsNobody({"sh", "-c", "umask " + mask + " && exec \"$@\"", "sh",
                                           copies_.with_ep, "tree", "save",
                                           std::to_string(sleeper->pid()), "-o", tree}));
    ASSERT_EQ(saved.exit_code, 0) << saved.err;
    struct stat st;
    ASSERT_EQ(::stat(tree.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, expected) << std::oct << st.st_mode;
    const std::string pid_file = work_ + "/job" + mask + ".pid";
    const pid_t pid = FreePid();
    RunResult ran = RunProgram(AsNobody({"sh", "-c", "umask " + mask + " && exec \"$@\"", "sh",
                                         copies_.with_ep, "fork-at", "--pid-file", pid_file,
                                         std::to_string(pid), "--", "true"}));
    ASSERT_EQ(ran.exit_code, 0) << ran.err;
    ASSERT_EQ(::stat(pid_file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, expected) << std::oct << st.st_mode;
    EXPECT_EQ(ReadFileOrEmpty(pid_file), std::to_string(pid) + "\n");
  }
}

// A result that cannot be written is not success: `pid=$(crpid fork-at
// --detach …)` got 0 and no PID.
TEST_F(OutputIntegrity, FullStandardOutputIsAnError) {
  auto sleeper = StartSleeper();
  const std::string full = "cannot write standard output: No space left on device";
  ExpectOneErrorLine(RunToFullStdout({copies_.with_ep, "check"}), "check", full);
  ExpectOneErrorLine(RunToFullStdout({copies_.with_ep, "check", "--json"}), "check", full);
  ExpectOneErrorLine(
      RunToFullStdout({copies_.with_ep, "tree", "save", std::to_string(sleeper->pid())}),
      "tree save", full);
  ExpectOneErrorLine(RunToFullStdout({copies_.with_ep, "--version"}), "", full);

  const std::string ran = work_ + "/ran";
  const pid_t pid = FreePid();
  RunResult detached = RunToFullStdout({copies_.with_ep, "fork-at", "--detach",
                                        std::to_string(pid), "--", "sh", "-c",
                                        "touch \"$0\"; exec sleep 1000", ran});
  ExpectOneErrorLine(detached, "fork-at", full + "; COMMAND runs as PID " + std::to_string(pid));
  EXPECT_TRUE(WaitForComm(pid, "sleep"));
  ::kill(pid, SIGKILL);

  // fork-tree --detach: the sleeper's tree, restored where it was.
  const std::string tree = work_ + "/sleeper.tree";
  ASSERT_EQ(RunProgram(AsNobody({copies_.with_ep, "tree", "save", std::to_string(sleeper->pid()),
                                 "-o", tree}))
                .exit_code,
            0);
  const pid_t root = sleeper->pid();
  ::kill(root, SIGKILL);
  sleeper->Wait();
  for (int i = 0; i < 2000 && std::filesystem::exists("/proc/" + std::to_string(root)); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  RunResult tree_detached = RunToFullStdout({copies_.with_ep, "fork-tree", "--detach", tree});
  ExpectOneErrorLine(tree_detached, "fork-tree",
                     full + "; the tree runs, its root as PID " + std::to_string(root));
  EXPECT_TRUE(WaitForComm(root, "sleep"));
  ::kill(root, SIGKILL);
}

// Without a descriptor to spare, tree save said "no process with PID N".
TEST_F(OutputIntegrity, DescriptorLimitIsNotAMissingProcess) {
  CRPID_SKIP_IN_SANITIZER_BUILD(
      "the sanitizer build's crpid needs descriptors of its own at 4: the dynamic loader's, "
      "and a pipe for each of UBSan's vptr checks, which reports a false error without one");
  auto sleeper = StartSleeper();
  RunResult result = RunProgram(AsNobody(
      {"sh", "-c", "ulimit -n 4 && exec \"$@\"", "sh", copies_.with_ep, "tree", "save",
       std::to_string(sleeper->pid())}));
  ExpectOneErrorLine(result, "tree save", "Too many open files");
  EXPECT_THAT(result.err, HasSubstr("ulimit -n"));
  EXPECT_THAT(result.err, Not(HasSubstr("no process")));
  RunResult listed = RunProgram(AsNobody(
      {"sh", "-c", "ulimit -n 4 && exec \"$@\"", "sh", copies_.with_ep, "map-files-dump", "--list",
       std::to_string(sleeper->pid())}));
  ExpectOneErrorLine(listed, "map-files-dump", "Too many open files");
  EXPECT_THAT(listed.err, HasSubstr("ulimit -n"));
  EXPECT_THAT(listed.err, Not(HasSubstr("no process")));
}

}  // namespace
}  // namespace crpid::testing
