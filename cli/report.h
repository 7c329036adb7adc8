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

// text with \n, \t and other control characters written as \n, \t, \xNN.
std::string EscapeControlCharacters(std::string_view text);

}  // namespace crpid::cli

#endif  // CRPID_CLI_REPORT_H_
