"""Learning-rate schedule of full fine-tuning: headstart's linear warm-up and decay against transformers'
``get_linear_schedule_with_warmup``, which starts at a learning rate of 0 and so spends the first of the few steps a
few-shot fit has on nothing.

Full fine-tuning of all-MiniLM-L6-v2 at 8 examples per class, 3 seeds, on the suite's test splits (airline, trec6,
sms; bbc's long texts would take most of an hour), both schedules on the same samples.

    python benchmarks/schedule.py
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
from transformers import get_linear_schedule_with_warmup

sys.path.insert(0, str(Path(__file__).parent))
from run import split  # noqa: E402  (benchmarks/ is not a package)

import headstart  # noqa: E402
from headstart.data import sample_per_class  # noqa: E402
from headstart.datasets import load_dataset  # noqa: E402
from headstart.strategies import finetune  # noqa: E402

OUT = Path(__file__).parent / "results" / "schedule.json"
DATASETS = ("airline", "trec6", "sms")
N, SEEDS = 8, 3


def transformers_schedule(optimizer, warmup: int, steps: int):
    return get_linear_schedule_with_warmup(optimizer, num_warmup_steps=warmup, num_training_steps=steps)


def accuracy(texts, y, train, test, seed: int) -> float:
    model = headstart.build("full", cache=False, seed=seed).fit([texts[i] for i in train], y[train])
    return float(np.mean(model.predict([texts[i] for i in test]) == y[test]))


def main() -> None:
    warnings.simplefilter("ignore")
    rows = []
    for dataset in DATASETS:
        texts, labels = load_dataset(dataset)
        y, pool, test = split(labels)
        for seed in range(SEEDS):
            train = sample_per_class(y, N, seed, pool=pool)
            ours = accuracy(texts, y, train, test, seed)
            with mock.patch.object(finetune, "linear_warmup_decay", transformers_schedule):
                theirs = accuracy(texts, y, train, test, seed)
            rows.append({"dataset": dataset, "seed": seed, "headstart": ours, "transformers": theirs})
            print(rows[-1], flush=True)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("headstart", "transformers")}
    markdown = [
        "## Learning-rate schedule of fine-tuning",
        "",
        "`python benchmarks/schedule.py`: `hs_full` at n = 8, 3 seeds, with headstart's linear warm-up and decay and "
        "with transformers' `get_linear_schedule_with_warmup` (the same but for its first step, at a learning rate of "
        "0), on the same samples and test splits.",
        "",
        "| dataset | seed | headstart | transformers |",
        "|---|---|---|---|",
        *(f"| {r['dataset']} | {r['seed']} | {r['headstart']:.3f} | {r['transformers']:.3f} |" for r in rows),
        f"| mean | | {mean['headstart']:.3f} | {mean['transformers']:.3f} |",
        "",
        f"headstart's schedule is more accurate in {sum(r['headstart'] > r['transformers'] for r in rows)} of "
        f"{len(rows)} runs, so it stays; a test checks it against transformers' step by step.",
    ]
    OUT.write_text(json.dumps({"runs": rows, "mean": mean, "markdown": markdown}, indent=2) + "\n")


if __name__ == "__main__":
    main()
