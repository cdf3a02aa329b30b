"""``headstart evaluate``: accuracy, macro-F1, a per-class report, the confusion matrix and calibration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich import box
from rich.table import Table

from .app import ENCODING, JSON_OUT, LABEL_COL, NO_CACHE, TEXT_COL, app, out, session


@app.command()
def evaluate(
    model_dir: Path = typer.Argument(..., metavar="MODEL"),
    data: Path = typer.Argument(..., help="Labeled data: CSV, TSV, JSONL or Parquet."),
    text_col: Optional[str] = TEXT_COL,
    label_col: Optional[str] = LABEL_COL,
    encoding: str = ENCODING,
    no_cache: bool = NO_CACHE,
    json_out: bool = JSON_OUT,
) -> None:
    """Accuracy, macro-F1, a per-class report and the confusion matrix on labeled data."""
    from ..artifacts import read_config
    from ..data import load_labeled
    from .predict import load_model

    with session():
        read_config(model_dir)  # as predict: wrong paths fail before the slow imports
        labeled = load_labeled(data, text_col, label_col, encoding, training=False)
        model = load_model(model_dir, no_cache)
        from ..metrics import evaluate_model

        report = evaluate_model(model, labeled.texts, labeled.labels)
    if json_out:
        out.print_json(json.dumps(report))
        return
    print_report(report)


def print_report(report: dict) -> None:
    out.print(
        f"accuracy {report['accuracy']:.3f}   macro-F1 {report['macro_f1']:.3f}   "
        f"majority baseline {report['majority_baseline']:.3f}   examples {report['examples']}"
    )
    calibrated = report.get("calibration", {})
    if calibrated.get("examples"):
        out.print(
            f"calibration: expected calibration error {calibrated['expected_calibration_error']:.3f}, log loss "
            f"{calibrated['log_loss']:.3f} (mean confidence {calibrated['mean_confidence']:.3f} "
            f"against accuracy {calibrated['accuracy']:.3f}"
            + (
                f", over the {calibrated['examples']} examples with labels the model knows)"
                if calibrated["examples"] < report["examples"]
                else ")"
            )
        )
    numbered = not confusion_fits(report["labels"], report["confusion_matrix"], out.width)
    per_class = Table(title="per class")
    columns = ("#",) * numbered + ("label", "precision", "recall", "F1", "support")
    for column in columns:
        per_class.add_column(column, justify="left" if column == "label" else "right")
    predicted = np.sum(report["confusion_matrix"], axis=0)
    for i, (label, row) in enumerate(report["per_class"].items()):
        # A class never predicted has no precision, one absent from the data no recall: "-", not scikit-learn's 0.
        # F1, 2TP / (2TP + FP + FN), lacks only when both are.
        defined = {"precision": predicted[i], "recall": row["support"], "f1": predicted[i] + row["support"]}
        scores = [f"{row[k]:.3f}" if n else "-" for k, n in defined.items()]
        per_class.add_row(*(str(i),) * numbered, label, *scores, str(row["support"]))
    out.print(per_class)
    out.print(confusion_table(report["labels"], report["confusion_matrix"], numbered))


def confusion_fits(labels: list[str], matrix: list[list[int]], width: int) -> bool:
    """Whether a confusion matrix headed by its labels fits the width."""
    cells = max(len(str(value)) for row in matrix for value in row)
    return max(map(len, labels)) + sum(max(len(label), cells) + 3 for label in labels) + 4 <= width


def confusion_table(labels: list[str], matrix: list[list[int]], numbered: bool) -> Table:
    """Rows true, columns predicted, headed by their labels, or ``numbered`` as in the per-class table (for labels too
    long or too many to head a column), compactly, so that many classes fit a terminal."""
    title = "confusion matrix (rows: true, columns: predicted" + (
        ", numbered as in the per-class table)" if numbered else ")"
    )
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD if numbered else box.HEAVY_HEAD,
        pad_edge=not numbered,
        collapse_padding=numbered,
    )
    names = [str(i) for i in range(len(labels))] if numbered else labels
    table.add_column("", no_wrap=True)
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for name, row in zip(names, matrix):
        table.add_row(name, *map(str, row))
    return table
