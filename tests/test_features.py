import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

import headstart
from headstart import FeatureSpec, FrozenEncoderClassifier, FrozenFeatures, InvalidParameterError
from headstart.cli import main


def test_frozen_features_drop_into_a_pipeline_before_any_scikit_learn_classifier(tiny_encoder, toy_data):
    texts, labels = toy_data
    pipeline = make_pipeline(FrozenFeatures(encoder=tiny_encoder), LogisticRegression(max_iter=1000))
    assert pipeline.fit(texts, labels).score(texts, labels) > 0.9
    assert cross_val_score(clone(pipeline), texts, labels, cv=3).mean() > 0.8
    features = pipeline[0]
    assert features.transform(texts[:3]).shape == (3, features.n_features_out_) == (3, 2 * 32)  # last4 of 2 layers
    assert len(features.get_feature_names_out()) == features.n_features_out_


def test_a_second_transform_reads_the_cache_and_runs_no_encoder_pass(tiny_encoder, toy_data):
    texts, _ = toy_data
    features = FrozenFeatures(encoder=tiny_encoder).fit()
    first = features.transform(texts)
    passes = features.encoder_.forward_passes
    again = FrozenFeatures(encoder=tiny_encoder, layers=(-1,)).fit()  # another layer choice: the same cached vectors
    np.testing.assert_allclose(again.transform(texts), first[:, 32:], atol=1e-6)
    assert features.encoder_.forward_passes == passes


def test_the_spec_is_one_hashable_value_that_says_what_differs(tiny_encoder):
    spec = FrozenFeatures(encoder=tiny_encoder).fit().spec_
    same = FrozenFeatures(encoder=tiny_encoder, batch_size=3, cache=False).fit().spec_  # how, not what, it computes
    assert spec == same and hash(spec) == hash(same) and len({spec, same}) == 1
    other = FrozenFeatures(encoder=tiny_encoder, pooling="cls").fit().spec_
    assert spec != other and spec.differences(other) == ["pooling: 'mean' vs 'cls'"]
    assert spec.with_layers((-1,)).namespace == spec.namespace  # every layer is cached: layers are not in the key
    assert other.namespace != spec.namespace
    assert FeatureSpec.from_dict(spec.to_dict()) == spec


def test_models_with_the_same_feature_options_share_a_spec_and_save_it(tiny_encoder, toy_data, tmp_path):
    texts, labels = toy_data
    sentiment = FrozenEncoderClassifier(encoder=tiny_encoder).fit(texts, labels)
    other_head = FrozenEncoderClassifier(encoder=tiny_encoder, head="mlp", seed=3).fit(texts, labels[::-1])
    zero_shot = headstart.build("zero-shot", encoder=tiny_encoder, layers=(-2, -1)).fit(texts, labels)
    assert sentiment.features_.spec_ == other_head.features_.spec_
    assert zero_shot.features_.spec_ == sentiment.features_.spec_  # one encoder pass could serve all three
    loaded = headstart.load(sentiment.save(tmp_path / "m"))
    assert loaded.features_.spec_ == sentiment.features_.spec_
    fine_tuned = headstart.build("full", encoder=tiny_encoder, epochs=1).fit(texts, labels)
    assert (
        fine_tuned.features_.spec_.encoder
        == fine_tuned.training_info_["fingerprint_after"]
        != sentiment.features_.spec_.encoder
    )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda e: FrozenEncoderClassifier(encoder=e, head="linear", validation_fraction=0.5),
            "head='linear' does not use validation_fraction",
        ),
        (lambda e: headstart.build("lp-ft", encoder=e, head_lr=0.1), "strategy='lp-ft' does not use head_lr"),
        (
            lambda e: headstart.build("full", encoder=e, layers="last4"),
            "'last4' and 'auto' are for the frozen strategy",
        ),
        (lambda e: headstart.build("tfidf", C=-1), "C must be a positive number up to 10000"),
    ],
)
def test_rules_hold_from_python_as_from_the_cli(tiny_encoder, toy_data, build, message):
    with pytest.raises(InvalidParameterError, match=message) as raised:
        build(tiny_encoder).fit(*toy_data)
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, headstart.HeadstartError)


def test_the_cli_names_flags_where_python_names_parameters(tmp_path, tiny_encoder, capsys):
    data = tmp_path / "d.csv"
    data.write_text("text,label\ngood,a\nbad,b\n")
    with pytest.raises(SystemExit):
        main(["train", str(data), "--encoder", tiny_encoder, "--head", "mlp", "--C", "2", "--out", str(tmp_path / "m")])
    assert capsys.readouterr().err == (
        "error: --C is the linear head's regularisation; the mlp head stops early instead: "
        "leave --C unset, or use --head linear\n"
    )


def test_embed_writes_what_transform_gives(tmp_path, tiny_encoder, toy_data):
    texts, _ = toy_data
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(texts) + "\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["embed", str(source), "--encoder", tiny_encoder, "--layers", "-1", "--out", str(tmp_path / "f.npy")])
    assert exit_info.value.code in (0, None)
    expected = FrozenFeatures(encoder=tiny_encoder, layers=(-1,)).fit().transform(texts)
    np.testing.assert_allclose(np.load(tmp_path / "f.npy"), expected, atol=1e-6)


def test_a_model_whose_config_no_longer_gives_its_features_is_refused(tiny_encoder, toy_data, tmp_path):
    import json

    folder = FrozenEncoderClassifier(encoder=tiny_encoder).fit(*toy_data).save(tmp_path / "m")
    config = json.loads((folder / "headstart.json").read_text())
    config["params"]["pooling"] = "cls"
    del config["config_sha256"], config["files"]  # as saved before checksums, which would refuse any edit first
    (folder / "headstart.json").write_text(json.dumps(config))
    with pytest.raises(
        headstart.errors.ModelFormatError, match=r"other features than its config now gives \(pooling: 'mean' vs 'cls'"
    ):
        headstart.load(folder)


@pytest.mark.parametrize("native", [True, False])
def test_precision_auto_is_bf16_only_where_the_cpu_has_native_bfloat16(tiny_encoder, monkeypatch, native):
    monkeypatch.setattr(headstart.encoders, "native_bf16", lambda: native)
    spec = FrozenFeatures(encoder=tiny_encoder).fit().spec_
    explicit = FrozenFeatures(encoder=tiny_encoder, precision="bf16" if native else "fp32").fit().spec_
    assert spec.precision == ("bf16" if native else "fp32") and spec == explicit  # one cache key for both
    assert (
        spec.namespace
        != FrozenFeatures(encoder=tiny_encoder, precision="fp32" if native else "bf16").fit().spec_.namespace
    )


def test_a_model_trained_in_bf16_predicts_on_a_cpu_without_it(tiny_encoder, toy_data, tmp_path, monkeypatch):
    texts, labels = toy_data
    monkeypatch.setattr(headstart.encoders, "native_bf16", lambda: True)
    model = FrozenEncoderClassifier(encoder=tiny_encoder).fit(texts, labels)
    folder = model.save(tmp_path / "m")
    trained = model.predict_proba(texts)
    assert (
        model.features_.spec_.precision == "bf16"
        and "bf16 (auto: native bfloat16" in (folder / "README.md").read_text()
    )
    monkeypatch.setattr(headstart.encoders, "native_bf16", lambda: False)
    moved = headstart.load(folder)
    assert moved.features_.spec_.precision == "fp32"  # chosen again for this CPU, where bf16 would be emulated
    np.testing.assert_allclose(moved.predict_proba(texts), trained, atol=0.02)
    assert list(moved.predict(texts)) == list(model.predict(texts))
    # A precision chosen by name is kept wherever the model goes.
    pinned = FrozenEncoderClassifier(encoder=tiny_encoder, precision="bf16").fit(texts, labels).save(tmp_path / "p")
    assert headstart.load(pinned).features_.spec_.precision == "bf16"
