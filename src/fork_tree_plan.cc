// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// PlanTree: who creates whom, and which placeholders the tree needs.
#include <map>
#include <string>

#include "src/fork_tree.h"

namespace crpid {
namespace {

Error CannotHonor(const std::string& what) {
  return Error{ErrorKind::kInvalidInput, 0, what,
               "edit the entry (e.g. with jq) to a session or group crpid can "
               "recreate, such as its own PID"};
}

std::string Pid(pid_t pid) { return "PID " + std::to_string(pid); }

class Planner {
 public:
  Planner(const ProcessTree& tree, const TreePlanFacts& facts) : tree_(tree), facts_(facts) {}

  Result<TreePlan> Run() {
    if (Status pids = CheckPids(); !pids) return pids.error();
    for (size_t i = 0; i < tree_.processes.size(); ++i) {
      PlanNode node;
      node.pid = tree_.processes[i].pid;
      node.sid = tree_.processes[i].sid;
      node.pgid = tree_.processes[i].pgid;
      node.tree_index = static_cast<int>(i);
      node_of_[node.pid] = static_cast<int>(plan_.nodes.size());
      plan_.nodes.push_back(node);
    }
    plan_.root = node_of_.at(tree_.root);
    // Parents before children, whatever order the file has.
    if (Status placed = PlaceSubtree(plan_.root); !placed) return placed.error();
    for (size_t i = 0; i < tree_.processes.size(); ++i) {
      if (Status grouped = PlaceInGroup(static_cast<int>(i)); !grouped) {
        return grouped.error();
      }
    }
    if (Status own = OwnPidNotNeeded(); !own) return own.error();
    return plan_;
  }

 private:
  Status CheckPids() {
    for (const TreeProcess& p : tree_.processes) {
      if (p.pid >= facts_.pid_max) {
        return Error{ErrorKind::kInvalidInput, 0,
                     Pid(p.pid) + " is not below kernel.pid_max (" +
                         std::to_string(facts_.pid_max) + ")",
                     "raise the limit as root: sysctl -w kernel.pid_max=4194304"};
      }
      if (p.sid == 0 || p.pgid == 0) {
        return CannotHonor(Pid(p.pid) + " has its " + (p.sid == 0 ? "session" : "group") +
                           " led from outside this PID namespace (0)");
      }
      if (p.pid == 1) {
        return CannotHonor("PID 1 is the init of this PID namespace and always taken");
      }
      if (p.sid == p.pid && p.pgid != p.pid) {
        return CannotHonor(Pid(p.pid) + " leads session " + std::to_string(p.sid) +
                           " but is in group " + std::to_string(p.pgid) +
                           ": a session leader always leads its own group");
      }
    }
    return Ok{};
  }

  // The kernel may give crpid itself a PID the tree needs (after an
  // ns_last_pid restore it hands out PIDs from inside the tree's range):
  // said before anything is created, not found as "in use" half-way.
  Status OwnPidNotNeeded() const {
    if (facts_.own_pid == 0) return Ok{};
    for (const PlanNode& node : plan_.nodes) {
      if (node.pid != facts_.own_pid) continue;
      const std::string who =
          node.kind == PlanNodeKind::kProcess ? Pid(node.pid) + " of the tree"
          : node.kind == PlanNodeKind::kSessionPlaceholder
              ? "PID " + std::to_string(node.pid) + ", the placeholder for a session,"
              : "PID " + std::to_string(node.pid) + ", the placeholder for a group,";
      return Error{ErrorKind::kBusy, 0,
                   who + " is the PID the kernel gave this crpid as it started; nothing ran",
                   "run crpid again: the kernel gives the next run another PID"};
    }
    return Ok{};
  }

  pid_t SidOf(int node) const { return node < 0 ? facts_.own_sid : plan_.nodes[node].sid; }

  // The session a node's children are born into before its setsid.
  pid_t SidBefore(int node) const {
    auto found = sid_in_.find(node);
    return found == sid_in_.end() ? facts_.own_sid : found->second;
  }

  Status PlaceSubtree(int root) {
    std::vector<int> stack = {root};
    std::multimap<pid_t, int> children;
    for (size_t i = 0; i < plan_.nodes.size(); ++i) {
      if (static_cast<int>(i) != root) {
        children.emplace(tree_.processes[i].ppid, static_cast<int>(i));
      }
    }
    while (!stack.empty()) {
      const int node = stack.back();
      stack.pop_back();
      const int parent = node == root ? -1 : node_of_.at(tree_.processes[node].ppid);
      if (Status placed = PlaceInSession(node, parent); !placed) return placed;
      auto [begin, end] = children.equal_range(plan_.nodes[node].pid);
      std::vector<int> kids;
      for (auto it = begin; it != end; ++it) kids.push_back(it->second);
      for (auto it = kids.rbegin(); it != kids.rend(); ++it) stack.push_back(*it);
    }
    return Ok{};
  }

  void Attach(int node, int creator, bool early, pid_t sid_in) {
    plan_.nodes[node].creator = creator;
    sid_in_[node] = sid_in;
    if (creator < 0) {
      plan_.top.push_back(node);
    } else if (early) {
      plan_.nodes[creator].early_children.push_back(node);
    } else {
      plan_.nodes[creator].children.push_back(node);
    }
  }

  // Decides who creates `node` so that it is born into its session (or
  // founds it); parent -1 is crpid.
  Status PlaceInSession(int node, int parent) {
    PlanNode& n = plan_.nodes[node];
    const pid_t parent_sid = parent < 0 ? facts_.own_sid : SidOf(parent);
    if (n.sid == n.pid) {
      n.setsid = true;
      Attach(node, parent, false, parent_sid);
      return Ok{};
    }
    if (n.sid == parent_sid) {
      Attach(node, parent, false, parent_sid);
      return Ok{};
    }
    if (parent >= 0 && plan_.nodes[parent].setsid && n.sid == SidBefore(parent)) {
      Attach(node, parent, true, n.sid);
      return Ok{};
    }
    return PlaceUnderSessionPlaceholder(node, parent);
  }

  Status PlaceUnderSessionPlaceholder(int node, int parent) {
    const PlanNode n = plan_.nodes[node];
    const pid_t sid = n.sid;
    if (node_of_.count(sid) != 0) {
      return CannotHonor(Pid(n.pid) + " is in session " + std::to_string(sid) +
                         ", whose leader is in the tree, but its parent is in another "
                         "session: crpid cannot recreate that");
    }
    auto existing = session_placeholder_.find(sid);
    if (existing != session_placeholder_.end()) {
      if (plan_.nodes[existing->second].creator != parent) {
        return CannotHonor("session " + std::to_string(sid) +
                           " has members with different parents and no leader in the "
                           "tree: crpid cannot recreate that");
      }
      Attach(node, existing->second, false, sid);
      return Ok{};
    }
    if (Status free = LeaderPidFree(sid, "session", n.pid); !free) return free;
    PlanNode placeholder;
    placeholder.kind = PlanNodeKind::kSessionPlaceholder;
    placeholder.pid = placeholder.sid = placeholder.pgid = sid;
    placeholder.setsid = true;
    const int index = static_cast<int>(plan_.nodes.size());
    plan_.nodes.push_back(placeholder);
    node_of_placeholder_[sid] = index;
    session_placeholder_[sid] = index;
    Attach(index, parent, false, parent < 0 ? facts_.own_sid : SidOf(parent));
    if (parent >= 0) plan_.nodes[parent].subreaper = true;
    Attach(node, index, false, sid);
    return Ok{};
  }

  Status LeaderPidFree(pid_t leader, const char* what, pid_t member) {
    if (leader >= facts_.pid_max) {
      return CannotHonor(std::string(what) + " " + std::to_string(leader) + " of " +
                         Pid(member) + " needs a placeholder at PID " +
                         std::to_string(leader) + ", not below kernel.pid_max");
    }
    if (leader == 1 || (facts_.pid_in_use && facts_.pid_in_use(leader))) {
      return Error{ErrorKind::kBusy, 0,
                   std::string(what) + " " + std::to_string(leader) + " of " + Pid(member) +
                       " has its leader outside the tree, and " +
                       (facts_.describe ? facts_.describe(leader) : Pid(leader) + " is in use") +
                       ", so no placeholder can stand in for it",
                   "run fork-tree from inside that " + std::string(what) +
                       ", end the process holding the PID, or edit the entry"};
    }
    return Ok{};
  }

  Status PlaceInGroup(int node) {
    PlanNode& n = plan_.nodes[node];
    const pid_t group = n.pgid;
    if (group == n.pid) {
      n.lead_group = !n.setsid;
      return Ok{};
    }
    n.join_group = true;
    auto Mismatch = [&](pid_t group_sid) {
      return CannotHonor(Pid(n.pid) + " is in session " + std::to_string(n.sid) +
                         " but its group " + std::to_string(group) + " is in session " +
                         std::to_string(group_sid) + ": a group never spans sessions");
    };
    if (auto leader = node_of_.find(group); leader != node_of_.end()) {
      const PlanNode& l = plan_.nodes[leader->second];
      if (l.pgid != group) {
        return CannotHonor(Pid(n.pid) + " is in group " + std::to_string(group) +
                           ", but PID " + std::to_string(group) + " is in group " +
                           std::to_string(l.pgid));
      }
      return l.sid == n.sid ? Status(Ok{}) : Status(Mismatch(l.sid));
    }
    if (auto placeholder = node_of_placeholder_.find(group);
        placeholder != node_of_placeholder_.end()) {
      const pid_t sid = plan_.nodes[placeholder->second].sid;
      return sid == n.sid ? Status(Ok{}) : Status(Mismatch(sid));
    }
    if (group == facts_.own_pgid) {  // crpid's own group exists
      if (n.sid == facts_.own_sid) return Ok{};
      return Mismatch(facts_.own_sid);
    }
    if (Status free = LeaderPidFree(group, "group", n.pid); !free) return free;
    PlanNode placeholder;
    placeholder.kind = PlanNodeKind::kGroupPlaceholder;
    placeholder.pid = placeholder.pgid = group;
    placeholder.sid = n.sid;
    placeholder.lead_group = true;
    placeholder.creator = node;
    const int index = static_cast<int>(plan_.nodes.size());
    plan_.nodes.push_back(placeholder);
    plan_.nodes[node].group_placeholder = index;
    node_of_placeholder_[group] = index;
    return Ok{};
  }

  const ProcessTree& tree_;
  const TreePlanFacts& facts_;
  TreePlan plan_;
  std::map<pid_t, int> node_of_;              // tree PID -> node
  std::map<pid_t, int> node_of_placeholder_;  // placeholder PID -> node
  std::map<pid_t, int> session_placeholder_;
  std::map<int, pid_t> sid_in_;  // node -> session it is born into
};

}  // namespace

Result<TreePlan> PlanTree(const ProcessTree& tree, const TreePlanFacts& facts) {
  return Planner(tree, facts).Run();
}

}  // namespace crpid
