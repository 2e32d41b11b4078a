#!/usr/bin/env bash
# Prints the diesel schema of a scratch database migrated from migrations/: the schema
# as the migrations make it, whatever state the development database is in.
set -euo pipefail
diesel=$1
admin_url=$2
database="billing_schema_$$"
psql "$admin_url" -qc "CREATE DATABASE $database"
trap 'psql "$admin_url" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)"' EXIT
url="${admin_url%/*}/$database"
# diesel.toml names the schema file, which diesel would rewrite: use a copy of the
# configuration without that setting, so that only stdout carries the result.
config=$(mktemp)
trap 'rm -f "$config"; psql "$admin_url" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)"' EXIT
grep -v '^file' diesel.toml > "$config"
"$diesel" migration run --database-url "$url" --config-file "$config" --migration-dir migrations >/dev/null
"$diesel" print-schema --database-url "$url" --config-file "$config"
