import json
import multiprocessing
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import headstart
from headstart import FrozenEncoderClassifier, artifacts, features, progress
from headstart.cache import EmbeddingCache
from headstart.cli import main
from headstart.encoders import Encoder, load_encoder
from headstart.errors import FingerprintMismatchError, HeadstartWarning, TruncationWarning
from headstart.features import FrozenFeatures


def through_cache(encoder, texts, cache=True, **options):
    """Every layer's vectors of the texts, through the cache (a folder, or True: the default one), in fp32 unless
    told otherwise, as ``Encoder.encode`` computes them."""
    return FrozenFeatures(encoder=encoder, cache=cache, **{"precision": "fp32", **options}).fit().per_layer(texts)


def test_second_fit_runs_no_encoder_pass(tiny_encoder, toy_data):
    texts, labels = toy_data
    first = FrozenEncoderClassifier(encoder=tiny_encoder).fit(texts, labels)
    assert first.training_info_["encoder_forward_passes"] > 0
    second = FrozenEncoderClassifier(encoder=tiny_encoder).fit(texts, labels)
    assert second.training_info_["encoder_forward_passes"] == 0
    np.testing.assert_allclose(first.predict_proba(texts), second.predict_proba(texts), atol=1e-6)


def test_layer_choice_needs_no_new_encoding(tiny_encoder, toy_data):
    texts, labels = toy_data
    FrozenEncoderClassifier(encoder=tiny_encoder, layers=(-1,)).fit(texts, labels)
    other_layers = FrozenEncoderClassifier(encoder=tiny_encoder, layers=(0, 1, 2)).fit(texts, labels)
    assert other_layers.training_info_["encoder_forward_passes"] == 0


@pytest.mark.parametrize("change", [{"pooling": "cls"}, {"max_length": 16}, {"instruction": "review:"}])
def test_feature_config_is_part_of_the_key(tiny_encoder, toy_data, change):
    texts, labels = toy_data
    FrozenEncoderClassifier(encoder=tiny_encoder).fit(texts, labels)
    changed = FrozenEncoderClassifier(encoder=tiny_encoder, **change).fit(texts, labels)
    assert changed.training_info_["encoder_forward_passes"] > 0


def test_the_same_weights_with_another_tokenizer_get_their_own_vectors_and_their_models_refuse_it(
    tiny_encoder, toy_data, tmp_path
):
    texts, labels = toy_data
    cased = tmp_path / "cased"
    shutil.copytree(tiny_encoder, cased)
    config = json.loads((cased / "tokenizer_config.json").read_text())
    (cased / "tokenizer_config.json").write_text(json.dumps({**config, "do_lower_case": False}))
    original, other = load_encoder(tiny_encoder), load_encoder(str(cased))
    assert (
        original.fingerprint() == other.fingerprint()
        and original.tokenizer_fingerprint() != other.tokenizer_fingerprint()
    )
    shouted = [t.upper() for t in texts]  # [UNK] for the cased tokenizer: its vectors differ
    np.testing.assert_allclose(through_cache(original, shouted), original.encode(shouted), atol=1e-6)
    np.testing.assert_allclose(through_cache(other, shouted), other.encode(shouted), atol=1e-6)
    folder = FrozenEncoderClassifier(encoder=tiny_encoder).fit(texts, labels).save(tmp_path / "m")
    record = json.loads((folder / "headstart.json").read_text())
    record["encoder"]["spec"] = str(cased)  # as if the encoder's folder had been replaced by the cased one
    record["config_sha256"] = artifacts.config_sha256(record)
    (folder / "headstart.json").write_text(json.dumps(record))
    with pytest.raises(FingerprintMismatchError, match="with another tokenizer"):
        headstart.load(folder)


def test_no_cache_always_encodes(tiny_encoder, toy_data, private_cache):
    texts, labels = toy_data
    for _ in range(2):
        model = FrozenEncoderClassifier(encoder=tiny_encoder, cache=False).fit(texts, labels)
        assert model.training_info_["encoder_forward_passes"] > 0
    assert not private_cache.exists()


def test_garbage_cache_file_is_moved_aside_and_vectors_recomputed(tiny_encoder, private_cache):
    encoder = load_encoder(tiny_encoder)
    texts = ["good flight", "bad seat"]
    fresh = encoder.encode(texts)
    through_cache(encoder, texts)
    path = private_cache / "embeddings.sqlite"
    path.write_bytes(os.urandom(4096))
    with pytest.warns(HeadstartWarning, match="corrupt"):
        again = through_cache(encoder, texts)
    np.testing.assert_array_equal(again, fresh)
    assert list(private_cache.glob("embeddings.sqlite.corrupt-*"))
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_damaged_vector_fails_its_checksum_and_is_recomputed(tiny_encoder, private_cache):
    encoder = load_encoder(tiny_encoder)
    fresh = encoder.encode(["good flight"])
    through_cache(encoder, ["good flight"])
    with sqlite3.connect(private_cache / "embeddings.sqlite") as conn:
        conn.execute("UPDATE vectors SET data = zeroblob(length(data))")
    passes = encoder.forward_passes
    with pytest.warns(HeadstartWarning, match="failed their checksum"):
        again = through_cache(encoder, ["good flight"])
    np.testing.assert_array_equal(again, fresh)
    assert encoder.forward_passes == passes + 1


def test_an_unusable_cache_folder_warns_and_encodes_without_it(tiny_encoder, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    encoder = load_encoder(tiny_encoder)
    with pytest.warns(HeadstartWarning, match="cannot be used"):
        vectors = through_cache(encoder, ["good flight"], blocker)
    np.testing.assert_array_equal(vectors, encoder.encode(["good flight"]))


def _write_and_read(args):
    folder, model_dir, worker = args
    encoder = Encoder.load(model_dir)
    texts = [f"good flight {'very ' * (i % 7)} {worker} {i}" for i in range(40)]
    cached = through_cache(encoder, texts, folder, batch_size=4)
    return bool(np.allclose(cached, encoder.encode(texts), atol=1e-6))


def test_concurrent_writers_and_readers_do_not_corrupt_it(tiny_encoder, private_cache):
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.map(_write_and_read, [(str(private_cache), tiny_encoder, w % 2) for w in range(4)])
    assert all(results)
    conn = sqlite3.connect(private_cache / "embeddings.sqlite")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    namespace = FrozenFeatures(encoder=tiny_encoder, precision="fp32").fit().spec_.namespace
    assert conn.execute("SELECT COUNT(*) FROM vectors WHERE namespace=?", [namespace]).fetchone()[0] == 80


def test_an_interrupted_encoding_keeps_its_finished_chunks_and_a_rerun_encodes_only_the_rest(
    tiny_encoder, private_cache, monkeypatch
):
    monkeypatch.setattr(features, "SAVE_EVERY", 4)
    encoder = load_encoder(tiny_encoder)
    texts = [f"good flight {'very ' * i}{i}" for i in range(10)]  # chunks of 4, 4 and 2 texts; 2 per forward pass
    forward = encoder.hidden_states
    passes = {"n": 0}

    def interrupted_on_the_fifth_pass(batch):
        passes["n"] += 1
        if passes["n"] == 5:  # the first pass of the third chunk: Ctrl-C
            raise KeyboardInterrupt
        return forward(batch)

    with monkeypatch.context() as patch:
        patch.setattr(encoder, "hidden_states", interrupted_on_the_fifth_pass)
        with pytest.raises(KeyboardInterrupt):
            through_cache(encoder, texts, batch_size=2)
    assert EmbeddingCache(private_cache).info()["vectors"] == 8
    before = encoder.forward_passes
    resumed = through_cache(encoder, texts, batch_size=2)
    assert encoder.forward_passes == before + 1  # the last 2 texts alone
    np.testing.assert_allclose(resumed, encoder.encode(texts, batch_size=2), atol=1e-6)


def test_encoding_in_chunks_shows_one_progress_bar_over_all_texts(tiny_encoder, monkeypatch):
    monkeypatch.setattr(features, "SAVE_EVERY", 4)
    texts = [f"bad seat {i}" for i in range(10)]  # three chunks, one bar
    bars = []

    def reporter(description, total, unit):
        bars.append({"description": description, "total": total, "done": 0})
        return lambda n: bars[-1].update(done=bars[-1]["done"] + n)

    with progress.reporting(reporter):
        FrozenFeatures(encoder=tiny_encoder).fit().transform(texts)
    assert [(bar["total"], bar["done"]) for bar in bars] == [(10, 10)]


def test_truncation_is_warned_once_for_all_texts_encoded_in_chunks(tiny_encoder, monkeypatch):
    monkeypatch.setattr(features, "SAVE_EVERY", 4)
    texts = [f"good flight {i}" for i in range(7)] + ["very " * 20 + str(i) for i in range(3)]
    with pytest.warns(TruncationWarning) as warned:
        FrozenFeatures(encoder=tiny_encoder, max_length=8).fit().per_layer(texts)
    assert [str(w.message) for w in warned] == ["3 of 10 texts were longer than 8 tokens and were truncated"]


def cache_command(capsys) -> str:
    """What ``headstart cache`` prints."""
    try:
        main(["cache"])
    except SystemExit as exc:
        assert not exc.code
    return capsys.readouterr().out


def test_a_zero_length_cache_file_is_an_empty_cache_not_a_damaged_one(private_cache, capsys):
    private_cache.mkdir()
    (private_cache / "embeddings.sqlite").touch()
    found = EmbeddingCache(private_cache).info()
    assert (found["vectors"], found["corrupt"], found["unreadable"]) == (0, False, None)
    assert "0 texts' vectors in 0 feature configs," in cache_command(capsys)


@pytest.mark.parametrize("protected", ["file", "folder"])
def test_a_write_protected_cache_is_reported_as_read_only_not_damaged(
    tiny_encoder, private_cache, monkeypatch, capsys, protected
):
    through_cache(tiny_encoder, ["good flight", "bad seat"])
    if protected == "file":  # as root every file is writable: say it is not
        access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode: False if mode & os.W_OK else access(path, mode))
    else:
        read_only_sqlite(monkeypatch, folder_too=True)
    found = EmbeddingCache(private_cache).info()
    assert (found["vectors"], found["read_only"], found["corrupt"], found["unreadable"]) == (2, True, False, None)
    assert "2 texts' vectors in 1 feature config (read-only: its vectors are read, but new ones are not added)" in (
        cache_command(capsys)
    )


def read_only_sqlite(monkeypatch, *, folder_too: bool = False) -> None:
    """Open every database as SQLite opens a write-protected file (read-only), or, with ``folder_too``, fail as it
    does in a write-protected folder, where a WAL database cannot be read but with ``immutable``."""
    connect = sqlite3.connect

    def read_only(database, *args, uri=False, **kwargs):
        target = str(database) if uri else f"{Path(database).resolve().as_uri()}?mode=ro"
        if folder_too and "immutable=1" not in target:
            return connect(target, *args, uri=True, factory=InAWriteProtectedFolder, **kwargs)
        return connect(target, *args, uri=True, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", read_only)


class InAWriteProtectedFolder(sqlite3.Connection):
    def execute(self, *args):
        raise sqlite3.OperationalError("attempt to write a readonly database")


@pytest.mark.parametrize("folder_too", [False, True])
def test_a_read_only_cache_is_read_and_warns_once_that_new_vectors_are_not_saved(
    tiny_encoder, private_cache, monkeypatch, folder_too
):
    encoder = load_encoder(tiny_encoder)
    through_cache(encoder, ["good flight", "bad seat"])
    texts = ["good flight", "bad seat", *(f"late bag {i}" for i in range(10))]
    read_only_sqlite(monkeypatch, folder_too=folder_too)
    monkeypatch.setattr(features, "SAVE_EVERY", 4)  # three writes refused
    passes = encoder.forward_passes
    with pytest.warns(HeadstartWarning) as warned:
        vectors = through_cache(encoder, texts, batch_size=4)
    assert [str(w.message).split(": ", 1)[1] for w in warned] == [
        "is read-only: its vectors are read, but new ones are not saved; make it writable, or choose another cache "
        "folder (HEADSTART_CACHE)"
    ]
    assert encoder.forward_passes == passes + 3  # the 10 new texts alone: the 2 stored were read
    np.testing.assert_allclose(vectors, encoder.encode(texts), atol=1e-6)
    monkeypatch.undo()
    assert not list(private_cache.glob("*.corrupt-*")) and EmbeddingCache(private_cache).info()["vectors"] == 2
