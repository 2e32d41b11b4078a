#!/usr/bin/env bash
# Runs billing-impl/examples/list_bills.rs against a real server: a database of its own
# with the demo data, a new client, the server on a free port; stops them afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
admin_url=$("$root/scripts/database-url.sh")
database="billing_example_$$"
export DATABASE_URL="${admin_url%/*}/$database"
psql "$admin_url" -qc "CREATE DATABASE $database"
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    psql "$admin_url" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)"
}
trap cleanup EXIT

cargo build --quiet -p billing-impl --bin billing --example list_bills
billing="$root/target/debug/billing"
"$billing" migrate
"$billing" seed --demo
credentials=$("$billing" clients create --name example --scopes read)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$billing" serve --listen "127.0.0.1:$port" &
server_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done

export BILLING_URL="http://127.0.0.1:$port"
CLIENT_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_id"])' "$credentials")
CLIENT_SECRET=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_secret"])' "$credentials")
export CLIENT_ID CLIENT_SECRET
"$root/target/debug/examples/list_bills" CLIENT_CODE 1001
