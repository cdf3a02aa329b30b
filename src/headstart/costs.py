"""What a run costs: memory and parameter counts, measured the same way for every strategy."""

from __future__ import annotations

import ctypes
import gc
import os
import resource
import sys
import threading

from torch import nn


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def release_freed_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc), so that memory an earlier run in this
    process freed is not counted in the next one's resident memory."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: freed memory stays counted until the allocator reuses it
        pass


class PeakMemory:
    """Context manager that samples this process's resident memory and keeps the peak seen inside it (MiB).

    ``ru_maxrss`` only ever grows over a process's life, so it cannot tell one run from the one before it.
    """

    def __init__(self, interval: float = 0.01):
        self.interval = interval
        self.peak_mb = 0.0
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    @staticmethod
    def current_mb() -> float:
        try:
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
        except OSError:
            return peak_rss_mb()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, self.current_mb())

    def __enter__(self) -> PeakMemory:
        release_freed_memory()
        self.peak_mb = self.current_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self.current_mb())
