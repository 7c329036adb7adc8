// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Opening what a process maps, through /proc/PID/map_files/ or by path.
#ifndef CRPID_SRC_MAP_FILES_H_
#define CRPID_SRC_MAP_FILES_H_

#include <sys/types.h>

#include "src/proc_maps.h"
#include "src/result.h"
#include "src/unique_fd.h"

namespace crpid {

// Opens /proc/PID/map_files/START-END read-only, with `capability` (from
// CheckpointRestoreCapabilityToRaise) effective around the open only. Works
// for deleted files and memfds. The kernel wants CAP_CHECKPOINT_RESTORE
// (5.9+) or CAP_SYS_ADMIN in the initial user namespace: EPERM otherwise;
// ENOENT when the mapping or the process went away.
Result<UniqueFd> OpenMapFile(pid_t pid, const Mapping& mapping,
                             int capability);

// Opens mapping.path read-only without privilege and checks that it is the
// mapped file (same device and inode): kBusy if another file now sits
// there. Only for kFile mappings.
Result<UniqueFd> OpenMappedPath(const Mapping& mapping);

}  // namespace crpid

#endif  // CRPID_SRC_MAP_FILES_H_
