"""The ``headstart`` command: a thin layer over the Python API that adds progress bars, tables and exit codes.

Every HeadstartError becomes one ``error:`` line and exit status 2 (a traceback only with ``--debug``).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from . import progress
from .errors import HeadstartError, HeadstartWarning, count, warn

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
    help="Freeze a pre-trained text encoder, train only a small head on its cached features, and compare strategies.",
)
# No markup: labels and paths such as "[positive]" are data, printed as they are. Written to a file or a pipe,
# tables keep their natural width: rich would otherwise cut them, and the labels in them, to 80 columns.
out = Console(soft_wrap=True, markup=False, width=None if sys.stdout.isatty() else 10_000)
err = Console(stderr=True, soft_wrap=True, markup=False)
_state = {"debug": False, "quiet": False}


class _Rate(ProgressColumn):
    def render(self, task) -> Text:
        return Text(f"{task.speed:,.0f} {task.fields.get('unit', '')}/s" if task.speed else "", style="cyan")


@contextlib.contextmanager
def _session():
    """Progress bars on stderr, warnings as one line each (once), quiet with --quiet."""
    seen: set[str] = set()

    def show_warning(message, category, *args, **kwargs):
        text = str(message)
        if text not in seen and not _state["quiet"]:
            seen.add(text)
            err.print(f"warning: {text}", markup=False, highlight=False)

    bars = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _Rate(), TimeRemainingColumn(),
        console=err, disable=_state["quiet"], transient=False,
    )

    def reporter(description: str, total: int, unit: str):
        if total < 64:  # small jobs finish before a bar is worth drawing
            return lambda n: None
        if not bars.live.is_started:
            bars.start()
        task_id = bars.add_task(description, total=total, unit=unit)
        return lambda n: bars.advance(task_id, n)

    with warnings.catch_warnings():  # restores showwarning on the way out
        warnings.simplefilter("always", HeadstartWarning)
        warnings.showwarning = show_warning
        try:
            with progress.reporting(reporter):
                yield
        finally:
            if bars.live.is_started:
                bars.stop()


def say(message: str) -> None:
    if not _state["quiet"]:
        err.print(message, highlight=False)


def _layers(text: str) -> tuple[int, ...] | str:
    from .encoders import LAYER_SPECS

    if text.strip() in LAYER_SPECS:
        return text.strip()
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise HeadstartError(f"bad --layers {text!r}; give comma-separated integers, e.g. -1 or -4,-3,-2,-1, "
                             f"or one of {', '.join(LAYER_SPECS)}") from None


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of an error."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars, warnings or messages; results only."),
) -> None:
    _state["debug"], _state["quiet"] = debug, quiet
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


ENCODER = typer.Option(None, "--encoder", "-e", help="Hugging Face model folder or Hub id [default: packaged all-MiniLM-L6-v2].")
POOLING = typer.Option("mean", "--pooling", help="mean, cls or max.")
LAYERS = typer.Option(
    None, "--layers",
    help="last4, auto (chosen by CV; frozen only), or comma-separated layers such as -1 [default: last4 for frozen "
         "features, -1 for the strategies that train the encoder].",
)
COMBINE = typer.Option("concat", "--layer-combine", help="concat or mean of the chosen layers.")
INSTRUCTION = typer.Option(None, "--instruction", help="A prefix prepended to every text before encoding.")
MAX_LENGTH = typer.Option(256, "--max-length", help="Tokens per text; longer texts are truncated (and counted).")
PRECISION = typer.Option("fp32", "--precision", help="fp32, or bf16 for 2-2.5x faster encoding on CPUs with native bfloat16.")
NO_CACHE = typer.Option(False, "--no-cache", help="Encode afresh; do not read or write the embedding cache.")
TEXT_COL = typer.Option(None, "--text-col", help="The text column [default: detected].")
LABEL_COL = typer.Option(None, "--label-col", help="The label column [default: detected].")
ENCODING = typer.Option("utf-8", "--encoding", help="Text encoding of the data file.")
FORCE = typer.Option(False, "--force", help="Replace an existing output.")
JSON_OUT = typer.Option(False, "--json", help="Machine-readable JSON on stdout.")
SEED = typer.Option(0, "--seed", help="Seed of every random choice; the same seed gives the same model.")


def _in_range(flag: str, value: int, low: int, high: int | None = None) -> None:
    """One error line for a number its flag cannot take."""
    if value < low or (high is not None and value > high):
        raise HeadstartError(f"{flag} must be " + (f"between {low} and {high}" if high is not None else f"at least {low}") + f" (got {value})")


def _unused_flags(ctx: typer.Context, options: dict, model) -> list[str]:
    """The flags given on the command line whose options the model's strategy does not take."""
    parameters = {p.name: p for p in ctx.command.params}
    parameter_of = {"cache": "no_cache"}
    return [
        parameters[parameter_of.get(key, key)].opts[0] for key in options
        if key not in model.get_params()
        and getattr(ctx.get_parameter_source(parameter_of.get(key, key)), "name", None) == "COMMANDLINE"
    ]


@app.command()
def train(
    ctx: typer.Context,
    data: Path = typer.Argument(..., help="CSV, TSV, JSONL or Parquet with a text and a label column."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="The model folder to write."),
    strategy: str = typer.Option("frozen", "--strategy", "-s", help="frozen, partial:K, lp-ft, full, zero-shot or tfidf."),
    text_col: Optional[str] = TEXT_COL,
    label_col: Optional[str] = LABEL_COL,
    encoder: Optional[str] = ENCODER,
    pooling: str = POOLING,
    layers: Optional[str] = LAYERS,
    layer_combine: str = COMBINE,
    instruction: Optional[str] = INSTRUCTION,
    lexical: bool = typer.Option(False, "--lexical", help="frozen: add word and character TF-IDF features beside the encoder's."),
    normalize: bool = typer.Option(True, "--normalize/--no-normalize", help="L2-normalise each layer's vector."),
    max_length: int = MAX_LENGTH,
    precision: str = PRECISION,
    head: str = typer.Option("linear", "--head", help="linear (logistic regression, C by CV), mlp, or tokens (frozen only: linear plus a smooth maximum of per-token scores; "
                            "for labels a few words decide; runs the encoder on every fit, as token states are not cached)."),
    C: Optional[float] = typer.Option(None, "--C", help="Inverse L2 strength of the linear head [default: chosen by CV]."),
    class_weight: Optional[str] = typer.Option(None, "--class-weight", help="balanced, to weight classes by inverse frequency."),
    validation_fraction: Optional[float] = typer.Option(None, "--validation-fraction", help="Held out for early stopping."),
    label_descriptions: Optional[Path] = typer.Option(None, "--label-descriptions", help="zero-shot: JSON {label: description}."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="partial, lp-ft, full: the most epochs; early stopping usually ends sooner [default: 10]."),
    encoder_lr: Optional[float] = typer.Option(None, "--encoder-lr", help="partial, lp-ft, full: the encoder's AdamW learning rate [default: 5e-5]."),
    head_lr: Optional[float] = typer.Option(None, "--head-lr", help="partial, full: the head's AdamW learning rate [default: 1e-2]; lp-ft's probed head uses --encoder-lr."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Texts per encoding batch [default: 32]; partial, lp-ft, full: per training step [default: 16]."),
    seed: int = SEED,
    no_cache: bool = NO_CACHE,
    encoding: str = ENCODING,
    force: bool = FORCE,
    json_out: bool = JSON_OUT,
) -> None:
    """Train a classifier and save it as a model folder."""
    from . import strategies
    from .artifacts import check_output_folder
    from .data import load_labeled
    from .encoders import resolve_encoder
    from .heads import C_LIMIT
    from .model import SEED_LIMIT

    check_output_folder(out_dir, force)
    _in_range("--seed", seed, 0, SEED_LIMIT)
    if C is not None and not 0 < C <= C_LIMIT:
        raise HeadstartError(f"--C must be a positive number up to {C_LIMIT:g} (got {C:g})")
    _in_range("--max-length", max_length, 1)
    options = dict(
        encoder=encoder, pooling=pooling, layer_combine=layer_combine, instruction=instruction, lexical=lexical, normalize=normalize,
        max_length=max_length, precision=precision, head=head, C=C, class_weight=class_weight, seed=seed, cache=not no_cache,
        label_descriptions=None,
    )
    given = dict(epochs=epochs, encoder_lr=encoder_lr, head_lr=head_lr, batch_size=batch_size)
    for flag, value in (("--epochs", epochs), ("--batch-size", batch_size)):
        if value is not None:
            _in_range(flag, value, 1)
    for flag, value in (("--encoder-lr", encoder_lr), ("--head-lr", head_lr)):
        if value is not None and not value > 0:
            raise HeadstartError(f"{flag} must be a positive number (got {value})")
    options.update({name: value for name, value in given.items() if value is not None})
    if layers is not None:
        options["layers"] = _layers(layers)
    if validation_fraction is not None:
        if not 0 <= validation_fraction < 1:
            raise HeadstartError(f"--validation-fraction must be at least 0 and below 1 (got {validation_fraction})")
        options["validation_fraction"] = validation_fraction
    model = strategies.build(strategy, **options)
    unused = _unused_flags(ctx, options, model)
    if unused:
        raise HeadstartError(f"--strategy {strategy} does not use {', '.join(unused)}; leave {'it' if len(unused) == 1 else 'them'} out")
    if head == "tokens" and model.strategy != "frozen":
        raise HeadstartError(f"--head tokens reads token states, which only the frozen strategy keeps; use it with --strategy frozen, not {strategy}")
    if validation_fraction is not None and model.strategy == "frozen" and head != "mlp":
        raise HeadstartError(f"--head {head} does not use --validation-fraction: its C is chosen by cross-validation; "
                             "the held-out split is for --head mlp's early stopping")
    if head_lr is not None and strategy == "lp-ft":
        raise HeadstartError("--strategy lp-ft does not use --head-lr: its probed head trains at --encoder-lr, so the fine-tune does not undo the probe")
    if label_descriptions:
        model.set_params(label_descriptions=_read_descriptions(label_descriptions))
    if "encoder" in model.get_params():
        resolve_encoder(encoder)  # a wrong path fails before any data is read
    with _session():
        labeled = load_labeled(data, text_col, label_col, encoding)
        say(f"training {strategy} on {len(labeled.texts)} texts, {len(set(map(str, labeled.labels)))} labels")
        model.fit(labeled.texts, labeled.labels)
        model.data_["dropped_empty_texts"] += labeled.dropped_empty  # dropped here, before fit saw the data
        model.save(out_dir, force=force)
    info = model.training_info_
    if json_out:
        out.print_json(json.dumps({"model": str(out_dir), "training": info}, default=str))
        return
    validation = info.get("validation")
    out.print(f"saved {strategy} model to {out_dir}")
    out.print(
        f"trainable parameters {info['trainable_parameters']:,}, frozen {info['frozen_parameters']:,}; "
        f"fit {info['seconds']['fit']:.2f} s, encoder forward passes {info['encoder_forward_passes']}"
    )
    if validation:
        out.print(f"validation ({validation['source']}): accuracy {validation['accuracy']:.3f}, macro-F1 {validation['macro_f1']:.3f}")


def _read_descriptions(path: Path) -> dict:
    from .strategies.zeroshot import check_descriptions

    described = _descriptions_in(path)
    check_descriptions(described)
    return described


def _descriptions_in(path: Path) -> dict:
    from .data import read_table

    if path.suffix.lower() == ".json":
        try:
            described = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise HeadstartError(f"cannot read label descriptions {path}: {exc}; give a JSON object {{label: description}}") from None
        if not isinstance(described, dict):
            raise HeadstartError(f"{path} must hold a JSON object {{label: description}}")
        return {str(k): v for k, v in described.items()}
    table = read_table(path)
    if not {"label", "description"} <= set(table.columns):
        raise HeadstartError(f"{path} needs columns label and description; it has {', '.join(map(str, table.columns))}")
    repeated = table["label"][table["label"].duplicated()]
    if len(repeated):
        raise HeadstartError(f"{path} describes label {repeated.iloc[0]!r} more than once; give each label one description")
    return {str(k): v if isinstance(v, str) else "" for k, v in zip(table["label"], table["description"])}


def _loaded(model_dir: Path, no_cache: bool):
    """A saved model, reading and writing the embedding cache unless --no-cache (a runtime setting, as the API's)."""
    from . import strategies

    model = strategies.load(model_dir)
    if no_cache and "cache" in model.get_params():
        model.set_params(cache=False)
    return model


def _check_output_file(path: Optional[Path], force: bool, suffixes: tuple[str, ...]) -> None:
    if path is None:
        return
    if path.suffix.lower() not in suffixes:
        raise HeadstartError(f"unknown output format {path.suffix or '(none)'!r} for {path}; use {' or '.join(suffixes)}")
    if path.is_dir():
        raise HeadstartError(f"{path} is a folder; give --out a file name such as {path / ('out' + suffixes[0])}")
    if path.exists() and not force:
        raise HeadstartError(f"{path} already exists; pass --force to replace it, or choose another --out")
    # Checked before any encoding: a typo in the folder would otherwise cost the whole run, or create folders.
    if not path.parent.is_dir():
        raise HeadstartError(f"the folder {path.parent} does not exist; create it, or choose another --out")


def _write_atomic(path: Path, write) -> None:
    """write(tmp_path) then rename, so an interrupted run never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    except OSError as exc:
        raise HeadstartError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


@app.command()
def predict(
    model_dir: Path = typer.Argument(..., metavar="MODEL", help="A model folder written by `headstart train`."),
    source: str = typer.Argument(..., metavar="INPUT", help="A data file, a text file (one text per line), or - for stdin."),
    out_file: Optional[Path] = typer.Option(None, "--out", "-o", help="Write .csv or .jsonl [default: CSV on stdout]."),
    proba: bool = typer.Option(False, "--proba", help="Add one probability column per label."),
    text_col: Optional[str] = TEXT_COL,
    keep: Optional[str] = typer.Option(None, "--keep", help="Columns of a data file to copy beside each prediction, e.g. id,date; one named like an output column (label) is written as input_label."),
    encoding: str = ENCODING,
    no_cache: bool = NO_CACHE,
    force: bool = FORCE,
) -> None:
    """Predict labels for new texts."""
    import pandas as pd

    from .data import read_inputs

    _check_output_file(out_file, force, (".csv", ".jsonl"))
    keep_columns = [c.strip() for c in (keep or "").split(",") if c.strip()]
    with _session():
        model = _loaded(model_dir, no_cache)
        texts, kept = read_inputs(source, text_col, encoding, keep_columns)
        outputs = ["text", "label", *([f"p_{label}" for label in model.classes_] if proba else [])]
        kept = kept.rename(columns={c: f"input_{c}" for c in kept.columns if c in outputs})  # --keep label: the file's label
        clash = [column for column in kept.columns if column in outputs or list(kept.columns).count(column) > 1]
        if clash:
            raise HeadstartError(f"--keep would write two columns named {clash[0]!r} (a kept column named like an output column is "
                                 "written with input_ before its name); copy one under another name first")
        probabilities = model.predict_proba(texts)
    table = pd.DataFrame({"text": texts, "label": model.classes_[probabilities.argmax(axis=1)]})
    if proba:
        for i, label in enumerate(model.classes_):
            table[f"p_{label}"] = probabilities[:, i].round(6)
    table = pd.concat([kept.reset_index(drop=True), table], axis=1)
    if out_file is None:
        sys.stdout.write(table.to_csv(index=False))
    elif out_file.suffix.lower() == ".jsonl":
        _write_atomic(out_file, lambda p: table.to_json(p, orient="records", lines=True, force_ascii=False))
    else:
        _write_atomic(out_file, lambda p: table.to_csv(p, index=False))
    if out_file is not None:
        say(f"wrote {len(table)} predictions to {out_file}")


@app.command()
def evaluate(
    model_dir: Path = typer.Argument(..., metavar="MODEL"),
    data: Path = typer.Argument(..., help="Labeled data: CSV, TSV, JSONL or Parquet."),
    text_col: Optional[str] = TEXT_COL,
    label_col: Optional[str] = LABEL_COL,
    encoding: str = ENCODING,
    no_cache: bool = NO_CACHE,
    json_out: bool = JSON_OUT,
) -> None:
    """Accuracy, macro-F1, a per-class report and the confusion matrix on labeled data."""
    from .data import load_labeled
    from .metrics import evaluate as evaluate_predictions

    with _session():
        model = _loaded(model_dir, no_cache)
        labeled = load_labeled(data, text_col, label_col, encoding, training=False)
        proba = model.predict_proba(labeled.texts)
        # Labels match by their text: a CSV's "1" is the class 1 of a model trained on JSONL or in Python.
        known = {str(label): label for label in model.classes_.tolist()}
        truth = [known.get(str(label), label) for label in labeled.labels]
        report = evaluate_predictions(truth, model.classes_[proba.argmax(axis=1)], model.classes_.tolist(), proba)
        if report["unseen_labels"]:
            found = ", ".join(f"{label} ({n})" for label, n in report["unseen_labels"].items())
            warn(f"{count(sum(report['unseen_labels'].values()), 'example', 'have')} labels the model was not trained on: {found}; "
                          "they count as errors")
    if json_out:
        out.print_json(json.dumps(report))
        return
    print_report(report)


def print_report(report: dict) -> None:
    out.print(
        f"accuracy {report['accuracy']:.3f}   macro-F1 {report['macro_f1']:.3f}   "
        f"majority baseline {report['majority_baseline']:.3f}   examples {report['examples']}"
    )
    calibrated = report.get("calibration", {})
    if calibrated.get("examples"):
        out.print(
            f"calibration: expected calibration error {calibrated['expected_calibration_error']:.3f}, log loss "
            f"{calibrated['log_loss']:.3f} (mean confidence {calibrated['mean_confidence']:.3f} against accuracy {calibrated['accuracy']:.3f}"
            + (f", over the {calibrated['examples']} examples with labels the model knows)" if calibrated["examples"] < report["examples"] else ")")
        )
    numbered = not confusion_fits(report["labels"], report["confusion_matrix"], out.width)
    per_class = Table(title="per class")
    columns = ("#",) * numbered + ("label", "precision", "recall", "F1", "support")
    for column in columns:
        per_class.add_column(column, justify="left" if column == "label" else "right")
    predicted = np.sum(report["confusion_matrix"], axis=0)
    for i, (label, row) in enumerate(report["per_class"].items()):
        # A class never predicted has no precision, one absent from the data no recall: "-", not scikit-learn's 0.
        # F1, 2TP / (2TP + FP + FN), lacks only when both are.
        defined = {"precision": predicted[i], "recall": row["support"], "f1": predicted[i] + row["support"]}
        scores = [f"{row[k]:.3f}" if n else "-" for k, n in defined.items()]
        per_class.add_row(*(str(i),) * numbered, label, *scores, str(row["support"]))
    out.print(per_class)
    out.print(confusion_table(report["labels"], report["confusion_matrix"], numbered))


def confusion_fits(labels: list[str], matrix: list[list[int]], width: int) -> bool:
    """Whether a confusion matrix headed by its labels fits the width."""
    cells = max(len(str(value)) for row in matrix for value in row)
    return max(map(len, labels)) + sum(max(len(label), cells) + 3 for label in labels) + 4 <= width


def confusion_table(labels: list[str], matrix: list[list[int]], numbered: bool) -> Table:
    """Rows true, columns predicted, headed by their labels, or ``numbered`` as in the per-class table (for labels too
    long or too many to head a column), compactly, so that many classes fit a terminal."""
    title = "confusion matrix (rows: true, columns: predicted" + (", numbered as in the per-class table)" if numbered else ")")
    table = Table(title=title, box=box.SIMPLE_HEAD if numbered else box.HEAVY_HEAD, pad_edge=not numbered, collapse_padding=numbered)
    names = [str(i) for i in range(len(labels))] if numbered else labels
    table.add_column("", no_wrap=True)
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for name, row in zip(names, matrix):
        table.add_row(name, *map(str, row))
    return table


@app.command()
def embed(
    data: Path = typer.Argument(..., help="A data file with a text column, or a text file with one text per line."),
    out_file: Path = typer.Option(..., "--out", "-o", help="Write .parquet (text + embedding) or .npy (the matrix)."),
    text_col: Optional[str] = TEXT_COL,
    encoder: Optional[str] = ENCODER,
    pooling: str = POOLING,
    layers: Optional[str] = LAYERS,
    layer_combine: str = COMBINE,
    normalize: bool = typer.Option(True, "--normalize/--no-normalize", help="L2-normalise each layer's vector."),
    instruction: Optional[str] = INSTRUCTION,
    max_length: int = MAX_LENGTH,
    precision: str = PRECISION,
    no_cache: bool = NO_CACHE,
    encoding: str = ENCODING,
    force: bool = FORCE,
) -> None:
    """Write the frozen encoder's features (through the cache) for use in other tools."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from .cache import encode_cached
    from .data import read_inputs
    from .encoders import check_feature_options, combine_layers, layer_candidates, load_encoder
    from .model import make_cache

    _check_output_file(out_file, force, (".parquet", ".npy"))
    spec = _layers(layers or "last4")
    if spec == "auto":
        raise HeadstartError("--layers auto chooses layers by cross-validation on labels, so it is for train; give last4 or layer numbers")
    with _session():
        texts, _ = read_inputs(data, text_col, encoding)
        model = load_encoder(encoder)
        chosen = layer_candidates(spec, model.num_layers)[0]
        check_feature_options(pooling, chosen, layer_combine, model.num_layers)
        per_layer = encode_cached(model, texts, make_cache(not no_cache), pooling, max_length, instruction, precision=precision)
        features = combine_layers(torch.from_numpy(per_layer), chosen, layer_combine, normalize).numpy()
    if out_file.suffix.lower() == ".npy":
        def write_npy(path: Path) -> None:
            with open(path, "wb") as file:  # a file object: np.save would add ".npy" to the temporary name
                np.save(file, features, allow_pickle=False)

        _write_atomic(out_file, write_npy)
    else:
        column = pa.FixedSizeListArray.from_arrays(pa.array(features.reshape(-1)), features.shape[1])
        _write_atomic(out_file, lambda p: pq.write_table(pa.table({"text": texts, "embedding": column}), p))
    say(f"wrote {features.shape[0]} x {features.shape[1]} features to {out_file}")


@app.command()
def demo(
    n_per_class: int = typer.Option(100, "--n-per-class", help="Training tweets per class."),
    test_size: int = typer.Option(1000, "--test-size", help="Held-out tweets to evaluate on."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Also save the model folder here."),
    seed: int = SEED,
    force: bool = FORCE,
) -> None:
    """Train the default frozen classifier on airline customer sentiment and show what it did."""
    from .artifacts import check_output_folder
    from .data import sample_per_class
    from .datasets import load_airline
    from .metrics import evaluate as evaluate_predictions
    from .model import SEED_LIMIT, FrozenEncoderClassifier

    if out_dir is not None:
        check_output_folder(out_dir, force)
    _in_range("--n-per-class", n_per_class, 1)
    _in_range("--test-size", test_size, 1)
    _in_range("--seed", seed, 0, SEED_LIMIT)
    with _session():
        texts, labels = load_airline()
        y = np.asarray(labels)
        test = np.random.default_rng(seed).permutation(len(y))[:test_size]
        train = sample_per_class(y, n_per_class, seed, pool=np.setdiff1d(np.arange(len(y)), test))
        say(
            f"airline customer sentiment: {len(train)} training tweets ({n_per_class} per class), "
            f"{len(test)} held-out tweets; encoder all-MiniLM-L6-v2 frozen, linear head"
        )
        started = time.perf_counter()
        model = FrozenEncoderClassifier().fit([texts[i] for i in train], y[train].tolist())
        fit_seconds = time.perf_counter() - started
        proba = model.predict_proba([texts[i] for i in test])
        report = evaluate_predictions(y[test], model.classes_[proba.argmax(axis=1)], model.classes_.tolist(), proba)
        if out_dir is not None:
            model.save(out_dir, force=force)
    info = model.training_info_
    out.print(
        f"trained in {fit_seconds:.1f} s (encoder load {info['seconds']['load']:.1f} s, encoding {info['seconds']['encode']:.1f} s "
        f"with {info['encoder_forward_passes']} forward passes, head {info['seconds']['head']:.1f} s, C={info['C']:g} by CV)"
    )
    out.print(f"trainable parameters {info['trainable_parameters']:,} (the head) vs frozen {info['frozen_parameters']:,} (the encoder)")
    print_report(report)
    if out_dir is not None:
        out.print(f"saved the model to {out_dir}")


@app.command()
def compare(
    data: Path = typer.Argument(..., help="Labeled data: CSV, TSV, JSONL or Parquet."),
    out_dir: Path = typer.Option(Path("compare-out"), "--out", "-o", help="Folder for results.jsonl and the report."),
    strategies_text: str = typer.Option(
        "zero-shot,tfidf,frozen,lp-ft,full", "--strategies", help="Comma-separated: frozen, partial:K, lp-ft, full, zero-shot, tfidf."
    ),
    n_per_class: str = typer.Option("8,32,128,all", "--n-per-class", help="Training examples per class, e.g. 8,32,128,all."),
    seeds: int = typer.Option(3, "--seeds", help="Training samples (and seeds) per n."),
    test_size: float = typer.Option(0.2, "--test-size", help="Fraction (< 1) or number of examples held out for testing."),
    text_col: Optional[str] = TEXT_COL,
    label_col: Optional[str] = LABEL_COL,
    encoder: Optional[str] = ENCODER,
    max_length: int = MAX_LENGTH,
    epochs: int = typer.Option(10, "--epochs", help="Most epochs for strategies that train θ."),
    label_descriptions: Optional[Path] = typer.Option(None, "--label-descriptions", help="zero-shot: JSON {label: description}."),
    encoding: str = ENCODING,
    force: bool = FORCE,
    json_out: bool = JSON_OUT,
) -> None:
    """Run strategies side by side on the same data; write a report with learning curves and costs."""
    from .compare import check_strategies, parse_n_per_class, run_comparison
    from .data import load_labeled
    from .report import HEADERS, TERMINAL_COLUMNS, table_rows, write_report

    names = check_strategies([s.strip() for s in strategies_text.split(",") if s.strip()])
    sizes = parse_n_per_class(n_per_class)
    _in_range("--seeds", seeds, 1)
    _in_range("--max-length", max_length, 1)
    if not test_size > 0:
        raise HeadstartError(f"--test-size must be a fraction above 0 and below 1, or a number of examples (got {test_size:g})")
    options = {"encoder": encoder, "max_length": max_length, "epochs": epochs}
    if label_descriptions:
        options["label_descriptions"] = _read_descriptions(label_descriptions)
    with _session():
        labeled = load_labeled(data, text_col, label_col, encoding, training=False)  # run_comparison checks it, once
        split = int(test_size) if test_size >= 1 else test_size
        bar = {}

        def on_run(record: dict, done: int, total: int) -> None:
            if "advance" not in bar:
                bar["advance"] = progress.task("compare runs", total, "runs")
            bar["advance"](1)

        runs = run_comparison(labeled.texts, labeled.labels, out_dir, names, sizes, seeds, split, options, force, on_run)
        result = write_report(out_dir, runs, title=f"headstart compare: {data.name}")
    if json_out:
        out.print_json(json.dumps(result))
        return
    table = Table(title=f"{data.name}: mean over seeds (test split fixed)", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    keep = [HEADERS.index(c) for c in TERMINAL_COLUMNS]
    for header in TERMINAL_COLUMNS.values():
        table.add_column(header, justify="left" if header == "strategy" else "right", no_wrap=True)
    for row in table_rows(result["summary"]):
        table.add_row(*(row[i] for i in keep))
    out.print(table)
    out.print(result["verdict"])
    out.print(f"report: {out_dir / 'report.html'} (also report.md, results.json, results.jsonl)")


@app.command()
def advise(
    data: Path = typer.Argument(..., help="Labeled data: CSV, TSV, JSONL or Parquet."),
    budget_seconds: float = typer.Option(600.0, "--budget-seconds", help="The training time you can afford."),
    text_col: Optional[str] = TEXT_COL,
    label_col: Optional[str] = LABEL_COL,
    encoder: Optional[str] = ENCODER,
    max_length: int = MAX_LENGTH,
    encoding: str = ENCODING,
    json_out: bool = JSON_OUT,
) -> None:
    """Measure this machine on a sample, estimate each strategy's training time, and recommend one."""
    from .advise import advise as advise_on
    from .data import load_labeled

    if not budget_seconds > 0:
        raise HeadstartError(f"--budget-seconds must be a positive number of seconds (got {budget_seconds:g})")
    with _session():
        labeled = load_labeled(data, text_col, label_col, encoding, training=False)  # advise_on checks it, once
        advice = advise_on(labeled.texts, labeled.labels, budget_seconds, encoder, max_length)
    if json_out:
        out.print_json(json.dumps(advice))
        return
    measured = advice["measured"]
    out.print(
        f"{advice['examples']} examples, {advice['classes']} classes (median {advice['median_class']}, smallest {advice['smallest_class']}); "
        f"{advice['texts_cached']} already cached; encoder {measured['encode_texts_per_second']:.0f} texts/s forward, "
        f"{measured['train_texts_per_second']:.0f} texts/s training"
    )
    table = Table(title=f"estimated training time (budget {advice['budget_seconds']:g} s), after loading the encoder "
                        f"({measured['encoder_load_seconds']:.1f} s), which all but tfidf do once")
    table.add_column("strategy")
    table.add_column("seconds", justify="right")
    for name, seconds in advice["estimated_fit_seconds"].items():
        mark = "  <- recommended" if name == advice["recommendation"] else ""
        table.add_row(name + mark, f"{seconds:,.1f}")
    out.print(table)
    out.print(f"recommended: {advice['recommendation']}. {advice['reason']}")


@app.command()
def cache(
    clear: bool = typer.Option(False, "--clear", help="Delete the cache; vectors are recomputed when next needed."),
    json_out: bool = JSON_OUT,
) -> None:
    """Where the embedding cache is, its size and how many texts' vectors it holds; --clear deletes it."""
    from .cache import EmbeddingCache

    store = EmbeddingCache()
    found = store.info()
    if clear:
        found["freed_bytes"] = store.clear()
    if json_out:
        out.print_json(json.dumps(found))
        return
    configs = found["feature_configs"]
    held = "a damaged file (it is moved aside and rebuilt when next used)" if found["corrupt"] else \
        f"{found['vectors']:,} texts' vectors in {configs} feature config{'' if configs == 1 else 's'}"
    out.print(f"{found['path']}: {held}, {found['bytes'] / 2**20:,.1f} MiB (set HEADSTART_CACHE to move it)")
    if clear:
        out.print(f"cleared: {found['freed_bytes'] / 2**20:,.1f} MiB freed")


GLOBAL_FLAGS = ("--debug", "--quiet", "-q")


def global_flags_first(argv: list[str]) -> list[str]:
    """``headstart train data.csv --quiet`` as ``headstart --quiet train data.csv``: the global flags are accepted
    after the command too, where users put them (up to a ``--``, after which every word is an argument)."""
    end = argv.index("--") if "--" in argv else len(argv)
    flags = [a for a in argv[:end] if a in GLOBAL_FLAGS]
    return flags + [a for a in argv[:end] if a not in GLOBAL_FLAGS] + argv[end:]


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: run the app; a HeadstartError becomes one line and exit status 2."""
    try:
        app(args=global_flags_first(sys.argv[1:] if argv is None else list(argv)), prog_name="headstart", standalone_mode=True)
    except (HeadstartError, OSError) as exc:  # OSError: a disk full or a folder not writable, say
        if _state["debug"]:
            raise
        message = str(exc) if isinstance(exc, HeadstartError) else f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
        err.print(f"error: {message}", highlight=False)
        sys.exit(2)
