"""``headstart batch predict|embed``: score or embed files of any size into Parquet shards, resumably (``batch``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import HeadstartError
from .app import (
    COMBINE,
    ENCODER,
    INSTRUCTION,
    LAYERS,
    MAX_LENGTH,
    NORMALIZE,
    POOLING,
    PRECISION,
    TEXT_COL,
    app,
    say,
    session,
)
from .embed import feature_options

batch_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Score or embed files of any size into Parquet shards; a rerun resumes where a run stopped.",
)
app.add_typer(batch_app, name="batch")

INPUT_HELP = "A Parquet, CSV or JSONL file, or a folder of them."
OUT = typer.Option(..., "--out", "-o", help="A folder for the shards (new, empty, or an earlier run's to resume).")
ID_COL = typer.Option(None, "--id-col", help="The id column [default: each row's position in its file, as `row`].")
CHUNK_ROWS = typer.Option(10_000, "--chunk-rows", help="Rows per shard; a rerun must use the same.")
ENGINE = typer.Option("local", "--engine", help="local, or ray (Ray Data, needs headstart[ray]).")
WORKERS = typer.Option(
    None, "--workers", help="Ray actors, each with the encoder loaded once [default: one per 2 CPUs]."
)
RAY_ADDRESS = typer.Option(
    None, "--ray-address", help="An existing Ray cluster (ray://host:10001, or auto) [default: a local one]."
)
FORCE = typer.Option(False, "--force", help="Start over an earlier run in --out that had other settings.")


# The flags both commands pass to the API as they are.
RUN_FLAGS = ("text_col", "id_col", "chunk_rows", "force", "engine", "workers", "ray_address")


def report(summary, what: str) -> None:
    if not summary.shards:
        say(f"nothing left to do: all {summary.skipped_shards} shards in {summary.out} were written by an earlier run")
        return
    earlier = f", {summary.skipped_shards} found done" if summary.skipped_shards else ""
    empty = f"; {summary.empty_texts:,} empty texts" if summary.empty_texts else ""
    if summary.truncated_texts:
        empty += f"; {summary.truncated_texts:,} texts cut at the token limit (--max-length)"
    say(
        f"{what} {summary.rows:,} rows into {summary.shards} shards in {summary.out}{earlier} "
        f"({summary.seconds:.1f} s, {summary.rows_per_second:,.0f} rows/s){empty}"
    )


@batch_app.command("predict")
def predict(
    ctx: typer.Context,
    source: Optional[str] = typer.Argument(None, metavar="[INPUT]", help=INPUT_HELP + " Not with --features."),
    models: str = typer.Option(
        ..., "--models", "-m", help="Model folders, comma-separated, or a folder of them; each adds its columns."
    ),
    out: Path = OUT,
    features: Optional[Path] = typer.Option(
        None, "--features", help="Score the vectors a `headstart batch embed` run stored, without the encoder."
    ),
    text_col: Optional[str] = TEXT_COL,
    id_col: Optional[str] = ID_COL,
    chunk_rows: int = CHUNK_ROWS,
    engine: str = ENGINE,
    workers: Optional[int] = WORKERS,
    ray_address: Optional[str] = RAY_ADDRESS,
    force: bool = FORCE,
) -> None:
    """Each model's label and probabilities for every row, as Parquet shards."""
    from .. import batch

    with session():
        summary = batch.predict(
            source,
            [m.strip() for m in models.split(",") if m.strip()],
            out,
            features=features,
            **{name: ctx.params[name] for name in RUN_FLAGS},
        )
    report(summary, "scored")


@batch_app.command("embed")
def embed(
    ctx: typer.Context,
    source: str = typer.Argument(..., metavar="INPUT", help=INPUT_HELP),
    out: Path = OUT,
    model: Optional[Path] = typer.Option(
        None, "--model", help="Store the features this frozen model reads, for `batch predict --features` later."
    ),
    dtype: str = typer.Option("float32", "--dtype", help="float32, or float16 (half the storage)."),
    text_col: Optional[str] = TEXT_COL,
    id_col: Optional[str] = ID_COL,
    encoder: Optional[str] = ENCODER,
    pooling: str = POOLING,
    layers: Optional[str] = LAYERS,
    layer_combine: str = COMBINE,
    normalize: bool = NORMALIZE,
    instruction: Optional[str] = INSTRUCTION,
    max_length: int = MAX_LENGTH,
    precision: str = PRECISION,
    chunk_rows: int = CHUNK_ROWS,
    engine: str = ENGINE,
    workers: Optional[int] = WORKERS,
    ray_address: Optional[str] = RAY_ADDRESS,
    force: bool = FORCE,
) -> None:
    """Every row's frozen features, as Parquet shards with the feature spec in their metadata."""
    from .. import batch

    options = feature_options(ctx, layers)
    if model is not None and options:
        flags = ", ".join("--" + name.replace("_", "-") for name in options)
        raise HeadstartError(f"--model sets the features; drop {flags}")
    with session():
        features = None
        if options:
            from ..features import FrozenFeatures

            features = FrozenFeatures(**options)
        summary = batch.embed(
            source,
            out,
            features=features,
            model=model,
            dtype=dtype,
            **{name: ctx.params[name] for name in RUN_FLAGS},
        )
    report(summary, "embedded")
