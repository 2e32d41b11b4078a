#!/usr/bin/env python3
"""`make bench`: the server against PostgreSQL's own limit, measured side by side in one run.

It starts a PostgreSQL cluster of its own, loads a bulk data set into it, measures with
pgbench the statement the server sends for a customer's first page of bills, then the
server under wrk for that and every other kind of request, how cost grows with offset and
with a customer's number of bills, CPU time per request, start-up time and peak memory,
and writes a markdown table to bench/results/.

PostgreSQL runs on half of the cores and everything else (pgbench, wrk, the server) on
the other half, as when the database has a machine of its own: the key ratio then says
how much of what the database can serve the server delivers. pgbench and the list-bills
measurements are repeated with every process free to run on every core, where the server's
own CPU time counts against the database's, and reported too.
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
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
BILLING = ROOT / "target" / "release" / "billing"
LUA = ROOT / "bench" / "lua"
BIG_CUSTOMER = 9_000_001  # 10,000 bills
SMALL_CUSTOMER = 9_100_001  # 10 bills


def run(*args: str, env: dict[str, str] | None = None, cores: set[int] | None = None) -> str:
    """Runs a command to its end, on `cores` when given; returns what it printed."""
    result = subprocess.run(args, env=env, check=True, text=True, capture_output=True,
                            preexec_fn=on_cores(cores))
    return result.stdout


def on_cores(cores: set[int] | None):
    """What a child runs before its program so that it, and what it starts, stays on `cores`."""
    return (lambda: os.sched_setaffinity(0, cores)) if cores else None


def split_cores() -> tuple[set[int], set[int]]:
    """The cores for PostgreSQL and the cores for everything else: half each (the database
    gets the smaller half); one core is shared."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return set(cores), set(cores)
    half = len(cores) // 2
    return set(cores[:half]), set(cores[half:])


def process_tree(root: int) -> list[int]:
    """`root` and every process below it."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending += children.get(pid, [])
    return tree


def move_to_cores(pids: list[int], cores: set[int]) -> None:
    """Moves every thread of the processes `pids` to `cores`."""
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                os.sched_setaffinity(int(task.name), cores)
            except (ProcessLookupError, FileNotFoundError):
                pass


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes `pids` have used, with that of their children
    that have ended (PostgreSQL's backends of closed connections count in the postmaster's)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(field) for field in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


class Cluster:
    """A PostgreSQL cluster of the benchmark's own (scripts/pg.sh)."""

    def __init__(self):
        self.env = {**os.environ,
                    "BILLING_PG_DIR": str(Path(tempfile.gettempdir()) / f"billing-bench-{os.getpid()}"),
                    "BILLING_PG_PORT": str(free_port())}
        self.url = run(str(ROOT / "scripts" / "pg.sh"), "start", env=self.env).strip()
        pid_file = Path(self.env["BILLING_PG_DIR"]) / "data" / "postmaster.pid"
        self.postmaster = int(pid_file.read_text().split()[0])

    def processes(self) -> list[int]:
        """The postmaster and every PostgreSQL process it started."""
        return process_tree(self.postmaster)

    def remove(self) -> None:
        subprocess.run([str(ROOT / "scripts" / "pg.sh"), "stop"], env=self.env, capture_output=True)
        shutil.rmtree(self.env["BILLING_PG_DIR"], ignore_errors=True)


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


def wrk(url: str, connections: int, duration: int, script: str | None, env: dict[str, str],
        cores: set[int], watch: dict[str, Callable[[], list[int]]]) -> dict:
    """Runs wrk on `cores`; returns requests per second, latency p50/p99/max (ms), the error
    count, and the CPU seconds per request of each group of processes in `watch`."""
    args = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script:
        args += ["-s", str(LUA / script)]
    before = {name: cpu_seconds(pids()) for name, pids in watch.items()}
    output = run(*args, url, env={**os.environ, **env}, cores=cores)
    cpu = {name: cpu_seconds(pids()) - before[name] for name, pids in watch.items()}
    requests = int(re.search(r"(\d+) requests in", output).group(1))
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
        "cpu_us": {name: seconds * 1e6 / max(requests, 1) for name, seconds in cpu.items()},
    }


def pgbench_script(customers: int) -> tuple[Path, list[str]]:
    """A pgbench script of the server's first-page statement (`billing bench bills-sql`) for
    random customers, and the -D definitions of its other parameters."""
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
    return script, defines


def pgbench(database_url: str, clients: int, duration: int, script: tuple[Path, list[str]],
            cores: set[int], database: Callable[[], list[int]]) -> dict:
    """pgbench on `cores`, prepared: transactions per second, and PostgreSQL's CPU time per
    transaction (`database`: its processes, which pgbench's connections join)."""
    path, defines = script
    before = cpu_seconds(database())
    output = run(
        "pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)),
        "-T", str(duration), "-f", str(path), *defines, database_url, cores=cores,
    )
    spent = cpu_seconds(database()) - before
    transactions = int(re.search(r"number of transactions actually processed: (\d+)", output).group(1))
    return {"tps": float(re.search(r"tps = ([\d.]+)", output).group(1)),
            "cpu_us": spent * 1e6 / max(transactions, 1)}


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def describe(cores: set[int]) -> str:
    return ("core " if len(cores) == 1 else "cores ") + ",".join(str(c) for c in sorted(cores))


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

    every_core = set(os.sched_getaffinity(0))
    database_cores, client_cores = split_cores()
    # The cluster loads the data on every core, then moves to its own.
    cluster = Cluster()
    database_url = cluster.url
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
        move_to_cores(cluster.processes(), database_cores)

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server_env = {**env, "BILLING_LISTEN": f"127.0.0.1:{port}",
                      "BILLING_DB_POOL_SIZE": str(options.pool_size), "BILLING_AUTH_MAX_FAILURES": "1000000"}
        server = subprocess.Popen([str(BILLING), "serve"], env=server_env, preexec_fn=on_cores(client_cores))
        startup = wait_ready(base)
        bearer = token(base, client)
        lua_env = {"BENCH_TOKEN": bearer, "BENCH_CUSTOMERS": str(customers), "BENCH_LUA_DIR": str(LUA)}
        watch = {"server": lambda: [server.pid], "database": cluster.processes}
        d = options.duration
        script = pgbench_script(customers)

        results: list[tuple[str, int, dict]] = []

        def measure(name: str, path: str, script: str | None, connections: int, extra: dict | None = None,
                    cores: set[int] = client_cores):
            outcome = wrk(f"{base}{path}", connections, d, script, {**lua_env, **(extra or {})}, cores, watch)
            results.append((name, connections, outcome))
            print(f"  {name} c={connections}: {outcome['rps']:.0f} req/s, p50 {outcome['p50']:.2f} ms, "
                  f"p99 {outcome['p99']:.2f} ms, errors {outcome['errors']}", flush=True)
            return outcome

        # Warm up: caches of PostgreSQL, of the server's statements and of its token check.
        wrk(f"{base}/", max(levels), min(d, 3), "bills.lua", lua_env, client_cores, {})
        apart = pgbench(database_url, options.pool_size, d, script, client_cores, cluster.processes)
        print(f"  pgbench, {options.pool_size} clients: {apart['tps']:.0f} tps", flush=True)
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

        # How cost grows: the latency of one request at a time, which no queue inflates.
        growth_env = {"BENCH_FIRST_ID": str(BIG_CUSTOMER), "BENCH_CUSTOMERS": "1"}
        page_path = "/v2/billing/customers/CLIENT_CODE/%d/bills"
        offset0 = measure("10,000-bill customer, offset 0", "/", "bills.lua", 1, {**growth_env, "BENCH_PATH": page_path})
        offset5000 = measure("10,000-bill customer, offset 5,000", "/", "bills.lua", 1,
                             {**growth_env, "BENCH_PATH": page_path + "?pageInit=5000"})
        small = measure("10-bill customer, first page", "/", "bills.lua", 1,
                        {"BENCH_FIRST_ID": str(SMALL_CUSTOMER), "BENCH_CUSTOMERS": "1", "BENCH_PATH": page_path})

        # The list-bills measurements again with every process free to run on every core.
        move_to_cores(cluster.processes(), every_core)
        move_to_cores([server.pid], every_core)
        shared = pgbench(database_url, options.pool_size, d, script, every_core, cluster.processes)
        print(f"  pgbench, {options.pool_size} clients, every core: {shared['tps']:.0f} tps", flush=True)
        shared_bills = max((measure("list bills, every process on every core", "/", "bills.lua", c,
                                    cores=every_core) for c in levels), key=lambda r: r["rps"])
        rss = peak_rss_mb(server.pid)
    finally:
        if server:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        cluster.remove()

    commit = run("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD").strip()
    now = datetime.datetime.now(datetime.timezone.utc)
    key_ratio = peak["rps"] / apart["tps"]
    lines = [
        f"# Benchmark {now:%Y-%m-%d %H:%M} UTC, commit {commit}",
        "",
        f"{os.cpu_count()} cores; {customers:,} customers x {options.invoices_per_customer} invoices "
        f"(+ one with 10,000 and one with 10), loaded by `billing seed` in {load_seconds:.1f} s; "
        f"pool {options.pool_size}; {d} s per measurement. PostgreSQL runs on {describe(database_cores)}; "
        f"pgbench, wrk and the server on {describe(client_cores)}, except where a row says every core."
        + (" Smoke run: the figures mean nothing." if options.smoke else ""),
        "",
        f"pgbench, the server's first-page statement, prepared, random customers, {options.pool_size} clients: "
        f"**{apart['tps']:,.0f} tps** ({shared['tps']:,.0f} tps with every process on every core)",
        "",
        "| request | connections | req/s | p50 ms | p99 ms | max ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, connections, r in results:
        lines.append(f"| {name} | {connections} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                     f"{r['max']:.1f} | {r['errors']} |")
    lines += [
        "",
        "| ratio | value | target |",
        "| --- | ---: | --- |",
        f"| list bills, server req/s ÷ pgbench tps (server at {peak_level} connections) | {key_ratio:.2f} | ≥ 0.7 |",
        f"| the same, every process on every core (the server at its best concurrency) | "
        f"{shared_bills['rps'] / shared['tps']:.2f} | |",
        f"| list bills, p99 ÷ p50 at {peak_level} connections | {peak['p99'] / peak['p50']:.2f} | ≤ 5 |",
        f"| list bills ÷ /health, req/s | {peak['rps'] / floor['rps']:.2f} | |",
        f"| page at offset 5,000 ÷ offset 0, mean latency | {offset5000['mean'] / offset0['mean']:.2f} | ≤ 3 |",
        f"| 10,000-bill ÷ 10-bill customer, first page, mean latency | {offset0['mean'] / small['mean']:.2f} | ≤ 1.5 |",
        f"| CPU per list-bills request at {peak_level} connections: server µs ÷ PostgreSQL µs "
        f"({peak['cpu_us']['server']:.0f} ÷ {peak['cpu_us']['database']:.0f}; pgbench's "
        f"transactions cost PostgreSQL {apart['cpu_us']:.0f} µs) | "
        f"{peak['cpu_us']['server'] / peak['cpu_us']['database']:.2f} | |",
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
