"""``headstart embed``: the frozen features of a file's texts, through the cache (``FrozenFeatures.transform``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import (
    COMBINE,
    ENCODER,
    ENCODING,
    FORCE,
    INSTRUCTION,
    LAYERS,
    MAX_LENGTH,
    NO_CACHE,
    NORMALIZE,
    POOLING,
    PRECISION,
    TEXT_COL,
    app,
    given,
    parse_layers,
    say,
    session,
)

FEATURE_FLAGS = ("encoder", "pooling", "layer_combine", "normalize", "instruction", "max_length", "precision")


def feature_options(ctx: typer.Context, layers: str | None) -> dict:
    """The feature flags given on the command line, as ``FrozenFeatures`` parameters; the rest keep its defaults."""
    options = given(ctx, *FEATURE_FLAGS)
    if layers is not None:
        options["layers"] = parse_layers(layers)
    return options


@app.command()
def embed(
    ctx: typer.Context,
    data: Path = typer.Argument(..., help="A data file with a text column, or a text file with one text per line."),
    out_file: Path = typer.Option(..., "--out", "-o", help="Write .parquet (text + embedding) or .npy (the matrix)."),
    text_col: Optional[str] = TEXT_COL,
    encoder: Optional[str] = ENCODER,
    pooling: str = POOLING,
    layers: Optional[str] = LAYERS,
    layer_combine: str = COMBINE,
    normalize: bool = NORMALIZE,
    instruction: Optional[str] = INSTRUCTION,
    max_length: int = MAX_LENGTH,
    precision: str = PRECISION,
    no_cache: bool = NO_CACHE,
    encoding: str = ENCODING,
    force: bool = FORCE,
) -> None:
    """Write the frozen encoder's features (through the cache) for use in other tools."""
    from ..data import read_inputs
    from ..outputs import FEATURE_FORMATS, check_output_file, write_features

    check_output_file(out_file, force, FEATURE_FORMATS)
    options = feature_options(ctx, layers)
    with session():
        texts, _ = read_inputs(data, text_col, encoding)  # a wrong path fails before torch is imported
        from ..features import FrozenFeatures

        features = FrozenFeatures(**options, cache=not no_cache)
        features.check_params()
        matrix = features.fit().transform(texts)
    write_features(texts, matrix, out_file)
    say(f"wrote {matrix.shape[0]} x {matrix.shape[1]} features to {out_file}")
