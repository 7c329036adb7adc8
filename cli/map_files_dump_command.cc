// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/map_files_dump_command.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <limits>
#include <map>

#include "cli/exit_codes.h"
#include "cli/report.h"
#include "src/map_files_dump.h"
#include "src/procfs.h"
#include "src/temporaries.h"

namespace crpid::cli {
namespace {

constexpr char kContext[] = "map-files-dump";
constexpr int kExitMismatch = 1;

const std::map<std::string, DumpSelection> kSelections = {
    {"", DumpSelection::kUnreachable},
    {"deleted", DumpSelection::kDeleted},
    {"memfd", DumpSelection::kMemfd},
    {"all", DumpSelection::kAll},
};

Error Usage(std::string message) {
  return Error{ErrorKind::kInvalidInput, 0, std::move(message),
               "run 'crpid map-files-dump --help'"};
}

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", bytes, units[unit]);
}

// Progress on a terminal only, at most ten times a second.
class ProgressLine {
 public:
  ProgressLine() : enabled_(::isatty(STDERR_FILENO) == 1) {}
  ~ProgressLine() {
    if (shown_) std::fputs("\n", stderr);
  }
  void Update(uint64_t done, uint64_t total) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (shown_ && now - last_ < std::chrono::milliseconds(100) && done < total) {
      return;
    }
    last_ = now;
    shown_ = true;
    const double seconds =
        std::chrono::duration<double>(now - start_).count();
    std::fputs(fmt::format("\rcrpid: {}: {} of {}, {}/s   ", kContext,
                           HumanBytes(done), HumanBytes(total),
                           HumanBytes(seconds > 0 ? done / seconds : 0))
                   .c_str(),
               stderr);
  }

 private:
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_;
};

void PrintTable(const DumpReport& report) {
  PrintOut(fmt::format("{:<33} {:<5} {:>10} {:<6} {:>10} {:<16} {:>12} {:<4} {}\n",
             "RANGE", "PERMS", "OFFSET", "DEVICE", "INODE", "KIND", "SIZE",
             "COPY", "PATH"));
  for (const MappedFileEntry& entry : report.mappings) {
    const Mapping& m = entry.mapping;
    PrintOut(fmt::format("{:<33} {:<5} {:>10x} {:<6} {:>10} {:<16} {:>12} {:<4} {}\n",
               m.MapFilesName(), m.permissions, m.offset, m.DeviceText(),
               m.inode, MappingKindName(m.kind),
               entry.file_size ? std::to_string(*entry.file_size) : "?",
               entry.selected ? "yes" : "no", m.path));
  }
}

// Names come from the manifest, which whoever made the dump wrote: bytes a
// terminal would act on (newlines forging an "OK" line, escapes) are shown
// as \xNN.
std::string Printable(std::string_view text) {
  std::string shown;
  for (const unsigned char byte : text) {
    if (byte >= 0x20 && byte < 0x7f && byte != '\\') {
      shown += static_cast<char>(byte);
    } else {
      shown += fmt::format("\\x{:02x}", byte);
    }
  }
  return shown;
}

int RunVerify(const std::string& directory) {
  auto results = VerifyDump(directory);
  if (!results) return ReportError(kContext, results.error());
  int mismatched = 0;
  for (const VerifiedFile& file : *results) {
    if (file.ok) {
      PrintOut(fmt::format("OK {}\n", Printable(file.saved_as)));
    } else {
      ++mismatched;
      PrintOut(fmt::format("MISMATCH {}: {}\n", Printable(file.saved_as), Printable(file.problem)));
    }
  }
  PrintOut(fmt::format("{} files verified, {} mismatched\n", results->size(), mismatched));
  return mismatched == 0 ? kExitOk : kExitMismatch;
}

// The remedy for EPERM on /proc/PID/map_files: unlike fork-at's, a user
// namespace cannot help (the kernel wants the capability in the initial
// one), so it is never suggested.
std::string MapFilesRemedy(const CapabilityState& capabilities) {
  constexpr char kByPath[] = "--by-path reaches files that still exist without it";
  if (InNonInitialUserNamespace()) {
    return "inside a user namespace CAP_CHECKPOINT_RESTORE does not open "
           "/proc/PID/map_files, which wants it in the initial user namespace: "
           "run crpid outside the namespace with its file capability, or " +
           std::string(kByPath);
  }
  switch (DiagnoseCapability(capabilities)) {
    case CapabilityProblem::kNotPermitted:
      return fmt::format(
          "crpid lacks CAP_CHECKPOINT_RESTORE: as root run 'setcap "
          "cap_checkpoint_restore+ep {}' (a user namespace cannot help: "
          "map_files wants the capability in the initial one), or {}",
          SelfExecutablePath(), kByPath);
    case CapabilityProblem::kNone:
      return fmt::format(
          "the kernel refused although crpid holds CAP_CHECKPOINT_RESTORE (a "
          "security module?); {}",
          kByPath);
    default:
      return CapabilityRemedy(capabilities) + " (" + kByPath + ")";
  }
}

// One PID, decimal: map-files-dump reads a process of this PID namespace.
Result<pid_t> ParseDumpPid(const std::string& text) {
  const std::string shown = text.size() > 24 ? text.substr(0, 24) + "..." : text;
  if (text.find(',') != std::string::npos) {
    return Error{ErrorKind::kInvalidInput, 0, "give one PID, not a list",
                 "give the PID of a running process you own"};
  }
  long long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error == std::errc::invalid_argument ||
      end != text.data() + text.size()) {
    return Error{ErrorKind::kInvalidInput, 0, "PID '" + shown + "' is not a number",
                 "give the PID of a running process you own"};
  }
  if (error != std::errc() || value < 1 || value > std::numeric_limits<pid_t>::max()) {
    return Error{ErrorKind::kInvalidInput, 0, "PID " + shown + " is out of range",
                 "give the PID of a running process you own"};
  }
  return static_cast<pid_t>(value);
}

}  // namespace

CLI::App* RegisterMapFilesDump(CLI::App& app, MapFilesDumpArguments& arguments) {
  CLI::App* command = app.add_subcommand(
      "map-files-dump",
      "Save what a process maps from files, through /proc/PID/map_files");
  command->add_option("PID", arguments.pid, "the process to dump");
  command->add_option("-o,--output", arguments.output,
                      "directory to create with the saved files and "
                      "manifest.json");
  command->add_flag("--list", arguments.list,
                    "print the file-backed mappings, copy nothing");
  command->add_flag("--json", arguments.json,
                    "with --list: print the manifest form");
  command->add_option("--only", arguments.only,
                      "what to copy: deleted, memfd or all (default: what no "
                      "path reaches: deleted files, memfds, shared memory)")
      ->check(CLI::IsMember({"deleted", "memfd", "all"}));
  command->add_flag("--force", arguments.force,
                    "replace the output directory if it exists");
  command->add_flag("--by-path", arguments.by_path,
                    "open mappings whose file still exists by its path "
                    "(device and inode checked), without the capability");
  command->add_option("--verify", arguments.verify,
                      "recompute a dump's checksums and report mismatches");
  command->footer(
      "Examples:\n"
      "  crpid map-files-dump 4242 -o /scratch/job.maps\n"
      "  crpid map-files-dump --list 4242\n"
      "  crpid map-files-dump --only all --force 4242 -o /scratch/job.maps\n"
      "  crpid map-files-dump --verify /scratch/job.maps\n"
      "Exit status: 0 done; 1 --verify found a mismatch; 125 crpid failed "
      "(nothing is left behind;\nalso when standard output cannot be written), "
      "128+N signal N stopped the dump (nothing is left behind).");
  return command;
}

int RunMapFilesDump(const MapFilesDumpArguments& arguments) {
  auto capabilities = StartUp();
  if (!capabilities) return ReportError(kContext, capabilities.error());
  if (!arguments.verify.empty()) {
    if (!arguments.pid.empty() || !arguments.output.empty() || arguments.list) {
      return ReportError(kContext,
                         Usage("--verify DIR takes no PID, -o or --list"));
    }
    // Reading a dump needs no privilege.
    if (Status dropped = DropCapabilitiesForGood(); !dropped) {
      return ReportError(kContext, dropped.error());
    }
    return RunVerify(arguments.verify);
  }
  if (arguments.pid.empty()) return ReportError(kContext, Usage("PID is required"));
  auto pid = ParseDumpPid(arguments.pid);
  if (!pid) return ReportError(kContext, pid.error());
  if (arguments.json && !arguments.list) {
    return ReportError(kContext, Usage("--json goes with --list"));
  }
  if (!arguments.list && arguments.output.empty()) {
    return ReportError(kContext, Usage("give -o DIR to save the files, or --list"));
  }
  if (arguments.list && !arguments.output.empty()) {
    return ReportError(kContext, Usage("--list copies nothing: drop -o"));
  }

  DumpRequest request;
  request.pid = *pid;
  request.selection = kSelections.at(arguments.only);
  request.by_path = arguments.by_path;
  request.directory = arguments.output;
  request.force = arguments.force;
  request.crpid_version = kVersion;
  request.capabilities = *capabilities;

  if (arguments.list) {
    auto report = ListMappedFiles(request);
    if (!report) return ReportError(kContext, report.error());
    if (arguments.json) {
      PrintOut(ManifestJson(*report));
    } else {
      PrintTable(*report);
    }
    return kExitOk;
  }

  // A signal mid-dump must not leave DIR.crpid-tmp-* (the process's memory)
  // behind: held back here, polled by the dump, which cleans up; it ends
  // crpid when the hold does, after the error line.
  TerminationHold hold;
  ProgressLine progress;
  auto report = DumpMappedFiles(request, [&progress](uint64_t done, uint64_t total) {
    progress.Update(done, total);
  });
  if (!report) {
    Error error = report.error();
    if (error.err == EINTR && TerminationHold::Pending() != 0) {
      return ReportInterrupted(kContext, error);
    }
    if (error.err == EPERM && error.hint.empty()) {
      error.hint = MapFilesRemedy(*capabilities);
    }
    return ReportError(kContext, error);
  }
  spdlog::info("saved {} files, {} data bytes, to {}", report->files_saved,
               report->bytes_saved, arguments.output);
  return kExitOk;
}

}  // namespace crpid::cli
