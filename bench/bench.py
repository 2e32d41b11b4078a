#!/usr/bin/env python3
"""`make bench`: the server against PostgreSQL's own limit, measured side by side in one run.

It starts a PostgreSQL cluster of its own and loads a bulk data set into it. The limit is
pgbench on the cheapest statement that answers a customer's first page of bills (written
here, not taken from the server: a slow server statement must not make its own reference
slow), prepared, for random customers, at the server's concurrencies. Then the server under
wrk, for that and every other kind of request; how cost grows with offset and with a
customer's number of bills; CPU time per request of the server, of PostgreSQL and of the
load generator (wrk, or pgbench) on every row; start-up time and peak memory; and the plans
of the server's statements.

Both are measured twice: with PostgreSQL on half of the cores and everything else on the
other half, as when the database has a machine of its own, and with every process on every
core, where the server's own CPU time counts against the database's. The key ratio (last
line) is the honest figure on one machine: the server's list-bills req/s over pgbench's tps
on the cheapest statement, each at its best concurrency, every process on every core. Its
two sides are measured again in turns, five pairs back to back, and the key ratio is the
median pair's: a machine whose speed drifts over minutes gives both sides of a pair the
same conditions. List bills at 256 against 64 connections, every core, is measured in turns
the same way.

A measurement that fails (refused, timed out, nothing answered) is a failed row with its
reason; the run goes on, and exits non-zero at its end. The table is written under
target/bench/ (or --out); bench/results/ keeps the tables committed on purpose.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import re
import resource
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
LUA = ROOT / "bench" / "lua"
BILLING = ROOT / "target" / "release" / "billing"
BIG_CUSTOMER = 9_000_001  # 10,000 bills
SMALL_CUSTOMER = 9_100_001  # 10 bills
# The two sides of the key ratio, and of 256 against 64 connections, are measured again in
# turns this many times: this machine's speed drifts over minutes, and a pair measured back
# to back shares its conditions. Within one run, three pairs of the key ratio ranged from
# 0.39 to 0.53; the median of five is steadier.
PAIRS_IN_TURNS = 5


def run(*args: str, env: dict[str, str] | None = None, cores: set[int] | None = None) -> str:
    """Runs a command to its end, on `cores` when given; returns what it printed."""
    return run_timed(*args, env=env, cores=cores)[0]


def run_timed(*args: str, env: dict[str, str] | None = None,
              cores: set[int] | None = None) -> tuple[str, float]:
    """`run`, also returning the CPU seconds the command spent (user and system). The only
    child reaped meanwhile is the command: the servers are reaped when they stop."""
    before = children_cpu_seconds()
    result = subprocess.run(args, env=env, check=True, text=True, capture_output=True,
                            preexec_fn=on_cores(cores))
    return result.stdout, children_cpu_seconds() - before


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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
    count, and the CPU µs per request of each group of processes in `watch` and of wrk
    itself (`load`)."""
    args = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script:
        args += ["-s", str(LUA / script)]
    before = {name: cpu_seconds(pids()) for name, pids in watch.items()}
    output, load = run_timed(*args, url, env={**os.environ, **env}, cores=cores)
    cpu = {name: cpu_seconds(pids()) - before[name] for name, pids in watch.items()}
    cpu["load"] = load
    if not re.search(r"^\s+99%\s+\S+$", output, re.M):
        raise Failed("no latency figures: " + " ".join(output.split())[-160:])
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


class Failed(Exception):
    """A measurement that yielded no figures; its text is the reason."""


# The cheapest statement that answers a customer's first page of bills, the limit the
# server is measured against: one index scan of `invoices_by_customer` in the page's order,
# the customer looked up once.
CHEAPEST_FIRST_PAGE = """
SELECT invoice_number, billing_group_id, subscriber_msisdn, contract_number, invoice_status,
       bill_date, bill_period, period_start_date, period_end_date, expiration_date,
       expiration_electronic_date, print_date, payment_date, invoice_amount, invoice_balance,
       payment_amount, invoiced_service_count, invoice_type, invoice_serial,
       invoice_description, billing_name, billing_address, billplan, contact_name, phone, cai,
       dei, attachment
FROM invoices
WHERE customer_id = (SELECT customer_id FROM customers WHERE id_type = 'CLIENT_CODE' AND code = :code)
ORDER BY bill_date DESC, invoice_number DESC
LIMIT 20
"""


def pgbench_script(customers: int) -> Path:
    """A pgbench script of the cheapest first-page statement for random customers."""
    script = ROOT / "target" / "bench-cheapest-first-page.sql"
    script.parent.mkdir(parents=True, exist_ok=True)
    body = " ".join(CHEAPEST_FIRST_PAGE.split())
    script.write_text(f"\\set code random(1000001, {1_000_000 + customers})\n{body};\n")
    return script


def run_against(database: Callable[[], list[int]], *args: str, env: dict[str, str] | None = None,
                cores: set[int] | None = None) -> tuple[str, float, float]:
    """`run_timed` for a command whose connections PostgreSQL (`database`: its processes)
    serves: what it printed, its CPU seconds and PostgreSQL's. A failure is a `Failed`."""
    before = cpu_seconds(database())
    try:
        output, own = run_timed(*args, env=env, cores=cores)
    except subprocess.CalledProcessError as error:
        raise Failed(f"{Path(args[0]).name}: {' '.join(error.stderr.split())[-160:]}") from error
    # The command's backends end with it: their CPU time reaches the postmaster's once reaped.
    time.sleep(1)
    return output, own, cpu_seconds(database()) - before


def pgbench(database_url: str, clients: int, duration: int, script: Path,
            cores: set[int], database: Callable[[], list[int]]) -> dict:
    """pgbench on `cores`, prepared: transactions per second, and the CPU µs per transaction
    of PostgreSQL (`database`: its processes, which pgbench's connections join) and of
    pgbench itself (`load_cpu_us`)."""
    output, load, spent = run_against(
        database, "pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)),
        "-T", str(duration), "-f", str(script), database_url, cores=cores,
    )
    transactions = int(re.search(r"number of transactions actually processed: (\d+)", output).group(1))
    return {"tps": float(re.search(r"tps = ([\d.]+)", output).group(1)),
            "cpu_us": spent * 1e6 / max(transactions, 1),
            "load_cpu_us": load * 1e6 / max(transactions, 1)}


def pages(binary: Path, env: dict[str, str], layer: str, concurrency: int, duration: int,
          cores: set[int], database: Callable[[], list[int]]) -> dict:
    """First pages of bills read by the server's own code without HTTP (`billing bench
    pages`), through `layer`: diesel alone, or the server's database layer (its queue and
    threads). Pages per second, and the CPU µs per page of PostgreSQL and of the reader."""
    output, reader, spent = run_against(database, str(binary), "bench", "pages", "--layer", layer, "--seconds",
                                        str(duration), "--concurrency", str(concurrency), env=env, cores=cores)
    read = json.loads(output)
    count = max(read["pages"], 1)
    return {"rps": read["pages"] / read["seconds"], "cpu_us": spent * 1e6 / count, "reader_cpu_us": reader * 1e6 / count}


def layer_lines(layers: dict[str, dict], served: tuple[int, dict] | None, cheapest: tuple[int, dict] | None,
                sizing: dict) -> list[str]:
    """The table that splits a first page's cost by layer, every process on every core: the
    server's own code without HTTP, the page served over HTTP, and pgbench."""
    if not cheapest:
        return []
    tps = cheapest[1]["tps"]
    rows = []
    for layer, reader in (("diesel", f"diesel alone, {sizing['pool_size']} threads"),
                          ("database", f"the server's database layer (queue and threads), "
                                       f"{served[0] if served else 64} at once")):
        if layer in layers:
            r = layers[layer]
            rows.append((f"{reader}, without HTTP", r["rps"], r["cpu_us"], r["reader_cpu_us"]))
    if served:
        c, r = served
        rows.append((f"list bills over HTTP, {c} connections (server + wrk)", r["rps"], r["cpu_us"]["database"],
                     r["cpu_us"]["server"] + r["cpu_us"]["load"]))
    rows.append((f"pgbench, cheapest statement, {cheapest[0]} clients", tps, cheapest[1]["cpu_us"],
                 cheapest[1]["load_cpu_us"]))
    lines = ["", "A first page of bills by layer, every process on every core (`billing bench pages` reads "
             "them with the server's own code, without HTTP; through the database layer, the threads its "
             "tasks run on do nothing else, so that nearly every answer wakes one, which a busy server's "
             "HTTP workers are spared more often):", "",
             "| read by | pages/s | ÷ pgbench's tps | PostgreSQL CPU µs/page | client CPU µs/page | total CPU µs/page |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, rate, database, client in rows:
        lines.append(f"| {name} | {rate:,.0f} | {rate / tps:.2f} | {database:.0f} | {client:.0f} | {database + client:.0f} |")
    return lines


def plans(binary: Path, database_url: str, env: dict[str, str]) -> list[str]:
    """`EXPLAIN (ANALYZE, BUFFERS)` of the server's statements for the main shapes of a
    page (`billing bench statements`), for the 10,000-bill customer."""
    key = run("psql", database_url, "-qAtc",
              f"SELECT customer_id FROM customers WHERE id_type = 'CLIENT_CODE' AND code = {BIG_CUSTOMER}").strip()
    lines = []
    for line in run(str(binary), "bench", "statements", "--customer-key", key, env=env).strip().splitlines():
        shape, debug = line.split("\t")
        sql, binds = debug.split(" -- binds: ")
        values = json.loads(binds)
        for index, value in reversed(list(enumerate(values, start=1))):
            literal = f"'{value}'" if isinstance(value, str) else str(value)
            sql = sql.replace(f"${index}", literal)
        plan = run("psql", database_url, "-qAtc", f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}")
        lines += [f"{shape}:", "", "```", plan.rstrip(), "```", ""]
    return lines


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def server_settings(binary: Path, env: dict[str, str], cores: set[int], pool_size: int | None) -> dict:
    """The pool size and HTTP workers the server chooses on `cores`."""
    try:
        return json.loads(run(str(binary), "bench", "settings", env=env, cores=cores))
    except subprocess.CalledProcessError:  # a build from before `bench settings` (--binary)
        return {"pool_size": pool_size or 10, "workers": len(cores)}


def sizing(settings: dict) -> str:
    workers = settings["workers"]
    return f"a pool of {settings['pool_size']} connections and {workers} HTTP worker{'' if workers == 1 else 's'}"


def describe(cores: set[int]) -> str:
    return ("core " if len(cores) == 1 else "cores ") + ",".join(str(c) for c in sorted(cores))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--invoices-per-customer", type=int, default=100)
    parser.add_argument("--scale", type=int, default=1, help="multiply the customers (10 for 10x the data)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--concurrency", default="4,16,64,256", help="wrk connections, comma-separated")
    parser.add_argument("--pgbench-clients", default="4,16,64", help="pgbench clients, comma-separated")
    parser.add_argument("--pool-size", type=int, help="BILLING_DB_POOL_SIZE (default: the server's own)")
    parser.add_argument("--binary", type=Path, default=BILLING, help="the billing binary to measure")
    parser.add_argument("--out", type=Path, default=ROOT / "target" / "bench", help="where the table is written")
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run that only shows it works")
    options = parser.parse_args()
    if options.smoke:
        options.customers, options.invoices_per_customer, options.duration = 100, 20, 1
        # 64 and 256 as well, so that every measurement in turns runs too.
        options.concurrency, options.pgbench_clients = "4,64,256", "4"
    binary = options.binary.resolve()
    customers = options.customers * options.scale
    levels = [int(c) for c in options.concurrency.split(",")]
    pgbench_levels = [int(c) for c in options.pgbench_clients.split(",")]
    for tool in ("wrk", "pgbench"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (Debian: apt-get install wrk postgresql-client)")

    every_core = set(os.sched_getaffinity(0))
    database_cores, client_cores = split_cores()
    # The cluster loads the data on every core, then moves to its own.
    cluster = Cluster()
    database_url = cluster.url
    env = {**os.environ, "DATABASE_URL": database_url, "RUST_LOG": "warn"}
    if options.pool_size:
        env["BILLING_DB_POOL_SIZE"] = str(options.pool_size)
    server = None
    results: list[tuple[str, int, dict]] = []
    failures: list[str] = []
    cheapest: dict[str, dict[int, dict]] = {"apart": {}, "shared": {}}
    key_pairs: list[tuple[float, float]] = []  # (server req/s, pgbench tps), in turns
    # (PostgreSQL CPU µs per list-bills request, per pgbench transaction), from the same pairs
    database_pairs: list[tuple[float, float]] = []
    many_pairs: list[tuple[float, float]] = []  # (req/s at 256, at 64 connections), in turns
    metrics_pairs: list[tuple[float, float]] = []  # (req/s with metrics, without), in turns
    layers: dict[str, dict] = {}  # first pages without HTTP, every core, by layer

    def median_ratio(pairs: list[tuple[float, float]]) -> float | None:
        ratios = sorted(a / b for a, b in pairs)
        return ratios[len(ratios) // 2] if ratios else None

    def listed(pairs: list[tuple[float, float]]) -> str:
        return ", ".join(f"{a:,.0f} ÷ {b:,.0f}" for a, b in pairs) or "none"

    def best(rows: dict[int, dict | None]) -> tuple[int, dict] | None:
        done = {c: r for c, r in rows.items() if r}
        return max(done.items(), key=lambda item: item[1]["rps"]) if done else None

    def best_tps(layout: str) -> tuple[int, dict] | None:
        rows = cheapest[layout]
        return max(rows.items(), key=lambda item: item[1]["tps"]) if rows else None

    def cheapest_cpu(layout: str) -> tuple[int, dict] | None:
        """pgbench's level where PostgreSQL spends least per transaction, and its row."""
        return min(cheapest[layout].items(), key=lambda item: item[1]["cpu_us"], default=None)
    try:
        run(str(binary), "migrate", env=env)
        started = time.monotonic()
        run(str(binary), "seed", "--customers", str(customers),
            "--invoices-per-customer", str(options.invoices_per_customer), env=env)
        load_seconds = time.monotonic() - started
        for first_id, bills in ((BIG_CUSTOMER, 10_000), (SMALL_CUSTOMER, 10)):
            run(str(binary), "seed", "--customers", "1", "--invoices-per-customer", str(bills),
                "--first-id", str(first_id), env=env)
        create = [str(binary), "clients", "create", "--name", "bench", "--scopes", "read,write"]
        try:
            client = json.loads(run(*create, "--all-customers", env=env))
        except subprocess.CalledProcessError:  # a build from before customer scopes (--binary)
            client = json.loads(run(*create, env=env))
        # Write the load out now, so that no checkpoint flushes it in the middle of a measurement.
        run("psql", database_url, "-qc", "CHECKPOINT")
        # The server sizes its pool and workers from the cores it may run on: each layout
        # gets a server started on its own cores, and the header says how each was sized.
        settings = {layout: server_settings(binary, env, cores, options.pool_size)
                    for layout, cores in (("apart", client_cores), ("shared", every_core))}
        try:
            plan_lines = plans(binary, database_url, env)
        except subprocess.CalledProcessError:
            plan_lines = ["(this binary prints no statements)"]
        move_to_cores(cluster.processes(), database_cores)

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server_env = {**env, "BILLING_LISTEN": f"127.0.0.1:{port}", "BILLING_AUTH_MAX_FAILURES": "1000000",
                      "BILLING_ADMIN_LISTEN": f"127.0.0.1:{free_port()}"}
        server = subprocess.Popen([str(binary), "serve"], env=server_env, preexec_fn=on_cores(client_cores))
        startup = wait_ready(base)
        bearer = token(base, client)
        lua_env = {"BENCH_TOKEN": bearer, "BENCH_CUSTOMERS": str(customers), "BENCH_LUA_DIR": str(LUA)}
        watch = {"server": lambda: [server.pid], "database": cluster.processes}
        d = options.duration
        script = pgbench_script(customers)

        def measure(name: str, path: str, script: str | None, connections: int, extra: dict | None = None,
                    cores: set[int] = client_cores) -> dict | None:
            try:
                outcome = wrk(f"{base}{path}", connections, d, script, {**lua_env, **(extra or {})}, cores, watch)
            except (Failed, subprocess.CalledProcessError, AttributeError, KeyError) as error:
                reason = str(error) if isinstance(error, Failed) else f"{type(error).__name__}: {error}"
                failures.append(f"{name} at {connections} connections: {reason}")
                results.append((name, connections, {"failed": reason}))
                print(f"  {name} c={connections}: FAILED: {reason}", flush=True)
                return None
            results.append((name, connections, outcome))
            print(f"  {name} c={connections}: {outcome['rps']:.0f} req/s, p50 {outcome['p50']:.2f} ms, "
                  f"p99 {outcome['p99']:.2f} ms, errors {outcome['errors']}", flush=True)
            return outcome

        def measure_pgbench(layout: str, clients: int, cores: set[int]) -> None:
            try:
                outcome = pgbench(database_url, clients, d, script, cores, cluster.processes)
            except Failed as error:
                failures.append(f"pgbench ({layout}) at {clients} clients: {error}")
                return
            cheapest[layout][clients] = outcome
            print(f"  pgbench ({layout}), {clients} clients: {outcome['tps']:.0f} tps", flush=True)

        # Warm up: caches of PostgreSQL, of the server's statements and of its token check.
        wrk(f"{base}/", max(levels), min(d, 3), "bills.lua", lua_env, client_cores, {})
        for clients in pgbench_levels:
            measure_pgbench("apart", clients, client_cores)
        bills = {c: measure("list bills (first page of 20)", "/", "bills.lua", c) for c in levels}
        measured = {c: r for c, r in bills.items() if r}
        peak_level = max(measured, key=lambda c: measured[c]["rps"]) if measured else levels[0]
        measure("bills of one group", "/", "bills.lua", peak_level,
                {"BENCH_PATH": "/v2/billing/customers/CLIENT_CODE/%d/bills/groups/G1"})
        measure("profile of an MSISDN", "/", "profile.lua", peak_level)
        measure("create + delete a group (writes)", "/", "groups.lua", peak_level)
        floor = measure("/health (HTTP floor)", "/health", None, peak_level)
        # The HTTP floor at 64 and 256 connections: where wrk shares the server's core, what
        # more connections cost wrk and the HTTP layer alone, without the database.
        floor_at = {peak_level: floor}
        for c in (64, 256):
            if c in levels and c not in floor_at:
                floor_at[c] = measure("/health (HTTP floor)", "/health", None, c)
        forged = measure("forged bearer tokens (401)", "/", "forged.lua", peak_level)
        token_grants = measure("token endpoint", "/oauth/client_credential/accesstoken?grant_type=client_credentials",
                               "token.lua", min(peak_level, 16), {"BENCH_BASIC": basic_credentials(client)})

        # The writes and grants left dead rows and dirty pages: clean them up now, so that
        # neither autovacuum nor a checkpoint lands in the middle of a later measurement.
        run("psql", database_url, "-qc", "VACUUM ANALYZE")
        run("psql", database_url, "-qc", "CHECKPOINT")

        # How cost grows: the latency of one request at a time, which no queue inflates.
        growth_env = {"BENCH_FIRST_ID": str(BIG_CUSTOMER), "BENCH_CUSTOMERS": "1"}
        page_path = "/v2/billing/customers/CLIENT_CODE/%d/bills"
        offset0 = measure("10,000-bill customer, offset 0", "/", "bills.lua", 1, {**growth_env, "BENCH_PATH": page_path})
        offset5000 = measure("10,000-bill customer, offset 5,000", "/", "bills.lua", 1,
                             {**growth_env, "BENCH_PATH": page_path + "?pageInit=5000"})
        # Pages of the same size: the 10-bill customer's first page holds all its 10 bills.
        big_ten = measure("10,000-bill customer, first page of 10", "/", "bills.lua", 1,
                          {**growth_env, "BENCH_PATH": page_path + "?quantity=10"})
        small = measure("10-bill customer, first page (its 10 bills)", "/", "bills.lua", 1,
                        {"BENCH_FIRST_ID": str(SMALL_CUSTOMER), "BENCH_CUSTOMERS": "1", "BENCH_PATH": page_path})

        def in_turns(name: str, numerator: Callable[[], float], denominator: Callable[[], float],
                     pairs: list[tuple[float, float]]) -> None:
            for _ in range(PAIRS_IN_TURNS):
                try:
                    below = denominator()
                    above = numerator()
                except (Failed, subprocess.CalledProcessError, KeyError) as error:
                    failures.append(f"{name}, a pair in turns: {error}")
                    continue
                pairs.append((above, below))
                print(f"  {name}, in turns: {above:.0f} ÷ {below:.0f} = {above / below:.2f}", flush=True)

        # The cost of the metrics: list bills again, on a server that records none.
        quiet_port = free_port()
        quiet = subprocess.Popen([str(binary), "serve"], preexec_fn=on_cores(client_cores),
                                 env={**server_env, "BILLING_LISTEN": f"127.0.0.1:{quiet_port}",
                                      "BILLING_ADMIN_LISTEN": "off"})
        try:
            wait_ready(f"http://127.0.0.1:{quiet_port}")
            quiet_token = token(f"http://127.0.0.1:{quiet_port}", client)
            quiet_env = {**lua_env, "BENCH_TOKEN": quiet_token}
            metrics_on = measure("list bills, metrics on (again)", "/", "bills.lua", peak_level)
            metrics_off = wrk(f"http://127.0.0.1:{quiet_port}/", peak_level, d, "bills.lua", quiet_env,
                              client_cores, {"server": lambda: [quiet.pid], "database": cluster.processes})
            results.append(("list bills, metrics off", peak_level, metrics_off))
            # A few percent is within a single pair's noise: measured in turns as well.
            in_turns("metrics on ÷ off",
                     lambda: wrk(f"{base}/", peak_level, d, "bills.lua", lua_env, client_cores, {})["rps"],
                     lambda: wrk(f"http://127.0.0.1:{quiet_port}/", peak_level, d, "bills.lua", quiet_env,
                                 client_cores, {})["rps"],
                     metrics_pairs)
        except (Failed, subprocess.CalledProcessError, OSError) as error:
            failures.append(f"list bills, metrics off: {error}")
            metrics_on = metrics_off = None
        finally:
            quiet.send_signal(signal.SIGTERM)
            quiet.wait(timeout=60)

        # The list-bills measurements again with every process free to run on every core, on
        # a server started there, which sizes itself for every core.
        rss = peak_rss_mb(server.pid)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        move_to_cores(cluster.processes(), every_core)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([str(binary), "serve"], env={**server_env, "BILLING_LISTEN": f"127.0.0.1:{port}"})
        wait_ready(base)
        lua_env["BENCH_TOKEN"] = token(base, client)
        wrk(f"{base}/", max(levels), min(d, 3), "bills.lua", lua_env, every_core, {})
        for clients in pgbench_levels:
            measure_pgbench("shared", clients, every_core)
        shared_bills = {c: measure("list bills, every process on every core", "/", "bills.lua", c,
                                   cores=every_core) for c in levels}

        server_level, pg_level = best(shared_bills), best_tps("shared")
        # The database side alone, every core: what is left for HTTP within the key ratio.
        for layer in ("diesel", "database"):
            try:
                layers[layer] = pages(binary, env, layer, server_level[0] if server_level else 64, d,
                                      every_core, cluster.processes)
            except (Failed, KeyError, ValueError) as error:
                failures.append(f"first pages through {layer}, without HTTP: {error}")
                continue
            print(f"  first pages through {layer}, without HTTP: {layers[layer]['rps']:.0f} pages/s", flush=True)

        def bills_at(connections: int, watch: dict[str, Callable[[], list[int]]] | None = None) -> dict:
            return wrk(f"{base}/", connections, d, "bills.lua", lua_env, every_core, watch or {})

        # The key pairs also give PostgreSQL's CPU per request on both sides, measured back to
        # back as well: against a reference taken minutes apart, a drift of the machine's
        # speed moves that ratio by more than its target's margin. Its reference is pgbench
        # at its cheapest level, measured once more in the pair if that is not its best.
        last_transaction_cpu: list[float] = []
        cheapest_level = cheapest_cpu("shared")[0] if cheapest["shared"] else None

        def pgbench_best_tps() -> float:
            at_best = pgbench(database_url, pg_level[0], d, script, every_core, cluster.processes)
            at_cheapest = at_best if cheapest_level == pg_level[0] else pgbench(
                database_url, cheapest_level, d, script, every_core, cluster.processes)
            last_transaction_cpu.append(at_cheapest["cpu_us"])
            return at_best["tps"]

        def served_rps() -> float:
            measured = bills_at(server_level[0], {"database": cluster.processes})
            database_pairs.append((measured["cpu_us"]["database"], last_transaction_cpu[-1]))
            return measured["rps"]

        if server_level and pg_level:
            in_turns("key ratio", served_rps, pgbench_best_tps, key_pairs)
        if {64, 256} <= set(levels):
            in_turns("256 ÷ 64 connections", lambda: bills_at(256)["rps"], lambda: bills_at(64)["rps"], many_pairs)
        rss = max(rss, peak_rss_mb(server.pid))
    finally:
        if server:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        cluster.remove()

    commit = run("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD").strip()
    now = datetime.datetime.now(datetime.timezone.utc)

    def pgbench_line(layout: str) -> str:
        return ", ".join(f"{c} clients {r['tps']:,.0f} tps ({r['cpu_us']:.0f} µs PostgreSQL CPU, "
                         f"{r['load_cpu_us']:.0f} µs pgbench CPU)"
                         for c, r in sorted(cheapest[layout].items())) or "failed"

    lines = [
        f"# Benchmark {now:%Y-%m-%d %H:%M} UTC, commit {commit}",
        "",
        f"{os.cpu_count()} cores; {customers:,} customers x {options.invoices_per_customer} invoices "
        f"(+ one with 10,000 and one with 10), loaded by `billing seed` in {load_seconds:.1f} s; "
        f"{d} s per measurement. PostgreSQL runs on {describe(database_cores)}; "
        f"pgbench, wrk and the server on {describe(client_cores)}, except where a row says every core. "
        f"The server, sized by the cores it runs on: on {describe(client_cores)}, {sizing(settings['apart'])}; "
        f"on every core, {sizing(settings['shared'])}."
        + (" Smoke run: the figures mean nothing." if options.smoke else ""),
        "",
        "pgbench on the cheapest first-page statement, prepared, random customers:",
        f"- PostgreSQL on cores of its own: {pgbench_line('apart')}",
        f"- every process on every core: {pgbench_line('shared')}",
        "",
        "| request | connections | req/s | p50 ms | p99 ms | max ms | errors | server CPU µs/req | PostgreSQL CPU µs/req | wrk CPU µs/req |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, connections, r in results:
        if "failed" in r:
            lines.append(f"| {name} | {connections} | FAILED: {r['failed']} | | | | | | | |")
            continue
        lines.append(f"| {name} | {connections} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                     f"{r['max']:.1f} | {r['errors']} | {r['cpu_us']['server']:.0f} | {r['cpu_us']['database']:.0f} | "
                     f"{r['cpu_us']['load']:.0f} |")
    lines += layer_lines(layers, best(shared_bills), best_tps("shared"), settings["shared"])
    ratios = ["", "| ratio | value | target |", "| --- | ---: | --- |"]

    def ratio(text: str, compute: Callable[[], float | str], target: str = "", fmt: str = "{:.2f}") -> None:
        try:
            ratios.append(f"| {text} | {fmt.format(compute())} | {target} |")
        except (TypeError, KeyError, ZeroDivisionError):
            ratios.append(f"| {text} | (not measured) | {target} |")

    server_best, pg_best = best(shared_bills), best_tps("shared")
    key = median_ratio(key_pairs)
    apart_best, apart_pg = best(bills), best_tps("apart")
    ratio(f"list bills ÷ pgbench on the cheapest statement, each at its best concurrency, every process "
          f"on every core (server at {server_best[0] if server_best else '?'}, pgbench at {pg_best[0] if pg_best else '?'}), "
          f"the median of {len(key_pairs)} pairs measured in turns ({listed(key_pairs)})",
          lambda: key, "≥ 0.5")
    ratio("the same from the rows above, measured minutes apart",
          lambda: server_best[1]["rps"] / pg_best[1]["tps"])
    ratio("the same, PostgreSQL on cores of its own",
          lambda: apart_best[1]["rps"] / apart_pg[1]["tps"])
    # Against pgbench's cheapest level: PostgreSQL spends more per transaction the more
    # backends share its cores (pgbench's 64 clients cost it about twice its 4), and the
    # server keeps only its pool's few backends busy, whatever its connections.
    shared_cheapest, apart_cheapest = cheapest_cpu("shared"), cheapest_cpu("apart")
    ratio(f"PostgreSQL CPU per list-bills request ÷ per cheapest-statement transaction at pgbench's cheapest "
          f"level ({shared_cheapest[0] if shared_cheapest else '?'} clients), every core, in the pairs of the key ratio "
          f"(µs: {listed(database_pairs)})",
          lambda: median_ratio(database_pairs), "≤ 1.15")
    ratio(f"the same from the rows above, at the server's best concurrency and pgbench's cheapest level "
          f"({shared_cheapest[0] if shared_cheapest else '?'} clients)",
          lambda: server_best[1]["cpu_us"]["database"] / shared_cheapest[1]["cpu_us"])
    # The statement's own cost, without the processes that share PostgreSQL's cores in the
    # row above. There, their wake-ups preempt its backends and evict its caches: on 2 cores,
    # the backends' involuntary context switches were 0.22-0.29 per list-bills request and
    # 0.01 per pgbench transaction (/proc/PID/status, 10 s runs).
    ratio(f"the same, PostgreSQL on cores of its own (server at {apart_best[0] if apart_best else '?'} connections, "
          f"pgbench at {apart_cheapest[0] if apart_cheapest else '?'} clients)",
          lambda: apart_best[1]["cpu_us"]["database"] / apart_cheapest[1]["cpu_us"])
    # Where the key ratio comes from: on a machine whose cores are all busy, req/s is the
    # inverse of the CPU time every process spends per request.
    ratio("CPU µs per request of every process, every core, each at its best concurrency: list bills "
          "(server + PostgreSQL + wrk) ÷ the cheapest statement (PostgreSQL + pgbench)",
          lambda: f"{sum(server_best[1]['cpu_us'].values()):.0f} ÷ "
                  f"{pg_best[1]['cpu_us'] + pg_best[1]['load_cpu_us']:.0f}", "", "{}")
    # A bound on what a server on diesel's blocking connections could reach: diesel alone's
    # CPU per page, plus the HTTP floor's (server and wrk). It counts none of what a page
    # costs over HTTP beyond /health (its JSON, its 12 KB answer), nor what the server's
    # threads cost PostgreSQL when they share its cores, so no server reaches it.
    floor_level = 64 if floor_at.get(64) else peak_level
    floor_cpu = floor_at.get(floor_level)
    ratio("a bound on the key ratio for a server on diesel: the cheapest statement's CPU µs per transaction ÷ "
          f"(diesel alone's per page + /health's, server and wrk, at {floor_level} connections)",
          lambda: (pg_best[1]["cpu_us"] + pg_best[1]["load_cpu_us"])
          / (layers["diesel"]["cpu_us"] + layers["diesel"]["reader_cpu_us"]
             + floor_cpu["cpu_us"]["server"] + floor_cpu["cpu_us"]["load"]))
    ratio("server CPU per list-bills request, every core, at its best concurrency (µs)",
          lambda: server_best[1]["cpu_us"]["server"], "≤ 110", "{:.0f}")
    for c in (16, 64, 256):
        ratio(f"list bills, p99 ÷ p50 at {c} connections", lambda c=c: bills[c]["p99"] / bills[c]["p50"],
              "≤ 3" if c == 256 else "≤ 4")
    ratio("the same at 256 connections, every process on every core",
          lambda: shared_bills[256]["p99"] / shared_bills[256]["p50"], "≤ 3")
    ratio(f"list bills req/s at 256 ÷ at 64 connections, every process on every core, the median of "
          f"{len(many_pairs)} pairs measured in turns ({listed(many_pairs)})",
          lambda: median_ratio(many_pairs), "≥ 1")
    ratio("the same from the rows above", lambda: shared_bills[256]["rps"] / shared_bills[64]["rps"])
    ratio("the same, PostgreSQL on a core of its own (wrk shares the server's core)",
          lambda: bills[256]["rps"] / bills[64]["rps"])
    ratio("/health req/s at 256 ÷ at 64 connections, wrk on the server's core",
          lambda: floor_at[256]["rps"] / floor_at[64]["rps"])
    ratio(f"list bills req/s, metrics on ÷ off, the median of {len(metrics_pairs)} pairs measured in turns "
          f"({listed(metrics_pairs)})", lambda: median_ratio(metrics_pairs), "≥ 0.97")
    ratio("the same from the rows above (back to back)", lambda: metrics_on["rps"] / metrics_off["rps"])
    ratio("list bills ÷ /health, req/s", lambda: apart_best[1]["rps"] / floor["rps"])
    ratio("forged-token requests ÷ /health, req/s", lambda: forged["rps"] / floor["rps"], "≥ 0.5")
    ratio("page at offset 5,000 ÷ offset 0, mean latency", lambda: offset5000["mean"] / offset0["mean"], "≤ 2")
    ratio("10,000-bill ÷ 10-bill customer, first page of 10, mean latency", lambda: big_ten["mean"] / small["mean"], "≤ 1.3")
    ratio("token endpoint, grants per second", lambda: token_grants["rps"], "≥ 1,000", "{:,.0f}")
    ratio("peak resident memory of the server (MB)", lambda: rss, "< 48", "{:.1f}")
    ratio("start-up to ready (ms)", lambda: startup * 1000, "", "{:.0f}")
    lines += ratios
    lines += ["", "Plans of the server's statements, for the 10,000-bill customer:", ""] + plan_lines
    if failures:
        lines += ["", "Failed measurements:"] + [f"- {failure}" for failure in failures]
    lines += ["", f"Key ratio: {key:.2f} of what PostgreSQL serves on its cheapest statement, every process on every core."
              if key else "Key ratio: not measured."]
    report = "\n".join(lines) + "\n"
    out = options.out if not options.smoke else ROOT / "target" / "bench-smoke"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{now:%Y%m%dT%H%M%S}-{commit}.md"
    path.write_text(report)
    print()
    print(report, end="")
    print(f"(written to {path})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
