// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// The tree file's reader and validator (ParseProcessTree) and the plan
// fork-tree makes from it (PlanTree): hostile input gives one line naming
// the problem; honorable trees get the placeholders they need. Also reads
// a real tree of this test's own processes from /proc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "src/fork_tree.h"
#include "src/process_tree.h"
#include "tests/growth.h"

namespace crpid {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

Json Entry(long pid, long ppid, long pgid, long sid) {
  return {{"pid", pid}, {"ppid", ppid}, {"pgid", pgid}, {"sid", sid},
          {"argv", {"sleep", "1"}}};
}

// R(100, session leader) -> A(101, own session) -> B(102, group 102)
Json SmallTree() {
  return {{"format", "crpid-process-tree"},
          {"version", 1},
          {"root", 100},
          {"processes",
           {Entry(100, 1, 100, 100), Entry(101, 100, 101, 101), Entry(102, 101, 102, 101)}}};
}

std::string ParseError(const Json& document) {
  auto tree = ParseProcessTree(document.dump());
  if (tree) return "";
  EXPECT_EQ(tree.error().kind, ErrorKind::kInvalidInput);
  EXPECT_EQ(tree.error().message.find('\n'), std::string::npos);
  return tree.error().message;
}

TEST(ParseProcessTree, AcceptsAValidTree) {
  auto tree = ParseProcessTree(SmallTree().dump());
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->root, 100);
  ASSERT_EQ(tree->processes.size(), 3u);
  EXPECT_EQ(tree->processes[2].pgid, 102);
  EXPECT_EQ(CommandOf(tree->processes[0]), (std::vector<std::string>{"sleep", "1"}));
}

TEST(ParseProcessTree, WriteThenReadKeepsEveryByte) {
  ProcessTree tree;
  tree.root = 100;
  TreeProcess p;
  p.pid = p.pgid = p.sid = 100;
  p.ppid = 1;
  p.argv = {"prog", std::string("\xff\xfe bytes", 8), "ünïcode"};
  p.cwd = "/tmp/\x80";
  p.command = std::vector<std::string>{"./restart", "--from", "ckpt"};
  p.env = {"A=1"};
  tree.processes.push_back(p);
  auto back = ParseProcessTree(ProcessTreeToJson(tree));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->processes[0].argv, p.argv);
  EXPECT_EQ(back->processes[0].cwd, p.cwd);
  EXPECT_EQ(CommandOf(back->processes[0]), *p.command);
  EXPECT_EQ(back->processes[0].env, p.env);
}

TEST(ParseProcessTree, RefusesHostileInput) {
  EXPECT_THAT(ParseProcessTree("{").error().message, HasSubstr("not valid JSON"));
  EXPECT_THAT(ParseProcessTree("[]").error().message, HasSubstr("not a JSON object"));
  Json t = SmallTree();
  t["format"] = "other";
  EXPECT_THAT(ParseError(t), HasSubstr("not a crpid process tree"));
  t = SmallTree();
  t["version"] = 2;
  EXPECT_THAT(ParseError(t), HasSubstr("format version 2"));
  t = SmallTree();
  t["processes"] = Json::array();
  EXPECT_THAT(ParseError(t), HasSubstr("non-empty array"));
  t = SmallTree();
  t["processes"][1]["pid"] = 100;
  EXPECT_THAT(ParseError(t), HasSubstr("PID 100 appears twice"));
  t = SmallTree();
  t["processes"][1]["pid"] = "101";
  EXPECT_THAT(ParseError(t), HasSubstr("\"pid\" is not an integer"));
  t = SmallTree();
  t["processes"][1]["pid"] = 0;
  EXPECT_THAT(ParseError(t), HasSubstr("not in 1..4194304"));
  t = SmallTree();
  t["processes"][1]["sid"] = 4194305;
  EXPECT_THAT(ParseError(t), HasSubstr("not in 0..4194304"));
  t = SmallTree();
  t["processes"][1]["pid"] = 1e30;
  EXPECT_THAT(ParseError(t), HasSubstr("is not an integer"));
  t = SmallTree();
  t["processes"][1]["pid"] = 18446744073709551615ull;
  EXPECT_THAT(ParseError(t), HasSubstr("not in 1..4194304"));
  t = SmallTree();
  t["processes"][2].erase("sid");
  EXPECT_THAT(ParseError(t), HasSubstr("has no \"sid\""));
  t = SmallTree();
  t["processes"][2]["ppid"] = 555;
  EXPECT_THAT(ParseError(t), HasSubstr("names parent PID 555, which is not in the tree"));
  t = SmallTree();
  t["processes"][1]["ppid"] = 102;
  EXPECT_THAT(ParseError(t), HasSubstr("cycle"));
  t = SmallTree();
  t["processes"][0]["ppid"] = 102;
  EXPECT_THAT(ParseError(t), HasSubstr("inside the tree (a cycle)"));
  t = SmallTree();
  t["root"] = 999;
  EXPECT_THAT(ParseError(t), HasSubstr("root PID 999 is not in"));
  t = SmallTree();
  t["processes"][0]["argv"] = "sleep 1";
  EXPECT_THAT(ParseError(t), HasSubstr("\"argv\" is not an array"));
  t = SmallTree();
  t["processes"][0]["argv"][0] = 7;
  EXPECT_THAT(ParseError(t), HasSubstr("neither a string"));
  t = SmallTree();
  t["processes"][0]["argv"][0] = {{"hex", "zz"}};
  EXPECT_THAT(ParseError(t), HasSubstr("not hex"));
  t = SmallTree();
  t["processes"][0]["command"] = Json::array();
  EXPECT_THAT(ParseError(t), HasSubstr("\"command\" is empty"));
  t = SmallTree();
  t["processes"][0]["cwd"] = "relative/dir";
  EXPECT_THAT(ParseError(t), HasSubstr("not an absolute path"));
  t = SmallTree();
  t["processes"][0]["env"] = {"NOEQUALS"};
  EXPECT_THAT(ParseError(t), HasSubstr("not NAME=VALUE"));
  t = SmallTree();
  t["processes"][0]["argv"] = Json::array();
  for (int i = 0; i < 3; ++i) t["processes"][0]["argv"].push_back(std::string(1 << 20, 'x'));
  EXPECT_THAT(ParseError(t), HasSubstr("exceed 2 MiB"));
  t = SmallTree();
  t["processes"][0]["nspid"] = {1, "x"};
  EXPECT_THAT(ParseError(t), HasSubstr("\"nspid\""));
  t = SmallTree();
  t["processes"][0] = 5;
  EXPECT_THAT(ParseError(t), HasSubstr("is not an object"));
}

TEST(ParseProcessTree, RefusesTooManyProcesses) {
  Json t = SmallTree();
  for (size_t i = 0; i < kMaxTreeProcesses; ++i) {
    t["processes"].push_back(Entry(1000 + static_cast<long>(i), 100, 100, 100));
  }
  EXPECT_THAT(ParseError(t), HasSubstr("more than 16384"));
}

// A chain of parents as deep as a tree may be is checked in linear time
// (it took 7.7 s, walking every chain to the root once per process): the
// CPU time for the deepest chain, against one a tenth as deep, grows by a
// ratio far below a quadratic's 100 (no wall-clock bound: it failed under
// ASan on a loaded machine).
Json Chain(long length) {
  Json t = SmallTree();
  t["processes"] = Json::array({Entry(100, 1, 100, 100)});
  for (long i = 1; i < length; ++i) t["processes"].push_back(Entry(100 + i, 99 + i, 100, 100));
  return t;
}

TEST(ParseProcessTree, DeepestChainGrowsLinearly) {
  const long deepest = static_cast<long>(kMaxTreeProcesses);
  Json t = Chain(deepest);
  const std::string deep = t.dump();
  const std::string shallow = Chain(deepest / 10).dump();
  bool parsed = true;
  const double deep_seconds = testing::LeastThreadCpuSeconds(
      [&] { parsed = parsed && ParseProcessTree(deep).ok(); }, /*repeats=*/2);
  const double shallow_seconds =
      testing::LeastThreadCpuSeconds([&] { parsed = parsed && ParseProcessTree(shallow).ok(); });
  EXPECT_TRUE(parsed);
  const double ratio = deep_seconds / std::max(shallow_seconds, 1e-6);
  RecordProperty("cpu_ratio_10x", std::to_string(ratio));
  EXPECT_LT(ratio, testing::kMaxLinearRatio)
      << deep_seconds << " s for " << deepest << ", " << shallow_seconds << " s for "
      << deepest / 10;
  t["processes"][1]["ppid"] = 100 + deepest - 1;  // a cycle
  EXPECT_THAT(ParseError(t), HasSubstr("never reaches the root"));
}

TEST(ParseProcessTree, DeepNestingIsRefusedNotACrash) {
  std::string deep(100000, '[');
  auto tree = ParseProcessTree(deep);
  EXPECT_FALSE(tree);
}

// A key given twice is refused, not "last one wins": someone reading the
// file (or a tool checking it) and crpid would see different PIDs or
// commands (issue 17, item 4).
TEST(ParseProcessTree, DuplicateKeysAreRefused) {
  const std::string valid = SmallTree().dump();
  ASSERT_TRUE(ParseProcessTree(valid).ok());
  // {"format": …, "format": …} at the top.
  std::string top = valid;
  top.insert(1, "\"root\":4242,");
  auto refused = ParseProcessTree(top);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message,
            "the key \"root\" is given twice (which one counts is ambiguous)");
  // Inside the second process: {"argv": …, "pid": 101, …, "pid": 4242}.
  std::string inner = valid;
  const size_t second = inner.find("\"pid\":101");
  ASSERT_NE(second, std::string::npos);
  inner.insert(second, "\"pid\":4242,");
  refused = ParseProcessTree(inner);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.error().message, HasSubstr("\"processes[1].pid\" is given twice"));
  // A huge key is shown cut short.
  std::string huge = valid;
  const std::string key = "\"" + std::string(100000, 'k') + "\":1,";
  huge.insert(1, key + key);
  refused = ParseProcessTree(huge);
  ASSERT_FALSE(refused.ok());
  EXPECT_LT(refused.error().message.size(), 200u);
  EXPECT_THAT(refused.error().message, HasSubstr("kkk…\" is given twice"));
  // The same key in two different objects is fine.
  EXPECT_TRUE(ParseProcessTree(valid).ok());
}

TEST(ParseProcessTree, NestingDeeperThanATreeFileIsRefused) {
  Json t = SmallTree();
  Json deep = Json::array();
  for (int i = 0; i < 40; ++i) deep = Json::array({deep});
  t["extra"] = deep;
  EXPECT_THAT(ParseError(t), HasSubstr("nests deeper than 32 levels"));
}

// Item 5: entries tree save recorded as another user's process.
TEST(CheckEntriesAreCallers, OtherUsersEntriesAreRefused) {
  Json t = SmallTree();
  for (Json& p : t["processes"]) p["uid"] = 1000;
  auto tree = ParseProcessTree(t.dump());
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_TRUE(CheckEntriesAreCallers(*tree, {1000}).ok());
  tree->processes[2].uid = 1001;
  Status refused = CheckEntriesAreCallers(*tree, {1000});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::kPermission);
  EXPECT_EQ(refused.error().message,
            "processes[2] (PID 102) was uid 1001's process, not yours (uid 1000): its "
            "recorded command would run as you");
  EXPECT_THAT(refused.error().hint, HasSubstr("--run-others-commands-as-me"));
  // Root's entries are not root's to run for someone else either.
  EXPECT_FALSE(CheckEntriesAreCallers(*tree, {0}).ok());
  // Inside `unshare -Ur` the caller is 0, uid 1001 outside: its own entries.
  EXPECT_FALSE(CheckEntriesAreCallers(*tree, {0, 1001}).ok());  // 0 and 1 are 1000's
  for (Json& p : t["processes"]) p["uid"] = 1001;
  auto saved_outside = ParseProcessTree(t.dump());
  ASSERT_TRUE(saved_outside);
  EXPECT_TRUE(CheckEntriesAreCallers(*saved_outside, {0, 1001}).ok());
}

TEST(CheckEntriesAreCallers, EntriesWithoutAUidAreTheFilesOwners) {
  auto tree = ParseProcessTree(SmallTree().dump());
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_FALSE(tree->processes[0].uid.has_value());
  EXPECT_TRUE(CheckEntriesAreCallers(*tree, {1000}).ok());
  // And written back without one.
  EXPECT_EQ(Json::parse(ProcessTreeToJson(*tree))["processes"][0].count("uid"), 0u);
}

// Item 7: "nspid": [30480, 1] came back at 30480 in crpid's namespace.
TEST(CheckNoNestedPidNamespaces, SeveralNamespacePidsAreRefused) {
  Json t = SmallTree();
  t["processes"][0]["nspid"] = {100};
  auto tree = ParseProcessTree(t.dump());
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_TRUE(CheckNoNestedPidNamespaces(*tree).ok());
  t["processes"][1]["nspid"] = {101, 1};
  tree = ParseProcessTree(t.dump());
  ASSERT_TRUE(tree) << tree.error().message;
  Status refused = CheckNoNestedPidNamespaces(*tree);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message,
            "processes[1] (PID 101) ran in a nested PID namespace (NSpid 101 1); crpid "
            "recreates PIDs in its own namespace only");
  EXPECT_THAT(refused.error().hint, HasSubstr("unshare -Urpf --mount-proc"));
  EXPECT_THAT(refused.error().hint, HasSubstr("--flatten-pid-namespaces"));
}

TreePlanFacts Facts(std::set<pid_t> in_use = {}) {
  TreePlanFacts facts;
  facts.own_sid = 7;
  facts.own_pgid = 8;
  facts.pid_max = 32768;
  facts.pid_in_use = [in_use](pid_t pid) { return in_use.count(pid) != 0; };
  facts.describe = [](pid_t pid) {
    return "PID " + std::to_string(pid) + " is held by process 'bash' (uid 0)";
  };
  return facts;
}

Result<TreePlan> Plan(const Json& document, std::set<pid_t> in_use = {}) {
  auto tree = ParseProcessTree(document.dump());
  EXPECT_TRUE(tree) << tree.error().message;
  return PlanTree(*tree, Facts(std::move(in_use)));
}

// crpid's own PID among the tree's (the kernel gave it one from the tree's
// range, as after an ns_last_pid restore): refused by the plan, before
// anything is created, whether an entry or a placeholder needs it; it used
// to be found half-way, as "held by 'crpid'" (issue 19, RHEL 8 boots).
TEST(PlanTree, CrpidsOwnPidAmongTheTreesIsRefusedFirst) {
  auto tree = ParseProcessTree(SmallTree().dump());
  ASSERT_TRUE(tree) << tree.error().message;
  TreePlanFacts facts = Facts();
  facts.own_pid = tree->processes[1].pid;
  auto refused = PlanTree(*tree, facts);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::kBusy);
  EXPECT_EQ(refused.error().message,
            "PID " + std::to_string(facts.own_pid) +
                " of the tree is the PID the kernel gave this crpid as it started; nothing ran");
  EXPECT_EQ(refused.error().hint, "run crpid again: the kernel gives the next run another PID");

  Json t = SmallTree();
  t["processes"][2]["pgid"] = 150;  // its group's leader gone: a placeholder at 150
  auto leaderless = ParseProcessTree(t.dump());
  ASSERT_TRUE(leaderless) << leaderless.error().message;
  facts.own_pid = 150;
  auto placeholder = PlanTree(*leaderless, facts);
  ASSERT_FALSE(placeholder);
  EXPECT_THAT(placeholder.error().message,
              HasSubstr("PID 150, the placeholder for a group, is the PID the kernel gave"));

  facts.own_pid = 0;  // --check: not asked
  EXPECT_TRUE(PlanTree(*tree, facts));
}

TEST(PlanTree, SessionsAndGroupsOfTheTreeItself) {
  auto plan = Plan(SmallTree());
  ASSERT_TRUE(plan) << plan.error().message;
  ASSERT_EQ(plan->nodes.size(), 3u);
  EXPECT_EQ(plan->top, std::vector<int>{0});
  EXPECT_TRUE(plan->nodes[0].setsid);
  EXPECT_TRUE(plan->nodes[1].setsid);
  EXPECT_TRUE(plan->nodes[2].lead_group);
  EXPECT_EQ(plan->nodes[1].creator, 0);
}

TEST(PlanTree, LeaderlessGroupGetsAPlaceholderMadeByItsFirstMember) {
  Json t = SmallTree();
  t["processes"][2]["pgid"] = 150;  // leader gone
  auto plan = Plan(t);
  ASSERT_TRUE(plan) << plan.error().message;
  ASSERT_EQ(plan->nodes.size(), 4u);
  EXPECT_EQ(plan->nodes[3].kind, PlanNodeKind::kGroupPlaceholder);
  EXPECT_EQ(plan->nodes[3].pid, 150);
  EXPECT_EQ(plan->nodes[2].group_placeholder, 3);
  EXPECT_TRUE(plan->nodes[2].join_group);
  // Held by an outside process: no placeholder can stand in.
  auto busy = Plan(t, {150});
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().kind, ErrorKind::kBusy);
  EXPECT_THAT(busy.error().message, HasSubstr("PID 150 is held by process 'bash' (uid 0), so no placeholder"));
}

TEST(PlanTree, RootInALeaderlessSessionGetsASessionPlaceholder) {
  Json t = SmallTree();
  t["processes"][0]["sid"] = 90;
  t["processes"][0]["pgid"] = 100;
  auto plan = Plan(t);
  ASSERT_TRUE(plan) << plan.error().message;
  const PlanNode& placeholder = plan->nodes[plan->top.at(0)];
  EXPECT_EQ(placeholder.kind, PlanNodeKind::kSessionPlaceholder);
  EXPECT_EQ(placeholder.pid, 90);
  EXPECT_EQ(plan->nodes[0].creator, plan->top.at(0));
  // crpid's own session needs none.
  t["processes"][0]["sid"] = 7;
  plan = Plan(t);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->top, std::vector<int>{0});
  EXPECT_EQ(plan->nodes.size(), 3u);
}

TEST(PlanTree, ChildStillInItsParentsFormerSessionIsCreatedBeforeSetsid) {
  Json t = SmallTree();
  t["processes"][0]["sid"] = 7;  // crpid's session
  t["processes"][0]["pgid"] = 100;
  t["processes"][1]["sid"] = 101;
  t["processes"][2]["sid"] = 7;  // born before 101's setsid
  t["processes"][2]["pgid"] = 100;
  auto plan = Plan(t);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->nodes[1].early_children, std::vector<int>{2});
}

TEST(PlanTree, RefusesWhatCannotBeHonored) {
  Json t = SmallTree();
  t["processes"][1]["pgid"] = 100;  // session leader in another's group
  EXPECT_THAT(Plan(t).error().message, HasSubstr("a session leader always leads its own group"));
  t = SmallTree();
  t["processes"][2]["pgid"] = 100;  // group 100 is in session 100, 102 in 101
  EXPECT_THAT(Plan(t).error().message, HasSubstr("a group never spans sessions"));
  t = SmallTree();
  t["processes"].push_back(Entry(103, 100, 103, 103));
  t["processes"][2]["sid"] = 103;  // parent in 101 (born in 100), leader 103 elsewhere
  EXPECT_THAT(Plan(t).error().message, HasSubstr("whose leader is in the tree"));
  t = SmallTree();
  t["processes"][2]["pid"] = 40000;
  t["processes"][2]["pgid"] = 40000;
  EXPECT_THAT(Plan(t).error().message, HasSubstr("not below kernel.pid_max"));
  t = SmallTree();
  t["processes"][0]["sid"] = 0;  // led from outside this PID namespace
  t["processes"][0]["pgid"] = 0;
  EXPECT_THAT(Plan(t).error().message, HasSubstr("outside this PID namespace"));
  t = SmallTree();
  t["processes"][0]["sid"] = 90;
  t["processes"][0]["pgid"] = 100;
  auto busy = Plan(t, {90});
  EXPECT_EQ(busy.error().kind, ErrorKind::kBusy);
  EXPECT_THAT(busy.error().message, HasSubstr("session 90 of PID 100"));
}

TEST(ReadProcessTree, ReadsThisTestsOwnChildren) {
  const pid_t child = ::fork();
  if (child == 0) {
    ::setpgid(0, 0);
    ::pause();
    _exit(0);
  }
  ::setpgid(child, child);
  auto tree = ReadProcessTree(::getpid());
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  if (!tree && tree.error().message.find("another PID namespace") != std::string::npos) {
    GTEST_SKIP() << tree.error().message;
  }
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->processes[0].pid, ::getpid());
  bool found = false;
  for (const TreeProcess& p : tree->processes) {
    if (p.pid != child) continue;
    found = true;
    EXPECT_EQ(p.ppid, ::getpid());
    EXPECT_EQ(p.pgid, child);
    EXPECT_EQ(p.sid, ::getsid(0));
    EXPECT_EQ(p.threads, 1);
  }
  EXPECT_TRUE(found);
  auto parsed = ParseProcessTree(ProcessTreeToJson(*tree));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->processes.size(), tree->processes.size());
}

}  // namespace
}  // namespace crpid
