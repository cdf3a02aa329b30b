"""Load a Hugging Face encoder, freeze it, and turn texts into pooled features of every layer.

One forward pass with ``output_hidden_states=True`` gives all layers at once, so the layer choice is made
afterwards, on cached vectors, at no encoding cost.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import profiles, progress, quantized
from .errors import EncoderError, TruncationWarning, count, warn
from .packaged import PACKAGED, packaged

# Chosen by the benchmark (BENCHMARKS.md, "Which encoder"): frozen, it beats all-MiniLM-L6-v2 frozen on every visible
# set at every n, at about 5x the encoding cost, which a few thousand texts can afford.
DEFAULT_ENCODER = "all-mpnet-base-v2"
# What a model folder that names no encoder was trained on: the default of the headstart that saved it.
LEGACY_DEFAULT_ENCODER = "all-MiniLM-L6-v2"
POOLINGS = ("mean", "cls", "max")
PRECISIONS = ("auto", "fp32", "bf16", "int8")
LAYER_COMBINES = ("concat", "mean")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
# A tokenizer reads all of a text before it truncates, in memory many times the text's size, so texts are cut to this
# many characters a token first. Text makes a token every 3-6 characters, and words are rarely over 20 (MiniLM's longest
# WordPiece is 18), so the cut lies far past the last token kept and those tokens are the whole text's. Only what
# makes next to no tokens can carry a text past the cut with tokens to spare: runs of whitespace (WordPiece and
# SentencePiece drop them) or words over 100 characters (one [UNK] each in WordPiece). Such a text is counted as
# truncated, as it is.
CHARACTERS_PER_TOKEN = 64


def native_bf16() -> bool:
    """Whether torch finds native bfloat16 on this CPU (AVX512-BF16 or AMX): there bf16 encodes 2-2.5x faster than
    fp32; elsewhere it is emulated, and slower than fp32."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_precision(precision: str) -> str:
    """The precision that ``precision`` stands for on this machine: ``auto`` is bf16 where the CPU has native
    bfloat16 (within 0.2 pt of fp32 on every benchmark cell, BENCHMARKS.md), fp32 elsewhere."""
    if precision == "auto":
        return "bf16" if native_bf16() else "fp32"
    return precision


@contextlib.contextmanager
def without_transformers_bars():
    """Hide transformers' own progress bars ("Loading weights") inside the block: the API prints nothing, and the
    CLI draws its own bars."""
    from transformers.utils import logging as transformers_logging

    shown = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            transformers_logging.enable_progress_bar()


def resolve_encoder(name: str | None) -> tuple[str, str]:
    """Return (display name, local folder or Hub id) for an encoder name: a packaged encoder's name or alias
    (``packaged.PACKAGED``), a model folder, or a Hub id; None means the default, ``DEFAULT_ENCODER``."""
    shipped = packaged(DEFAULT_ENCODER if name is None else name)
    if shipped is not None:
        return shipped.name, str(shipped.folder())
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise EncoderError(
                f"{name} is not a Hugging Face model folder (it has no config.json); pass a model folder or Hub id"
            )
        return path.name, str(path.resolve())
    if path.exists() or not _HUB_ID.match(name) or name.startswith((".", "~")):
        raise EncoderError(
            f"encoder path {name} does not exist; pass an existing model folder, a Hub id like org/model, or a "
            f"packaged encoder ({', '.join(p.name for p in PACKAGED)})"
        )
    return name, name


def with_instruction(texts: Sequence[str], instruction: str | None) -> list[str]:
    """The texts as the encoder reads them: the instruction, a space, the text."""
    return [f"{instruction} {t}" if instruction else t for t in texts]


def fingerprint_of(model: torch.nn.Module) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes: equal fingerprints mean equal weights."""
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.detach().contiguous().cpu().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def tokenizer_fingerprint_of(tokenizer) -> str:
    """sha256 of what decides a text's token ids: the vocabulary, normalisation (lower-casing, accents), splitting
    and special tokens. Not the truncation and padding settings, which each call of the tokenizer sets."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        spec.pop("truncation", None)
        spec.pop("padding", None)
    else:  # a slow (Python) tokenizer
        spec = {
            "vocab": tokenizer.get_vocab(),
            "class": type(tokenizer).__name__,
            "options": {k: v for k, v in tokenizer.init_kwargs.items() if isinstance(v, (str, int, float, bool))},
        }
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def characters_read(max_length: int) -> int:
    """How much of a text is tokenized for ``max_length`` tokens: the text beyond is cut (``CHARACTERS_PER_TOKEN``)."""
    return CHARACTERS_PER_TOKEN * max_length


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool token states (..., tokens, hidden) into one vector per text, ignoring padding."""
    if pooling == "cls":
        return hidden[..., 0, :]
    mask = attention_mask.to(hidden.dtype)
    if pooling == "max":
        return hidden.masked_fill(mask.unsqueeze(-1) == 0, torch.finfo(hidden.dtype).min).amax(dim=-2)
    # A product with the mask rather than a masked copy of every layer's states summed: 8x faster on long texts.
    return (mask.unsqueeze(-2) @ hidden).squeeze(-2) / mask.sum(dim=-1, keepdim=True).clamp(min=1.0)


def combine_layers(per_layer: torch.Tensor, layers: Sequence[int], combine: str, normalize: bool) -> torch.Tensor:
    """Select layers from (texts, layers, hidden) vectors; L2-normalise each; concatenate or average them."""
    chosen = per_layer[:, list(layer_numbers(layers))]
    if normalize:
        chosen = F.normalize(chosen, dim=-1)
    return chosen.mean(dim=1) if combine == "mean" else chosen.flatten(1)


LAYER_SPECS = ("last4", "auto")


def last_layers(num_layers: int, k: int = 4) -> tuple[int, ...]:
    """The last k transformer layers (all of them when the encoder has fewer)."""
    return tuple(range(-min(k, num_layers), 0))


def layer_candidates(layers: Sequence[int] | str, num_layers: int) -> list[tuple[int, ...]]:
    """The layer sets a ``layers`` option stands for; more than one means: choose by cross-validation.

    ``"last4"`` (the default) concatenates the last four layers, each L2-normalised: lower layers keep lexical and
    syntactic detail that the last layer of a sentence encoder averages away (the feature-based recipe of the BERT
    paper; on every benchmark set it beats the last layer alone, see BENCHMARKS.md). ``"auto"`` lets CV on the cached
    vectors move from it to every transformer layer or to the last layer alone; the default comes first.
    """
    if not isinstance(layers, str):
        return [layer_numbers(layers)]
    if layers == "last4":
        return [last_layers(num_layers)]
    candidates = [last_layers(num_layers), tuple(range(1, num_layers + 1)), (-1,)]  # "auto"
    # In a shallow encoder two of these can name the same layers (-2,-1 and 1,2): keep the first.
    same_layers = {tuple(layer % (num_layers + 1) for layer in c): c for c in reversed(candidates)}
    return [c for c in candidates if c in same_layers.values()]


def layer_numbers(layers) -> tuple[int, ...]:
    """Layer numbers as a tuple of ints: one number, or a sequence or array of whole numbers (``LayerNumbers``)."""
    items = [layers] if np.ndim(layers) == 0 else list(np.ravel(np.asarray(layers, dtype=object)))
    return tuple(int(layer) for layer in items)


def check_layers_exist(layers: Sequence[int], num_layers: int) -> None:
    """Raise EncoderError for layer numbers this encoder does not have."""
    bad = [layer for layer in layers if not -(num_layers + 1) <= layer <= num_layers]
    if bad:
        raise EncoderError(
            f"layer(s) {bad} do not exist: this encoder has layers 0 (embeddings) to {num_layers}, "
            f"or -1 to -{num_layers + 1}"
        )


def _loading(name: str, source: str):
    """Turn whatever transformers raises while loading into one clear EncoderError."""

    @contextlib.contextmanager
    def block():
        try:
            with without_transformers_bars():
                yield
        except Exception as exc:  # transformers raises many types; the user needs one clear line
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EncoderError(
                f"could not load encoder {name!r} from {source}: {first_line}; "
                "pass a folder with config.json, model.safetensors and tokenizer files"
            ) from exc

    return block()


def load_tokenizer(name: str, source: str):
    from transformers import AutoTokenizer

    with _loading(name, source):
        tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None:  # GPT-style tokenizers have none; padding is masked out, so any token does
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.sep_token or tokenizer.unk_token
    return tokenizer


def load_model(name: str, source: str) -> torch.nn.Module:
    """``AutoModel`` (no pre-training head) in eval mode, with no gradients."""
    from transformers import AutoModel

    with _loading(name, source):
        model = AutoModel.from_pretrained(source, use_safetensors=True)
    model.eval()
    model.requires_grad_(False)
    return model


class Encoder:
    """A frozen pre-trained encoder: ``AutoModel`` (no pre-training head), in eval mode, with no gradients.

    Loaded from a folder whose ``profiles`` record is current, the weights and the tokenizer load on first use: a fit
    or predict whose vectors are all cached needs neither. ``forward_passes`` counts batches run through the model,
    so tests and benchmarks can prove a cache hit.
    """

    def __init__(
        self,
        model: torch.nn.Module | None,
        tokenizer,
        name: str,
        source: str,
        profile: dict | None = None,
        state: dict | None = None,
    ):
        self._model = model
        self._tokenizer = tokenizer
        self.name = name
        self.source = source
        self.forward_passes = 0
        self.truncated_texts = 0  # of the texts encoded (each distinct text once per call): for batch's summary
        self._profile = profile
        self._state = state  # the folder's files as the profile knew them
        self._fingerprint: str | None = profile["fingerprint"] if profile else None
        self._tokenizer_fingerprint: str | None = profile["tokenizer_fingerprint"] if profile else None
        self._rehashed: tuple[tuple, str] | None = None  # (weights' write state, fingerprint) of the last re-hash
        self._int8: quantized.Int8Runner | None = None

    @classmethod
    def load(cls, name: str | None = None) -> Encoder:
        """Load an encoder by packaged name, local folder or Hub id (None: ``DEFAULT_ENCODER``)."""
        display, source = resolve_encoder(name)
        state = profiles.folder_state(source)
        profile = profiles.read(state)
        if profile is not None:
            return cls(None, None, display, source, profile, state)
        encoder = cls(load_model(name or display, source), load_tokenizer(name or display, source), display, source)
        if state is not None:
            profile = encoder.profile()
            if profiles.folder_state(source) == state:  # not rewritten while it loaded
                profiles.write(state, profile)
        return encoder

    @property
    def model(self) -> torch.nn.Module:
        if self._model is None:
            self._check_unchanged()
            self._model = load_model(self.name, self.source)
        return self._model

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._check_unchanged()
            self._tokenizer = load_tokenizer(self.name, self.source)
        return self._tokenizer

    @tokenizer.setter
    def tokenizer(self, tokenizer) -> None:
        self._tokenizer = tokenizer

    def load_now(self) -> Encoder:
        """Load the weights and the tokenizer now, not on first use (a server should not keep its first request
        waiting)."""
        for part in ("model", "tokenizer"):
            getattr(self, part)  # each property loads its part on first access
        return self

    def _check_unchanged(self) -> None:
        """Refuse to load files other than those the profile (and so the fingerprint in use) describes."""
        if self._state is not None and profiles.folder_state(self.source) != self._state:
            raise EncoderError(
                f"the files of encoder {self.name} in {self.source} changed while it was in use; run again"
            )

    def _known(self, field: str, compute, part: str = "_model"):
        """A fact from the profile while the part that holds it (``_model`` or ``_tokenizer``) is not loaded, else
        computed from that part."""
        if self._profile is not None and getattr(self, part) is None:
            return self._profile[field]
        return compute()

    def profile(self) -> dict:
        """The facts ``profiles`` records, as they are now."""
        return {
            "fingerprint": self.fingerprint(),
            "tokenizer_fingerprint": self.tokenizer_fingerprint(),
            "num_layers": self.num_layers,
            "hidden_size": self.hidden_size,
            "max_positions": self.max_positions,
            "parameters": self.parameter_count(),
            "special_tokens": self.special_tokens,
            "tokenizer_model": self.tokenizer_model,
        }

    @property
    def num_layers(self) -> int:
        return self._known("num_layers", lambda: int(self.model.config.num_hidden_layers))

    @property
    def hidden_size(self) -> int:
        return self._known("hidden_size", lambda: int(self.model.config.hidden_size))

    @property
    def special_tokens(self) -> int:
        """How many special tokens the tokenizer adds to one text."""
        return self._known("special_tokens", lambda: int(self.tokenizer.num_special_tokens_to_add()), "_tokenizer")

    @property
    def tokenizer_model(self) -> str:
        """The fast tokenizer's model (WordPiece, BPE, Unigram), or "" for a slow tokenizer."""
        return self._known("tokenizer_model", self._tokenizer_model_now, "_tokenizer")

    def _tokenizer_model_now(self) -> str:
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        return type(backend.model).__name__ if backend is not None else ""

    @property
    def max_positions(self) -> int:
        """The most tokens this encoder can read in one text."""
        if self._profile is not None and (self._model is None or self._tokenizer is None):
            return self._profile["max_positions"]
        # RoBERTa-style embeddings number positions from after the padding index, which uses up that many of them.
        offset = getattr(getattr(self.model, "embeddings", None), "padding_idx", None)
        limits = [
            getattr(self.model.config, "max_position_embeddings", 512) - (offset + 1 if offset is not None else 0)
        ]
        tokenizer_limit = getattr(self.tokenizer, "model_max_length", None)
        if tokenizer_limit and tokenizer_limit < 1_000_000:
            limits.append(tokenizer_limit)
        return int(min(limits))

    def parameter_count(self) -> int:
        return self._known("parameters", lambda: sum(p.numel() for p in self.model.parameters()))

    def fingerprint(self) -> str:
        """Fingerprint of the weights as loaded; recompute with ``fingerprint_of(self.model)``."""
        if self._fingerprint is None:
            self._fingerprint = self.fingerprint_now()
        return self._fingerprint

    def tokenizer_fingerprint(self) -> str:
        """``tokenizer_fingerprint_of`` the tokenizer, computed once: the weights' fingerprint does not see it, and
        two folders with the same weights but another tokenizer (lower-casing, say) give other vectors."""
        if self._tokenizer_fingerprint is None:
            self._tokenizer_fingerprint = tokenizer_fingerprint_of(self.tokenizer)
        return self._tokenizer_fingerprint

    def fingerprint_now(self) -> str:
        """Fingerprint of the weights as they are now: equal to ``fingerprint()`` while θ is frozen.

        Re-hashed only when a weight was written since the last hash (hashing costs a sizeable share of a warm head
        fit): every write through torch (an optimizer step, ``copy_``, ``load_state_dict``) bumps the tensor's
        version counter, and a replaced tensor has a new address. Writes that bypass torch (``.data``, a NumPy
        view) are not seen; ``fingerprint_of(model)`` always re-hashes. Weights never loaded are as recorded.
        """
        if self._model is None and self._fingerprint is not None:
            return self._fingerprint
        written = tuple((key, t.data_ptr(), t._version) for key, t in self.model.state_dict(keep_vars=True).items())
        if self._rehashed is None or self._rehashed[0] != written:
            self._rehashed = (written, fingerprint_of(self.model))
        return self._rehashed[1]

    def check_max_length(self, max_length: int) -> None:
        special = self.special_tokens
        if not max_length > special:  # below that, the tokenizer silently stops truncating
            raise EncoderError(
                f"max_length must leave room for text beside the encoder's {special} special tokens "
                f"(got {max_length}); the default is 256"
            )

    def tokenize(self, texts: Sequence[str], max_length: int, padding: bool = True):
        """Token ids of each text's first ``max_length`` tokens, reading at most ``characters_read`` of it."""
        self.check_max_length(max_length)
        limit = min(max_length, self.max_positions)
        reach = characters_read(limit)
        return self.tokenizer(
            [text[:reach] for text in texts],
            truncation=True,
            max_length=limit,
            padding=padding,
            padding_side="right",
            return_tensors="pt" if padding else None,
        )

    def hidden_states(self, batch) -> tuple[torch.Tensor, ...]:
        """All layers' token states (embeddings first) from one forward pass."""
        self.forward_passes += 1
        inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        return self.model(**inputs, output_hidden_states=True).hidden_states

    def encode(
        self,
        texts: Sequence[str],
        pooling: str = "mean",
        max_length: int = 256,
        instruction: str | None = None,
        batch_size: int = 32,
        precision: str = "fp32",
    ) -> np.ndarray:
        """Pooled vectors of every layer, shape (texts, layers + 1, hidden), float32.

        Identical texts are encoded once; texts are sorted by token length and padded per batch only
        as far as the longest in it. ``precision="bf16"`` runs the matmuls in bfloat16 (autocast): faster
        on CPUs with native bf16 (AVX512-BF16, AMX), much slower on others (see BENCHMARKS.md); ``"auto"`` is bf16
        where it is native, else fp32; ``"int8"`` runs a quantized copy on ONNX Runtime (``quantized``). Vectors
        stay float32.
        """
        unique = list(dict.fromkeys(texts))
        out = np.zeros((len(unique), self.num_layers + 1, self.hidden_size), dtype=np.float32)
        for rows, states, batch in self._forward(unique, max_length, instruction, batch_size, precision):
            out[rows] = pool(states, batch["attention_mask"].unsqueeze(1), pooling).float().numpy()
        index = {t: i for i, t in enumerate(unique)}
        return out[[index[t] for t in texts]]

    def token_states(
        self,
        texts: Sequence[str],
        pooling: str = "mean",
        max_length: int = 256,
        instruction: str | None = None,
        batch_size: int = 32,
        precision: str = "fp32",
    ) -> tuple[np.ndarray, list[torch.Tensor]]:
        """Pooled vectors of every layer, as ``encode`` gives them, and from the same forward pass each text's
        token states (tokens, layers + 1, hidden), each L2-normalised whatever the classifier's ``normalize``, without
        the tokenizer's special tokens ([CLS], [SEP], and [UNK], whose state is context alone) unless the text has no
        others, so that every text keeps at least one token. Identical texts are encoded once each time they occur."""
        pooled = np.zeros((len(texts), self.num_layers + 1, self.hidden_size), dtype=np.float32)
        tokens: list[torch.Tensor] = [torch.empty(0)] * len(texts)
        special = torch.tensor(sorted(self.tokenizer.all_special_ids))
        for rows, states, batch in self._forward(list(texts), max_length, instruction, batch_size, precision):
            pooled[rows] = pool(states, batch["attention_mask"].unsqueeze(1), pooling).float().numpy()
            states = F.normalize(states.float().transpose(1, 2), dim=-1)  # (batch, tokens, layers + 1, hidden)
            for row, text_states, ids, used in zip(rows, states, batch["input_ids"], batch["attention_mask"].bool()):
                keep = used & ~torch.isin(ids, special)
                tokens[row] = text_states[keep if keep.any() else used]  # a boolean index copies
        return pooled, tokens

    def _forward(self, texts: list[str], max_length: int, instruction: str | None, batch_size: int, precision: str):
        """Yield (rows, hidden states (batch, layers + 1, tokens, hidden), the padded batch) batch by batch, longest
        texts first, each batch padded only as far as its longest text."""
        if precision not in PRECISIONS:
            raise EncoderError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
        precision = resolve_precision(precision)
        if not texts:
            return
        prompts = with_instruction(texts, instruction)
        limit = min(max_length, self.max_positions)
        ids = self.tokenize(prompts, limit, padding=False)["input_ids"]
        self._warn_truncated(prompts, ids, limit)
        order = np.argsort([len(x) for x in ids], kind="stable")[::-1]
        advance = progress.task(f"encoding with {self.name}", len(texts))
        self.model.eval()
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            # Padded on the right whatever the tokenizer's default: left padding would shift BERT's absolute positions.
            batch = self.tokenizer.pad({"input_ids": [ids[i] for i in rows]}, padding_side="right", return_tensors="pt")
            if precision == "int8":
                states = self._int8_states(batch)
            else:  # only the forward pass runs under these modes: the caller's code between batches must not
                with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                    states = torch.stack(self.hidden_states(batch), dim=1)
            yield rows, states, batch
            advance(len(rows))

    def _int8_states(self, batch) -> torch.Tensor:
        """Every layer's token states from the int8 graph (``quantized``), set up on first use."""
        if self._int8 is None:
            self._int8 = quantized.Int8Runner(self)
        self.forward_passes += 1
        return self._int8(batch["input_ids"], batch["attention_mask"])

    def warn_truncated(self, texts: Sequence[str], max_length: int, instruction: str | None = None) -> int:
        """Warn how many of these texts (each copy counted) ``max_length`` cuts, without encoding them, and return
        that number: a fit or predict warns once for all its texts, whether their vectors are cached or not.

        Only texts long enough to reach the limit are tokenized: a WordPiece or BPE token holds at least one byte of
        UTF-8 (a SentencePiece word may add a marker, so two tokens a byte for the rest), and a warm fit of short
        texts pays nothing for the check."""
        prompts = with_instruction(list(texts), instruction)
        limit = min(max_length, self.max_positions)
        self.check_max_length(limit)
        special = self.special_tokens
        per_byte = 1 if self.tokenizer_model in ("WordPiece", "BPE") else 2
        reach = characters_read(limit)  # a text cut there still has more bytes than the limit
        long = [p for p in prompts if per_byte * len(p[:reach].encode("utf-8")) + special >= limit]
        return self._count_truncated(long, limit, len(prompts))

    def _warn_truncated(self, prompts: list[str], ids: list[list[int]], limit: int) -> None:
        """``warn_truncated`` for texts already tokenized at the limit: only those that reach it are looked at again."""
        reach = characters_read(limit)
        self.truncated_texts += self._count_truncated(
            [p for p, x in zip(prompts, ids) if len(x) >= limit or len(p) > reach], limit, len(prompts)
        )

    def _count_truncated(self, candidates: list[str], limit: int, of: int) -> int:
        reach = characters_read(limit)
        within = [p for p in candidates if len(p) <= reach]  # the others are cut before tokenizing: truncated
        truncated = len(candidates) - len(within)
        if within:
            # One token past the limit tells a truncated text apart; a full, untruncated tokenization would also make
            # transformers log a misleading "indexing errors" warning for texts longer than the model's positions.
            longer = self.tokenizer(within, truncation=True, max_length=limit + 1)["input_ids"]
            truncated += sum(len(x) > limit for x in longer)
        if truncated:
            warn(
                f"{truncated} of {count(of, 'text')} {(were := 'was' if truncated == 1 else 'were')} "
                f"longer than {limit} tokens and {were} truncated",
                TruncationWarning,
            )
        return truncated


_loaded: dict[str, Encoder] = {}


def load_encoder(name: str | Encoder | None = None) -> Encoder:
    """``Encoder.load`` once per process and source: cross-validation and many heads share one frozen encoder. An
    Encoder (a fine-tuned one, say) is itself."""
    if isinstance(name, Encoder):
        return name
    _, source = resolve_encoder(name)
    if source not in _loaded:
        _loaded[source] = Encoder.load(name)
    return _loaded[source]


def encoder_spec(encoder: Encoder) -> str:
    """What to pass to ``load_encoder`` to get this encoder again: a packaged encoder's name (it resolves on any
    machine with its packages), else its folder or Hub id."""
    shipped = packaged(encoder.name)
    if shipped is not None and shipped.installed():
        try:
            if Path(shipped.folder()) == Path(encoder.source):
                return shipped.name
        except EncoderError:
            pass
    return encoder.source
