// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// The part of clone_vm.h that is the same on every machine. Runs in tree
// processes: built without sanitizers (BUILD.bazel), calls no libc.
#include "src/clone_vm.h"

#include <sched.h>
#include <signal.h>

namespace crpid {

long Clone3VmWithSetTid(const pid_t* set_tid, size_t count, uint64_t flags,
                        ChildStack stack, int (*entry)(void*, long), void* a, long b) {
  CloneArgsV1 args{};
  args.flags = flags | CLONE_VM;
  // With CLONE_PARENT the child gets the caller's exit signal; clone3
  // refuses any other (EINVAL).
  args.exit_signal = (flags & CLONE_PARENT) != 0 ? 0 : SIGCHLD;
  args.stack = reinterpret_cast<uintptr_t>(stack.base);
  args.stack_size = stack.size;
  args.set_tid = reinterpret_cast<uintptr_t>(set_tid);
  args.set_tid_size = count;
  return crpid_clone3_vm(&args, sizeof args, entry, a, b);
}

void RawCopy(void* to, const void* from, size_t length) {
  auto* out = static_cast<unsigned char*>(to);
  const auto* in = static_cast<const unsigned char*>(from);
  for (size_t i = 0; i < length; ++i) out[i] = in[i];
}

void RawZero(void* to, size_t length) {
  auto* out = static_cast<unsigned char*>(to);
  for (size_t i = 0; i < length; ++i) out[i] = 0;
}

int RawCompare(const void* a, const void* b, size_t length) {
  const auto* x = static_cast<const unsigned char*>(a);
  const auto* y = static_cast<const unsigned char*>(b);
  for (size_t i = 0; i < length; ++i) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

const void* RawFindByte(const void* from, unsigned char byte, size_t length) {
  const auto* in = static_cast<const unsigned char*>(from);
  for (size_t i = 0; i < length; ++i) {
    if (in[i] == byte) return in + i;
  }
  return nullptr;
}

size_t RawLength(const char* text) {
  size_t length = 0;
  while (text[length] != '\0') ++length;
  return length;
}

const char* RawFindChar(const char* text, char c) {
  for (;; ++text) {
    if (*text == c) return text;
    if (*text == '\0') return nullptr;
  }
}

}  // namespace crpid
