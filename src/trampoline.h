// The trampoline: a small self-contained piece of code, copied into an
// anonymous mapping of its own, that replaces crpid's memory image with a
// loaded program and jumps to it — the part of execve that set-mm does in
// userspace, so that PR_SET_MM_MAP can set the exe link once crpid's own
// executable is no longer mapped (the kernel answers EBUSY while it is).
//
// Everything it needs is in TrampolineParams, prepared by set_mm.cc; it uses
// no libc, no globals, no TLS and no stack protector (crpid's TLS and data
// are unmapped under it). After its first munmap there is no way back: any
// failure writes one line to fd 2 and ends the process with status 125.
#ifndef CRPID_SRC_TRAMPOLINE_H_
#define CRPID_SRC_TRAMPOLINE_H_

#include <linux/prctl.h>
#include <stddef.h>
#include <stdint.h>

namespace crpid {

inline constexpr int kTrampolineMaxSegments = 32;
inline constexpr int kTrampolineMaxKeep = 24;
inline constexpr int kTrampolineFailureStatus = 125;

// One PT_LOAD segment, addresses final (load bias added), pages aligned.
struct TrampolineSegment {
  uint64_t map_start;    // first page
  uint64_t file_length;  // bytes mapped from the file (whole pages), or 0
  uint64_t file_offset;  // page-aligned offset of map_start in the file
  uint64_t zero_start;   // end of the file data: zero from here …
  uint64_t zero_end;     // … to the end of its page (the .bss head)
  uint64_t anon_start;   // whole pages of .bss beyond the file pages
  uint64_t anon_length;
  int32_t fd;
  int32_t prot;          // PROT_READ | PROT_WRITE | PROT_EXEC, final
};

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
  // the vDSO pages and the interpreter's reservation. All else in
  // [0, unmap_limit) is unmapped.
  TrampolineRange keep[kTrampolineMaxKeep];
  int32_t keep_count;
  uint64_t unmap_limit;

  TrampolineSegment segments[kTrampolineMaxSegments];
  int32_t segment_count;

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
  kStepMapSegment,
  kStepMapBss,
  kStepMprotect,
  kStepRaiseCapability,
  kStepSetMmMap,
  kStepDropCapabilities,
};

static_assert(sizeof(TrampolineMmMap) == 104, "struct prctl_mm_map");

}  // namespace crpid

namespace crpid {

// The code to copy: the whole "crpid_trampoline" section. (Its bounds are
// linker symbols local to the object that holds the section, hence these
// functions rather than the symbols themselves.)
const char* TrampolineCodeStart();
size_t TrampolineCodeSize();
// The offset of the entry point, crpid_trampoline_main, in that code.
size_t TrampolineEntryOffset();

}  // namespace crpid

#endif  // CRPID_SRC_TRAMPOLINE_H_
