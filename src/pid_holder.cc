// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/pid_holder.h"

#include <dirent.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <map>
#include <set>
#include <string_view>

#include "src/procfs.h"
#include "src/unique_fd.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

namespace crpid {
namespace {

// Where no pidfd tells when a holder is gone: how long one poll sleeps.
constexpr int kBoundedPollMs = 100;
// A comm shown in a message: the kernel's are 15 bytes; a snapshot's may
// be anything.
constexpr size_t kShownCommBytes = 32;

std::string EntryPath(const std::string& proc_root, pid_t pid, const char* file) {
  return proc_root + "/" + std::to_string(pid) + "/" + file;
}

bool EntryExists(const std::string& proc_root, pid_t pid) {
  struct stat st;
  return ::stat((proc_root + "/" + std::to_string(pid)).c_str(), &st) == 0;
}

// The facts /proc/PID/stat gives: "pid (comm) state ppid pgrp session …".
// The comm may hold ')' and newlines: it ends at the last ')'.
struct StatLine {
  std::string comm;
  char state = '?';
  pid_t ppid = 0;
  pid_t pgid = 0;
  pid_t sid = 0;
};

std::optional<StatLine> ParseStatLine(const std::string& text) {
  const size_t open = text.find('(');
  const size_t close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    return std::nullopt;
  }
  StatLine line;
  line.comm = text.substr(open + 1, close - open - 1);
  auto fields = ParseStatFields(text, "");
  // Fields 3 (state) to 6 (session) are needed; the comm alone is kept
  // from a truncated line.
  if (!fields || fields->size() <= 6) {
    if (fields && fields->size() > 3) line.state = static_cast<char>((*fields)[3]);
    return line;
  }
  line.state = static_cast<char>((*fields)[3]);
  line.ppid = static_cast<pid_t>((*fields)[4]);
  line.pgid = static_cast<pid_t>((*fields)[5]);
  line.sid = static_cast<pid_t>((*fields)[6]);
  return line;
}

std::optional<StatLine> ReadStatLine(const std::string& proc_root, pid_t pid) {
  auto text = ReadFileToString(EntryPath(proc_root, pid, "stat"));
  if (!text) return std::nullopt;
  return ParseStatLine(*text);
}

// A "Name:\tvalue…" line's first number in /proc/PID/status.
std::optional<long> StatusNumber(const std::string& status, std::string_view name) {
  size_t at = 0;
  while (at < status.size()) {
    size_t end = status.find('\n', at);
    if (end == std::string::npos) end = status.size();
    std::string_view line(status.data() + at, end - at);
    if (line.size() > name.size() && line.substr(0, name.size()) == name &&
        line[name.size()] == ':') {
      line.remove_prefix(name.size() + 1);
      while (!line.empty() && (line.front() == '\t' || line.front() == ' ')) {
        line.remove_prefix(1);
      }
      long value = 0;
      auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), value);
      if (ec != std::errc() || ptr == line.data()) return std::nullopt;
      return value;
    }
    at = end + 1;
  }
  return std::nullopt;
}

struct StatusFacts {
  std::optional<pid_t> tgid;
  std::optional<uid_t> uid;
};

StatusFacts ReadStatusFacts(const std::string& proc_root, pid_t pid) {
  StatusFacts facts;
  auto status = ReadFileToString(EntryPath(proc_root, pid, "status"));
  if (!status) return facts;
  if (auto tgid = StatusNumber(*status, "Tgid"); tgid && *tgid > 0) {
    facts.tgid = static_cast<pid_t>(*tgid);
  }
  if (auto uid = StatusNumber(*status, "Uid"); uid && *uid >= 0) {
    facts.uid = static_cast<uid_t>(*uid);
  }
  return facts;
}

HolderProcess ReadHolderProcess(const std::string& proc_root, pid_t pid) {
  HolderProcess process;
  process.pid = pid;
  if (auto stat = ReadStatLine(proc_root, pid)) {
    process.comm = stat->comm;
    process.state = stat->state;
  }
  process.uid = ReadStatusFacts(proc_root, pid).uid;
  return process;
}

// What a PID with an entry of its own is: a process, a zombie or a thread.
PidHolder HolderWithEntry(const std::string& proc_root, pid_t pid) {
  PidHolder holder;
  holder.pid = pid;
  holder.kind = PidHolderKind::kProcess;
  holder.process.pid = pid;
  const StatusFacts status = ReadStatusFacts(proc_root, pid);
  holder.process.uid = status.uid;
  if (status.tgid && *status.tgid != pid) {
    holder.kind = PidHolderKind::kThread;
    holder.process = ReadHolderProcess(proc_root, *status.tgid);
    return holder;
  }
  auto stat = ReadStatLine(proc_root, pid);
  if (!stat) return holder;  // in use; what by, /proc would not say
  holder.process.comm = stat->comm;
  holder.process.state = stat->state;
  if (stat->state == 'Z') {
    holder.kind = PidHolderKind::kZombie;
    if (stat->ppid > 0) holder.parent = ReadHolderProcess(proc_root, stat->ppid);
  }
  return holder;
}

bool ParsePidName(const char* name, pid_t& pid) {
  const std::string_view text(name);
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) {
    return false;
  }
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
  return ec == std::errc() && ptr == text.data() + text.size() && pid > 0;
}

void AddMember(PidHolder& holder, pid_t member, bool as_pgid, bool as_sid) {
  holder.kind = PidHolderKind::kGroupOrSession;
  holder.as_pgid = holder.as_pgid || as_pgid;
  holder.as_sid = holder.as_sid || as_sid;
  ++holder.member_count;
  HolderProcess process;
  process.pid = member;
  auto& members = holder.members;
  members.insert(std::upper_bound(members.begin(), members.end(), process,
                                  [](const HolderProcess& a, const HolderProcess& b) {
                                    return a.pid < b.pid;
                                  }),
                 process);
  if (members.size() > kNamedMembers) members.pop_back();
}

// The one pass over proc_root/*/stat: every process whose pgid or sid is
// one of `wanted` (keyed by PID, pointing at its holder).
void FindGroupAndSessionMembers(const std::string& proc_root,
                                std::map<pid_t, PidHolder*>& wanted) {
  DIR* dir = ::opendir(proc_root.c_str());
  if (dir == nullptr) return;
  while (const dirent* entry = ::readdir(dir)) {
    pid_t pid = 0;
    if (!ParsePidName(entry->d_name, pid)) continue;
    auto stat = ReadStatLine(proc_root, pid);
    if (!stat) continue;
    if (auto group = wanted.find(stat->pgid); group != wanted.end()) {
      AddMember(*group->second, pid, true, stat->sid == stat->pgid);
    }
    if (auto session = wanted.find(stat->sid);
        session != wanted.end() && stat->sid != stat->pgid) {
      AddMember(*session->second, pid, false, true);
    }
  }
  ::closedir(dir);
  // Only the named ones are read again, for their comm, state and uid.
  for (auto& [pid, holder] : wanted) {
    for (HolderProcess& member : holder->members) {
      member = ReadHolderProcess(proc_root, member.pid);
    }
  }
}

std::string Escaped(std::string_view text) {
  std::string shown;
  for (unsigned char c : text.substr(0, kShownCommBytes)) {
    if (c == '\n') {
      shown += "\\n";
    } else if (c == '\\' || c == '\'') {
      shown += '\\';
      shown += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      shown += hex;
    } else {
      shown += static_cast<char>(c);
    }
  }
  if (text.size() > kShownCommBytes) shown += "...";
  return shown;
}

// "'sleep' (uid 1000)", "'sh' (zombie, uid 0)": the process's name and owner.
std::string NameAndOwner(const HolderProcess& process, bool say_zombie) {
  std::string text = process.comm.empty() ? "" : "'" + Escaped(process.comm) + "'";
  std::string details;
  if (say_zombie && process.state == 'Z') details = "zombie";
  if (process.uid) {
    if (!details.empty()) details += ", ";
    details += "uid " + std::to_string(*process.uid);
  }
  if (!details.empty()) text += (text.empty() ? "(" : " (") + details + ")";
  return text;
}

std::string PidAndName(const HolderProcess& process, bool say_zombie) {
  std::string name = NameAndOwner(process, say_zombie);
  return "PID " + std::to_string(process.pid) + (name.empty() ? "" : " " + name);
}

std::string MembersText(const PidHolder& holder) {
  std::string text;
  for (size_t i = 0; i < holder.members.size(); ++i) {
    if (i > 0) {
      text += (i + 1 == holder.members.size() && holder.member_count == holder.members.size())
                  ? " and "
                  : ", ";
    }
    text += PidAndName(holder.members[i], true);
  }
  if (holder.member_count > holder.members.size()) {
    text += " and " + std::to_string(holder.member_count - holder.members.size()) + " more";
  }
  return text;
}

}  // namespace

std::vector<PidHolder> FindPidHolders(const std::vector<pid_t>& pids,
                                      const std::string& proc_root) {
  std::vector<PidHolder> holders(pids.size());
  std::map<pid_t, PidHolder*> without_entry;
  for (size_t i = 0; i < pids.size(); ++i) {
    holders[i].pid = pids[i];
    if (pids[i] <= 0) continue;
    if (EntryExists(proc_root, pids[i])) {
      holders[i] = HolderWithEntry(proc_root, pids[i]);
    } else if (without_entry.count(pids[i]) == 0) {
      without_entry[pids[i]] = &holders[i];
    }
  }
  if (!without_entry.empty()) FindGroupAndSessionMembers(proc_root, without_entry);
  // A PID asked for twice gets the same answer twice.
  for (PidHolder& holder : holders) {
    auto first = without_entry.find(holder.pid);
    if (first != without_entry.end() && first->second != &holder) holder = *first->second;
  }
  return holders;
}

PidHolder FindPidHolder(pid_t pid) {
  if (ProcShowsOwnPidNamespace()) return FindPidHolders({pid}).front();
  PidHolder holder;
  holder.pid = pid;
  if (PidInUse(pid)) holder.kind = PidHolderKind::kUnknown;
  return holder;
}

std::string HolderText(const PidHolder& holder) {
  switch (holder.kind) {
    case PidHolderKind::kFree:
      return "free";
    case PidHolderKind::kProcess: {
      if (!holder.process.comm.empty()) {
        return "held by process " + NameAndOwner(holder.process, false);
      }
      return holder.process.uid
                 ? "held by a process of uid " + std::to_string(*holder.process.uid)
                 : "held by a process /proc does not describe";
    }
    case PidHolderKind::kZombie: {
      std::string text = "held by a zombie";
      const std::string name = NameAndOwner(holder.process, false);
      if (!name.empty()) text += " of " + name;
      if (holder.parent.pid > 0) {
        text += " that its parent, " + PidAndName(holder.parent, false) + ", has not reaped";
      } else {
        text += " not reaped yet";
      }
      return text;
    }
    case PidHolderKind::kThread:
      return "held by a thread of " + PidAndName(holder.process, false);
    case PidHolderKind::kGroupOrSession: {
      const char* ids = holder.as_sid && holder.as_pgid ? "session and process-group ID"
                        : holder.as_sid                 ? "session ID"
                                                        : "process-group ID";
      return std::string("held as the ") + ids + " of " + MembersText(holder);
    }
    case PidHolderKind::kUnknown:
      return "in use (by what, this /proc cannot tell: it shows another PID namespace)";
  }
  return "in use";
}

std::string DescribeHolder(const PidHolder& holder) {
  return "PID " + std::to_string(holder.pid) + " is " + HolderText(holder);
}

std::string DescribePidHolder(pid_t pid) { return DescribeHolder(FindPidHolder(pid)); }

std::string HolderRemedy(const PidHolder& holder) {
  switch (holder.kind) {
    case PidHolderKind::kFree:
      return "";
    case PidHolderKind::kProcess:
    case PidHolderKind::kUnknown:
      return "end that process, or give --wait SECONDS for it to end";
    case PidHolderKind::kZombie:
      return "wait for its parent to reap it (PID 1 does within seconds: --wait "
             "SECONDS), or end the parent";
    case PidHolderKind::kThread:
      return "end PID " + std::to_string(holder.process.pid) +
             ", or give --wait SECONDS for the thread to end";
    case PidHolderKind::kGroupOrSession:
      return "end those processes (the ID is free once all have ended and been reaped), "
             "or give --wait SECONDS";
  }
  return "";
}

const char* HolderKindName(PidHolderKind kind) {
  switch (kind) {
    case PidHolderKind::kFree:
      return "free";
    case PidHolderKind::kProcess:
      return "process";
    case PidHolderKind::kZombie:
      return "zombie";
    case PidHolderKind::kThread:
      return "thread";
    case PidHolderKind::kGroupOrSession:
      return "group-or-session";
    case PidHolderKind::kUnknown:
      return "unknown";
  }
  return "unknown";
}

namespace {

long long MonotonicMs() {
  timespec now = {};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<long long>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

// A pidfd that becomes readable when the live process `pid` has exited.
// Invalid where the kernel has no pidfd_open (< 5.3) or the process is gone.
UniqueFd PidFd(pid_t pid) {
  return UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

// The processes whose exit is worth waking for (none of them gone means the
// PID is still held), and whether some holder can only be polled.
struct Wakers {
  std::vector<UniqueFd> pidfds;
  bool bounded = false;
};

Wakers WakersFor(const std::vector<PidHolder>& held) {
  Wakers wakers;
  std::set<pid_t> watched;
  auto watch = [&](pid_t pid) {
    if (!watched.insert(pid).second) return true;
    UniqueFd fd = PidFd(pid);
    if (!fd.valid()) return false;
    wakers.pidfds.push_back(std::move(fd));
    return true;
  };
  for (const PidHolder& holder : held) {
    switch (holder.kind) {
      case PidHolderKind::kProcess:
        if (!watch(holder.pid)) wakers.bounded = true;
        break;
      case PidHolderKind::kGroupOrSession: {
        // The ID stays held while any member lives: a live one's exit is
        // the earliest it can be free; zombies only show when reaped.
        bool live = false;
        for (const HolderProcess& member : holder.members) {
          if (member.state != 'Z' && watch(member.pid)) {
            live = true;
            break;
          }
        }
        if (!live) wakers.bounded = true;
        break;
      }
      default:  // a reaping or a thread's end: no pidfd says when
        wakers.bounded = true;
        break;
    }
  }
  return wakers;
}

}  // namespace

Result<WaitOutcome> WaitUntilFree(const std::vector<pid_t>& pids, int seconds,
                                  const sigset_t& stop) {
  UniqueFd signals(::signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signals.valid()) return SystemError(errno, "signalfd");
  const long long deadline = MonotonicMs() + static_cast<long long>(seconds) * 1000;
  for (;;) {
    WaitOutcome outcome;
    for (PidHolder& holder : FindPidHolders(pids)) {
      if (!holder.free()) outcome.held.push_back(std::move(holder));
    }
    const long long left = deadline - MonotonicMs();
    if (outcome.held.empty() || left <= 0) return outcome;
    Wakers wakers = WakersFor(outcome.held);
    std::vector<pollfd> fds = {{signals.get(), POLLIN, 0}};
    for (const UniqueFd& fd : wakers.pidfds) fds.push_back({fd.get(), POLLIN, 0});
    const long long slice = wakers.bounded ? std::min<long long>(left, kBoundedPollMs) : left;
    // Slices of at most INT_MAX ms: poll's argument is an int.
    const int timeout = static_cast<int>(std::min<long long>(slice, 1 << 30));
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
      return SystemError(errno, "poll");
    }
    signalfd_siginfo info = {};
    if (::read(signals.get(), &info, sizeof info) == sizeof info) {
      outcome.signal = static_cast<int>(info.ssi_signo);
      return outcome;
    }
  }
}

}  // namespace crpid
