"""The model folder: ``headstart.json`` + ``*.safetensors`` + a ``README.md`` card, written atomically.

A folder is staged beside its destination and renamed into place, so a crash never leaves half a model; replacing a
model exchanges the two folders in one step where the OS can (Linux's ``renameat2``). The config records a sha256 of
itself and of every file that loading reads, so an edited or damaged file is named, not used. Only safetensors and
JSON are ever read back: nothing in a model folder is unpickled.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors import SafetensorError

from .errors import ModelFormatError, OutputError, OutputExistsError, warn

if TYPE_CHECKING:
    import torch

FORMAT_NAME = "headstart-model"
FORMAT_VERSION = 1
CONFIG_FILE = "headstart.json"
CARD_FILE = "README.md"  # documentation a person may edit: loading never reads it, so it is not checksummed


def is_model_folder(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file()


def check_output_folder(path: Path, force: bool) -> None:
    """Refuse to write over an existing path unless forced; even forced, only a model folder is replaced. Checked
    before training, as is a file where a folder above it would go."""
    path = Path(path)
    recover(path)
    blocking = next((parent for parent in path.parents if parent.exists() and not parent.is_dir()), None)
    if blocking is not None:
        raise OutputExistsError(f"{blocking} is a file, so {path} cannot be made; choose another --out")
    if not path.exists():
        return
    if not force:
        raise OutputExistsError(f"{path} already exists; pass --force to replace it, or choose another --out")
    if not path.is_dir() or (any(path.iterdir()) and not is_model_folder(path)):
        raise OutputExistsError(
            f"{path} exists and is not a headstart model folder; refusing to replace it even with --force"
        )


def plain(value):
    """JSON for what ``json`` cannot write: NumPy numbers and arrays as numbers and lists (a NumPy C from a grid
    search must load back as a number), anything else as its text."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return str(value)


def sha256_of(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def config_sha256(config: dict) -> str:
    """The checksum of a config's content, without the field that holds it."""
    content = {k: v for k, v in config.items() if k != "config_sha256"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=plain).encode()).hexdigest()


def write_model_folder(
    path: str | Path,
    config: dict,
    tensors: dict[str, dict[str, torch.Tensor]],
    card: str,
    force: bool = False,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write each ``name.safetensors``, the config and the card to a staging folder, then move it to ``path``.

    ``extra(staging_dir)`` may write more files (an encoder's weights) before the move. A write that fails (a full
    disk, say) is an OutputError, and any previous model at ``path`` is kept.
    """
    from safetensors.torch import save_file

    path = Path(path)
    check_output_folder(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.staging-", dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; a model folder is as readable as any other
    try:
        for name, state in tensors.items():
            save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, staging / f"{name}.safetensors")
        if extra is not None:
            extra(staging)
        files = {str(f.relative_to(staging)): sha256_of(f) for f in sorted(staging.rglob("*")) if f.is_file()}
        full_config = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **config, "files": files}
        full_config["config_sha256"] = config_sha256(json.loads(json.dumps(full_config, default=plain)))
        (staging / CONFIG_FILE).write_text(json.dumps(full_config, indent=2, default=plain) + "\n", encoding="utf-8")
        (staging / CARD_FILE).write_text(card, encoding="utf-8")
        for written in staging.rglob("*"):  # safetensors writes its files owner-only
            written.chmod((0o777 if written.is_dir() else 0o666) & ~umask)
        _move_into_place(staging, path)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, (OSError, SafetensorError)):
            reason = getattr(exc, "strerror", None) or str(exc).strip().splitlines()[0]
            raise OutputError(
                f"could not write the model to {path} ({reason}); free some disk space or choose another "
                "--out (a model already there is kept)"
            ) from None
        raise
    return path


RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2``); False where the OS or filesystem cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_cwd = -100
    return renameat2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), RENAME_EXCHANGE) == 0


def _move_into_place(staging: Path, path: Path) -> None:
    """Rename ``staging`` to ``path``; a model already there is exchanged with it in one step, so no moment exists
    without a model at ``path``. Without an atomic exchange, the old model is renamed aside first: a crash between
    the two renames leaves it at ``.NAME.replaced``, which ``recover`` puts back."""
    if not path.exists():
        staging.rename(path)
        return
    if _exchange(staging, path):
        shutil.rmtree(staging, ignore_errors=True)  # now the old model
        return
    old = aside(path)
    shutil.rmtree(old, ignore_errors=True)
    path.rename(old)
    try:
        staging.rename(path)
    except OSError:
        old.rename(path)  # put the previous model back
        raise
    shutil.rmtree(old, ignore_errors=True)


def aside(path: Path) -> Path:
    return path.with_name(f".{path.name}.replaced")


def recover(path: Path) -> None:
    """Put back a model that a replacement interrupted between its two renames left aside (see
    ``_move_into_place``)."""
    old = aside(Path(path))
    if not Path(path).exists() and is_model_folder(old):
        old.rename(path)
        warn(f"{path} was left aside by an interrupted save; restored it")


def read_config(path: str | Path) -> dict:
    """The model's ``headstart.json``, after checking that this is a headstart model this version can read."""
    path = Path(path)
    recover(path)
    if not path.is_dir():
        raise ModelFormatError(f"model folder not found: {path}; pass a folder written by `headstart train`")
    if not is_model_folder(path):
        raise ModelFormatError(
            f"{path} is not a headstart model (no {CONFIG_FILE}); pass a folder written by `headstart train`"
        )
    try:
        config = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"{path / CONFIG_FILE} cannot be read ({exc}); retrain the model") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        raise ModelFormatError(
            f"{path / CONFIG_FILE} is not a headstart model config; pass a folder written by `headstart train`"
        )
    if config.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(
            f"{path} has model format version {config.get('format_version')}, "
            f"this headstart reads version {FORMAT_VERSION}; "
            "retrain the model or use the headstart version that wrote it"
        )
    check_files(path, config)
    return config


def check_files(path: Path, config: dict) -> None:
    """Refuse a config or a file whose sha256 is not the one recorded at save (folders saved before checksums were
    recorded have none to check)."""
    if "config_sha256" in config and config_sha256(config) != config["config_sha256"]:
        raise ModelFormatError(
            f"{path / CONFIG_FILE} was changed after the model was saved (its sha256 differs); "
            "restore it, or retrain the model"
        )
    for name, expected in config.get("files", {}).items():
        file = path / name
        if not file.is_file():
            raise ModelFormatError(f"{file} is missing; the model folder is incomplete, retrain it")
        if sha256_of(file) != expected:
            raise ModelFormatError(
                f"{file} was changed or damaged after the model was saved (its sha256 differs); "
                "restore it, or retrain the model"
            )


def read_tensors(path: str | Path, name: str) -> dict[str, torch.Tensor]:
    import torch
    from safetensors.torch import load_file

    file = Path(path) / f"{name}.safetensors"
    if not file.is_file():
        raise ModelFormatError(f"{file} is missing; the model folder is incomplete, retrain it")
    try:
        tensors = load_file(file)
    except Exception as exc:  # safetensors raises its own error types for a damaged file
        raise ModelFormatError(f"{file} is damaged ({exc}); retrain the model") from None
    broken = next((k for k, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all()), None)
    if broken is not None:
        raise ModelFormatError(f"{file} holds values that are not finite numbers (in {broken}); retrain the model")
    return tensors
