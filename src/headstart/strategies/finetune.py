"""Strategies that train θ: ``partial:K`` (top K layers), ``lp-ft`` (linear probe, then all) and ``full``.

They share one training loop, ``train_end_to_end``, which reads top to bottom: AdamW over only the
parameters that train, linear warm-up then linear decay, gradient clipping, dropout on, and early stopping
on a validation split that restores the best epoch. A split too small to tell epochs apart is not made: the fit then
trains every epoch on all the data.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import artifacts, progress
from ..costs import count_parameters
from ..data import first_occurrence, stratified_split
from ..encoders import (
    Encoder,
    combine_layers,
    fingerprint_of,
    layer_numbers,
    pool,
    with_instruction,
    without_transformers_bars,
)
from ..errors import HeadstartError, ModelFormatError, warn
from ..features import FEATURE_CONSTRAINTS, FeatureSpec, FrozenFeatures
from ..heads import HEADS, head_from_state, head_shape, make_head, sample_weights, train_head, validation_scores
from ..metrics import predictions_collapsed
from ..params import InvalidParameterError, LayerNumbers, Options, Real, Rule, Whole
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


def parse_strategy(strategy: str) -> tuple[str, int | None]:
    """``"partial:2"`` -> ("partial", 2); ``"full"`` -> ("full", None); anything else ("partial:0", "half") ->
    (None, None)."""
    kind, _, k = strategy.partition(":")
    if kind == "partial" and k.isdigit() and int(k) >= 1:
        return kind, int(k)
    if kind in ("full", "lp-ft") and not k:
        return kind, None
    return None, None


class FineTuning:
    """A fine-tuning strategy's name: full, lp-ft or partial:K."""

    def accepts(self, value) -> bool:
        return isinstance(value, str) and parse_strategy(value)[0] is not None

    def __str__(self) -> str:
        return "one of 'full', 'lp-ft' or 'partial:K' (K layers, e.g. 'partial:2')"


def unfreeze(model: nn.Module, kind: str, k: int | None) -> None:
    """Let all of θ train (full, lp-ft), or only the top k transformer layers (partial); never the pooler, which the
    head does not read (it pools the hidden states itself), so that the trainable count is what trains."""
    model.requires_grad_(kind != "partial")
    if getattr(model, "pooler", None) is not None:
        model.pooler.requires_grad_(False)
    if kind == "partial":
        layers = getattr(getattr(model, "encoder", None), "layer", None)
        if layers is None:
            raise HeadstartError("partial:K needs a BERT-like encoder (model.encoder.layer); use full or lp-ft")
        if k > len(layers):
            raise HeadstartError(
                f"partial:{k} asks for more layers than the encoder's {len(layers)}; use partial:{len(layers)} or full"
            )
        for layer in layers[-k:]:
            layer.requires_grad_(True)


def check_reads_last_layer(layers, num_layers: int) -> None:
    """Refuse features that skip the last layer: the layers above them would train on weight decay alone."""
    read = {layer % (num_layers + 1) for layer in layer_numbers(layers)}
    if num_layers not in read:
        raise HeadstartError(
            f"layers {layer_numbers(layers)} leave out the last layer, so the layers above them would get no "
            "training signal; include -1 when the encoder trains, or read lower layers with the frozen strategy"
        )


# Early stopping needs a validation loss that can tell one epoch from the next. Averaged over one or two held-out texts
# a class it cannot: at 8 examples a class (one held out) it kept the first epoch, two optimizer steps in.
MIN_HELD_OUT_PER_CLASS = 5


def validation_split(codes: np.ndarray, fraction: float, seed: int, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) rows: ``stratified_split``'s, when it holds out at least ``MIN_HELD_OUT_PER_CLASS`` examples per
    class on average; otherwise all the rows and none held out, so that the fit trains every epoch on all of them."""
    train, val = stratified_split(codes, fraction, seed, first)
    if len(val) < MIN_HELD_OUT_PER_CLASS * len(np.unique(codes)):
        return np.arange(len(codes)), np.array([], dtype=int)
    return train, val


def linear_warmup_decay(optimizer: torch.optim.Optimizer, warmup: int, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """transformers' ``get_linear_schedule_with_warmup`` one step ahead in the warm-up: its first step has a learning
    rate of 0, which wastes one of the few steps a few-shot fit has (``benchmarks/schedule.py`` measures the cost)."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup))
    )


def train_end_to_end(
    encoder: Encoder,
    head: nn.Module,
    texts: list[str],
    y: np.ndarray,
    *,
    train: np.ndarray,
    val: np.ndarray,
    features: FeatureSpec,
    encoder_lr: float,
    head_lr: float,
    epochs: int,
    batch_size: int,
    class_weight: str | None,
    seed: int,
    description: str = "",
    patience: int = 3,
    warmup_fraction: float = 0.1,
) -> dict:
    """Train the encoder's trainable parameters and the head together on the ``train`` rows; keep the epoch with the
    lowest loss on the ``val`` rows, or, with none, train every epoch and keep the last."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    prompts = with_instruction(texts, features.instruction)
    ids = encoder.tokenize(prompts, features.max_length, padding=False)["input_ids"]
    labels = torch.as_tensor(y)
    weights = sample_weights(y, int(y.max()) + 1, class_weight)
    encoder_params = [p for p in encoder.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": encoder_params, "lr": encoder_lr}, {"params": list(head.parameters()), "lr": head_lr}],
        weight_decay=0.01,
    )
    steps = epochs * math.ceil(len(train) / batch_size)
    schedule = linear_warmup_decay(optimizer, max(1, int(warmup_fraction * steps)), steps)
    advance = progress.task(f"fine-tuning {description}", steps, "steps")

    def logits_of(rows: np.ndarray) -> torch.Tensor:
        # Right padding, as Encoder._forward pads for prediction: left padding would shift BERT's absolute positions.
        batch = encoder.tokenizer.pad({"input_ids": [ids[i] for i in rows]}, padding_side="right", return_tensors="pt")
        states = torch.stack(encoder.hidden_states(batch), dim=1)
        pooled = pool(states, batch["attention_mask"].unsqueeze(1), features.pooling)
        return head(combine_layers(pooled, features.layers, features.layer_combine, features.normalize))

    watch = val if len(val) else train
    best = {"loss": float("inf"), "epoch": 0, "state": None}
    backward_passes = 0
    for epoch in range(1, epochs + 1):
        encoder.model.train()
        head.train()
        for rows in torch.randperm(len(train), generator=generator).split(batch_size):
            idx = train[rows.numpy()]
            loss = (weights[idx] * F.cross_entropy(logits_of(idx), labels[idx], reduction="none")).mean()
            optimizer.zero_grad()
            loss.backward()
            backward_passes += 1
            torch.nn.utils.clip_grad_norm_(encoder_params + list(head.parameters()), 1.0)
            optimizer.step()
            schedule.step()
            advance(1)
        if not len(val) and epoch < epochs:
            continue  # nothing held out: nothing to judge until the last epoch, which is kept
        encoder.model.eval()
        head.eval()
        with torch.inference_mode():
            val_logits = torch.cat([logits_of(watch[i : i + 64]) for i in range(0, len(watch), 64)])
        val_loss = float(F.cross_entropy(val_logits, labels[watch]))
        predicted = val_logits.argmax(dim=1).numpy()
        if not len(val):
            best = {"loss": val_loss, "epoch": epoch, "state": None, "predicted": predicted}
        elif val_loss < best["loss"] - 1e-4:
            state = copy.deepcopy((encoder.model.state_dict(), head.state_dict()))
            best = {"loss": val_loss, "epoch": epoch, "state": state, "predicted": predicted}
        elif epoch - best["epoch"] >= patience:
            break
    if not math.isfinite(best["loss"]):
        raise HeadstartError(
            "fine-tuning diverged (the validation loss was never finite); lower --encoder-lr or use lp-ft"
        )
    if best["state"] is not None:
        encoder.model.load_state_dict(best["state"][0])
        head.load_state_dict(best["state"][1])
    encoder.model.eval()
    head.eval()
    source = "held-out split" if len(val) else "training data (nothing held out)"
    validation = {**validation_scores(y[watch], best["predicted"], source, len(watch)), "loss": best["loss"]}
    return {
        "epochs_run": epoch,
        "best_epoch": best["epoch"],
        "validation": validation,
        "collapsed": predictions_collapsed(y[watch], best["predicted"]),
        "encoder_backward_passes": backward_passes,
    }


HEAD_LR = 1e-2


class FineTunedClassifier(TextClassifier):
    """A head ω and some or all of the encoder θ, trained together.

    Parameters:
        strategy: ``full`` (all of θ from the start), ``lp-ft`` (a linear probe on cached frozen features first,
            then all of θ with a new optimizer, from that head; Kumar et al. 2022; the probe is always a linear head)
            or ``partial:K`` (the top K layers).
        encoder_lr: the encoder's AdamW learning rate; in lp-ft's second stage the probed head uses it too, so the
            fine-tune does not undo the probe.
        head_lr: the head's AdamW learning rate for full and partial:K; None is 1e-2.
        epochs: the most epochs; early stopping on ``validation_fraction`` of each class usually ends sooner. When
            that split would hold out fewer than ``MIN_HELD_OUT_PER_CLASS`` examples per class on average, too few
            to tell epochs apart, nothing is held out and every epoch trains on all the data.
        Feature options (pooling, layers, ...) are those of FrozenEncoderClassifier, so comparisons are fair.
    """

    runtime_params = ("cache",)  # batch_size is a training parameter here, not only the encoding's
    _parameter_constraints = {
        **FEATURE_CONSTRAINTS,
        "strategy": Rule((FineTuning(),)),
        "layers": Rule((LayerNumbers(),), "'last4' and 'auto' are for the frozen strategy"),
        "head": Rule((Options(HEADS),), "the token head reads token states, which only the frozen strategy keeps"),
        "encoder_lr": Rule((Real(0, low_open=True),)),
        "head_lr": Rule(
            (None, Real(0, low_open=True)),
        ),
        "epochs": Rule((Whole(1),)),
        "validation_fraction": Rule((Real(0, 1, high_open=True),)),
        "class_weight": Rule((None, Options(("balanced",))), "leave it unset to weight every example alike"),
        "seed": SEED,
    }

    def __init__(
        self,
        strategy: str = "full",
        encoder: str | None = None,
        head: str = "linear",
        pooling: str = "mean",
        layers: tuple[int, ...] = (-1,),
        layer_combine: str = "concat",
        normalize: bool = True,
        instruction: str | None = None,
        max_length: int = 256,
        encoder_lr: float = 5e-5,
        head_lr: float | None = None,
        epochs: int = 10,
        batch_size: int = 16,
        validation_fraction: float = 0.15,
        class_weight: str | None = None,
        cache: bool | str = True,
        seed: int = 0,
    ):
        self.strategy = strategy
        self.encoder = encoder
        self.head = head
        self.pooling = pooling
        self.layers = layers
        self.layer_combine = layer_combine
        self.normalize = normalize
        self.instruction = instruction
        self.max_length = max_length
        self.encoder_lr = encoder_lr
        self.head_lr = head_lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.cache = cache
        self.seed = seed

    def _check_combination(self) -> None:
        if self.strategy == "lp-ft" and self.head != "linear":
            raise InvalidParameterError(
                lambda n: (
                    f"lp-ft fine-tunes from a linear probe, so its head is linear (got "
                    f"{n.setting('head', self.head)}); leave {n('head')} unset, or use full or "
                    "partial:K for an mlp head"
                )
            )
        if self.strategy == "lp-ft" and self.head_lr is not None:
            raise InvalidParameterError(
                lambda n: (
                    f"{n.setting('strategy', 'lp-ft')} does not use {n('head_lr')}: its probed "
                    f"head trains at {n('encoder_lr')}, so the fine-tune does not undo the probe"
                )
            )

    def _features(self, encoder, cache) -> FrozenFeatures:
        """The features stage over ``encoder`` (a name, or the fine-tuned Encoder) with this model's options, fitted."""
        return FrozenFeatures(
            encoder,
            self.pooling,
            self.layers,
            self.layer_combine,
            self.normalize,
            self.instruction,
            self.max_length,
            precision="fp32",  # the precision the encoder is trained in
            cache=cache,
        ).fit()

    @own_random_state
    def fit(self, X, y) -> FineTunedClassifier:
        start = time.perf_counter()
        texts, codes = self._set_labels(X, y)
        kind, k = parse_strategy(self.strategy)
        frozen = self._features(self.encoder, self.cache)
        base, spec = frozen.encoder_, frozen.spec_
        check_reads_last_layer(spec.layers, base.num_layers)
        truncated = frozen.warn_truncated(texts)
        probe_info: dict = {}
        passes_before = base.forward_passes
        train, val = validation_split(codes, self.validation_fraction, self.seed, first_occurrence(texts))
        if kind == "lp-ft":
            # The probe must not see the rows that judge the fine-tune: a probe fitted on them starts with a flattering
            # validation loss that early stopping then refuses to leave.
            probe_features = spec.combine(frozen.per_layer([texts[i] for i in train], warn=False))
            # A probe at the best-loss C can be so sure of the training rows that the fine-tune gets little gradient.
            head, probe_info = train_head(
                probe_features,
                codes[train],
                len(self.classes_),
                "linear",
                None,
                self.class_weight,
                0.0,
                self.seed,
                within_one_se=True,
            )
            head.train()
        else:
            torch.manual_seed(self.seed)
            head = make_head(self.head, frozen.n_features_out_, len(self.classes_))
        probe_passes = base.forward_passes - passes_before
        self.encoder_ = Encoder(copy.deepcopy(base.model), base.tokenizer, base.name, base.source)
        unfreeze(self.encoder_.model, kind, k)
        trainable = count_parameters(self.encoder_.model, trainable_only=True) + count_parameters(head)
        info = train_end_to_end(
            self.encoder_,
            head,
            texts,
            codes,
            train=train,
            val=val,
            features=spec,
            encoder_lr=self.encoder_lr,
            head_lr=self.encoder_lr if kind == "lp-ft" else (self.head_lr or HEAD_LR),
            epochs=self.epochs,
            batch_size=self.batch_size,
            class_weight=self.class_weight,
            seed=self.seed,
            description=self.strategy,
        )
        if info["collapsed"]:
            warn(
                f"{self.strategy} collapsed: it predicts almost only one class on the {info['validation']['source']} "
                "although the labels hold several; its predictions are not to be trusted. Try lp-ft or frozen, more "
                "examples per class, or another --seed"
            )
        self.encoder_.model.requires_grad_(False)
        self.head_ = head
        fingerprint_after = fingerprint_of(self.encoder_.model)
        self.encoder_._fingerprint = fingerprint_after
        self.features_ = self._features(self.encoder_, False)
        self.training_info_ = fit_report(
            start,
            forward_passes=probe_passes + self.encoder_.forward_passes,
            trainable=trainable,
            frozen=self.encoder_.parameter_count() + count_parameters(head) - trainable,
            backward_passes=info.pop("encoder_backward_passes"),
            validation=info.pop("validation"),
            truncated=truncated,
            **info,
            probe=probe_info or None,
            base_fingerprint=base.fingerprint(),
            fingerprint_after=fingerprint_after,
        )
        return self

    def _runtime_features(self) -> FrozenFeatures:
        return self.features_  # the fine-tuned encoder's vectors are never cached; batch_size is the training's

    def _proba(self, features: FrozenFeatures, texts: list[str]) -> np.ndarray:
        rows = features.spec_.combine(features.per_layer(texts, warn=False))
        with torch.no_grad():
            return torch.softmax(self.head_(torch.from_numpy(rows)), dim=1).numpy()

    def _artifact(self):
        def write_encoder(staging: Path) -> None:
            with without_transformers_bars():
                self.encoder_.model.save_pretrained(staging / "encoder", safe_serialization=True)
            self.encoder_.tokenizer.save_pretrained(staging / "encoder")

        config = {
            "encoder": {**encoder_record(self.encoder_), "spec": "encoder/ (saved in this folder)"},
            "features": self.features_.spec_.to_dict(),
        }
        return config, {"head": self.head_.state_dict()}, write_encoder

    @classmethod
    def _reads(cls, strategy: str) -> bool:
        return parse_strategy(strategy)[0] is not None

    @classmethod
    def _saved_params(cls, config: dict) -> dict:
        params = super()._saved_params(config)
        if params.get("strategy") == "lp-ft":  # saved before head_lr defaulted to None, it was always 0.01
            params["head_lr"] = None
        return params

    def _restore(self, path: Path, config: dict) -> None:
        if not (path / "encoder" / "config.json").is_file():
            raise ModelFormatError(f"{path}/encoder is missing; the model folder is incomplete, retrain it")
        self.encoder_ = Encoder.load(str(path / "encoder"))
        self.encoder_.name = config["encoder"].get("name", self.encoder_.name)  # not the folder's name, "encoder"
        check_fingerprint(self.encoder_, config["encoder"], path)
        self.features_ = self._features(self.encoder_, False)
        check_spec(self.features_, config, path)
        self.head_ = head_from_state(artifacts.read_tensors(path, "head"))
        n_features, n_classes = head_shape(self.head_)
        check_count(path, "head.safetensors", "classes", n_classes, len(self.classes_))
        check_count(path, "head.safetensors", "input features", n_features, self.features_.n_features_out_)
