#!/usr/bin/env bash
# `make contract`: schemathesis against the live server over the demo data, with a client
# holding both scopes whose token comes from the token endpoint: every check, positive and
# negative data, a fixed seed, and the stateful phase on the spec's links.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
schemathesis=$(realpath "$1")
examples=${CONTRACT_EXAMPLES:-300}
source "$root/scripts/demo-server.sh"
# The database first: without one, stop here rather than after the build.
DATABASE_URL=$("$root/scripts/database-url.sh")
export DATABASE_URL

cargo build --quiet --release -p billing-impl --bin billing
billing="$root/target/release/billing"
demo_server "$billing" contract RUST_LOG=warn BILLING_AUTH_MAX_FAILURES=1000000
credentials=$("$billing" clients create --name contract --scopes read,write --all-customers)
token=$(curl -sf -u "$(json_field "$credentials" client_id):$(json_field "$credentials" client_secret)" \
    -X POST "$base/oauth/client_credential/accesstoken?grant_type=client_credentials")

# schemathesis keeps its cache (.schemathesis/) in the folder it runs in: under target/.
mkdir -p "$root/target/contract"
cd "$root/target/contract"
"$schemathesis" --config-file "$root/spec/schemathesis.toml" run "$root/spec/billing.yaml" \
    --url "$base/v2/billing" \
    --header "Authorization: Bearer $(json_field "$token" access_token)" \
    --checks all \
    --mode all \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$examples" \
    --seed 20261128 \
    --generation-deterministic \
    --workers 1 \
    --no-color \
    --report ndjson --report-ndjson-path "$root/target/contract/run.ndjson"
python3 "$root/scripts/contract-summary.py" "$root/target/contract/run.ndjson"
