"""Evaluation numbers: accuracy, macro-F1, a per-class report and the confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


def evaluate(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> dict:
    """All the numbers a user reads after training, as plain JSON-ready values. ``labels`` are the model's classes;
    a true label the model never learnt is added after them, with its count under ``unseen_labels``: its examples
    are errors the per-class table should show, not hide."""
    y_true = np.asarray([str(x) for x in y_true])
    y_pred = np.asarray([str(x) for x in y_pred])
    labels = [str(x) for x in labels] if labels is not None else sorted(set(y_true) | set(y_pred))
    unseen = sorted(set(y_true) - set(labels))
    labels = labels + unseen
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    counts = np.array([np.sum(y_true == label) for label in labels])
    return {
        "examples": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "majority_baseline": float(counts.max() / max(len(y_true), 1)),
        "labels": labels,
        "unseen_labels": {label: int(np.sum(y_true == label)) for label in unseen},
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
