#!/usr/bin/env python
"""Does the descriptor model gain from inherent structures or from the dataset's per-atom
physics columns?  (issue 19; train0-6 only, test0/test1 are not read.)

1. ``--potential``: every training glass (train0-6) is quenched to its nearest minimum with that
   LAMMPS potential (fixed cell, fmax 1e-3 eV/Å; cached as ``.npz`` under ``--cache``), the
   descriptor model (shipped settings, ridge alpha on train6) is refitted on the quenched
   train0-5 and scored on the quenched train6, beside the same fit on the published positions.
2. Always: Pearson of the dataset's per-atom ``pot`` / ``press`` / ``von`` columns with the
   labels and with the published-position fit's train6 residuals (overall and per species):
   whether those quantities carry what the structure descriptor misses.

    OMP_NUM_THREADS=1 python benchmarks/descriptor_inherent.py --potential eam/fs '* * CuZr_mm.eam.fs Cu Zr'
    OMP_NUM_THREADS=1 python benchmarks/descriptor_inherent.py --tag sheng --potential eam/alloy \\
        '* * ../shared/fixtures/lammps-artn-cu64zr36/ZrCu.lammps.eam Cu Zr'
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "symgnn-cu64zr36"
TRAIN = [f"train{k}" for k in range(7)]


def quenched_positions(atoms, name: str, potential, cache: Path) -> np.ndarray:
    """(N, 3) Å: ``atoms`` quenched with ``potential`` (computed once, then read from ``cache``)."""
    from mgbarrier.io.files import atomic_write
    from mgbarrier.md.quench import quench

    path = cache / f"{name}.npz"
    if path.exists():
        return np.load(path)["positions"]
    t0 = time.perf_counter()
    res = quench(atoms, potential, fmax=1e-3, max_steps=20000)
    d = res.atoms.positions - atoms.positions
    print(f"  {name}: quenched in {res.steps} steps ({time.perf_counter() - t0:.0f} s), "
          f"{(res.energy_final - res.energy_initial) / len(atoms):+.4f} eV/atom, "
          f"rms displacement {np.sqrt((d * d).sum(1).mean()):.3f} Å", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: np.savez(open(tmp, "wb"), positions=res.atoms.positions))
    return res.atoms.positions


def fit(glasses: dict) -> tuple:
    """Descriptor fit on train0-5, alpha on train6 -> (best train6 Pearson, alpha, train6 predictions)."""
    from mgbarrier.training.descriptor import DEFAULT_ALPHAS, fit_descriptor_model

    payload, rep = fit_descriptor_model([glasses[f"train{k}"] for k in range(6)], [glasses["train6"]],
                                        DEFAULT_ALPHAS, progress=lambda msg: None)
    return max(rep["val_pearson"]), rep["alpha"], payload


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--potential", nargs=2, metavar=("PAIR_STYLE", "PAIR_COEFF"))
    ap.add_argument("--tag", default="mm", help="name of this potential's quench cache")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/mgbarrier_inherent"))
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")

    from mgbarrier import load_model
    from mgbarrier.io.symgnn_pickle import read_symgnn_pickle
    from mgbarrier.metrics import pearson
    from mgbarrier.models.checkpoint import save_checkpoint

    glasses = {n: read_symgnn_pickle(args.data / f"{n}.pickle") for n in TRAIN}
    best, alpha, payload = fit(glasses)
    print(f"published positions: train6 Pearson {best:.4f} (alpha {alpha:g})")
    ckpt = args.cache / "published_descriptor.pt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(ckpt, payload)
    val = glasses["train6"]
    pred = np.asarray(load_model(ckpt).predict(val))
    y = val.arrays["barrier"]
    resid = y - np.polyval(np.polyfit(pred, y, 1), pred)
    for key in ("pot", "press", "von"):
        v = val.arrays[key]
        line = f"  train6 {key}: r(label) {pearson(v, y):+.3f}, r(residual) {pearson(v, resid):+.3f}"
        for z, sym in ((29, "Cu"), (40, "Zr")):
            s = val.numbers == z
            line += f"; {sym}: {pearson(v[s], y[s]):+.3f} / {pearson(v[s], resid[s]):+.3f}"
        print(line)

    if args.potential:
        from mgbarrier.md import Potential

        pot = Potential.from_options(args.potential[0], [args.potential[1]])
        quenched = {}
        for n, atoms in glasses.items():
            q = atoms.copy()
            q.positions = quenched_positions(atoms, n, pot, args.cache / args.tag)
            q.wrap()
            quenched[n] = q
        best_q, alpha_q, _ = fit(quenched)
        print(f"quenched with {args.potential[0]} {args.potential[1]}: train6 Pearson {best_q:.4f} "
              f"(alpha {alpha_q:g}) vs {best:.4f} on the published positions")
    print("reproduce: OMP_NUM_THREADS=1 python benchmarks/descriptor_inherent.py "
          + (f"--tag {args.tag} --potential {args.potential[0]} '{args.potential[1]}'" if args.potential else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
