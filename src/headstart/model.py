"""FrozenEncoderClassifier: a frozen pre-trained encoder θ, cached features, and a small trained head ω.

Follows the scikit-learn estimator contract, so ``clone``, ``Pipeline``, ``GridSearchCV`` and
``cross_val_score`` work. ``TextClassifier`` holds what every strategy shares: labels, prediction from
probabilities, and the model folder.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from . import artifacts, lexical, progress, token_head
from .cache import EmbeddingCache, encode_cached
from .costs import count_parameters, peak_rss_mb
from .data import as_texts, check_labeled, column_of
from .encoders import Encoder, check_feature_options, combine_layers, encoder_spec, layer_candidates, load_encoder, with_instruction
from .errors import FingerprintMismatchError, HeadstartError, ModelFormatError, TruncationWarning, count, warn
from .heads import FROZEN_HEADS, check_head_options, first_of_rows, head_from_state, train_head


def data_sha256(texts: list[str], labels: list) -> str:
    digest = hashlib.sha256()
    for text, label in zip(texts, labels):
        digest.update(f"{len(text)}:{text}\x1f{label!s}\x1e".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


PREDICT_CHUNK = 4096  # texts whose every-layer vectors a prediction holds at once (about 11 KB each for MiniLM)
TOKEN_PREDICT_CHUNK = 512  # the token head holds every layer's token states of a chunk


def predict_in_chunks(texts: list[str], proba: Callable[[list[str]], np.ndarray], n_classes: int, chunk: int | None = None) -> np.ndarray:
    """``proba(texts)`` over chunks of the texts (default ``PREDICT_CHUNK``), so that memory stays bounded however
    many come, with one progress bar over all of them instead of one per chunk."""
    chunk = chunk or PREDICT_CHUNK
    if len(texts) <= chunk:
        return proba(texts) if texts else np.zeros((0, n_classes), dtype=np.float32)
    advance = progress.task("predicting", len(texts))
    reported = 0

    def forward(n: int) -> None:
        nonlocal reported
        reported += n
        advance(n)

    parts = []
    with progress.reporting(lambda *_: forward):
        for start in range(0, len(texts), chunk):
            piece, before = texts[start : start + chunk], reported
            parts.append(proba(piece))
            advance(len(piece) - (reported - before))  # texts no encoder pass reported: cached, or repeated
    return np.concatenate(parts)


SEED_LIMIT = 2**32 - 1  # NumPy's seeds


def own_random_state(fit):
    """Run ``fit`` on a copy of torch's global random state: seeding its training must not change the caller's draws."""

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            return fit(self, *args, **kwargs)

    return wrapper


def check_params(params: dict) -> None:
    """One clear line for a parameter of the wrong type or range, before any work (the rest are checked where used)."""

    def whole(value, low: int, high: int | None = None) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and low <= value <= (high or value)

    if "seed" in params and not whole(params["seed"], 0, SEED_LIMIT):
        raise HeadstartError(f"seed must be a whole number from 0 to {SEED_LIMIT} (got {params['seed']!r}); the same seed gives the same model")
    for name, low in (("batch_size", 1), ("max_length", 1), ("epochs", 1), ("max_features", 2)):  # a word and a character term
        if name in params and not whole(params[name], low):
            raise HeadstartError(f"{name} must be a whole number of at least {low} (got {params[name]!r})")
    for name in ("encoder_lr", "head_lr"):
        rate = params.get(name, 1.0)
        if not (isinstance(rate, (int, float, np.number)) and not isinstance(rate, bool) and rate > 0):
            raise HeadstartError(f"{name} must be a positive number (got {rate!r})")
    for name in ("normalize", "lexical"):
        if name in params and not isinstance(params[name], (bool, np.bool_)):
            raise HeadstartError(f"{name} must be True or False (got {params[name]!r})")
    fraction = params.get("validation_fraction", 0.0)
    if not (isinstance(fraction, (int, float, np.number)) and not isinstance(fraction, bool) and 0 <= fraction < 1):
        raise HeadstartError(f"validation_fraction must be a number from 0 up to (not including) 1 (got {fraction!r})")
    C = params.get("C")
    if C is not None and not (isinstance(C, (int, float, np.number)) and not isinstance(C, bool)):
        raise HeadstartError(f"C must be a number (got {C!r}); leave it unset to choose it by cross-validation")


def make_cache(cache: bool | str | Path) -> EmbeddingCache | None:
    """``True``: the default cache folder; a path: that folder; ``False``: no cache."""
    if cache is False or cache is None:
        return None
    return EmbeddingCache(None if cache is True else cache)


class TextClassifier(ClassifierMixin, BaseEstimator):
    """What every strategy shares: label bookkeeping, ``predict`` from ``predict_proba``, and ``save``.

    ``set_params`` after a fit describes the next fit: predictions and saved models keep the parameters the learned
    state was fitted with (``fitted_params_``), but for those that change how, not what, a model computes.
    """

    strategy = "base"
    runtime_params = ("cache", "batch_size")

    def _set_labels(self, X, y) -> tuple[list[str], np.ndarray]:
        """Forget any earlier fit, check the data, learn ``classes_``, and return the texts and integer label codes.

        Forgetting first means a fit that fails half-way leaves an unfitted model, never a mix of two fits.
        """
        for name in [n for n in vars(self) if n.endswith("_") and not n.startswith("_")]:
            delattr(self, name)
        self.fitted_params_ = self.get_params()
        check_params(self.fitted_params_)
        data = check_labeled(column_of(X), column_of(y, "labels"))
        self.classes_ = np.unique(np.asarray(data.labels))
        self.data_ = {
            "examples": len(data.texts),
            "dropped_empty_texts": data.dropped_empty,
            "sha256": data_sha256(data.texts, data.labels),
            "class_counts": {str(c): int(n) for c, n in zip(*np.unique(np.asarray(data.labels), return_counts=True))},
        }
        return data.texts, np.searchsorted(self.classes_, np.asarray(data.labels))

    def _as_fitted(self) -> TextClassifier:
        """This model with the parameters it was fitted with (a shallow copy sharing the learned state), or itself."""
        current = self.get_params()
        changed = {k: v for k, v in self.fitted_params_.items() if k not in self.runtime_params and not _same(current[k], v)}
        return copy.copy(self).set_params(**changed) if changed else self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self, "classes_")
        texts = as_texts(X)
        return self._as_fitted()._predict_proba(texts) if texts else np.zeros((0, len(self.classes_)))

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def predict(self, X) -> np.ndarray:
        """The most probable label of each text."""
        check_is_fitted(self, "classes_")
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def _artifact(self) -> tuple[dict, dict[str, dict[str, torch.Tensor]], object]:
        """(config, {file name: tensors}, extra writer or None) that describe the fitted model."""
        raise NotImplementedError

    def save(self, path: str | Path, force: bool = False) -> Path:
        """Write the fitted model to a folder (safetensors + JSON + a README card), atomically."""
        check_is_fitted(self, "classes_")
        fitted = self._as_fitted()
        config, tensors, extra = fitted._artifact()
        config = {
            "strategy": fitted.strategy,
            "labels": self.classes_.tolist(),
            "params": {k: list(v) if isinstance(v, tuple) else v for k, v in portable_params(fitted.get_params()).items()},
            "data": self.data_,
            **config,
            "training": self.training_info_,
        }
        return artifacts.write_model_folder(path, config, tensors, model_card(config), force=force, extra=extra)


class FrozenEncoderClassifier(TextClassifier):
    """Encoder θ frozen, head ω trained on its cached features.

    Parameters:
        encoder: a Hugging Face model folder or Hub id; None is the packaged all-MiniLM-L6-v2.
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
            pooling blurs help topics, question types and spam; tweet sentiment lost a point (see BENCHMARKS.md).
        C: the inverse L2 strength of the linear head; None chooses it by stratified CV.
        validation_fraction: held out per class for early stopping (the mlp head).
        precision: ``fp32`` (default: exact, fast everywhere) or ``bf16`` (2-2.5x faster encoding on CPUs with native
            bfloat16, vectors within cosine 0.9999 of fp32; see BENCHMARKS.md).
        cache: True (``$HEADSTART_CACHE`` or ``~/.cache/headstart``), a folder, or False.
    """

    strategy = "frozen"

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
        validation_fraction: float = 0.1,
        batch_size: int = 32,
        precision: str = "fp32",
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

    def _per_layer(self, texts: list[str], tokens: bool) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """Pooled vectors of every layer (texts, layers + 1, hidden), through the cache; or, with ``tokens``, from a
        forward pass that also gives each text's token states (tokens, layers + 1, hidden). Truncation is warned about
        by the callers, once for all their texts, cached or not."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncationWarning)
            return self._encode(texts, tokens)

    def _encode(self, texts: list[str], tokens: bool) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        if tokens:
            pooled, states = self.encoder_.token_states(texts, self.pooling, self.max_length, self.instruction, self.batch_size, self.precision)
            return torch.from_numpy(pooled), states
        return torch.from_numpy(encode_cached(
            self.encoder_, texts, make_cache(self.cache), self.pooling, self.max_length, self.instruction, self.batch_size,
            self.precision,
        )), None

    def _lexical_rows(self, texts: list[str]) -> np.ndarray | None:
        return lexical.transform(self.vectorizers_, texts).toarray().astype(np.float32) if self.lexical else None

    def _features(self, per_layer: torch.Tensor, layers: tuple[int, ...], lexical_rows: np.ndarray | None) -> np.ndarray:
        features = combine_layers(per_layer, layers, self.layer_combine, self.normalize).numpy()
        return features if lexical_rows is None else np.hstack([features, lexical_rows])

    def _train_head(self, features: np.ndarray, states: list[torch.Tensor] | None, layers: tuple[int, ...], codes: np.ndarray):
        if self.head == "tokens":
            return token_head.train_token_head(features, token_features(states, layers, self.layer_combine), codes, len(self.classes_), self.C,
                                               self.class_weight, self.seed)
        return train_head(features, codes, len(self.classes_), self.head, self.C, self.class_weight, self.validation_fraction, self.seed)

    @own_random_state
    def fit(self, X, y) -> FrozenEncoderClassifier:
        """Encode the texts (through the cache; the token head reads token states, which are not cached), then train
        only the head."""
        start = time.perf_counter()
        texts, codes = self._set_labels(X, y)
        check_head_options(self.head, self.C, self.class_weight, FROZEN_HEADS)
        self.encoder_ = load_encoder(self.encoder)
        candidates = layer_candidates(self.layers, self.encoder_.num_layers)
        for layers in candidates:
            check_feature_options(self.pooling, layers, self.layer_combine, self.encoder_.num_layers)
        loaded = time.perf_counter()
        fingerprint_before = self.encoder_.fingerprint()
        passes_before = self.encoder_.forward_passes
        if self.head == "tokens":
            self._check_token_memory(texts, candidates)
        truncated = self.encoder_.warn_truncated(texts, self.max_length, self.instruction)
        per_layer, states = self._per_layer(texts, self.head == "tokens")
        encoded = time.perf_counter()
        if self.lexical:
            self.vectorizers_ = lexical.fit_vectorizers(texts, lexical.BESIDE_ENCODER)
        lexical_rows = self._lexical_rows(texts)
        fits = {layers: self._train_head(self._features(per_layer, layers, lexical_rows), states, layers, codes) for layers in candidates}
        validations = {c: fits[c][1].get("validation") or {} for c in candidates}
        scores = {c: validations[c].get("accuracy") for c in candidates}
        if len(candidates) > 1 and None in scores.values():
            warn("layers='auto' found no validation data to compare layer sets (every class has a single "
                          "example, or the mlp head has validation_fraction=0); using the last four layers")
        self.layers_ = choose_layers(candidates, scores, validations[candidates[0]].get("examples", len(texts)))
        self.head_, head_info = fits[self.layers_]
        self._warn_indistinct(texts, self._features(per_layer, self.layers_, lexical_rows))
        done = time.perf_counter()
        self.training_info_ = {
            **head_info,
            "layers": list(self.layers_),
            "lexical_terms": sum(len(v.vocabulary_) for v in self.vectorizers_.values()) if self.lexical else 0,
            "truncated_texts": truncated,
            "layer_search": {str(list(c)): scores[c] for c in candidates} if len(candidates) > 1 else None,
            "encoder_forward_passes": self.encoder_.forward_passes - passes_before,
            "encoder_backward_passes": 0,
            "trainable_parameters": count_parameters(self.head_),
            "frozen_parameters": self.encoder_.parameter_count(),
            "fingerprint_before": fingerprint_before,
            "fingerprint_after": self.encoder_.fingerprint_now(),
            "seconds": {"load": loaded - start, "encode": encoded - loaded, "head": done - encoded, "fit": done - start},
            "peak_rss_mb": peak_rss_mb(),
        }
        return self

    def _warn_indistinct(self, texts: list[str], features: np.ndarray) -> None:
        """Warn when different texts get the same features (the CLS vector of the embedding layer, say): the head
        cannot tell them apart, and CV takes them for copies of one text."""
        vectors, distinct = len(set(first_of_rows(features))), len(set(texts))
        if vectors < distinct:
            warn(f"{distinct} different texts have only {count(vectors, 'distinct feature vector')} with pooling={self.pooling!r} "
                 f"and layers {list(self.layers_)}, so the head cannot tell them apart; choose other layers or pooling")

    def _check_token_memory(self, texts: list[str], candidates: list[tuple[int, ...]]) -> None:
        lengths = self.encoder_.tokenize(with_instruction(texts, self.instruction), self.max_length, padding=False)["input_ids"]
        hidden = self.encoder_.hidden_size
        width = max(hidden if self.layer_combine == "mean" else len(layers) * hidden for layers in candidates)
        token_head.check_memory(len(texts), sum(map(len, lengths)), (self.encoder_.num_layers + 1) * hidden, width)

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        check_is_fitted(self, "head_")
        self.encoder_.warn_truncated(texts, self.max_length, self.instruction)
        chunk = TOKEN_PREDICT_CHUNK if self.head == "tokens" else PREDICT_CHUNK
        return predict_in_chunks(texts, self._proba, len(self.classes_), chunk)

    def _proba(self, texts: list[str]) -> np.ndarray:
        tokens = self.head == "tokens"
        per_layer, states = self._per_layer(texts, tokens)
        features = torch.as_tensor(self._features(per_layer, self.layers_, self._lexical_rows(texts)))
        with torch.no_grad():
            if tokens:
                logits = self.head_(features, *token_head.pack_tokens(token_features(states, self.layers_, self.layer_combine)))
            else:
                logits = self.head_(features)
            return torch.softmax(logits, dim=1).numpy()

    def _artifact(self):
        config = {
            "encoder": encoder_record(self.encoder_),
            "head": {"kind": self.head, "n_features": int(next(self.head_.parameters()).shape[1]), "n_classes": len(self.classes_)},
        }
        return config, {"head": self.head_.state_dict()}, (lambda staging: lexical.write(self.vectorizers_, staging)) if self.lexical else None

    @classmethod
    def load(cls, path: str | Path) -> FrozenEncoderClassifier:
        """Load a saved model; refuses a folder of another format or a different encoder."""
        config = artifacts.read_config(path)
        if config.get("strategy") != cls.strategy:
            raise ModelFormatError(f"{path} holds a {config.get('strategy')!r} model; load it with headstart.load()")
        model = cls(**params_from_config(config))
        model.encoder_ = load_encoder(config["encoder"]["spec"])
        check_fingerprint(model.encoder_, config["encoder"], path)
        restore_fitted(model, config)
        model.layers_ = tuple(config["training"]["layers"])
        state = artifacts.read_tensors(path, "head")
        model.head_ = token_head.head_from_state(state) if model.head == "tokens" else head_from_state(state)
        if model.lexical:
            model.vectorizers_ = lexical.read(path)
        return model


def token_features(states: list[torch.Tensor], layers: tuple[int, ...], combine: str) -> list[torch.Tensor]:
    """Each text's token states of the chosen layers, concatenated (tokens, layers x hidden) or averaged, as the
    pooled vectors are."""
    return [s[:, list(layers)].mean(dim=1) if combine == "mean" else s[:, list(layers)].flatten(1) for s in states]


def choose_layers(candidates: list[tuple[int, ...]], scores: dict, n: int) -> tuple[int, ...]:
    """The first candidate (the default), unless another beats its CV accuracy by more than one standard error.

    With a few examples per class the CV accuracies of feature sets differ by noise more often than not; picking
    the raw maximum then trades a well-founded default for a lucky draw (measured: 5 points lost on trec6 at n=8).
    """
    default = candidates[0]
    if scores[default] is None:
        return default
    p = scores[default]
    margin = math.sqrt(max(p * (1 - p), 1e-12) / n)
    better = [c for c in candidates[1:] if scores[c] is not None and scores[c] > p + margin]
    return max(better, key=lambda c: scores[c]) if better else default


def _same(a, b) -> bool:
    """Equal parameter values, arrays (from a grid search) included."""
    return a is b or (np.shape(a) == np.shape(b) and bool(np.all(a == b)))


def portable_params(params: dict) -> dict:
    """Parameters as a saved model keeps them: a cache folder becomes "the default cache" (True), since the model may
    be loaded on another machine; False, no cache, stays."""
    return {**params, "cache": params["cache"] not in (False, None)} if "cache" in params else params


def params_from_config(config: dict) -> dict:
    """The estimator's parameters as saved, with JSON lists turned back into tuples."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in portable_params(config["params"]).items()}


def encoder_record(encoder: Encoder) -> dict:
    return {
        "name": encoder.name,
        "source": encoder.source,
        "spec": encoder_spec(encoder),
        "fingerprint": encoder.fingerprint(),
        "tokenizer_fingerprint": encoder.tokenizer_fingerprint(),
        "parameters": encoder.parameter_count(),
    }


def check_fingerprint(encoder: Encoder, record: dict, path: str | Path) -> None:
    if encoder.fingerprint() != record["fingerprint"]:
        raise FingerprintMismatchError(
            f"{path} was trained on encoder {record['name']} with fingerprint {record['fingerprint'][:12]}..., "
            f"but the encoder at {encoder.source} has {encoder.fingerprint()[:12]}...; "
            "install the encoder it was trained with or retrain the model"
        )
    # Models saved before the tokenizer was fingerprinted have no record of it.
    if record.get("tokenizer_fingerprint", encoder.tokenizer_fingerprint()) != encoder.tokenizer_fingerprint():
        raise FingerprintMismatchError(
            f"{path} was trained on encoder {record['name']} with another tokenizer than the one at {encoder.source} "
            "(same weights, but other vocabulary, lower-casing or special tokens); use the tokenizer it was trained with "
            "or retrain the model"
        )


def restore_fitted(model: TextClassifier, config: dict) -> None:
    labels = config["labels"]
    model.classes_ = np.asarray(labels)
    model.data_ = config["data"]
    model.training_info_ = config["training"]
    model.fitted_params_ = model.get_params()


def model_card(config: dict) -> str:
    """A README.md a person can read: what the model is, how it was trained, how well it did, how to use it."""
    training = config["training"]
    encoder = config.get("encoder", {})
    validation = training.get("validation")
    lines = [
        f"# headstart model: {config['strategy']}",
        "",
        f"A text classifier for {len(config['labels'])} labels: {', '.join(str(x) for x in config['labels'])}.",
        "",
        "## How it was made",
        f"- Strategy: `{config['strategy']}`"
        + (" (the encoder's weights θ were frozen; only the head ω was trained)" if config["strategy"] == "frozen" else ""),
    ]
    if encoder:
        lines.append(f"- Encoder: {encoder['name']} ({encoder['parameters']:,} parameters), fingerprint `{encoder['fingerprint'][:16]}`")
    params = config["params"]
    if "pooling" in params:
        lines.append(
            f"- Features: pooling `{params['pooling']}`, layers `{training.get('layers', params.get('layers'))}`"
            f"{' (' + str(params['layers']) + ')' if isinstance(params.get('layers'), str) else ''}"
            + ({"concat": ", concatenated", "mean": ", averaged"}.get(params.get("layer_combine"), ""))
            + ("" if params.get("normalize", True) else ", not normalised")
            + (f", {params['precision']}" if params.get("precision", "fp32") != "fp32" else "")
            + f", max_length {params['max_length']}"
            + (f", instruction {params['instruction']!r}" if params.get("instruction") else "")
            + (f", plus {training['lexical_terms']:,} word and character TF-IDF terms" if training.get("lexical_terms") else ""))
    if "vocabulary" in training:
        lines.append("- Features: TF-IDF of " + " and ".join(f"{n:,} {kind}" for kind, n in training["vocabulary"].items())
                     + " n-grams (word 1-2, character 2-5)")
    lines += [
        *([f"- Head: `{params['head']}`" + (" (the linear head plus a smooth maximum of per-token scores)" if params["head"] == "tokens" else "")]
          if "head" in params else []),
        f"- Trainable parameters: {training.get('trainable_parameters', 0):,}; frozen: {training.get('frozen_parameters', 0):,}",
        f"- Training data: {config['data']['examples']} examples, sha256 `{config['data']['sha256'][:16]}`; per class: "
        + ", ".join(f"{k} {v}" for k, v in config["data"]["class_counts"].items())
        + (f"; {training['truncated_texts']} longer than {params['max_length']} tokens, truncated" if training.get("truncated_texts") else ""),
        f"- Training time: {training['seconds']['fit']:.2f} s",
    ]
    if "C" in training:
        chosen_by = training.get("C_chosen_by", "given")
        lines.append(f"- L2 strength: C = {training['C']:g} ({chosen_by if chosen_by in ('given', 'default') else 'chosen by ' + chosen_by})")
    if params.get("class_weight"):
        lines.append(f"- Class weights: {params['class_weight']}")
    lines += ["", "## Validation"]
    if validation:
        lines.append(
            f"Accuracy {validation['accuracy']:.3f}, macro-F1 {validation['macro_f1']:.3f} "
            f"({validation['source']}, {validation['examples']} examples)."
        )
    else:
        lines.append("No validation numbers were measured; run `headstart evaluate` on held-out data.")
    lines += [
        "",
        "## Use",
        "```",
        "headstart predict THIS_FOLDER texts.txt --out predictions.csv",
        "```",
        "```python",
        "import headstart",
        'model = headstart.load("THIS_FOLDER")',
        'model.predict(["some text"])',
        "```",
        "",
        "Files: `headstart.json` (config and metrics), `*.safetensors` (weights; nothing here is pickled).",
        "",
    ]
    return "\n".join(lines)
