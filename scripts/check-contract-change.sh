#!/usr/bin/env bash
# Proves that a change of the contract breaks the build where the implementation must
# change: on a scratch copy of the checkout, adds an optional query parameter to the bill
# listings and a property to the BillingGroupUpdate body, regenerates
# generated/ with the pinned generator $1, and passes only when `cargo check -p
# billing-impl` fails in the two methods that must handle them.
set -euo pipefail
generator=$(realpath "$1")
top=$(pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The checkout as it is on disk: tracked files (less those deleted) and new ones.
git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' file; do [ -e "$file" ] && printf '%s\0' "$file"; done |
    tar --null -T - -cf - | tar -xf - -C "$scratch"
cd "$scratch"
python3 - <<'PY'
path = "spec/billing.yaml"
spec = open(path).read()
# Both bill listings: they share their query parameters (x-same-query-params-as).
for operation_id in ("findCustomerBillsByClientCode", "findCustomerBillsByClientCodeAndBillingGroup"):
    operation = spec.index(f"operationId: {operation_id}\n")
    status = spec.index('        - $ref: "#/parameters/status"\n', operation)
    end = status + len('        - $ref: "#/parameters/status"\n')
    spec = spec[:end] + """        - name: currency
          in: query
          required: false
          type: string
""" + spec[end:]
body = spec.index("  BillingGroupUpdate:\n")
properties = spec.index("    properties:\n", body) + len("    properties:\n")
spec = spec[:properties] + """      note:
        type: string
""" + spec[properties:]
open(path, "w").write(spec)
PY
scripts/generate.sh "$generator" generated

log=$scratch/check.log
if CARGO_TARGET_DIR="$top/target/contract-change" cargo check --quiet -p billing-impl >"$log" 2>&1; then
    echo "billing-impl still compiles after the contract gained a parameter and a property:" >&2
    echo "the implementation ignores them" >&2
    exit 1
fi
missing=()
grep -A3 'pattern does not mention field `currency`' "$log" | grep -q 'src/api/bills.rs' ||
    missing+=("the new query parameter in src/api/bills.rs")
grep -A3 'pattern does not mention field `note`' "$log" | grep -q 'src/api/billing_group.rs' ||
    missing+=("the new body property in src/api/billing_group.rs")
if [ ${#missing[@]} -gt 0 ]; then
    cat "$log" >&2
    printf 'the build did not fail at %s\n' "${missing[@]}" >&2
    exit 1
fi
grep -B1 -A3 'pattern does not mention field' "$log" | grep -E '^(error| +-->)'
echo "a new parameter and a new body property each break the build where they must be handled"
