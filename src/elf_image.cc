// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/elf_image.h"
#include "src/machine.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace crpid {
namespace {

constexpr uint64_t kPage = 4096;
constexpr size_t kMaxProgramHeaders = 64;
// This machine's user address space (TASK_SIZE).
constexpr uint64_t kUserSpaceEnd = kTaskSize;

Error Invalid(const std::string& path, const std::string& why) {
  return Error{ErrorKind::kInvalidInput, ENOEXEC, path + ": " + why,
               std::string("give an ELF executable for ") + kMachineName};
}

Status ReadExactly(int fd, void* buffer, size_t length, uint64_t offset,
                   const std::string& path) {
  ssize_t n;
  do {
    n = ::pread(fd, buffer, length, static_cast<off_t>(offset));
  } while (n < 0 && errno == EINTR);
  if (n < 0) return SystemError(errno, "cannot read " + path);
  if (static_cast<size_t>(n) != length) return Invalid(path, "truncated ELF file");
  return Ok{};
}

}  // namespace

Result<RegularFile> OpenExecutableFile(const std::string& path) {
  auto file = OpenRegularFile(path);
  if (!file) return file.error();
  struct statvfs vfs;
  if (::fstatvfs(file->fd.get(), &vfs) == 0 && (vfs.f_flag & ST_NOEXEC) != 0) {
    return Error{ErrorKind::kPermission, EACCES,
                 path + " is on a filesystem mounted noexec",
                 "copy it to a filesystem that allows execution"};
  }
  if (::faccessat(AT_FDCWD, path.c_str(), X_OK, AT_EACCESS) != 0) {
    return Error{ErrorKind::kPermission, errno,
                 path + " is not executable by you: " + std::strerror(errno),
                 "check its mode (chmod +x) and the directories above it"};
  }
  return file;
}

namespace {

// The ELF header checks execve makes: magic, class, machine, type, and
// program headers of the expected size and number.
Status CheckHeader(const Elf64_Ehdr& header, const std::string& path) {
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0) {
    return Invalid(path, "not an ELF file");
  }
  if (header.e_ident[EI_CLASS] != ELFCLASS64 ||
      header.e_ident[EI_DATA] != ELFDATA2LSB) {
    return Invalid(path, "not a 64-bit little-endian ELF file");
  }
  if (header.e_machine != kElfMachine) {
    return Invalid(path, "built for another machine (e_machine " +
                             std::to_string(header.e_machine) + ", not " + kMachineName +
                             ")");
  }
  if (header.e_type != ET_EXEC && header.e_type != ET_DYN) {
    return Invalid(path, "not an executable (ELF type " +
                             std::to_string(header.e_type) + ")");
  }
  if (header.e_phentsize != sizeof(Elf64_Phdr) || header.e_phnum == 0 ||
      header.e_phnum > kMaxProgramHeaders) {
    return Invalid(path, "malformed program headers");
  }
  return Ok{};
}

// One PT_LOAD, bounded so that no sum below can wrap (a wrapped span would
// slip past set-mm's check that nothing loads over what it keeps), and
// inside the file (data past its end would fault, SIGBUS, after set-mm's
// point of no return).
Status AddLoad(const Elf64_Ehdr& header, const Elf64_Phdr& program,
               uint64_t file_size, ElfImage& image, bool& phdr_found) {
  if (program.p_filesz > program.p_memsz ||
      (program.p_vaddr % kPage) != (program.p_offset % kPage) ||
      program.p_vaddr >= kUserSpaceEnd || program.p_memsz >= kUserSpaceEnd ||
      program.p_vaddr + program.p_memsz > kUserSpaceEnd ||
      program.p_offset >= kUserSpaceEnd || program.p_filesz >= kUserSpaceEnd) {
    return Invalid(image.path, "malformed PT_LOAD segment");
  }
  if (program.p_offset + program.p_filesz > file_size) {
    return Invalid(image.path, "a PT_LOAD segment reaches past the end of the file");
  }
  image.segments.push_back({program.p_vaddr, program.p_memsz, program.p_filesz,
                            program.p_offset, program.p_flags});
  // execve finds the program headers inside the segment mapping them.
  if (!phdr_found && header.e_phoff >= program.p_offset &&
      header.e_phoff + header.e_phnum * sizeof(Elf64_Phdr) <=
          program.p_offset + program.p_filesz) {
    image.phdr_vaddr = program.p_vaddr + (header.e_phoff - program.p_offset);
    phdr_found = true;
  }
  return Ok{};
}

Status ReadInterpreter(int fd, const Elf64_Phdr& program, ElfImage& image) {
  if (program.p_filesz < 2 || program.p_filesz > 4096) {
    return Invalid(image.path, "malformed PT_INTERP");
  }
  std::string interpreter(program.p_filesz, '\0');
  if (Status read = ReadExactly(fd, interpreter.data(), interpreter.size(),
                                program.p_offset, image.path);
      !read) {
    return read.error();
  }
  // The kernel refuses a PT_INTERP whose last byte is not NUL (ENOEXEC).
  if (interpreter.back() != '\0') return Invalid(image.path, "PT_INTERP not NUL-terminated");
  interpreter.resize(std::strlen(interpreter.c_str()));
  image.interpreter = interpreter;
  return Ok{};
}

Status ReadProgramHeaders(int fd, const Elf64_Ehdr& header, uint64_t file_size,
                          ElfImage& image) {
  std::vector<Elf64_Phdr> headers(header.e_phnum);
  if (Status read = ReadExactly(fd, headers.data(), headers.size() * sizeof(Elf64_Phdr),
                                header.e_phoff, image.path);
      !read) {
    return read.error();
  }
  bool phdr_found = false;
  for (const Elf64_Phdr& program : headers) {
    Status added = Ok{};
    if (program.p_type == PT_LOAD) {
      added = AddLoad(header, program, file_size, image, phdr_found);
    } else if (program.p_type == PT_PHDR) {
      image.phdr_vaddr = program.p_vaddr;
      phdr_found = true;
    } else if (program.p_type == PT_INTERP && image.interpreter.empty()) {
      added = ReadInterpreter(fd, program, image);  // the first one, as the kernel
    }
    if (!added) return added.error();
  }
  if (image.segments.empty()) return Invalid(image.path, "no PT_LOAD segment");
  return Ok{};
}

}  // namespace

Result<ElfImage> OpenElfImage(const std::string& path) {
  auto file = OpenExecutableFile(path);
  if (!file) return file.error();
  const int fd = file->fd.get();
  ElfImage image;
  image.path = path;
  image.file_status = file->st;
  Elf64_Ehdr header;
  if (Status read = ReadExactly(fd, &header, sizeof header, 0, path); !read) {
    if (read.error().err == ENOEXEC) return Invalid(path, "not an ELF file");
    return read.error();
  }
  if (Status valid = CheckHeader(header, path); !valid) return valid.error();
  image.position_independent = header.e_type == ET_DYN;
  image.entry = header.e_entry;
  image.phent = header.e_phentsize;
  image.phnum = header.e_phnum;
  if (Status read = ReadProgramHeaders(fd, header, static_cast<uint64_t>(file->st.st_size),
                                       image);
      !read) {
    return read.error();
  }
  image.min_vaddr = UINT64_MAX;
  for (const LoadSegment& segment : image.segments) {
    image.min_vaddr = std::min(image.min_vaddr, segment.vaddr & ~(kPage - 1));
    image.max_vaddr = std::max(image.max_vaddr,
                               (segment.vaddr + segment.memsz + kPage - 1) & ~(kPage - 1));
  }
  uint64_t lowest = 0x10000;  // vm.mmap_min_addr's usual value
  if (auto setting = ReadFileToString("/proc/sys/vm/mmap_min_addr")) {
    lowest = std::strtoull(setting->c_str(), nullptr, 10);
  }
  if (!image.position_independent && image.min_vaddr < lowest) {
    return Invalid(path, "loads below vm.mmap_min_addr (" + std::to_string(lowest) + ")");
  }
  image.fd = std::move(file->fd);
  return image;
}

namespace {

constexpr size_t kScriptBufferSize = 256;  // BINPRM_BUF_SIZE: the kernel reads no more

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// binfmt_script's scans of [first, last], last included: the first byte
// that is not a blank, and the first that ends a name (a blank or NUL).
const char* FirstNonBlank(const char* first, const char* last) {
  for (; first <= last; ++first) {
    if (!IsBlank(*first)) return first;
  }
  return nullptr;
}

const char* FirstTerminator(const char* first, const char* last) {
  for (; first <= last; ++first) {
    if (IsBlank(*first) || *first == '\0') return first;
  }
  return nullptr;
}

// The C string at from, cut at to.
std::string CString(const char* from, const char* to) {
  return std::string(from, ::strnlen(from, static_cast<size_t>(to - from)));
}

// load_script() of fs/binfmt_script.c (5.1+) on the file's first bytes,
// zero-padded: the line ends at a newline before any NUL; without one it
// runs to the buffer's end if the interpreter's name ends inside it (only
// the argument may be cut short). The name ends at a blank or NUL; the
// argument follows the blanks after it and ends at a NUL or at the line's
// end, trailing blanks removed.
Result<ScriptLine> ParseScriptLine(const char (&buffer)[kScriptBufferSize],
                                   const std::string& path) {
  ScriptLine line;
  if (buffer[0] != '#' || buffer[1] != '!') return line;
  const char* const last = buffer + kScriptBufferSize - 1;
  const char* end = static_cast<const char*>(
      std::memchr(buffer, '\n', ::strnlen(buffer, kScriptBufferSize)));
  if (end == nullptr) {
    end = FirstNonBlank(buffer + 2, last);
    if (end != nullptr && FirstTerminator(end, last) == nullptr) {
      return Invalid(path, "the #! line's interpreter name does not end within 256 bytes");
    }
    if (end == nullptr) return Invalid(path, "#! names no interpreter");
    end = last;
  }
  while (IsBlank(end[-1])) --end;
  const char* name = FirstNonBlank(buffer + 2, end);
  if (name == nullptr || name == end) return Invalid(path, "#! names no interpreter");
  const char* separator = FirstTerminator(name, end);
  line.interpreter = CString(name, separator != nullptr ? separator : end);
  // An empty name (a NUL right after the blanks): execve fails with ENOENT.
  if (line.interpreter.empty()) return Invalid(path, "#! names no interpreter");
  if (separator != nullptr && *separator != '\0') {
    if (const char* argument = FirstNonBlank(separator, end)) {
      line.argument = CString(argument, end);
    }
  }
  return line;
}

}  // namespace

Result<ScriptLine> ReadScriptLine(const std::string& path) {
  auto file = OpenRegularFile(path);
  if (!file) return file.error();
  char buffer[kScriptBufferSize] = {};
  ssize_t n;
  do {
    n = ::pread(file->fd.get(), buffer, sizeof buffer, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return SystemError(errno, "cannot read " + path);
  return ParseScriptLine(buffer, path);
}

Result<std::string> FindInPath(const std::string& name) {
  if (name.empty()) {
    return Error{ErrorKind::kNotFound, ENOENT, "empty program name", {}};
  }
  if (name.find('/') != std::string::npos) return name;
  const char* path_variable = std::getenv("PATH");
  std::string search = path_variable != nullptr ? path_variable : "/bin:/usr/bin";
  size_t start = 0;
  for (;;) {
    size_t colon = search.find(':', start);
    std::string directory = search.substr(start, colon == std::string::npos
                                                     ? std::string::npos
                                                     : colon - start);
    if (directory.empty()) directory = ".";
    const std::string candidate = directory + "/" + name;
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return Error{ErrorKind::kNotFound, ENOENT,
               "cannot find '" + name + "' in PATH", "check the name and PATH"};
}

}  // namespace crpid
