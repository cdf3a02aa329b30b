"""Which texts to label next (``headstart suggest``): each label costs a person's time, so spend it where it teaches
the head most.

With no labels yet, the pool's cached vectors are clustered (k-means) and the text nearest each centre is suggested:
diverse and representative, the largest groups first. With labels, the head is trained on them (a fit on cached
vectors takes a second) and the texts it is least sure of are suggested: the smallest margin between its top two
classes, spread out by clustering the most uncertain ones (k-means weighted by uncertainty) and taking the text
nearest each centre, so that one batch is not k near-copies and no odd one out is chosen for being odd (diverse
mini-batch active learning, Zhdanov 2019). Texts already labeled, and exact copies of them, are never suggested; each
distinct text is suggested once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .data import as_texts, check_labeled
from .errors import HeadstartError, warn

# The k picks come from the CANDIDATES x k most uncertain texts, one per cluster.
CANDIDATES = 10
# A suggestion is "unlike anything labeled" when its nearest labeled text is further than it is for 90% of the pool.
UNLIKE_QUANTILE = 0.1
COLUMNS = ("text", "label", "guess", "confidence", "reason")


def suggest(
    pool,
    k: int = 50,
    labeled_texts=None,
    labels=None,
    model=None,
    encoder: str | None = None,
    cache: bool | str = True,
    seed: int = 0,
) -> pd.DataFrame:
    """The ``k`` texts of ``pool`` most worth labeling next, best first, as a table: ``text``, an empty ``label``
    column for the annotator, the model's ``guess`` and ``confidence`` (empty before any label), and a short
    ``reason``.

    ``labeled_texts`` and ``labels``: what is labeled so far; without a ``model``, a ``FrozenEncoderClassifier`` (on
    ``encoder``) is trained on them. ``model``: a fitted classifier that reads frozen features, to guess with. With
    neither, the cold-start rule picks diverse, representative texts.
    """
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise HeadstartError(f"k must be a whole number of texts to suggest, 1 or more (got {k!r})")
    labeled = []
    if labeled_texts is not None:
        data = check_labeled(as_texts(labeled_texts), list(labels))  # empty texts dropped, with their labels
        labeled = data.texts
        if model is None:
            from .strategies import FrozenEncoderClassifier

            model = FrozenEncoderClassifier(encoder=encoder, cache=cache, seed=seed).fit(labeled, data.labels)
    if model is not None and labeled_texts is None:
        warn(
            "without the labeled texts, suggest cannot leave out those labeled already and may suggest them again; "
            "pass them too (--labeled)"
        )
    if model is not None and not hasattr(model, "features_"):
        raise HeadstartError(
            f"suggest needs a model that reads frozen encoder features; {model.strategy} does not: train a frozen "
            "model, or pass the labeled data alone"
        )
    candidates = fresh_texts(as_texts(pool), labeled)
    if not candidates:
        raise HeadstartError(
            "every text of the pool is labeled already (or a copy of one); there is nothing to suggest"
        )
    k = min(int(k), len(candidates))
    features = _features(model, encoder, cache)
    vectors = _unit(features.spec_.combine(features.per_layer(candidates, warn=False)))
    if model is None:
        return _cold_start(candidates, vectors, k, seed)
    return _uncertain(model, candidates, vectors, labeled, features, k, seed)


def fresh_texts(pool: Sequence[str], labeled: Sequence[str]) -> list[str]:
    """The pool's distinct texts, in order, without those labeled already (compared without surrounding spaces)."""
    seen = {text.strip() for text in labeled}
    fresh = []
    for text in pool:
        key = text.strip()
        if key and key not in seen:
            seen.add(key)
            fresh.append(text)
    return fresh


def _features(model, encoder: str | None, cache: bool | str):
    if model is not None:
        return model._runtime_features()
    from .features import FrozenFeatures

    return FrozenFeatures(encoder=encoder, cache=cache).fit()


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def _clusters(
    vectors: np.ndarray, k: int, seed: int, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(cluster of each row, the centres) of k-means with k clusters (k-means++ starts), rows weighted by
    ``weights``."""
    from sklearn.cluster import KMeans

    if k >= len(vectors):
        return np.arange(len(vectors)), vectors
    found = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(vectors, sample_weight=weights)
    return found.labels_, found.cluster_centers_


def representative(vectors: np.ndarray, k: int, seed: int = 0) -> list[tuple[int, int]]:
    """The cold-start rule: (row, cluster size) of the row nearest each of k k-means centres of unit ``vectors``,
    the largest clusters first."""
    assigned, centres = _clusters(vectors, k, seed)
    picks = []
    for cluster in range(len(centres)):
        members = np.flatnonzero(assigned == cluster)
        if len(members):
            picks.append((int(members[np.argmax(vectors[members] @ centres[cluster])]), len(members)))
    return sorted(picks, key=lambda pick: (-pick[1], pick[0]))


def margins(proba: np.ndarray) -> np.ndarray:
    """Each row's margin between its two most probable classes: small is unsure."""
    top = np.sort(proba, axis=1)
    return top[:, -1] - top[:, -2]


def uncertain(proba: np.ndarray, vectors: np.ndarray, k: int, seed: int = 0) -> list[int]:
    """Diverse mini-batch active learning (Zhdanov 2019): the ``CANDIDATES`` x k rows of least margin, clustered
    into k by k-means weighted by how unsure each is; the row nearest each centre, least sure first. Nearest the
    centre rather than least sure: a typical unsure text teaches the head more than an odd one."""
    margin = margins(proba)
    pool = np.argsort(margin, kind="stable")[: max(k, min(len(margin), CANDIDATES * k))]
    assigned, centres = _clusters(vectors[pool], k, seed, weights=1.0 - margin[pool] + 1e-6)
    picks = []
    for cluster in np.unique(assigned):
        members = np.flatnonzero(assigned == cluster)
        picks.append(int(pool[members[np.argmax(vectors[pool[members]] @ centres[cluster])]]))
    return sorted(picks, key=lambda i: (margin[i], i))


def head_proba(
    vectors: np.ndarray, rows: Sequence[int], labels: np.ndarray, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(the classes labeled so far, each row's probabilities from the default linear head trained on ``rows``, C by
    CV as ``FrozenEncoderClassifier`` chooses it); with a single class labeled, it is every row's guess."""
    import torch

    from .heads import train_head

    classes, codes = np.unique(labels[list(rows)], return_inverse=True)
    if len(classes) == 1:
        return classes, np.ones((len(vectors), 1))
    head, _ = train_head(vectors[list(rows)], codes, len(classes), seed=seed)
    with torch.no_grad():
        return classes, torch.softmax(head(torch.as_tensor(vectors, dtype=torch.float32)), dim=1).numpy()


def suggested_rows(vectors: np.ndarray, labels: np.ndarray, counts: Sequence[int], seed: int = 0) -> list[int]:
    """The label -> train -> suggest loop, simulated on a pool whose labels are known but read only once a row is
    suggested: the cold-start rule picks ``counts[0]`` rows, then each round trains the head on the rows picked so
    far and adds the ``uncertain`` ones up to the next count. The rows in the order picked."""
    rows = [i for i, _ in representative(vectors, counts[0], seed)]
    for count in counts[1:]:
        left = np.setdiff1d(np.arange(len(vectors)), rows)
        if count <= len(rows) or not len(left):
            continue
        _, proba = head_proba(vectors, rows, labels, seed)
        # With a single class labeled every margin is equal, and the clustering alone chooses.
        proba = proba[left] if proba.shape[1] > 1 else np.ones((len(left), 2)) / 2
        rows += [int(left[i]) for i in uncertain(proba, vectors[left], min(count - len(rows), len(left)), seed)]
    return rows


def _cold_start(texts: list[str], vectors: np.ndarray, k: int, seed: int) -> pd.DataFrame:
    picks = representative(vectors, k, seed)
    share = lambda n: f"{n / len(texts):.0%}" if n / len(texts) >= 0.01 else "under 1%"  # noqa: E731
    return _table(
        [texts[i] for i, _ in picks],
        [None] * len(picks),
        [None] * len(picks),
        [f"typical of {n:,} similar texts ({share(n)} of the pool)" for _, n in picks],
    )


def _uncertain(model, texts, vectors, labeled, features, k: int, seed: int) -> pd.DataFrame:
    proba = model.predict_proba(texts)
    picks = uncertain(proba, vectors, k, seed)
    unlike = _unlike_anything_labeled(vectors, labeled, features, picks)
    ranked = np.argsort(-proba, axis=1, kind="stable")
    names = model.classes_

    def reason(i: int) -> str:
        first, second = ranked[i, 0], ranked[i, 1]
        return f"uncertain between {names[first]} and {names[second]} ({proba[i, first]:.2f} vs {proba[i, second]:.2f})"

    return _table(
        [texts[i] for i in picks],
        [names[ranked[i, 0]] for i in picks],
        [round(float(proba[i, ranked[i, 0]]), 3) for i in picks],
        [reason(i) + ("; unlike anything labeled" if i in unlike else "") for i in picks],
    )


def _unlike_anything_labeled(vectors, labeled, features, picks) -> set[int]:
    """The picks whose nearest labeled text is further than the pool's usual (``UNLIKE_QUANTILE``)."""
    if not labeled:
        return set()
    known = _unit(features.spec_.combine(features.per_layer(labeled, warn=False)))
    parts = np.array_split(vectors, max(1, len(vectors) // 4096))  # a bounded similarity matrix at a time
    nearest = np.concatenate([(part @ known.T).max(axis=1) for part in parts])
    threshold = np.quantile(nearest, UNLIKE_QUANTILE)
    return {i for i in picks if nearest[i] < threshold}


def _table(texts, guesses, confidences, reasons) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": texts,
            "label": [""] * len(texts),
            "guess": guesses,
            "confidence": confidences,
            "reason": reasons,
        },
        columns=list(COLUMNS),
    )
