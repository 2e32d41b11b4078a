#!/usr/bin/env bash
# Writes the generated crate from spec/billing.yaml into the folder $2 with the pinned
# openapi-generator $1, then formats it so that the output is byte-for-byte reproducible.
set -euo pipefail
generator=$1
out=$2

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
