#!/usr/bin/env python
"""How much of a Dask worker's task time is not the task's own CPU (issue 17).

Runs the same ARTn searches (search 0 of each atom with ``mgbarrier label``'s seed for
``--seed``) as tasks on a 2-worker LocalCluster started by ``mgbarrier.cluster.dask_client``
and prints, over all tasks, the wall time and the task thread's CPU time (``time.thread_time``).
Their difference is the time the task waited while other threads and processes (Dask's event
loops, monitors, the scheduler) ran on its core: a ratio the machine's speed swings do not
touch.  ``--dask-timers`` runs with Dask's own timer settings instead of ours
(``mgbarrier.cluster.DASK_CONFIG``: event-loop tick 20 ms instead of 1 s, system monitor 0.5 s
instead of 5 s, memory monitor 0.1 s instead of 0.5 s).

    OMP_NUM_THREADS=1 python benchmarks/dask_task_overhead.py --glass GLASS.data --atoms 44,90,111,147 [--dask-timers]
"""
from __future__ import annotations

import argparse
import sys
import time


def search_task(glass: str, atom_id: int, seed: int) -> tuple:
    """(wall s, thread CPU s, force calls) of one search; the engine is created once per worker."""
    import numpy as np
    from distributed import get_worker

    from mgbarrier.io.lammps_data import read_lammps_data
    from mgbarrier.md import LammpsEngine, Potential
    from mgbarrier.saddles import ArtnSettings
    from mgbarrier.saddles.run import FMAX_RELAX, search_seed
    from mgbarrier.saddles.search import artn_search

    worker = get_worker()
    if not hasattr(worker, "mgb_bench"):
        worker.mgb_bench = {}
    cache = worker.mgb_bench
    if cache.get("glass") != glass:
        atoms = read_lammps_data(glass)
        eng = LammpsEngine(atoms, Potential.from_options("eam/fs", ["* * CuZr_mm.eam.fs Cu Zr"]))
        x0, _, _, _ = eng.minimize(atoms.positions, fmax=FMAX_RELAX, max_steps=20000)
        e0, _ = eng.energy_forces(x0)
        cache.update(glass=glass, state=(eng, atoms, x0, e0))
    eng, atoms, x0, e0 = cache["state"]
    ids = np.asarray(atoms.arrays["id"]) if "id" in atoms.arrays else np.arange(1, len(atoms) + 1)
    idx = int(np.flatnonzero(ids == atom_id)[0])
    eng.restart()
    t0, c0 = time.perf_counter(), time.thread_time()
    res = artn_search(eng, x0, idx, rng=np.random.default_rng(search_seed(seed, atom_id, 0)), settings=ArtnSettings(),
                      e0=e0, cell=atoms.cell.array, pbc=atoms.pbc)
    return time.perf_counter() - t0, time.thread_time() - c0, res.force_calls


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--glass", required=True)
    p.add_argument("--atoms", default="44,90,111,147", help="atom ids; each runs twice, once per worker")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--dask-timers", action="store_true", help="Dask's default timers instead of ours")
    args = p.parse_args(argv)
    import dask
    import distributed  # noqa: F401  (registers the distributed.* defaults)

    from mgbarrier.cluster import dask_client

    timers = ("distributed.admin.tick.interval", "distributed.admin.system-monitor.interval",
              "distributed.worker.memory.monitor-interval")
    defaults = {k: dask.config.get(k) for k in timers}
    ids = [int(a) for a in args.atoms.split(",")]
    with dask.config.set(defaults if args.dask_timers else {}):
        cm = dask_client(workers=2)
        if args.dask_timers:       # dask_client sets ours: put Dask's back for the cluster it starts
            import mgbarrier.cluster as cluster

            saved = dict(cluster.DASK_CONFIG)
            cluster.DASK_CONFIG.update(defaults)
        try:
            with cm as client:
                used = client.run(lambda: [__import__("dask").config.get(k) for k in timers])
                futures = [client.submit(search_task, args.glass, a, args.seed, pure=False) for a in ids + ids]
                res = client.gather(futures)
        finally:
            if args.dask_timers:
                cluster.DASK_CONFIG.clear()
                cluster.DASK_CONFIG.update(saved)
    wall = sum(r[0] for r in res)
    cpu = sum(r[1] for r in res)
    calls = sum(r[2] for r in res)
    print(f"timers in the workers (tick, system monitor, memory monitor): {next(iter(used.values()))}")
    print(f"{len(res)} searches, {calls} force calls: wall {wall:.1f} s, task CPU {cpu:.1f} s, wall over CPU "
          f"{100 * (wall - cpu) / cpu:+.1f} %, {1e3 * wall / calls:.2f} ms / call")
    print("Reproduce: OMP_NUM_THREADS=1 python benchmarks/dask_task_overhead.py " + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
