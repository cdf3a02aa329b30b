"""The Ray engine of ``headstart batch``: the local engine's chunks and shards, scored by a pool of Ray Data actors.

The driver lists the chunks whose shard is missing; Ray Data maps them (``map_batches``, one chunk a call) over an
``ActorPoolStrategy`` pool, each actor building the encoder and the heads once. An actor reads its chunk, scores it
and writes the shard itself, under the chunk's own name (``batch.write_shard``): Ray retries the task of a worker
that died, and the retry writes the same name again, so no row is written twice and none is lost. The output folder
must be one that every worker can write to (a shared file system, on a cluster).
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

import numpy as np

from . import progress
from .batch import Inputs, Summary, finish, prepare_output, write_shard
from .errors import HeadstartError, TruncationWarning

INSTALL = "pip install 'headstart[ray]'"


def ray_module():
    """The ray module with Ray Data, or a HeadstartError saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise HeadstartError(f"--engine ray runs on Ray Data, which is not installed; {INSTALL}") from None
    return ray


class ChunkWriter:
    """A Ray actor: builds its scorer once from ``recipe`` (a class and its arguments), then reads, scores and writes
    each chunk it is handed, and returns what it did."""

    def __init__(self, recipe: tuple, inputs: Inputs, out: str, threads: int):
        import torch

        torch.set_num_threads(threads)
        build, arguments = recipe
        self.scorer, self.inputs, self.out = build(*arguments), inputs, Path(out)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        done = {"rows": [], "empty": [], "truncated": [], "seconds": []}
        for file, index in zip(batch["file"], batch["index"]):
            started = time.perf_counter()
            chunk = self.inputs.chunk_at(int(file), int(index))
            rows = empty = truncated = 0
            if chunk is not None:  # a chunk past a CSV's end, where its line count overestimated its rows
                before = sum(e.truncated_texts for e in self.scorer.encoders)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", TruncationWarning)
                    table = self.scorer(chunk)
                write_shard(self.out / chunk.name, table)
                rows, empty = len(chunk.ids), list(chunk.texts).count("")
                truncated = sum(e.truncated_texts for e in self.scorer.encoders) - before
            for key, value in zip(done, (rows, empty, truncated, time.perf_counter() - started)):
                done[key].append(value)
        return {key: np.asarray(values) for key, values in done.items()}


def run(
    inputs: Inputs,
    out: Path,
    settings: dict,
    recipe: tuple,
    force: bool,
    workers: int | None,
    address: str | None,
) -> Summary:
    """Score the chunks whose shards are missing on ``workers`` actors (None: one per 2 CPUs of the cluster) of the
    Ray cluster at ``address`` (None: a local one, started for the run)."""
    ray = ray_module()
    prepare_output(out, settings, force)
    started = time.perf_counter()
    planned = inputs.plan()
    todo = [(f, k) for f, k in planned if not (out / inputs.shard_name(inputs.files[f], k)).is_file()]
    skipped = len(planned) - len(todo)
    totals = {"rows": 0, "empty": 0, "truncated": 0, "seconds": 0.0, "shards": 0}
    if todo:
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # Ray Data's plans and timings, for each run
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # headstart's own bar counts rows
        cpus = int(ray.cluster_resources().get("CPU", 1))
        workers = workers or max(1, cpus // 2)
        if workers > cpus:  # each actor holds at least one CPU: the pool would wait for ever
            raise HeadstartError(f"{workers} workers need {workers} CPUs, and the Ray cluster has {cpus}; ask fewer")
        threads = max(1, cpus // workers)
        chunks = ray.data.from_items([{"file": f, "index": k} for f, k in todo], override_num_blocks=len(todo))
        scored = chunks.map_batches(
            ChunkWriter,
            fn_constructor_args=(recipe, inputs, str(out), threads),
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=threads,
        )
        advance = progress.task("scoring" if settings["task"] == "predict" else "embedding", len(todo), "chunks")
        for done in scored.iter_rows():
            for key in ("rows", "empty", "truncated", "seconds"):
                totals[key] += done[key]
            totals["shards"] += int(done["rows"] > 0)
            advance(1)
    return finish(
        Summary(
            out,
            int(totals["rows"]),
            totals["shards"],
            skipped,
            int(totals["empty"]),
            int(totals["truncated"]),
            time.perf_counter() - started,
            float(totals["seconds"]),
        )
    )
