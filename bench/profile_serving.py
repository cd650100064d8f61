"""Where the time goes while TorchServe serves one kind of request (default: single 28x28 PNGs at c=32)
on 127.0.0.1.

Two views of one load window (hey, bounded by --seconds):
- CPU: the seconds each process used (Java frontend, each Python worker, hey, py-spy), as a share of
  the machine's cores;
- inside each worker: py-spy samples (idle included) sorted into the steps of a request, from waiting
  for the frontend to sending the answer back.

    python -m bench.profile_serving              # 20 s (make profile); writes bench/results/profile.md
    python -m bench.profile_serving --seconds 3  # the test suite's smoke run
    python -m bench.profile_serving --body instances_64 --concurrency 8

The collapsed stacks (profile_worker*.txt) open in https://www.speedscope.app or flamegraph.pl.
"""

import argparse
import os
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from bench import RESULTS, SERVING
from bench.load import hey_command, parse_summary
from bench.payloads import write_bodies
from torchserve_runner import REPO, TorchServe, built_model_store
from torchserve_runner.process_tree import cpu_seconds, stop_servers_on_sigterm

PY_SPY = REPO / ".venv" / "bin" / "py-spy"

# A sample belongs to the first step whose marker is in its stack (checked in this order).
STEPS = [
    ("waiting for the frontend (idle)", "_retrieve_buffer"),
    ("TorchServe: reading the request message", "retrieve_msg"),
    ("handler: decoding the image (image_decoding)", "image_decoding.py"),
    ("handler: MNIST normalisation (to_mnist_tensor)", "to_mnist_tensor"),
    ("handler: rest of preprocess", "MnistHandler.preprocess"),
    ("handler: forward pass", "MnistHandler.inference"),
    ("handler: postprocess", "MnistHandler.postprocess"),
    ("TorchServe: metrics, response encoding and sending", ""),
]


def child_cpu_seconds(process: subprocess.Popen) -> float:
    """Wait for a child and return the CPU seconds it used (its rusage, which only wait4 gives)."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
    return usage.ru_utime + usage.ru_stime


def worker_steps(collapsed: Path) -> Counter:
    """py-spy's collapsed stacks ("frame;frame;... count" lines) summed per request step."""
    steps = Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        steps[next(name for name, marker in STEPS if marker in stack)] += int(count)
    return steps


def profile(server: TorchServe, body: Path, concurrency: int, seconds: int, out_dir: Path) -> dict:
    frontend = server.frontend()
    workers = server.workers()
    url, headers = server.prediction_url, server.inference_headers("application/json")
    subprocess.run(hey_command(url, 2, concurrency, headers, body), capture_output=True, check=True)

    before = {p.pid: cpu_seconds(p.pid) for p in (frontend, *workers)}
    spies = [
        subprocess.Popen(
            [
                str(PY_SPY),
                "record",
                "--pid",
                str(w.pid),
                "--duration",
                str(seconds),
                "--rate",
                "100",
                "--idle",
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(out_dir / f"profile_worker{i}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i, w in enumerate(workers)
    ]
    hey = subprocess.Popen(hey_command(url, seconds, concurrency, headers, body), stdout=subprocess.PIPE, text=True)
    load = parse_summary(hey.stdout.read())
    cpu = {"hey (load generator)": child_cpu_seconds(hey)}
    cpu["Java frontend"] = cpu_seconds(frontend.pid) - before[frontend.pid]
    for i, worker in enumerate(workers):
        cpu[f"worker {i}"] = cpu_seconds(worker.pid) - before[worker.pid]
    cpu["py-spy (profiler)"] = sum(child_cpu_seconds(spy) for spy in spies)
    steps = [worker_steps(out_dir / f"profile_worker{i}.txt") for i in range(len(workers))]
    return {
        "load": load,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "worker_steps": steps,
        "body": body.stem,
        "concurrency": concurrency,
    }


def markdown(result: dict) -> str:
    load, seconds, cores = result["load"], result["seconds"], os.cpu_count()
    lines = [
        f"# Where the time goes: {result['body']} as JSON base64, c={result['concurrency']}",
        "",
        f"{seconds} s of hey on 127.0.0.1 with the project's config: {load.requests_per_second:,.0f} req/s, "
        f"p99 {load.p99_ms:.1f} ms, {load.errors} errors, while py-spy sampled both workers at 100 Hz.",
        "",
        f"## CPU ({cores} cores = {cores * 100} % available)",
        "",
        "| process | CPU seconds | share of one core |",
        "|---|---:|---:|",
    ]
    for name, used in result["cpu_seconds"].items():
        lines.append(f"| {name} | {used:.1f} | {100 * used / seconds:.0f} % |")
    total = sum(result["cpu_seconds"].values())
    lines += [
        f"| all | {total:.1f} | {100 * total / seconds:.0f} % |",
        "",
        "## Inside the workers (py-spy samples, idle included)",
        "",
    ]
    header = " | ".join(f"worker {i}" for i in range(len(result["worker_steps"])))
    lines += [f"| step | {header} |", "|---|" + "---:|" * len(result["worker_steps"])]
    for name, _ in STEPS:
        shares = []
        for steps in result["worker_steps"]:
            total_samples = sum(steps.values()) or 1
            shares.append(f"{100 * steps[name] / total_samples:.0f} %")
        lines.append(f"| {name} | {' | '.join(shares)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    stop_servers_on_sigterm()  # a `kill` ends the run through its finally blocks, servers stopped
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--body", default="mnist_28", help="mnist_28, photo_280 or instances_8/32/64")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        store = built_model_store(workdir / "model_store")
        body = write_bodies(workdir)[args.body]
        server = TorchServe(workdir / "server", store).start()
        try:
            server.wait_until_ready(min_workers=SERVING.workers)
            result = profile(server, body, args.concurrency, args.seconds, args.out_dir)
        finally:
            server.stop()
    report = markdown(result)
    (args.out_dir / "profile.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
