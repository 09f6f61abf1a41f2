#!/usr/bin/env python
"""Do two searches running at once slow each other down on this machine?  (issue 17)

Runs the same ARTn searches (atoms ``--atoms``, search 0 of each with ``mgbarrier label``'s
seed for ``--seed``) in one plain Python process, then in two plain processes at the same
time, without Dask, and prints milliseconds per force call for each.  The difference is what
the machine's two cores cost each other (shared caches, or host-level sharing of the vCPUs);
whatever a 2-worker ``mgbarrier label --workers 2`` loses beyond it is Dask's.

    OMP_NUM_THREADS=1 python benchmarks/label_pairing.py --glass runs/label_dask/glass/glass.data --atoms 1-20
    OMP_NUM_THREADS=1 python benchmarks/label_pairing.py --glass /tmp/mgbarrier_label_glass/n2000_r1e+13_s1/glass.data --atoms 44,90,111,147
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _ids(spec: str):
    out = []
    for part in spec.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


def run_searches(glass: str, ids, seed: int) -> dict:
    import numpy as np

    from mgbarrier.io.lammps_data import read_lammps_data
    from mgbarrier.md import LammpsEngine, Potential
    from mgbarrier.saddles import ArtnSettings
    from mgbarrier.saddles.run import FMAX_RELAX, search_seed
    from mgbarrier.saddles.search import artn_search

    atoms = read_lammps_data(glass)
    pot = Potential.from_options("eam/fs", ["* * CuZr_mm.eam.fs Cu Zr"])
    all_ids = np.asarray(atoms.arrays["id"]) if "id" in atoms.arrays else np.arange(1, len(atoms) + 1)
    calls, wall, user = 0, 0.0, 0.0
    with LammpsEngine(atoms, pot) as eng:
        x0, e0, _, _ = eng.minimize(atoms.positions, fmax=FMAX_RELAX, max_steps=20000)
        e0, _ = eng.energy_forces(x0)
        for a in ids:
            idx = int(np.flatnonzero(all_ids == a)[0])
            eng.restart()
            r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            res = artn_search(eng, x0, idx, rng=np.random.default_rng(search_seed(seed, a, 0)),
                              settings=ArtnSettings(), e0=e0, cell=atoms.cell.array, pbc=atoms.pbc)
            r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            calls += res.force_calls
            wall += t1 - t0
            user += r1.ru_utime - r0.ru_utime
    return {"atoms": len(atoms), "searches": len(ids), "calls": calls, "wall_s": wall, "user_s": user}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--glass", required=True, help="LAMMPS data file of a Cu-Zr glass")
    p.add_argument("--atoms", default="1-20", help="atom ids: ID,ID,... or FIRST-LAST")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds of (one process, two at once)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    ids = _ids(args.atoms)
    if args.child:
        print(json.dumps(run_searches(args.glass, ids, args.seed)))
        return 0
    cmd = [sys.executable, os.path.abspath(__file__), "--glass", args.glass, "--atoms", args.atoms,
           "--seed", str(args.seed), "--child"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def launch(k):
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
                 for _ in range(k)]
        return [json.loads(pr.communicate()[0].strip().splitlines()[-1]) for pr in procs]

    rows = []
    for r in range(args.rounds):
        for k in (1, 2):
            res = launch(k)
            calls = sum(x["calls"] for x in res)
            wall = sum(x["wall_s"] for x in res)
            user = sum(x["user_s"] for x in res)
            rows.append((r, k, 1e3 * wall / calls, 1e3 * user / calls))
            print(f"round {r}: {k} process(es) at once, {res[0]['atoms']} atoms, {res[0]['searches']} searches each: "
                  f"{1e3 * wall / calls:.2f} ms / force call (wall), {1e3 * user / calls:.2f} ms (user CPU)",
                  flush=True)
    one = [w for _, k, w, _ in rows if k == 1]
    two = [w for _, k, w, _ in rows if k == 2]
    print(f"mean ms / call: one process {sum(one) / len(one):.2f}, two at once {sum(two) / len(two):.2f} "
          f"({sum(two) / len(two) / (sum(one) / len(one)):.2f}x)")
    print("Reproduce: OMP_NUM_THREADS=1 python benchmarks/label_pairing.py " + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
