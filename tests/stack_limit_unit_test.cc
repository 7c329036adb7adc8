// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/stack_limit.h"

#include <gtest/gtest.h>

namespace crpid {
namespace {

constexpr rlim_t kMiB = 1024 * 1024;

StackLimitFacts SecureExec(rlimit parent) {
  StackLimitFacts facts;
  facts.secure_exec = true;
  facts.own = {kSecureExecStackLimit, RLIM_INFINITY};
  facts.parent = parent;
  return facts;
}

TEST(StackLimit, ParsesWhatUlimitPrints) {
  EXPECT_EQ(*ParseStackLimit("unlimited"), RLIM_INFINITY);
  EXPECT_EQ(*ParseStackLimit("8192"), 8 * kMiB);
  for (const char* bad : {"", "-1", "8M", " 8192", "0x10", "99999999999999999999999"}) {
    EXPECT_FALSE(ParseStackLimit(bad).ok()) << bad;
  }
}

TEST(StackLimit, TheParentsLimitAfterASecureExec) {
  EXPECT_EQ(*CallerStackLimit(SecureExec({RLIM_INFINITY, RLIM_INFINITY})), RLIM_INFINITY);
  EXPECT_EQ(*CallerStackLimit(SecureExec({64 * kMiB, RLIM_INFINITY})), 64 * kMiB);
}

TEST(StackLimit, KeptWhenNothingWasClamped) {
  // A smaller parent limit, another hard limit, no secure exec, a soft
  // limit other than the kernel's clamp, or no parent to read: crpid's own.
  EXPECT_FALSE(*CallerStackLimit(SecureExec({4 * kMiB, RLIM_INFINITY})));
  EXPECT_FALSE(*CallerStackLimit(SecureExec({RLIM_INFINITY - 1, 512 * kMiB})));
  StackLimitFacts plain = SecureExec({RLIM_INFINITY, RLIM_INFINITY});
  plain.secure_exec = false;
  EXPECT_FALSE(*CallerStackLimit(plain));
  StackLimitFacts lowered = SecureExec({RLIM_INFINITY, RLIM_INFINITY});
  lowered.own.rlim_cur = 4 * kMiB;
  EXPECT_FALSE(*CallerStackLimit(lowered));
  StackLimitFacts orphan = SecureExec({});
  orphan.parent.reset();
  EXPECT_FALSE(*CallerStackLimit(orphan));
}

TEST(StackLimit, TheVariableWinsUpToTheHardLimit) {
  StackLimitFacts facts = SecureExec({4 * kMiB, RLIM_INFINITY});
  facts.variable = "unlimited";
  EXPECT_EQ(*CallerStackLimit(facts), RLIM_INFINITY);
  facts.variable = "1024";
  EXPECT_EQ(*CallerStackLimit(facts), 1 * kMiB);
  facts.own.rlim_max = 16 * kMiB;
  facts.variable = "unlimited";
  auto refused = CallerStackLimit(facts);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::kInvalidInput);
  facts.variable = "lots";
  EXPECT_FALSE(CallerStackLimit(facts).ok());
}

}  // namespace
}  // namespace crpid
