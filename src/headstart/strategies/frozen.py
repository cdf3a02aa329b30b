"""``frozen``, the default: the encoder θ frozen, its features cached, and only a small head ω trained on them.

``FrozenEncoderClassifier`` is a ``FrozenFeatures`` stage (``features_``) plus a head (``head_``). It follows the
scikit-learn estimator contract, so ``clone``, ``Pipeline``, ``GridSearchCV`` and ``cross_val_score`` work.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from .. import artifacts, lexical, token_head
from ..costs import count_parameters
from ..encoders import layer_candidates, with_instruction
from ..errors import HeadstartError, count, warn
from ..features import FEATURE_CONSTRAINTS, FeatureSpec, FrozenFeatures
from ..heads import C_LIMIT, FROZEN_HEADS, first_of_rows, head_from_state, head_shape, train_head
from ..params import Boolean, InvalidParameterError, LayerNumbers, Options, Real, Rule
from .base import (
    SEED,
    TextClassifier,
    check_count,
    check_fingerprint,
    check_spec,
    encoder_record,
    fit_report,
    own_random_state,
)

TOKEN_PREDICT_CHUNK = 512  # the token head holds every layer's token states of a chunk
MLP_VALIDATION_FRACTION = 0.1


class FrozenEncoderClassifier(TextClassifier):
    """Encoder θ frozen, head ω trained on its cached features.

    Parameters:
        encoder: a packaged encoder's name (all-mpnet-base-v2, all-MiniLM-L6-v2), a Hugging Face model folder or
            Hub id; None is the default, all-mpnet-base-v2.
        head: ``linear`` (logistic regression, C by CV), ``mlp`` (one hidden layer, early stopping) or ``tokens`` (the
            linear head plus a smooth maximum of per-token scores, C by CV: for labels a few words decide, such as
            question types, at the price of running the encoder on every fit, as token states are not cached; see
            ``token_head``).
        pooling: ``mean`` (masked), ``cls`` or ``max``.
        layers: ``"last4"`` (default: the last four layers, concatenated), ``"auto"`` (cross-validation on the cached
            vectors may move from the last four to all layers or the last one; ``layers_`` says which; with the token
            head each candidate costs a full CV of that head), or layer numbers (-1 is the last, 0 the embeddings).
        layer_combine: ``concat`` or ``mean`` of the chosen layers.
        normalize: L2-normalise each layer's vector, so a text's length does not set its feature scale.
        instruction: a prefix prepended to every text before encoding.
        lexical: add word and character n-gram TF-IDF of the training texts beside the encoder's vectors (at most
            ``lexical.BESIDE_ENCODER`` terms), in the same head under the same CV'd C. Exact words that mean
            pooling blurs help topics, question types and spam, but not tweet sentiment (see BENCHMARKS.md).
        C: the inverse L2 strength of the linear and token heads; None chooses it by stratified CV.
        validation_fraction: held out per class for the mlp head's early stopping; None is 0.1.
        precision: ``auto`` (default: bf16 where the CPU has native bfloat16, fp32 elsewhere; a saved model chooses
            again on the machine that loads it), ``fp32`` or ``bf16`` (see BENCHMARKS.md).
        cache: True (``$HEADSTART_CACHE`` or ``~/.cache/headstart``), a folder, or False.
    """

    strategy = "frozen"
    _parameter_constraints = {
        **FEATURE_CONSTRAINTS,
        "layers": Rule((Options(("last4", "auto")), LayerNumbers())),
        "head": Rule((Options(FROZEN_HEADS),)),
        "lexical": Rule((Boolean(),)),
        "C": Rule((None, Real(0, C_LIMIT, low_open=True)), "leave it unset to choose it by cross-validation"),
        "class_weight": Rule((None, Options(("balanced",))), "leave it unset to weight every example alike"),
        "validation_fraction": Rule(
            (None, Real(0, 1, high_open=True)),
        ),
        "seed": SEED,
    }

    def __init__(
        self,
        encoder: str | None = None,
        head: str = "linear",
        pooling: str = "mean",
        layers: tuple[int, ...] | str = "last4",
        layer_combine: str = "concat",
        normalize: bool = True,
        instruction: str | None = None,
        lexical: bool = False,
        max_length: int = 256,
        C: float | None = None,
        class_weight: str | None = None,
        validation_fraction: float | None = None,
        batch_size: int = 32,
        precision: str = "auto",
        cache: bool | str = True,
        seed: int = 0,
    ):
        self.encoder = encoder
        self.head = head
        self.pooling = pooling
        self.layers = layers
        self.layer_combine = layer_combine
        self.normalize = normalize
        self.instruction = instruction
        self.lexical = lexical
        self.max_length = max_length
        self.C = C
        self.class_weight = class_weight
        self.validation_fraction = validation_fraction
        self.batch_size = batch_size
        self.precision = precision
        self.cache = cache
        self.seed = seed

    def _check_combination(self) -> None:
        if self.C is not None and self.head == "mlp":
            raise InvalidParameterError(
                lambda n: (
                    f"{n('C')} is the linear head's regularisation; the mlp head stops early "
                    f"instead: leave {n('C')} unset, or use {n.setting('head', 'linear')}"
                )
            )
        if self.validation_fraction is not None and self.head != "mlp":
            raise InvalidParameterError(
                lambda n: (
                    f"{n.setting('head', self.head)} does not use {n('validation_fraction')}: its C "
                    "is chosen by cross-validation; the held-out split is for the mlp head's early "
                    "stopping"
                )
            )

    def _features(self, layers, encoder=None) -> FrozenFeatures:
        """The features stage with this model's options and these layers, fitted (the encoder loads once a process);
        ``encoder`` is what a saved model names (``encoder_spec``)."""
        return FrozenFeatures(
            encoder or self.encoder,
            self.pooling,
            layers,
            self.layer_combine,
            self.normalize,
            self.instruction,
            self.max_length,
            self.precision,
            self.batch_size,
            self.cache,
        ).fit()

    def _rows(self, spec: FeatureSpec, per_layer: np.ndarray, texts: list[str]) -> np.ndarray:
        """The head's input: the spec's features, and the lexical terms beside them."""
        features = spec.combine(per_layer)
        if not self.lexical:
            return features
        return np.hstack([features, lexical.transform(self.vectorizers_, texts).toarray().astype(np.float32)])

    def _train_head(
        self, rows: np.ndarray, states: list[torch.Tensor] | None, layers: tuple[int, ...], codes: np.ndarray
    ):
        if self.head == "tokens":
            return token_head.train_token_head(
                rows,
                token_features(states, layers, self.layer_combine),
                codes,
                len(self.classes_),
                self.C,
                self.class_weight,
                self.seed,
            )
        fraction = MLP_VALIDATION_FRACTION if self.validation_fraction is None else self.validation_fraction
        return train_head(rows, codes, len(self.classes_), self.head, self.C, self.class_weight, fraction, self.seed)

    @own_random_state
    def fit(self, X, y) -> FrozenEncoderClassifier:
        """Encode the texts (through the cache; the token head reads token states, which are not cached), then train
        only the head."""
        start = time.perf_counter()
        texts, codes = self._set_labels(X, y)
        features = self._features("last4" if isinstance(self.layers, str) and self.layers == "auto" else self.layers)
        encoder = features.encoder_
        candidates = layer_candidates(self.layers, encoder.num_layers)
        loaded = time.perf_counter()
        fingerprint_before, passes_before = encoder.fingerprint(), encoder.forward_passes
        if self.head == "tokens":
            self._check_token_memory(features, texts, candidates)
        truncated = features.warn_truncated(texts)
        if self.head == "tokens":
            per_layer, states = features.token_states(texts)
        else:
            per_layer, states = features.per_layer(texts, warn=False), None
        encoded = time.perf_counter()
        if self.lexical:
            self.vectorizers_ = lexical.fit_vectorizers(texts, lexical.BESIDE_ENCODER)
        specs = {layers: features.spec_.with_layers(layers) for layers in candidates}
        fits = {
            layers: self._train_head(self._rows(spec, per_layer, texts), states, layers, codes)
            for layers, spec in specs.items()
        }
        validations = {c: fits[c][1].get("validation") or {} for c in candidates}
        scores = {c: validations[c].get("accuracy") for c in candidates}
        if len(candidates) > 1 and None in scores.values():
            warn(
                "layers='auto' found no validation data to compare layer sets (every class has a single "
                "example, or the mlp head has validation_fraction=0); using the last four layers"
            )
        self.layers_ = choose_layers(candidates, scores, validations[candidates[0]].get("examples", len(texts)))
        self.features_ = (
            features if self.layers_ == features.spec_.layers else clone(features).set_params(layers=self.layers_).fit()
        )
        self.head_, head_info = fits[self.layers_]
        self._warn_indistinct(texts, self._rows(self.features_.spec_, per_layer, texts))
        done = time.perf_counter()
        details = {
            **head_info,
            "layers": list(self.layers_),
            "lexical_terms": sum(len(v.vocabulary_) for v in self.vectorizers_.values()) if self.lexical else 0,
            "layer_search": {str(list(c)): scores[c] for c in candidates} if len(candidates) > 1 else None,
            "fingerprint_before": fingerprint_before,
            "fingerprint_after": encoder.fingerprint_now(),
        }
        self.training_info_ = fit_report(
            start,
            forward_passes=encoder.forward_passes - passes_before,
            trainable=count_parameters(self.head_),
            frozen=encoder.parameter_count(),
            validation=details.pop("validation", None),
            truncated=truncated,
            seconds={"load": loaded - start, "encode": encoded - loaded, "head": done - encoded},
            **details,
        )
        return self

    def _warn_indistinct(self, texts: list[str], rows: np.ndarray) -> None:
        """Warn when different texts get the same features (the CLS vector of the embedding layer, say): the head
        cannot tell them apart, and CV takes them for copies of one text."""
        vectors, distinct = len(set(first_of_rows(rows))), len(set(texts))
        if vectors < distinct:
            warn(
                f"{distinct} different texts have only {count(vectors, 'distinct feature vector')} "
                f"with pooling={self.pooling!r} "
                f"and layers {list(self.layers_)}, so the head cannot tell them apart; choose other layers or pooling"
            )

    def _check_token_memory(
        self, features: FrozenFeatures, texts: list[str], candidates: list[tuple[int, ...]]
    ) -> None:
        encoder, spec = features.encoder_, features.spec_
        lengths = encoder.tokenize(with_instruction(texts, spec.instruction), spec.max_length, padding=False)[
            "input_ids"
        ]
        hidden = encoder.hidden_size
        width = max(hidden if self.layer_combine == "mean" else len(layers) * hidden for layers in candidates)
        token_head.check_memory(len(texts), sum(map(len, lengths)), (encoder.num_layers + 1) * hidden, width)

    def _chunk(self) -> int:
        return TOKEN_PREDICT_CHUNK if self.head == "tokens" else super()._chunk()

    def shared_pass_key(self) -> str | None:
        return None if self.head == "tokens" else super().shared_pass_key()  # token states are not shared

    def _proba(self, features: FrozenFeatures, texts: list[str]) -> np.ndarray:
        tokens = self.head == "tokens"
        per_layer, states = features.token_states(texts) if tokens else (features.per_layer(texts, warn=False), None)
        rows = torch.as_tensor(self._rows(features.spec_, per_layer, texts))
        with torch.no_grad():
            if tokens:
                logits = self.head_(
                    rows, *token_head.pack_tokens(token_features(states, self.layers_, self.layer_combine))
                )
            else:
                logits = self.head_(rows)
            return torch.softmax(logits, dim=1).numpy()

    def reads_texts(self) -> bool:
        """Whether its head reads the texts beside the features: TF-IDF terms (``lexical``), or token states."""
        return self.lexical or self.head == "tokens"

    def proba_from_features(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities from stored features of this model's spec (``batch embed``'s vectors), without the
        encoder. A model whose head reads the texts too (``reads_texts``) cannot."""
        check_is_fitted(self, "head_")
        if self.reads_texts():
            raise HeadstartError(
                "this model's head reads the texts beside their vectors (lexical terms or token states), so stored "
                "vectors alone cannot feed it; score the texts with the encoder instead"
            )
        with torch.no_grad():
            return torch.softmax(self.head_(torch.as_tensor(features, dtype=torch.float32)), dim=1).numpy()

    def _artifact(self):
        config = {
            "encoder": encoder_record(self.features_.encoder_),
            "features": self.features_.spec_.to_dict(),
            "head": {
                "kind": self.head,
                "n_features": int(next(self.head_.parameters()).shape[1]),
                "n_classes": len(self.classes_),
            },
        }
        return (
            config,
            {"head": self.head_.state_dict()},
            (lambda staging: lexical.write(self.vectorizers_, staging)) if self.lexical else None,
        )

    @classmethod
    def _saved_params(cls, config: dict) -> dict:
        params = super()._saved_params(config)
        if params.get("head") != "mlp":  # saved before validation_fraction defaulted to None, it was always 0.1
            params["validation_fraction"] = None
        return params

    def _restore(self, path: Path, config: dict) -> None:
        self.layers_ = tuple(config["training"]["layers"])
        self.features_ = self._features(self.layers_, config["encoder"]["spec"])
        check_fingerprint(self.features_.encoder_, config["encoder"], path)
        check_spec(self.features_, config, path)
        state = artifacts.read_tensors(path, "head")
        self.head_ = token_head.head_from_state(state) if self.head == "tokens" else head_from_state(state)
        if self.lexical:
            self.vectorizers_ = lexical.read(path)
        terms = sum(len(v.vocabulary_) for v in self.vectorizers_.values()) if self.lexical else 0
        n_features, n_classes = head_shape(self.head_)
        check_count(path, "head.safetensors", "classes", n_classes, len(self.classes_))
        check_count(path, "head.safetensors", "input features", n_features, self.features_.n_features_out_ + terms)
        if self.head == "tokens":
            width = self.features_.n_features_out_  # token states are combined across layers as the pooled vectors
            check_count(path, "head.safetensors", "token features", self.head_.tokens.in_features, width)


def token_features(states: list[torch.Tensor], layers: tuple[int, ...], combine: str) -> list[torch.Tensor]:
    """Each text's token states of the chosen layers, concatenated (tokens, layers x hidden) or averaged, as the
    pooled vectors are."""
    return [s[:, list(layers)].mean(dim=1) if combine == "mean" else s[:, list(layers)].flatten(1) for s in states]


def choose_layers(candidates: list[tuple[int, ...]], scores: dict, n: int) -> tuple[int, ...]:
    """The first candidate (the default), unless another beats its CV accuracy by more than one standard error.

    With a few examples per class the CV accuracies of feature sets differ by noise more often than not; picking
    the raw maximum then trades a well-founded default for a lucky draw, and lost accuracy in the benchmark.
    """
    default = candidates[0]
    if scores[default] is None:
        return default
    p = scores[default]
    margin = math.sqrt(max(p * (1 - p), 1e-12) / n)
    better = [c for c in candidates[1:] if scores[c] is not None and scores[c] > p + margin]
    return max(better, key=lambda c: scores[c]) if better else default
