// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// What set-mm must know of the machine it runs on, the way its kernel's
// execve sees it: the one ELF machine it loads, the platform string of
// AT_PLATFORM, where PIE programs go and how far user space reaches. The
// code that differs (syscalls, the final jump) is in trampoline_<arch>.cc.
#ifndef CRPID_SRC_MACHINE_H_
#define CRPID_SRC_MACHINE_H_

#include <elf.h>

#include <cstdint>

namespace crpid {

#if defined(__x86_64__)

inline constexpr uint16_t kElfMachine = EM_X86_64;
inline constexpr char kMachineName[] = "x86_64";
// AT_PLATFORM (ELF_PLATFORM): the machine name, as uname -m says it.
inline constexpr char kPlatform[] = "x86_64";
// The 47-bit user address space of 4-level paging (TASK_SIZE).
inline constexpr uint64_t kTaskSize = 0x7ffffffff000;
// ELF_ET_DYN_BASE, 2/3 of that, where execve puts PIE programs; a random
// offset of up to 2^28 pages follows, as with ASLR's default mmap_rnd_bits.
inline constexpr uint64_t kDynamicBase = 0x555555554000;
inline constexpr uint64_t kDynamicBaseRandomPages = uint64_t{1} << 28;
// arch_randomize_brk: up to 32 MiB above the end of the program.
inline constexpr uint64_t kBrkRandomPages = 8192;

#elif defined(__aarch64__)

inline constexpr uint16_t kElfMachine = EM_AARCH64;
inline constexpr char kMachineName[] = "aarch64";
inline constexpr char kPlatform[] = "aarch64";
// The 48-bit user address space of VA_BITS=48 (and DEFAULT_MAP_WINDOW of a
// 52-bit kernel) with 4 KiB pages (TASK_SIZE).
inline constexpr uint64_t kTaskSize = uint64_t{1} << 48;
// ELF_ET_DYN_BASE, 2/3 of that, page aligned; a random offset of up to
// 2^18 pages follows (arm64's default mmap_rnd_bits with 4 KiB pages).
inline constexpr uint64_t kDynamicBase = 0xaaaaaaaaa000;
inline constexpr uint64_t kDynamicBaseRandomPages = uint64_t{1} << 18;
// arch_randomize_brk: up to 1 GiB above the end of a 64-bit program.
inline constexpr uint64_t kBrkRandomPages = 262144;

#else
#error "crpid's set-mm supports x86_64 and aarch64 (see src/machine.h)"
#endif

}  // namespace crpid

#endif  // CRPID_SRC_MACHINE_H_
