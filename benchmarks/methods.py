"""The methods the benchmark suite compares: peers as their users would write them, and headstart's strategies.

Every method is ``fit_predict(train_texts, train_labels, test_texts, seed, encoder_dir) -> (predictions, info)``,
where info holds fit_seconds, predict_seconds and trainable_parameters. Encoder forward passes are counted for
every method alike, by wrapping the encoder classes' ``forward`` (see ``count_forward_passes``).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import headstart

BENCH_CACHE = Path(os.environ.get("HEADSTART_BENCH_CACHE", Path.home() / ".cache" / "headstart-bench"))
MAX_LENGTH = 256
BATCH_SIZE = 32
_forward_calls = {"n": 0}


def count_forward_passes() -> None:
    """Count every encoder forward call (BERT and MPNet), whichever library makes it."""
    from transformers.models.bert import modeling_bert
    from transformers.models.mpnet import modeling_mpnet

    for cls in (modeling_bert.BertModel, modeling_mpnet.MPNetModel):
        if getattr(cls.forward, "_counted", False):
            continue
        original = cls.forward

        def counted(self, *args, _original=original, **kwargs):
            _forward_calls["n"] += 1
            return _original(self, *args, **kwargs)

        counted._counted = True
        cls.forward = counted


def forward_passes() -> int:
    return _forward_calls["n"]


def _timed(action):
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def tfidf(train, y, test, seed, encoder_dir):
    """scikit-learn's TF-IDF (word 1-2 grams) and LogisticRegression, as a user would write them."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(max_iter=2000))
    _, fit_s = _timed(lambda: model.fit(train, y))
    predicted, predict_s = _timed(lambda: model.predict(test))
    return predicted, {
        "fit_seconds": fit_s,
        "predict_seconds": predict_s,
        "trainable_parameters": int(model[-1].coef_.size + model[-1].intercept_.size),
    }


def st_lr(train, y, test, seed, encoder_dir):
    """sentence-transformers ``encode`` (normalised, as the model's pipeline says), then LogisticRegression."""
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression

    encoder = SentenceTransformer(str(encoder_dir), device="cpu")
    encoder.max_seq_length = MAX_LENGTH
    regression = LogisticRegression(max_iter=2000)

    def fit():
        regression.fit(encoder.encode(train, batch_size=BATCH_SIZE, show_progress_bar=False), y)

    _, fit_s = _timed(fit)
    predicted, predict_s = _timed(
        lambda: regression.predict(encoder.encode(test, batch_size=BATCH_SIZE, show_progress_bar=False))
    )
    return predicted, {
        "fit_seconds": fit_s,
        "predict_seconds": predict_s,
        "trainable_parameters": int(regression.coef_.size + regression.intercept_.size),
    }


def setfit(train, y, test, seed, encoder_dir):
    """SetFit 1.x with num_iterations=20 and 1 epoch (the issue's protocol; every other setting at SetFit's default)."""
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    model = SetFitModel.from_pretrained(str(encoder_dir))
    labels = sorted(set(y))
    data = Dataset.from_dict({"text": list(train), "label": [labels.index(v) for v in y]})
    # SetFit writes checkpoints (hundreds of MB) to ./checkpoints by default: keep them out of the work tree.
    with tempfile.TemporaryDirectory() as scratch:
        arguments = TrainingArguments(
            output_dir=scratch, num_iterations=20, num_epochs=1, seed=seed, max_length=MAX_LENGTH, report_to="none"
        )
        trainer = Trainer(model=model, args=arguments, train_dataset=data)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            _, fit_s = _timed(trainer.train)
    predicted, predict_s = _timed(
        lambda: np.asarray(labels)[np.asarray(model.predict(list(test), batch_size=BATCH_SIZE))]
    )
    trainable = sum(p.numel() for p in model.model_body.parameters()) + int(
        model.model_head.coef_.size + model.model_head.intercept_.size
    )
    return predicted, {"fit_seconds": fit_s, "predict_seconds": predict_s, "trainable_parameters": trainable}


def hf_full(train, y, test, seed, encoder_dir, epochs: int = 10, lr: float = 5e-5):
    """transformers ``AutoModelForSequenceClassification`` (its pooler head), fully fine-tuned: AdamW, linear
    schedule."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    torch.manual_seed(seed)
    labels = sorted(set(y))
    tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(encoder_dir), num_labels=len(labels))
    target = torch.tensor([labels.index(v) for v in y])

    def fit():
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        steps = epochs * math.ceil(len(train) / 16)
        schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
        generator = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            for rows in torch.randperm(len(train), generator=generator).split(16):
                batch = tokenizer(
                    [train[i] for i in rows], truncation=True, max_length=MAX_LENGTH, padding=True, return_tensors="pt"
                )
                loss = model(**batch, labels=target[rows]).loss
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
        model.eval()

    def predict():
        out = []
        with torch.inference_mode():
            for start in range(0, len(test), BATCH_SIZE):
                batch = tokenizer(
                    list(test[start : start + BATCH_SIZE]),
                    truncation=True,
                    max_length=MAX_LENGTH,
                    padding=True,
                    return_tensors="pt",
                )
                out.extend(model(**batch).logits.argmax(dim=1).tolist())
        return np.asarray(labels)[out]

    _, fit_s = _timed(fit)
    predicted, predict_s = _timed(predict)
    return predicted, {
        "fit_seconds": fit_s,
        "predict_seconds": predict_s,
        "trainable_parameters": sum(p.numel() for p in model.parameters()),
    }


def _spec(encoder_dir: Path) -> str:
    """headstart's own name for a packaged encoder's folder, else the folder."""
    from headstart.packaged import PACKAGED

    shipped = [p.name for p in PACKAGED if p.installed() and Path(p.folder()) == Path(encoder_dir)]
    return shipped[0] if shipped else str(encoder_dir)


def _headstart(model, train, y, test):
    """Fit cold (no cache: encoding is part of the fit's cost), then predict through the benchmark's cache.

    The encoder is loaded before the clock starts, as the peers' models are.
    """
    headstart.load_encoder(model.get_params().get("encoder"))
    _, fit_s = _timed(lambda: model.fit(list(train), list(y)))
    if "cache" in model.get_params():
        model.set_params(cache=str(BENCH_CACHE))
    predicted, predict_s = _timed(lambda: model.predict(list(test)))
    return predicted, {
        "fit_seconds": fit_s,
        "predict_seconds": predict_s,
        "trainable_parameters": model.training_info_["trainable_parameters"],
    }


def _frozen(train, y, test, seed, encoder_dir, **options):
    """headstart frozen with these options, cold (no cache), in fp32 unless told otherwise: the precision every row
    compares with (the default, ``auto``, is bf16 on CPUs with native bfloat16: ``hs_frozen_bf16``)."""
    model = headstart.FrozenEncoderClassifier(
        encoder=_spec(encoder_dir), max_length=MAX_LENGTH, cache=False, seed=seed, **{"precision": "fp32", **options}
    )
    return _headstart(model, train, y, test)


def hs_frozen(train, y, test, seed, encoder_dir):
    """headstart frozen with its defaults (the last four layers, C by CV), in fp32."""
    return _frozen(train, y, test, seed, encoder_dir)


def hs_frozen_auto(train, y, test, seed, encoder_dir):
    """headstart frozen with its best options: TF-IDF features beside the encoder's (``lexical``), the layer set chosen
    by CV on cached vectors, C by CV."""
    return _frozen(train, y, test, seed, encoder_dir, layers="auto", lexical=True)


def hs_frozen_tokens(train, y, test, seed, encoder_dir):
    """headstart frozen with the token head (``head="tokens"``: the linear probe plus a smooth maximum of per-token
    scores over the last four layers' token states) and TF-IDF features beside the pooled vectors, C by CV."""
    return _frozen(train, y, test, seed, encoder_dir, head="tokens", lexical=True)


def hs_frozen_bf16(train, y, test, seed, encoder_dir):
    """As hs_frozen, with bfloat16 encoding: is the faster back-end within 0.5 pt of fp32? Compared on the defaults,
    whose layers are fixed, so that a back-end difference is not mixed with a flipped layer choice of ``auto``."""
    return _frozen(train, y, test, seed, encoder_dir, precision="bf16")


def hs_frozen_int8(train, y, test, seed, encoder_dir):
    """As hs_frozen, with int8 encoding on ONNX Runtime: is it within 1 pt of fp32?"""
    return _frozen(train, y, test, seed, encoder_dir, precision="int8")


def hs_lpft(train, y, test, seed, encoder_dir):
    """headstart ``lp-ft``: a linear probe on cached frozen features, then every weight fine-tuned from it (but the
    unused pooler; most cells in BENCHMARKS.md predate that and count its 147,840 parameters as trainable, those rerun
    on 2026-12-01 do not, so a row's mean count can fall between the two)."""
    return _headstart(
        headstart.build("lp-ft", encoder=_spec(encoder_dir), max_length=MAX_LENGTH, cache=False, seed=seed),
        train,
        y,
        test,
    )


def hs_full(train, y, test, seed, encoder_dir):
    """headstart ``full``: every weight fine-tuned (but the unused pooler, as for hs_lpft), mean-pooling head, early
    stopping on a held-out split (below 5 held-out examples a class, every epoch on all the data instead)."""
    return _headstart(
        headstart.build("full", encoder=_spec(encoder_dir), max_length=MAX_LENGTH, cache=False, seed=seed),
        train,
        y,
        test,
    )


METHODS = {
    f.__name__: f
    for f in (
        tfidf,
        st_lr,
        setfit,
        hf_full,
        hs_frozen,
        hs_frozen_auto,
        hs_frozen_tokens,
        hs_frozen_bf16,
        hs_frozen_int8,
        hs_lpft,
        hs_full,
    )
}
