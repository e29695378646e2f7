#!/usr/bin/env bash
# Install the Debian packages faultline needs, if any are missing.
# Quiet and idempotent when everything is present. As root it installs with
# apt-get; otherwise it prints the exact command and exits non-zero.
set -euo pipefail

PKGS=(build-essential pkg-config libevent-dev libsqlite3-dev libjansson-dev
      libcmocka-dev gcovr clang clang-format valgrind chromium
      libpaho-mqtt-dev python3-jsonschema)

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "faultline: missing packages: ${missing[*]}" >&2
    echo "run as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "faultline: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
