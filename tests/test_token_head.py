"""The token head: token states from the same forward pass as the pooled vectors, a label one word decides, the
model folder round trip, and its limits stated as errors."""

import numpy as np
import pytest
import torch
from conftest import WORDS

import headstart
from headstart import FrozenEncoderClassifier, token_head
from headstart.encoders import load_encoder
from headstart.heads import train_head


def test_token_states_come_with_the_pooled_vectors_of_the_same_pass(tiny_encoder):
    encoder = load_encoder(tiny_encoder)
    texts = ["good flight", "the crew was very rude today again", "bad"]  # all in the tiny encoder's vocabulary
    pooled, states = encoder.token_states(texts, max_length=16)
    np.testing.assert_allclose(pooled, encoder.encode(texts, max_length=16), atol=1e-5)
    assert [len(s) for s in states] == [2, 7, 1]  # [CLS] and [SEP] left out
    assert states[1].shape == (7, encoder.num_layers + 1, encoder.hidden_size)
    torch.testing.assert_close(states[1].norm(dim=-1), torch.ones(7, encoder.num_layers + 1))


def one_word_decides(n_per_class: int, seed: int) -> tuple[list[str], list[str]]:
    """Texts of 20 to 60 filler words and one marker word; the marker alone gives the label. Mean pooling dilutes the
    marker by the text's length, a maximum over tokens does not."""
    rng = np.random.default_rng(seed)
    filler = WORDS[20:]
    texts, labels = [], []
    for label, marker in (("a", "excellent"), ("b", "broken")):
        for _ in range(n_per_class):
            words = [*rng.choice(filler, rng.integers(20, 61)), marker]
            rng.shuffle(words)
            texts.append(" ".join(words))
            labels.append(label)
    return texts, labels


def test_a_label_one_word_decides_is_learned_from_the_tokens(tiny_encoder):
    texts, labels = one_word_decides(20, seed=0)
    held_out, truth = one_word_decides(50, seed=1)
    accuracy = {}
    for head in ("linear", "tokens"):
        model = FrozenEncoderClassifier(encoder=tiny_encoder, head=head, cache=False).fit(texts, labels)
        accuracy[head] = float(np.mean(model.predict(held_out) == np.asarray(truth)))
    assert accuracy["tokens"] >= 0.9 and accuracy["tokens"] > accuracy["linear"] + 0.2, accuracy  # measured: 0.95, 0.66
    info = model.training_info_
    assert info["head"] == "tokens" and info["C_chosen_by"] == "5-fold CV" and info["validation"]["accuracy"] >= 0.9
    assert info["trainable_parameters"] == 2 * (64 + 1) + 2 * 64  # pooled part with bias, token part without


def test_the_walk_over_C_starts_at_the_linear_probes_choice(monkeypatch):
    rng = np.random.default_rng(0)
    y = np.arange(30) % 3
    pooled = (rng.normal(size=(30, 8)) + 2 * np.eye(3, 8)[y]).astype(np.float32)
    states = [torch.nn.functional.normalize(torch.randn(4, 8), dim=1) for _ in range(30)]
    starts = []
    walk = token_head.walk_grid
    monkeypatch.setattr(
        token_head, "walk_grid", lambda grid, evaluate, start: starts.append(start) or walk(grid, evaluate, start=start)
    )
    _, info = token_head.train_token_head(pooled, states, y, 3)
    _, linear = train_head(pooled, y, 3, "linear")
    assert starts == [linear["C"]] and info["C_chosen_by"] == "5-fold CV"


def test_a_saved_token_model_predicts_the_same_after_loading(tmp_path, tiny_encoder):
    texts, labels = one_word_decides(10, seed=2)
    model = FrozenEncoderClassifier(encoder=tiny_encoder, head="tokens", lexical=True, C=1.0).fit(texts, labels)
    loaded = headstart.load(model.save(tmp_path / "model"))
    assert "Head: `tokens`" in (tmp_path / "model" / "README.md").read_text()
    assert isinstance(loaded.head_, token_head.TokenHead) and loaded.training_info_["C_chosen_by"] == "given"
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-6)
    loaded.set_params(head="linear")  # describes the next fit; predictions still use the fitted token head
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-6)


def test_predictions_do_not_depend_on_how_texts_are_chunked(tiny_encoder, monkeypatch):
    texts, labels = one_word_decides(6, seed=3)
    model = FrozenEncoderClassifier(encoder=tiny_encoder, head="tokens", C=1.0).fit(texts, labels)
    whole = model.predict_proba(texts)
    monkeypatch.setattr(headstart.strategies.frozen, "TOKEN_PREDICT_CHUNK", 5)
    np.testing.assert_allclose(model.predict_proba(texts), whole, atol=1e-6)
    assert model.predict_proba([]).shape == (0, 2)


def test_too_many_token_states_is_a_clear_error(tiny_encoder, monkeypatch):
    monkeypatch.setattr(token_head, "MEMORY_LIMIT_BYTES", 1000)
    with pytest.raises(headstart.HeadstartError, match="use head='linear'"):
        FrozenEncoderClassifier(encoder=tiny_encoder, head="tokens", cache=False).fit(*one_word_decides(4, seed=0))


def test_only_the_frozen_strategy_has_a_token_head(tiny_encoder):
    with pytest.raises(
        headstart.HeadstartError,
        match="head must be one of 'linear', 'mlp' \\(got 'tokens'\\); "
        "the token head reads token states, which only the frozen strategy",
    ):
        headstart.build("full", encoder=tiny_encoder, head="tokens").fit(*one_word_decides(4, seed=0))
