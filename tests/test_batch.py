"""`headstart batch`: shards that hold every input row exactly once, shared encoder passes, resumed and killed runs,
stored vectors scored later, and bad input refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import WORDS, sentiment_data
from test_cli import run as run_cli

from headstart import FrozenEncoderClassifier, TfidfClassifier, batch, load, load_encoder
from headstart.errors import DataError, HeadstartError, OutputExistsError


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_encoder) -> Path:
    """Two frozen models of one spec, one on other layers, and one whose head reads the texts too."""
    texts, labels = sentiment_data(n_per_class=12)
    urgency = ["urgent" if "bad" in t or "awful" in t else "normal" for t in texts]
    folder = tmp_path_factory.mktemp("models")
    FrozenEncoderClassifier(encoder=tiny_encoder, cache=False).fit(texts, labels).save(folder / "sentiment")
    FrozenEncoderClassifier(encoder=tiny_encoder, cache=False, C=0.5).fit(texts, urgency).save(folder / "urgency")
    FrozenEncoderClassifier(encoder=tiny_encoder, cache=False, layers=(-1,)).fit(texts, labels).save(folder / "last")
    FrozenEncoderClassifier(encoder=tiny_encoder, cache=False, lexical=True).fit(texts, labels).save(folder / "lex")
    TfidfClassifier().fit(texts, labels).save(folder / "words")
    return folder


def corpus(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(2, 9))) for _ in range(n)]


def read_shards(folder: Path) -> pd.DataFrame:
    shards = sorted(folder.glob("*.parquet"))
    return pd.concat([pq.read_table(p).to_pandas() for p in shards], ignore_index=True)


def test_predict_writes_every_row_once_with_each_models_labels_and_probabilities(models, tmp_path):
    texts = corpus(230)
    pd.DataFrame({"ticket": [f"t{i}" for i in range(230)], "body": texts}).to_csv(tmp_path / "in.csv", index=False)
    summary = batch.predict(
        tmp_path / "in.csv", [models / "sentiment", models / "words"], tmp_path / "out", id_col="ticket", chunk_rows=100
    )
    assert (summary.rows, summary.shards, summary.skipped_shards) == (230, 3, 0)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.parquet")) == [
        "in.csv.000000.parquet",
        "in.csv.000001.parquet",
        "in.csv.000002.parquet",
    ]
    table = read_shards(tmp_path / "out")
    assert table["ticket"].tolist() == [f"t{i}" for i in range(230)]
    for name in ("sentiment", "words"):
        model = load(models / name)
        assert table[f"{name}_label"].tolist() == model.predict(texts).tolist()
        proba = table[[f"{name}_p_{label}" for label in model.classes_]].to_numpy()
        np.testing.assert_allclose(proba, model.predict_proba(texts), atol=1e-6)
    assert json.loads((tmp_path / "out" / batch.DONE).read_text())["rows"] == 230


def test_models_of_one_spec_share_one_encoder_pass(models, tiny_encoder, tmp_path):
    pd.DataFrame({"text": corpus(100)}).to_parquet(tmp_path / "in.parquet")
    encoder = load_encoder(tiny_encoder)
    before = encoder.forward_passes
    batch.predict(tmp_path / "in.parquet", [models / "sentiment"], tmp_path / "one")
    one = encoder.forward_passes - before
    before = encoder.forward_passes
    batch.predict(
        tmp_path / "in.parquet", [models / "sentiment", models / "urgency", models / "last"], tmp_path / "all"
    )
    assert one > 0 and encoder.forward_passes - before == one
    assert read_shards(tmp_path / "all")["row"].tolist() == list(range(100))


def test_a_folder_of_mixed_files_gives_file_and_row_ids(models, tmp_path):
    source = tmp_path / "in"
    (source / "2026").mkdir(parents=True)
    pd.DataFrame({"text": corpus(5, 1)}).to_parquet(source / "a.parquet")
    pd.DataFrame({"text": corpus(7, 2)}).to_json(source / "2026" / "b.jsonl", orient="records", lines=True)
    pd.DataFrame({"text": [*corpus(3, 3), None]}).to_csv(source / "c.csv", index=False)
    (source / "_SUCCESS").write_text("")  # a marker another tool left: not input
    (source / "empty.jsonl").write_text("")
    pd.DataFrame({"text": []}).to_csv(source / "header-only.csv", index=False)
    summary = batch.predict(source, [models / "sentiment"], tmp_path / "out", chunk_rows=4)
    table = read_shards(tmp_path / "out")
    counts = table.groupby("file")["row"].apply(sorted).to_dict()
    assert counts == {"a.parquet": list(range(5)), "2026/b.jsonl": list(range(7)), "c.csv": list(range(4))}
    assert summary.empty_texts == 1 and summary.shards == 2 + 2 + 1


def test_a_rerun_skips_finished_shards_and_refuses_other_settings(models, tmp_path):
    pd.DataFrame({"text": corpus(50)}).to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "out"
    batch.predict(tmp_path / "in.csv", [models / "sentiment"], out, chunk_rows=10)
    written = {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")}
    (out / "in.csv.000003.parquet").unlink()  # as if the run had stopped before it
    again = batch.predict(tmp_path / "in.csv", [models / "sentiment"], out, chunk_rows=10)
    assert (again.shards, again.skipped_shards, again.rows) == (1, 4, 10)
    for name, mtime in written.items():
        if name != "in.csv.000003.parquet":
            assert (out / name).stat().st_mtime_ns == mtime
    assert read_shards(out)["row"].tolist() == list(range(50))
    with pytest.raises(OutputExistsError, match="chunk_rows.*--force"):
        batch.predict(tmp_path / "in.csv", [models / "sentiment"], out, chunk_rows=20)
    with pytest.raises(OutputExistsError, match="models"):
        batch.predict(tmp_path / "in.csv", [models / "urgency"], out, chunk_rows=10)
    forced = batch.predict(tmp_path / "in.csv", [models / "sentiment"], out, chunk_rows=20, force=True)
    assert forced.shards == 3 and len(list(out.glob("*.parquet"))) == 3
    pd.DataFrame({"text": corpus(51)}).to_csv(tmp_path / "in.csv", index=False)  # the input changed
    with pytest.raises(OutputExistsError, match="inputs"):
        batch.predict(tmp_path / "in.csv", [models / "sentiment"], out, chunk_rows=20)


def test_a_folder_that_is_not_a_batch_run_is_never_emptied(models, tmp_path):
    pd.DataFrame({"text": corpus(5)}).to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="not empty"):
        batch.predict(tmp_path / "in.csv", [models / "sentiment"], tmp_path / "out", force=True)
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"


def test_a_killed_run_resumed_gives_every_id_exactly_once(models, tmp_path):
    n = 20_000
    pd.DataFrame({"id": np.arange(n) * 7, "text": corpus(n)}).to_parquet(tmp_path / "in.parquet")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "headstart", "--quiet", "batch", "predict", str(tmp_path / "in.parquet")]
    command += ["--models", str(models / "sentiment"), "--out", str(out), "--id-col", "id", "--chunk-rows", "100"]
    process = subprocess.Popen(command, env=os.environ.copy())
    while len(list(out.glob("*.parquet"))) < 3 and process.poll() is None:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = len(list(out.glob("*.parquet")))
    assert 3 <= written < n // 100, "the run must be killed part of the way through"
    assert not (out / batch.DONE).exists()
    subprocess.run(command, env=os.environ.copy(), check=True)
    ids = read_shards(out)["id"]
    assert len(ids) == n and sorted(ids) == list(np.arange(n) * 7)
    assert not list(out.glob(".*"))


def test_embed_once_then_score_the_stored_vectors_without_the_encoder(models, tiny_encoder, tmp_path):
    texts = corpus(120)
    pd.DataFrame({"text": texts}).to_csv(tmp_path / "in.csv", index=False)
    stored = tmp_path / "vectors"
    batch.embed(tmp_path / "in.csv", stored, model=models / "sentiment", chunk_rows=50)
    shard = pq.read_table(stored / "in.csv.000000.parquet")
    spec = json.loads(shard.schema.metadata[b"headstart"])["feature_spec"]
    assert spec == load(models / "sentiment").features_.spec_.to_dict()
    assert shard.column("embedding").type.list_size == 2 * 32  # its last four layers: the tiny encoder has two
    encoder = load_encoder(tiny_encoder)
    before = encoder.forward_passes
    summary = batch.predict(None, [models / "sentiment", models / "urgency"], tmp_path / "out", features=stored)
    assert encoder.forward_passes == before and summary.rows == 120
    table = read_shards(tmp_path / "out")
    assert table["row"].tolist() == list(range(120))
    assert table["sentiment_label"].tolist() == load(models / "sentiment").predict(texts).tolist()


def test_float16_vectors_take_half_the_room_and_score_the_same(models, tmp_path):
    texts = corpus(60)
    pd.DataFrame({"text": texts}).to_csv(tmp_path / "in.csv", index=False)
    batch.embed(tmp_path / "in.csv", tmp_path / "half", model=models / "sentiment", dtype="float16")
    assert str(pq.read_table(tmp_path / "half").column("embedding").type.value_type) == "halffloat"
    batch.predict(None, [models / "sentiment"], tmp_path / "out", features=tmp_path / "half")
    labels = read_shards(tmp_path / "out")["sentiment_label"].tolist()
    assert np.mean(np.array(labels) == load(models / "sentiment").predict(texts)) >= 0.95


def test_stored_vectors_refuse_a_head_of_another_spec_naming_the_difference(models, tmp_path):
    pd.DataFrame({"text": corpus(10)}).to_csv(tmp_path / "in.csv", index=False)
    batch.embed(tmp_path / "in.csv", tmp_path / "vectors", model=models / "sentiment")
    with pytest.raises(DataError, match=r"'last'.*layers: \(-1,\) vs \(-2, -1\)"):
        batch.predict(None, [models / "last"], tmp_path / "out", features=tmp_path / "vectors")
    with pytest.raises(HeadstartError, match="'lex'.*reads the texts"):
        batch.predict(None, [models / "lex"], tmp_path / "out", features=tmp_path / "vectors")
    with pytest.raises(HeadstartError, match="'words'.*only frozen heads"):
        batch.predict(None, [models / "words"], tmp_path / "out", features=tmp_path / "vectors")
    assert not (tmp_path / "out").exists()


def test_the_cli_scores_and_embeds_and_says_what_it_did(models, tmp_path, capsys):
    pd.DataFrame({"text": corpus(30)}).to_json(tmp_path / "in.jsonl", orient="records", lines=True)
    code, _, err = run_cli(
        ["batch", "predict", tmp_path / "in.jsonl", "--models", models / "sentiment", "--out", tmp_path / "p"], capsys
    )
    assert code == 0 and "scored 30 rows into 1 shards" in err and "rows/s" in err
    code, _, err = run_cli(
        ["batch", "predict", tmp_path / "in.jsonl", "--models", models / "sentiment", "--out", tmp_path / "p"], capsys
    )
    assert code == 0 and "nothing left to do" in err
    code, _, err = run_cli(
        ["batch", "embed", tmp_path / "in.jsonl", "--out", tmp_path / "e", "--model", models / "last"], capsys
    )
    assert code == 0 and "embedded 30 rows" in err
    assert pq.read_table(tmp_path / "e").column("embedding").type.list_size == 32


@pytest.mark.parametrize(
    "argv, says",
    [
        (
            ["batch", "predict", "{tmp}/nope.csv", "--models", "{models}/sentiment", "--out", "{tmp}/o"],
            "input not found",
        ),
        (
            ["batch", "predict", "{tmp}/in.txt", "--models", "{models}/sentiment", "--out", "{tmp}/o"],
            ".parquet, .csv or .jsonl",
        ),
        (
            ["batch", "predict", "{tmp}/in.csv", "--models", "{models}/sentiment", "--out", "{tmp}/o", "--id-col", "x"],
            "no id column 'x'",
        ),
        (["batch", "predict", "{tmp}/in.csv", "--models", "{tmp}/none", "--out", "{tmp}/o"], "model folder not found"),
        (["batch", "predict", "--models", "{models}/sentiment", "--out", "{tmp}/o"], "not both"),
        (
            ["batch", "embed", "{tmp}/in.csv", "--out", "{tmp}/o", "--model", "{models}/last", "--layers", "-1"],
            "drop --layers",
        ),
        (["batch", "embed", "{tmp}/in.csv", "--out", "{tmp}/o", "--dtype", "int4"], "unknown dtype"),
        (
            ["batch", "predict", "--features", "{tmp}", "--models", "{models}/sentiment", "--out", "{tmp}/o"],
            "holds no batch run",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(models, tmp_path, capsys, argv, says):
    pd.DataFrame({"body": ["good flight"], "y": [1]}).to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "in.txt").write_text("good flight\n")
    argv = [a.format(tmp=tmp_path, models=models) for a in argv]
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and says in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def mapworker_pids() -> list[int]:
    """The processes of Ray Data's actors (``ray::MapWorker(...)``)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if b"MapWorker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_the_ray_engine_writes_what_the_local_one_does_row_for_row(models, tmp_path, suffix):
    frame = pd.DataFrame({"text": corpus(700)})
    source = tmp_path / f"in{suffix}"
    frame.to_parquet(source, row_group_size=150) if suffix == ".parquet" else frame.to_csv(source, index=False)
    chosen = [models / "sentiment", models / "last"]
    local = batch.predict(source, chosen, tmp_path / "local", chunk_rows=128)
    on_ray = batch.predict(source, chosen, tmp_path / "ray", chunk_rows=128, engine="ray", workers=2)
    assert (on_ray.rows, on_ray.shards) == (local.rows, local.shards) == (700, 6)
    for shard in sorted((tmp_path / "local").glob("*.parquet")):
        assert pq.read_table(shard).equals(pq.read_table(tmp_path / "ray" / shard.name)), shard.name


def test_a_ray_worker_killed_mid_run_leaves_every_id_exactly_once(models, tmp_path):
    n = 20_000
    pd.DataFrame({"id": np.arange(n) * 3, "text": corpus(n)}).to_parquet(tmp_path / "in.parquet")
    out, finished = tmp_path / "out", {}

    def score() -> None:
        finished["summary"] = batch.predict(
            tmp_path / "in.parquet", [models / "sentiment"], out, id_col="id", chunk_rows=200, engine="ray", workers=1
        )

    worker = threading.Thread(target=score)
    worker.start()
    while len(list(out.glob("*.parquet"))) < 3 and worker.is_alive():
        time.sleep(0.005)
    killed = mapworker_pids()
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    worker.join()
    assert killed and len(list(out.glob("*.parquet"))) == n // 200
    ids = read_shards(out)["id"]
    assert len(ids) == n and sorted(ids) == list(np.arange(n) * 3)
    assert finished["summary"].rows == n


def test_the_ray_engine_without_ray_says_how_to_install_it(models, tmp_path, monkeypatch):
    pd.DataFrame({"text": corpus(5)}).to_csv(tmp_path / "in.csv", index=False)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(HeadstartError, match=r"headstart\[ray\]"):
        batch.predict(tmp_path / "in.csv", [models / "sentiment"], tmp_path / "out", engine="ray")


def test_the_ray_engine_refuses_more_workers_than_cpus(models, tmp_path):
    pd.DataFrame({"text": corpus(5)}).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(HeadstartError, match="1000 workers need 1000 CPUs"):
        batch.predict(tmp_path / "in.csv", [models / "sentiment"], tmp_path / "out", engine="ray", workers=1000)
