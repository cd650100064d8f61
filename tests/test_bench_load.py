"""bench/load.py reads hey's summary: a real hey against a real server on 127.0.0.1, a latency hey gives
no figure for shown as such, never as a number."""

import math
import time

from bench.load import latency_cell, median_of_measured, run_hey
from tests.conftest import on_path, require_tool
from tests.loopback_http import LoopbackServer


def slow_answer(target: str) -> tuple:
    time.sleep(0.05)  # at one request in flight, a second gives hey about 20 answers
    return 200, {"Content-Type": "text/plain"}, b"ok"


def test_a_run_of_fewer_than_100_answers_has_a_median_but_no_99th_percentile():
    require_tool("hey", on_path("hey"))  # make setup installs it as root
    with LoopbackServer(slow_answer) as server:
        result = run_hey(server.url + "/", seconds=1, concurrency=1, headers={}, method="GET")
    assert 0 < result.ok < 100 and result.errors == 0
    assert result.p50_ms >= 50
    assert math.isnan(result.p99_ms)
    assert latency_cell(result.p99_ms) == "–" and latency_cell(result.p50_ms) == f"{result.p50_ms:.1f}"


def test_the_median_over_rounds_leaves_out_the_rounds_without_the_figure():
    assert median_of_measured([math.nan, 7.0, 5.0]) == 6.0
    assert math.isnan(median_of_measured([math.nan, math.nan]))
