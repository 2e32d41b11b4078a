#!/usr/bin/env bash
# Prints the DATABASE_URL to use: the one set in the environment, or else that of the
# checkout's private cluster, started on the way (scripts/pg.sh).
set -euo pipefail
if [ -n "${DATABASE_URL:-}" ]; then
    echo "$DATABASE_URL"
else
    "$(dirname "$0")/pg.sh" start
fi
