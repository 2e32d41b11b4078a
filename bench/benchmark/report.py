"""The markdown tables of a run, rendered from its raw results (JSON): its measurements, its
figures, the gates it must pass and the goals it is measured against."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from . import plan


class NotMeasured(Exception):
    """A figure whose inputs a failed measurement did not give; its text says which."""


@dataclass
class Figure:
    """A figure of the run: what the plan says of it (`spec`), its value and its operands;
    no value when a measurement it reads failed (`reason` says which)."""
    spec: plan.Ratio | plan.Paired
    value: float | None
    operands: tuple[float, float] | None = None
    reason: str = ""

    def shown(self) -> str:
        """The value as the report writes it, with its operands."""
        if self.value is None:
            return f"not measured ({self.reason})"
        shown = self.spec.format.format(self.value)
        if self.operands:
            shown += f" ({readable(self.operands[0])} ÷ {readable(self.operands[1])})"
        return shown

    def regressed(self) -> bool:
        """Whether the figure is past its gate (never when it has none or was not measured)."""
        gate = self.spec.gate
        return gate is not None and self.value is not None and not gate.bound.met_by(self.value)


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
    """The value at `path` (dotted) in `record`; a run of a plan before the field was added
    to it has none."""
    value = record
    for name in path.split("."):
        if name not in value:
            raise NotMeasured(f"{path} was not measured")
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


def evaluate(results: dict, figure: plan.Ratio | plan.Paired) -> Figure:
    """The value of a `plan.Ratio` or `plan.Paired` in `results`."""
    try:
        if isinstance(figure, plan.Paired):
            pairs = [p for p in results["pairs"].get(figure.group, []) if "failed" not in p]
            if not pairs:
                raise NotMeasured(f"no pair of {figure.group} was measured")
            ratios = [field(pair, figure.numerator)
                      / (field(pair, figure.denominator) if figure.denominator else 1)
                      for pair in pairs]
            return Figure(figure, statistics.median(ratios))
        numerator = value_of(results, figure.numerator)
        if figure.denominator is None:
            return Figure(figure, numerator)
        denominator = value_of(results, figure.denominator) / figure.scale
        return Figure(figure, numerator / denominator, (numerator, denominator))
    except NotMeasured as missing:
        return Figure(figure, None, reason=str(missing))


def render(results: dict, check_gates: bool) -> tuple[str, list[str], list[str]]:
    """The markdown of `results`, the figures past their gates (none when `check_gates` is
    false), and the measurements that failed."""
    figures = [evaluate(results, figure) for figure in plan.FIGURES]
    regressed = [f"{f.spec.label}: {f.shown()}, gate {gate_text(f.spec)}"
                 for f in figures if check_gates and f.regressed()]
    failed = [f"{key}: {m['failed']}" for key, m in results["measurements"].items() if "failed" in m]
    failed += [f"{group}, a pair: {p['failed']}" for group, pairs in results["pairs"].items()
               for p in pairs if "failed" in p]
    lines = header(results["meta"]) + measurement_table(results) + pairs_table(results)
    lines += figure_table(figures) + gate_table(figures, check_gates) + goal_table(figures)
    lines += plan_lines(results["plans"])
    if regressed:
        lines += ["", "Regressed gates:", ""] + [f"- {line}" for line in regressed]
    if failed:
        lines += ["", "Failed measurements:", ""] + [f"- {line}" for line in failed]
    key = figures[plan.FIGURES.index(plan.KEY_RATIO)]
    goal = goal_text(plan.KEY_RATIO.goal) + (f": {distance_text(key)}" if key.value is not None else "")
    lines += ["", f"Key ratio: {key.shown()} of what PostgreSQL serves on the statement the server "
                  f"runs, every process on every core (goal {goal})."]
    return "\n".join(lines) + "\n", regressed, failed


def bound_text(op: str, level: str) -> str:
    """A bound as the report writes it: `≥ 0.5`."""
    return f"{plan.SYMBOLS[op]} {level}"


def gate_text(spec: plan.Ratio | plan.Paired) -> str:
    """A gate as the report writes it: its level, from the run of record's value and the
    noise on the worse side (`≥ 0.93 (0.98 − 5 %)`, `≤ 1.99 (1.59 + 25 %)`)."""
    gate = spec.gate
    worse = "−" if gate.op == ">=" else "+"
    return (f"{bound_text(gate.op, spec.format.format(gate.bound.level))} "
            f"({spec.format.format(gate.measured)} {worse} {percent(gate.noise.fraction)})")


def goal_text(goal: plan.Goal) -> str:
    """A goal as the plan gives it, with no digit more: `≥ 0.5`, `≤ 1.15`."""
    return bound_text(goal.op, f"{goal.level:,g}")


def distance_text(figure: Figure) -> str:
    """How far a figure is from its goal: `met`, `24 % short` (of a `>=` goal) or `176 % over`
    (a `<=` goal); blank when it was not measured."""
    if figure.value is None:
        return ""
    goal = figure.spec.goal
    distance = goal.distance(figure.value)
    if distance == 0:
        return "met"
    return f"{percent(distance)} {'short' if goal.op == '>=' else 'over'}"


def percent(fraction: float) -> str:
    """A fraction as a whole percentage (`24 %`), `< 1 %` where that would read 0."""
    return f"{fraction * 100:,.0f} %" if fraction >= 0.005 else "< 1 %"


def header(meta: dict) -> list[str]:
    layouts = "; ".join(
        f"{name}: {layout['describe']}, the server with a pool of {layout['pool_size']} connections "
        f"and {layout['workers']} HTTP workers" for name, layout in meta["layouts"].items())
    lines = [f"# Benchmark {meta['started']}, commit {meta['commit']}", "",
             f"{meta['cores']} cores; {meta['customers']:,} customers × {meta['invoices_per_customer']} "
             f"invoices (+ one with 10,000 and one with 10), loaded by `billing seed` in "
             f"{meta['load_seconds']:.1f} s; {meta['seconds']} s a measurement. Layouts: {layouts}."]
    if meta["smoke"]:
        lines += ["", "Smoke run: the figures mean nothing and no gate is checked."]
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


def figure_table(figures: list[Figure]) -> list[str]:
    lines = ["", "Figures:", "", "| figure | value |", "| --- | ---: |"]
    lines += [f"| {figure.spec.label} | {figure.shown()} |" for figure in figures]
    return lines


def gate_table(figures: list[Figure], check_gates: bool) -> list[str]:
    """The figures with a gate: the run fails when one has regressed (verdicts are left out
    when the gates are not checked)."""
    lines = ["", "Gates (a regression fails the run):", "", "| figure | value | gate | |",
             "| --- | ---: | --- | --- |"]
    for figure in figures:
        if figure.spec.gate is None:
            continue
        verdict = "" if not check_gates or figure.value is None else (
            "**regressed**" if figure.regressed() else "met")
        lines.append(f"| {figure.spec.label} | {figure.shown()} | {gate_text(figure.spec)} | {verdict} |")
    return lines


def goal_table(figures: list[Figure]) -> list[str]:
    """The figures with a goal, and how far each is from it; none fails the run."""
    lines = ["", "Goals (reported, never failing the run):", "", "| figure | value | goal | distance |",
             "| --- | ---: | --- | --- |"]
    lines += [f"| {figure.spec.label} | {figure.shown()} | {goal_text(figure.spec.goal)} | "
              f"{distance_text(figure)} |" for figure in figures if figure.spec.goal is not None]
    return lines


def plan_lines(plans: list[dict]) -> list[str]:
    lines = ["", "Plans of the server's statements, for the 10,000-bill customer:", ""]
    for shown in plans:
        lines += [f"{shown['shape']}:", "", "```", shown["plan"], "```", ""]
    return lines
