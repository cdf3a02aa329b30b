"""The CLI as a user meets it: happy paths, and every bad input as one line, exit status 2, nothing written."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_tiny_encoder, sentiment_data

from headstart.cli import main


def run(argv, capsys):
    try:
        main([str(a) for a in argv])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def data_csv(tmp_path) -> Path:
    texts, labels = sentiment_data()
    path = tmp_path / "train.csv"
    pd.DataFrame({"review": texts, "sentiment": labels}).to_csv(path, index=False)
    return path


@pytest.fixture
def trained(tmp_path, data_csv, tiny_encoder, capsys) -> Path:
    code, _, err = run(["train", data_csv, "--encoder", tiny_encoder, "--out", tmp_path / "model"], capsys)
    assert code == 0, err
    return tmp_path / "model"


def test_train_predict_evaluate_embed(tmp_path, data_csv, trained, tiny_encoder, capsys):
    assert (trained / "head.safetensors").exists()
    texts = tmp_path / "new.txt"
    texts.write_text("good great love\nbad awful hate\n")
    code, out, _ = run(["predict", trained, texts, "--proba"], capsys)
    assert code == 0
    table = pd.read_csv(pd.io.common.StringIO(out))
    assert table["label"].tolist() == ["pos", "neg"] and {"p_neg", "p_pos"} <= set(table.columns)
    code, _, _ = run(["predict", trained, texts, "--out", tmp_path / "p.jsonl"], capsys)
    assert code == 0 and len((tmp_path / "p.jsonl").read_text().splitlines()) == 2
    code, out, _ = run(["evaluate", trained, data_csv, "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["accuracy"] > 0.8 and len(report["confusion_matrix"]) == 2
    assert (
        report["calibration"]["accuracy"] == report["accuracy"]
        and 0 <= report["calibration"]["expected_calibration_error"] <= 1
    )
    code, out, _ = run(["evaluate", trained, data_csv], capsys)
    assert "macro-F1" in out and "confusion matrix" in out and "expected calibration error" in out
    for name in ("f.npy", "f.parquet"):
        code, _, err = run(
            ["embed", data_csv, "--encoder", tiny_encoder, "--layers", "-2,-1", "--out", tmp_path / name], capsys
        )
        assert code == 0, err
    assert np.load(tmp_path / "f.npy").shape == (40, 64)
    assert len(pd.read_parquet(tmp_path / "f.parquet")["embedding"][0]) == 64
    code, _, err = run(
        ["embed", data_csv, "--encoder", tiny_encoder, "--layers", "-1", "--out", tmp_path / "last.npy"], capsys
    )
    assert code == 0 and np.load(tmp_path / "last.npy").shape == (40, 32)
    code, _, err = run(["embed", data_csv, "--encoder", tiny_encoder, "--out", tmp_path / "default.npy"], capsys)
    assert code == 0 and np.load(tmp_path / "default.npy").shape == (40, 64)  # last4: both of the tiny encoder's layers


def test_train_and_predict_with_the_token_head(tmp_path, data_csv, tiny_encoder, capsys):
    code, out, err = run(
        ["train", data_csv, "--encoder", tiny_encoder, "--head", "tokens", "--out", tmp_path / "model"], capsys
    )
    assert code == 0 and "validation (5-fold CV)" in out, err
    texts = tmp_path / "new.txt"
    texts.write_text("good great love\nbad awful hate\n")
    code, out, _ = run(["predict", tmp_path / "model", texts], capsys)
    assert code == 0 and pd.read_csv(pd.io.common.StringIO(out))["label"].tolist() == ["pos", "neg"]


def test_predict_reads_stdin(trained, capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("good love\n"))
    code, out, _ = run(["predict", trained, "-"], capsys)
    assert code == 0 and out.splitlines()[1].endswith("pos")


def mkdir(path):
    path.mkdir()
    return path


def write(tmp_path, name, content, mode="w"):
    path = tmp_path / name
    path.write_bytes(content) if mode == "wb" else path.write_text(content)
    return path


BAD_INPUTS = {
    "missing file": (lambda t, e: ["train", t / "nope.csv", "--encoder", e], "file not found"),
    "unknown format": (lambda t, e: ["train", write(t, "d.xlsx", "x"), "--encoder", e], "unknown format '.xlsx'"),
    "missing column": (
        lambda t, e: ["train", write(t, "d.csv", "words,label\na,b\n"), "--encoder", e],
        "the columns are: words, label",
    ),
    "named column absent": (
        lambda t, e: ["train", write(t, "d.csv", "text,label\na,b\n"), "--text-col", "body", "--encoder", e],
        "no text column 'body'",
    ),
    "empty file": (lambda t, e: ["train", write(t, "d.csv", ""), "--encoder", e], "is empty"),
    "all texts empty": (
        lambda t, e: ["train", write(t, "d.csv", "text,label\n,a\n ,b\n"), "--encoder", e],
        "all texts",
    ),
    "empty labels": (
        lambda t, e: ["train", write(t, "d.csv", "text,label\ngood,a\nbad,\nfine,NaN\n"), "--encoder", e],
        "empty or NaN label",
    ),
    "one class": (
        lambda t, e: ["train", write(t, "d.csv", "text,label\ngood,a\nbad,a\n"), "--encoder", e],
        "only one class",
    ),
    "bad encoding": (
        lambda t, e: ["train", write(t, "d.csv", "text,label\ncaf\xe9,a\n".encode("latin-1"), "wb"), "--encoder", e],
        "not valid utf-8",
    ),
    "encoder path missing": (
        lambda t, e: ["train", write(t, "d.csv", "text,label\ngood,a\nbad,b\n"), "--encoder", t / "no-model"],
        "does not exist",
    ),
    "not a model folder": (lambda t, e: ["predict", t, write(t, "x.txt", "good\n")], "not a headstart model"),
    "unknown strategy": (
        lambda t, e: ["train", write(t, "d.csv", "text,label\ngood,a\nbad,b\n"), "--strategy", "magic", "--encoder", e],
        "known: zero-shot, tfidf",
    ),
    "bad layers": (
        lambda t, e: ["train", write(t, "d.csv", "text,label\ngood,a\nbad,b\n"), "--layers", "last", "--encoder", e],
        "--layers must be one of 'last4', 'auto' or layer numbers such as -1 or (-4, -3, -2, -1) (got 'last')",
    ),
    "lexical beside a trained encoder": (
        lambda t, e: [
            "train",
            write(t, "d.csv", "text,label\ngood,a\nbad,b\n"),
            "--strategy",
            "full",
            "--lexical",
            "--encoder",
            e,
        ],
        "--strategy full does not use --lexical; leave it out",
    ),
    "options tfidf does not take": (
        lambda t, e: [
            "train",
            write(t, "d.csv", "text,label\ngood,a\nbad,b\n"),
            "--strategy",
            "tfidf",
            "--pooling",
            "cls",
            "--no-cache",
        ],
        "--strategy tfidf does not use --no-cache, --pooling; leave them out",
    ),
    "precision for fine-tuning": (
        lambda t, e: [
            "train",
            write(t, "d.csv", "text,label\ngood,a\nbad,b\n"),
            "--strategy",
            "full",
            "--precision",
            "bf16",
            "--encoder",
            e,
        ],
        "does not use --precision",
    ),
    "unknown text encoding": (
        lambda t, e: [
            "train",
            write(t, "d.csv", "text,label\ngood,a\nbad,b\n"),
            "--encoding",
            "nonsense",
            "--encoder",
            e,
        ],
        "unknown text encoding 'nonsense'",
    ),
    "jsonl line not an object": (
        lambda t, e: ["train", write(t, "d.jsonl", '{"text": "good", "label": "a"}\n[1, 2]\n'), "--encoder", e],
        "line 2 is a list",
    ),
    "more fields than the header": (
        lambda t, e: ["train", write(t, "d.csv", "text,label\nhello, there,a\nbye, now,b\n"), "--encoder", e],
        "more fields than its header",
    ),
    "token head beside a trained encoder": (
        lambda t, e: [
            "train",
            write(t, "d.csv", "text,label\ngood,a\nbad,b\n"),
            "--strategy",
            "full",
            "--head",
            "tokens",
            "--encoder",
            e,
        ],
        "only the frozen strategy",
    ),
    "epochs for frozen": (
        lambda t, e: ["train", write(t, "d.csv", "text,label\ngood,a\nbad,b\n"), "--epochs", "3", "--encoder", e],
        "--strategy frozen does not use --epochs",
    ),
    "head lr for lp-ft": (
        lambda t, e: [
            "train",
            write(t, "d.csv", "text,label\ngood,a\nbad,b\n"),
            "--strategy",
            "lp-ft",
            "--head-lr",
            "0.1",
            "--encoder",
            e,
        ],
        "does not use --head-lr",
    ),
    "zero epochs": (
        lambda t, e: [
            "train",
            write(t, "d.csv", "text,label\ngood,a\nbad,b\n"),
            "--strategy",
            "full",
            "--epochs",
            "0",
            "--encoder",
            e,
        ],
        "--epochs must be a whole number of at least 1 (got 0)",
    ),
    "negative learning rate": (
        lambda t, e: [
            "train",
            write(t, "d.csv", "text,label\ngood,a\nbad,b\n"),
            "--strategy",
            "full",
            "--encoder-lr",
            "-1",
            "--encoder",
            e,
        ],
        "--encoder-lr must be a positive number",
    ),
    "descriptions for tfidf": (
        lambda t, e: [
            "train",
            write(t, "d.csv", "text,label\ngood,a\nbad,b\n"),
            "--strategy",
            "tfidf",
            "--label-descriptions",
            t / "none.json",
        ],
        "does not use --label-descriptions",
    ),
    "a label described twice": (
        lambda t, e: [
            "train",
            write(t, "d.csv", "text,label\ngood,a\nbad,b\n"),
            "--strategy",
            "zero-shot",
            "--label-descriptions",
            write(t, "l.csv", "label,description\na,fine\na,great\n"),
            "--encoder",
            e,
        ],
        "describes label 'a' more than once",
    ),
    "an empty description": (
        lambda t, e: [
            "train",
            write(t, "d.csv", "text,label\ngood,a\nbad,b\n"),
            "--strategy",
            "zero-shot",
            "--label-descriptions",
            write(t, "l.csv", "label,description\na,\nb,bad\n"),
            "--encoder",
            e,
        ],
        "the description of label 'a' is ''",
    ),
    "validation fraction for the linear head": (
        lambda t, e: [
            "train",
            write(t, "d.csv", "text,label\ngood,a\nbad,b\n"),
            "--validation-fraction",
            "0.5",
            "--encoder",
            e,
        ],
        "--head linear does not use --validation-fraction",
    ),
    "a C too large to fit": (
        lambda t, e: ["train", write(t, "d.csv", "text,label\ngood,a\nbad,b\n"), "--C", "1e6", "--encoder", e],
        "--C must be a positive number up to 10000",
    ),
    "a negative budget": (
        lambda t, e: [
            "advise",
            write(t, "d.csv", "text,label\ngood,a\nbad,b\n"),
            "--budget-seconds",
            "-1",
            "--encoder",
            e,
        ],
        "--budget-seconds must be a positive number",
    ),
    "embed into a missing folder": (
        lambda t, e: ["embed", write(t, "x.txt", "good\n"), "--encoder", e, "--out", t / "nope" / "f.npy"],
        "the folder",
    ),
    "embed into a folder": (
        lambda t, e: ["embed", write(t, "x.txt", "good\n"), "--encoder", e, "--out", mkdir(t / "f.npy")],
        "is a folder; give --out a file name",
    ),
    "auto layers for embed": (
        lambda t, e: ["embed", write(t, "x.txt", "good\n"), "--layers", "auto", "--encoder", e, "--out", t / "f.npy"],
        "'auto' chooses layers by cross-validation on labels",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, tmp_path, tiny_encoder, capsys):
    make_argv, message = BAD_INPUTS[case]
    argv = make_argv(tmp_path, tiny_encoder)
    if argv[0] == "train":
        argv += ["--out", tmp_path / "model"]
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run(argv, capsys)
    assert code == 2
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert message in err
    assert "Traceback" not in err + out
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_existing_output_folder_needs_force(trained, data_csv, tiny_encoder, capsys):
    stamp = (trained / "headstart.json").stat().st_mtime_ns
    code, _, err = run(["train", data_csv, "--encoder", tiny_encoder, "--out", trained], capsys)
    assert code == 2 and "already exists; pass --force" in err
    assert (trained / "headstart.json").stat().st_mtime_ns == stamp
    code, _, _ = run(["train", data_csv, "--encoder", tiny_encoder, "--out", trained, "--force"], capsys)
    assert code == 0


def test_existing_prediction_file_needs_force(trained, tmp_path, capsys):
    result = write(tmp_path, "p.csv", "precious")
    code, _, err = run(["predict", trained, write(tmp_path, "x.txt", "good\n"), "--out", result], capsys)
    assert code == 2 and result.read_text() == "precious"


def test_a_model_whose_encoder_changed_is_refused(tmp_path, data_csv, capsys):
    import headstart.encoders

    encoder = make_tiny_encoder(tmp_path / "enc", seed=1)
    assert run(["train", data_csv, "--encoder", encoder, "--out", tmp_path / "m"], capsys)[0] == 0
    make_tiny_encoder(encoder, seed=2)
    headstart.encoders._loaded.clear()
    code, _, err = run(["predict", tmp_path / "m", write(tmp_path, "x.txt", "good\n")], capsys)
    assert code == 2 and "fingerprint" in err and len(err.strip().splitlines()) == 1


def test_debug_shows_the_traceback(tmp_path, capsys):
    with pytest.raises(Exception, match="file not found"):
        main(["--debug", "train", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "m")])


def test_oddities_are_warned_about_and_counted_not_fatal(tmp_path, tiny_encoder, capsys):
    texts, labels = sentiment_data()
    texts[0] = ""
    texts[1] = "good " * 100
    texts, labels = texts + ["rude crew"] * 2, labels + ["rare"] * 2
    path = tmp_path / "odd.jsonl"
    path.write_text("\n".join(json.dumps({"text": t, "label": y}) for t, y in zip(texts, labels)))
    code, _, err = run(
        ["train", path, "--encoder", tiny_encoder, "--max-length", "32", "--out", tmp_path / "m"], capsys
    )
    assert code == 0, err
    assert "warning: dropped 1 row with an empty text" in err
    assert "1 of 41 texts was longer than 32 tokens and was truncated" in err
    assert "1 class has fewer than 5 examples: rare (2)" in err


def test_labels_that_look_like_markup_print_as_they_are(tmp_path, tiny_encoder, capsys):
    texts, labels = sentiment_data()
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": texts, "label": [f"[{x}]" for x in labels]}).to_csv(path, index=False)
    assert run(["train", path, "--encoder", tiny_encoder, "--out", tmp_path / "m"], capsys)[0] == 0
    code, out, _ = run(["evaluate", tmp_path / "m", path], capsys)
    assert code == 0 and "[pos]" in out and "[neg]" in out


def test_a_utf8_file_with_a_byte_order_mark_is_read(tmp_path, tiny_encoder, capsys):
    texts, labels = sentiment_data()
    body = "text,label\n" + "".join(f"{t},{y}\n" for t, y in zip(texts, labels))
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    code, _, err = run(["train", path, "--encoder", tiny_encoder, "--out", tmp_path / "m"], capsys)
    assert code == 0, err


def test_a_semicolon_separated_csv_is_read(tmp_path, trained, capsys):
    # Spreadsheets in comma-decimal locales write CSV with semicolons; a comma inside a text stays text.
    path = tmp_path / "excel.csv"
    path.write_text("text;label\ngreat, really great;pos\nawful;neg\n")
    code, out, err = run(["evaluate", trained, path, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["examples"] == 2


def test_a_damaged_model_config_is_one_line(trained, tmp_path, capsys):
    config = json.loads((trained / "headstart.json").read_text())
    del config["encoder"]
    (trained / "headstart.json").write_text(json.dumps(config))
    code, _, err = run(["predict", trained, write(tmp_path, "x.txt", "good\n")], capsys)
    assert code == 2 and "headstart.json was changed after the model was saved" in err and "Traceback" not in err
    del config["config_sha256"], config["files"]  # as saved before checksums: the missing field itself is found
    (trained / "headstart.json").write_text(json.dumps(config))
    code, _, err = run(["predict", trained, write(tmp_path, "x.txt", "good\n")], capsys)
    assert code == 2 and "is damaged" in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_global_flags_also_work_after_the_command(tmp_path, data_csv, tiny_encoder, capsys):
    code, out, err = run(["train", data_csv, "--encoder", tiny_encoder, "--out", tmp_path / "m", "--quiet"], capsys)
    assert code == 0 and err == "" and (tmp_path / "m" / "head.safetensors").exists()
    code, _, err = run(["predict", tmp_path / "m", tmp_path / "missing.txt", "-q"], capsys)
    assert code == 2 and err == "error: file not found: " + str(tmp_path / "missing.txt") + "\n"


def test_evaluate_says_which_examples_calibration_covers(tmp_path, trained, capsys):
    path = tmp_path / "eval.csv"
    pd.DataFrame(
        {"text": ["good great", "bad awful", "so so", "meh"], "label": ["pos", "neg", "neutral", "neutral"]}
    ).to_csv(path, index=False)
    code, out, err = run(["evaluate", trained, path], capsys)
    assert code == 0 and "labels the model was not trained on: neutral (2)" in err
    assert "over the 2 examples with labels the model knows)" in out


def test_evaluate_scores_a_single_class_without_training_warnings(tmp_path, trained, capsys):
    path = tmp_path / "one.csv"
    pd.DataFrame({"text": ["good great", "lovely good"], "label": ["pos", "pos"]}).to_csv(path, index=False)
    code, out, err = run(["evaluate", trained, path, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["examples"] == 2 and "fewer than" not in err


def test_csv_labels_keep_their_text_and_match_a_model_trained_on_numbers(tmp_path, tiny_encoder, capsys):
    texts, labels = sentiment_data()
    codes = [1 if label == "pos" else 2 for label in labels]
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(json.dumps({"text": t, "label": c}) for t, c in zip(texts, codes)))
    code, _, err = run(["train", train, "--encoder", tiny_encoder, "--out", tmp_path / "m"], capsys)
    assert code == 0, err
    test = tmp_path / "test.csv"
    test.write_text("text,label\n" + "\n".join(f"{t},{c}" for t, c in zip(texts, codes)) + "\n")
    code, out, err = run(["evaluate", tmp_path / "m", test, "--json"], capsys)
    assert code == 0 and json.loads(out)["accuracy"] > 0.8 and "not trained on" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["train", "--seed", "-1"],
            "--seed must be a whole number from 0 to 4294967295 (got -1); the same seed gives the same model",
        ),
        (["train", "--seed", str(2**32)], "--seed must be a whole number from 0 to 4294967295 (got 4294967296)"),
        (["train", "--max-length", "0"], "--max-length must be a whole number of at least 1 (got 0)"),
        (["demo", "--test-size", "0"], "--test-size must be a whole number of at least 1 (got 0)"),
        (
            ["train", "--validation-fraction", "1.5"],
            "--validation-fraction must be a number in [0, 1) or None (got 1.5)",
        ),
        (["demo", "--n-per-class", "-1"], "--n-per-class must be a whole number of at least 1 (got -1)"),
        (
            ["compare", "--test-size", "0"],
            "--test-size must be a number in (0, 1) or a whole number of at least 1 (got 0.0); "
            "a fraction of the data, or a number of examples",
        ),
    ],
)
def test_out_of_range_numbers_are_one_error_line(argv, message, data_csv, tmp_path, tiny_encoder, capsys):
    if argv[0] in ("train", "compare"):
        argv = [*argv, data_csv, "--encoder", tiny_encoder, "--out", tmp_path / "m"]
    code, out, err = run(argv, capsys)
    assert code == 2 and err.startswith(f"error: {message}") and len(err.splitlines()) == 1 and out == ""
    assert not (tmp_path / "m").exists()


def test_a_json_document_to_predict_is_refused_not_read_as_lines(trained, tmp_path, capsys):
    code, out, err = run(["predict", trained, write(tmp_path, "x.json", '[\n"good",\n"bad"\n]\n')], capsys)
    assert code == 2 and "give texts as .jsonl" in err and out == ""


def test_cache_command_reports_and_clears_the_cache(trained, private_cache, capsys):
    code, out, _ = run(["cache", "--json"], capsys)
    found = json.loads(out)
    assert (
        code == 0
        and found["path"] == str(private_cache / "embeddings.sqlite")
        and found["vectors"] == 40
        and found["bytes"] > 0
    )
    code, out, _ = run(["cache", "--clear"], capsys)
    assert code == 0 and "40 texts' vectors in 1 feature config," in out and "MiB freed" in out
    assert not list(private_cache.glob("embeddings.sqlite*"))
    code, out, _ = run(["cache", "--json"], capsys)
    assert json.loads(out)["vectors"] == 0


def test_cache_command_reports_a_damaged_cache_without_touching_it_and_clears_it(private_cache, capsys):
    private_cache.mkdir(parents=True, exist_ok=True)
    (private_cache / "embeddings.sqlite").write_bytes(b"not a database" * 100)
    (private_cache / "embeddings.sqlite.corrupt-20260101-000000").write_bytes(b"x" * 1000)
    code, out, err = run(["cache"], capsys)
    assert code == 0 and "a damaged file" in out and err == ""
    assert sorted(p.name for p in private_cache.iterdir()) == [
        "embeddings.sqlite",
        "embeddings.sqlite.corrupt-20260101-000000",
    ]
    code, out, _ = run(["cache", "--clear", "--json"], capsys)
    assert json.loads(out)["freed_bytes"] == 2400 and not list(private_cache.iterdir())


def test_predict_keeps_the_columns_asked_for_beside_each_prediction(trained, tmp_path, capsys):
    path = tmp_path / "new.csv"
    pd.DataFrame({"ticket_id": ["007", "008"], "text": ["good great love", "bad awful hate"]}).to_csv(path, index=False)
    code, out, err = run(["predict", trained, path, "--keep", "ticket_id"], capsys)
    assert code == 0, err
    assert pd.read_csv(pd.io.common.StringIO(out), dtype=str).to_dict("list") == {
        "ticket_id": ["007", "008"],
        "text": ["good great love", "bad awful hate"],
        "label": ["pos", "neg"],
    }
    code, _, err = run(["predict", trained, path, "--keep", "id"], capsys)
    assert code == 2 and "no --keep column 'id'; the columns are: ticket_id, text" in err
    path = tmp_path / "test.csv"
    pd.DataFrame(
        {"text": ["good great love", "bad awful hate"], "label": ["neg", "neg"], "input_label": ["x", "y"]}
    ).to_csv(path, index=False)
    code, out, err = run(
        ["predict", trained, path, "--keep", "label"], capsys
    )  # the file's label beside the prediction
    assert code == 0, err
    assert pd.read_csv(pd.io.common.StringIO(out), dtype=str).to_dict("list") == {
        "input_label": ["neg", "neg"],
        "text": ["good great love", "bad awful hate"],
        "label": ["pos", "neg"],
    }
    code, _, err = run(["predict", trained, path, "--keep", "label,input_label"], capsys)
    assert code == 2 and "--keep would write two columns named 'input_label'" in err


def test_evaluate_tables_keep_long_labels_whole(capsys):
    from rich.console import Console

    from headstart.cli.evaluate import confusion_fits, confusion_table, print_report

    labels = [f"category {i} with a rather long name" for i in range(12)]
    matrix = (np.eye(12, dtype=int) * 1000).tolist()
    report = {
        "accuracy": 1.0,
        "macro_f1": 1.0,
        "majority_baseline": 0.1,
        "examples": 12_000,
        "labels": labels,
        "per_class": {label: {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1000} for label in labels},
        "confusion_matrix": matrix,
    }
    print_report(report)  # into a pipe: the tables' natural width, not 80 columns
    out = capsys.readouterr().out
    assert all(out.count(label) == 3 for label in labels)  # per class, and the matrix's row and column
    assert not confusion_fits(labels, matrix, 80) and confusion_fits(["neg", "pos"], [[3, 1], [0, 4]], 80)
    terminal = Console(width=80, record=True)
    terminal.print(confusion_table(labels, matrix, numbered=True))
    shown = terminal.export_text()
    assert "numbered as in the" in shown and shown.count("1000") == 12 and "…" not in shown


def test_evaluate_shows_undefined_scores_as_dashes(capsys):
    from headstart.cli.evaluate import print_report
    from headstart.metrics import evaluate

    # "neu" is never predicted (no precision); "pos" is predicted but absent from the data (no recall); "mix" is
    # neither.
    report = evaluate(["neg", "neg", "neu"], ["neg", "pos", "neg"], labels=["neg", "neu", "pos", "mix"])
    print_report(report)
    rows = {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:6]]
        for line in capsys.readouterr().out.split("confusion matrix")[0].splitlines()
        if line.startswith("│")
    }
    assert rows["neg"] == ["0.500", "0.500", "0.500", "2"]
    assert rows["neu"] == ["-", "0.000", "0.000", "1"]
    assert rows["pos"] == ["0.000", "-", "0.000", "0"]
    assert rows["mix"] == ["-", "-", "-", "0"]


def test_train_sets_the_fine_tuning_options(tmp_path, data_csv, tiny_encoder, capsys):
    code, out, err = run(
        [
            "train",
            data_csv,
            "--encoder",
            tiny_encoder,
            "--strategy",
            "full",
            "--epochs",
            "1",
            "--encoder-lr",
            "1e-4",
            "--head-lr",
            "0.05",
            "--batch-size",
            "8",
            "--out",
            tmp_path / "m",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    params = json.loads((tmp_path / "m" / "headstart.json").read_text())["params"]
    assert (params["epochs"], params["encoder_lr"], params["head_lr"], params["batch_size"]) == (1, 1e-4, 0.05, 8)
    assert json.loads(out)["training"]["epochs_run"] == 1


def test_train_without_normalisation_and_counts_the_rows_it_dropped(tmp_path, tiny_encoder, capsys):
    texts, labels = sentiment_data()
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": [*texts, "", "  "], "label": [*labels, "pos", "neg"]}).to_csv(path, index=False)
    code, _, err = run(["train", path, "--encoder", tiny_encoder, "--no-normalize", "--out", tmp_path / "m"], capsys)
    assert code == 0, err
    config = json.loads((tmp_path / "m" / "headstart.json").read_text())
    assert config["params"]["normalize"] is False and config["data"]["dropped_empty_texts"] == 2
    assert "not normalised" in (tmp_path / "m" / "README.md").read_text()


def test_a_model_folder_under_a_file_is_refused_before_training(tmp_path, data_csv, tiny_encoder, capsys):
    code, _, err = run(["train", data_csv, "--encoder", tiny_encoder, "--out", data_csv / "m"], capsys)
    assert code == 2 and err.startswith(f"error: {data_csv} is a file, so") and "training" not in err


def test_predict_and_evaluate_can_leave_the_cache_alone(trained, tmp_path, data_csv, private_cache, capsys):
    import shutil

    shutil.rmtree(private_cache)
    texts = tmp_path / "new.txt"
    texts.write_text("good great love\nbad awful hate\n")
    for argv in (["predict", trained, texts, "--no-cache"], ["evaluate", trained, data_csv, "--no-cache"]):
        code, _, err = run(argv, capsys)
        assert code == 0, err
    assert not private_cache.exists()


def test_stdin_is_decoded_as_files_are(trained, capsys, monkeypatch):
    import io

    def predict_stdin(raw: bytes, *options):
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8"))
        return run(["predict", trained, "-", *options], capsys)

    code, out, err = predict_stdin(b"caf\xe9 good\n")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "error: stdin is not valid utf-8 text (byte 3); re-save it as UTF-8, or pass its encoding: "
        "--encoding cp1252 for most Windows files, latin-1, utf-16"
    ]
    code, out, _ = predict_stdin(b"caf\xe9 good\n", "--encoding", "latin-1")
    assert code == 0 and pd.read_csv(io.StringIO(out))["text"].tolist() == ["caf\u00e9 good"]
    for raw in ("good love\n".encode("utf-16"), b"\xef\xbb\xbfgood love\n"):  # known by their byte-order marks
        code, out, _ = predict_stdin(raw)
        assert code == 0 and pd.read_csv(io.StringIO(out))["text"].tolist() == ["good love"]


def test_the_cli_starts_without_importing_torch_transformers_or_sklearn():
    """--help and instant errors must not wait seconds for the heavy libraries; the commands import them when used."""
    import subprocess
    import sys

    probe = "import sys, headstart.cli; print(sorted({'torch', 'transformers', 'sklearn'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "[]\n"


@pytest.mark.parametrize(
    "args",
    [
        ["train", "missing.csv", "--out", "m"],
        ["predict", "no-model", "texts.txt"],
        ["evaluate", "no-model", "missing.csv"],
        ["embed", "missing.csv", "--out", "f.npy"],
    ],
)
def test_a_wrong_path_fails_before_the_heavy_libraries_are_imported(tmp_path, args):
    import subprocess
    import sys

    probe = (
        "import sys\nfrom headstart.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as exit:\n"
        "    print(exit.code, sorted({'torch', 'transformers', 'sklearn'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=tmp_path)
    assert done.stdout == "2 []\n" and done.stderr.startswith("error: ")
