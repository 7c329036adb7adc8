// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Helpers for tests that run crpid for real: running a program with a
// timeout and capturing its output, free PIDs, and the CI skip policy.
#ifndef CRPID_TESTS_TEST_SUPPORT_H_
#define CRPID_TESTS_TEST_SUPPORT_H_

#include <gtest/gtest.h>
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace crpid::testing {

struct RunResult {
  int exit_code = -1;    // shell-style: code, or 128 + signal
  std::string out;
  std::string err;
};

// Runs argv (PATH lookup) with stdin from /dev/null; kills it after
// timeout_seconds (generous by default: for a loaded machine; a program
// that works ends long before).
RunResult RunProgram(const std::vector<std::string>& argv,
                     int timeout_seconds = 120);

// A process running in the background with its output going to files.
class BackgroundProcess {
 public:
  explicit BackgroundProcess(const std::vector<std::string>& argv);
  ~BackgroundProcess();
  pid_t pid() const { return pid_; }
  // Waits for it; shell-style status.
  int Wait(int timeout_seconds = 120);
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string out_path_;
  std::string err_path_;
};

std::string ReadFileOrEmpty(const std::string& path);
long ReadLongFromFile(const std::string& path);

// A PID that is free now, below pid_max, with at least `margin` PIDs between
// it and the namespace's last allocated PID so that ordinary forks do not
// reach it during the test.
pid_t FreePid(int margin = 1000);

// The first of `count` consecutive PIDs that no process or thread uses now,
// nor any process group or session (a group's or session's ID stays taken
// while a member lives), below pid_max. Picked just behind the namespace's
// last allocated PID, at a random distance up to a few thousand, so that the
// kernel, which hands out PIDs upwards from there, reaches the block again
// only after a whole wrap of the PID space. Fails the test when there is none.
pid_t FreePidBlock(int count);

// True when no process, thread, process group or session uses pid now.
bool PidIsFree(pid_t pid);

// Waits (generously: a minute, for a loaded machine) until no process,
// thread, group or session uses any of pids, reaping those that are this
// process's children (or adopted by it as a subreaper). False on timeout.
bool WaitUntilPidsFree(const std::vector<pid_t>& pids);

// The Cap* lines of /proc/PID/status as "CapPrm:0000…" entries.
std::string CapabilityLine(const std::string& status, const std::string& name);

// When a test cannot run here (not root, no user namespaces): skipped on a
// developer's machine, failed when CRPID_TEST_NO_SKIP=1 (the test command
// sets it in CI, where every test must run).
bool SkipsAreFailures();

#define CRPID_SKIP_OR_FAIL(why)                                   \
  do {                                                            \
    if (::crpid::testing::SkipsAreFailures()) {                   \
      FAIL() << "cannot run (CRPID_TEST_NO_SKIP=1): " << (why);   \
    }                                                             \
    GTEST_SKIP() << (why);                                        \
  } while (0)

// True when this test, and the crpid it runs, were built with
// AddressSanitizer (bazel test --config=asan; docs/development.md "Fuzzing and
// sanitizers").
bool BuiltWithSanitizers();

// What a sanitizer build cannot test, skipped there with the reason (and
// counted as skipped by scripts/test.sh, also in CI): for properties of the
// shipped binary that the sanitizer build does not have (it links
// dynamically; ASan's shadow memory takes 16 TiB of the address space;
// LeakSanitizer needs a new task at exit).
// Elsewhere a no-op.
#define CRPID_SKIP_IN_SANITIZER_BUILD(why)                              \
  do {                                                                  \
    if (::crpid::testing::BuiltWithSanitizers()) {                      \
      GTEST_SKIP() << "not in the sanitizer build: " << (why);          \
    }                                                                   \
  } while (0)

// argv run with LeakSanitizer off in a sanitizer build (as is elsewhere).
// LSan checks at exit from a task it creates and that ptrace-attaches to
// the process's threads; a test that makes this impossible on purpose —
// crpid under strace, or creating its children in a new PID namespace
// (where that task would become PID 1) — runs crpid through this. ASan and
// UBSan still check that process. It does not help a crpid started by a
// secure exec where no task can be created at all (RLIMIT_NPROC used up):
// GCC 12's runtime then still attempts the check (measured), so such a test
// skips in the sanitizer build.
std::vector<std::string> WithoutLeakCheck(std::vector<std::string> argv);

// Copies of the built crpid in a directory nobody can reach (Bazel's
// output tree is under root's home), with and without the file capability.
struct CrpidCopies {
  std::string dir;         // 0755, root's
  std::string with_ep;     // setcap cap_checkpoint_restore+ep
  std::string with_p;      // setcap cap_checkpoint_restore+p
  std::string without;     // no file capability
  std::string setuid;      // mode 04755, owned by root
  std::string nobody_dir;  // a directory nobody owns, inside dir
  std::string launcher;    // capless_exec, which AsNobody runs
  // Copies another runfile (a test helper) into dir; returns its new path.
  std::string CopyHelper(const std::string& runfile) const;
};
// Needs root. Fails the test (ADD_FAILURE) when something cannot be set up.
CrpidCopies InstallCrpidCopies();
void RemoveCrpidCopies(const CrpidCopies& copies);

// A PATH every entry of which nobody can search: execvp reports EACCES
// instead of ENOENT otherwise.
void UseSystemPath();

// Polls done() every few milliseconds until it is true (then true) or a
// minute has passed (then false): a deadline generous for a loaded machine.
bool WaitUntil(const std::function<bool()>& done);

// Waits until PID runs a program named comm.
bool WaitForComm(pid_t pid, const std::string& comm);
// Waits until path exists.
bool WaitForFile(const std::string& path);

// Expects crpid's error form: exit code `code`, nothing on stdout, exactly
// one line on stderr starting "crpid: SUBCOMMAND: " (just "crpid: " when
// subcommand is empty) and containing text.
void ExpectOneErrorLine(const RunResult& result, const std::string& subcommand,
                        const std::string& text, int code = 125);

// Base of the tests that run installed copies of crpid as root and as
// nobody: needs root (skipped elsewhere, failed under CRPID_TEST_NO_SKIP).
class InstalledCrpidTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;

  static inline CrpidCopies copies_;
};

// The uid tests run crpid as: nobody.
inline constexpr uid_t kNobody = 65534;

// argv run the way a user runs it: as nobody, from a process whose capability
// sets are all empty, so that exec'ing crpid is a secure exec (AT_SECURE=1,
// non-dumpable, RLIMIT_STACK clamped). That is
//   setpriv --reuid=65534 --regid=65534 --clear-groups OPTIONS… capless_exec argv…
// where capless_exec (tests/capless_exec.cc, copied by InstallCrpidCopies)
// checks its own empty sets and execs argv. setpriv_options go before it,
// e.g. {"--no-new-privs"} or {"--bounding-set=-checkpoint_restore"}.
std::vector<std::string> AsNobody(std::vector<std::string> argv,
                                  const std::vector<std::string>& setpriv_options = {});

}  // namespace crpid::testing

#endif  // CRPID_TESTS_TEST_SUPPORT_H_
