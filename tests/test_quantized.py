"""precision="int8": the encoder on ONNX Runtime, quantized once and cached by the weights' fingerprint."""

import sys

import numpy as np
import onnx
import pytest
from conftest import make_tiny_encoder
from safetensors.torch import load_file, save_file

import headstart
from headstart import FrozenEncoderClassifier, FrozenFeatures, quantized
from headstart.cache import default_cache_dir
from headstart.cli import main
from headstart.encoders import Encoder
from headstart.errors import EncoderError, HeadstartWarning

TEXTS = ["good flight", "the crew was rude and the seat broken", "late again", "ok", "thanks for the upgrade"]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


def test_int8_gives_every_layer_close_to_fp32_and_exports_once(tiny_encoder, monkeypatch):
    encoder = Encoder.load(tiny_encoder)
    features = FrozenFeatures(encoder=encoder, precision="int8", cache=False).fit()
    int8 = features.per_layer(TEXTS)
    exact = encoder.encode(TEXTS, precision="fp32")
    assert int8.shape == exact.shape and not np.array_equal(int8, exact)
    assert cosines(int8, exact).min() > 0.95  # every text, every layer (the embeddings' layer is not quantized)
    assert features.spec_.precision == "int8"
    assert features.spec_.namespace != FrozenFeatures(encoder=encoder, precision="fp32").fit().spec_.namespace
    (exported,) = (default_cache_dir() / "onnx").glob("*.onnx")
    assert exported.name.startswith(encoder.fingerprint()[:32])

    def export_again(*args):
        raise AssertionError("exported again although the graph is cached")

    monkeypatch.setattr(quantized, "_export", export_again)
    again = FrozenFeatures(encoder=Encoder.load(tiny_encoder), precision="int8", cache=False).fit()
    np.testing.assert_allclose(again.per_layer(TEXTS), int8, atol=1e-5)


def test_a_model_trained_in_int8_predicts_the_same_after_loading(tiny_encoder, toy_data, tmp_path):
    texts, labels = toy_data
    model = FrozenEncoderClassifier(encoder=tiny_encoder, precision="int8").fit(texts, labels)
    loaded = headstart.load(model.save(tmp_path / "m"))
    assert loaded.features_.spec_.precision == "int8"
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-5)
    assert "int8" in (tmp_path / "m" / "README.md").read_text()


def test_without_onnx_runtime_int8_says_how_to_install_it(tiny_encoder, monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed: importing it fails
    monkeypatch.setattr(headstart.encoders, "_loaded", {})  # no encoder of an earlier test, with its runner set up
    features = FrozenFeatures(encoder=Encoder.load(tiny_encoder), precision="int8").fit()
    with pytest.raises(EncoderError, match=r"pip install 'headstart\[int8\]'"):
        features.transform(TEXTS)
    (tmp_path / "texts.txt").write_text("\n".join(TEXTS))
    with pytest.raises(SystemExit) as exit:
        main(
            [
                "embed",
                str(tmp_path / "texts.txt"),
                "--out",
                str(tmp_path / "f.npy"),
                "--encoder",
                tiny_encoder,
                "--precision",
                "int8",
            ]
        )
    assert exit.value.code == 2 and "headstart[int8]" in capsys.readouterr().err
    assert not (tmp_path / "f.npy").exists()


def test_a_quantization_that_ruins_the_vectors_is_refused_and_leaves_nothing(tiny_encoder, monkeypatch):
    monkeypatch.setattr(quantized, "MIN_COSINE", 1.01)  # no quantized encoder reaches it
    features = FrozenFeatures(encoder=Encoder.load(tiny_encoder), precision="int8", cache=False).fit()
    with pytest.raises(EncoderError, match="changes encoder .* vectors too much"):
        features.transform(TEXTS)
    assert list((default_cache_dir() / "onnx").iterdir()) == []


@pytest.fixture(scope="module")
def outlier_encoder(tmp_path_factory) -> str:
    """The tiny encoder with one input channel of its first down-projection at 1000 on every token and that channel's
    weights shrunk to match, as mpnet has a few: int8's one scale for all channels then flattens the others."""
    folder = make_tiny_encoder(tmp_path_factory.mktemp("outlier-bert"))
    weights = load_file(folder / "model.safetensors")
    down = weights["encoder.layer.0.output.dense.weight"]
    down *= 10  # the feed-forward output outweighs the residual, so its int8 error shows
    weights["encoder.layer.0.intermediate.dense.bias"][3] = 1000.0
    down[:, 3] /= 10 * 1000.0
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    return str(folder)


def test_int8_scales_outlier_channels_down_when_it_drifts(outlier_encoder, monkeypatch):
    monkeypatch.setattr(quantized, "MIN_COSINE", 0.999)  # quantized as it is, this encoder reaches 0.995
    encoder = Encoder.load(outlier_encoder)
    int8, exact = encoder.encode(TEXTS, precision="int8"), encoder.encode(TEXTS, precision="fp32")
    assert cosines(int8, exact).min() > 0.999  # every text and layer
    (graph,) = (default_cache_dir() / "onnx").glob("*.onnx")
    scaled = [node.name for node in onnx.load(str(graph)).graph.node if node.name.endswith("/outliers")]
    assert scaled == ["/model/encoder/layer.0/output/dense/MatMul/outliers"]


def test_int8_on_a_cpu_without_vnni_warns_that_it_gains_little(tiny_encoder, monkeypatch):
    monkeypatch.setattr(quantized, "has_vnni", lambda: False)
    features = FrozenFeatures(encoder=Encoder.load(tiny_encoder), precision="int8", cache=False).fit()
    with pytest.warns(HeadstartWarning, match="no VNNI"):
        features.transform(TEXTS)


def test_int8_vectors_are_cached_apart_for_each_graph_recipe(tiny_encoder, monkeypatch):
    spec = FrozenFeatures(encoder=tiny_encoder, precision="int8").fit().spec_
    before = spec.namespace
    monkeypatch.setattr(quantized, "RECIPE", quantized.RECIPE + 1)  # a graph made another way gives other vectors
    assert spec.namespace != before
