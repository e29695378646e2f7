#!/usr/bin/env bash
# `make install` into a scratch DESTDIR gives a client library, public headers
# and a pkg-config file that a program outside the tree can build against.
set -euo pipefail
# Always a plain (unsanitized) build of its own: a user's program links
# against the installed library without sanitizer runtimes.
bdir=build/install-check
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s --no-print-directory BUILD=debug B="$bdir" install DESTDIR="$tmp" PREFIX=/opt/fl >/dev/null
cat >"$tmp/use.c" <<'C'
#include <faultline/crc32c.h>
#include <faultline/error.h>
#include <faultline/bookmark.h>
#include <stdio.h>
int main(void)
{
    if (fl_crc32c(0, "123456789", 9) != 0xE3069283u) return 1;
    if (fl_publisher_id("pub-1", 5) < 2) return 1;
    printf("%s\n", fl_strerror(FL_E_CHECKSUM));
    return 0;
}
C
export PKG_CONFIG_SYSROOT_DIR="$tmp" PKG_CONFIG_PATH="$tmp/opt/fl/lib/pkgconfig"
flags=$(pkg-config --cflags --libs faultline-client)
cc -o "$tmp/use" "$tmp/use.c" $flags $(pkg-config --libs libevent sqlite3 2>/dev/null) -lm
out=$("$tmp/use")
[ "$out" = "checksum mismatch" ] || { echo "install-check: FAILED ($out)"; exit 1; }
echo "install-check: installed library, headers and faultline-client.pc build a program"
