"""The plain design: FastAPI on uvicorn with its standard extras (httptools, uvloop), one forward pass per
request, no batching. Started by bench/peers/servers.py as

    uvicorn bench.peers.fastapi_app:app --workers 2 --http httptools --loop uvloop --no-access-log

The body is read as bytes and handed to prepare_request as TorchServe hands it to the handler
(decode_input_request=false); the blocking work runs in Starlette's thread pool, as FastAPI documents for
blocking code (what a plain `def` endpoint does).
"""

import json

import torch
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from bench.peers import common
from client.torchserve_api import MODEL_NAME

torch.set_num_threads(1)  # in each uvicorn worker process: scale with processes, as the handler does
model = common.load_model()
app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


def _answer(body: bytes) -> tuple:
    return common.answers(model, [common.prepare(body)])[0]


@app.post(f"/predictions/{MODEL_NAME}")
async def predict(request: Request) -> Response:
    status, answer = await run_in_threadpool(_answer, await request.body())
    return Response(json.dumps(answer), status_code=status, media_type="application/json")
