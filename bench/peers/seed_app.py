"""The seed's own design, as a user would start from it: FastAPI on uvicorn[standard], the picture decoded
from base64, converted to grey, resized to 28x28 and normalised (the seed's stringToImage), one eager
forward pass per request, 2 worker processes. None of the project's preprocessing or bounds: the baseline
issue #24 compares the project with. Started by bench/peers/servers.py as

    uvicorn bench.peers.seed_app:app --workers 2 --http httptools --loop uvloop --no-access-log

FastAPI runs a plain `def` endpoint in its thread pool, as its docs say for blocking code.
"""

import base64
import io

import torch
from fastapi import FastAPI
from PIL import Image
from pydantic import BaseModel

from client.torchserve_api import MODEL_NAME
from model.loading import load_model
from training.data import EVAL_TRANSFORM

torch.set_num_threads(1)  # in each uvicorn worker process, as the other peers and the handler
model = load_model()
app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


class Picture(BaseModel):
    base64: str


def string_to_image(text: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(text))).convert("L").resize((28, 28))


@app.post(f"/predictions/{MODEL_NAME}")
def predict(picture: Picture) -> dict:
    with torch.inference_mode():
        probabilities = torch.softmax(model(EVAL_TRANSFORM(string_to_image(picture.base64)).unsqueeze(0)), dim=1)[0]
    return {"digit": int(probabilities.argmax()), "probabilities": [round(p, 6) for p in probabilities.tolist()]}
