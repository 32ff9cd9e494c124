#!/usr/bin/env bash
# Installs what building, running and testing kmsync need on Debian or Ubuntu, and only
# what is missing: the SQLite and OpenSSL headers (system libraries kmsync links), pkg-config,
# the openssl command (a test uses it as an independent TLS client) and systemd's
# systemd-analyze (a test verifies the unit file with it), and the sqlite3 shell (admins read a
# replica's views with it, and a test checks the documented queries). Uses sudo only when not root.
# Refreshes the package lists when a package cannot be found (a machine whose lists were
# never fetched). Checks that a Swift 6 toolchain is on the PATH; it cannot install one.
#
# Exit codes: 0 ready; 69 something needed is unavailable (no Swift 6, no apt-get, no way
# to become root); 1 the package installation failed.
set -euo pipefail

say() { echo "setup: $*"; }

# 1. Swift: installed by hand (swift.org); nothing is built without it.
if ! command -v swift >/dev/null 2>&1; then
    say "swift is not on the PATH. Install a Swift 6 toolchain for Linux from https://www.swift.org/install/linux/"
    say "(for example with swiftly: https://www.swift.org/install/linux/#with-swiftly), then run this again."
    exit 69
fi
swift_version=$(swift --version 2>/dev/null | sed -n 's/.*Swift version \([0-9][0-9]*\)\..*/\1/p' | head -n 1)
if [ -z "$swift_version" ] || [ "$swift_version" -lt 6 ]; then
    say "kmsync needs Swift 6 or later; 'swift --version' says: $(swift --version 2>&1 | head -n 1)"
    say "Install a Swift 6 toolchain from https://www.swift.org/install/linux/ and put it first on the PATH."
    exit 69
fi

# 2. System packages: the headers are checked as packages, the tools as commands (on
# Debian 12 the pkg-config command may come from pkgconf, which provides pkg-config).
packages=(libsqlite3-dev libssl-dev pkg-config openssl systemd sqlite3)
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    say "this is not a Debian-like system (no dpkg-query/apt-get). Install by hand: the SQLite 3 and OpenSSL 3"
    say "development headers, pkg-config, the openssl command and systemd-analyze; then build with 'swift build'."
    exit 69
fi
missing=()
installed() {
    # Not `dpkg -s`: it succeeds for a removed package whose configuration files remain.
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}
for package in libsqlite3-dev libssl-dev; do
    installed "$package" || missing+=("$package")
done
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
if [ "${#missing[@]}" -eq 0 ]; then
    say "all needed packages are installed (${packages[*]}); Swift $swift_version found"
    exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        say "missing packages: ${missing[*]}; installing them needs root, and sudo is not installed."
        say "Run this script as root, or install them as root: apt-get install -y ${missing[*]}"
        exit 69
    fi
    # Without a terminal to ask for a password on (CI, a test), sudo must not wait for one.
    if [ -t 0 ]; then as_root=(sudo); else as_root=(sudo -n); fi
fi
install() {
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}
say "installing: ${missing[*]}${as_root:+ (with sudo)}"
if ! install; then
    say "refreshing the package lists (apt-get update) and trying again"
    "${as_root[@]}" apt-get update -q
    install || { say "could not install: ${missing[*]} (see apt-get's message above)"; exit 1; }
fi
say "installed: ${missing[*]}; Swift $swift_version found"
