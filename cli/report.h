// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Start-up and error wording shared by the subcommands.
#ifndef CRPID_CLI_REPORT_H_
#define CRPID_CLI_REPORT_H_

#include <string>
#include <string_view>

#include "src/capabilities.h"
#include "src/result.h"

namespace crpid::cli {

// CRPID_VERSION comes from version.bzl through cli/BUILD.bazel's defines.
inline constexpr char kVersion[] = CRPID_VERSION;

// Configures spdlog on stderr: warnings only by default, -v debug, -vv trace;
// an explicit --log-level wins.
void SetUpLogging(int verbosity, const std::string& log_level);

// The rest of phase 1 (src/capabilities.h), after main() has emptied the
// effective set: refuse setuid, read the capability state once.
Result<CapabilityState> StartUp();

// The remedy for an EPERM from a privileged syscall, given what crpid holds:
// the setcap line, the bounding set, no_new_privs or the kernel version.
std::string CapabilityRemedy(const CapabilityState& state);

// Prints "crpid: CONTEXT: MESSAGE; HINT" as one line on stderr and returns
// kExitCrpidError. Control characters (from what the user gave) are shown
// escaped, as EscapeControlCharacters does.
int ReportError(std::string_view context, const Error& error);

// For an error a held-back signal caused (err EINTR while
// TerminationHold::Pending(), src/temporaries.h): reports it like
// ReportError and returns 128 + the signal, the status a shell shows for a
// process that signal killed. The caller's TerminationHold, when it ends,
// then lets the signal end crpid itself.
int ReportInterrupted(std::string_view context, const Error& error);

// Results and PIDs go to standard output through PrintOut, which never
// throws (fmt::print does when a write fails) and remembers the first
// write error for the checks below.
void PrintOut(std::string_view text);

// Flushes standard output. On failure reports one line, "crpid: CONTEXT:
// cannot write standard output: REASON[; HINT]", and returns false; the
// failure is reported once.
bool FlushStandardOutput(std::string_view context, const std::string& hint = {});

// The end of every run (gnulib's close_stdout): flushes and closes standard
// output and returns exit_code, or kExitCrpidError (125) when something
// written there did not get out (>/dev/full, a full disk, a closed stdout).
int CloseStandardOutput(std::string_view context, int exit_code);

// text with \n, \t and other control characters written as \n, \t, \xNN.
std::string EscapeControlCharacters(std::string_view text);

}  // namespace crpid::cli

#endif  // CRPID_CLI_REPORT_H_
