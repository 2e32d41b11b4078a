"""Gates and goals: a gate that regresses fails the run, a goal missed does not, and the
distance to a goal is reported right on either side. On the run of record's raw results,
changed where a test says."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import unittest
from pathlib import Path

from benchmark import __main__ as command
from benchmark import plan, report

RESULTS = Path(__file__).resolve().parents[1] / "results"


def run_of_record() -> Path:
    """The raw results of the newest run committed in bench/results/."""
    return max(RESULTS.glob("*.json"))


def measurement_of(results: dict, group: str) -> dict:
    """The one measurement of `group` in `results`."""
    found = [m for m in results["measurements"].values() if m["group"] == group]
    if len(found) != 1:
        raise AssertionError(f"{len(found)} measurements of {group}")
    return found[0]


def figure_of(label_start: str) -> plan.Ratio | plan.Paired:
    """The plan's figure whose label starts so."""
    return next(f for f in plan.FIGURES if f.label.startswith(label_start))


class BoundTest(unittest.TestCase):
    def test_a_goal_of_at_least_gives_how_far_short_the_value_falls(self):
        self.assertAlmostEqual(plan.Goal(">=", 0.5).distance(0.38), 0.24)
        self.assertAlmostEqual(plan.Goal(">=", 1000).distance(250), 0.75)

    def test_a_goal_of_at_most_gives_how_far_over_the_value_goes(self):
        self.assertAlmostEqual(plan.Goal("<=", 2).distance(5.52), 1.76)
        self.assertAlmostEqual(plan.Goal("<=", 1.15).distance(1.38), 0.2)

    def test_a_goal_met_or_passed_is_no_distance(self):
        for goal, value in ((plan.Goal(">=", 0.5), 0.5), (plan.Goal(">=", 0.5), 0.9),
                            (plan.Goal("<=", 2), 2), (plan.Goal("<=", 2), 0.1)):
            self.assertTrue(goal.met_by(value))
            self.assertEqual(goal.distance(value), 0)

    def test_a_gate_lies_its_noise_away_on_the_worse_side(self):
        noise = plan.Noise(0.10, "a test's")
        self.assertAlmostEqual(plan.Gate(">=", 0.80, noise).bound.level, 0.72)
        self.assertAlmostEqual(plan.Gate("<=", 40, noise).bound.level, 44)
        self.assertTrue(plan.Gate(">=", 0.80, noise).bound.met_by(0.75))
        self.assertFalse(plan.Gate("<=", 40, noise).bound.met_by(45))

    def test_a_bound_is_at_least_or_at_most(self):
        with self.assertRaises(ValueError):
            plan.Goal("<", 64)

    def test_the_report_writes_the_distance_short_of_a_goal_or_over_it(self):
        more = plan.Ratio("a figure the more the better", "values.more", goal=plan.Goal(">=", 0.5))
        less = plan.Ratio("a figure the less the better", "values.less", goal=plan.Goal("<=", 2))
        self.assertEqual(report.distance_text(report.Figure(more, 0.38)), "24 % short")
        self.assertEqual(report.distance_text(report.Figure(more, 0.499)), "< 1 % short")
        self.assertEqual(report.distance_text(report.Figure(more, 0.51)), "met")
        self.assertEqual(report.distance_text(report.Figure(less, 5.52)), "176 % over")
        self.assertEqual(report.distance_text(report.Figure(less, 1.9)), "met")
        self.assertEqual(report.distance_text(report.Figure(less, None, reason="failed")), "")


class PlanTest(unittest.TestCase):
    def test_every_gate_says_why_its_noise_is_what_it_is(self):
        for figure in plan.FIGURES:
            if figure.gate:
                with self.subTest(figure.label):
                    self.assertIn(figure.gate.op, plan.SYMBOLS)
                    self.assertGreater(figure.gate.noise.fraction, 0)
                    self.assertLess(figure.gate.noise.fraction, 1)
                    self.assertTrue(figure.gate.noise.why)

    def test_the_key_ratio_has_a_goal(self):
        self.assertIsNotNone(plan.KEY_RATIO.goal)


class GatesAndGoalsTest(unittest.TestCase):
    """The run's verdict, as `make bench` and `render` give it, on the run of record."""

    def setUp(self) -> None:
        self.results = json.loads(run_of_record().read_text())
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.folder = Path(folder.name)

    def verdict(self, results: dict, check_gates: bool = True) -> tuple[int, str, str]:
        """The exit status of a report of `results`, its markdown and what it said on
        standard error."""
        path = self.folder / "run.md"
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = command.write_report(results, path, check_gates)
        self.assertEqual(out.getvalue(), path.read_text() + f"(written to {path})\n")
        return status, path.read_text(), err.getvalue()

    def gate_row(self, markdown: str, label: str) -> str:
        gates = markdown.split("\nGates ")[1].split("\nGoals ")[0]
        return next(line for line in gates.splitlines() if line.startswith(f"| {label} |"))

    def goal_row(self, markdown: str, label: str) -> str:
        goals = markdown.split("\nGoals ")[1].split("\nPlans ")[0]
        return next(line for line in goals.splitlines() if line.startswith(f"| {label} |"))

    def test_the_run_of_record_passes_every_gate(self):
        status, markdown, err = self.verdict(self.results)
        self.assertEqual(status, 0, err)
        self.assertNotIn("**regressed**", markdown)
        self.assertNotIn("Regressed gates", markdown)
        for figure in plan.FIGURES:
            if not figure.gate:
                continue
            row = self.gate_row(markdown, figure.label)
            if "was not measured" in row:
                # A gate the plan gained after the run of record, which has no such field.
                continue
            self.assertTrue(row.endswith("| met |"), figure.label)

    def test_a_regressed_gate_fails_the_run_and_says_which(self):
        forged = figure_of("forged-token requests")
        measurement_of(self.results, "forged")["rps"] /= 2
        status, markdown, err = self.verdict(self.results)
        self.assertEqual(status, 1)
        self.assertIn("1 regressed gate(s)", err)
        self.assertTrue(self.gate_row(markdown, forged.label).endswith("| **regressed** |"))
        regressed = markdown.split("Regressed gates:\n\n")[1].splitlines()
        self.assertEqual(len([line for line in regressed if line.startswith("- ")]), 1)
        self.assertRegex(regressed[0], rf"^- {forged.label}: 0\.\d\d .*, gate ≥ 0\.\d\d ")

    def test_a_figure_a_little_worse_than_the_run_of_record_but_within_its_noise_passes(self):
        measurement_of(self.results, "forged")["rps"] *= 0.95
        status, markdown, _ = self.verdict(self.results)
        self.assertEqual(status, 0)
        self.assertNotIn("**regressed**", markdown)

    def test_a_goal_missed_further_does_not_fail_the_run(self):
        for pair in self.results["pairs"]["key"]:
            pair["bills"]["rps"] = pair["pgbench"]["rps"] / 10
        status, markdown, err = self.verdict(self.results)
        self.assertEqual(status, 0, err)
        row = self.goal_row(markdown, plan.KEY_RATIO.label)
        self.assertTrue(row.endswith("| 0.10 | ≥ 0.5 | 80 % short |"), row)

    def test_the_goals_the_run_of_record_misses_are_reported_with_their_distance(self):
        _, markdown, _ = self.verdict(self.results)
        row = self.goal_row(markdown, plan.KEY_RATIO.label)
        self.assertRegex(row, r"\| 0\.\d\d \| ≥ 0\.5 \| \d+ % short \|$")
        self.assertIn("Key ratio: ", markdown.splitlines()[-1])
        self.assertIn("(goal ≥ 0.5: ", markdown.splitlines()[-1])

    def test_a_key_ratio_not_measured_has_no_distance(self):
        self.results["pairs"]["key"] = [{"failed": "a test's failure"}]
        status, markdown, _ = self.verdict(self.results)
        self.assertEqual(status, 1)
        self.assertTrue(markdown.splitlines()[-1].endswith("every core (goal ≥ 0.5)."),
                        markdown.splitlines()[-1])

    def test_gates_not_checked_report_no_verdict_and_fail_nothing(self):
        forged = figure_of("forged-token requests")
        measurement_of(self.results, "forged")["rps"] /= 2
        status, markdown, _ = self.verdict(self.results, check_gates=False)
        self.assertEqual(status, 0)
        self.assertEqual(self.gate_row(markdown, forged.label).rsplit("|", 2)[1].strip(), "")
        self.assertNotIn("Regressed gates", markdown)

    def test_a_failed_measurement_fails_the_run_and_its_gate_is_not_measured(self):
        forged = figure_of("forged-token requests")
        failed = measurement_of(self.results, "forged")
        for name in [name for name in failed if name not in ("group", "label", "layout", "kind", "level")]:
            del failed[name]
        failed["failed"] = "a test's failure"
        status, markdown, err = self.verdict(self.results)
        self.assertEqual(status, 1)
        self.assertIn("1 failed measurement(s), 0 regressed gate(s)", err)
        self.assertRegex(self.gate_row(markdown, forged.label),
                         r"\| not measured \(forged at \d+ failed\) \|")

    def test_render_and_its_former_option_name(self):
        path = self.folder / "run.json"
        measurement_of(self.results, "forged")["rps"] /= 2
        path.write_text(json.dumps(self.results))
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(command.main(["render", str(path)]), 1)
            self.assertEqual(command.main(["render", str(path), "--no-gates"]), 0)
            self.assertEqual(command.main(["render", str(path), "--no-targets"]), 0)
        self.assertTrue(path.with_suffix(".md").exists())


if __name__ == "__main__":
    unittest.main()
