"""Shared fixtures: a tiny random BERT built in-process (fast), a private cache, small labeled data."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest
from transformers import BertConfig, BertModel, BertTokenizerFast

WORDS = (
    "good great love happy excellent wonderful fine nice best awesome bad awful hate terrible worst poor broken late "
    "lost rude the a flight bag seat crew service was is my our and very really not today again"
).split()


def make_tiny_encoder(folder: Path, seed: int = 0, hidden_size: int = 32) -> Path:
    """Save a 2-layer BERT with a small vocabulary and a fast tokenizer to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, model_max_length=64)
    tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden_size,
        max_position_embeddings=64,
    )
    import torch

    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> str:
    return str(make_tiny_encoder(tmp_path_factory.mktemp("tiny-bert")))


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch) -> Path:
    """Every test gets its own cache folder, so no test sees another's vectors."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("HEADSTART_CACHE", str(folder))
    return folder


def sentiment_data(n_per_class: int = 20, seed: int = 0) -> tuple[list[str], list[str]]:
    """Separable toy sentiment: positive texts use positive words, negative texts negative words."""
    rng = random.Random(seed)
    positive, negative = WORDS[:10], WORDS[10:20]
    filler = WORDS[20:]
    texts, labels = [], []
    for label, words in (("pos", positive), ("neg", negative)):
        for _ in range(n_per_class):
            picked = rng.sample(words, 3) + rng.sample(filler, 3)
            rng.shuffle(picked)
            texts.append(" ".join(picked))
            labels.append(label)
    return texts, labels


@pytest.fixture
def toy_data() -> tuple[list[str], list[str]]:
    return sentiment_data()


def headless_chromium(tmp_path: Path) -> tuple[str, list[str]]:
    """The chromium binary and the flags that run it headless with a private profile; skips the test without one,
    but fails it where ``HEADSTART_REQUIRE_BROWSER=1`` (CI), so that a missing browser is never passed unseen."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        missing = "chromium is not installed; apt-get install chromium gives it (.ci/run installs it)"
        if os.environ.get("HEADSTART_REQUIRE_BROWSER") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ]
    return chromium, flags
