// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// tree save and fork-tree for real, outside Bazel's sandbox: a tree with
// four levels, two sessions, four groups (one whose leader exited) and an
// orphan is saved, killed, recreated and saved again; the two files must
// agree on every PID, parent, group and session. As nobody from a process
// without capabilities (AsNobody), without the capability, as root, inside
// `unshare -Urp`, and with ns_last_pid where clone3 is hidden. Assertions
// read /proc: PIDs, parents, groups, sessions, capability sets, environ.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/test_support.h"

namespace crpid::testing {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;
// pid -> (ppid, pgid, sid); the root's ppid is left out (crpid adopts it).
using Shape = std::map<long, std::tuple<long, long, long>>;

bool Exists(long pid) { return std::filesystem::exists("/proc/" + std::to_string(pid)); }

Json ReadJson(const std::string& path) {
  return Json::parse(ReadFileOrEmpty(path), nullptr, false);
}

void WriteJson(const std::string& path, const Json& json) {
  std::ofstream(path) << json.dump(2);
  ::chown(path.c_str(), kNobody, kNobody);
}

Shape ShapeOf(const Json& tree) {
  Shape shape;
  if (!tree.is_object() || !tree.contains("processes")) return shape;
  for (const Json& p : tree["processes"]) {
    const long ppid = p["pid"] == tree["root"] ? 0 : p["ppid"].get<long>();
    shape[p["pid"].get<long>()] = {ppid, p["pgid"].get<long>(), p["sid"].get<long>()};
  }
  return shape;
}

std::vector<long> PidsOf(const Json& tree) {
  std::vector<long> pids;
  for (const Json& p : tree["processes"]) pids.push_back(p["pid"].get<long>());
  return pids;
}

// The test process adopts whatever the tree leaves behind (a child
// subreaper), so it can reap every PID before reusing it.
void KillAndReap(const std::vector<long>& pids) {
  for (long pid : pids) ::kill(static_cast<pid_t>(pid), SIGKILL);
  const bool gone = WaitUntil([&] {
    bool left = false;
    for (long pid : pids) {
      ::waitpid(static_cast<pid_t>(pid), nullptr, WNOHANG);
      left = left || Exists(pid);
    }
    return !left;
  });
  if (!gone) ADD_FAILURE() << "tree processes left running";
}

std::string CapabilitySets(long pid) {
  const std::string status = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/status");
  std::string sets;
  for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapAmb"}) {
    sets += CapabilityLine(status, set) + " ";
  }
  return sets;
}

constexpr char kNoCapabilities[] =
    "CapInh:0000000000000000 CapPrm:0000000000000000 CapEff:0000000000000000 "
    "CapAmb:0000000000000000 ";

class ForkTree : public InstalledCrpidTest {
 protected:
  static void SetUpTestSuite() {
    InstalledCrpidTest::SetUpTestSuite();
    if (::geteuid() != 0) return;
    ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    builder_ = copies_.CopyHelper("tests/tree_builder");
    enosys_ = copies_.CopyHelper("tests/seccomp_enosys_clone3");
  }

  void TearDown() override {
    if (!saved_.empty()) KillAndReap(PidsOf(ReadJson(saved_)));
  }

  // Builds the tree as `uid`, saves it with crpid as that user, kills it
  // and (unless told not to) reaps it. Returns the saved file.
  std::string BuildSaveAndKill(bool as_nobody, bool reap = true) {
    const std::string pids = copies_.nobody_dir + "/pids" + std::to_string(counter_);
    saved_ = copies_.nobody_dir + "/tree" + std::to_string(counter_++) + ".json";
    // Started in a directory its user can enter: fork-tree restores cwds.
    std::vector<std::string> build = {"sh", "-c", "cd \"$0\" && exec \"$1\" \"$2\"",
                                      copies_.nobody_dir, builder_, pids};
    if (as_nobody) {
      build.insert(build.begin(), {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
    }
    BackgroundProcess builder(build);
    EXPECT_TRUE(WaitForFile(pids));
    const long root = std::atol(ReadFileOrEmpty(pids).c_str());
    // Every process must have exec'd sleep before it is saved.
    std::istringstream all(ReadFileOrEmpty(pids));
    long pid;
    int index = 0;
    while (all >> pid) {
      if (index++ != 2) {
        EXPECT_TRUE(WaitForComm(static_cast<pid_t>(pid), "sleep")) << pid;
      }
    }
    std::vector<std::string> save = {copies_.with_ep, "tree", "save", std::to_string(root),
                                     "-o", saved_};
    RunResult saved = RunProgram(as_nobody ? AsNobody(save) : save);
    EXPECT_EQ(saved.exit_code, 0) << saved.err;
    EXPECT_EQ(saved.err, "");
    if (reap) {
      KillAndReap(PidsOf(ReadJson(saved_)));
    } else {
      for (long pid : PidsOf(ReadJson(saved_))) ::kill(static_cast<pid_t>(pid), SIGKILL);
    }
    builder.Wait();  // the root: reaped either way
    return saved_;
  }

  // The saved tree has the shape the issue asks for.
  static void ExpectInterestingShape(const Json& tree) {
    std::set<long> sessions, groups, pids;
    for (const Json& p : tree["processes"]) {
      sessions.insert(p["sid"].get<long>());
      groups.insert(p["pgid"].get<long>());
      pids.insert(p["pid"].get<long>());
    }
    EXPECT_EQ(tree["processes"].size(), 7u);
    EXPECT_EQ(sessions.size(), 2u);
    EXPECT_EQ(groups.size(), 4u);
    int leaderless = 0;
    for (long group : groups) leaderless += pids.count(group) == 0;
    EXPECT_EQ(leaderless, 1);  // E exited; F, its orphan, is R's child now
  }

  // Saves the restored tree and compares it with the original.
  void ExpectRestored(const std::string& original, bool as_nobody) {
    const Json before = ReadJson(original);
    const std::string again = original + ".again";
    std::vector<std::string> save = {copies_.with_ep, "tree", "save",
                                     std::to_string(before["root"].get<long>()), "-o", again};
    RunResult saved = RunProgram(as_nobody ? AsNobody(save) : save);
    ASSERT_EQ(saved.exit_code, 0) << saved.err;
    const Json after = ReadJson(again);
    EXPECT_EQ(ShapeOf(after), ShapeOf(before));
    for (const Json& p : after["processes"]) {
      const long pid = p["pid"].get<long>();
      EXPECT_EQ(p["argv"], Json({"sleep", "1000"}));
      EXPECT_EQ(CapabilitySets(pid), kNoCapabilities) << pid;
      EXPECT_THAT(ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/environ"),
                  HasSubstr("CRPID_TREE_INDEX="));
    }
    // The placeholder for the group whose leader had exited is gone again.
    for (const auto& [pid, ids] : ShapeOf(before)) {
      const long group = std::get<1>(ids);
      if (ShapeOf(before).count(group) == 0) {
        EXPECT_FALSE(Exists(group)) << group;
      }
    }
  }

  static inline std::string builder_;
  static inline std::string enosys_;
  static inline int counter_ = 0;
  std::string saved_;
};

TEST_F(ForkTree, RoundTripAsNobodyWithTheCapability) {
  const std::string file = BuildSaveAndKill(true);
  ExpectInterestingShape(ReadJson(file));
  RunResult restored = RunProgram(AsNobody({copies_.with_ep, "fork-tree", "--detach", file}));
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_EQ(restored.out, std::to_string(ReadJson(file)["root"].get<long>()) + "\n");
  ExpectRestored(file, true);
}

TEST_F(ForkTree, RoundTripAsRoot) {
  const std::string file = BuildSaveAndKill(false);
  ExpectInterestingShape(ReadJson(file));
  RunResult restored = RunProgram({copies_.without, "fork-tree", "--detach", file});
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  const Json tree = ReadJson(file);
  const std::string again = file + ".again";
  ASSERT_EQ(RunProgram({copies_.without, "tree", "save",
                        std::to_string(tree["root"].get<long>()), "-o", again})
                .exit_code,
            0);
  EXPECT_EQ(ShapeOf(ReadJson(again)), ShapeOf(tree));
}

// Where clone3 is hidden (ENOSYS), an ordinary user's crpid falls back to
// ns_last_pid, as fork-at does; the tree's processes take turns.
TEST_F(ForkTree, RoundTripWithNsLastPidWhereClone3IsMissing) {
  const std::string file = BuildSaveAndKill(true);
  std::vector<std::string> argv = {enosys_};
  for (const std::string& arg :
       AsNobody({copies_.with_ep, "-v", "fork-tree", "--detach", file})) {
    argv.push_back(arg);
  }
  // Each ns_last_pid write also sets the next PID of every other process on
  // the machine: one forking meanwhile (a build) takes the PID, and crpid
  // must then fail cleanly, naming it. That process ends soon: retry.
  RunResult restored;
  for (int attempt = 0; attempt < 5; ++attempt) {
    restored = RunProgram(argv);
    if (restored.exit_code == 0) break;
    EXPECT_THAT(restored.err, HasSubstr("; nothing ran"));
    EXPECT_THAT(restored.err, ::testing::AnyOf(HasSubstr(" is held by "),
                                               HasSubstr(" was in use a moment ago")));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_THAT(restored.err, HasSubstr("created with ns-last-pid"));
  ExpectRestored(file, true);
}

TEST_F(ForkTree, NsLastPidRefusedWhereClone3SetTidWorks) {
  const std::string file = BuildSaveAndKill(true);
  RunResult result = RunProgram(
      AsNobody({copies_.with_ep, "fork-tree", "--method", "ns-last-pid", file}));
  ExpectOneErrorLine(result, "fork-tree", "--method ns-last-pid is refused");
  for (long pid : PidsOf(ReadJson(file))) EXPECT_FALSE(Exists(pid)) << pid;
}

TEST_F(ForkTree, WithoutTheCapabilityRefusedAndNothingLeft) {
  const std::string file = BuildSaveAndKill(true);
  RunResult result = RunProgram(AsNobody({copies_.without, "fork-tree", file}));
  ExpectOneErrorLine(result, "fork-tree", "setcap cap_checkpoint_restore+ep " + copies_.without);
  EXPECT_THAT(result.err, HasSubstr("Operation not permitted"));
  for (long pid : PidsOf(ReadJson(file))) EXPECT_FALSE(Exists(pid)) << pid;
}

// A PID in the middle of the tree (a grandchild of the root) is taken by
// another process: the processes created before it are killed and reaped,
// no command ran, and one line names the PID and its holder.
TEST_F(ForkTree, TakenPidInTheMiddleLeavesNothing) {
  const std::string file = BuildSaveAndKill(true);
  const Json tree = ReadJson(file);
  long middle = 0;
  for (const Json& p : tree["processes"]) {
    if (p["ppid"] != tree["root"] && p["pid"] != tree["root"] && middle == 0) {
      middle = p["pid"].get<long>();
    }
  }
  ASSERT_NE(middle, 0);
  RunResult holder = RunProgram({copies_.without, "fork-at", "--detach", std::to_string(middle),
                                 "--", "sleep", "60"});
  ASSERT_EQ(holder.exit_code, 0) << holder.err;
  ASSERT_TRUE(WaitForComm(static_cast<pid_t>(middle), "sleep"));
  RunResult result = RunProgram(AsNobody({copies_.with_ep, "fork-tree", file}));
  ExpectOneErrorLine(result, "fork-tree",
                     "PID " + std::to_string(middle) + " is held by process 'sleep' (uid 0); nothing ran");
  for (long pid : PidsOf(tree)) {
    if (pid != middle) {
      EXPECT_FALSE(Exists(pid)) << pid;
    }
  }
  KillAndReap({middle});
}

// A root leading its own session and group, with `children` children in
// them, at free PIDs from `base` on, each running `command`; the entries
// are copies of a saved one (every field a tree file has).
Json WideTree(const Json& saved, long base, int children, const std::vector<std::string>& command) {
  Json tree = saved;
  Json entry = saved["processes"][0];
  tree["root"] = base;
  tree["processes"] = Json::array();
  for (int i = 0; i <= children; ++i) {
    entry["pid"] = base + i;
    entry["nspid"] = Json::array({base + i});
    if (i > 0) entry["ppid"] = base;
    entry["pgid"] = base;
    entry["sid"] = base;
    entry["argv"] = command;
    tree["processes"].push_back(entry);
  }
  return tree;
}

// crpid killed mid-setup (or dying of a signal it does not expect), even
// while a tree process is stopped holding the capability: every tree
// process ends, none runs its command (hostile-user review of fork-tree:
// they used to wait forever).
TEST_F(ForkTree, KilledCrpidMidSetupLeavesNothing) {
  const Json saved = ReadJson(BuildSaveAndKill(true));
  for (const int signal_number : {SIGKILL, SIGALRM}) {
    SCOPED_TRACE(signal_number);
    // PIDs free now (also as group and session IDs), whatever else runs.
    const long base = FreePidBlock(301);
    ASSERT_GT(base, 0);
    const Json tree = WideTree(saved, base, 300, {"sleep", "1000"});
    const std::string file = copies_.nobody_dir + "/wide.json";
    WriteJson(file, tree);
    BackgroundProcess crpid(AsNobody({copies_.with_ep, "fork-tree", file}));
    ASSERT_TRUE(WaitUntil([&] { return Exists(base + 1); })) << crpid.Stderr();
    // Stopped once the first child exists: the tree cannot reach "go".
    ::kill(crpid.pid(), SIGSTOP);
    ::kill(static_cast<pid_t>(base), SIGSTOP);  // a tree process, stopped
    ::kill(crpid.pid(), signal_number);
    ::kill(crpid.pid(), SIGCONT);
    EXPECT_EQ(crpid.Wait(), 128 + signal_number);
    std::vector<pid_t> pids;
    for (long pid : PidsOf(tree)) pids.push_back(static_cast<pid_t>(pid));
    // Reaped by this test (a subreaper) as they end.
    EXPECT_TRUE(WaitUntilPidsFree(pids)) << "tree processes outlived crpid";
    KillAndReap(PidsOf(tree));
  }
}

// The first of `count` consecutive PIDs that are all free now, away from
// where new processes land (ns_last_pid): picked when the test starts.
long FreeBlock(long count) {
  const long pid_max = ReadLongFromFile("/proc/sys/kernel/pid_max");
  for (int tries = 0; tries < 50; ++tries) {
    const long last = ReadLongFromFile("/proc/sys/kernel/ns_last_pid");
    for (long start = pid_max - count - 20; start > 400; start -= 97) {
      if (start <= last + 3000 && start + count >= last - 10) continue;
      bool free = true;
      for (long pid = start; pid < start + count && free; ++pid) free = !Exists(pid);
      if (free) return start;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ADD_FAILURE() << "no block of " << count << " free PIDs";
  return -1;
}

// One entry of a generated tree, a copy of a saved one.
Json Entry(const Json& saved, long pid, long ppid, long pgid, long sid) {
  Json entry = saved["processes"][0];
  entry["pid"] = pid;
  entry["nspid"] = Json::array({pid});
  entry["ppid"] = ppid;
  entry["pgid"] = pgid;
  entry["sid"] = sid;
  entry["argv"] = Json({"sleep", "1000"});
  return entry;
}

// Waits until none of `pids` exists (reaping what this test adopted);
// false if some are left after a generous deadline.
bool AllGone(const std::vector<long>& pids, int seconds = 60) {
  for (int i = 0; i < seconds * 100; ++i) {
    bool left = false;
    for (long pid : pids) {
      ::waitpid(static_cast<pid_t>(pid), nullptr, WNOHANG);
      left = left || Exists(pid);
    }
    if (!left) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Which of `pids` hold a capability (CapPrm or CapEff not zero).
std::vector<long> HoldingCapabilities(const std::vector<long>& pids) {
  std::vector<long> holding;
  for (long pid : pids) {
    const std::string status = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/status");
    if (status.empty()) continue;
    if (CapabilityLine(status, "CapPrm") != "CapPrm:0000000000000000" ||
        CapabilityLine(status, "CapEff") != "CapEff:0000000000000000") {
      holding.push_back(pid);
    }
  }
  return holding;
}

// A member of a session whose leader is not in the tree is created by the
// session's placeholder, which exits by design. Stopped by its owner while
// it creates its own children, then crpid SIGKILLed: it used to stay
// stopped for good, holding the capability and crpid's stdout (it never
// had PR_SET_PDEATHSIG). Now it is born as its recorded parent's child
// and dies with it. Deterministic (hostile-user review of fork-tree, 1).
TEST_F(ForkTree, StoppedSessionMemberDiesWithKilledCrpid) {
  const Json saved = ReadJson(BuildSaveAndKill(true));
  const long base = FreeBlock(310);
  ASSERT_GT(base, 0);
  // Root `base`; member `base + 2` in session `base + 1` (no leader in the
  // tree: a placeholder), with 300 children of its own.
  Json tree = saved;
  tree["root"] = base;
  tree["processes"] = Json::array({Entry(saved, base, 1, base, base),
                                   Entry(saved, base + 2, base, base + 1, base + 1)});
  for (long i = 0; i < 300; ++i) {
    tree["processes"].push_back(Entry(saved, base + 3 + i, base + 2, base + 1, base + 1));
  }
  const std::string file = copies_.nobody_dir + "/session-member.json";
  WriteJson(file, tree);
  std::vector<long> pids = PidsOf(tree);
  pids.push_back(base + 1);
  BackgroundProcess crpid(AsNobody({copies_.with_ep, "fork-tree", file}));
  const long member = base + 2;
  for (int i = 0; i < 600000 && !Exists(member + 1); ++i) ::usleep(50);
  ASSERT_EQ(::kill(static_cast<pid_t>(member), SIGSTOP), 0);  // its owner stops it
  ASSERT_TRUE(Exists(member + 1));
  ::kill(crpid.pid(), SIGKILL);
  EXPECT_EQ(crpid.Wait(), 128 + SIGKILL);
  const bool gone = AllGone(pids);
  EXPECT_TRUE(gone) << "tree processes outlived crpid";
  EXPECT_THAT(HoldingCapabilities(pids), ::testing::IsEmpty());
  if (!gone) {
    ::kill(static_cast<pid_t>(member), SIGCONT);
    KillAndReap(pids);
  }
}

// A tree process its owner stops mid-setup, crpid still running: the setup
// makes no progress, and after 30 s without any crpid ends it — every tree
// process gone (the stopped one too), no command run, one line naming the
// stopped process and what to do (it used to wait for ever; issue 17).
TEST_F(ForkTree, StoppedTreeProcessEndsTheSetupAfterNoProgress) {
  const Json saved = ReadJson(BuildSaveAndKill(true));
  const pid_t base = FreePidBlock(301);
  ASSERT_GT(base, 0);
  const std::string ran = copies_.nobody_dir + "/stalled-ran";
  const Json tree = WideTree(saved, base, 300, {"touch", ran});
  const std::string file = copies_.nobody_dir + "/stalled.json";
  WriteJson(file, tree);
  BackgroundProcess crpid(AsNobody({copies_.with_ep, "fork-tree", file}));
  ASSERT_TRUE(WaitUntil([&] { return Exists(base + 1); })) << crpid.Stderr();
  // crpid held still meanwhile, so that the tree cannot reach "go" before
  // its root is stopped; its clock keeps running.
  ::kill(crpid.pid(), SIGSTOP);
  ASSERT_EQ(::kill(base, SIGSTOP), 0);
  ::kill(crpid.pid(), SIGCONT);
  RunResult result;
  result.exit_code = crpid.Wait(300);
  result.err = crpid.Stderr();
  ExpectOneErrorLine(result, "fork-tree", "the setup made no progress for 30 s: ");
  EXPECT_THAT(result.err, HasSubstr("PID " + std::to_string(base) + " (processes[0]"));
  EXPECT_THAT(result.err, HasSubstr("(it was stopped); nothing ran; let the tree's processes run"));
  std::vector<pid_t> pids;
  for (long pid : PidsOf(tree)) pids.push_back(static_cast<pid_t>(pid));
  EXPECT_TRUE(WaitUntilPidsFree(pids)) << "tree processes outlived the setup";
  EXPECT_FALSE(std::filesystem::exists(ran)) << "a command ran";
  KillAndReap(PidsOf(tree));
}

// The field of /proc/PID/status named `name` ("SigCgt"), or "".
std::string StatusField(long pid, const std::string& name) {
  std::istringstream status(ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(name + ":", 0) == 0) return line.substr(name.size() + 1);
  }
  return "";
}

// A tree process shares crpid's memory until it execs: a handler crpid has
// (a sanitizer's runtime installs some for SIGSEGV, SIGBUS, SIGFPE) would
// run crpid code on its stack, in crpid's TLS. Every tree process catches
// no signal (SigCgt 0) while the tree is held before "go": crpid, which
// opens every phase, is stopped once the root exists, while the root still
// creates its 1,000 children (a try whose tree got through first is
// repeated). Without the reset this fails in the sanitizer build (the
// normal build has no handler).
TEST_F(ForkTree, TreeProcessesRunNoHandlerOfCrpid) {
  constexpr int kChildren = 1000;
  const Json saved = ReadJson(BuildSaveAndKill(true));
  for (int attempt = 0; attempt < 5; ++attempt) {
    const long base = FreePidBlock(kChildren + 1);
    ASSERT_GT(base, 0);
    const Json tree = WideTree(saved, base, kChildren, {"sleep", "1000"});
    const std::string file = copies_.nobody_dir + "/handlers.json";
    WriteJson(file, tree);
    BackgroundProcess crpid(AsNobody({copies_.with_ep, "fork-tree", file}));
    ASSERT_TRUE(WaitUntil([&] { return Exists(base); })) << crpid.Stderr();
    ::kill(crpid.pid(), SIGSTOP);
    const long last = base + kChildren;
    EXPECT_TRUE(WaitUntil([&] { return Exists(last); }));
    bool through = false;  // some command started before the stop
    for (long pid = base; pid <= last; ++pid) {
      through = through || ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/comm") == "sleep\n";
    }
    std::vector<long> catching;
    for (int i = 0; i < 3000 && !through; ++i) {  // each resets them once it runs
      catching.clear();
      for (long pid = base; pid <= last; ++pid) {
        const std::string caught = StatusField(pid, "SigCgt");
        if (caught.find_first_not_of("0\t ") != std::string::npos) catching.push_back(pid);
      }
      if (catching.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!through) {
      EXPECT_THAT(catching, ::testing::IsEmpty())
          << "SigCgt of " << (catching.empty() ? 0 : catching[0]) << ": "
          << (catching.empty() ? "" : StatusField(catching[0], "SigCgt"));
    }
    ::kill(crpid.pid(), SIGKILL);
    ::kill(crpid.pid(), SIGCONT);
    EXPECT_EQ(crpid.Wait(), 128 + SIGKILL);
    std::vector<pid_t> pids;
    for (long pid : PidsOf(tree)) pids.push_back(static_cast<pid_t>(pid));
    if (!through) EXPECT_TRUE(WaitUntilPidsFree(pids)) << "tree processes outlived crpid";
    KillAndReap(PidsOf(tree));
    if (!through) return;
  }
  ADD_FAILURE() << "every try got through to the commands before crpid stopped";
}

// Every tree process disarms PR_SET_PDEATHSIG in phase 3 (a parent's
// command must not kill it before its exec), then waits for "go". crpid
// killed in that window used to leave the whole tree asleep on a futex
// nobody would wake, until the tree's own deadline (60 s + 1 s per 10
// processes, then 5 s: here 165 s; 28 min at 16,384), holding the PIDs and
// the caller's stdout. crpid is stopped once the root has entered its cwd
// (phase 3 is open), killed once every process has: the tree must end at
// once, none running its command (hostile-user review of CLONE_VM trees).
TEST_F(ForkTree, CrpidKilledBeforeGoLeavesNothingWaiting) {
  constexpr int kChildren = 1000;
  const Json saved = ReadJson(BuildSaveAndKill(true));
  const std::string cwd = copies_.nobody_dir + "/before-go";
  ::mkdir(cwd.c_str(), 0755);
  ::chown(cwd.c_str(), kNobody, kNobody);
  for (int attempt = 0; attempt < 5; ++attempt) {
    const long base = FreePidBlock(kChildren + 1);
    ASSERT_GT(base, 0);
    Json tree = WideTree(saved, base, kChildren, {"sleep", "1000"});
    for (Json& entry : tree["processes"]) entry["cwd"] = cwd;
    const std::string file = copies_.nobody_dir + "/before-go.json";
    WriteJson(file, tree);
    const auto in_cwd = [&](long pid) {
      std::error_code error;
      return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/cwd", error) ==
             cwd;
    };
    BackgroundProcess crpid(AsNobody({copies_.with_ep, "fork-tree", file}));
    // Polled without a pause: phase 3 of 1,001 processes takes milliseconds.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    while (!in_cwd(base) && std::chrono::steady_clock::now() < give_up) {
    }
    ::kill(crpid.pid(), SIGSTOP);
    ASSERT_TRUE(in_cwd(base)) << crpid.Stderr();
    EXPECT_TRUE(WaitUntil([&] {
      for (long pid = base; pid <= base + kChildren; ++pid) {
        if (!in_cwd(pid)) return false;
      }
      return true;
    }));
    bool through = false;  // "go" came before the stop
    for (long pid = base; pid <= base + kChildren; ++pid) {
      through = through || ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/comm") == "sleep\n";
    }
    // Each disarms its death signal right after its cwd and its command.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ::kill(crpid.pid(), SIGKILL);
    ::kill(crpid.pid(), SIGCONT);
    EXPECT_EQ(crpid.Wait(), 128 + SIGKILL);
    if (!through) {
      const bool gone = AllGone(PidsOf(tree));
      EXPECT_TRUE(gone) << "tree processes waited for a go that crpid, killed, never gave";
      EXPECT_THAT(HoldingCapabilities(PidsOf(tree)), ::testing::IsEmpty());
    }
    KillAndReap(PidsOf(tree));
    if (!through) return;
  }
  ADD_FAILURE() << "every try got through to the commands before crpid stopped";
}

// A parent chain deeper than what used to overflow a tree process's
// 8 MiB stack (~1,805: one nesting per level, SIGSEGV reported as "ended
// (killed?)"). Restored and read back from /proc.
TEST_F(ForkTree, DeepChainRestores) {
  constexpr long kDepth = 2000;
  const Json saved = ReadJson(BuildSaveAndKill(true));
  const long base = FreeBlock(kDepth + 5);
  ASSERT_GT(base, 0);
  Json tree = saved;
  tree["root"] = base;
  tree["processes"] = Json::array({Entry(saved, base, 1, base, base)});
  for (long i = 1; i < kDepth; ++i) {
    tree["processes"].push_back(Entry(saved, base + i, base + i - 1, base, base));
  }
  const std::string file = copies_.nobody_dir + "/deep.json";
  WriteJson(file, tree);
  RunResult restored =
      RunProgram(AsNobody({copies_.with_ep, "fork-tree", "--detach", file}), 900);
  EXPECT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_EQ(restored.err, "");
  for (long pid : {base + 1, base + kDepth / 2, base + kDepth - 1}) {
    auto fields = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
    std::istringstream stat(fields.substr(fields.rfind(')') + 2));
    char state;
    long ppid, pgid, sid;
    stat >> state >> ppid >> pgid >> sid;
    EXPECT_EQ(ppid, pid - 1) << pid;
    EXPECT_EQ(pgid, base) << pid;
    EXPECT_EQ(sid, base) << pid;
    EXPECT_EQ(CapabilitySets(pid), kNoCapabilities) << pid;
  }
  KillAndReap(PidsOf(tree));
}

// The caller's environment is not copied once per process before the
// first fork (a 2,000-process tree with a 1.6 MB environment took 3.3 GB).
// 300 processes with 1.6 MB under `ulimit -v` 200 MB: the old code died
// of std::bad_alloc (SIGABRT) there; every command still gets it all.
TEST_F(ForkTree, LargeEnvironmentIsSharedNotCopiedPerProcess) {
  CRPID_SKIP_IN_SANITIZER_BUILD("ASan's shadow memory does not fit under ulimit -v");
  const Json saved = ReadJson(BuildSaveAndKill(true));
  const long base = FreeBlock(310);
  ASSERT_GT(base, 0);
  const Json tree = WideTree(saved, base, 299, {"sleep", "1000"});
  const std::string file = copies_.nobody_dir + "/environment.json";
  WriteJson(file, tree);
  // 16 variables of 100 KB (one string may not exceed 128 KiB).
  const std::string script =
      "v=$(head -c 100000 /dev/zero | tr '\\0' x); for i in $(seq 1 16); do export BIG$i=$v; "
      "done; ulimit -v 200000 && exec \"$0\" fork-tree --detach \"$1\"";
  RunResult restored = RunProgram(AsNobody({"/bin/sh", "-c", script, copies_.with_ep, file}), 300);
  EXPECT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_EQ(restored.err, "");
  for (long pid : {base, base + 299}) {
    const std::string environ = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/environ");
    EXPECT_THAT(environ, HasSubstr("BIG16=xxxx")) << pid;
    EXPECT_THAT(environ, HasSubstr("CRPID_TREE_INDEX=")) << pid;
    EXPECT_GT(environ.size(), 1600000u) << pid;
  }
  KillAndReap(PidsOf(tree));
}

// What a command sees is what it would see started directly: the caller's
// SIGXFSZ disposition (crpid itself ignores it), and a file without #!
// runs through /bin/sh as execvp does.
TEST_F(ForkTree, CommandsSeeTheCallersSignalsAndScriptsWithoutShebang) {
  const Json saved = ReadJson(BuildSaveAndKill(true));
  const std::string script = copies_.nobody_dir + "/noshebang";
  std::ofstream(script) << "grep ^SigIgn: /proc/$$/status\n";
  ::chmod(script.c_str(), 0755);
  const long base = FreePidBlock(1);
  const std::string file = copies_.nobody_dir + "/script.json";
  WriteJson(file, WideTree(saved, base, 0, {script}));
  RunResult result = RunProgram(AsNobody({copies_.with_ep, "fork-tree", file}));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  RunResult direct = RunProgram(AsNobody({script}));
  EXPECT_THAT(direct.out, ::testing::StartsWith("SigIgn:"));
  EXPECT_EQ(result.out, direct.out);
}

// --detach: a signal that arrived during setup goes to the root, and crpid
// still reports success.
TEST_F(ForkTree, DetachPassesSignalsReceivedDuringSetupOn) {
  const Json saved = ReadJson(BuildSaveAndKill(true));
  const long base = FreePidBlock(101);
  const Json tree = WideTree(saved, base, 100, {"sleep", "1000"});
  const std::string file = copies_.nobody_dir + "/detach.json";
  WriteJson(file, tree);
  BackgroundProcess crpid(AsNobody({copies_.with_ep, "fork-tree", "--detach", file}));
  ASSERT_TRUE(WaitUntil([&] { return Exists(base); })) << crpid.Stderr();
  ::kill(crpid.pid(), SIGTERM);
  EXPECT_EQ(crpid.Wait(), 0) << crpid.Stderr();
  EXPECT_EQ(crpid.Stdout(), std::to_string(base) + "\n");
  const bool root_ended = WaitUntil([&] {
    ::waitpid(static_cast<pid_t>(base), nullptr, WNOHANG);
    return !Exists(base);
  });
  EXPECT_TRUE(root_ended) << "the root did not get the SIGTERM";
  KillAndReap(PidsOf(tree));
}

// Inside `unshare -Urp` nobody's crpid needs no file capability; bash, the
// namespace's init, reaps what the kill leaves.
TEST_F(ForkTree, RoundTripInsideUnshareUrp) {
  const std::string dir = copies_.nobody_dir;
  const std::string script =
      "crpid=$1 builder=$2 dir=$3; cd $dir\n"
      "$builder $dir/ns.pids & while [ ! -e $dir/ns.pids ]; do sleep 0.05; done\n"
      "read root rest < $dir/ns.pids; i=0\n"
      // Saved once every process but the one that exits runs sleep.
      "for p in $root $rest; do i=$((i + 1)); [ $i = 3 ] && continue\n"
      "  while [ \"$(cat /proc/$p/comm 2>/dev/null)\" != sleep ]; do sleep 0.05; done\n"
      "done\n"
      "$crpid tree save $root -o $dir/ns1.json || exit 1\n"
      "kill -9 $root $rest 2>/dev/null; for p in $(ls /proc | grep '^[0-9]'); do "
      "[ $p -gt 1 ] && [ $p != $$ ] && kill -9 $p 2>/dev/null; done\n"
      // Until bash, the namespace's init, has reaped them all.
      "for p in $root $rest; do while [ -e /proc/$p ]; do sleep 0.05; done; done\n"
      "$crpid fork-tree --detach $dir/ns1.json >/dev/null || exit 2\n"
      "$crpid tree save $root -o $dir/ns2.json || exit 3\n";
  RunResult result = RunProgram(AsNobody({"unshare", "-Urpf", "--mount-proc", "bash", "-c",
                                          script, "bash", copies_.without, builder_, dir}));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const Json before = ReadJson(dir + "/ns1.json");
  ExpectInterestingShape(before);
  EXPECT_EQ(ShapeOf(ReadJson(dir + "/ns2.json")), ShapeOf(before));
}

// The root's status is crpid's; crpid waits for the whole tree.
TEST_F(ForkTree, ExitsWithTheRootsStatusAfterTheWholeTree) {
  const std::string file = BuildSaveAndKill(true);
  Json tree = ReadJson(file);
  const std::string marker = copies_.nobody_dir + "/last";
  for (Json& p : tree["processes"]) {
    p["command"] = p["pid"] == tree["root"]
                       ? Json({"sh", "-c", "exit 7"})
                       : Json({"sh", "-c", "sleep 0.3; echo $CRPID_TREE_INDEX >> " + marker});
  }
  WriteJson(file, tree);
  RunResult result = RunProgram(AsNobody({copies_.with_ep, "fork-tree", file}));
  EXPECT_EQ(result.exit_code, 7) << result.err;
  std::istringstream lines(ReadFileOrEmpty(marker));
  std::set<std::string> indexes;
  for (std::string line; std::getline(lines, line);) indexes.insert(line);
  EXPECT_EQ(indexes, (std::set<std::string>{"1", "2", "3", "4", "5", "6"}));
}

TEST_F(ForkTree, ForwardsSignalsToTheRoot) {
  const std::string file = BuildSaveAndKill(true);
  Json tree = ReadJson(file);
  for (Json& p : tree["processes"]) {
    p["command"] = p["pid"] == tree["root"]
                       ? Json({"sh", "-c", "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done"})
                       : Json({"sh", "-c", "exit 0"});
  }
  WriteJson(file, tree);
  BackgroundProcess crpid(AsNobody({copies_.with_ep, "fork-tree", file}));
  WaitUntil([&] { return crpid.Stdout() == "ready\n"; });
  ASSERT_EQ(crpid.Stdout(), "ready\n") << crpid.Stderr();
  ::kill(crpid.pid(), SIGTERM);
  EXPECT_EQ(crpid.Wait(), 42);
}

TEST_F(ForkTree, CommandNotFoundRunsNothing) {
  const std::string file = BuildSaveAndKill(true);
  Json tree = ReadJson(file);
  tree["processes"][3]["command"] = Json({"no-such-command-x"});
  WriteJson(file, tree);
  RunResult result = RunProgram(AsNobody({copies_.with_ep, "fork-tree", file}));
  ExpectOneErrorLine(result, "fork-tree", "cannot run 'no-such-command-x'", 127);
  for (long pid : PidsOf(tree)) EXPECT_FALSE(Exists(pid)) << pid;
}

// Every command is checked as execve checks it before any runs: a command
// that is a directory (access(X_OK) passes it) or a script whose #!
// interpreter is missing fails the tree before its siblings' commands,
// which would leave a marker file, start (issue 17 item 6).
TEST_F(ForkTree, CommandThatExecveRefusesRunsNoSibling) {
  const std::string directory = copies_.nobody_dir + "/a-directory";
  ASSERT_EQ(::mkdir(directory.c_str(), 0755), 0);
  const std::string script = copies_.nobody_dir + "/missing-interpreter";
  std::ofstream(script) << "#!" << copies_.nobody_dir << "/no-such-interpreter\n";
  ::chmod(script.c_str(), 0755);
  const std::string markers = copies_.nobody_dir + "/markers";
  ASSERT_EQ(::mkdir(markers.c_str(), 0777), 0);
  ::chmod(markers.c_str(), 0777);  // for nobody, whatever the umask
  struct Case {
    std::string command;
    int exit_code;
    std::string reason;
  };
  for (const Case& bad : {Case{directory, 126, "Permission denied"},
                          Case{script, 127, "No such file or directory"}}) {
    SCOPED_TRACE(bad.command);
    const std::string file = BuildSaveAndKill(true);
    Json tree = ReadJson(file);
    for (Json& p : tree["processes"]) {
      p["command"] = Json({"sh", "-c", "echo ran > " + markers + "/$CRPID_TREE_INDEX; exec sleep 1000"});
    }
    tree["processes"][3]["command"] = Json({bad.command});
    WriteJson(file, tree);
    RunResult result = RunProgram(AsNobody({copies_.with_ep, "fork-tree", file}));
    ExpectOneErrorLine(result, "fork-tree",
                       "cannot run '" + bad.command + "' as PID " +
                           std::to_string(tree["processes"][3]["pid"].get<long>()),
                       bad.exit_code);
    EXPECT_THAT(result.err, HasSubstr(": " + bad.reason + "; nothing ran"));
    std::vector<pid_t> pids;
    for (long pid : PidsOf(tree)) pids.push_back(static_cast<pid_t>(pid));
    EXPECT_TRUE(WaitUntilPidsFree(pids));
    std::vector<std::string> ran;
    for (const auto& marker : std::filesystem::directory_iterator(markers)) {
      ran.push_back(marker.path().filename());
    }
    EXPECT_THAT(ran, ::testing::IsEmpty()) << "sibling commands ran";
    std::filesystem::remove_all(markers);
    ASSERT_EQ(::mkdir(markers.c_str(), 0777), 0);
    ::chmod(markers.c_str(), 0777);
  }
}

// Hostile or broken files: one line, exit 125, nothing created.
TEST_F(ForkTree, HostileFilesGiveOneLine) {
  const std::string file = BuildSaveAndKill(true);
  const Json tree = ReadJson(file);
  struct Case {
    std::string name;
    std::function<void(Json&)> edit;
    std::string text;
  };
  const std::vector<Case> cases = {
      {"duplicate", [](Json& t) { t["processes"][2]["pid"] = t["processes"][1]["pid"]; },
       "appears twice"},
      {"cycle", [](Json& t) {
         t["processes"][1]["ppid"] = t["processes"][2]["pid"];
         t["processes"][2]["ppid"] = t["processes"][1]["pid"];
       }, "cycle"},
      {"orphaned", [](Json& t) { t["processes"][3]["ppid"] = 4194303; },
       "not in the tree"},
      {"type", [](Json& t) { t["processes"][0]["pgid"] = "x"; }, "is not an integer"},
      {"range", [](Json& t) { t["processes"][0]["sid"] = -5; }, "not in 0.."},
      {"leader", [](Json& t) { t["processes"][1]["pgid"] = t["root"]; },
       "a session leader always leads its own group"},
      {"version", [](Json& t) { t["version"] = 99; }, "format version 99"},
      {"nul", [](Json& t) { t["processes"][0]["argv"][0] = std::string("a\0b", 3); },
       "NUL byte"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Json edited = tree;
    c.edit(edited);
    WriteJson(file + "." + c.name, edited);
    ExpectOneErrorLine(RunProgram(AsNobody({copies_.with_ep, "fork-tree", file + "." + c.name})),
                       "fork-tree", c.text);
    for (long pid : PidsOf(tree)) EXPECT_FALSE(Exists(pid)) << pid;
  }
  std::ofstream(file + ".garbage") << "{\"format\": [";
  ::chown((file + ".garbage").c_str(), kNobody, kNobody);
  ExpectOneErrorLine(RunProgram(AsNobody({copies_.with_ep, "fork-tree", file + ".garbage"})),
                     "fork-tree", "not valid JSON");
  ::mkfifo((file + ".fifo").c_str(), 0666);
  ExpectOneErrorLine(RunProgram(AsNobody({copies_.with_ep, "fork-tree", file + ".fifo"}), 60),
                     "fork-tree", "not a regular file");
}

// Issue 17, item 4: a tree file chooses PIDs and commands, so it must be
// the caller's own, not writable by others, not made up by the kernel and
// not reached through another user's symlink; a key given twice is refused.
// Each case: one line, exit 125, nothing created.
TEST_F(ForkTree, TreeFilesFollowTheTrustRule) {
  const std::string file = BuildSaveAndKill(true);
  const Json tree = ReadJson(file);
  const auto expect_refused = [&](const std::string& path, const std::string& text) {
    ExpectOneErrorLine(RunProgram(AsNobody({copies_.with_ep, "fork-tree", path})), "fork-tree",
                       text);
    for (long pid : PidsOf(tree)) EXPECT_FALSE(Exists(pid)) << pid;
  };
  const std::string others = file + ".others";
  WriteJson(others, tree);
  ASSERT_EQ(::chown(others.c_str(), 1234, 1234), 0);
  expect_refused(others, "tree file " + others + " is owned by uid 1234, not by you (uid 65534)");
  const std::string roots = file + ".roots";
  WriteJson(roots, tree);
  ASSERT_EQ(::chown(roots.c_str(), 0, 0), 0);
  expect_refused(roots, "is owned by uid 0, not by you (uid 65534)");
  const std::string group = file + ".group";
  WriteJson(group, tree);
  ::chmod(group.c_str(), 0664);
  expect_refused(group, "tree file " + group + " can be written by its group (mode 0664)");
  const std::string planted = file + ".planted";
  ASSERT_EQ(::symlink(file.c_str(), planted.c_str()), 0);
  ASSERT_EQ(::lchown(planted.c_str(), 1234, 1234), 0);
  expect_refused(planted, "the symlink '" + planted.substr(planted.rfind('/') + 1) +
                              "' on its way is owned by uid 1234, not by you (uid 65534) or root");
  expect_refused("/proc/self/status", "tree file /proc/self/status is on procfs");
  expect_refused("/sys/kernel/mm/transparent_hugepage/enabled", "is on sysfs");
  // {"pid": A, …, "pid": B}: which one a reader sees depends on the reader.
  std::string text = tree.dump();
  const std::string second = "\"pid\":" + std::to_string(tree["processes"][1]["pid"].get<long>());
  const size_t at = text.find(second);
  ASSERT_NE(at, std::string::npos);
  text.insert(at, "\"pid\":" + std::to_string(FreePid()) + ",");
  const std::string duplicate = file + ".duplicate";
  std::ofstream(duplicate) << text;
  ASSERT_EQ(::chown(duplicate.c_str(), kNobody, kNobody), 0);
  expect_refused(duplicate, "\"processes[1].pid\" is given twice");
  // The caller's own symlink to their own file is followed.
  const std::string own = file + ".own-link";
  ASSERT_EQ(::symlink(file.c_str(), own.c_str()), 0);
  ASSERT_EQ(::lchown(own.c_str(), kNobody, kNobody), 0);
  RunResult restored = RunProgram(AsNobody({copies_.with_ep, "fork-tree", "--detach", own}));
  EXPECT_EQ(restored.exit_code, 0) << restored.err;
}

// Issue 17, item 3: /proc/self/pagemap is a regular file with st_size 0 and
// 256 GiB of content; fork-tree read it without bound (4 GB in 8 s) and,
// under ulimit -v, died of an uncaught std::bad_alloc (SIGABRT, two lines).
TEST_F(ForkTree, PagemapIsRefusedInBoundedMemory) {
  CRPID_SKIP_IN_SANITIZER_BUILD("ASan's shadow memory does not fit under ulimit -v");
  // crpid's own pagemap is root's (it is non-dumpable): one of the user's
  // own processes, as the user's shell would be.
  BackgroundProcess sleeper({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             "sleep", "60"});
  ASSERT_TRUE(WaitForComm(sleeper.pid(), "sleep"));
  const std::string pagemap = "/proc/" + std::to_string(sleeper.pid()) + "/pagemap";
  for (const std::string& path : {pagemap, copies_.nobody_dir + "/pagemap-link"}) {
    if (path != pagemap) {
      ::unlink(path.c_str());
      ASSERT_EQ(::symlink(pagemap.c_str(), path.c_str()), 0);
      ASSERT_EQ(::lchown(path.c_str(), kNobody, kNobody), 0);
    }
    RunResult result = RunProgram(AsNobody({"sh", "-c", "ulimit -v 262144 && exec \"$0\" \"$@\"",
                                            copies_.with_ep, "fork-tree", path}), 60);
    ExpectOneErrorLine(result, "fork-tree", "tree file " + path + " is on procfs");
  }
  ::kill(sleeper.pid(), SIGKILL);
  sleeper.Wait();
}

// A failed allocation anywhere is one line and exit 125, not an abort: a
// tree file within the bound (60 MB) read under a 64 MiB address-space limit.
TEST_F(ForkTree, FailedAllocationIsOneLine) {
  CRPID_SKIP_IN_SANITIZER_BUILD("ASan's shadow memory does not fit under ulimit -v");
  const std::string big = copies_.nobody_dir + "/big.tree";
  {
    std::ofstream out(big, std::ios::trunc);
    const std::string spaces(1 << 20, ' ');
    for (int i = 0; i < 60; ++i) out << spaces;
    out << "{}";
  }
  ASSERT_EQ(::chown(big.c_str(), kNobody, kNobody), 0);
  RunResult result = RunProgram(AsNobody({"sh", "-c", "ulimit -v 65536 && exec \"$0\" \"$@\"",
                                          copies_.with_ep, "fork-tree", big}), 60);
  ExpectOneErrorLine(result, "fork-tree", "out of memory (std::bad_alloc)");
  std::filesystem::remove(big);
}

// Issue 17, item 5: root restoring a tree that holds another user's
// processes ran their recorded commands as root. Refused, unless asked for
// by name; then they run as the caller (root here).
TEST_F(ForkTree, OtherUsersEntriesAreRefusedUnlessAskedFor) {
  const std::string file = BuildSaveAndKill(true);  // nobody's processes
  const Json tree = ReadJson(file);
  ASSERT_EQ(::chown(file.c_str(), 0, 0), 0);  // root's file, for root
  const long root = tree["root"].get<long>();
  ExpectOneErrorLine(RunProgram({copies_.with_ep, "fork-tree", file}), "fork-tree",
                     file + ": processes[0] (PID " + std::to_string(root) +
                         ") was uid 65534's process, not yours (uid 0): its recorded "
                         "command would run as you; remove it from the file, or pass "
                         "--run-others-commands-as-me");
  for (long pid : PidsOf(tree)) EXPECT_FALSE(Exists(pid)) << pid;
  RunResult restored = RunProgram(
      {copies_.with_ep, "fork-tree", "--detach", "--run-others-commands-as-me", file});
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_THAT(ReadFileOrEmpty("/proc/" + std::to_string(root) + "/status"),
              HasSubstr("\nUid:\t0\t0\t0\t0\n"));
}

// A tree saved on the host restored inside `unshare -Urpf`: its uids (the
// host's 65534) are the caller's there (uid 0, 65534 outside); another
// user's entry is still refused.
TEST_F(ForkTree, HostTreeRestoresInsideUnshareUrpButNotOtherUsersEntries) {
  const std::string file = BuildSaveAndKill(true);
  Json tree = ReadJson(file);
  for (Json& p : tree["processes"]) p["command"] = Json({"true"});
  const std::string edited = file + ".true";
  WriteJson(edited, tree);
  const auto inside = [&] {
    return RunProgram(AsNobody({"unshare", "-Urpf", "--mount-proc", "sh", "-c",
                                "\"$0\" fork-tree \"$1\"; exit $?", copies_.without, edited}));
  };
  RunResult restored = inside();
  EXPECT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_EQ(restored.err, "");
  tree["processes"][2]["uid"] = 1234;
  WriteJson(edited, tree);
  ExpectOneErrorLine(inside(), "fork-tree", "was uid 1234's process, not yours (uid 0)");
}

// Issue 17, item 7: an entry saved inside a nested PID namespace
// ("nspid": [P, 1]) came back at P in crpid's namespace, exit 0, silently.
TEST_F(ForkTree, NestedPidNamespaceEntriesAreRefusedUnlessFlattened) {
  const std::string file = BuildSaveAndKill(true);
  Json tree = ReadJson(file);
  const long pid = tree["processes"][3]["pid"].get<long>();
  tree["processes"][3]["nspid"] = Json::array({pid, 1});
  const std::string nested = file + ".nested";
  WriteJson(nested, tree);
  ExpectOneErrorLine(RunProgram(AsNobody({copies_.with_ep, "fork-tree", nested})), "fork-tree",
                     "processes[3] (PID " + std::to_string(pid) +
                         ") ran in a nested PID namespace (NSpid " + std::to_string(pid) +
                         " 1); crpid recreates PIDs in its own namespace only; restore such "
                         "a subtree with its inner PIDs");
  for (long p : PidsOf(tree)) EXPECT_FALSE(Exists(p)) << p;
  RunResult flattened = RunProgram(
      AsNobody({copies_.with_ep, "fork-tree", "--detach", "--flatten-pid-namespaces", nested}));
  ASSERT_EQ(flattened.exit_code, 0) << flattened.err;
  EXPECT_TRUE(Exists(pid));
}

TEST_F(ForkTree, SaveOfAMissingPidAndUnwritableOutput) {
  ExpectOneErrorLine(RunProgram(AsNobody({copies_.with_ep, "tree", "save", "4194303"})),
                     "tree save", "no process with PID 4194303");
  BackgroundProcess sleeper({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             "sleep", "30"});
  ASSERT_TRUE(WaitForComm(sleeper.pid(), "sleep"));
  ExpectOneErrorLine(RunProgram(AsNobody({copies_.with_ep, "tree", "save",
                                          std::to_string(sleeper.pid()), "-o",
                                          copies_.dir + "/t.json"})),
                     "tree save", "Permission denied");
  EXPECT_FALSE(std::filesystem::exists(copies_.dir + "/t.json"));
}

// Another user's processes: what /proc hides is listed, not fatal.
TEST_F(ForkTree, SaveOfAnotherUsersTreeSaysWhatIsMissing) {
  BackgroundProcess root_tree({"sh", "-c", "sleep 30 & exec sleep 31"});
  ASSERT_TRUE(WaitForComm(root_tree.pid(), "sleep"));
  RunResult result = RunProgram(
      AsNobody({copies_.with_ep, "tree", "save", std::to_string(root_tree.pid())}));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  const Json tree = Json::parse(result.out, nullptr, false);
  ASSERT_TRUE(tree.is_object());
  EXPECT_EQ(tree["processes"][0]["unreadable"], Json({"cwd", "exe"}));
  EXPECT_TRUE(tree["processes"][0]["cwd"].is_null());
  EXPECT_EQ(tree["processes"][0]["argv"], Json({"sleep", "31"}));
  EXPECT_THAT(result.err, HasSubstr("would not show"));
  // Issue 17, item 5: one line naming the other users' processes.
  const std::string warning = "2 of 2 processes belong to users other than you (uid 65534): PID " +
                              std::to_string(root_tree.pid()) + " uid 0, PID ";
  EXPECT_THAT(result.err, HasSubstr(warning));
  EXPECT_THAT(result.err, HasSubstr("fork-tree refuses them unless given "
                                    "--run-others-commands-as-me\n"));
  size_t lines = 0;
  for (size_t at = result.err.find("belong to users other"); at != std::string::npos;
       at = result.err.find("belong to users other", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 1u);
}


// --- What holds a PID, --wait, --check (issue 18) ---

char ProcState(long pid) {
  const std::string stat = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() ? '?' : stat[close + 2];
}

// The PIDs the tree's restore takes, as --check prints them: its processes'
// and the placeholder's for group E (its leader had exited).
std::set<long> NeededPids(const Json& tree) {
  std::set<long> pids;
  for (const Json& p : tree["processes"]) {
    pids.insert(p["pid"].get<long>());
    pids.insert(p["pgid"].get<long>());
    pids.insert(p["sid"].get<long>());
  }
  return pids;
}

// Killed and restored at once: the killed processes are zombies until
// their reaper (this test, a child subreaper, standing in for PID 1, which
// reaps 1-2 s late) reaps them, and the root's PID, reaped already, is still
// their session and group ID. Without --wait crpid says so; with it,
// fork-tree waits until they are reaped and restores the tree.
TEST_F(ForkTree, KilledTreeRestoredAtOnceWithWait) {
  const std::string file = BuildSaveAndKill(true, /*reap=*/false);
  const Json tree = ReadJson(file);
  const long root = tree["root"].get<long>();
  std::vector<long> zombies;
  for (long pid : PidsOf(tree)) {
    if (pid != root) zombies.push_back(pid);
  }
  // SIGKILL ends each process when it next runs: on a loaded machine a
  // moment after kill() returned.
  ASSERT_TRUE(WaitUntil([&zombies] {
    return std::all_of(zombies.begin(), zombies.end(),
                       [](long pid) { return ProcState(pid) == 'Z'; });
  }));
  RunResult check = RunProgram(AsNobody({copies_.with_ep, "fork-tree", "--check", file}));
  EXPECT_EQ(check.exit_code, 1) << check.err;
  EXPECT_THAT(check.out, HasSubstr(std::to_string(root) + ": held as the session and "
                                   "process-group ID of PID "));
  EXPECT_THAT(check.out, HasSubstr("(zombie, uid 65534)"));
  EXPECT_THAT(check.out, HasSubstr(": held by a zombie of 'sleep' (uid 65534) that its parent, "
                                   "PID " + std::to_string(::getpid())));
  EXPECT_EQ(check.err, "");

  // Also under the ns_last_pid fallback, where the fork lands elsewhere:
  // not "other processes took PID R first".
  std::vector<std::string> fallback = {enosys_};
  for (const std::string& arg : AsNobody({copies_.with_ep, "fork-tree", file})) {
    fallback.push_back(arg);
  }
  for (const auto& argv : {AsNobody({copies_.with_ep, "fork-tree", file}), fallback}) {
    RunResult at_once = RunProgram(argv);
    ExpectOneErrorLine(at_once, "fork-tree", "; nothing ran");
    EXPECT_THAT(at_once.err, HasSubstr("zombie"));
    EXPECT_THAT(at_once.err, ::testing::Not(HasSubstr("first in all")));
  }
  for (long pid : zombies) EXPECT_EQ(ProcState(pid), 'Z') << pid;

  BackgroundProcess restore(
      AsNobody({copies_.with_ep, "fork-tree", "--wait", "30", "--detach", file}));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  for (long pid : zombies) ::waitpid(static_cast<pid_t>(pid), nullptr, 0);
  ASSERT_EQ(restore.Wait(60), 0) << restore.Stderr();
  EXPECT_EQ(restore.Stdout(), std::to_string(root) + "\n");
  ExpectRestored(file, true);
}

TEST_F(ForkTree, CheckOfATreeFileCreatesNothing) {
  const std::string file = BuildSaveAndKill(true);
  const Json tree = ReadJson(file);
  const std::set<long> needed = NeededPids(tree);
  RunResult check = RunProgram(AsNobody({copies_.with_ep, "fork-tree", "--check", file}));
  EXPECT_EQ(check.exit_code, 0) << check.err;
  std::string expected;
  for (long pid : needed) expected += std::to_string(pid) + ": free\n";
  EXPECT_EQ(check.out, expected);
  EXPECT_EQ(check.err, "");
  for (long pid : needed) EXPECT_FALSE(Exists(pid)) << pid;

  // One PID held: exit 1, that line says by what; JSON for scripts.
  const long middle = *std::next(needed.begin());
  RunResult holder = RunProgram({copies_.without, "fork-at", "--detach", std::to_string(middle),
                                 "--", "sleep", "60"});
  ASSERT_EQ(holder.exit_code, 0) << holder.err;
  ASSERT_TRUE(WaitForComm(static_cast<pid_t>(middle), "sleep"));
  RunResult held = RunProgram(AsNobody({copies_.with_ep, "fork-tree", "--check", "--json", file}));
  EXPECT_EQ(held.exit_code, 1) << held.err;
  const Json document = Json::parse(held.out);
  EXPECT_EQ(document["free"], false);
  ASSERT_EQ(document["pids"].size(), needed.size());
  for (const Json& entry : document["pids"]) {
    if (entry["pid"].get<long>() == middle) {
      EXPECT_EQ(entry["holder"], "process");
      EXPECT_EQ(entry["text"], "held by process 'sleep' (uid 0)");
    } else {
      EXPECT_EQ(entry["holder"], "free") << entry.dump();
    }
  }

  // SIGTERM ends a wait: one line, 128+15, nothing created.
  BackgroundProcess waiting(AsNobody({copies_.with_ep, "fork-tree", "--wait", "60", file}));
  const std::string proc = "/proc/" + std::to_string(waiting.pid());
  bool in_poll = false;
  for (int i = 0; i < 3000 && !in_poll; ++i) {
    std::error_code error;
    in_poll = std::filesystem::read_symlink(proc + "/exe", error) == copies_.with_ep &&
              ReadFileOrEmpty(proc + "/wchan").find("poll") != std::string::npos;
    if (!in_poll) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(in_poll);
  EXPECT_EQ(CapabilitySets(waiting.pid()).find("CapEff:0000000000000000") != std::string::npos,
            true);
  ::kill(waiting.pid(), SIGTERM);
  EXPECT_EQ(waiting.Wait(), 128 + SIGTERM);
  EXPECT_EQ(waiting.Stderr(), "crpid: fork-tree: SIGTERM while waiting for " +
                                  std::to_string(needed.size()) + " PIDs to be free; nothing ran\n");

  // --wait with a live holder ends at the deadline naming it; nothing ran.
  RunResult waited = RunProgram(AsNobody({copies_.with_ep, "fork-tree", "--wait", "1", file}));
  ExpectOneErrorLine(waited, "fork-tree",
                     "after waiting 1 s, PID " + std::to_string(middle) +
                         " is held by process 'sleep' (uid 0); nothing ran");
  for (long pid : needed) {
    if (pid != middle) {
      EXPECT_FALSE(Exists(pid)) << pid;
    }
  }
  KillAndReap({middle});
}

// The group placeholder the tree needs (group E, whose leader had exited)
// meets an orphaned process group of another user at that PID: no process
// has PID E, but it is the group and session ID of a live one.
TEST_F(ForkTree, GroupPlaceholderAtAnOrphanedGroupIdNamesItsMember) {
  const std::string file = BuildSaveAndKill(true);
  const Json tree = ReadJson(file);
  std::set<long> pids;
  for (long pid : PidsOf(tree)) pids.insert(pid);
  long group = 0;
  for (const Json& p : tree["processes"]) {
    if (pids.count(p["pgid"].get<long>()) == 0) group = p["pgid"].get<long>();
  }
  ASSERT_NE(group, 0);
  ASSERT_FALSE(Exists(group));
  // Root's process at PID E leads a new session and group, starts a member
  // and exits (fork-at reaps it): the member lives on, orphaned.
  RunResult outside = RunProgram({copies_.without, "fork-at", std::to_string(group), "--",
                                  "setsid", "sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"});
  ASSERT_EQ(outside.exit_code, 0) << outside.err;
  const long member = std::atol(outside.out.c_str());
  ASSERT_GT(member, 0);
  ASSERT_EQ(::getpgid(static_cast<pid_t>(member)), group);
  const std::string holder = "PID " + std::to_string(group) +
                             " is held as the session and process-group ID of PID " +
                             std::to_string(member) + " 'sleep' (uid 0)";
  RunResult restored = RunProgram(AsNobody({copies_.with_ep, "fork-tree", file}));
  ExpectOneErrorLine(restored, "fork-tree", holder + "; nothing ran");
  for (long pid : pids) EXPECT_FALSE(Exists(pid)) << pid;
  RunResult check = RunProgram(AsNobody({copies_.with_ep, "fork-tree", "--check", file}));
  EXPECT_EQ(check.exit_code, 1) << check.err;
  EXPECT_THAT(check.out, HasSubstr(std::to_string(group) + ": " + holder.substr(holder.find("held"))));
  ::kill(static_cast<pid_t>(member), SIGKILL);
  // Adopted by this test (a child subreaper) or PID 1: reaped either way.
  for (int i = 0; i < 6000 && Exists(member); ++i) {
    ::waitpid(static_cast<pid_t>(member), nullptr, WNOHANG);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(Exists(member));
}

// The kernel gives crpid itself a PID of the tree's (here: ns_last_pid set
// just below the tree's block as crpid starts, as an ns_last_pid restore
// may leave it): one line naming that PID, before anything is created, also
// with --wait (which would otherwise wait for crpid's own PID to be free).
// It used to be found half-way, as "held by 'crpid-cap'" (issue 19).
TEST_F(ForkTree, CrpidsOwnPidAmongTheTreesIsRefusedBeforeAnythingIsCreated) {
  const Json saved = ReadJson(BuildSaveAndKill(true));
  const std::string ran = copies_.nobody_dir + "/own-pid-ran";
  for (const std::vector<std::string>& options :
       std::vector<std::vector<std::string>>{{}, {"--wait", "5"}}) {
    SCOPED_TRACE(options.empty() ? "without --wait" : "--wait");
    bool landed = false;
    for (int attempt = 0; attempt < 10 && !landed; ++attempt) {
      const pid_t base = FreePidBlock(60);
      ASSERT_GT(base, 0);
      const Json tree = WideTree(saved, base, 59, {"touch", ran});
      const std::string file = copies_.nobody_dir + "/own-pid.json";
      WriteJson(file, tree);
      std::vector<std::string> argv = {copies_.with_ep, "fork-tree"};
      argv.insert(argv.end(), options.begin(), options.end());
      argv.push_back(file);
      std::ofstream("/proc/sys/kernel/ns_last_pid") << base - 1;
      BackgroundProcess crpid(AsNobody(argv));
      RunResult result;
      result.exit_code = crpid.Wait(120);
      result.err = crpid.Stderr();
      std::vector<pid_t> pids;
      for (long pid : PidsOf(tree)) pids.push_back(static_cast<pid_t>(pid));
      landed = crpid.pid() >= base && crpid.pid() < base + 60;
      if (!landed) {  // another process took the PID first: a fresh block
        // (The tree, if restored, only touches `ran` and ends; its PIDs may
        // be others' by now, so nothing is killed.)
        std::filesystem::remove(ran);
        continue;
      }
      ExpectOneErrorLine(result, "fork-tree",
                         "PID " + std::to_string(crpid.pid()) +
                             " of the tree is the PID the kernel gave this crpid as it "
                             "started; nothing ran; run crpid again");
      // Other processes may take the block's other PIDs now (the cursor
      // is there): none of them may be a tree process (crpid's comm before
      // exec, the command's after).
      const std::string crpid_comm =
          std::filesystem::path(copies_.with_ep).filename().string().substr(0, 15) + "\n";
      for (pid_t pid : pids) {
        if (pid == crpid.pid()) continue;
        const std::string proc = "/proc/" + std::to_string(pid);
        EXPECT_NE(ReadFileOrEmpty(proc + "/comm"), crpid_comm) << pid << " was created";
        EXPECT_EQ(ReadFileOrEmpty(proc + "/cmdline").find(ran), std::string::npos)
            << pid << " was created";
      }
      EXPECT_FALSE(std::filesystem::exists(ran));
    }
    EXPECT_TRUE(landed) << "crpid never got a PID of the tree in 10 attempts";
  }
}

}  // namespace
}  // namespace crpid::testing
