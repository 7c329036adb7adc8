// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// The probe table behind `crpid check` and the tests' expectations: each
// probe tries the operation for real (never trusts version numbers), in a
// child process of its own so that no probe's privilege or side effect
// reaches the caller or the next probe.
#ifndef CRPID_SRC_FEATURE_PROBES_H_
#define CRPID_SRC_FEATURE_PROBES_H_

#include <string>
#include <vector>

#include "src/capabilities.h"

namespace crpid {

struct ProbeResult {
  bool ok = false;
  std::string detail;  // what was seen, e.g. "EINVAL for set_tid {-1}"
};

struct FeatureProbe {
  const char* name;         // e.g. "clone3-set-tid"
  const char* description;  // one line for --help and the README
  bool needed;              // crpid's verdict fails without it
  ProbeResult (*run)(const CapabilityState& capabilities);
};

// In the order `crpid check` prints them.
const std::vector<FeatureProbe>& FeatureProbes();

// Runs one probe in a forked child and returns what it reported.
ProbeResult RunProbe(const FeatureProbe& probe, const CapabilityState& capabilities);

}  // namespace crpid

#endif  // CRPID_SRC_FEATURE_PROBES_H_
