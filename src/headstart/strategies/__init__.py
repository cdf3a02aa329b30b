"""Every adaptation strategy behind one interface: ``build(name, **options)`` and ``load(path)``.

Each is a point on one line, how much of θ is trained: zero-shot (nothing), tfidf (no encoder),
frozen (ω only), partial:K, lp-ft, full.
"""

from __future__ import annotations

from pathlib import Path

from .. import artifacts
from ..errors import HeadstartError, ModelFormatError
from ..model import FrozenEncoderClassifier, TextClassifier
from .finetune import FineTunedClassifier, parse_strategy
from .tfidf import TfidfClassifier
from .zeroshot import ZeroShotClassifier

STRATEGIES = ("zero-shot", "tfidf", "frozen", "partial:K", "lp-ft", "full")


def strategy_class(name: str) -> type[TextClassifier]:
    simple = {"frozen": FrozenEncoderClassifier, "zero-shot": ZeroShotClassifier, "tfidf": TfidfClassifier}
    if name in simple:
        return simple[name]
    try:
        parse_strategy(name)
    except HeadstartError:
        raise HeadstartError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)} (e.g. partial:2)") from None
    return FineTunedClassifier


def build(name: str, **options) -> TextClassifier:
    """The estimator for a strategy name, given whichever of ``options`` it takes. The rest must be options of another
    strategy (``compare`` gives one set to all); a name no strategy takes is a TypeError, as in any constructor."""
    cls = strategy_class(name)
    known = {p for c in (FrozenEncoderClassifier, ZeroShotClassifier, TfidfClassifier, FineTunedClassifier) for p in c._get_param_names()}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"no strategy takes {', '.join(map(repr, unknown))}; the options are {', '.join(sorted(known))}")
    accepted = {k: v for k, v in options.items() if k in cls._get_param_names()}
    if cls is FineTunedClassifier:
        accepted["strategy"] = name
    return cls(**accepted)


def load(path: str | Path) -> TextClassifier:
    """Load any saved headstart model, whatever strategy made it."""
    config = artifacts.read_config(path)
    name = config.get("strategy")
    try:
        cls = strategy_class(str(name))
    except HeadstartError:
        raise ModelFormatError(f"{path} holds a model of unknown strategy {name!r}; upgrade headstart") from None
    try:
        return cls.load(path)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # a config or tensor file edited or cut short
        raise ModelFormatError(f"{path} is damaged ({type(exc).__name__}: {exc}); retrain the model") from None
