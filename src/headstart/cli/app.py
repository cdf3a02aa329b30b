"""What every command shares: the typer app, the consoles, the progress-and-warnings session, and the common flags."""

from __future__ import annotations

import contextlib
import sys
import warnings

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


class _Rate(ProgressColumn):
    def render(self, task) -> Text:
        return Text(f"{task.speed:,.0f} {task.fields.get('unit', '')}/s" if task.speed else "", style="cyan")


@contextlib.contextmanager
def session():
    """Progress bars on stderr, warnings as one line each (once), quiet with --quiet."""
    seen: set[str] = set()

    def show_warning(message, category, *args, **kwargs):
        text = str(message)
        if text not in seen and not state["quiet"]:
            seen.add(text)
            err.print(f"warning: {text}", markup=False, highlight=False)

    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeRemainingColumn(),
        console=err,
        disable=state["quiet"],
        transient=False,
    )

    def reporter(description: str, total: int, unit: str):
        if total < 64:  # small jobs finish before a bar is worth drawing
            return lambda n: None
        if not bars.live.is_started:
            bars.start()
        task_id = bars.add_task(description, total=total, unit=unit)
        return lambda n: bars.advance(task_id, n)

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
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


ENCODER = typer.Option(
    None, "--encoder", "-e", help="Hugging Face model folder or Hub id [default: packaged all-MiniLM-L6-v2]."
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
    "fp32", "--precision", help="fp32, or bf16 for 2-2.5x faster encoding on CPUs with native bfloat16."
)
NO_CACHE = typer.Option(False, "--no-cache", help="Encode afresh; do not read or write the embedding cache.")
TEXT_COL = typer.Option(None, "--text-col", help="The text column [default: detected].")
LABEL_COL = typer.Option(None, "--label-col", help="The label column [default: detected].")
ENCODING = typer.Option("utf-8", "--encoding", help="Text encoding of the data file.")
FORCE = typer.Option(False, "--force", help="Replace an existing output.")
JSON_OUT = typer.Option(False, "--json", help="Machine-readable JSON on stdout.")
SEED = typer.Option(0, "--seed", help="Seed of every random choice; the same seed gives the same model.")
