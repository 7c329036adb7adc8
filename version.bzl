# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
"""crpid's version: the one place every artifact takes it from (the binary's
--version and manifests, the .deb, the .rpm, scripts/release.sh)."""

CRPID_VERSION = "0.2.0"
