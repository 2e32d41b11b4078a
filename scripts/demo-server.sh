# Sourced by scripts that need a real server over the demo data (make example, make
# contract): `demo_server BILLING NAME [ENV=VALUE...]` makes a database of its own next to
# DATABASE_URL's, loads the demo data, starts `billing serve` on a free port and waits for
# it to be ready; it sets `base` to the server's URL and stops and drops it all on exit.

demo_server() {
    local billing=$1 name=$2
    shift 2
    demo_admin_url=$("$(dirname "${BASH_SOURCE[0]}")/database-url.sh")
    demo_database="billing_${name}_$$"
    export DATABASE_URL="${demo_admin_url%/*}/$demo_database"
    psql "$demo_admin_url" -qc "CREATE DATABASE $demo_database"
    trap demo_server_stop EXIT
    "$billing" migrate
    "$billing" seed --demo
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    base="http://127.0.0.1:$port"
    # Its metrics are not needed, and leaving the admin port free lets it run beside `make run`.
    env BILLING_ADMIN_LISTEN=off "$@" "$billing" serve --listen "127.0.0.1:$port" &
    demo_server_pid=$!
    for _ in $(seq 100); do curl -sf "$base/ready" >/dev/null && return 0; sleep 0.1; done
    echo "the server did not become ready" >&2
    return 1
}

demo_server_stop() {
    if [ -n "${demo_server_pid:-}" ]; then
        kill "$demo_server_pid" 2>/dev/null && wait "$demo_server_pid" 2>/dev/null
    fi
    psql "$demo_admin_url" -qc "DROP DATABASE IF EXISTS $demo_database WITH (FORCE)"
}

# The field $2 of the JSON object $1.
json_field() {
    python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"
}
