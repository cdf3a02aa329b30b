"""``headstart advise``: measure this machine on a sample, estimate each strategy's training time, recommend one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .app import ENCODER, ENCODING, JSON_OUT, LABEL_COL, MAX_LENGTH, TEXT_COL, app, out, session


@app.command()
def advise(
    data: Path = typer.Argument(..., help="Labeled data: CSV, TSV, JSONL or Parquet."),
    budget_seconds: float = typer.Option(600.0, "--budget-seconds", help="The training time you can afford."),
    text_col: Optional[str] = TEXT_COL,
    label_col: Optional[str] = LABEL_COL,
    encoder: Optional[str] = ENCODER,
    max_length: int = MAX_LENGTH,
    encoding: str = ENCODING,
    json_out: bool = JSON_OUT,
) -> None:
    """Measure this machine on a sample, estimate each strategy's training time, and recommend one."""
    from ..advise import advise as advise_on
    from ..data import load_labeled

    with session():
        labeled = load_labeled(data, text_col, label_col, encoding, training=False)  # advise_on checks it, once
        advice = advise_on(labeled.texts, labeled.labels, budget_seconds, encoder, max_length)
    if json_out:
        out.print_json(json.dumps(advice))
        return
    measured = advice["measured"]
    out.print(
        f"{advice['examples']} examples, {advice['classes']} classes "
        f"(median {advice['median_class']}, smallest {advice['smallest_class']}); "
        f"{advice['texts_cached']} already cached; encoder {measured['encode_texts_per_second']:.0f} texts/s forward, "
        f"{measured['train_texts_per_second']:.0f} texts/s training"
    )
    table = Table(
        title=f"estimated training time (budget {advice['budget_seconds']:g} s), after loading the encoder "
        f"({measured['encoder_load_seconds']:.1f} s), which all but tfidf do once"
    )
    table.add_column("strategy")
    table.add_column("seconds", justify="right")
    for name, seconds in advice["estimated_fit_seconds"].items():
        mark = "  <- recommended" if name == advice["recommendation"] else ""
        table.add_row(name + mark, f"{seconds:,.1f}")
    out.print(table)
    out.print(f"recommended: {advice['recommendation']}. {advice['reason']}")
