// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// PidsTreeNeeds: the plan's PIDs, for waiting on them and checking them;
// OwnPlanFacts: what the plan needs to know of crpid itself.
#include <unistd.h>

#include <algorithm>

#include "src/fork_tree.h"
#include "src/procfs.h"

namespace crpid {

Result<TreePlanFacts> OwnPlanFacts() {
  TreePlanFacts facts;
  facts.own_sid = ::getsid(0);
  facts.own_pgid = ::getpgrp();
  facts.own_pid = ::getpid();
  auto pid_max = ReadPidMax();
  if (!pid_max) return pid_max.error();
  facts.pid_max = *pid_max;
  return facts;
}

Result<std::vector<pid_t>> PidsTreeNeeds(const ProcessTree& tree, bool refuse_own_pid) {
  // No pid_in_use: every leader outside the tree gets its placeholder, whose
  // PID is then one that must be free.
  auto facts = OwnPlanFacts();
  if (!facts) return facts.error();
  if (!refuse_own_pid) facts->own_pid = 0;
  auto plan = PlanTree(tree, *facts);
  if (!plan) return plan.error();
  std::vector<pid_t> pids;
  for (const PlanNode& node : plan->nodes) pids.push_back(node.pid);
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  return pids;
}

}  // namespace crpid
