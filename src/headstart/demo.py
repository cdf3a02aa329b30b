"""The main job on real data in a few seconds: airline customer sentiment, frozen, a held-out score.

It runs on all-MiniLM-L6-v2, not the default encoder: about 5x faster to encode, so the demo stays a few seconds."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from .data import sample_per_class
from .datasets import load_airline
from .metrics import evaluate_model
from .outputs import check_output_file, write_atomic
from .params import Rule, Whole, check
from .strategies import FrozenEncoderClassifier
from .strategies.base import SEED

DEMO_ENCODER = "all-MiniLM-L6-v2"


def run_demo(n_per_class: int = 100, test_size: int = 1000, seed: int = 0) -> dict:
    """Train ``FrozenEncoderClassifier(encoder=DEMO_ENCODER)`` on ``n_per_class`` tweets of each sentiment and score
    it on ``test_size`` others: returns the model, the evaluation report, the fit's seconds, and the training and
    test data."""
    check("n_per_class", n_per_class, Rule((Whole(1),)))
    check("test_size", test_size, Rule((Whole(1),)))
    check("seed", seed, SEED)
    texts, labels = load_airline()
    y = np.asarray(labels)
    test = np.random.default_rng(seed).permutation(len(y))[:test_size]
    train = sample_per_class(y, n_per_class, seed, pool=np.setdiff1d(np.arange(len(y)), test))
    started = time.perf_counter()
    model = FrozenEncoderClassifier(encoder=DEMO_ENCODER).fit([texts[i] for i in train], y[train].tolist())
    fit_seconds = time.perf_counter() - started
    report = evaluate_model(model, [texts[i] for i in test], y[test].tolist())
    return {
        "model": model,
        "report": report,
        "fit_seconds": fit_seconds,
        "train": pd.DataFrame({"text": [texts[i] for i in train], "label": y[train]}),
        "test": pd.DataFrame({"text": [texts[i] for i in test], "label": y[test]}),
    }


DATA_FILES = ("train.csv", "test.csv", "new.txt")


def check_data_folder(folder: Path, force: bool) -> None:
    """Refuse, before any work, to write the demo's files into a folder that is not there, or over files already
    there (without ``force``)."""
    for name in DATA_FILES:
        check_output_file(Path(folder) / name, force, (Path(name).suffix,))


def write_data(result: dict, folder: Path) -> list[Path]:
    """The demo's data as a user's own would be: ``train.csv`` and ``test.csv`` (text, label) and ``new.txt`` (the
    test texts alone, one a line, as texts to predict), so that the README's quick start runs as written."""
    folder = Path(folder)
    write_atomic(folder / "train.csv", lambda p: result["train"].to_csv(p, index=False))
    write_atomic(folder / "test.csv", lambda p: result["test"].to_csv(p, index=False))
    # One text a line: a tweet's own line breaks would split it into two texts.
    lines = [" ".join(text.split()) for text in result["test"]["text"]]
    write_atomic(folder / "new.txt", lambda p: p.write_text("\n".join(lines) + "\n", encoding="utf-8"))
    return [folder / name for name in DATA_FILES]
