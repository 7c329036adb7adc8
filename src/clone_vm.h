// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Raw system calls that never touch errno, clone3 into a new process that
// shares the caller's memory and starts on a stack of its own, and the few
// byte functions its code needs.
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
// and so one errno and one set of a sanitizer runtime's per-thread state.
// Code that runs in such a child (fork_tree_child.h) calls only these raw
// system calls, which return -errno instead of writing errno, and the byte
// functions below: no libc at all, which a sanitizer interposes. It is
// built without sanitizers in every configuration: instrumented code on a
// stack ASan does not know warns on stderr, and its fake stack frames
// (detect_stack_use_after_return) come from the per-thread state the child
// would share with crpid's main thread.
//
// Why sharing the mm until exec is sound for fork-tree (what a fork gave
// each process that this must still give):
//  - Dumpability is per mm: crpid's (non-dumpable after its secure exec)
//    is the tree's until each execs, as each fork's copy was; ptrace,
//    /proc/PID/mem and process_vm_readv stay refused, also once a process
//    has emptied its capability sets (emptying them does not make the mm
//    dumpable; a credential change that would clear it clears it for
//    crpid too, which only makes crpid stricter).
//  - Credentials and capabilities are per task (no CLONE_THREAD): each
//    process raises, lowers and drops its own (fork_tree.h's T1-T3).
//  - Signal handlers are not shared (no CLONE_SIGHAND), but copied: any
//    handler crpid has (the normal build installs none; a sanitizer's
//    runtime installs SIGSEGV, SIGBUS and SIGFPE handlers) is crpid code.
//    Those signals are blocked around each clone3 and the new process
//    resets them to SIG_DFL before unblocking, so a signal's action in a
//    tree process is its default or ignore, never crpid code. The kernel
//    gives a CLONE_VM child no sigaltstack, rseq, robust list or
//    clear_child_tid.
//  - Nothing in a tree process allocates or takes a lock (crpid's heap is
//    the same heap), and its system calls leave errno alone (above); the
//    stack canary in the shared TLS is only read. Each stack has a guard
//    page below it and the code is built with -fstack-clash-protection
//    (its frames with PATH_MAX buffers are larger than a page), so an
//    overflow faults instead of writing the stack (and envp) below.
//  - pdeathsig is per task: each process asks for SIGKILL with its parent
//    first thing (fork_tree.h), as with fork. A process stopped before its
//    first instruction stays stopped in crpid's mm; run again, it finds
//    its parent or crpid gone and gives up (empties its sets, exits)
//    before it reads anything crpid may have changed, since crpid changes
//    nothing while it lives and its memory stays mapped for the process
//    after it dies (below).
//  - crpid keeps running in the same mm: it changes nothing a tree process
//    reads, and frees nothing of it (nor the stacks) before every process
//    has exec'd or been reaped (fork_tree.cc: Coordinator::Run's exits,
//    and ~Coordinator for an exception).
//  - A process that dies, or crpid dying, leaves the others' memory as it
//    was: the mm lives while any process uses it. What acts on a whole mm
//    acts on all of them: the OOM killer kills every process of the mm
//    (crpid with its tree, as crpid's death would), and before Linux 5.16
//    a core dump (a dumpable crpid only) killed every process of the mm.
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
