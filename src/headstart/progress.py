"""Progress reporting without printing: the API announces work, whoever installed a reporter shows it.

The CLI shows bars on a terminal and plain lines in a log; library users see nothing unless they install their own.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

# A reporter is called as reporter(description, total, unit) and returns an advance(n) callable.
Reporter = Callable[[str, int, str], Callable[[int], None]]

_reporter: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar("headstart_reporter", default=None)


def _ignore(_: int) -> None:
    return None


def task(description: str, total: int, unit: str = "texts") -> Callable[[int], None]:
    """Start a unit of work of `total` steps; returns the function that advances it."""
    reporter = _reporter.get()
    return reporter(description, total, unit) if reporter is not None else _ignore


@contextlib.contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Show progress of everything run inside this block through `reporter`."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)


@contextlib.contextmanager
def forwarding(advance: Callable[[int], None]) -> Iterator[Callable[[int], None]]:
    """Inside the block, the steps of every task started advance ``advance`` (one bar over work done in parts,
    instead of a bar per part). Yields ``settle(n)``: call it after a part of n steps, to advance by those its tasks
    did not report (texts read from a cache, or repeated, are not encoded)."""
    reported = 0

    def forward(n: int) -> None:
        nonlocal reported
        reported += n
        advance(n)

    def settle(n: int) -> None:
        nonlocal reported
        advance(max(n - reported, 0))
        reported = 0

    with reporting(lambda *_: forward):
        yield settle
