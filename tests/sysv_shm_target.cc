// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Test helper: attaches one SysV shared memory segment of 8 KiB filled with
// PatternByte(kSysvShm, offset), marks it for removal (it lives while attached), creates
// DIR/ready and waits. Run in a new IPC namespace (`unshare --ipc`), its
// segment has shmid 0, which /proc/PID/maps shows with inode 0.
//   sysv_shm_target DIR
#include <stdio.h>
#include <sys/shm.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "tests/map_files_pattern.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const int id = shmget(IPC_PRIVATE, crpid::testing::kSysvShmSize, IPC_CREAT | 0600);
  if (id < 0) {
    perror("shmget");
    return 1;
  }
  void* address = shmat(id, nullptr, 0);
  if (address == reinterpret_cast<void*>(-1)) {
    perror("shmat");
    return 1;
  }
  shmctl(id, IPC_RMID, nullptr);
  auto* bytes = static_cast<unsigned char*>(address);
  for (size_t i = 0; i < crpid::testing::kSysvShmSize; ++i) {
    bytes[i] = crpid::testing::PatternByte(crpid::testing::kSysvShm, i);
  }
  std::ofstream(std::string(argv[1]) + "/ready") << id << "\n";
  for (;;) pause();
}
