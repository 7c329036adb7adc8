// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// CRPID_RLIMIT_STACK, a variable of the caller's environment read while
// crpid holds its capability (ParseStackLimit), and the decision made from
// it (CallerStackLimit) under a few hard limits.
#include <sys/resource.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/stack_limit.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = crpid::ParseStackLimit(text);
  if (parsed) FUZZ_CHECK(*parsed == RLIM_INFINITY || *parsed % 1024 == 0);
  // One readable error line, whatever the variable's length.
  if (!parsed) FUZZ_CHECK(parsed.error().message.size() + parsed.error().hint.size() < 256);
  for (rlim_t hard : {crpid::kSecureExecStackLimit, rlim_t{1} << 30, RLIM_INFINITY}) {
    crpid::StackLimitFacts facts;
    facts.variable = text;
    facts.secure_exec = true;
    facts.own = {crpid::kSecureExecStackLimit, hard};
    auto soft = crpid::CallerStackLimit(facts);
    FUZZ_CHECK(soft.ok() == (parsed.ok() && *parsed <= hard));
    // Never above the hard limit: raising the soft one grants nothing.
    if (soft && *soft) FUZZ_CHECK(**soft <= hard);
  }
  return 0;
}
