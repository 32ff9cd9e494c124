#!/usr/bin/env bash
# A local three-daemon demo: builds kmsync, starts three daemons on 127.0.0.1 in a line
# A - B - C, writes sample NHS knowledge resources on each, and shows them converge.
# Ctrl-C stops the daemons and removes the demo's data directory.
set -euo pipefail
cd "$(dirname "$0")/.."

swift build -c release --product kmsyncd >/dev/null
swift build -c release --product kmctl >/dev/null
bin="$(swift build -c release --show-bin-path)"
demo="$(mktemp -d "${TMPDIR:-/tmp}/kmsync-demo.XXXXXX")"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$demo"
}
trap cleanup EXIT INT TERM

kmctl() { "$bin/kmctl" --data-dir "$demo/$1" "${@:2}"; }

for name in a b c; do
    "$bin/kmsyncd" init --data-dir "$demo/$name" --name "library-$name" --network nhs-demo --listen 127.0.0.1:0 >/dev/null
    echo "daemon $name: peer ID $("$bin/kmsyncd" id --data-dir "$demo/$name")"
    "$bin/kmsyncd" run --data-dir "$demo/$name" --log-level warning &
    pids+=($!)
done
for name in a b c; do
    for _ in $(seq 50); do kmctl "$name" status >/dev/null 2>&1 && break; sleep 0.1; done
done
address() { kmctl "$1" status --json | sed -n 's/.*"listen" : "\(.*\)".*/\1/p'; }
peer_id() { "$bin/kmsyncd" id --data-dir "$demo/$1" | head -n 1; }
# Admins exchange peer IDs and addresses; each approves the other by ID (mutual TLS 1.3).
link() {
    kmctl "$1" peer add "$(peer_id "$2")@$(address "$2")" >/dev/null
    kmctl "$2" peer add "$(peer_id "$1")@$(address "$1")" >/dev/null
}
link a b
link b c

names=(a b c a b)
n=0
grep -v '^#' Deploy/sample/resources.tsv | while IFS=$'\t' read -r title kind organisation tag; do
    kmctl "${names[$n]}" resource add --title "$title" --kind "$kind" --organisation "$organisation" --tag "$tag" >/dev/null
    echo "library-${names[$n]} wrote: $title"
    n=$((n + 1))
done

for round in 1 2 3 4 5; do
    sleep 1
    echo
    echo "after ${round} s:"
    for name in a b c; do
        printf '  %s  %s resources  digest %s\n' "$name" \
            "$(kmctl "$name" status --json | sed -n 's/.*"resources" : \([0-9]*\).*/\1/p')" "$(kmctl "$name" digest | cut -c1-16)"
    done
done
echo
kmctl b status
echo
echo "The three daemons keep running; press Ctrl-C to stop them."
wait
