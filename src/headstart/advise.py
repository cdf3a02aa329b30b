"""``advise``: measure this machine on a sample of the data, estimate each encoder's and strategy's training time,
recommend one of each.

Estimates are built from measured pieces: the encoder's speed on real texts from the data (forward, and forward
plus backward for one training step), how many texts the cache already holds, and the head's cross-validation
timed on the sample's real vectors and scaled to the data's size.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .cache import EmbeddingCache, text_sha
from .data import check_labeled
from .encoders import DEFAULT_ENCODER, combine_layers, fingerprint_of, last_layers, load_encoder, pool
from .errors import HeadstartWarning
from .features import FrozenFeatures
from .heads import make_head, train_head
from .packaged import PACKAGED
from .params import Real, Rule, check
from .strategies.tfidf import TfidfClassifier

SAMPLE = 128
TFIDF_SAMPLE = 4000
LP_FT_FROM = 64  # examples in the median class from which fine-tuning usually pays off


def _timed(what: str, action: Callable[[], object]) -> float:
    """Seconds ``action`` takes; ``what`` names the measurement, so that tests inject timings by name instead of
    comparing wall-clock times, which flakes."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def advise(
    texts: Sequence[str],
    labels: Sequence,
    budget_seconds: float = 600.0,
    encoder: str | None = None,
    max_length: int = 256,
    epochs: int = 10,
    batch_size: int = 16,
    validation_fraction: float = 0.15,
    seed: int = 0,
    encoders: Sequence[str] | None = None,
) -> dict:
    """Estimates of training and prediction time per encoder and strategy, and a recommendation of both, with its
    reason in one sentence each.

    The encoders measured are ``encoders``; else ``encoder``; else every packaged encoder that is installed. The
    largest (by parameters) whose frozen fit fits the budget is recommended: larger encoders usually give more
    accurate frozen features, and it is their encoding that costs."""
    check(
        "budget_seconds",
        budget_seconds,
        Rule((Real(0, low_open=True),), "the training time you can afford, in seconds"),
    )
    data = check_labeled(list(texts), list(labels))
    y = np.unique(np.asarray([str(x) for x in data.labels]), return_inverse=True)[1]
    n, classes = len(y), int(y.max()) + 1
    counts = np.bincount(y)
    # The (lower) median class, not the smallest: one rare class, common in real labels, should not decide for the
    # rest; with two classes it is the smaller one.
    typical, smallest = int(np.sort(counts)[(len(counts) - 1) // 2]), int(counts.min())
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(n, size=min(SAMPLE, n), replace=False))  # in file order: small data is its own sample
    sample = [data.texts[i] for i in picked]
    # A random batch, as training draws them: the sample is in file order, and a file sorted by length would time
    # its shortest (or longest) texts alone, several times off.
    batch = [sample[i] for i in rng.permutation(len(sample))[:batch_size]]
    subset = rng.permutation(n)[:TFIDF_SAMPLE]  # random rows: a file sorted by label must not look like one class
    with warnings.catch_warnings():  # the data's warnings were given above; these would name the subset's codes
        warnings.simplefilter("ignore", HeadstartWarning)
        tfidf_seconds = (
            _timed("tfidf", lambda: TfidfClassifier().fit([data.texts[i] for i in subset], [str(x) for x in y[subset]]))
            * n
            / len(subset)
        )
    names = list(dict.fromkeys(encoders or ([encoder] if encoder is not None else installed_encoders())))
    measured = {}
    for name in names:
        model = load_encoder(name)
        measured[model.name] = _measure_encoder(
            name, data.texts, y, picked, sample, batch, max_length, epochs, validation_fraction, seed
        )
        measured[model.name]["estimated_fit_seconds"]["tfidf"] = tfidf_seconds
    chosen, encoder_reason = _recommend_encoder(measured, budget_seconds, n)
    strategy, reason = _recommend(
        measured[chosen]["estimated_fit_seconds"], budget_seconds, n, typical, smallest, classes
    )
    return {
        "examples": n,
        "classes": classes,
        "median_class": typical,
        "smallest_class": smallest,
        "budget_seconds": budget_seconds,
        "encoder": chosen,
        "encoder_reason": encoder_reason,
        "recommendation": strategy,
        "reason": reason,
        # The recommended encoder's measurements and estimates, and every encoder's.
        **measured[chosen],
        "encoders": measured,
    }


def installed_encoders() -> list[str]:
    """The packaged encoders whose packages are installed (at least the default, whose absence load_encoder reports)."""
    return [p.name for p in PACKAGED if p.installed()] or [DEFAULT_ENCODER]


def _measure_encoder(
    encoder: str | None,
    texts: list[str],
    y: np.ndarray,
    picked: np.ndarray,
    sample: list[str],
    batch: list[str],
    max_length: int,
    epochs: int,
    validation_fraction: float,
    seed: int,
) -> dict:
    """One encoder's measurements on the sample, and the estimates built from them."""
    n, classes = len(y), int(y.max()) + 1
    load_seconds = _timed("load", lambda: load_encoder(encoder))
    model = load_encoder(encoder)
    # The least of two runs: a process's first batches of each shape pay one-off costs (kernel set-up) that a
    # real encoding of the whole data spreads thin.
    forward_per_text = min(
        _timed("forward", lambda: model.encode(sample, max_length=max_length, batch_size=32)) for _ in range(2)
    ) / len(sample)

    cache = EmbeddingCache()
    namespace = FrozenFeatures(encoder=encoder, max_length=max_length).fit().spec_.namespace  # the frozen default's
    cached = len(cache.get_many(namespace, [text_sha(t) for t in texts]))
    cache.close()
    to_encode = len(set(texts)) - cached

    # The frozen default's features (the last four layers), so the head is timed at its real width.
    features = combine_layers(
        torch.from_numpy(model.encode(sample, max_length=max_length)), last_layers(model.num_layers), "concat", True
    ).numpy()
    # The head's CV on the sample's real vectors and labels, scaled to the data's size: each fit's cost grows with
    # the rows, and how long the C path runs depends on how separable the real classes are.
    sample_codes = np.unique(y[picked], return_inverse=True)[1]
    # The least of two runs: a process's first L-BFGS fit pays a one-off warm-up that a real fit, after encoding,
    # does not.
    head_seconds = (
        min(
            _timed(
                "head CV", lambda: train_head(features, sample_codes, int(sample_codes.max()) + 1, "linear", seed=seed)
            )
            for _ in range(2)
        )
        * n
        / len(picked)
    )
    train_step_per_text = _measure_train_step(model, batch, classes, max_length)

    n_val = int(round(validation_fraction * n))
    epoch_full = (n - n_val) * train_step_per_text + n_val * forward_per_text
    frozen = (
        to_encode * forward_per_text + head_seconds + _timed("fingerprint", lambda: fingerprint_of(model.model))
    )  # a fit hashes θ once
    return {
        "parameters": model.parameter_count(),
        "texts_cached": cached,
        "measured": {
            "encoder_load_seconds": load_seconds,
            "encode_texts_per_second": 1 / forward_per_text,
            "train_texts_per_second": 1 / train_step_per_text,
            "head_cv_seconds": head_seconds,
        },
        "estimated_fit_seconds": {
            "zero-shot": classes * forward_per_text,
            "frozen": frozen,
            "partial:2": epochs
            * (
                (n - n_val) * (forward_per_text + (train_step_per_text - forward_per_text) * 2 / model.num_layers)
                + n_val * forward_per_text
            ),
            "lp-ft": frozen + epochs * epoch_full,
            "full": epochs * epoch_full,
        },
        "estimated_predict_seconds_per_1000_texts": 1000 * forward_per_text,
    }


def _recommend_encoder(measured: dict[str, dict], budget: float, n: int) -> tuple[str, str]:
    """The largest encoder whose frozen fit fits the budget (else the fastest), and why, in one sentence."""
    by_size = sorted(measured, key=lambda name: measured[name]["parameters"], reverse=True)
    frozen = {name: measured[name]["estimated_fit_seconds"]["frozen"] for name in by_size}
    fitting = [name for name in by_size if frozen[name] <= budget]
    chosen = fitting[0] if fitting else min(by_size, key=frozen.get)
    if len(by_size) == 1:
        return chosen, f"{chosen} is the only encoder measured."
    others = ", ".join(f"{name} about {frozen[name]:,.0f} s" for name in by_size if name != chosen)
    cost = f"encoding and fitting the {n:,} texts frozen takes about {frozen[chosen]:,.0f} s on it ({others})"
    if not fitting:
        return chosen, f"No encoder fits the {budget:g} s budget frozen; {chosen} is the fastest: {cost}."
    if chosen == by_size[0]:
        return chosen, (
            f"{chosen} is the largest encoder measured, and larger encoders usually give more accurate frozen "
            f"features; {cost}, within the {budget:g} s budget."
        )
    larger = ", ".join(name for name in by_size if frozen[name] > budget)
    return chosen, f"{larger} would exceed the {budget:g} s budget, so {chosen} is the largest that fits: {cost}."


def _measure_train_step(model, texts: list[str], classes: int, max_length: int) -> float:
    """Seconds per text of one forward + backward + AdamW step over the whole encoder: the faster of the second and
    third steps (the first pays one-off set-up; one step alone can also absorb a garbage-collection pause many times
    longer than a small encoder's step)."""
    trainee = copy.deepcopy(model.model).train().requires_grad_(True)
    head = make_head("linear", model.hidden_size, classes)
    optimizer = torch.optim.AdamW(list(trainee.parameters()) + list(head.parameters()), lr=1e-5)
    batch = model.tokenize(texts, max_length)
    target = torch.arange(len(texts)) % classes
    seconds = []
    for _ in range(3):
        started = time.perf_counter()
        states = trainee(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        loss = F.cross_entropy(head(pool(states, batch["attention_mask"], "mean")), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seconds.append(time.perf_counter() - started)
    return min(seconds[1:]) / len(texts)


def _recommend(estimates: dict, budget: float, n: int, typical: int, smallest: int, classes: int) -> tuple[str, str]:
    size = f"{n} labeled examples in {classes} classes (the median class has {typical}, the smallest {smallest})"
    if estimates["frozen"] > budget:
        if estimates["tfidf"] <= budget:
            return "tfidf", (
                f"With {size}, even encoding them once (about {estimates['frozen']:.0f} s) "
                f"exceeds the {budget:g} s budget, "
                "so TF-IDF with logistic regression is the strategy that fits."
            )
        return (
            "tfidf",
            f"With {size}, no strategy fits the {budget:g} s budget; "
            f"TF-IDF is the cheapest (about {estimates['tfidf']:.0f} s).",
        )
    if typical >= LP_FT_FROM and estimates["lp-ft"] <= budget:
        return "lp-ft", (
            f"With {size}, there is enough data for fine-tuning to add accuracy over a frozen encoder, and LP-FT "
            f"(a linear probe first, then fine-tuning; Kumar et al. 2022) fits the {budget:g} s budget at about "
            f"{estimates['lp-ft']:.0f} s, against {estimates['frozen']:.1f} s for frozen."
        )
    why = (
        f"fewer than {LP_FT_FROM} examples in the median class is where frozen features with a cross-validated head "
        "usually come within a few points of fine-tuning"
        if typical < LP_FT_FROM
        else f"LP-FT would take about {estimates['lp-ft']:.0f} s, over the {budget:g} s budget"
    )
    return "frozen", (
        f"With {size}, a frozen encoder with a linear head takes about {estimates['frozen']:.1f} s "
        f"against about {estimates['full']:.0f} s for full fine-tuning; {why}."
    )
