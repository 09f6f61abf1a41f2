"""One huge frame on a Dask LocalCluster: its spatial domains spread over the workers (issue 18).

Tiles test0 ``--tile``^3 (7 -> 1,029,000 atoms; a generated glass when ../shared is absent) and
predicts it twice with the same memory budget (``--max-memory`` GB, default the package's 4):

* one process, ``OMP_NUM_THREADS`` threads: ``load_model(M).predict_arrays(atoms)``, cut into
  domains one after the other (:mod:`mgbarrier.models.chunked`);
* :class:`mgbarrier.parallel.RemotePredictor` on a LocalCluster of ``--workers`` single-threaded
  processes: the client cuts the frame, one task per domain, the read-out on the client.

Reports wall times, the domains and the workers that computed them, the largest difference
between the two (must be <= 1e-5 eV) and the peak memory of the client (ru_maxrss).  The
workers' Dask start-up is outside the timed part; their first model load is inside it.

    python benchmarks/dask_domains.py [--tile 7] [--workers 2] [--model cu64zr36-symgnn] [--max-memory GB]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from dask_frames import base_structure  # noqa: E402
from descriptor_model import hardware  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tile", type=int, default=7)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default="cu64zr36-symgnn")
    ap.add_argument("--max-memory", type=float, default=None, help="GB per process (default: the package's)")
    args = ap.parse_args(argv)

    from distributed import get_task_stream

    from mgbarrier import load_model
    from mgbarrier.cluster import dask_client
    from mgbarrier.models.chunked import max_memory_gb, set_max_memory, soap_inputs_of, spread_plan
    from mgbarrier.models.registry import resolve_model_path
    from mgbarrier.parallel import RemotePredictor

    atoms, what = base_structure(args.tile)
    atoms.info["source"] = f"{what} x{args.tile}^3"
    path = resolve_model_path(args.model)
    model = load_model(path)
    set_max_memory(model, args.max_memory)
    given = bool(soap_inputs_of(model))  # SOAP models: inputs first in SOAP blocks, domains without the SOAP reach
    radius, grid = spread_plan(model, atoms, args.workers, given) or (None, (1, 1, 1))  # the workers' plan
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"{len(atoms):,} atoms ({what} tiled {args.tile}^3), model {args.model}, budget "
          f"{max_memory_gb(model):g} GB, {args.workers}-worker domains {grid} (halo {radius} Å)", flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        one = model.predict_arrays(atoms)
        t_one = time.perf_counter() - t
        print(f"one process ({threads} threads): {t_one:.1f} s", flush=True)
        del model
        with dask_client(args.workers) as client:
            with RemotePredictor(path, scheduler=client.scheduler.address, max_memory=args.max_memory,
                                 frames_total=1) as remote, \
                    get_task_stream(client) as stream:
                t = time.perf_counter()
                spread = [remote.predict_arrays(a) for a in remote.ahead([atoms])][0]
                t_spread = time.perf_counter() - t
    tasks = [d for d in stream.data if str(d["key"]).startswith("predict_domain_task")]
    workers = sorted({d["worker"] for d in tasks})
    busy = {w: [sum(s["stop"] - s["start"] for s in d["startstops"] if s["action"] == "compute")
                for d in tasks if d["worker"] == w] for w in workers}
    print("compute seconds per worker: " + "; ".join(f"{w}: " + " + ".join(f"{x:.1f}" for x in v)
                                                    for w, v in busy.items()), flush=True)
    diff = max(float(np.abs(spread[k] - one[k]).max()) for k in one)
    client_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    lines = [
        f"| atoms | budget | domains ({args.workers} workers) | one process ({threads} threads) | {args.workers} workers (1 thread each) "
        f"| tasks / workers used | max abs diff (eV) |",
        "|---:|---:|---|---:|---:|---|---:|",
        f"| {len(atoms):,} | {max_memory_gb(load_model(path)) if args.max_memory is None else args.max_memory:g} GB "
        f"| {grid[0]} x {grid[1]} x {grid[2]} | {t_one:.1f} s | {t_spread:.1f} s ({t_spread / t_one:.2f}x) "
        f"| {len(tasks)} / {len(workers)} | {diff:.1e} |",
        "",
        f"Client peak RSS (this process, incl. the one-process run): {client_gb:.2f} GB.  {hardware()}.",
        f"Reproduce: `OMP_NUM_THREADS={threads} python benchmarks/dask_domains.py --tile {args.tile} "
        f"--workers {args.workers} --model {args.model}"
        + (f" --max-memory {args.max_memory:g}`" if args.max_memory is not None else "`"),
    ]
    print("\n".join(lines))
    return 0 if diff <= 1e-5 and len(workers) == min(args.workers, len(tasks)) else 1


if __name__ == "__main__":
    sys.exit(main())
