// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// ASYNC-SIGNAL-SAFE AND UNINSTRUMENTED ONLY (see exec_check.h): runs in a
// tree process between its creation and its exec.
#include "src/exec_check.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>

#include "src/clone_vm.h"
#include "src/machine.h"

namespace crpid {
namespace {

// BINPRM_BUF_SIZE: what execve reads of each file to choose its format
// (zero-padded when the file is shorter).
constexpr size_t kHeadBytes = 256;
// statfs's f_flags mean something only with ST_VALID (linux/statfs.h).
constexpr unsigned long kStatfsValid = 0x0020;
// The largest program header table load_elf_phdrs reads.
constexpr uint64_t kMaxProgramHeaderBytes = 65536;

// Every system call here is a raw one (src/clone_vm.h): a fork-tree
// process shares errno with crpid and the rest of the tree until it execs.

// Closes its descriptor at the end of the scope; nothing else.
struct ScopedFd {
  int fd;
  ~ScopedFd() {
    if (fd >= 0) RawSyscall(SYS_close, fd);
  }
};

// The checks open_exec makes of one path (fs/exec.c do_open_execat and
// may_open): 0 or the errno execve would return.
int CheckOpenExec(const char* path) {
  struct stat st;
  long result = RawSyscall(SYS_newfstatat, AT_FDCWD, reinterpret_cast<long>(path),
                           reinterpret_cast<long>(&st), 0);
  if (RawFailed(result)) return RawErrno(result);
  if (!S_ISREG(st.st_mode)) return EACCES;  // a directory passes X_OK
  // With this process's effective IDs and capabilities, as execve uses
  // (faccessat2, 5.8+; before it, the real IDs, which a tree process has
  // as its effective ones).
  result = RawSyscall(SYS_faccessat2, AT_FDCWD, reinterpret_cast<long>(path), X_OK,
                      AT_EACCESS);
  if (result == -ENOSYS) {
    result = RawSyscall(SYS_faccessat, AT_FDCWD, reinterpret_cast<long>(path), X_OK);
  }
  if (RawFailed(result)) return RawErrno(result);
  struct statfs fs;
  if (RawSyscall(SYS_statfs, reinterpret_cast<long>(path), reinterpret_cast<long>(&fs)) == 0 &&
      (fs.f_flags & kStatfsValid) != 0 && (fs.f_flags & ST_NOEXEC) != 0) {
    return EACCES;
  }
  return 0;
}

// length bytes at offset, looping over short reads: the count read (less at
// the end of the file) or -errno.
ssize_t ReadAt(int fd, void* buffer, size_t length, uint64_t offset) {
  if (offset > static_cast<uint64_t>(INT64_MAX) - length) return 0;
  size_t done = 0;
  while (done < length) {
    const long n = RawSyscall(SYS_pread64, fd, reinterpret_cast<long>(buffer) + done,
                              static_cast<long>(length - done), static_cast<long>(offset + done));
    if (n == -EINTR) continue;
    if (RawFailed(n)) return n;
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

// The file opened for reading, or -1 when this process may execute it but
// not read it (execve can; then its format is left to execve).
int OpenToRead(const char* path) {
  const long fd = RawSyscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>(path),
                             O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  return RawFailed(fd) ? -1 : static_cast<int>(fd);
}

bool HasElfMagic(const unsigned char* head) {
  return RawCompare(head, ELFMAG, SELFMAG) == 0;
}

// The program header table load_elf_phdrs accepts: entries of this class's
// size, 1 to 64 KiB and at most a page (ELF_MIN_ALIGN).
bool ProgramHeadersFit(const Elf64_Ehdr& header, uint64_t page) {
  const uint64_t size = uint64_t{header.e_phentsize} * header.e_phnum;
  return header.e_phentsize == sizeof(Elf64_Phdr) && size != 0 &&
         size <= kMaxProgramHeaderBytes && (page == 0 || size <= page);
}

// 32-bit programs of this machine's compat ABI (IA-32 on x86_64, AArch32
// on aarch64): whether they run depends on the kernel's configuration and
// command line, so execve decides.
bool IsCompatElf(const unsigned char* head) {
  if (head[EI_CLASS] != ELFCLASS32) return false;
  uint16_t machine;
  RawCopy(&machine, head + offsetof(Elf32_Ehdr, e_machine), sizeof(machine));
#if defined(__x86_64__)
  return machine == EM_386 || machine == EM_X86_64;
#else
  return machine == EM_ARM;
#endif
}

// The ELF interpreter PT_INTERP names, checked as load_elf_binary checks it
// before its point of no return: EIO when shorter than an ELF header,
// ELIBBAD when no ELF for this machine (measured, Linux 6.18). Its type too,
// which load_elf_interp checks only after that point, killing the process
// (SIGSEGV): ELIBBAD here.
int CheckElfInterpreter(const char* path, uint64_t page) {
  if (int err = CheckOpenExec(path); err != 0) return err;
  ScopedFd file{OpenToRead(path)};
  if (file.fd < 0) return 0;
  Elf64_Ehdr header;
  const ssize_t n = ReadAt(file.fd, &header, sizeof(header), 0);
  if (n < 0) return static_cast<int>(-n);
  if (static_cast<size_t>(n) != sizeof(header)) return EIO;
  if (!HasElfMagic(header.e_ident) || header.e_machine != kElfMachine ||
      header.e_ident[EI_CLASS] != ELFCLASS64 || !ProgramHeadersFit(header, page) ||
      (header.e_type != ET_EXEC && header.e_type != ET_DYN)) {
    return ELIBBAD;
  }
  return 0;
}

// An ELF file execve would load (load_elf_binary), its interpreter too.
// scratch: PATH_MAX bytes for the PT_INTERP path.
int CheckElf(int fd, const unsigned char* head, char* scratch, uint64_t page) {
  if (IsCompatElf(head)) return 0;
  Elf64_Ehdr header;
  RawCopy(&header, head, sizeof(header));
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_machine != kElfMachine ||
      (header.e_type != ET_EXEC && header.e_type != ET_DYN) || !ProgramHeadersFit(header, page)) {
    return ENOEXEC;
  }
  for (uint64_t i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr program_header;
    const ssize_t n = ReadAt(fd, &program_header, sizeof(program_header),
                             header.e_phoff + i * sizeof(program_header));
    if (n != static_cast<ssize_t>(sizeof(program_header))) return ENOEXEC;
    if (program_header.p_type != PT_INTERP) continue;
    // Only the first PT_INTERP counts.
    const uint64_t length = program_header.p_filesz;
    if (length < 2 || length > PATH_MAX) return ENOEXEC;
    if (ReadAt(fd, scratch, length, program_header.p_offset) != static_cast<ssize_t>(length)) {
      return EIO;
    }
    if (scratch[length - 1] != '\0') return ENOEXEC;
    return CheckElfInterpreter(scratch, page);
  }
  return 0;
}

bool IsSpaceOrTab(char c) { return c == ' ' || c == '\t'; }

// binfmt_script's helpers: both search [first, last], last included.
const char* NextNonSpaceOrTab(const char* first, const char* last) {
  for (; first <= last; ++first) {
    if (!IsSpaceOrTab(*first)) return first;
  }
  return nullptr;
}

const char* NextTerminator(const char* first, const char* last) {
  for (; first <= last; ++first) {
    if (IsSpaceOrTab(*first) || *first == '\0') return first;
  }
  return nullptr;
}

// The interpreter of a "#!" head, found as load_script (Linux 5.1+) finds
// it, copied NUL-terminated into out; false where load_script gives
// ENOEXEC (no interpreter name, or one cut off by the 256-byte limit).
bool ScriptInterpreter(const unsigned char* head, char* out) {
  const char* buffer = reinterpret_cast<const char*>(head);
  const char* buffer_end = buffer + kHeadBytes - 1;
  const char* line_end = static_cast<const char*>(RawFindByte(buffer, '\n', kHeadBytes));
  if (line_end == nullptr) {
    line_end = NextNonSpaceOrTab(buffer + 2, buffer_end);
    if (line_end == nullptr) return false;
    if (NextTerminator(line_end, buffer_end) == nullptr) return false;
    line_end = buffer_end;
  }
  while (IsSpaceOrTab(line_end[-1])) --line_end;
  const char* name = NextNonSpaceOrTab(buffer + 2, line_end);
  if (name == nullptr || name == line_end) return false;
  const char* name_end = NextTerminator(name, line_end);
  if (name_end == nullptr) name_end = line_end;
  const size_t length = static_cast<size_t>(name_end - name);
  RawCopy(out, name, length);
  out[length] = '\0';
  return true;
}

// Where execve would fail: 0, an errno, or -1 for ENOEXEC of a file of no
// format the kernel knows (the shell fallback's case).
constexpr int kNoFormat = -1;

int CheckChain(const char* path, uint64_t page) {
  char current[PATH_MAX];
  const size_t length = RawLength(path);
  if (length >= PATH_MAX) return ENAMETOOLONG;
  RawCopy(current, path, length + 1);
  for (int level = 0;; ++level) {
    if (int err = CheckOpenExec(current); err != 0) return err;
    if (level > kMaxScriptLevels) return ELOOP;
    ScopedFd file{OpenToRead(current)};
    if (file.fd < 0) return 0;
    unsigned char head[kHeadBytes];
    RawZero(head, sizeof(head));
    if (const ssize_t n = ReadAt(file.fd, head, sizeof(head), 0); n < 0) {
      return static_cast<int>(-n);
    }
    if (HasElfMagic(head)) return CheckElf(file.fd, head, current, page);
    if (head[0] != '#' || head[1] != '!') return kNoFormat;
    if (!ScriptInterpreter(head, current)) return kNoFormat;
  }
}

}  // namespace

int CheckExecutable(const char* path, size_t page_size) {
  const int result = CheckChain(path, page_size);
  if (result != kNoFormat) return result;
  // execve's ENOEXEC: fork-tree runs the file with /bin/sh, as execvp does;
  // a /bin/sh that needs the fallback itself fails with ENOEXEC.
  const int shell = CheckChain("/bin/sh", page_size);
  return shell == kNoFormat ? ENOEXEC : shell;
}

}  // namespace crpid
