"""Evaluation numbers: accuracy, macro-F1, a per-class report, the confusion matrix and calibration."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from .errors import count, warn

# Predictions collapse when one class takes at least this share of them while it holds at most half of the labels.
COLLAPSED_SHARE = 0.9
CALIBRATION_BINS = (
    15  # equal-width bins of confidence, as in Guo et al. (2017), "On calibration of modern neural networks"
)


def evaluate(
    y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None, proba: np.ndarray | None = None
) -> dict:
    """All the numbers a user reads after training, as plain JSON-ready values. ``labels`` are the model's classes;
    a true label the model never learnt is added after them, with its count under ``unseen_labels``: its examples
    are errors the per-class table should show, not hide. With ``proba`` (columns in the order of ``labels``), the
    report adds ``calibration``."""
    y_true = np.asarray([str(x) for x in y_true])
    y_pred = np.asarray([str(x) for x in y_pred])
    known = [str(x) for x in labels] if labels is not None else sorted(set(y_true) | set(y_pred))
    unseen = sorted(set(y_true) - set(known))
    labels = known + unseen
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    counts = np.array([np.sum(y_true == label) for label in labels])
    return {
        "examples": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        # Over the labels that occur (scikit-learn's default): a class with no example and no prediction has no F1.
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "majority_baseline": float(counts.max() / max(len(y_true), 1)),
        "labels": labels,
        "unseen_labels": {label: int(np.sum(y_true == label)) for label in unseen},
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        **({"calibration": calibration(y_true, proba, known)} if proba is not None else {}),
    }


def calibration(y_true: np.ndarray, proba: np.ndarray, classes: list[str]) -> dict:
    """Whether the model's probabilities can be taken at their word, over the examples whose label it knows: the
    expected calibration error (the gap between confidence and accuracy, averaged over equal-width bins of the top
    probability, weighted by their examples), the log loss, and the bins themselves for a reliability diagram."""
    column = {label: i for i, label in enumerate(classes)}
    known = np.array([label in column for label in y_true], dtype=bool)
    proba, truth = (
        np.asarray(proba, dtype=np.float64)[known],
        np.array([column[label] for label in y_true[known]], dtype=int),
    )
    if not len(truth):
        return {"examples": 0}
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == truth
    which = np.minimum((confidence * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    bins = []
    for b in np.unique(which):
        rows = which == b
        bins.append(
            {
                "from": b / CALIBRATION_BINS,
                "to": (b + 1) / CALIBRATION_BINS,
                "examples": int(rows.sum()),
                "confidence": float(confidence[rows].mean()),
                "accuracy": float(correct[rows].mean()),
            }
        )
    return {
        "examples": int(len(truth)),
        "expected_calibration_error": float(
            sum(b["examples"] * abs(b["confidence"] - b["accuracy"]) for b in bins) / len(truth)
        ),
        "log_loss": float(-np.log(np.clip(proba[np.arange(len(truth)), truth], 1e-15, None)).mean()),
        "mean_confidence": float(confidence.mean()),
        "accuracy": float(correct.mean()),
        "bins": bins,
    }


def evaluate_model(model, texts: Sequence[str], labels: Sequence) -> dict:
    """``evaluate`` of a fitted model on labeled texts. Labels match the model's classes by their text: a CSV's "1" is
    the class 1 of a model trained on integers. Labels the model never learnt are warned about: they count as errors."""
    proba = model.predict_proba(list(texts))
    known = {str(label): label for label in model.classes_.tolist()}
    truth = [known.get(str(label), label) for label in labels]
    report = evaluate(truth, model.classes_[proba.argmax(axis=1)], model.classes_.tolist(), proba)
    if report["unseen_labels"]:
        found = ", ".join(f"{label} ({n})" for label, n in report["unseen_labels"].items())
        warn(
            f"{count(sum(report['unseen_labels'].values()), 'example', 'have')} labels the model was not trained on: "
            f"{found}; "
            "they count as errors"
        )
    return report


def predictions_collapsed(labels: np.ndarray, predicted: np.ndarray) -> bool:
    """Whether the predictions concentrate on one class while the labels do not: one class takes at least
    ``COLLAPSED_SHARE`` of the predictions but holds at most half of the labels."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    if len(predicted) == 0 or len(np.unique(labels)) < 2:
        return False
    values, counts = np.unique(predicted, return_counts=True)
    top = values[counts.argmax()]
    return bool(counts.max() >= COLLAPSED_SHARE * len(predicted) and 2 * np.sum(labels == top) <= len(labels))
