"""``zero-shot``: no training at all. Texts and labels (or label descriptions) are embedded, and the most
cosine-similar label wins: the "direct application of a general model", measured beside the others."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted

from .. import artifacts
from ..cache import encode_cached
from ..costs import peak_rss_mb
from ..encoders import check_feature_options, combine_layers, load_encoder
from ..errors import HeadstartError, count, warn
from ..model import TextClassifier, check_fingerprint, encoder_record, make_cache, params_from_config, predict_in_chunks, restore_fitted

TEMPERATURE = 20.0  # turns cosine similarities into soft probabilities; the argmax does not depend on it


def check_descriptions(descriptions: dict) -> None:
    """Refuse a description that is not a text, or is empty: "nan" or "None" would be embedded as the label."""
    bad = [k for k, v in descriptions.items() if not isinstance(v, str) or not v.strip()]
    if bad:
        raise HeadstartError(f"the description of label {bad[0]!r} is {descriptions[bad[0]]!r}; give each label a non-empty text, "
                             "or leave the label out to use its name")


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
        warn(f"{count(len(undescribed), 'label')} without a description {'is' if len(undescribed) == 1 else 'are'} "
             f"matched by name: {', '.join(undescribed)}")
    return [descriptions.get(str(c), str(c)) for c in classes]


class ZeroShotClassifier(TextClassifier):
    """Nearest label by cosine similarity; ``label_descriptions`` maps a label to the text embedded for it."""

    strategy = "zero-shot"

    def __init__(
        self,
        encoder: str | None = None,
        label_descriptions: dict | None = None,
        pooling: str = "mean",
        layers: tuple[int, ...] = (-1,),
        layer_combine: str = "concat",
        instruction: str | None = None,
        max_length: int = 256,
        cache: bool | str = True,
    ):
        self.encoder = encoder
        self.label_descriptions = label_descriptions
        self.pooling = pooling
        self.layers = layers
        self.layer_combine = layer_combine
        self.instruction = instruction
        self.max_length = max_length
        self.cache = cache

    def _embed(self, texts: list[str]) -> torch.Tensor:
        per_layer = encode_cached(self.encoder_, texts, make_cache(self.cache), self.pooling, self.max_length, self.instruction)
        return F.normalize(combine_layers(torch.from_numpy(per_layer), self.layers, self.layer_combine, True), dim=1)

    def fit(self, X, y) -> ZeroShotClassifier:
        """Learns only the label set from y; nothing is trained."""
        start = time.perf_counter()
        self._set_labels(X, y)
        self.encoder_ = load_encoder(self.encoder)
        check_feature_options(self.pooling, self.layers, self.layer_combine, self.encoder_.num_layers)
        passes = self.encoder_.forward_passes
        prompts = label_prompts(self.label_descriptions, self.classes_)
        self.label_embeddings_ = self._embed(prompts)
        self.training_info_ = {
            "label_prompts": prompts,
            "encoder_forward_passes": self.encoder_.forward_passes - passes,
            "encoder_backward_passes": 0,
            "trainable_parameters": 0,
            "frozen_parameters": self.encoder_.parameter_count(),
            "seconds": {"fit": time.perf_counter() - start},
            "peak_rss_mb": peak_rss_mb(),
        }
        return self

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        check_is_fitted(self, "label_embeddings_")
        return predict_in_chunks(texts, self._proba, len(self.classes_))

    def _proba(self, texts: list[str]) -> np.ndarray:
        similarity = self._embed(texts) @ self.label_embeddings_.T
        return torch.softmax(TEMPERATURE * similarity, dim=1).numpy()

    def _artifact(self):
        return {"encoder": encoder_record(self.encoder_)}, {"labels": {"embeddings": self.label_embeddings_}}, None

    @classmethod
    def load(cls, path: str | Path) -> ZeroShotClassifier:
        config = artifacts.read_config(path)
        model = cls(**params_from_config(config))
        model.encoder_ = load_encoder(config["encoder"]["spec"])
        check_fingerprint(model.encoder_, config["encoder"], path)
        restore_fitted(model, config)
        model.label_embeddings_ = artifacts.read_tensors(path, "labels")["embeddings"]
        return model
