#!/usr/bin/env bash
# Runs billing-impl/examples/list_bills.rs against a real server over the demo data, with
# a client of its own.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/demo-server.sh"
# The database first: without one, stop here rather than after the build.
DATABASE_URL=$("$root/scripts/database-url.sh")
export DATABASE_URL

cargo build --quiet -p billing-impl --bin billing --example list_bills
billing="$root/target/debug/billing"
demo_server "$billing" example
credentials=$("$billing" clients create --name example --scopes read --all-customers)

BILLING_URL=$base CLIENT_ID=$(json_field "$credentials" client_id) \
    CLIENT_SECRET=$(json_field "$credentials" client_secret) \
    "$root/target/debug/examples/list_bills" CLIENT_CODE 1001
