"""Typed errors. The API raises them; the CLI turns each into one line and exit status 2."""

import sys
import warnings


class HeadstartError(Exception):
    """Bad input or state that the user can fix; the message names the problem and the fix."""


class DataError(HeadstartError):
    """A data file or its contents cannot be used."""


class EncoderError(HeadstartError):
    """An encoder cannot be found or loaded."""


class ModelFormatError(HeadstartError):
    """A folder is not a headstart model, or its format is not one this version reads."""


class FingerprintMismatchError(HeadstartError):
    """A model was trained on other encoder weights than the ones available now."""


class OutputError(HeadstartError):
    """An output cannot be written (a full disk, a folder not writable); what was there before is kept."""


class OutputExistsError(OutputError):
    """An output path exists and --force was not given."""


class HeadstartWarning(UserWarning):
    """A recoverable oddity: counted and reported, never fatal."""


class TruncationWarning(HeadstartWarning):
    """Texts longer than ``max_length`` tokens were cut to it."""


def warn(message: str, category: type[Warning] = HeadstartWarning) -> None:
    """``warnings.warn``, attributed to the first caller outside headstart, so that a warning names the user's line
    (Python 3.12's ``skip_file_prefixes``)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "headstart":
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def count(n: int, noun: str, verb: str = "") -> str:
    """ "1 class has", "3 classes have": a count, its noun and (given the plural verb) the verb, agreeing."""
    plural = noun + ("es" if noun.endswith(("s", "x", "ch")) else "s")
    singular_verb = {"have": "has", "are": "is", "were": "was", "occur": "occurs"}.get(verb, verb)
    return f"{n} {noun if n == 1 else plural}" + (f" {singular_verb if n == 1 else verb}" if verb else "")


__all__ = [
    "DataError",
    "EncoderError",
    "FingerprintMismatchError",
    "HeadstartError",
    "HeadstartWarning",
    "ModelFormatError",
    "NotFittedError",  # noqa: F822 - defined by __getattr__ below
    "OutputError",
    "OutputExistsError",
    "TruncationWarning",
]


def __getattr__(name: str):
    # NotFittedError is scikit-learn's own, so sklearn tools recognise it; imported on first use, as scikit-learn
    # takes a second to import and the CLI's --help needs none of it.
    if name == "NotFittedError":
        from sklearn.exceptions import NotFittedError

        return NotFittedError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
