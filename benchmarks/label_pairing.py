#!/usr/bin/env python
"""What running two searches at once costs on this machine, without and with Dask (issue 17).

Both modes run the same ARTn searches: search 0 of each atom of ``--atoms`` with ``mgbarrier
label``'s seed for ``--seed``, on ``--glass`` with the wheel's ``CuZr_mm.eam.fs``.

* default: in one plain Python process, then in two plain processes at the same time (no Dask),
  alternating for ``--rounds``; prints milliseconds per force call.  The difference is what the
  machine's two cores cost each other (shared caches, or host-level sharing of the vCPUs).
  ``--control`` runs a pure-Python arithmetic loop (no memory beyond the first-level cache)
  instead of the searches, the same way: what the two vCPUs cost each other without LAMMPS.
* ``--dask``: the searches (each atom twice) as tasks on a 2-worker LocalCluster started by
  ``mgbarrier.cluster.dask_client``; prints the tasks' wall time against their threads' CPU time
  (``time.thread_time``).  The difference is the time a task waited while other threads and
  processes (Dask's event loops, monitors, the scheduler) ran on its core: a ratio the machine's
  speed swings do not touch.  ``--dask-timers`` uses Dask's own timer settings instead of ours
  (``mgbarrier.cluster.DASK_CONFIG``: event-loop tick 20 ms instead of 1 s, system monitor 0.5 s
  instead of 5 s, memory monitor 0.1 s instead of 0.5 s).

    OMP_NUM_THREADS=1 python benchmarks/label_pairing.py --glass runs/label_dask/glass/glass.data --atoms 1-20
    OMP_NUM_THREADS=1 python benchmarks/label_pairing.py --glass GLASS.data --atoms 44,90,111,147 --dask [--dask-timers]
    python benchmarks/label_pairing.py --control --rounds 3
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

_GLASS: dict = {}   # per process: the glass's engine, atoms, minimum and energy


def _ids(spec: str):
    out = []
    for part in spec.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


def one_search(glass: str, atom_id: int, seed: int) -> tuple:
    """(wall s, thread CPU s, force calls, atoms) of search 0 on ``atom_id``; the LAMMPS engine
    and the glass's minimum are made once per process."""
    import numpy as np

    from mgbarrier.io.lammps_data import read_lammps_data
    from mgbarrier.md import LammpsEngine, Potential
    from mgbarrier.saddles import ArtnSettings
    from mgbarrier.saddles.run import FMAX_RELAX, search_seed
    from mgbarrier.saddles.search import artn_search

    if _GLASS.get("path") != glass:
        atoms = read_lammps_data(glass)
        eng = LammpsEngine(atoms, Potential.from_options("eam/fs", ["* * CuZr_mm.eam.fs Cu Zr"]))
        x0, _, _, _ = eng.minimize(atoms.positions, fmax=FMAX_RELAX, max_steps=20000)
        e0, _ = eng.energy_forces(x0)
        _GLASS.update(path=glass, state=(eng, atoms, x0, e0))
    eng, atoms, x0, e0 = _GLASS["state"]
    ids = np.asarray(atoms.arrays["id"]) if "id" in atoms.arrays else np.arange(1, len(atoms) + 1)
    idx = int(np.flatnonzero(ids == atom_id)[0])
    eng.restart()
    t0, c0 = time.perf_counter(), time.thread_time()
    res = artn_search(eng, x0, idx, rng=np.random.default_rng(search_seed(seed, atom_id, 0)), settings=ArtnSettings(),
                      e0=e0, cell=atoms.cell.array, pbc=atoms.pbc)
    return time.perf_counter() - t0, time.thread_time() - c0, res.force_calls, len(atoms)


#: iterations of the --control loop per unit ("call"), and units per process
CONTROL_BLOCK, CONTROL_BLOCKS = 1_000_000, 100


def control_loop() -> tuple:
    """(wall s, thread CPU s, units, 0) of ``CONTROL_BLOCKS`` blocks of a pure-Python loop of
    integer arithmetic (an LCG): CPU-bound, its data in registers and the first-level cache."""
    t0, c0 = time.perf_counter(), time.thread_time()
    x = 1
    for _ in range(CONTROL_BLOCK * CONTROL_BLOCKS):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return time.perf_counter() - t0, time.thread_time() - c0, CONTROL_BLOCKS, 0


def _totals(results) -> dict:
    return {"searches": len(results), "wall_s": sum(r[0] for r in results), "cpu_s": sum(r[1] for r in results),
            "calls": sum(r[2] for r in results), "atoms": results[0][3] if results else 0}


def plain(args, ids) -> None:
    cmd = [sys.executable, os.path.abspath(__file__), "--atoms", args.atoms, "--seed", str(args.seed), "--child"]
    cmd += ["--control"] if args.control else ["--glass", args.glass]
    unit = "million loop iterations" if args.control else "force call"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def launch(k):
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
                 for _ in range(k)]
        return [json.loads(pr.communicate()[0].strip().splitlines()[-1]) for pr in procs]

    per_call = {1: [], 2: []}
    for r in range(args.rounds):
        for k in (1, 2):
            res = launch(k)
            calls = sum(x["calls"] for x in res)
            wall = sum(x["wall_s"] for x in res)
            cpu = sum(x["cpu_s"] for x in res)
            per_call[k].append(1e3 * wall / calls)
            what = "the control loop" if args.control else f"{res[0]['atoms']} atoms, {res[0]['searches']} searches each"
            print(f"round {r}: {k} process(es) at once, {what}: "
                  f"{1e3 * wall / calls:.2f} ms / {unit} (wall), {1e3 * cpu / calls:.2f} ms (CPU)", flush=True)
    one, two = (sum(v) / len(v) for v in (per_call[1], per_call[2]))
    print(f"mean ms / {unit}: one process {one:.2f}, two at once {two:.2f} ({two / one:.2f}x)")


def on_dask(args, ids) -> None:
    import dask
    import distributed  # noqa: F401  (registers the distributed.* defaults)

    import mgbarrier.cluster as cluster

    timers = ("distributed.admin.tick.interval", "distributed.admin.system-monitor.interval",
              "distributed.worker.memory.monitor-interval")
    ours = dict(cluster.DASK_CONFIG)
    if args.dask_timers:         # the cluster dask_client starts gets Dask's defaults for these
        cluster.DASK_CONFIG.update({k: dask.config.get(k) for k in timers})
    try:
        with cluster.dask_client(workers=2) as client:
            used = client.run(lambda: [__import__("dask").config.get(k) for k in timers])
            t = _totals(client.gather([client.submit(one_search, args.glass, a, args.seed, pure=False)
                                       for a in ids + ids]))
    finally:
        cluster.DASK_CONFIG.clear()
        cluster.DASK_CONFIG.update(ours)
    print(f"timers in the workers (tick, system monitor, memory monitor): {next(iter(used.values()))}")
    print(f"{t['searches']} searches, {t['calls']} force calls: wall {t['wall_s']:.1f} s, task CPU {t['cpu_s']:.1f} s, "
          f"wall over CPU {100 * (t['wall_s'] - t['cpu_s']) / t['cpu_s']:+.1f} %, "
          f"{1e3 * t['wall_s'] / t['calls']:.2f} ms / call")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--glass", help="LAMMPS data file of a Cu-Zr glass (not with --control)")
    p.add_argument("--atoms", default="1-20", help="atom ids: ID,ID,... or FIRST-LAST")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds of (one process, two at once)")
    p.add_argument("--dask", action="store_true", help="the searches as tasks on a 2-worker LocalCluster")
    p.add_argument("--dask-timers", action="store_true", help="with --dask: Dask's default timers instead of ours")
    p.add_argument("--control", action="store_true",
                   help="a pure-Python arithmetic loop instead of the searches (plain processes only)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.control == bool(args.glass) or (args.control and args.dask):
        p.error("give --glass (searches, plain or --dask) or --control (plain processes), not both")
    ids = _ids(args.atoms)
    if args.child and args.control:
        print(json.dumps(_totals([control_loop()])))
        return 0
    if args.child:
        print(json.dumps(_totals([one_search(args.glass, a, args.seed) for a in ids])))
        return 0
    (on_dask if args.dask else plain)(args, ids)
    print("Reproduce: OMP_NUM_THREADS=1 python benchmarks/label_pairing.py " + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
