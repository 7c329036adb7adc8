// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// The ELF reader set-mm uses on PROGRAM and its interpreter (OpenElfImage):
// the file checks, the ELF header, the program headers, PT_INTERP, and the
// bounds every PT_LOAD must keep, which set-mm's later arithmetic (spans,
// brk, the overlap check with what the trampoline keeps) relies on.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "src/elf_image.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/memfd_file.h"

namespace {

constexpr uint64_t kUserSpaceEnd = 0x7ffffffff000;  // x86_64 TASK_SIZE

void CheckImage(const crpid::ElfImage& image, uint64_t file_size) {
  FUZZ_CHECK(image.fd.valid());
  FUZZ_CHECK(!image.segments.empty());
  FUZZ_CHECK(image.phnum > 0);
  for (const crpid::LoadSegment& segment : image.segments) {
    FUZZ_CHECK(segment.filesz <= segment.memsz);
    FUZZ_CHECK(segment.vaddr < kUserSpaceEnd && segment.memsz < kUserSpaceEnd);
    FUZZ_CHECK(segment.vaddr + segment.memsz <= kUserSpaceEnd);
    FUZZ_CHECK(segment.offset + segment.filesz <= file_size);
    FUZZ_CHECK(segment.vaddr % 4096 == segment.offset % 4096);
  }
  FUZZ_CHECK(image.min_vaddr <= image.max_vaddr);
  FUZZ_CHECK(image.max_vaddr <= kUserSpaceEnd);
  FUZZ_CHECK(image.min_vaddr % 4096 == 0 && image.max_vaddr % 4096 == 0);
  FUZZ_CHECK(std::strlen(image.interpreter.c_str()) == image.interpreter.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static crpid::fuzz::MemfdFile* file = new crpid::fuzz::MemfdFile();
  file->Fill(data, size);
  auto image = crpid::OpenElfImage(file->path());
  if (image) {
    CheckImage(*image, size);
  } else {
    // Refusals only: the file itself is a regular file the caller may run.
    FUZZ_CHECK(image.error().kind == crpid::ErrorKind::kInvalidInput);
  }
  return 0;
}
