// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// The source of the small real ELF files in corpus/elf_image/tiny-*: a
// program that only exits, linked in each form execve and set-mm meet
// (GCC 12, binutils 2.40, Debian 12):
//   common="-Os -s -nostdlib -fno-asynchronous-unwind-tables -fno-stack-protector
//           -Wl,--build-id=none -Wl,-z,max-page-size=4096 -Wl,-z,noseparate-code"
//   gcc $common -static -no-pie -o tiny-static tiny_elf.c          # ET_EXEC
//   gcc $common -static-pie -fPIE -o tiny-static-pie tiny_elf.c    # ET_DYN, no PT_INTERP
//   gcc $common -pie -fPIE -Wl,-dynamic-linker,/lib64/ld-linux-x86-64.so.2 \
//       -o tiny-dynamic tiny_elf.c                                  # ET_DYN with PT_INTERP
//   (tiny-dynamic-separate-code: the same with -Wl,-z,separate-code.)
// Not built by Bazel: the corpus holds the files themselves.
static const char message[] = "tiny\n";
static char data[64] = {1};
static char bss[8192];
void _start(void) {
  long ret;
  bss[0] = data[0] + message[0];
  __asm__ volatile("syscall" : "=a"(ret) : "a"(60), "D"(bss[0] - 'u') : "rcx", "r11", "memory");
  for (;;) {
  }
}
