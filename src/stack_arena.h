// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// The stacks fork-tree's processes run on until they exec (clone_vm.h),
// mapped and unmapped by crpid; the processes only get a ChildStack each.
#ifndef CRPID_SRC_STACK_ARENA_H_
#define CRPID_SRC_STACK_ARENA_H_

#include <cstddef>

#include "src/clone_vm.h"

namespace crpid {

// `count` stacks of `usable` bytes each, one mapping (MAP_NORESERVE: only
// the pages a child touches use memory), each with a PROT_NONE guard page
// below it, so that an overflow faults instead of writing over the stack
// below. Unmapped by the destructor: only once no process runs on them.
class StackArena {
 public:
  StackArena() = default;
  ~StackArena();
  StackArena(const StackArena&) = delete;
  StackArena& operator=(const StackArena&) = delete;

  // 0 or the errno of mmap/mprotect (ENOMEM: too many for the limits).
  int Map(size_t count, size_t usable);
  ChildStack Stack(size_t index) const;

 private:
  char* memory_ = nullptr;
  size_t length_ = 0;
  size_t stride_ = 0;
  size_t usable_ = 0;
};


}  // namespace crpid

#endif  // CRPID_SRC_STACK_ARENA_H_
