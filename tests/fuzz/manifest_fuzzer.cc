// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// A dump's manifest as `map-files-dump --verify` reads it (VerifyDump): the
// bounded read, the JSON parse, the format and type checks, the saved-name
// check that keeps every name inside the dump, then the checksum of each
// file named. The manifest is hostile input: whoever hands a dump to
// --verify wrote it. Each input becomes manifest.json in a dump directory
// whose files/ holds the files of a real dump (manifest_dump/files, whose
// manifest is in the seed corpus), so a valid name reaches a real file.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "src/map_files_dump.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace fs = std::filesystem;

// The saved files of a real dump: beside the fuzzer in its runfiles
// (Bazel's test or scripts/fuzz.sh) or from the working directory.
fs::path DumpFilesSource(const char* argv0) {
  const fs::path relative = "tests/fuzz/manifest_dump/files";
  for (const fs::path& root : {fs::path("."), fs::path(std::string(argv0) + ".runfiles/crpid")}) {
    if (fs::is_directory(root / relative)) return root / relative;
  }
  std::fprintf(stderr, "manifest_fuzzer: cannot find %s\n", relative.c_str());
  std::abort();
}

std::string g_dump;        // the dump directory VerifyDump reads
int g_manifest_fd = -1;    // its manifest.json, rewritten for each input

void RemoveDump() { fs::remove_all(g_dump); }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** argv) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  if (tmp == nullptr) tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/crpid-fuzz-dump-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  g_dump = pattern;
  std::atexit(RemoveDump);
  fs::copy(DumpFilesSource((*argv)[0]), g_dump + "/files");
  g_manifest_fd = ::open((g_dump + "/manifest.json").c_str(),
                         O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (g_manifest_fd < 0) {
    std::perror("manifest.json");
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (::ftruncate(g_manifest_fd, 0) != 0 ||
      ::pwrite(g_manifest_fd, data, size, 0) != static_cast<ssize_t>(size)) {
    std::perror("manifest.json");
    std::abort();
  }
  auto verified = crpid::VerifyDump(g_dump);
  if (!verified) {
    FUZZ_CHECK(verified.error().kind == crpid::ErrorKind::kInvalidInput);
    return 0;
  }
  for (const crpid::VerifiedFile& file : *verified) {
    FUZZ_CHECK(file.ok == file.problem.empty());
    FUZZ_CHECK(!file.ok || file.saved_as.rfind("files/", 0) == 0);
  }
  return 0;
}
