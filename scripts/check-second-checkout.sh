#!/usr/bin/env bash
# `make check-second-checkout`: `make test` works in a fresh clone on a machine where the
# private cluster's default port is already held, by another checkout's cluster or by some
# other program. Three fresh clones of this checkout's commit run `make test` on a narrowed
# selection of tests (SECOND_CHECKOUT_TESTS), one after the other:
#   a  on a free default port, which its cluster takes and keeps running;
#   b  beside a: told that a's cluster holds the port, its cluster takes another; passes;
#   c  with a plain listener on its default port: told which program, likewise.
# The default port is a free one picked here (BILLING_PG_DEFAULT_PORT), since this
# checkout's own cluster may be on 54329. Every cluster started here is stopped and every
# clone removed on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# One quick integration test that goes through DATABASE_URL.
tests=${SECOND_CHECKOUT_TESTS:--p billing-impl --test profile}
# The clones share a target folder of their own, kept between runs. Not this checkout's
# target/ by default: there, a clone's build of the commit could stand in for the build of
# this work tree's uncommitted changes. CI, whose work tree is its commit, passes target/.
export CARGO_TARGET_DIR=${SECOND_CHECKOUT_TARGET_DIR:-$root/target/second-checkout}

work=$(mktemp -d "${TMPDIR:-/tmp}/billing-second-checkout.XXXXXX")
clones=()
listener=
cleanup() {
    local clone folder
    if [ -n "$listener" ]; then kill "$listener" 2>/dev/null || true; fi
    for clone in "${clones[@]}"; do
        # As root the cluster may live outside the clone (scripts/pg.sh folder says where).
        folder=$("$clone/scripts/pg.sh" folder) || continue
        "$clone/scripts/pg.sh" stop >/dev/null 2>&1 || true
        rm -rf "$folder"
    done
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "check-second-checkout: FAILED: $*" >&2
    exit 1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# `make_test NAME DEFAULT_PORT`: clones this checkout's commit into $work/NAME and runs
# `make test` there as a new user would (nothing of this shell's make or database settings
# passed on), its output kept in $work/NAME.log and shown prefixed with NAME.
make_test() {
    local name=$1 default_port=$2 clone="$work/$1" started status
    git clone --quiet "$root" "$clone"
    clones+=("$clone")
    echo "check-second-checkout: $name: make test in a fresh clone (default port $default_port)"
    started=$SECONDS
    status=0
    (cd "$clone" && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u DATABASE_URL -u BILLING_PG_DIR \
        -u BILLING_PG_PORT BILLING_PG_DEFAULT_PORT="$default_port" \
        make test TEST_ARGS="$tests") 2>&1 | tee "$work/$name.log" | sed "s/^/$name: /" || status=$?
    [ "$status" = 0 ] || fail "$name: make test failed (status $status)"
    echo "check-second-checkout: $name: make test passed in $((SECONDS - started)) s"
}

# The port clone $1's cluster is on.
port_of() {
    "$work/$1/scripts/pg.sh" url | sed 's|.*:\([0-9]*\)/.*|\1|'
}

# `told NAME TEXT`: clone NAME's make test said TEXT before it built anything.
told() {
    local said built
    said=$(grep -nF -- "$2" "$work/$1.log" | head -n 1 | cut -d: -f1)
    [ -n "$said" ] || fail "$1: make test did not say: $2"
    built=$(grep -n 'cargo test' "$work/$1.log" | head -n 1 | cut -d: -f1)
    if [ -z "$built" ] || [ "$said" -gt "$built" ]; then
        fail "$1: it said '$2' only after the build started"
    fi
    echo "check-second-checkout: $1: said, before building: $(sed -n "${said}p" "$work/$1.log")"
}

default_port=$(free_port)
make_test a "$default_port"
[ "$(port_of a)" = "$default_port" ] || fail "a: its cluster is on port $(port_of a), not $default_port"

make_test b "$default_port"
"$work/a/scripts/pg.sh" status >/dev/null || fail "a: its cluster stopped while b ran"
told b "port $default_port is taken by the private cluster of another checkout, $work/a"
[ "$(port_of b)" != "$default_port" ] || fail "b: its cluster is on a's port"
grep -qx "$(port_of b)" "$("$work/b/scripts/pg.sh" folder)/port" || fail "b: its port is not kept"
echo "check-second-checkout: b: its cluster is on port $(port_of b), a's still on $default_port"

listened_port=$(free_port)
python3 -c 'import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
time.sleep(3600)' "$listened_port" &
listener=$!
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$listened_port") 2>/dev/null && break
    sleep 0.1
done
make_test c "$listened_port"
told c "port $listened_port is taken by another program: python3 (pid $listener)"
[ "$(port_of c)" != "$listened_port" ] || fail "c: its cluster is on the listener's port"
echo "check-second-checkout: c: its cluster is on port $(port_of c)"

echo "check-second-checkout: passed: a second checkout runs its tests beside another's cluster or another program"
