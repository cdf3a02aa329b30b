"""What every command shares: the typer app, the consoles, the progress-and-warnings session, and the common flags."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Callable
from datetime import timedelta

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from .. import progress
from ..errors import HeadstartWarning

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Freeze a pre-trained text encoder, train only a small head on its cached features, and compare strategies.",
)
# No markup: labels and paths such as "[positive]" are data, printed as they are. Written to a file or a pipe,
# tables keep their natural width: rich would otherwise cut them, and the labels in them, to 80 columns.
out = Console(soft_wrap=True, markup=False, width=None if sys.stdout.isatty() else 10_000)
err = Console(stderr=True, soft_wrap=True, markup=False)
state = {"debug": False, "quiet": False}


# A redirected run (a log file, CI) writes one plain line per task this often, and one when the task ends.
LOG_EVERY_S = 30.0
# Fewer of these quick units than this are done before a bar is worth drawing. A unit not named here (a compare's
# runs) is slow enough to show, however few.
FEWEST_SHOWN = {"texts": 64, "steps": 64}


def _rate(per_second: float | None, unit: str) -> str:
    """``1,234 texts/s``, or ``31.9 s each`` for units slower than one a second."""
    if not per_second:
        return ""
    return f"{per_second:,.0f} {unit}/s" if per_second >= 1 else f"{1 / per_second:,.1f} s each"


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=int(seconds)))


def _line(description: str, done: int, total: int, unit: str, elapsed: float) -> str:
    """One progress line for a log: what, how far, how fast, how long (and, unfinished, how long still)."""
    parts = [
        f"{description}: {done:,}/{total:,} {unit}",
        _rate(done / elapsed if elapsed else None, unit),
        f"{_duration(elapsed)} elapsed",
    ]
    if done < total and done:
        parts.append(f"about {_duration(elapsed * (total - done) / done)} left")
    return ", ".join(part for part in parts if part)


class _Rate(ProgressColumn):
    def render(self, task) -> Text:
        return Text(_rate(task.speed, task.fields.get("unit", "")), style="cyan")


def quiet_transformers() -> None:
    """transformers' own warnings and bars off: the CLI says what matters in its own words. Set through the
    environment while transformers is not imported: it takes seconds to import, and a warm run never needs it."""
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    else:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@contextlib.contextmanager
def session(clock: Callable[[], float] = time.monotonic):
    """Progress on stderr (bars on a terminal, a plain line every LOG_EVERY_S seconds elsewhere), warnings as one
    line each (once), quiet with --quiet. ``clock`` times the tasks."""
    quiet_transformers()
    seen: set[str] = set()

    def show_warning(message, category, *args, **kwargs):
        text = str(message)
        if text not in seen and not state["quiet"]:
            seen.add(text)
            err.print(f"warning: {text}", markup=False, highlight=False)

    animate = err.is_terminal and not err.is_dumb_terminal
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeRemainingColumn(elapsed_when_finished=True),
        console=err,
        disable=state["quiet"] or not animate,
        transient=False,
        get_time=clock,
    )

    def bar(description: str, total: int, unit: str) -> Callable[[int], None]:
        if not bars.live.is_started:
            bars.start()
        task_id = bars.add_task(description, total=total, unit=unit)
        return lambda n: bars.advance(task_id, n)

    def log_lines(description: str, total: int, unit: str) -> Callable[[int], None]:
        started = last = clock()
        done = 0

        def advance(n: int) -> None:
            nonlocal done, last
            finished_before, done, now = done >= total, done + n, clock()
            if (done >= total and not finished_before) or (done < total and now - last >= LOG_EVERY_S):
                last = now
                err.print(_line(description, done, total, unit, now - started), markup=False, highlight=False)

        return advance

    def reporter(description: str, total: int, unit: str) -> Callable[[int], None]:
        if state["quiet"] or total < FEWEST_SHOWN.get(unit, 0):
            return lambda n: None
        return (bar if animate else log_lines)(description, total, unit)

    with warnings.catch_warnings():  # restores showwarning on the way out
        warnings.simplefilter("always", HeadstartWarning)
        warnings.showwarning = show_warning
        try:
            with progress.reporting(reporter):
                yield
        finally:
            if bars.live.is_started:
                bars.stop()


def say(message: str) -> None:
    if not state["quiet"]:
        err.print(message, highlight=False)


def given(ctx: typer.Context, *names: str) -> dict:
    """The values of these parameters that were given on the command line: the rest keep the API's defaults, which
    are defined once, there."""
    return {
        name: ctx.params[name]
        for name in names
        if getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"
    }


def parse_layers(text: str | None) -> tuple[int, ...] | str | None:
    """``--layers``: comma-separated layer numbers as a tuple, anything else as given (``last4``, ``auto``), for the
    estimator's constraints to accept or refuse."""
    if text is None:
        return None
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        return text.strip()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of an error."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars, warnings or messages; results only."),
) -> None:
    state["debug"], state["quiet"] = debug, quiet


ENCODER = typer.Option(
    None,
    "--encoder",
    "-e",
    help="Packaged encoder (all-mpnet-base-v2 or mpnet, all-MiniLM-L6-v2 or minilm), model folder or Hub id "
    "[default: all-mpnet-base-v2].",
)
POOLING = typer.Option("mean", "--pooling", help="mean, cls or max.")
LAYERS = typer.Option(
    None,
    "--layers",
    help="last4, auto (chosen by CV; frozen only), or comma-separated layers such as -1 [default: last4 for frozen "
    "features, -1 for the strategies that train the encoder].",
)
COMBINE = typer.Option("concat", "--layer-combine", help="concat or mean of the chosen layers.")
NORMALIZE = typer.Option(True, "--normalize/--no-normalize", help="L2-normalise each layer's vector.")
INSTRUCTION = typer.Option(None, "--instruction", help="A prefix prepended to every text before encoding.")
MAX_LENGTH = typer.Option(256, "--max-length", help="Tokens per text; longer texts are truncated (and counted).")
PRECISION = typer.Option(
    "auto",
    "--precision",
    help="auto (bf16 where the CPU has native bfloat16, else fp32), fp32, bf16 (2-2.5x faster than fp32 on CPUs "
    "with native bfloat16, slower on others), or int8 (ONNX Runtime, needs headstart[int8]; about 2x fp32 on CPUs "
    "with VNNI).",
)
NO_CACHE = typer.Option(False, "--no-cache", help="Encode afresh; do not read or write the embedding cache.")
TEXT_COL = typer.Option(None, "--text-col", help="The text column [default: detected].")
LABEL_COL = typer.Option(None, "--label-col", help="The label column [default: detected].")
ENCODING = typer.Option("utf-8", "--encoding", help="Text encoding of the data file.")
FORCE = typer.Option(False, "--force", help="Replace an existing output.")
JSON_OUT = typer.Option(False, "--json", help="Machine-readable JSON on stdout.")
SEED = typer.Option(0, "--seed", help="Seed of every random choice; the same seed gives the same model.")
