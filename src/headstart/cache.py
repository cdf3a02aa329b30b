"""EmbeddingCache: every text's pooled per-layer vectors, stored once, because θ never changes.

SQLite in WAL mode, so several processes may read and write at once. A row's key is (namespace, sha256 of
the text), where the namespace is ``FeatureSpec.namespace``: the encoder's weights and tokenizer fingerprints and how
texts are encoded (pooling, max_length, instruction, precision). The layer choice is not in the key: every layer's
vector is stored, and chosen afterwards. Each row carries a checksum of its bytes. Whatever goes wrong with the file,
the answer is a warning and a fresh encode, never a wrong vector and never a crash. A cache this process may not write
(its file or folder write-protected) is read, and new vectors are not saved.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import warn

_SCHEMA = """CREATE TABLE IF NOT EXISTS vectors (
    namespace TEXT NOT NULL, text_sha TEXT NOT NULL, shape TEXT NOT NULL, data BLOB NOT NULL, digest TEXT NOT NULL,
    PRIMARY KEY (namespace, text_sha)) WITHOUT ROWID"""
_CHUNK = 500
_SQLITE_READONLY = 8  # the primary result code of every "attempt to write a readonly database"
_MAKE_WRITABLE = "make it writable, or choose another cache folder (HEADSTART_CACHE)"


def default_cache_dir() -> Path:
    """``$HEADSTART_CACHE`` if set, else ``~/.cache/headstart``."""
    return Path(os.environ.get("HEADSTART_CACHE") or Path.home() / ".cache" / "headstart")


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _digest(shape: str, data: bytes) -> str:
    return hashlib.sha256(shape.encode() + b"|" + data).hexdigest()[:32]


def _is_read_only(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF == _SQLITE_READONLY if code is not None else "readonly database" in str(exc)


def _is_empty(exc: sqlite3.Error) -> bool:
    """A database without the table (SQLite reads a zero-length file as an empty database)."""
    return "no such table" in str(exc)


class EmbeddingCache:
    """A persistent store of encoder outputs; ``hits`` and ``misses`` count lookups since creation."""

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.path = self.directory / "embeddings.sqlite"
        self.hits = 0
        self.misses = 0
        self._conn: sqlite3.Connection | None = None
        self._disabled = False
        self._read_only = False
        self._told_read_only = False

    def _warn(self, message: str) -> None:
        warn(f"embedding cache {self.path}: {message}")

    def _connect(self) -> sqlite3.Connection | None:
        if self._conn is not None or self._disabled:
            return self._conn
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30)
        except (sqlite3.DatabaseError, OSError) as exc:
            return self._disable(f"cannot be used ({exc}); encoding without it")
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            conn.commit()
        except sqlite3.DatabaseError as exc:
            conn.close()
            if _is_read_only(exc) and self.path.exists():
                return self._connect_read_only()
            if not self._is_corruption(exc):
                return self._disable(f"cannot be used ({exc}); encoding without it")
            self._move_aside(exc)
            return self._connect()
        self._conn = conn
        return conn

    def _connect_read_only(self) -> sqlite3.Connection | None:
        """Read a database this process may not write. ``immutable`` reads a WAL database whose folder is
        write-protected, where SQLite cannot make the shared-memory file that ``mode=ro`` needs."""
        self._read_only = True
        uri = self.path.resolve().as_uri()
        for mode in ("mode=ro", "immutable=1"):
            try:
                conn = sqlite3.connect(f"{uri}?{mode}", uri=True, timeout=30)
            except sqlite3.DatabaseError as exc:
                return self._disable(f"is read-only and cannot be opened ({exc}); encoding without it")
            try:
                conn.execute("SELECT 1 FROM vectors LIMIT 1").fetchall()
            except sqlite3.DatabaseError as exc:
                conn.close()
                if _is_read_only(exc):
                    continue
                if _is_empty(exc):  # nothing to read; put_many says that nothing is saved
                    self._disabled = True
                    return None
                return self._disable(f"is read-only and cannot be read ({exc}); encoding without it")
            self._conn = conn
            return conn
        return self._disable("is read-only and cannot be read; encoding without it")

    def _tell_read_only(self) -> None:
        if not self._told_read_only:
            self._told_read_only = True
            self._warn(f"is read-only: its vectors are read, but new ones are not saved; {_MAKE_WRITABLE}")

    @staticmethod
    def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
        text = str(exc).lower()
        return "not a database" in text or "malformed" in text or "corrupt" in text

    def _disable(self, message: str) -> None:
        self._warn(message)
        self._disabled = True
        self.close()
        return None

    def _move_aside(self, exc: Exception) -> None:
        self.close()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        try:
            for suffix in ("", "-wal", "-shm"):
                part = Path(f"{self.path}{suffix}")
                if part.exists():
                    part.rename(Path(f"{self.path}.corrupt-{stamp}{suffix}"))
        except OSError as move_exc:
            self._disable(f"is corrupt ({exc}) and could not be moved aside ({move_exc}); encoding without it")
            return
        self._warn(f"is corrupt ({exc}); moved it aside to {self.path.name}.corrupt-{stamp} and recomputing vectors")

    def _run(self, action):
        """Run action(conn); on corruption move the file aside, on any other failure skip the cache."""
        conn = self._connect()
        if conn is None:
            return None
        try:
            return action(conn)
        except sqlite3.DatabaseError as exc:
            if _is_read_only(exc):
                self._read_only = True
                self._tell_read_only()
            elif self._is_corruption(exc) and not self._read_only:
                self._move_aside(exc)
            else:  # a read-only file stays where it is: it may be sound, read (immutable) while another process writes
                self._warn(f"skipped ({exc})")
            return None

    def get_many(self, namespace: str, shas: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors for these text hashes; rows that fail their checksum are left out (recomputed)."""

        def read(conn: sqlite3.Connection) -> dict[str, np.ndarray]:
            found: dict[str, np.ndarray] = {}
            bad = 0
            unique = list(dict.fromkeys(shas))
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT text_sha, shape, data, digest FROM vectors WHERE namespace=? AND text_sha IN ({marks})",
                    [namespace, *chunk],
                )
                for sha, shape, data, digest in rows:
                    if _digest(shape, data) != digest:
                        bad += 1
                        continue
                    found[sha] = np.frombuffer(data, dtype=np.float32).reshape(json.loads(shape))
            if bad:
                self._warn(f"{bad} stored vectors failed their checksum; recomputing them")
            return found

        found = self._run(read) or {}
        self.hits += len(found)
        self.misses += len(set(shas)) - len(found)
        return found

    def put_many(self, namespace: str, vectors: dict[str, np.ndarray]) -> None:
        """Store these vectors; a read-only cache keeps none of them (said once)."""
        if self._read_only:
            self._tell_read_only()
            return

        def write(conn: sqlite3.Connection) -> None:
            rows = []
            for sha, vector in vectors.items():
                data = np.ascontiguousarray(vector, dtype=np.float32).tobytes()
                shape = json.dumps(list(vector.shape))
                rows.append((namespace, sha, shape, data, _digest(shape, data)))
            with conn:
                conn.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?, ?)", rows)

        self._run(write)

    def files(self) -> list[Path]:
        """The database, its write-ahead log and shared-memory files, and corrupt copies moved aside."""
        return sorted(self.directory.glob(f"{self.path.name}*"))

    def info(self) -> dict:
        """Where the cache is, its size on disk, and how many texts' vectors it holds (for how many feature configs).
        Changes nothing, so a damaged file is reported (``corrupt``), not moved aside; ``read_only``: this process
        may read the vectors but not add any; ``unreadable``: why it cannot be read, when not for damage."""
        found = {
            "path": str(self.path),
            "bytes": sum(part.stat().st_size for part in self.files()),
            "vectors": 0,
            "feature_configs": 0,
            "corrupt": False,
            "read_only": False,
            "unreadable": None,
        }
        if not self.path.exists():
            return found
        found["read_only"] = not (os.access(self.path, os.W_OK) and os.access(self.directory, os.W_OK))
        uri = self.path.resolve().as_uri()
        for mode in ("mode=ro", "immutable=1"):  # as in _connect_read_only
            try:
                conn = sqlite3.connect(f"{uri}?{mode}", uri=True, timeout=30)
                try:
                    found["vectors"], found["feature_configs"] = conn.execute(
                        "SELECT COUNT(*), COUNT(DISTINCT namespace) FROM vectors"
                    ).fetchone()
                finally:
                    conn.close()
            except sqlite3.DatabaseError as exc:
                if _is_read_only(exc):
                    found["read_only"] = True
                    continue
                if self._is_corruption(exc):
                    found["corrupt"] = True
                elif not _is_empty(exc):
                    found["unreadable"] = str(exc)
            break
        else:
            found["unreadable"] = "SQLite cannot open it read-only"
        return found

    def clear(self) -> int:
        """Delete the cache's files (see ``files``); returns the bytes freed. Vectors are recomputed when next
        needed."""
        self.close()
        freed = 0
        for part in self.files():
            freed += part.stat().st_size
            part.unlink()
        return freed

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
