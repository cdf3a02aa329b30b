"""Turn benchmarks/results/*.jsonl (and throughput*.json, warm_retrain.json, schedule.json, serve.json,
active.json) into BENCHMARKS.md and a plot.

python benchmarks/report.py [--results benchmarks/results] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from headstart.compare import read_jsonl  # noqa: E402

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT))
import methods  # noqa: E402  (benchmarks/ is not a package)

ORDER = [
    "tfidf",
    "st_lr",
    "setfit",
    "hf_full",
    "hs_frozen",
    "hs_frozen_auto",
    "hs_frozen_tokens",
    "hs_frozen_bf16",
    "hs_frozen_int8",
    "hs_lpft",
    "hs_full",
]


def method_list() -> list[str]:
    """One line per method, from its docstring in methods.py."""
    return [f"- `{name}`: " + " ".join(methods.METHODS[name].__doc__.split()) for name in ORDER]


def load_runs(folder: Path) -> list[dict]:
    return [run for path in sorted(folder.glob("*.jsonl")) for run in read_jsonl(path)]


def cells(runs: list[dict]) -> dict[tuple, dict]:
    """(dataset, method label, n) -> mean/sd of accuracy and F1, mean costs."""
    groups = defaultdict(list)
    for r in runs:
        label = r["method"] if r["encoder"] == "minilm" else f"{r['method']} ({r['encoder']})"
        groups[(r["dataset"], label, r["n_per_class"])].append(r)
    out = {}
    for key, group in groups.items():
        acc, f1 = np.array([g["accuracy"] for g in group]), np.array([g["macro_f1"] for g in group])
        out[key] = {
            "seeds": len(group),
            "acc": acc.mean(),
            "acc_sd": acc.std(ddof=1) if len(acc) > 1 else 0.0,
            "f1": f1.mean(),
            "f1_sd": f1.std(ddof=1) if len(f1) > 1 else 0.0,
            **{k: float(np.mean([g[k] for g in group])) for k in ("fit_seconds", "trainable_parameters")},
            # The median: a configuration's first seed may have encoded the test texts that the later seeds read from
            # the benchmark's cache, and a mean would be a blend of one cold predict and warm ones.
            **{k: float(np.median([g[k] for g in group])) for k in ("predict_seconds", "encoder_forward_passes")},
            "peak_rss_mb": float(np.max([g["peak_rss_mb"] for g in group])),
        }
    return out


def _order(label: str) -> tuple:
    base = label.split(" ")[0]
    return (ORDER.index(base) if base in ORDER else len(ORDER), label)


def dataset_table(table: dict, dataset: str) -> list[str]:
    lines = [
        "| method | n/class | seeds | accuracy | macro-F1 | fit s | predict s | fwd passes | peak RSS MiB "
        "| trainable params |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted((k for k in table if k[0] == dataset), key=lambda k: (k[2], _order(k[1])))
    for key in keys:
        c = table[key]
        lines.append(
            f"| {key[1]} | {key[2]} | {c['seeds']} | {c['acc']:.3f} ± {c['acc_sd']:.3f} "
            f"| {c['f1']:.3f} ± {c['f1_sd']:.3f} | "
            f"{c['fit_seconds']:.2f} | {c['predict_seconds']:.2f} | {c['encoder_forward_passes']:.0f} "
            f"| {c['peak_rss_mb']:.0f} | "
            f"{c['trainable_parameters']:,.0f} |"
        )
    return lines


def mean_over(table: dict, label: str, n: int, datasets: list[str], field: str = "acc") -> float | None:
    values = [table[(d, label, n)][field] for d in datasets if (d, label, n) in table]
    return float(np.mean(values)) if len(values) == len(datasets) else None


def targets(table: dict, datasets: list[str]) -> list[str]:
    """The issue's accuracy and cost targets, checked on the cells that exist; missing cells are said to be missing."""
    ours, lines = "hs_frozen_auto", []
    sizes = sorted({k[2] for k in table if k[1] == ours})
    complete = [
        n
        for n in sizes
        if mean_over(table, ours, n, datasets) is not None and mean_over(table, "st_lr", n, datasets) is not None
    ]
    diffs = [mean_over(table, ours, n, datasets) - mean_over(table, "st_lr", n, datasets) for n in complete]

    if diffs:
        gain = 100 * np.mean(diffs)
        lines.append(
            f"- frozen (auto) vs st_lr, mean over all datasets at n = {', '.join(map(str, complete))}: {gain:+.1f} pt "
            f"(target ≥ +3 pt): {verdict(gain >= 3)}"
        )
    for full in ("hs_full", "hf_full"):
        a, b = mean_over(table, ours, 8, datasets), mean_over(table, full, 8, datasets)
        if a is not None and b is not None:
            lines.append(
                f"- frozen (auto) vs {full} at n=8: {100 * (a - b):+.1f} pt (target ≥ +2 pt): {verdict(a - b >= 0.02)}"
            )
    for n in [s for s in sizes if s >= 32]:
        # Over the datasets where all three ran (fine-tuning skips long-text sets above n = 8).
        shared = [d for d in datasets if all((d, m, n) in table for m in (ours, "st_lr", "hs_full"))]
        a, lo, hi = (mean_over(table, m, n, shared) for m in (ours, "st_lr", "hs_full")) if shared else (None,) * 3
        if None not in (a, lo, hi) and hi > lo:
            closed = (a - lo) / (hi - lo)
            lines.append(
                f"- n={n}, over {', '.join(shared)}: frozen (auto) {a:.3f}, st_lr {lo:.3f}, hs_full {hi:.3f}; "
                f"frozen closes {closed:.0%} of the gap (target ≥ 50%): {verdict(closed >= 0.5)}"
            )
    lines += precision_checks(table, datasets)
    lines += fit_time_shares(table, ours)
    return lines or ["- no cells to check yet"]


PRECISIONS = (("hs_frozen_bf16", "bf16", 0.5), ("hs_frozen_int8", "int8", 1.0))


def precision_checks(table: dict, datasets: list[str]) -> list[str]:
    """bf16 and int8 encoding against fp32 (the frozen defaults), in every cell where both ran."""
    sizes = sorted({k[2] for k in table if k[1] == "hs_frozen"})
    lines = []
    for method, name, allowed in PRECISIONS:
        differences = [
            table[(d, method, n)]["acc"] - table[(d, "hs_frozen", n)]["acc"]
            for d in datasets
            for n in sizes
            if (d, method, n) in table and (d, "hs_frozen", n) in table
        ]
        if differences:
            worst = 100 * max(abs(v) for v in differences)
            lines.append(
                f"- {name} encoding vs fp32 (frozen defaults), largest difference in any of "
                f"{len(differences)} cells: {worst:.2f} pt (allowed {allowed} pt): {verdict(worst <= allowed)}"
            )
    return lines


def quick_precision(folder: Path) -> list[str]:
    """The precisions on the quick plan (``run.py --quick``), cell by cell."""
    runs = load_runs(folder) if folder.is_dir() else []
    table = cells(runs)
    datasets = sorted({r["dataset"] for r in runs})
    checks = precision_checks(table, datasets)
    if not checks:
        return []
    rows = [
        f"| {d} | {n} | "
        + " | ".join(f"{table[(d, m, n)]['acc']:.3f}" if (d, m, n) in table else "-" for m in QUICK_PRECISIONS)
        + " |"
        for d, label, n in sorted(table)
        if label == "hs_frozen"
    ]
    seeds = max(cell["seeds"] for cell in table.values())
    return [
        "## Precision on the quick plan",
        "",
        "`python benchmarks/run.py --quick --methods hs_frozen,hs_frozen_bf16,hs_frozen_int8` (all-MiniLM-L6-v2, "
        f"{seeds} seeds): mean test accuracy of the frozen defaults in each precision.",
        "",
        "| dataset | n per class | fp32 | bf16 | int8 |",
        "|---|---|---|---|---|",
        *rows,
        "",
        *checks,
        "",
    ]


QUICK_PRECISIONS = ("hs_frozen", "hs_frozen_bf16", "hs_frozen_int8")


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def fit_time_shares(table: dict, ours: str) -> list[str]:
    """The worst cell's fit time against each peer that trains θ, where both ran."""
    lines = []
    for peer, ratio in (("hs_full", 10), ("hf_full", 10), ("setfit", 50)):
        shares = [
            (table[key]["fit_seconds"] / table[(key[0], peer, key[2])]["fit_seconds"], key[0], key[2])
            for key in table
            if key[1] == ours and (key[0], peer, key[2]) in table
        ]
        if shares:
            worst, dataset, n = max(shares)
            lines.append(
                f"- `{ours}` fit time / {peer} fit time, worst cell ({dataset}, n={n}): 1/{1 / worst:.0f} "
                f"(target ≤ 1/{ratio}): {verdict(worst <= 1 / ratio)}"
            )
    return lines


def goal(table: dict, methods: tuple[str, ...]) -> list[str]:
    """The issue's goal: frozen within 1 pt of SetFit and of full fine-tuning on average, over the cells both ran."""
    lines = []
    for ours in methods:
        for peer in ("setfit", "hs_full"):
            both = [key for key in table if key[1] == ours and (key[0], peer, key[2]) in table]
            if both:
                gap = 100 * float(np.mean([table[key]["acc"] - table[(key[0], peer, key[2])]["acc"] for key in both]))
                sizes = ", ".join(map(str, sorted({key[2] for key in both})))
                lines.append(
                    f"- `{ours}` vs {peer}, mean over the {len(both)} cells both ran (n = {sizes}): {gap:+.1f} pt "
                    f"(goal ≥ -1 pt): {verdict(gap >= -1)}"
                )
    return lines


PARTIAL = {"setfit (mpnet)"}


def summary(table: dict, datasets: list[str]) -> list[str]:
    """Mean accuracy and fit seconds over the datasets, per method and n; a cell says over how many datasets."""
    labels = sorted({k[1] for k in table}, key=_order)
    sizes = sorted({k[2] for k in table})
    ran = {(label, n): [d for d in datasets if (d, label, n) in table] for label in labels for n in sizes}
    # A column averages over the datasets that every method in it ran, so that its numbers compare: a mean with an
    # easy dataset beside one without it would not. SetFit on mpnet, too slow to run on bbc, does not narrow the
    # column: its cell is over its own datasets and says so.
    shared = {
        n: [
            d
            for d in datasets
            if all((d, label, n) in table for label in labels if ran[(label, n)] and label not in PARTIAL)
        ]
        for n in sizes
    }
    heading = {
        n: f"n={n}: accuracy (fit s)" + ("" if shared[n] == datasets else f", over {', '.join(shared[n])}")
        for n in sizes
    }
    lines = ["| method | " + " | ".join(heading[n] for n in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for label in labels:
        row = []
        for n in sizes:
            over = [d for d in shared[n] if (d, label, n) in table]
            if not over:
                row.append("")
                continue
            acc = np.mean([table[(d, label, n)]["acc"] for d in over])
            fit = np.mean([table[(d, label, n)]["fit_seconds"] for d in over])
            row.append(f"{acc:.3f} ({fit:.1f})" + ("" if over == shared[n] else f", over {', '.join(over)}"))
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    return lines


ENCODER_COLUMNS = (
    ("MiniLM frozen", "hs_frozen"),
    ("mpnet frozen", "hs_frozen (mpnet)"),
    ("mpnet frozen bf16", "hs_frozen_bf16 (mpnet)"),
    ("SetFit MiniLM", "setfit"),
    ("SetFit mpnet", "setfit (mpnet)"),
    ("full MiniLM", "hs_full"),
)


def encoder_choice(table: dict, datasets: list[str]) -> list[str]:
    """Issue 21's table and targets: mpnet frozen (defaults, fp32 and bf16) against MiniLM frozen, SetFit on either
    encoder and full fine-tuning of MiniLM, accuracy (fit s) per dataset and n."""
    sizes = [n for n in (8, 32) if any((d, "hs_frozen (mpnet)", n) in table for d in datasets)]
    lines = ["| dataset | n | " + " | ".join(c for c, _ in ENCODER_COLUMNS) + " |", "|---|---|" + "---|" * 6]
    for d in datasets:
        for n in sizes:
            cells_ = [table.get((d, label, n)) for _, label in ENCODER_COLUMNS]
            lines.append(
                f"| {d} | {n} | "
                + " | ".join(f"{c['acc']:.3f} ({c['fit_seconds']:.1f})" if c else "" for c in cells_)
                + " |"
            )
    if len(lines) == 2:
        return []
    ours = "hs_frozen (mpnet)"
    pairs = [(d, n) for d in datasets for n in sizes if (d, ours, n) in table and (d, "hs_frozen", n) in table]
    gains = [100 * (table[(d, ours, n)]["acc"] - table[(d, "hs_frozen", n)]["acc"]) for d, n in pairs]
    level = [g for g in gains if abs(g) < 0.5]  # half a point: far inside the seeds' spread on any of these sets
    lines += [
        "",
        f"- mpnet frozen against MiniLM frozen: more accurate in {sum(g >= 0.5 for g in gains)} of {len(pairs)} "
        f"cells (by {min(g for g in gains if g >= 0.5):+.1f} to {max(gains):+.1f} pt), level (within 0.5 pt) in "
        f"{len(level)}, behind in {sum(g <= -0.5 for g in gains)}.",
    ]
    for method in (ours, "hs_frozen_bf16 (mpnet)"):
        for peer, allowed, ratio in (("setfit", 0.0, 50), ("setfit (mpnet)", -0.01, 100)):
            both = [d for d in datasets if (d, method, 8) in table and (d, peer, 8) in table]
            if not both:
                continue
            gap = 100 * float(np.mean([table[(d, method, 8)]["acc"] - table[(d, peer, 8)]["acc"] for d in both]))
            share = max(table[(d, method, 8)]["fit_seconds"] / table[(d, peer, 8)]["fit_seconds"] for d in both)
            lines.append(
                f"- `{method}` vs {peer} at n=8, mean over {', '.join(both)}: {gap:+.1f} pt "
                f"(target ≥ {100 * allowed:+.0f} pt): {verdict(gap >= 100 * allowed)}; fit time, worst dataset: "
                f"1/{1 / share:.0f} (target ≤ 1/{ratio}): {verdict(share <= 1 / ratio)}"
            )
    return lines


KINDS = {"airline": "tweet sentiment", "bbc": "news topics", "sms": "spam", "trec6": "question types"}
OPTIONS = {
    "hs_frozen_auto": '`layers="auto"` + `lexical=True`',
    "hs_frozen_tokens": '`head="tokens"` + `lexical=True`',
    "hs_frozen_bf16": '`precision="bf16"`',
    "hs_frozen_int8": '`precision="int8"`',
}


def option_gains(table: dict, datasets: list[str]) -> list[str]:
    """Each option against the defaults (`hs_frozen`), per dataset and n, in accuracy points: which kinds of data an
    option helps, and which it does not."""
    sizes = sorted({n for (_, label, n) in table if label == "hs_frozen"})
    rows = []
    for method, option in OPTIONS.items():
        for n in sizes:
            deltas = [
                (table[(d, method, n)]["acc"] - table[(d, "hs_frozen", n)]["acc"]) * 100
                if (d, method, n) in table and (d, "hs_frozen", n) in table
                else None
                for d in datasets
            ]
            if any(x is not None for x in deltas):
                cells_ = ["" if x is None else f"{x:+.1f}" for x in deltas]
                rows.append(f"| {option} | {n} | " + " | ".join(cells_) + " |")
    header = " | ".join(f"{d} ({KINDS.get(d, '?')})" for d in datasets)
    return [f"| option | n | {header} |", "|---|---|" + "---|" * len(datasets), *rows]


def suite_cost(runs: list[dict]) -> list[str]:
    """What the suite costs to rerun: the fit and predict seconds of every run, by method, against the 2-hour budget.
    (Model loading and data splitting come on top; they take seconds.)"""
    by_method = defaultdict(float)
    for r in runs:
        by_method[r["method"] + ("" if r["encoder"] == "minilm" else f" ({r['encoder']})")] += (
            r["fit_seconds"] + r["predict_seconds"]
        )
    hours = sum(by_method.values()) / 3600
    mandated = sum(by_method.get(m, 0.0) for m in ("setfit", "hf_full", "st_lr", "hs_lpft", "hs_full"))
    parts = ", ".join(f"{m} {s / 60:.0f} min" for m, s in sorted(by_method.items(), key=lambda kv: -kv[1]))
    return [
        f"The runs' fit and predict seconds add up to {hours:.1f} h (budget: about 2 h): {verdict(hours <= 2.2)}. "
        f"By method: {parts}. The cells come from several sessions (the commands above), and a cell rerun in another "
        "session can take noticeably more or less time, so the sum says what a rerun costs roughly, not to the minute. "
        "The peers the issue names (setfit, hf_full, st_lr) and headstart's own fine-tuning (hs_lpft, hs_full) add up "
        f"to {mandated / 3600:.1f} h on their own."
    ]


def coverage(runs: list[dict], datasets: list[str]) -> list[str]:
    """Which cells of the full plan have all their seeds, so a partial run says what it lacks."""
    from run import FULL_PLAN, in_budget

    seeds_done = defaultdict(set)
    for r in runs:
        seeds_done[(r["dataset"], r["method"], r["encoder"], r["n_per_class"])].add(r["seed"])
    lines = []
    for dataset in datasets:
        missing = [
            f"{m}{'' if e == 'minilm' else f' ({e})'} n={n}"
            + (f" ({len(seeds_done[(dataset, m, e, n)])}/{s} seeds)" if seeds_done[(dataset, m, e, n)] else "")
            for m, e, sizes, s in FULL_PLAN
            for n in sizes
            if in_budget(dataset, m, n, sizes) and len(seeds_done[(dataset, m, e, n)]) < s
        ]
        left_out = [f"{m} n={n}" for m, e, sizes, s in FULL_PLAN for n in sizes if not in_budget(dataset, m, n, sizes)]
        total = sum(in_budget(dataset, m, n, sizes) for m, _, sizes, _ in FULL_PLAN for n in sizes)
        lines.append(
            f"- {dataset}: {total - len(missing)} of the plan's {total} cells complete"
            + (f"; not yet: {', '.join(missing)}" if missing else "")
            + (
                f"; the plan leaves out {len(left_out)} cells of the issue's protocol for long texts (see run.py): "
                f"{', '.join(left_out)}"
                if left_out
                else ""
            )
        )
    return lines


def repeated_texts(datasets: list[str]) -> list[str]:
    """How many test rows have their text in a training sample. run.py splits rows, not distinct texts (unlike
    ``headstart compare``), so a repeated text can be on both sides; every method trains on the same samples, so
    it shares the advantage, and the share of such test rows bounds what it can add to an accuracy."""
    from run import FULL_PLAN, split

    from headstart.data import sample_per_class
    from headstart.datasets import DATASETS, load_dataset

    sizes = sorted({n for _, _, plan_sizes, _ in FULL_PLAN for n in plan_sizes})
    seeds = max(plan_seeds for *_, plan_seeds in FULL_PLAN)
    lines = []
    for name in [d for d in datasets if d in DATASETS]:
        texts, labels = load_dataset(name)
        y, pool, test = split(labels)
        test_texts = [texts[i] for i in test]
        in_test = set(test_texts)
        shared = sum(texts[i] in in_test for i in pool)
        worst = []
        for n in sizes:
            trained = [{texts[i] for i in sample_per_class(y, n, seed, pool=pool)} for seed in range(seeds)]
            most = max(sum(t in seen for t in test_texts) for seen in trained)
            worst.append(f"n={n} {most} ({most / len(test):.1%})")
        classes, counts = np.unique(y[pool], return_counts=True)
        short = [
            f"n={n}: {', '.join(f'{c} has {k}' for c, k in zip(classes, counts) if k < n)}"
            for n in sizes
            if (counts < n).any()
        ]
        lines.append(
            f"- {name}: {shared:,} of {len(pool):,} pool rows repeat a test text; test rows whose text is in the "
            f"training sample, worst seed: {', '.join(worst)}"
            + (f". Classes with fewer pool rows than n, all of which are used: {'; '.join(short)}" if short else "")
        )
    return lines


def learning_curves(table: dict, datasets: list[str], path: Path) -> None:
    figure, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 4.2), squeeze=False)
    all_labels = sorted({k[1] for k in table}, key=_order)  # one colour per method in every panel
    for axis, dataset in zip(axes[0], datasets):
        labels = sorted({k[1] for k in table if k[0] == dataset}, key=_order)
        colours = plt.get_cmap("tab20").colors  # more methods than the default cycle's ten colours
        for label in labels:
            keys = sorted((k for k in table if k[0] == dataset and k[1] == label), key=lambda k: k[2])
            x = [k[2] for k in keys]
            mean = np.array([table[k]["acc"] for k in keys])
            sd = np.array([table[k]["acc_sd"] for k in keys])
            colour = colours[(2 * all_labels.index(label)) % 20 + (2 * all_labels.index(label) >= 20)]
            axis.plot(x, mean, marker="o", label=label, color=colour)
            axis.fill_between(x, mean - sd, mean + sd, alpha=0.12, color=colour)
        axis.set_xscale("log", base=2)
        axis.set_title(dataset)
        axis.set_xlabel("examples per class")
        axis.set_ylabel("test accuracy")
        axis.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--out", type=Path, default=ROOT.parent / "BENCHMARKS.md")
    args = parser.parse_args()
    runs = load_runs(args.results)
    table = cells(runs)
    datasets = sorted({r["dataset"] for r in runs})
    environment = (
        json.loads((args.results / "environment.json").read_text())
        if (args.results / "environment.json").exists()
        else {}
    )
    md = [
        "# Benchmarks",
        "",
        "Generated by `python benchmarks/report.py` from `benchmarks/results/`; every number below comes from",
        "runs of the commands shown (see the notes on cells removed and rerun).",
        "",
    ]
    if environment:
        md += [
            f"- Date of the last command {environment['date']}; {environment['cores']} cores, "
            f"torch threads {environment['torch_threads']}; "
            f"Python {environment['python']}",
            "- Versions: "
            + ", ".join(
                f"{k} {environment[k]}"
                for k in ("headstart", "torch", "transformers", "scikit-learn", "sentence-transformers", "setfit")
            ),
            "- Commands, in the order they ran (each resumes the results of the ones before): "
            + "; ".join(f"`{c}`" for c in environment.get("commands", [])),
            *(f"- Note: {note}" for note in environment.get("notes", [])),
            "",
        ]
    md += [
        "## Methods",
        "",
        "All on the same all-MiniLM-L6-v2 weights, max_length 256; a method labelled `(mpnet)` ran on "
        "all-mpnet-base-v2 instead.",
        "",
        *method_list(),
        "",
    ]
    md += quick_precision(args.results / "quick")
    for extra in ("throughput", "throughput-bbc", "warm_retrain", "schedule", "serve", "active", "batch"):
        path = args.results / f"{extra}.json"
        if path.exists():
            result = json.loads(path.read_text())
            # These sections are rendered anew from their measurements, so that their verdicts follow the code.
            rendered = (
                __import__(extra).markdown(result)
                if extra in ("warm_retrain", "batch", "active")
                else result["markdown"]
            )
            md += [*rendered, ""]
    if runs:
        plot = args.results / "learning_curves.png"
        learning_curves(table, datasets, plot)
        md += [
            "## Summary",
            "",
            "Mean over the datasets (in a column where some method did not run on every dataset, over those every "
            "method in it ran); the per-dataset tables below have the spread over seeds. Their fit seconds are the "
            "mean over seeds; predict seconds and forward passes the median: headstart's predicts read the test texts' "
            "vectors from the benchmark's embedding cache, which the first seed of a configuration may have filled (a "
            "cold predict, which encodes like `st_lr`'s: see the throughput table). Peak RSS is the benchmark "
            "process's, which holds the models that earlier methods loaded as well (every method runs in one process), "
            "so it compares a method with itself across n more than methods with each other.",
            "",
            *summary(table, datasets),
            "",
        ]
        md += [
            "## Which data each option helps",
            "",
            "Accuracy of each option minus the defaults' (`hs_frozen`), in points, on the same samples. The lexical "
            "features with the layer choice (`hs_frozen_auto`) gain on question types, topics and spam, where exact "
            "words decide the label, and lose on tweet sentiment (issue 16 reports no gain on four other sentiment "
            "datasets either). The token head gains most on question types, a little elsewhere. Neither is a default: "
            "four visible datasets, three of them not sentiment, are too few to promote an option on.",
            "",
            *option_gains(table, datasets),
            "",
        ]
        encoder = encoder_choice(table, datasets)
        if encoder:
            md += [
                "## Which encoder",
                "",
                "all-mpnet-base-v2 (109M parameters) against all-MiniLM-L6-v2 (22.7M): mean accuracy over seeds "
                "(mean fit seconds), frozen with headstart's defaults (5 seeds), SetFit on each encoder (MiniLM "
                "3 seeds, mpnet 1 seed at n = 8; bbc's 500-token articles were not run with it), and MiniLM "
                "fully fine-tuned (`hs_full`, 3 seeds). A frozen fit includes encoding the training texts; the "
                "encoders' speeds are in the throughput table above. The default encoder is all-mpnet-base-v2, "
                "decided by this table: frozen, it is more accurate than MiniLM frozen or level in every cell, for "
                "5-6x the encoding cost, seconds for a few hundred training texts. It does not reach SetFit "
                "on question types (trec6), where fine-tuning the encoder on pairs moves the few words that "
                "decide the label.",
                "",
                *encoder,
                "",
            ]
        md += [
            "## Coverage of the full plan",
            "",
            *coverage(runs, sorted(set(datasets) | {"airline", "bbc", "sms", "trec6"})),
            "",
            "## Cost of the suite",
            "",
            *suite_cost(runs),
            "",
            "## Accuracy targets (frozen θ, automatic options)",
            "",
            "Checked on the cells present; a target over cells not run yet is not judged.",
            "",
            *targets(table, datasets),
            "",
            "## The goal: frozen as accurate as SetFit and full fine-tuning",
            "",
            "`hs_frozen_tokens` (the token head) is an option a user chooses, not part of the automatic options above; "
            "its costs are set against the same targets here.",
            "",
            *goal(table, ("hs_frozen_auto", "hs_frozen_tokens")),
            *fit_time_shares(table, "hs_frozen_tokens"),
            "",
            f"![learning curves]({plot.relative_to(args.out.parent)})",
            "",
        ]
        repeated = repeated_texts(datasets)
        if repeated:
            md += [
                "## Repeated texts across the split, and small classes",
                "",
                "The test split is of rows, and some texts occur more than once, so a test text can also be in a "
                "training sample. Every method trains on the same samples; the share of such test rows bounds the "
                "accuracy they can add (`headstart compare` splits distinct texts instead). Rerunning the suite on a "
                "split of distinct texts would change every cell, so it keeps the split its results were made on.",
                "",
                *repeated,
                "",
            ]
        for dataset in datasets:
            md += [f"## {dataset}", "", *dataset_table(table, dataset), ""]
    args.out.write_text("\n".join(md))


if __name__ == "__main__":
    main()
