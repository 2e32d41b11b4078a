#!/usr/bin/env bash
# A private PostgreSQL cluster for this checkout, under .pgdata/ (ignored by git).
#   scripts/pg.sh start   initialise on first use, start if not running, print DATABASE_URL
#   scripts/pg.sh stop    stop it, saying which
#   scripts/pg.sh status  say which cluster and whether it runs; succeed when it does
#   scripts/pg.sh url     print DATABASE_URL
#   scripts/pg.sh folder  print the folder the cluster lives in
#   scripts/pg.sh check   succeed when PostgreSQL's server programs are installed
#   scripts/pg.sh replica copy the primary on port BILLING_PG_PRIMARY_PORT (pg_basebackup) on
#                         first use, start as its streaming replica, print its DATABASE_URL
#   scripts/pg.sh crash   stop at once, as a lost machine would (immediate shutdown)
#   scripts/pg.sh promote make a replica the primary
# The port is 54329, unless something else holds it when the cluster first starts (another
# checkout's cluster, say): then it is one derived from the checkout's folder, said so, and
# kept in the cluster's folder (port) so that the checkout keeps it.
# BILLING_PG_DIR and BILLING_PG_PORT choose another folder and port (the tests make
# clusters of their own to stop and start); BILLING_PG_DEFAULT_PORT replaces 54329 (for
# scripts/check-second-checkout.sh, which cannot count on 54329 being free).
# As root (where initdb refuses to run) the cluster belongs to the `postgres` system user.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir="${BILLING_PG_DIR:-$root/.pgdata}"
# As root the cluster belongs to `postgres`, which may not be able to enter the checkout
# (a home folder, say): then it lives in a folder of its own named after the checkout.
if [ -z "${BILLING_PG_DIR:-}" ] && [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 \
    && ! runuser -u postgres -- test -x "$root" 2>/dev/null; then
    dir="/tmp/billing-pgdata-$(printf '%s' "$root" | cksum | cut -d' ' -f1)"
fi
data="$dir/data"
default_port="${BILLING_PG_DEFAULT_PORT:-54329}"
port_file="$dir/port"
if [ -n "${BILLING_PG_PORT:-}" ]; then
    port=$BILLING_PG_PORT
elif [ -f "$data/postmaster.pid" ] && sed -n 4p "$data/postmaster.pid" 2>/dev/null | grep -qx '[0-9]\+'; then
    # Running (or left by a crash): the port it was started on, whatever the file says.
    port=$(sed -n 4p "$data/postmaster.pid")
elif [ -s "$port_file" ] && grep -qx '[0-9]\{1,5\}' "$port_file"; then
    port=$(cat "$port_file")
else
    # No port kept, or a file that holds no port (written by hand): the default, and a
    # port of its own again if that is taken.
    port=$default_port
fi
user=billing
database=billing
url() { echo "postgres://$user@127.0.0.1:$port/$database"; }

find_bin() {
    local found
    found=$(command -v "$1" 2>/dev/null || true)
    [ -n "$found" ] || found=$(find /usr/lib/postgresql -path "*/bin/$1" 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$found" ]; then
        echo "PostgreSQL's server programs ($1) were not found." >&2
        echo "Install them, for example: apt-get install postgresql (Debian, Ubuntu)," >&2
        echo "or set DATABASE_URL to a database you already have." >&2
        exit 1
    fi
    echo "$found"
}

# From /, which `postgres` can enter whatever the folder this runs in.
as_owner() {
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# Whether the cluster is running.
running() {
    [ -f "$data/PG_VERSION" ] && as_owner "$(find_bin pg_ctl)" status --pgdata="$data" >/dev/null 2>&1
}

# Whether nothing listens on 127.0.0.1:$1 (PostgreSQL binds it as this does).
port_free() {
    python3 - "$1" <<'PYTHON' 2>/dev/null
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
PYTHON
}

# What listens on 127.0.0.1:$1, in words: a cluster made by this script (the clusters made
# here trust `billing` and tell their folder, whose `checkout` file names the checkout), or
# the program ss sees.
holder() {
    local data_directory folder checkout program
    data_directory=$(PGCONNECT_TIMEOUT=3 timeout 5 psql "postgres://$user@127.0.0.1:$1/postgres" \
        -XtAqc 'SHOW data_directory' 2>/dev/null || true)
    if [ -n "$data_directory" ]; then
        folder=$(dirname "$data_directory")
        checkout=$(cat "$folder/checkout" 2>/dev/null || true)
        if [ -z "$checkout" ] && [ "$(basename "$folder")" = .pgdata ]; then checkout=$(dirname "$folder"); fi
        if [ -n "$checkout" ]; then
            echo "the private cluster of another checkout, $checkout (cluster folder $folder)"
        else
            echo "a PostgreSQL cluster in $folder"
        fi
        return
    fi
    program=$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:(("[^"]*",pid=[0-9]*' | head -n 1 \
        | sed 's/users:(("\([^"]*\)",pid=\([0-9]*\)/\1 (pid \2)/' || true)
    if [ -n "$program" ]; then
        echo "another program: $program"
    else
        echo "another program, which this user cannot see (sudo ss -ltnp 'sport = :$1' names it)"
    fi
}

# When the port is taken, another one: the first free one from a port derived from the
# checkout's folder (55000-55999), so that each checkout tends to keep the same one.
choose_port() {
    local wanted=$port taken_by first candidate i
    port_free "$port" && return 0
    taken_by=$(holder "$port")
    first=$((55000 + $(printf '%s' "$root" | cksum | cut -d' ' -f1) % 1000))
    candidate=
    for i in $(seq 0 99); do
        candidate=$((55000 + (first - 55000 + i) % 1000))
        if [ "$candidate" != "$default_port" ] && [ "$candidate" != "$wanted" ] && port_free "$candidate"; then
            break
        fi
        candidate=
    done
    echo "pg.sh: port $wanted is taken by $taken_by." >&2
    if [ -z "$candidate" ]; then
        echo "pg.sh: so are the 100 ports from $first tried instead. Free one, or set BILLING_PG_PORT to" >&2
        echo "a free port, or DATABASE_URL to a database you already have." >&2
        exit 1
    fi
    port=$candidate
    echo "pg.sh: this checkout's cluster ($dir) takes port $port instead and keeps it ($port_file):" >&2
    echo "pg.sh: nothing to do (remove that file to go back to $default_port once it is free)." >&2
}

start() {
    local initdb pg_ctl attempt
    initdb=$(find_bin initdb)
    pg_ctl=$(find_bin pg_ctl)
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        mkdir -p "$dir"
        [ "$(id -u)" = 0 ] && chown postgres "$dir"
        as_owner "$initdb" --pgdata="$data" --username="$user" --auth=trust \
            --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # An explicit BILLING_PG_PORT is used as it is; else a port taken meanwhile (another
    # checkout starting at the same time) is chosen around once more.
    for attempt in 1 2; do
        running && break
        [ -n "${BILLING_PG_PORT:-}" ] || choose_port
        as_owner "$pg_ctl" start --pgdata="$data" --wait --log="$dir/server.log" \
            --options="-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" \
            >/dev/null && break
        if [ -n "${BILLING_PG_PORT:-}" ] || [ "$attempt" = 2 ] || port_free "$port"; then
            tail -n 20 "$dir/server.log" >&2
            port_free "$port" || echo "pg.sh: port $port is taken by $(holder "$port")." >&2
            exit 1
        fi
    done
    if [ -z "${BILLING_PG_PORT:-}" ]; then
        echo "$port" >"$port_file"
        printf '%s\n' "$root" >"$dir/checkout"
    fi
    if ! psql "postgres://$user@127.0.0.1:$port/postgres" -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$database'" | grep -q 1; then
        psql "postgres://$user@127.0.0.1:$port/postgres" -qc "CREATE DATABASE $database" >/dev/null
    fi
    url
}

status() {
    if running; then
        echo "the cluster in $dir (port $port) is running"
    elif [ -f "$data/PG_VERSION" ]; then
        echo "the cluster in $dir (port $port) is not running"
        return 1
    else
        echo "there is no cluster in $dir yet"
        return 1
    fi
}

stop() {
    if running; then
        echo "stopping the cluster in $dir (port $port)"
        as_owner "$(find_bin pg_ctl)" stop --pgdata="$data" --mode=fast
    else
        echo "the cluster in $dir (port $port) is not running"
    fi
}

replica() {
    local pg_basebackup
    pg_basebackup=$(find_bin pg_basebackup)
    if [ ! -f "$data/PG_VERSION" ]; then
        mkdir -p "$dir"
        [ "$(id -u)" = 0 ] && chown postgres "$dir"
        as_owner "$pg_basebackup" --pgdata="$data" --write-recovery-conf --checkpoint=fast \
            --wal-method=stream \
            --dbname="postgres://$user@127.0.0.1:${BILLING_PG_PRIMARY_PORT:?the primary port}/postgres" \
            >"$dir/basebackup.log" 2>&1 || { cat "$dir/basebackup.log" >&2; exit 1; }
    fi
    start
}

case "${1:-start}" in
    start) start ;;
    replica) replica ;;
    stop) stop ;;
    crash) as_owner "$(find_bin pg_ctl)" stop --pgdata="$data" --mode=immediate ;;
    promote) as_owner "$(find_bin pg_ctl)" promote --pgdata="$data" --wait >/dev/null ;;
    status) status ;;
    url) url ;;
    folder) echo "$dir" ;;
    check) find_bin initdb >/dev/null && find_bin pg_ctl >/dev/null ;;
    *) echo "usage: $0 start|stop|status|url|folder|check|replica|crash|promote" >&2; exit 2 ;;
esac
