// The trampoline's code (see trampoline.h), aarch64. Compiled freestanding
// into section "crpid_trampoline", which set_mm.cc copies to an anonymous
// mapping: only position-independent code, raw syscalls, no calls out of
// the section, no data outside TrampolineParams. Build flags in BUILD.bazel.
#include <asm/unistd.h>
#include <linux/prctl.h>

#include "src/trampoline.h"

#define TRAMPOLINE __attribute__((section("crpid_trampoline"), used))

namespace {

// svc #0: number in x8, arguments in x0-x5, result in x0.
TRAMPOLINE inline long Syscall6(long number, long a, long b, long c, long d,
                                long e, long f) {
  register long x8 __asm__("x8") = number;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc #0"
                   : "+r"(x0)
                   : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                   : "memory");
  return x0;
}

TRAMPOLINE inline long Syscall3(long number, long a, long b, long c) {
  return Syscall6(number, a, b, c, 0, 0, 0);
}

// Writes "PREFIX<step> failed after the point of no return (errno N)" to
// fd 2 and exits: nothing of crpid is left to return to.
[[noreturn]] TRAMPOLINE void Fail(const crpid::TrampolineParams* params,
                                  int step, long result) {
  char line[192];
  int length = 0;
  const char* parts[3] = {params->message_prefix, params->step_names[step],
                          params->message_middle};
  for (const char* part : parts) {
    for (int i = 0; part[i] != 0 && i < 64 && length < 176; ++i) {
      line[length++] = part[i];
    }
  }
  char digits[8];
  int count = 0;
  unsigned long err = static_cast<unsigned long>(-result);
  do {
    digits[count++] = static_cast<char>('0' + err % 10);
    err /= 10;
  } while (err != 0 && count < 8);
  while (count > 0) line[length++] = digits[--count];
  line[length++] = ')';
  line[length++] = '\n';
  Syscall3(__NR_write, 2, reinterpret_cast<long>(line), length);
  Syscall3(__NR_exit_group, crpid::kTrampolineFailureStatus, 0, 0);
  __builtin_unreachable();
}

TRAMPOLINE inline bool Failed(long result) {
  return static_cast<unsigned long>(result) > static_cast<unsigned long>(-4096L);
}

}  // namespace

extern "C" [[noreturn]] TRAMPOLINE void crpid_trampoline_main(
    const crpid::TrampolineParams* params) {
  // 1. Unmap everything of crpid's but what is kept.
  uint64_t from = 0;
  for (int i = 0; i <= params->keep_count; ++i) {
    const uint64_t to =
        i < params->keep_count ? params->keep[i].start : params->unmap_limit;
    if (to > from) {
      long result = Syscall3(__NR_munmap, static_cast<long>(from),
                             static_cast<long>(to - from), 0);
      if (Failed(result)) Fail(params, crpid::kStepMunmap, result);
    }
    if (i < params->keep_count) from = params->keep[i].end;
  }

  // 2. The new initial stack: argc, argv, envp, auxv and their strings.
  {
    const volatile char* source = reinterpret_cast<const char*>(params->stack_image);
    volatile char* destination = reinterpret_cast<char*>(params->stack_dest);
    for (uint64_t i = 0; i < params->stack_image_size; ++i) {
      destination[i] = source[i];
    }
  }

  // 3. The memory map descriptors and the exe link, with the capability
  //    effective for this call only.
  long result = Syscall3(__NR_capset, reinterpret_cast<long>(&params->raise),
                         reinterpret_cast<long>(&params->raise.data), 0);
  if (Failed(result)) Fail(params, crpid::kStepRaiseCapability, result);
  result = Syscall6(__NR_prctl, PR_SET_MM, PR_SET_MM_MAP,
                    reinterpret_cast<long>(&params->mm_map),
                    sizeof(params->mm_map), 0, 0);
  if (Failed(result)) Fail(params, crpid::kStepSetMmMap, result);

  // 4. What execve does to the process: capabilities, descriptors, signal
  //    mask, name, dumpable.
  result = Syscall3(__NR_capset, reinterpret_cast<long>(&params->final_caps),
                    reinterpret_cast<long>(&params->final_caps.data), 0);
  if (Failed(result)) Fail(params, crpid::kStepDropCapabilities, result);
  if (params->clear_ambient) {
    Syscall6(__NR_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0);
  }
  const int* fds = reinterpret_cast<const int*>(params->close_fds);
  for (int i = 0; i < params->close_count; ++i) {
    Syscall3(__NR_close, fds[i], 0, 0);
  }
  Syscall6(__NR_rt_sigprocmask, 2 /* SIG_SETMASK */,
           reinterpret_cast<long>(&params->signal_mask), 0, 8, 0, 0);
  Syscall6(__NR_prctl, PR_SET_NAME, reinterpret_cast<long>(params->comm), 0, 0,
           0, 0);
  Syscall6(__NR_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0, 0);

  // 5. Unmap this parameter block (and the stack this code runs on), then
  //    enter the program with the registers execve leaves (start_thread:
  //    x0-x30 zero, sp the new stack). One register must hold the entry for
  //    the branch: x16 (IP0), the scratch register the AAPCS64 gives branch
  //    veneers, which nothing reads at entry (x0 would be glibc's rtld_fini).
  register uint64_t x0 __asm__("x0") = params->self_start;
  register uint64_t x1 __asm__("x1") = params->self_length;
  register uint64_t x8 __asm__("x8") = __NR_munmap;
  register uint64_t x16 __asm__("x16") = params->entry;
  register uint64_t x17 __asm__("x17") = params->stack_dest;
  __asm__ volatile(
      "svc #0\n\t"
      "mov sp, x17\n\t"
      "mov x0, xzr\n\t"
      "mov x1, xzr\n\t"
      "mov x2, xzr\n\t"
      "mov x3, xzr\n\t"
      "mov x4, xzr\n\t"
      "mov x5, xzr\n\t"
      "mov x6, xzr\n\t"
      "mov x7, xzr\n\t"
      "mov x8, xzr\n\t"
      "mov x9, xzr\n\t"
      "mov x10, xzr\n\t"
      "mov x11, xzr\n\t"
      "mov x12, xzr\n\t"
      "mov x13, xzr\n\t"
      "mov x14, xzr\n\t"
      "mov x15, xzr\n\t"
      "mov x17, xzr\n\t"
      "mov x18, xzr\n\t"
      "mov x19, xzr\n\t"
      "mov x20, xzr\n\t"
      "mov x21, xzr\n\t"
      "mov x22, xzr\n\t"
      "mov x23, xzr\n\t"
      "mov x24, xzr\n\t"
      "mov x25, xzr\n\t"
      "mov x26, xzr\n\t"
      "mov x27, xzr\n\t"
      "mov x28, xzr\n\t"
      "mov x29, xzr\n\t"
      "mov x30, xzr\n\t"
      "br x16\n\t"
      :
      : "r"(x0), "r"(x1), "r"(x8), "r"(x16), "r"(x17)
      : "memory");
  __builtin_unreachable();
}

// Outside the section: run in crpid, before the copy.
extern "C" const char __start_crpid_trampoline[];
extern "C" const char __stop_crpid_trampoline[];

namespace crpid {

const char* TrampolineCodeStart() { return __start_crpid_trampoline; }

size_t TrampolineCodeSize() {
  return static_cast<size_t>(__stop_crpid_trampoline - __start_crpid_trampoline);
}

size_t TrampolineEntryOffset() {
  return static_cast<size_t>(reinterpret_cast<const char*>(&crpid_trampoline_main) -
                             __start_crpid_trampoline);
}

void EnterTrampoline(uint64_t entry, uint64_t stack_top, const TrampolineParams* params) {
  // Off crpid's stack (16-byte aligned: the end of a page) and into the
  // copied code, params in x0 as for a call.
  register const TrampolineParams* x0 __asm__("x0") = params;
  __asm__ volatile(
      "mov sp, %0\n\t"
      "br %1\n\t"
      :
      : "r"(stack_top), "r"(entry), "r"(x0)
      : "memory");
  __builtin_unreachable();
}

}  // namespace crpid
