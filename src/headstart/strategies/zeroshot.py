"""``zero-shot``: no training at all. Texts and labels (or label descriptions) are embedded, and the most
cosine-similar label wins: the "direct application of a general model", measured beside the others."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import artifacts
from ..data import check_descriptions
from ..errors import HeadstartError, count, warn
from ..features import FEATURE_CONSTRAINTS, FrozenFeatures
from ..params import Instance, LayerNumbers, Rule
from .base import TextClassifier, check_count, check_fingerprint, check_spec, encoder_record, fit_report

TEMPERATURE = 20.0  # turns cosine similarities into soft probabilities; the argmax does not depend on it


def label_prompts(label_descriptions: dict | None, classes) -> list[str]:
    """The text embedded for each class: its description, or its name where none is given (warned about when
    others are given, as a forgotten label reads like a deliberate one)."""
    descriptions = {str(k): v for k, v in (label_descriptions or {}).items()}
    unknown = set(descriptions) - {str(c) for c in classes}
    if unknown:
        raise HeadstartError(
            f"label descriptions name labels not in the data: {', '.join(sorted(unknown))}; "
            f"the labels are {', '.join(str(c) for c in classes)}"
        )
    check_descriptions(descriptions)
    undescribed = [str(c) for c in classes if str(c) not in descriptions]
    if descriptions and undescribed:
        warn(
            f"{count(len(undescribed), 'label')} without a description {'is' if len(undescribed) == 1 else 'are'} "
            f"matched by name: {', '.join(undescribed)}"
        )
    return [descriptions.get(str(c), str(c)) for c in classes]


class ZeroShotClassifier(TextClassifier):
    """Nearest label by cosine similarity; ``label_descriptions`` maps a label to the text embedded for it."""

    strategy = "zero-shot"
    _parameter_constraints = {
        **FEATURE_CONSTRAINTS,
        "label_descriptions": Rule(
            (None, Instance((Mapping,), "a mapping {label: description}")),
        ),
        "layers": Rule((LayerNumbers(),), "'last4' and 'auto' are for the frozen strategy"),
    }

    def __init__(
        self,
        encoder: str | None = None,
        label_descriptions: dict | None = None,
        pooling: str = "mean",
        layers: tuple[int, ...] = (-1,),
        layer_combine: str = "concat",
        instruction: str | None = None,
        max_length: int = 256,
        precision: str = "auto",
        batch_size: int = 32,
        cache: bool | str = True,
    ):
        self.encoder = encoder
        self.label_descriptions = label_descriptions
        self.pooling = pooling
        self.layers = layers
        self.layer_combine = layer_combine
        self.instruction = instruction
        self.max_length = max_length
        self.precision = precision
        self.batch_size = batch_size
        self.cache = cache

    def _features(self, encoder=None) -> FrozenFeatures:
        return FrozenFeatures(
            encoder or self.encoder,
            self.pooling,
            self.layers,
            self.layer_combine,
            True,
            self.instruction,
            self.max_length,
            self.precision,
            self.batch_size,
            self.cache,
        ).fit()

    @staticmethod
    def _embed(features: FrozenFeatures, texts: list[str]) -> torch.Tensor:
        """Unit vectors of the texts' features."""
        return F.normalize(torch.from_numpy(features.spec_.combine(features.per_layer(texts, warn=False))), dim=1)

    def fit(self, X, y) -> ZeroShotClassifier:
        """Learns only the label set from y; nothing is trained."""
        start = time.perf_counter()
        self._set_labels(X, y)
        self.features_ = self._features()
        encoder = self.features_.encoder_
        passes = encoder.forward_passes
        prompts = label_prompts(self.label_descriptions, self.classes_)
        self.label_embeddings_ = self._embed(self.features_, prompts)
        self.training_info_ = fit_report(
            start,
            forward_passes=encoder.forward_passes - passes,
            trainable=0,
            frozen=encoder.parameter_count(),
            label_prompts=prompts,
        )
        return self

    def _proba(self, features: FrozenFeatures, texts: list[str]) -> np.ndarray:
        similarity = self._embed(features, texts) @ self.label_embeddings_.T
        return torch.softmax(TEMPERATURE * similarity, dim=1).numpy()

    def _artifact(self):
        config = {"encoder": encoder_record(self.features_.encoder_), "features": self.features_.spec_.to_dict()}
        return config, {"labels": {"embeddings": self.label_embeddings_}}, None

    def _restore(self, path: Path, config: dict) -> None:
        self.features_ = self._features(config["encoder"]["spec"])
        check_fingerprint(self.features_.encoder_, config["encoder"], path)
        check_spec(self.features_, config, path)
        self.label_embeddings_ = artifacts.read_tensors(path, "labels")["embeddings"]
        n_classes, n_features = self.label_embeddings_.shape
        check_count(path, "labels.safetensors", "labels", n_classes, len(self.classes_))
        check_count(path, "labels.safetensors", "features", n_features, self.features_.n_features_out_)
