#!/bin/bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds crpid and installs it under $PREFIX (default /usr/local): the
# binary with the one file capability it needs, the man page and the bash
# completion. Never setuid: if the filesystem or the kernel cannot hold the
# capability, it says so and leaves crpid unprivileged.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${PREFIX:-/usr/local}
bazel build --noshow_progress //cli:crpid //packaging:man_page
install -D -m 0755 bazel-bin/cli/crpid "$PREFIX/bin/crpid"
install -d -m 0755 "$PREFIX/share/man/man1"
gzip -9n < bazel-bin/packaging/crpid.1 > "$PREFIX/share/man/man1/crpid.1.gz"
install -D -m 0644 packaging/crpid.bash-completion \
  "$PREFIX/share/bash-completion/completions/crpid"
if setcap cap_checkpoint_restore+ep "$PREFIX/bin/crpid"; then
  echo "install: $PREFIX/bin/crpid installed with $(getcap "$PREFIX/bin/crpid" | cut -d' ' -f2-)"
else
  echo "install: WARNING: could not set cap_checkpoint_restore+ep on $PREFIX/bin/crpid" \
       "(filesystem without xattrs, or kernel older than 5.9: see kernel-patch/);" \
       "crpid then works only as root or inside 'unshare -Urp'" >&2
fi
