"""Million-atom frames predicted one after another in one process, with and without freed memory
held between them (mgbarrier.allocator.hold_freed_memory, what `mgbarrier predict` does over the
frames of a file): wall, user and system CPU time, page faults and peak RSS of each frame.
Only test0's structure is used (tiled 7x7x7), never its labels.

    OMP_NUM_THREADS=2 python benchmarks/frames_hold.py --frames 3 [--no-hold]

With ``--no-hold`` each prediction still holds its own freed memory until it ends (a prediction
above the 1 GiB retain threshold does, since 6b11ef3); the "not held" rows of
benchmarks/results/predict_speed.md were measured before that, so they show more faults.
"""
from __future__ import annotations

import argparse
import contextlib
import resource
import sys
import time
from pathlib import Path

STRUCTURE = Path(__file__).resolve().parents[2] / "shared" / "data" / "symgnn-cu64zr36" / "test0.pickle"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--tile", type=int, default=7)
    ap.add_argument("--max-memory", type=float, default=8.0)
    ap.add_argument("--no-hold", action="store_true")
    ap.add_argument("--structure", type=Path, default=STRUCTURE)
    args = ap.parse_args(argv)
    if not args.structure.exists():
        print(f"frames_hold: {args.structure}: not found (the shared dataset is needed)", file=sys.stderr)
        return 2
    from mgbarrier import load_model
    from mgbarrier.allocator import hold_freed_memory
    from mgbarrier.io.symgnn_pickle import read_symgnn_pickle
    from mgbarrier.models.chunked import set_max_memory

    base = read_symgnn_pickle(args.structure)
    big = base.repeat((args.tile,) * 3)
    model = load_model("cu64zr36-symgnn")
    set_max_memory(model, args.max_memory)
    model.predict(base)
    label = "not held" if args.no_hold else "held"
    with contextlib.nullcontext() if args.no_hold else hold_freed_memory():
        for k in range(args.frames):
            r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            model.predict(big)
            wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
            print(f"{label} frame {k}: wall {wall:.1f} s, user {r1.ru_utime - r0.ru_utime:.1f} s, system "
                  f"{r1.ru_stime - r0.ru_stime:.1f} s, page faults {r1.ru_minflt - r0.ru_minflt:,}, "
                  f"peak RSS {r1.ru_maxrss // 1024:,} MiB", flush=True)
    print(f"Reproduce: `OMP_NUM_THREADS=2 python benchmarks/frames_hold.py --frames {args.frames} --tile {args.tile}"
          + (f" --max-memory {args.max_memory:g}" if args.max_memory != 8.0 else "")
          + (" --no-hold" if args.no_hold else "") + "`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
