"""The benchmark suite: headstart against the tools users would pick instead, on the same weights and data.

    python benchmarks/run.py            # the full suite (about 3.5 hours on 2 cores: see BENCHMARKS.md)
    python benchmarks/run.py --quick    # airline, n=8, 2 seeds (5 for the precisions), fewer methods (minutes)

Protocol (MTEB/SetFit style): per dataset one fixed stratified test split (at most 2,000 examples, at most half the
data), and training sets of n examples per class drawn from the rest, one per seed. Results are appended to
``benchmarks/results/<dataset>.jsonl`` run by run; a rerun skips the runs already there. ``report.py`` turns them
into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).parent))
import methods  # noqa: E402  (benchmarks/ is not a package)

from headstart.compare import read_jsonl  # noqa: E402
from headstart.costs import PeakMemory  # noqa: E402
from headstart.data import sample_per_class  # noqa: E402
from headstart.datasets import DATASETS, load_dataset  # noqa: E402
from headstart.metrics import evaluate  # noqa: E402
from headstart.packaged import MINILM, MPNET  # noqa: E402

RESULTS = Path(__file__).parent / "results"
ENCODERS = {"minilm": MINILM, "mpnet": MPNET}
TEST_CAP = 2000
SPLIT_SEED = 0

# (method, encoder, n per class, seeds): 5 seeds for the cheap methods, 3 for those that train θ; SetFit at n = 8, 32
# on MiniLM, and at n = 8, one seed, on mpnet (about 5x dearer).
FULL_PLAN = [
    ("tfidf", "minilm", (8, 32, 128), 5),
    ("st_lr", "minilm", (8, 32, 128), 5),
    ("hs_frozen", "minilm", (8, 32, 128), 5),
    ("hs_frozen_auto", "minilm", (8, 32, 128), 5),
    ("hs_frozen_tokens", "minilm", (8, 32), 5),
    ("hs_frozen_bf16", "minilm", (8, 32, 128), 5),
    ("hs_frozen_int8", "minilm", (8, 32, 128), 5),
    ("setfit", "minilm", (8, 32), 3),
    ("hf_full", "minilm", (8, 32, 128), 3),
    ("hs_lpft", "minilm", (8, 32, 128), 3),
    ("hs_full", "minilm", (8, 32, 128), 3),
    ("hs_frozen_auto", "mpnet", (8, 64), 5),
    ("hs_frozen", "mpnet", (8, 32), 5),
    ("hs_frozen_bf16", "mpnet", (8, 32), 5),
    ("hs_frozen_int8", "mpnet", (8, 32), 5),
    ("setfit", "mpnet", (8,), 1),
]
# Long documents make the methods that train θ about 10x dearer per example (measured on bbc at n = 8: SetFit
# 604 s a run, fine-tuning 57-66 s), so on them those methods run at n = 8 only: SetFit at n = 32 alone would take
# about 2 hours there, fine-tuning at n = 32 and 128 about 4. Even so the suite is over its 2-hour budget (BENCHMARKS.md
# adds it up).
LONG_TEXT_DATASETS = {"bbc"}
TRAINS_THETA = {"setfit", "hf_full", "hs_lpft", "hs_full"}


def in_budget(dataset: str, method: str, n: int, sizes: tuple[int, ...]) -> bool:
    return not (dataset in LONG_TEXT_DATASETS and method in TRAINS_THETA and n > min(sizes))


# The precisions get 5 seeds: at n = 8 a back-end's tiny change to the vectors moves one seed's accuracy by up to
# ±1.3 pt (a flipped C), so their 1 pt and 0.5 pt checks need the mean of more than two.
QUICK_PLAN = [
    ("tfidf", "minilm", (8,), 2),
    ("st_lr", "minilm", (8,), 2),
    ("hs_frozen", "minilm", (8,), 5),
    ("hs_frozen_auto", "minilm", (8,), 2),
    ("hs_frozen_bf16", "minilm", (8,), 5),
    ("hs_frozen_int8", "minilm", (8,), 5),
    ("hs_full", "minilm", (8,), 2),
]


def encoder_dirs(plan) -> dict[str, Path]:
    """The folders of the installed encoders the plan uses (mpnet is unpacked, 419 MB, only when it does)."""
    used = {encoder for _, encoder, _, _ in plan}
    return {short: Path(p.folder()) for short, p in ENCODERS.items() if short in used and p.installed()}


def split(labels: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(labels)
    size = min(TEST_CAP, len(y) // 2)
    pool, test = train_test_split(np.arange(len(y)), test_size=size, stratify=y, random_state=SPLIT_SEED)
    return y, np.sort(pool), np.sort(test)


def done_runs(path: Path) -> set[tuple]:
    return {(r["method"], r["encoder"], r["n_per_class"], r["seed"]) for r in read_jsonl(path)}


def run_suite(
    data: dict[str, tuple[list[str], list[str]]], plan, out_dir: Path, encoders: dict[str, Path], log=print
) -> None:
    """Run every (method, encoder, n, seed) of the plan on every dataset; append each result as one JSON line."""
    methods.count_forward_passes()
    out_dir.mkdir(parents=True, exist_ok=True)
    splits = {name: split(labels) for name, (_, labels) in data.items()}
    # Smallest n first, across every dataset: a suite cut short still covers the few-shot cells everywhere.
    for n in sorted({n for _, _, sizes, _ in plan for n in sizes}):
        for name, (texts, _) in data.items():
            y, pool, test = splits[name]
            path = out_dir / f"{name}.jsonl"
            done = done_runs(path)
            for method, encoder, sizes, seeds in plan:
                if n not in sizes or not in_budget(name, method, n, sizes):
                    continue
                if encoder not in encoders:
                    log(f"skip {method} on {encoder}: encoder not installed (see requirements-data.txt)")
                    continue
                for seed in range(seeds):
                    if (method, encoder, n, seed) not in done:
                        record = run_one(method, encoder, encoders[encoder], texts, y, pool, test, n, seed, name)
                        with open(path, "a") as file:
                            file.write(json.dumps(record) + "\n")
                        log(
                            f"{name:8} {method:15} {encoder:6} n={n:<4} seed={seed} acc={record['accuracy']:.3f} "
                            f"fit={record['fit_seconds']:.1f}s predict={record['predict_seconds']:.1f}s"
                        )


def run_one(
    method: str,
    encoder: str,
    encoder_dir: Path,
    texts: list[str],
    y: np.ndarray,
    pool: np.ndarray,
    test: np.ndarray,
    n: int,
    seed: int,
    dataset: str,
) -> dict:
    train = sample_per_class(y, n, seed, pool=pool)
    passes = methods.forward_passes()
    with warnings.catch_warnings(), PeakMemory() as memory:
        warnings.simplefilter("ignore")
        predicted, info = methods.METHODS[method](
            [texts[i] for i in train], [str(v) for v in y[train]], [texts[i] for i in test], seed, encoder_dir
        )
    report = evaluate(y[test], predicted)
    return {
        "dataset": dataset,
        "method": method,
        "encoder": encoder,
        "n_per_class": n,
        "seed": seed,
        "date": time.strftime("%Y-%m-%d"),
        "train_size": len(train),
        "test_size": len(test),
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        **info,
        "encoder_forward_passes": methods.forward_passes() - passes,
        "peak_rss_mb": memory.peak_mb,
    }


def environment() -> dict:
    import importlib.metadata as metadata

    versions = {}
    for package in ("headstart", "torch", "transformers", "scikit-learn", "sentence-transformers", "setfit"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "date": time.strftime("%Y-%m-%d"),
        "cores": os.cpu_count(),
        "torch_threads": __import__("torch").get_num_threads(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        **versions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="airline, n=8, 2 seeds (5 for the precisions), fewer methods"
    )
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--methods", default=None, help="only these methods (comma-separated)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--replace",
        action="store_true",
        help="first remove the results of these datasets and methods, so that they are run again",
    )
    args = parser.parse_args()
    plan = QUICK_PLAN if args.quick else FULL_PLAN
    if args.methods:
        chosen = set(args.methods.split(","))
        unknown = sorted(chosen - {method for method, _, _, _ in plan})
        if unknown:
            parser.error(
                f"unknown method(s) {', '.join(unknown)}; "
                f"the plan has {', '.join(dict.fromkeys(m for m, _, _, _ in plan))}"
            )
        plan = [step for step in plan if step[0] in chosen]
    names = ["airline"] if args.quick else args.datasets.split(",")
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        parser.error(f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
    out = args.out / "quick" if args.quick else args.out
    out.mkdir(parents=True, exist_ok=True)
    if args.replace:
        replace(out, names, {method for method, _, _, _ in plan})
    # Results accumulate over resumed runs, so every command that added to (or removed from) them is kept, in order.
    record = out / "environment.json"
    commands = json.loads(record.read_text()).get("commands", []) if record.exists() else []
    notes = json.loads(record.read_text()).get("notes", []) if record.exists() else []
    command = "python " + " ".join(sys.argv)
    record.write_text(json.dumps({**environment(), "commands": [*commands, command], "notes": notes}, indent=2) + "\n")
    run_suite({name: load_dataset(name) for name in names}, plan, out, encoder_dirs(plan))


def replace(out: Path, datasets: list[str], chosen: set[str]) -> None:
    """Remove the results of these methods on these datasets."""
    for name in datasets:
        path = out / f"{name}.jsonl"
        if path.exists():
            kept = [
                line
                for line in path.read_text().splitlines()
                if line.strip() and json.loads(line)["method"] not in chosen
            ]
            path.write_text("".join(line + "\n" for line in kept))


if __name__ == "__main__":
    main()
