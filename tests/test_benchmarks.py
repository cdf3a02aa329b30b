"""A tiny run of the benchmark runner, so the suite keeps working (the real suite is not part of the tests)."""

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import methods  # noqa: E402
import pytest  # noqa: E402
import run  # noqa: E402
from conftest import sentiment_data  # noqa: E402

import headstart  # noqa: E402


@pytest.fixture(autouse=True)
def private_bench_cache(tmp_path, monkeypatch):
    """The runner's embedding cache in the test's folder, not the user's ~/.cache/headstart-bench."""
    monkeypatch.setattr(methods, "BENCH_CACHE", tmp_path / "bench-cache")


def test_the_runner_refuses_methods_and_datasets_it_does_not_have(tmp_path, monkeypatch, capsys):
    for argv in (["--methods", "hs_frozen_auto_bf16"], ["--datasets", "imdb"]):
        monkeypatch.setattr(sys, "argv", ["run.py", *argv, "--out", str(tmp_path)])
        with pytest.raises(SystemExit) as exit_info:
            run.main()
        assert exit_info.value.code == 2 and "unknown" in capsys.readouterr().err
    assert not (tmp_path / "environment.json").exists()


def test_replace_removes_the_chosen_methods_results_only(tmp_path):
    (tmp_path / "toy.jsonl").write_text(
        "".join(json.dumps({"method": m, "seed": 0}) + "\n" for m in ("tfidf", "hs_full", "tfidf"))
    )
    run.replace(tmp_path, ["toy", "absent"], {"tfidf"})
    assert [json.loads(line)["method"] for line in (tmp_path / "toy.jsonl").read_text().splitlines()] == ["hs_full"]


def test_the_runner_appends_one_result_per_cell_and_resumes(tmp_path, tiny_encoder):
    data = {"toy": sentiment_data(n_per_class=30)}
    plan = [("tfidf", "tiny", (4, 8), 2), ("hs_frozen_auto", "tiny", (4,), 1), ("hs_full", "tiny", (4,), 1)]
    run.run_suite(data, plan, tmp_path, {"tiny": Path(tiny_encoder)}, log=lambda _: None)
    records = [json.loads(line) for line in (tmp_path / "toy.jsonl").read_text().splitlines()]
    assert sorted((r["method"], r["n_per_class"], r["seed"]) for r in records) == [
        ("hs_frozen_auto", 4, 0),
        ("hs_full", 4, 0),
        ("tfidf", 4, 0),
        ("tfidf", 4, 1),
        ("tfidf", 8, 0),
        ("tfidf", 8, 1),
    ]
    frozen = next(r for r in records if r["method"] == "hs_frozen_auto")
    assert frozen["encoder_forward_passes"] > 0 and frozen["test_size"] == 30
    for key in ("accuracy", "macro_f1", "fit_seconds", "predict_seconds", "peak_rss_mb", "trainable_parameters"):
        assert key in frozen
    run.run_suite(data, plan, tmp_path, {"tiny": Path(tiny_encoder)}, log=lambda _: None)
    assert len((tmp_path / "toy.jsonl").read_text().splitlines()) == 6


def test_the_report_turns_results_into_benchmarks_md(tmp_path, tiny_encoder):
    data = {"toy": sentiment_data(n_per_class=30)}
    run.run_suite(
        data,
        [("tfidf", "tiny", (4, 8), 2), ("hs_frozen_auto", "tiny", (4, 8), 2)],
        tmp_path,
        {"tiny": Path(tiny_encoder)},
        log=lambda _: None,
    )
    out = tmp_path / "BENCHMARKS.md"
    subprocess.run(
        [sys.executable, str(BENCHMARKS / "report.py"), "--results", str(tmp_path), "--out", str(out)], check=True
    )
    text = out.read_text()
    assert "## toy" in text and "hs_frozen_auto" in text and (tmp_path / "learning_curves.png").exists()


def test_the_serving_summary_checks_each_target_on_the_numbers_it_is_given():
    import serve

    def run(speed, rss, p50=100.0, p99=200.0):
        texts = {"texts_per_second": speed, "p50_ms": p50, "p95_ms": p99, "p99_ms": p99}
        return {"airline": texts, "bbc": texts, "peak_rss_mb": rss}

    result = {
        "clients": 16,
        "heads": 10,
        "texts": {"airline": 400, "bbc": 64},
        "runs": {"a": run(60, 800), "b": run(55, 900), "c": run(5, 7000), "d": run(40, 700)},
    }
    result["runs"]["a"]["half_load"] = {"rate": 30, "p50_ms": 30.0, "p95_ms": 50.0, "p99_ms": 120.0}
    text = "\n".join(serve.markdown(result))
    assert "(b) / (c) throughput **11.0x** (target ≥ 8x): **met**" in text
    assert "(a) / (d) **1.50x** (target ≥ 1.2x): **met**" in text
    assert "Memory (b) / (a): **1.12x** (target ≤ 1.3x): **met**" in text
    assert "p99 / p50 **4.0x** (target ≤ 3x): **not met**" in text


def test_the_active_learning_simulation_runs_both_curves_at_the_same_label_counts(tiny_encoder, monkeypatch):
    import active
    import numpy as np

    monkeypatch.setattr(active, "END", 8)  # 4, 12 and 16 labels of a 40-text pool

    texts, labels = sentiment_data(n_per_class=40)
    features = headstart.FrozenFeatures(encoder=tiny_encoder).fit()
    vectors = features.spec_.combine(features.per_layer(texts))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    y = np.asarray(labels)
    pool, test = np.arange(0, 80, 2), np.arange(1, 80, 2)
    found = {"classes": 2}
    for kind in ("active", "random"):
        curves = [
            active.simulate(vectors[pool], y[pool], vectors[test], y[test], seed, kind == "active") for seed in (0, 1)
        ]
        found[kind] = {"curves": curves, "mean": active.mean_curve(curves)}
    counts = [p["labels"] for p in found["active"]["mean"]]
    assert counts == [p["labels"] for p in found["random"]["mean"]] == active.label_counts(2)
    summary = active.summarize(found)
    assert summary["labels_to_match"] is None or summary["labels_to_match"] in counts
    assert 0 <= summary["area"]["active"] <= 1


def test_the_batch_summary_judges_the_largest_local_run_and_compares_ray_at_one_size():
    import batch

    def run(engine, rows, seconds, encode, rss=900.0):
        measured = {"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds, "encode_seconds": encode}
        return {"engine": engine, "input_rows": rows, **measured, "peak_rss_mib": rss}

    result = {
        "encoder": "all-MiniLM-L6-v2",
        "native_bf16": True,
        "threads": 2,
        "runs": [
            run("local", 1000, 10.0, 9.0, 800.0),
            run("local", 10000, 100.0, 95.0, 880.0),
            run("ray, 1 worker", 10000, 125.0, 0.0),
        ],
        "stored_vectors": {"rows": 10000, "seconds": 0.5, "dimensions": 1536, "peak_rss_mib": 700.0},
    }
    text = "\n".join(batch.markdown(result))
    assert "outside the encoder on 10,000 short texts: **5.0%** (target < 10%: met)" in text
    assert "Peak memory against the input's size: 10x the rows, 1.10x the peak of the smallest" in text
    assert "Ray with 1 worker against local on the same 10,000 rows: 1.25x the time (+25.0 s)." in text
    assert "50.0 s per million rows" in text
    assert "50 rows/s per core: 556 core-hours for 100 million" in text and "307 GB" in text
