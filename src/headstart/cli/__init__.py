"""The ``headstart`` command: a thin layer over the Python API that adds progress bars, tables and exit codes.

One module per command; each parses its flags, calls the API and prints. Every HeadstartError becomes one ``error:``
line and exit status 2 (a traceback only with ``--debug``); a bad parameter's message names its flag.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from ..errors import HeadstartError
from ..params import InvalidParameterError, Naming
from .app import app, err, state

# Each module registers its command; --help lists them in this order.
# isort: off
from . import train, predict, evaluate, embed, suggest, batch, demo, compare, advise, serve, cache  # noqa: F401, E402
# isort: on

GLOBAL_FLAGS = ("--debug", "--quiet", "-q")
# Parameters whose flag is not --name-with-dashes, or says the opposite.
FLAG_OF = {"cache": "--no-cache"}


class Flags(Naming):
    """Names parameters as the command's flags do (``--max-length``, ``--head mlp``)."""

    def __init__(self, command: str | None):
        click_command = typer.main.get_command(app).commands.get(command) if command else None
        self.flags = {p.name: p.opts[0] for p in getattr(click_command, "params", []) if p.opts}

    def __call__(self, parameter: str) -> str:
        return FLAG_OF.get(parameter) or self.flags.get(parameter) or "--" + parameter.replace("_", "-")

    def setting(self, parameter: str, value) -> str:
        return f"{self(parameter)} {value}"


def global_flags_first(argv: list[str]) -> list[str]:
    """``headstart train data.csv --quiet`` as ``headstart --quiet train data.csv``: the global flags are accepted
    after the command too, where users put them (up to a ``--``, after which every word is an argument)."""
    end = argv.index("--") if "--" in argv else len(argv)
    flags = [a for a in argv[:end] if a in GLOBAL_FLAGS]
    return flags + [a for a in argv[:end] if a not in GLOBAL_FLAGS] + argv[end:]


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: run the app; a HeadstartError becomes one line and exit status 2."""
    args = global_flags_first(sys.argv[1:] if argv is None else [str(a) for a in argv])
    try:
        app(args=args, prog_name="headstart", standalone_mode=True)
    except (HeadstartError, OSError) as exc:  # OSError: a disk full or a folder not writable, say
        if state["debug"]:
            raise
        if isinstance(exc, InvalidParameterError):
            message = exc.describe(Flags(next((a for a in args if not a.startswith("-")), None)))
        elif isinstance(exc, HeadstartError):
            message = str(exc)
        else:
            message = f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
        err.print(f"error: {message}", highlight=False)
        sys.exit(2)


__all__ = ["app", "main"]
