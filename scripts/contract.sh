#!/usr/bin/env bash
# `make contract`: schemathesis against the live server. A database of its own with the
# demo data, a client holding both scopes whose token comes from the token endpoint, the
# server on a free port; every check, positive and negative data, a fixed seed, and the
# stateful phase on the spec's links.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
schemathesis=$1
examples=${CONTRACT_EXAMPLES:-300}
admin_url=$("$root/scripts/database-url.sh")
database="billing_contract_$$"
export DATABASE_URL="${admin_url%/*}/$database"
psql "$admin_url" -qc "CREATE DATABASE $database"
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    psql "$admin_url" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)"
}
trap cleanup EXIT

cargo build --quiet --release -p billing-impl --bin billing
billing="$root/target/release/billing"
"$billing" migrate
"$billing" seed --demo
credentials=$("$billing" clients create --name contract --scopes read,write)
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$credentials" "$1"; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
RUST_LOG=warn BILLING_AUTH_MAX_FAILURES=1000000 "$billing" serve --listen "127.0.0.1:$port" &
server_pid=$!
for _ in $(seq 100); do curl -sf "$base/ready" >/dev/null && break; sleep 0.1; done

token=$(curl -sf -u "$(field client_id):$(field client_secret)" -X POST \
    "$base/oauth/client_credential/accesstoken?grant_type=client_credentials" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

"$schemathesis" --config-file "$root/spec/schemathesis.toml" run "$root/spec/billing.yaml" \
    --url "$base/v2/billing" \
    --header "Authorization: Bearer $token" \
    --checks all \
    --mode all \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$examples" \
    --seed 20261128 \
    --generation-deterministic \
    --workers 1 \
    --no-color \
    --report ndjson --report-dir "$root/target/contract" \
    --report-ndjson-path "$root/target/contract/run.ndjson"
python3 "$root/scripts/contract-summary.py" "$root/target/contract/run.ndjson"
