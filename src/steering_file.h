// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Files that steer crpid: a --pid-map chooses the PIDs a command runs at, a
// fork-tree file chooses PIDs and the commands themselves. Whoever can write
// such a file, or swap it for another, decides what crpid does with the
// caller's rights and its capability. One rule for all of them, in the
// spirit of OpenSSH's StrictModes:
//  - a regular file (a FIFO or device is refused without blocking on it);
//  - owned by the caller's uid: another user's file is refused, root's
//    only when root runs crpid (a non-dumpable process's /proc/PID/comm is
//    root's, and its owner sets the content with PR_SET_NAME);
//  - not writable by group or others;
//  - not on procfs or sysfs (their files are generated: owner, mode and
//    st_size say nothing about who chose the bytes);
//  - reached without a symlink owned by anyone but the caller or root.
//    Symlinks are followed by hand, one component at a time (O_PATH |
//    O_NOFOLLOW, readlinkat of that very descriptor), so the owner checked
//    is that of the link actually followed: no window between a check and
//    the open. Refusing every symlink would break ordinary set-ups (a job
//    directory reached through a link in $HOME, /var/run -> /run); a link
//    the caller or root made is theirs to make. Links made by others are
//    refused even where the kernel's fs.protected_symlinks would follow
//    them (a group-writable directory is not sticky).
#ifndef CRPID_SRC_STEERING_FILE_H_
#define CRPID_SRC_STEERING_FILE_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "src/result.h"
#include "src/unique_fd.h"

namespace crpid {

// The rule above applied to what fstat and fstatfs said of the opened file:
// kInvalidInput naming the path and the first reason (not a regular file;
// on procfs or sysfs; "owned by uid N, not by you (uid M)"; "can be written
// by its group/by others (mode 0NNN)"). `what` names the file's role, e.g.
// "PID map", "tree file". Pure: unit-tested without files.
Status CheckSteeringFile(const struct stat& st, long filesystem_type, uid_t caller,
                         const std::string& path, std::string_view what);

// Opens path for reading under the rule above (the caller is getuid()), with
// reads blocking. Refused (kInvalidInput) outright in a user namespace that
// does not map the caller's uid (or where /proc/self/uid_map cannot be
// read): there getuid() is the overflow uid, which every file of an
// unmapped owner shows too. Errors: open(2)'s (kNotFound for ENOENT; ELOOP after 40
// symlinks), kInvalidInput for a symlink of another user's on the way
// ("the symlink NAME … is owned by uid N") and for CheckSteeringFile's
// reasons.
Result<UniqueFd> OpenSteeringFile(const std::string& path, std::string_view what);

// OpenSteeringFile, then reads at most max_bytes (one byte more is read to
// tell a larger file, whatever its st_size says): kInvalidInput "WHAT PATH
// holds more than N bytes".
Result<std::string> ReadSteeringFile(const std::string& path, std::string_view what,
                                     size_t max_bytes);

}  // namespace crpid

#endif  // CRPID_SRC_STEERING_FILE_H_
