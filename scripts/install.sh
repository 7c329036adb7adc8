#!/bin/bash
# Builds crpid and installs it as $PREFIX/bin/crpid (default /usr/local) with
# the one file capability it needs. Never setuid: if the filesystem or the
# kernel cannot hold the capability, it says so and leaves crpid unprivileged.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${PREFIX:-/usr/local}
bazel build --noshow_progress //cli:crpid
install -D -m 0755 bazel-bin/cli/crpid "$PREFIX/bin/crpid"
if setcap cap_checkpoint_restore+ep "$PREFIX/bin/crpid"; then
  echo "install: $PREFIX/bin/crpid installed with $(getcap "$PREFIX/bin/crpid" | cut -d' ' -f2-)"
else
  echo "install: WARNING: could not set cap_checkpoint_restore+ep on $PREFIX/bin/crpid" \
       "(filesystem without xattrs, or kernel older than 5.9: see kernel-patch/);" \
       "crpid then works only as root or inside 'unshare -Urp'" >&2
fi
