"""``tfidf``: word and character n-gram TF-IDF with logistic regression, and no encoder at all.

What many users would pick instead, and the floor any encoder strategy must beat. Saved as JSON
(vocabularies, idf) and safetensors (weights); it never needs pickle.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from .. import artifacts, lexical
from ..heads import C_LIMIT
from ..params import Options, Real, Rule, Whole
from .base import TextClassifier, check_count, fit_report

# Suits L2-normalised TF-IDF rows, whose logits are small at scikit-learn's default C=1.
DEFAULT_C = 10.0


class TfidfClassifier(TextClassifier):
    """TF-IDF (word 1-2 grams + char 2-5 grams) and multinomial logistic regression."""

    strategy = "tfidf"
    _parameter_constraints = {
        "C": Rule((None, Real(0, C_LIMIT, low_open=True)), f"leave it unset to use the default, {DEFAULT_C:g}"),
        "class_weight": Rule((None, Options(("balanced",))), "leave it unset to weight every example alike"),
        "max_features": Rule((Whole(2),), "one word and one character term at least"),
    }

    def __init__(self, C: float | None = None, class_weight: str | None = None, max_features: int = 100_000):
        self.C = C
        self.class_weight = class_weight
        self.max_features = max_features

    def _features(self, texts: list[str]) -> sp.csr_matrix:
        return lexical.transform(self.vectorizers_, texts)

    def fit(self, X, y) -> TfidfClassifier:
        start = time.perf_counter()
        texts, codes = self._set_labels(X, y)
        self.vectorizers_ = lexical.fit_vectorizers(texts, self.max_features)
        C = DEFAULT_C if self.C is None else self.C
        regression = LogisticRegression(C=C, class_weight=self.class_weight, max_iter=2000)
        regression.fit(self._features(texts), codes)
        self.coef_, self.intercept_ = regression.coef_.astype(np.float32), regression.intercept_.astype(np.float32)
        self.training_info_ = fit_report(
            start,
            forward_passes=0,
            trainable=int(self.coef_.size + self.intercept_.size),
            frozen=0,
            C=C,
            C_chosen_by="default" if self.C is None else "given",
            vocabulary={name: len(v.vocabulary_) for name, v in self.vectorizers_.items()},
        )
        return self

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        check_is_fitted(self, "coef_")
        logits = self._features(texts) @ self.coef_.T + self.intercept_
        if logits.shape[1] == 1:  # scikit-learn's binary form: one logit for the second class
            logits = np.hstack([np.zeros_like(logits), logits])
        return torch.softmax(torch.as_tensor(np.asarray(logits)), dim=1).numpy()

    def _artifact(self):
        tensors = {"coef": torch.from_numpy(self.coef_), "intercept": torch.from_numpy(self.intercept_)}
        return {}, {"weights": tensors}, lambda staging: lexical.write(self.vectorizers_, staging)

    def _restore(self, path: Path, config: dict) -> None:
        self.vectorizers_ = lexical.read(path)
        weights = artifacts.read_tensors(path, "weights")
        self.coef_, self.intercept_ = weights["coef"].numpy(), weights["intercept"].numpy()
        rows = 1 if len(self.classes_) == 2 else len(self.classes_)  # scikit-learn's binary form: one row
        check_count(path, "weights.safetensors", "rows of weights", self.coef_.shape[0], rows)
        check_count(path, "weights.safetensors", "biases", self.intercept_.shape[0], rows)
        terms = sum(len(v.vocabulary_) for v in self.vectorizers_.values())
        check_count(path, "weights.safetensors", "terms", self.coef_.shape[1], terms)
