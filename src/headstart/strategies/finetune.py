"""Strategies that train θ: ``partial:K`` (top K layers), ``lp-ft`` (linear probe, then all) and ``full``.

They share one training loop, ``train_end_to_end``, which reads top to bottom: AdamW over only the
parameters that train, linear warm-up then linear decay, gradient clipping, dropout on, and early stopping
on a validation split that restores the best epoch.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .. import artifacts
from ..cache import encode_cached
from ..costs import count_parameters, peak_rss_mb
from ..data import first_occurrence, stratified_split
from ..encoders import (
    Encoder, check_feature_options, combine_layers, fingerprint_of, layer_numbers, load_encoder, pool, with_instruction, without_transformers_bars,
)
from ..errors import HeadstartError, ModelFormatError, TruncationWarning
from ..heads import check_head_options, head_from_state, make_head, sample_weights, train_head, validation_scores
from ..model import (
    TextClassifier, check_fingerprint, encoder_record, make_cache, own_random_state, params_from_config, predict_in_chunks, restore_fitted,
)


def parse_strategy(strategy: str) -> tuple[str, int | None]:
    """``"partial:2"`` -> ("partial", 2); ``"full"`` -> ("full", None)."""
    kind, _, k = strategy.partition(":")
    if kind == "partial":
        if not k.isdigit() or int(k) < 1:
            raise HeadstartError(f"bad strategy {strategy!r}; partial needs a layer count, e.g. partial:2")
        return kind, int(k)
    if kind in ("full", "lp-ft") and not k:
        return kind, None
    raise HeadstartError(f"unknown fine-tuning strategy {strategy!r}; use full, lp-ft or partial:K")


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
            raise HeadstartError(f"partial:{k} asks for more layers than the encoder's {len(layers)}; use partial:{len(layers)} or full")
        for layer in layers[-k:]:
            layer.requires_grad_(True)


def check_reads_last_layer(layers, num_layers: int) -> None:
    """Refuse features that skip the last layer: the layers above them would train on weight decay alone."""
    read = {layer % (num_layers + 1) for layer in layer_numbers(layers)}
    if num_layers not in read:
        raise HeadstartError(
            f"layers {layer_numbers(layers)} leave out the last layer, so the layers above them would get no training signal; "
            "include -1 when the encoder trains, or read lower layers with the frozen strategy"
        )


def train_end_to_end(
    encoder: Encoder,
    head: nn.Module,
    texts: list[str],
    y: np.ndarray,
    *,
    train: np.ndarray,
    val: np.ndarray,
    features: dict,
    encoder_lr: float,
    head_lr: float,
    epochs: int,
    batch_size: int,
    class_weight: str | None,
    seed: int,
    patience: int = 3,
    warmup_fraction: float = 0.1,
) -> dict:
    """Train the encoder's trainable parameters and the head together on the ``train`` rows; keep the epoch with the
    lowest loss on the ``val`` rows."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    prompts = with_instruction(texts, features["instruction"])
    ids = encoder.tokenize(prompts, features["max_length"], padding=False)["input_ids"]
    labels = torch.as_tensor(y)
    weights = sample_weights(y, int(y.max()) + 1, class_weight)
    encoder_params = [p for p in encoder.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": encoder_params, "lr": encoder_lr}, {"params": list(head.parameters()), "lr": head_lr}], weight_decay=0.01
    )
    steps = epochs * math.ceil(len(train) / batch_size)
    warmup = max(1, int(warmup_fraction * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup))
    )

    def logits_of(rows: np.ndarray) -> torch.Tensor:
        # Right padding, as Encoder._forward pads for prediction: left padding would shift BERT's absolute positions.
        batch = encoder.tokenizer.pad({"input_ids": [ids[i] for i in rows]}, padding_side="right", return_tensors="pt")
        states = torch.stack(encoder.hidden_states(batch), dim=1)
        pooled = pool(states, batch["attention_mask"].unsqueeze(1), features["pooling"])
        return head(combine_layers(pooled, features["layers"], features["layer_combine"], features["normalize"]))

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
        encoder.model.eval()
        head.eval()
        with torch.inference_mode():
            val_logits = torch.cat([logits_of(watch[i : i + 64]) for i in range(0, len(watch), 64)])
        val_loss = float(F.cross_entropy(val_logits, labels[watch]))
        if val_loss < best["loss"] - 1e-4:
            state = copy.deepcopy((encoder.model.state_dict(), head.state_dict()))
            best = {"loss": val_loss, "epoch": epoch, "state": state, "predicted": val_logits.argmax(dim=1).numpy()}
        elif epoch - best["epoch"] >= patience:
            break
    if best["state"] is None:
        raise HeadstartError("fine-tuning diverged (the validation loss was never finite); lower --encoder-lr or use lp-ft")
    encoder.model.load_state_dict(best["state"][0])
    head.load_state_dict(best["state"][1])
    encoder.model.eval()
    head.eval()
    source = "held-out split" if len(val) else "training data (nothing held out)"
    validation = {**validation_scores(y[watch], best["predicted"], source, len(watch)), "loss": best["loss"]}
    return {"epochs_run": epoch, "best_epoch": best["epoch"], "validation": validation, "encoder_backward_passes": backward_passes}


class FineTunedClassifier(TextClassifier):
    """A head ω and some or all of the encoder θ, trained together.

    Parameters:
        strategy: ``full`` (all of θ from the start), ``lp-ft`` (a linear probe on cached frozen features first,
            then all of θ with a new optimizer, from that head; Kumar et al. 2022; the probe is always a linear head)
            or ``partial:K`` (the top K layers).
        encoder_lr, head_lr: AdamW learning rates; in lp-ft's second stage the probed head also uses
            ``encoder_lr``, so the fine-tune does not undo the probe.
        epochs: the most epochs; early stopping on ``validation_fraction`` of each class usually ends sooner.
        Feature options (pooling, layers, ...) are those of FrozenEncoderClassifier, so comparisons are fair.
    """

    runtime_params = ("cache",)  # batch_size is a training parameter here, not only the encoding's

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
        head_lr: float = 1e-2,
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

    def _feature_options(self) -> dict:
        return {
            "pooling": self.pooling, "layers": layer_numbers(self.layers), "layer_combine": self.layer_combine,
            "normalize": self.normalize, "instruction": self.instruction, "max_length": self.max_length,
        }

    @own_random_state
    def fit(self, X, y) -> FineTunedClassifier:
        start = time.perf_counter()
        kind, k = parse_strategy(self.strategy)
        check_head_options(self.head, None, self.class_weight)
        if kind == "lp-ft" and self.head != "linear":
            raise HeadstartError(f"lp-ft fine-tunes from a linear probe, so its head is linear (got head={self.head!r}); "
                                 "leave head unset, or use full or partial:K for an mlp head")
        texts, codes = self._set_labels(X, y)
        base = load_encoder(self.encoder)
        check_feature_options(self.pooling, self.layers, self.layer_combine, base.num_layers)
        check_reads_last_layer(self.layers, base.num_layers)
        base.warn_truncated(texts, self.max_length, self.instruction)
        options = self._feature_options()
        probe_info: dict = {}
        passes_before = base.forward_passes
        train, val = stratified_split(codes, self.validation_fraction, self.seed, first_occurrence(texts))
        if kind == "lp-ft":
            # The probe must not see the rows that judge the fine-tune: a probe fitted on them starts with a flattering
            # validation loss that early stopping then refuses to leave.
            train_texts = [texts[i] for i in train]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", TruncationWarning)  # warned about above, for all the texts
                per_layer = encode_cached(base, train_texts, make_cache(self.cache), self.pooling, self.max_length, self.instruction)
            probe_features = combine_layers(torch.from_numpy(per_layer), self.layers, self.layer_combine, self.normalize)
            # A probe at the best-loss C can be so sure of the training rows that the fine-tune gets little gradient.
            head, probe_info = train_head(
                probe_features.numpy(), codes[train], len(self.classes_), "linear", None, self.class_weight, 0.0, self.seed, within_one_se=True
            )
            head.train()
        else:
            torch.manual_seed(self.seed)
            n_features = base.hidden_size * (len(layer_numbers(self.layers)) if self.layer_combine == "concat" else 1)
            head = make_head(self.head, n_features, len(self.classes_))
        probe_passes = base.forward_passes - passes_before
        self.encoder_ = Encoder(copy.deepcopy(base.model), base.tokenizer, base.name, base.source)
        unfreeze(self.encoder_.model, kind, k)
        trainable = count_parameters(self.encoder_.model, trainable_only=True) + count_parameters(head)
        info = train_end_to_end(
            self.encoder_, head, texts, codes, train=train, val=val, features=options,
            encoder_lr=self.encoder_lr, head_lr=self.encoder_lr if kind == "lp-ft" else self.head_lr,
            epochs=self.epochs, batch_size=self.batch_size, class_weight=self.class_weight, seed=self.seed,
        )
        self.encoder_.model.requires_grad_(False)
        self.head_ = head
        self.training_info_ = {
            **info,
            "probe": probe_info or None,
            "encoder_forward_passes": probe_passes + self.encoder_.forward_passes,
            "trainable_parameters": trainable,
            "frozen_parameters": self.encoder_.parameter_count() + count_parameters(head) - trainable,
            "base_fingerprint": base.fingerprint(),
            "fingerprint_after": fingerprint_of(self.encoder_.model),
            "seconds": {"fit": time.perf_counter() - start},
            "peak_rss_mb": peak_rss_mb(),
        }
        self.encoder_._fingerprint = self.training_info_["fingerprint_after"]
        return self

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        check_is_fitted(self, "head_")
        return predict_in_chunks(texts, self._proba, len(self.classes_))

    def _proba(self, texts: list[str]) -> np.ndarray:
        per_layer = self.encoder_.encode(texts, self.pooling, self.max_length, self.instruction)
        features = combine_layers(torch.from_numpy(per_layer), self.layers, self.layer_combine, self.normalize)
        with torch.no_grad():
            return torch.softmax(self.head_(features), dim=1).numpy()

    def _artifact(self):
        def write_encoder(staging: Path) -> None:
            with without_transformers_bars():
                self.encoder_.model.save_pretrained(staging / "encoder", safe_serialization=True)
            self.encoder_.tokenizer.save_pretrained(staging / "encoder")

        config = {"encoder": {**encoder_record(self.encoder_), "spec": "encoder/ (saved in this folder)"}}
        return config, {"head": self.head_.state_dict()}, write_encoder

    @classmethod
    def load(cls, path: str | Path) -> FineTunedClassifier:
        config = artifacts.read_config(path)
        if not (Path(path) / "encoder" / "config.json").is_file():
            raise ModelFormatError(f"{path}/encoder is missing; the model folder is incomplete, retrain it")
        model = cls(**params_from_config(config))
        model.encoder_ = Encoder.load(str(Path(path) / "encoder"))
        model.encoder_.name = config["encoder"].get("name", model.encoder_.name)  # not the folder's name, "encoder"
        check_fingerprint(model.encoder_, config["encoder"], path)
        restore_fitted(model, config)
        model.head_ = head_from_state(artifacts.read_tensors(path, "head"))
        return model
