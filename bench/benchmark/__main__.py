"""`python3 -m benchmark [run] [options]`: measure, write target/bench/<run>.json and .md;
`render RUN.json`: the markdown again from a run's results; `compare A.json B.json`: two
runs' figures side by side. `make bench` runs it from bench/."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from . import plan, report, run
from .processes import ROOT

# `--no-targets` is the option's former name, still understood.
NO_GATES = ("--no-gates", "--no-targets")


def main(argv: list[str]) -> int:
    options = arguments(argv)
    if options.command == "render":
        results = json.loads(options.results.read_text())
        return write_report(results, options.results.with_suffix(".md"), not options.no_gates)
    if options.command == "compare":
        return compare(*(json.loads(path.read_text()) for path in options.results))
    for tool in ("wrk", "pgbench", "psql"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (Debian: apt-get install wrk postgresql-client)")
    if not shutil.which(str(options.oha)):
        raise SystemExit(f"{options.oha} is not installed (`make bench` installs it into .tools/)")
    if options.smoke:
        options.customers, options.invoices_per_customer, options.seconds = 100, 20, 1
        options.bill_run_cycles = 20
    results = run.execute(options)
    out = ROOT / "target" / ("bench-smoke" if options.smoke else "bench")
    out.mkdir(parents=True, exist_ok=True)
    stamp = results["meta"]["started"].replace("-", "").replace(":", "").replace("+0000", "")
    path = out / f"{stamp}-{results['meta']['commit']}.json"
    path.write_text(json.dumps(results, indent=1) + "\n")
    return write_report(results, path.with_suffix(".md"), not (options.no_gates or options.smoke))


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    measure = commands.add_parser("run", help="measure (the default)")
    measure.add_argument("--customers", type=int, default=10_000)
    measure.add_argument("--invoices-per-customer", type=int, default=100)
    measure.add_argument("--seconds", type=int, default=10, help="seconds a measurement")
    measure.add_argument("--bill-run-cycles", type=int, default=100,
                         help="invoices per customer in the bill run (100: a million)")
    measure.add_argument("--smoke", action="store_true",
                         help="a small, short run that shows every measurement works; no gate is checked")
    measure.add_argument(*NO_GATES, action="store_true", help="report a regressed gate without failing")
    measure.add_argument("--binary", type=Path, default=ROOT / "target" / "release" / "billing")
    measure.add_argument("--probe", type=Path, default=ROOT / "target" / "release" / "billing-bench")
    # `make bench` installs oha, the open-loop load generator, and names it in BENCH_OHA.
    measure.add_argument("--oha", type=Path, default=Path(os.environ.get("BENCH_OHA", "oha")),
                         help="oha (default: $BENCH_OHA, which `make bench` sets)")
    measure.add_argument("--baseline", type=Path,
                         help="another billing binary (an earlier commit's) to measure list bills against")
    render = commands.add_parser("render", help="write RUN.md again from RUN.json")
    render.add_argument("results", type=Path)
    render.add_argument(*NO_GATES, action="store_true", help="report a regressed gate without failing")
    both = commands.add_parser("compare", help="two runs' figures side by side")
    both.add_argument("results", type=Path, nargs=2)
    if not argv or argv[0].startswith("-"):
        argv = ["run", *argv]
    options = parser.parse_args(argv)
    if options.command == "run":
        options.binary, options.probe = options.binary.resolve(), options.probe.resolve()
        options.baseline = options.baseline.resolve() if options.baseline else None
    return options


def write_report(results: dict, path: Path, check_gates: bool) -> int:
    """Writes the markdown of `results` to `path`, prints it; non-zero when a measurement
    failed or, with `check_gates`, a gate regressed. A goal missed never fails it."""
    markdown, regressed, failed = report.render(results, check_gates)
    path.write_text(markdown)
    print(markdown, end="")
    print(f"(written to {path})")
    if failed or regressed:
        print(f"{len(failed)} failed measurement(s), {len(regressed)} regressed gate(s)", file=sys.stderr)
        return 1
    return 0


def compare(first: dict, second: dict) -> int:
    print(f"| figure | {first['meta']['commit']} | {second['meta']['commit']} |")
    print("| --- | ---: | ---: |")
    for figure in plan.FIGURES:
        a, b = (report.evaluate(results, figure) for results in (first, second))
        print(f"| {figure.label} | {a.shown()} | {b.shown()} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
