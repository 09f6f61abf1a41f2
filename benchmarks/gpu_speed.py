"""Prediction time and memory on a GPU (or the CPU) for test0 tilings up to a million atoms.

For each model and tiling factor n (test0, 3,000 atoms, tiled n x n x n: 1 -> 3,000,
4 -> 192,000, 7 -> 1,029,000 atoms) one fresh subprocess loads the model on ``--device``,
predicts test0 and the tiling once to warm up (sizes <= 30,000 atoms) and then times one
``model.predict`` (neighbour lists and SOAP on the CPU, the networks on the device; the
descriptor member of the ensemble stays on the CPU).  Reported: seconds, atoms/s, peak GPU
memory (torch's allocator), peak host RSS of that subprocess, and max |tiled - test0| (eV):
a periodic tiling of a glass is the same glass, so every copy must reproduce test0 to 1e-5 eV.

    python benchmarks/gpu_speed.py --device cuda --max-memory 64            # writes benchmarks/results/gpu_speed.md
    python benchmarks/gpu_speed.py --device cpu --sizes 1 2 --out /tmp/x.md  # a quick check without a GPU

``--max-memory`` (GB, host) is the chunking budget (:mod:`mgbarrier.models.chunked`); with
enough host memory a GPU run predicts each structure whole.  ``--timeout`` bounds each
subprocess (a size that runs over is reported as such, the rest still run).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_STRUCTURE = REPO.parent / "shared" / "data" / "symgnn-cu64zr36" / "test0.pickle"
DEFAULT_MODELS = ["cu64zr36-symgnn", "cu64zr36-ensemble"]


def measure(model_name: str, n: int, device: str, structure: Path, max_memory: float) -> dict:
    """One (model, tiling) measurement in this process (run through a subprocess by main)."""
    import resource

    import numpy as np
    import torch

    from mgbarrier import load_model
    from mgbarrier.io.symgnn_pickle import read_symgnn_pickle
    from mgbarrier.models.chunked import set_max_memory

    cuda = device.startswith("cuda")
    t0 = time.perf_counter()
    model = load_model(model_name, device=device)
    set_max_memory(model, max_memory)
    t_load = time.perf_counter() - t0
    base = read_symgnn_pickle(structure)
    base_pred = model.predict(base)
    atoms = base.repeat((n, n, n))
    if len(atoms) <= 30000:
        model.predict(atoms)  # warm-up: allocator, kernels
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    pred = model.predict(atoms)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    return {"model": model_name, "n": n, "atoms": len(atoms), "seconds": seconds, "load_s": t_load,
            "dev_eV": float(np.abs(pred - np.tile(base_pred, n ** 3)).max()),
            "gpu_peak_GB": torch.cuda.max_memory_allocated() / 1e9 if cuda else None,
            "rss_peak_GB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
            "device": torch.cuda.get_device_name() if cuda else "cpu", "threads": torch.get_num_threads()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 7], help="tiling factors per axis")
    ap.add_argument("--max-memory", type=float, default=64.0, help="host GB for the chunking budget")
    ap.add_argument("--structure", type=Path, default=DEFAULT_STRUCTURE)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per (model, size) subprocess")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "gpu_speed.md")
    ap.add_argument("--one", nargs=2, metavar=("MODEL", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.one:
        print("RESULT " + json.dumps(measure(args.one[0], int(args.one[1]), args.device, args.structure,
                                             args.max_memory)))
        return 0
    if not args.structure.exists():
        print(f"gpu_speed: {args.structure}: not found (the shared dataset is needed)", file=sys.stderr)
        return 2
    rows = []
    t_all = time.perf_counter()
    for name in args.models:
        for n in args.sizes:
            cmd = [sys.executable, __file__, "--one", name, str(n), "--device", args.device,
                   "--max-memory", str(args.max_memory), "--structure", str(args.structure)]
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                rows.append({"model": name, "n": n, "error": f"over {args.timeout:.0f} s"})
                print(f"{name} {n}^3: over {args.timeout:.0f} s", flush=True)
                continue
            line = [x for x in r.stdout.splitlines() if x.startswith("RESULT ")]
            if r.returncode != 0 or not line:
                err = (r.stderr.strip().splitlines() or ["?"])[-1][:200]
                rows.append({"model": name, "n": n, "error": err})
                print(f"{name} {n}^3: failed: {err}", flush=True)
                continue
            row = json.loads(line[0][len("RESULT "):])
            rows.append(row)
            print(json.dumps(row), flush=True)
    ok = [r for r in rows if "error" not in r]
    hw = ok[0]["device"] if ok else args.device
    lines = ["# GPU prediction speed (benchmarks/gpu_speed.py)", "",
             f"Device: {hw}; {os.cpu_count()} CPU cores visible (neighbour lists and SOAP run on the CPU), "
             f"chunking budget --max-memory {args.max_memory:g} GB; one fresh process per row.", "",
             "| model | atoms | predict (s) | atoms/s | peak GPU memory (GB) | peak host RSS (GB) | "
             "max abs(tiled - test0) (eV) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {3000 * r['n'] ** 3:,} | {r['error']} | | | | |")
            continue
        gpu = f"{r['gpu_peak_GB']:.2f}" if r["gpu_peak_GB"] is not None else "-"
        lines.append(f"| {r['model']} | {r['atoms']:,} | {r['seconds']:.2f} | {r['atoms'] / r['seconds']:,.0f} | "
                     f"{gpu} | {r['rss_peak_GB']:.2f} | {r['dev_eV']:.1e} |")
    bad = [r for r in ok if r["dev_eV"] > 1e-5]
    lines += ["", f"Every tiling reproduces test0 to 1e-5 eV: {'yes' if not bad else 'NO'}.  "
              f"Total wall time {time.perf_counter() - t_all:.0f} s.", "",
              f"Reproduce: `python benchmarks/gpu_speed.py --device {args.device} --max-memory {args.max_memory:g} "
              f"--sizes {' '.join(map(str, args.sizes))} --models {' '.join(args.models)}`"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if bad or len(ok) < len(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
