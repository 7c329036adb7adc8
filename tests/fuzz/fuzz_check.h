// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// A property a fuzz target checks on what a parser returned: when it does
// not hold, the input is a finding, as a crash is (abort, so that libFuzzer
// saves it and the replay fails).
#ifndef CRPID_TESTS_FUZZ_FUZZ_CHECK_H_
#define CRPID_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                             \
  do {                                                                    \
    if (!(condition)) {                                                   \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__,    \
                   __LINE__, #condition);                                 \
      std::abort();                                                       \
    }                                                                     \
  } while (0)

#endif  // CRPID_TESTS_FUZZ_FUZZ_CHECK_H_
