"""The main job on real data in a few seconds: airline customer sentiment, the frozen default, a held-out score."""

from __future__ import annotations

import time

import numpy as np

from .data import sample_per_class
from .datasets import load_airline
from .metrics import evaluate_model
from .params import Rule, Whole, check
from .strategies import FrozenEncoderClassifier
from .strategies.base import SEED


def run_demo(n_per_class: int = 100, test_size: int = 1000, seed: int = 0) -> dict:
    """Train ``FrozenEncoderClassifier()`` on ``n_per_class`` tweets of each sentiment and score it on ``test_size``
    others: returns the model, the evaluation report, the fit's seconds and the sizes."""
    check("n_per_class", n_per_class, Rule((Whole(1),)))
    check("test_size", test_size, Rule((Whole(1),)))
    check("seed", seed, SEED)
    texts, labels = load_airline()
    y = np.asarray(labels)
    test = np.random.default_rng(seed).permutation(len(y))[:test_size]
    train = sample_per_class(y, n_per_class, seed, pool=np.setdiff1d(np.arange(len(y)), test))
    started = time.perf_counter()
    model = FrozenEncoderClassifier().fit([texts[i] for i in train], y[train].tolist())
    fit_seconds = time.perf_counter() - started
    report = evaluate_model(model, [texts[i] for i in test], y[test].tolist())
    return {
        "model": model,
        "report": report,
        "fit_seconds": fit_seconds,
        "train_size": len(train),
        "test_size": len(test),
    }
