#include "src/map_files_dump.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <utility>

#include "src/map_files.h"
#include "src/procfs.h"
#include "src/sparse_copy.h"
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

Error ExplainMapsError(pid_t pid, Error error) {
  if (error.kind == ErrorKind::kPermission) {
    struct stat st;
    const bool other_user =
        ::stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0 &&
        st.st_uid != ::getuid();
    error.hint =
        other_user
            ? PidText(pid) + " belongs to another user: the kernel's ptrace "
                             "access check refuses, and no capability of "
                             "crpid overrides it"
            : "the kernel's ptrace access check refused (Yama or a non-"
              "dumpable process)";
  } else if (error.kind == ErrorKind::kNotFound) {
    error.message = "no process with " + PidText(pid);
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
  report.checksum_algorithm = kChecksumAlgorithm;
  report.exe = ReadExeLink(request.pid);
  if (auto comm = ReadComm(request.pid)) report.comm = *comm;
  RaiseOpenFileLimit();

  const Opener privileged = [&request](const Mapping& mapping) {
    return OpenThroughMapFiles(request, mapping);
  };
  for (const Mapping& mapping : *maps) {
    if (mapping.inode == 0) continue;
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

// Removes a directory tree on scope exit unless dismissed.
class TreeRemover {
 public:
  explicit TreeRemover(std::string path) : path_(std::move(path)) {}
  ~TreeRemover() {
    if (!path_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(path_, ignored);
    }
  }
  TreeRemover(const TreeRemover&) = delete;
  TreeRemover& operator=(const TreeRemover&) = delete;
  void Dismiss() { path_.clear(); }

 private:
  std::string path_;
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
  std::string pattern = directory;
  while (pattern.size() > 1 && pattern.back() == '/') pattern.pop_back();
  pattern += ".crpid-tmp-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    return OutputError(errno, "cannot create a directory beside " + directory,
                       directory);
  }
  return pattern;
}

Status WriteNewFile(const std::string& path, const std::string& content,
                    const std::string& directory) {
  auto fd = OpenFile(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  if (!fd) return OutputError(fd.error().err, "cannot create " + path, directory);
  if (Status written = WriteAll(fd->get(), content); !written) {
    return OutputError(written.error().err, "cannot write " + path, directory);
  }
  if (::fsync(fd->get()) != 0) {
    return OutputError(errno, "cannot write " + path, directory);
  }
  return Ok{};
}

// Moves the finished dump into place; with force, replaces what is there.
Status Publish(const std::string& temporary, const std::string& directory,
               bool force) {
  if (::renameat2(AT_FDCWD, temporary.c_str(), AT_FDCWD, directory.c_str(),
                  RENAME_NOREPLACE) == 0) {
    return Ok{};
  }
  if (errno == EINVAL) {
    // NFS, Lustre and other filesystems refuse renameat2's flags: plain
    // rename, the old dump (with --force) moved aside first.
    struct stat st;
    if (::lstat(directory.c_str(), &st) == 0) {
      if (!force) {
        return Error{ErrorKind::kBusy, EEXIST, directory + " already exists",
                     "choose a new directory, or --force to replace it"};
      }
      const std::string aside = temporary + ".old";
      if (::rename(directory.c_str(), aside.c_str()) != 0) {
        return OutputError(errno, "cannot move " + directory + " aside", directory);
      }
      std::error_code ignored;
      if (::rename(temporary.c_str(), directory.c_str()) != 0) {
        const int err = errno;
        ::rename(aside.c_str(), directory.c_str());
        return OutputError(err, "cannot rename " + temporary + " to " + directory,
                           directory);
      }
      std::filesystem::remove_all(aside, ignored);
      return Ok{};
    }
    if (::rename(temporary.c_str(), directory.c_str()) == 0) return Ok{};
    return OutputError(errno, "cannot rename " + temporary + " to " + directory,
                       directory);
  }
  if ((errno != EEXIST && errno != ENOTEMPTY) || !force) {
    if (errno == EEXIST || errno == ENOTEMPTY) {
      return Error{ErrorKind::kBusy, EEXIST, directory + " already exists",
                   "choose a new directory, or --force to replace it"};
    }
    return OutputError(errno, "cannot rename " + temporary + " to " + directory,
                       directory);
  }
  // RENAME_EXCHANGE swaps atomically: readers see the old or the new dump.
  if (::renameat2(AT_FDCWD, temporary.c_str(), AT_FDCWD, directory.c_str(),
                  RENAME_EXCHANGE) != 0) {
    return OutputError(errno, "cannot replace " + directory, directory);
  }
  std::error_code ignored;
  std::filesystem::remove_all(temporary, ignored);  // now the old dump
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

// A manifest's file name must stay inside the dump.
bool IsSafeSavedName(const std::string& name) {
  static const std::regex kPattern("files/[0-9]{4,}-[a-z-]+");
  return std::regex_match(name, kPattern);
}

// Parsed JSON of a crpid map-files manifest (hostile input: no throwing).
bool IsDumpManifest(const nlohmann::json& manifest) {
  return !manifest.is_discarded() && manifest.is_object() &&
         manifest.contains("format") && manifest["format"].is_string() &&
         manifest["format"].get<std::string>() == "crpid-map-files" &&
         manifest.contains("mappings");
}

// True if directory holds a crpid dump: --force replaces nothing else.
bool IsDumpDirectory(const std::string& directory) {
  auto fd = OpenFile(directory + "/" + kManifestName, O_RDONLY | O_NOFOLLOW);
  if (!fd) return false;
  auto text = ReadAll(fd->get());
  return text && IsDumpManifest(nlohmann::json::parse(*text, nullptr, false));
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
    if (!request.force) {
      return Error{ErrorKind::kBusy, EEXIST, directory + " already exists",
                   "choose a new directory, or --force to replace it"};
    }
    if (!S_ISDIR(existing.st_mode) || !IsDumpDirectory(directory)) {
      return Error{ErrorKind::kInvalidInput, ENOTDIR,
                   directory + " exists and is not a crpid dump",
                   "--force replaces only an earlier dump directory; choose "
                   "another path"};
    }
  }
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
    char name[64];
    std::snprintf(name, sizeof name, "%s/%04u-%s", kFilesDir, ++number,
                  MappingKindName(file.kind));
    const std::string path = *temporary + "/" + name;
    auto out = OpenFile(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (!out) return OutputError(out.error().err, "cannot create " + path, directory);
    auto copied = CopySparse(
        file.fd.get(), out->get(), file.size, [&](uint64_t copied_bytes) {
          if (progress) progress(done_before + copied_bytes, total);
        });
    if (!copied) {
      Error error = copied.error();
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
    if (::fsync(out->get()) != 0) {
      return OutputError(errno, "cannot save " + path, directory);
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
  if (Status published = Publish(*temporary, directory, request.force);
      !published) {
    return published.error();
  }
  remover.Dismiss();
  return std::move(report);
}

Result<std::vector<VerifiedFile>> VerifyDump(const std::string& directory) {
  auto fd = OpenFile(directory + "/" + kManifestName, O_RDONLY | O_NOFOLLOW);
  if (!fd) return fd.error();
  auto text = ReadAll(fd->get());
  if (!text) return text.error();
  nlohmann::json manifest = nlohmann::json::parse(*text, nullptr, false);
  if (!IsDumpManifest(manifest) || !manifest["mappings"].is_array()) {
    return Error{ErrorKind::kInvalidInput, 0,
                 directory + "/" + kManifestName +
                     " is not a crpid map-files manifest",
                 {}};
  }
  std::map<std::string, std::pair<std::string, uint64_t>> expected;
  for (const nlohmann::json& entry : manifest["mappings"]) {
    if (!entry.is_object() || !entry.contains("saved_as") ||
        !entry["saved_as"].is_string()) {
      continue;
    }
    const std::string name = entry["saved_as"].get<std::string>();
    const std::string checksum =
        entry.contains("checksum") && entry["checksum"].is_string()
            ? entry["checksum"].get<std::string>()
            : "";
    const uint64_t size = entry.contains("size") && entry["size"].is_number_unsigned()
                              ? entry["size"].get<uint64_t>()
                              : UINT64_MAX;
    expected[name] = {checksum, size};
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
    const int fd = ::openat(files->get(), base.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      result.problem = SystemError(errno, "cannot open " + name).message;
      results.push_back(result);
      continue;
    }
    UniqueFd file(fd);
    auto sum = ChecksumSparse(file.get());
    if (!sum) {
      result.problem = sum.error().message;
    } else if (sum->size != want.second) {
      result.problem = "size " + std::to_string(sum->size) + ", manifest says " +
                       std::to_string(want.second);
    } else if (sum->checksum != want.first) {
      result.problem = "checksum " + sum->checksum + ", manifest says " + want.first;
    } else {
      result.ok = true;
    }
    results.push_back(result);
  }
  return results;
}

}  // namespace crpid
