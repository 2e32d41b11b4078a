"""The processes the benchmark starts and watches: a PostgreSQL cluster of its own, the
server, the cores each runs on, and the CPU time each spends."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PG_SCRIPT = ROOT / "scripts" / "pg.sh"


def run(*args: str, env: dict[str, str] | None = None, cores: set[int] | None = None) -> str:
    """Runs a command to its end, on `cores` when given; returns what it printed. A failure
    raises `subprocess.CalledProcessError`, with what it printed on standard error."""
    return subprocess.run(args, env=env, check=True, text=True, capture_output=True,
                          preexec_fn=on_cores(cores)).stdout


def on_cores(cores: set[int] | None):
    """What a child runs before its program so that it, and what it starts, stays on `cores`."""
    return (lambda: os.sched_setaffinity(0, cores)) if cores else None


@dataclass(frozen=True)
class Layout:
    """Where the processes run: PostgreSQL on `database`, the server and the load
    generators on `others`."""
    name: str
    database: frozenset[int]
    others: frozenset[int]

    def describe(self) -> str:
        if self.database == self.others:
            return "every process on every core"
        return f"PostgreSQL on {cores_text(self.database)}, the rest on {cores_text(self.others)}"


def cores_text(cores: frozenset[int]) -> str:
    return ("core " if len(cores) == 1 else "cores ") + ",".join(str(c) for c in sorted(cores))


def layouts() -> dict[str, Layout]:
    """`apart`: PostgreSQL on half of the cores (the smaller half), as when the database has
    a machine of its own; `shared`: every process on every core."""
    cores = sorted(os.sched_getaffinity(0))
    every = frozenset(cores)
    half = max(len(cores) // 2, 1)
    apart = (frozenset(cores[:half]), frozenset(cores[half:]) or every)
    return {"apart": Layout("apart", *apart), "shared": Layout("shared", every, every)}


def process_tree(root: int) -> list[int]:
    """`root` and every process below it."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended while the list was read
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending += children.get(pid, [])
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes `pids` have used, with that of their children
    that have ended (PostgreSQL's backends of closed connections count in the postmaster's)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended meanwhile; the postmaster counts it once reaped
        ticks += sum(int(field) for field in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def move_to_cores(pids: list[int], cores: frozenset[int]) -> None:
    """Moves every thread of the processes `pids` to `cores`."""
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                os.sched_setaffinity(int(task.name), cores)
            except (ProcessLookupError, FileNotFoundError):
                pass  # the thread ended meanwhile


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A PostgreSQL cluster of the benchmark's own (scripts/pg.sh), removed by `remove`."""

    def __init__(self) -> None:
        self.env = {**os.environ,
                    "BILLING_PG_DIR": str(Path(tempfile.gettempdir()) / f"billing-bench-{os.getpid()}"),
                    "BILLING_PG_PORT": str(free_port())}
        self.url = run(str(PG_SCRIPT), "start", env=self.env).strip()
        pid_file = Path(self.env["BILLING_PG_DIR"]) / "data" / "postmaster.pid"
        self.postmaster = int(pid_file.read_text().split()[0])

    def processes(self) -> list[int]:
        """The postmaster and every PostgreSQL process it started."""
        return process_tree(self.postmaster)

    def psql(self, sql: str, database: str = "") -> str:
        """Runs `sql` on the data set's database, or on `database`."""
        url = self.url.rsplit("/", 1)[0] + f"/{database}" if database else self.url
        return run("psql", url, "-qAtc", sql)

    def remove(self) -> None:
        subprocess.run([str(PG_SCRIPT), "stop"], env=self.env, capture_output=True, check=False)
        shutil.rmtree(self.env["BILLING_PG_DIR"], ignore_errors=True)


class PgBouncer:
    """Debian's PgBouncer in transaction mode in front of the cluster's databases, on
    `cores`; as root, it runs as `postgres` (it refuses root), as the cluster does."""

    BINARY = "/usr/sbin/pgbouncer"

    def __init__(self, cluster_url: str, cores: frozenset[int]) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="billing-bench-pgbouncer-"))
        self.port = free_port()
        cluster_port = cluster_url.rsplit(":", 1)[1].split("/")[0]
        # As many server connections per database as the server's pool could want.
        (self.folder / "pgbouncer.ini").write_text(
            f"[databases]\n* = host=127.0.0.1 port={cluster_port} user=billing\n"
            f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {self.port}\n"
            "unix_socket_dir =\nauth_type = any\npool_mode = transaction\n"
            "default_pool_size = 64\nmax_client_conn = 1000\nserver_reset_query =\n"
            f"logfile = {self.folder}/pgbouncer.log\n")
        as_postgres = ["-u", "postgres"] if os.geteuid() == 0 else []
        if as_postgres:
            shutil.chown(self.folder, "postgres")
        self.process = subprocess.Popen([self.BINARY, "--quiet", *as_postgres,
                                         str(self.folder / "pgbouncer.ini")],
                                        stdout=subprocess.DEVNULL, preexec_fn=on_cores(cores))
        deadline = time.monotonic() + 10
        while socket.socket().connect_ex(("127.0.0.1", self.port)) != 0:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"PgBouncer did not listen: {self.folder}/pgbouncer.log")
            time.sleep(0.02)

    def url_of(self, database_url: str) -> str:
        """`database_url`'s database, through PgBouncer."""
        return f"postgres://billing@127.0.0.1:{self.port}/{database_url.rsplit('/', 1)[1]}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)


class Server:
    """`billing serve` on `cores`, on a free port, over the cluster's database."""

    def __init__(self, binary: Path, env: dict[str, str], cores: frozenset[int]) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.env = {**env, "BILLING_LISTEN": f"127.0.0.1:{port}"}
        started = time.monotonic()
        self.process = subprocess.Popen([str(binary), "serve"], env=self.env,
                                        preexec_fn=on_cores(cores))
        self.startup_seconds = self.wait_ready() - started

    def wait_ready(self, limit: float = 30.0) -> float:
        """Waits until `/ready` answers 200; returns when it did."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base}/ready", timeout=1) as response:
                    if response.status == 200:
                        return time.monotonic()
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass  # not listening, or not ready, yet
            time.sleep(0.01)
        raise RuntimeError(f"the server was not ready within {limit} s")

    def token(self, client: dict[str, str]) -> str:
        """An access token for `client` from the token endpoint."""
        request = urllib.request.Request(
            f"{self.base}/oauth/client_credential/accesstoken?grant_type=client_credentials",
            method="POST", headers={"Authorization": "Basic " + basic_credentials(client)})
        with urllib.request.urlopen(request) as response:
            return json.load(response)["access_token"]

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def basic_credentials(client: dict[str, str]) -> str:
    return base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
