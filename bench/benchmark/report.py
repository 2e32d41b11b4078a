"""The markdown table of a run, rendered from its raw results (JSON), and its figures checked
against their targets."""

from __future__ import annotations

import operator
import statistics
from dataclasses import dataclass

from . import plan

TARGET_OPERATORS = {">=": operator.ge, "<=": operator.le, "<": operator.lt, ">": operator.gt}


class NotMeasured(Exception):
    """A figure whose inputs a failed measurement did not give; its text says which."""


@dataclass
class Figure:
    """A figure of the run: its value, its operands, and whether it met its target."""
    label: str
    value: float | None
    operands: tuple[float, float] | None
    target: str
    met: bool | None
    reason: str = ""

    def cells(self, number_format: str) -> tuple[str, str]:
        if self.value is None:
            return f"not measured ({self.reason})", ""
        value = number_format.format(self.value)
        if self.operands:
            value += f" ({readable(self.operands[0])} ÷ {readable(self.operands[1])})"
        verdict = "" if self.met is None else ("met" if self.met else "**missed**")
        return value, verdict


def readable(number: float) -> str:
    """A figure with the digits that matter: none from 100 on, one from 10, else two."""
    return f"{number:,.0f}" if number >= 100 else f"{number:.1f}" if number >= 10 else f"{number:.2f}"


def measurement(results: dict, group: str, level: str) -> dict:
    """The measurement `group@level`; `level` may be `best`, `cheapest`, or either with
    `:<group>` to take another group's level (`plan`'s docstring)."""
    if level.isdigit():
        number = int(level)
    else:
        how, _, of = level.partition(":")
        rows = [m for m in results["measurements"].values()
                if m["group"] == (of or group) and "failed" not in m]
        if not rows:
            raise NotMeasured(f"{of or group} failed")
        pick = max if how == "best" else min
        key = (lambda m: m["rps"]) if how == "best" else (lambda m: m["cpu_us"]["database"])
        number = pick(rows, key=key)["level"]
    found = results["measurements"].get(f"{group}@{number}")
    if found is None or "failed" in found:
        raise NotMeasured(f"{group} at {number} failed" if found else f"{group} at {number} was not run")
    return found


def field(record: dict, path: str) -> float:
    value = record
    for name in path.split("."):
        value = value[name]
    return value


def value_of(results: dict, reference: str) -> float:
    """The value a reference names (`plan`'s docstring); a sum with ` + `."""
    total = 0.0
    for term in reference.split(" + "):
        if term.startswith("values."):
            name = term.removeprefix("values.")
            if name not in results["values"]:
                raise NotMeasured(f"{name} was not measured")
            total += results["values"][name]
            continue
        where, _, path = term.partition(".")
        group, _, level = where.partition("@")
        total += field(measurement(results, group, level), path)
    return total


def evaluate(results: dict, figure) -> Figure:
    """The value of a `plan.Ratio` or `plan.Paired`, and whether it meets its target."""
    try:
        if isinstance(figure, plan.Paired):
            pairs = [p for p in results["pairs"].get(figure.group, []) if "failed" not in p]
            if not pairs:
                raise NotMeasured(f"no pair of {figure.group} was measured")
            ratios = [field(pair, figure.numerator) / field(pair, figure.denominator) for pair in pairs]
            value, operands = statistics.median(ratios), None
        else:
            numerator = value_of(results, figure.numerator)
            if figure.denominator is None:
                value, operands = numerator, None
            else:
                denominator = value_of(results, figure.denominator)
                value, operands = numerator / denominator, (numerator, denominator)
    except NotMeasured as missing:
        return Figure(figure.label, None, None, figure.target, None, str(missing))
    met = None
    if figure.target:
        op, bound = figure.target.split()
        met = TARGET_OPERATORS[op](value, float(bound))
    return Figure(figure.label, value, operands, figure.target, met)


def render(results: dict, check_targets: bool) -> tuple[str, list[str], list[str]]:
    """The markdown table of `results`, the figures that missed their targets (none when
    `check_targets` is false), and the measurements that failed."""
    figures = [evaluate(results, figure) for figure in plan.FIGURES]
    missed = [f"{f.label}: {f.cells(number_format(f))[0]}, target {f.target}"
              for f in figures if check_targets and f.met is False]
    failed = [f"{key}: {m['failed']}" for key, m in results["measurements"].items() if "failed" in m]
    failed += [f"{group}, a pair: {p['failed']}" for group, pairs in results["pairs"].items()
               for p in pairs if "failed" in p]
    lines = header(results["meta"]) + measurement_table(results) + pairs_table(results)
    lines += figure_table(figures, check_targets) + plan_lines(results["plans"])
    if missed:
        lines += ["", "Missed targets:", ""] + [f"- {line}" for line in missed]
    if failed:
        lines += ["", "Failed measurements:", ""] + [f"- {line}" for line in failed]
    key = figures[plan.FIGURES.index(plan.KEY_RATIO)]
    lines += ["", f"Key ratio: {key.cells(number_format(key))[0]} of what PostgreSQL serves on the "
                  "statement the server runs, every process on every core."]
    return "\n".join(lines) + "\n", missed, failed


def number_format(figure: Figure) -> str:
    spec = next(f for f in plan.FIGURES if f.label == figure.label)
    return spec.format


def header(meta: dict) -> list[str]:
    layouts = "; ".join(
        f"{name}: {layout['describe']}, the server with a pool of {layout['pool_size']} connections "
        f"and {layout['workers']} HTTP workers" for name, layout in meta["layouts"].items())
    lines = [f"# Benchmark {meta['started']}, commit {meta['commit']}", "",
             f"{meta['cores']} cores; {meta['customers']:,} customers × {meta['invoices_per_customer']} "
             f"invoices (+ one with 10,000 and one with 10), loaded by `billing seed` in "
             f"{meta['load_seconds']:.1f} s; {meta['seconds']} s a measurement. Layouts: {layouts}."]
    if meta["smoke"]:
        lines += ["", "Smoke run: the figures mean nothing and no target is checked."]
    lines += ["", "pgbench's statements (prepared, random bulk customers):", ""]
    lines += [f"- `{name}`: `{statement}`" for name, statement in meta["statements"].items()]
    return lines


def cpu(row: dict, name: str) -> str:
    return f"{row['cpu_us'][name]:.0f}" if name in row["cpu_us"] else ""


def measurement_table(results: dict) -> list[str]:
    lines = ["", "| measurement | layout | level | per s | p50 ms | p99 ms | max ms | bytes/answer "
                 "| server CPU µs | PostgreSQL CPU µs | load CPU µs |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in results["measurements"].values():
        what = f"| {row['label']} | {row['layout']} | {row['level']} |"
        if "failed" in row:
            lines.append(f"{what} FAILED: {row['failed']} | | | | | | | |")
            continue
        latency = " | ".join(f"{row[k]:.2f}" if k in row else "" for k in ("p50_ms", "p99_ms", "max_ms"))
        size = f"{row['bytes_per_request']:,.0f}" if "bytes_per_request" in row else ""
        lines.append(f"{what} {row['rps']:,.0f} | {latency} | {size} | {cpu(row, 'server')} | "
                     f"{cpu(row, 'database')} | {cpu(row, 'load')} |")
    return lines


def pairs_table(results: dict) -> list[str]:
    lines = ["", "Measured in turns (per second, each pair back to back):", ""]
    for group, pairs in results["pairs"].items():
        shown = ["failed" if "failed" in pair else
                 ", ".join(f"{name} {figures['rps']:,.0f}" for name, figures in pair.items())
                 for pair in pairs]
        lines.append(f"- {group}: " + "; ".join(shown))
    return lines


def figure_table(figures: list[Figure], check_targets: bool) -> list[str]:
    lines = ["", "| figure | value | target | |", "| --- | ---: | --- | --- |"]
    for figure in figures:
        value, verdict = figure.cells(number_format(figure))
        lines.append(f"| {figure.label} | {value} | {figure.target} | {verdict if check_targets else ''} |")
    return lines


def plan_lines(plans: list[dict]) -> list[str]:
    lines = ["", "Plans of the server's statements, for the 10,000-bill customer:", ""]
    for shown in plans:
        lines += [f"{shown['shape']}:", "", "```", shown["plan"], "```", ""]
    return lines
