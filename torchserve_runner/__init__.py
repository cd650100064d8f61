"""Run a real TorchServe with the project's config, the one way for tests, benchmarks, soak and profiler:

    from torchserve_runner import TorchServe, built_model_store

    store = built_model_store(workdir / "store")          # build_mar.sh on the working tree
    server = TorchServe(workdir / "server", store).start()
    try:
        server.wait_until_ready(min_workers=2)
        server.client().predict(png)                       # client.torchserve_api.MnistService
        server.frontend(), server.workers(), server.rss_mib(), server.inference_headers("image/png")
    finally:
        server.stop()

No pytest here: the tests' fixtures (tests/conftest.py) are built on this package, not the other way round.
"""

from torchserve_runner.archive import build_mar, built_model_store, copy_build_inputs, served_graph
from torchserve_runner.config import ServingConfig, read_properties, serving_config
from torchserve_runner.server import (
    CONFIG,
    CONTAINER_ENTRYPOINT,
    LOG_CONFIG,
    REPO,
    TORCHSERVE,
    TorchServe,
    free_port,
    frontend_of,
    workers_of,
)

__all__ = [
    "CONFIG",
    "CONTAINER_ENTRYPOINT",
    "LOG_CONFIG",
    "REPO",
    "ServingConfig",
    "TORCHSERVE",
    "TorchServe",
    "build_mar",
    "built_model_store",
    "copy_build_inputs",
    "free_port",
    "read_properties",
    "served_graph",
    "serving_config",
    "frontend_of",
    "workers_of",
]
