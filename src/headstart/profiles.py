"""What a fit or predict needs to know of an encoder without loading it, kept per model folder.

The weights' fingerprint is a hash over every tensor: loading and hashing them takes seconds for a base-sized encoder,
yet a warm fit, whose vectors are all cached, needs nothing else of the weights. So the first load records the
fingerprints, sizes and token limits, and later processes read them back while every file in the folder has the same
name, size and modification time, and torch and transformers (which decide how the files load) the same versions.
A missing, damaged or unwritable record costs only speed: the encoder is loaded and hashed as before.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import tempfile
from pathlib import Path

from .cache import default_cache_dir

FIELDS = (
    "fingerprint",
    "tokenizer_fingerprint",
    "num_layers",
    "hidden_size",
    "max_positions",
    "parameters",
    "special_tokens",
    "tokenizer_model",
)


def folder_state(source: str) -> dict | None:
    """Each file's size and modification time in a local model folder, with the loaders' versions; None for a Hub
    id, which is not a folder."""
    folder = Path(source)
    if not folder.is_dir():
        return None
    files = {}
    for path in sorted(folder.iterdir()):
        if path.is_file():
            stat = path.stat()
            files[path.name] = [stat.st_size, stat.st_mtime_ns]
    versions = {}
    for package in ("torch", "transformers"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {"folder": str(folder.resolve()), "files": files, "versions": versions}


def _record(state: dict) -> Path:
    name = hashlib.sha256(state["folder"].encode()).hexdigest()[:32]
    return default_cache_dir() / "encoder-profiles" / f"{name}.json"


def read(state: dict | None) -> dict | None:
    """The profile recorded for a folder in exactly this state, or None."""
    if state is None:
        return None
    try:
        record = json.loads(_record(state).read_text(encoding="utf-8"))
        profile = record["profile"]
        if record["state"] == state and all(field in profile for field in FIELDS):
            return profile
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def write(state: dict, profile: dict) -> None:
    """Record the profile of a folder in this state, atomically; a cache folder that cannot be written is skipped."""
    target = _record(state)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump({"state": state, "profile": {field: profile[field] for field in FIELDS}}, out)
        os.replace(temporary, target)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
