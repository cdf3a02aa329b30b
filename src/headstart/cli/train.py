"""``headstart train``: train a classifier and save it as a model folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .app import (
    COMBINE,
    ENCODER,
    ENCODING,
    FORCE,
    INSTRUCTION,
    JSON_OUT,
    LABEL_COL,
    LAYERS,
    MAX_LENGTH,
    NO_CACHE,
    NORMALIZE,
    POOLING,
    PRECISION,
    SEED,
    TEXT_COL,
    app,
    given,
    out,
    parse_layers,
    say,
    session,
)

# The flags that set an estimator parameter of the same name; only those given are passed, so the defaults are the
# API's.
MODEL_FLAGS = (
    "encoder",
    "pooling",
    "layer_combine",
    "normalize",
    "instruction",
    "lexical",
    "max_length",
    "precision",
    "head",
    "C",
    "class_weight",
    "validation_fraction",
    "epochs",
    "encoder_lr",
    "head_lr",
    "batch_size",
    "seed",
)


@app.command()
def train(
    ctx: typer.Context,
    data: Path = typer.Argument(..., help="CSV, TSV, JSONL or Parquet with a text and a label column."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="The model folder to write."),
    strategy: str = typer.Option(
        "frozen", "--strategy", "-s", help="frozen, partial:K, lp-ft, full, zero-shot or tfidf."
    ),
    text_col: Optional[str] = TEXT_COL,
    label_col: Optional[str] = LABEL_COL,
    encoder: Optional[str] = ENCODER,
    pooling: str = POOLING,
    layers: Optional[str] = LAYERS,
    layer_combine: str = COMBINE,
    instruction: Optional[str] = INSTRUCTION,
    lexical: bool = typer.Option(
        False, "--lexical", help="frozen: add word and character TF-IDF features beside the encoder's."
    ),
    normalize: bool = NORMALIZE,
    max_length: int = MAX_LENGTH,
    precision: str = PRECISION,
    head: str = typer.Option(
        "linear",
        "--head",
        help="linear (logistic regression, C by CV), mlp, or tokens (frozen only: linear plus a smooth maximum of "
        "per-token scores; for labels a few words decide; runs the encoder on every fit, as token states are not "
        "cached).",
    ),
    C: Optional[float] = typer.Option(
        None, "--C", help="Inverse L2 strength of the linear head [default: chosen by CV]."
    ),
    class_weight: Optional[str] = typer.Option(
        None, "--class-weight", help="balanced, to weight classes by inverse frequency."
    ),
    validation_fraction: Optional[float] = typer.Option(
        None,
        "--validation-fraction",
        help="Held out for early stopping (--head mlp, and the strategies that train the encoder).",
    ),
    label_descriptions: Optional[Path] = typer.Option(
        None,
        "--label-descriptions",
        help="zero-shot: JSON {label: description}, or a table with columns label and description.",
    ),
    epochs: Optional[int] = typer.Option(
        None,
        "--epochs",
        help="partial, lp-ft, full: the most epochs; early stopping usually ends sooner [default: 10].",
    ),
    encoder_lr: Optional[float] = typer.Option(
        None, "--encoder-lr", help="partial, lp-ft, full: the encoder's AdamW learning rate [default: 5e-5]."
    ),
    head_lr: Optional[float] = typer.Option(
        None,
        "--head-lr",
        help="partial, full: the head's AdamW learning rate [default: 1e-2]; lp-ft's probed head uses --encoder-lr.",
    ),
    batch_size: Optional[int] = typer.Option(
        None,
        "--batch-size",
        help="Texts per encoding batch [default: 32]; partial, lp-ft, full: per training step [default: 16].",
    ),
    seed: int = SEED,
    no_cache: bool = NO_CACHE,
    encoding: str = ENCODING,
    force: bool = FORCE,
    json_out: bool = JSON_OUT,
) -> None:
    """Train a classifier and save it as a model folder."""
    from ..artifacts import check_output_folder
    from ..data import check_table_path, load_labeled, read_label_descriptions

    check_output_folder(out_dir, force)
    check_table_path(data)  # a wrong path fails before torch and scikit-learn take seconds to import
    from .. import strategies
    from ..encoders import resolve_encoder

    options = given(ctx, *MODEL_FLAGS)
    if "layers" in given(ctx, "layers"):
        options["layers"] = parse_layers(layers)
    if "no_cache" in given(ctx, "no_cache"):
        options["cache"] = not no_cache
    if label_descriptions is not None:
        options["label_descriptions"] = None  # read below, once the strategy is known to take it
    model = strategies.build(strategy, **options)
    model.check_params()
    if label_descriptions is not None:
        model.set_params(label_descriptions=read_label_descriptions(label_descriptions))
    if "encoder" in model.get_params():
        resolve_encoder(encoder)  # a wrong path fails before any data is read
    with session():
        labeled = load_labeled(data, text_col, label_col, encoding)
        say(f"training {strategy} on {len(labeled.texts)} texts, {len(set(map(str, labeled.labels)))} labels")
        model.fit(labeled.texts, labeled.labels)
        model.data_["dropped_empty_texts"] += labeled.dropped_empty  # dropped here, before fit saw the data
        model.save(out_dir, force=force)
    info = model.training_info_
    if json_out:
        out.print_json(json.dumps({"model": str(out_dir), "training": info}, default=str))
        return
    validation = info.get("validation")
    out.print(f"saved {strategy} model to {out_dir}")
    out.print(
        f"trainable parameters {info['trainable_parameters']:,}, frozen {info['frozen_parameters']:,}; "
        f"fit {info['seconds']['fit']:.2f} s, encoder forward passes {info['encoder_forward_passes']}"
    )
    if validation:
        out.print(
            f"validation ({validation['source']}): accuracy {validation['accuracy']:.3f}, "
            f"macro-F1 {validation['macro_f1']:.3f}"
        )
