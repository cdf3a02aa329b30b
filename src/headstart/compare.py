"""``compare``: every strategy on the same data, side by side, with accuracy and cost.

One fixed stratified test split of distinct texts; for each n per class and seed, one stratified training sample,
on which every strategy is trained. Each finished run is appended to ``results.jsonl`` at once, so an interrupted
comparison resumes where it stopped. Fits and predictions are cold (no embedding cache), so that their times
compare like for like and are what new data costs.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from . import strategies
from .costs import PeakMemory
from .data import check_labeled, sample_per_class
from .encoders import encoder_spec, load_encoder, resolve_encoder
from .errors import HeadstartError, HeadstartWarning, OutputExistsError, count, warn
from .features import FrozenFeatures
from .metrics import evaluate, predictions_collapsed
from .packaged import packaged
from .params import Real, Rule, Whole, check
from .strategies.base import data_sha256
from .strategies.zeroshot import label_prompts

RESULTS = "results.jsonl"
MANIFEST = "comparison.json"
REPORT_FILES = ("report.html", "report.md", "results.json")  # and the figures' PNGs (report.write_report)
SPLIT_SEED = 0
# frozen trained on the labels ``suggest`` would have asked for, beside frozen on a random sample of as many.
SUGGESTED = "frozen-suggested"


def parse_n_per_class(text: str) -> list[int | None]:
    """``"8,32,all"`` -> [8, 32, None]."""
    values: list[int | None] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "all":
            values.append(None)
        elif part.isdigit() and int(part) > 0:
            values.append(int(part))
        else:
            raise HeadstartError(
                f"bad --n-per-class value {part!r}; give positive integers or 'all', e.g. 8,32,128,all"
            )
    if not values:
        raise HeadstartError("--n-per-class is empty; give e.g. 8,32,all")
    return values


def parse_encoders(text: str | None, encoder: str | None = None) -> list[str] | None:
    """``"minilm,mpnet"`` -> ["minilm", "mpnet"]; None when not given (the one ``encoder``)."""
    if text is None:
        return None
    if encoder is not None:
        raise HeadstartError("give --encoder or --encoders, not both")
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise HeadstartError("--encoders is empty; give e.g. all-MiniLM-L6-v2,all-mpnet-base-v2")
    return names


def check_strategies(names: Sequence[str]) -> list[str]:
    if not names:
        raise HeadstartError("no strategies given; e.g. --strategies frozen,lp-ft,full,tfidf")
    for name in names:
        strategies.strategy_class(name)
    return list(dict.fromkeys(names))


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file; a cut-off line (a run killed mid-write) is left out."""
    return [json.loads(line) for line in _whole_lines(path.read_bytes() if path.exists() else b"")]


def _whole_lines(text: bytes) -> list[bytes]:
    """The lines that are whole JSON records: not cut off mid-write, nor blank."""
    whole = []
    for line in text.splitlines():
        try:
            json.loads(line)
        except ValueError:
            continue
        whole.append(line)
    return whole


def read_results(out_dir: Path) -> list[dict]:
    """Runs recorded so far in a comparison folder."""
    return read_jsonl(out_dir / RESULTS)


def _append(out_dir: Path, record: dict) -> None:
    """Add a run's record as one line (``prepare_output`` left the file ending in a whole one)."""
    with open(out_dir / RESULTS, "a") as file:
        file.write(json.dumps(record) + "\n")
        file.flush()
        os.fsync(file.fileno())


def _drop_cut_off_lines(path: Path) -> None:
    """Rewrite a JSON-lines file without the lines a killed run cut off, so that any JSON-lines reader (pandas) reads
    it; their runs are done again. Written beside and renamed over it, so that no crash leaves it half-written."""
    text = path.read_bytes() if path.exists() else b""
    whole = _whole_lines(text)
    if not text or (text.endswith(b"\n") and text.splitlines() == whole):
        return
    staged = path.with_name(f".{path.name}.tmp")
    with open(staged, "wb") as file:
        file.write(b"".join(line + b"\n" for line in whole))
        file.flush()
        os.fsync(file.fileno())
    staged.replace(path)
    dropped = len([line for line in text.splitlines() if line.strip()]) - len(whole)
    if dropped:
        runs = "that run is" if dropped == 1 else "those runs are"
        warn(f"{path}: dropped {count(dropped, 'line')} cut off by a killed run; {runs} done again")


def prepare_output(out_dir: Path, manifest: dict, force: bool) -> None:
    """Make the output folder, or resume one of this same comparison; refuse one of another without --force. With
    --force a comparison folder starts afresh."""
    existing = out_dir / MANIFEST
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"{out_dir} is a file; choose a folder for --out")
    if out_dir.exists() and any(out_dir.iterdir()):
        try:
            same = existing.exists() and json.loads(existing.read_text()) == manifest
        except ValueError:
            same = False
        if not same and not force:
            what = (
                "another comparison (other data or settings)"
                if existing.exists()
                else "files that are not a comparison"
            )
            raise OutputExistsError(f"{out_dir} holds {what}; pass --force to replace it, or choose another --out")
        if force:
            if not existing.exists():
                raise OutputExistsError(
                    f"{out_dir} is not a comparison folder; refusing to replace it even with --force"
                )
            # Every output, the report's too: an interrupted rerun must not leave the old report beside new results.
            for path in [
                out_dir / RESULTS,
                out_dir / MANIFEST,
                *(out_dir / name for name in REPORT_FILES),
                *out_dir.glob("*.png"),
            ]:
                path.unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    staged = out_dir / f".{MANIFEST}.tmp"
    staged.write_text(json.dumps(manifest, indent=2) + "\n")
    staged.replace(existing)
    _drop_cut_off_lines(out_dir / RESULTS)


def fixed_split(texts: Sequence[str], y: np.ndarray, test_size: float | int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed stratified (training pool, test) split, of distinct texts: every copy of a text falls on the side
    of its first copy, so no test text is also trained on (repeats are common in tweets, messages and tickets), and
    ``test_size`` counts distinct texts. A class with a single distinct text cannot be on both sides, so that text
    (whatever other labels it also carries) stays in the training pool, and the test split is stratified over the
    other texts by their first copy's label."""
    first, texts_of = {}, {}
    for row, (text, label) in enumerate(zip(texts, y)):
        first.setdefault(text, row)
        texts_of.setdefault(label, set()).add(text)
    rare = [label for label, seen in texts_of.items() if len(seen) < 2]
    pooled = {text for label in rare for text in texts_of[label]}
    distinct = np.fromiter(first.values(), dtype=int)
    single = np.array([texts[row] in pooled for row in distinct], dtype=bool)
    if single.all():
        raise HeadstartError(
            "every class has a single example, so none can be tested; label at least two examples of a class"
        )
    if rare:
        warn(f"{count(len(rare), 'class', 'have')} a single example: trained on, but not tested")
    try:
        _, tested = train_test_split(
            distinct[~single], test_size=test_size, stratify=y[distinct[~single]], random_state=SPLIT_SEED
        )
    except ValueError as exc:
        raise HeadstartError(
            f"cannot make a stratified test split of {int((~single).sum())} distinct texts: {exc}; change --test-size"
        ) from None
    in_test = {texts[row] for row in tested}
    is_test = np.array([text in in_test for text in texts], dtype=bool)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def run_comparison(
    texts: Sequence[str],
    labels: Sequence,
    out_dir: str | Path,
    strategy_names: Sequence[str] = ("zero-shot", "tfidf", "frozen", "lp-ft", "full"),
    n_per_class: Sequence[int | None] = (8, 32, 128, None),
    seeds: int = 3,
    test_size: float | int = 0.2,
    options: dict | None = None,
    force: bool = False,
    on_run: Callable[[dict, int, int], None] | None = None,
    encoders: Sequence[str | None] | None = None,
    suggested: bool = False,
) -> list[dict]:
    """Train and test every (strategy, encoder, n per class, seed); returns the plan's runs, those resumed and those
    new.

    ``options`` go to every strategy that takes them (encoder, pooling, epochs, ...). ``encoders`` (names, folders or
    Hub ids) makes the encoder a dimension: every strategy that reads one runs on each; by default the one in
    ``options``. ``suggested`` adds frozen trained on the labels ``headstart suggest`` would have asked for
    (``SUGGESTED``), at each n but all, beside frozen on random ones. ``on_run(record, done, total)`` is called
    after each run, including skipped ones, so a caller can show progress.
    """
    names = check_strategies(strategy_names)
    if suggested and "frozen" not in names:
        raise HeadstartError(
            "--suggested sets frozen on suggested labels beside frozen on random ones; add frozen to --strategies"
        )
    options = dict(options or {})
    encoder_specs = list(dict.fromkeys(encoders)) if encoders else [options.get("encoder")]
    check("seeds", seeds, Rule((Whole(1),)))
    check(
        "test_size",
        test_size,
        Rule((Real(0, 1, low_open=True, high_open=True), Whole(1)), "a fraction of the data, or a number of examples"),
    )
    data = check_labeled(list(texts), list(labels))
    y = np.asarray([str(label) for label in data.labels])
    train_pool, test = fixed_split(data.texts, y, test_size)
    out_dir = Path(out_dir)
    manifest = {
        "data_sha256": data_sha256(data.texts, data.labels),
        "examples": len(y),
        "test_size": test_size,
        "split_seed": SPLIT_SEED,
        "split_of": "distinct texts",
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in sorted(options.items())},
    }
    reads_any = any(reads_encoder(name) for name in names)
    encoder_names = {spec: resolve_encoder(spec)[0] for spec in encoder_specs} if reads_any else {}
    shown = list(encoder_names.values())
    twice = sorted({name for name in shown if shown.count(name) > 1})
    if twice:
        raise HeadstartError(
            f"two of --encoders have the name {twice[0]}; give each encoder once (two folders of one name: rename one)"
        )
    if len(encoder_specs) > 1:
        manifest["encoders"] = [encoder_spec(load_encoder(spec)) for spec in encoder_specs]
    plan = [
        (n, seed, name, spec)
        for n in n_per_class
        for seed in range(seeds)
        for name in [*names, *([SUGGESTED] if suggested and n is not None else [])]
        for spec in (encoder_specs if reads_encoder(name) else [None])
    ]
    planned = {(name, encoder_names.get(spec), n if n is not None else "all", seed) for n, seed, name, spec in plan}
    smallest = {c: int(np.sum(y[train_pool] == c)) for c in np.unique(y)}
    for n in n_per_class:
        short = {c: k for c, k in smallest.items() if n is not None and k < n}
        if short:
            warn(
                f"--n-per-class {n} is more than some classes have "
                f"({', '.join(f'{c}: {k}' for c, k in short.items())}); "
                "using all of their examples"
            )
    finished = None if force else finished_runs(out_dir, manifest, planned, encoder_names.get(encoder_specs[0]))
    if finished is not None:  # nothing left to run: no pre-flight, no encoder, only the report
        if on_run:
            for done_count, record in enumerate(finished, start=1):
                on_run(record, done_count, len(finished))
        return finished
    if reads_any:
        for spec in encoder_specs:
            # Each encoder loads (and is fingerprinted) once, before any run is timed or anything written; truncation
            # is warned about once here, not once per run.
            given = {k: v for k, v in {**options, "encoder": spec}.items() if k in FrozenFeatures._get_param_names()}
            FrozenFeatures(**given).fit().warn_truncated(data.texts)
    if "zero-shot" in names:  # about the user's descriptions, not a sample: warned here, as the runs' warnings are not
        label_prompts(options.get("label_descriptions"), np.unique(y))
    for spec in encoder_specs:
        check_runs(names, {**options, "encoder": spec}, data.texts, y, train_pool)
    prepare_output(out_dir, manifest, force)
    runs = recorded_runs(out_dir, encoder_names.get(encoder_specs[0]))
    done = {_key(r) for r in runs}
    test_texts = [data.texts[i] for i in test]
    for done_count, (n, seed, name, spec) in enumerate(plan, start=1):
        key = (name, encoder_names.get(spec), n if n is not None else "all", seed)
        if key in done:
            if on_run:
                on_run(next(r for r in runs if _key(r) == key), done_count, len(plan))
            continue
        train = sample_per_class(y, n, seed, pool=train_pool)
        given = {**options, "encoder": spec} if spec is not None else options
        if name == SUGGESTED:
            train = suggested_sample(data.texts, y, train_pool, len(train), seed, given)
        strategy = "frozen" if name == SUGGESTED else name
        record = run_one(strategy, [data.texts[i] for i in train], y[train], test_texts, y[test], seed, given)
        record["strategy"] = name
        record.update(
            {
                "encoder": key[1],
                "n_per_class": key[2],
                "seed": seed,
                "train_size": len(train),
                "test_size": len(test),
            }
        )
        _append(out_dir, record)
        runs.append(record)
        done.add(key)
        if on_run:
            on_run(record, done_count, len(plan))
    # A resumed folder may hold runs of a larger plan (more seeds, other n): the report covers this plan's alone.
    return [r for r in runs if _key(r) in planned]


def recorded_runs(out_dir: Path, first_encoder: str | None) -> list[dict]:
    """The runs in a comparison folder; those recorded before the encoder was a dimension ran on the comparison's
    one (first) encoder."""
    return [{"encoder": first_encoder if reads_encoder(r["strategy"]) else None, **r} for r in read_results(out_dir)]


def finished_runs(out_dir: Path, manifest: dict, planned: set, first_encoder: str | None) -> list[dict] | None:
    """This plan's runs, when the folder holds this same comparison with every one of them recorded; else None."""
    try:
        if json.loads((out_dir / MANIFEST).read_text()) != manifest:
            return None
    except (OSError, ValueError):
        return None
    runs = [r for r in recorded_runs(out_dir, first_encoder) if _key(r) in planned]
    return runs if {_key(r) for r in runs} == planned else None


def _key(run: dict) -> tuple:
    return run["strategy"], run.get("encoder"), run["n_per_class"], run["seed"]


def reads_encoder(strategy: str) -> bool:
    """Whether a strategy runs on an encoder (all but tfidf)."""
    return strategy == SUGGESTED or strategies.strategy_class(strategy) is not strategies.TfidfClassifier


def suggested_sample(
    texts: Sequence[str], y: np.ndarray, pool: np.ndarray, size: int, seed: int, options: dict
) -> np.ndarray:
    """``size`` rows of the training pool as ``headstart suggest`` would have asked for their labels: 2 per class by
    the cold-start rule, then 4 x classes a round (``labeling.suggested_rows``). The pool is encoded through the
    embedding cache: choosing the labels is not part of the run's timed fit."""
    from .labeling import suggested_rows

    features = FrozenFeatures(**{k: v for k, v in options.items() if k in FrozenFeatures._get_param_names()}).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HeadstartWarning)  # the data's, warned about once already
        vectors = features.spec_.combine(features.per_layer([texts[i] for i in pool]))
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    classes = len(np.unique(y[pool]))
    counts = sorted({*range(min(2 * classes, size), size, 4 * classes), size})
    return pool[suggested_rows(vectors, y[pool], counts, seed)]


def check_runs(
    names: Sequence[str], options: dict, texts: Sequence[str], y: np.ndarray, train_pool: np.ndarray
) -> None:
    """Fit each strategy once on two examples per class before anything is written: an option a strategy cannot
    use (too many layers for partial:K, descriptions of labels not in the data, ...) fails now, in seconds, instead of
    after the other strategies' runs have filled a folder that the corrected command would then refuse."""
    rows = sample_per_class(y, 2, SPLIT_SEED, pool=train_pool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HeadstartWarning)  # two examples a class: the sample's warnings, not the data's
        for name in names:
            strategies.build(name, **strategies.options_for(name, {**options, "cache": False})).fit(
                [texts[i] for i in rows], y[rows]
            )


def run_one(
    name: str,
    train_texts: list[str],
    train_y: np.ndarray,
    test_texts: list[str],
    test_y: np.ndarray,
    seed: int,
    options: dict,
) -> dict:
    """Fit one strategy and predict the test split, both cold (no embedding cache: every strategy encodes what it
    reads, as on new data), and record accuracy and every cost. A run whose predictions collapsed to one class, on
    the data its fit judged itself by or on the test split (see ``predictions_collapsed``), is warned about and
    recorded as ``collapsed``."""
    model = strategies.build(name, **strategies.options_for(name, {**options, "seed": seed, "cache": False}))
    with warnings.catch_warnings():
        # A sample's oddities (small classes, truncated texts) are the data's, which run_comparison warned about once.
        warnings.simplefilter("ignore", HeadstartWarning)
        with PeakMemory() as memory:
            started = time.perf_counter()
            model.fit(train_texts, train_y)
            fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        proba = model.predict_proba(test_texts)
        predict_seconds = time.perf_counter() - started
    predicted = model.classes_[proba.argmax(axis=1)]
    report = evaluate(test_y, predicted, model.classes_.tolist(), proba)
    info = model.training_info_
    trainable = info["trainable_parameters"]
    collapsed = bool(info.get("collapsed")) or predictions_collapsed(test_y, predicted)
    if collapsed:
        warn(
            f"{name} (seed {seed}, {len(train_y)} training examples) collapsed: it predicts almost only one class; "
            "the verdict leaves it out"
        )
    return {
        "strategy": name,
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "expected_calibration_error": report["calibration"]["expected_calibration_error"],
        "log_loss": report["calibration"]["log_loss"],
        "labels": report["labels"],
        "confusion_matrix": report["confusion_matrix"],
        "fit_seconds": fit_seconds,
        # The frozen encoder's share of the fit (None where the encoder is trained, or there is none).
        "encode_seconds": info.get("seconds", {}).get("encode"),
        "predict_seconds": predict_seconds,
        "trainable_parameters": trainable,
        "total_parameters": trainable + info.get("frozen_parameters", 0),
        "encoder_forward_passes": info.get("encoder_forward_passes", 0),
        "encoder_backward_passes": info.get("encoder_backward_passes", 0),
        "peak_rss_mb": memory.peak_mb,
        "collapsed": collapsed,
    }


def method_names(runs: Sequence[dict]) -> dict[tuple, str]:
    """What the report calls each (strategy, encoder): the strategy alone when the runs used one encoder, else
    "strategy · encoder", by the encoder's short name (``mpnet``) where it has one."""
    encoders = {r.get("encoder") for r in runs} - {None}
    names = {}
    for run in runs:
        strategy, encoder = run["strategy"], run.get("encoder")
        if len(encoders) > 1 and encoder is not None:
            shipped = packaged(encoder)
            names[strategy, encoder] = f"{strategy} · {shipped.aliases[0] if shipped else encoder}"
        else:
            names[strategy, encoder] = strategy
    return names


def summarize(runs: Sequence[dict]) -> list[dict]:
    """Mean and sd over seeds for each (strategy, encoder, n per class), in the order the runs were planned."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault((run["strategy"], run.get("encoder"), run["n_per_class"]), []).append(run)
    methods = method_names(runs)
    rows = []
    for (name, encoder, n), group in groups.items():
        accuracy = np.array([r["accuracy"] for r in group])
        f1 = np.array([r["macro_f1"] for r in group])
        encoding = [r["encode_seconds"] for r in group if r.get("encode_seconds") is not None]
        rows.append(
            {
                "method": methods[name, encoder],
                "strategy": name,
                "encoder": encoder,
                "n_per_class": n,
                "seeds": len(group),
                "train_size": float(np.mean([r["train_size"] for r in group])),
                "accuracy": float(accuracy.mean()),
                "accuracy_sd": float(accuracy.std(ddof=1)) if len(group) > 1 else 0.0,
                "macro_f1": float(f1.mean()),
                "macro_f1_sd": float(f1.std(ddof=1)) if len(group) > 1 else 0.0,
                # Results written before calibration was measured lack it.
                "expected_calibration_error": float(
                    np.mean([r.get("expected_calibration_error", np.nan) for r in group])
                ),
                "fit_seconds": float(np.mean([r["fit_seconds"] for r in group])),
                "encode_seconds": float(np.mean(encoding)) if encoding else None,
                "predict_seconds": float(np.mean([r["predict_seconds"] for r in group])),
                "trainable_parameters": int(round(np.mean([r["trainable_parameters"] for r in group]))),
                "encoder_forward_passes": float(np.mean([r["encoder_forward_passes"] for r in group])),
                "encoder_backward_passes": float(np.mean([r["encoder_backward_passes"] for r in group])),
                "peak_rss_mb": float(np.max([r["peak_rss_mb"] for r in group])),
                # Seeds whose predictions collapsed to one class; results written before the check lack it.
                "collapsed": sum(bool(r.get("collapsed")) for r in group),
            }
        )
    return rows


def _share_of_time(a: float, b: float) -> str:
    """Time a against time b, in words: '1/40 of its training time' or '1.2 times its training time'."""
    if a <= 0 or b <= 0:
        return "an unmeasured share of its training time"
    return f"1/{b / a:.0f} of its training time" if b / a >= 1.5 else f"{a / b:.1f} times its training time"


def verdict(summary: Sequence[dict]) -> str:
    """A plain-language sentence per n: the most accurate frozen method against the heaviest strategy run (full, the
    most accurate on any encoder; else the most accurate method). A method that collapsed to one class in any seed is
    named as such and never compared or preferred."""
    sentences = []
    by_n: dict = {}
    for row in summary:
        by_n.setdefault(row["n_per_class"], {})[row.get("method", row["strategy"])] = row
    for n, every in by_n.items():
        examples = f"with {n} examples per class" if n != "all" else "with all the training data"
        rows = {name: r for name, r in every.items() if not r.get("collapsed")}
        collapsed = _collapsed_note([r for r in every.values() if r.get("collapsed")])
        if not rows:
            sentences.append(f"{examples.capitalize()}, {collapsed}; none is recommended.")
            continue
        best = max(rows.items(), key=lambda item: item[1]["accuracy"])
        # Means of the same counts summed in another order differ in the last bits: a tie is a tie.
        tied = [name for name, r in rows.items() if np.isclose(r["accuracy"], best[1]["accuracy"], rtol=0, atol=1e-9)]
        leaders = f"{' and '.join(tied)} are" if len(tied) > 1 else f"{tied[0]} is"
        line = f"{examples.capitalize()}, {leaders} the most accurate ({best[1]['accuracy']:.1%})"
        frozen = _most_accurate(rows, "frozen")
        peer = _most_accurate(rows, "full") or (best if frozen and frozen[0] not in tied else None)
        if frozen and peer and peer[0] != frozen[0]:
            (name, ours), (other, theirs) = frozen, peer
            cost = _share_of_time(ours["fit_seconds"], theirs["fit_seconds"])
            gap = ours["accuracy"] - theirs["accuracy"]
            if np.isclose(gap, 0, rtol=0, atol=1e-9):
                line += f"; {name} matches {other}'s accuracy at {cost}"
            elif gap < 0:
                line += f"; {name} reaches {ours['accuracy'] / theirs['accuracy']:.0%} of {other}'s accuracy at {cost}"
            else:
                line += f"; {name} is {100 * gap:.1f} pt more accurate than {other}, at {cost}"
        if collapsed:
            line += f"; {collapsed}, so {'it is' if len(every) - len(rows) == 1 else 'they are'} left out"
        sentences.append(line + ".")
    return " ".join(sentences)


def _most_accurate(rows: dict[str, dict], strategy: str) -> tuple[str, dict] | None:
    """(method, row) of the most accurate method of this strategy, on whichever encoder; None if it was not run."""
    of = [(name, r) for name, r in rows.items() if r["strategy"] == strategy]
    return max(of, key=lambda item: item[1]["accuracy"]) if of else None


def encoding_speeds(runs: Sequence[dict]) -> dict[str, float]:
    """Texts a second each encoder encodes on this machine: a frozen model's (cold) prediction of the test split is
    its encoder's pass over it, and the head's share is negligible."""
    speeds: dict[str, list[float]] = {}
    for run in runs:
        if run["strategy"] == "frozen" and run.get("encoder") and run["predict_seconds"] > 0:
            speeds.setdefault(run["encoder"], []).append(run["test_size"] / run["predict_seconds"])
    return {encoder: float(np.median(values)) for encoder, values in speeds.items()}


def _collapsed_note(rows: Sequence[dict]) -> str:
    """'full collapsed to one class in 1 of 3 seeds, and partial:1 in 2 of 3 seeds'; empty when none did."""
    parts = [
        f"{r.get('method', r['strategy'])} in {r['collapsed']} of {r['seeds']} {'seed' if r['seeds'] == 1 else 'seeds'}"
        for r in rows
    ]
    if not parts:
        return ""
    first = parts[0].replace(" in ", " collapsed to one class in ", 1)
    return ", and ".join([first, *parts[1:]])
