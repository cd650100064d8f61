"""Soak: a steady, moderate mix of good and bad requests against a real TorchServe on 127.0.0.1, for a
bounded time, then a verdict: every good request answered correctly, every bad one with its 4xx, memory
growth after warm-up under 10 % and the workers' memory not rising with the requests served, no file
descriptors or temporary files leaking.

    python -m bench.soak                 # 5 minutes (make soak)
    python -m bench.soak --seconds 30    # the test suite's short version

Exit status 0 when every check holds; the report is printed as JSON either way.
"""

import argparse
import base64
import itertools
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from PIL import Image

from bench import SERVING
from client.images import encode
from torchserve_runner import REPO, TorchServe, built_model_store
from torchserve_runner.process_tree import stop_servers_on_sigterm

IMAGES = REPO / "tests" / "images"  # the test suite's sample pictures (data files, not code)
RATE_PER_SECOND = 40  # moderate: a tenth or less of what the machine serves
SENDERS = 4
MAX_GROWTH = 0.10  # the whole family's RSS after warm-up (the JVM's heap grows towards -Xmx by design)
# The workers' RSS, sampled every second, against the requests served so far: its least-squares slope.
# Without a leak it measured 0.7-2.3 KiB a request over 30 s (the allocator still settling, a busy
# machine); a leak of 4 KiB a request, 4.9. So a leak of ~8 KiB a request fails a 30-s run, where the 10 %
# bound needs ~100 KiB a request.
MAX_WORKER_KIB_PER_REQUEST = 8.0


def request_mix() -> list:
    """(name, body, content type, expected status, expected digits or None)."""
    seven = (IMAGES / "seven.png").read_bytes()
    two = (IMAGES / "two_on_paper.jpg").read_bytes()
    instances = json.dumps({"instances": [base64.b64encode(image).decode() for image in (seven, two) * 4]})
    return [
        ("png", seven, "image/png", 200, [7]),
        ("photo", two, "image/jpeg", 200, [2]),
        ("instances", instances.encode(), "application/json", 200, [7, 2] * 4),
        ("bad-base64", b'{"base64": "%%%"}', "application/json", 400, None),
        ("not-an-image", b"hello, not an image!", "application/octet-stream", 415, None),
        ("blank", encode(Image.new("L", (64, 64), 255)), "image/png", 422, None),
    ]


def footprint(server: TorchServe, settle_seconds: float = 10) -> dict:
    """Memory, descriptors, temp files and processes, once the descriptor count has settled (the same in
    two readings half a second apart): closed connections are not counted as leaks."""
    processes = [server.frontend(), *server.workers()]
    deadline = time.monotonic() + settle_seconds
    open_fds = sum(p.num_fds() for p in processes)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        previous, open_fds = open_fds, sum(p.num_fds() for p in processes)
        if open_fds == previous:
            break
    return {
        "rss_mib": round(sum(p.memory_info().rss for p in processes) / 2**20, 1),
        "open_fds": open_fds,
        "temp_files": sum(1 for _ in (server.workdir / "tmp").rglob("*")),
        "processes": len(processes),
    }


def workers_rss_kib(server: TorchServe) -> float:
    return sum(worker.memory_info().rss for worker in server.workers()) / 1024


def soak(server: TorchServe, seconds: float) -> dict:
    mix = request_mix()
    url = server.prediction_url
    counts = {name: 0 for name, *_ in mix}
    unexpected = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    cases = itertools.cycle(mix)

    def sender():
        with requests.Session() as session:  # closed at the end: its connections are not left open
            send(session)

    def send(session):
        interval = SENDERS / RATE_PER_SECOND
        next_send = time.monotonic()
        while time.monotonic() < deadline:
            with lock:
                name, body, content_type, status, digits = next(cases)
            headers = server.inference_headers(content_type)
            try:
                answer = session.post(url, data=body, headers=headers, timeout=35)
                got = answer.json()
                got_digits = [p["digit"] for p in got["predictions"]] if "predictions" in got else [got.get("digit")]
                ok = answer.status_code == status and (digits is None or got_digits == digits)
                outcome = f"{answer.status_code} {got_digits if digits else got.get('type')}"
            except (requests.RequestException, ValueError) as error:
                ok, outcome = False, repr(error)
            with lock:
                counts[name] += 1
                if not ok:
                    unexpected.append(f"{name}: {outcome}")
            next_send += interval
            time.sleep(max(0.0, next_send - time.monotonic()))

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    samples = []  # (requests answered so far, the workers' RSS in KiB), every second
    while any(thread.is_alive() for thread in threads):
        with lock:
            served = sum(counts.values())
        samples.append((served, workers_rss_kib(server)))
        time.sleep(1)
    for thread in threads:
        thread.join()
    return {
        "requests": counts,
        "unexpected": unexpected[:20],
        "unexpected_count": len(unexpected),
        "worker_kib_per_request": statistics.linear_regression(*zip(*samples)).slope if len(samples) > 2 else 0.0,
    }


def main() -> int:
    stop_servers_on_sigterm()  # a `kill` ends the run through its finally blocks, servers stopped
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300)
    args = parser.parse_args()
    warm_up = max(5.0, args.seconds * 0.1)
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        built_model_store(workdir / "store")
        server = TorchServe(workdir / "server", workdir / "store").start()
        try:
            server.wait_until_ready(min_workers=SERVING.workers)
            soak(server, warm_up)
            before = footprint(server)
            result = soak(server, args.seconds)
            after = footprint(server)
        finally:
            server.stop()
    growth = after["rss_mib"] / before["rss_mib"] - 1
    checks = {
        "no unexpected answers": result["unexpected_count"] == 0,
        f"RSS growth after warm-up under {MAX_GROWTH:.0%}": growth < MAX_GROWTH,
        f"workers' RSS rising under {MAX_WORKER_KIB_PER_REQUEST:g} KiB a request": result["worker_kib_per_request"]
        < MAX_WORKER_KIB_PER_REQUEST,
        "no file descriptors leaked": after["open_fds"] <= before["open_fds"],
        "no temporary files leaked": after["temp_files"] <= before["temp_files"],
        "no process lost or added": after["processes"] == before["processes"],
    }
    report = {
        "seconds": args.seconds,
        "rate_per_second": RATE_PER_SECOND,
        **result,
        "total_requests": sum(result["requests"].values()),
        "after_warm_up": before,
        "at_end": after,
        "rss_growth": round(growth, 4),
        "checks": checks,
    }
    print(json.dumps(report, indent=2))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
