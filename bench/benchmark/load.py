"""The load generators: wrk against the server, pgbench against PostgreSQL, and
`billing-bench pages` (the server's own code without HTTP). Each returns its figures, with
the CPU time per request of every watched group of processes and of the generator itself
(`load`), or raises `MeasurementFailed` saying why it has none."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

from .processes import ROOT, cpu_seconds, on_cores

LUA = ROOT / "bench" / "lua"

# Groups of processes whose CPU time a measurement counts, by name.
Watch = dict[str, Callable[[], list[int]]]


class MeasurementFailed(Exception):
    """A measurement that yielded no usable figures; its text says why, with the counts."""


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(args: list[str], env: dict[str, str], cores: frozenset[int], watch: Watch,
             settle: float = 0.0) -> tuple[str, dict[str, float]]:
    """Runs `args` on `cores` to its end; returns what it printed and the CPU seconds each
    group of `watch` and the command itself (`load`) spent meanwhile. `settle` seconds are
    waited before the count ends, for processes that end with the command (a connection's
    backend) to be reaped into their parent's count. The only child reaped meanwhile is the
    command: the servers are reaped when they stop."""
    before = {name: cpu_seconds(pids()) for name, pids in watch.items()}
    own = children_cpu_seconds()
    completed = subprocess.run(args, env=env, text=True, capture_output=True,
                               preexec_fn=on_cores(set(cores)), check=False)
    load = children_cpu_seconds() - own
    time.sleep(settle)
    if completed.returncode != 0:
        tail = " ".join((completed.stderr or completed.stdout).split())[-200:]
        raise MeasurementFailed(f"{Path(args[0]).name} exited {completed.returncode}: {tail}")
    if completed.stderr.strip():
        # wrk reports a script's errors there, and goes on without it.
        raise MeasurementFailed(f"{Path(args[0]).name}: {' '.join(completed.stderr.split())[-200:]}")
    spent = {name: cpu_seconds(pids()) - before[name] for name, pids in watch.items()}
    return completed.stdout, {**spent, "load": load}


def per_request(cpu: dict[str, float], requests: int) -> dict[str, float]:
    return {name: seconds * 1e6 / requests for name, seconds in cpu.items()}


def wrk(url: str, connections: int, seconds: int, script: str, env: dict[str, str],
        cores: frozenset[int], watch: Watch) -> dict:
    """wrk with `script` (bench/lua/) at `connections` for `seconds`. Every answer must have
    a status the script expects (BENCH_EXPECT, comma-separated, 200 by default), and no
    socket may fail."""
    args = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s",
            "-s", str(LUA / script), url]
    output, cpu = measured(args, {**os.environ, "BENCH_LUA_DIR": str(LUA), **env}, cores, watch)
    return wrk_figures(output, cpu)


def wrk_figures(output: str, cpu: dict[str, float]) -> dict:
    """The figures of wrk's run from what it printed, with the CPU seconds `cpu` per
    request; a failure when any answer or socket went wrong."""
    line = next((line for line in output.splitlines() if line.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise MeasurementFailed("wrk printed no result: " + " ".join(output.split())[-200:])
    result = json.loads(line.removeprefix("BENCH_RESULT "))
    errors = {name: result[name] for name in
              ("unexpected_statuses", "connect_errors", "read_errors", "write_errors", "timeouts")}
    if result["requests"] == 0 or any(errors.values()):
        counts = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in errors.items() if count)
        raise MeasurementFailed(
            f"{result['requests']} requests, {counts or 'none answered'} "
            f"(expected {result['expected_status']}, first other {result['first_unexpected_status']})")
    requests = result["requests"]
    return {
        "requests": requests,
        "rps": requests / (result["duration_us"] / 1e6),
        # The answers that were 200s: what a limited client was served.
        "ok_rps": result["ok"] / (result["duration_us"] / 1e6),
        "mean_ms": result["mean_us"] / 1000,
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "max_ms": result["max_us"] / 1000,
        "bytes_per_request": result["bytes"] / requests,
        "cpu_us": per_request(cpu, requests),
    }


class Beside:
    """wrk with `script` at `connections`, running beside another measurement until
    `finish`. Its CPU time is not counted: it shares the time with what it runs beside."""

    def __init__(self, url: str, connections: int, script: str, env: dict[str, str],
                 cores: frozenset[int]) -> None:
        args = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", "-d3600s",
                "-s", str(LUA / script), url]
        self.process = subprocess.Popen(
            args, env={**os.environ, "BENCH_LUA_DIR": str(LUA), **env}, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=on_cores(set(cores)))

    def finish(self) -> dict:
        """Stops wrk (it reports on SIGINT); its figures."""
        self.process.send_signal(signal.SIGINT)
        output, errors = self.process.communicate(timeout=60)
        if errors.strip():
            raise MeasurementFailed(f"wrk: {' '.join(errors.split())[-200:]}")
        return wrk_figures(output, {})


class Offered:
    """oha offering GETs of `url_regex` (a random URL of it each time) at `rate` a second
    with `token`, open loop with latency correction: a request's time is counted from when
    the rate meant it to be sent, so a stalled server shows as the queue it would build.
    Runs for `seconds`, or until `finish`."""

    def __init__(self, oha: Path, url_regex: str, rate: float, token: str, cores: frozenset[int],
                 seconds: int = 3600, connections: int = 64) -> None:
        self.rate = rate
        args = [str(oha), "--no-tui", "--output-format", "json", "-z", f"{seconds}s",
                "-q", f"{rate:.0f}", "--latency-correction", "-c", str(connections),
                "--rand-regex-url", url_regex, "-H", f"Authorization: Bearer {token}"]
        self.process = subprocess.Popen(args, text=True, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, preexec_fn=on_cores(set(cores)))

    def finish(self, stop: bool = True) -> dict:
        """Stops oha (it reports on SIGINT) unless it is to end by itself; its figures:
        answered and 200s per second, latencies, and every answer that was not a 200 or
        did not come (`errors`)."""
        if stop:
            self.process.send_signal(signal.SIGINT)
        output, complaint = self.process.communicate(timeout=None if not stop else 60)
        try:
            report = json.loads(output)
        except json.JSONDecodeError:
            raise MeasurementFailed(f"oha printed no report: {' '.join((complaint or output).split())[-200:]}")
        return offered_figures(report, self.rate)

    def wait(self) -> dict:
        """Its figures once it has run its seconds."""
        return self.finish(stop=False)


def offered_figures(report: dict, rate: float) -> dict:
    """The figures of an oha report (`--output-format json`; times in seconds)."""
    summary, percentiles = report["summary"], report["latencyPercentiles"]
    statuses = {int(status): count for status, count in report.get("statusCodeDistribution", {}).items()}
    # Requests in flight when the run ends are cut off by oha itself, not failed by the server.
    failures = sum(count for error, count in report.get("errorDistribution", {}).items()
                   if error != "aborted due to deadline")
    answered = sum(statuses.values())
    if answered == 0:
        raise MeasurementFailed(f"oha had no answer: {report.get('errorDistribution')}")
    seconds = summary["total"]
    return {
        "requests": answered,
        "offered_rps": rate,
        "rps": answered / seconds,
        "ok_rps": statuses.get(200, 0) / seconds,
        "errors": answered - statuses.get(200, 0) + failures,
        "p50_ms": percentiles["p50"] * 1000,
        "p99_ms": percentiles["p99"] * 1000,
        "max_ms": summary["slowest"] * 1000,
        "cpu_us": {},
    }


def rows_loaded(args: list[str], env: dict[str, str], rows: int, cores: frozenset[int],
                watch: Watch) -> tuple[str, dict]:
    """Runs the load `args`, of `rows` rows, to its end; what it printed, and its rows per
    second, seconds, peak resident memory and CPU time per row (its own as `load`)."""
    before = {name: cpu_seconds(pids()) for name, pids in watch.items()}
    with tempfile.TemporaryFile("w+") as output, tempfile.TemporaryFile("w+") as errors:
        started = time.monotonic()
        process = subprocess.Popen(args, env=env, text=True, stdout=output, stderr=errors,
                                   preexec_fn=on_cores(set(cores)))
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        errors.seek(0)
        printed, complaint = output.read(), errors.read()
    if process.returncode != 0:
        raise MeasurementFailed(
            f"{Path(args[0]).name} exited {process.returncode}: {' '.join(complaint.split())[-200:]}")
    cpu = {name: cpu_seconds(pids()) - before[name] for name, pids in watch.items()}
    cpu["load"] = usage.ru_utime + usage.ru_stime
    return printed, {"requests": rows, "rps": rows / seconds, "seconds": seconds,
                     "peak_rss_mb": usage.ru_maxrss / 1024, "cpu_us": per_request(cpu, rows)}


def pgbench(url: str, clients: int, seconds: int, script: Path, cores: frozenset[int],
            watch: Watch) -> dict:
    """pgbench on `script`, prepared, with `clients`, for `seconds`; no transaction may
    fail. `watch` names PostgreSQL's processes `database`."""
    args = ["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)),
            "-T", str(seconds), "-f", str(script), url]
    # The clients' backends end with pgbench: their CPU time reaches the postmaster's once
    # they are reaped.
    output, cpu = measured(args, dict(os.environ), cores, watch, settle=1.0)
    processed = re.search(r"number of transactions actually processed: (\d+)", output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    tps = re.search(r"tps = ([\d.]+)", output)
    if not (processed and tps):
        raise MeasurementFailed("pgbench printed no result: " + " ".join(output.split())[-200:])
    if failed and int(failed.group(1)):
        raise MeasurementFailed(f"{failed.group(1)} of pgbench's transactions failed")
    transactions = int(processed.group(1))
    return {"requests": transactions, "rps": float(tps.group(1)),
            "cpu_us": per_request(cpu, transactions)}


def pages(probe: Path, env: dict[str, str], layer: str, concurrency: int, seconds: int,
          cores: frozenset[int], watch: Watch) -> dict:
    """First pages of bills read without HTTP by `billing-bench pages`, through `layer`."""
    args = [str(probe), "pages", "--layer", layer, "--seconds", str(seconds),
            "--concurrency", str(concurrency)]
    output, cpu = measured(args, env, cores, watch, settle=1.0)
    read = json.loads(output)
    if read["pages"] == 0:
        raise MeasurementFailed("no page was read")
    return {"requests": read["pages"], "rps": read["pages"] / read["seconds"],
            "cpu_us": per_request(cpu, read["pages"])}
