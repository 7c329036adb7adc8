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
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <optional>
#include <random>

#include "src/elf_image.h"
#include "src/proc_maps.h"
#include "src/procfs.h"
#include "src/trampoline.h"
#include "src/unique_fd.h"

namespace crpid {
namespace {

constexpr uint64_t kPage = 4096;
// Where x86_64 execve puts PIE programs (ELF_ET_DYN_BASE, 2/3 of the 47-bit
// TASK_SIZE); a random offset of up to 2^28 pages follows, as with ASLR's
// default mmap_rnd_bits.
constexpr uint64_t kDynamicBase = 0x555555554000;
// The 47-bit user address space of 4-level paging.
constexpr uint64_t kTaskSize = 0x7ffffffff000;
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
  static constexpr char kPlatform[] = "x86_64";
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

void AddSegments(const ElfImage& image, uint64_t bias, TrampolineParams& params) {
  for (const LoadSegment& segment : image.segments) {
    TrampolineSegment& out = params.segments[params.segment_count++];
    const uint64_t start = bias + segment.vaddr;
    const uint64_t file_end = start + segment.filesz;
    const uint64_t mem_end = start + segment.memsz;
    out.map_start = PageDown(start);
    out.fd = image.fd.get();
    out.prot = ProtectionOf(segment.flags);
    out.file_offset = segment.offset - (start - out.map_start);
    out.file_length = segment.filesz > 0 ? PageUp(file_end) - out.map_start : 0;
    out.zero_start = file_end;
    out.zero_end = segment.memsz > segment.filesz && segment.filesz > 0
                       ? PageUp(file_end)
                       : file_end;
    out.anon_start = segment.filesz > 0 ? PageUp(file_end) : out.map_start;
    out.anon_length = PageUp(mem_end) > out.anon_start ? PageUp(mem_end) - out.anon_start : 0;
  }
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

[[noreturn]] void Jump(uint64_t entry, uint64_t stack_top,
                       const TrampolineParams* params) {
  // Off crpid's stack and into the copied code; rsp as after a call.
  __asm__ volatile(
      "mov %0, %%rsp\n\t"
      "sub $8, %%rsp\n\t"
      "jmp *%1\n\t"
      :
      : "r"(stack_top), "r"(entry), "D"(params)
      : "memory");
  __builtin_unreachable();
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
  int err;
  {
    ScopedEffectiveCapability raised(
        CheckpointRestoreCapabilityToRaise(capabilities));
    err = ::prctl(PR_SET_MM, PR_SET_MM_MAP, &*map, sizeof *map, 0) == 0 ? 0 : errno;
  }
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

Error RunAsProgram(const SetMmRequest& request) {
  if (request.command.empty()) {
    return Error{ErrorKind::kInvalidInput, 0, "no PROGRAM given", {}};
  }
  // PATH steers only which file crpid opens, with the caller's own rights
  // (nothing is effective in phase 1): the same search execvp makes.
  auto found = FindInPath(request.command.front());
  if (!found) return found.error();
  // Like execve: a "#!" script runs its interpreter with the script's path
  // (up to four levels); AT_EXECFN and comm still name the script.
  const std::string execfn = *found;
  std::vector<std::string> argv = request.command;
  auto program_path = found;
  for (int depth = 0;; ++depth) {
    auto script = ReadScriptLine(*program_path);
    if (!script) return script.error();
    if (script->interpreter.empty()) break;
    if (depth == 4) {
      return Error{ErrorKind::kInvalidInput, ELOOP,
                   execfn + ": more than four levels of #! interpreters", {}};
    }
    std::vector<std::string> script_argv = {script->interpreter};
    if (!script->argument.empty()) script_argv.push_back(script->argument);
    script_argv.push_back(*program_path);
    script_argv.insert(script_argv.end(), argv.begin() + 1, argv.end());
    argv = std::move(script_argv);
    program_path = script->interpreter;
  }
  auto program = OpenElfImage(*program_path);
  if (!program) return program.error();
  std::optional<ElfImage> interpreter;
  if (!program->interpreter.empty()) {
    auto opened = OpenElfImage(program->interpreter);
    if (!opened) {
      Error error = opened.error();
      error.message = "interpreter of " + *program_path + ": " + error.message;
      return error;
    }
    if (!opened->position_independent || !opened->interpreter.empty()) {
      return Error{ErrorKind::kInvalidInput, ENOEXEC,
                   program->interpreter + " cannot be an ELF interpreter", {}};
    }
    interpreter = std::move(*opened);
  }
  const std::string exe_path = request.exe.empty() ? *program_path : request.exe;
  auto exe = OpenExecutableFile(exe_path);
  if (!exe) return exe.error();
  if (Status probed = ProbeExeChange(exe->fd.get(), exe_path, request.capabilities);
      !probed) {
    return probed.error();
  }

  // Addresses: the program at its own (ET_EXEC) or a random PIE base; the
  // interpreter where mmap finds room, reserved now; brk after the program.
  const bool randomize = AddressRandomization();
  const uint64_t program_bias =
      program->position_independent
          ? kDynamicBase + (randomize ? RandomPages(1 << 28) * kPage : 0) -
                program->min_vaddr
          : 0;
  std::optional<Mapped> interpreter_reservation;
  uint64_t interpreter_bias = 0;
  if (interpreter) {
    interpreter_reservation.emplace(interpreter->max_vaddr - interpreter->min_vaddr,
                                    PROT_NONE);
    if (interpreter_reservation->get() == nullptr) {
      return SystemError(errno, "cannot reserve room for " + interpreter->path);
    }
    interpreter_bias = interpreter_reservation->start() - interpreter->min_vaddr;
  }
  const uint64_t brk =
      PageUp(program_bias + program->max_vaddr) +
      (randomize ? RandomPages(8192) * kPage : 0);  // up to 32 MiB, as x86_64

  auto maps = ReadMaps(::getpid());
  if (!maps) return maps.error();
  StackRange stack;
  std::vector<TrampolineRange> keep;
  for (const Mapping& mapping : *maps) {
    if (mapping.path == "[stack]") stack = {mapping.start, mapping.end};
    if (mapping.path == "[vdso]" || mapping.path == "[vvar]" ||
        mapping.path == "[vvar_vclock]") {
      keep.push_back({mapping.start, mapping.end});
    }
  }
  if (stack.end == 0) {
    return Error{ErrorKind::kSystem, 0, "no [stack] in /proc/self/maps", {}};
  }
  keep.push_back({stack.start, stack.end});

  // The program's view of itself, as execve would build it.
  // The environment crpid was started with, not glibc's secure-mode copy
  // (see InitialEnvironment): PROGRAM runs without any capability.
  std::vector<std::string> environment;
  if (auto initial = InitialEnvironment()) {
    environment = *initial;
  } else {
    for (char** entry = environ; *entry != nullptr; ++entry) environment.push_back(*entry);
  }
  const uint64_t phdr = program_bias + program->phdr_vaddr;
  const uint64_t entry = program_bias + program->entry;
  std::map<uint64_t, uint64_t> values = {
      {AT_PHDR, phdr},
      {AT_PHENT, program->phent},
      {AT_PHNUM, program->phnum},
      {AT_BASE, interpreter ? interpreter_bias : 0},
      {AT_FLAGS, 0},
      {AT_ENTRY, entry},
      {AT_UID, ::getuid()},
      {AT_EUID, ::geteuid()},
      {AT_GID, ::getgid()},
      {AT_EGID, ::getegid()},
      {AT_SECURE, 0},
  };
  auto program_auxv = ProgramAuxv(request.initial_envp, values);
  if (!program_auxv) return program_auxv.error();
  StackImage image = BuildStack(stack.end, argv, environment, execfn, *program_auxv);
  if (image.sp <= stack.start + kPage) {
    return Error{ErrorKind::kInvalidInput, E2BIG,
                 "arguments and environment do not fit the stack", {}};
  }

  // The parameter block: parameters, stack image, descriptors to close and
  // the trampoline's own stack.
  std::vector<int> close_fds = CloseOnExecDescriptors();
  const size_t block_length =
      PageUp(sizeof(TrampolineParams) + image.bytes.size() +
             close_fds.size() * sizeof(int) + kTrampolineStack + 64);
  Mapped block(block_length);
  const size_t code_length = PageUp(TrampolineCodeSize());
  Mapped code(code_length);
  if (block.get() == nullptr || code.get() == nullptr) {
    return SystemError(errno, "mmap");
  }
  std::memcpy(code.get(), TrampolineCodeStart(), TrampolineCodeSize());
  if (::mprotect(code.get(), code_length, PROT_READ | PROT_EXEC) != 0) {
    return SystemError(errno, "mprotect");
  }
  keep.push_back({code.start(), code.start() + code.length()});
  keep.push_back({block.start(), block.start() + block.length()});
  if (interpreter_reservation) {
    keep.push_back({interpreter_reservation->start(),
                    interpreter_reservation->start() + interpreter_reservation->length()});
  }
  std::sort(keep.begin(), keep.end(),
            [](const TrampolineRange& a, const TrampolineRange& b) { return a.start < b.start; });

  auto* params = new (block.get()) TrampolineParams{};
  if (keep.size() > kTrampolineMaxKeep ||
      program->segments.size() + (interpreter ? interpreter->segments.size() : 0) >
          kTrampolineMaxSegments) {
    return Error{ErrorKind::kInvalidInput, 0, "too many segments to load", {}};
  }
  for (const TrampolineRange& range : keep) params->keep[params->keep_count++] = range;
  params->unmap_limit = std::max(kTaskSize, stack.end);
  // Nothing may land on what is kept — above all the trampoline and its
  // parameters, which run with the capability until the end: each segment
  // and the brk area after the program are checked (spans cannot wrap:
  // OpenElfImage bounds every PT_LOAD).
  const uint64_t program_start = program_bias + program->min_vaddr;
  auto overlaps_kept = [&keep](uint64_t start, uint64_t end) {
    for (const TrampolineRange& range : keep) {
      if (start < range.end && range.start < end) return true;
    }
    return false;
  };
  bool collides = brk > kTaskSize || overlaps_kept(program_start, brk);
  if (interpreter) {
    for (const LoadSegment& segment : interpreter->segments) {
      const uint64_t start = interpreter_bias + segment.vaddr;
      collides |= start < interpreter_reservation->start() ||
                  PageUp(start + segment.memsz) >
                      interpreter_reservation->start() + interpreter_reservation->length();
    }
  }
  if (collides) {
    return Error{ErrorKind::kInvalidInput, 0,
                 *program_path + " would load over the stack, the vDSO or crpid's loader",
                 "its program headers ask for addresses this process cannot give"};
  }
  AddSegments(*program, program_bias, *params);
  if (interpreter) AddSegments(*interpreter, interpreter_bias, *params);

  char* cursor = block.get() + sizeof(TrampolineParams);
  std::memcpy(cursor, image.bytes.data(), image.bytes.size());
  params->stack_image = reinterpret_cast<uint64_t>(cursor);
  params->stack_image_size = image.bytes.size();
  params->stack_dest = image.sp;
  cursor += image.bytes.size();
  cursor = reinterpret_cast<char*>((reinterpret_cast<uint64_t>(cursor) + 7) & ~uint64_t{7});
  std::memcpy(cursor, close_fds.data(), close_fds.size() * sizeof(int));
  params->close_fds = reinterpret_cast<uint64_t>(cursor);
  params->close_count = static_cast<int32_t>(close_fds.size());

  // Code, data and brk as execve computes them from the PT_LOAD segments.
  TrampolineMmMap& mm = params->mm_map;
  mm.start_code = UINT64_MAX;
  for (const LoadSegment& segment : program->segments) {
    const uint64_t start = program_bias + segment.vaddr;
    const uint64_t file_end = start + segment.filesz;
    if ((segment.flags & PF_X) != 0) {
      mm.start_code = std::min(mm.start_code, start);
      mm.end_code = std::max(mm.end_code, file_end);
    }
    mm.start_data = std::max(mm.start_data, start);
    mm.end_data = std::max(mm.end_data, file_end);
  }
  if (mm.start_code == UINT64_MAX) mm.start_code = mm.end_code = program_start;
  if (mm.end_code <= mm.start_code) mm.end_code = mm.start_code + 1;
  mm.start_brk = mm.brk = brk;
  mm.start_stack = image.sp;
  mm.arg_start = image.arg_start;
  mm.arg_end = image.arg_end;
  mm.env_start = image.env_start;
  mm.env_end = image.env_end;
  mm.auxv = image.auxv_address;
  mm.auxv_size = image.auxv_size;
  mm.exe_fd = static_cast<uint32_t>(exe->fd.get());

  // Capabilities: effective for the prctl only; afterwards what execve of
  // an ordinary program gives, i.e. nothing — root keeps its own sets.
  const TrampolineCaps current = CurrentCaps();
  params->raise = current;
  const int capability = CheckpointRestoreCapabilityToRaise(request.capabilities);
  if (capability >= 0) {
    params->raise.data[capability / 32].effective |= 1u << (capability % 32);
  }
  const bool root = ::geteuid() == 0;
  params->final_caps = current;
  if (!root) {
    for (auto& data : params->final_caps.data) data = {0, 0, 0};
  }
  params->clear_ambient = !root;

  std::memcpy(&params->signal_mask, &request.signal_mask, sizeof params->signal_mask);
  std::string comm = request.comm;
  if (comm.empty()) {
    comm = execfn.substr(execfn.rfind('/') + 1);
  }
  CopyString(params->comm, sizeof params->comm, comm);
  params->entry = interpreter ? interpreter_bias + interpreter->entry : entry;
  params->self_start = block.start();
  params->self_length = block.length();
  CopyString(params->message_prefix, sizeof params->message_prefix, "crpid: set-mm: ");
  CopyString(params->message_middle, sizeof params->message_middle,
             " failed after the point of no return (errno ");
  const char* steps[] = {"munmap", "mmap of a segment", "mmap of .bss", "mprotect",
                         "raising the capability", "prctl(PR_SET_MM_MAP)",
                         "dropping capabilities"};
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; ++i) {
    CopyString(params->step_names[i], sizeof params->step_names[i], steps[i]);
  }

  // The point of no return.
  sigset_t all;
  sigfillset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  ResetSignalHandlers();
  UnregisterRseq();
  const uint64_t trampoline_entry = code.start() + TrampolineEntryOffset();
  Jump(trampoline_entry, block.start() + block.length(), params);
}

}  // namespace crpid
