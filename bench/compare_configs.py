"""A/B the project's config against variants, with hey at one or more concurrencies, in alternating rounds.

Each variant is the project's config/config.properties plus config lines of its own (written into a copy
of the config: TorchServe takes no TS_* overrides here), or with TorchServe's built-in logging instead of
config/log4j2.xml, or the project's config serving the float ONNX graph instead of the int8 one
(build_mar.sh with PRECISION=float), or the .mar built from another checkout (a model change: a git worktree
of an earlier commit serves that commit's weights).
Rounds alternate project, variant, project, variant... so a machine that gets busier during the run
does not favour one side. Used for the tuning steps in bench/README.md; load stays on 127.0.0.1.

    python -m bench.compare_configs "netty-1:number_of_netty_threads=1;netty_client_threads=1"
    python -m bench.compare_configs --builtin-logging --rounds 3 --seconds 8
    python -m bench.compare_configs --float-graph --concurrency 1 32 --body instances_64
    git worktree add /tmp/before HEAD~1 && python -m bench.compare_configs --checkout before:/tmp/before
    python -m bench.compare_configs 'delay-0:models={"mnist": {"1.0": {..., "maxBatchDelay": 0, ...}}}' \
        "workers-3:default_workers_per_model=3" --concurrency 1 32    # variants before --concurrency

With several concurrencies, each round measures every setup at each of them (one start per setup and round).
"""

import argparse
import tempfile
from pathlib import Path

from bench import SERVING
from bench.load import latency_cell, median_of_measured, run_hey
from bench.payloads import write_bodies
from torchserve_runner import LOG_CONFIG, TorchServe, built_model_store
from torchserve_runner.process_tree import stop_servers_on_sigterm


def parse_variant(text: str) -> tuple:
    """ "name:property=value;property=value" -> (name, {property: value}, log config); ";" as values may be JSON."""
    name, _, assignments = text.partition(":")
    overrides = dict(pair.split("=", 1) for pair in assignments.split(";") if pair)
    return name, overrides, LOG_CONFIG


def parse_checkout(text: str) -> tuple:
    """ "name:path" -> (name, Path) of a checkout whose .mar a variant serves."""
    name, _, path = text.partition(":")
    if not path or not Path(path).is_dir():
        raise argparse.ArgumentTypeError(f"expected NAME:PATH with PATH a checkout's folder, got {text!r}")
    return name, Path(path)


def main() -> None:
    stop_servers_on_sigterm()  # a `kill` ends the run through its finally blocks, servers stopped
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*", type=parse_variant, help='"name:property=value;..."')
    parser.add_argument(
        "--builtin-logging", action="store_true", help="add a variant with TorchServe's own log4j2 config"
    )
    parser.add_argument(
        "--float-graph", action="store_true", help="add a variant serving the float ONNX graph, not int8"
    )
    parser.add_argument(
        "--checkout",
        type=parse_checkout,
        action="append",
        default=[],
        metavar="NAME:PATH",
        help="add a variant serving the .mar built from the checkout at PATH (its model, weights and handler)",
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32], help="one or more, e.g. 1 32")
    parser.add_argument("--body", default="mnist_28", help="mnist_28, photo_280 or instances_8/32/64")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        store = built_model_store(workdir / "model_store")
        setups = [("project", {}, LOG_CONFIG, store)]  # (name, config lines, log config, model store)
        setups += [(name, settings, log_config, store) for name, settings, log_config in args.variants]
        if args.builtin_logging:
            setups.append(("builtin-logging", {}, None, store))
        if args.float_graph:
            setups.append(
                ("float-graph", {}, LOG_CONFIG, built_model_store(workdir / "float_store", precision="float"))
            )
        for name, checkout in args.checkout:
            setups.append((name, {}, LOG_CONFIG, built_model_store(workdir / f"{name}_store", checkout)))
        figures = {(name, c): [] for name, *_ in setups for c in args.concurrency}  # LoadResults per round
        body = write_bodies(workdir)[args.body]
        for round_ in range(args.rounds):
            for name, settings, log_config, model_store in setups:
                workers = int(settings.get("default_workers_per_model", SERVING.workers))
                server = TorchServe(
                    workdir / f"{name}-{round_}", model_store, log_config=log_config, settings=settings
                ).start()
                try:
                    server.wait_until_ready(min_workers=workers)
                    url, headers = server.prediction_url, server.inference_headers("application/json")
                    for concurrency in args.concurrency:
                        run_hey(url, 2, concurrency, headers, body)  # warm-up
                        result = run_hey(url, args.seconds, concurrency, headers, body)
                        figures[name, concurrency].append(result)
                        print(
                            f"round {round_ + 1} {name:<24} c={concurrency:<3} "
                            f"{result.requests_per_second:8,.0f} req/s  "
                            f"p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms  errors {result.errors}",
                            flush=True,
                        )
                finally:
                    server.stop()
    for concurrency in args.concurrency:
        print(f"\nmedians at c={concurrency}, {args.body}, {args.rounds} rounds of {args.seconds:g} s:")
        print(f"  {'setup':<24} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}   req/s per round")
        for name, *_ in setups:
            results = figures[name, concurrency]
            median = {
                field: median_of_measured(getattr(r, field) for r in results)
                for field in ("requests_per_second", "p50_ms", "p99_ms")
            }
            print(
                f"  {name:<24} {median['requests_per_second']:8,.0f} "
                f"{latency_cell(median['p50_ms']):>7} {latency_cell(median['p99_ms']):>7}   "
                f"({', '.join(f'{r.requests_per_second:,.0f}' for r in results)})"
            )


if __name__ == "__main__":
    main()
