"""Files that headstart writes beside model folders: predictions and features, checked before any work and written
atomically, so an interrupted run never leaves half a file and a typo never costs a whole run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError, OutputExistsError

PREDICTION_FORMATS = (".csv", ".jsonl")
FEATURE_FORMATS = (".parquet", ".npy")


def check_output_file(path: Path | None, force: bool, suffixes: tuple[str, ...]) -> None:
    """Refuse an output file of an unknown format, one in a folder that does not exist, a folder, or an existing file
    (unless forced): checked before any encoding, as a typo would otherwise cost the whole run, or create folders."""
    if path is None:
        return
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise DataError(f"unknown output format {path.suffix or '(none)'!r} for {path}; use {' or '.join(suffixes)}")
    if path.is_dir():
        raise OutputExistsError(f"{path} is a folder; give --out a file name such as {path / ('out' + suffixes[0])}")
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists; pass --force to replace it, or choose another --out")
    if not path.parent.is_dir():
        raise DataError(f"the folder {path.parent} does not exist; create it, or choose another --out")


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """write(tmp_path) then rename, so an interrupted run never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def predictions_table(model, texts: list[str], proba: bool = False, kept: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per text: the columns of ``kept`` (an id, a date), the text, the predicted label and, with ``proba``,
    one probability column per label (``p_<label>``). A kept column named like an output column is written as
    ``input_<name>``: ``--keep label`` copies the file's label beside the predicted one."""
    kept = pd.DataFrame() if kept is None else kept
    outputs = ["text", "label", *([f"p_{label}" for label in model.classes_] if proba else [])]
    kept = kept.rename(columns={c: f"input_{c}" for c in kept.columns if c in outputs})
    clash = [column for column in kept.columns if column in outputs or list(kept.columns).count(column) > 1]
    if clash:
        raise DataError(
            f"--keep would write two columns named {clash[0]!r} (a kept column named like an output column is "
            "written with input_ before its name); copy one under another name first"
        )
    probabilities = model.predict_proba(texts)
    table = pd.DataFrame({"text": texts, "label": model.classes_[probabilities.argmax(axis=1)]})
    if proba:
        for i, label in enumerate(model.classes_):
            table[f"p_{label}"] = probabilities[:, i].round(6)
    return pd.concat([kept.reset_index(drop=True), table], axis=1)


def write_predictions(table: pd.DataFrame, path: Path) -> None:
    """CSV or JSON lines, by the file's suffix."""
    if Path(path).suffix.lower() == ".jsonl":
        write_atomic(path, lambda p: table.to_json(p, orient="records", lines=True, force_ascii=False))
    else:
        write_atomic(path, lambda p: table.to_csv(p, index=False))


def write_features(texts: list[str], features: np.ndarray, path: Path) -> None:
    """The matrix as ``.npy``, or ``.parquet`` with a text column and a fixed-size list column ``embedding``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if Path(path).suffix.lower() == ".npy":

        def write_npy(tmp: Path) -> None:
            with open(tmp, "wb") as file:  # a file object: np.save would add ".npy" to the temporary name
                np.save(file, features, allow_pickle=False)

        write_atomic(path, write_npy)
    else:
        column = pa.FixedSizeListArray.from_arrays(pa.array(features.reshape(-1)), features.shape[1])
        write_atomic(path, lambda p: pq.write_table(pa.table({"text": texts, "embedding": column}), p))
