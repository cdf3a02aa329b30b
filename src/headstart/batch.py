"""Scoring and embedding at scale (``headstart batch``): input files streamed in chunks, each chunk's output one
Parquet shard, so memory stays flat however big the input, and a killed run resumes where it stopped.

Exactly once: chunks are cut the same way on every run (by file and row count), each shard is named after its chunk
and written to a temporary name first, then renamed, so a shard is there whole or not at all, and a rerun skips those
that are. The run's settings (inputs by size and modification time, models, feature spec, chunk size) are kept in
the output folder, so a rerun that would mix two runs' output is refused. ``_SUCCESS`` marks a finished run.

Models whose feature spec matches share one encoder pass (``serving.classify``). ``embed`` stores one spec's
vectors; ``predict(features=...)`` applies frozen heads to them later, without the encoder.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import artifacts, progress
from .data import TEXT_COLUMNS, is_missing, pick_column
from .errors import DataError, HeadstartError, OutputError, OutputExistsError, TruncationWarning
from .features import CHUNK as PART  # texts encoded at once within a chunk: it bounds the every-layer vectors held
from .outputs import write_atomic

CHUNK_ROWS = 10_000
SETTINGS = "_headstart_batch.json"
DONE = "_SUCCESS"
FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl"}
DTYPES = ("float32", "float16")
EMBEDDING = "embedding"
ROW = "row"
FILE = "file"
METADATA_KEY = b"headstart"


@dataclass(frozen=True)
class Summary:
    """What a run did: its output folder, rows and shards written now and found done, and how long it took."""

    out: Path
    rows: int
    shards: int
    skipped_shards: int
    empty_texts: int
    truncated_texts: int
    seconds: float
    scoring_seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        fields = dataclasses.asdict(self)
        del fields["out"]
        return {**fields, "rows_per_second": self.rows_per_second}


def input_files(source: str | Path) -> tuple[Path, list[Path]]:
    """The input's root and its files: one file, or a folder's Parquet, CSV and JSONL files (in sorted order,
    subfolders included, names starting with . or _ skipped, as Spark and Hadoop mark their own files)."""
    path = Path(source)
    if path.is_file():
        _format(path)
        return path.parent, [path]
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix.lower() in FORMATS
            and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
        )
        if not files:
            raise DataError(f"{path} holds no .parquet, .csv or .jsonl files; pass a file or a folder of them")
        return path, files
    raise DataError(f"input not found: {path}; pass a file or a folder of Parquet, CSV or JSONL files")


def _format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: batch reads .parquet, .csv or .jsonl files; convert it to one of them")
    return fmt


def columns_of(path: Path) -> list[str]:
    """A file's column names, read from its header only."""
    fmt = _format(path)
    if fmt == "parquet":
        return list(pq.read_schema(path).names)
    if fmt == "csv":
        return [str(c) for c in pd.read_csv(path, nrows=0, encoding_errors="replace").columns]
    with open(path, encoding="utf-8", errors="replace") as lines:
        first = next((line for line in lines if line.strip()), "{}")
    try:
        return list(json.loads(first))
    except (json.JSONDecodeError, TypeError):
        raise DataError(f"{path}: the first line is not a JSON object; write one object per line") from None


def read_chunks(path: Path, columns: list[str], rows: int) -> Iterator[pd.DataFrame]:
    """The file's rows, ``rows`` at a time, these columns only; never the whole file in memory. CSV fields are read
    as text, as a CSV has no types."""
    fmt = _format(path)
    if fmt == "parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows, columns=columns):
            yield batch.to_pandas()
    elif fmt == "csv":
        yield from pd.read_csv(
            path, usecols=columns, dtype=str, keep_default_na=False, chunksize=rows, encoding_errors="replace"
        )
    else:
        for frame in pd.read_json(path, lines=True, dtype=False, chunksize=rows, encoding_errors="replace"):
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise DataError(f"{path}: a line has no {missing[0]!r} field; give every line the same fields")
            yield frame[columns]


def read_chunk(path: Path, columns: list[str], rows: int, index: int) -> pd.DataFrame | None:
    """Chunk ``index`` of ``read_chunks`` on its own, or None past the file's end."""
    if _format(path) != "parquet":
        return next(itertools.islice(read_chunks(path, columns, rows), index, None), None)
    parquet = pq.ParquetFile(path)
    start, stop = index * rows, (index + 1) * rows
    groups, first, offset = [], None, 0
    for group in range(parquet.metadata.num_row_groups):
        size = parquet.metadata.row_group(group).num_rows
        if offset < stop and offset + size > start:
            groups.append(group)
            first = offset if first is None else first
        offset += size
    if not groups:
        return None
    return parquet.read_row_groups(groups, columns=columns).slice(start - first, rows).to_pandas()


def count_rows(path: Path) -> int:
    """Rows of a file, for the progress bar: exact for Parquet and JSONL; for CSV its lines but the header, which
    a quoted field that spans lines makes an overestimate."""
    if _format(path) == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    with open(path, "rb") as raw:
        lines = sum(block.count(b"\n") for block in iter(lambda: raw.read(1 << 20), b""))
    return max(lines - (_format(path) == "csv"), 0)


@dataclass(frozen=True)
class Chunk:
    """A piece of the input: its shard's name, the id columns of its rows, and its texts, or the vectors stored for
    them by an embed run."""

    name: str
    ids: pd.DataFrame
    texts: list[str] = ()
    vectors: np.ndarray | None = None


class Inputs:
    """The input files, their text and id columns checked, cut into chunks the same way on every run."""

    def __init__(self, source: str | Path, text_col: str | None, id_col: str | None, chunk_rows: int):
        if chunk_rows < 1:
            raise HeadstartError(f"chunk_rows must be at least 1, not {chunk_rows}")
        self.root, self.files = input_files(source)
        self.folder = Path(source).is_dir()
        self.id_col, self.chunk_rows = id_col, chunk_rows
        self.text_col = text_col
        for path in self.files:
            columns = columns_of(path)
            if not columns and not count_rows(path):  # an empty JSONL file: nothing to check, nothing to score
                continue
            found = pick_column(pd.DataFrame(columns=columns), text_col, TEXT_COLUMNS, "text", "--text-col")
            if self.text_col is None:
                self.text_col = found
            elif found != self.text_col:
                raise DataError(f"{path}'s text column is {found!r}, not {self.text_col!r}; pass --text-col NAME")
            if id_col is not None and id_col not in columns:
                raise DataError(f"{path} has no id column {id_col!r}; the columns are: {', '.join(columns)}")

    def name(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def state(self) -> list[dict]:
        """Each file by name, size and modification time: what a resumed run must find unchanged."""
        return [{"name": self.name(p), "size": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns} for p in self.files]

    def total_rows(self) -> int:
        return sum(count_rows(p) for p in self.files)

    @property
    def columns(self) -> list[str]:
        return [self.text_col] + ([self.id_col] if self.id_col and self.id_col != self.text_col else [])

    def shard_name(self, path: Path, index: int) -> str:
        return f"{self.name(path).replace('/', '__')}.{index:06d}.parquet"

    def chunks(self) -> Iterator[Chunk]:
        """Every chunk, file by file, streaming: chunk k of a file is its rows k·chunk_rows to (k+1)·chunk_rows."""
        for path in self.files:
            for index, frame in enumerate(read_chunks(path, self.columns, self.chunk_rows)):
                if not frame.empty:  # a CSV with a header alone gives one empty frame
                    yield self._chunk(path, index, frame)

    def plan(self) -> list[tuple[int, int]]:
        """(file number, chunk number) of every chunk, some past a CSV's end where its row count is an overestimate."""
        return [(f, k) for f, path in enumerate(self.files) for k in range(-(-count_rows(path) // self.chunk_rows))]

    def chunk_at(self, file: int, index: int) -> Chunk | None:
        """One chunk, as ``chunks`` gives it, read on its own (None past the file's end): Parquet by its row groups,
        CSV and JSONL by reading up to it (so at scale, give the Ray engine Parquet, or many smaller files)."""
        path = self.files[file]
        frame = read_chunk(path, self.columns, self.chunk_rows, index)
        return None if frame is None or frame.empty else self._chunk(path, index, frame)

    def _chunk(self, path: Path, index: int, frame: pd.DataFrame) -> Chunk:
        ids = pd.DataFrame({FILE: self.name(path)} if self.folder else {}, index=range(len(frame)))
        if self.id_col:
            ids[self.id_col] = frame[self.id_col].to_numpy()
        else:
            start = index * self.chunk_rows
            ids[ROW] = np.arange(start, start + len(frame), dtype=np.int64)
        texts = ["" if is_missing(v) else str(v) for v in frame[self.text_col].tolist()]
        return Chunk(self.shard_name(path, index), ids, texts)


def prepare_output(out: Path, settings: dict, force: bool) -> None:
    """Make ``out`` ready: new or empty, or a run of these same settings to resume. ``force`` starts a run of
    other settings over; a folder that is not a batch run's is never emptied."""
    record = out / SETTINGS
    if out.is_dir() and any(out.iterdir()):
        if not record.is_file():
            raise OutputExistsError(f"{out} is not empty and holds no batch run; choose a new or empty folder")
        earlier = json.loads(record.read_text(encoding="utf-8"))
        if earlier != settings:
            if not force:
                changed = ", ".join(k for k in settings if earlier.get(k) != settings[k]) or "format"
                raise OutputExistsError(
                    f"{out} holds a batch run with other settings ({changed}), which this run would mix with; "
                    "pass --force to start over, or choose another --out"
                )
            for path in out.iterdir():
                if path.suffix == ".parquet" or path.name in (SETTINGS, DONE) or path.name.startswith("."):
                    path.unlink()
    elif out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} is a file; --out names a folder for the shards")
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".*.tmp"):  # a shard a killed run was writing
        stale.unlink()
    if not record.is_file():
        write_atomic(record, lambda p: p.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8"))


def run(inputs, out: Path, settings: dict, score, force: bool, description: str, encoders: Sequence = ()) -> Summary:
    """Stream ``inputs`` through ``score(chunk) -> pa.Table`` into shards in ``out``, skipping those already there.
    Truncation is counted on ``encoders`` for the summary, not warned about chunk by chunk."""
    out = Path(out)
    prepare_output(out, settings, force)
    encoders = list({id(e): e for e in encoders}.values())
    truncated_before = sum(e.truncated_texts for e in encoders)
    started, scoring = time.perf_counter(), 0.0
    rows = shards = skipped = empty = 0
    advance = progress.task(description, inputs.total_rows(), "rows")
    with progress.forwarding(advance) as settle, warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        for chunk in inputs.chunks():
            target, size = out / chunk.name, len(chunk.ids)
            if target.is_file():
                skipped += 1
                advance(size)
                continue
            mark = time.perf_counter()
            table = score(chunk)
            scoring += time.perf_counter() - mark
            write_shard(target, table)
            settle(size)
            rows, shards, empty = rows + size, shards + 1, empty + list(chunk.texts).count("")
    truncated = sum(e.truncated_texts for e in encoders) - truncated_before
    summary = Summary(out, rows, shards, skipped, empty, truncated, time.perf_counter() - started, scoring)
    return finish(summary)


def finish(summary: Summary) -> Summary:
    """Mark the run finished, with its summary; a rerun with nothing left keeps the record of the run that did it."""
    if summary.shards or not (summary.out / DONE).is_file():
        write_atomic(summary.out / DONE, lambda p: p.write_text(json.dumps(summary.to_dict(), indent=2) + "\n"))
    return summary


def write_shard(target: Path, table: pa.Table) -> None:
    """Write under a temporary name of this process's own, then rename: a shard is whole or absent, and two attempts
    at one chunk (a Ray task retried while the first still runs) each write a whole file, the last one kept."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        # No dictionary for the vectors: it never pays on floats, and reading it back makes a scan 4x slower.
        pq.write_table(table, temporary, use_dictionary=[c for c in table.column_names if c != EMBEDDING])
        os.replace(temporary, target)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        temporary.unlink(missing_ok=True)


def in_parts(texts: list[str], compute) -> np.ndarray:
    """``compute`` over PART texts at a time, so that a chunk's every-layer vectors are never all held at once."""
    return np.concatenate([compute(texts[i : i + PART]) for i in range(0, len(texts), PART)])


def _settings(task: str, inputs: Inputs, **rest) -> dict:
    return {
        "task": task,
        "inputs": inputs.state(),
        "text_col": inputs.text_col,
        "id_col": inputs.id_col,
        "chunk_rows": inputs.chunk_rows,
        **rest,
    }


def _models_state(served: list) -> dict:
    """Each model by name and its config's hash (which holds its weights' hashes): a resumed run must use the same."""
    return {m.name: artifacts.config_sha256(m.config) for m in served}


def _served(models: Sequence[str | Path]) -> list:
    from .serving import Registry, load_served, model_folders

    served = [load_served(path) for path in model_folders(list(models))]
    if not served:
        raise HeadstartError("no models given; pass one or more model folders written by `headstart train`")
    Registry(served)  # refuses two models of one name: their columns would clash
    return served


def predictions_table(ids: pd.DataFrame, probabilities: dict[str, np.ndarray], served: list) -> pa.Table:
    """The ids, then for each model ``<name>_label`` and one ``<name>_p_<label>`` column per label (float32)."""
    table = ids.reset_index(drop=True).copy()
    for model in served:
        proba = probabilities[model.name]
        table[f"{model.name}_label"] = np.asarray(model.model.classes_)[proba.argmax(axis=1)]
        for i, label in enumerate(model.model.classes_):
            table[f"{model.name}_p_{label}"] = proba[:, i].astype(np.float32)
    return pa.Table.from_pandas(table, preserve_index=False)


class PredictScorer:
    """Each model's labels and probabilities for a chunk's texts. Built from model folders alone, so that a Ray actor
    can build its own; models whose feature spec matches share one encoder pass (``serving.classify``)."""

    def __init__(self, models: Sequence[str | Path]):
        self.served = _served(models)

    @property
    def encoders(self) -> list:
        return [m.model.features_.encoder_ for m in self.served if hasattr(m.model, "features_")]

    def __call__(self, chunk: Chunk) -> pa.Table:
        from .serving import classify

        parts = [classify(chunk.texts[i : i + PART], self.served)[0] for i in range(0, len(chunk.texts), PART)]
        merged = {m.name: np.concatenate([p[m.name] for p in parts]) for m in self.served}
        return predictions_table(chunk.ids, merged, self.served)


class EmbedScorer:
    """A chunk's features, ``dtype``, with the spec in the table's metadata. Built from ``FrozenFeatures``
    parameters alone, so that a Ray actor can build its own; never through the embedding cache (a corpus would
    flood it)."""

    def __init__(self, params: dict, dtype: str):
        from .features import FrozenFeatures

        self.features = FrozenFeatures(**{**params, "cache": False}).fit()
        self.dtype = dtype
        self.spec = self.features.spec_.to_dict()
        record = {"feature_spec": self.spec, "encoder": self.features.encoder_.name}
        self.metadata = {METADATA_KEY: json.dumps(record).encode()}

    @property
    def encoders(self) -> list:
        return [self.features.encoder_]

    def __call__(self, chunk: Chunk) -> pa.Table:
        vectors = in_parts(chunk.texts, self.features.transform).astype(self.dtype)
        flat = pa.array(vectors.reshape(-1), type=pa.float16() if self.dtype == "float16" else pa.float32())
        table = pa.Table.from_pandas(chunk.ids.reset_index(drop=True), preserve_index=False)
        table = table.append_column(EMBEDDING, pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]))
        return table.replace_schema_metadata({**(table.schema.metadata or {}), **self.metadata})


def predict(
    source: str | Path | None,
    models: Sequence[str | Path],
    out: str | Path,
    features: str | Path | None = None,
    text_col: str | None = None,
    id_col: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    force: bool = False,
    engine: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
) -> Summary:
    """Score every row of ``source`` (a file or a folder of Parquet, CSV or JSONL files) with each model, into
    Parquet shards in ``out``: the ids, and per model its label and probabilities. Models whose feature spec matches
    share one encoder pass. With ``features`` (a folder ``embed`` wrote) instead of ``source``, frozen heads are
    applied to the stored vectors, and the encoder never runs. ``engine="ray"`` scores on Ray Data (``workers``
    actors, on the cluster at ``ray_address`` or a local one). Rerun, it resumes; see the module's notes."""
    check_engine(engine, workers)
    if (source is None) == (features is None):
        raise HeadstartError("give the input texts or --features (a folder `headstart batch embed` wrote), not both")
    if features is not None:
        if engine != "local":
            raise HeadstartError("scoring stored vectors needs no encoder and runs on the local engine; drop --engine")
        stored = stored_settings(Path(features))  # checked before the models load: that takes seconds
        return _predict_stored(Path(features), stored, _served(models), Path(out), force)
    inputs = Inputs(source, text_col, id_col, chunk_rows)
    folders = [str(Path(m).resolve()) for m in models]
    scorer = PredictScorer(folders)  # loaded here on the Ray engine too: a model that cannot load fails at once
    settings = _settings("predict", inputs, models=_models_state(scorer.served))
    return _run(engine, inputs, Path(out), settings, scorer, (PredictScorer, (folders,)), force, workers, ray_address)


def embed(
    source: str | Path,
    out: str | Path,
    features=None,
    model: str | Path | None = None,
    dtype: str = "float32",
    text_col: str | None = None,
    id_col: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    force: bool = False,
    engine: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
) -> Summary:
    """Every row's features into Parquet shards in ``out``: the ids and ``embedding`` (``dtype`` float32 or
    float16), the feature spec in each shard's metadata. The spec is ``features`` (a ``FrozenFeatures``), or that of
    the frozen ``model`` whose heads will read them, or the defaults'. ``engine``, ``workers`` and ``ray_address``
    as for ``predict``."""
    from .features import FrozenFeatures

    check_engine(engine, workers)
    if dtype not in DTYPES:
        raise HeadstartError(f"unknown dtype {dtype!r}; choose float32 or float16")
    if model is not None and features is not None:
        raise HeadstartError("give a feature spec or a model to take it from, not both")
    inputs = Inputs(source, text_col, id_col, chunk_rows)  # checked before the encoder loads: that takes seconds
    if model is not None:
        features = _frozen_features(_served([model])[0])
    params = (features or FrozenFeatures()).get_params()
    FrozenFeatures(**params).check_params()
    scorer = EmbedScorer(params, dtype)
    settings = _settings("embed", inputs, feature_spec=scorer.spec, dtype=dtype)
    return _run(
        engine, inputs, Path(out), settings, scorer, (EmbedScorer, (params, dtype)), force, workers, ray_address
    )


ENGINES = ("local", "ray")


def check_engine(engine: str, workers: int | None) -> None:
    if engine not in ENGINES:
        raise HeadstartError(f"unknown engine {engine!r}; choose local or ray")
    if workers is not None and (engine != "ray" or workers < 1):
        raise HeadstartError("workers is the Ray engine's number of actors: at least 1, with engine ray")


def _run(engine, inputs, out, settings, scorer, recipe, force, workers, ray_address) -> Summary:
    if engine == "ray":
        from . import ray_engine

        return ray_engine.run(inputs, out, settings, recipe, force, workers, ray_address)
    return run(
        inputs,
        out,
        settings,
        scorer,
        force,
        "scoring" if settings["task"] == "predict" else "embedding",
        scorer.encoders,
    )


def _frozen_features(served):
    """A served model's feature stage, refused where stored vectors cannot feed its head."""
    model = served.model
    if not hasattr(model, "proba_from_features"):
        raise HeadstartError(
            f"model {served.name!r} ({served.config['strategy']}) does not read frozen features; "
            "stored vectors can feed only frozen heads"
        )
    if model.reads_texts():
        raise HeadstartError(
            f"model {served.name!r}'s head reads the texts beside their vectors (lexical terms or token states); "
            "score it on the texts instead of --features"
        )
    return model.features_


def stored_settings(folder: Path) -> dict:
    """The settings of a finished ``embed`` run, its feature spec among them."""
    record = folder / SETTINGS
    if not record.is_file():
        raise DataError(f"{folder} holds no batch run; pass a folder `headstart batch embed` wrote")
    settings = json.loads(record.read_text(encoding="utf-8"))
    if settings.get("task") != "embed":
        raise DataError(f"{folder} holds a batch {settings.get('task')} run, not embeddings; pass an embed folder")
    if not (folder / DONE).is_file():
        raise DataError(f"{folder}'s embed run has not finished; run the same `headstart batch embed` again first")
    return settings


def _predict_stored(folder: Path, embedded: dict, served: list, out: Path, force: bool) -> Summary:
    from .features import FeatureSpec

    stored = FeatureSpec.from_dict(embedded["feature_spec"])
    for model in served:
        own = _frozen_features(model)
        differences = own.spec_.differences(stored)
        if own.precision == "auto":  # chosen per machine: bf16 and fp32 vectors differ by rounding only
            differences = [d for d in differences if not d.startswith("precision:")]
        if differences:
            raise DataError(
                f"model {model.name!r} reads other features than {folder} holds ({'; '.join(differences)}, "
                "model vs stored); embed with `--model` set to it, or score the texts"
            )
    shards = sorted(folder.glob("*.parquet"))
    settings = {"task": "predict", "features": embedded, "models": _models_state(served)}
    return run(_Stored(shards), out, settings, lambda chunk: _apply_heads(chunk, served), force, "scoring")


class _Stored:
    """A finished embed run's shards, read as the chunks of a new run (one shard, one chunk, the same name)."""

    def __init__(self, shards: list[Path]):
        self.shards = shards

    def total_rows(self) -> int:
        return sum(pq.ParquetFile(p).metadata.num_rows for p in self.shards)

    def chunks(self) -> Iterator[Chunk]:
        for path in self.shards:
            table = pq.read_table(path)
            vectors = table.column(EMBEDDING).combine_chunks()
            matrix = vectors.flatten().to_numpy(zero_copy_only=False).reshape(len(table), vectors.type.list_size)
            yield Chunk(path.name, table.drop_columns([EMBEDDING]).to_pandas(), vectors=matrix)


def _apply_heads(chunk: Chunk, served: list) -> pa.Table:
    vectors = np.array(chunk.vectors, dtype=np.float32)  # a copy: Arrow's buffers are read-only
    probabilities = {m.name: m.model.proba_from_features(vectors) for m in served}
    return predictions_table(chunk.ids, probabilities, served)
