#!/usr/bin/env bash
# `make docs-check`: the docs page in a real browser. Starts a server over the demo data and
# runs scripts/docs-check.cjs against it with puppeteer-core ($1: its node_modules folder);
# the screenshot is kept in target/docs/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
node_modules=$1
source "$root/scripts/demo-server.sh"
# The database first: without one, stop here rather than after the build.
DATABASE_URL=$("$root/scripts/database-url.sh")
export DATABASE_URL

cargo build --quiet --release -p billing-impl --bin billing
demo_server "$root/target/release/billing" docs RUST_LOG=warn
mkdir -p "$root/target/docs"
NODE_PATH="$node_modules" node "$root/scripts/docs-check.cjs" "$base" "$root/target/docs/docs.png"
