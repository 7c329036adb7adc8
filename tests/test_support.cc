// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "tests/test_support.h"

#include <gmock/gmock.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

namespace crpid::testing {
namespace {

int ShellStatusOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

[[noreturn]] void ExecOrDie(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  _exit(127);
}

// Waits for pid up to timeout_seconds, then SIGKILLs it.
int WaitWithTimeout(pid_t pid, int timeout_seconds) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::seconds(timeout_seconds);
  for (;;) {
    int status = 0;
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return ShellStatusOf(status);
    if (done < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ADD_FAILURE() << "process " << pid << " timed out after "
                    << timeout_seconds << " s";
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

std::string TempPath(const char* tag) {
  static int counter = 0;
  return "/tmp/crpid-test-" + std::to_string(::getpid()) + "-" + tag + "-" +
         std::to_string(counter++);
}

}  // namespace

RunResult RunProgram(const std::vector<std::string>& argv, int timeout_seconds) {
  BackgroundProcess process(argv);
  RunResult result;
  result.exit_code = process.Wait(timeout_seconds);
  result.out = process.Stdout();
  result.err = process.Stderr();
  return result;
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv)
    : out_path_(TempPath("out")), err_path_(TempPath("err")) {
  pid_ = ::fork();
  if (pid_ == 0) {
    int in = ::open("/dev/null", O_RDONLY);
    int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0) _exit(126);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    // Start from a clean signal state whatever gtest did.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ExecOrDie(argv);
  }
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  ::unlink(out_path_.c_str());
  ::unlink(err_path_.c_str());
}

int BackgroundProcess::Wait(int timeout_seconds) {
  reaped_ = true;
  return WaitWithTimeout(pid_, timeout_seconds);
}

std::string BackgroundProcess::Stdout() const { return ReadFileOrEmpty(out_path_); }
std::string BackgroundProcess::Stderr() const { return ReadFileOrEmpty(err_path_); }

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

long ReadLongFromFile(const std::string& path) {
  return std::atol(ReadFileOrEmpty(path).c_str());
}

pid_t FreePid(int margin) {
  static std::mt19937 random(static_cast<unsigned>(::getpid()));
  const long pid_max = ReadLongFromFile("/proc/sys/kernel/pid_max");
  for (int tries = 0; tries < 1000; ++tries) {
    const long last = ReadLongFromFile("/proc/sys/kernel/ns_last_pid");
    long candidate = last + margin + static_cast<long>(random() % 2000);
    if (candidate >= pid_max - 10) candidate = 400 + static_cast<long>(random() % 2000);
    if (candidate > last - 10 && candidate < last + margin / 2) continue;
    if (PidIsFree(static_cast<pid_t>(candidate))) return static_cast<pid_t>(candidate);
  }
  ADD_FAILURE() << "no free PID found";
  return -1;
}

namespace {

// Every ID in use in this PID namespace: each task's, and each process's
// group and session.
std::set<long> IdsInUse() {
  std::set<long> ids;
  std::error_code error;
  for (const auto& process : std::filesystem::directory_iterator("/proc", error)) {
    const std::string name = process.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    ids.insert(std::atol(name.c_str()));
    const std::string stat = ReadFileOrEmpty(process.path().string() + "/stat");
    const size_t comm_end = stat.rfind(')');
    if (comm_end != std::string::npos) {
      std::istringstream fields(stat.substr(comm_end + 1));
      std::string state;
      long ppid = 0, pgrp = 0, session = 0;
      if (fields >> state >> ppid >> pgrp >> session) {
        ids.insert(pgrp);
        ids.insert(session);
      }
    }
    std::error_code task_error;
    for (const auto& task :
         std::filesystem::directory_iterator(process.path() / "task", task_error)) {
      ids.insert(std::atol(task.path().filename().c_str()));
    }
  }
  return ids;
}

}  // namespace

bool PidIsFree(pid_t pid) { return IdsInUse().count(pid) == 0; }

pid_t FreePidBlock(int count) {
  static std::mt19937 random(static_cast<unsigned>(::getpid()) ^
                             static_cast<unsigned>(::time(nullptr)));
  const long pid_max = ReadLongFromFile("/proc/sys/kernel/pid_max");
  constexpr long kReservedPids = 300;  // where the kernel wraps to
  for (int tries = 0; tries < 200; ++tries) {
    const std::set<long> in_use = IdsInUse();
    const long last = ReadLongFromFile("/proc/sys/kernel/ns_last_pid");
    // Behind the last PID: the kernel allocates upwards from it.
    long first = last - count - 50 - static_cast<long>(random() % 4000);
    if (first < kReservedPids) first += pid_max - kReservedPids;
    if (first < kReservedPids || first + count >= pid_max) continue;
    auto taken = in_use.lower_bound(first);
    if (taken == in_use.end() || *taken >= first + count) return static_cast<pid_t>(first);
  }
  ADD_FAILURE() << "no block of " << count << " free PIDs found";
  return -1;
}

bool WaitUntilPidsFree(const std::vector<pid_t>& pids) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  for (;;) {
    for (pid_t pid : pids) ::waitpid(pid, nullptr, WNOHANG);
    const std::set<long> in_use = IdsInUse();
    bool all_free = true;
    for (pid_t pid : pids) all_free = all_free && in_use.count(pid) == 0;
    if (all_free) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string CapabilityLine(const std::string& status, const std::string& name) {
  std::istringstream lines(status);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name + ":", 0) == 0) {
      std::string value = line.substr(name.size() + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return name + ":" + value;
    }
  }
  return name + ":<missing>";
}

bool BuiltWithSanitizers() {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

std::vector<std::string> WithoutLeakCheck(std::vector<std::string> argv) {
  if (!BuiltWithSanitizers()) return argv;
  const char* options = std::getenv("ASAN_OPTIONS");
  std::string asan_options = options != nullptr ? options : "";
  asan_options += (asan_options.empty() ? "" : ":") + std::string("detect_leaks=0");
  argv.insert(argv.begin(), {"env", "ASAN_OPTIONS=" + asan_options});
  return argv;
}

bool SkipsAreFailures() {
  const char* value = std::getenv("CRPID_TEST_NO_SKIP");
  return value != nullptr && std::string(value) == "1";
}

namespace {

// Set by InstallCrpidCopies: a copy nobody can execute.
std::string g_launcher;

}  // namespace

std::vector<std::string> AsNobody(std::vector<std::string> argv,
                                  const std::vector<std::string>& setpriv_options) {
  if (g_launcher.empty()) {
    ADD_FAILURE() << "AsNobody needs InstallCrpidCopies() first (capless_exec)";
  }
  std::vector<std::string> full = {"setpriv", "--reuid=65534", "--regid=65534",
                                   "--clear-groups"};
  full.insert(full.end(), setpriv_options.begin(), setpriv_options.end());
  full.push_back(g_launcher);
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

namespace {

void SetFileCapability(const std::string& path, const char* text) {
  cap_t caps = cap_from_text(text);
  if (caps == nullptr || cap_set_file(path.c_str(), caps) != 0) {
    ADD_FAILURE() << "cannot set " << text << " on " << path;
  }
  if (caps != nullptr) cap_free(caps);
}

}  // namespace

std::string CrpidCopies::CopyHelper(const std::string& runfile) const {
  const std::string target =
      dir + "/" + std::filesystem::path(runfile).filename().string();
  std::filesystem::copy_file(runfile, target,
                             std::filesystem::copy_options::overwrite_existing);
  ::chmod(target.c_str(), 0755);
  return target;
}

CrpidCopies InstallCrpidCopies() {
  CrpidCopies copies;
  char pattern[] = "/tmp/crpid-it-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) {
    ADD_FAILURE() << "mkdtemp";
    return copies;
  }
  copies.dir = pattern;
  ::chmod(copies.dir.c_str(), 0755);
  copies.with_ep = copies.dir + "/crpid-cap";
  copies.with_p = copies.dir + "/crpid-p";
  copies.without = copies.dir + "/crpid-nocap";
  copies.setuid = copies.dir + "/crpid-suid";
  for (const std::string& path :
       {copies.with_ep, copies.with_p, copies.without, copies.setuid}) {
    std::filesystem::copy_file("cli/crpid", path);
    ::chmod(path.c_str(), 0755);
  }
  SetFileCapability(copies.with_ep, "cap_checkpoint_restore+ep");
  SetFileCapability(copies.with_p, "cap_checkpoint_restore+p");
  ::chmod(copies.setuid.c_str(), 04755);
  copies.nobody_dir = copies.dir + "/nobody";
  ::mkdir(copies.nobody_dir.c_str(), 0755);
  if (::chown(copies.nobody_dir.c_str(), kNobody, kNobody) != 0) {
    ADD_FAILURE() << "chown " << copies.nobody_dir;
  }
  copies.launcher = copies.CopyHelper("tests/capless_exec");
  g_launcher = copies.launcher;
  return copies;
}

void RemoveCrpidCopies(const CrpidCopies& copies) {
  if (copies.launcher == g_launcher) g_launcher.clear();
  if (!copies.dir.empty()) std::filesystem::remove_all(copies.dir);
}

void UseSystemPath() {
  ::setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
}

// Deadlines of the waits below: generous, for a loaded machine; a test
// that works ends its wait long before.
constexpr auto kWaitDeadline = std::chrono::minutes(1);

bool WaitUntil(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + kWaitDeadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

bool WaitForComm(pid_t pid, const std::string& comm) {
  const auto deadline = std::chrono::steady_clock::now() + kWaitDeadline;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/comm") == comm + "\n") {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

bool WaitForFile(const std::string& path) {
  const auto deadline = std::chrono::steady_clock::now() + kWaitDeadline;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::access(path.c_str(), F_OK) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

void ExpectOneErrorLine(const RunResult& result, const std::string& subcommand,
                        const std::string& text, int code) {
  EXPECT_EQ(result.exit_code, code) << result.out << result.err;
  EXPECT_EQ(result.out, "");
  const std::string prefix =
      subcommand.empty() ? "crpid: " : "crpid: " + subcommand + ": ";
  EXPECT_THAT(result.err, ::testing::StartsWith(prefix));
  EXPECT_THAT(result.err, ::testing::HasSubstr(text));
  ASSERT_FALSE(result.err.empty());
  EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << result.err;
}

void InstalledCrpidTest::SetUpTestSuite() {
  if (::geteuid() != 0) return;
  UseSystemPath();
  copies_ = InstallCrpidCopies();
}

void InstalledCrpidTest::TearDownTestSuite() { RemoveCrpidCopies(copies_); }

void InstalledCrpidTest::SetUp() {
  if (::geteuid() != 0) {
    CRPID_SKIP_OR_FAIL("needs root to set file capabilities and change uid");
  }
}

}  // namespace crpid::testing
