"""The benchmark (with its peers, bench/peers/) and the profiler run and write their tables: a few seconds
per step, nothing timed or asserted on speed."""

import json
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.conftest import on_path, require_tool
from torchserve_runner import REPO
from torchserve_runner.auth_proxy import nginx_binary
from torchserve_runner.process_tree import is_alive, kill
from torchserve_runner.server import workers_of

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(autouse=True)
def load_tools_installed():
    require_tool("hey", on_path("hey"))  # make setup installs it as root
    require_tool("nginx", nginx_binary)  # the front door's row


def test_smoke_benchmark_writes_its_table(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bench.run_bench", "--smoke", "--out-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = (tmp_path / "results.md").read_text()
    for setup in (
        "project: 28x28 PNG",
        "project: 280x280 RGB PNG",
        "instances of 8",
        "GET /ping",
        "TorchServe defaults",
    ):
        assert setup in table
    results = json.loads((tmp_path / "results.json").read_text())
    assert all(row["errors"] == 0 and row["ok"] > 0 for row in results["rows"])
    assert results["in_process_images_per_second"]["1"] > 0
    assert (tmp_path / "chart.png").stat().st_size > 0
    # The peers: each measured beside the project at c=1 to 64 without an error, each after answering the
    # test digit (a 7) once with the handler's answer, and none left running.
    peers = results["peers"]
    assert {(row["name"], row["concurrency"]) for row in peers["rows"]} == {
        (name, concurrency)
        for name in ("project", "pod-direct", "front-door", "fastapi", "litserve", "seed")
        for concurrency in (1, 8, 32, 64)
        if not (name == "front-door" and concurrency > 32)  # past its admission the proxy sheds load
    }
    assert all(row["errors"] == 0 and row["ok"] > 0 for row in peers["rows"])
    for name in ("project", "pod-direct", "front-door", "fastapi", "litserve", "seed"):
        assert peers["answers"][name]["correct"], peers["answers"][name]
        assert peers["answers"][name]["answer"]["digit"] == 7
    for setup in ("FastAPI + uvicorn", "LitServe", "the seed's design", "front door", "## Peers", "## Targets"):
        assert setup in table
    # the targets are reported from this run's figures, each with a verdict
    targets = table.split("## Targets (issues #12 and #24)")[1]
    assert targets.count("| yes |") + targets.count("| no |") == 6
    assert not peers.get("left_running")
    # The phone photos, 1 MP and 12 MP, each answered (no 4xx: the digit read) straight and through the front
    # door, with the workers' CPU per photo.
    photos = results["photos"]
    assert {(row["name"], row["concurrency"]) for row in photos["rows"]} == {
        (f"{setup} {photo}", concurrency)
        for setup in ("pod-direct", "front-door")
        for photo in ("phone_1mp", "phone_12mp")
        for concurrency in (1, 8)
    }
    assert all(row["errors"] == 0 and row["ok"] > 0 and row["worker_cpu_ms_per_photo"] > 0 for row in photos["rows"])
    assert "## Phone photos" in table
    assert not results["front_door_left_running"]  # the pod's setup both measurements shared
    leftovers = [
        p.info["cmdline"]
        for p in psutil.process_iter(["cmdline"])
        if "bench.peers" in " ".join(p.info["cmdline"] or [])
    ]
    assert not leftovers


def test_smoke_profile_accounts_for_the_cpu_and_the_workers_time(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bench.profile_serving", "--seconds", "3", "--out-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = (tmp_path / "profile.md").read_text()
    for row in (
        "| Java frontend |",
        "| worker 0 |",
        "| worker 1 |",
        "| hey (load generator) |",
        "| handler: forward pass |",
    ):
        assert row in report
    # py-spy saw both workers serve: their stacks name the handler's forward pass.
    for worker in ("profile_worker0.txt", "profile_worker1.txt"):
        assert "MnistHandler.inference" in (tmp_path / worker).read_text()


def test_a_bench_run_ended_by_sigterm_stops_the_servers_it_started(tmp_path):
    """The servers run in sessions of their own, so a `kill` of the bench (not Ctrl-C) must end it through
    its finally blocks: here while a TorchServe of compare_configs has started its workers."""
    run = subprocess.Popen(
        [sys.executable, "-m", "bench.compare_configs", "--rounds", "1", "--seconds", "60", "--concurrency", "1"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    family = []
    try:
        family = started_workers(psutil.Process(run.pid), within_seconds=300)
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=120) == 128 + signal.SIGTERM  # exited through SystemExit, not killed on the spot
        psutil.wait_procs(family, timeout=30)
        assert not [member for member in family if is_alive(member)]
    finally:
        run.kill()
        kill([member for member in family if is_alive(member)])  # what a failing run left, not the next test's


def started_workers(bench: psutil.Process, within_seconds: float) -> list:
    """The bench's descendants once a TorchServe worker is among them (polled, bounded)."""
    deadline = time.monotonic() + within_seconds
    while time.monotonic() < deadline:
        family = bench.children(recursive=True)
        if workers_of(family):
            return family
        time.sleep(0.5)
    raise AssertionError(f"no TorchServe worker started within {within_seconds} s")
