#!/usr/bin/env bash
# Writes the generated crate from spec/billing.yaml into the folder $2 with the pinned
# openapi-generator $1, then formats it so that the output is byte-for-byte reproducible.
# Refuses, before the generator runs, a spec whose vendor extensions state a false relation.
set -euo pipefail
generator=$1
out=$2

# The spec's vendor extensions that relate two of its parts must hold before anything is
# generated: the templates trust them (scripts/check-spec.py says which and why).
source "$(dirname "$0")/spec-python.sh"
python=$(spec_python "$generator")
"$python" "$(dirname "$0")/check-spec.py" spec/billing.yaml ||
    { echo "the generator was not run and $out was left as it was" >&2; exit 1; }

# The generator never deletes a file that dropped out of the spec: remove what it wrote last.
if [ -f "$out/.openapi-generator/FILES" ]; then
    (cd "$out" && xargs -r rm -f < .openapi-generator/FILES)
fi
"$generator" generate --config spec/generator.yaml --input-spec spec/billing.yaml \
    --output "$out" \
    --global-property models,apis,supportingFiles=Cargo.toml:README.md:lib.rs:models.rs:mod.rs \
    > "$out.log" 2>&1 || { cat "$out.log" >&2; rm -f "$out.log"; exit 1; }
rm -f "$out.log"
find "$out/src" -name '*.rs' -print0 | xargs -0 rustfmt --edition 2024 --config-path rustfmt.toml
