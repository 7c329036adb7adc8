// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// clone_vm.h's assembly, x86_64. The syscall instruction clobbers rax, rcx
// and r11 only; the child gets every other register of its creator, rax 0
// and rsp = stack + stack_size (16-byte aligned, as a call needs).

__asm__(
    ".text\n"
    ".globl crpid_raw_syscall\n"
    ".type crpid_raw_syscall, @function\n"
    "crpid_raw_syscall:\n"
    "  endbr64\n"
    "  movq %rdi, %rax\n"     // number
    "  movq %rsi, %rdi\n"
    "  movq %rdx, %rsi\n"
    "  movq %rcx, %rdx\n"
    "  movq %r8, %r10\n"
    "  movq %r9, %r8\n"
    "  movq 8(%rsp), %r9\n"   // the seventh argument: on the stack
    "  syscall\n"
    "  ret\n"
    ".size crpid_raw_syscall, .-crpid_raw_syscall\n"
    "\n"
    // rdi args, rsi size, rdx entry, rcx a, r8 b.
    ".globl crpid_clone3_vm\n"
    ".type crpid_clone3_vm, @function\n"
    "crpid_clone3_vm:\n"
    "  endbr64\n"
    "  movq %rcx, %r9\n"      // syscall clobbers rcx
    "  movl $435, %eax\n"     // __NR_clone3
    "  syscall\n"
    "  testq %rax, %rax\n"
    "  jnz 1f\n"
    // The child, on its new stack: no frame to return to.
    "  xorl %ebp, %ebp\n"
    "  movq %r9, %rdi\n"
    "  movq %r8, %rsi\n"
    "  call *%rdx\n"
    "  movl %eax, %edi\n"
    "  movl $60, %eax\n"      // __NR_exit
    "  syscall\n"
    "  hlt\n"
    "1:\n"
    "  ret\n"
    ".size crpid_clone3_vm, .-crpid_clone3_vm\n");
