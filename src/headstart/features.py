"""The features stage: texts -> frozen encoder -> features, through the embedding cache.

``FeatureSpec`` is everything that decides a text's features, as one hashable value: the cache key, the record in a
saved model, and how a server tells that two heads can share one encoder pass. ``FrozenFeatures`` is the scikit-learn
transformer that owns the encoder, the spec and the cache; every strategy with a frozen encoder reads its features
through one, and it drops into any ``Pipeline`` in front of any scikit-learn classifier.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from . import progress, quantized
from .cache import EmbeddingCache, text_sha
from .data import as_texts
from .encoders import (
    LAYER_COMBINES,
    POOLINGS,
    PRECISIONS,
    Encoder,
    check_layers_exist,
    combine_layers,
    last_layers,
    layer_numbers,
    load_encoder,
    resolve_precision,
)
from .errors import TruncationWarning
from .params import Boolean, Instance, LayerNumbers, Options, Rule, Text, Whole, validate

CHUNK = 4096  # texts whose every-layer vectors are held at once (about 11 KB each for MiniLM)
SAVE_EVERY = 256  # texts encoded between writes to the cache: all that an interrupted encoding loses


@dataclass(frozen=True)
class FeatureSpec:
    """What decides a text's features: the encoder's weights and tokenizer (by fingerprint), pooling, layers and how
    they are combined, normalisation, the token limit (as the encoder applies it), the instruction and the precision.

    Two heads whose specs are equal read the same features, so one encoder pass serves both.
    """

    encoder: str
    tokenizer: str
    pooling: str
    layers: tuple[int, ...]
    layer_combine: str
    normalize: bool
    max_length: int
    instruction: str | None
    precision: str

    @property
    def namespace(self) -> str:
        """The cache key of the per-layer vectors: every layer is stored, so layers, combine and normalisation are
        chosen afterwards and are not part of it."""
        config = {
            "fingerprint": self.encoder,
            "tokenizer": self.tokenizer,
            "pooling": self.pooling,
            "max_length": self.max_length,
            "instruction": self.instruction or "",
        }
        if self.precision == "int8":  # its vectors change with the graph that makes them
            config["precision"] = f"int8-{quantized.graph_version()}"
        elif self.precision != "fp32":  # fp32 keys stay as they were before precision was an option
            config["precision"] = self.precision
        return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:32]

    def with_layers(self, layers: Sequence[int]) -> FeatureSpec:
        return dataclasses.replace(self, layers=layer_numbers(layers))

    def combine(self, per_layer: np.ndarray) -> np.ndarray:
        """Features from per-layer vectors (texts, layers + 1, hidden): the chosen layers, combined."""
        return combine_layers(torch.from_numpy(per_layer), self.layers, self.layer_combine, self.normalize).numpy()

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "layers": list(self.layers)}

    @classmethod
    def from_dict(cls, record: dict) -> FeatureSpec:
        return cls(**{**record, "layers": tuple(record["layers"])})

    def differences(self, other: FeatureSpec) -> list[str]:
        """The fields in which two specs differ, each as 'name: this vs other'."""
        return [
            f"{f.name}: {getattr(self, f.name)!r} vs {getattr(other, f.name)!r}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        ]


def in_chunks(
    texts: list[str],
    compute: Callable[[list[str]], np.ndarray],
    empty: tuple[int, ...],
    chunk: int = CHUNK,
    description: str = "predicting",
) -> np.ndarray:
    """``compute(texts)`` over chunks of the texts, so that memory stays bounded however many come, with one progress
    bar over all of them instead of one per chunk; ``empty`` is the shape of a row, for no texts."""
    if len(texts) <= chunk:
        return compute(texts) if texts else np.zeros((0, *empty), dtype=np.float32)
    parts = []
    with progress.forwarding(progress.task(description, len(texts))) as settle:
        for start in range(0, len(texts), chunk):
            piece = texts[start : start + chunk]
            parts.append(compute(piece))
            settle(len(piece))
    return np.concatenate(parts)


def make_cache(cache: bool | str | None) -> EmbeddingCache | None:
    """``True``: the default cache folder; a path: that folder; ``False``: no cache."""
    if cache is False or cache is None:
        return None
    return EmbeddingCache(None if cache is True else cache)


FEATURE_CONSTRAINTS = {
    "encoder": Rule((None, Text(), Instance((Encoder,), "an Encoder"))),
    "pooling": Rule((Options(POOLINGS),)),
    "layers": Rule(
        (Options(("last4",)), LayerNumbers()),
        "'auto' chooses layers by cross-validation on labels, so it is for FrozenEncoderClassifier",
    ),
    "layer_combine": Rule((Options(LAYER_COMBINES),)),
    "normalize": Rule((Boolean(),)),
    "instruction": Rule((None, Instance((str,), "a text"))),
    "max_length": Rule((Whole(1),)),
    "precision": Rule((Options(PRECISIONS),)),
    "batch_size": Rule((Whole(1),)),
    "cache": Rule((Boolean(), Instance((str, os.PathLike), "a folder"))),
}


class FrozenFeatures(TransformerMixin, BaseEstimator):
    """Texts to the frozen encoder's features, through the embedding cache (θ never changes, so each text is encoded
    once per spec).

    Parameters:
        encoder: a packaged encoder's name (all-mpnet-base-v2, all-MiniLM-L6-v2), a Hugging Face model folder or
            Hub id; None is the default, all-mpnet-base-v2.
        pooling: ``mean`` (masked), ``cls`` or ``max``.
        layers: ``"last4"`` (the last four layers) or layer numbers (-1 is the last, 0 the embeddings).
        layer_combine: ``concat`` or ``mean`` of the chosen layers.
        normalize: L2-normalise each layer's vector, so a text's length does not set its feature scale.
        instruction: a prefix prepended to every text before encoding.
        precision: ``auto`` (bf16 where the CPU has native bfloat16, else fp32; the spec records which), ``fp32``
            or ``bf16`` (2-2.5x faster on CPUs with native bfloat16, slower on others; see BENCHMARKS.md).
        cache: True (``$HEADSTART_CACHE`` or ``~/.cache/headstart``), a folder, or False.
    """

    _parameter_constraints = FEATURE_CONSTRAINTS

    def __init__(
        self,
        encoder: str | None = None,
        pooling: str = "mean",
        layers: tuple[int, ...] | str = "last4",
        layer_combine: str = "concat",
        normalize: bool = True,
        instruction: str | None = None,
        max_length: int = 256,
        precision: str = "auto",
        batch_size: int = 32,
        cache: bool | str = True,
    ):
        self.encoder = encoder
        self.pooling = pooling
        self.layers = layers
        self.layer_combine = layer_combine
        self.normalize = normalize
        self.instruction = instruction
        self.max_length = max_length
        self.precision = precision
        self.batch_size = batch_size
        self.cache = cache

    def check_params(self) -> None:
        """Raise InvalidParameterError for a parameter that ``fit`` could not use."""
        validate(self, self._parameter_constraints)

    def fit(self, X=None, y=None) -> FrozenFeatures:
        """Load the encoder (once per process) and fix the spec; nothing is learnt from the texts."""
        self.check_params()
        self.encoder_ = load_encoder(self.encoder)
        num_layers = self.encoder_.num_layers
        layers = last_layers(num_layers) if isinstance(self.layers, str) else layer_numbers(self.layers)
        check_layers_exist(layers, num_layers)
        self.encoder_.check_max_length(min(self.max_length, self.encoder_.max_positions))
        self.spec_ = FeatureSpec(
            encoder=self.encoder_.fingerprint(),
            tokenizer=self.encoder_.tokenizer_fingerprint(),
            pooling=self.pooling,
            layers=layers,
            layer_combine=self.layer_combine,
            normalize=bool(self.normalize),
            max_length=int(min(self.max_length, self.encoder_.max_positions)),
            instruction=self.instruction,
            precision=resolve_precision(self.precision),
        )
        width = self.encoder_.hidden_size
        self.n_features_out_ = width * (len(layers) if self.layer_combine == "concat" else 1)
        return self

    def transform(self, X) -> np.ndarray:
        """The features of each text (texts, n_features_out_), float32; truncated texts are warned about."""
        check_is_fitted(self, "spec_")
        texts = as_texts(X)
        self.warn_truncated(texts)
        return in_chunks(
            texts,
            lambda part: self.spec_.combine(self.per_layer(part, warn=False)),
            (self.n_features_out_,),
            description="embedding",
        )

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "spec_")
        return np.asarray([f"frozenfeatures{i}" for i in range(self.n_features_out_)], dtype=object)

    def warn_truncated(self, texts: Sequence[str]) -> int:
        """Warn how many of these texts (each copy counted) the token limit cuts, without encoding them; returns it."""
        return self.encoder_.warn_truncated(texts, self.spec_.max_length, self.spec_.instruction)

    def per_layer(self, texts: Sequence[str], warn: bool = True) -> np.ndarray:
        """Pooled vectors of every layer (texts, layers + 1, hidden), float32: only texts never seen with this spec's
        encoding are encoded. ``warn=False`` when the caller warned about truncation for all its texts already."""
        check_is_fitted(self, "spec_")
        with warnings.catch_warnings():
            if not warn:
                warnings.simplefilter("ignore", TruncationWarning)
            store = make_cache(self.cache)
            if store is None:
                return self._encode(list(texts))
            try:
                return self._through(store, list(texts))
            finally:
                store.close()  # no connection outlives the call

    def token_states(self, texts: Sequence[str]) -> tuple[np.ndarray, list[torch.Tensor]]:
        """``per_layer`` and each text's token states (not cached), from one forward pass; see
        ``Encoder.token_states``. Truncation is left to the caller to warn about."""
        check_is_fitted(self, "spec_")
        spec = self.spec_
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncationWarning)
            return self.encoder_.token_states(
                list(texts), spec.pooling, spec.max_length, spec.instruction, self.batch_size, spec.precision
            )

    def _encode(self, texts: list[str]) -> np.ndarray:
        spec = self.spec_
        return self.encoder_.encode(
            texts, spec.pooling, spec.max_length, spec.instruction, self.batch_size, spec.precision
        )

    def _through(self, store: EmbeddingCache, texts: list[str]) -> np.ndarray:
        namespace = self.spec_.namespace
        shas = [text_sha(t) for t in texts]
        expected = (self.encoder_.num_layers + 1, self.encoder_.hidden_size)
        found = {sha: v for sha, v in store.get_many(namespace, shas).items() if v.shape == expected}
        missing = list(dict.fromkeys(t for t, s in zip(texts, shas) if s not in found))
        if missing:

            def encode_and_save(part: list[str]) -> np.ndarray:
                fresh = self._encode(part)
                store.put_many(namespace, {text_sha(t): v for t, v in zip(part, fresh)})
                return fresh

            # Longest first, so that each chunk's length-sorted batches pad about as little as one sort of all would.
            missing.sort(key=len, reverse=True)
            with warnings.catch_warnings():
                if len(missing) > SAVE_EVERY:
                    self.warn_truncated(missing)  # once for all the texts, not once a chunk
                    warnings.simplefilter("ignore", TruncationWarning)
                fresh = in_chunks(missing, encode_and_save, expected, SAVE_EVERY, f"encoding with {self.encoder_.name}")
            found.update(zip(map(text_sha, missing), fresh))
        return np.stack([found[s] for s in shas]) if shas else self._encode([])
