"""Keep freed memory in the process heap instead of handing it back to the kernel at once.

Inference allocates and frees the same large temporaries (MBs per edge slice) thousands of
times.  glibc serves blocks above its mmap threshold with fresh ``mmap`` pages and returns them
on free, so every slice pays page faults and page zeroing: on 2 cores a third of the time of a
large SymGNN prediction was system time (benchmarks/results/predict_speed.md).  Raising the mmap
and trim thresholds to 1 GiB makes those blocks come from, and go back to, the heap: the peak
memory is unchanged (the same blocks are live at the peak), only up to 1 GiB of freed memory may
stay with the process between predictions.

:func:`retain_freed_memory` is called once when a model is loaded; ``MGBARRIER_SYSTEM_MALLOC=1``
leaves the C library's defaults alone.  On anything but glibc it does nothing.

Blocks above 1 GiB (a million atoms' edge states: 4 GB) are still mapped afresh, and the heap
above 1 GiB of free memory is still handed back, so every prediction of a huge structure faults
its memory in again.  :func:`hold_freed_memory` keeps everything for a series of predictions:
no mapped blocks, no trimming; the free memory is handed back when it ends.  ``mgbarrier
predict`` holds it over the frames of a file, a prediction worker of a Dask LocalCluster we
started for its life (:func:`hold_memory_for_process`), and a single prediction whose blocks
outgrow the threshold until it ends (:mod:`mgbarrier.models.chunked`; not handed back then).
A page fault costs ~0.25 µs per 4 KiB page on bare metal, and 10-20 µs on a virtual machine
whose host backs guest memory on first use (the development machine: 13-31 s of system time in
a cold million-atom prediction, under 3 s in the later frames of a held series;
benchmarks/results/predict_speed.md).
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import sys
from typing import Iterator

#: glibc mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4
#: glibc's default M_MMAP_MAX (blocks that may be mapped at once)
DEFAULT_MMAP_MAX = 65536
#: bytes: blocks below this come from the heap; free memory above this at the top is trimmed
THRESHOLD = 1 << 30

#: environment variable: "1" in the worker processes of a Dask LocalCluster that mgbarrier
#: starts (:mod:`mgbarrier.cluster`); a prediction worker then holds freed memory for its life
HOLD_MEMORY_ENV = "MGBARRIER_HOLD_MEMORY"

_done = False
_held = 0  # depth of nested holds (hold_freed_memory blocks, and one for the process)
_held_for_process = False  # hold_memory_for_process() is in effect


@functools.lru_cache(maxsize=1)
def _libc():
    """The C library through ctypes (looked up once: ``find_library`` runs ldconfig), or None."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def _mallopt():
    """glibc's ``mallopt`` through ctypes, or None (another C library, or opted out)."""
    if not sys.platform.startswith("linux") or os.environ.get("MGBARRIER_SYSTEM_MALLOC", "") not in ("", "0"):
        return None
    mallopt = getattr(_libc(), "mallopt", None)  # musl and other C libraries: no mallopt
    if mallopt is None:
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt


def retain_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds to 1 GiB (once per process).  Returns True when set."""
    global _done
    if _done:
        return True
    mallopt = _mallopt()
    if mallopt is None:
        return False
    _done = bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, THRESHOLD))
    return _done


def _malloc_trim() -> None:
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim.argtypes = [ctypes.c_size_t]
        trim(0)


def _enter_hold() -> bool:
    """One level of hold deeper (the settings change at the first); True when in effect."""
    global _held
    mallopt = _mallopt() if retain_freed_memory() else None
    if mallopt is None:
        return False
    if _held == 0:
        mallopt(M_MMAP_MAX, 0)
        mallopt(M_TRIM_THRESHOLD, -1)  # -1: never trim
    _held += 1
    return True


def hold_memory_for_process() -> bool:
    """Keep all freed memory for the rest of the process (a worker that only predicts frames,
    e.g. of a Dask LocalCluster of ours).  Returns True when in effect.  Calling it again (a
    worker loading its next model) changes nothing."""
    global _held_for_process
    if not _held_for_process:
        _held_for_process = _enter_hold()
    return _held_for_process


@contextlib.contextmanager
def hold_freed_memory(release: bool = True) -> Iterator[bool]:
    """Within the block, freed memory stays with the process for the next prediction to reuse:
    no block is mapped on its own (all come from the heap) and the heap is never trimmed.  On
    leaving the outermost block the settings of :func:`retain_freed_memory` come back and, with
    ``release``, the free memory is handed back to the kernel (``malloc_trim``; without, the heap
    keeps what the retain settings keep, so that a next large prediction need not fault it all
    in again).  Yields whether it is in effect (glibc, not opted out)."""
    global _held
    held = _enter_hold()
    try:
        yield held
    finally:
        if held:
            _held -= 1
            mallopt = _mallopt() if _held == 0 else None
            if mallopt is not None:
                mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
                mallopt(M_TRIM_THRESHOLD, THRESHOLD)
                if release:
                    _malloc_trim()
