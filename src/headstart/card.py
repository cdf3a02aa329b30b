"""The model card: a README.md in every model folder that a person can read, from ``templates/model_card.md``.

The template holds the layout; this module turns a saved config into the few phrases it needs.
"""

from __future__ import annotations

import functools
from importlib.resources import files

import jinja2


@functools.cache
def _template() -> jinja2.Template:
    source = files("headstart").joinpath("templates/model_card.md").read_text(encoding="utf-8")
    environment = jinja2.Environment(
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        undefined=jinja2.ChainableUndefined,
    )
    return environment.from_string(source)


def _precision(params: dict, spec: dict) -> str:
    """The precision the features were computed in; with ``auto``, it was chosen for the training machine's CPU."""
    used = spec.get("precision", params.get("precision", "fp32"))
    if params.get("precision") == "auto":
        return f", {used} (auto: {'native bfloat16' if used == 'bf16' else 'no native bfloat16'} on the training CPU)"
    return f", {used}" if used != "fp32" else ""


def _features(params: dict, training: dict, spec: dict) -> str | None:
    """The encoder features in words: pooling, layers and how they are combined, normalisation, precision, length."""
    if "pooling" not in params:
        return None
    layers = params.get("layers")
    return (
        f"pooling `{params['pooling']}`, layers `{training.get('layers', layers)}`"
        + (f" ({layers})" if isinstance(layers, str) else "")
        + {"concat": ", concatenated", "mean": ", averaged"}.get(params.get("layer_combine"), "")
        + ("" if params.get("normalize", True) else ", not normalised")
        + _precision(params, spec)
        + f", max_length {params['max_length']}"
        + (f", instruction {params['instruction']!r}" if params.get("instruction") else "")
        + (
            f", plus {training['lexical_terms']:,} word and character TF-IDF terms"
            if training.get("lexical_terms")
            else ""
        )
    )


def _C(training: dict) -> str | None:
    if "C" not in training:
        return None
    chosen_by = training.get("C_chosen_by", "given")
    return f"{training['C']:g} ({chosen_by if chosen_by in ('given', 'default') else 'chosen by ' + chosen_by})"


def model_card(config: dict) -> str:
    """A README.md a person can read: what the model is, how it was trained, how well it did, how to use it."""
    training, params = config["training"], config["params"]
    return _template().render(
        strategy=config["strategy"],
        labels=[str(label) for label in config["labels"]],
        encoder=config.get("encoder"),
        features=_features(params, training, config.get("features", {})),
        vocabulary=" and ".join(f"{n:,} {kind}" for kind, n in training["vocabulary"].items())
        if "vocabulary" in training
        else None,
        params=params,
        training=training,
        data=config["data"],
        class_counts=", ".join(f"{k} {v}" for k, v in config["data"]["class_counts"].items()),
        C=_C(training),
        validation=training.get("validation"),
    )
