"""What every strategy shares: parameter checks, labels, prediction from probabilities, the fit report, and the model
folder (``save``, and ``load`` written once here)."""

from __future__ import annotations

import copy
import functools
import hashlib
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from .. import artifacts
from ..card import model_card
from ..costs import peak_rss_mb
from ..data import as_texts, check_labeled, column_of
from ..encoders import DEFAULT_ENCODER, LEGACY_DEFAULT_ENCODER, Encoder, encoder_spec
from ..errors import FingerprintMismatchError, HeadstartError, ModelFormatError
from ..features import CHUNK, FeatureSpec, FrozenFeatures, in_chunks
from ..params import Rule, Whole, validate

SEED_LIMIT = 2**32 - 1  # NumPy's seeds
SEED = Rule((Whole(0, SEED_LIMIT),), "the same seed gives the same model")


def data_sha256(texts: list[str], labels: list) -> str:
    digest = hashlib.sha256()
    for text, label in zip(texts, labels):
        digest.update(f"{len(text)}:{text}\x1f{label!s}\x1e".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def own_random_state(fit):
    """Run ``fit`` on a copy of torch's global random state: seeding its training must not change the caller's draws."""

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            return fit(self, *args, **kwargs)

    return wrapper


def fit_report(
    started: float,
    *,
    forward_passes: int,
    trainable: int,
    frozen: int,
    backward_passes: int = 0,
    validation: dict | None = None,
    truncated: int = 0,
    seconds: dict | None = None,
    **details,
) -> dict:
    """``training_info_``, one shape for every strategy: what it cost (passes, parameters, seconds, memory), what it
    measured on held-out data (None when nothing was held out), and the strategy's own choices (``details``)."""
    return {
        "validation": validation,
        "truncated_texts": truncated,
        "encoder_forward_passes": forward_passes,
        "encoder_backward_passes": backward_passes,
        "trainable_parameters": trainable,
        "frozen_parameters": frozen,
        **details,
        "seconds": {**(seconds or {}), "fit": time.perf_counter() - started},
        "peak_rss_mb": peak_rss_mb(),
    }


class TextClassifier(ClassifierMixin, BaseEstimator):
    """What every strategy shares: label bookkeeping, ``predict`` from ``predict_proba``, ``save`` and ``load``.

    ``set_params`` after a fit describes the next fit: predictions and saved models keep the parameters the learned
    state was fitted with (``fitted_params_``), but for those that change how, not what, a model computes.
    """

    strategy = "base"
    runtime_params: tuple[str, ...] = ("cache", "batch_size")
    _parameter_constraints: dict[str, Rule] = {}

    def check_params(self) -> None:
        """Raise InvalidParameterError for a parameter, or a combination of them, that fit could not use."""
        validate(self, self._parameter_constraints)
        self._check_combination()

    def _check_combination(self) -> None:
        """Rules that tie parameters together (a head that takes no C, say)."""

    def _set_labels(self, X, y) -> tuple[list[str], np.ndarray]:
        """Forget any earlier fit, check the parameters and the data, learn ``classes_``, and return the texts and
        integer label codes.

        Forgetting first means a fit that fails half-way leaves an unfitted model, never a mix of two fits.
        """
        for name in [n for n in vars(self) if n.endswith("_") and not n.startswith("_")]:
            delattr(self, name)
        self.check_params()
        self.fitted_params_ = self.get_params()
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
        changed = {
            k: v for k, v in self.fitted_params_.items() if k not in self.runtime_params and not _same(current[k], v)
        }
        return copy.copy(self).set_params(**changed) if changed else self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self, "classes_")
        texts = as_texts(X)
        return self._as_fitted()._predict_proba(texts) if texts else np.zeros((0, len(self.classes_)))

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        """For the strategies that read an encoder's features (``features_``): truncation warned about once for all
        the texts, then ``_proba`` chunk by chunk."""
        check_is_fitted(self, "features_")
        features = self._runtime_features()
        features.warn_truncated(texts)
        return in_chunks(texts, lambda part: self._proba(features, part), (len(self.classes_),), self._chunk())

    def _runtime_features(self) -> FrozenFeatures:
        """``features_`` with this model's current cache and batch size: they change how, not what, it computes."""
        own = self.features_.get_params()
        changed = {
            k: v for k, v in self.get_params().items() if k in ("cache", "batch_size") and k in own and own[k] != v
        }
        return copy.copy(self.features_).set_params(**changed) if changed else self.features_

    def _chunk(self) -> int:
        return CHUNK

    def _proba(self, features: FrozenFeatures, texts: list[str]) -> np.ndarray:
        """Class probabilities of a chunk of texts, read through ``features``."""
        raise NotImplementedError

    def shared_pass_key(self) -> str | None:
        """What an encoder pass must be to feed this model: the namespace of the per-layer vectors it reads (models
        with equal keys can share one pass per text), or None when it runs its own (no encoder, or token states)."""
        check_is_fitted(self, "classes_")
        return self.features_.spec_.namespace if hasattr(self, "features_") else None

    def per_layer(self, texts: list[str]) -> np.ndarray:
        """The per-layer vectors of ``texts`` that this model's predictions read, through its cache setting."""
        return self._runtime_features().per_layer(texts, warn=False)

    def proba_from_per_layer(self, texts: list[str], per_layer: np.ndarray) -> np.ndarray:
        """Class probabilities of ``texts`` from their per-layer vectors, computed once for every model that shares
        this one's ``shared_pass_key`` (a server's one pass per text); equal to ``predict_proba(texts)``."""
        return self._as_fitted()._proba(_Computed(self.features_.spec_, per_layer), texts)

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
            "params": {
                k: list(v) if isinstance(v, tuple) else v for k, v in portable_params(fitted.get_params()).items()
            },
            "data": self.data_,
            **config,
            "training": self.training_info_,
        }
        return artifacts.write_model_folder(path, config, tensors, model_card(config), force=force, extra=extra)

    @classmethod
    def _reads(cls, strategy: str) -> bool:
        """Whether a folder saved by ``strategy`` is one of this class's."""
        return strategy == cls.strategy

    @classmethod
    def load(cls, path: str | Path) -> TextClassifier:
        """Load a saved model of this class; refuses a folder of another format or strategy, or a different encoder."""
        path = Path(path)
        config = artifacts.read_config(path)
        if not cls._reads(str(config.get("strategy"))):
            raise ModelFormatError(f"{path} holds a {config.get('strategy')!r} model; load it with headstart.load()")
        try:
            model = cls(**cls._saved_params(config))
            model.check_params()
            model.classes_ = np.asarray(config["labels"])
            model.data_ = config["data"]
            model.training_info_ = config["training"]
            model.fitted_params_ = model.get_params()
            model._restore(path, config)
        except (FingerprintMismatchError, ModelFormatError):
            raise
        except HeadstartError as exc:  # a parameter or layer its encoder cannot give: an edited config
            raise ModelFormatError(f"{path} cannot be loaded: {exc}") from None
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # a config or tensor file edited or cut short
            raise ModelFormatError(f"{path} is damaged ({type(exc).__name__}: {exc}); retrain the model") from None
        return model

    @classmethod
    def _saved_params(cls, config: dict) -> dict:
        """The estimator's parameters as the folder saved them."""
        return params_from_config(config)

    def _restore(self, path: Path, config: dict) -> None:
        """Set the learned state (beyond labels and the fit report) from a model folder."""
        raise NotImplementedError


class _Computed:
    """Per-layer vectors computed already, read as ``FrozenFeatures`` gives them to a strategy's ``_proba``."""

    def __init__(self, spec: FeatureSpec, per_layer: np.ndarray):
        self.spec_ = spec
        self._per_layer = per_layer

    def per_layer(self, texts: list[str], warn: bool = True) -> np.ndarray:
        return self._per_layer


def _same(a, b) -> bool:
    """Equal parameter values, arrays (from a grid search) included."""
    return a is b or (np.shape(a) == np.shape(b) and bool(np.all(a == b)))


def portable_params(params: dict) -> dict:
    """Parameters as a saved model keeps them: a cache folder becomes "the default cache" (True), since the model may
    be loaded on another machine; False, no cache, stays. The default encoder (None) is saved by name, as the default
    may change."""
    params = {**params, "cache": params["cache"] not in (False, None)} if "cache" in params else dict(params)
    if "encoder" in params and params["encoder"] is None:
        params["encoder"] = DEFAULT_ENCODER
    return params


def params_from_config(config: dict) -> dict:
    """The estimator's parameters as saved, with JSON lists turned back into tuples. A folder that names no encoder
    was saved when None meant all-MiniLM-L6-v2."""
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in config["params"].items()}
    if "encoder" in params and params["encoder"] is None:
        params["encoder"] = LEGACY_DEFAULT_ENCODER
    return portable_params(params)


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
            "(same weights, but other vocabulary, lower-casing or special tokens); use the tokenizer it was trained "
            "with or retrain the model"
        )


def check_spec(features: FrozenFeatures, config: dict, path: str | Path) -> None:
    """Refuse a folder whose features, as its parameters rebuild them here, differ from those its head was trained on
    (an edited config, say); folders saved before the spec was recorded have none to compare."""
    if "features" not in config:
        return
    differences = FeatureSpec.from_dict(config["features"]).differences(features.spec_)
    if features.precision == "auto":  # chosen again for this machine: bf16 and fp32 vectors differ by rounding only
        differences = [d for d in differences if not d.startswith("precision:")]
    if differences:
        raise ModelFormatError(
            f"{path} was trained on other features than its config now gives ({'; '.join(differences)}, "
            "saved vs now); retrain the model, or restore its headstart.json"
        )


def check_count(path: Path, file: str, what: str, found: int, expected: int) -> None:
    """Refuse a folder whose files disagree (a head for 3 labels beside a config naming 2, say)."""
    if found != expected:
        raise ModelFormatError(
            f"{path / file} has {found} {what} where headstart.json gives {expected}: the folder's "
            "files do not belong together; retrain the model"
        )
