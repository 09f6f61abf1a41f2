#!/usr/bin/env python
"""A/B of ARTn settings on the same glass, atoms and seeds (issue 17).

    OMP_NUM_THREADS=1 python benchmarks/label_glass_ab.py --name base --searches 24 --seed 7
    OMP_NUM_THREADS=1 python benchmarks/label_glass_ab.py --name th01 --set eigen_th_well=-0.1 --searches 24 --seed 7
    OMP_NUM_THREADS=1 python benchmarks/label_glass_ab.py --name local8 --set local_force_radius=8 --searches 24 --seed 7
    python benchmarks/label_glass_ab.py --compare base local8      # same atoms accepted in both: barriers

With ``local_force_radius`` set the searches run in a local force region (a second LAMMPS
engine holds each search's sub-system, as in ``mgbarrier label``).  ``--compare A B`` pairs the
searches of two variants by atom and, for those accepted in both, prints the barrier
difference and whether both found the same saddle (cosine of the saddle displacements of the
atoms that moved more than 0.1 Å, >= 0.9).

Uses the glass that ``benchmarks/label_glass.py`` made (same ``--workdir`` layout), relaxes it
as ``run_labelling`` does, picks ``random:N`` atoms with ``--seed`` and gives search 0 of each
atom the seed ``search_seed(seed, atom, 0)`` (what ``mgbarrier label`` would), so two variants
see the same atoms, kicks and Lanczos start vectors.  Writes one JSON line per search to
``<workdir>/ab/<name>.jsonl`` (resumable) and prints acceptance, force calls and CPU seconds
per search and per accepted search; ``--summary A B ...`` compares finished variants.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def summarise(path: Path) -> dict:
    recs = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
    n = len(recs)
    acc = [r for r in recs if r["accepted"]]
    cpu = sum(r["cpu_seconds"] for r in recs)
    calls = sum(r["force_calls"] for r in recs)
    reasons = {}
    for r in recs:
        if not r["accepted"]:
            reasons[r["reason"][:24]] = reasons.get(r["reason"][:24], 0) + 1
    st = {k: np.mean([r.get(k) or 0 for r in recs]) for k in ("calls_well", "calls_saddle", "calls_confirm")}
    return {"name": path.stem, "n": n, "acc": len(acc), "cpu_s": cpu / max(n, 1), "calls": calls / max(n, 1),
            "cpu_per_acc": cpu / max(len(acc), 1), "calls_per_acc": calls / max(len(acc), 1),
            "stages": (st["calls_well"], st["calls_saddle"], st["calls_confirm"]), "reasons": reasons,
            "barriers": sorted(round(r["barrier"], 3) for r in acc)}


def _saddle_vector(rec: dict) -> dict:
    return {int(i): np.array(d) for i, d in rec.get("sad_moved") or []}


def compare(a: Path, b: Path) -> str:
    """Per-atom pairs of two variants (searches accepted in both): barrier differences (eV)."""
    ra = {r["atom_id"]: r for r in (json.loads(ln) for ln in a.read_text().splitlines() if ln.strip())}
    rb = {r["atom_id"]: r for r in (json.loads(ln) for ln in b.read_text().splitlines() if ln.strip())}
    both = sorted(k for k in ra if k in rb and ra[k]["accepted"] and rb[k]["accepted"])
    lines, same_d, other_d = [], [], []
    for k in both:
        va, vb = _saddle_vector(ra[k]), _saddle_vector(rb[k])
        keys = sorted(set(va) | set(vb))
        xa = np.concatenate([va.get(i, np.zeros(3)) for i in keys]) if keys else np.zeros(3)
        xb = np.concatenate([vb.get(i, np.zeros(3)) for i in keys]) if keys else np.zeros(3)
        cos = float(xa @ xb / max(np.linalg.norm(xa) * np.linalg.norm(xb), 1e-12))
        d = rb[k]["barrier"] - ra[k]["barrier"]
        (same_d if cos >= 0.9 else other_d).append(d)
        lines.append(f"  atom {k}: {ra[k]['barrier']:.4f} -> {rb[k]['barrier']:.4f} eV ({d:+.4f}), saddle cosine "
                     f"{cos:.3f}" + ("" if cos >= 0.9 else " (another saddle)"))
    n_acc = (sum(r["accepted"] for r in ra.values()), sum(r["accepted"] for r in rb.values()))
    head = (f"{a.stem} vs {b.stem}: {len(ra)} / {len(rb)} searches, accepted {n_acc[0]} / {n_acc[1]}, in both "
            f"{len(both)}, same saddle {len(same_d)}")
    if same_d:
        sd = np.array(same_d)
        head += f"; same saddle: barrier difference mean {sd.mean():+.4f}, max |.| {np.abs(sd).max():.4f} eV"
    return "\n".join([head] + lines)


def show(s: dict) -> str:
    w, c, f = s["stages"]
    return (f"{s['name']:>14}: {s['acc']:2d}/{s['n']:2d} accepted, {s['calls']:5.0f} calls ({w:.0f}, {c:.0f}, {f:.0f}) "
            f"{s['cpu_s']:5.1f} s / search, {s['cpu_per_acc']:6.1f} s / accepted, "
            f"{1e3 * s['cpu_s'] / max(s['calls'], 1):.2f} ms / call; {s['reasons']}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--name", default="base")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="ArtnSettings field")
    p.add_argument("--natoms", type=int, default=2000)
    p.add_argument("--rate", type=float, default=1e14)
    p.add_argument("--glass-seed", type=int, default=1)
    p.add_argument("--searches", type=int, default=24)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--atoms", default=None, help="atom ids ID,ID,... instead of random:SEARCHES (still seeded by --seed)")
    p.add_argument("--workdir", default="/tmp/mgbarrier_label_glass")
    p.add_argument("--summary", nargs="*", help="only print the summaries of these variants")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="only compare two finished variants")
    args = p.parse_args(argv)
    work = Path(args.workdir) / f"n{args.natoms}_r{args.rate:g}_s{args.glass_seed}"
    ab = work / "ab"
    ab.mkdir(parents=True, exist_ok=True)
    if args.summary is not None:
        for name in args.summary:
            print(show(summarise(ab / f"{name}.jsonl")))
        return 0
    if args.compare:
        print(compare(ab / f"{args.compare[0]}.jsonl", ab / f"{args.compare[1]}.jsonl"))
        return 0

    from mgbarrier.io.lammps_data import read_lammps_data
    from mgbarrier.md import LammpsEngine, Potential
    from mgbarrier.saddles import ArtnSettings
    from mgbarrier.saddles.local import local_artn_search
    from mgbarrier.saddles.run import FMAX_RELAX, search_seed, select_atoms
    from mgbarrier.saddles.search import artn_search

    atoms = read_lammps_data(work / "glass.data")
    pot = Potential.from_options("eam/fs", ["* * CuZr_mm.eam.fs Cu Zr"])
    kw = dict(kv.split("=", 1) for kv in args.set)
    settings = ArtnSettings.from_dict({**ArtnSettings().to_dict(), **kw})
    ids = select_atoms(args.atoms or f"random:{args.searches}", atoms, args.seed)
    out = ab / f"{args.name}.jsonl"
    done = {json.loads(ln)["atom_id"] for ln in out.read_text().splitlines() if ln.strip()} if out.exists() else set()
    all_ids = np.asarray(atoms.arrays["id"]) if "id" in atoms.arrays else np.arange(1, len(atoms) + 1)
    with LammpsEngine(atoms, pot) as eng, LammpsEngine(atoms, pot) as region:
        x0, e0, _, _ = eng.minimize(atoms.positions, fmax=FMAX_RELAX, max_steps=20000)
        e0, _ = eng.energy_forces(x0)
        relaxed = atoms.copy()
        relaxed.positions = x0
        for a in ids:
            if a in done:
                continue
            idx = int(np.flatnonzero(all_ids == a)[0])
            trace = []
            eng.restart()           # as mgbarrier label does: a search does not depend on the ones before
            rng = np.random.default_rng(search_seed(args.seed, a, 0))
            if settings.local_force_radius > 0:
                res = local_artn_search(region, relaxed, x0, idx, settings.local_force_radius, rng=rng,
                                        settings=settings, e0=e0, keep_positions=True, log=trace.append,
                                        refine=eng if settings.local_force_refine else None)
            else:
                res = artn_search(eng, x0, idx, rng=rng, settings=settings, e0=e0, cell=atoms.cell.array,
                                  pbc=atoms.pbc, keep_positions=True, log=trace.append)
            moved = []
            if res.x_saddle is not None:       # the saddle's displacement, to tell the same saddle in two variants
                dx = res.x_saddle - x0
                moved = [[int(i), [round(float(v), 4) for v in dx[i]]]
                         for i in np.flatnonzero(np.linalg.norm(dx, axis=1) > 0.1)]
            rec = {"atom_id": int(a), **res.to_record(), "sad_moved": moved, "trace": trace}
            with open(out, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            print(f"{time.strftime('%H:%M:%S')} atom {a}: {res.reason[:40]:40s} Eb {res.barrier:.3f} "
                  f"calls {res.force_calls} cpu {res.cpu_seconds:.1f} e_well {res.e_well:.2f} "
                  f"dr_well {res.dr_well:.2f} emin {res.e_min_climb:.2f} region {res.n_free}/{res.n_region}", flush=True)
    print(show(summarise(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
