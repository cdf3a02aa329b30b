import numpy as np
import pytest
import torch

import headstart
from headstart import progress
from headstart.encoders import load_encoder
from headstart.errors import HeadstartError
from headstart.strategies import FineTunedClassifier

from conftest import sentiment_data

ALL = ["frozen", "zero-shot", "tfidf", "partial:1", "lp-ft", "full"]


@pytest.mark.parametrize("name", ALL)
def test_every_strategy_fits_predicts_saves_and_loads(name, tiny_encoder, toy_data, tmp_path):
    texts, labels = toy_data
    model = headstart.build(name, encoder=tiny_encoder, epochs=3, seed=0).fit(texts, labels)
    info = model.training_info_
    for key in ("trainable_parameters", "encoder_forward_passes", "seconds", "peak_rss_mb"):
        assert key in info
    folder = model.save(tmp_path / "m")
    loaded = headstart.load(folder)
    assert type(loaded) is type(model)
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-5)
    assert set(loaded.predict(texts)) <= {"neg", "pos"}
    assert loaded.predict_proba([]).shape == (0, 2) and loaded.predict([]).shape == (0,)


def test_strategies_that_train_theta_save_the_encoder_as_safetensors(tiny_encoder, toy_data, tmp_path):
    texts, labels = toy_data
    folder = headstart.build("full", encoder=tiny_encoder, epochs=2).fit(texts, labels).save(tmp_path / "m")
    assert (folder / "encoder" / "model.safetensors").exists()
    assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pt"))


def test_full_fine_tuning_changes_a_copy_never_the_shared_encoder(tiny_encoder, toy_data):
    texts, labels = toy_data
    shared = load_encoder(tiny_encoder)
    before = shared.fingerprint_now()
    model = headstart.build("full", encoder=tiny_encoder, epochs=2).fit(texts, labels)
    assert shared.fingerprint_now() == before
    assert model.training_info_["fingerprint_after"] != before
    assert model.training_info_["encoder_backward_passes"] > 0


def test_full_counts_as_trainable_what_trains_and_not_the_unused_pooler(tiny_encoder, toy_data):
    texts, labels = toy_data
    shared = load_encoder(tiny_encoder)
    model = headstart.build("full", encoder=tiny_encoder, epochs=2).fit(texts, labels)
    pooler = sum(p.numel() for p in shared.model.pooler.parameters())
    head_size = sum(p.numel() for p in model.head_.parameters())
    info = model.training_info_
    assert pooler > 0 and info["trainable_parameters"] == shared.parameter_count() - pooler + head_size
    assert info["frozen_parameters"] == pooler
    before, after = shared.model.state_dict(), model.encoder_.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("pooler."))


def test_partial_trains_only_the_top_layers(tiny_encoder, toy_data):
    texts, labels = toy_data
    shared = load_encoder(tiny_encoder)
    model = headstart.build("partial:1", encoder=tiny_encoder, epochs=2).fit(texts, labels)
    top = shared.model.encoder.layer[-1]
    head_size = sum(p.numel() for p in model.head_.parameters())
    assert model.training_info_["trainable_parameters"] == sum(p.numel() for p in top.parameters()) + head_size
    before, after = shared.model.state_dict(), model.encoder_.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("encoder.layer.1."))
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith("encoder.layer.1."))


def test_lp_ft_starts_from_a_cached_linear_probe(tiny_encoder, toy_data):
    texts, labels = toy_data
    headstart.FrozenEncoderClassifier(encoder=tiny_encoder).fit(texts, labels)  # warms the cache
    model = headstart.build("lp-ft", encoder=tiny_encoder, epochs=2).fit(texts, labels)
    assert model.training_info_["probe"]["C_chosen_by"].endswith("-fold CV, one-SE rule")
    # The probe is fitted on the training rows only; the held-out rows judge the fine-tune.
    held_out = model.training_info_["validation"]["examples"]
    assert held_out > 0 and model.training_info_["probe"]["validation"]["examples"] == len(texts) - held_out
    batches = int(np.ceil(len(texts) * 0.85 / 16))
    assert model.training_info_["encoder_backward_passes"] <= 2 * batches


def test_zero_shot_uses_label_descriptions(tiny_encoder, toy_data):
    texts, labels = toy_data
    described = headstart.build("zero-shot", encoder=tiny_encoder, label_descriptions={"pos": "great love", "neg": "awful hate"})
    model = described.fit(texts, labels)
    assert model.training_info_["label_prompts"] == ["awful hate", "great love"]
    assert model.training_info_["trainable_parameters"] == 0
    with pytest.raises(HeadstartError, match="not in the data: meh"):
        headstart.build("zero-shot", encoder=tiny_encoder, label_descriptions={"meh": "x"}).fit(texts, labels)


def test_tfidf_needs_no_encoder_and_beats_chance(toy_data):
    texts, labels = toy_data
    model = headstart.build("tfidf").fit(texts, labels)
    held_out, held_labels = sentiment_data(seed=5)
    assert model.score(held_out, held_labels) > 0.8
    assert model.training_info_["encoder_forward_passes"] == 0


def test_an_option_no_strategy_takes_is_refused():
    with pytest.raises(TypeError, match="no strategy takes 'hed'"):
        headstart.build("frozen", hed="mlp")
    assert headstart.build("tfidf", max_length=64, C=2.0).C == 2.0  # another strategy's option is left to it


@pytest.mark.parametrize("name", ["magic", "partial", "partial:x", "full:2"])
def test_unknown_strategy_names_list_the_known_ones(name):
    with pytest.raises(HeadstartError, match="known: zero-shot, tfidf, frozen, partial:K, lp-ft, full"):
        headstart.build(name)


def test_partial_asking_for_too_many_layers_is_refused(tiny_encoder, toy_data):
    with pytest.raises(HeadstartError, match="more layers than the encoder's 2"):
        FineTunedClassifier("partial:5", encoder=tiny_encoder).fit(*toy_data)


@pytest.mark.parametrize("name", ["frozen", "zero-shot", "full"])
def test_large_inputs_are_predicted_in_chunks_under_one_progress_bar(name, tiny_encoder, toy_data, monkeypatch):
    texts, labels = toy_data
    model = headstart.build(name, encoder=tiny_encoder, epochs=1).fit(texts, labels)
    whole = model.predict_proba(texts)
    monkeypatch.setattr(headstart.model, "PREDICT_CHUNK", 7)
    tasks = []

    def reporter(description, total, unit):
        tasks.append([description, total, 0])
        return lambda n: tasks[-1].__setitem__(2, tasks[-1][2] + n)

    with progress.reporting(reporter):
        chunked = model.predict_proba(texts)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)
    assert tasks == [["predicting", len(texts), len(texts)]]
