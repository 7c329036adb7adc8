// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/set_mm.h"

#include <poll.h>
#include <sys/resource.h>
#include <elf.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/rseq.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <optional>
#include <random>

#include "src/elf_image.h"
#include "src/machine.h"
#include "src/proc_maps.h"
#include "src/regular_file.h"
#include "src/procfs.h"
#include "src/supervise.h"
#include "src/trampoline.h"
#include "src/unique_fd.h"

namespace crpid {
namespace {

// The page size set-mm lays memory out with (machine.h has the rest of
// what differs between machines).
constexpr uint64_t kPage = 4096;
constexpr size_t kTrampolineStack = 64 << 10;

uint64_t PageUp(uint64_t value) { return (value + kPage - 1) & ~(kPage - 1); }
uint64_t PageDown(uint64_t value) { return value & ~(kPage - 1); }

uint64_t RandomPages(uint64_t limit) {
  uint64_t value = 0;
  if (::getrandom(&value, sizeof value, 0) != sizeof value) value = 0;
  return limit == 0 ? 0 : value % limit;
}

bool AddressRandomization() {
  auto setting = ReadFileToString("/proc/sys/kernel/randomize_va_space");
  return setting && std::atoi(setting->c_str()) > 0;
}

int ProtectionOf(uint32_t flags) {
  return ((flags & PF_R) ? PROT_READ : 0) | ((flags & PF_W) ? PROT_WRITE : 0) |
         ((flags & PF_X) ? PROT_EXEC : 0);
}

// The current memory map descriptors, as the kernel has them, for the probe.
Result<TrampolineMmMap> CurrentMmMap() {
  auto stat = ReadStatFields("self");
  if (!stat) return stat.error();
  if (stat->size() <= 51) {
    return Error{ErrorKind::kSystem, 0, "short /proc/self/stat", {}};
  }
  auto field = [&stat](int number) { return (*stat)[number]; };
  TrampolineMmMap map{};
  map.start_code = field(26);
  map.end_code = field(27);
  map.start_stack = field(28);
  map.start_data = field(45);
  map.end_data = field(46);
  map.start_brk = field(47);
  map.arg_start = field(48);
  map.arg_end = field(49);
  map.env_start = field(50);
  map.env_end = field(51);
  map.brk = static_cast<uint64_t>(::syscall(SYS_brk, 0));
  map.exe_fd = static_cast<uint32_t>(-1);
  return map;
}

struct StackRange {
  uint64_t start = 0;
  uint64_t end = 0;
};

// Lays out the initial stack as execve does, top down: an 8-byte end
// marker, AT_EXECFN, the environment and argument strings, the platform
// string, 16 random bytes, then (16-byte aligned) argc, argv, envp, auxv.
struct StackImage {
  std::vector<char> bytes;
  uint64_t sp = 0;
  uint64_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
  uint64_t auxv_address = 0;
  uint32_t auxv_size = 0;
};

StackImage BuildStack(uint64_t top, const std::vector<std::string>& argv,
                      const std::vector<std::string>& envp,
                      const std::string& execfn,
                      std::vector<std::pair<uint64_t, uint64_t>> auxv) {
  StackImage image;
  uint64_t p = top - 8;
  const uint64_t execfn_address = p - (execfn.size() + 1);
  p = execfn_address;
  size_t env_bytes = 0, arg_bytes = 0;
  for (const auto& s : envp) env_bytes += s.size() + 1;
  for (const auto& s : argv) arg_bytes += s.size() + 1;
  image.env_start = p - env_bytes;
  image.env_end = p;
  image.arg_start = image.env_start - arg_bytes;
  image.arg_end = image.env_start;
  const uint64_t platform_address = image.arg_start - sizeof kPlatform;
  const uint64_t random_address = platform_address - 16;
  p = random_address & ~uint64_t{15};

  for (auto& [key, value] : auxv) {
    if (key == AT_RANDOM) value = random_address;
    if (key == AT_PLATFORM) value = platform_address;
    if (key == AT_EXECFN) value = execfn_address;
  }
  const size_t words = 1 + argv.size() + 1 + envp.size() + 1 + 2 * auxv.size();
  image.sp = (p - words * 8) & ~uint64_t{15};
  image.bytes.assign(top - image.sp, 0);
  auto at = [&image](uint64_t address) { return &image.bytes[address - image.sp]; };
  auto put_word = [&](uint64_t address, uint64_t value) {
    std::memcpy(at(address), &value, 8);
  };

  std::memcpy(at(execfn_address), execfn.c_str(), execfn.size() + 1);
  uint64_t cursor = image.arg_start;
  std::vector<uint64_t> argv_addresses, envp_addresses;
  for (const auto& s : argv) {
    argv_addresses.push_back(cursor);
    std::memcpy(at(cursor), s.c_str(), s.size() + 1);
    cursor += s.size() + 1;
  }
  for (const auto& s : envp) {
    envp_addresses.push_back(cursor);
    std::memcpy(at(cursor), s.c_str(), s.size() + 1);
    cursor += s.size() + 1;
  }
  std::memcpy(at(platform_address), kPlatform, sizeof kPlatform);
  unsigned char random_bytes[16] = {};
  if (::getrandom(random_bytes, sizeof random_bytes, 0) != sizeof random_bytes) {
    std::random_device device;
    for (auto& byte : random_bytes) byte = static_cast<unsigned char>(device());
  }
  std::memcpy(at(random_address), random_bytes, sizeof random_bytes);

  uint64_t word = image.sp;
  put_word(word, argv.size());
  word += 8;
  for (uint64_t address : argv_addresses) put_word(word, address), word += 8;
  word += 8;  // NULL
  for (uint64_t address : envp_addresses) put_word(word, address), word += 8;
  word += 8;  // NULL
  image.auxv_address = word;
  for (const auto& [key, value] : auxv) {
    put_word(word, key);
    put_word(word + 8, value);
    word += 16;
  }
  image.auxv_size = static_cast<uint32_t>(auxv.size() * 16);
  return image;
}

// The auxv execve would build for PROGRAM: crpid's own, as the kernel laid
// it after the initial environment (same keys, same order), with what
// describes the program replaced. Not /proc/self/auxv, which is root's to
// read while crpid, started with a file capability, is not dumpable; not
// getauxval, which glibc answers from its own copies (AT_HWCAP on x86).
// Pointers into the new stack are filled in by BuildStack.
Result<std::vector<std::pair<uint64_t, uint64_t>>> ProgramAuxv(
    const char* const* initial_envp,
    const std::map<uint64_t, uint64_t>& program_values) {
  if (initial_envp == nullptr) {
    return Error{ErrorKind::kSystem, 0, "the initial environment is unknown", {}};
  }
  const char* const* cursor = initial_envp;
  while (*cursor != nullptr) ++cursor;
  // glibc's start-up in secure mode unsetenv()s variables such as TMPDIR in
  // this very array, moving the NULL up and leaving NULLs behind it; the
  // auxv begins at the first non-NULL word (its first key is never 0).
  while (*cursor == nullptr) ++cursor;
  const auto* kernel_auxv = reinterpret_cast<const uint64_t*>(cursor);
  std::vector<std::pair<uint64_t, uint64_t>> auxv;
  bool random_matches = false;
  for (int i = 0; kernel_auxv[0] != AT_NULL && i < 64; kernel_auxv += 2, ++i) {
    const uint64_t key = kernel_auxv[0];
    if (key == AT_RANDOM) random_matches = kernel_auxv[1] == ::getauxval(AT_RANDOM);
    if (key == AT_BASE_PLATFORM) continue;  // a string on crpid's stack
    auto replaced = program_values.find(key);
    auxv.emplace_back(key, replaced != program_values.end() ? replaced->second
                                                            : kernel_auxv[1]);
  }
  // AT_RANDOM is kept unchanged by glibc: it tells that this is the real
  // auxv and not stale words.
  if (!random_matches) {
    return Error{ErrorKind::kSystem, 0, "cannot find the kernel's auxv on the stack", {}};
  }
  auxv.emplace_back(AT_NULL, 0);
  return auxv;
}

// An anonymous mapping owned until handed to the trampoline.
class Mapped {
 public:
  explicit Mapped(size_t length, int prot = PROT_READ | PROT_WRITE)
      : length_(length) {
    void* address = ::mmap(nullptr, length, prot,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (address != MAP_FAILED) address_ = static_cast<char*>(address);
  }
  ~Mapped() {
    if (address_ != nullptr) ::munmap(address_, length_);
  }
  Mapped(const Mapped&) = delete;
  Mapped& operator=(const Mapped&) = delete;
  char* get() const { return address_; }
  size_t length() const { return length_; }
  uint64_t start() const { return reinterpret_cast<uint64_t>(address_); }

 private:
  char* address_ = nullptr;
  size_t length_;
};

// Open close-on-exec descriptors, found with poll's POLLNVAL in batches:
// /proc/self/fd is root's while crpid is not dumpable.
std::vector<int> CloseOnExecDescriptors() {
  std::vector<int> fds;
  struct rlimit limit;
  rlim_t highest = 1024;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    highest = limit.rlim_cur;
  }
  constexpr int kBatch = 1024;
  std::vector<pollfd> batch(kBatch);
  for (rlim_t first = 0; first < highest; first += kBatch) {
    const int count = static_cast<int>(std::min<rlim_t>(kBatch, highest - first));
    for (int i = 0; i < count; ++i) {
      batch[i] = {static_cast<int>(first) + i, 0, 0};
    }
    if (::poll(batch.data(), static_cast<nfds_t>(count), 0) < 0) break;
    for (int i = 0; i < count; ++i) {
      if ((batch[i].revents & POLLNVAL) != 0) continue;
      const int flags = ::fcntl(batch[i].fd, F_GETFD);
      if (flags >= 0 && (flags & FD_CLOEXEC) != 0) fds.push_back(batch[i].fd);
    }
  }
  return fds;
}

// Signal handlers would point into crpid's unmapped code: execve resets
// them to the default, keeping what is ignored; and a sigaltstack goes too.
void ResetSignalHandlers() {
  for (int signal_number = 1; signal_number < NSIG; ++signal_number) {
    struct sigaction action;
    if (::sigaction(signal_number, nullptr, &action) != 0) continue;
    if (action.sa_handler == SIG_DFL || action.sa_handler == SIG_IGN) continue;
    action.sa_handler = SIG_DFL;
    action.sa_flags = 0;
    ::sigaction(signal_number, &action, nullptr);
  }
  stack_t disable = {};
  disable.ss_flags = SS_DISABLE;
  ::sigaltstack(&disable, nullptr);
}

// glibc registered an rseq area in crpid's TLS; the kernel would write to
// it after the TLS is unmapped. The program's libc registers its own.
void UnregisterRseq() {
  if (__rseq_size == 0) return;
  void* area = static_cast<char*>(__builtin_thread_pointer()) + __rseq_offset;
  for (unsigned length : {__rseq_size, 32u}) {
    if (::syscall(SYS_rseq, area, length, 1 /* RSEQ_FLAG_UNREGISTER */,
                  RSEQ_SIG) == 0) {
      return;
    }
  }
}

TrampolineCaps CurrentCaps() {
  TrampolineCaps caps{};
  caps.version = _LINUX_CAPABILITY_VERSION_3;
  ::syscall(SYS_capget, &caps, &caps.data);
  return caps;
}

void CopyString(char* destination, size_t size, const std::string& text) {
  std::strncpy(destination, text.c_str(), size - 1);
  destination[size - 1] = 0;
}

// PR_SET_MM_MAP with the capability effective for this call only; errno.
// With an exe_fd it validates the whole map (addresses within the kernel's
// effective mmap_min_addr and TASK_SIZE, ordering, RLIMIT_DATA), then
// answers EBUSY while crpid's own file is mapped — before writing a field.
int TrySetMmMap(const TrampolineMmMap& map, const CapabilityState& capabilities) {
  ScopedEffectiveCapability raised(CheckpointRestoreCapabilityToRaise(capabilities));
  return ::prctl(PR_SET_MM, PR_SET_MM_MAP, &map, sizeof map, 0) == 0 ? 0 : errno;
}

}  // namespace

Status ProbeExeChange(int exe_fd, const std::string& exe_path,
                      const CapabilityState& capabilities) {
  auto map = CurrentMmMap();
  if (!map) return map.error();
  // Before 5.10-ish, validation wants brk above the data, which a static-pie
  // crpid does not have (its heap sits at ELF_ET_DYN_BASE below its data).
  // The probe never gets as far as writing a field, so any valid brk will do.
  if (map->start_brk <= map->end_data || map->brk <= map->end_data) {
    map->start_brk = map->brk = map->end_data + 1;
  }
  map->exe_fd = static_cast<uint32_t>(exe_fd);
  const int err = TrySetMmMap(*map, capabilities);
  if (err == EBUSY || err == 0) return Ok{};
  // EPERM since 5.9; before, a missing privilege for exe_fd was EINVAL (the
  // map itself is valid: it is this process's own).
  if (err == EPERM || err == EINVAL) {
    Error error = ErrnoError(ErrorKind::kPermission, EPERM,
                             "the kernel refuses to set the exe link");
    if (err == EINVAL) {
      error.message += " (EINVAL: kernels before 5.9 answer a missing capability so)";
    }
    return error;
  }
  if (err == EACCES) {
    return ErrnoError(ErrorKind::kPermission, EACCES,
                      "the kernel refuses " + exe_path + " as the exe link");
  }
  return SystemError(err, "prctl(PR_SET_MM_MAP) probe");
}


namespace {

// Phase 1, the checks: what they found.
struct ProgramFiles {
  std::string execfn;             // PROGRAM as found: AT_EXECFN, default comm
  std::vector<std::string> argv;  // as execve passes it (#! rewritten)
  ElfImage program;               // the ELF loaded (a script's interpreter)
  std::optional<ElfImage> interpreter;  // its PT_INTERP
  std::string exe_path;
  RegularFile exe;                // the exe link's target
};

struct ScriptChain {
  std::string program_path;
  std::vector<std::string> argv;
};

// Like execve: a "#!" script runs its interpreter with the script's path
// (up to five levels, as exec_binprm allows: depth > 5 is ELOOP); AT_EXECFN
// and comm still name the script.
Result<ScriptChain> FollowScripts(const std::string& found,
                                  std::vector<std::string> argv) {
  ScriptChain chain{found, std::move(argv)};
  for (int depth = 0;; ++depth) {
    auto script = ReadScriptLine(chain.program_path);
    if (!script) return script.error();
    if (script->interpreter.empty()) return chain;
    if (depth == 5) {
      return Error{ErrorKind::kInvalidInput, ELOOP,
                   found + ": more than five levels of #! interpreters (or a loop)", {}};
    }
    std::vector<std::string> script_argv = {script->interpreter};
    if (!script->argument.empty()) script_argv.push_back(script->argument);
    script_argv.push_back(chain.program_path);
    script_argv.insert(script_argv.end(), chain.argv.begin() + 1, chain.argv.end());
    chain.argv = std::move(script_argv);
    chain.program_path = script->interpreter;
  }
}

Result<std::optional<ElfImage>> OpenInterpreter(const ElfImage& program) {
  if (program.interpreter.empty()) return std::optional<ElfImage>();
  auto opened = OpenElfImage(program.interpreter);
  if (!opened) {
    Error error = opened.error();
    error.message = "interpreter of " + program.path + ": " + error.message;
    return error;
  }
  if (!opened->position_independent || !opened->interpreter.empty()) {
    return Error{ErrorKind::kInvalidInput, ENOEXEC,
                 program.interpreter + " cannot be an ELF interpreter", {}};
  }
  return std::optional<ElfImage>(std::move(*opened));
}

bool SameFile(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// crpid's own executable. The process itself may open /proc/self/exe even
// while it is not dumpable.
Result<struct stat> OwnExecutable() {
  auto fd = OpenFile("/proc/self/exe", O_PATH);
  if (!fd) return fd.error();
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return SystemError(errno, "fstat /proc/self/exe");
  return st;
}

// crpid cannot load crpid: PR_SET_MM_MAP refuses the exe change (EBUSY)
// while the old exe file is mapped, and it would be, as PROGRAM or its
// interpreter. As FILE, the kernel accepts it, but the exe link would then
// name crpid (a capability-holding program) while PROGRAM runs without.
Status RefuseCrpidItself(const ProgramFiles& files) {
  auto own = OwnExecutable();
  if (!own) return own.error();
  const char* hint = "set-mm replaces crpid's memory by PROGRAM's; run crpid directly";
  if (SameFile(files.program.file_status, *own)) {
    return Error{ErrorKind::kPermission, EACCES, files.program.path + " is crpid itself",
                 hint};
  }
  if (files.interpreter && SameFile(files.interpreter->file_status, *own)) {
    return Error{ErrorKind::kPermission, EACCES,
                 "the interpreter " + files.interpreter->path + " of " +
                     files.program.path + " is crpid itself",
                 hint};
  }
  if (SameFile(files.exe.st, *own)) {
    return Error{ErrorKind::kPermission, EACCES,
                 "--exe " + files.exe_path + " is crpid itself",
                 "the exe link may name PROGRAM or another program, not crpid"};
  }
  return Ok{};
}

// What execve would grant for the file: setuid, setgid (only with group
// execute, as the kernel counts it) or file capabilities; empty if nothing.
std::string PrivilegeOf(int fd, const struct stat& st) {
  if ((st.st_mode & S_ISUID) != 0) return "setuid";
  if ((st.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP)) return "setgid";
  if (::fgetxattr(fd, "security.capability", nullptr, 0) > 0) return "file-capability";
  return "";
}

// A privileged program would run without its privilege (set-mm is no
// execve) while /proc/PID/exe names it: PROGRAM, its interpreter and FILE.
Status RefusePrivileged(const ProgramFiles& files) {
  const char* hint = "set-mm runs programs without the privilege execve would give them; "
                     "run it directly, or give a copy without setuid, setgid and file "
                     "capabilities";
  std::string kind = PrivilegeOf(files.program.fd.get(), files.program.file_status);
  if (!kind.empty()) {
    return Error{ErrorKind::kPermission, EACCES,
                 files.program.path + " is a " + kind + " program", hint};
  }
  if (files.interpreter) {
    kind = PrivilegeOf(files.interpreter->fd.get(), files.interpreter->file_status);
    if (!kind.empty()) {
      return Error{ErrorKind::kPermission, EACCES,
                   "the interpreter " + files.interpreter->path + " of " +
                       files.program.path + " is a " + kind + " program",
                   hint};
    }
  }
  kind = PrivilegeOf(files.exe.fd.get(), files.exe.st);
  if (!kind.empty()) {
    return Error{ErrorKind::kPermission, EACCES,
                 "--exe " + files.exe_path + " is a " + kind + " program",
                 "the exe link would name a privileged program that PROGRAM is not; "
                 "give a file without setuid, setgid and file capabilities"};
  }
  return Ok{};
}

Result<ProgramFiles> CheckProgram(const SetMmRequest& request) {
  if (request.command.empty()) {
    return Error{ErrorKind::kInvalidInput, 0, "no PROGRAM given", {}};
  }
  // Segments, stack and brk are laid out in 4 KiB pages (an arm64 kernel
  // may use 16 or 64 KiB).
  if (const long page = ::sysconf(_SC_PAGESIZE); page != static_cast<long>(kPage)) {
    return Error{ErrorKind::kUnsupported, 0,
                 "this kernel uses " + std::to_string(page / 1024) +
                     " KiB pages; set-mm supports 4 KiB pages only",
                 "run set-mm on a kernel built with 4 KiB pages"};
  }
  // PATH steers only which file crpid opens, with the caller's own rights
  // (nothing is effective in phase 1): the same search execvp makes.
  auto found = FindInPath(request.command.front());
  if (!found) return found.error();
  auto chain = FollowScripts(*found, request.command);
  if (!chain) return chain.error();
  auto program = OpenElfImage(chain->program_path);
  if (!program) return program.error();
  auto interpreter = OpenInterpreter(*program);
  if (!interpreter) return interpreter.error();
  const std::string exe_path = request.exe.empty() ? chain->program_path : request.exe;
  auto exe = OpenExecutableFile(exe_path);
  if (!exe) return exe.error();
  ProgramFiles files{*found,        std::move(chain->argv), std::move(*program),
                     std::move(*interpreter), exe_path, std::move(*exe)};
  if (Status refused = RefuseCrpidItself(files); !refused) return refused.error();
  if (Status refused = RefusePrivileged(files); !refused) return refused.error();
  if (Status probed = ProbeExeChange(files.exe.fd.get(), exe_path, request.capabilities);
      !probed) {
    return probed.error();
  }
  return files;
}

// Phase 2, the reservation: one ELF image mapped at its final addresses
// while crpid can still report a failure — an address below the kernel's
// effective minimum (which can exceed vm.mmap_min_addr), one taken, a
// .bss larger than memory. Unmapped again unless handed to the trampoline.
class LoadedImage {
 public:
  LoadedImage() = default;
  LoadedImage(LoadedImage&& other) noexcept
      : bias(other.bias), ranges(std::move(other.ranges)), span_(other.span_) {
    other.span_ = {};
  }
  LoadedImage& operator=(LoadedImage&&) = delete;
  ~LoadedImage() {
    if (span_.end > span_.start) {
      ::munmap(reinterpret_cast<void*>(span_.start), span_.end - span_.start);
    }
  }
  // Reserves [start, start + length) (MAP_FIXED_NOREPLACE when fixed, else
  // where mmap finds room); errno on failure.
  int Reserve(uint64_t start, uint64_t length, bool fixed);
  uint64_t span_start() const { return span_.start; }

  uint64_t bias = 0;
  std::vector<TrampolineRange> ranges;  // mapped pages, sorted, disjoint

 private:
  TrampolineRange span_{};
};

int LoadedImage::Reserve(uint64_t start, uint64_t length, bool fixed) {
  void* address = ::mmap(reinterpret_cast<void*>(fixed ? start : 0), length, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
                             (fixed ? MAP_FIXED_NOREPLACE : 0),
                         -1, 0);
  if (address == MAP_FAILED) return errno;
  span_ = {reinterpret_cast<uint64_t>(address), reinterpret_cast<uint64_t>(address) + length};
  // Before 4.17 MAP_FIXED_NOREPLACE is only a hint.
  return fixed && span_.start != start ? EEXIST : 0;
}

// Maps one PT_LOAD inside the image's reservation as execve does: file
// pages, the rest of the last file page zeroed, anonymous .bss pages.
int MapSegment(const LoadSegment& segment, int fd, uint64_t bias,
               std::vector<TrampolineRange>& mapped) {
  const uint64_t start = bias + segment.vaddr;
  const uint64_t file_end = start + segment.filesz;
  const uint64_t map_start = PageDown(start);
  const int prot = ProtectionOf(segment.flags);
  uint64_t anon_start = map_start;
  if (segment.filesz > 0) {
    const bool zero_tail = segment.memsz > segment.filesz && file_end % kPage != 0;
    const uint64_t length = PageUp(file_end) - map_start;
    void* address = ::mmap(reinterpret_cast<void*>(map_start), length,
                           prot | (zero_tail ? PROT_WRITE : 0), MAP_PRIVATE | MAP_FIXED,
                           fd, static_cast<off_t>(segment.offset - (start - map_start)));
    if (address == MAP_FAILED) return errno;
    if (zero_tail) {
      std::memset(reinterpret_cast<void*>(file_end), 0, PageUp(file_end) - file_end);
      if ((prot & PROT_WRITE) == 0 &&
          ::mprotect(reinterpret_cast<void*>(map_start), length, prot) != 0) {
        return errno;
      }
    }
    anon_start = PageUp(file_end);
  }
  const uint64_t end = std::max(PageUp(start + segment.memsz), anon_start);
  if (end > anon_start &&
      ::mmap(reinterpret_cast<void*>(anon_start), end - anon_start, prot,
             MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0) == MAP_FAILED) {
    return errno;
  }
  mapped.push_back({map_start, end});
  return 0;
}

// Sorts and merges ranges, then unmaps what of [start, end) they leave out
// (execve leaves the gaps between segments unmapped).
void UnmapGaps(std::vector<TrampolineRange>& ranges, uint64_t start, uint64_t end) {
  std::sort(ranges.begin(), ranges.end(),
            [](const TrampolineRange& a, const TrampolineRange& b) { return a.start < b.start; });
  std::vector<TrampolineRange> merged;
  for (const TrampolineRange& range : ranges) {
    if (!merged.empty() && range.start <= merged.back().end) {
      merged.back().end = std::max(merged.back().end, range.end);
    } else {
      merged.push_back(range);
    }
  }
  uint64_t from = start;
  for (const TrampolineRange& range : merged) {
    if (range.start > from) ::munmap(reinterpret_cast<void*>(from), range.start - from);
    from = std::max(from, range.end);
  }
  if (end > from) ::munmap(reinterpret_cast<void*>(from), end - from);
  ranges = std::move(merged);
}

// Maps image at bias (nullopt: where mmap finds room); errno on failure.
Result<LoadedImage> LoadImage(const ElfImage& image, std::optional<uint64_t> bias) {
  LoadedImage loaded;
  const uint64_t length = image.max_vaddr - image.min_vaddr;
  if (int err = loaded.Reserve(bias.value_or(0) + image.min_vaddr, length, bias.has_value());
      err != 0) {
    return ErrnoError(ErrorKind::kSystem, err, "mmap");
  }
  loaded.bias = loaded.span_start() - image.min_vaddr;
  for (const LoadSegment& segment : image.segments) {
    if (int err = MapSegment(segment, image.fd.get(), loaded.bias, loaded.ranges); err != 0) {
      return ErrnoError(ErrorKind::kSystem, err, "mmap");
    }
  }
  UnmapGaps(loaded.ranges, loaded.span_start(), loaded.span_start() + length);
  return loaded;
}

// The program at its own addresses (ET_EXEC) or at a PIE base: ELF_ET_DYN_BASE
// plus ASLR's offset, another offset where that is taken (crpid's own heap
// starts near ELF_ET_DYN_BASE), else where mmap finds room.
Result<LoadedImage> LoadProgram(const ElfImage& program) {
  if (!program.position_independent) return LoadImage(program, 0);
  const bool randomize = AddressRandomization();
  for (int attempt = 0; attempt < 8; ++attempt) {
    const uint64_t offset = randomize || attempt > 0 ? RandomPages(kDynamicBaseRandomPages) * kPage : 0;
    auto loaded = LoadImage(program, kDynamicBase + offset - program.min_vaddr);
    if (loaded || loaded.error().err != EEXIST) return loaded;
  }
  return LoadImage(program, std::nullopt);
}

// The trampoline unmaps everything up to kTaskSize after the point of no
// return; a kernel with a smaller user address space (arm64 built with
// 39-bit VA) would refuse that munmap there. The stack sits at the top of
// the address space, so it tells which one this kernel has.
Status CheckAddressSpace(uint64_t stack_end) {
  if (stack_end <= kTaskSize && stack_end > kTaskSize / 2) return Ok{};
  char seen[32], expected[32];
  std::snprintf(seen, sizeof seen, "0x%llx", static_cast<unsigned long long>(stack_end));
  std::snprintf(expected, sizeof expected, "0x%llx", static_cast<unsigned long long>(kTaskSize));
  return Error{ErrorKind::kUnsupported, 0,
               std::string("this kernel's user address space (stack at ") + seen +
                   ") is not the one set-mm is built for (up to " + expected + ")",
               "set-mm needs 47-bit (x86_64) or 48-bit (aarch64) user addresses; "
               "fork-at and map-files-dump work here"};
}

// What a failed load tells the user: execve would fail the same way.
Error LoadError(const ElfImage& image, int err) {
  if (err == EEXIST) {
    // Exit 126 like any program this machine cannot execute.
    return Error{ErrorKind::kInvalidInput, ENOEXEC,
                 image.path + " would load over the stack, the vDSO or crpid's own memory",
                 "its program headers ask for addresses this process cannot give"};
  }
  if (err == EPERM || err == EACCES) {
    char address[32];
    std::snprintf(address, sizeof address, "0x%llx",
                  static_cast<unsigned long long>(image.min_vaddr));
    return Error{ErrorKind::kInvalidInput, ENOEXEC,
                 image.path + " loads at " + address +
                     ", below the lowest address the kernel lets a process map: " +
                     std::strerror(err),
                 "link it at a higher address (vm.mmap_min_addr; a security module "
                 "can raise the minimum)"};
  }
  return Error{ErrorKind::kInvalidInput, ENOEXEC,
               "cannot map " + image.path + ": " + std::strerror(err),
               "its segments need more memory than this process may have (RAM and "
               "swap, ulimit -v, ulimit -d)"};
}

}  // namespace

namespace {

// What of crpid's memory the trampoline keeps: the stack (the new one is
// written into it) and the vDSO pages.
struct ProcessLayout {
  StackRange stack;
  std::vector<TrampolineRange> keep;
};

Result<ProcessLayout> ReadLayout() {
  auto maps = ReadMaps(::getpid());
  if (!maps) return maps.error();
  ProcessLayout layout;
  for (const Mapping& mapping : *maps) {
    if (mapping.path == "[stack]") layout.stack = {mapping.start, mapping.end};
    if (mapping.path == "[vdso]" || mapping.path == "[vvar]" ||
        mapping.path == "[vvar_vclock]") {
      layout.keep.push_back({mapping.start, mapping.end});
    }
  }
  if (layout.stack.end == 0) {
    return Error{ErrorKind::kSystem, 0, "no [stack] in /proc/self/maps", {}};
  }
  layout.keep.push_back({layout.stack.start, layout.stack.end});
  return layout;
}

// Phase 3, the preparation: the program's initial stack as execve builds it.
Result<StackImage> PrepareStack(const SetMmRequest& request, const ProgramFiles& files,
                                uint64_t program_bias, uint64_t interpreter_bias,
                                const StackRange& stack) {
  // The environment crpid was started with, not glibc's secure-mode copy
  // (see InitialEnvironment): PROGRAM runs without any capability.
  std::vector<std::string> environment;
  if (auto initial = InitialEnvironment()) {
    environment = *initial;
  } else {
    for (char** entry = environ; *entry != nullptr; ++entry) environment.push_back(*entry);
  }
  const ElfImage& program = files.program;
  const std::map<uint64_t, uint64_t> values = {
      {AT_PHDR, program_bias + program.phdr_vaddr},
      {AT_PHENT, program.phent},
      {AT_PHNUM, program.phnum},
      {AT_BASE, interpreter_bias},
      {AT_FLAGS, 0},
      {AT_ENTRY, program_bias + program.entry},
      {AT_UID, ::getuid()},
      {AT_EUID, ::geteuid()},
      {AT_GID, ::getgid()},
      {AT_EGID, ::getegid()},
      {AT_SECURE, 0},
  };
  auto auxv = ProgramAuxv(request.initial_envp, values);
  if (!auxv) return auxv.error();
  StackImage image = BuildStack(stack.end, files.argv, environment, files.execfn, *auxv);
  if (image.sp <= stack.start + kPage) {
    return Error{ErrorKind::kInvalidInput, E2BIG,
                 "arguments and environment do not fit the stack", {}};
  }
  return image;
}

// Code, data and brk as execve computes them from the PT_LOAD segments.
void FillMmMap(const ElfImage& program, uint64_t bias, uint64_t brk,
               const StackImage& image, int exe_fd, TrampolineMmMap& mm) {
  mm.start_code = UINT64_MAX;
  for (const LoadSegment& segment : program.segments) {
    const uint64_t start = bias + segment.vaddr;
    const uint64_t file_end = start + segment.filesz;
    if ((segment.flags & PF_X) != 0) {
      mm.start_code = std::min(mm.start_code, start);
      mm.end_code = std::max(mm.end_code, file_end);
    }
    mm.start_data = std::max(mm.start_data, start);
    mm.end_data = std::max(mm.end_data, file_end);
  }
  if (mm.start_code == UINT64_MAX) mm.start_code = mm.end_code = bias + program.min_vaddr;
  if (mm.end_code <= mm.start_code) mm.end_code = mm.start_code + 1;
  mm.start_brk = mm.brk = brk;
  mm.start_stack = image.sp;
  mm.arg_start = image.arg_start;
  mm.arg_end = image.arg_end;
  mm.env_start = image.env_start;
  mm.env_end = image.env_end;
  mm.auxv = image.auxv_address;
  mm.auxv_size = image.auxv_size;
  mm.exe_fd = static_cast<uint32_t>(exe_fd);
}

// Capabilities: effective for the prctl only; afterwards what execve of an
// ordinary program gives, i.e. nothing — root keeps its own sets.
void FillCapabilities(const CapabilityState& capabilities, TrampolineParams& params) {
  const TrampolineCaps current = CurrentCaps();
  params.raise = current;
  const int capability = CheckpointRestoreCapabilityToRaise(capabilities);
  if (capability >= 0) {
    params.raise.data[capability / 32].effective |= 1u << (capability % 32);
  }
  const bool root = ::geteuid() == 0;
  params.final_caps = current;
  if (!root) {
    for (auto& data : params.final_caps.data) data = {0, 0, 0};
  }
  params.clear_ambient = !root;
}

void FillMessages(TrampolineParams& params) {
  CopyString(params.message_prefix, sizeof params.message_prefix, "crpid: set-mm: ");
  CopyString(params.message_middle, sizeof params.message_middle,
             " failed after the point of no return (errno ");
  const char* steps[] = {"munmap", "raising the capability", "prctl(PR_SET_MM_MAP)",
                         "dropping capabilities"};
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; ++i) {
    CopyString(params.step_names[i], sizeof params.step_names[i], steps[i]);
  }
}

// Phase 4, the hand-off: the trampoline's code and its parameter block
// (parameters, stack image, descriptors to close, its own stack).
struct Trampoline {
  Mapped block;
  Mapped code;
  TrampolineParams* params = nullptr;
};

Status SetUpTrampoline(const StackImage& image, const std::vector<int>& close_fds,
                       Trampoline& trampoline) {
  if (trampoline.block.get() == nullptr || trampoline.code.get() == nullptr) {
    return SystemError(errno, "mmap");
  }
  std::memcpy(trampoline.code.get(), TrampolineCodeStart(), TrampolineCodeSize());
  // Code written as data: arm64 must clean the data cache and invalidate
  // the instruction cache before running it (nothing to do on x86).
  __builtin___clear_cache(trampoline.code.get(),
                          trampoline.code.get() + TrampolineCodeSize());
  if (::mprotect(trampoline.code.get(), trampoline.code.length(),
                 PROT_READ | PROT_EXEC) != 0) {
    return SystemError(errno, "mprotect");
  }
  auto* params = new (trampoline.block.get()) TrampolineParams{};
  char* cursor = trampoline.block.get() + sizeof(TrampolineParams);
  std::memcpy(cursor, image.bytes.data(), image.bytes.size());
  params->stack_image = reinterpret_cast<uint64_t>(cursor);
  params->stack_image_size = image.bytes.size();
  params->stack_dest = image.sp;
  cursor += image.bytes.size();
  cursor = reinterpret_cast<char*>((reinterpret_cast<uint64_t>(cursor) + 7) & ~uint64_t{7});
  std::memcpy(cursor, close_fds.data(), close_fds.size() * sizeof(int));
  params->close_fds = reinterpret_cast<uint64_t>(cursor);
  params->close_count = static_cast<int32_t>(close_fds.size());
  params->self_start = trampoline.block.start();
  params->self_length = trampoline.block.length();
  FillMessages(*params);
  trampoline.params = params;
  return Ok{};
}

// The trampoline's PR_SET_MM_MAP, tried now with the very map it will
// pass: the kernel validates it and stops at EBUSY (crpid still mapped).
// Its effective mmap_min_addr (a security module's minimum, 65536 with
// most) can exceed vm.mmap_min_addr, which alone decides where mmap may map.
Status ValidateFinalMap(const TrampolineMmMap& map, const ElfImage& program,
                        uint64_t program_start, const CapabilityState& capabilities) {
  const int err = TrySetMmMap(map, capabilities);
  if (err == EBUSY || err == 0) return Ok{};
  if (err == EINVAL && program_start < 0x10000) {
    char address[32];
    std::snprintf(address, sizeof address, "0x%llx",
                  static_cast<unsigned long long>(program_start));
    return Error{ErrorKind::kInvalidInput, ENOEXEC,
                 program.path + " loads at " + address +
                     ", below the lowest address the kernel accepts (its effective "
                     "mmap_min_addr, 65536 with a security module)",
                 "link it at a higher address, such as 0x400000"};
  }
  return Error{ErrorKind::kInvalidInput, ENOEXEC,
               "the kernel refuses " + program.path + "'s memory layout (PR_SET_MM_MAP: " +
                   std::strerror(err) + ")",
               "check its program headers and ulimit -d"};
}

bool Overlaps(const std::vector<TrampolineRange>& ranges, uint64_t start, uint64_t end) {
  for (const TrampolineRange& range : ranges) {
    if (start < range.end && range.start < end) return true;
  }
  return false;
}

// What the trampoline keeps, sorted. Nothing of it may lie where the
// program's brk area will grow (spans cannot wrap: OpenElfImage bounds
// every PT_LOAD).
Status FillKeep(std::vector<TrampolineRange> keep, const Trampoline& trampoline,
                const LoadedImage& program, uint64_t program_start, uint64_t brk,
                const std::optional<LoadedImage>& interpreter, TrampolineParams& params) {
  keep.push_back({trampoline.code.start(), trampoline.code.start() + trampoline.code.length()});
  keep.push_back({trampoline.block.start(), trampoline.block.start() + trampoline.block.length()});
  if (interpreter) keep.insert(keep.end(), interpreter->ranges.begin(), interpreter->ranges.end());
  if (brk > kTaskSize || Overlaps(keep, program_start, brk)) {
    return Error{ErrorKind::kInvalidInput, 0,
                 "the program's brk area would overlap the stack, the vDSO or crpid's loader",
                 "its program headers ask for addresses this process cannot give"};
  }
  keep.insert(keep.end(), program.ranges.begin(), program.ranges.end());
  if (keep.size() > kTrampolineMaxKeep) {
    return Error{ErrorKind::kInvalidInput, 0, "too many segments to load", {}};
  }
  std::sort(keep.begin(), keep.end(),
            [](const TrampolineRange& a, const TrampolineRange& b) { return a.start < b.start; });
  for (const TrampolineRange& range : keep) params.keep[params.keep_count++] = range;
  return Ok{};
}

// The point of no return: from here on, nothing of crpid is left to return to.
[[noreturn]] void HandOver(const Trampoline& trampoline, uint64_t entry) {
  sigset_t all;
  sigfillset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  ResetSignalHandlers();
  RestoreFileSizeSignal();
  UnregisterRseq();
  trampoline.params->entry = entry;
  EnterTrampoline(trampoline.code.start() + TrampolineEntryOffset(),
                  trampoline.block.start() + trampoline.block.length(), trampoline.params);
}

}  // namespace

Error RunAsProgram(const SetMmRequest& request) {
  auto files = CheckProgram(request);
  if (!files) return files.error();
  auto layout = ReadLayout();
  if (!layout) return layout.error();
  if (Status fits = CheckAddressSpace(layout->stack.end); !fits) return fits.error();
  auto program = LoadProgram(files->program);
  if (!program) return LoadError(files->program, program.error().err);
  std::optional<LoadedImage> interpreter;
  if (files->interpreter) {
    auto loaded = LoadImage(*files->interpreter, std::nullopt);
    if (!loaded) return LoadError(*files->interpreter, loaded.error().err);
    interpreter.emplace(std::move(*loaded));
  }
  const bool randomize = AddressRandomization();
  const uint64_t brk = PageUp(program->bias + files->program.max_vaddr) +
                       (randomize ? RandomPages(kBrkRandomPages) * kPage : 0);
  auto image = PrepareStack(request, *files, program->bias,
                            interpreter ? interpreter->bias : 0, layout->stack);
  if (!image) return image.error();

  const std::vector<int> close_fds = CloseOnExecDescriptors();
  Trampoline trampoline{
      Mapped(PageUp(sizeof(TrampolineParams) + image->bytes.size() +
                    close_fds.size() * sizeof(int) + kTrampolineStack + 64)),
      Mapped(PageUp(TrampolineCodeSize()))};
  if (Status set_up = SetUpTrampoline(*image, close_fds, trampoline); !set_up) {
    return set_up.error();
  }
  TrampolineParams& params = *trampoline.params;
  if (Status kept = FillKeep(layout->keep, trampoline, *program,
                             program->bias + files->program.min_vaddr, brk, interpreter, params);
      !kept) {
    return kept.error();
  }
  params.unmap_limit = std::max(kTaskSize, layout->stack.end);
  FillMmMap(files->program, program->bias, brk, *image, files->exe.fd.get(), params.mm_map);
  if (Status valid = ValidateFinalMap(params.mm_map, files->program,
                                      program->bias + files->program.min_vaddr,
                                      request.capabilities);
      !valid) {
    return valid.error();
  }
  FillCapabilities(request.capabilities, params);
  std::memcpy(&params.signal_mask, &request.signal_mask, sizeof params.signal_mask);
  const std::string comm = request.comm.empty()
                               ? files->execfn.substr(files->execfn.rfind('/') + 1)
                               : request.comm;
  CopyString(params.comm, sizeof params.comm, comm);
  HandOver(trampoline, interpreter ? interpreter->bias + files->interpreter->entry
                                   : program->bias + files->program.entry);
}

}  // namespace crpid
