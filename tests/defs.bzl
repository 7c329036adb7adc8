# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
"""Test rules for crpid."""

# Tests that set file capabilities, change uid, mount, run daemons or need
# the initial namespaces run outside Bazel's sandbox (local), one at a time
# (exclusive), and are never served from the cache (external).
OUTSIDE_THE_SANDBOX = [
    "exclusive",
    "external",
    "local",
]

def crpid_integration_test(name, srcs, data = [], deps = [], size = "medium"):
    """A GoogleTest that runs the built crpid for real, outside the sandbox."""
    native.cc_test(
        name = name,
        size = size,
        srcs = srcs,
        data = data + [
            ":capless_exec",
            "//cli:crpid",
        ],
        tags = OUTSIDE_THE_SANDBOX,
        deps = deps + [
            ":test_support",
            "//third_party:gmock",
            "//third_party:gtest_main",
        ],
    )
