#!/usr/bin/env bash
# A local three-daemon demo: builds kmsync, starts three daemons on 127.0.0.1 in a line
# A - B - C (approving each other by peer ID, over mutual TLS 1.3), writes the sample NHS
# knowledge resources and knowledge-service contacts of Deploy/sample/ spread over the
# three, and shows them converge with kmctl status.
#
#   Deploy/demo.sh            keeps the daemons running until Ctrl-C, then stops them and
#                             removes the demo's data directory
#   Deploy/demo.sh --check    exits 0 once all three hold identical digests (1 if they do
#                             not within 60 s), stopping the daemons: for tests and CI
#                             (KMSYNC_DEMO_CHECK=1 in the environment does the same, so a
#                             test can run the README's command verbatim)
#
# KMSYNC_BIN_DIR=DIR uses kmsyncd and kmctl already built in DIR instead of building.
# Deploy/setup.sh installs what the build needs.
set -euo pipefail
cd "$(dirname "$0")/.."
check=false
[ "${1:-}" = "--check" ] && check=true
[ "${KMSYNC_DEMO_CHECK:-}" = "1" ] && check=true

if [ -n "${KMSYNC_BIN_DIR:-}" ]; then
    bin="$KMSYNC_BIN_DIR"
else
    swift build -c release --product kmsyncd >/dev/null
    swift build -c release --product kmctl >/dev/null
    bin="$(swift build -c release --show-bin-path)"
fi
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
    "$bin/kmsyncd" run --data-dir "$demo/$name" --log-level warning 2>>"$demo/$name.log" &
    pids+=($!)
done
for name in a b c; do
    for _ in $(seq 100); do kmctl "$name" status >/dev/null 2>&1 && break; sleep 0.1; done
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
echo "linked: a - b - c"

names=(a b c)
n=0
while IFS=$'\t' read -r title kind organisation tag summary; do
    name=${names[$((n % 3))]}
    kmctl "$name" resource add --title "$title" --kind "$kind" --organisation "$organisation" --tag "$tag" --summary "$summary" >/dev/null
    echo "library-$name wrote resource: $title"
    n=$((n + 1))
done < <(grep -v '^#' Deploy/sample/resources.tsv)
while IFS=$'\t' read -r name organisation role region expertise network; do
    daemon=${names[$((n % 3))]}
    kmctl "$daemon" contact add --name "$name" --organisation "$organisation" --role "$role" --region "$region" \
        --expertise "$expertise" --network "$network" >/dev/null
    echo "library-$daemon wrote contact: $name"
    n=$((n + 1))
done < <(grep -v '^#' Deploy/sample/contacts.tsv)

converged=false
for round in $(seq 60); do
    sleep 1
    digests=()
    echo
    echo "after ${round} s:"
    for name in a b c; do
        digest=$(kmctl "$name" digest)
        digests+=("$digest")
        printf '  %s  %s resources, %s contacts  digest %s\n' "$name" \
            "$(kmctl "$name" status --json | sed -n 's/.*"resources" : \([0-9]*\).*/\1/p')" \
            "$(kmctl "$name" status --json | sed -n 's/.*"contacts" : \([0-9]*\).*/\1/p')" "${digest:0:16}"
    done
    if [ "${digests[0]}" = "${digests[1]}" ] && [ "${digests[1]}" = "${digests[2]}" ] \
        && [ "$(kmctl a status --json | sed -n 's/.*"contacts" : \([0-9]*\).*/\1/p')" != "0" ]; then
        converged=true
        break
    fi
done
for name in a b c; do
    echo
    echo "== kmctl status on $name"
    kmctl "$name" status
done
echo
if $converged; then echo "converged: all three daemons hold identical digests"; else echo "NOT converged after 60 s"; fi
if $check; then
    $converged && exit 0 || exit 1
fi
id=$(kmctl a resource list --json | sed -n 's/.*"id" : "\([^"]*\)".*/\1/p' | head -n 1)
k="$bin/kmctl"
cat <<NEXT

The three daemons keep running. Try, in another terminal:

  $k --data-dir $demo/c search falls
  $k --data-dir $demo/b status

  # a conflict: the same field set on a and on c at the same moment, then what each recorded
  $k --data-dir $demo/a resource set $id title="Title from a" & $k --data-dir $demo/c resource set $id title="Title from c"; wait; sleep 1; $k --data-dir $demo/b conflicts

  # stop: press Ctrl-C here (the demo's data in $demo is then removed)
NEXT
wait
