// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Reading what a loader needs from an ELF executable: the checks execve
// makes before its point of no return, and the segments to map.
#ifndef CRPID_SRC_ELF_IMAGE_H_
#define CRPID_SRC_ELF_IMAGE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "src/regular_file.h"
#include "src/result.h"
#include "src/unique_fd.h"

namespace crpid {

struct LoadSegment {
  uint64_t vaddr = 0;
  uint64_t memsz = 0;
  uint64_t filesz = 0;
  uint64_t offset = 0;
  uint32_t flags = 0;  // PF_R, PF_W, PF_X
};

struct ElfImage {
  std::string path;
  UniqueFd fd;            // O_RDONLY | O_CLOEXEC, for mmap
  struct stat file_status;  // fstat of fd
  bool position_independent = false;  // ET_DYN: loaded at a chosen base
  uint64_t entry = 0;     // e_entry, before the base is added
  uint64_t phdr_vaddr = 0;  // where the program headers sit once loaded
  uint16_t phent = 0;
  uint16_t phnum = 0;
  std::vector<LoadSegment> segments;
  std::string interpreter;  // PT_INTERP, empty for static executables
  uint64_t min_vaddr = 0;   // page-aligned span of the PT_LOAD segments
  uint64_t max_vaddr = 0;
};

// Opens and checks an executable the way execve would: a regular file the
// caller may execute, not on a noexec mount, a well-formed ELF64 for this
// machine (src/machine.h) of type ET_EXEC or ET_DYN with PT_LOAD segments.
// kNotFound, kPermission (EACCES: not executable, noexec mount) or
// kInvalidInput (not ELF, wrong class or machine, malformed headers).
Result<ElfImage> OpenElfImage(const std::string& path);

// The checks of OpenElfImage that concern the file itself (regular,
// executable by the caller, not on a noexec mount), for PR_SET_MM_MAP's
// exe_fd, which the kernel checks the same way. Never blocks: see
// OpenRegularFile.
Result<RegularFile> OpenExecutableFile(const std::string& path);

// A "#!" line, as binfmt_script (Linux 5.1+) reads the first 256 bytes of a
// regular file (opened without blocking): the interpreter and at most one
// argument (the rest of the line, cut at 256 bytes or at a NUL). Empty
// interpreter: not a script. kInvalidInput where execve fails: no
// interpreter name, or one that does not end within 256 bytes.
struct ScriptLine {
  std::string interpreter;
  std::string argument;
};
Result<ScriptLine> ReadScriptLine(const std::string& path);

// execvp's search: a name with a slash is used as is; otherwise the first
// PATH entry holding an executable regular file of that name (PATH unset:
// "/bin:/usr/bin"). kNotFound if none.
Result<std::string> FindInPath(const std::string& name);

}  // namespace crpid

#endif  // CRPID_SRC_ELF_IMAGE_H_
