#!/usr/bin/env bash
# Prints the DATABASE_URL to use: the one set in the environment, once it answers, or else
# that of the checkout's private cluster, started on the way (scripts/pg.sh). Fails with
# the failing step's own message, so that callers stop before building anything.
set -euo pipefail
if [ -n "${DATABASE_URL:-}" ]; then
    # Asked here rather than by the tests or the server minutes later, after a build.
    if command -v psql >/dev/null \
        && ! error=$(PGCONNECT_TIMEOUT=10 psql "$DATABASE_URL" -XtAqc 'SELECT 1' 2>&1 >/dev/null); then
        echo "DATABASE_URL names a database that does not answer:" >&2
        echo "$error" >&2
        echo "Correct it, or unset it to use the checkout's private cluster (scripts/pg.sh)." >&2
        exit 1
    fi
    echo "$DATABASE_URL"
else
    url=$("$(dirname "$0")/pg.sh" start)
    if [ -z "$url" ]; then
        echo "scripts/pg.sh start printed no DATABASE_URL" >&2
        exit 1
    fi
    echo "$url"
fi
