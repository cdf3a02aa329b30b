import numpy as np
import pytest
import torch
from conftest import sentiment_data

import headstart
from headstart import progress
from headstart.encoders import load_encoder
from headstart.errors import HeadstartError, HeadstartWarning
from headstart.params import InvalidParameterError
from headstart.strategies import FineTunedClassifier, options_for

ALL = ["frozen", "zero-shot", "tfidf", "partial:1", "lp-ft", "full"]


@pytest.mark.parametrize("name", ALL)
def test_every_strategy_fits_predicts_saves_and_loads(name, tiny_encoder, toy_data, tmp_path):
    texts, labels = toy_data
    model = headstart.build(name, **options_for(name, {"encoder": tiny_encoder, "epochs": 3, "seed": 0})).fit(
        texts, labels
    )
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
    # 0.3 of 20 a class holds out 6 a class, enough to judge epochs by.
    model = headstart.build("lp-ft", encoder=tiny_encoder, epochs=2, validation_fraction=0.3).fit(texts, labels)
    assert model.training_info_["probe"]["C_chosen_by"].endswith("-fold CV, one-SE rule")
    # The probe is fitted on the training rows only; the held-out rows judge the fine-tune.
    held_out = model.training_info_["validation"]["examples"]
    assert held_out > 0 and model.training_info_["probe"]["validation"]["examples"] == len(texts) - held_out
    batches = int(np.ceil(len(texts) * 0.7 / 16))
    assert model.training_info_["encoder_backward_passes"] <= 2 * batches


def test_zero_shot_uses_label_descriptions(tiny_encoder, toy_data):
    texts, labels = toy_data
    described = headstart.build(
        "zero-shot", encoder=tiny_encoder, label_descriptions={"pos": "great love", "neg": "awful hate"}
    )
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


def test_an_option_the_strategy_does_not_take_is_refused_and_compare_gives_each_its_own():
    with pytest.raises(InvalidParameterError, match="strategy='frozen' does not use hed; leave it out"):
        headstart.build("frozen", hed="mlp")
    with pytest.raises(InvalidParameterError, match="strategy='tfidf' does not use max_length"):
        headstart.build("tfidf", max_length=64, C=2.0)
    assert options_for("tfidf", {"max_length": 64, "C": 2.0}) == {"C": 2.0}


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
    model = headstart.build(name, **options_for(name, {"encoder": tiny_encoder, "epochs": 1})).fit(texts, labels)
    whole = model.predict_proba(texts)
    monkeypatch.setattr(headstart.strategies.base, "CHUNK", 7)
    tasks = []

    def reporter(description, total, unit):
        tasks.append([description, total, 0])
        return lambda n: tasks[-1].__setitem__(2, tasks[-1][2] + n)

    with progress.reporting(reporter):
        chunked = model.predict_proba(texts)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)
    assert tasks == [["predicting", len(texts), len(texts)]]


def test_fine_tuning_pads_on_the_right_as_prediction_does(tmp_path, toy_data):
    """A tokenizer that pads on the left must not make training see other inputs (positions) than predict."""
    import json

    from conftest import make_tiny_encoder
    from sklearn.metrics import log_loss

    from headstart.data import first_occurrence, stratified_split

    folder = make_tiny_encoder(tmp_path / "left")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "padding_side": "left"}))
    texts, labels = toy_data
    texts = [t + " good" * (i % 4) for i, t in enumerate(texts)]  # lengths differ, so batches pad
    model = headstart.build("full", encoder=str(folder), epochs=2, validation_fraction=0.3).fit(texts, labels)
    codes = np.searchsorted(model.classes_, labels)
    _, val = stratified_split(codes, 0.3, 0, first_occurrence(texts))
    proba = model.predict_proba([texts[i] for i in val])
    assert model.training_info_["validation"]["loss"] == pytest.approx(
        log_loss(codes[val], proba, labels=[0, 1]), abs=1e-5
    )


def test_a_fine_tuned_model_saved_after_set_params_describes_its_fit(tiny_encoder, toy_data, tmp_path):
    import json

    texts, labels = toy_data
    model = headstart.build("partial:1", encoder=tiny_encoder, epochs=1).fit(texts, labels)
    model.set_params(strategy="full", batch_size=4)
    model.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "headstart.json").read_text())
    assert config["strategy"] == "partial:1" and config["params"]["batch_size"] == 16
    assert (tmp_path / "m" / "README.md").read_text().startswith("# headstart model: partial:1")
    loaded = headstart.load(tmp_path / "m")
    assert loaded.encoder_.name == model.encoder_.name != "encoder"  # the saved folder's name is not the encoder's
    loaded.save(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "headstart.json").read_text())["encoder"]["name"] == model.encoder_.name


@pytest.mark.parametrize(
    "options, message",
    [
        ({"strategy": "lp-ft", "head": "mlp"}, "lp-ft fine-tunes from a linear probe, so its head is linear"),
        ({"strategy": "partial:1", "layers": (-2,)}, r"layers \(-2,\) leave out the last layer"),
        ({"strategy": "full", "epochs": "3"}, "epochs must be a whole number of at least 1"),
        ({"strategy": "full", "encoder_lr": -1.0}, "encoder_lr must be a positive number"),
        ({"strategy": "full", "head_lr": 0}, "head_lr must be a positive number"),
    ],
)
def test_fine_tuning_options_that_could_not_train_are_refused(options, message, tiny_encoder, toy_data):
    texts, labels = toy_data
    with pytest.raises(HeadstartError, match=message):
        FineTunedClassifier(encoder=tiny_encoder, **options).fit(texts, labels)


def test_fine_tuning_warns_about_truncated_training_texts_once(tiny_encoder, toy_data):
    import warnings

    from headstart.errors import TruncationWarning

    texts, labels = toy_data
    for strategy in ("full", "lp-ft"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            headstart.build(
                strategy, **options_for(strategy, {"encoder": tiny_encoder, "epochs": 1, "max_length": 4})
            ).fit(texts, labels)
        truncated = [w for w in caught if issubclass(w.category, TruncationWarning)]
        assert len(truncated) == 1 and f"of {len(texts)} texts" in str(truncated[0].message), strategy


@pytest.mark.parametrize(
    "descriptions, message",
    [
        ({"pos": float("nan")}, "the description of label 'pos' is nan"),
        ({"pos": None}, "the description of label 'pos' is None"),
        ({"pos": ["good", "great"]}, "the description of label 'pos' is"),
        ({"pos": "  "}, "give each label a non-empty text"),
    ],
)
def test_zero_shot_refuses_descriptions_that_are_not_text(descriptions, message, tiny_encoder, toy_data):
    texts, labels = toy_data
    with pytest.raises(HeadstartError, match=message):
        headstart.build("zero-shot", encoder=tiny_encoder, label_descriptions=descriptions).fit(texts, labels)


def test_zero_shot_warns_about_labels_left_without_a_description(tiny_encoder, toy_data):
    from headstart.errors import HeadstartWarning

    texts, labels = toy_data
    with pytest.warns(HeadstartWarning, match="1 label without a description is matched by name: neg"):
        model = headstart.build("zero-shot", encoder=tiny_encoder, label_descriptions={"pos": "good great"}).fit(
            texts, labels
        )
    assert model.training_info_["label_prompts"] == ["neg", "good great"]


def test_tfidf_options_are_checked_and_its_card_names_its_features(toy_data, tmp_path):
    texts, labels = toy_data
    with pytest.raises(HeadstartError, match="max_features must be a whole number of at least 2"):
        headstart.build("tfidf", max_features=1).fit(texts, labels)
    with pytest.raises(HeadstartError, match="C must be a positive number up to 10000 or None"):
        headstart.build("tfidf", C="1").fit(texts, labels)
    with pytest.raises(HeadstartError, match="leave it unset to use the default, 10"):
        headstart.build("tfidf", C=0).fit(texts, labels)
    card = headstart.build("tfidf").fit(texts, labels).save(tmp_path / "m").joinpath("README.md").read_text()
    assert "- Features: TF-IDF of " in card and "pooling" not in card


def test_the_learning_rate_schedule_is_transformers_linear_one_a_step_ahead_in_the_warm_up():
    from transformers import get_linear_schedule_with_warmup

    from headstart.strategies.finetune import linear_warmup_decay

    def rates(make) -> list[float]:
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        schedule, seen = make(optimizer), []
        for _ in range(20):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.step()
        return seen

    ours = rates(lambda o: linear_warmup_decay(o, warmup=4, steps=20))
    theirs = rates(lambda o: get_linear_schedule_with_warmup(o, num_warmup_steps=4, num_training_steps=20))
    assert ours[:3] == pytest.approx(theirs[1:4]) and ours[0] > 0 == theirs[0]  # warm-up: one step ahead
    assert ours[4:] == pytest.approx(theirs[4:])  # decay: the same


def test_fine_tuning_too_few_examples_to_hold_out_trains_every_epoch_on_all_the_data(tiny_encoder):
    # 8 a class would hold out one text a class: too few to tell epochs apart, so nothing is held out.
    texts, labels = sentiment_data(n_per_class=8)
    info = headstart.build("full", encoder=tiny_encoder, epochs=3).fit(texts, labels).training_info_
    assert info["epochs_run"] == info["best_epoch"] == 3
    assert info["validation"]["source"] == "training data (nothing held out)"
    assert info["validation"]["examples"] == len(texts)


def test_fine_tuning_holds_out_a_split_when_it_has_enough_examples_per_class(tiny_encoder):
    texts, labels = sentiment_data(n_per_class=40)  # 0.15 of 40 is 6 held out a class
    info = headstart.build("full", encoder=tiny_encoder, epochs=1).fit(texts, labels).training_info_
    assert info["validation"]["source"] == "held-out split"
    assert info["validation"]["examples"] == 12


def test_predictions_collapse_when_one_class_takes_nearly_all_of_them_but_not_of_the_labels():
    from headstart.metrics import predictions_collapsed

    balanced = np.array(["a"] * 10 + ["b"] * 10)
    assert predictions_collapsed(balanced, np.array(["a"] * 19 + ["b"]))
    assert not predictions_collapsed(balanced, np.array(["a"] * 17 + ["b"] * 3))
    assert not predictions_collapsed(balanced, balanced)
    # Predicting mostly the class most labels hold is not a collapse.
    skewed = np.array(["a"] * 18 + ["b"] * 2)
    assert not predictions_collapsed(skewed, np.array(["a"] * 20))
    assert not predictions_collapsed(np.array(["a"] * 5), np.array(["a"] * 5))


def test_a_fine_tune_whose_predictions_collapse_to_one_class_is_warned_about(tiny_encoder):
    # One text under two labels: no model can tell the classes apart, so every prediction is the same class.
    texts, labels = ["the same words"] * 16, ["pos", "neg"] * 8
    with pytest.warns(HeadstartWarning, match="full collapsed: it predicts almost only one class"):
        model = headstart.build("full", encoder=tiny_encoder, epochs=1).fit(texts, labels)
    assert model.training_info_["collapsed"] is True


def test_a_fine_tune_that_does_not_collapse_says_so(tiny_encoder, toy_data):
    texts, labels = toy_data
    assert (
        headstart.build("full", encoder=tiny_encoder, epochs=3).fit(texts, labels).training_info_["collapsed"] is False
    )


def test_fine_tuning_reports_its_steps_as_one_progress_task(tiny_encoder, toy_data):
    texts, labels = toy_data
    tasks = []

    def reporter(description, total, unit):
        task = [description, total, unit, 0]
        tasks.append(task)
        return lambda n: task.__setitem__(3, task[3] + n)

    with progress.reporting(reporter):
        headstart.build("full", encoder=tiny_encoder, epochs=2, batch_size=16).fit(texts, labels)
    steps = 2 * -(-len(texts) // 16)  # nothing held out at 20 a class: every text trains
    assert ["fine-tuning full", steps, "steps", steps] in tasks
