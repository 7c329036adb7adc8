#!/bin/bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds every artifact a site needs from a clean tree, runs each one's own
# test, and writes them with a SHA256SUMS file to dist/VERSION/:
#   crpid-VERSION-x86_64          the fully static binary (setcap it on nodes)
#   crpid-VERSION-aarch64         the same for arm64 (cross-built, --config=aarch64)
#   crpid_VERSION_amd64.deb       Debian and Ubuntu (postinst sets the capability)
#   crpid-VERSION-1.x86_64.rpm    RHEL, Rocky, Alma, Fedora (%caps in the package)
# The version is version.bzl's. Packages are x86_64 only for now; the
# aarch64 binary is tested by booting Debian's arm64 kernel with it under
# qemu (kernel-patch/test/debian-kernel.sh 12 arm64). Run as root (the tests
# install the packages and set file capabilities).
# Prints "release: ok: …" / "release: FAILED: …" per check; exits non-zero
# on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

failures=0
check() {  # check DESCRIPTION COMMAND...
  if "${@:2}" >"$log" 2>&1; then
    echo "release: ok: $1"
  else
    echo "release: FAILED: $1"
    sed 's/^/  /' "$log" | tail -20
    failures=$((failures + 1))
  fi
}
log=$(mktemp)
scratch=$(mktemp -d /tmp/crpid-release-XXXXXX)
chmod 0755 "$scratch"
trap 'rm -rf "$log" "$scratch"' EXIT

[[ $EUID -eq 0 ]] || { echo "release: run as root (package tests)" >&2; exit 1; }
version=$(sed -n 's/^CRPID_VERSION = "\(.*\)"$/\1/p' version.bzl)
[[ -n $version ]] || { echo "release: no CRPID_VERSION in version.bzl" >&2; exit 1; }
# Sources exactly as committed: nothing modified, nothing untracked.
if [[ -n $(git status --porcelain --untracked-files=normal) ]]; then
  echo "release: the tree has uncommitted changes; commit or stash them first" >&2
  git status --short >&2
  exit 1
fi
echo "release: crpid $version from $(git rev-parse --short HEAD)"

check "build //cli:crpid //packaging:deb //packaging:rpm" \
  bazel build --noshow_progress //cli:crpid //packaging:deb //packaging:rpm
check "build --config=aarch64 //cli:crpid" \
  bazel build --noshow_progress --config=aarch64 --symlink_prefix=/ //cli:crpid
aarch64_built=$(bazel info --config=aarch64 bazel-bin 2>/dev/null)/cli/crpid
dist=dist/$version
rm -rf "$dist"
mkdir -p "$dist"
cp bazel-bin/cli/crpid "$dist/crpid-$version-x86_64"
cp "bazel-bin/packaging/crpid_${version}_amd64.deb" "bazel-bin/packaging/crpid-$version-1.x86_64.rpm" \
  "$dist/"
chmod 0644 "$dist"/*.deb "$dist"/*.rpm
chmod 0755 "$dist/crpid-$version-x86_64"
cp "$aarch64_built" "$dist/crpid-$version-aarch64"
chmod 0755 "$dist/crpid-$version-aarch64"

static=$dist/crpid-$version-x86_64
check "static binary: x86_64, no interpreter, no shared libraries" bash -c '
  readelf -h "$1" | grep -q "Machine:.*X86-64" &&
  ! readelf -l "$1" | grep -q "Requesting program interpreter" &&
  ! readelf -d "$1" | grep -q "(NEEDED)"' _ "$static"
check "static binary reports version $version" \
  bash -c '[[ $("$1" --version) == "crpid $2" ]]' _ "$static" "$version"
# Copied to a node the way the README says: install, setcap, run as a user
# from a shell holding no capability.
install -m 0755 "$static" "$scratch/crpid"
check "static binary: setcap cap_checkpoint_restore+ep" \
  setcap cap_checkpoint_restore+ep "$scratch/crpid"
pid=$(($(cat /proc/sys/kernel/ns_last_pid) + 1700))
((pid < $(cat /proc/sys/kernel/pid_max) - 1)) || pid=2100
while [[ -e /proc/$pid ]]; do pid=$((pid + 1)); done
check "static binary: fork-at as nobody lands on PID $pid" bash -c '
  [[ $(setpriv --reuid=65534 --regid=65534 --clear-groups sh -c \
      "exec \"\$0\" fork-at \"\$1\" -- sh -c \"echo \\\$\\\$\"" "$1" "$2") == "$2" ]]' \
  _ "$scratch/crpid" "$pid"
arm64=$dist/crpid-$version-aarch64
check "aarch64 binary: AArch64, no interpreter, no shared libraries" bash -c '
  readelf -h "$1" | grep -q "Machine:.*AArch64" &&
  ! readelf -l "$1" | grep -q "Requesting program interpreter" &&
  ! readelf -d "$1" | grep -q "(NEEDED)"' _ "$arm64"
check "aarch64 binary: every check on Debian 12's arm64 kernel (qemu)" \
  bash kernel-patch/test/debian-kernel.sh 12 arm64 "$arm64" tests/set_mm_probe.cc
check "deb: tests/package_test.sh" \
  bash tests/package_test.sh "$dist/crpid_${version}_amd64.deb"
check "rpm: tests/rpm_package_test.sh" bash tests/rpm_package_test.sh \
  "$dist/crpid-$version-1.x86_64.rpm" packaging/rpm/crpid.rpmlintrc packaging/rpm/crpid.spec

(cd "$dist" && sha256sum -- * >SHA256SUMS)
check "SHA256SUMS verifies" bash -c 'cd "$1" && sha256sum --check --quiet SHA256SUMS' _ "$dist"
echo "release: artifacts in $dist:"
(cd "$dist" && ls -l | tail -n +2 | sed 's/^/  /')
echo "release: $failures failed"
((failures == 0))
