// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// The trampoline's code (see trampoline.h). Compiled freestanding into
// section "crpid_trampoline", which set_mm.cc copies to an anonymous
// mapping: only position-independent code, raw syscalls, no calls out of
// the section, no data outside TrampolineParams. One copy for every
// architecture; what differs (the system call instruction, the registers
// the program is entered with, the jump into the copy) is in
// trampoline_x86_64.h and trampoline_aarch64.h. Build flags in BUILD.bazel.
#include <asm/unistd.h>
#include <linux/prctl.h>
#include <stdint.h>

#include "src/trampoline.h"

// no_sanitize: under --config=asan the section must not call into the
// sanitizer runtime, which is unmapped with the rest of crpid (BUILD.bazel
// also builds this file with -fno-sanitize=all).
#define TRAMPOLINE                                          \
  __attribute__((section("crpid_trampoline"), used,         \
                 no_sanitize("address", "undefined")))

#if defined(__x86_64__)
#include "src/trampoline_x86_64.h"
#elif defined(__aarch64__)
#include "src/trampoline_aarch64.h"
#else
#error "the set-mm trampoline is written for x86_64 and aarch64"
#endif

namespace {

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

  // 5. Unmap this parameter block and enter the program (per architecture).
  EnterProgram(params);
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
  JumpToTrampoline(entry, stack_top, params);
}

}  // namespace crpid
