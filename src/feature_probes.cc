// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/feature_probes.h"

#include <fcntl.h>
#include <sys/capability.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "src/fork_at.h"
#include "src/kernel_probe.h"
#include "src/map_files.h"
#include "src/pid_holder.h"
#include "src/proc_maps.h"
#include "src/procfs.h"
#include "src/set_mm.h"
#include "src/unique_fd.h"

namespace crpid {
namespace {

ProbeResult Yes(std::string detail) { return {true, std::move(detail)}; }
ProbeResult No(std::string detail) { return {false, std::move(detail)}; }

ProbeResult Kernel(const CapabilityState&) {
  struct utsname name;
  if (::uname(&name) != 0) return No(std::strerror(errno));
  return Yes(std::string(name.sysname) + " " + name.release + " " + name.machine);
}

ProbeResult CapabilityKnown(const CapabilityState& state) {
  const std::string detail = "cap_last_cap=" + std::to_string(state.cap_last_cap);
  if (state.checkpoint_restore_known) return Yes(detail);
  return No(detail + ", CAP_CHECKPOINT_RESTORE (40) needs Linux 5.9 or kernel-patch/");
}

ProbeResult FileCapability(const CapabilityState& state) {
  cap_t caps = cap_get_file(SelfExecutablePath().c_str());
  if (caps == nullptr) return No("none on " + SelfExecutablePath());
  cap_flag_value_t permitted = CAP_CLEAR, effective = CAP_CLEAR;
  const cap_value_t value = kCapCheckpointRestore;
  cap_get_flag(caps, value, CAP_PERMITTED, &permitted);
  cap_get_flag(caps, value, CAP_EFFECTIVE, &effective);
  char* text = cap_to_text(caps, nullptr);
  std::string detail = std::string(text != nullptr ? text : "?") + " on " +
                       SelfExecutablePath();
  cap_free(text);
  cap_free(caps);
  (void)state;
  if (permitted != CAP_SET) return No(detail);
  return Yes(detail + (effective == CAP_SET ? " (+ep)" : " (+p)"));
}

ProbeResult Permitted(const CapabilityState& state) {
  std::string detail = state.checkpoint_restore_permitted ? "permitted" : "not permitted";
  if (::geteuid() == 0) detail += " (root)";
  if (state.checkpoint_restore_permitted) return Yes(detail);
  return No(detail);
}

ProbeResult BoundingSet(const CapabilityState& state) {
  if (state.checkpoint_restore_in_bounding) return Yes("CAP_CHECKPOINT_RESTORE in it");
  return No("CAP_CHECKPOINT_RESTORE missing: no file capability can grant it "
            "(containers drop it)");
}

ProbeResult NoNewPrivs(const CapabilityState& state) {
  if (!state.no_new_privs) return Yes("not set");
  if (state.checkpoint_restore_permitted) {
    return Yes("set, but the kernel granted the file capability anyway");
  }
  return No("set: the kernel ignored crpid's file capability");
}

ProbeResult Clone3(const CapabilityState&) {
  const Clone3Support support = ProbeClone3();
  if (support == Clone3Support::kMissing) {
    return No("ENOSYS: Linux < 5.3 or a seccomp filter");
  }
  if (support == Clone3Support::kBlocked || support == Clone3Support::kUnknown) {
    return No(Clone3SupportName(support));
  }
  return Yes(Clone3SupportName(support));
}

ProbeResult Clone3SetTid(const CapabilityState&) {
  const Clone3Support support = ProbeClone3();
  if (support == Clone3Support::kSetTid) return Yes("EINVAL for set_tid {-1}: understood");
  return No(support == Clone3Support::kNoSetTid ? "E2BIG: Linux < 5.5"
                                                : Clone3SupportName(support));
}

ProbeResult NsLastPid(const CapabilityState& state) {
  if (Status permitted = NsLastPidPermitted(); !permitted) {
    return No("not used here: clone3 set_tid works, and crpid writes "
              "ns_last_pid only where it does not or in your own PID namespace");
  }
  auto fd = OpenFile("/proc/sys/kernel/ns_last_pid", O_RDWR);
  if (!fd) return No(fd.error().message);
  // Restorers write and fork under this lock; the probe must not rewind the
  // counter between another one's write and its fork.
  if (::flock(fd->get(), LOCK_EX | LOCK_NB) != 0) {
    return Yes("opened; not written: another restorer holds its lock");
  }
  char current[32] = {};
  if (::pread(fd->get(), current, sizeof current - 1, 0) <= 0) {
    return No(std::string("read: ") + std::strerror(errno));
  }
  ScopedEffectiveCapability raised(CheckpointRestoreCapabilityToRaise(state));
  // Writing back what is there: the next PID stays what it would have been.
  if (::pwrite(fd->get(), current, std::strlen(current), 0) < 0) {
    return No(std::string("write: ") + std::strerror(errno));
  }
  return Yes("writable");
}

ProbeResult PidMax(const CapabilityState&) {
  auto pid_max = ReadPidMax();
  if (!pid_max) return No(pid_max.error().message);
  return Yes("kernel.pid_max=" + std::to_string(*pid_max));
}

// A free PID well ahead of the last one handed out, below pid_max.
pid_t SparePid() {
  auto pid_max = ReadPidMax();
  auto last = ReadFileToString("/proc/sys/kernel/ns_last_pid");
  long candidate = (last ? std::atol(last->c_str()) : 300) + 997;
  const long limit = pid_max ? *pid_max : 32768;
  for (int i = 0; i < 1000; ++i, ++candidate) {
    if (candidate >= limit - 1) candidate = 300;
    // Free as a group or session ID too, or clone3 refuses it (EEXIST).
    if (!PidInUse(static_cast<pid_t>(candidate)) &&
        FindPidHolder(static_cast<pid_t>(candidate)).free()) {
      return static_cast<pid_t>(candidate);
    }
  }
  return -1;
}

ProbeResult ForkAtProbe(const CapabilityState& state) {
  const pid_t pid = SparePid();
  ForkAtRequest request;
  request.pids = {pid};
  request.command = {"/bin/true"};
  sigemptyset(&request.child_signal_mask);
  request.capabilities = state;
  auto child = ForkAt(request);  // never released: the child exits unseen
  if (!child) return No(child.error().message);
  return Yes("created PID " + std::to_string(pid) + " with " +
             ForkMethodName(child->method()));
}

ProbeResult MapFiles(const CapabilityState& state) {
  // A process of the caller's own that maps a memfd: crpid itself is not
  // dumpable, so its own map_files directory is root's.
  auto ready = MakePipe();
  auto hold = MakePipe();
  if (!ready || !hold) return No("pipe");
  const pid_t target = ::fork();
  if (target == 0) {
    ready->read_end.Reset();
    hold->write_end.Reset();  // so that the prober closing its end is EOF
    if (DropAllCapabilitiesRaw() != 0) _exit(1);  // never dumpable with it
    ::prctl(PR_SET_DUMPABLE, 1);
    const int memfd = ::memfd_create("crpid-check", MFD_CLOEXEC);
    if (memfd < 0 || ::ftruncate(memfd, 4096) != 0 ||
        ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, memfd, 0) == MAP_FAILED) {
      _exit(1);
    }
    char byte = 'r';
    (void)!::write(ready->write_end.get(), &byte, 1);
    (void)!::read(hold->read_end.get(), &byte, 1);  // until the prober is done
    _exit(0);
  }
  ready->write_end.Reset();
  hold->read_end.Reset();
  char byte;
  ProbeResult result = No("the test process did not start");
  if (target > 0 && ::read(ready->read_end.get(), &byte, 1) == 1) {
    result = No("no memfd mapping found");
    if (auto maps = ReadMaps(target)) {
      for (const Mapping& mapping : *maps) {
        if (mapping.kind != MappingKind::kMemfd) continue;
        auto fd = OpenMapFile(target, mapping, CheckpointRestoreCapabilityToRaise(state));
        result = fd ? Yes("opened a memfd through /proc/PID/map_files")
                    : No(fd.error().message);
        if (!fd && InNonInitialUserNamespace()) {
          result.detail += " (it needs the capability in the initial user namespace)";
        }
        break;
      }
    } else {
      result = No(maps.error().message);
    }
  }
  hold->write_end.Reset();
  if (target > 0) ::waitpid(target, nullptr, 0);
  return result;
}

ProbeResult SetMmExe(const CapabilityState& state) {
  const std::string self = SelfExecutablePath();
  auto fd = OpenFile(self, O_RDONLY);
  if (!fd) return No(fd.error().message);
  Status probed = ProbeExeChange(fd->get(), self, state);
  if (!probed) return No(probed.error().message);
  return Yes("PR_SET_MM_MAP accepts exe_fd (EBUSY while the old one is mapped)");
}

ProbeResult UserNamespace(const CapabilityState&) {
  return Yes(InNonInitialUserNamespace() ? "inside a user namespace"
                                         : "the initial user namespace");
}

}  // namespace

const std::vector<FeatureProbe>& FeatureProbes() {
  static const std::vector<FeatureProbe> kProbes = {
      {"kernel", "kernel release", false, Kernel},
      {"cap-known", "the kernel knows CAP_CHECKPOINT_RESTORE (cap_last_cap >= 40)",
       true, CapabilityKnown},
      {"file-capability", "crpid's own file capability (+ep or +p)", false,
       FileCapability},
      {"capability", "CAP_CHECKPOINT_RESTORE in crpid's permitted set", true, Permitted},
      {"bounding-set", "CAP_CHECKPOINT_RESTORE in the bounding set", true, BoundingSet},
      {"no-new-privs", "no_new_privs does not defeat the file capability", true,
       NoNewPrivs},
      {"clone3", "clone3() present", false, Clone3},
      {"clone3-set-tid", "clone3() set_tid supported (Linux 5.5+)", false, Clone3SetTid},
      {"ns-last-pid", "/proc/sys/kernel/ns_last_pid writable", false, NsLastPid},
      {"pid-max", "kernel.pid_max", false, PidMax},
      {"fork-at", "a process created at a chosen PID", true, ForkAtProbe},
      {"map-files", "/proc/PID/map_files opens", true, MapFiles},
      {"set-mm-exe", "PR_SET_MM_MAP may change the exe link", true, SetMmExe},
      {"user-namespace", "which user namespace crpid runs in", false, UserNamespace},
  };
  return kProbes;
}

ProbeResult RunProbe(const FeatureProbe& probe, const CapabilityState& capabilities) {
  auto pipe = MakePipe();
  if (!pipe) return No(pipe.error().message);
  const pid_t child = ::fork();
  if (child < 0) return No(std::string("fork: ") + std::strerror(errno));
  if (child == 0) {
    pipe->read_end.Reset();
    const ProbeResult result = probe.run(capabilities);
    const std::string report = std::string(result.ok ? "1" : "0") + result.detail;
    (void)WriteAll(pipe->write_end.get(), report);
    _exit(0);
  }
  pipe->write_end.Reset();
  auto report = ReadAll(pipe->read_end.get(), 64 << 10, "the probe's report");
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!report || report->empty()) {
    return No("the probe died (wait status " + std::to_string(status) + ")");
  }
  return {(*report)[0] == '1', report->substr(1)};
}

}  // namespace crpid
