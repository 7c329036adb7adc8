// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Test helper: runs a command under a seccomp filter that answers ENOSYS
//   default: for clone3, as Docker's default profile does, to exercise
//            crpid's fallback to ns_last_pid;
//   --el8:   for every system call RHEL 8.5's kernel (4.18.0-348) lacks,
//            so that nothing newer creeps into the paths EL8 users take.
// Needs CAP_SYS_ADMIN (root) since it does not set no_new_privs, which
// would disable crpid's file capability.
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <vector>

namespace {

#if defined(__x86_64__)
constexpr unsigned kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr unsigned kAuditArch = AUDIT_ARCH_AARCH64;
#else
#error "seccomp_enosys_clone3: x86_64 or aarch64 only"
#endif

constexpr unsigned kClone3 = 435;

// RHEL 8.5's syscall tables (arch/x86/entry/syscalls/syscall_64.tbl and
// include/uapi/asm-generic/unistd.h of 4.18.0-348.2.1.el8_5) end at
// faccessat2 (439) and, of the calls numbered from 424 (the first shared
// by every machine) on, lack these; below 424 neither machine has a call
// newer than 4.18 (x86_64 ends at 334 rseq, arm64 at 294 kexec_file_load).
constexpr unsigned kEl8Missing[] = {
    424,  // pidfd_send_signal
    434,  // pidfd_open
    435,  // clone3
    437,  // openat2
    438,  // pidfd_getfd
};
constexpr unsigned kEl8Last = 439;  // faccessat2; x32 numbers lie above too

sock_filter Statement(unsigned short code, unsigned k) { return BPF_STMT(code, k); }
sock_filter Jump(unsigned short code, unsigned k, unsigned char jt, unsigned char jf) {
  return BPF_JUMP(code, k, jt, jf);
}

// Allow every call of another architecture; ENOSYS for those listed and,
// when last is set, for every number above it.
std::vector<sock_filter> Filter(const std::vector<unsigned>& missing, unsigned last) {
  const sock_filter allow = Statement(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  const sock_filter enosys =
      Statement(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
  std::vector<sock_filter> program = {
      Statement(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      Jump(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0),
      allow,
      Statement(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
  };
  if (last != 0) {
    program.push_back(Jump(BPF_JMP | BPF_JGT | BPF_K, last, 0, 1));
    program.push_back(enosys);
  }
  for (unsigned nr : missing) {
    program.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1));
    program.push_back(enosys);
  }
  program.push_back(allow);
  return program;
}

}  // namespace

int main(int argc, char** argv) {
  const bool el8 = argc > 1 && strcmp(argv[1], "--el8") == 0;
  char** command = argv + 1 + (el8 ? 1 : 0);
  if (*command == nullptr) {
    fprintf(stderr, "usage: %s [--el8] COMMAND [ARG...]\n", argv[0]);
    return 2;
  }
  std::vector<sock_filter> filter =
      el8 ? Filter({std::begin(kEl8Missing), std::end(kEl8Missing)}, kEl8Last)
          : Filter({kClone3}, 0);
  sock_fprog program = {static_cast<unsigned short>(filter.size()), filter.data()};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
    fprintf(stderr, "seccomp_enosys_clone3: PR_SET_SECCOMP: %s\n", strerror(errno));
    return 2;
  }
  execvp(command[0], command);
  fprintf(stderr, "seccomp_enosys_clone3: %s: %s\n", command[0], strerror(errno));
  return 127;
}
