"""Active learning, simulated: does ``headstart suggest`` reach random sampling's accuracy with fewer labels?

On each dataset's fixed training pool (the test split as in ``compare``), with the default encoder and precision:
start from 2 labels per class picked by the cold-start rule (k-means representatives, no labels looked at); then
add 4 x classes texts a round, chosen by ``labeling.uncertain`` (diverse mini-batch) from a linear head trained on the
labels so far (C by CV, as ``FrozenEncoderClassifier`` does), until 64 per class on average. A text's true label is
read only once it is suggested. Random sampling gets the same label counts; 5 seeds each. Also timed, on airline: one
warm ``suggest`` round over 10,000 pool texts against the cold encode of those texts, in the same run.

    python benchmarks/active.py [--datasets airline,trec6,sms,bbc] [--seeds 5] [--encoder all-MiniLM-L6-v2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402

from headstart import FrozenFeatures, suggest  # noqa: E402
from headstart.compare import fixed_split  # noqa: E402
from headstart.datasets import DATASETS, load_dataset  # noqa: E402
from headstart.labeling import head_proba, suggested_rows  # noqa: E402

RESULTS = Path(__file__).parent / "results"
START, STEP, END = 2, 4, 64  # labels per class: the cold start, each round's batch, the last count
TEST_SIZE = 0.2
TIMED_POOL = 10_000


def label_counts(classes: int) -> list[int]:
    counts = list(range(START * classes, END * classes, STEP * classes))
    return counts + [END * classes]


def scores(features, y, rows, test_x, test_y, seed: int) -> tuple[float, float]:
    """Test accuracy and macro-F1 of the default linear head trained on the labeled rows (classes not labeled yet
    cannot be predicted)."""
    classes, proba = head_proba(np.vstack([features, test_x]), rows, np.r_[y, test_y], seed)
    predicted = classes[proba[len(features) :].argmax(axis=1)]
    return accuracy_score(test_y, predicted), f1_score(test_y, predicted, average="macro")


def simulate(features, y, test_x, test_y, seed: int, active: bool) -> list[dict]:
    """One learning curve: accuracy and macro-F1 at each label count."""
    counts = label_counts(len(np.unique(y)))
    if active:
        rows = suggested_rows(features, y, counts, seed)
    else:
        rows = list(np.random.default_rng(seed).permutation(len(y))[: counts[-1]])
    curve = []
    for count in counts:
        accuracy, macro_f1 = scores(features, y, rows[:count], test_x, test_y, seed)
        curve.append({"labels": min(count, len(rows)), "accuracy": accuracy, "macro_f1": macro_f1})
    return curve


def labels_to_match(active: list[dict], target: float) -> int | None:
    """The fewest labels at which the mean active curve reaches ``target`` accuracy."""
    return next((point["labels"] for point in active if point["accuracy"] >= target), None)


def mean_curve(curves: list[list[dict]]) -> list[dict]:
    return [
        {
            "labels": points[0]["labels"],
            **{m: float(np.mean([p[m] for p in points])) for m in ("accuracy", "macro_f1")},
            "accuracy_sd": float(np.std([p["accuracy"] for p in points])),
        }
        for points in zip(*curves)
    ]


def run_dataset(name: str, seeds: int, cache: str, encoder: str | None) -> dict:
    texts, labels = load_dataset(name)
    y = np.asarray([str(label) for label in labels])
    pool, test = fixed_split(texts, y, TEST_SIZE)
    distinct = {texts[i]: i for i in reversed(pool)}  # one row per distinct pool text
    pool = np.asarray(sorted(distinct.values()))
    features_stage = FrozenFeatures(encoder=encoder, cache=cache).fit()
    begun = time.perf_counter()
    per_layer = features_stage.per_layer([texts[i] for i in pool] + [texts[i] for i in test])
    encode_seconds = time.perf_counter() - begun
    matrix = features_stage.spec_.combine(per_layer)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    features, test_x = matrix[: len(pool)], matrix[len(pool) :]
    found = {"pool": len(pool), "test": len(test), "classes": len(np.unique(y)), "encode_seconds": encode_seconds}
    for kind in ("active", "random"):
        curves = [simulate(features, y[pool], test_x, y[test], seed, kind == "active") for seed in range(seeds)]
        found[kind] = {"curves": curves, "mean": mean_curve(curves)}
    return found


def summarize(found: dict) -> dict:
    active, random = found["active"]["mean"], found["random"]["mean"]
    target = random[-1]["accuracy"]
    needed = labels_to_match(active, target)
    return {
        "random_at_end": target,
        "active_at_end": active[-1]["accuracy"],
        "labels_to_match": needed,
        "share_of_labels": needed / random[-1]["labels"] if needed else None,
        "area": {k: float(np.mean([p["accuracy"] for p in found[k]["mean"]])) for k in ("active", "random")},
        "area_macro_f1": {k: float(np.mean([p["macro_f1"] for p in found[k]["mean"]])) for k in ("active", "random")},
    }


def timed_round(cache: str, encoder: str | None) -> dict:
    """One warm suggest round (retrain on the labels, score the pool, choose) over 10,000 airline texts, against
    encoding them cold into the empty cache."""
    texts, labels = load_dataset("airline")
    pool = list(dict.fromkeys(texts))[:TIMED_POOL]
    in_pool = set(pool)
    labeled = {t: label for t, label in zip(texts, labels) if t not in in_pool}
    known = [t for label in sorted(set(labels)) for t in [t for t in labeled if labeled[t] == label][:22]]
    begun = time.perf_counter()
    FrozenFeatures(encoder=encoder, cache=cache).fit().per_layer(pool)
    cold = time.perf_counter() - begun

    def round_() -> None:
        suggest(pool, 12, labeled_texts=known, labels=[labeled[t] for t in known], encoder=encoder, cache=cache)

    round_()  # encodes the 64 labeled texts
    begun = time.perf_counter()
    round_()
    warm = time.perf_counter() - begun
    return {"pool": len(pool), "cold_encode_seconds": cold, "warm_round_seconds": warm, "share": warm / cold}


def plot(results: dict, path: Path) -> None:
    names = list(results["datasets"])
    figure, axes = plt.subplots(2, len(names), figsize=(4.5 * len(names), 7), squeeze=False)
    for column, name in enumerate(names):
        found = results["datasets"][name]
        for row, metric in enumerate(("accuracy", "macro_f1")):
            axis = axes[row][column]
            for kind, colour in (("active", "tab:blue"), ("random", "tab:orange")):
                mean = found[kind]["mean"]
                x = [p["labels"] / found["classes"] for p in mean]
                axis.plot(x, [p[metric] for p in mean], marker=".", color=colour, label=f"{kind}")
            axis.set_title(f"{name}: {metric.replace('_', '-')}")
            axis.set_xlabel("labels per class")
            axis.grid(alpha=0.3)
    axes[0][-1].legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def markdown(results: dict) -> list[str]:
    rows, shares = [], []
    for name, found in results["datasets"].items():
        s = found["summary"]
        needed = f"{s['labels_to_match']} ({s['share_of_labels']:.0%})" if s["labels_to_match"] else "not reached"
        shares.append(s["share_of_labels"] if s["share_of_labels"] else 1.0)
        rows.append(
            f"| {name} | {found['pool']:,} | {found['classes']} | {s['random_at_end']:.3f} | {s['active_at_end']:.3f} "
            f"| {needed} | {s['area']['active']:.3f} / {s['area']['random']:.3f} "
            f"| {s['area_macro_f1']['active']:.3f} / {s['area_macro_f1']['random']:.3f} |"
        )
    mean_share = float(np.mean(shares))
    timed = results["timed_round"]
    return [
        "## Suggest: active learning, simulated",
        "",
        f"`python benchmarks/active.py`: {results['encoder']} (precision {results['precision']}), start from "
        f"{START} labels per class chosen by the cold-start rule, then {STEP} x classes a round by diverse mini-batch "
        f"sampling, until {END} per class; random sampling at the same counts; {results['seeds']} seeds; test split as "
        "in `compare`. Labels to match: the fewest labels at which suggest's mean accuracy reaches random "
        f"sampling's at {END} per class (share of random's labels). Areas: mean accuracy (macro-F1) over the curve.",
        "",
        "| dataset | pool | classes | random, 64/class | suggest, 64/class | labels to match | area acc. "
        "suggest / random | area macro-F1 suggest / random |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"- Mean share of labels needed: **{mean_share:.0%}** (target ≤ 50%): "
        f"{'met' if mean_share <= 0.5 else '**not met**'} (a dataset where suggest never reaches random's accuracy "
        "counts as 100%).",
        f"- One warm round over {timed['pool']:,} airline texts (retrain, score, choose): "
        f"{timed['warm_round_seconds']:.1f} s, against {timed['cold_encode_seconds']:.0f} s to encode them cold: "
        f"**{timed['share']:.1%}** of it.",
        "",
        "![suggest against random labels](benchmarks/results/active.png)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--encoder", default=None, help="the default encoder unless given")
    args = parser.parse_args()
    default = FrozenFeatures(encoder=args.encoder).fit()
    results = {"encoder": default.encoder_.name, "precision": default.spec_.precision, "seeds": args.seeds}
    with tempfile.TemporaryDirectory() as cache:
        results["timed_round"] = timed_round(cache, args.encoder)
        results["datasets"] = {}
        for name in args.datasets.split(","):
            found = run_dataset(name, args.seeds, cache, args.encoder)
            found["summary"] = summarize(found)
            results["datasets"][name] = found
            print(name, json.dumps(found["summary"]), flush=True)
    plot(results, RESULTS / "active.png")
    results["markdown"] = markdown(results)
    (RESULTS / "active.json").write_text(json.dumps(results, indent=2) + "\n")
    print("\n".join(results["markdown"]))


if __name__ == "__main__":
    main()
