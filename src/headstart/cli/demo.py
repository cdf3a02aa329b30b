"""``headstart demo``: the main job on real data, in a few seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import FORCE, SEED, app, out, session
from .evaluate import print_report


@app.command()
def demo(
    n_per_class: int = typer.Option(100, "--n-per-class", help="Training tweets per class."),
    test_size: int = typer.Option(1000, "--test-size", help="Held-out tweets to evaluate on."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Also save the model folder here."),
    write_data: Optional[Path] = typer.Option(
        None, "--write-data", help="Also write the tweets it used to this folder: train.csv, test.csv and new.txt."
    ),
    seed: int = SEED,
    force: bool = FORCE,
) -> None:
    """Train the default frozen classifier on airline customer sentiment and show what it did."""
    from .. import demo as api
    from ..artifacts import check_output_folder

    if out_dir is not None:
        check_output_folder(out_dir, force)
    if write_data is not None:
        api.check_data_folder(write_data, force)
    with session():
        result = api.run_demo(n_per_class, test_size, seed)
        if out_dir is not None:
            result["model"].save(out_dir, force=force)
        written = api.write_data(result, write_data) if write_data is not None else []
    info = result["model"].training_info_
    out.print(
        f"airline customer sentiment, all-MiniLM-L6-v2 frozen with a linear head: "
        f"{len(result['train'])} training tweets "
        f"({n_per_class} per class), {len(result['test'])} held-out tweets"
    )
    out.print(
        f"trained in {result['fit_seconds']:.1f} s (encoder load {info['seconds']['load']:.1f} s, "
        f"encoding {info['seconds']['encode']:.1f} s with {info['encoder_forward_passes']} forward passes, "
        f"head {info['seconds']['head']:.1f} s, C={info['C']:g} by CV)"
    )
    out.print(
        f"trainable parameters {info['trainable_parameters']:,} (the head) "
        f"vs frozen {info['frozen_parameters']:,} (the encoder)"
    )
    print_report(result["report"])
    if out_dir is not None:
        out.print(f"saved the model to {out_dir}")
    if written:
        out.print(f"wrote the tweets it used to {', '.join(map(str, written))}")
