#!/usr/bin/env bash
# Proves that a change of the contract breaks the build where the implementation must
# change: on a scratch copy of the checkout, adds an optional query parameter to the bill
# listings and a property to the BillingGroupUpdate body, regenerates
# generated/ with the pinned generator $1, and passes only when `cargo check -p
# billing-impl` fails in the two methods that must handle them.
# Before that, proves that a change the spec's own declarations deny is refused: a query
# parameter added to list bills only must stop scripts/generate.sh, naming both listings
# and the parameter (scripts/check-spec.py, whose unit tests run here too).
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

source scripts/spec-python.sh
"$(spec_python "$generator")" -m unittest discover --quiet -s scripts -p 'test_check_spec.py'

# List bills alone gains a query parameter: the group's bills, which claim the same ones
# (x-same-query-params-as), no longer have them, so generation must stop before it starts.
cp spec/billing.yaml "$scratch/billing.yaml.kept"
python3 - <<'PY'
path = "spec/billing.yaml"
spec = open(path).read()
operation = spec.index("operationId: findCustomerBillsByClientCode\n")
status = spec.index('        - $ref: "#/parameters/status"\n', operation)
end = status + len('        - $ref: "#/parameters/status"\n')
spec = spec[:end] + """        - name: currency
          in: query
          required: false
          type: string
""" + spec[end:]
open(path, "w").write(spec)
PY
refusal=$scratch/refusal.log
if scripts/generate.sh "$generator" generated >/dev/null 2>"$refusal"; then
    echo "generate.sh accepted a query parameter of list bills only, though the group's" >&2
    echo "bills claim the same query parameters (x-same-query-params-as)" >&2
    exit 1
fi
expected='query parameter `currency` is in findCustomerBillsByClientCode but not in findCustomerBillsByClientCodeAndBillingGroup'
if ! grep -qF "$expected" "$refusal"; then
    cat "$refusal" >&2
    echo "generate.sh refused the spec without naming both listings and the parameter" >&2
    exit 1
fi
if ! diff -rq generated "$top/generated" >/dev/null; then
    echo "generate.sh refused the spec but changed generated/ all the same" >&2
    exit 1
fi
grep -F "$expected" "$refusal"
echo "a query parameter of one listing only is refused before anything is generated"
cp "$scratch/billing.yaml.kept" spec/billing.yaml

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
