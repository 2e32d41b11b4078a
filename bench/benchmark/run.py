"""Carries out the plan: a cluster of the benchmark's own with a bulk data set, the server on
each layout's cores, every measurement of `plan.PLAN`; the raw results as JSON."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from . import billrun, load, plan
from .load import MeasurementFailed
from .processes import (ROOT, Cluster, Layout, PgBouncer, Server, basic_credentials, free_port,
                        layouts, move_to_cores, run)

BIG_CUSTOMER = 9_000_001  # 10,000 bills
SMALL_CUSTOMER = 9_100_001  # 10 bills
FIRST_BULK = 1_000_001
BILL_RUN_FOLDER = ROOT / "target" / "bench" / "bill-run"

# The columns of a first page, as the server reads them.
COLUMNS = """invoice_number, billing_group_id, subscriber_msisdn, contract_number, invoice_status,
       bill_date, bill_period, period_start_date, period_end_date, expiration_date,
       expiration_electronic_date, print_date, payment_date, invoice_amount, invoice_balance,
       payment_amount, invoiced_service_count, invoice_type, invoice_serial,
       invoice_description, billing_name, billing_address, billplan, contact_name, phone, cai,
       dei, attachment"""

# The references the server is measured against, written here rather than taken from the
# server, so that a slow server statement cannot make its own limit slow. `by_key` is the
# cheapest statement that answers a first page given what the server knows: the customer's
# key, which it remembers. `lookup` finds the customer by its name first.
STATEMENTS = {
    "by_key": ("\\set key random({first_key}, {last_key})",
               f"SELECT {COLUMNS} FROM invoices WHERE customer_id = :key "
               "ORDER BY bill_date DESC, invoice_number DESC LIMIT 20"),
    "lookup": ("\\set code random({first_code}, {last_code})",
               f"SELECT {COLUMNS} FROM invoices WHERE customer_id = (SELECT customer_id FROM customers "
               "WHERE id_type = 'CLIENT_CODE' AND code = :code) "
               "ORDER BY bill_date DESC, invoice_number DESC LIMIT 20"),
}


@dataclass
class Context:
    """What the steps of a run share."""
    options: object
    cluster: Cluster
    results: dict
    # The credentials of each of `plan.CLIENTS`.
    clients: dict[str, dict[str, str]]
    scripts: dict[str, Path]
    customers: dict[str, int]
    layout: Layout | None = None
    # The section's database: the data set's, or a copy of it.
    database_url: str = ""
    # The files of each bill run written so far, by its number.
    bill_runs: dict[int, dict[str, Path]] = field(default_factory=dict)
    servers: dict[str, Server] = field(default_factory=dict)
    # A token of each (server, client) asked for so far.
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    bouncer: PgBouncer | None = None

    def server_env(self, metrics: bool) -> dict[str, str]:
        env = {**os.environ, "DATABASE_URL": self.database_url, "RUST_LOG": "warn",
               "BILLING_AUTH_MAX_FAILURES": "1000000", "BILLING_TOKEN_GRANTS_PER_MINUTE": "1000000000"}
        env["BILLING_ADMIN_LISTEN"] = f"127.0.0.1:{free_port()}" if metrics else "off"
        return env

    def server(self, name: str) -> Server:
        """The section's server `name` (`plan.Wrk.server`), started on first use."""
        if name not in self.servers:
            if name == "baseline" and not self.options.baseline:
                raise MeasurementFailed("no --baseline binary was given")
            binary = self.options.baseline if name == "baseline" else self.options.binary
            env = self.server_env(metrics=name != "quiet")
            if name in ("pgbouncer", "unprepared"):
                env["BILLING_DB_POOLER"] = "transaction"
            if name == "pgbouncer":
                self.bouncer = PgBouncer(self.cluster.url, self.layout.others)
                env["DATABASE_URL"] = self.bouncer.url_of(self.database_url)
            server = Server(binary, env, self.layout.others)
            self.servers[name] = server
            self.results["values"].setdefault("startup_ms", server.startup_seconds * 1000)
        return self.servers[name]

    def token(self, server: str, client: str) -> str:
        """A token of `client` from the section's server `server`, taken on first use; the
        `refused` client's quota is used up first."""
        if (server, client) not in self.tokens:
            token = self.server(server).token(self.clients[client])
            if client == "refused":
                use_up_quota(self.server(server), token)
            self.tokens[(server, client)] = token
        return self.tokens[(server, client)]

    def bill_run_files(self, number: int = 0) -> dict[str, Path]:
        """The files of bill run `number`, written on first use: run 0 in every format, the
        later ones (each newer than the one before) in JSON Lines."""
        if number not in self.bill_runs:
            customers = billrun.Customers(FIRST_BULK, self.customers["first_key"],
                                          self.options.customers, self.options.invoices_per_customer)
            cycles = self.options.bill_run_cycles
            self.bill_runs[number] = billrun.write(
                BILL_RUN_FOLDER / str(number), customers, cycles, after=number * cycles,
                formats=("jsonl", "csv", "copy") if number == 0 else ("jsonl",))
        return self.bill_runs[number]

    def stop_servers(self) -> None:
        for server in self.servers.values():
            rss = self.results["values"].get("peak_rss_mb", 0.0)
            self.results["values"]["peak_rss_mb"] = max(rss, server.peak_rss_mb())
            server.stop()
        self.servers.clear()
        self.tokens.clear()
        if self.bouncer:
            self.bouncer.stop()
            self.bouncer = None


def execute(options) -> dict:
    """Runs the whole plan; returns the results (also on a failure of a measurement, which
    they record; any other failure is raised, after the cluster and servers are gone)."""
    results = {"meta": meta(options), "measurements": {}, "pairs": {}, "values": {}, "plans": []}
    cluster = Cluster()
    context = None
    try:
        clients, customers = prepare(cluster, options, results)
        context = Context(options, cluster, results, clients, reference_scripts(cluster, customers),
                          customers)
        results["meta"]["statements"] = {name: context.scripts[name].read_text().splitlines()[-1]
                                         for name in STATEMENTS}
        results["plans"] = statement_plans(cluster, options)
        for section in plan.PLAN:
            run_section(context, section)
    finally:
        if context:
            context.stop_servers()
        cluster.remove()
        shutil.rmtree(BILL_RUN_FOLDER, ignore_errors=True)
    return results


def meta(options) -> dict:
    commit = run("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD").strip()
    dirty = bool(run("git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no").strip())
    return {"commit": commit + ("+changes" if dirty else ""),
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "cores": len(os.sched_getaffinity(0)), "customers": options.customers,
            "invoices_per_customer": options.invoices_per_customer, "seconds": options.seconds,
            "smoke": options.smoke, "bill_run_rows": options.customers * options.bill_run_cycles,
            "layouts": {}}


def prepare(cluster: Cluster, options, results: dict) -> tuple[dict[str, dict[str, str]], dict[str, int]]:
    """Migrates and loads the data set; returns the clients of `plan.CLIENTS`, each with
    both scopes and every customer, and the range of the bulk customers' codes and keys."""
    env = {**os.environ, "DATABASE_URL": cluster.url, "RUST_LOG": "warn"}
    binary = str(options.binary)
    run(binary, "migrate", env=env)
    started = datetime.datetime.now()
    run(binary, "seed", "--customers", str(options.customers),
        "--invoices-per-customer", str(options.invoices_per_customer), env=env)
    results["meta"]["load_seconds"] = (datetime.datetime.now() - started).total_seconds()
    for first_id, bills in ((BIG_CUSTOMER, 10_000), (SMALL_CUSTOMER, 10)):
        run(binary, "seed", "--customers", "1", "--invoices-per-customer", str(bills),
            "--first-id", str(first_id), env=env)
    clients = {name: json.loads(run(binary, "clients", "create", "--name", name, "--scopes", "read,write",
                                    "--all-customers", *limits, env=env))
               for name, limits in plan.CLIENTS.items()}
    # Written out now, so that no checkpoint flushes the load in the middle of a measurement.
    cluster.psql("CHECKPOINT")
    last_code = FIRST_BULK + options.customers - 1
    first_key, last_key = (int(k) for k in cluster.psql(
        "SELECT min(customer_id), max(customer_id) FROM customers "
        f"WHERE id_type = 'CLIENT_CODE' AND code BETWEEN {FIRST_BULK} AND {last_code}").split("|"))
    if last_key - first_key + 1 != options.customers:
        raise RuntimeError("the bulk customers' keys are not one range")
    return clients, {"first_key": first_key, "last_key": last_key,
                    "first_code": FIRST_BULK, "last_code": last_code}


def reference_scripts(cluster: Cluster, customers: dict[str, int]) -> dict[str, Path]:
    """A pgbench script per reference statement, for random bulk customers."""
    folder = ROOT / "target" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    scripts = {}
    for name, (choose, statement) in STATEMENTS.items():
        path = folder / f"pgbench-{name}.sql"
        path.write_text(f"{choose.format(**customers)}\n{' '.join(statement.split())};\n")
        scripts[name] = path
    return scripts


def statement_plans(cluster: Cluster, options) -> list[dict]:
    """`EXPLAIN (ANALYZE, BUFFERS)` of the server's statements for the main shapes of a page
    (`billing-bench statements`), for the 10,000-bill customer."""
    key = cluster.psql("SELECT customer_id FROM customers "
                       f"WHERE id_type = 'CLIENT_CODE' AND code = {BIG_CUSTOMER}").strip()
    plans = []
    for line in run(str(options.probe), "statements", "--customer-key", key).strip().splitlines():
        shape, debug = line.split("\t")
        sql, binds = debug.split(" -- binds: ")
        for index, value in reversed(list(enumerate(json.loads(binds), start=1))):
            sql = sql.replace(f"${index}", f"'{value}'" if isinstance(value, str) else str(value))
        plans.append({"shape": shape,
                      "plan": cluster.psql(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}").rstrip()})
    return plans


def run_section(context: Context, section: plan.Section) -> None:
    """Lays the processes out as the section says, on its database, then measures its steps."""
    layout = layouts()[section.layout]
    context.layout = layout
    context.database_url = copy_database(context.cluster, section.database)
    move_to_cores(context.cluster.processes(), layout.database)
    settings = json.loads(run(str(context.options.probe), "settings",
                              env={**os.environ, "DATABASE_URL": context.database_url},
                              cores=set(layout.others)))
    context.results["meta"]["layouts"][layout.name] = {"describe": layout.describe(), **settings}
    print(f"{layout.describe()}{', on ' + section.database if section.database else ''}:", flush=True)
    try:
        if any(isinstance(step, (plan.Wrk, plan.InTurns)) for step in section.steps):
            # Warms PostgreSQL's caches, the server's statements and its token check.
            warm = plan.Wrk("warm-up", "warm-up", "bills.lua", (256,))
            record(context, f"warm-up-{section.database or layout.name}", warm, 256,
                   lambda: measure(context, warm, 256, seconds=min(context.options.seconds, 3)))
        for step in section.steps:
            run_step(context, step)
    finally:
        context.stop_servers()
        if section.database:
            context.cluster.psql(f"DROP DATABASE {section.database}", database="postgres")


def copy_database(cluster: Cluster, name: str) -> str:
    """The URL of a new copy of the data set named `name`; the data set's own without one."""
    if not name:
        return cluster.url
    cluster.psql(f"CREATE DATABASE {name} TEMPLATE billing", database="postgres")
    # The copy's files are written now, not in the middle of a measurement.
    cluster.psql("CHECKPOINT")
    return cluster.url.rsplit("/", 1)[0] + f"/{name}"


def run_step(context: Context, step) -> None:
    if isinstance(step, plan.Sql):
        for statement in step.statements:
            context.cluster.psql(statement)
    elif isinstance(step, plan.InTurns):
        in_turns(context, step)
    elif isinstance(step, plan.Load):
        record(context, f"{step.group}@1", step, 1, lambda: measure(context, step, 1))
    elif isinstance(step, plan.Offered):
        try:
            rate = offered_rate(context, step)
        except MeasurementFailed as error:
            record_failure(context, f"{step.group}@{step.of}", step, step.of, error)
            return
        record(context, f"{step.group}@{rate:.0f}", step, round(rate),
               lambda: offered(context, step, rate).wait())
    else:
        for level in dict.fromkeys(step.levels):
            try:
                connections = resolve_level(context.results, level)
            except MeasurementFailed as error:
                record_failure(context, f"{step.group}@{level}", step, level, error)
                continue
            record(context, f"{step.group}@{connections}", step, connections,
                   lambda: measure(context, step, connections))


def record(context: Context, key: str, step, level: int, measurement) -> dict | None:
    """Runs `measurement` and stores its figures under `key`; a failed one is stored with
    its reason and the run goes on."""
    try:
        figures = measurement()
    except MeasurementFailed as error:
        record_failure(context, key, step, level, error)
        return None
    context.results["measurements"][key] = {**describe(context, step, level), **figures}
    print(f"  {step.label} at {level}: {figures['rps']:,.0f}/s", flush=True)
    return figures


def record_failure(context: Context, key: str, step, level, error: MeasurementFailed) -> None:
    context.results["measurements"][key] = {**describe(context, step, level), "failed": str(error)}
    print(f"  {step.label} at {level}: FAILED: {error}", flush=True)


def describe(context: Context, step, level) -> dict:
    return {"group": step.group, "label": step.label, "layout": context.layout.name,
            "kind": type(step).__name__.lower(), "level": level}


def resolve_level(results: dict, level: int | str) -> int:
    """A level as a number (`plan`'s docstring says what `best:` and `cheapest:` mean)."""
    if isinstance(level, int):
        return level
    how, group = level.split(":")
    measured = [m for m in results["measurements"].values() if m["group"] == group and "failed" not in m]
    if not measured:
        raise MeasurementFailed(f"no level of {group} was measured")
    if how == "best":
        return max(measured, key=lambda m: m["rps"])["level"]
    if how == "cheapest":
        return min(measured, key=lambda m: m["cpu_us"]["database"])["level"]
    raise ValueError(f"unknown level {level}")


def measure(context: Context, step, level: int, seconds: int | None = None) -> dict:
    """One measurement of `step` at `level`, on the section's layout, with the CPU time
    per request of every process watched together as `cpu_us_total`."""
    figures = measure_step(context, step, level, seconds or context.options.seconds)
    figures["cpu_us_total"] = sum(figures["cpu_us"].values())
    return figures


def measure_step(context: Context, step, level: int, seconds: int) -> dict:
    layout, cluster = context.layout, context.cluster
    watch = {"database": cluster.processes}
    if isinstance(step, plan.Pgbench):
        return load.pgbench(cluster.url, level, seconds, context.scripts[step.statement],
                            layout.others, watch)
    if isinstance(step, plan.Pages):
        env = {**os.environ, "DATABASE_URL": cluster.url, "RUST_LOG": "warn"}
        return load.pages(context.options.probe, env, step.layer, level, seconds, layout.others, watch)
    if isinstance(step, plan.Load):
        return measure_load(context, step)
    server = context.server(step.server)
    watch = {"server": lambda: [server.process.pid], **watch}
    if step.server == "pgbouncer":
        watch["pgbouncer"] = lambda: [context.bouncer.process.pid]
    if not step.beside:
        return load.wrk(f"{server.base}/", level, seconds, step.script, wrk_env(context, step),
                        layout.others, watch)
    other = step.beside
    beside = load.Beside(f"{server.base}/", other.levels[0], other.script,
                         wrk_env(context, other, server=step.server), layout.others)
    try:
        figures = load.wrk(f"{server.base}/", level, seconds, step.script, wrk_env(context, step),
                           layout.others, watch)
    finally:
        besides = beside.finish()
    return {**figures, "beside": besides}


def wrk_env(context: Context, step: plan.Wrk, server: str = "") -> dict[str, str]:
    """What the wrk scripts read of `step`: the token, the customers, the path and statuses.
    The token is of the step's server, or of `server` for a load beside another."""
    first_id, count = {"bulk": (FIRST_BULK, context.options.customers),
                       "big": (BIG_CUSTOMER, 1), "small": (SMALL_CUSTOMER, 1)}[step.customers]
    expect = step.expect if isinstance(step.expect, tuple) else (step.expect,)
    env = {"BENCH_TOKEN": context.token(server or step.server, step.client),
           "BENCH_FIRST_ID": str(first_id), "BENCH_CUSTOMERS": str(count),
           "BENCH_EXPECT": ",".join(str(status) for status in expect),
           "BENCH_BASIC": basic_credentials(context.clients["bench"])}
    if step.path:
        env["BENCH_PATH"] = step.path
    if step.accept_encoding:
        env["BENCH_ACCEPT_ENCODING"] = step.accept_encoding
    if step.conditional:
        env["BENCH_ETAGS"] = str(current_tags(context, step))
    return env


def current_tags(context: Context, step: plan.Wrk, customers: int = 1000) -> Path:
    """A file of the current tags of the first pages of `customers` bulk customers, as the
    step's server answers them (for `conditional.lua`)."""
    server = context.server(step.server)
    path = ROOT / "target" / "bench" / "etags.txt"
    lines = []
    for customer in range(FIRST_BULK, FIRST_BULK + min(customers, context.options.customers)):
        request = urllib.request.Request(
            f"{server.base}/v2/billing/customers/CLIENT_CODE/{customer}/bills",
            headers={"Authorization": f"Bearer {context.token(step.server, step.client)}"})
        with urllib.request.urlopen(request) as response:
            lines.append(f"{customer} {response.headers['ETag']}")
    path.write_text("\n".join(lines) + "\n")
    return path


def use_up_quota(server: Server, token: str, most: int = 100) -> None:
    """Lists bills with `token` until its client's quota refuses (429), in at most `most`
    requests."""
    request = urllib.request.Request(f"{server.base}/v2/billing/customers/CLIENT_CODE/{FIRST_BULK}/bills",
                                     headers={"Authorization": f"Bearer {token}"})
    for _ in range(most):
        try:
            with urllib.request.urlopen(request) as response:
                response.read()
        except urllib.error.HTTPError as refused:
            if refused.code == 429:
                return
            raise
    raise MeasurementFailed(f"no 429 in {most} requests of a client with a quota of 1")


def offered_rate(context: Context, step: plan.Offered) -> float:
    """The rate `step` offers: its share of what its reference measurement answered."""
    group, _, level = step.of.partition("@")
    measured = context.results["measurements"].get(step.of)
    if measured is None or "failed" in measured:
        raise MeasurementFailed(f"{group} at {level} was not measured")
    return measured["rps"] * step.share


def offered(context: Context, step: plan.Offered, rate: float, seconds: int | None = None) -> load.Offered:
    """oha offering list bills of random bulk customers at `rate` to the section's server,
    for `seconds` (the measurement's by default)."""
    server = context.server("main")
    url = f"{server.base}/v2/billing/customers/CLIENT_CODE/{code_pattern(FIRST_BULK, context.options.customers)}/bills"
    return load.Offered(context.options.oha, url, rate, context.token("main", "bench"),
                        context.layout.others, seconds or context.options.seconds)


def code_pattern(first: int, count: int) -> str:
    """A regular expression of customer codes within `first` … `first + count - 1`: the
    whole blocks of 10ᵏ codes that fit, k as large as leaves at least half of them."""
    for digits in range(len(str(count)), -1, -1):
        block = 10 ** digits
        prefixes = range(-(-first // block), (first + count) // block)
        if prefixes and len(prefixes) * block >= count // 2:
            tail = f"[0-9]{{{digits}}}" if digits else ""
            return "(" + "|".join(str(prefix) for prefix in prefixes) + ")" + tail
    raise AssertionError("unreachable: with k = 0 every code is a block")


def measure_load(context: Context, step: plan.Load) -> dict:
    """A bill run loaded as `step` says, list bills offered beside it when it says so
    (stored under the offer's group)."""
    files = context.bill_run_files(step.run)
    rows = context.options.customers * context.options.bill_run_cycles
    if step.how == "copy":
        args = ["psql", context.database_url, "-qc", f"\\copy invoices ({', '.join(billrun.TABLE_COLUMNS)}) "
                f"FROM '{files['copy']}' CSV"]
    else:
        args = [str(context.options.binary), "import", "invoices", str(files[step.how])]
        args += ["--pace", step.pace] if step.pace else []
    env = {**os.environ, "DATABASE_URL": context.database_url, "RUST_LOG": "warn"}
    beside = None
    if step.offered:
        rate = offered_rate(context, step.offered)
        beside = offered(context, step.offered, rate, seconds=3600)
    try:
        printed, figures = load.rows_loaded(args, env, rows, context.layout.others,
                                            {"database": context.cluster.processes})
    finally:
        if beside:
            record(context, f"{step.offered.group}@{rate:.0f}", step.offered, round(rate), beside.finish)
    if step.how != "copy":
        summary = json.loads(printed.splitlines()[-1])
        if summary["read"] != rows or summary["rejected"]:
            raise MeasurementFailed(f"billing import loaded otherwise than planned: {summary}")
    return figures


def in_turns(context: Context, step: plan.InTurns) -> None:
    """The steps of `step` back to back, `pairs` times; stored as a list of pairs."""
    if any(getattr(side, "server", "") == "baseline" for side in step.steps) and not context.options.baseline:
        print(f"  {step.label}: not measured (no --baseline binary)", flush=True)
        return
    pairs = context.results["pairs"].setdefault(step.group, [])
    for _ in range(step.pairs):
        pair, measured = {}, {}
        try:
            for side in step.steps:
                level = resolve_level(context.results, side.levels[0])
                same = (type(side), getattr(side, "statement", None), getattr(side, "script", None),
                        getattr(side, "path", None), getattr(side, "server", None),
                        getattr(side, "accept_encoding", None), getattr(side, "client", None),
                        getattr(side, "beside", None), level)
                if same not in measured:
                    measured[same] = measure(context, side, level)
                pair[side.group] = {"level": level, **measured[same]}
        except MeasurementFailed as error:
            pairs.append({"failed": str(error)})
            print(f"  {step.label}, a pair: FAILED: {error}", flush=True)
            continue
        pairs.append(pair)
        print(f"  {step.label}, a pair: " + ", ".join(
            f"{name} {figures['rps']:,.0f}/s" for name, figures in pair.items()), flush=True)
