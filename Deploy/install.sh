#!/usr/bin/env bash
# Installs kmsync: kmsyncd and kmctl, the systemd unit, the docs and the example
# configuration, and creates the service user. Idempotent: run it again to upgrade.
#
#   swift build -c release                  as yourself (sudo usually drops swift from PATH)
#   sudo Deploy/install.sh --bin-dir "$(swift build -c release --show-bin-path)"
#                                           into /usr/local, unit in /etc/systemd/system,
#                                           user kmsync; then see Docs/OPERATIONS.md §2
#   Deploy/install.sh --prefix DIR          a non-root trial: everything under DIR (the unit
#                                           in DIR/lib/systemd/system), no user created
#   Without --bin-dir it builds in release mode first (swift must be on the PATH).
set -euo pipefail

prefix=/usr/local
unit_dir=/etc/systemd/system
custom_prefix=false
bin_dir=""
absolute() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$(absolute "$2")"; unit_dir="$prefix/lib/systemd/system"; custom_prefix=true; shift 2 ;;
        --bin-dir) bin_dir="$(absolute "$2")"; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
    esac
done
case "$prefix" in *[[:space:]\#\&\\]*) echo "install.sh: the prefix may not contain spaces, #, & or \\" >&2; exit 64 ;; esac
cd "$(dirname "$0")/.."
if ! $custom_prefix && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: installing into $prefix needs root; run with sudo, or try it with --prefix DIR" >&2
    exit 77
fi

if [ -z "$bin_dir" ]; then
    command -v swift >/dev/null || { echo "install.sh: swift is not on the PATH; build first and give --bin-dir (see --help)" >&2; exit 69; }
    echo "building (release)…"
    swift build -c release --product kmsyncd >/dev/null
    swift build -c release --product kmctl >/dev/null
    bin_dir="$(swift build -c release --show-bin-path)"
fi
for tool in kmsyncd kmctl; do
    [ -x "$bin_dir/$tool" ] || { echo "install.sh: $bin_dir/$tool not found" >&2; exit 1; }
done

install -d -m 0755 "$prefix/bin" "$prefix/share/doc/kmsync" "$prefix/share/kmsync" "$unit_dir"
install -m 0755 "$bin_dir/kmsyncd" "$prefix/bin/kmsyncd"
install -m 0755 "$bin_dir/kmctl" "$prefix/bin/kmctl"
install -m 0644 Docs/*.md "$prefix/share/doc/kmsync/"
install -m 0644 Deploy/kmsyncd.json.example "$prefix/share/kmsync/kmsyncd.json.example"
# The unit, with this installation's paths. Local changes belong in a drop-in
# (systemctl edit kmsyncd): this file is replaced on every install.
sed -e "s#@BINDIR@#$prefix/bin#g" -e "s#/usr/local/share/doc#$prefix/share/doc#g" Deploy/kmsyncd.service > "$unit_dir/kmsyncd.service.tmp"
chmod 0644 "$unit_dir/kmsyncd.service.tmp"
mv "$unit_dir/kmsyncd.service.tmp" "$unit_dir/kmsyncd.service"

if ! $custom_prefix; then
    if ! id kmsync >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/kmsync --no-create-home --shell /usr/sbin/nologin kmsync
        echo "created the system user kmsync"
    fi
    systemctl daemon-reload 2>/dev/null || true
    echo "installed. Next (Docs/OPERATIONS.md §2):"
    echo "  sudo install -d -o kmsync -g kmsync -m 0700 /var/lib/kmsync"
    echo "  sudo -u kmsync $prefix/bin/kmsyncd init --data-dir /var/lib/kmsync --name \"YOUR ORGANISATION\" --network YOUR-NETWORK --listen 0.0.0.0:7460"
    echo "  sudo systemctl enable --now kmsyncd"
else
    echo "installed under $prefix (binaries in $prefix/bin, unit in $unit_dir/kmsyncd.service)"
fi
