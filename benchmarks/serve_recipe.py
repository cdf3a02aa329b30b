"""The common recipe that ``benchmarks/serve.py`` measures headstart serve against: one process per model, a FastAPI
endpoint around sentence-transformers ``encode`` and a logistic-regression head.

    python benchmarks/serve_recipe.py HEAD.npz PORT

HEAD.npz holds the head's ``coef``, ``intercept`` and ``classes`` (written by serve.py; read without pickle).
"""

from __future__ import annotations

import sys

import numpy as np
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from sentence_transformers import SentenceTransformer

ENCODER = "sentence-transformers/all-MiniLM-L6-v2"


class Inputs(BaseModel):
    inputs: list[str]


def make_app(head_file: str, encoder_folder: str) -> FastAPI:
    head = np.load(head_file, allow_pickle=False)
    coef, intercept, classes = head["coef"], head["intercept"], head["classes"].tolist()
    encoder = SentenceTransformer(encoder_folder, device="cpu")
    encoder.max_seq_length = 256
    app = FastAPI()

    @app.post("/predict")
    def predict(body: Inputs) -> list[dict]:  # a sync endpoint: FastAPI runs it in its thread pool
        vectors = encoder.encode(body.inputs, batch_size=32, show_progress_bar=False)
        logits = vectors @ coef.T + intercept
        if logits.shape[1] == 1:  # scikit-learn's binary head has one column
            logits = np.hstack([-logits, logits])
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return [{"label": classes[int(row.argmax())], "score": float(row.max())} for row in p]

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    return app


if __name__ == "__main__":
    from headstart.packaged import MINILM

    # Keep-alive as long as a run: under load a connection can idle past uvicorn's 5 s while the others are served.
    app = make_app(sys.argv[1], str(MINILM.folder()))
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="error", timeout_keep_alive=600)
