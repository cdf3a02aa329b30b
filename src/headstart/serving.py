"""Many classifiers on one encoder pass: the models a server holds, and how one batch of texts is classified by them.

Models whose ``shared_pass_key`` is equal read the same per-layer vectors (same encoder and tokenizer fingerprints,
pooling, max_length, instruction and precision), so each text is encoded once for all of them, and each combines
the layers it was trained on. A model that trained θ has its own weights, so its own key; tfidf and the token head
run their own. Nothing here knows about HTTP: ``server.py`` is the web layer over it.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import artifacts
from .errors import HeadstartError, ModelFormatError
from .strategies import TextClassifier, load


@dataclass(frozen=True)
class ServedModel:
    name: str
    path: Path
    model: TextClassifier
    config: dict = field(repr=False)

    @property
    def pass_key(self) -> str | None:
        return self.model.shared_pass_key()

    @property
    def labels(self) -> list:
        return [label.item() if isinstance(label, np.generic) else label for label in self.model.classes_]

    def describe(self) -> dict:
        encoder = self.config.get("encoder") or {}
        return {
            "name": self.name,
            "strategy": self.config["strategy"],
            "labels": self.labels,
            "encoder": encoder.get("name"),
            "feature_spec": self.config.get("features"),
            "summary": card_summary(self.path),
        }


def card_summary(folder: Path) -> str:
    """The first paragraph of the model card under its title ("A text classifier for 3 labels: ...")."""
    try:
        text = (folder / artifacts.CARD_FILE).read_text(encoding="utf-8")
    except OSError:
        return ""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip() and not p.lstrip().startswith("#")]
    return " ".join(paragraphs[0].split()) if paragraphs else ""


def model_folders(paths: Sequence[str | Path]) -> list[Path]:
    """Each path is a model folder, or a folder whose model folders are all served; anything else is refused."""
    found = []
    for path in map(Path, paths):
        if artifacts.is_model_folder(path):
            found.append(path)
        elif path.is_dir() and any(artifacts.is_model_folder(p) for p in path.iterdir()):
            found += sorted(p for p in path.iterdir() if artifacts.is_model_folder(p))
        elif not path.exists():
            raise ModelFormatError(f"model folder not found: {path}; pass folders written by `headstart train`")
        else:
            raise ModelFormatError(
                f"{path} is neither a headstart model folder nor a folder of them; pass folders written by "
                "`headstart train`"
            )
    return found


def load_served(path: str | Path, name: str | None = None, cache: bool = False) -> ServedModel:
    """A model folder loaded for serving, named after its folder unless ``name`` is given. ``cache=False`` (the
    server's default) keeps served texts out of the embedding cache, which would grow with every request."""
    path = Path(path)
    model = load(path)
    if "cache" in model.get_params():
        model.set_params(cache=cache)
    if hasattr(model, "features_"):
        model.features_.encoder_.load_now()
    return ServedModel(name or path.name, path.resolve(), model, artifacts.read_config(path))


class Registry:
    """The models being served, by name. Replacing the set is one assignment under a lock, so a batch already
    running keeps the models it started with, and no request in flight is dropped by a reload."""

    def __init__(self, models: Sequence[ServedModel] = ()):
        self._lock = threading.Lock()
        self._models: dict[str, ServedModel] = {}
        self.replace_all(models)

    @property
    def models(self) -> dict[str, ServedModel]:
        return self._models

    def get(self, names: Sequence[str] | None) -> list[ServedModel]:
        """The models asked for (all when None); KeyError naming the unknown ones and the known ones."""
        models = self._models
        if names is None:
            return list(models.values())
        unknown = [n for n in names if n not in models]
        if unknown:
            raise KeyError(
                f"unknown model{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(models) or 'none'}"
            )
        return [models[n] for n in dict.fromkeys(names)]

    def replace_all(self, models: Sequence[ServedModel]) -> None:
        names = [m.name for m in models]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            paths = [str(m.path) for m in models if m.name in repeated]
            raise HeadstartError(
                f"two models are named {repeated[0]!r} ({', '.join(paths)}); "
                "each served model needs a folder name of its own"
            )
        with self._lock:
            self._models = {m.name: m for m in models}

    def put(self, model: ServedModel) -> bool:
        """Add or replace one model; True when it replaced one."""
        with self._lock:
            replaced = model.name in self._models
            self._models = {**self._models, model.name: model}
        return replaced

    def remove(self, name: str) -> None:
        with self._lock:
            if name not in self._models:
                raise KeyError(f"unknown model {name!r}; known: {', '.join(self._models) or 'none'}")
            self._models = {k: v for k, v in self._models.items() if k != name}

    def sharing(self) -> dict[str, list[str]]:
        """For each model, the other models that share its encoder pass."""
        models = list(self._models.values())
        return {
            m.name: [o.name for o in models if o is not m and m.pass_key is not None and o.pass_key == m.pass_key]
            for m in models
        }


def classify(texts: list[str], models: Sequence[ServedModel]) -> tuple[dict[str, np.ndarray], int]:
    """Each model's class probabilities for ``texts``, and the encoder forward passes (batches) it took: one encoding
    of the texts per shared pass key, however many models read it, and one for each model that runs its own."""
    groups: dict[str | None, list[ServedModel]] = {}
    for served in models:
        groups.setdefault(served.pass_key, []).append(served)
    features = [m.model.features_ for m in models if hasattr(m.model, "features_")]
    encoders = {id(f.encoder_): f.encoder_ for f in features}
    before = sum(e.forward_passes for e in encoders.values())
    probabilities = {}
    with warnings.catch_warnings():  # truncation is the server's normal case, not news for its log
        warnings.simplefilter("ignore")
        for key, members in groups.items():
            if key is None:
                for served in members:
                    probabilities[served.name] = served.model.predict_proba(texts)
                continue
            per_layer = members[0].model.per_layer(texts)
            for served in members:
                probabilities[served.name] = served.model.proba_from_per_layer(texts, per_layer)
    return probabilities, sum(e.forward_passes for e in encoders.values()) - before
