// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/process_tree.h"

#include <dirent.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <map>
#include <new>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "src/procfs.h"
#include "src/unique_fd.h"

namespace crpid {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

// What one /proc/PID/stat line says about a process's place in the tree.
struct StatEntry {
  pid_t ppid = 0;
  pid_t pgid = 0;
  pid_t sid = 0;
  uint64_t start_time = 0;
  char state = '?';
  std::string comm;
  bool operator==(const StatEntry& other) const {
    return ppid == other.ppid && pgid == other.pgid && sid == other.sid &&
           start_time == other.start_time && comm == other.comm;
  }
};

using Snapshot = std::map<pid_t, StatEntry>;

// "pid (comm) state ppid pgrp session … starttime(22) …"; comm may hold
// spaces and ')', so the fields start after the last ')'.
std::optional<StatEntry> ParseStatLine(const std::string& text) {
  const size_t open = text.find('(');
  const size_t close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open ||
      close + 2 >= text.size()) {
    return std::nullopt;
  }
  StatEntry entry;
  entry.comm = text.substr(open + 1, close - open - 1);
  entry.state = text[close + 2];
  const char* cursor = text.c_str() + close + 3;
  std::vector<unsigned long long> fields;  // from field 4 on
  while (fields.size() < 19) {
    char* end = nullptr;
    const unsigned long long value = std::strtoull(cursor, &end, 10);
    if (end == cursor) return std::nullopt;
    fields.push_back(value);
    cursor = end;
  }
  entry.ppid = static_cast<pid_t>(fields[0]);
  entry.pgid = static_cast<pid_t>(fields[1]);
  entry.sid = static_cast<pid_t>(fields[2]);
  entry.start_time = fields[18];
  return entry;
}

bool IsProcfs(const char* path) {
  struct statfs filesystem = {};
  return ::statfs(path, &filesystem) == 0 && filesystem.f_type == PROC_SUPER_MAGIC;
}

// Errors that tell nothing about the process read but that crpid ran out of
// descriptors or memory (ulimit -n 4): never to be taken for "it is gone".
bool RanShortItself(const Error& error) {
  return error.err == EMFILE || error.err == ENFILE || error.err == ENOMEM;
}

// Every process /proc lists now. Processes that end while being read are
// left out: the second read of the tree notices.
Result<Snapshot> ReadSnapshot() {
  std::unique_ptr<DIR, int (*)(DIR*)> proc(::opendir("/proc"), ::closedir);
  if (!proc) return SystemError(errno, "cannot list /proc");
  Snapshot snapshot;
  errno = 0;
  while (const dirent* entry = ::readdir(proc.get())) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    auto text = ReadFileToString("/proc/" + std::string(entry->d_name) + "/stat");
    if (!text && RanShortItself(text.error())) return text.error();
    if (!text) continue;
    if (auto stat = ParseStatLine(*text)) snapshot[static_cast<pid_t>(pid)] = *stat;
  }
  return snapshot;
}

// The tree rooted at root in a snapshot, parents before children.
std::vector<pid_t> TreeOrder(const Snapshot& snapshot, pid_t root) {
  std::map<pid_t, std::vector<pid_t>> children;
  for (const auto& [pid, entry] : snapshot) {
    if (pid != root) children[entry.ppid].push_back(pid);
  }
  std::vector<pid_t> order;
  std::vector<pid_t> stack = {root};
  while (!stack.empty()) {
    const pid_t pid = stack.back();
    stack.pop_back();
    order.push_back(pid);
    auto found = children.find(pid);
    if (found == children.end()) continue;
    // Pushed in reverse so that children come out in PID order.
    for (auto it = found->second.rbegin(); it != found->second.rend(); ++it) {
      stack.push_back(*it);
    }
  }
  return order;
}

bool SameTree(const Snapshot& before, const Snapshot& after,
              const std::vector<pid_t>& order, pid_t root) {
  if (TreeOrder(after, root) != order) return false;
  for (pid_t pid : order) {
    auto a = before.find(pid);
    auto b = after.find(pid);
    if (a == before.end() || b == after.end() || !(a->second == b->second)) return false;
  }
  return true;
}

std::vector<std::string> SplitNul(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\0', start);
    if (end == std::string::npos) end = text.size();
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// "Name:\tvalue…" of /proc/PID/status, or "" when absent.
std::string StatusField(const std::string& status, const std::string& name) {
  const std::string key = "\n" + name + ":";
  size_t at = ("\n" + status).find(key);
  if (at == std::string::npos) return {};
  at += name.size() + 1;  // position after ':' in status
  const size_t end = status.find('\n', at);
  return status.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

std::vector<long> Numbers(const std::string& text) {
  std::vector<long> numbers;
  const char* cursor = text.c_str();
  for (;;) {
    char* end = nullptr;
    const long value = std::strtol(cursor, &end, 10);
    if (end == cursor) break;
    numbers.push_back(value);
    cursor = end;
  }
  return numbers;
}

std::optional<std::string> ReadLinkAt(const std::string& path, int& err) {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  if (n < 0) {
    err = errno;
    return std::nullopt;
  }
  return std::string(buf, static_cast<size_t>(n));
}

// Fills the details of one process. false: the process is gone (the tree
// changed); what /proc refuses is listed in `unreadable`. An error: a /proc
// file holds more than its bound (a process can point its argument range
// at any of its memory with PR_SET_MM_MAP), or crpid itself ran short
// (RanShortItself).
Result<bool> ReadDetails(const StatEntry& stat, pid_t pid, TreeProcess& process) {
  const std::string dir = "/proc/" + std::to_string(pid);
  process.pid = pid;
  process.ppid = stat.ppid;
  process.pgid = stat.pgid;
  process.sid = stat.sid;
  process.state = stat.state;
  process.comm = stat.comm;
  process.start_time = stat.start_time;
  auto status = ReadFileToString(dir + "/status");
  if (!status && RanShortItself(status.error())) return status.error();
  if (!status) return false;
  if (auto uids = Numbers(StatusField(*status, "Uid")); !uids.empty()) {
    process.uid = static_cast<uid_t>(uids[0]);
  }
  for (long id : Numbers(StatusField(*status, "NSpid"))) {
    process.nspid.push_back(static_cast<pid_t>(id));
  }
  if (auto threads = Numbers(StatusField(*status, "Threads")); !threads.empty()) {
    process.threads = static_cast<int>(threads[0]);
  }
  // execve takes at most 6 MiB of arguments and environment (kernel 4.13+).
  auto cmdline = ReadFileToString(dir + "/cmdline", 8u << 20);
  if (!cmdline && RanShortItself(cmdline.error())) return cmdline.error();
  if (!cmdline && cmdline.error().err == ESRCH) return false;
  if (!cmdline && cmdline.error().err == EFBIG) {
    Error error = cmdline.error();
    error.hint = "its argument range is larger than execve allows; save a subtree without it";
    return error;
  }
  if (cmdline) {
    process.argv = SplitNul(*cmdline);
  } else {
    process.unreadable.push_back("argv");
  }
  for (const char* link : {"cwd", "exe"}) {
    int err = 0;
    auto target = ReadLinkAt(dir + "/" + link, err);
    if (!target && (err == ENOENT || err == ESRCH) && stat.state != 'Z' &&
        ::access(dir.c_str(), F_OK) != 0) {
      return false;
    }
    if (!target && stat.state != 'Z') process.unreadable.push_back(link);
    (link[0] == 'c' ? process.cwd : process.exe) = target;
  }
  return true;
}

// --- JSON ---------------------------------------------------------------

// nlohmann refuses to write invalid UTF-8 (an exception): ask it first.
bool IsUtf8(const std::string& text) {
  try {
    (void)Json(text).dump();
  } catch (const Json::exception&) {
    return false;
  }
  return true;
}

// Bytes that are not UTF-8 (argv may hold anything) go out as {"hex": …}.
OrderedJson EncodeBytes(const std::string& bytes) {
  if (IsUtf8(bytes)) return bytes;
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : bytes) {
    hex += kDigits[c >> 4];
    hex += kDigits[c & 15];
  }
  return OrderedJson{{"hex", hex}};
}

OrderedJson EncodeList(const std::vector<std::string>& list) {
  OrderedJson array = OrderedJson::array();
  for (const std::string& item : list) array.push_back(EncodeBytes(item));
  return array;
}

}  // namespace

Result<ProcessTree> ReadProcessTree(pid_t root, int attempts) {
  if (!IsProcfs("/proc")) {
    return Error{ErrorKind::kSystem, 0, "/proc is not procfs",
                 "run crpid where /proc is the kernel's"};
  }
  if (!ProcShowsOwnPidNamespace()) {
    return Error{ErrorKind::kSystem, 0,
                 "/proc belongs to another PID namespace than crpid's",
                 "mount a /proc of this namespace (unshare --mount-proc)"};
  }
  for (int attempt = 0; attempt < attempts; ++attempt) {
    auto before = ReadSnapshot();
    if (!before) return before.error();
    if (before->count(root) == 0) {
      return Error{ErrorKind::kNotFound, ESRCH, "no process with PID " + std::to_string(root),
                   "give the PID of a running process"};
    }
    ProcessTree tree;
    tree.root = root;
    const std::vector<pid_t> order = TreeOrder(*before, root);
    if (order.size() > kMaxTreeProcesses) {
      return Error{ErrorKind::kInvalidInput, 0,
                   "the tree under PID " + std::to_string(root) + " has " +
                       std::to_string(order.size()) + " processes, more than " +
                       std::to_string(kMaxTreeProcesses),
                   "save a smaller subtree"};
    }
    bool complete = true;
    for (pid_t pid : order) {
      TreeProcess process;
      auto read = ReadDetails(before->at(pid), pid, process);
      if (!read) return read.error();
      if (!*read) {
        complete = false;
        break;
      }
      tree.processes.push_back(std::move(process));
    }
    if (!complete) continue;
    auto after = ReadSnapshot();
    if (!after) return after.error();
    if (SameTree(*before, *after, order, root)) return tree;
  }
  return Error{ErrorKind::kBusy, 0,
               "the tree under PID " + std::to_string(root) + " changed each of the " +
                   std::to_string(attempts) + " times it was read",
               "save it when it is quiet (stop it with 'kill -STOP' first, or retry)"};
}

std::string ProcessTreeToJson(const ProcessTree& tree) {
  OrderedJson processes = OrderedJson::array();
  for (const TreeProcess& p : tree.processes) {
    OrderedJson entry;
    entry["pid"] = p.pid;
    entry["nspid"] = p.nspid;
    entry["ppid"] = p.ppid;
    entry["pgid"] = p.pgid;
    entry["sid"] = p.sid;
    if (p.uid) entry["uid"] = *p.uid;
    entry["state"] = std::string(1, p.state);
    entry["comm"] = EncodeBytes(p.comm);
    entry["argv"] = EncodeList(p.argv);
    entry["cwd"] = p.cwd ? EncodeBytes(*p.cwd) : OrderedJson(nullptr);
    entry["exe"] = p.exe ? EncodeBytes(*p.exe) : OrderedJson(nullptr);
    entry["threads"] = p.threads;
    entry["start_time"] = p.start_time;
    if (p.command) entry["command"] = EncodeList(*p.command);
    if (!p.env.empty()) entry["env"] = EncodeList(p.env);
    if (!p.unreadable.empty()) entry["unreadable"] = p.unreadable;
    processes.push_back(std::move(entry));
  }
  OrderedJson document;
  document["format"] = kProcessTreeFormat;
  document["version"] = kProcessTreeVersion;
  document["root"] = tree.root;
  document["note"] =
      "threads are recorded but not recreated: each command starts with one";
  document["processes"] = std::move(processes);
  return document.dump(2) + "\n";
}

namespace {

std::string EntryName(const ProcessTree& tree, size_t index) {
  return "processes[" + std::to_string(index) + "] (PID " +
         std::to_string(tree.processes[index].pid) + ")";
}

}  // namespace

Status CheckEntriesAreCallers(const ProcessTree& tree, const std::vector<uid_t>& caller_uids) {
  const uid_t caller = caller_uids.empty() ? ::getuid() : caller_uids.front();
  for (size_t i = 0; i < tree.processes.size(); ++i) {
    const TreeProcess& p = tree.processes[i];
    if (!p.uid || std::find(caller_uids.begin(), caller_uids.end(), *p.uid) != caller_uids.end()) {
      continue;
    }
    return Error{ErrorKind::kPermission, 0,
                 EntryName(tree, i) + " was uid " + std::to_string(*p.uid) +
                     "'s process, not yours (uid " + std::to_string(caller) +
                     "): its recorded command would run as you",
                 "remove it from the file, or pass --run-others-commands-as-me if you "
                 "mean to run it"};
  }
  return Ok{};
}

Status CheckNoNestedPidNamespaces(const ProcessTree& tree) {
  for (size_t i = 0; i < tree.processes.size(); ++i) {
    const TreeProcess& p = tree.processes[i];
    if (p.nspid.size() <= 1) continue;
    std::string ids;
    for (pid_t id : p.nspid) ids += (ids.empty() ? "" : " ") + std::to_string(id);
    return Error{ErrorKind::kInvalidInput, 0,
                 EntryName(tree, i) + " ran in a nested PID namespace (NSpid " + ids +
                     "); crpid recreates PIDs in its own namespace only",
                 "restore such a subtree with its inner PIDs from a crpid run inside "
                 "'unshare -Urpf --mount-proc', or pass --flatten-pid-namespaces to "
                 "recreate it at PID " + std::to_string(p.pid) + " here, without the namespace"};
  }
  return Ok{};
}

const std::vector<std::string>& CommandOf(const TreeProcess& process) {
  return process.command ? *process.command : process.argv;
}

namespace {

// --- validation of a user-supplied tree file ---------------------------

Error Invalid(const std::string& what) {
  return Error{ErrorKind::kInvalidInput, 0, what,
               "fix the file (crpid tree save writes a valid one)"};
}

std::string Where(size_t index, const Json& entry) {
  std::string where = "processes[" + std::to_string(index) + "]";
  auto pid = entry.find("pid");
  if (pid != entry.end() && pid->is_number_integer()) {
    where += " (PID " + std::to_string(pid->get<long long>()) + ")";
  }
  return where;
}

// An integer field within [low, high].
Result<long long> IntegerField(const Json& entry, const char* name, long long low,
                               long long high, const std::string& where,
                               std::optional<long long> fallback = std::nullopt) {
  auto found = entry.find(name);
  if (found == entry.end()) {
    if (fallback) return *fallback;
    return Invalid(where + " has no \"" + name + "\"");
  }
  if (!found->is_number_integer()) {
    return Invalid(where + ": \"" + name + "\" is not an integer");
  }
  const long long value = found->is_number_unsigned()
                              ? static_cast<long long>(std::min<uint64_t>(
                                    found->get<uint64_t>(), LLONG_MAX))
                              : found->get<long long>();
  if (value < low || value > high) {
    return Invalid(where + ": \"" + name + "\" is " + std::to_string(value) +
                   ", not in " + std::to_string(low) + ".." + std::to_string(high));
  }
  return value;
}

Result<std::string> DecodeBytes(const Json& value, const std::string& what) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.size() == 1 && value.contains("hex") &&
      value["hex"].is_string()) {
    const std::string hex = value["hex"].get<std::string>();
    if (hex.size() % 2 != 0) return Invalid(what + ": odd-length hex");
    std::string bytes;
    for (size_t i = 0; i < hex.size(); i += 2) {
      auto digit = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      const int high = digit(hex[i]), low = digit(hex[i + 1]);
      if (high < 0 || low < 0) return Invalid(what + ": not hex");
      bytes += static_cast<char>(high * 16 + low);
    }
    return bytes;
  }
  return Invalid(what + " is neither a string nor {\"hex\": …}");
}

// A string without NUL bytes (the kernel's strings end at NUL).
Result<std::string> CString(const Json& value, const std::string& what, size_t max) {
  auto bytes = DecodeBytes(value, what);
  if (!bytes) return bytes;
  if (bytes->find('\0') != std::string::npos) return Invalid(what + " contains a NUL byte");
  if (bytes->size() > max) {
    return Invalid(what + " is longer than " + std::to_string(max) + " bytes");
  }
  return bytes;
}

Result<std::vector<std::string>> StringList(const Json& entry, const char* name,
                                            const std::string& where, size_t max_entries,
                                            size_t& bytes) {
  const std::string what = where + ": \"" + name + "\"";
  const Json& list = entry.at(name);
  if (!list.is_array()) return Invalid(what + " is not an array");
  if (list.size() > max_entries) {
    return Invalid(what + " has more than " + std::to_string(max_entries) + " entries");
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < list.size(); ++i) {
    auto item = CString(list[i], what + "[" + std::to_string(i) + "]", kMaxArgvBytes);
    if (!item) return item.error();
    bytes += item->size() + 1;
    if (bytes > kMaxArgvBytes) {
      return Invalid(what + ": arguments and environment exceed " +
                     std::to_string(kMaxArgvBytes >> 20) + " MiB");
    }
    out.push_back(std::move(*item));
  }
  return out;
}

Status ReadIds(const Json& entry, const std::string& where, TreeProcess& p) {
  constexpr long long kMaxPid = 4194304;  // the kernel's PID_MAX_LIMIT
  auto pid = IntegerField(entry, "pid", 1, kMaxPid, where);
  if (!pid) return pid.error();
  auto ppid = IntegerField(entry, "ppid", 0, kMaxPid, where);
  if (!ppid) return ppid.error();
  // 0: led from outside the reader's PID namespace.
  auto pgid = IntegerField(entry, "pgid", 0, kMaxPid, where);
  if (!pgid) return pgid.error();
  auto sid = IntegerField(entry, "sid", 0, kMaxPid, where);
  if (!sid) return sid.error();
  if (entry.contains("uid")) {
    auto uid = IntegerField(entry, "uid", 0, UINT32_MAX - 1, where);
    if (!uid) return uid.error();
    p.uid = static_cast<uid_t>(*uid);
  }
  auto threads = IntegerField(entry, "threads", 0, INT_MAX, where, 1);
  if (!threads) return threads.error();
  auto start = IntegerField(entry, "start_time", 0, LLONG_MAX, where, 0);
  if (!start) return start.error();
  p.pid = static_cast<pid_t>(*pid);
  p.ppid = static_cast<pid_t>(*ppid);
  p.pgid = static_cast<pid_t>(*pgid);
  p.sid = static_cast<pid_t>(*sid);
  p.threads = static_cast<int>(*threads);
  p.start_time = static_cast<uint64_t>(*start);
  if (auto nspid = entry.find("nspid"); nspid != entry.end()) {
    if (!nspid->is_array() || nspid->size() > 32) {
      return Invalid(where + ": \"nspid\" is not an array of at most 32 PIDs");
    }
    for (const Json& id : *nspid) {
      if (!id.is_number_integer() || id.get<long long>() < 1 || id.get<long long>() > kMaxPid) {
        return Invalid(where + ": \"nspid\" holds something other than a PID");
      }
      p.nspid.push_back(static_cast<pid_t>(id.get<long long>()));
    }
  }
  return Ok{};
}

Status ReadStrings(const Json& entry, const std::string& where, TreeProcess& p) {
  for (const char* name : {"comm", "state"}) {
    if (auto found = entry.find(name); found != entry.end()) {
      auto text = CString(*found, where + ": \"" + name + "\"", 64);
      if (!text) return text.error();
      if (name[0] == 'c') p.comm = *text;
      else if (!text->empty()) p.state = (*text)[0];
    }
  }
  for (const char* name : {"cwd", "exe"}) {
    auto found = entry.find(name);
    if (found == entry.end() || found->is_null()) continue;
    auto path = CString(*found, where + ": \"" + name + "\"", kMaxPathBytes);
    if (!path) return path.error();
    if (path->empty() || (*path)[0] != '/') {
      return Invalid(where + ": \"" + name + "\" is not an absolute path");
    }
    (name[0] == 'c' ? p.cwd : p.exe) = *path;
  }
  size_t bytes = 0;
  if (entry.contains("argv")) {
    auto argv = StringList(entry, "argv", where, kMaxArgvEntries, bytes);
    if (!argv) return argv.error();
    p.argv = std::move(*argv);
  }
  bytes = 0;
  if (entry.contains("command")) {
    auto command = StringList(entry, "command", where, kMaxArgvEntries, bytes);
    if (!command) return command.error();
    if (command->empty() || (*command)[0].empty()) {
      return Invalid(where + ": \"command\" is empty");
    }
    p.command = std::move(*command);
  }
  if (entry.contains("env")) {
    auto env = StringList(entry, "env", where, kMaxEnvEntries, bytes);
    if (!env) return env.error();
    for (const std::string& variable : *env) {
      if (variable.find('=') == std::string::npos || variable[0] == '=') {
        return Invalid(where + ": \"env\" entry '" + variable + "' is not NAME=VALUE");
      }
    }
    p.env = std::move(*env);
  }
  if (auto found = entry.find("unreadable"); found != entry.end() && found->is_array()) {
    for (const Json& name : *found) {
      if (name.is_string() && p.unreadable.size() < 8) p.unreadable.push_back(name.get<std::string>());
    }
  }
  return Ok{};
}

Result<TreeProcess> ReadEntry(const Json& entry, size_t index) {
  const std::string where = Where(index, entry);
  if (!entry.is_object()) return Invalid(where + " is not an object");
  TreeProcess p;
  if (Status ids = ReadIds(entry, where, p); !ids) return ids.error();
  if (Status strings = ReadStrings(entry, where, p); !strings) return strings.error();
  return p;
}

// Every process but the root has its parent in the tree, and following
// parents from any process reaches the root.
Status CheckParentage(const ProcessTree& tree) {
  std::map<pid_t, pid_t> parent;
  for (const TreeProcess& p : tree.processes) parent[p.pid] = p.ppid;
  if (parent.count(tree.root) == 0) {
    return Invalid("the root PID " + std::to_string(tree.root) + " is not in \"processes\"");
  }
  if (parent.count(parent[tree.root]) != 0) {
    return Invalid("the root PID " + std::to_string(tree.root) + " has its parent PID " +
                   std::to_string(parent[tree.root]) + " inside the tree (a cycle)");
  }
  for (const TreeProcess& p : tree.processes) {
    if (p.pid == tree.root) continue;
    if (parent.count(p.ppid) == 0) {
      return Invalid("PID " + std::to_string(p.pid) + " names parent PID " +
                     std::to_string(p.ppid) +
                     ", which is not in the tree (only the root's parent may be outside)");
    }
  }
  // Every chain of parents reaches the root: walked once per process in
  // all (a chain stops at a process already known to reach it), not once
  // per process and step, which a 16,384-deep chain made take seconds.
  std::set<pid_t> reaches_root = {tree.root};
  for (const TreeProcess& p : tree.processes) {
    std::vector<pid_t> chain;
    for (pid_t at = p.pid; reaches_root.count(at) == 0; at = parent[at]) {
      if (chain.size() > tree.processes.size()) {
        return Invalid("the parents of PID " + std::to_string(p.pid) +
                       " form a cycle that never reaches the root");
      }
      chain.push_back(at);
    }
    reaches_root.insert(chain.begin(), chain.end());
  }
  return Ok{};
}

Result<ProcessTree> ParseDocument(const Json& document) {
  if (!document.is_object()) return Invalid("the file is not a JSON object");
  auto format = document.find("format");
  if (format == document.end() || !format->is_string() ||
      format->get<std::string>() != kProcessTreeFormat) {
    return Invalid(std::string("the file is not a crpid process tree (\"format\" is not \"") +
                   kProcessTreeFormat + "\")");
  }
  auto version = IntegerField(document, "version", 1, INT_MAX, "the file");
  if (!version) return version.error();
  if (*version != kProcessTreeVersion) {
    return Error{ErrorKind::kInvalidInput, 0,
                 "the file has format version " + std::to_string(*version) +
                     "; this crpid reads version " + std::to_string(kProcessTreeVersion),
                 "use the crpid that wrote it"};
  }
  auto root = IntegerField(document, "root", 1, 4194304, "the file");
  if (!root) return root.error();
  auto processes = document.find("processes");
  if (processes == document.end() || !processes->is_array() || processes->empty()) {
    return Invalid("\"processes\" is not a non-empty array");
  }
  if (processes->size() > kMaxTreeProcesses) {
    return Invalid("\"processes\" has " + std::to_string(processes->size()) +
                   " entries, more than " + std::to_string(kMaxTreeProcesses));
  }
  ProcessTree tree;
  tree.root = static_cast<pid_t>(*root);
  std::set<pid_t> seen;
  for (size_t i = 0; i < processes->size(); ++i) {
    auto entry = ReadEntry((*processes)[i], i);
    if (!entry) return entry.error();
    if (!seen.insert(entry->pid).second) {
      return Invalid("PID " + std::to_string(entry->pid) + " appears twice");
    }
    tree.processes.push_back(std::move(*entry));
  }
  if (Status parentage = CheckParentage(tree); !parentage) return parentage.error();
  return tree;
}

}  // namespace

namespace {

// No tree file nests deeper than its hex-encoded argv entries (depth 4).
constexpr size_t kMaxJsonDepth = 32;

// Where the parser is, for the message: "processes[3].argv".
struct JsonFrame {
  bool object = false;
  std::set<std::string> keys;  // objects: the keys seen so far
  std::string key;             // objects: the current one
  size_t elements = 0;         // arrays: the elements started so far
};

// A SAX pass over the text before it is parsed for real: refuses a key
// given twice in one object (nlohmann keeps the last silently, so a reader
// of the file and crpid could see different PIDs or commands) and nesting
// deeper than kMaxJsonDepth. Builds nothing (the callback form of
// nlohmann's DOM parser made a 16,384-process file 5x slower to read).
class StrictJsonCheck {
 public:
  using Number = Json::number_integer_t;
  using Unsigned = Json::number_unsigned_t;
  using Float = Json::number_float_t;

  bool null() { return Value(); }
  bool boolean(bool) { return Value(); }
  bool number_integer(Number) { return Value(); }
  bool number_unsigned(Unsigned) { return Value(); }
  bool number_float(Float, const std::string&) { return Value(); }
  bool string(std::string&) { return Value(); }
  bool binary(Json::binary_t&) { return Value(); }
  bool start_object(size_t) { return Start(true); }
  bool start_array(size_t) { return Start(false); }
  bool end_object() { return End(); }
  bool end_array() { return End(); }
  bool key(std::string& key) {
    JsonFrame& frame = frames_.back();
    frame.key = key;
    if (!frame.keys.insert(key).second) {
      refusal_ = "the key \"" + Path() + "\" is given twice (which one counts is ambiguous)";
      return false;
    }
    return true;
  }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;  // the real parse says "not valid JSON"
  }

  // Empty when nothing was refused.
  const std::string& refusal() const { return refusal_; }

 private:
  bool Value() {
    if (!frames_.empty() && !frames_.back().object) ++frames_.back().elements;
    return true;
  }
  bool Start(bool object) {
    if (frames_.size() >= kMaxJsonDepth) {
      refusal_ = "the file nests deeper than " + std::to_string(kMaxJsonDepth) + " levels";
      return false;
    }
    Value();
    frames_.push_back(JsonFrame{object, {}, {}, 0});
    return true;
  }
  bool End() {
    frames_.pop_back();
    return true;
  }
  std::string Path() const {
    std::string path;
    for (const JsonFrame& frame : frames_) {
      if (frame.object && !frame.key.empty()) {
        // A key may be megabytes long: the one error line stays short.
        constexpr size_t kShown = 64;
        path += (path.empty() ? "" : ".") + frame.key.substr(0, kShown) +
                (frame.key.size() > kShown ? "…" : "");
      } else if (!frame.object && frame.elements > 0) {
        path += "[" + std::to_string(frame.elements - 1) + "]";
      }
    }
    return path;
  }

  std::vector<JsonFrame> frames_;
  std::string refusal_;
};

}  // namespace

Result<ProcessTree> ParseProcessTree(std::string_view text) {
  if (text.size() > kMaxTreeFileBytes) {
    return Invalid("the file is larger than " + std::to_string(kMaxTreeFileBytes >> 20) +
                   " MiB");
  }
  try {
    StrictJsonCheck check;
    Json::sax_parse(text.begin(), text.end(), &check);
    if (!check.refusal().empty()) return Invalid(check.refusal());
    Json document = Json::parse(text.begin(), text.end(), nullptr, false);
    if (document.is_discarded()) return Invalid("the file is not valid JSON");
    return ParseDocument(document);
  } catch (const Json::exception& error) {
    // Not expected after the type checks; hostile input must not abort.
    return Invalid(std::string("the file is malformed: ") + error.what());
  } catch (const std::bad_alloc&) {
    // 20 MiB of nested arrays take about 760 MiB as a JSON value.
    return Error{ErrorKind::kInvalidInput, ENOMEM, "the file needs more memory than this "
                 "process may have to be read", "check the file, or raise ulimit -v"};
  }
}

}  // namespace crpid
