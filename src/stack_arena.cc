// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/stack_arena.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace crpid {

StackArena::~StackArena() {
  if (memory_ != nullptr) ::munmap(memory_, length_);
}

int StackArena::Map(size_t count, size_t usable) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  usable_ = (usable + page - 1) / page * page;
  stride_ = usable_ + page;  // the guard page, then the stack
  if (count == 0) return 0;
  if (count > SIZE_MAX / stride_) return ENOMEM;
  length_ = count * stride_;
  void* memory = ::mmap(nullptr, length_, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (memory == MAP_FAILED) return errno;
  memory_ = static_cast<char*>(memory);
  for (size_t i = 0; i < count; ++i) {
    if (::mprotect(memory_ + i * stride_, page, PROT_NONE) != 0) return errno;
  }
  return 0;
}

ChildStack StackArena::Stack(size_t index) const {
  const size_t page = stride_ - usable_;
  return ChildStack{memory_ + index * stride_ + page, usable_};
}

}  // namespace crpid
