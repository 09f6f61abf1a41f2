#!/usr/bin/env python
"""What first touching fresh memory costs on this machine (issue 18): maps ``--gb`` GB of
anonymous memory, optionally asks for transparent huge pages (``madvise(MADV_HUGEPAGE)``),
writes one byte per 4 KiB page and prints the wall time, the system CPU time and the page
faults.  On a virtual machine whose host backs guest memory on first use this cost decides
how long a million-atom prediction's first pass over its ~7 GB takes.

    python benchmarks/first_touch.py --gb 2 [--huge]
"""
from __future__ import annotations

import argparse
import ctypes
import mmap
import resource
import sys
import time

import numpy as np

MADV_HUGEPAGE = 14


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gb", type=float, default=2.0)
    p.add_argument("--huge", action="store_true", help="madvise(MADV_HUGEPAGE) first")
    args = p.parse_args(argv)
    size = int(args.gb * (1 << 30)) // 4096 * 4096
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    buf = ctypes.c_char.from_buffer(m)
    if args.huge:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.madvise(ctypes.c_void_p(ctypes.addressof(buf)), ctypes.c_size_t(size), MADV_HUGEPAGE) != 0:
            print(f"madvise failed: errno {ctypes.get_errno()}")
            return 1
    pages = np.frombuffer(m, dtype=np.uint8)
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    pages[::4096] = 1
    t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    faults = r1.ru_minflt - r0.ru_minflt
    print(f"{args.gb:g} GB, {'huge pages asked' if args.huge else '4 KiB pages'}: {t1 - t0:.2f} s, system "
          f"{r1.ru_stime - r0.ru_stime:.2f} s, {faults} page faults, {1e6 * (t1 - t0) / (size / 4096):.2f} µs "
          "per 4 KiB")
    del pages, buf
    m.close()
    print("Reproduce: python benchmarks/first_touch.py " + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
