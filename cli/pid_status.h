// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// --wait and --check of fork-at and fork-tree: printing what holds the PIDs
// they need (src/pid_holder.h finds it).
#ifndef CRPID_CLI_PID_STATUS_H_
#define CRPID_CLI_PID_STATUS_H_

#include <sys/types.h>

#include <string_view>
#include <vector>

#include "src/result.h"

namespace crpid::cli {

// Refused unless /proc shows crpid's own PID namespace: elsewhere /proc/N is
// not PID N as crpid's children would be numbered.
Status ProcCanTell(std::string_view option);

// --wait: waits up to `seconds` for pids to be free; ForwardedSignals() must
// be blocked, and one of them ends the wait. Returns -1 to go on, or the
// exit code after one error line: 125 at the deadline (naming what still
// holds each PID), 128+N after signal N.
int WaitForFreePids(std::string_view context, const std::vector<pid_t>& pids,
                    int seconds);

// --check: one line per PID ("4242: free", "4243: held by …"), or a JSON
// document, after waiting up to wait_seconds (if > 0) for them to be free;
// 0 when all are free, 1 when not, 128+N after signal N ended the wait, 125
// (one error line) when the output cannot be written.
int CheckPids(std::string_view context, const std::vector<pid_t>& pids, bool json,
              int wait_seconds);

}  // namespace crpid::cli

#endif  // CRPID_CLI_PID_STATUS_H_
