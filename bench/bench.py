#!/usr/bin/env python3
"""`make bench`: the server against PostgreSQL's own limit, measured side by side in one run.

It loads a bulk data set into a database of its own, measures with pgbench the statement
the server sends for a customer's first page of bills, then the server under wrk for that
and every other kind of request, how cost grows with offset and with a customer's number
of bills, start-up time and peak memory, and writes a markdown table to bench/results/.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BILLING = ROOT / "target" / "release" / "billing"
LUA = ROOT / "bench" / "lua"
BIG_CUSTOMER = 9_000_001  # 10,000 bills
SMALL_CUSTOMER = 9_100_001  # 10 bills


def run(*args: str, env: dict[str, str] | None = None, capture: bool = True) -> str:
    result = subprocess.run(args, env=env, check=True, text=True, capture_output=capture)
    return result.stdout if capture else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base: str, limit: float = 30.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        try:
            with urllib.request.urlopen(f"{base}/ready", timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.01)
    raise SystemExit(f"the server was not ready within {limit} s")


def token(base: str, client: dict[str, str]) -> str:
    request = urllib.request.Request(
        f"{base}/oauth/client_credential/accesstoken?grant_type=client_credentials", method="POST"
    )
    request.add_header("Authorization", "Basic " + basic_credentials(client))
    with urllib.request.urlopen(request) as response:
        return json.load(response)["access_token"]


def basic_credentials(client: dict[str, str]) -> str:
    return base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()


def to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, connections: int, duration: int, script: str | None, env: dict[str, str]) -> dict:
    """Runs wrk; returns requests per second, latency p50/p99/max (ms) and the error count."""
    args = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script:
        args += ["-s", str(LUA / script)]
    output = run(*args, url, env={**os.environ, **env})
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    latency = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", output)
    percentile = {p: to_ms(v) for p, v in re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.M)}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return {
        "rps": rps,
        "mean": to_ms(latency.group(1)),
        "p50": percentile["50"],
        "p99": percentile["99"],
        "max": to_ms(latency.group(3)),
        "errors": errors,
    }


def pgbench(database_url: str, clients: int, duration: int, customers: int) -> float:
    """Transactions per second of the server's first-page statement, prepared, random customers."""
    debug = run(str(BILLING), "bench", "bills-sql").strip()
    sql, binds = debug.split(" -- binds: ")
    values = json.loads(binds)
    defines = []
    for index, value in reversed(list(enumerate(values, start=1))):
        name = "code" if value == 1_000_001 else f"p{index}"
        sql = sql.replace(f"${index}", f":{name}")
        if name != "code":
            defines += ["-D", f"{name}={value}"]
    script = ROOT / "target" / "bench-bills.sql"
    script.write_text(f"\\set code random(1000001, {1_000_000 + customers})\n{sql};\n")
    output = run(
        "pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)),
        "-T", str(duration), "-f", str(script), *defines, database_url,
    )
    return float(re.search(r"tps = ([\d.]+)", output).group(1))


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--invoices-per-customer", type=int, default=100)
    parser.add_argument("--scale", type=int, default=1, help="multiply the customers (10 for 10x the data)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--concurrency", default="4,16,64", help="wrk connections, comma-separated")
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run that only shows it works")
    options = parser.parse_args()
    if options.smoke:
        options.customers, options.invoices_per_customer, options.duration = 100, 20, 1
        options.concurrency = "4"
    customers = options.customers * options.scale
    levels = [int(c) for c in options.concurrency.split(",")]
    for tool in ("wrk", "pgbench"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (Debian: apt-get install wrk postgresql-client)")

    admin_url = run(str(ROOT / "scripts" / "database-url.sh")).strip()
    database = f"billing_bench_{os.getpid()}"
    database_url = f"{admin_url.rsplit('/', 1)[0]}/{database}"
    run("psql", admin_url, "-qc", f"CREATE DATABASE {database}")
    env = {**os.environ, "DATABASE_URL": database_url, "RUST_LOG": "warn"}
    server = None
    try:
        run(str(BILLING), "migrate", env=env)
        started = time.monotonic()
        run(str(BILLING), "seed", "--customers", str(customers),
            "--invoices-per-customer", str(options.invoices_per_customer), env=env)
        load_seconds = time.monotonic() - started
        for first_id, bills in ((BIG_CUSTOMER, 10_000), (SMALL_CUSTOMER, 10)):
            run(str(BILLING), "seed", "--customers", "1", "--invoices-per-customer", str(bills),
                "--first-id", str(first_id), env=env)
        client = json.loads(run(str(BILLING), "clients", "create", "--name", "bench",
                                "--scopes", "read,write", env=env))
        # Write the load out now, so that no checkpoint flushes it in the middle of a measurement.
        run("psql", database_url, "-qc", "CHECKPOINT")

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server_env = {**env, "BILLING_LISTEN": f"127.0.0.1:{port}",
                      "BILLING_DB_POOL_SIZE": str(options.pool_size), "BILLING_AUTH_MAX_FAILURES": "1000000"}
        server = subprocess.Popen([str(BILLING), "serve"], env=server_env)
        startup = wait_ready(base)
        bearer = token(base, client)
        lua_env = {"BENCH_TOKEN": bearer, "BENCH_CUSTOMERS": str(customers), "BENCH_LUA_DIR": str(LUA)}
        d = options.duration

        results: list[tuple[str, int, dict]] = []

        def measure(name: str, path: str, script: str | None, connections: int, extra: dict | None = None):
            outcome = wrk(f"{base}{path}", connections, d, script, {**lua_env, **(extra or {})})
            results.append((name, connections, outcome))
            print(f"  {name} c={connections}: {outcome['rps']:.0f} req/s, p50 {outcome['p50']:.2f} ms, "
                  f"p99 {outcome['p99']:.2f} ms, errors {outcome['errors']}", flush=True)
            return outcome

        # Warm up: caches of PostgreSQL, of the server's statements and of its token check.
        wrk(f"{base}/", max(levels), min(d, 3), "bills.lua", lua_env)
        tps = pgbench(database_url, options.pool_size, d, customers)
        print(f"  pgbench, {options.pool_size} clients: {tps:.0f} tps", flush=True)
        bills = [measure("list bills (first page of 20)", "/", "bills.lua", c) for c in levels]
        peak = max(bills, key=lambda r: r["rps"])
        peak_level = levels[bills.index(peak)]
        measure("bills of one group", "/", "bills.lua", peak_level,
                {"BENCH_PATH": "/v2/billing/customers/CLIENT_CODE/%d/bills/groups/G1"})
        measure("profile of an MSISDN", "/", "profile.lua", peak_level)
        measure("create + delete a group (writes)", "/", "groups.lua", peak_level)
        floor = measure("/health (HTTP floor)", "/health", None, peak_level)
        measure("token endpoint (Argon2id)", "/oauth/client_credential/accesstoken?grant_type=client_credentials",
                "token.lua", min(peak_level, 4), {"BENCH_BASIC": basic_credentials(client)})

        growth_env = {"BENCH_FIRST_ID": str(BIG_CUSTOMER), "BENCH_CUSTOMERS": "1"}
        page_path = "/v2/billing/customers/CLIENT_CODE/%d/bills"
        offset0 = measure("10,000-bill customer, offset 0", "/", "bills.lua", 4, {**growth_env, "BENCH_PATH": page_path})
        offset5000 = measure("10,000-bill customer, offset 5,000", "/", "bills.lua", 4,
                             {**growth_env, "BENCH_PATH": page_path + "?pageInit=5000"})
        small = measure("10-bill customer, first page", "/", "bills.lua", 4,
                        {"BENCH_FIRST_ID": str(SMALL_CUSTOMER), "BENCH_CUSTOMERS": "1", "BENCH_PATH": page_path})
        rss = peak_rss_mb(server.pid)
    finally:
        if server:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        run("psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")

    commit = run("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD").strip()
    now = datetime.datetime.now(datetime.timezone.utc)
    lines = [
        f"# Benchmark {now:%Y-%m-%d %H:%M} UTC, commit {commit}",
        "",
        f"{os.cpu_count()} cores; {customers:,} customers x {options.invoices_per_customer} invoices "
        f"(+ one with 10,000 and one with 10), loaded by `billing seed` in {load_seconds:.1f} s; "
        f"pool {options.pool_size}; {d} s per measurement; wrk, PostgreSQL and the server on this machine."
        + (" Smoke run: the figures mean nothing." if options.smoke else ""),
        "",
        f"pgbench, the server's first-page statement, prepared, random customers, {options.pool_size} clients: "
        f"**{tps:,.0f} tps**",
        "",
        "| request | connections | req/s | p50 ms | p99 ms | max ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, connections, r in results:
        lines.append(f"| {name} | {connections} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                     f"{r['max']:.1f} | {r['errors']} |")
    key_ratio = peak["rps"] / tps
    lines += [
        "",
        "| ratio | value | target |",
        "| --- | ---: | --- |",
        f"| list bills, server req/s ÷ pgbench tps (server at {peak_level} connections) | {key_ratio:.2f} | ≥ 0.7 |",
        f"| list bills, p99 ÷ p50 at {peak_level} connections | {peak['p99'] / peak['p50']:.2f} | ≤ 5 |",
        f"| list bills ÷ /health, req/s | {peak['rps'] / floor['rps']:.2f} | |",
        f"| page at offset 5,000 ÷ offset 0, mean latency | {offset5000['mean'] / offset0['mean']:.2f} | ≤ 3 |",
        f"| 10,000-bill ÷ 10-bill customer, first page, mean latency | {offset0['mean'] / small['mean']:.2f} | ≤ 1.5 |",
        f"| peak resident memory of the server | {rss:.1f} MB | < 100 MB |",
        f"| start-up to ready | {startup * 1000:.0f} ms | |",
        "",
        f"Key ratio: the server serves {key_ratio:.2f} of what PostgreSQL alone serves for the same statement.",
    ]
    report = "\n".join(lines) + "\n"
    # A smoke run's figures mean nothing: they stay out of bench/results/.
    results_dir = ROOT / ("target/bench-smoke" if options.smoke else "bench/results")
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{now:%Y%m%dT%H%M%S}-{commit}.md"
    path.write_text(report)
    print()
    print(report, end="")
    print(f"(written to {path.relative_to(ROOT)})")


if __name__ == "__main__":
    sys.exit(main())
