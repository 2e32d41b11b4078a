#!/usr/bin/env bash
# A private PostgreSQL cluster for this checkout, under .pgdata/ (ignored by git).
#   scripts/pg.sh start   initialise on first use, start if not running, print DATABASE_URL
#   scripts/pg.sh stop    stop it
#   scripts/pg.sh status  succeed when it is running
#   scripts/pg.sh url     print DATABASE_URL
#   scripts/pg.sh replica copy the primary on port BILLING_PG_PRIMARY_PORT (pg_basebackup) on
#                         first use, start as its streaming replica, print its DATABASE_URL
#   scripts/pg.sh crash   stop at once, as a lost machine would (immediate shutdown)
#   scripts/pg.sh promote make a replica the primary
# BILLING_PG_DIR and BILLING_PG_PORT choose another folder and port (the tests make
# clusters of their own to stop and start).
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
port="${BILLING_PG_PORT:-54329}"
user=billing
database=billing
url="postgres://$user@127.0.0.1:$port/$database"

find_bin() {
    local found
    found=$(command -v "$1" 2>/dev/null || true)
    [ -n "$found" ] || found=$(ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$found" ]; then
        echo "PostgreSQL's server programs ($1) were not found." >&2
        echo "Install them, for example: apt-get install postgresql (Debian, Ubuntu)," >&2
        echo "or set DATABASE_URL to a database you already have." >&2
        exit 1
    fi
    echo "$found"
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Whether the cluster is running.
running() {
    [ -f "$data/PG_VERSION" ] && as_owner "$(find_bin pg_ctl)" status --pgdata="$data" >/dev/null 2>&1
}

start() {
    local initdb pg_ctl
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
    if ! running; then
        as_owner "$pg_ctl" start --pgdata="$data" --wait --log="$dir/server.log" \
            --options="-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" \
            >/dev/null || { tail -n 20 "$dir/server.log" >&2; exit 1; }
    fi
    if ! psql "postgres://$user@127.0.0.1:$port/postgres" -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$database'" | grep -q 1; then
        psql "postgres://$user@127.0.0.1:$port/postgres" -qc "CREATE DATABASE $database" >/dev/null
    fi
    echo "$url"
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
    stop) [ -f "$data/PG_VERSION" ] && as_owner "$(find_bin pg_ctl)" stop --pgdata="$data" --mode=fast ;;
    crash) as_owner "$(find_bin pg_ctl)" stop --pgdata="$data" --mode=immediate ;;
    promote) as_owner "$(find_bin pg_ctl)" promote --pgdata="$data" --wait >/dev/null ;;
    status) running ;;
    url) echo "$url" ;;
    *) echo "usage: $0 start|stop|status|url|replica|crash|promote" >&2; exit 2 ;;
esac
