import json
import os
import pickle

import numpy as np
import pytest
import torch
from conftest import make_tiny_encoder, sentiment_data
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

import headstart
from headstart import FrozenEncoderClassifier, NotFittedError
from headstart.encoders import fingerprint_of, load_encoder
from headstart.errors import FingerprintMismatchError, HeadstartWarning, ModelFormatError, OutputExistsError
from headstart.strategies.frozen import choose_layers


def test_fit_predict_and_score_on_separable_text(tiny_encoder, toy_data):
    texts, labels = toy_data
    model = FrozenEncoderClassifier(encoder=tiny_encoder)
    assert model.fit(texts, labels) is model
    assert list(model.classes_) == ["neg", "pos"]
    probabilities = model.predict_proba(texts[:3])
    assert probabilities.shape == (3, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    held_out, held_labels = sentiment_data(seed=7)
    assert model.score(held_out, held_labels) > 0.8


def test_it_follows_the_scikit_learn_estimator_contract(tiny_encoder, toy_data):
    texts, labels = toy_data
    model = FrozenEncoderClassifier(encoder=tiny_encoder, layers=(-2, -1), C=2.0)
    assert model.get_params()["layers"] == (-2, -1)
    copy = clone(model).set_params(C=3.0)
    assert copy.C == 3.0 and model.C == 2.0
    assert not hasattr(copy, "classes_")
    with pytest.raises(NotFittedError):
        copy.predict(texts)
    pipeline = Pipeline([("strip", FunctionTransformer(lambda xs: [x.strip() for x in xs])), ("clf", model)])
    assert pipeline.fit(texts, labels).score(texts, labels) > 0.8
    scores = cross_val_score(FrozenEncoderClassifier(encoder=tiny_encoder), np.array(texts), np.array(labels), cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.7


def test_integer_labels_come_back_as_integers(tiny_encoder, toy_data):
    texts, labels = toy_data
    numeric = [1 if label == "pos" else 0 for label in labels]
    model = FrozenEncoderClassifier(encoder=tiny_encoder).fit(texts, numeric)
    assert model.classes_.tolist() == [0, 1]
    assert model.score(texts, numeric) > 0.8
    assert cross_val_score(FrozenEncoderClassifier(encoder=tiny_encoder), texts, numeric, cv=2).mean() > 0.7


def test_the_encoder_is_unchanged_by_training(tiny_encoder, toy_data, tmp_path):
    texts, labels = toy_data
    model = FrozenEncoderClassifier(encoder=tiny_encoder, head="mlp").fit(texts, labels)
    info = model.training_info_
    assert info["fingerprint_before"] == info["fingerprint_after"] == fingerprint_of(load_encoder(tiny_encoder).model)
    assert not any(p.requires_grad for p in model.features_.encoder_.model.parameters())
    assert info["trainable_parameters"] == sum(p.numel() for p in model.head_.parameters())
    saved = json.loads((model.save(tmp_path / "m") / "headstart.json").read_text())
    assert saved["training"]["fingerprint_before"] == saved["training"]["fingerprint_after"]


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_save_and_load_give_the_same_predictions(tiny_encoder, toy_data, tmp_path, head):
    texts, labels = toy_data
    model = FrozenEncoderClassifier(encoder=tiny_encoder, head=head, layers=(-2, -1)).fit(texts, labels)
    folder = model.save(tmp_path / "model")
    assert sorted(os.listdir(folder)) == ["README.md", "head.safetensors", "headstart.json"]
    config = json.loads((folder / "headstart.json").read_text())
    for key in ("format_version", "labels", "encoder", "params", "data", "training"):
        assert key in config
    assert config["encoder"]["fingerprint"] == load_encoder(tiny_encoder).fingerprint()
    assert "Validation" in (folder / "README.md").read_text()
    loaded = headstart.load(folder)
    assert isinstance(loaded, FrozenEncoderClassifier)
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-6)


def test_lexical_features_separate_words_the_encoder_cannot_read(tiny_encoder, tmp_path):
    # Words outside the tiny encoder's vocabulary all become [UNK]: only the TF-IDF features can tell them apart.
    rng = np.random.default_rng(0)
    filler = ["good", "bad", "fine", "okay", "great", "awful"]
    texts = [" ".join([*rng.choice(filler, 3), marker]) for marker in ("zqxj", "vwkb") for _ in range(20)]
    labels = ["a"] * 20 + ["b"] * 20
    held_out = [" ".join([*rng.choice(filler, 3), marker]) for marker in ("zqxj", "vwkb")]
    plain = FrozenEncoderClassifier(encoder=tiny_encoder).fit(texts, labels)
    model = FrozenEncoderClassifier(encoder=tiny_encoder, lexical=True).fit(texts, labels)
    assert plain.training_info_["validation"]["accuracy"] < 0.8
    assert model.training_info_["validation"]["accuracy"] == 1.0
    assert model.predict(held_out).tolist() == ["a", "b"]
    terms = model.training_info_["lexical_terms"]
    assert terms > 0 and model.head_.linear.weight.shape[1] == plain.head_.linear.weight.shape[1] + terms
    folder = model.save(tmp_path / "model")
    assert "tfidf.json" in os.listdir(folder) and "TF-IDF terms" in (folder / "README.md").read_text()
    np.testing.assert_allclose(headstart.load(folder).predict_proba(held_out), model.predict_proba(held_out), atol=1e-6)


def test_an_existing_folder_is_replaced_only_with_force(tiny_encoder, toy_data, tmp_path):
    texts, labels = toy_data
    model = FrozenEncoderClassifier(encoder=tiny_encoder).fit(texts, labels)
    folder = model.save(tmp_path / "m")
    with pytest.raises(OutputExistsError, match="--force"):
        model.save(folder)
    model.save(folder, force=True)
    other = tmp_path / "precious"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(OutputExistsError, match="not a headstart model folder"):
        model.save(other, force=True)
    assert (other / "notes.txt").read_text() == "keep me"
    precious_file = tmp_path / "precious.txt"
    precious_file.write_text("keep me too")
    with pytest.raises(OutputExistsError, match="not a headstart model folder"):
        model.save(precious_file, force=True)
    assert precious_file.read_text() == "keep me too"
    assert [p.name for p in tmp_path.iterdir() if "staging" in p.name or "replaced" in p.name] == []


def test_a_model_folder_is_as_readable_as_the_umask_allows(tiny_encoder, toy_data, tmp_path):
    texts, labels = toy_data
    umask = os.umask(0o022)
    try:
        folder = FrozenEncoderClassifier(encoder=tiny_encoder).fit(texts, labels).save(tmp_path / "m")
    finally:
        os.umask(umask)
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in folder.iterdir()} == {
        p.name: "0o644" for p in folder.iterdir()
    }
    assert oct(folder.stat().st_mode & 0o777) == "0o755"


def test_loading_checks_format_version_and_encoder_fingerprint(tiny_encoder, toy_data, tmp_path):
    texts, labels = toy_data
    folder = FrozenEncoderClassifier(encoder=tiny_encoder).fit(texts, labels).save(tmp_path / "m")
    config = json.loads((folder / "headstart.json").read_text())
    config["format_version"] = 99
    (folder / "headstart.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match="format version 99"):
        headstart.load(folder)
    with pytest.raises(ModelFormatError, match="not a headstart model"):
        headstart.load(tmp_path)


def test_a_different_encoder_is_refused_by_fingerprint(toy_data, tmp_path):
    texts, labels = toy_data
    encoder_dir = make_tiny_encoder(tmp_path / "enc", seed=1)
    folder = FrozenEncoderClassifier(encoder=str(encoder_dir)).fit(texts, labels).save(tmp_path / "m")
    make_tiny_encoder(encoder_dir, seed=2)  # other weights at the same path
    headstart.encoders._loaded.clear()
    with pytest.raises(FingerprintMismatchError, match="fingerprint"):
        headstart.load(folder)


class _Payload:
    def __reduce__(self):
        return (open, ("/tmp/headstart-pwned-marker", "w"))


def test_pickles_planted_in_a_model_folder_are_never_loaded(tiny_encoder, toy_data, tmp_path):
    texts, labels = toy_data
    folder = FrozenEncoderClassifier(encoder=tiny_encoder).fit(texts, labels).save(tmp_path / "m")
    marker = "/tmp/headstart-pwned-marker"
    if os.path.exists(marker):
        os.remove(marker)
    for name in ("head.pkl", "pytorch_model.bin", "model.joblib"):
        (folder / name).write_bytes(pickle.dumps(_Payload()))
    loaded = headstart.load(folder)
    assert loaded.predict(texts[:2]).shape == (2,)
    assert not os.path.exists(marker)


def test_no_module_unpickles_anything():
    import pathlib

    source = pathlib.Path(headstart.__file__).parent
    for file in source.rglob("*.py"):
        text = file.read_text()
        for banned in ("torch.load(", "import pickle", "joblib", "pickle.load"):
            assert banned not in text, f"{file.name} uses {banned}"


def test_auto_layers_are_chosen_by_cv_on_cached_vectors_and_survive_save(tiny_encoder, toy_data, tmp_path):
    texts, labels = toy_data
    model = FrozenEncoderClassifier(encoder=tiny_encoder, layers="auto").fit(texts, labels)
    search = model.training_info_["layer_search"]
    assert list(search) == ["[-2, -1]", "[-1]"]  # the tiny encoder has 2 layers: the last four are all of them
    assert model.layers_ == choose_layers(
        [(-2, -1), (-1,)], {(-2, -1): search["[-2, -1]"], (-1,): search["[-1]"]}, len(texts)
    )
    one_pass_per_batch = -(-len(set(texts)) // model.batch_size)
    assert model.training_info_["encoder_forward_passes"] == one_pass_per_batch  # one encoding serves every candidate
    loaded = headstart.load(model.save(tmp_path / "m"))
    assert loaded.layers_ == model.layers_ and loaded.layers == "auto"
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-6)


def test_the_default_layer_set_is_replaced_only_when_cv_beats_it_beyond_noise():
    default, other = (-4, -3, -2, -1), (-1,)
    # 0.65 against 0.60 on 48 examples is within one standard error (0.07): the default stays.
    assert choose_layers([default, other], {default: 0.60, other: 0.65}, 48) == default
    assert choose_layers([default, other], {default: 0.60, other: 0.65}, 2000) == other
    assert choose_layers([default, other], {default: None, other: 0.9}, 48) == default


def test_the_default_features_are_the_last_four_layers(tiny_encoder, toy_data):
    model = FrozenEncoderClassifier(encoder=tiny_encoder).fit(*toy_data)
    assert model.layers == "last4" and model.layers_ == (-2, -1)  # the tiny encoder has only 2 layers
    assert model.training_info_["layer_search"] is None


def test_a_single_string_is_refused_not_split_into_characters(tiny_encoder, toy_data):
    model = FrozenEncoderClassifier(encoder=tiny_encoder).fit(*toy_data)
    with pytest.raises(headstart.HeadstartError, match="not a single string"):
        model.predict("good flight")


def test_set_params_after_fit_describes_the_next_fit_not_the_fitted_model(tiny_encoder, toy_data, tmp_path):
    texts, labels = toy_data
    model = FrozenEncoderClassifier(encoder=tiny_encoder, max_length=32, layers=(-2, -1)).fit(texts, labels)
    before = model.predict_proba(texts)
    model.set_params(max_length=4, pooling="cls", normalize=False, layers=(-1,), lexical=True, head="mlp", cache=False)
    np.testing.assert_allclose(model.predict_proba(texts), before, atol=1e-6)
    saved = json.loads((model.save(tmp_path / "m") / "headstart.json").read_text())["params"]
    assert (saved["max_length"], saved["pooling"], saved["layers"], saved["head"]) == (32, "mean", [-2, -1], "linear")
    assert saved["cache"] is False  # where vectors are kept changes no prediction
    np.testing.assert_allclose(headstart.load(tmp_path / "m").predict_proba(texts), before, atol=1e-6)
    assert model.fit(texts, labels).fitted_params_["pooling"] == "cls"


def test_a_failed_refit_leaves_no_stale_model(tiny_encoder, toy_data):
    model = FrozenEncoderClassifier(encoder=tiny_encoder).fit(*toy_data)
    model.set_params(C=-1.0)
    with pytest.raises(headstart.HeadstartError, match="C must be a positive number"):
        model.fit(*toy_data)
    with pytest.raises(NotFittedError):
        model.predict(["good flight"])


def test_continuous_labels_are_refused_and_whole_floats_become_integers(tiny_encoder, toy_data):
    texts, labels = toy_data
    with pytest.raises(headstart.HeadstartError, match="labels look continuous"):
        FrozenEncoderClassifier(encoder=tiny_encoder).fit(texts, [0.5 if x == "pos" else 1.5 for x in labels])
    model = FrozenEncoderClassifier(encoder=tiny_encoder).fit(texts, [1.0 if x == "pos" else 0.0 for x in labels])
    assert model.classes_.tolist() == [0, 1]


def test_auto_layers_with_a_given_C_still_compare_by_cv(tiny_encoder, toy_data):
    model = FrozenEncoderClassifier(encoder=tiny_encoder, layers="auto", C=1.0).fit(*toy_data)
    assert None not in model.training_info_["layer_search"].values()
    assert model.training_info_["C"] == 1.0 and model.training_info_["C_chosen_by"] == "given"


def test_a_table_column_is_read_as_its_texts(tiny_encoder, toy_data):
    pd = pytest.importorskip("pandas")
    texts, labels = toy_data
    frame = pd.DataFrame({"text": texts, "label": labels}, index=range(100, 100 + len(texts)))
    model = FrozenEncoderClassifier(encoder=tiny_encoder, C=1.0).fit(frame[["text"]], frame[["label"]])
    expected = model.predict_proba(texts)
    np.testing.assert_allclose(model.predict_proba(frame[["text"]]), expected)
    np.testing.assert_allclose(model.predict_proba(np.asarray(texts).reshape(-1, 1)), expected)
    assert len(model.predict(frame[["text"]])) == len(texts)  # iterating a DataFrame gives its column names
    with pytest.raises(headstart.HeadstartError, match="2 columns"):
        model.predict(frame)


def test_a_missing_text_is_refused_at_predict_and_bytes_are_decoded(tiny_encoder, toy_data):
    model = FrozenEncoderClassifier(encoder=tiny_encoder, C=1.0).fit(*toy_data)
    np.testing.assert_allclose(
        model.predict_proba([b"great flight", "caf\u00e9"]), model.predict_proba(["great flight", "caf\u00e9"])
    )
    with pytest.raises(headstart.HeadstartError, match=r"2 texts are missing .*rows 2, 3"):
        model.predict(["great flight", None, float("nan")])
    with pytest.raises(headstart.HeadstartError, match="text 1 is a list"):
        model.predict([["great", "flight"]])


def test_numpy_parameters_save_and_load_as_numbers(tiny_encoder, toy_data, tmp_path):
    texts, labels = toy_data
    model = FrozenEncoderClassifier(
        encoder=tiny_encoder, C=np.float32(2.0), max_length=np.int64(64), layers=np.array([-2, -1])
    )
    model.fit(texts, labels)
    params = json.loads((model.save(tmp_path / "m") / "headstart.json").read_text())["params"]
    assert (params["C"], params["max_length"], params["layers"]) == (2.0, 64, [-2, -1])
    loaded = headstart.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-6)
    assert loaded.fit(texts, labels).layers_ == (-2, -1)


def test_one_layer_number_is_a_layer_set(tiny_encoder, toy_data):
    assert FrozenEncoderClassifier(encoder=tiny_encoder, layers=-1).fit(*toy_data).layers_ == (-1,)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"seed": None}, "seed must be a whole number"),
        ({"batch_size": 0}, "batch_size must be a whole number of at least 1"),
        ({"normalize": "no"}, "normalize must be True or False"),
        ({"validation_fraction": 1.5}, r"validation_fraction must be a number in \[0, 1\)"),
        ({"C": 1e5}, "C must be a positive number up to 10000"),  # beyond, L-BFGS-B stops far from the optimum
        ({"C": "1"}, r"C must be a positive number up to 10000 or None \(got '1'\)"),
        ({"layers": 1.5}, "layers must be one of 'last4', 'auto' or layer numbers"),
        ({"head": "mlp", "C": 1.0}, "the mlp head stops early instead"),
    ],
)
def test_a_parameter_of_the_wrong_type_is_one_clear_error(tiny_encoder, toy_data, params, message):
    with pytest.raises(headstart.HeadstartError, match=message) as raised:
        FrozenEncoderClassifier(encoder=tiny_encoder, **params).fit(*toy_data)
    assert isinstance(raised.value, ValueError)  # scikit-learn's tools (GridSearchCV's error_score) expect one


def test_fitting_leaves_torch_random_state_and_thread_count_alone(tiny_encoder, toy_data):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(123)
        expected = torch.rand(3)
        torch.manual_seed(123)
        FrozenEncoderClassifier(encoder=tiny_encoder, head="mlp").fit(*toy_data)
        headstart.build("full", encoder=tiny_encoder, epochs=1).fit(*toy_data)
        assert torch.equal(torch.rand(3), expected)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


def test_a_saved_model_keeps_no_cache_folder_of_the_machine_it_was_trained_on(tiny_encoder, toy_data, tmp_path):
    saved = {}
    for cache in (str(tmp_path / "alice"), False):
        model = FrozenEncoderClassifier(encoder=tiny_encoder, C=1.0, cache=cache).fit(*toy_data)
        saved[cache] = json.loads((model.save(tmp_path / f"m{bool(cache)}") / "headstart.json").read_text())["params"][
            "cache"
        ]
    assert saved == {str(tmp_path / "alice"): True, False: False}


def test_a_warning_names_the_callers_line_not_headstarts(tiny_encoder):
    texts, labels = sentiment_data(n_per_class=3)
    with pytest.warns(HeadstartWarning, match="fewer than 5 examples") as caught:
        FrozenEncoderClassifier(encoder=tiny_encoder, C=1.0).fit(texts, labels)
    assert {w.filename for w in caught if issubclass(w.category, HeadstartWarning)} == {__file__}


def test_truncation_is_warned_about_on_every_fit_and_predict_cached_or_not(tiny_encoder, toy_data):
    import warnings

    from headstart.errors import TruncationWarning

    texts, labels = toy_data
    texts = [*texts, texts[0]]  # a copy counts as a row of its own
    labels = [*labels, labels[0]]
    long = sum(len(t.split()) + 2 > 4 for t in texts)
    for attempt in ("cold", "warm"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = FrozenEncoderClassifier(encoder=tiny_encoder, max_length=4).fit(texts, labels)
            model.predict(texts)
        truncated = [str(w.message) for w in caught if issubclass(w.category, TruncationWarning)]
        assert truncated == [f"{long} of {len(texts)} texts were longer than 4 tokens and were truncated"] * 2, attempt
        assert model.training_info_["truncated_texts"] == long
    assert model.training_info_["encoder_forward_passes"] == 0


def test_texts_that_get_the_same_features_are_warned_about(tiny_encoder, toy_data):
    from headstart.errors import HeadstartWarning

    texts, labels = toy_data
    # The embedding layer's [CLS] vector is the same for every text.
    with pytest.warns(
        HeadstartWarning,
        match=rf"{len(set(texts))} different texts have only 1 distinct feature vector with pooling='cls'",
    ):
        FrozenEncoderClassifier(encoder=tiny_encoder, pooling="cls", layers=(0,)).fit(texts, labels)
