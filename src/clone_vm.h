// SPDX-License-Identifier: GPL-2.0-or-later
// Raw system calls that never touch errno, and clone3 into a new process
// that shares the caller's memory and starts on a stack of its own.
//
// fork-tree creates its processes this way (see fork_tree.h): a fork
// copies the address space, and the kernel links every copied private
// mapping to each ancestor's anon_vma (anon_vma_clone), so creating a
// process at depth d of a parent chain costs O(d) and a deep chain's setup
// grows with depth². A process that shares the mm (CLONE_VM) copies
// nothing; it gets its own mm when it execs.
//
// The child and its creator then run in one address space with one TLS
// block (no CLONE_SETTLS: the child inherits its creator's thread pointer),
// and so one errno. Code that runs in such a child calls only these raw
// system calls, which return -errno instead of writing errno, so that no
// process of the mm ever sees another's errno (glibc writes errno only
// when a call fails; calls that cannot fail, like clock_gettime on
// CLOCK_MONOTONIC, may stay).
//
// Why sharing the mm until exec is sound for fork-tree (what a fork gave
// each process that this must still give):
//  - Dumpability is per mm: crpid's (non-dumpable after its secure exec)
//    is the tree's until each execs, as each fork's copy was; ptrace,
//    /proc/PID/mem and process_vm_readv stay refused, also once a process
//    has emptied its capability sets.
//  - Credentials and capabilities are per task (no CLONE_THREAD): each
//    process raises, lowers and drops its own (fork_tree.h's T1-T3).
//  - Signal handlers are not shared (no CLONE_SIGHAND); fork-tree installs
//    none, so a signal's action in a tree process is its default or
//    ignore, never crpid code. The kernel gives a CLONE_VM child no
//    sigaltstack, rseq, robust list or clear_child_tid.
//  - Nothing in a tree process allocates or takes a lock (crpid's heap is
//    the same heap), and its system calls leave errno alone (above); the
//    stack canary in the shared TLS is only read.
//  - crpid keeps running in the same mm: it changes nothing a tree process
//    reads, and frees nothing of it (nor the stacks) before every process
//    has exec'd or been reaped (fork_tree.cc: Coordinator::Run's exits).
//  - A process that dies, or crpid dying, leaves the others' memory as it
//    was: the mm lives while any process uses it.
//
// One implementation per machine, in clone_vm_<arch>.cc (BUILD.bazel picks
// it): the child returns from clone3 on the new stack, where no frame of
// its creator exists, so it must not return from the system call's
// wrapper; the assembly calls entry(a, b) there and exits with its value.
#ifndef CRPID_SRC_CLONE_VM_H_
#define CRPID_SRC_CLONE_VM_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "src/clone3.h"

extern "C" {
// The system call `number` with up to six arguments: its result, or
// -errno (-4095..-1). errno is left alone.
long crpid_raw_syscall(long number, long a, long b, long c, long d, long e, long f);

// clone3(args, size); in the child, on args->stack: entry(a, b), then
// exit(2) with its result. Returns the child's PID or -errno.
long crpid_clone3_vm(const crpid::CloneArgsV1* args, size_t size,
                     int (*entry)(void*, long), void* a, long b);
}

namespace crpid {

inline long RawSyscall(long number, long a = 0, long b = 0, long c = 0, long d = 0,
                       long e = 0, long f = 0) {
  return crpid_raw_syscall(number, a, b, c, d, e, f);
}

// Whether a raw system call's result is an error (-4095..-1).
inline bool RawFailed(long result) {
  return static_cast<unsigned long>(result) > static_cast<unsigned long>(-4096L);
}

// The errno of a raw result, or 0.
inline int RawErrno(long result) { return RawFailed(result) ? static_cast<int>(-result) : 0; }

// A region the child runs on: [base, base + size), 16-byte aligned at the
// top. The child's stack pointer starts at base + size.
struct ChildStack {
  char* base = nullptr;
  size_t size = 0;
};

// clone3 with CLONE_VM and the PIDs in set_tid (as Clone3WithSetTid), the
// new process running entry(a, b) on `stack`, then exiting. Not
// CLONE_THREAD, CLONE_SIGHAND, CLONE_FILES or CLONE_FS: a process of its
// own (own signal handlers, descriptors, cwd, credentials), only the
// memory is shared until it execs. `flags`: CLONE_PARENT or 0. The child's
// PID, or -errno as Clone3WithSetTid's.
long Clone3VmWithSetTid(const pid_t* set_tid, size_t count, uint64_t flags,
                        ChildStack stack, int (*entry)(void*, long), void* a, long b);

// Byte and string functions for code that runs in a tree process (libc's
// are interposed by a sanitizer's runtime, which is instrumented code).
// As memcpy, memset, memcmp, memchr, strlen and strchr.
void RawCopy(void* to, const void* from, size_t length);
void RawZero(void* to, size_t length);
int RawCompare(const void* a, const void* b, size_t length);
const void* RawFindByte(const void* from, unsigned char byte, size_t length);
size_t RawLength(const char* text);
const char* RawFindChar(const char* text, char c);

}  // namespace crpid

#endif  // CRPID_SRC_CLONE_VM_H_
