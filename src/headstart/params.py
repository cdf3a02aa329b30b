"""Parameter constraints, declared once per estimator and checked by one step, from Python and the CLI alike.

Each estimator lists ``_parameter_constraints``: for every parameter, the kinds of value it accepts (a value passes
when any one accepts it) and, optionally, a hint that says what to do instead. Rules that tie two parameters together
live in the estimator's ``_check_combination``. A bad value is an ``InvalidParameterError``: a ``HeadstartError`` for
the CLI and a ``ValueError`` for scikit-learn's tools, whose message names the parameter. The CLI renders the same
message with its flags (``--max-length``) instead of the parameter names (``max_length``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .errors import HeadstartError


class Naming:
    """How a message names parameters: as Python does (``max_length``, ``head='mlp'``)."""

    def __call__(self, parameter: str) -> str:
        return parameter

    def setting(self, parameter: str, value) -> str:
        return f"{parameter}={value!r}"


class InvalidParameterError(HeadstartError, ValueError):
    """A parameter value that the estimator cannot use; the message names it and what it accepts.

    ``describe(naming)`` writes the message with the parameters named by ``naming``: the CLI passes its flags.
    """

    def __init__(self, describe: Callable[[Naming], str]):
        self.describe = describe
        super().__init__(describe(Naming()))


@dataclass(frozen=True)
class Whole:
    """A whole number from ``low`` to ``high`` (inclusive; None: unbounded above). Booleans are not numbers here."""

    low: int
    high: int | None = None

    def accepts(self, value) -> bool:
        return (
            isinstance(value, (int, np.integer))
            and not isinstance(value, bool)
            and self.low <= value <= (self.high or value)
        )

    def __str__(self) -> str:
        return (
            f"a whole number from {self.low} to {self.high}"
            if self.high is not None
            else f"a whole number of at least {self.low}"
        )


@dataclass(frozen=True)
class Real:
    """A number in an interval; ``low_open``/``high_open`` exclude the ends, None leaves a side unbounded."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def accepts(self, value) -> bool:
        if (
            not isinstance(value, (int, float, np.number))
            or isinstance(value, (bool, np.bool_))
            or not np.isfinite(value)
        ):
            return False
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def __str__(self) -> str:
        if self.low == 0 and self.low_open and not self.high_open:
            return "a positive number" + (f" up to {self.high:g}" if self.high is not None else "")
        low, high = (-np.inf if self.low is None else self.low), (np.inf if self.high is None else self.high)
        return f"a number in {'(' if self.low_open else '['}{low:g}, {high:g}{')' if self.high_open else ']'}"


@dataclass(frozen=True)
class Options:
    """One of a few strings."""

    values: tuple[str, ...]

    def accepts(self, value) -> bool:
        return isinstance(value, str) and value in self.values

    def __str__(self) -> str:
        return "one of " + ", ".join(map(repr, self.values))


@dataclass(frozen=True)
class Boolean:
    def accepts(self, value) -> bool:
        return isinstance(value, (bool, np.bool_))

    def __str__(self) -> str:
        return "True or False"


@dataclass(frozen=True)
class Text:
    """A non-empty string."""

    def accepts(self, value) -> bool:
        return isinstance(value, str) and bool(value.strip())

    def __str__(self) -> str:
        return "a non-empty text"


@dataclass(frozen=True)
class LayerNumbers:
    """One layer number or a non-empty sequence of them (-1 is the last layer, 0 the embeddings)."""

    def accepts(self, value) -> bool:
        if isinstance(value, str):
            return False
        items = [value] if np.ndim(value) == 0 else list(np.ravel(np.asarray(value, dtype=object)))
        return bool(items) and all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in items)

    def __str__(self) -> str:
        return "layer numbers such as -1 or (-4, -3, -2, -1)"


@dataclass(frozen=True)
class Instance:
    """An instance of one of these types (a folder path, a mapping)."""

    types: tuple[type, ...]
    name: str

    def accepts(self, value) -> bool:
        return isinstance(value, self.types)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Rule:
    """What a parameter accepts (``None`` in ``accepts`` lets it be unset) and what to do instead."""

    accepts: tuple
    hint: str = ""


def _describe(accepted: tuple) -> str:
    kinds = [str(kind) for kind in accepted if kind is not None]
    return " or ".join(kinds) + (" or None" if None in accepted else "")


def check(name: str, value, rule: Rule) -> None:
    """Raise InvalidParameterError unless ``rule`` accepts ``value``: for a function's arguments, as ``validate`` is
    for an estimator's parameters."""
    if (value is None and None in rule.accepts) or any(
        kind is not None and kind.accepts(value) for kind in rule.accepts
    ):
        return
    hint = f"; {rule.hint}" if rule.hint else ""
    raise InvalidParameterError(lambda n: f"{n(name)} must be {_describe(rule.accepts)} (got {value!r}){hint}")


def validate(estimator, constraints: Mapping[str, Rule]) -> None:
    """Check every parameter of ``estimator`` against its rule; the first bad one raises InvalidParameterError."""
    for name, value in estimator.get_params(deep=False).items():
        if name in constraints:
            check(name, value, constraints[name])
