// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/capabilities.h"

#include <linux/capability.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

#include "src/unique_fd.h"

namespace crpid {
namespace {

// Owns a cap_t from libcap.
class CapHandle {
 public:
  explicit CapHandle(cap_t caps) : caps_(caps) {}
  ~CapHandle() {
    if (caps_ != nullptr) cap_free(caps_);
  }
  CapHandle(const CapHandle&) = delete;
  CapHandle& operator=(const CapHandle&) = delete;
  cap_t get() const { return caps_; }

 private:
  cap_t caps_;
};

bool HasFlag(cap_t caps, int capability, cap_flag_t flag) {
  cap_flag_value_t value = CAP_CLEAR;
  if (cap_get_flag(caps, static_cast<cap_value_t>(capability), flag, &value) !=
      0) {
    return false;
  }
  return value == CAP_SET;
}

Status SetEffective(int capability, bool on) {
  CapHandle caps(cap_get_proc());
  if (caps.get() == nullptr) return SystemError(errno, "capget");
  cap_value_t value = static_cast<cap_value_t>(capability);
  if (cap_set_flag(caps.get(), CAP_EFFECTIVE, 1, &value,
                   on ? CAP_SET : CAP_CLEAR) != 0 ||
      cap_set_proc(caps.get()) != 0) {
    return SystemError(errno, "capset");
  }
  return Ok{};
}

}  // namespace

Result<CapabilityState> ReadCapabilityState() {
  CapabilityState state;
  auto last = ReadFileToString("/proc/sys/kernel/cap_last_cap");
  if (last) state.cap_last_cap = std::atoi(last->c_str());
  state.checkpoint_restore_known = state.cap_last_cap >= kCapCheckpointRestore;

  CapHandle caps(cap_get_proc());
  if (caps.get() == nullptr) return SystemError(errno, "capget");
  state.checkpoint_restore_permitted =
      HasFlag(caps.get(), kCapCheckpointRestore, CAP_PERMITTED);
  state.sys_admin_permitted = HasFlag(caps.get(), CAP_SYS_ADMIN, CAP_PERMITTED);
  state.checkpoint_restore_in_bounding =
      ::prctl(PR_CAPBSET_READ, kCapCheckpointRestore, 0, 0, 0) == 1;
  state.no_new_privs = ::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
  CapHandle file_caps(cap_get_file(SelfExecutablePath().c_str()));
  state.file_grants_checkpoint_restore =
      file_caps.get() != nullptr &&
      HasFlag(file_caps.get(), kCapCheckpointRestore, CAP_PERMITTED);
  return state;
}

Status RefuseSetuid() {
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  if (::getresuid(&ruid, &euid, &suid) != 0 ||
      ::getresgid(&rgid, &egid, &sgid) != 0) {
    return SystemError(errno, "getresuid");
  }
  if (ruid != euid || ruid != suid || rgid != egid || rgid != sgid) {
    return Error{ErrorKind::kPermission, 0,
                 "crpid is running setuid or setgid, which it refuses",
                 "remove the setuid/setgid bit (chmod u-s,g-s) and grant the "
                 "file capability instead: setcap cap_checkpoint_restore+ep " +
                     SelfExecutablePath()};
  }
  return Ok{};
}

Status ClearEffective() {
  CapHandle caps(cap_get_proc());
  if (caps.get() == nullptr) return SystemError(errno, "capget");
  if (cap_clear_flag(caps.get(), CAP_EFFECTIVE) != 0 ||
      cap_set_proc(caps.get()) != 0) {
    return SystemError(errno, "capset");
  }
  return Ok{};
}

int CheckpointRestoreCapabilityToRaise(const CapabilityState& state) {
  if (state.checkpoint_restore_known && state.checkpoint_restore_permitted) {
    return kCapCheckpointRestore;
  }
  if (state.sys_admin_permitted) return CAP_SYS_ADMIN;
  return -1;
}

ScopedEffectiveCapability::ScopedEffectiveCapability(int capability)
    : capability_(capability) {
  if (capability_ < 0) return;
  // Already effective (root keeps its sets): nothing to raise or lower.
  CapHandle caps(cap_get_proc());
  if (caps.get() != nullptr && HasFlag(caps.get(), capability_, CAP_EFFECTIVE)) {
    return;
  }
  raised_ = SetEffective(capability_, true).ok();
}

ScopedEffectiveCapability::~ScopedEffectiveCapability() {
  if (raised_ && !SetEffective(capability_, false)) {
    // Lowering a permitted capability cannot fail unless capset itself is
    // broken; carrying on with it effective would break the privilege model.
    std::abort();
  }
}

Status DropAllCapabilities() {
  // EINVAL: kernel older than 4.3 has no ambient set to clear.
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 &&
      errno != EINVAL) {
    return SystemError(errno, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  }
  CapHandle empty(cap_init());
  if (empty.get() == nullptr) return SystemError(errno, "cap_init");
  if (cap_set_proc(empty.get()) != 0) return SystemError(errno, "capset");
  return Ok{};
}

Status DropCapabilitiesForGood() {
  if (::geteuid() == 0) return Ok{};
  return DropAllCapabilities();
}

int DropAllCapabilitiesRaw() {
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 &&
      errno != EINVAL) {
    return errno;
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capset, &header, data) != 0) return errno;
  return 0;
}

CapabilityProblem DiagnoseCapability(const CapabilityState& state) {
  if (state.checkpoint_restore_permitted && state.checkpoint_restore_known) {
    return CapabilityProblem::kNone;
  }
  if (!state.checkpoint_restore_known) {
    return CapabilityProblem::kUnknownToKernel;
  }
  if (!state.checkpoint_restore_in_bounding) {
    return CapabilityProblem::kNotInBoundingSet;
  }
  if (!state.file_grants_checkpoint_restore) {
    return CapabilityProblem::kNotPermitted;
  }
  if (state.no_new_privs) return CapabilityProblem::kNoNewPrivs;
  return CapabilityProblem::kFileCapabilityIgnored;
}

std::string SelfExecutablePath() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "crpid";
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace crpid
