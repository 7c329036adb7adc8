// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// The "#!" line set-mm follows (ReadScriptLine), compared with what execve
// makes of the same bytes: set-mm must run the interpreter and argument the
// kernel would, and refuse what the kernel refuses. The kernel's side is
// KernelScriptLine below, a model of load_script() in fs/binfmt_script.c
// (Linux 5.1+) written from the kernel's code: a differential oracle, not
// crpid's parser.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "src/elf_image.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/memfd_file.h"

namespace {

struct KernelScript {
  bool script = false;   // starts with "#!": binfmt_script takes it
  bool refused = false;  // execve fails (ENOEXEC, or ENOENT for "")
  std::string interpreter;
  std::optional<std::string> argument;
};

bool SpaceTab(char c) { return c == ' ' || c == '\t'; }

char* NextNonSpaceTab(char* first, char* last) {
  for (; first <= last; ++first) {
    if (!SpaceTab(*first)) return first;
  }
  return nullptr;
}

char* NextTerminator(char* first, char* last) {
  for (; first <= last; ++first) {
    if (SpaceTab(*first) || *first == '\0') return first;
  }
  return nullptr;
}

KernelScript KernelScriptLine(const uint8_t* data, size_t size) {
  char buf[256] = {};  // BINPRM_BUF_SIZE; zero-filled past a short file
  std::memcpy(buf, data, std::min(size, sizeof buf));
  KernelScript result;
  if (buf[0] != '#' || buf[1] != '!') return result;
  result.script = true;
  char* buf_end = buf + sizeof buf - 1;
  char* i_end = static_cast<char*>(std::memchr(buf, '\n', strnlen(buf, sizeof buf)));
  if (i_end == nullptr) {
    i_end = NextNonSpaceTab(buf + 2, buf_end);
    if (i_end == nullptr || NextTerminator(i_end, buf_end) == nullptr) {
      result.refused = true;  // all blanks, or the name may be cut short
      return result;
    }
    i_end = buf_end;
  }
  while (SpaceTab(i_end[-1])) --i_end;
  char* i_name = NextNonSpaceTab(buf + 2, i_end);
  if (i_name == nullptr || i_name == i_end) {
    result.refused = true;  // no interpreter name
    return result;
  }
  char* i_sep = NextTerminator(i_name, i_end);
  char* i_arg = nullptr;
  if (i_sep != nullptr && *i_sep != '\0') i_arg = NextNonSpaceTab(i_sep, i_end);
  *i_end = '\0';
  if (i_sep != nullptr) *i_sep = '\0';
  result.interpreter = i_name;
  if (i_arg != nullptr) result.argument = std::string(i_arg);
  result.refused = result.interpreter.empty();  // open_exec(""): ENOENT
  return result;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static crpid::fuzz::MemfdFile* file = new crpid::fuzz::MemfdFile();
  file->Fill(data, size);
  auto line = crpid::ReadScriptLine(file->path());
  const KernelScript kernel = KernelScriptLine(data, size);
  if (!line) {
    FUZZ_CHECK(line.error().kind == crpid::ErrorKind::kInvalidInput);
    FUZZ_CHECK(kernel.refused);
    return 0;
  }
  FUZZ_CHECK(!kernel.refused);
  FUZZ_CHECK(line->interpreter.empty() == !kernel.script);
  if (!kernel.script) return 0;
  FUZZ_CHECK(line->interpreter == kernel.interpreter);
  FUZZ_CHECK(line->argument == kernel.argument.value_or(""));
  return 0;
}
