import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import sentiment_data
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import headstart
from headstart import FrozenEncoderClassifier, artifacts
from headstart.cli import main
from headstart.errors import HeadstartWarning, ModelFormatError, OutputError
from headstart.strategies import options_for


def three_classes():
    texts, labels = sentiment_data(n_per_class=12)
    return texts, [label if i % 3 else "neutral" for i, label in enumerate(labels)]


@pytest.fixture
def saved(tiny_encoder, tmp_path) -> Path:
    return FrozenEncoderClassifier(encoder=tiny_encoder).fit(*three_classes()).save(tmp_path / "m")


def edit(folder: Path, change, keep_checksums: bool = False) -> None:
    """Edit headstart.json as a user might; without ``keep_checksums`` the folder looks like one saved before
    checksums were recorded, so that the field checks behind them are what is tested."""
    config = json.loads((folder / "headstart.json").read_text())
    change(config)
    if not keep_checksums:
        config.pop("config_sha256")
        config.pop("files")
    (folder / "headstart.json").write_text(json.dumps(config))


def test_an_edited_config_or_file_is_named_by_its_checksum(saved):
    edit(saved, lambda c: c["labels"].pop(), keep_checksums=True)
    with pytest.raises(ModelFormatError, match="headstart.json was changed after the model was saved"):
        headstart.load(saved)


def test_a_replaced_tensor_file_is_named_by_its_checksum(saved):
    state = load_file(saved / "head.safetensors")
    save_file({k: v * 2 for k, v in state.items()}, saved / "head.safetensors")
    with pytest.raises(ModelFormatError, match=r"head.safetensors was changed or damaged after the model was saved"):
        headstart.load(saved)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["labels"].pop(), "has 3 classes where headstart.json gives 2"),
        (lambda c: c["labels"].append("extra"), "has 3 classes where headstart.json gives 4"),
        (lambda c: c["training"].update(layers=[99]), r"cannot be loaded: layer\(s\) \[99\] do not exist"),
        (lambda c: c["params"].update(pooling="evil"), "cannot be loaded: pooling must be one of"),
        (lambda c: (c["training"].update(layers=[-1]), c.pop("features")), "has 64 input features where .* gives 32"),
    ],
)
def test_fields_that_disagree_with_the_tensors_or_encoder_are_refused(saved, change, message):
    edit(saved, change)
    with pytest.raises(ModelFormatError, match=message):
        headstart.load(saved)


def test_weights_that_are_not_finite_are_refused(saved):
    state = load_file(saved / "head.safetensors")
    save_file({k: torch.full_like(v, float("nan")) for k, v in state.items()}, saved / "head.safetensors")
    edit(saved, lambda c: None)
    with pytest.raises(ModelFormatError, match="holds values that are not finite numbers"):
        headstart.load(saved)


@pytest.mark.parametrize("strategy", ["tfidf", "zero-shot", "full"])
def test_every_strategys_folder_is_checked(tiny_encoder, tmp_path, strategy):
    options = options_for(strategy, {"encoder": tiny_encoder, "epochs": 1})
    folder = headstart.build(strategy, **options).fit(*three_classes()).save(tmp_path / "m")
    edit(folder, lambda c: c["labels"].pop())
    with pytest.raises(ModelFormatError, match="where headstart.json gives"):
        headstart.load(folder)


def test_a_damaged_model_is_one_error_line_in_the_cli(saved, tmp_path, capsys):
    edit(saved, lambda c: c["labels"].pop(), keep_checksums=True)
    (tmp_path / "x.txt").write_text("good\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(saved), str(tmp_path / "x.txt")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error: ") and len(err.splitlines()) == 1


def test_replacing_a_model_leaves_no_moment_without_one_and_nothing_behind(tiny_encoder, saved):
    texts, labels = three_classes()
    assert artifacts._exchange(saved.with_name("nothing-here"), saved) is False  # a failed exchange changes nothing
    FrozenEncoderClassifier(encoder=tiny_encoder, C=0.5).fit(texts, labels).save(saved, force=True)
    assert headstart.load(saved).C == 0.5
    assert sorted(p.name for p in saved.parent.iterdir() if p.name.startswith(".")) == []


def test_a_save_killed_between_its_two_renames_is_recovered_by_the_next_command(tiny_encoder, saved, monkeypatch):
    before = headstart.load(saved).predict_proba(["good flight"])
    monkeypatch.setattr(artifacts, "_exchange", lambda a, b: False)  # an OS without an atomic exchange
    renames = []
    real_rename = Path.rename

    def killed_on_second_rename(self, target):
        renames.append(target)
        if len(renames) == 2:
            raise KeyboardInterrupt  # the process dies here
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", killed_on_second_rename)
    with pytest.raises(KeyboardInterrupt):
        FrozenEncoderClassifier(encoder=tiny_encoder, C=0.5).fit(*three_classes()).save(saved, force=True)
    monkeypatch.setattr(Path, "rename", real_rename)
    assert not saved.exists() and artifacts.aside(saved).exists()
    with pytest.warns(HeadstartWarning, match="left aside by an interrupted save; restored it"):
        restored = headstart.load(saved)
    np.testing.assert_allclose(restored.predict_proba(["good flight"]), before)


def test_a_full_disk_is_one_error_and_keeps_the_old_model(tiny_encoder, saved, monkeypatch):
    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: IoError(No space left on device (os error 28))")

    monkeypatch.setattr("safetensors.torch.save_file", full)
    with pytest.raises(OutputError, match=r"could not write the model to .*No space left on device.*kept"):
        FrozenEncoderClassifier(encoder=tiny_encoder, C=0.5).fit(*three_classes()).save(saved, force=True)
    assert headstart.load(saved).C is None
    assert not [p.name for p in saved.parent.iterdir() if p.name.startswith(".")]  # no staging folder left
