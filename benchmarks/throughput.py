"""Encoder throughput: headstart's encoding (fp32, bf16) against sentence-transformers ``encode`` on the same 2,000
texts, for each packaged encoder.

Same weights, thread count, batch size and max length; runs interleaved; best and median of each. Achieved GFLOP/s
(useful FLOPs over real tokens, padding excluded) is reported as a fraction of a ``torch.mm`` 2048² fp32 peak
measured in the same run.

    python benchmarks/throughput.py [--repeats 3] [--dataset airline] [--encoders all-MiniLM-L6-v2,all-mpnet-base-v2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from headstart import load_encoder
from headstart.datasets import load_dataset

BATCH, MAX_LENGTH, TEXTS = 32, 256, 2000
OURS = ("headstart", "headstart bf16")
OUT = Path(__file__).parent / "results" / "throughput.json"


def matmul_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = min(_seconds(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _seconds(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def useful_gflop(encoder, texts: list[str]) -> float:
    """FLOPs of the transformer layers over each text's real tokens: 24·T·H² + 4·T²·H per layer."""
    hidden, layers = encoder.hidden_size, encoder.num_layers
    lengths = [len(ids) for ids in encoder.tokenize(texts, MAX_LENGTH, padding=False)["input_ids"]]
    return sum(layers * (24 * t * hidden**2 + 4 * t**2 * hidden) for t in lengths) / 1e9


def measure(name: str, texts: list[str], repeats: int) -> dict:
    """One encoder: seconds of each runner over ``repeats`` interleaved runs, after a warm-up."""
    from sentence_transformers import SentenceTransformer

    ours = load_encoder(name)
    peer = SentenceTransformer(ours.source, device="cpu")
    peer.max_seq_length = MAX_LENGTH
    runners = {
        "headstart": lambda: ours.encode(texts, "mean", MAX_LENGTH, None, BATCH),
        "headstart bf16": lambda: ours.encode(texts, "mean", MAX_LENGTH, None, BATCH, "bf16"),
        "sentence-transformers": lambda: peer.encode(texts, batch_size=BATCH, show_progress_bar=False),
    }
    for run in runners.values():  # warm-up
        run()
    times: dict[str, list[float]] = {runner: [] for runner in runners}
    for _ in range(repeats):
        for runner, run in runners.items():  # interleaved, so drift hits both alike
            times[runner].append(_seconds(run))
    work = useful_gflop(ours, texts)
    return {
        "seconds": times,
        "texts_per_second_best": {k: len(texts) / min(v) for k, v in times.items()},
        "ratio_best": {k: min(times["sentence-transformers"]) / min(times[k]) for k in OURS},
        "ratio_median": {
            k: statistics.median(times["sentence-transformers"]) / statistics.median(times[k]) for k in OURS
        },
        "useful_gflop": work,
        "achieved_gflops_best": {k: work / min(v) for k, v in times.items()},
    }


def markdown(result: dict) -> list[str]:
    peak, texts = result["matmul_peak_gflops"], result["texts"]
    rows, ratios = [], []
    for name, measured in result["encoders"].items():
        gflops = measured["achieved_gflops_best"]
        rows += [
            f"| {name} | {runner} | {measured['texts_per_second_best'][runner]:.0f} | {statistics.median(v):.2f} "
            f"| {gflops[runner]:.1f} | {gflops[runner] / peak:.0%} |"
            for runner, v in measured["seconds"].items()
        ]
        ratios += [
            f"- {name}, {k} / sentence-transformers speed: **{measured['ratio_best'][k]:.2f}x** best, "
            f"{measured['ratio_median'][k]:.2f}x median "
            f"(target ≥ 1.5x: {'met' if measured['ratio_best'][k] >= 1.5 else 'not met'})."
            for k in OURS
        ]
    return [
        "## Encoder throughput",
        "",
        f"{texts} {result['dataset']} texts, batch {BATCH}, max_length {MAX_LENGTH}, "
        f"{result['torch_threads']} torch threads, {result['repeats']} interleaved runs each, per encoder "
        "(`python benchmarks/throughput.py`).",
        "",
        "| encoder | runner | best texts/s | median s | achieved GFLOP/s (best) | share of matmul peak |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        *ratios,
        "",
        f"fp32 `torch.mm` 2048² peak: {peak:.0f} GFLOP/s; bf16 GFLOP/s are set against that fp32 peak. "
        "The default precision stays fp32 (exact, and fast on every CPU); bf16 is `--precision bf16`, "
        "for CPUs with native bfloat16.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dataset", default="airline")
    parser.add_argument("--encoders", default="all-MiniLM-L6-v2,all-mpnet-base-v2")
    args = parser.parse_args()
    texts = load_dataset(args.dataset)[0][:TEXTS]
    result = {
        "texts": len(texts),
        "dataset": args.dataset,
        "batch_size": BATCH,
        "max_length": MAX_LENGTH,
        "torch_threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "encoders": {name: measure(name, texts, args.repeats) for name in args.encoders.split(",")},
        "matmul_peak_gflops": matmul_peak_gflops(),
    }
    result["markdown"] = markdown(result)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(result["markdown"]))


if __name__ == "__main__":
    main()
