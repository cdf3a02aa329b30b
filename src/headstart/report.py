"""The comparison report: plots (matplotlib), ``report.html`` (self-contained), ``report.md`` and ``results.json``."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from .compare import encoding_speeds, summarize, verdict  # noqa: E402
from .errors import count  # noqa: E402

plt.rcParams.update({"font.size": 11, "axes.titlesize": 13, "axes.labelsize": 11, "legend.fontsize": 10})


def _x_of(row: dict) -> float:
    return (
        float(row["n_per_class"]) if row["n_per_class"] != "all" else row["train_size"] / max(1, row.get("classes", 1))
    )


def _finish(figure, axis, title: str, xlabel: str, ylabel: str):
    axis.set_title(title)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right")
    figure.tight_layout()
    return figure


def learning_curves(summary: Sequence[dict], classes: int):
    figure, axis = plt.subplots(figsize=(7.5, 4.8))
    for name in dict.fromkeys(r["method"] for r in summary):
        rows = sorted((r for r in summary if r["method"] == name), key=lambda r: _x_of({**r, "classes": classes}))
        x = np.array([_x_of({**r, "classes": classes}) for r in rows])
        mean = np.array([r["accuracy"] for r in rows])
        sd = np.array([r["accuracy_sd"] for r in rows])
        axis.plot(x, mean, marker="o", label=name)
        axis.fill_between(x, mean - sd, mean + sd, alpha=0.15)
    axis.set_xscale("log", base=2)
    return _finish(
        figure,
        axis,
        "Learning curves",
        "training examples per class (log scale; 'all' at its mean)",
        "test accuracy (mean ± sd over seeds)",
    )


def accuracy_vs_time(summary: Sequence[dict]):
    figure, axis = plt.subplots(figsize=(7.5, 4.8))
    names = list(dict.fromkeys(r["method"] for r in summary))
    for name in names:
        rows = [r for r in summary if r["method"] == name]
        axis.scatter([max(r["fit_seconds"], 1e-3) for r in rows], [r["accuracy"] for r in rows], s=60, label=name)
        for r in rows:
            axis.annotate(
                f"n={r['n_per_class']}",
                (max(r["fit_seconds"], 1e-3), r["accuracy"]),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=8,
            )
    axis.set_xscale("log")
    # Within one decade matplotlib labels every minor tick (2x10^-1, 3x10^-1, ...) and they overlap: plain numbers at
    # 1, 2 and 5 of each decade instead.
    plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")
    axis.xaxis.set_minor_locator(matplotlib.ticker.LogLocator(subs=(2.0, 5.0)))
    axis.xaxis.set_major_formatter(plain)
    axis.xaxis.set_minor_formatter(plain)
    axis.margins(x=0.1)  # room for the rightmost point's "n=..." label
    return _finish(
        figure, axis, "Accuracy against training time", "training time, seconds (log scale)", "test accuracy"
    )


def trainable_parameters(summary: Sequence[dict]):
    # At the largest n run: a TF-IDF vocabulary, and so its weights, grows with the data.
    largest = max((r["n_per_class"] for r in summary), key=_size)
    per_strategy = {r["method"]: r["trainable_parameters"] for r in summary if r["n_per_class"] == largest}
    figure, axis = plt.subplots(figsize=(7.5, 0.6 * len(per_strategy) + 1.6))
    names = list(per_strategy)
    values = [max(per_strategy[n], 1) for n in names]
    axis.barh(names, values, color="tab:blue")
    for i, (name, value) in enumerate(zip(names, values)):
        axis.text(value, i, f" {per_strategy[name]:,}", va="center", fontsize=9)
    axis.set_xscale("log")
    axis.set_xlabel("trainable parameters (log scale; 0 drawn as 1)")
    axis.set_title(f"What each strategy trains (n={largest})")
    axis.set_xlim(left=1, right=max(values) * 30)  # from 1, so that bar lengths compare orders of magnitude
    figure.tight_layout()
    return figure


CONFUSION_INCHES = 16
CONFUSION_NUMBERED = 25


def confusion(runs: Sequence[dict], best: dict) -> plt.Figure:
    chosen = [r for r in runs if _key(r) == _key(best)]
    strategy, n = best["method"], best["n_per_class"]
    labels = chosen[0]["labels"]
    matrix = np.sum([np.array(r["confusion_matrix"]) for r in chosen], axis=0)
    # Capped at 16 inches: beyond about 25 classes the cells lose their numbers and the labels shrink to fit, so that
    # a few hundred classes make a readable picture instead of exhausting memory.
    size = min(max(4.5, 0.7 * len(labels) + 2.5), CONFUSION_INCHES)
    font = min(10.0, 0.8 * CONFUSION_INCHES * 72 / len(labels))
    figure, axis = plt.subplots(figsize=(size, size * 0.85))
    image = axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(
        range(len(labels)), labels, rotation=45 if len(labels) <= CONFUSION_NUMBERED else 90, ha="right", fontsize=font
    )
    axis.set_yticks(range(len(labels)), labels, fontsize=font)
    if len(labels) <= CONFUSION_NUMBERED:
        for (i, j), value in np.ndenumerate(matrix):
            axis.text(
                j, i, str(value), ha="center", va="center", color="white" if value > matrix.max() / 2 else "black"
            )
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(f"Confusion matrix: {strategy}, n={n}\n(summed over {count(len(chosen), 'seed')})", fontsize=11)
    figure.colorbar(image, ax=axis, fraction=0.046)
    figure.tight_layout()
    return figure


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def _size(n) -> float:
    """An n per class, with "all" above every number."""
    return math.inf if n == "all" else float(n)


def best_cell(summary: Sequence[dict]) -> dict:
    """The most accurate strategy at the largest n that was run, one that never collapsed to one class if any."""
    largest = max(_size(r["n_per_class"]) for r in summary)
    return max(
        (r for r in summary if _size(r["n_per_class"]) == largest),
        key=lambda r: (not r.get("collapsed"), r["accuracy"]),
    )


def _key(row: dict) -> tuple:
    """A run's or summary row's (strategy, encoder, n)."""
    return row["strategy"], row.get("encoder"), row["n_per_class"]


def _strategy_cell(row: dict) -> str:
    """The method's name, and how many of its seeds collapsed to one class, if any did."""
    collapsed = row.get("collapsed")
    return f"{row['method']} (collapsed {collapsed}/{row['seeds']})" if collapsed else row["method"]


def table_rows(summary: Sequence[dict]) -> list[list[str]]:
    return [
        [
            _strategy_cell(r),
            str(r["n_per_class"]),
            str(r["seeds"]),
            f"{r['accuracy']:.3f} ± {r['accuracy_sd']:.3f}",
            f"{r['macro_f1']:.3f} ± {r['macro_f1_sd']:.3f}",
            f"{r['expected_calibration_error']:.3f}",
            f"{r['fit_seconds']:.2f}",
            f"{r['encode_seconds']:.2f}" if r.get("encode_seconds") is not None else "–",
            f"{r['predict_seconds']:.2f}",
            f"{r['trainable_parameters']:,}",
            f"{r['encoder_forward_passes']:.0f}",
            f"{r['encoder_backward_passes']:.0f}",
            f"{r['peak_rss_mb']:.0f}",
        ]
        for r in summary
    ]


# The report's columns a terminal shows, under headings short enough for 80 columns.
TERMINAL_COLUMNS = {
    "strategy": "strategy",
    "n/class": "n/class",
    "accuracy": "accuracy",
    "macro-F1": "macro-F1",
    "fit s": "fit s",
    "trainable params": "params",
    "peak RSS MiB": "RSS MiB",
}
HEADERS = [
    "strategy",
    "n/class",
    "seeds",
    "accuracy",
    "macro-F1",
    "ECE",
    "fit s",
    "of which encoding s",
    "predict s",
    "trainable params",
    "fwd passes",
    "bwd passes",
    "peak RSS MiB",
]


def write_report(out_dir: str | Path, runs: Sequence[dict], title: str = "headstart compare") -> dict:
    """Write report.html, report.md, results.json and the PNGs; returns the summary and verdict."""
    out_dir = Path(out_dir)
    summary = summarize(runs)
    classes = len(runs[0]["labels"])
    best = best_cell(summary)
    text = verdict(summary)
    speeds = encoding_speeds(runs)
    if speeds:
        text += (
            " Encoding new texts on this machine (frozen, the test split, cold): "
            + ", ".join(f"{encoder} {speed:,.0f} texts/s" for encoder, speed in speeds.items())
            + "."
        )
    figures = {
        "learning_curves": learning_curves(summary, classes),
        "accuracy_vs_time": accuracy_vs_time(summary),
        "trainable_parameters": trainable_parameters(summary),
        "confusion_matrix": confusion(runs, best),
    }
    images = {name: _png(figure) for name, figure in figures.items()}
    for name, data in images.items():
        (out_dir / f"{name}.png").write_bytes(data)
    (out_dir / "results.json").write_text(
        json.dumps({"summary": summary, "verdict": text, "runs": list(runs)}, indent=2) + "\n"
    )
    rows = table_rows(summary)
    markdown = [f"# {title}", "", text, "", "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    markdown += ["| " + " | ".join(row) + " |" for row in rows]
    markdown += ["", *[f"![{name}]({name}.png)" for name in images], ""]
    (out_dir / "report.md").write_text("\n".join(markdown))
    table = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    pictures = "".join(
        f'<figure><img alt="{name}" src="data:image/png;base64,{base64.b64encode(data).decode()}"></figure>'
        for name, data in images.items()
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }}
.verdict {{ font-size: 1.15em; background: #eef5ff; border-left: 4px solid #3878c8; padding: .8em 1em; }}
table {{ border-collapse: collapse; font-size: .9em; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: .3em .6em; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
figure {{ display: inline-block; margin: .5em; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="verdict">{html.escape(text)}</p>
<table><tr>{"".join(f"<th>{h}</th>" for h in HEADERS)}</tr>{table}</table>
{pictures}
<p>Each run trains on a stratified sample (n per class, one sample per seed) and is tested on one fixed stratified
split. Fit times are cold (no embedding cache). Raw runs: results.jsonl and results.json.</p>
</body></html>
"""
    (out_dir / "report.html").write_text(page)
    return {"summary": summary, "verdict": text}
