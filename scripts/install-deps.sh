#!/bin/bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs, from Debian's archive only, everything crpid needs to build and
# test. Idempotent: does nothing when every package is already there.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap          # Bazel 4.2.3 (pulls in a JDK)
  bazel-bootstrap-source   # local copies of rules_cc & co for offline builds
  g++                      # also the ASan+UBSan build (--config=asan)
  binutils                 # readelf, objdump: the trampoline section test
  clang-14                 # the fuzz targets (--config=fuzz, scripts/fuzz.sh)
  libclang-rt-14-dev       # libFuzzer and clang's sanitizer runtimes
  llvm-14                  # llvm-symbolizer: readable sanitizer reports
  libcli11-dev
  libfmt-dev
  libspdlog-dev
  libcap-dev
  libcap2-bin              # setcap, getcap
  nlohmann-json3-dev
  libxxhash-dev
  libgtest-dev
  libgmock-dev
  util-linux               # setpriv, unshare, prlimit, nsenter
  strace                   # the map-files-dump durability test reads its syscalls
  procps
  python3-minimal          # the set-mm test runs a Python one-liner
  qemu-system-x86          # kernel-patch/test boots kernels
  qemu-system-arm          # ... and Debian's arm64 kernel (qemu-system-aarch64)
  g++-aarch64-linux-gnu    # the aarch64 cross-build (toolchains/aarch64)
  libcap-dev:arm64         # libcap.a for the static aarch64 crpid
  libc6:arm64              # arm64's ld.so and libc for the dynamic probe
  cpio
  debian-archive-keyring   # the kernel matrix's private apt sources (signed-by)
  scdoc                    # builds the man page
  dpkg-dev                 # dpkg-deb for the package
  rpm                      # rpmbuild for the RPM, rpm --root for its test
  rpmlint
  lintian                  # the package test lints the .deb
  reuse                    # reuse lint: every file's license and copyright
  bash-completion          # the package test completes a command line
  slurmctld                # the Slurm example's test runs a one-node cluster
  slurmd
  slurm-client
  munge
)

# The arm64 packages above (Debian's archive serves them once enabled).
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "install-deps: dpkg --add-architecture arm64"
  dpkg --add-architecture arm64
fi

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
      grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
