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
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

#: glibc mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: bytes: blocks below this come from the heap; free memory above this at the top is trimmed
THRESHOLD = 1 << 30

_done = False


def retain_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds to 1 GiB (once per process).  Returns True when set."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("MGBARRIER_SYSTEM_MALLOC", "") not in ("", "0"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries: no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, THRESHOLD))
    return _done
