#!/usr/bin/env bash
# `scripts/with-database.sh COMMAND [ARGS...]`: runs COMMAND with DATABASE_URL set to what
# scripts/database-url.sh prints, or stops with that script's message and status. (In
# `DATABASE_URL=$(scripts/database-url.sh) COMMAND` the script's failure would be lost and
# COMMAND would run with an empty URL.)
set -euo pipefail
url=$("$(dirname "$0")/database-url.sh")
export DATABASE_URL=$url
exec "$@"
