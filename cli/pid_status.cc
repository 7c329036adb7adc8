// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/pid_status.h"

#include <fmt/core.h>
#include <signal.h>
#include <string.h>

#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/exit_codes.h"
#include "cli/report.h"
#include "src/pid_holder.h"
#include "src/procfs.h"
#include "src/supervise.h"

namespace crpid::cli {
namespace {

// Held PIDs named in one error line; the rest are counted.
constexpr size_t kNamedInLine = 5;

std::string SignalName(int signal) {
  const char* abbreviation = ::sigabbrev_np(signal);
  return abbreviation ? std::string("SIG") + abbreviation : "signal " + std::to_string(signal);
}

std::string PidsText(const std::vector<pid_t>& pids) {
  if (pids.size() == 1) return "PID " + std::to_string(pids.front());
  return std::to_string(pids.size()) + " PIDs";
}

std::string HeldText(const std::vector<PidHolder>& held) {
  std::string text;
  for (size_t i = 0; i < held.size() && i < kNamedInLine; ++i) {
    if (i > 0) text += "; ";
    text += DescribeHolder(held[i]);
  }
  if (held.size() > kNamedInLine) {
    text += "; and " + std::to_string(held.size() - kNamedInLine) + " more PIDs are held";
  }
  return text;
}

Error SignalError(int signal, const std::vector<pid_t>& pids) {
  return Error{ErrorKind::kSystem, 0,
               SignalName(signal) + " while waiting for " + PidsText(pids) +
                   " to be free; nothing ran",
               ""};
}

nlohmann::json ProcessJson(const HolderProcess& process) {
  nlohmann::json json = {{"pid", process.pid},
                         {"comm", process.comm},
                         {"state", std::string(1, process.state)}};
  if (process.uid) json["uid"] = *process.uid;
  return json;
}

nlohmann::json HolderJson(const PidHolder& holder) {
  nlohmann::json json = {{"pid", holder.pid},
                         {"free", holder.free()},
                         {"holder", HolderKindName(holder.kind)},
                         {"text", HolderText(holder)}};
  switch (holder.kind) {
    case PidHolderKind::kProcess:
    case PidHolderKind::kThread:
      json["process"] = ProcessJson(holder.process);
      break;
    case PidHolderKind::kZombie:
      json["process"] = ProcessJson(holder.process);
      if (holder.parent.pid > 0) json["parent"] = ProcessJson(holder.parent);
      break;
    case PidHolderKind::kGroupOrSession: {
      nlohmann::json as = nlohmann::json::array();
      if (holder.as_sid) as.push_back("session");
      if (holder.as_pgid) as.push_back("process-group");
      json["as"] = as;
      json["members"] = nlohmann::json::array();
      for (const HolderProcess& member : holder.members) {
        json["members"].push_back(ProcessJson(member));
      }
      json["member_count"] = holder.member_count;
      break;
    }
    default:
      break;
  }
  return json;
}

}  // namespace

Status ProcCanTell(std::string_view option) {
  if (ProcShowsOwnPidNamespace()) return Ok{};
  return Error{ErrorKind::kInvalidInput, 0,
               std::string(option) +
                   " reads /proc, which shows another PID namespace than crpid's",
               "mount this namespace's /proc first (unshare --mount-proc)"};
}

int WaitForFreePids(std::string_view context, const std::vector<pid_t>& pids,
                    int seconds) {
  auto outcome = WaitUntilFree(pids, seconds, ForwardedSignals());
  if (!outcome) return ReportError(context, outcome.error());
  if (outcome->signal != 0) {
    ReportError(context, SignalError(outcome->signal, pids));
    return kExitSignalBase + outcome->signal;
  }
  if (outcome->held.empty()) return -1;
  const std::vector<PidHolder>& held = outcome->held;
  return ReportError(
      context,
      Error{ErrorKind::kBusy, 0,
            "after waiting " + std::to_string(seconds) + " s, " + HeldText(held) + "; nothing ran",
            held.size() == 1 ? "end what holds it, or give a longer --wait"
                             : "end what holds them, or give a longer --wait"});
}

int CheckPids(std::string_view context, const std::vector<pid_t>& pids, bool json,
              int wait_seconds) {
  if (wait_seconds > 0) {
    ScopedSignalBlock blocked(ForwardedSignals());
    auto outcome = WaitUntilFree(pids, wait_seconds, ForwardedSignals());
    if (!outcome) return ReportError(context, outcome.error());
    if (outcome->signal != 0) {
      ReportError(context, SignalError(outcome->signal, pids));
      return kExitSignalBase + outcome->signal;
    }
  }
  const std::vector<PidHolder> holders = FindPidHolders(pids);
  bool all_free = true;
  for (const PidHolder& holder : holders) all_free = all_free && holder.free();
  std::string text;
  if (json) {
    nlohmann::json document = {{"free", all_free}, {"pids", nlohmann::json::array()}};
    for (const PidHolder& holder : holders) document["pids"].push_back(HolderJson(holder));
    // A comm is any bytes: invalid UTF-8 is replaced, never thrown over.
    text = document.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  } else {
    for (const PidHolder& holder : holders) {
      text += fmt::format("{}: {}\n", holder.pid, HolderText(holder));
    }
  }
  if (std::fputs(text.c_str(), stdout) < 0 || std::fflush(stdout) != 0) {
    return ReportError(context, SystemError(errno, "cannot write standard output"));
  }
  return all_free ? kExitOk : 1;
}

}  // namespace crpid::cli
