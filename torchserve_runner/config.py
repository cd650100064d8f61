"""The values of config/config.properties that tests, the bench and the proxy's checks need, read from
the file itself so that no figure (8 MiB, 2 workers, batches of 8) is copied by hand."""

import json
from dataclasses import dataclass
from pathlib import Path

from torchserve_runner.server import CONFIG


@dataclass(frozen=True)
class ServingConfig:
    max_request_size: int  # bytes; larger bodies get TorchServe's 413
    workers: int  # default_workers_per_model
    batch_size: int
    max_batch_delay_ms: int
    response_timeout_s: int
    job_queue_size: int  # requests waiting for a worker; more get 503
    netty_threads: int  # number_of_netty_threads: requests read (and copied into the heap) at once

    @property
    def admitted(self) -> int:
        """Requests the frontend holds at most, each with its body in the heap: queued, in the workers'
        batches, being parsed."""
        return self.job_queue_size + self.workers * self.batch_size + self.netty_threads


def read_properties(path: Path = CONFIG) -> dict:
    """key -> value of a .properties file as TorchServe writes it (one key=value a line, # comments)."""
    properties = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")):
            key, _, value = line.partition("=")
            properties[key.strip()] = value.strip()
    return properties


def serving_config(path: Path = CONFIG) -> ServingConfig:
    properties = read_properties(path)
    (model,) = json.loads(properties["models"])["mnist"].values()
    return ServingConfig(
        max_request_size=int(properties["max_request_size"]),
        workers=int(properties["default_workers_per_model"]),
        batch_size=model["batchSize"],
        max_batch_delay_ms=model["maxBatchDelay"],
        response_timeout_s=model["responseTimeout"],
        job_queue_size=int(properties["job_queue_size"]),
        netty_threads=int(properties["number_of_netty_threads"]),
    )
