// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// The trampoline: a small self-contained piece of code, copied into an
// anonymous mapping of its own, that replaces crpid's memory image with a
// loaded program and jumps to it — the part of execve that set-mm does in
// userspace, so that PR_SET_MM_MAP can set the exe link once crpid's own
// executable is no longer mapped (the kernel answers EBUSY while it is).
//
// The program's segments are already mapped (set_mm.cc maps them before the
// point of no return, so that an address or memory the kernel refuses stops
// set-mm while it can still report it). Everything the trampoline needs is
// in TrampolineParams, prepared by set_mm.cc; it uses
// no libc, no globals, no TLS and no stack protector (crpid's TLS and data
// are unmapped under it). After its first munmap there is no way back: any
// failure writes one line to fd 2 and ends the process with status 125.
#ifndef CRPID_SRC_TRAMPOLINE_H_
#define CRPID_SRC_TRAMPOLINE_H_

#include <linux/prctl.h>
#include <stddef.h>
#include <stdint.h>

namespace crpid {

inline constexpr int kTrampolineMaxKeep = 48;
inline constexpr int kTrampolineFailureStatus = 125;

struct TrampolineRange {
  uint64_t start;
  uint64_t end;
};

// Mirrors the kernel's struct prctl_mm_map (uapi linux/prctl.h, 3.18+).
struct TrampolineMmMap {
  uint64_t start_code, end_code, start_data, end_data, start_brk, brk,
      start_stack, arg_start, arg_end, env_start, env_end;
  uint64_t auxv;        // pointer
  uint32_t auxv_size;   // bytes
  uint32_t exe_fd;
};

// capset's v3 header and data, to raise and drop without libcap.
struct TrampolineCaps {
  uint32_t version;
  int32_t pid;
  struct {
    uint32_t effective, permitted, inheritable;
  } data[2];
};

struct TrampolineParams {
  // Mappings kept, sorted, disjoint: the trampoline's own two, the stack,
  // the vDSO pages, and the program's and interpreter's segments, mapped
  // before the point of no return. All else in [0, unmap_limit) is unmapped.
  TrampolineRange keep[kTrampolineMaxKeep];
  int32_t keep_count;
  uint64_t unmap_limit;

  // The new initial stack, built with its final addresses, copied to
  // [stack_dest, stack_dest + stack_image_size).
  uint64_t stack_image;
  uint64_t stack_image_size;
  uint64_t stack_dest;  // also the new stack pointer: argc is there

  TrampolineMmMap mm_map;
  TrampolineCaps raise;  // permitted as it is, CAP_CHECKPOINT_RESTORE effective
  TrampolineCaps final_caps;  // the sets the program starts with
  bool clear_ambient;

  uint64_t signal_mask;  // the mask the program starts with
  char comm[16];
  uint64_t entry;        // interpreter's entry, or the program's

  uint64_t close_fds;    // pointer to int32_t[close_count]
  int32_t close_count;

  // What the trampoline unmaps last, before jumping: this block.
  uint64_t self_start;
  uint64_t self_length;

  // Failure line: PREFIX + step name + MIDDLE + errno + ")". Kept here
  // because string literals would land outside the copied section.
  char message_prefix[48];   // "crpid: set-mm: "
  char message_middle[64];   // " failed after the point of no return (errno "
  char step_names[8][32];    // indexed by TrampolineStep
};

enum TrampolineStep {
  kStepMunmap,
  kStepRaiseCapability,
  kStepSetMmMap,
  kStepDropCapabilities,
};

static_assert(sizeof(TrampolineMmMap) == 104, "struct prctl_mm_map");

}  // namespace crpid

namespace crpid {

// Implemented once per machine, in trampoline_<arch>.cc (BUILD.bazel picks
// the file by the target cpu).
//
// The code to copy: the whole "crpid_trampoline" section. (Its bounds are
// linker symbols local to the object that holds the section, hence these
// functions rather than the symbols themselves.)
const char* TrampolineCodeStart();
size_t TrampolineCodeSize();
// The offset of the entry point, crpid_trampoline_main, in that code.
size_t TrampolineEntryOffset();

// Leaves crpid's stack for stack_top (the end of the parameter block) and
// jumps to the copied code's entry with params as its argument.
[[noreturn]] void EnterTrampoline(uint64_t entry, uint64_t stack_top,
                                  const TrampolineParams* params);

}  // namespace crpid

#endif  // CRPID_SRC_TRAMPOLINE_H_
