"""Benchmarks, profile, soak and the adversarial corpus: load on 127.0.0.1 only, every run bounded.

Every server the bench loads (TorchServe through torchserve_runner, the peers through bench/peers/servers.py)
offers the same few things: prediction_url, inference_headers(content_type), wait_until_ready(), and
stop(), which returns the PIDs still alive after it.
"""

from pathlib import Path

from torchserve_runner import serving_config

RESULTS = Path(__file__).resolve().parent / "results"
# The project's workers and batching (config/config.properties): every setup of the bench runs this shape.
SERVING = serving_config()
