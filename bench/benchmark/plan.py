"""What `make bench` measures, and the figures it reads from the measurements, as data.

A measurement is one load at one level (connections, clients, or pages asked at once) and
is stored as `<group>@<level>`. A level is a number, or `best:<group>` (that group's level
with the most requests per second) or `cheapest:<group>` (its level where PostgreSQL spends
the least CPU per request). `InTurns` measures its steps back to back, `pairs` times: a
machine whose speed drifts over minutes then weighs on both sides of each pair alike.

A figure reads values by reference: `<group>@<level>.<field>` (a field of a measurement,
`cpu_us.server` for a nested one; a sum with ` + `), `values.<name>` (a value of the run),
or, in `Paired`, `<step>.<field>` within each pair.

A figure may hold a gate, a goal, both, or neither. A gate is the level the run of record
(`bench/results/`) reached, less the figure's noise: a figure past it has regressed, and the
run fails. A goal is where the figure should be: the report gives its distance, and a goal
missed does not fail the run. docs/benchmark.md says how a goal met becomes a gate.
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
    # The status every answer must have, or the statuses any answer may have.
    expect: int | tuple[int, ...] = 200
    # main; quiet (metrics off); baseline (the binary of --baseline, when given); pgbouncer
    # (through PgBouncer in transaction mode, BILLING_DB_POOLER=transaction); unprepared
    # (BILLING_DB_POOLER=transaction without PgBouncer: what its statements alone cost)
    server: str = "main"
    accept_encoding: str = ""
    # Sent with the tag of each customer's first page (`conditional.lua`).
    conditional: bool = False
    # Whose token the requests carry (`CLIENTS`).
    client: str = "bench"
    # Another load on the same server at once, for the whole measurement; its figures are
    # stored under the measurement's `beside`.
    beside: Wrk | None = None


# The clients of the data set, by name, with their limits (`billing clients create`).
CLIENTS = {
    "bench": (),
    # Limits counted on every request but never reached: what counting costs.
    "limited": ("--rate", "1000000/s", "--quota", "1000000000/day"),
    # Past its quota after its first request (`run.Context.token`): every answer a 429.
    "refused": ("--quota", "1/month"),
    "flooder": ("--rate", "100/s"),
}


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
class Offered:
    """list bills offered by oha at a fixed rate, open loop with latency correction (live
    traffic does not wait for the server): `share` of the req/s that `of` (`<group>@<level>`)
    answered, for a measurement's seconds, or for the whole length of a `Load` given it."""
    group: str
    label: str
    of: str
    share: float = 0.5


@dataclass(frozen=True)
class Load:
    """A bill run (`billrun`) loaded into the section's database by `how`: `copy`
    (PostgreSQL's own `COPY invoices FROM` of its CSV: the limit), `jsonl` or `csv`
    (`billing import`, with `--pace pace` when given); list bills offered beside it as
    `offered` says. `run` is the bill run's number: each is newer than the one before, as
    real ones are."""
    group: str
    label: str
    how: str
    pace: str = ""
    run: int = 0
    offered: Offered | None = None


@dataclass(frozen=True)
class Section:
    """Steps measured with the processes laid out as `layout` says (`processes.layouts`),
    on the data set, or on a copy of it named `database` made for the section (and dropped
    after it)."""
    layout: str
    steps: tuple[Wrk | Pgbench | Pages | Sql | InTurns | Load | Offered, ...]
    database: str = ""


SYMBOLS = {">=": "≥", "<=": "≤"}


@dataclass(frozen=True)
class Bound:
    """`value >= level` (the more the better) or `value <= level` (the less the better)."""
    op: str
    level: float

    def __post_init__(self) -> None:
        if self.op not in SYMBOLS:
            raise ValueError(f"a bound is >= or <=, not {self.op}")

    def met_by(self, value: float) -> bool:
        return value >= self.level if self.op == ">=" else value <= self.level

    def distance(self, value: float) -> float:
        """How far `value` is from meeting the bound, as a fraction of `level`: what a `>=`
        bound's value falls short by, what a `<=` bound's goes over by; 0 when it is met."""
        if self.met_by(value):
            return 0.0
        return abs(self.level - value) / abs(self.level)


@dataclass(frozen=True)
class Goal(Bound):
    """Where a figure should be: reported with its distance, never failing the run."""


@dataclass(frozen=True)
class Noise:
    """How far a figure moves from run to run with no change of the code, as a fraction of
    its value, and what data shows it (`why`)."""
    fraction: float
    why: str


@dataclass(frozen=True)
class Gate:
    """A level the run of record reached: a figure worse than `measured` by more than `noise`
    has regressed, and fails the run."""
    op: str
    measured: float
    noise: Noise

    @property
    def bound(self) -> Bound:
        """The level a figure must meet: `measured` less `noise`, on the worse side."""
        worse = -self.noise.fraction if self.op == ">=" else self.noise.fraction
        return Bound(self.op, self.measured * (1 + worse))


@dataclass(frozen=True)
class Ratio:
    """`numerator` ÷ `denominator`, or `numerator` alone when there is none."""
    label: str
    numerator: str
    denominator: str | None = None
    gate: Gate | None = None
    goal: Goal | None = None
    format: str = "{:.2f}"
    # A factor on the quotient: 2 makes a sum of two rows in the denominator their mean.
    scale: float = 1.0


@dataclass(frozen=True)
class Paired:
    """The median, over the pairs of `group`, of `numerator` ÷ `denominator` in each pair
    (of `numerator` when there is no denominator)."""
    label: str
    group: str
    numerator: str
    denominator: str | None = None
    gate: Gate | None = None
    goal: Goal | None = None
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
        # Each client's fair share: what counting limits costs a client that never reaches
        # them, what a refusal costs, and what a client flooding against its rate leaves to
        # another.
        InTurns("limits", "list bills by an unlimited client and by one with limits it never reaches", (
            Wrk("unlimited", "no limits", "bills.lua", ("best:bills-apart",)),
            Wrk("limited", "a rate of 1,000,000/s and a quota of 10⁹/day", "bills.lua",
                ("best:bills-apart",), client="limited"),
        )),
        InTurns("refusals", "forged tokens (401) and a client past its quota (429)", (
            Wrk("forged-401", "forged tokens", "forged.lua", ("best:bills-apart",), expect=401),
            Wrk("quota-429", "a client past its quota", "bills.lua", ("best:bills-apart",),
                expect=429, client="refused"),
        ), pairs=3),
        InTurns("fair", "a client's list bills at 16 connections, alone and beside a flood", (
            Wrk("alone", "alone", "bills.lua", (16,)),
            Wrk("flooded", "beside another client flooding at 16 connections against its rate of "
                "100/s", "bills.lua", (16,),
                beside=Wrk("flood", "the flood", "bills.lua", (16,), client="flooder",
                           expect=(200, 429))),
        ), pairs=3),
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
        # Each read of a page of bills by the two binaries in turns: all the customer's, its
        # PAID ones (counted), one group's, and a 304.
        InTurns("baseline", "list bills by the --baseline binary and by this one", (
            Wrk("before", "baseline", "bills.lua", ("best:bills-apart",), server="baseline"),
            Wrk("now", "this binary", "bills.lua", ("best:bills-apart",)),
            Wrk("before-paid", "baseline, PAID bills", "bills.lua", ("best:bills-apart",),
                path=BILLS_PATH + "?status=PAID", server="baseline"),
            Wrk("now-paid", "this binary, PAID bills", "bills.lua", ("best:bills-apart",),
                path=BILLS_PATH + "?status=PAID"),
            Wrk("before-group", "baseline, one group's bills", "bills.lua", ("best:bills-apart",),
                path=GROUP_PATH, server="baseline"),
            Wrk("now-group", "this binary, one group's bills", "bills.lua", ("best:bills-apart",),
                path=GROUP_PATH),
            Wrk("before-304", "baseline, a current If-None-Match (304)", "conditional.lua",
                ("best:bills-apart",), expect=304, conditional=True, server="baseline"),
            Wrk("now-304", "this binary, a current If-None-Match (304)", "conditional.lua",
                ("best:bills-apart",), expect=304, conditional=True),
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
    # A bill run into copies of the data set, which holds its customers; billing import at
    # full speed (`--pace off`), as in a maintenance window, against COPY.
    Section("shared", (
        Load("copy", "bill run by PostgreSQL's COPY of a CSV (the limit)", "copy"),
    ), database="bill_run_copy"),
    Section("shared", (
        Load("import-jsonl", "bill run by billing import, JSON Lines", "jsonl", pace="off"),
        Load("import-jsonl-again", "the same file again (every row unchanged)", "jsonl", pace="off"),
    ), database="bill_run_jsonl"),
    Section("shared", (
        Load("import-csv", "bill run by billing import, CSV", "csv", pace="off"),
    ), database="bill_run_csv"),
    # Bill day: list bills offered at a fixed rate while bill runs load, on cores the two
    # share, each run newer than the one before; the paced run is set against the mean of the
    # two unpaced runs around it, as the table grows with each.
    Section("shared", (
        Wrk("bills-idle", "list bills before the bill runs", "bills.lua", (16,)),
        Offered("offered-idle", "list bills offered at half of 16 connections' req/s, idle",
                "bills-idle@16"),
        Load("pace-off", "bill run, --pace off, list bills offered beside it", "jsonl", pace="off",
             run=1, offered=Offered("offered-off", "list bills offered beside --pace off",
                                    "bills-idle@16")),
        Load("pace-auto", "bill run, --pace auto, list bills offered beside it", "jsonl",
             pace="auto", run=2, offered=Offered("offered-auto", "list bills offered beside --pace auto",
                                                 "bills-idle@16")),
        Load("pace-off-again", "bill run, --pace off again, list bills offered beside it", "jsonl",
             pace="off", run=3, offered=Offered("offered-off-again",
                                                "list bills offered beside --pace off again",
                                                "bills-idle@16")),
    ), database="bill_day"),
)

# The noise of the figures a gate keeps, from the run of record's raw JSON (its pairs) and
# the runs committed before it (git history of bench/results/). Where one reason serves
# several gates, it is named here.
ROWS_APART = Noise(0.10, "a ratio of two rows measured minutes apart: the default for a ratio "
                         "of req/s or rows/s (import ÷ COPY was 0.74 and 0.78 in the last two "
                         "runs of record, 5 % apart)")
PAIRS = Noise(0.05, "the median of 5 pairs in turns: twice the widest spread of the run of "
                    "record's pairs below their median (metrics 2.4 %, gzip 1.0 %)")
MEMORY = Noise(0.10, "peak resident memory moved by 1 % between the last two runs of record; "
                     "the default of 10 % leaves room for that and flags a real growth")

KEY_RATIO = Paired(
    "list bills ÷ pgbench on the statement the server runs (by the customer's key), each at its "
    "best concurrency, every process on every core, median of the pairs in turns",
    "key", "bills.rps", "pgbench.rps", goal=Goal(">=", 0.5))

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
           "key", "bills.cpu_us.database", "pgbench-cheapest.cpu_us.database", goal=Goal("<=", 1.15)),
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
          "concurrency", "bills-shared@best.cpu_us.server",
          gate=Gate("<=", 65.4, Noise(0.15, "the level `best` picks moves: 65 µs at 64 and 256 "
                                            "connections, 68 at 16; 62 in the run of record before")),
          format="{:.0f}"),
    Ratio("list bills, p99 ÷ p50 at 16 connections", "bills-apart@16.p99_ms", "bills-apart@16.p50_ms",
          gate=Gate("<=", 2.39, Noise(0.55, "a p99 rests on the slowest 1 % of requests: 1.79–3.60 "
                                            "in the runs committed since its bound was 4"))),
    Ratio("list bills, p99 ÷ p50 at 64 connections", "bills-apart@64.p99_ms", "bills-apart@64.p50_ms",
          gate=Gate("<=", 1.59, Noise(0.25, "1.56–1.87 in the runs committed since its bound was 4"))),
    Ratio("list bills, p99 ÷ p50 at 256 connections", "bills-apart@256.p99_ms", "bills-apart@256.p50_ms",
          gate=Gate("<=", 1.31, Noise(0.40, "1.31–1.75 in the runs committed since its bound was 3"))),
    Ratio("the same, every process on every core", "bills-shared@256.p99_ms", "bills-shared@256.p50_ms",
          gate=Gate("<=", 1.78, Noise(0.40, "1.75 and 1.78 in the two runs of record that measured "
                                            "it: the margin of the p99 apart at 256"))),
    Paired("list bills req/s at 256 ÷ at 64 connections, every process on every core, median of the "
           "pairs in turns", "connections", "c256.rps", "c64.rps", goal=Goal(">=", 1)),
    Ratio("the same from the rows above", "bills-shared@256.rps", "bills-shared@64.rps"),
    Ratio("the same, PostgreSQL on cores of its own", "bills-apart@256.rps", "bills-apart@64.rps"),
    Paired("list bills req/s through PgBouncer (transaction mode) ÷ direct at 64 connections, every "
           "process on every core, median of the pairs in turns", "pgbouncer", "pooled.rps",
           "direct.rps", goal=Goal(">=", 0.8)),
    Paired("CPU µs per list-bills request of every process (PgBouncer's too) through PgBouncer ÷ "
           "direct, median of the pairs in turns", "pgbouncer", "pooled.cpu_us_total",
           "direct.cpu_us_total"),
    Paired("the same, PostgreSQL's CPU alone", "pgbouncer", "pooled.cpu_us.database",
           "direct.cpu_us.database"),
    Paired("list bills req/s with unprepared statements (BILLING_DB_POOLER=transaction) ÷ prepared, "
           "both direct, median of the pairs in turns", "pgbouncer", "unprepared.rps", "direct.rps"),
    Ratio("/health req/s at 256 ÷ at 64 connections", "health@256.rps", "health@64.rps"),
    # The goal stays beside the gate: the pairs' noise is wider than what it asks.
    Paired("list bills req/s, metrics on ÷ off, median of the pairs in turns",
           "metrics", "on.rps", "off.rps", gate=Gate(">=", 0.980, PAIRS), goal=Goal(">=", 0.97)),
    Ratio("list bills ÷ /health, req/s", "bills-apart@best.rps", "health@best:bills-apart.rps"),
    Ratio("forged-token requests ÷ /health, req/s", "forged@best:bills-apart.rps",
          "health@best:bills-apart.rps", gate=Gate(">=", 0.814, ROWS_APART)),
    Ratio("page at offset 5,000 ÷ offset 0, mean latency", "big-offset-5000@1.mean_ms",
          "big-offset-0@1.mean_ms",
          gate=Gate("<=", 1.36, Noise(0.25, "mean latencies near 0.2 ms, one request at a time: "
                                            "1.31–1.62 in the runs committed since it met its "
                                            "bound of 2"))),
    Ratio("10,000-bill ÷ 10-bill customer, first page of 10, mean latency", "big-first-10@1.mean_ms",
          "small-first-10@1.mean_ms",
          gate=Gate("<=", 1.00, Noise(0.30, "mean latencies near 0.15 ms, one request at a time: "
                                            "0.91–1.28 in the runs committed since its bound "
                                            "was 1.3"))),
    Ratio("token endpoint, grants per second", "token@16.rps",
          gate=Gate(">=", 1662, Noise(0.15, "one 10 s row: 1,567 and 1,662 in the last two runs "
                                            "of record, 6 % apart")),
          format="{:,.0f}"),
    Ratio("list bills, bytes of an answer with gzip ÷ without", "bills-gzip@best:bills-apart.bytes_per_request",
          "bills-apart@best.bytes_per_request",
          gate=Gate("<=", 0.1948, Noise(0.05, "the same pages by the same compressor: 0.19 in every "
                                             "committed run; the margin is for a change of the data set"))),
    Ratio("list bills, bytes of an answer with br ÷ without", "bills-br@best:bills-apart.bytes_per_request",
          "bills-apart@best.bytes_per_request"),
    # The goal stays beside the gate: the pairs' noise is wider than what it asks.
    Paired("list bills req/s with gzip ÷ without, median of the pairs in turns", "gzip", "gzip.rps",
           "plain.rps", gate=Gate(">=", 0.902, PAIRS), goal=Goal(">=", 0.9)),
    Ratio("list bills, server CPU µs with gzip ÷ without", "bills-gzip@best:bills-apart.cpu_us.server",
          "bills-apart@best.cpu_us.server"),
    Ratio("list bills, server CPU µs with br ÷ without", "bills-br@best:bills-apart.cpu_us.server",
          "bills-apart@best.cpu_us.server"),
    # The goal stays beside the gate: the noise of two CPU figures is wider than what it asks.
    Ratio("server CPU µs of a 304 ÷ of a page of bills", "bills-304@best:bills-apart.cpu_us.server",
          "bills-apart@best.cpu_us.server",
          gate=Gate("<=", 0.466, Noise(0.15, "a ratio of two CPU figures: 0.43 in the run of record "
                                             "before, whose page took 68 µs to this one's 58")),
          goal=Goal("<=", 0.5)),
    Paired("list bills req/s of this binary ÷ of the --baseline binary, median of the pairs in turns",
           "baseline", "now.rps", "before.rps", goal=Goal(">=", 0.97)),
    # A new build is no slower than the one before it on the other reads of a page either.
    Paired("list bills, PAID bills, req/s of this binary ÷ of the --baseline binary, median of "
           "the pairs in turns", "baseline", "now-paid.rps", "before-paid.rps",
           gate=Gate(">=", 1.0, PAIRS)),
    Paired("one group's bills, req/s of this binary ÷ of the --baseline binary, median of the "
           "pairs in turns", "baseline", "now-group.rps", "before-group.rps",
           gate=Gate(">=", 1.0, PAIRS)),
    Paired("list bills with a current If-None-Match (304), req/s of this binary ÷ of the "
           "--baseline binary, median of the pairs in turns", "baseline", "now-304.rps",
           "before-304.rps", gate=Gate(">=", 1.0, PAIRS)),
    Paired("list bills req/s of a client with a rate of 1,000,000/s and a quota of 10⁹/day "
           "(counted, never reached) ÷ of an unlimited client, median of the pairs in turns",
           "limits", "limited.rps", "unlimited.rps", goal=Goal(">=", 0.97)),
    Paired("429s per second of a client past its quota ÷ 401s per second of forged tokens, "
           "median of the pairs in turns", "refusals", "quota-429.rps", "forged-401.rps",
           goal=Goal(">=", 0.8)),
    Paired("list bills req/s of a client at 16 connections beside another flooding at 16 against "
           "its rate of 100/s ÷ alone, median of the pairs in turns", "fair", "flooded.rps",
           "alone.rps", goal=Goal(">=", 0.7)),
    Paired("the flooding client's 200s per second (its rate: 100/s), median of the pairs",
           "fair", "flooded.beside.ok_rps", format="{:.0f}"),
    Ratio("10,000-bill customer, first page of its PAID bills (counted) ÷ of all its bills, mean latency",
          "big-paid@1.mean_ms", "big-offset-0@1.mean_ms"),
    Ratio("bill run, rows/s of billing import (JSON Lines) ÷ of COPY",
          "import-jsonl@1.rps", "copy@1.rps", gate=Gate(">=", 0.782, ROWS_APART)),
    Ratio("bill run, rows/s of billing import (CSV) ÷ of COPY", "import-csv@1.rps", "copy@1.rps",
          gate=Gate(">=", 0.743, ROWS_APART)),
    Ratio("bill run, the first run's seconds ÷ the same file's again", "import-jsonl@1.seconds",
          "import-jsonl-again@1.seconds",
          gate=Gate(">=", 2.40, Noise(0.15, "2.73 in the run of record before: the second run's "
                                            "15–17 s moves the ratio by 13 %"))),
    Ratio("list bills offered at half of 16 connections' req/s, p99 beside a bill run with "
          "--pace auto ÷ idle", "offered-auto@best.p99_ms", "offered-idle@best.p99_ms",
          goal=Goal("<=", 2)),
    Ratio("the same beside --pace off", "offered-off@best.p99_ms", "offered-idle@best.p99_ms"),
    Ratio("the same beside --pace off again", "offered-off-again@best.p99_ms",
          "offered-idle@best.p99_ms"),
    Ratio("list bills answered 200 ÷ offered, beside --pace auto", "offered-auto@best.ok_rps",
          "offered-auto@best.offered_rps", goal=Goal(">=", 0.99)),
    Ratio("bill run, rows/s with --pace auto ÷ the mean of --pace off's two runs around it, "
          "list bills offered beside each", "pace-auto@1.rps", "pace-off@1.rps + pace-off-again@1.rps",
          scale=2, goal=Goal(">=", 0.5)),
    Ratio("bill run, rows/s of billing import with list bills offered beside it (--pace off) ÷ "
          "alone", "pace-off@1.rps", "import-jsonl@1.rps"),
    Ratio("peak resident memory of billing import (MB)", "import-jsonl@1.peak_rss_mb",
          gate=Gate("<=", 22.8, MEMORY), format="{:.1f}"),
    Ratio("peak resident memory of the server (MB)", "values.peak_rss_mb",
          gate=Gate("<=", 42.4, MEMORY), format="{:.1f}"),
    Ratio("start-up to ready (ms)", "values.startup_ms", format="{:.0f}"),
)
