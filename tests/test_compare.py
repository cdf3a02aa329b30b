import base64
import json
import os
import re
import subprocess

import numpy as np
import pytest
from conftest import headless_chromium, sentiment_data

import headstart.compare
import headstart.encoders
from headstart.cli import main
from headstart.compare import RESULTS, fixed_split, parse_n_per_class, run_comparison, verdict
from headstart.errors import HeadstartError, HeadstartWarning, OutputExistsError, TruncationWarning
from headstart.report import confusion, write_report


@pytest.fixture
def data():
    return sentiment_data(n_per_class=30)


def compare(tmp_path, data, tiny_encoder, **kwargs):
    texts, labels = data
    settings = dict(
        strategy_names=["frozen", "tfidf"],
        n_per_class=[4, 8],
        seeds=2,
        test_size=0.3,
        options={"encoder": tiny_encoder, "epochs": 2},
    )
    settings.update(kwargs)
    return run_comparison(texts, labels, tmp_path / "cmp", **settings)


def test_every_strategy_n_and_seed_runs_once_on_one_fixed_test_split(tmp_path, data, tiny_encoder):
    runs = compare(tmp_path, data, tiny_encoder)
    assert sorted((r["strategy"], r["n_per_class"], r["seed"]) for r in runs) == sorted(
        (s, n, seed) for s in ("frozen", "tfidf") for n in (4, 8) for seed in (0, 1)
    )
    assert {r["test_size"] for r in runs} == {18}
    assert {r["train_size"] for r in runs if r["n_per_class"] == 8} == {16}
    for run in runs:
        for key in (
            "accuracy",
            "macro_f1",
            "fit_seconds",
            "predict_seconds",
            "trainable_parameters",
            "peak_rss_mb",
            "encoder_forward_passes",
            "encoder_backward_passes",
            "log_loss",
        ):
            assert key in run
        assert 0 <= run["expected_calibration_error"] <= 1
    frozen = [r for r in runs if r["strategy"] == "frozen"]
    assert all(r["encoder_forward_passes"] > 0 for r in frozen)  # fits are cold, so their times compare fairly


def test_an_interrupted_comparison_resumes_without_redoing_runs(tmp_path, data, tiny_encoder):
    compare(tmp_path, data, tiny_encoder, n_per_class=[4])
    results = tmp_path / "cmp" / RESULTS
    lines = results.read_text().splitlines()
    results.write_text("\n".join(lines[:2]) + "\n" + lines[2][:25])  # two runs kept, a third cut off mid-write
    seen = []
    with pytest.warns(HeadstartWarning, match="dropped 1 line cut off by a killed run"):
        runs = compare(tmp_path, data, tiny_encoder, n_per_class=[4], on_run=lambda r, done, total: seen.append(done))
    assert len(runs) == 4 and seen == [1, 2, 3, 4]
    assert [json.loads(x)["seed"] for x in results.read_text().splitlines()[:2]] == [0, 0]
    fewer = compare(tmp_path, data, tiny_encoder, n_per_class=[4], seeds=1)  # resumed with a smaller plan
    assert sorted((r["strategy"], r["seed"]) for r in fewer) == [("frozen", 0), ("tfidf", 0)]


def test_rerunning_a_finished_comparison_fits_nothing_and_loads_no_encoder(tmp_path, data, tiny_encoder, monkeypatch):
    first = compare(tmp_path, data, tiny_encoder)

    def refuse(*args, **kwargs):
        raise AssertionError("a finished comparison fitted a model or loaded an encoder")

    monkeypatch.setattr(headstart.compare.strategies, "build", refuse)
    monkeypatch.setattr(headstart.compare, "FrozenFeatures", refuse)
    monkeypatch.setattr(headstart.encoders, "load_model", refuse)
    monkeypatch.setattr(headstart.encoders, "_loaded", {})
    seen = []
    assert compare(tmp_path, data, tiny_encoder, on_run=lambda r, done, total: seen.append((done, total))) == first
    assert seen == [(i, 8) for i in range(1, 9)]
    assert compare(tmp_path, data, tiny_encoder, seeds=1) == [r for r in first if r["seed"] == 0]  # a smaller plan


def test_an_output_folder_of_another_comparison_is_refused(tmp_path, data, tiny_encoder):
    compare(tmp_path, data, tiny_encoder, n_per_class=[4], seeds=1)
    with pytest.raises(OutputExistsError, match="another comparison"):
        compare(tmp_path, data, tiny_encoder, n_per_class=[4], seeds=1, test_size=0.5)
    write_report(tmp_path / "cmp", compare(tmp_path, data, tiny_encoder, n_per_class=[4], seeds=1))
    assert (tmp_path / "cmp" / "report.html").exists()
    runs = compare(tmp_path, data, tiny_encoder, n_per_class=[4], seeds=1, test_size=0.5, force=True)
    assert {r["test_size"] for r in runs} == {30}
    # The replaced comparison's report is gone with its results, not left beside the new ones.
    assert not (tmp_path / "cmp" / "report.html").exists() and not list((tmp_path / "cmp").glob("*.png"))
    before = [json.loads(line)["fit_seconds"] for line in (tmp_path / "cmp" / RESULTS).read_text().splitlines()]
    compare(tmp_path, data, tiny_encoder, n_per_class=[4], seeds=1, test_size=0.5, force=True)  # the same one, afresh
    after = [json.loads(line)["fit_seconds"] for line in (tmp_path / "cmp" / RESULTS).read_text().splitlines()]
    assert len(after) == len(before) and after != before  # run again, not resumed
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError):
        run_comparison(*data, other, ["tfidf"], [4], 1, 0.3, force=True)
    assert (other / "keep.txt").read_text() == "mine"


def test_n_per_class_beyond_a_class_uses_all_and_says_so(tmp_path, data, tiny_encoder):
    with pytest.warns(HeadstartWarning, match="using all of their examples"):
        runs = compare(tmp_path, data, tiny_encoder, strategy_names=["tfidf"], n_per_class=[500], seeds=1)
    assert runs[0]["train_size"] == 42


def test_a_class_with_a_single_example_is_trained_on_but_not_tested(tmp_path, data, tiny_encoder):
    texts, labels = data
    texts, labels = [*texts, "a lone example of a rare label"], [*labels, "rare"]
    y = np.asarray(labels)
    with pytest.warns(HeadstartWarning, match="1 class has a single example: trained on, but not tested"):
        pool, test = fixed_split(texts, y, 0.3)
    assert len(y) - 1 in pool and "rare" not in set(y[test]) and len(test) == 18  # the others split as before
    with pytest.warns(HeadstartWarning, match="single example"):
        runs = compare(tmp_path, (texts, labels), tiny_encoder, strategy_names=["frozen"], n_per_class=[8], seeds=1)
    assert runs[0]["train_size"] == 17 and runs[0]["test_size"] == 18
    with pytest.raises(HeadstartError, match="every class has a single example"):
        fixed_split(["x", "y", "z"], np.asarray(["a", "b", "c"]), 0.3)


def test_a_single_example_class_stays_in_training_even_when_its_text_has_another_label_too():
    texts = [f"text {i}" for i in range(20)] + ["text 3"]
    y = np.asarray(["a"] * 10 + ["b"] * 10 + ["c"])
    with pytest.warns(HeadstartWarning, match="1 class has a single example: trained on, but not tested"):
        pool, test = fixed_split(texts, y, 0.3)
    assert 20 in pool and 3 in pool and "c" not in set(y[test])


def test_no_copy_of_a_test_text_is_in_the_training_pool():
    texts = [f"text {i % 20}" for i in range(60)]  # each of 20 texts three times
    y = np.asarray(["a" if i % 20 < 10 else "b" for i in range(60)])
    pool, test = fixed_split(texts, y, 0.3)
    assert not {texts[i] for i in pool} & {texts[i] for i in test}
    assert len({texts[i] for i in test}) == 6 and len(test) == 18 and sorted([*pool, *test]) == list(range(60))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seeds": 0}, "seeds must be a whole number of at least 1"),
        ({"strategy_names": ["frozen", "bogus"]}, "known: zero-shot"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, data, tiny_encoder, kwargs, message):
    with pytest.raises(HeadstartError, match=message):
        compare(tmp_path, data, tiny_encoder, **kwargs)
    assert not (tmp_path / "cmp").exists()


def test_parse_n_per_class():
    assert parse_n_per_class("8, 32,all") == [8, 32, None]
    with pytest.raises(HeadstartError, match="bad --n-per-class"):
        parse_n_per_class("8,zero")


def test_verdict_names_the_share_of_accuracy_and_of_time():
    summary = [
        {"strategy": "frozen", "n_per_class": 32, "accuracy": 0.776, "fit_seconds": 0.5},
        {"strategy": "full", "n_per_class": 32, "accuracy": 0.8, "fit_seconds": 20.0},
    ]
    assert verdict(summary) == (
        "With 32 examples per class, full is the most accurate (80.0%); "
        "frozen reaches 97% of full's accuracy at 1/40 of its training time."
    )


def test_the_report_renders_in_a_real_browser_with_its_images(tmp_path, data, tiny_encoder):
    runs = compare(tmp_path, data, tiny_encoder, strategy_names=["frozen", "tfidf", "full"])
    result = write_report(tmp_path / "cmp", runs)
    folder = tmp_path / "cmp"
    for name in ("report.html", "report.md", "results.json", "learning_curves.png", "confusion_matrix.png"):
        assert (folder / name).exists()
    assert re.search(r"frozen (reaches \d+% of|matches|is [\d.]+ pt more accurate than) full", result["verdict"])
    assert "| ECE |" in (folder / "report.md").read_text()
    page = (folder / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 4 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    chromium, flags = headless_chromium(tmp_path)
    # The browser loads every embedded image; the script reports how many decoded with a real size.
    probe = tmp_path / "probe.html"
    probe.write_text(
        page.replace(
            "</body>",
            """<script>
window.onload = () => { const ok = [...document.images].filter(i => i.complete && i.naturalWidth > 100).length;
document.title = 'images-ok:' + ok + '/' + document.images.length; };</script></body>""",
        )
    )
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert "<title>images-ok:4/4</title>" in dom
    shot = tmp_path / "shot.png"
    subprocess.run(
        [chromium, *flags, f"--screenshot={shot}", "--window-size=1100,1800", probe.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert shot.stat().st_size > 10_000


def test_compare_command_prints_a_table_and_verdict(tmp_path, tiny_encoder, capsys):
    import pandas as pd

    texts, labels = sentiment_data(n_per_class=30)
    pd.DataFrame({"text": texts, "label": labels}).to_csv(tmp_path / "d.csv", index=False)
    argv = [
        "compare",
        str(tmp_path / "d.csv"),
        "--strategies",
        "frozen,tfidf",
        "--n-per-class",
        "4",
        "--seeds",
        "1",
        "--encoder",
        tiny_encoder,
        "--out",
        str(tmp_path / "c"),
    ]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code in (0, None)
    out = capsys.readouterr().out
    assert "frozen" in out and "tfidf" in out and "most accurate" in out
    with pytest.raises(SystemExit) as exit_info:
        main([*argv[:-1], str(tmp_path / "c2"), "--seeds", "0"])
    assert exit_info.value.code == 2
    assert "error: --seeds must be a whole number of at least 1" in capsys.readouterr().err


def test_the_confusion_picture_of_many_classes_stays_bounded():
    labels = [f"class {i}" for i in range(200)]
    run = {
        "strategy": "frozen",
        "n_per_class": 8,
        "labels": labels,
        "confusion_matrix": np.eye(200, dtype=int).tolist(),
    }
    figure = confusion([run], {**run, "method": "frozen"})
    assert max(figure.get_size_inches()) <= 16 and not figure.axes[0].texts


def test_the_datas_oddities_are_warned_once_not_once_per_run(tmp_path, data, tiny_encoder):
    texts, labels = data
    with pytest.warns(TruncationWarning) as caught:
        run_comparison(
            texts, labels, tmp_path / "cmp", ["frozen"], [4, 8], 2, 0.3, {"encoder": tiny_encoder, "max_length": 4}
        )
    truncation = [str(w.message) for w in caught if issubclass(w.category, TruncationWarning)]
    assert truncation == [f"{len(texts)} of {len(texts)} texts were longer than 4 tokens and were truncated"]
    assert not [
        w for w in caught if "fewer than 5 examples" in str(w.message)
    ]  # the samples of 4 per class are the user's choice


def test_the_verdict_calls_a_tie_a_tie_and_says_which_way_frozen_stands():
    from headstart.compare import verdict

    def row(strategy, accuracy, fit_seconds):
        return {"strategy": strategy, "n_per_class": 16, "accuracy": accuracy, "fit_seconds": fit_seconds}

    # Two means of 104 right out of 160, summed in another order.
    tied = verdict([row("tfidf", 0.6499999999999999, 0.1), row("frozen", 0.65, 1.0)])
    assert tied == "With 16 examples per class, tfidf and frozen are the most accurate (65.0%)."
    ahead = verdict([row("frozen", 0.8, 1.0), row("full", 0.7, 40.0)])
    assert (
        "frozen is the most accurate (80.0%); frozen is 10.0 pt more accurate than full, at 1/40 of its training time"
        in ahead
    )
    behind = verdict([row("frozen", 0.7, 1.0), row("full", 0.8, 40.0)])
    assert "frozen reaches 87% of full's accuracy at 1/40 of its training time" in behind


@pytest.mark.parametrize(
    "names, options, message",
    [
        (
            ["tfidf", "zero-shot"],
            {"label_descriptions": {"nope": "x"}},
            "label descriptions name labels not in the data: nope",
        ),
        (["tfidf", "partial:9"], {}, "partial:9 asks for more layers than the encoder's 2"),
        (["tfidf", "full"], {"epochs": 0}, "epochs must be a whole number of at least 1"),
    ],
)
def test_an_option_no_run_could_use_fails_before_anything_is_written(
    names, options, message, tmp_path, data, tiny_encoder
):
    with pytest.raises(HeadstartError, match=message):
        compare(tmp_path, data, tiny_encoder, strategy_names=names, options={"encoder": tiny_encoder, **options})
    assert not (tmp_path / "cmp").exists()


def test_the_trainable_parameters_picture_is_of_the_largest_n():
    from headstart.report import trainable_parameters

    rows = [
        {"method": s, "strategy": s, "n_per_class": n, "trainable_parameters": p}
        for s, n, p in [("tfidf", "all", 9000), ("tfidf", 4, 500), ("frozen", 4, 4611), ("frozen", "all", 4611)]
    ]
    figure = trainable_parameters(rows)
    axis = figure.axes[0]
    assert axis.get_title() == "What each strategy trains (n=all)"
    assert [t.get_text() for t in axis.texts] == [" 9,000", " 4,611"]


def test_compare_warns_about_labels_left_without_a_description(tmp_path, data, tiny_encoder):
    with pytest.warns(HeadstartWarning, match="1 label without a description is matched by name: neg"):
        compare(
            tmp_path,
            data,
            tiny_encoder,
            strategy_names=["zero-shot"],
            n_per_class=[4],
            seeds=1,
            options={"encoder": tiny_encoder, "label_descriptions": {"pos": "good great"}},
        )


def test_the_verdict_never_prefers_a_strategy_that_collapsed_to_one_class():
    def row(strategy, accuracy, collapsed=0):
        return {
            "strategy": strategy,
            "n_per_class": 8,
            "seeds": 3,
            "accuracy": accuracy,
            "fit_seconds": 1.0,
            "collapsed": collapsed,
        }

    text = verdict([row("frozen", 0.6), row("full", 0.7, collapsed=1)])
    assert text.startswith("With 8 examples per class, frozen is the most accurate (60.0%)")
    assert "full collapsed to one class in 1 of 3 seeds, so it is left out" in text
    assert "of full's accuracy" not in text
    every = verdict([row("frozen", 0.6, collapsed=2), row("full", 0.7, collapsed=1)])
    assert "most accurate" not in every and "none is recommended" in every


def test_a_run_that_collapsed_to_one_class_is_recorded_warned_about_and_marked_in_the_table(tiny_encoder):
    from headstart.compare import run_one, summarize
    from headstart.report import table_rows

    # One text under two labels: every prediction is the same class.
    train, train_y = ["the same words"] * 8, np.array(["pos", "neg"] * 4)
    test, test_y = ["the same words", "other words"] * 3, np.array(["pos", "neg"] * 3)
    with pytest.warns(HeadstartWarning, match=r"full \(seed 0, 8 training examples\) collapsed"):
        record = run_one("full", train, train_y, test, test_y, 0, {"encoder": tiny_encoder, "epochs": 1})
    assert record["collapsed"] is True
    runs = [{**record, "n_per_class": 4, "seed": 0, "train_size": 8, "test_size": 6}]
    assert table_rows(summarize(runs))[0][0] == "full (collapsed 1/1)"


def test_a_resumed_comparison_drops_the_line_a_killed_run_cut_off_so_the_file_stays_json_lines(
    tmp_path, data, tiny_encoder
):
    import pandas as pd

    compare(tmp_path, data, tiny_encoder, strategy_names=["tfidf"], n_per_class=[4], seeds=2)
    results = tmp_path / "cmp" / RESULTS
    lines = results.read_text().splitlines()
    results.write_text(lines[0] + "\n" + lines[1][:25])  # the second run killed while writing its line
    with pytest.warns(HeadstartWarning, match="dropped 1 line cut off by a killed run; that run is done again"):
        runs = compare(tmp_path, data, tiny_encoder, strategy_names=["tfidf"], n_per_class=[4], seeds=2)
    table = pd.read_json(results, lines=True)
    assert sorted(table["seed"]) == [0, 1] and len(runs) == 2
    assert results.read_text().splitlines()[0] == lines[0]  # the whole record kept as it was


def test_encoders_are_a_dimension_every_strategy_but_tfidf_runs_on(tmp_path, data, tiny_encoder):
    from conftest import make_tiny_encoder

    other = str(make_tiny_encoder(tmp_path / "tiny-other", seed=1))
    settings = dict(n_per_class=[4], strategy_names=["frozen", "tfidf"], encoders=[tiny_encoder, other])
    runs = compare(tmp_path, data, tiny_encoder, **settings)
    first = os.path.basename(tiny_encoder)  # a folder's name is its encoder's display name
    assert sorted((r["strategy"], r["encoder"] or "", r["seed"]) for r in runs) == sorted(
        [("frozen", first, s) for s in (0, 1)]
        + [("frozen", "tiny-other", s) for s in (0, 1)]
        + [("tfidf", "", 0), ("tfidf", "", 1)]
    )
    result = write_report(tmp_path / "cmp", runs)
    methods = {row["method"] for row in result["summary"]}
    assert methods == {f"frozen · {first}", "frozen · tiny-other", "tfidf"}
    assert all(r["encode_seconds"] > 0 for r in result["summary"] if r["strategy"] == "frozen")
    assert f"frozen · {first}" in (tmp_path / "cmp" / "report.md").read_text()
    assert re.search(rf"Encoding new texts .*{first} [\d,]+ texts/s, tiny-other [\d,]+ texts/s", result["verdict"])
    # Resumed: nothing runs again.
    again = compare(tmp_path, data, tiny_encoder, **settings)
    assert [r["fit_seconds"] for r in again] == [r["fit_seconds"] for r in runs]


def test_one_encoder_named_twice_is_refused(tmp_path, data, tiny_encoder):
    with pytest.raises(HeadstartError, match="have the name tiny-bert"):
        compare(tmp_path, data, tiny_encoder, encoders=[tiny_encoder, tiny_encoder + "/"])


def test_the_verdict_sets_the_best_frozen_encoder_against_full_on_any():
    def row(method, strategy, accuracy, fit_seconds):
        return {
            "method": method,
            "strategy": strategy,
            "n_per_class": 8,
            "accuracy": accuracy,
            "fit_seconds": fit_seconds,
        }

    text = verdict(
        [
            row("frozen · minilm", "frozen", 0.70, 0.5),
            row("frozen · mpnet", "frozen", 0.80, 2.0),
            row("full · minilm", "full", 0.75, 60.0),
        ]
    )
    assert text == (
        "With 8 examples per class, frozen · mpnet is the most accurate (80.0%); "
        "frozen · mpnet is 5.0 pt more accurate than full · minilm, at 1/30 of its training time."
    )
