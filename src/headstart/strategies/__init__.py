"""Every adaptation strategy behind one interface: ``build(name, **options)`` and ``load(path)``.

Each is a point on one line, how much of θ is trained: zero-shot (nothing), tfidf (no encoder),
frozen (ω only), partial:K, lp-ft, full.
"""

from __future__ import annotations

from pathlib import Path

from .. import artifacts
from ..errors import ModelFormatError
from ..params import InvalidParameterError
from .base import TextClassifier
from .finetune import FineTunedClassifier, parse_strategy
from .frozen import FrozenEncoderClassifier
from .tfidf import TfidfClassifier
from .zeroshot import ZeroShotClassifier

STRATEGIES = ("zero-shot", "tfidf", "frozen", "partial:K", "lp-ft", "full")
CLASSES = (FrozenEncoderClassifier, ZeroShotClassifier, TfidfClassifier, FineTunedClassifier)


def strategy_class(name: str) -> type[TextClassifier]:
    """The estimator class of a strategy name; an unknown name is an InvalidParameterError of ``strategy``."""
    for cls in CLASSES:
        if cls._reads(name):
            return cls
    raise InvalidParameterError(
        lambda n: f"unknown {n('strategy')} {name!r}; known: {', '.join(STRATEGIES)} (e.g. partial:2)"
    )


def options_for(name: str, options: dict) -> dict:
    """Those of ``options`` that the strategy takes: ``compare`` gives one set of options to every strategy."""
    cls = strategy_class(name)
    return {k: v for k, v in options.items() if k in cls._get_param_names()}


def build(name: str, **options) -> TextClassifier:
    """The estimator for a strategy name with these options, each of which it must take (see ``options_for``)."""
    cls = strategy_class(name)
    unused = sorted(set(options) - set(cls._get_param_names()))
    if unused:
        raise InvalidParameterError(
            lambda n: (
                f"{n.setting('strategy', name)} does not use {', '.join(n(k) for k in unused)}; leave "
                f"{'it' if len(unused) == 1 else 'them'} out"
            )
        )
    return cls(**{**options, "strategy": name}) if cls is FineTunedClassifier else cls(**options)


def load(path: str | Path) -> TextClassifier:
    """Load any saved headstart model, whatever strategy made it."""
    config = artifacts.read_config(path)
    name = config.get("strategy")
    if not isinstance(name, str) or not any(cls._reads(name) for cls in CLASSES):
        raise ModelFormatError(f"{path} holds a model of unknown strategy {name!r}; upgrade headstart")
    return strategy_class(name).load(path)


__all__ = [
    "STRATEGIES",
    "FineTunedClassifier",
    "FrozenEncoderClassifier",
    "TextClassifier",
    "TfidfClassifier",
    "ZeroShotClassifier",
    "build",
    "load",
    "options_for",
    "parse_strategy",
    "strategy_class",
]
