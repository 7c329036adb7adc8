// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/report.h"

#include <cerrno>

#include <fmt/core.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <stdio_ext.h>

#include <cstdio>

#include "cli/exit_codes.h"
#include "src/temporaries.h"

namespace crpid::cli {

void SetUpLogging(int verbosity, const std::string& log_level) {
  auto logger = spdlog::stderr_logger_st("crpid");
  logger->set_pattern("crpid: [%l] %v");
  spdlog::level::level_enum level = spdlog::level::warn;
  if (verbosity == 1) level = spdlog::level::debug;
  if (verbosity >= 2) level = spdlog::level::trace;
  if (!log_level.empty()) level = spdlog::level::from_str(log_level);
  logger->set_level(level);
  spdlog::set_default_logger(logger);
}

Result<CapabilityState> StartUp() {
  if (Status not_setuid = RefuseSetuid(); !not_setuid) {
    return not_setuid.error();
  }
  auto state = ReadCapabilityState();
  if (!state) return state;
  spdlog::debug(
      "capabilities: cap_last_cap={} CAP_CHECKPOINT_RESTORE permitted={} "
      "bounding={} no_new_privs={} file-grants={}",
      state->cap_last_cap, state->checkpoint_restore_permitted,
      state->checkpoint_restore_in_bounding, state->no_new_privs,
      state->file_grants_checkpoint_restore);
  return state;
}

std::string CapabilityRemedy(const CapabilityState& state) {
  switch (DiagnoseCapability(state)) {
    case CapabilityProblem::kUnknownToKernel:
      return fmt::format(
          "this kernel predates CAP_CHECKPOINT_RESTORE (cap_last_cap is {}, "
          "Linux 5.9 has 40): upgrade it, or apply crpid's kernel-patch/",
          state.cap_last_cap);
    case CapabilityProblem::kNotInBoundingSet:
      return "CAP_CHECKPOINT_RESTORE is not in this process's bounding set, "
             "so no file capability can grant it (containers drop it: add it, "
             "e.g. docker run --cap-add CHECKPOINT_RESTORE)";
    case CapabilityProblem::kNoNewPrivs:
      return "no_new_privs is set (setpriv --no-new-privs, a seccomp "
             "sandbox), so the kernel ignored crpid's file capability: run "
             "crpid outside it";
    case CapabilityProblem::kFileCapabilityIgnored:
      return fmt::format(
          "{} carries CAP_CHECKPOINT_RESTORE but the kernel did not grant it: "
          "is it on a nosuid mount? Install it on a filesystem mounted "
          "without nosuid",
          SelfExecutablePath());
    case CapabilityProblem::kNotPermitted:
      return fmt::format(
          "crpid lacks CAP_CHECKPOINT_RESTORE: as root run 'setcap "
          "cap_checkpoint_restore+ep {}', or run crpid inside 'unshare -Urp "
          "--fork --mount-proc'",
          SelfExecutablePath());
    case CapabilityProblem::kNone:
      break;
  }
  return "crpid holds CAP_CHECKPOINT_RESTORE, but it counts only in the user "
         "namespace that owns the target PID namespace";
}

namespace {

// What to do about a resource limit the kernel enforced, when the error
// came without a remedy of its own.
std::string ResourceRemedy(int err) {
  switch (err) {
    case EAGAIN:
      return "the process limit (ulimit -u) or a pids cgroup may be used up: "
             "end some processes, or raise the limit";
    case EMFILE:
      return "too many open files: raise the limit (ulimit -n) or close some";
    case ENFILE:
      return "the system's open file table is full: try again later";
    case EFBIG:
      return "the file size limit (ulimit -f) is too low for it: raise it";
    case ENOSPC:
      return "the filesystem is full: free space, or write elsewhere";
    case ENOMEM:
      return "out of memory, or a memory limit (ulimit -v, -d) too low";
    default:
      return {};
  }
}

}  // namespace

// Messages quote what the user gave (PIDs, paths, names): a newline or an
// escape sequence in it must not split the one error line or drive the
// terminal, so control characters are shown as \n, \t or \xNN.
std::string EscapeControlCharacters(std::string_view text) {
  std::string escaped;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      escaped += "\\n";
    } else if (c == '\t') {
      escaped += "\\t";
    } else if (byte < 0x20 || byte == 0x7f) {
      escaped += fmt::format("\\x{:02x}", byte);
    } else {
      escaped += c;
    }
  }
  return escaped;
}

int ReportError(std::string_view context, const Error& error) {
  std::string line = context.empty() ? fmt::format("crpid: {}", error.message)
                                     : fmt::format("crpid: {}: {}", context, error.message);
  const std::string hint = error.hint.empty() ? ResourceRemedy(error.err) : error.hint;
  if (!hint.empty()) line += "; " + hint;
  line = EscapeControlCharacters(line) + '\n';
  std::fputs(line.c_str(), stderr);
  return kExitCrpidError;
}

int ReportInterrupted(std::string_view context, const Error& error) {
  const int signal_number = TerminationHold::Pending();
  ReportError(context, error);
  return signal_number != 0 ? kExitSignalBase + signal_number : kExitCrpidError;
}

namespace {

int g_stdout_errno = 0;          // the first failed write's errno
bool g_stdout_failed = false;    // a write or flush of stdout failed
bool g_stdout_reported = false;  // and it was said on stderr

void NoteStandardOutputError(int err) {
  if (!g_stdout_failed) g_stdout_errno = err;
  g_stdout_failed = true;
}

void ReportStandardOutputError(std::string_view context, const std::string& hint) {
  if (g_stdout_reported) return;
  g_stdout_reported = true;
  Error error = g_stdout_errno != 0
                    ? SystemError(g_stdout_errno, "cannot write standard output")
                    : Error{ErrorKind::kSystem, 0, "cannot write standard output", {}};
  if (!hint.empty()) error.hint = hint;
  ReportError(context, error);
}

}  // namespace

void PrintOut(std::string_view text) {
  if (text.empty()) return;
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) {
    NoteStandardOutputError(errno);
  }
}

bool FlushStandardOutput(std::string_view context, const std::string& hint) {
  if (std::fflush(stdout) != 0) NoteStandardOutputError(errno);
  if (std::ferror(stdout)) NoteStandardOutputError(0);
  if (!g_stdout_failed) return true;
  ReportStandardOutputError(context, hint);
  return false;
}

int CloseStandardOutput(std::string_view context, int exit_code) {
  FlushStandardOutput(context);
  // A close error counts (NFS reports some there), except EBADF for a
  // standard output that was closed and never written to.
  const bool pending = __fpending(stdout) != 0;
  errno = 0;
  if (std::fclose(stdout) != 0 && (pending || errno != EBADF)) {
    NoteStandardOutputError(errno);
    ReportStandardOutputError(context, {});
  }
  return g_stdout_failed ? kExitCrpidError : exit_code;
}

}  // namespace crpid::cli
