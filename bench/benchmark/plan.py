"""What `make bench` measures, and the figures it reads from the measurements, as data.

A measurement is one load at one level (connections, clients, or pages asked at once) and
is stored as `<group>@<level>`. A level is a number, or `best:<group>` (that group's level
with the most requests per second) or `cheapest:<group>` (its level where PostgreSQL spends
the least CPU per request). `InTurns` measures its steps back to back, `pairs` times: a
machine whose speed drifts over minutes then weighs on both sides of each pair alike.

A figure reads values by reference: `<group>@<level>.<field>` (a field of a measurement,
`cpu_us.server` for a nested one; a sum with ` + `), `values.<name>` (a value of the run),
or, in `Paired`, `<step>.<field>` within each pair. Its target (`>= 0.5`) is checked.
"""

from __future__ import annotations

from dataclasses import dataclass

BILLS_PATH = "/v2/billing/customers/CLIENT_CODE/%d/bills"
GROUP_PATH = "/v2/billing/customers/CLIENT_CODE/%d/bills/groups/G1"


@dataclass(frozen=True)
class Wrk:
    """wrk with a script of bench/lua/ against the section's server (`quiet`: a second one
    that records no metrics), at each of `levels` connections."""
    group: str
    label: str
    script: str
    levels: tuple[int | str, ...]
    path: str = ""
    customers: str = "bulk"  # bulk, big (10,000 bills) or small (10 bills)
    expect: int = 200
    # main; quiet (metrics off); baseline (the binary of --baseline, when given); pgbouncer
    # (through PgBouncer in transaction mode, BILLING_DB_POOLER=transaction); unprepared
    # (BILLING_DB_POOLER=transaction without PgBouncer: what its statements alone cost)
    server: str = "main"
    accept_encoding: str = ""
    # Sent with the tag of each customer's first page (`conditional.lua`).
    conditional: bool = False


@dataclass(frozen=True)
class Pgbench:
    """pgbench on one of the reference statements (`run.STATEMENTS`), at `levels` clients."""
    group: str
    label: str
    statement: str
    levels: tuple[int | str, ...]


@dataclass(frozen=True)
class Pages:
    """First pages read by `billing-bench pages` through `layer`, `levels` asked at once."""
    group: str
    label: str
    layer: str
    levels: tuple[int | str, ...]


@dataclass(frozen=True)
class Sql:
    """Statements run with psql between measurements (clean-ups)."""
    statements: tuple[str, ...]


@dataclass(frozen=True)
class InTurns:
    """`steps` (each at its one level) measured back to back, `pairs` times; a step whose
    load and level another step of the pair shares is measured once."""
    group: str
    label: str
    steps: tuple[Wrk | Pgbench, ...]
    pairs: int = 5


@dataclass(frozen=True)
class Load:
    """A bill run (`billrun`) loaded into the section's database by `how`: `copy`
    (PostgreSQL's own `COPY invoices FROM` of its CSV: the limit), `jsonl` or `csv`
    (`billing import`); list bills measured at `during` connections while it loads."""
    group: str
    label: str
    how: str
    during: int | None = None


@dataclass(frozen=True)
class Section:
    """Steps measured with the processes laid out as `layout` says (`processes.layouts`),
    on the data set, or on a copy of it named `database` made for the section (and dropped
    after it)."""
    layout: str
    steps: tuple[Wrk | Pgbench | Pages | Sql | InTurns | Load, ...]
    database: str = ""


@dataclass(frozen=True)
class Ratio:
    """`numerator` ÷ `denominator`, or `numerator` alone when there is none."""
    label: str
    numerator: str
    denominator: str | None = None
    target: str = ""
    format: str = "{:.2f}"


@dataclass(frozen=True)
class Paired:
    """The median, over the pairs of `group`, of `numerator` ÷ `denominator` in each pair."""
    label: str
    group: str
    numerator: str
    denominator: str
    target: str = ""
    format: str = "{:.2f}"


BEST_BILLS = "best:bills-shared"

PLAN = (
    Section("apart", (
        Pgbench("pgbench-key-apart", "pgbench, first page by the customer's key", "by_key", (4, 16, 64)),
        Wrk("bills-apart", "list bills (first page of 20)", "bills.lua", (4, 16, 64, 256)),
        Wrk("group-bills", "bills of one group", "bills.lua", ("best:bills-apart",), path=GROUP_PATH),
        Wrk("profile", "profile of an MSISDN", "profile.lua", ("best:bills-apart",)),
        Wrk("writes", "create + delete a group (writes)", "groups.lua", ("best:bills-apart",)),
        Wrk("health", "/health (HTTP floor)", "plain.lua", ("best:bills-apart", 64, 256), path="/health"),
        Wrk("forged", "forged bearer tokens (401)", "forged.lua", ("best:bills-apart",), expect=401),
        Wrk("token", "token endpoint", "token.lua", (16,)),
        Wrk("bills-gzip", "list bills, gzip", "bills.lua", ("best:bills-apart",), accept_encoding="gzip"),
        Wrk("bills-br", "list bills, br", "bills.lua", ("best:bills-apart",), accept_encoding="br"),
        Wrk("bills-304", "list bills with a current If-None-Match (304)", "conditional.lua",
            ("best:bills-apart",), expect=304, conditional=True),
        # The writes and grants left dead rows and dirty pages: cleaned up now, so that
        # neither autovacuum nor a checkpoint lands in the middle of a later measurement.
        Sql(("VACUUM ANALYZE", "CHECKPOINT")),
        # How cost grows: one request at a time, which no queue inflates.
        Wrk("big-offset-0", "10,000-bill customer, offset 0", "bills.lua", (1,), customers="big"),
        Wrk("big-offset-5000", "10,000-bill customer, offset 5,000", "bills.lua", (1,),
            path=BILLS_PATH + "?pageInit=5000", customers="big"),
        Wrk("big-first-10", "10,000-bill customer, first page of 10", "bills.lua", (1,),
            path=BILLS_PATH + "?quantity=10", customers="big"),
        Wrk("small-first-10", "10-bill customer, first page (its 10 bills)", "bills.lua", (1,),
            customers="small"),
        Wrk("big-paid", "10,000-bill customer, first page of its PAID bills (counted)", "bills.lua",
            (1,), path=BILLS_PATH + "?status=PAID", customers="big"),
        InTurns("gzip", "list bills without and with gzip", (
            Wrk("plain", "identity", "bills.lua", ("best:bills-apart",)),
            Wrk("gzip", "gzip", "bills.lua", ("best:bills-apart",), accept_encoding="gzip"),
        )),
        InTurns("baseline", "list bills by the --baseline binary and by this one", (
            Wrk("before", "baseline", "bills.lua", ("best:bills-apart",), server="baseline"),
            Wrk("now", "this binary", "bills.lua", ("best:bills-apart",)),
        )),
        InTurns("metrics", "list bills, metrics on and off", (
            Wrk("off", "metrics off", "bills.lua", ("best:bills-apart",), server="quiet"),
            Wrk("on", "metrics on", "bills.lua", ("best:bills-apart",)),
        )),
    )),
    Section("shared", (
        Pgbench("pgbench-key-shared", "pgbench, first page by the customer's key", "by_key", (4, 16, 64)),
        Pgbench("pgbench-lookup-shared", "pgbench, first page with the customer's lookup", "lookup",
                (4, 16, 64)),
        Wrk("bills-shared", "list bills (first page of 20)", "bills.lua", (4, 16, 64, 256)),
        Pages("pages-diesel", "first pages by diesel alone, without HTTP", "diesel", (BEST_BILLS,)),
        Pages("pages-database", "first pages through the server's database layer, without HTTP",
              "database", (BEST_BILLS,)),
        InTurns("key", "list bills and pgbench by key, each at its best concurrency", (
            Pgbench("pgbench", "pgbench by key at its best", "by_key", ("best:pgbench-key-shared",)),
            Pgbench("pgbench-cheapest", "pgbench by key at its cheapest", "by_key",
                    ("cheapest:pgbench-key-shared",)),
            Wrk("bills", "list bills at its best", "bills.lua", (BEST_BILLS,)),
        )),
        InTurns("connections", "list bills at 64 and 256 connections", (
            Wrk("c64", "64 connections", "bills.lua", (64,)),
            Wrk("c256", "256 connections", "bills.lua", (256,)),
        )),
        InTurns("pgbouncer", "list bills at 64 connections, direct and through PgBouncer", (
            Wrk("direct", "direct", "bills.lua", (64,)),
            Wrk("unprepared", "direct, unprepared statements", "bills.lua", (64,), server="unprepared"),
            Wrk("pooled", "through PgBouncer (transaction mode)", "bills.lua", (64,), server="pgbouncer"),
        ), pairs=3),
    )),
    # A bill run into copies of the data set, which holds its customers.
    Section("shared", (
        Load("copy", "bill run by PostgreSQL's COPY of a CSV (the limit)", "copy"),
    ), database="bill_run_copy"),
    Section("shared", (
        Load("import-jsonl", "bill run by billing import, JSON Lines", "jsonl"),
        Load("import-jsonl-again", "the same file again (every row unchanged)", "jsonl"),
    ), database="bill_run_jsonl"),
    Section("shared", (
        Load("import-csv", "bill run by billing import, CSV", "csv"),
    ), database="bill_run_csv"),
    # The API's answers while a bill run loads, on cores the two share.
    Section("shared", (
        Wrk("bills-idle", "list bills before the bill run", "bills.lua", (16,)),
        Load("import-live", "bill run by billing import, JSON Lines, list bills beside it",
             "jsonl", during=16),
    ), database="bill_run_live"),
)

KEY_RATIO = Paired(
    "list bills ÷ pgbench on the statement the server runs (by the customer's key), each at its "
    "best concurrency, every process on every core, median of the pairs in turns",
    "key", "bills.rps", "pgbench.rps", ">= 0.5")

FIGURES = (
    KEY_RATIO,
    Ratio("the same from the rows above, measured minutes apart",
          "bills-shared@best.rps", "pgbench-key-shared@best.rps"),
    Ratio("the same, PostgreSQL on cores of its own",
          "bills-apart@best.rps", "pgbench-key-apart@best.rps"),
    Ratio("list bills ÷ pgbench with the customer's lookup (a statement the server does not run), "
          "every process on every core", "bills-shared@best.rps", "pgbench-lookup-shared@best.rps"),
    Paired("PostgreSQL CPU per list-bills request ÷ per pgbench transaction at pgbench's cheapest "
           "level, every process on every core, median of the key ratio's pairs",
           "key", "bills.cpu_us.database", "pgbench-cheapest.cpu_us.database", "<= 1.15"),
    Ratio("the same from the rows above", "bills-shared@best.cpu_us.database",
          "pgbench-key-shared@cheapest.cpu_us.database"),
    Ratio("the same, PostgreSQL on cores of its own", "bills-apart@best.cpu_us.database",
          "pgbench-key-apart@cheapest.cpu_us.database"),
    Ratio("CPU µs per request of every process, list bills (server + PostgreSQL + wrk) ÷ pgbench "
          "(PostgreSQL + pgbench), every process on every core",
          "bills-shared@best.cpu_us_total", "pgbench-key-shared@best.cpu_us_total"),
    Ratio("a bound on the key ratio for a server on diesel: pgbench's CPU µs per transaction ÷ "
          "(diesel alone's per page + /health's, server and wrk, at 64 connections)",
          "pgbench-key-shared@best.cpu_us_total",
          "pages-diesel@best.cpu_us_total + health@64.cpu_us.server + health@64.cpu_us.load"),
    Ratio("first pages through the server's database layer ÷ by diesel alone, pages/s",
          "pages-database@best.rps", "pages-diesel@best.rps"),
    Ratio("server CPU µs per list-bills request, every process on every core, at its best "
          "concurrency", "bills-shared@best.cpu_us.server", None, "<= 110", "{:.0f}"),
    Ratio("list bills, p99 ÷ p50 at 16 connections", "bills-apart@16.p99_ms", "bills-apart@16.p50_ms", "<= 4"),
    Ratio("list bills, p99 ÷ p50 at 64 connections", "bills-apart@64.p99_ms", "bills-apart@64.p50_ms", "<= 4"),
    Ratio("list bills, p99 ÷ p50 at 256 connections", "bills-apart@256.p99_ms", "bills-apart@256.p50_ms", "<= 3"),
    Ratio("the same, every process on every core", "bills-shared@256.p99_ms", "bills-shared@256.p50_ms",
          "<= 3"),
    Paired("list bills req/s at 256 ÷ at 64 connections, every process on every core, median of the "
           "pairs in turns", "connections", "c256.rps", "c64.rps", ">= 1"),
    Ratio("the same from the rows above", "bills-shared@256.rps", "bills-shared@64.rps"),
    Ratio("the same, PostgreSQL on cores of its own", "bills-apart@256.rps", "bills-apart@64.rps"),
    Paired("list bills req/s through PgBouncer (transaction mode) ÷ direct at 64 connections, every "
           "process on every core, median of the pairs in turns", "pgbouncer", "pooled.rps",
           "direct.rps", ">= 0.8"),
    Paired("CPU µs per list-bills request of every process (PgBouncer's too) through PgBouncer ÷ "
           "direct, median of the pairs in turns", "pgbouncer", "pooled.cpu_us_total",
           "direct.cpu_us_total"),
    Paired("the same, PostgreSQL's CPU alone", "pgbouncer", "pooled.cpu_us.database",
           "direct.cpu_us.database"),
    Paired("list bills req/s with unprepared statements (BILLING_DB_POOLER=transaction) ÷ prepared, "
           "both direct, median of the pairs in turns", "pgbouncer", "unprepared.rps", "direct.rps"),
    Ratio("/health req/s at 256 ÷ at 64 connections", "health@256.rps", "health@64.rps"),
    Paired("list bills req/s, metrics on ÷ off, median of the pairs in turns",
           "metrics", "on.rps", "off.rps", ">= 0.97"),
    Ratio("list bills ÷ /health, req/s", "bills-apart@best.rps", "health@best:bills-apart.rps"),
    Ratio("forged-token requests ÷ /health, req/s", "forged@best:bills-apart.rps", "health@best:bills-apart.rps", ">= 0.5"),
    Ratio("page at offset 5,000 ÷ offset 0, mean latency", "big-offset-5000@1.mean_ms",
          "big-offset-0@1.mean_ms", "<= 2"),
    Ratio("10,000-bill ÷ 10-bill customer, first page of 10, mean latency", "big-first-10@1.mean_ms",
          "small-first-10@1.mean_ms", "<= 1.3"),
    Ratio("token endpoint, grants per second", "token@16.rps", None, ">= 1000", "{:,.0f}"),
    Ratio("list bills, bytes of an answer with gzip ÷ without", "bills-gzip@best:bills-apart.bytes_per_request",
          "bills-apart@best.bytes_per_request", "<= 0.25"),
    Ratio("list bills, bytes of an answer with br ÷ without", "bills-br@best:bills-apart.bytes_per_request",
          "bills-apart@best.bytes_per_request"),
    Paired("list bills req/s with gzip ÷ without, median of the pairs in turns", "gzip", "gzip.rps",
           "plain.rps", ">= 0.9"),
    Ratio("list bills, server CPU µs with gzip ÷ without", "bills-gzip@best:bills-apart.cpu_us.server",
          "bills-apart@best.cpu_us.server"),
    Ratio("list bills, server CPU µs with br ÷ without", "bills-br@best:bills-apart.cpu_us.server",
          "bills-apart@best.cpu_us.server"),
    Ratio("server CPU µs of a 304 ÷ of a page of bills", "bills-304@best:bills-apart.cpu_us.server",
          "bills-apart@best.cpu_us.server", "<= 0.5"),
    Paired("list bills req/s of this binary ÷ of the --baseline binary, median of the pairs in turns",
           "baseline", "now.rps", "before.rps", ">= 0.97"),
    Ratio("10,000-bill customer, first page of its PAID bills (counted) ÷ of all its bills, mean latency",
          "big-paid@1.mean_ms", "big-offset-0@1.mean_ms"),
    Ratio("bill run, rows/s of billing import (JSON Lines) ÷ of COPY",
          "import-jsonl@1.rps", "copy@1.rps", ">= 0.5"),
    Ratio("bill run, rows/s of billing import (CSV) ÷ of COPY", "import-csv@1.rps", "copy@1.rps",
          ">= 0.5"),
    Ratio("bill run, the first run's seconds ÷ the same file's again", "import-jsonl@1.seconds",
          "import-jsonl-again@1.seconds", ">= 2"),
    Ratio("list bills at 16 connections, p99 during the bill run ÷ before it",
          "bills-during@16.p99_ms", "bills-idle@16.p99_ms", "<= 2"),
    Ratio("bill run, rows/s of billing import with list bills beside it ÷ alone",
          "import-live@1.rps", "import-jsonl@1.rps"),
    Ratio("peak resident memory of billing import (MB)", "import-jsonl@1.peak_rss_mb", None,
          "< 64", "{:.1f}"),
    Ratio("peak resident memory of the server (MB)", "values.peak_rss_mb", None, "< 48", "{:.1f}"),
    Ratio("start-up to ready (ms)", "values.startup_ms", None, "", "{:.0f}"),
)
