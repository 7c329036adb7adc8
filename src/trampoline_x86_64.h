// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// What the set-mm trampoline does differently on x86_64: the system call
// instruction, entering the program with the registers execve leaves, and
// the jump into the copied code. Included only by trampoline.cc, after its
// TRAMPOLINE macro (the section and attributes every part of the copied
// code has).
#ifndef CRPID_SRC_TRAMPOLINE_X86_64_H_
#define CRPID_SRC_TRAMPOLINE_X86_64_H_

#include <asm/unistd.h>
#include <stdint.h>

#include "src/trampoline.h"

namespace {

// syscall: number in rax, arguments in rdi, rsi, rdx, r10, r8, r9, result in
// rax; rcx and r11 are clobbered.
TRAMPOLINE inline long Syscall6(long number, long a, long b, long c, long d,
                                long e, long f) {
  long result;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(result)
                   : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
                     "r"(r9)
                   : "rcx", "r11", "memory");
  return result;
}

// Step 5 of crpid_trampoline_main (trampoline.cc).
[[noreturn]] TRAMPOLINE inline void EnterProgram(const crpid::TrampolineParams* params) {
  // 5. Unmap this parameter block (and the stack this code runs on), then
  //    enter the program with the registers execve leaves: all zero but rsp.
  register uint64_t entry __asm__("r12") = params->entry;
  register uint64_t stack __asm__("r13") = params->stack_dest;
  __asm__ volatile(
      "mov $11, %%eax\n\t"  // __NR_munmap
      "syscall\n\t"
      "mov %%r13, %%rsp\n\t"
      "xor %%eax, %%eax\n\t"
      "xor %%ebx, %%ebx\n\t"
      "xor %%ecx, %%ecx\n\t"
      "xor %%edx, %%edx\n\t"
      "xor %%esi, %%esi\n\t"
      "xor %%edi, %%edi\n\t"
      "xor %%ebp, %%ebp\n\t"
      "xor %%r8d, %%r8d\n\t"
      "xor %%r9d, %%r9d\n\t"
      "xor %%r10d, %%r10d\n\t"
      "xor %%r11d, %%r11d\n\t"
      "xor %%r13d, %%r13d\n\t"
      "xor %%r14d, %%r14d\n\t"
      "xor %%r15d, %%r15d\n\t"
      "push %%r12\n\t"
      "xor %%r12d, %%r12d\n\t"
      "ret\n\t"
      :
      : "r"(entry), "r"(stack), "D"(params->self_start),
        "S"(params->self_length)
      : "memory");
  __builtin_unreachable();
}

// crpid::EnterTrampoline (trampoline.h): outside the section, run in crpid.
[[noreturn]] inline void JumpToTrampoline(uint64_t entry, uint64_t stack_top,
                                          const crpid::TrampolineParams* params) {
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

#endif  // CRPID_SRC_TRAMPOLINE_X86_64_H_
