#!/usr/bin/env bash
# Checks deploy/billing.service as systemd would load it: `systemd-analyze verify` must
# print nothing (it exits 0 on settings it ignores, so any message fails the check), and
# `systemd-analyze security` must rate its exposure 2.0 or lower ("OK").
# The unit names /usr/local/bin/billing, which systemd checks exists; the check runs a
# copy that names the binary cargo built ($1).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
binary=$(realpath "${1:?usage: $0 path/to/billing}")
dir="$root/target/unit-check"
mkdir -p "$dir"
sed "s|/usr/local/bin/billing|$binary|g" "$root/deploy/billing.service" >"$dir/billing.service"

messages=$(systemd-analyze verify --man=no "$dir/billing.service" 2>&1) || true
if [ -n "$messages" ]; then
    echo "$messages" >&2
    echo "deploy/billing.service: systemd-analyze verify is not clean" >&2
    exit 1
fi
if ! systemd-analyze security --offline=yes --threshold=20 "$dir/billing.service" >"$dir/security.txt" 2>&1; then
    tail -n 1 "$dir/security.txt" >&2
    echo "deploy/billing.service: exposure above 2.0" >&2
    exit 1
fi
echo "deploy/billing.service: verified; $(tail -n 1 "$dir/security.txt" | sed 's/^→ //')"
