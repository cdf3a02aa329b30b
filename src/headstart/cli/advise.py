"""``headstart advise``: measure this machine on a sample, estimate each strategy's training time, recommend one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .app import ENCODING, JSON_OUT, LABEL_COL, MAX_LENGTH, TEXT_COL, app, out, session


@app.command()
def advise(
    data: Path = typer.Argument(..., help="Labeled data: CSV, TSV, JSONL or Parquet."),
    budget_seconds: float = typer.Option(600.0, "--budget-seconds", help="The training time you can afford."),
    text_col: Optional[str] = TEXT_COL,
    label_col: Optional[str] = LABEL_COL,
    encoder: Optional[str] = typer.Option(
        None, "--encoder", "-e", help="Measure only this encoder [default: every packaged encoder installed]."
    ),
    encoders_text: Optional[str] = typer.Option(
        None,
        "--encoders",
        help="Comma-separated encoders to measure (names, folders or Hub ids), instead of --encoder.",
    ),
    max_length: int = MAX_LENGTH,
    encoding: str = ENCODING,
    json_out: bool = JSON_OUT,
) -> None:
    """Measure this machine on a sample; estimate each encoder's and strategy's time; recommend one of each."""
    from ..advise import advise as advise_on
    from ..compare import parse_encoders
    from ..data import load_labeled

    encoders = parse_encoders(encoders_text, encoder)
    with session():
        labeled = load_labeled(data, text_col, label_col, encoding, training=False)  # advise_on checks it, once
        advice = advise_on(labeled.texts, labeled.labels, budget_seconds, encoder, max_length, encoders=encoders)
    if json_out:
        out.print_json(json.dumps(advice))
        return
    out.print(
        f"{advice['examples']} examples, {advice['classes']} classes "
        f"(median {advice['median_class']}, smallest {advice['smallest_class']})"
    )
    for name, each in advice["encoders"].items():
        measured, predict = each["measured"], each["estimated_predict_seconds_per_1000_texts"]
        out.print(
            f"{name} ({each['parameters'] / 1e6:.1f}M parameters): {measured['encode_texts_per_second']:.0f} texts/s "
            f"forward, {measured['train_texts_per_second']:.0f} texts/s training; {each['texts_cached']} texts "
            f"already cached; predicting 1,000 new texts about {predict:,.0f} s"
        )
    table = Table(
        title=f"estimated training time, seconds (budget {advice['budget_seconds']:g} s), after loading the encoder, "
        "which all but tfidf do once"
    )
    table.add_column("strategy")
    for name, each in advice["encoders"].items():
        table.add_column(f"{name} (load {each['measured']['encoder_load_seconds']:.1f} s)", justify="right")
    for strategy in advice["estimated_fit_seconds"]:
        row = [strategy]
        for name, each in advice["encoders"].items():
            mark = " <- recommended" if (name, strategy) == (advice["encoder"], advice["recommendation"]) else ""
            row.append(f"{each['estimated_fit_seconds'][strategy]:,.1f}{mark}")
        table.add_row(*row)
    out.print(table)
    on = "" if advice["recommendation"] == "tfidf" else f" on {advice['encoder']}"
    why = "" if len(advice["encoders"]) == 1 else f" {advice['encoder_reason']}"
    out.print(f"recommended: {advice['recommendation']}{on}.{why} {advice['reason']}")
