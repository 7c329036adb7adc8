// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// /proc/PID/maps as crpid reads it (ReadMaps → ParseMaps), each mapping then
// classified, named and selected as map-files-dump does. The path field
// holds file names a user chose (escaped by the kernel only for '\n').
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/map_files_dump.h"
#include "src/proc_maps.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto mappings = crpid::ParseMaps(text);
  if (!mappings) {
    FUZZ_CHECK(mappings.error().kind == crpid::ErrorKind::kInvalidInput);
    return 0;
  }
  for (const crpid::Mapping& mapping : *mappings) {
    // A mapping is an address range: map-files-dump names its map_files
    // entry "start-end" and sizes windows by end - start.
    FUZZ_CHECK(mapping.start <= mapping.end);
    FUZZ_CHECK(!mapping.MapFilesName().empty());
    FUZZ_CHECK(!mapping.DeviceText().empty());
    FUZZ_CHECK(crpid::MappingKindName(mapping.kind) != nullptr);
    const bool unreachable = crpid::ReachableOnlyThroughMapFiles(mapping.kind);
    FUZZ_CHECK(crpid::Selects(crpid::DumpSelection::kUnreachable, mapping.kind) ==
               unreachable);
    crpid::Selects(crpid::DumpSelection::kDeleted, mapping.kind);
    crpid::Selects(crpid::DumpSelection::kMemfd, mapping.kind);
    crpid::Selects(crpid::DumpSelection::kAll, mapping.kind);
  }
  return 0;
}
