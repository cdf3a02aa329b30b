"""``headstart compare``: strategies side by side on the same data, with a report of learning curves and costs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.table import Table

from .app import ENCODER, ENCODING, FORCE, JSON_OUT, LABEL_COL, MAX_LENGTH, TEXT_COL, app, out, session


@app.command()
def compare(
    data: Path = typer.Argument(..., help="Labeled data: CSV, TSV, JSONL or Parquet."),
    out_dir: Path = typer.Option(Path("compare-out"), "--out", "-o", help="Folder for results.jsonl and the report."),
    strategies_text: str = typer.Option(
        "zero-shot,tfidf,frozen,lp-ft,full",
        "--strategies",
        help="Comma-separated: frozen, partial:K, lp-ft, full, zero-shot, tfidf.",
    ),
    n_per_class: str = typer.Option(
        "8,32,128,all", "--n-per-class", help="Training examples per class, e.g. 8,32,128,all."
    ),
    seeds: int = typer.Option(3, "--seeds", help="Training samples (and seeds) per n."),
    test_size: float = typer.Option(
        0.2, "--test-size", help="Fraction (< 1) or number of examples held out for testing."
    ),
    text_col: Optional[str] = TEXT_COL,
    label_col: Optional[str] = LABEL_COL,
    encoder: Optional[str] = ENCODER,
    encoders_text: Optional[str] = typer.Option(
        None,
        "--encoders",
        help="Comma-separated encoders to run every strategy on (names such as all-MiniLM-L6-v2,all-mpnet-base-v2, "
        "folders or Hub ids), instead of --encoder.",
    ),
    max_length: int = MAX_LENGTH,
    epochs: int = typer.Option(10, "--epochs", help="Most epochs for strategies that train θ."),
    label_descriptions: Optional[Path] = typer.Option(
        None, "--label-descriptions", help="zero-shot: JSON {label: description}."
    ),
    suggested: bool = typer.Option(
        False,
        "--suggested",
        help="Also train frozen on the labels `headstart suggest` would have asked for, beside random ones: a "
        "learning curve of what choosing the labels saves.",
    ),
    encoding: str = ENCODING,
    force: bool = FORCE,
    json_out: bool = JSON_OUT,
) -> None:
    """Run strategies side by side on the same data; write a report with learning curves and costs."""
    from .. import progress
    from ..compare import check_strategies, parse_encoders, parse_n_per_class, run_comparison
    from ..data import load_labeled, read_label_descriptions
    from ..report import HEADERS, TERMINAL_COLUMNS, table_rows, write_report

    names = check_strategies([s.strip() for s in strategies_text.split(",") if s.strip()])
    sizes = parse_n_per_class(n_per_class)
    encoders = parse_encoders(encoders_text, encoder)
    options = {"encoder": encoder, "max_length": max_length, "epochs": epochs}
    if label_descriptions:
        options["label_descriptions"] = read_label_descriptions(label_descriptions)
    with session():
        labeled = load_labeled(data, text_col, label_col, encoding, training=False)  # run_comparison checks it, once
        split = int(test_size) if test_size >= 1 and float(test_size).is_integer() else test_size
        bar = {}

        def on_run(record: dict, done: int, total: int) -> None:
            if "advance" not in bar:
                bar["advance"] = progress.task("compare runs", total, "runs")
            bar["advance"](1)

        runs = run_comparison(
            labeled.texts,
            labeled.labels,
            out_dir,
            names,
            sizes,
            seeds,
            split,
            options,
            force,
            on_run,
            encoders,
            suggested,
        )
        result = write_report(out_dir, runs, title=f"headstart compare: {data.name}")
    if json_out:
        out.print_json(json.dumps(result))
        return
    table = Table(
        title=f"{data.name}: mean over seeds (test split fixed)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    keep = [HEADERS.index(c) for c in TERMINAL_COLUMNS]
    for header in TERMINAL_COLUMNS.values():
        table.add_column(header, justify="left" if header == "strategy" else "right", no_wrap=True)
    for row in table_rows(result["summary"]):
        table.add_row(*(row[i] for i in keep))
    out.print(table)
    out.print(result["verdict"])
    out.print(f"report: {out_dir / 'report.html'} (also report.md, results.json, results.jsonl)")
