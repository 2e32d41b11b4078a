"""The load generators' figures can fail: wrk against a small HTTP server of the test's own
that answers every request with a status of the test's choosing."""

from __future__ import annotations

import http.server
import os
import threading
import unittest

from benchmark import load


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


def serving(status: int) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answering)
    server.status = status
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class WrkTest(unittest.TestCase):
    cores = frozenset(os.sched_getaffinity(0))

    def measure(self, status: int, expect: int) -> dict:
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

    def test_a_socket_that_cannot_connect_fails_the_row(self):
        server = serving(200)
        port = server.server_address[1]
        server.shutdown()
        server.server_close()
        with self.assertRaises(load.MeasurementFailed) as failed:
            load.wrk(f"http://127.0.0.1:{port}/", 2, 1, "bills.lua",
                     {"BENCH_TOKEN": "x"}, self.cores, {})
        self.assertIn("unable to connect", str(failed.exception))


if __name__ == "__main__":
    unittest.main()
