// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// map-files-dump: saving what a process maps from files — above all what no
// path reaches (deleted files, memfds, shared anonymous memory) — into a
// directory with a manifest, all or nothing.
#ifndef CRPID_SRC_MAP_FILES_DUMP_H_
#define CRPID_SRC_MAP_FILES_DUMP_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "src/capabilities.h"
#include "src/proc_maps.h"
#include "src/result.h"

namespace crpid {

enum class DumpSelection {
  kUnreachable,  // deleted files, memfds, shared anonymous and SysV memory
  kDeleted,      // deleted files only
  kMemfd,        // memfds only
  kAll,          // every file-backed mapping
};
bool Selects(DumpSelection selection, MappingKind kind);

// One file-backed mapping of the process, as listed and as saved.
struct MappedFileEntry {
  Mapping mapping;
  bool selected = false;               // chosen by the DumpSelection
  std::optional<uint64_t> file_size;   // unknown when it cannot be opened
  std::string saved_as;                // "files/0001-memfd"; empty if not
  std::string checksum;                // of the saved bytes; empty if not
};

struct DumpReport {
  int format_version = 2;  // 2: checksums of the logical bytes
  std::string crpid_version;
  pid_t pid = 0;
  std::string comm;
  std::string exe;
  std::string time;  // ISO 8601, UTC
  std::string checksum_algorithm;
  std::vector<MappedFileEntry> mappings;  // file-backed ones, in maps order
  uint64_t files_saved = 0;
  uint64_t bytes_saved = 0;  // data bytes (holes excluded)
};

struct DumpRequest {
  pid_t pid = 0;
  DumpSelection selection = DumpSelection::kUnreachable;
  // Open kFile mappings by their path (device and inode checked) instead of
  // through map_files: works without the capability. Never for the rest.
  bool by_path = false;
  std::string directory;  // the dump's destination; created by the dump
  bool force = false;     // replace an existing directory
  std::string crpid_version;
  CapabilityState capabilities;  // as read at start-up
};

// Called with data bytes saved so far and the expected total.
using DumpProgress = std::function<void(uint64_t done, uint64_t total)>;

// Lists the process's file-backed mappings with the size of each file where
// it can be opened (map_files with the capability, or the path with
// by_path). Drops every capability before returning. Errors: kNotFound (no
// such PID), kPermission (another user's process: the ptrace check),
// kInvalidInput (a kernel thread or a zombie).
Result<DumpReport> ListMappedFiles(const DumpRequest& request);

// Saves each distinct selected file (by device and inode) once, holes kept,
// into request.directory with manifest.json. Everything is opened first
// with the capability, every capability is then dropped, and the dump is
// built in a temporary directory beside the destination that is renamed
// into place only when complete; on any error (EPERM on an open, disk
// full, the process exiting, a file shrinking, a signal) nothing is left
// behind. Every signal that would end crpid is held back while the
// temporary exists (a TerminationHold, src/temporaries.h) and polled
// between windows and files: one that arrives ends the dump with err EINTR
// once the temporary is gone; the caller's own hold then lets it end crpid.
// A temporary a SIGKILLed dump left is removed by the next dump to the same
// directory.
Result<DumpReport> DumpMappedFiles(const DumpRequest& request,
                                   const DumpProgress& progress = nullptr);

struct VerifiedFile {
  std::string saved_as;
  bool ok = false;
  std::string problem;  // why not, when !ok
};

// Recomputes each saved file's checksum and size against the manifest.
// Errors only when the dump cannot be read at all; mismatches are reported
// per file.
Result<std::vector<VerifiedFile>> VerifyDump(const std::string& directory);

// The manifest as JSON text (the file's content, or `--list --json`).
std::string ManifestJson(const DumpReport& report);

}  // namespace crpid

#endif  // CRPID_SRC_MAP_FILES_DUMP_H_
