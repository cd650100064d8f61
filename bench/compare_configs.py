"""A/B the project's config against variants, with hey at one concurrency, in alternating rounds.

Each variant is the project's config/config.properties plus config lines of its own (written into a copy
of the config: TorchServe takes no TS_* overrides here), or with TorchServe's built-in logging instead of
config/log4j2.xml.
Rounds alternate project, variant, project, variant... so a machine that gets busier during the run
does not favour one side. Used for the tuning steps in bench/README.md; load stays on 127.0.0.1.

    python -m bench.compare_configs "netty-1:number_of_netty_threads=1;netty_client_threads=1"
    python -m bench.compare_configs --builtin-logging --rounds 3 --seconds 8
"""

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.load import run_hey
from bench.run_bench import json_headers, sample_images, start, write_bodies
from torchserve_runner import CONFIG, LOG_CONFIG, built_model_store


def parse_variant(text: str) -> tuple:
    """"name:property=value;property=value" -> (name, {property: value}, log config). ";" because values may be JSON."""
    name, _, assignments = text.partition(":")
    overrides = dict(pair.split("=", 1) for pair in assignments.split(";") if pair)
    return name, overrides, LOG_CONFIG


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*", type=parse_variant, help='"name:property=value;..."')
    parser.add_argument("--builtin-logging", action="store_true", help="add a variant with TorchServe's own log4j2 config")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--body", default="mnist_28", help="mnist_28, photo_280 or instances_8/32/64")
    args = parser.parse_args()
    setups = [("project", {}, LOG_CONFIG), *args.variants]  # (name, config lines, log config)
    if args.builtin_logging:
        setups.append(("builtin-logging", {}, None))

    rates = {name: [] for name, _, _ in setups}
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        store = built_model_store(workdir / "model_store")
        body = write_bodies(sample_images(), workdir)[args.body]
        for round_ in range(args.rounds):
            for name, settings, log_config in setups:
                server, _ = start(CONFIG, workdir / f"{name}-{round_}", store, {}, log_config=log_config, settings=settings)
                try:
                    url = f"{server.inference_url}/predictions/mnist"
                    run_hey(url, 2, args.concurrency, json_headers(server), body)  # warm-up
                    result = run_hey(url, args.seconds, args.concurrency, json_headers(server), body)
                finally:
                    server.stop()
                rates[name].append(result.requests_per_second)
                print(f"round {round_ + 1} {name:<24} {result.requests_per_second:8,.0f} req/s  p99 {result.p99_ms:6.1f} ms  "
                      f"errors {result.errors}", flush=True)
    print(f"\nmedian req/s at c={args.concurrency}, {args.body}, {args.rounds} rounds of {args.seconds:g} s:")
    for name, values in rates.items():
        print(f"  {name:<24} {statistics.median(values):8,.0f}   ({', '.join(f'{v:,.0f}' for v in values)})")


if __name__ == "__main__":
    main()
