"""Inference speed and memory of a barrier model on periodic tilings of the 3,000-atom test glass.

Times ``model.predict(atoms)`` (graph building included) on test0 (3,000 atoms) and on its
2×2×2 (24,000) and 4×4×4 (192,000 atoms) periodic tilings, best of ``--repeat`` runs after
one warm-up, and reports atoms per second, so that linear scaling can be read off.  Also
checks that the tiled structures reproduce test0's barriers (a periodic tiling of a glass
is the same glass).  Only the structure of test0 is used, never its labels.

    OMP_NUM_THREADS=2 python benchmarks/predict_speed.py [--model NAME_OR_PATH] [--sizes 1 2 4 7]
        [--max-memory GB] [--device cuda]

Size 7 is 1,029,000 atoms: above the memory budget (``--max-memory``, default 4 GB) the
prediction runs in spatial domains with halos (:mod:`mgbarrier.models.chunked`), which the
tiling check then also covers.  Sizes above 30,000 atoms (``--warm-up-below``) are timed once,
without a warm-up.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from descriptor_model import hardware  # noqa: E402

DEFAULT_STRUCTURE = REPO.parent / "shared" / "data" / "symgnn-cu64zr36" / "test0.pickle"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model file or shipped name (default: the default model)")
    ap.add_argument("--structure", type=Path, default=DEFAULT_STRUCTURE)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4], help="tiling factors per axis")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-memory", type=float, default=None, help="GB (default: the package default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--hold-memory", action="store_true",
                    help="keep freed memory between the runs, as `mgbarrier predict` does between the frames of "
                         "a trajectory (mgbarrier.allocator.hold_freed_memory)")
    ap.add_argument("--warm-up-below", type=int, default=30000,
                    help="structures up to this many atoms get a warm-up and --repeat timed runs; larger ones "
                         "are timed once, cold (default 30000)")
    args = ap.parse_args(argv)

    import torch

    from mgbarrier import load_model
    from mgbarrier.allocator import hold_freed_memory
    from mgbarrier.io.symgnn_pickle import read_symgnn_pickle
    from mgbarrier.models.chunked import max_memory_gb, set_max_memory

    if not args.structure.exists():
        print(f"predict_speed: {args.structure}: not found (the shared dataset is needed)", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    model = load_model(args.model, device=args.device)
    set_max_memory(model, args.max_memory)
    t_load = time.perf_counter() - t0
    base = read_symgnn_pickle(args.structure)
    t0 = time.perf_counter()
    base_pred = model.predict(base)
    t_first = time.perf_counter() - t0
    rows = []
    with hold_freed_memory() if args.hold_memory else contextlib.nullcontext():
        for n in args.sizes:
            atoms = base.repeat((n, n, n))
            warm = len(atoms) <= args.warm_up_below
            if warm:
                model.predict(atoms)  # warm-up (radial table, allocator)
            runs = []  # (wall s, user CPU s, system CPU s, minor page faults) of each timed run
            for _ in range(args.repeat if warm else 1):
                r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
                pred = model.predict(atoms)
                wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
                runs.append((wall, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime, r1.ru_minflt - r0.ru_minflt))
            dev = float(np.abs(pred - np.tile(base_pred, n ** 3)).max())
            best = min(runs)
            rows.append((len(atoms), best[0], len(atoms) / best[0], dev,
                         resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, best[1:], warm,
                         [r[0] for r in runs]))
    name = getattr(model, "path", args.model)
    lines = [f"Model: `{Path(str(name)).name}` ({getattr(model, 'kind', '?')}); torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads; {hardware()}", "",
             f"load_model: {t_load:.2f} s; first predict on {len(base):,} atoms: {t_first:.2f} s; "
             f"memory budget {max_memory_gb(getattr(model, 'members', [model])[0]):g} GB; device {args.device}"
             + ("; freed memory held between runs (as between the frames of a trajectory)" if args.hold_memory else "")
             + ".", "",
             "| atoms | predict (s) | atoms/s | max |tiled - test0| (eV) | peak RSS so far (MB) "
             "| CPU user / system (s) | minor page faults | timed runs |",
             "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for n_atoms, t, rate, dev, rss, (user, system, faults), warm, walls in rows:
        timed = (f"best of {len(walls)} after a warm-up: " + ", ".join(f"{w:.2f}" for w in walls)) if warm \
            else "once, cold"
        lines.append(f"| {n_atoms:,} | {t:.3f} | {rate:,.0f} | {dev:.1e} | {rss:,.0f} | {user:.1f} / {system:.1f} "
                     f"| {faults:,} | {timed} |")
    lines += ["", "System time is mostly the kernel giving the process new memory (a page fault per page "
              "first touched); on a virtual machine whose host backs guest memory on first use it can be "
              "several seconds per GB."]
    lines += ["", f"Reproduce: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} python benchmarks/predict_speed.py"
              + (f" --model {args.model}" if args.model else "") + f" --sizes {' '.join(map(str, args.sizes))}"
              + (f" --max-memory {args.max_memory:g}" if args.max_memory else "")
              + (f" --warm-up-below {args.warm_up_below}" if args.warm_up_below != 30000 else "")
              + (f" --repeat {args.repeat}" if args.repeat != 3 else "")
              + (" --hold-memory" if args.hold_memory else "")
              + (f" --device {args.device}" if args.device != "cpu" else "") + "`"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
