// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// /proc/PID/stat as crpid reads it (ReadStatFields → ParseStatFields, then
// ProcessStatOf as ReadProcessStat does). Field 2, comm, is the process's
// name: any byte but NUL, ')' and spaces included, chosen by its owner.
#include <cstddef>
#include <cstdint>
#include <string>

#include "src/procfs.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto fields = crpid::ParseStatFields(text, "fuzz");
  if (!fields) return 0;
  // Slots 1-3 always exist: set-mm and map-files-dump index from 3 on.
  FUZZ_CHECK(fields->size() >= 4);
  auto stat = crpid::ProcessStatOf(*fields, "fuzz");
  FUZZ_CHECK(stat.ok() == (fields->size() > 22));
  return 0;
}
