#!/usr/bin/env bash
# `make run`: migrates, loads the demo data once, registers a demo client once, prints how
# to call the API, then serves on BILLING_LISTEN (default 127.0.0.1:8080).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
billing="$root/target/release/billing"
export DATABASE_URL
DATABASE_URL=$("$root/scripts/database-url.sh")
listen=${BILLING_LISTEN:-127.0.0.1:8080}
base="http://$listen"
base_path=${BILLING_BASE_PATH:-/v2/billing}
admin=${BILLING_ADMIN_LISTEN:-127.0.0.1:9898}

"$billing" migrate
"$billing" seed --demo

# The demo client's secret is shown once, so it is kept (for local use only) where git
# ignores it, and registered again if this database does not know it.
credentials="$root/.pgdata/demo-client.json"
mkdir -p "$(dirname "$credentials")"
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$credentials" "$1"; }
if [ ! -s "$credentials" ] || ! "$billing" clients list | grep -q "\"$(field client_id)\""; then
    "$billing" clients create --name "demo (make run)" --scopes read,write --all-customers > "$credentials"
fi
client_id=$(field client_id)
client_secret=$(field client_secret)

if [ "$admin" = off ]; then metrics="(off: BILLING_ADMIN_LISTEN=off)"; else metrics="http://$admin/metrics"; fi

cat <<TEXT

The docs page (Swagger UI, "Authorize" takes the demo client): $base$base_path/docs/
The contract it serves:                                         $base$base_path/swagger.json
Metrics (Prometheus):                                           $metrics

Demo client (local use only): client_id=$client_id client_secret=$client_secret

Get a token:
  TOKEN=\$(curl -s -u '$client_id:$client_secret' -X POST \\
    '$base/oauth/client_credential/accesstoken?grant_type=client_credentials' \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
Then:
  curl -s -H "Authorization: Bearer \$TOKEN" '$base$base_path/customers/CLIENT_CODE/1001/bills?quantity=5'
  curl -s -H "Authorization: Bearer \$TOKEN" '$base$base_path/customers/CLIENT_CODE/1001/bills/groups'
  curl -s -H "Authorization: Bearer \$TOKEN" '$base$base_path/customers/CLIENT_CODE/1001/bills/groups/HQ?status=PAID'
  curl -s -H "Authorization: Bearer \$TOKEN" '$base$base_path/customers/50499001001/profile'
  curl -s -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' -X POST \\
    -d '{"groupId": "BRANCH", "address": "Blvd. Morazan, Tegucigalpa"}' '$base$base_path/customers/CLIENT_CODE/1001/bills/groups'
  curl -s -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' -X PUT \\
    -d '{"groupId": "BRANCH", "address": "Col. Kennedy, Tegucigalpa"}' '$base$base_path/customers/CLIENT_CODE/1001/bills/groups'
  curl -s -H "Authorization: Bearer \$TOKEN" -X DELETE '$base$base_path/customers/CLIENT_CODE/1001/bills/groups/BRANCH'

TEXT
exec "$billing" serve --listen "$listen"
