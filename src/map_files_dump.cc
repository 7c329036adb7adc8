// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/map_files_dump.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "src/map_files.h"
#include "src/procfs.h"
#include "src/sparse_copy.h"
#include "src/temporaries.h"
#include "src/unique_fd.h"

namespace crpid {
namespace {

constexpr char kManifestName[] = "manifest.json";
constexpr char kFilesDir[] = "files";

std::string PidText(pid_t pid) { return "PID " + std::to_string(pid); }

std::string NowIso8601() {
  time_t now = ::time(nullptr);
  struct tm utc;
  ::gmtime_r(&now, &utc);
  char text[32];
  ::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

// Checks that PID is a live user process whose maps we may read.
Result<ProcessStat> CheckProcess(pid_t pid) {
  auto stat = ReadProcessStat(pid);
  if (!stat && stat.error().kind == ErrorKind::kNotFound) {
    return Error{ErrorKind::kNotFound, ESRCH, "no process with " + PidText(pid),
                 "give the PID of a running process you own"};
  }
  if (!stat) return stat.error();
  if (stat->kernel_thread) {
    return Error{ErrorKind::kInvalidInput, 0,
                 PidText(pid) + " is a kernel thread: it maps no files",
                 "give the PID of a user process"};
  }
  if (stat->state == 'Z') {
    return Error{ErrorKind::kInvalidInput, 0,
                 PidText(pid) + " is a zombie: it has exited and maps nothing",
                 "dump a process before it exits"};
  }
  return stat;
}

// The real uid /proc/PID/status shows (readable even when PID is not
// dumpable, whose /proc/PID then belongs to root).
std::optional<uid_t> RealUidOf(pid_t pid) {
  auto status = ReadFileToString("/proc/" + std::to_string(pid) + "/status");
  if (!status) return std::nullopt;
  const size_t line = status->find("\nUid:");
  if (line == std::string::npos) return std::nullopt;
  unsigned long uid = 0;
  if (std::sscanf(status->c_str() + line + 5, "%lu", &uid) != 1) return std::nullopt;
  return static_cast<uid_t>(uid);
}

std::string ExplainPermission(pid_t pid) {
  if (InNonInitialUserNamespace()) {
    return "crpid runs inside a user namespace and the kernel lets it read "
           "only processes inside it (map_files also wants the capability in "
           "the initial namespace): run crpid outside the namespace";
  }
  const std::optional<uid_t> owner = RealUidOf(pid);
  if (owner && *owner != ::getuid()) {
    return PidText(pid) + " belongs to another user: the kernel's ptrace "
                          "access check refuses, and no capability of crpid "
                          "overrides it; dump a process you own";
  }
  // A non-dumpable process's /proc files belong to root (not its /proc/PID
  // directory, which always shows the owner).
  struct stat st;
  if (::stat(("/proc/" + std::to_string(pid) + "/stat").c_str(), &st) == 0 &&
      st.st_uid != ::getuid()) {
    return PidText(pid) + " is not dumpable (it runs a setuid or file-"
                          "capability program, or cleared PR_SET_DUMPABLE): "
                          "only root may read its mappings";
  }
  return "the kernel's ptrace access check refused (a security module?)";
}

Error ExplainMapsError(pid_t pid, Error error) {
  if (error.kind == ErrorKind::kPermission) {
    error.hint = ExplainPermission(pid);
  } else if (error.kind == ErrorKind::kNotFound) {
    error.message = "no process with " + PidText(pid);
    error.hint = "give the PID of a running process you own";
  }
  return error;
}

// A distinct file (device, inode) with its open descriptor.
struct SourceFile {
  UniqueFd fd;
  uint64_t size = 0;
  uint64_t allocated = 0;
  MappingKind kind = MappingKind::kFile;
  std::vector<size_t> entries;  // indexes into DumpReport::mappings
  std::string saved_as;
};

using FileKey = std::pair<std::pair<unsigned, unsigned>, uint64_t>;

FileKey KeyOf(const Mapping& mapping) {
  return {{mapping.device_major, mapping.device_minor}, mapping.inode};
}

Result<UniqueFd> OpenThroughMapFiles(const DumpRequest& request,
                                     const Mapping& mapping) {
  auto fd = OpenMapFile(request.pid, mapping,
                        CheckpointRestoreCapabilityToRaise(request.capabilities));
  if (!fd && fd.error().kind == ErrorKind::kNotFound) {
    Error error = fd.error();
    error.message = "mapping " + mapping.MapFilesName() + " of " +
                    PidText(request.pid) + " went away while being dumped";
    error.hint = "the process unmapped it or exited; dump again";
    return error;
  }
  return fd;
}

// Lets the dump hold one descriptor per distinct file.
void RaiseOpenFileLimit() {
  struct rlimit limit;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

struct Inspection {
  DumpReport report;
  ProcessStat stat;
  std::map<FileKey, SourceFile> files;  // selected ones, opened
  std::map<FileKey, uint64_t> sizes;    // of unselected ones, for listings
  std::vector<size_t> by_path;          // entries to open by path, later
};

using Opener = std::function<Result<UniqueFd>(const Mapping&)>;

// Opens report entry `index` with `open` (for an unselected entry of a
// listing, only to learn its size) and files it under its (device, inode).
Status TakeMapping(Inspection& inspection, size_t index, bool for_listing,
                   const Opener& open) {
  MappedFileEntry& entry = inspection.report.mappings[index];
  const FileKey key = KeyOf(entry.mapping);
  if (!entry.selected) {
    if (!for_listing) return Ok{};
    if (!inspection.sizes.count(key)) {
      auto fd = open(entry.mapping);
      struct stat st;
      if (fd && ::fstat(fd->get(), &st) == 0) inspection.sizes[key] = st.st_size;
    }
    if (inspection.sizes.count(key)) entry.file_size = inspection.sizes[key];
    return Ok{};
  }
  auto found = inspection.files.find(key);
  if (found == inspection.files.end()) {
    auto fd = open(entry.mapping);
    if (!fd && fd.error().err == ENODEV) {
      // A device's mapping (e.g. /dev/dri/…): its memory is not a file's.
      entry.selected = false;
      return Ok{};
    }
    if (!fd) return for_listing ? Status(Ok{}) : Status(fd.error());
    struct stat st;
    if (::fstat(fd->get(), &st) != 0) return SystemError(errno, "fstat");
    SourceFile file;
    file.fd = std::move(*fd);
    file.size = static_cast<uint64_t>(st.st_size);
    file.allocated =
        std::min<uint64_t>(file.size, static_cast<uint64_t>(st.st_blocks) * 512);
    file.kind = entry.mapping.kind;
    found = inspection.files.emplace(key, std::move(file)).first;
  }
  found->second.entries.push_back(index);
  entry.file_size = found->second.size;
  return Ok{};
}

// Reads the maps and opens through map_files what is selected (phase 2: the
// capability is raised around each open only). Mappings to open by path
// wait for OpenByPath, after every capability is dropped. A listing also
// learns the sizes of unselected mappings and tolerates failures.
Result<Inspection> Inspect(const DumpRequest& request, bool for_listing) {
  auto stat = CheckProcess(request.pid);
  if (!stat) return stat.error();
  auto maps = ReadMaps(request.pid);
  if (!maps) return ExplainMapsError(request.pid, maps.error());
  Inspection inspection;
  inspection.stat = *stat;
  DumpReport& report = inspection.report;
  report.crpid_version = request.crpid_version;
  report.pid = request.pid;
  report.time = NowIso8601();
  report.format_version = kChecksumFormat;
  report.checksum_algorithm = kChecksumAlgorithm;
  report.exe = ReadExeLink(request.pid);
  if (auto comm = ReadComm(request.pid)) report.comm = *comm;
  RaiseOpenFileLimit();

  const Opener privileged = [&request](const Mapping& mapping) {
    return OpenThroughMapFiles(request, mapping);
  };
  for (const Mapping& mapping : *maps) {
    if (mapping.kind == MappingKind::kAnonymous) continue;  // no file
    MappedFileEntry entry;
    entry.mapping = mapping;
    entry.selected = Selects(request.selection, mapping.kind);
    report.mappings.push_back(std::move(entry));
    const size_t index = report.mappings.size() - 1;
    if (request.by_path && mapping.kind == MappingKind::kFile) {
      inspection.by_path.push_back(index);
      continue;
    }
    if (Status taken = TakeMapping(inspection, index, for_listing, privileged); !taken) {
      return taken.error();
    }
  }
  return inspection;
}

// The --by-path opens, once nothing privileged is left (phase 3).
Status OpenByPath(Inspection& inspection, bool for_listing) {
  const Opener by_path = [](const Mapping& mapping) { return OpenMappedPath(mapping); };
  for (size_t index : inspection.by_path) {
    if (Status taken = TakeMapping(inspection, index, for_listing, by_path); !taken) {
      return taken;
    }
  }
  return Ok{};
}

// Removes a directory tree on scope exit unless dismissed: only the
// directory that was at path when constructed (right after the mkdir). By
// name, another user who can write the parent could have given the name to
// another of the caller's directories meanwhile.
class TreeRemover {
 public:
  explicit TreeRemover(std::string path) : path_(std::move(path)) {
    made_known_ = ::lstat(path_.c_str(), &made_) == 0 && S_ISDIR(made_.st_mode);
  }
  ~TreeRemover() {
    if (!path_.empty() && made_known_) RemoveDirectoryIfStill(path_, made_);
  }
  TreeRemover(const TreeRemover&) = delete;
  TreeRemover& operator=(const TreeRemover&) = delete;
  void Dismiss() { path_.clear(); }

 private:
  std::string path_;
  struct stat made_ = {};
  bool made_known_ = false;
};

Error OutputError(int err, const std::string& what, const std::string& directory) {
  Error error = SystemError(err, what);
  if (err == ENOSPC || err == EDQUOT) {
    error.hint = "the filesystem of " + directory +
                 " is full; nothing was left behind";
  } else if (err == EACCES || err == EROFS) {
    error.hint = "choose a directory you can write to";
  }
  return error;
}

Result<std::string> MakeTemporaryBeside(const std::string& directory) {
  auto temporary = CreateTemporaryDirectory(directory);
  if (!temporary) {
    return OutputError(temporary.error().err, "cannot create a directory beside " + directory,
                       directory);
  }
  return temporary;
}

// Makes a directory's entries durable (fsync on the directory itself).
Status SyncDirectory(const std::string& path, const std::string& directory) {
  auto fd = OpenFile(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (!fd) return OutputError(fd.error().err, "cannot open " + path, directory);
  if (::fsync(fd->get()) != 0) {
    return OutputError(errno, "cannot sync " + path, directory);
  }
  return Ok{};
}

// Writes back every saved file and the manifest at once: one syncfs of the
// dump's filesystem instead of an fsync (a journal commit on ext4) per
// file, which made thousands of small files 3-4x slower than tar + sync.
// syncfs reports writeback errors since Linux 5.8 (map_files' capability
// needs 5.9).
Status SyncSavedFiles(const std::string& temporary, const std::string& directory) {
  auto fd = OpenFile(temporary, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (!fd) return OutputError(fd.error().err, "cannot open " + temporary, directory);
  if (::syncfs(fd->get()) != 0) {
    return OutputError(errno, "cannot write the dump to disk", directory);
  }
  return Ok{};
}

// The directory that holds path's last component.
std::string ParentOf(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Status WriteNewFile(const std::string& path, const std::string& content,
                    const std::string& directory) {
  auto fd = OpenFile(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  if (!fd) return OutputError(fd.error().err, "cannot create " + path, directory);
  if (Status written = WriteAll(fd->get(), content); !written) {
    return OutputError(written.error().err, "cannot write " + path, directory);
  }
  return Ok{};
}

Error AlreadyExists(const std::string& directory) {
  return Error{ErrorKind::kBusy, EEXIST, directory + " already exists",
               "choose a new directory, or --force to replace it"};
}

Error NotADump(const std::string& directory) {
  return Error{ErrorKind::kInvalidInput, ENOTDIR,
               directory + " exists and is not a crpid dump",
               "--force replaces only an earlier dump directory; choose "
               "another path"};
}

int ExchangePaths(const std::string& from, const std::string& to) {
  return ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE);
}

int RenamePath(const std::string& from, const std::string& to) {
  return ::rename(from.c_str(), to.c_str());
}

// Opens a regular file to read. O_NONBLOCK and O_NOCTTY: a FIFO or a
// terminal put in its place must not block or become ours; O_NOFOLLOW: a
// name read from a dump must not lead out of it. Anything but a regular
// file is refused.
Result<UniqueFd> OpenRegularFileAt(int dir_fd, const std::string& name,
                                   const std::string& shown) {
  const int fd = ::openat(dir_fd, name.c_str(),
                          O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return SystemError(errno, "cannot open " + shown);
  UniqueFd file(fd);
  struct stat st;
  if (::fstat(file.get(), &st) != 0) return SystemError(errno, "fstat " + shown);
  if (!S_ISREG(st.st_mode)) {
    return Error{ErrorKind::kInvalidInput, 0, shown + " is not a regular file",
                 "the dump was altered; dump again"};
  }
  ::fcntl(file.get(), F_SETFL, 0);
  return file;
}

bool IsDumpDirectory(const std::string& directory);

// With --force, what was swapped out of directory (now at `displaced`) must
// be an earlier dump: anything else (a directory, file or symlink that
// appeared while the copy ran) is swapped back and the dump fails.
using PathSwap = int (*)(const std::string& from, const std::string& to);

Status CheckDisplaced(const std::string& displaced, const std::string& directory,
                      PathSwap swap_back) {
  struct stat st;
  if (::lstat(displaced.c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
      IsDumpDirectory(displaced)) {
    return Ok{};
  }
  if (swap_back(displaced, directory) != 0) {
    return Error{ErrorKind::kSystem, errno,
                 SystemError(errno, "what appeared at " + directory +
                                        " during the dump is now at " + displaced +
                                        " and could not be put back")
                     .message,
                 "move it back by hand"};
  }
  return NotADump(directory);
}

// Replaces directory by temporary where renameat2's flags are refused (NFS,
// Lustre): what is there is moved aside, checked, and the dump moved in.
Status ReplaceByPlainRename(const std::string& temporary,
                            const std::string& directory, bool force) {
  struct stat st;
  if (::lstat(directory.c_str(), &st) != 0) {
    if (::rename(temporary.c_str(), directory.c_str()) == 0) return Ok{};
    return OutputError(errno, "cannot rename " + temporary + " to " + directory,
                       directory);
  }
  if (!force) return AlreadyExists(directory);
  const std::string aside = temporary + ".old";
  if (::rename(directory.c_str(), aside.c_str()) != 0) {
    return OutputError(errno, "cannot move " + directory + " aside", directory);
  }
  if (Status checked = CheckDisplaced(aside, directory, RenamePath);
      !checked) {
    return checked;
  }
  if (::rename(temporary.c_str(), directory.c_str()) != 0) {
    const int err = errno;
    ::rename(aside.c_str(), directory.c_str());
    return OutputError(err, "cannot rename " + temporary + " to " + directory,
                       directory);
  }
  RemoveDirectoryIfStill(aside, st);  // only what was moved aside
  return Ok{};
}

// Moves the finished dump into place; with force, replaces an earlier dump,
// checked at the moment of the exchange.
Status Publish(const std::string& temporary, const std::string& directory,
               bool force) {
  if (::renameat2(AT_FDCWD, temporary.c_str(), AT_FDCWD, directory.c_str(),
                  RENAME_NOREPLACE) == 0) {
    return Ok{};
  }
  if (errno == EINVAL) return ReplaceByPlainRename(temporary, directory, force);
  if (errno != EEXIST && errno != ENOTEMPTY) {
    return OutputError(errno, "cannot rename " + temporary + " to " + directory,
                       directory);
  }
  if (!force) return AlreadyExists(directory);
  // What the exchange displaces: afterwards only that directory is removed
  // (another user who can write the parent could give the temporary's name
  // to another of the caller's dumps in between).
  struct stat displaced = {};
  if (::lstat(directory.c_str(), &displaced) != 0) {
    return OutputError(errno, "cannot replace " + directory, directory);
  }
  // RENAME_EXCHANGE swaps atomically: readers see the old or the new dump.
  if (ExchangePaths(temporary, directory) != 0) {
    return OutputError(errno, "cannot replace " + directory, directory);
  }
  // temporary now names what was at directory.
  if (Status checked = CheckDisplaced(temporary, directory, ExchangePaths);
      !checked) {
    return checked;
  }
  RemoveDirectoryIfStill(temporary, displaced);  // the old dump
  return Ok{};
}

nlohmann::json EntryJson(const MappedFileEntry& entry) {
  const Mapping& m = entry.mapping;
  nlohmann::json json = {
      {"start", "0x" + m.MapFilesName().substr(0, m.MapFilesName().find('-'))},
      {"end", "0x" + m.MapFilesName().substr(m.MapFilesName().find('-') + 1)},
      {"offset", m.offset},
      {"permissions", m.permissions},
      {"device", m.DeviceText()},
      {"inode", m.inode},
      {"path", m.path},
      {"kind", MappingKindName(m.kind)},
      {"deleted", m.kind != MappingKind::kFile},
      {"memfd", m.kind == MappingKind::kMemfd},
      {"shared_anonymous", m.kind == MappingKind::kSharedAnonymous ||
                               m.kind == MappingKind::kSysvShm},
      {"selected", entry.selected},
  };
  json["size"] = entry.file_size ? nlohmann::json(*entry.file_size) : nlohmann::json();
  json["saved_as"] = entry.saved_as.empty() ? nlohmann::json() : nlohmann::json(entry.saved_as);
  json["checksum"] = entry.checksum.empty() ? nlohmann::json() : nlohmann::json(entry.checksum);
  return json;
}

// Bounds on what --verify reads from a manifest (hostile input): a dump of
// the largest process (max_map_count 65530 mappings) stays far below them.
constexpr size_t kMaxManifestBytes = 64 << 20;
constexpr size_t kMaxMappings = 1 << 20;
constexpr size_t kMaxSavedNameLength = 64;
constexpr size_t kMaxChecksumLength = 64;

// A manifest's file name must stay inside the dump: "files/", four or more
// digits, '-', then [a-z-]+, bounded. Checked by hand: std::regex recurses
// per character and overflows the stack on long names.
bool IsSafeSavedName(std::string_view name) {
  constexpr std::string_view kPrefix = "files/";
  if (name.size() > kMaxSavedNameLength || name.substr(0, kPrefix.size()) != kPrefix) {
    return false;
  }
  name.remove_prefix(kPrefix.size());
  size_t digits = 0;
  while (digits < name.size() && name[digits] >= '0' && name[digits] <= '9') ++digits;
  if (digits < 4 || digits >= name.size() || name[digits] != '-') return false;
  name.remove_prefix(digits + 1);
  if (name.empty()) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || c == '-')) return false;
  }
  return true;
}

// Parsed JSON of a crpid map-files manifest (hostile input: no throwing).
bool IsDumpManifest(const nlohmann::json& manifest) {
  return !manifest.is_discarded() && manifest.is_object() &&
         manifest.contains("format") && manifest["format"].is_string() &&
         manifest["format"].get<std::string>() == "crpid-map-files" &&
         manifest.contains("mappings");
}


}  // namespace

bool Selects(DumpSelection selection, MappingKind kind) {
  if (kind == MappingKind::kAnonymous || kind == MappingKind::kSpecial) return false;
  switch (selection) {
    case DumpSelection::kUnreachable:
      return ReachableOnlyThroughMapFiles(kind);
    case DumpSelection::kDeleted:
      return kind == MappingKind::kDeletedFile;
    case DumpSelection::kMemfd:
      return kind == MappingKind::kMemfd;
    case DumpSelection::kAll:
      return true;
  }
  return false;
}

std::string ManifestJson(const DumpReport& report) {
  nlohmann::json mappings = nlohmann::json::array();
  for (const MappedFileEntry& entry : report.mappings) {
    mappings.push_back(EntryJson(entry));
  }
  nlohmann::json json = {
      {"format", "crpid-map-files"},
      {"format_version", report.format_version},
      {"crpid_version", report.crpid_version},
      {"pid", report.pid},
      {"comm", report.comm},
      {"exe", report.exe},
      {"time", report.time},
      {"checksum_algorithm", report.checksum_algorithm},
      {"files_saved", report.files_saved},
      {"bytes_saved", report.bytes_saved},
      {"mappings", mappings},
  };
  // Paths are bytes, not always UTF-8: replace what is not valid.
  return json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Result<DumpReport> ListMappedFiles(const DumpRequest& request) {
  auto inspection = Inspect(request, /*for_listing=*/true);
  if (Status dropped = DropCapabilitiesForGood(); !dropped) return dropped.error();
  if (!inspection) return inspection.error();
  if (Status opened = OpenByPath(*inspection, true); !opened) return opened.error();
  return std::move(inspection->report);
}

Result<DumpReport> DumpMappedFiles(const DumpRequest& request,
                                   const DumpProgress& progress) {
  auto inspection = Inspect(request, /*for_listing=*/false);
  // Phase 3: everything is open; nothing privileged is left to do, and what
  // follows writes to a path the user chose.
  if (Status dropped = DropCapabilitiesForGood(); !dropped) return dropped.error();
  if (!inspection) return inspection.error();
  if (Status opened = OpenByPath(*inspection, false); !opened) return opened.error();
  DumpReport& report = inspection->report;
  const std::string& directory = request.directory;

  struct stat existing;
  if (::lstat(directory.c_str(), &existing) == 0) {
    if (!request.force) return AlreadyExists(directory);
    if (!S_ISDIR(existing.st_mode) || !IsDumpDirectory(directory)) {
      return NotADump(directory);
    }
  }
  // From here to the rename a temporary exists: a signal must not end
  // crpid before it is gone (src/temporaries.h).
  TerminationHold hold;
  RemoveAbandonedTemporaries(directory);
  auto temporary = MakeTemporaryBeside(directory);
  if (!temporary) return temporary.error();
  TreeRemover remover(*temporary);
  const std::string files_dir = *temporary + "/" + kFilesDir;
  if (::mkdir(files_dir.c_str(), 0700) != 0) {
    return OutputError(errno, "cannot create " + files_dir, directory);
  }

  uint64_t total = 0;
  for (const auto& [key, file] : inspection->files) total += file.allocated;
  uint64_t done_before = 0;
  unsigned number = 0;
  for (auto& [key, file] : inspection->files) {
    if (Status go_on = CheckHeldSignals(); !go_on) return go_on.error();
    char name[64];
    std::snprintf(name, sizeof name, "%s/%04u-%s", kFilesDir, ++number,
                  MappingKindName(file.kind));
    const std::string path = *temporary + "/" + name;
    auto out = OpenFile(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (!out) return OutputError(out.error().err, "cannot create " + path, directory);
    auto copied = CopySparse(
        file.fd.get(), out->get(), file.size, [&](uint64_t copied_bytes) {
          if (progress) progress(done_before + copied_bytes, total);
          return CheckHeldSignals();
        });
    if (!copied) {
      Error error = copied.error();
      if (error.err == EINTR) return error;
      if (error.err != 0) {
        return OutputError(error.err,
                           "cannot save " + report.mappings[file.entries[0]].mapping.path +
                               " to " + name,
                           directory);
      }
      error.message = report.mappings[file.entries[0]].mapping.path + ": " +
                      error.message;
      return error;
    }
    done_before += copied->data_bytes;
    report.bytes_saved += copied->data_bytes;
    ++report.files_saved;
    for (size_t index : file.entries) {
      report.mappings[index].saved_as = name;
      report.mappings[index].checksum = copied->checksum;
    }
  }

  // The copies came from descriptors that outlive the process; a dump of a
  // process that is gone (or whose PID was reused) is not a snapshot of it.
  auto still = ReadProcessStat(request.pid);
  if (!still || still->start_time != inspection->stat.start_time ||
      still->state == 'Z') {
    return Error{ErrorKind::kNotFound, ESRCH,
                 PidText(request.pid) + " exited while being dumped",
                 "nothing was saved; dump a process that keeps running"};
  }
  if (Status written = WriteNewFile(*temporary + "/" + kManifestName,
                                    ManifestJson(report), directory);
      !written) {
    return written.error();
  }
  // A dump reported as saved must survive a crash: its files and manifest,
  // then files/ and the dump directory are synced before the rename, the
  // parent after it.
  if (Status synced = SyncSavedFiles(*temporary, directory); !synced) {
    return synced.error();
  }
  if (Status synced = SyncDirectory(files_dir, directory); !synced) return synced.error();
  if (Status synced = SyncDirectory(*temporary, directory); !synced) {
    return synced.error();
  }
  if (Status go_on = CheckHeldSignals(); !go_on) return go_on.error();
  if (Status published = Publish(*temporary, directory, request.force);
      !published) {
    return published.error();
  }
  remover.Dismiss();
  if (Status synced = SyncDirectory(ParentOf(directory), directory); !synced) {
    Error error = synced.error();
    error.message = directory + " is in place but may not survive a crash: " +
                    error.message;
    return error;
  }
  return std::move(report);
}

namespace {

Error DamagedManifest(const std::string& path, const std::string& what) {
  return Error{ErrorKind::kInvalidInput, 0, path + ": " + what,
               "the manifest is damaged or not crpid's; dump again"};
}

const char* JsonTypeName(const nlohmann::json& value) { return value.type_name(); }

struct ExpectedFile {
  std::string checksum;
  uint64_t size = 0;
};

// The saved files a manifest lists, each with the size and checksum it
// must have. Wrong types and oversized values are errors, not skipped.
// The manifest's format: 1 (crpid 0.1.0, extent checksums; also assumed
// when absent) or 2 (block checksums).
Result<int> ManifestFormat(const nlohmann::json& manifest, const std::string& path) {
  const auto version = manifest.find("format_version");
  if (version == manifest.end()) return 1;
  if (!version->is_number_unsigned() || version->get<uint64_t>() < 1 ||
      version->get<uint64_t>() > static_cast<uint64_t>(kChecksumFormat)) {
    return Error{ErrorKind::kInvalidInput, 0,
                 path + ": format_version " +
                     // dump() recurses: never on a value that may nest deeply.
                     (version->is_primitive() ? version->dump().substr(0, 32)
                                              : std::string("of type ") + version->type_name()) +
                     " is not one this crpid reads (1 or 2)",
                 "verify it with the crpid that wrote it"};
  }
  return static_cast<int>(version->get<uint64_t>());
}

Result<std::map<std::string, ExpectedFile>> ExpectedFiles(
    const nlohmann::json& manifest, const std::string& path) {
  const nlohmann::json& mappings = manifest["mappings"];
  if (!mappings.is_array()) {
    return DamagedManifest(path, std::string("\"mappings\" is ") +
                                     JsonTypeName(mappings) + ", not an array");
  }
  if (mappings.size() > kMaxMappings) {
    return DamagedManifest(path, "more than " + std::to_string(kMaxMappings) +
                                     " mappings");
  }
  std::map<std::string, ExpectedFile> expected;
  for (size_t i = 0; i < mappings.size(); ++i) {
    const nlohmann::json& entry = mappings[i];
    const std::string where = "mappings[" + std::to_string(i) + "]";
    if (!entry.is_object()) {
      return DamagedManifest(path, where + " is " + JsonTypeName(entry) +
                                       ", not an object");
    }
    const auto saved = entry.find("saved_as");
    if (saved == entry.end() || saved->is_null()) continue;
    if (!saved->is_string()) {
      return DamagedManifest(path, where + ".saved_as is " +
                                       JsonTypeName(*saved) + ", not a string");
    }
    const auto checksum = entry.find("checksum");
    if (checksum == entry.end() || !checksum->is_string() ||
        checksum->get_ref<const std::string&>().size() > kMaxChecksumLength) {
      return DamagedManifest(path, where + ".checksum is not a checksum string");
    }
    const auto size = entry.find("size");
    if (size == entry.end() || !size->is_number_unsigned()) {
      return DamagedManifest(path, where + ".size is not a byte count");
    }
    std::string name = saved->get<std::string>();
    if (name.size() > kMaxSavedNameLength) {
      name = name.substr(0, kMaxSavedNameLength) + "...";  // refused below
    }
    // Mappings of one file share its saved name; they must agree on it.
    const ExpectedFile file = {checksum->get<std::string>(), size->get<uint64_t>()};
    const auto [known, added] = expected.emplace(name, file);
    if (!added && (known->second.checksum != file.checksum || known->second.size != file.size)) {
      return DamagedManifest(path, where + " gives another checksum or size for a file "
                                           "listed before");
    }
  }
  return expected;
}

// Reads and parses a dump's manifest (bounded), or says why not.
Result<nlohmann::json> ReadManifest(const std::string& directory) {
  const std::string path = directory + "/" + kManifestName;
  auto fd = OpenRegularFileAt(AT_FDCWD, path, path);
  if (!fd) return fd.error();
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return SystemError(errno, "fstat " + path);
  if (static_cast<uint64_t>(st.st_size) > kMaxManifestBytes) {
    return DamagedManifest(path, "larger than " +
                                     std::to_string(kMaxManifestBytes >> 20) + " MiB");
  }
  // st_size is only a first filter (a manifest on procfs says 0): the read
  // itself stops one byte past the bound.
  auto text = ReadAll(fd->get(), kMaxManifestBytes, path);
  if (!text && text.error().err != EFBIG) return text.error();
  if (!text) {
    return DamagedManifest(path, "larger than " +
                                     std::to_string(kMaxManifestBytes >> 20) + " MiB");
  }
  nlohmann::json manifest = nlohmann::json::parse(*text, nullptr, false);
  if (!IsDumpManifest(manifest)) {
    return Error{ErrorKind::kInvalidInput, 0,
                 path + " is not a crpid map-files manifest", {}};
  }
  return manifest;
}

// True if directory holds a crpid dump: --force replaces nothing else.
bool IsDumpDirectory(const std::string& directory) {
  return ReadManifest(directory).ok();
}

}  // namespace

Result<std::vector<VerifiedFile>> VerifyDump(const std::string& directory) {
  auto manifest = ReadManifest(directory);
  if (!manifest) return manifest.error();
  std::map<std::string, ExpectedFile> expected;
  int format = 1;
  try {
    auto version = ManifestFormat(*manifest, directory + "/" + kManifestName);
    if (!version) return version.error();
    format = *version;
    auto listed = ExpectedFiles(*manifest, directory + "/" + kManifestName);
    if (!listed) return listed.error();
    expected = std::move(*listed);
  } catch (const nlohmann::json::exception& error) {
    // Not expected after the type checks; hostile input must not abort.
    return DamagedManifest(directory + "/" + kManifestName, error.what());
  }
  // Names are "files/NNNN-kind"; the files directory itself must not be a
  // symlink leading out of the dump.
  auto files = OpenFile(directory + "/" + kFilesDir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  std::vector<VerifiedFile> results;
  for (const auto& [name, want] : expected) {
    VerifiedFile result;
    result.saved_as = name;
    if (!IsSafeSavedName(name)) {
      result.problem = "not a name crpid writes; refused";
      results.push_back(result);
      continue;
    }
    if (!files) {
      result.problem = files.error().message;
      results.push_back(result);
      continue;
    }
    const std::string base = name.substr(sizeof kFilesDir);
    auto file = OpenRegularFileAt(files->get(), base, name);
    if (!file) {
      result.problem = file.error().message;
      results.push_back(result);
      continue;
    }
    auto sum = ChecksumSparse(file->get(), format);
    if (!sum) {
      result.problem = sum.error().message;
    } else if (sum->size != want.size) {
      result.problem = "size " + std::to_string(sum->size) + ", manifest says " +
                       std::to_string(want.size);
    } else if (sum->checksum != want.checksum) {
      result.problem = "checksum " + sum->checksum + ", manifest says " + want.checksum;
    } else {
      result.ok = true;
    }
    results.push_back(result);
  }
  return results;
}

}  // namespace crpid
