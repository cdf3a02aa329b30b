"""The model folder: ``headstart.json`` + ``*.safetensors`` + a ``README.md`` card, written atomically.

A folder is staged beside its destination and renamed into place, so a crash never leaves half a model.
Only safetensors and JSON are ever read back: nothing in a model folder is unpickled.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .errors import ModelFormatError, OutputExistsError

FORMAT_NAME = "headstart-model"
FORMAT_VERSION = 1
CONFIG_FILE = "headstart.json"


def is_model_folder(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file()


def check_output_folder(path: Path, force: bool) -> None:
    """Refuse to write over an existing path unless forced; even forced, only a model folder is replaced. Checked
    before training, as is a file where a folder above it would go."""
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


def write_model_folder(
    path: str | Path,
    config: dict,
    tensors: dict[str, dict[str, torch.Tensor]],
    card: str,
    force: bool = False,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write config, each ``name.safetensors`` and the card to a staging folder, then rename it to ``path``.

    ``extra(staging_dir)`` may write more files (an encoder's weights) before the rename.
    """
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
        full_config = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **config}
        (staging / CONFIG_FILE).write_text(json.dumps(full_config, indent=2, default=plain) + "\n", encoding="utf-8")
        (staging / "README.md").write_text(card, encoding="utf-8")
        for written in staging.rglob("*"):  # safetensors writes its files owner-only
            written.chmod((0o777 if written.is_dir() else 0o666) & ~umask)
        if path.exists():
            old = path.with_name(f".{path.name}.replaced")
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
            try:
                staging.rename(path)
            except OSError:
                old.rename(path)  # put the previous model back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def read_config(path: str | Path) -> dict:
    """The model's ``headstart.json``, after checking that this is a headstart model this version can read."""
    path = Path(path)
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
    return config


def read_tensors(path: str | Path, name: str) -> dict[str, torch.Tensor]:
    file = Path(path) / f"{name}.safetensors"
    if not file.is_file():
        raise ModelFormatError(f"{file} is missing; the model folder is incomplete, retrain it")
    try:
        return load_file(file)
    except Exception as exc:  # safetensors raises its own error types for a damaged file
        raise ModelFormatError(f"{file} is damaged ({exc}); retrain the model") from None
