"""``headstart suggest``: the texts most worth labeling next, as a file to hand to an annotator."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .app import ENCODER, ENCODING, FORCE, LABEL_COL, NO_CACHE, SEED, app, say, session


@app.command()
def suggest(
    pool: str = typer.Argument(
        ..., metavar="POOL", help="Unlabeled texts: a data file, a text file (one text per line), or - for stdin."
    ),
    k: int = typer.Option(50, "--k", "-k", help="How many texts to suggest."),
    out_file: Optional[Path] = typer.Option(None, "--out", "-o", help="Write .csv or .jsonl [default: CSV on stdout]."),
    labeled: Optional[Path] = typer.Option(
        None,
        "--labeled",
        help="The labels so far (a text and a label column): never suggested again, and a frozen head is trained "
        "on them to find what it is unsure of.",
    ),
    model_dir: Optional[Path] = typer.Option(
        None, "--model", help="A frozen model folder to guess with, instead of training one on --labeled."
    ),
    text_col: Optional[str] = typer.Option(
        None, "--text-col", help="The text column of POOL and --labeled [default: detected]."
    ),
    label_col: Optional[str] = LABEL_COL,
    encoder: Optional[str] = ENCODER,
    seed: int = SEED,
    encoding: str = ENCODING,
    no_cache: bool = NO_CACHE,
    force: bool = FORCE,
) -> None:
    """Suggest the texts to label next: diverse ones at first, then those the model is least sure of.

    The file has an empty label column to fill in; add the rows to --labeled and run suggest again."""
    from ..artifacts import read_config
    from ..data import load_labeled, read_inputs
    from ..outputs import PREDICTION_FORMATS, check_output_file, write_predictions

    check_output_file(out_file, force, PREDICTION_FORMATS)
    with session():
        if model_dir is not None:
            read_config(model_dir)  # a wrong path fails before the slow imports
        texts, _ = read_inputs(pool, text_col, encoding)
        known = load_labeled(labeled, text_col, label_col, encoding) if labeled is not None else None
        from ..labeling import suggest as suggest_texts
        from .predict import load_model

        model = load_model(model_dir, no_cache) if model_dir is not None else None
        table = suggest_texts(
            texts,
            k,
            labeled_texts=known.texts if known else None,
            labels=known.labels if known else None,
            model=model,
            encoder=encoder,
            cache=not no_cache,
            seed=seed,
        )
    if out_file is None:
        sys.stdout.write(table.to_csv(index=False))
        return
    write_predictions(table, out_file)
    say(f"wrote {len(table)} texts to label to {out_file}")
