// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Linked into crpid only under --config=asan (and fuzz). ASan's runtime
// installs handlers of its own for SIGSEGV, SIGBUS and SIGFPE; crpid holds
// back a signal another process sends only while its action is the default
// (src/temporaries.h), so with those handlers a `kill -SEGV` mid-write
// became an ASan report and a temporary left behind, which the shipped
// binary never does. The options come from here, not ASAN_OPTIONS: a
// crpid with its file capability is a secure exec, whose /proc/self/environ
// (the runtime's only way to its environment) its uid cannot open.
// A real fault still ends crpid with SIGSEGV, as in the shipped binary.
// Called by the runtime before it is set up: nothing in it is instrumented.
extern "C" __attribute__((no_sanitize("address", "undefined"), used, visibility("default")))
const char* __asan_default_options() {
  return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0";
}
