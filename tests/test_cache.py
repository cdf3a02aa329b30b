import json
import multiprocessing
import os
import shutil
import sqlite3

import numpy as np
import pytest

import headstart
from headstart import FrozenEncoderClassifier
from headstart.encoders import Encoder, load_encoder
from headstart.errors import FingerprintMismatchError, HeadstartWarning
from headstart.features import FrozenFeatures


def through_cache(encoder, texts, cache=True, **options):
    """Every layer's vectors of the texts, through the cache (a folder, or True: the default one)."""
    return FrozenFeatures(encoder=encoder, cache=cache, **options).fit().per_layer(texts)


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
    record["encoder"]["spec"] = str(cased)
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
    namespace = FrozenFeatures(encoder=tiny_encoder).fit().spec_.namespace
    assert conn.execute("SELECT COUNT(*) FROM vectors WHERE namespace=?", [namespace]).fetchone()[0] == 80
