"""The load generators' figures can fail: wrk against a small HTTP server of the test's own
that answers every request with a status of the test's choosing."""

from __future__ import annotations

import http.server
import os
import re
import threading
import time
import unittest
from pathlib import Path

from benchmark import load
from benchmark.run import code_pattern


class Answering(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the server's `status` and a short JSON body."""
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b'{"ok": false}'
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class Quiet(http.server.ThreadingHTTPServer):
    """Says nothing of a connection its client reset (oha's, when it stops)."""

    def handle_error(self, request, client_address) -> None:
        pass


def serving(status: int) -> http.server.ThreadingHTTPServer:
    server = Quiet(("127.0.0.1", 0), Answering)
    server.status = status
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class WrkTest(unittest.TestCase):
    cores = frozenset(os.sched_getaffinity(0))

    def measure(self, status: int, expect: int | str) -> dict:
        server = serving(status)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        env = {"BENCH_TOKEN": "wrong", "BENCH_EXPECT": str(expect), "BENCH_CUSTOMERS": "3"}
        return load.wrk(url, 2, 1, "bills.lua", env, self.cores, {})

    def test_every_answer_a_401_where_200s_are_expected_fails_the_row_with_its_counts(self):
        with self.assertRaises(load.MeasurementFailed) as failed:
            self.measure(status=401, expect=200)
        self.assertRegex(str(failed.exception), r"\d+ requests, \d+ unexpected statuses")
        self.assertIn("first other 401", str(failed.exception))

    def test_a_500_fails_the_row_too(self):
        with self.assertRaises(load.MeasurementFailed):
            self.measure(status=500, expect=200)

    def test_the_expected_status_gives_figures(self):
        figures = self.measure(status=401, expect=401)
        self.assertGreater(figures["requests"], 0)
        self.assertGreater(figures["rps"], 0)
        self.assertIn("load", figures["cpu_us"])

    def test_any_of_several_expected_statuses_gives_figures_with_the_200s_counted(self):
        refused = self.measure(status=429, expect="200,429")
        self.assertGreater(refused["rps"], 0)
        self.assertEqual(refused["ok_rps"], 0)
        served = self.measure(status=200, expect="200,429")
        self.assertAlmostEqual(served["ok_rps"], served["rps"], delta=served["rps"] * 0.01)

    def test_a_status_outside_several_expected_ones_fails_the_row(self):
        with self.assertRaises(load.MeasurementFailed) as failed:
            self.measure(status=401, expect="200,429")
        self.assertIn("expected 200,429, first other 401", str(failed.exception))

    def test_a_socket_that_cannot_connect_fails_the_row(self):
        server = serving(200)
        port = server.server_address[1]
        server.shutdown()
        server.server_close()
        with self.assertRaises(load.MeasurementFailed) as failed:
            load.wrk(f"http://127.0.0.1:{port}/", 2, 1, "bills.lua",
                     {"BENCH_TOKEN": "x"}, self.cores, {})
        self.assertIn("unable to connect", str(failed.exception))


@unittest.skipUnless(os.environ.get("BENCH_OHA"), "BENCH_OHA names no oha (`make bench-test` sets it)")
class OfferedTest(unittest.TestCase):
    """oha at a fixed rate: its figures count what was answered, and every answer that was
    not a 200, without failing."""
    cores = frozenset(os.sched_getaffinity(0))

    def offer(self, status: int, rate: float, seconds: int) -> load.Offered:
        server = serving(status)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        url = f"http://127.0.0.1:{server.server_address[1]}/customers/(1|2|3)[0-9]{{2}}/bills"
        return load.Offered(Path(os.environ["BENCH_OHA"]), url, rate, "a-token", self.cores, seconds)

    def test_answers_at_the_offered_rate_for_its_seconds(self):
        figures = self.offer(200, rate=200, seconds=2).wait()
        self.assertAlmostEqual(figures["rps"], 200, delta=60)
        self.assertEqual(figures["ok_rps"], figures["rps"])
        self.assertEqual(figures["errors"], 0)
        self.assertEqual(figures["offered_rps"], 200)
        self.assertLessEqual(figures["p50_ms"], figures["p99_ms"])
        self.assertLessEqual(figures["p99_ms"], figures["max_ms"])

    def test_answers_other_than_200_are_errors_not_a_failure(self):
        figures = self.offer(500, rate=100, seconds=1).wait()
        self.assertGreater(figures["errors"], 0)
        self.assertEqual(figures["ok_rps"], 0)

    def test_stopped_early_it_reports_what_it_offered_until_then(self):
        offered = self.offer(200, rate=100, seconds=3600)
        time.sleep(1.5)
        started = time.monotonic()
        figures = offered.finish()
        self.assertLess(time.monotonic() - started, 10)
        self.assertGreater(figures["requests"], 50)


class CodePatternTest(unittest.TestCase):
    """The customer codes oha asks for are all of bulk customers, and most of them."""

    def test_every_code_it_matches_is_in_the_range_and_at_least_half_the_range_is(self):
        for first, count in ((1_000_001, 10_000), (1_000_001, 100), (1_000_001, 1), (1_000_001, 20),
                             (1_000_001, 12_345), (999, 2)):
            pattern = re.compile(code_pattern(first, count))
            matched = [code for code in range(first - 1000, first + count + 1000)
                       if pattern.fullmatch(str(code))]
            self.assertTrue(all(first <= code < first + count for code in matched), (first, count))
            self.assertGreaterEqual(len(matched), max(count // 2, 1), (first, count))


if __name__ == "__main__":
    unittest.main()
