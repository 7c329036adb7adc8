// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// clone_vm.h's assembly, aarch64. svc #0 returns its result in x0 and
// keeps every other register; the child gets its creator's x1-x30, x0 0
// and sp = stack + stack_size (16-byte aligned, as the AAPCS64 requires).

__asm__(
    ".text\n"
    ".globl crpid_raw_syscall\n"
    ".type crpid_raw_syscall, %function\n"
    "crpid_raw_syscall:\n"
    "  mov x8, x0\n"          // number
    "  mov x0, x1\n"
    "  mov x1, x2\n"
    "  mov x2, x3\n"
    "  mov x3, x4\n"
    "  mov x4, x5\n"
    "  mov x5, x6\n"
    "  svc #0\n"
    "  ret\n"
    ".size crpid_raw_syscall, .-crpid_raw_syscall\n"
    "\n"
    // x0 args, x1 size, x2 entry, x3 a, x4 b.
    ".globl crpid_clone3_vm\n"
    ".type crpid_clone3_vm, %function\n"
    "crpid_clone3_vm:\n"
    "  mov x8, #435\n"        // __NR_clone3
    "  svc #0\n"
    "  cbnz x0, 1f\n"
    // The child, on its new stack: no frame to return to.
    "  mov x29, xzr\n"
    "  mov x30, xzr\n"
    "  mov x0, x3\n"
    "  mov x1, x4\n"
    "  blr x2\n"
    "  mov x8, #93\n"         // __NR_exit
    "  svc #0\n"
    "  brk #0\n"
    "1:\n"
    "  ret\n"
    ".size crpid_clone3_vm, .-crpid_clone3_vm\n");
