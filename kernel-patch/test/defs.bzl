# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-only
"""One sh_test per Debian release and machine of the kernel matrix."""

_CRPID = {
    "arm64": ":crpid_aarch64",
    "x86_64": "//cli:crpid",
}

def debian_kernel_boot_tests(name, releases):
    """Declares debian_RELEASE_ARCH_boot_test for each release and machine.

    Args:
      name: the test_suite holding them all.
      releases: Debian releases, as debian-kernel.sh takes them ("11").
    """
    tests = []
    for release in releases:
        for arch in ["x86_64", "arm64"]:
            test = "debian_%s_%s_boot_test" % (release, arch)
            tests.append(":" + test)
            native.sh_test(
                name = test,
                size = "large",
                srcs = ["debian-kernel.sh"],
                args = [
                    release,
                    arch,
                    "$(location %s)" % _CRPID[arch],
                    "$(location //tests:set_mm_probe.cc)",
                ],
                data = [
                    "boot-test.sh",
                    "guest_init.c",
                    _CRPID[arch],
                    "//tests:set_mm_probe.cc",
                ],
                # qemu outside Bazel's sandbox, one boot at a time (each
                # keeps both cores busy), never served from the cache.
                tags = [
                    "exclusive",
                    "external",
                    "local",
                ],
            )
    native.test_suite(name = name, tests = tests)
