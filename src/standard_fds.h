// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Standard descriptors glibc opened for crpid, which the caller had closed.
//
// Starting a program in secure mode (AT_SECURE: crpid started with its file
// capability), glibc opens whichever of fds 0, 1 and 2 the caller left
// closed — 0 on /dev/full write-only, 1 and 2 on /dev/null read-only — so
// that a privileged program never writes its output into a file it opens
// later. Run directly, COMMAND and PROGRAM would find them closed.
#ifndef CRPID_SRC_STANDARD_FDS_H_
#define CRPID_SRC_STANDARD_FDS_H_

namespace crpid {

// Marks those descriptors close-on-exec, so that fork-at's exec and set-mm's
// trampoline close them again; crpid itself keeps writing to them (its
// errors on a closed stderr go to /dev/null). Does nothing without AT_SECURE.
void CloseOnExecWhatSecureModeOpened();

}  // namespace crpid

#endif  // CRPID_SRC_STANDARD_FDS_H_
