// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// What the set-mm trampoline does differently on aarch64: the system call
// instruction, entering the program with the registers execve leaves, and
// the jump into the copied code. Included only by trampoline.cc, after its
// TRAMPOLINE macro (the section and attributes every part of the copied
// code has).
#ifndef CRPID_SRC_TRAMPOLINE_AARCH64_H_
#define CRPID_SRC_TRAMPOLINE_AARCH64_H_

#include <asm/unistd.h>
#include <stdint.h>

#include "src/trampoline.h"

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

// Step 5 of crpid_trampoline_main (trampoline.cc).
[[noreturn]] TRAMPOLINE inline void EnterProgram(const crpid::TrampolineParams* params) {
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

// crpid::EnterTrampoline (trampoline.h): outside the section, run in crpid.
[[noreturn]] inline void JumpToTrampoline(uint64_t entry, uint64_t stack_top,
                                          const crpid::TrampolineParams* params) {
  // Off crpid's stack (16-byte aligned: the end of a page) and into the
  // copied code, params in x0 as for a call.
  register const crpid::TrampolineParams* x0 __asm__("x0") = params;
  __asm__ volatile(
      "mov sp, %0\n\t"
      "br %1\n\t"
      :
      : "r"(stack_top), "r"(entry), "r"(x0)
      : "memory");
  __builtin_unreachable();
}

}  // namespace

#endif  // CRPID_SRC_TRAMPOLINE_AARCH64_H_
