import json
import logging
import os
import shutil
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from headstart.cache import default_cache_dir
from headstart.encoders import Encoder, combine_layers, fingerprint_of, load_encoder
from headstart.errors import EncoderError, HeadstartWarning
from headstart.features import FrozenFeatures
from headstart.params import InvalidParameterError


def test_mean_pooling_ignores_padding(tiny_encoder):
    encoder = load_encoder(tiny_encoder)
    alone = encoder.encode(["good flight"])
    padded = encoder.encode(["good flight", "bad awful terrible worst poor broken late lost rude service"])
    np.testing.assert_allclose(alone[0], padded[0], atol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
def test_every_layer_comes_from_one_forward_pass(tiny_encoder, pooling):
    encoder = Encoder.load(tiny_encoder)
    vectors = encoder.encode(["good flight", "bad seat"], pooling=pooling, batch_size=8)
    assert vectors.shape == (2, encoder.num_layers + 1, encoder.hidden_size)
    assert encoder.forward_passes == 1


def test_identical_texts_are_encoded_once(tiny_encoder):
    encoder = Encoder.load(tiny_encoder)
    vectors = encoder.encode(["good flight"] * 10 + ["bad seat"], batch_size=1)
    assert encoder.forward_passes == 2
    np.testing.assert_array_equal(vectors[0], vectors[9])


def test_instruction_is_prepended(tiny_encoder):
    encoder = load_encoder(tiny_encoder)
    plain = encoder.encode(["good flight"])
    instructed = encoder.encode(["good flight"], instruction="very")
    np.testing.assert_allclose(instructed, encoder.encode(["very good flight"]), atol=1e-6)
    assert not np.allclose(plain, instructed)


def test_texts_longer_than_max_length_are_truncated_and_counted(tiny_encoder):
    encoder = load_encoder(tiny_encoder)
    with pytest.warns(HeadstartWarning, match="1 of 2 texts was longer than 8 tokens"):
        encoder.encode(["good " * 20, "bad"], max_length=8)


def test_texts_longer_than_the_model_get_only_our_warning(tiny_encoder):
    encoder = load_encoder(tiny_encoder)
    logged: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: logged.append(record.getMessage())
    logging.getLogger("transformers").addHandler(handler)
    try:
        with pytest.warns(HeadstartWarning, match="1 of 1 text was longer than 64 tokens"):
            encoder.encode(["good " * 100])
    finally:
        logging.getLogger("transformers").removeHandler(handler)
    assert not [m for m in logged if "indexing errors" in m]


def test_fingerprint_identifies_the_weights(tiny_encoder):
    encoder = Encoder.load(tiny_encoder)
    assert encoder.fingerprint() == fingerprint_of(Encoder.load(tiny_encoder).model)
    with torch.no_grad():
        next(encoder.model.parameters())[0, 0] += 1.0
    assert fingerprint_of(encoder.model) != encoder.fingerprint()


def test_fingerprint_now_sees_every_write_through_torch(tiny_encoder):
    encoder = Encoder.load(tiny_encoder)
    original = encoder.fingerprint()
    assert encoder.fingerprint_now() == original
    weight = next(encoder.model.parameters())
    saved = {k: v.clone() for k, v in encoder.model.state_dict().items()}
    with torch.no_grad():
        weight[0, 0] += 1.0
    assert encoder.fingerprint_now() == fingerprint_of(encoder.model) != original
    encoder.model.load_state_dict(saved)
    assert encoder.fingerprint_now() == original
    weight.requires_grad_(True)
    weight.grad = torch.ones_like(weight)
    torch.optim.SGD([weight], lr=0.1).step()
    assert encoder.fingerprint_now() == fingerprint_of(encoder.model) != original


def test_combine_layers_concatenates_or_averages_normalised_layers():
    per_layer = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    assert combine_layers(per_layer, (-2, -1), "concat", True).shape == (2, 8)
    averaged = combine_layers(per_layer, (-2, -1), "mean", False)
    torch.testing.assert_close(averaged, per_layer[:, 1:].mean(dim=1))
    norms = combine_layers(per_layer, (-1,), "concat", True).norm(dim=1)
    torch.testing.assert_close(norms, torch.ones(2))


@pytest.mark.parametrize(
    ("pooling", "layers", "combine", "message"),
    [
        ("sum", (-1,), "concat", r"pooling must be one of 'mean', 'cls', 'max' \(got 'sum'\)"),
        ("mean", (5,), "concat", r"layer\(s\) \[5\] do not exist"),
        ("mean", (-1,), "stack", "layer_combine must be one of 'concat', 'mean'"),
        ("mean", (), "concat", "layers must be"),
        ("mean", "auto", "concat", "'auto' chooses layers by cross-validation on labels"),
    ],
)
def test_bad_feature_options_are_refused(tiny_encoder, pooling, layers, combine, message):
    with pytest.raises((EncoderError, InvalidParameterError), match=message):
        FrozenFeatures(encoder=tiny_encoder, pooling=pooling, layers=layers, layer_combine=combine).fit()


def test_missing_encoder_path_is_a_clear_error(tmp_path):
    with pytest.raises(EncoderError, match="does not exist"):
        Encoder.load(str(tmp_path / "no-such-model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(EncoderError, match="no config.json"):
        Encoder.load(str(tmp_path / "empty"))


def test_bf16_encoding_stays_close_to_fp32_and_has_its_own_cache_key(tiny_encoder):
    encoder = load_encoder(tiny_encoder)
    exact = encoder.encode(["good flight", "bad seat today"])
    fast = encoder.encode(["good flight", "bad seat today"], precision="bf16")
    assert fast.dtype == np.float32
    cosine = (exact * fast).sum(-1) / np.linalg.norm(exact, axis=-1) / np.linalg.norm(fast, axis=-1)
    assert cosine.min() > 0.99
    specs = [FrozenFeatures(encoder=tiny_encoder, precision=p).fit().spec_ for p in ("fp32", "bf16")]
    assert specs[0].namespace != specs[1].namespace
    with pytest.raises(EncoderError, match="unknown precision"):
        encoder.encode(["x"], precision="fp8")


@pytest.mark.parametrize("max_length", [0, 2])
def test_max_length_must_leave_room_beside_the_special_tokens(tiny_encoder, max_length):
    # At 2 the tokenizer stopped truncating, and every text became [CLS] [SEP].
    with pytest.raises(
        EncoderError,
        match=f"max_length must leave room for text beside the encoder's 2 special tokens \\(got {max_length}\\)",
    ):
        load_encoder(tiny_encoder).encode(["good flight " * 40], max_length=max_length)


def test_a_text_gets_the_same_vector_whatever_the_tokenizer_pads_and_whatever_it_is_batched_with(tiny_encoder):
    encoder = Encoder.load(tiny_encoder)
    alone = encoder.encode(["good flight"], pooling="cls")
    encoder.tokenizer.padding_side = "left"
    beside_a_long_one = encoder.encode(["good flight", "bad seat " * 10], pooling="cls")[0]
    np.testing.assert_allclose(beside_a_long_one, alone[0], atol=1e-5)


def test_roberta_style_positions_leave_room_for_the_padding_offset(tmp_path):
    from transformers import RobertaConfig, RobertaModel

    config = RobertaConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=34,
        pad_token_id=1,
    )
    no_limit = SimpleNamespace(model_max_length=int(1e30))  # as a tokenizer without a limit of its own
    encoder = Encoder(RobertaModel(config), no_limit, "tiny-roberta", str(tmp_path))
    assert encoder.max_positions == 32


class TokenizerSpy:
    """The tokenizer, noting the length of every text it is given."""

    def __init__(self, tokenizer):
        self.tokenizer, self.lengths = tokenizer, []

    def __call__(self, texts, **options):
        self.lengths += [len(text) for text in texts]
        return self.tokenizer(texts, **options)

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)


def test_a_huge_text_is_cut_before_it_is_tokenized_and_counted_as_truncated(tiny_encoder):
    from headstart.encoders import characters_read
    from headstart.errors import TruncationWarning

    encoder = Encoder.load(tiny_encoder)
    reach = characters_read(encoder.max_positions)  # the default max_length, 256, is past the tiny encoder's 64
    huge = "good flight was late " * 200_000  # 4.2 MB in one text
    encoder.tokenizer = spy = TokenizerSpy(encoder.tokenizer)
    with pytest.warns(TruncationWarning, match="1 of 2 texts was longer than 64 tokens"):
        assert encoder.warn_truncated([huge, "bad"], 256) == 1
    with pytest.warns(TruncationWarning, match="1 of 1 text was longer than 64 tokens"):
        vector = encoder.encode([huge])
    with pytest.warns(TruncationWarning, match="1 of 1 text was longer than 64 tokens"):
        np.testing.assert_array_equal(vector, encoder.encode([huge[:reach]]))
    with pytest.warns(TruncationWarning, match="1 of 1 text was longer than 64 tokens"):
        np.testing.assert_array_equal(encoder.token_states([huge])[0], vector)
    assert max(spy.lengths) <= reach
    # Cut where it holds no tokens yet, a text is still counted: it lost the rest of itself.
    with pytest.warns(TruncationWarning, match="1 of 1 text was longer than 64 tokens"):
        encoder.encode([" " * reach + "good flight"])


WARM_FIT = """
import json, sys
from headstart import FrozenEncoderClassifier
texts, labels = json.load(sys.stdin)
model = FrozenEncoderClassifier(encoder=sys.argv[1]).fit(texts, labels)
print(json.dumps({
    "weights_loaded": model.features_.encoder_._model is not None,
    "transformers_imported": "transformers" in sys.modules,
    "passes": model.training_info_["encoder_forward_passes"],
    "fingerprint": model.training_info_["fingerprint_after"],
    "predicted": [str(label) for label in model.predict(texts)],
}))
"""


def _fit_in_a_new_process(encoder: str, texts: list[str], labels: list[str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", WARM_FIT, encoder],
        input=json.dumps([texts, labels]),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_a_warm_fit_loads_no_weights_and_imports_no_transformers(tiny_encoder, toy_data, tmp_path):
    texts, labels = toy_data
    folder = tmp_path / "encoder"
    shutil.copytree(tiny_encoder, folder)
    cold = _fit_in_a_new_process(str(folder), texts, labels)
    warm = _fit_in_a_new_process(str(folder), texts, labels)
    assert cold["weights_loaded"] and cold["passes"] > 0
    assert not warm["weights_loaded"] and not warm["transformers_imported"] and warm["passes"] == 0
    assert warm["fingerprint"] == cold["fingerprint"] and warm["predicted"] == cold["predicted"]
    # A weight file written since (its modification time is enough) is loaded and hashed again.
    weights = folder / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 1_000_000))
    touched = _fit_in_a_new_process(str(folder), texts, labels)
    assert touched["weights_loaded"] and touched["passes"] == 0 and touched["fingerprint"] == cold["fingerprint"]


def test_an_encoder_from_its_profile_is_the_encoder_loaded_whole(tiny_encoder, tmp_path):
    whole = Encoder.load(tiny_encoder)
    known = Encoder.load(tiny_encoder)  # the first load recorded the profile
    assert known._model is None and known._tokenizer is None
    assert known.profile() == whole.profile()
    np.testing.assert_array_equal(
        known.encode(["good flight", "late again"]), whole.encode(["good flight", "late again"])
    )
    assert known._model is not None  # loaded on first use


def test_a_damaged_profile_is_ignored_and_rewritten(tiny_encoder):
    Encoder.load(tiny_encoder)
    (record,) = (default_cache_dir() / "encoder-profiles").glob("*.json")
    record.write_text('{"state": {"folder": ')
    encoder = Encoder.load(tiny_encoder)
    assert encoder._model is not None and json.loads(record.read_text())["profile"] == encoder.profile()


def test_an_encoder_whose_files_change_while_in_use_is_refused(tiny_encoder, tmp_path):
    folder = tmp_path / "encoder"
    shutil.copytree(tiny_encoder, folder)
    Encoder.load(str(folder))
    known = Encoder.load(str(folder))
    (folder / "config.json").write_text((folder / "config.json").read_text() + "\n")
    with pytest.raises(EncoderError, match="changed while it was in use"):
        known.encode(["good flight"])
