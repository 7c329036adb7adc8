// Small readers of /proc facts about PIDs and PID namespaces.
#ifndef CRPID_SRC_PROCFS_H_
#define CRPID_SRC_PROCFS_H_

#include <sys/types.h>

#include <string>

#include "src/result.h"

namespace crpid {

// kernel.pid_max of the caller's PID namespace: valid PIDs are 1..pid_max-1.
Result<long> ReadPidMax();

// /proc/PID/comm without the newline. kNotFound if the PID does not exist.
Result<std::string> ReadComm(pid_t pid);

// True when the mounted /proc belongs to the caller's PID namespace, so that
// /proc/N names PID N as the caller numbers it (not so after `unshare -p`
// without --mount-proc).
bool ProcShowsOwnPidNamespace();

// True when a process or thread uses PID in the caller's namespace.
bool PidInUse(pid_t pid);

// True when children are created in the caller's own PID namespace (false
// after `unshare --pid` without --fork: they go into a new one).
bool ChildrenShareOwnPidNamespace();

}  // namespace crpid

#endif  // CRPID_SRC_PROCFS_H_
