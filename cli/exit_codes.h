// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// crpid's exit codes, the env(1)/timeout(1) convention. Documented in the
// man page (docs/crpid.1.scd) and docs/guide.md; the command's own status
// passes through unchanged.
#ifndef CRPID_CLI_EXIT_CODES_H_
#define CRPID_CLI_EXIT_CODES_H_

namespace crpid::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitCrpidError = 125;      // crpid itself failed
inline constexpr int kExitCannotExecute = 126;   // COMMAND found, not runnable
inline constexpr int kExitNotFound = 127;        // COMMAND not found
inline constexpr int kExitSignalBase = 128;      // 128 + signal that killed it

}  // namespace crpid::cli

#endif  // CRPID_CLI_EXIT_CODES_H_
