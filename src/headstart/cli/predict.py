"""``headstart predict``: labels (and probabilities) for new texts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .app import ENCODING, FORCE, NO_CACHE, TEXT_COL, app, say, session


def load_model(model_dir: Path, no_cache: bool):
    """A saved model, reading and writing the embedding cache unless --no-cache (a runtime setting, as the API's)."""
    from .. import strategies

    model = strategies.load(model_dir)
    if no_cache and "cache" in model.get_params():
        model.set_params(cache=False)
    return model


@app.command()
def predict(
    model_dir: Path = typer.Argument(..., metavar="MODEL", help="A model folder written by `headstart train`."),
    source: str = typer.Argument(
        ..., metavar="INPUT", help="A data file, a text file (one text per line), or - for stdin."
    ),
    out_file: Optional[Path] = typer.Option(None, "--out", "-o", help="Write .csv or .jsonl [default: CSV on stdout]."),
    proba: bool = typer.Option(False, "--proba", help="Add one probability column per label."),
    text_col: Optional[str] = TEXT_COL,
    keep: Optional[str] = typer.Option(
        None,
        "--keep",
        help="Columns of a data file to copy beside each prediction, e.g. id,date; "
        "one named like an output column (label) is written as input_label.",
    ),
    encoding: str = ENCODING,
    no_cache: bool = NO_CACHE,
    force: bool = FORCE,
) -> None:
    """Predict labels for new texts."""
    from ..artifacts import read_config
    from ..data import read_inputs
    from ..outputs import PREDICTION_FORMATS, check_output_file, predictions_table, write_predictions

    check_output_file(out_file, force, PREDICTION_FORMATS)
    keep_columns = [c.strip() for c in (keep or "").split(",") if c.strip()]
    with session():
        # The folder and the input are checked before the model loads: a wrong path fails before torch and
        # scikit-learn take seconds to import.
        read_config(model_dir)
        texts, kept = read_inputs(source, text_col, encoding, keep_columns)
        model = load_model(model_dir, no_cache)
        table = predictions_table(model, texts, proba, kept)
    if out_file is None:
        sys.stdout.write(table.to_csv(index=False))
        return
    write_predictions(table, out_file)
    say(f"wrote {len(table)} predictions to {out_file}")
