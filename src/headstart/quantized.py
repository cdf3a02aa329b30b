"""int8 encoding: the encoder exported to ONNX once, its matrix products quantized to int8 (ONNX Runtime's dynamic
quantization: int8 weights per output channel, activations quantized per batch), and run on ONNX Runtime.

The encoder is exported with eager attention, whose pattern ONNX Runtime's transformer optimizer fuses into its own
Attention operator (it fuses none of the SDPA export's), and the fused attention's projections run as QAttention: 1.6x
faster than unfused on bbc-length texts, as fast on short ones. The export, fusion and quantization take seconds to a
minute, so the result is cached on disk beside the embedding cache, keyed by the weights' fingerprint, ONNX Runtime's
version and the graph's recipe. The graph gives every layer's token states, as the fp32 forward pass does, so
pooling, layer choice and the token head work unchanged. Quantization can ruin an encoder (a quantized multilingual
MiniLM has been reported near random), so a fresh export is checked against fp32 on a few texts; where it drifts too
far, the input channels with outliers are scaled down into the weights, and if it still drifts, int8 is refused.
"""

from __future__ import annotations

import copy
import importlib.metadata
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .cache import default_cache_dir
from .errors import EncoderError, warn

INSTALL = "pip install 'headstart[int8]'"
# Texts of other kinds and lengths, to compare the quantized encoder's vectors with fp32's once after its export.
PROBES = (
    "The flight was delayed for three hours and nobody told us why.",
    "What is the capital city of Australia?",
    "Thanks, the support team fixed my billing problem in minutes!",
    "Shares in the company fell sharply after its quarterly results missed forecasts.",
    "URGENT: you have won a free prize, call now to claim it",
    "ok",
)
# The least mean cosine similarity between the probes' int8 and fp32 mean-pooled last-layer vectors. MiniLM quantized
# as it is, and mpnet with its outlier channels scaled down, reach 0.99 and lose under 1 pt (BENCHMARKS.md); mpnet
# quantized as it is falls to 0.87.
MIN_COSINE = 0.97
# LLM.int8()'s threshold (Dettmers et al., 2022): a product's input channels that reach this magnitude are outliers.
OUTLIER = 6.0
# Bumped when the export recipe changes, so that graphs cached by an older one are made again.
RECIPE = 4


def onnxruntime():
    """The onnxruntime module, or an EncoderError saying how to install it."""
    try:
        import onnx  # noqa: F401  (the quantizer reads and writes graphs with it)
        import onnxruntime
    except ImportError:
        raise EncoderError(
            f"precision='int8' runs the encoder on ONNX Runtime, which is not installed; {INSTALL}, or choose "
            "precision auto, fp32 or bf16"
        ) from None
    return onnxruntime


def has_vnni() -> bool:
    """Whether torch finds VNNI (int8 dot products) on this CPU: without it int8 gains little over fp32."""
    return bool(torch.cpu._is_vnni_supported())


class _EveryLayer(torch.nn.Module):
    """The encoder with one output: every layer's token states, (batch, layers + 1, tokens, hidden)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        return torch.stack(hidden.hidden_states, dim=1)


def graph_version() -> str:
    """What an encoder's int8 vectors depend on besides its weights: the graph's recipe and ONNX Runtime's version."""
    try:
        version = importlib.metadata.version("onnxruntime")
    except importlib.metadata.PackageNotFoundError:
        version = "missing"  # nothing is encoded without it; the encode says how to install it
    return f"r{RECIPE}-onnxruntime{version}"


def cached_path(fingerprint: str) -> Path:
    return default_cache_dir() / "onnx" / f"{fingerprint[:32]}-int8-{graph_version()}.onnx"


class Int8Runner:
    """Runs padded batches through an encoder's int8 graph, exporting and checking it the first time."""

    def __init__(self, encoder):
        runtime = onnxruntime()
        if not has_vnni():
            warn(
                "this CPU has no VNNI instructions, so int8 encodes little faster than fp32 here; "
                "precision='auto' is the better choice on it"
            )
        path = cached_path(encoder.fingerprint())
        if not path.is_file():
            _export(encoder, path)
        options = runtime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.log_severity_level = 3  # errors only: its warnings are about graph details, not the user's data
        self.session = runtime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        feed = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        return torch.from_numpy(self.session.run(None, feed)[0])


def _export(encoder, path: Path) -> None:
    """Export, quantize and check into a temporary folder beside ``path``, then move the graph into place: two
    processes exporting at once both end with one whole file.

    The graph is quantized as it is first. Where that drifts too far from fp32 on the probes (mpnet: mean cosine
    0.87), it is quantized again with its outlier channels scaled down (mpnet: 0.993), which costs some speed; if
    even that falls short, int8 is refused."""
    onnxruntime()
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = encoder.tokenize(list(PROBES), 512)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    model = copy.deepcopy(encoder.model)  # a copy: the encoder in use keeps its faster SDPA attention in torch
    if hasattr(model, "set_attn_implementation"):  # transformers 4.48 and later
        model.set_attn_implementation("eager")
    # In eval mode: a new module is in training mode, and the exporter restores that mode on the encoder inside it,
    # which would leave dropout on.
    graph = _EveryLayer(model).eval()
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".export-") as work:
        exported, fp32, int8 = Path(work) / "exported.onnx", Path(work) / "fp32.onnx", Path(work) / "int8.onnx"
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # the exporter's notes on tracing, not the user's concern
            torch.onnx.export(
                graph,
                (ids, mask),
                str(exported),
                input_names=["input_ids", "attention_mask"],
                output_names=["hidden_states"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "tokens"},
                    "attention_mask": {0: "batch", 1: "tokens"},
                    "hidden_states": {0: "batch", 2: "tokens"},
                },
                opset_version=17,
                dynamo=False,
            )
            exact = graph(ids, mask)
        _fuse(exported, fp32, model.config)
        feed = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
        similarity = 0.0
        for source in _candidates(fp32, Path(work) / "scaled.onnx", feed):
            _quantize(source, int8)
            session = onnxruntime().InferenceSession(str(int8), providers=["CPUExecutionProvider"])
            quantized = torch.from_numpy(session.run(None, feed)[0])
            similarity = float(np.mean(last_layer_cosines(quantized, exact, mask)))
            if similarity >= MIN_COSINE:
                os.replace(int8, path)
                return
        raise EncoderError(
            f"int8 quantization changes encoder {encoder.name}'s vectors too much (mean cosine similarity to "
            f"fp32 {similarity:.3f} on sample texts, below {MIN_COSINE}); use precision auto, fp32 or bf16 with it"
        )


def _candidates(fp32: Path, scaled: Path, feed: dict):
    """The float graphs to quantize, fastest first: the fused graph as it is, then (made only if needed) with its
    outlier channels scaled down."""
    yield fp32
    _scale_outliers(fp32, scaled, feed)
    yield scaled


def _fuse(exported: Path, fused: Path, config) -> None:
    """ONNX Runtime's BERT fusions (embedding, attention, GELU and layer-norm subgraphs into single operators); those
    whose pattern an architecture lacks (mpnet's attention, with its relative position bias) are left as they are."""
    from onnxruntime.transformers.optimizer import optimize_model

    logging.disable(logging.WARNING)  # its notes on patterns it did not find
    try:
        heads, hidden = getattr(config, "num_attention_heads", 0), getattr(config, "hidden_size", 0)
        optimize_model(str(exported), model_type="bert", num_heads=heads, hidden_size=hidden).save_model_to_file(
            str(fused)
        )
    finally:
        logging.disable(logging.NOTSET)


def _scale_outliers(source: Path, target: Path, feed: dict) -> None:
    """SmoothQuant's migration (Xiao et al., 2023), kept to outliers: each input channel of a product with a weight
    matrix that reaches OUTLIER on ``feed`` is divided down to OUTLIER, and its row of the matrix multiplied to match,
    so the product is unchanged in float. One Mul per input tensor, shared by the products that read it.

    Why: int8 gives all of a product's input one scale, set by its largest value. mpnet's feed-forward layers carry a
    few channels near 100 on a few tokens (the first among them), against 2 for the rest, so the rest fall into a
    handful of int8 steps. These channels are fixed by the weights, so a few probes find them. Channels are only
    ever divided, so one the probes missed is left as it was. Splitting the outliers off into float products instead
    (LLM.int8()) keeps 0.003 more cosine on mpnet but costs 13% of int8's speed."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    weights = {matrix.name: matrix for matrix in model.graph.initializer}
    products = {node.name for node in model.graph.node if node.op_type == "MatMul" and node.input[1] in weights}
    inputs = sorted({node.input[0] for node in model.graph.node if node.name in products})
    peaks = dict(zip(inputs, _channel_peaks(model, inputs, feed)))
    nodes, scaled = [], {}
    for node in model.graph.node:
        factors = np.maximum(peaks[node.input[0]] / OUTLIER, 1.0) if node.name in products else np.ones(1)
        if (factors > 1.0).any():
            tensor = node.input[0]
            if tensor not in scaled:
                scaled[tensor] = f"{node.name}/outliers"
                divisors = numpy_helper.from_array((1.0 / factors).astype(np.float32), f"{scaled[tensor]}/divisors")
                model.graph.initializer.append(divisors)
                nodes.append(helper.make_node("Mul", [tensor, divisors.name], [scaled[tensor]], name=scaled[tensor]))
            matrix = weights[node.input[1]]
            rows = numpy_helper.to_array(matrix) * factors[:, None].astype(np.float32)
            matrix.CopyFrom(numpy_helper.from_array(rows, matrix.name))
            node.input[0] = scaled[tensor]
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(target))


def _channel_peaks(model, names: list[str], feed: dict) -> list[np.ndarray]:
    """Each named tensor's largest magnitude per channel (its last axis) when the graph runs on ``feed``."""
    from onnx import TensorProto, helper

    extra = [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in names]
    model.graph.output.extend(extra)
    try:
        session = onnxruntime().InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        values = session.run(names, feed)
    finally:
        del model.graph.output[-len(extra) :]
    return [np.abs(value).reshape(-1, value.shape[-1]).max(axis=0) for value in values]


def _quantize(source: Path, int8: Path) -> None:
    """Dynamic int8 quantization of the products with a weight matrix, fused attention's projections among them
    (attention's products of two activations lose too much in int8), per output channel (per tensor is no faster here
    and drifts four times as far from fp32)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # its advice to pre-process, which BERT-style graphs do not need
    try:
        quantize_dynamic(
            source,
            int8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Attention"],
            # The fused operators' outputs have no inferred type; they are all float.
            extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        logging.disable(logging.NOTSET)


def last_layer_cosines(quantized: torch.Tensor, exact: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """Per text, the cosine similarity of two encodings' mean-pooled last layers."""
    weights = mask.unsqueeze(-1).float()

    def pooled(states: torch.Tensor) -> torch.Tensor:
        return (states[:, -1] * weights).sum(dim=1) / weights.sum(dim=1)

    return F.cosine_similarity(pooled(quantized), pooled(exact), dim=-1).numpy()
