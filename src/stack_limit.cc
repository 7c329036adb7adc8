// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/stack_limit.h"

#include <sys/auxv.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <string>

namespace crpid {
namespace {

std::string Shown(rlim_t limit) {
  return limit == RLIM_INFINITY ? "unlimited"
                                : std::to_string(limit / 1024) + " KiB";
}

// The parent's RLIMIT_STACK, if the kernel lets crpid read it (the parent
// has crpid's real, effective and saved ids) and it is still the parent
// afterwards (not exited and its PID reused in between).
std::optional<rlimit> ParentStackLimit() {
  const pid_t parent = ::getppid();
  if (parent <= 1) return std::nullopt;
  rlimit limit = {};
  if (::prlimit(parent, RLIMIT_STACK, nullptr, &limit) != 0) return std::nullopt;
  if (::getppid() != parent) return std::nullopt;
  return limit;
}

}  // namespace

Result<rlim_t> ParseStackLimit(std::string_view text) {
  if (text == "unlimited") return RLIM_INFINITY;
  unsigned long long kib = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), kib);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      kib > RLIM_INFINITY / 1024) {
    return Error{ErrorKind::kInvalidInput, 0,
                 std::string(kStackLimitVariable) + "='" +
                     std::string(text.substr(0, 64)) +
                     "' is neither a number of KiB nor 'unlimited'",
                 std::string("set it as `ulimit -s` prints it: export ") +
                     kStackLimitVariable + "=$(ulimit -s)"};
  }
  return static_cast<rlim_t>(kib) * 1024;
}

Result<std::optional<rlim_t>> CallerStackLimit(const StackLimitFacts& facts) {
  if (facts.variable) {
    auto wanted = ParseStackLimit(*facts.variable);
    if (!wanted) return wanted.error();
    if (*wanted > facts.own.rlim_max) {
      return Error{ErrorKind::kInvalidInput, 0,
                   std::string(kStackLimitVariable) + " asks for " +
                       Shown(*wanted) + ", above the hard stack limit (" +
                       Shown(facts.own.rlim_max) + ")",
                   "give at most the hard limit (`ulimit -Hs`)"};
    }
    return std::optional<rlim_t>(*wanted);
  }
  // Only a secure exec clamps, and it leaves exactly _STK_LIM.
  if (!facts.secure_exec || facts.own.rlim_cur != kSecureExecStackLimit ||
      !facts.parent) {
    return std::optional<rlim_t>();
  }
  const rlimit& parent = *facts.parent;
  if (parent.rlim_max != facts.own.rlim_max ||
      parent.rlim_cur <= kSecureExecStackLimit ||
      parent.rlim_cur > facts.own.rlim_max) {
    return std::optional<rlim_t>();
  }
  return std::optional<rlim_t>(parent.rlim_cur);
}

Result<std::optional<rlim_t>> RestoreCallerStackLimit() {
  StackLimitFacts facts;
  if (const char* value = std::getenv(kStackLimitVariable)) facts.variable = value;
  facts.secure_exec = ::getauxval(AT_SECURE) != 0;
  if (::getrlimit(RLIMIT_STACK, &facts.own) != 0) {
    return SystemError(errno, "cannot read RLIMIT_STACK");
  }
  if (!facts.variable && facts.secure_exec) facts.parent = ParentStackLimit();
  auto soft = CallerStackLimit(facts);
  if (!soft || !*soft || **soft == facts.own.rlim_cur) return soft;
  const rlimit limit = {**soft, facts.own.rlim_max};
  if (::setrlimit(RLIMIT_STACK, &limit) != 0) {
    return SystemError(errno, "cannot set the stack limit to " + Shown(**soft));
  }
  return soft;
}

}  // namespace crpid
