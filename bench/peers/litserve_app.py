"""LitServe with the project's batching and worker count (config/config.properties: batchSize, maxBatchDelay,
default_workers_per_model), one torch thread per inference worker, on the CPU; LitServe's default of one
API-server process per worker in front.

    python -m bench.peers.litserve_app --port 8000

LitServe parses the JSON body in its API server; prepare_request gets the parsed dict (TorchServe's
decode_input_request=true path of the same function).
"""

import argparse

import litserve as ls
import torch
from fastapi import HTTPException

from bench import SERVING
from bench.peers import common
from client.torchserve_api import MODEL_NAME


class MnistAPI(ls.LitAPI):
    def setup(self, device):
        torch.set_num_threads(1)
        self.model = common.load_model()

    def decode_request(self, request):
        prepared = common.prepare(request)
        if prepared.error is not None:
            raise HTTPException(prepared.error.status, prepared.error.as_json())
        return prepared

    def batch(self, inputs):
        return list(inputs)

    def predict(self, requests):
        return [answer for _, answer in common.answers(self.model, requests)]

    def unbatch(self, output):
        return output

    def encode_response(self, output):
        return output


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    api = MnistAPI(
        max_batch_size=SERVING.batch_size,
        batch_timeout=SERVING.max_batch_delay_ms / 1000,
        api_path=f"/predictions/{MODEL_NAME}",
    )
    server = ls.LitServer(api, accelerator="cpu", devices=1, workers_per_device=SERVING.workers, timeout=30)
    server.run(host="127.0.0.1", port=args.port, generate_client_file=False, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
