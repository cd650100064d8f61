"""Benchmark the MNIST service on this machine, against its own limits, in one run (127.0.0.1 only).

    python -m bench.run_bench            # full run, ~6 minutes: writes bench/results/ and prints the table
    python -m bench.run_bench --smoke    # a few seconds per step: checks the benchmark itself works

It starts TorchServe with the project's config (and once with TorchServe's defaults), drives load with
hey, and measures in the same run the two ceilings the figures are compared with: /ping through the same
frontend, and decode + preprocess + forward in plain Python processes (no HTTP), as many as workers.
"""

import argparse
import base64
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

from bench.load import LoadResult, run_hey  # noqa: E402
from client.images import encode  # noqa: E402
from torchserve_runner import CONFIG, LOG_CONFIG, REPO, TorchServe, built_model_store  # noqa: E402
from training.data import DEFAULT_DATA_ROOT, mnist  # noqa: E402

RESULTS = REPO / "bench" / "results"
DEFAULTS_CONFIG = REPO / "bench" / "torchserve_defaults.properties"
WORKERS = 2  # config/config.properties: default_workers_per_model
BATCH_SIZE = 8  # config/config.properties: batchSize
# Requests in flight for the multi-image rows: enough to fill a batch in each worker. With fewer (c=8),
# the frontend puts all 8 requests into one worker's batch while the other idles (bench/README.md).
BATCHED_CONCURRENCY = WORKERS * BATCH_SIZE


def sample_images() -> dict:
    """The payloads: an MNIST 28x28 PNG, and the same digit as a 280x280 RGB picture, dark on white."""
    digit, _ = mnist(DEFAULT_DATA_ROOT, train=False)[0]
    photo = ImageOps.invert(digit).resize((280, 280), Image.Resampling.BICUBIC).convert("RGB")
    return {"mnist_28": encode(digit), "photo_280": encode(photo)}


def write_bodies(images: dict, folder: Path) -> dict:
    """JSON request bodies on disk, for hey's -D."""
    b64 = {name: base64.b64encode(data).decode() for name, data in images.items()}
    bodies = {name: {"base64": text} for name, text in b64.items()}
    for count in (8, 32, 64):
        bodies[f"instances_{count}"] = {"instances": [{"base64": b64["mnist_28"]}] * count}
    paths = {}
    for name, body in bodies.items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps(body))
    return paths


def in_process_worker(args) -> int:
    """Images through the handler's own preparation + forward in `seconds`, with one torch thread."""
    png, per_forward, seconds = args
    # The handler's modules import each other by bare name, as inside the .mar.
    sys.path[:0] = [str(REPO / "handler"), str(REPO / "model")]
    torch.set_num_threads(1)
    from request_pipeline import prepare_request
    from model.loading import load_model

    model = load_model()
    done = 0
    deadline = time.monotonic() + seconds
    with torch.inference_mode():
        while time.monotonic() < deadline:
            batch = torch.cat([prepare_request({"body": png}).images for _ in range(per_forward)])
            torch.softmax(model(batch), dim=1)
            done += per_forward
    return done


def in_process_limit(png: bytes, per_forward: int, seconds: float) -> float:
    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
        counts = pool.map(in_process_worker, [(png, per_forward, seconds)] * WORKERS)
    return sum(counts) / seconds


def start(config: Path, workdir: Path, model_store: Path, extra_env: dict, log_config: Path = LOG_CONFIG, settings: dict = None) -> tuple:
    started = time.monotonic()
    server = TorchServe(workdir, model_store, extra_env=extra_env, config=config, log_config=log_config, settings=settings).start()
    server.wait_until_ready(min_workers=WORKERS)
    return server, time.monotonic() - started


def json_headers(server: TorchServe) -> dict:
    """What hey sends with every request: the inference key and the JSON content type."""
    return server.inference_headers("application/json")


def measure(args, model_store: Path, workdir: Path) -> dict:
    bodies = write_bodies(sample_images(), workdir)
    seconds = args.seconds
    results = {"rows": []}

    def load(server, label, body, concurrency, images_per_request=1, method="POST", path="/predictions/mnist"):
        headers = json_headers(server)
        url = f"{server.inference_url}{path}"
        run_hey(url, min(2, seconds), concurrency, headers, body, method)  # warm-up, not recorded
        result: LoadResult = run_hey(url, seconds, concurrency, headers, body, method)
        row = {"setup": label, "concurrency": concurrency, "images_per_request": images_per_request, **vars(result)}
        row["images_per_second"] = result.requests_per_second * images_per_request
        results["rows"].append(row)
        print(f"{label:<40} c={concurrency:<3} {row['requests_per_second']:>9.0f} req/s {row['images_per_second']:>9.0f} img/s "
              f"p50 {result.p50_ms:6.1f} ms p99 {result.p99_ms:6.1f} ms errors {result.errors}", flush=True)

    concurrencies = (32,) if args.smoke else (1, 8, 32, 64)
    server, results["cold_start_s"] = start(CONFIG, workdir / "project", model_store, {})
    try:
        results["rss_before_mib"] = server.rss_mib()
        for concurrency in concurrencies:
            load(server, "project: 28x28 PNG", bodies["mnist_28"], concurrency)
        load(server, "project: 280x280 RGB PNG", bodies["photo_280"], 32)
        for count in (8,) if args.smoke else (8, 32, 64):
            load(server, f"project: instances of {count}", bodies[f"instances_{count}"], BATCHED_CONCURRENCY, images_per_request=count)
        load(server, "project: GET /ping (frontend ceiling)", None, 32, method="GET", path="/ping")
        results["rss_after_mib"] = server.rss_mib()
    finally:
        server.stop()

    threads = {"MNIST_TORCH_THREADS": str(os.cpu_count())}  # torch's default: one thread per core
    # TorchServe's defaults throughout: its config, torch's threads and its built-in logging.
    server, results["defaults_cold_start_s"] = start(DEFAULTS_CONFIG, workdir / "defaults", model_store, threads, log_config=None)
    try:
        load(server, "TorchServe defaults: 28x28 PNG", bodies["mnist_28"], 32)
    finally:
        server.stop()

    png = sample_images()["mnist_28"]
    results["in_process_images_per_second"] = {
        str(n): in_process_limit(png, n, seconds) for n in ((1,) if args.smoke else (1, 64))
    }
    print(f"in-process limit ({WORKERS} processes x 1 thread): {results['in_process_images_per_second']}", flush=True)
    return results


def markdown(results: dict) -> str:
    machine = f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, {platform.platform()}"
    versions = f"torch {torch.__version__}, TorchServe 0.12.0, Python {platform.python_version()}"
    lines = [
        "# MNIST service benchmark",
        "",
        f"Machine: {machine}. Versions: {versions}. Load generator (hey) on the same machine, 127.0.0.1.",
        "",
        "| setup | concurrency | images/request | req/s | images/s | p50 ms | p90 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"]:
        lines.append(
            f"| {row['setup']} | {row['concurrency']} | {row['images_per_request']} | {row['requests_per_second']:,.0f} | "
            f"{row['images_per_second']:,.0f} | {row['p50_ms']:.1f} | {row['p90_ms']:.1f} | {row['p99_ms']:.1f} | {row['errors']} |"
        )
    limits = ", ".join(f"{int(v):,} images/s with {k} image(s) per forward" for k, v in results["in_process_images_per_second"].items())
    lines += [
        "",
        f"In-process limit (decode + preprocess + forward, {WORKERS} processes x 1 torch thread, no HTTP): {limits}.",
        f"Cold start to READY: {results['cold_start_s']:.1f} s (project config), {results['defaults_cold_start_s']:.1f} s (defaults).",
        f"RSS before load: {results['rss_before_mib']}; after: {results['rss_after_mib']} (MiB).",
        "",
        "![throughput and p99 against concurrency](chart.png)",
        "",
    ]
    return "\n".join(lines)


def chart(results: dict, path: Path) -> None:
    single = [r for r in results["rows"] if r["setup"] == "project: 28x28 PNG"]
    concurrency = [r["concurrency"] for r in single]
    figure, throughput_axes = plt.subplots(figsize=(7, 4))
    throughput_axes.plot(concurrency, [r["requests_per_second"] for r in single], "o-", label="req/s (28x28 PNG)")
    ping = [r for r in results["rows"] if "ping" in r["setup"]]
    if ping:
        throughput_axes.axhline(ping[0]["requests_per_second"], linestyle=":", color="grey", label="/ping ceiling")
    throughput_axes.set(xscale="log", xlabel="concurrency", ylabel="requests/s", xticks=concurrency, xticklabels=concurrency)
    latency_axes = throughput_axes.twinx()
    latency_axes.plot(concurrency, [r["p99_ms"] for r in single], "s--", color="tab:red", label="p99 ms")
    latency_axes.set_ylabel("p99 latency (ms)")
    figure.legend(loc="upper center", ncol=3, fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 0.93))
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="1 s per step, fewer steps: proves the benchmark runs")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.seconds = 1 if args.smoke else 10
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        store = built_model_store(workdir / "model_store")
        results = measure(args, store, workdir)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    chart(results, args.out_dir / "chart.png")
    table = markdown(results)
    (args.out_dir / "results.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
