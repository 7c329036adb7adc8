// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/temporaries.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <optional>
#include <vector>

#include "src/procfs.h"

namespace crpid {
namespace {

constexpr char kInfix[] = ".crpid-tmp-";
constexpr char kAsideSuffix[] = ".old";
constexpr size_t kRandomLength = 6;
// A tree file is written in pieces of this size, polling between them.
constexpr size_t kWriteChunk = 1 << 20;

// What the holds alive now added to the mask (single-threaded crpid).
uint64_t g_held = 0;

uint64_t KernelMask(int how, uint64_t set) {
  uint64_t old = 0;
  ::syscall(SYS_rt_sigprocmask, how, &set, &old, sizeof set);
  return old;
}

uint64_t CurrentMask() {
  uint64_t old = 0;
  ::syscall(SYS_rt_sigprocmask, SIG_BLOCK, nullptr, &old, sizeof old);
  return old;
}

// The kernel's struct sigaction, for rt_sigaction (glibc's sigaction
// refuses signals 32 and 33).
struct KernelSigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  uint64_t mask;
};

// The terminating signals whose action is the default: an ignored one (nohup
// ignores SIGHUP) or one with a handler does not end crpid.
uint64_t DefaultActionSignals(uint64_t signals) {
  uint64_t found = 0;
  for (int n = 1; n <= 64; ++n) {
    if ((signals & SignalBit(n)) == 0) continue;
    KernelSigaction action = {};
    if (::syscall(SYS_rt_sigaction, n, nullptr, &action, sizeof(uint64_t)) == 0 &&
        action.handler == nullptr) {  // SIG_DFL
      found |= SignalBit(n);
    }
  }
  return found;
}

uint64_t PendingSignals() {
  uint64_t pending = 0;
  if (::syscall(SYS_rt_sigpending, &pending, sizeof pending) != 0) return 0;
  return pending;
}

struct PathParts {
  std::string parent;  // "." when path has no slash
  std::string base;
};

PathParts SplitPath(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

std::string WithoutTrailingSlashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

// "PID.START.PIDNS" of this process; empty (with errno's error) when /proc
// cannot tell.
Result<std::string> MakerId() {
  auto stat = ReadProcessStat(::getpid());
  if (!stat) return stat.error();
  struct stat ns;
  if (::stat("/proc/self/ns/pid", &ns) != 0) {
    return SystemError(errno, "cannot read /proc/self/ns/pid");
  }
  return std::to_string(::getpid()) + "." + std::to_string(stat->start_time) + "." +
         std::to_string(ns.st_ino);
}

std::string RandomSuffix() {
  static constexpr char kLetters[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char bytes[kRandomLength] = {};
  if (::getrandom(bytes, sizeof bytes, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof bytes)) {
    uint64_t mix = static_cast<uint64_t>(::getpid()) * 0x9e3779b97f4a7c15ULL ^
                   static_cast<uint64_t>(::time(nullptr)) ^ reinterpret_cast<uintptr_t>(bytes);
    for (unsigned char& byte : bytes) {
      mix = mix * 6364136223846793005ULL + 1442695040888963407ULL;
      byte = static_cast<unsigned char>(mix >> 56);
    }
  }
  std::string suffix;
  for (unsigned char byte : bytes) suffix += kLetters[byte % (sizeof kLetters - 1)];
  return suffix;
}

// Calls make(path) with fresh names until it does not fail with EEXIST.
template <typename Make>
Result<std::string> MakeNamed(const std::string& destination, const Make& make) {
  auto id = MakerId();
  if (!id) return id.error();
  const std::string prefix = WithoutTrailingSlashes(destination) + kInfix + *id + ".";
  for (int attempt = 0; attempt < 100; ++attempt) {
    const std::string path = prefix + RandomSuffix();
    if (make(path)) return path;
    if (errno != EEXIST) return SystemError(errno, "cannot create " + path);
  }
  return SystemError(EEXIST, "cannot create a temporary beside " + destination);
}

// The maker named by a temporary's name after "BASE.crpid-tmp-":
// "PID.START.PIDNS.XXXXXX", then ".old" for a dump moved aside.
struct Maker {
  pid_t pid = 0;
  uint64_t start_time = 0;
  uint64_t pid_namespace = 0;
  bool aside = false;
};

std::optional<uint64_t> TakeNumber(std::string_view& text) {
  size_t digits = 0;
  while (digits < text.size() && digits < 20 && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  if (digits == 0 || digits >= text.size() || text[digits] != '.') return std::nullopt;
  const uint64_t value = std::strtoull(std::string(text.substr(0, digits)).c_str(), nullptr, 10);
  text.remove_prefix(digits + 1);
  return value;
}

std::optional<Maker> ParseMaker(std::string_view rest) {
  Maker maker;
  auto pid = TakeNumber(rest);
  auto start = TakeNumber(rest);
  auto ns = TakeNumber(rest);
  if (!pid || !start || !ns || *pid == 0 || *pid > 0x7fffffff) return std::nullopt;
  maker.pid = static_cast<pid_t>(*pid);
  maker.start_time = *start;
  maker.pid_namespace = *ns;
  if (rest.size() == kRandomLength + sizeof kAsideSuffix - 1 &&
      rest.substr(kRandomLength) == kAsideSuffix) {
    maker.aside = true;
    rest = rest.substr(0, kRandomLength);
  }
  if (rest.size() != kRandomLength) return std::nullopt;
  for (char c : rest) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
      return std::nullopt;
    }
  }
  return maker;
}

// True only when /proc says for sure that the maker has ended (a zombie
// has too); false when it runs or when /proc cannot tell.
bool MakerHasEnded(const Maker& maker, uint64_t own_namespace) {
  if (maker.pid_namespace != own_namespace || maker.pid == ::getpid()) return false;
  auto stat = ReadProcessStat(maker.pid);
  if (!stat) return stat.error().kind == ErrorKind::kNotFound;
  return stat->start_time != maker.start_time || stat->state == 'Z';
}

// Removes what the directory open at dir_fd holds, with directories at
// most `depth` levels further down; false if something was left.
bool EmptyDirectory(int dir_fd, int depth) {
  const int copy = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return false;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(copy), ::closedir);
  if (!dir) {
    ::close(copy);
    return false;
  }
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(dir.get())) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  bool emptied = true;
  for (const std::string& name : names) {
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      emptied &= errno == ENOENT;
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      emptied &= ::unlinkat(dir_fd, name.c_str(), 0) == 0;
      continue;
    }
    UniqueFd sub(depth > 0 ? ::openat(dir_fd, name.c_str(),
                                      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                           : -1);
    emptied &= sub.valid() && EmptyDirectory(sub.get(), depth - 1) &&
               ::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) == 0;
  }
  return emptied;
}

// Removes name in the directory open at parent_fd (a file, or a directory
// at most two levels deep) without following symlinks; with owner, only if
// it belongs to that uid.
bool RemoveAt(int parent_fd, const std::string& name, std::optional<uid_t> owner) {
  struct stat st;
  if (::fstatat(parent_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return errno == ENOENT;
  if (owner && st.st_uid != *owner) return false;
  if (S_ISREG(st.st_mode)) return ::unlinkat(parent_fd, name.c_str(), 0) == 0;
  if (!S_ISDIR(st.st_mode)) return false;
  UniqueFd dir(::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat opened;
  // What was opened must be what was checked (not swapped in meanwhile).
  if (!dir.valid() || ::fstat(dir.get(), &opened) != 0 || opened.st_ino != st.st_ino ||
      opened.st_dev != st.st_dev) {
    return false;
  }
  return EmptyDirectory(dir.get(), 1) && ::unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) == 0;
}

}  // namespace

bool OnlyOwnerRenamesIn(const struct stat& directory, uid_t caller) {
  if (directory.st_uid != caller && directory.st_uid != 0) return false;
  return (directory.st_mode & (S_IWGRP | S_IWOTH)) == 0 || (directory.st_mode & S_ISVTX) != 0;
}

uint64_t TerminatingSignals() {
  uint64_t set = 0;
  for (int n : {SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGUSR1,
                SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGSTKFLT, SIGXCPU, SIGXFSZ,
                SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGSYS}) {
    set |= SignalBit(n);
  }
  for (int n = 32; n <= 64; ++n) set |= SignalBit(n);
  return set;
}

TerminationHold::TerminationHold() {
  const uint64_t wanted = DefaultActionSignals(TerminatingSignals()) & ~CurrentMask();
  previous_ = KernelMask(SIG_BLOCK, wanted);
  added_ = wanted & ~previous_;
  g_held |= added_;
}

TerminationHold::~TerminationHold() {
  g_held &= ~added_;
  // What arrived meanwhile is delivered here and ends crpid.
  KernelMask(SIG_UNBLOCK, added_);
}

int TerminationHold::Pending() {
  const uint64_t held = PendingSignals() & g_held & CurrentMask();
  if (held == 0) return 0;
  return __builtin_ctzll(held) + 1;
}

Status CheckHeldSignals() {
  const int signal_number = TerminationHold::Pending();
  if (signal_number == 0) return Ok{};
  return Error{ErrorKind::kSystem, EINTR, "interrupted by " + SignalName(signal_number),
               "nothing was saved and nothing was left behind"};
}

std::string SignalName(int signal_number) {
  if (signal_number >= SIGRTMIN && signal_number <= SIGRTMAX) {
    return signal_number == SIGRTMIN ? "SIGRTMIN"
                                     : "SIGRTMIN+" + std::to_string(signal_number - SIGRTMIN);
  }
  if (signal_number == SIGIO) return "SIGIO";  // not its other name, SIGPOLL
  const char* name = ::sigabbrev_np(signal_number);
  return name != nullptr ? std::string("SIG") + name : "SIG" + std::to_string(signal_number);
}

Result<TemporaryFile> CreateTemporaryFile(const std::string& destination) {
  UniqueFd fd;
  auto path = MakeNamed(destination, [&fd](const std::string& candidate) {
    fd.Reset(::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    0666));
    return fd.valid();
  });
  if (!path) return path.error();
  return TemporaryFile{std::move(fd), *path};
}

Result<std::string> CreateTemporaryDirectory(const std::string& destination) {
  return MakeNamed(destination, [](const std::string& candidate) {
    return ::mkdir(candidate.c_str(), 0700) == 0;
  });
}

int RemoveAbandonedTemporaries(const std::string& destination) {
  if (!ProcShowsOwnPidNamespace()) return 0;  // /proc/N would name others
  struct stat ns;
  if (::stat("/proc/self/ns/pid", &ns) != 0) return 0;
  const PathParts parts = SplitPath(destination);
  const std::string prefix = parts.base + kInfix;
  UniqueFd parent(
      ::open(parts.parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!parent.valid()) return 0;
  struct stat parent_st;
  if (::fstat(parent.get(), &parent_st) != 0 ||
      !OnlyOwnerRenamesIn(parent_st, ::geteuid())) {
    return 0;
  }
  const int copy = ::fcntl(parent.get(), F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return 0;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(copy), ::closedir);
  if (!dir) {
    ::close(copy);
    return 0;
  }
  std::vector<std::pair<std::string, Maker>> abandoned;
  while (const dirent* entry = ::readdir(dir.get())) {
    const std::string_view name = entry->d_name;
    if (!name.starts_with(prefix)) continue;
    auto maker = ParseMaker(name.substr(prefix.size()));
    if (maker && MakerHasEnded(*maker, ns.st_ino)) abandoned.emplace_back(name, *maker);
  }
  int removed = 0;
  for (const auto& [name, maker] : abandoned) {
    struct stat st;
    if (maker.aside && ::fstatat(parent.get(), parts.base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 &&
        errno == ENOENT) {
      // Killed between moving the earlier dump aside and the new one in.
      if (::fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() &&
          ::renameat(parent.get(), name.c_str(), parent.get(), parts.base.c_str()) == 0) {
        ++removed;
      }
      continue;
    }
    removed += RemoveAt(parent.get(), name, ::geteuid()) ? 1 : 0;
  }
  return removed;
}

bool RemoveTemporary(const std::string& path) {
  const PathParts parts = SplitPath(path);
  UniqueFd parent(::open(parts.parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return parent.valid() && RemoveAt(parent.get(), parts.base, std::nullopt);
}

bool RemoveDirectoryIfStill(const std::string& path, const struct stat& expected) {
  constexpr int kMaxDepth = 16;
  const PathParts parts = SplitPath(path);
  UniqueFd parent(::open(parts.parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!parent.valid()) return false;
  UniqueFd dir(::openat(parent.get(), parts.base.c_str(),
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat opened;
  if (!dir.valid() || ::fstat(dir.get(), &opened) != 0 || opened.st_ino != expected.st_ino ||
      opened.st_dev != expected.st_dev) {
    return false;
  }
  // What is emptied is the directory opened; the name is only rmdir'ed,
  // which fails for anything swapped in that is not empty.
  return EmptyDirectory(dir.get(), kMaxDepth - 1) &&
         ::unlinkat(parent.get(), parts.base.c_str(), AT_REMOVEDIR) == 0;
}

Status WriteFileAtomically(const std::string& path, std::string_view content) {
  auto failed = [&path](int err) { return SystemError(err, "cannot write " + path); };
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    return Error{ErrorKind::kInvalidInput, 0,
                 "cannot write " + path + ": it exists and is not a regular file",
                 "remove it or choose another path"};
  }
  TerminationHold hold;
  RemoveAbandonedTemporaries(path);
  auto temporary = CreateTemporaryFile(path);
  if (!temporary) return failed(temporary.error().err);
  auto give_up = [&temporary](Error error) {
    ::unlink(temporary->path.c_str());
    return error;
  };
  for (size_t done = 0;;) {
    if (Status go_on = CheckHeldSignals(); !go_on) return give_up(go_on.error());
    if (done == content.size()) break;
    const size_t piece = std::min(kWriteChunk, content.size() - done);
    if (WriteFullyRaw(temporary->fd.get(), content.data() + done, piece) < 0) {
      return give_up(failed(errno));
    }
    done += piece;
  }
  if (::close(temporary->fd.Release()) != 0) return give_up(failed(errno));
  if (::rename(temporary->path.c_str(), path.c_str()) != 0) return give_up(failed(errno));
  return Ok{};
}

}  // namespace crpid
