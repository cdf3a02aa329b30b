"""Read labeled and unlabeled text data (CSV, TSV, JSONL, Parquet), find its columns, check it, split it."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError, count, warn

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
TEXT_COLUMNS = (
    "text",
    "texts",
    "sentence",
    "sentences",
    "review",
    "content",
    "body",
    "document",
    "message",
    "question",
    "tweet",
)
LABEL_COLUMNS = ("label", "labels", "class", "sentiment", "category", "target", "intent", "topic", "y")
RARE_CLASS = 5


@dataclass
class LabeledData:
    texts: list[str]
    labels: list
    dropped_empty: int = 0


def _codec(encoding: str) -> str:
    """UTF-8 that also accepts the byte-order mark spreadsheet programs put at the start of a CSV."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(
            f"unknown text encoding {encoding!r}; use a Python codec name such as utf-8, latin-1 or cp1252"
        ) from None
    return "utf-8-sig" if encoding.lower().replace("-", "").replace("_", "") == "utf8" else encoding


DECODE_ADVICE = "re-save it as UTF-8, or pass its encoding: --encoding cp1252 for most Windows files, latin-1, utf-16"


def _decode(raw: bytes, encoding: str) -> str:
    """Bytes as text; a UTF-16 file (Excel's "Unicode Text") is known by its byte-order mark whatever the encoding."""
    codec = _codec(encoding)
    return raw.decode("utf-16" if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else codec)


def _lines(text: str) -> list[str]:
    """A file's lines, split at line ends only: ``str.splitlines`` also splits at characters that occur inside texts
    (U+2028, NEL, form feed). Windows and old Mac line ends are read; a last line end adds no empty line."""
    text = text.replace("\r\n", "\n")
    lines = text.split("\n" if "\n" in text else "\r")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"unknown format {path.suffix or '(no extension)'!r} for {path}; use .csv, .tsv, .jsonl or .parquet"
        )
    return fmt


def check_table_path(path: str | Path) -> str:
    """DataError unless ``path`` is a non-empty file of a known format, which is returned."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder; pass a data file (.csv, .tsv, .jsonl or .parquet)")
    fmt = _format_of(path)
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty; it needs a header row and at least one row of data")
    return fmt


def read_table(path: str | Path, encoding: str = "utf-8") -> pd.DataFrame:
    """Read a data file into a DataFrame, turning every way it can fail into a DataError that says what to do."""
    path = Path(path)
    fmt = check_table_path(path)
    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        raw = path.read_bytes()
        if raw.startswith(b"PK\x03\x04"):
            raise DataError(
                f"{path} is a zip file (an Excel workbook?), not {fmt} text; save it as CSV UTF-8 and pass that"
            )
        text = _decode(raw, encoding)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not valid {encoding} text (byte {exc.start}); {DECODE_ADVICE}") from None
    except (OSError, ValueError) as exc:
        raise DataError(
            f"cannot read {path} as {fmt}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    if not text.strip():
        raise DataError(f"{path} is empty; it needs a header row and at least one row of data")
    try:
        if fmt == "jsonl":
            return _read_jsonl(text, path)
        # pandas' to_csv leaves a carriage return inside a text unquoted; read as a line end it would split the
        # row. So rows end at newlines alone, once Windows line ends are made newlines (old Mac files have no newline).
        text = text.replace("\r\n", "\n")
        text, separator = _delimiter(text, fmt)
        quoting = _quoting(text, separator)
        if quoting == csv.QUOTE_NONE:  # CSV-style quoted fields are unquoted, as CSV quoting would
            text = "\n".join("\t".join(_unquote(field) for field in line.split("\t")) for line in _lines(text))
        # Every field is read as the text it is: as numbers, labels "01" and "1" would become one class, and a text
        # "007" would be encoded as "7.0".
        df = pd.read_csv(
            io.StringIO(text),
            sep=separator,
            dtype=str,
            keep_default_na=False,
            na_values=["", "NaN", "nan"],
            lineterminator="\n" if "\n" in text else None,
            quoting=quoting,
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot parse {path} as {fmt}: {str(exc).splitlines()[0]}") from None
    if not isinstance(df.index, pd.RangeIndex):  # pandas made the surplus leading fields an index
        raise DataError(
            f"rows of {path} have more fields than its header; quote the texts that contain "
            f"{'a tab' if separator == chr(9) else repr(separator)}, or remove the extra fields"
        )
    _warn_swallowed_rows(df, text, separator, path)
    return df


def _warn_swallowed_rows(df: pd.DataFrame, text: str, separator: str, path: Path) -> None:
    """Warn about a field whose lines look like rows of the file: a quote that is never closed reads the rows after
    it into one text, and the file still parses. A field that stands in ``text`` quoted as a CSV writer quotes it
    (pandas' to_csv, a spreadsheet) was meant to span its lines, whatever they hold."""
    fields = len(df.columns) - 1
    multiline = [df[c].astype(str).str.contains("\n", regex=False) for c in df.columns]
    rows = np.flatnonzero(np.column_stack(multiline).any(axis=1))
    searched = 0  # fields stand in the text in row order: each search starts where the last one matched
    for row, values in zip(rows, df.iloc[rows].astype(str).itertuples(index=False, name=None)):
        for value in values:
            inner = value.split("\n")[1:]
            # The last line is left out: it ends at the closing quote, before its row's other fields.
            if len(inner) < 3 or not all(line.count(separator) >= fields for line in inner[:-1]):
                continue
            quoted = '"' + value.replace('"', '""') + '"'
            found = text.find(quoted, searched)
            if found >= 0:
                searched = found + len(quoted)
                continue
            warn(
                f"row {row + 1} of {path} holds {len(inner) + 1} lines that look like rows of the file: if a quote "
                "in it is never closed, the rows after it were read into it; check that row's quotes"
            )
            return


def _unquote(field: str) -> str:
    """A field written CSV-style, in quotes with its own quotes doubled, without them; anything else as it is."""
    if len(field) >= 2 and field[0] == field[-1] == '"' and '"' not in field[1:-1].replace('""', ""):
        return field[1:-1].replace('""', '"')
    return field


def _read_jsonl(text: str, path: Path) -> pd.DataFrame:
    rows = []
    for number, line in enumerate(_lines(text), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"line {number} of {path} is not valid JSON ({exc.msg}, column {exc.colno}); fix or remove that line"
            ) from None
        if not isinstance(row, dict):
            raise DataError(
                f'{path}: every line must be a JSON object such as {{"text": ..., "label": ...}}; '
                f"line {number} is a {type(row).__name__}"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _quoting(text: str, separator: str) -> int:
    """CSV quoting for CSV, and for a TSV whose quotes could be CSV quotes. Many TSV files carry quotes as plain
    characters (a text starting with a quote it never closes), which CSV quoting reads as one text running over
    the rows after it. When every line has the header's number of tabs, no quoted field spans a line or holds a
    tab, so each line is a row and its quotes are text (a field fully quoted CSV-style is unquoted after)."""
    if separator != "\t" or '"' not in text:
        return csv.QUOTE_MINIMAL
    lines = [line for line in _lines(text) if line]
    tabs = lines[0].count("\t")
    return csv.QUOTE_NONE if all(line.count("\t") == tabs for line in lines) else csv.QUOTE_MINIMAL


def _delimiter(text: str, fmt: str) -> tuple[str, str]:
    """The text without an Excel ``sep=`` line, and its separator: tab for TSV; for CSV the one a ``sep=`` first line
    names, else a comma, unless the header row has none outside quotes but has semicolons or tabs, as spreadsheet
    programs write CSV in locales whose decimal mark is a comma."""
    if fmt == "tsv":
        return text, "\t"
    header, _, rest = text.partition("\n")
    if len(header.strip()) == 5 and header.startswith("sep="):
        return rest, header[4]
    # Not csv.Sniffer, even limited to ",;\t": on real texts written with ";" or a tab it often guessed the comma.
    names = re.sub(r'"[^"]*"', "", header)  # a quoted column name may hold any separator
    if "," not in names:
        for separator in (";", "\t"):
            if separator in names:
                return text, separator
    return text, ","


def pick_column(df: pd.DataFrame, given: str | None, candidates: tuple[str, ...], role: str, flag: str) -> str:
    columns = [str(c) for c in df.columns]
    if given is not None:
        if given not in columns:
            raise DataError(f"no {role} column {given!r}; the columns are: {', '.join(columns)}")
        return given
    lowered = {c.lower(): c for c in columns}
    for name in candidates:
        if name in lowered:
            return lowered[name]
    raise DataError(f"cannot find the {role} column; the columns are: {', '.join(columns)}; pass {flag} NAME")


def load_labeled(
    path: str | Path,
    text_col: str | None = None,
    label_col: str | None = None,
    encoding: str = "utf-8",
    training: bool = True,
) -> LabeledData:
    """Texts and labels from a data file, checked: empty texts are dropped (with a warning), bad labels refused.
    ``training=False`` is for data to score a model on, which may hold a single class, or a few of one."""
    df = read_table(path, encoding)
    if df.empty:
        raise DataError(f"{path} has a header but no rows")
    text_col = pick_column(df, text_col, TEXT_COLUMNS, "text", "--text-col")
    label_col = pick_column(df, label_col, LABEL_COLUMNS, "label", "--label-col")
    return check_labeled(df[text_col].tolist(), df[label_col].tolist(), source=str(path), training=training)


def is_missing(value) -> bool:
    """None, NaN, pandas' NA and NaT, or a blank string."""
    if isinstance(value, str):
        return not value.strip()
    return bool(np.ndim(value) == 0 and pd.isna(value))


def check_labeled(texts: list, labels: list, source: str = "the data", training: bool = True) -> LabeledData:
    """Validate texts and labels; drop empty texts with a warning; refuse missing labels, and for ``training`` a single
    class, and warn about what a model cannot learn well (rare classes, a text labelled two ways, look-alike labels)."""
    if isinstance(texts, (str, bytes)):
        raise DataError("pass a list of texts, not a single string")
    if len(texts) != len(labels):
        raise DataError(f"{len(texts)} texts but {len(labels)} labels; pass one label per text")
    texts = text_items(texts)
    compound = next(
        (i for i, label in enumerate(labels) if isinstance(label, (list, tuple, dict, set, np.ndarray))), None
    )
    if compound is not None:
        raise DataError(
            f"row {compound + 1} of {source} has a {type(labels[compound]).__name__} as its label; each text needs "
            "one label (multi-label data is not supported): give every text a single class"
        )
    missing = [i for i, label in enumerate(labels) if is_missing(label)]
    if missing:
        rows = ", ".join(str(i + 1) for i in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DataError(
            f"{count(len(missing), 'row')} of {source} {'has' if len(missing) == 1 else 'have'} "
            f"an empty or NaN label (data rows {rows}); fill or remove them"
        )
    keep = [i for i, t in enumerate(texts) if not is_missing(t)]
    if not keep:
        raise DataError(f"all texts in {source} are empty; check the text column (--text-col)")
    dropped = len(texts) - len(keep)
    if dropped:
        warn(f"dropped {count(dropped, 'row')} with an empty text")
    texts = [str(texts[i]) for i in keep]
    labels = normalise_labels([labels[i] for i in keep])
    if not training:
        return LabeledData(texts, labels, dropped)
    classes, counts = np.unique(np.asarray(labels, dtype=object).astype(str), return_counts=True)
    if len(classes) < 2:
        raise DataError(f"{source} has only one class ({str(classes[0])!r}); a classifier needs at least two")
    _warn_conflicting_labels(texts, labels)
    _warn_look_alike_labels(classes)
    rare = [f"{c!s} ({n})" for c, n in zip(classes, counts) if n < RARE_CLASS]
    if rare:
        warn(
            f"{count(len(rare), 'class', 'have')} fewer than {RARE_CLASS} examples: {', '.join(rare)}; "
            "their predictions will be unreliable"
        )
    return LabeledData(texts, labels, dropped)


def _warn_conflicting_labels(texts: list[str], labels: list) -> None:
    """Warn about texts that occur more than once with different labels: label noise no model can fit."""
    seen: dict[str, set] = {}
    for text, label in zip(texts, labels):
        seen.setdefault(text, set()).add(str(label))
    conflicting = {text: found for text, found in seen.items() if len(found) > 1}
    if conflicting:
        text, found = next(iter(conflicting.items()))
        shown = text if len(text) <= 60 else text[:57] + "..."
        warn(
            f"{count(len(conflicting), 'text', 'occur')} with more than one label "
            f"(e.g. {shown!r}: {', '.join(sorted(found))}); "
            "no model can get every copy right, so check their labels"
        )


def _warn_look_alike_labels(classes: np.ndarray) -> None:
    """Warn about labels that differ only in case or spaces ("positive", "Positive "): likely one class written two
    ways, which would be trained, and scored, as two."""
    groups: dict[str, list[str]] = {}
    for label in classes:
        groups.setdefault(" ".join(str(label).split()).casefold(), []).append(str(label))
    alike = [group for group in groups.values() if len(group) > 1]
    if alike:
        shown = "; ".join(", ".join(repr(label) for label in group) for group in alike[:3])
        warn(
            f"labels differ only in case or spaces ({shown}) and are trained as different classes; "
            "if they are one class, write them the same way"
        )


def normalise_labels(labels: list) -> list:
    """Plain Python labels; integers stay integers, and a mix of types becomes strings (with a warning)."""
    plain = [x.item() if isinstance(x, np.generic) else x for x in labels]
    if any(isinstance(x, float) and not x.is_integer() for x in plain):
        example = next(x for x in plain if isinstance(x, float) and not x.is_integer())
        raise DataError(
            f"labels look continuous (e.g. {example}); a classifier needs categories: round them or write them as text"
        )
    plain = [int(x) if isinstance(x, float) else x for x in plain]  # 0.0/1.0: integer labels read as floats
    kinds = {type(x) for x in plain}
    if len(kinds) > 1:
        names = ", ".join(sorted(k.__name__ for k in kinds))
        warn(f"labels mix types ({names}); treating all as text")
        plain = [str(x) for x in plain]
    return plain


def read_inputs(
    source: str | Path, text_col: str | None = None, encoding: str = "utf-8", keep: Sequence[str] = ()
) -> tuple[list[str], pd.DataFrame]:
    """Texts to predict: a data file's text column, or a plain file / ``-`` (stdin) with one text per line; and the data
    file's columns named in ``keep`` (an id, a date), to carry beside predictions."""
    kept = pd.DataFrame()
    if str(source) == "-":
        lines = _lines(_decode_stdin(encoding))
    else:
        path = Path(source)
        if path.suffix.lower() == ".json":  # read as lines, a JSON document would give one text per line of it
            raise DataError(
                f"{path} is JSON; give texts as .jsonl (one object per line), .csv, "
                "or a text file with one text per line"
            )
        if path.suffix.lower() in FORMATS:
            df = read_table(path, encoding)
            column = pick_column(df, text_col, TEXT_COLUMNS, "text", "--text-col")
            lines = ["" if is_missing(t) else str(t) for t in df[column].tolist()]
            kept = df[[pick_column(df, name, (), "--keep", "--keep") for name in keep]]
        else:
            lines = _read_lines(path, encoding)
    if keep and kept.empty and lines:
        raise DataError(
            f"--keep copies columns of a data file; {source} is plain text, one text per line: "
            "give a .csv, .tsv, .jsonl or .parquet"
        )
    if not lines:
        raise DataError(f"{source} holds no texts; give at least one")
    empty = [i for i, text in enumerate(lines) if not text.strip()]
    if empty:
        rows = ", ".join(str(i + 1) for i in empty[:5]) + (" ..." if len(empty) > 5 else "")
        warn(
            f"{len(empty)} of {count(len(lines), 'text')} {'is' if len(empty) == 1 else 'are'} empty (rows {rows}); "
            "they keep their rows, with what the model gives an empty text"
        )
    return lines, kept


def _decode_stdin(encoding: str) -> str:
    """Stdin decoded as a file is: its text layer would use the locale's encoding, ignore --encoding and pass
    undecodable bytes on as lone surrogates, which fail later with a traceback."""
    raw = getattr(sys.stdin, "buffer", None)
    if raw is None:  # replaced by a text stream (io.StringIO): it holds text already
        return sys.stdin.read()
    try:
        return _decode(raw.read(), encoding)
    except UnicodeDecodeError as exc:
        raise DataError(f"stdin is not valid {encoding} text (byte {exc.start}); {DECODE_ADVICE}") from None


def _read_lines(path: Path, encoding: str) -> list[str]:
    if not path.exists():
        raise DataError(f"file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder; pass a file with one text per line, a data file, or - for stdin")
    try:
        return _lines(_decode(path.read_bytes(), encoding))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not valid {encoding} text (byte {exc.start}); {DECODE_ADVICE}") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None


def column_of(X, what: str = "texts") -> list:
    """The items of one API argument as a list: a sequence, or a table's single column (a one-column DataFrame or an
    (n, 1) array, as ``df[["text"]]`` and ColumnTransformer give); iterating a DataFrame would give its column names."""
    if isinstance(X, (str, bytes)):
        raise DataError(f"pass a list of {what}, not a single string: e.g. model.predict([text])")
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) == 2:
        if shape[1] != 1:
            raise DataError(f"got a table of {shape[1]} columns as the {what}; pass one column, e.g. df['text']")
        X = X.iloc[:, 0] if hasattr(X, "iloc") else np.asarray(X)[:, 0]
    elif shape is not None and len(shape) > 2:
        raise DataError(f"got a {len(shape)}-dimensional array as the {what}; pass a list of {what}")
    return list(X)


def text_items(items: list) -> list:
    """Texts as given, bytes decoded as UTF-8; a list or other container where a text should be is refused."""
    nested = next((i for i, item in enumerate(items) if isinstance(item, (list, tuple, dict, set, np.ndarray))), None)
    if nested is not None:
        raise DataError(f"text {nested + 1} is a {type(items[nested]).__name__}; pass one string per text")
    return [_decoded(item, i) for i, item in enumerate(items)]


def _decoded(item, i: int):
    if not isinstance(item, bytes):
        return item
    try:
        return item.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"text {i + 1} is bytes that are not UTF-8; decode your texts to str first") from None


def as_texts(X) -> list[str]:
    """The texts to predict, as strings (see ``column_of``). A missing text (None, NaN) is refused, not read as the
    word "None": every row needs a prediction, so it cannot be dropped as in training either."""
    texts = text_items(column_of(X))
    missing = [i for i, t in enumerate(texts) if not isinstance(t, str) and is_missing(t)]
    if missing:
        rows = ", ".join(str(i + 1) for i in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DataError(
            f"{count(len(missing), 'text', 'are')} missing (None or NaN; rows {rows}); "
            "fill or drop them before predicting"
        )
    return [str(t) for t in texts]


def first_occurrence(keys) -> np.ndarray:
    """For each item, the index of the first item equal to it (texts, or the bytes of feature rows)."""
    seen: dict = {}
    return np.array([seen.setdefault(key, i) for i, key in enumerate(keys)], dtype=int)


def split_distinct(split, first: np.ndarray):
    """Run ``split(keep)`` on the distinct items only (``keep``: each item's first copy; see ``first_occurrence``),
    where it returns positions in ``keep`` (a tuple of index arrays, or a list of such tuples), then give every copy
    its first's side. Copies of one text on both sides make validation a test of memory: on random labels CV looked
    perfect and chose the largest C. Without copies, this is ``split`` on every row."""
    keep = np.flatnonzero(first == np.arange(len(first)))
    result = split(keep)
    if len(keep) == len(first):
        return result
    position = np.empty(len(first), dtype=int)
    position[keep] = np.arange(len(keep))
    of_row = position[first]

    def expand(part: np.ndarray) -> np.ndarray:
        return np.flatnonzero(np.isin(of_row, part))

    return [tuple(map(expand, parts)) for parts in result] if isinstance(result, list) else tuple(map(expand, result))


def stratified_split(
    y: np.ndarray, fraction: float, seed: int, first: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held_out): about ``fraction`` of each class held out (so none of a class too small for one
    example to be about that fraction: at 0.15, of 3 or fewer), never a class's last example; copies of a text
    (``first``, see ``first_occurrence``) stay on one side."""
    first = np.arange(len(y)) if first is None else first
    return split_distinct(lambda keep: _stratified_split(y[keep], fraction, seed), first)


def _stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    # Not StratifiedShuffleSplit: it may hold out one of a class of 2, and its other draw changed the quick
    # benchmark's accuracies.
    rng = np.random.default_rng(seed)
    train, held = [], []
    for cls in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == cls))
        # Not at least one: with 2 examples a class, that held out half the data, which the model then never saw.
        k = min(int(round(fraction * len(rows))), len(rows) - 1)
        held.extend(rows[:k])
        train.extend(rows[k:])
    return np.sort(np.asarray(train, dtype=int)), np.sort(np.asarray(held, dtype=int))


def sample_per_class(y: np.ndarray, n: int | None, seed: int, pool: np.ndarray | None = None) -> np.ndarray:
    """Up to n examples of each class from ``pool`` (default: all rows), drawn with this seed; None takes all."""
    rows = np.arange(len(y)) if pool is None else np.asarray(pool)
    if n is None:
        return rows
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(rows[y[rows] == cls])[:n] for cls in np.unique(y[rows])]
    return np.sort(np.concatenate(picked))


def read_label_descriptions(path: str | Path) -> dict[str, str]:
    """Zero-shot label descriptions from a JSON object {label: description} or a table with columns label and
    description; a label described twice, or a description that is not a text, is refused."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        try:
            described = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(
                f"cannot read label descriptions {path}: {exc}; give a JSON object {{label: description}}"
            ) from None
        if not isinstance(described, dict):
            raise DataError(f"{path} must hold a JSON object {{label: description}}")
        described = {str(k): v for k, v in described.items()}
    else:
        table = read_table(path)
        if not {"label", "description"} <= set(table.columns):
            raise DataError(f"{path} needs columns label and description; it has {', '.join(map(str, table.columns))}")
        repeated = table["label"][table["label"].duplicated()]
        if len(repeated):
            raise DataError(
                f"{path} describes label {repeated.iloc[0]!r} more than once; give each label one description"
            )
        described = {str(k): v if isinstance(v, str) else "" for k, v in zip(table["label"], table["description"])}
    check_descriptions(described)
    return described


def check_descriptions(descriptions: dict) -> None:
    """Refuse a description that is not a text, or is empty: "nan" or "None" would be embedded as the label."""
    bad = [k for k, v in descriptions.items() if not isinstance(v, str) or not v.strip()]
    if bad:
        raise DataError(
            f"the description of label {bad[0]!r} is {descriptions[bad[0]]!r}; give each label a non-empty text, "
            "or leave the label out to use its name"
        )
