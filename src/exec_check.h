// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// What execve would refuse, found before a tree's commands start: fork-tree
// runs no command unless every command of the tree can start.
//
// ASYNC-SIGNAL-SAFE AND UNINSTRUMENTED ONLY. This code runs in a tree
// process between its creation and its exec, in crpid's memory
// (src/fork_tree_child.h says why and what that forbids). exec_check.cc
// calls only raw system calls that leave errno alone (src/clone_vm.h:
// openat, pread, fstatat, faccessat2, statfs, close) into stack buffers and
// clone_vm's byte functions: no libc, no allocation, no exceptions, no
// locks, no logging, no std::string, no Result (it allocates). It is built
// without sanitizers (src/BUILD.bazel). Keep it that way.
#ifndef CRPID_SRC_EXEC_CHECK_H_
#define CRPID_SRC_EXEC_CHECK_H_

#include <cstddef>

namespace crpid {

// "#!" rewrites execve follows before it fails with ELOOP: a script whose
// interpreter is a script … five deep still runs; six fail (exec_binprm in
// fs/exec.c stops at depth > 5; measured on Linux 6.18).
inline constexpr int kMaxScriptLevels = 5;

// The errno execve(path, …) would fail with, or 0 when it would start the
// program, checked the way execve checks before its point of no return,
// with the caller's cwd and credentials (call it where the exec will happen,
// after the process has its final credentials). For path, each "#!"
// interpreter (as binfmt_script reads the first 256 bytes) and an ELF's
// PT_INTERP:
//   ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG: the path cannot be reached;
//   EACCES: not a regular file (a directory, a FIFO), not executable by the
//           caller, on a noexec mount, or a directory on the way that the
//           caller cannot search;
//   ELOOP:  more than kMaxScriptLevels "#!" rewrites;
//   ENOEXEC: an ELF file execve refuses: another machine (src/machine.h;
//           32-bit files of the machine's compat ABI are left to execve),
//           not ET_EXEC/ET_DYN, malformed program headers, a PT_INTERP not
//           of 2..PATH_MAX bytes ending in NUL;
//   ELIBBAD: the PT_INTERP interpreter is no ELF program for this machine
//           (for a wrong ELF type execve would not fail but kill the new
//           program with SIGSEGV: reported as ELIBBAD too);
//   EIO:    PT_INTERP lies beyond the end of the file, or its interpreter
//           is shorter than an ELF header.
// A file with neither "#!" nor ELF magic, or with an unusable "#!" line,
// makes execve fail with ENOEXEC and runs through /bin/sh as execvp runs it
// (fork-tree does the same): /bin/sh is then checked in its place.
// A file the caller may execute but not read (mode 0111) cannot be looked
// into: its format is left to execve. What only execve can tell (ETXTBSY,
// E2BIG, ENOMEM, LSM denials, binfmt_misc handlers, a file changed after
// the check) is not checked.
// page_size: AT_PAGESZ (getauxval), which bounds the program headers
// execve reads; 0 leaves that bound unchecked.
int CheckExecutable(const char* path, size_t page_size);

}  // namespace crpid

#endif  // CRPID_SRC_EXEC_CHECK_H_
