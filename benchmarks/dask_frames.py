"""A long trajectory through ``mgbarrier predict``: one process against a Dask LocalCluster.

Builds (once, outside git, in ``runs/dask_frames/``) a gzipped LAMMPS dump of ``--frames``
frames of test0 tiled ``--tile``^3 (2 -> 24,000 atoms; a generated glass when ../shared is
absent), each frame jittered by a different 0.02 Å Gaussian, then runs

    mgbarrier predict DUMP -o one.lammpstrj.gz  --model M --species 1=Cu,2=Zr
    mgbarrier predict DUMP -o dask.lammpstrj.gz --model M --species 1=Cu,2=Zr --workers N

and reports: identical output (decompressed text), wall time and frames/s of each, and the
resident memory of every process (client and each worker) sampled every 0.5 s: its peak and
its value over the first and last fifths of the run (flat = no growth with frames).

    OMP_NUM_THREADS=1 python benchmarks/dask_frames.py [--frames 200] [--workers 2] [--model cu64zr36-symgnn]
"""
from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TEST0 = REPO.parent / "shared" / "data" / "symgnn-cu64zr36" / "test0.pickle"
RUNS = REPO / "runs" / "dask_frames"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "dask_frames.md"


def base_structure(tile: int):
    if TEST0.exists():
        from mgbarrier.io.symgnn_pickle import read_symgnn_pickle

        return read_symgnn_pickle(TEST0).repeat((tile, tile, tile)), "test0"
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import make_glass

    return make_glass(n_cells=9, seed=1).repeat((tile, tile, tile)), "generated glass"


def write_dump(path: Path, frames: int, tile: int, jitter: float = 0.02) -> str:
    """A gzipped dump (id type x y z) of ``frames`` jittered copies; returns what was tiled."""
    atoms, what = base_structure(tile)
    types = np.where(np.array(atoms.get_chemical_symbols()) == "Cu", 1, 2)
    ids = np.arange(1, len(atoms) + 1)
    rng = np.random.default_rng(0)
    lengths = np.diag(atoms.cell.array)
    tmp = path.with_name(path.name + ".part")
    with gzip.open(tmp, "wt", compresslevel=1) as fh:
        for k in range(frames):
            pos = (atoms.positions + rng.normal(scale=jitter, size=atoms.positions.shape)) % lengths
            fh.write(f"ITEM: TIMESTEP\n{1000 * k}\nITEM: NUMBER OF ATOMS\n{len(atoms)}\nITEM: BOX BOUNDS pp pp pp\n"
                     + "".join(f"0 {x:.6f}\n" for x in lengths) + "ITEM: ATOMS id type x y z\n")
            block = np.column_stack([ids, types, pos])
            np.savetxt(fh, block, fmt=["%d", "%d", "%.6f", "%.6f", "%.6f"])
    tmp.replace(path)
    return what


def run(cmd, sample_s: float = 0.5) -> dict:
    """Run ``cmd``; sample the RSS (bytes) of it and all its descendants."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(proc.pid)
    series = {}  # pid -> [(t, rss)]
    names = {}
    while proc.poll() is None:
        try:
            procs = [root] + root.children(recursive=True)
        except psutil.NoSuchProcess:
            break
        t = time.perf_counter() - t0
        for p in procs:
            try:
                rss = p.memory_info().rss
                names.setdefault(p.pid, " ".join(p.cmdline()[1:4])[:60])
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            series.setdefault(p.pid, []).append((t, rss))
        time.sleep(sample_s)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"dask_frames: {' '.join(map(str, cmd))} failed: {err.strip()[-500:]}")
    procs = []
    for pid, pts in series.items():
        ts = np.array([t for t, _ in pts])
        rs = np.array([r for _, r in pts]) / 1e9
        if len(pts) < 5 or rs.max() < 0.15:  # helper processes (resource tracker, shells)
            continue
        first = rs[ts <= ts.min() + 0.2 * (ts.max() - ts.min())]
        last = rs[ts >= ts.max() - 0.2 * (ts.max() - ts.min())]
        procs.append({"pid": pid, "name": names.get(pid, "?"), "peak": rs.max(), "first": float(np.median(first)),
                      "last": float(np.median(last))})
    return {"wall": wall, "procs": procs, "stderr": err}


def text_of(path: Path) -> bytes:
    with gzip.open(path, "rb") as fh:
        return fh.read()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--tile", type=int, default=2, help="test0 tiled this many times per axis (2: 24,000 atoms)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default="cu64zr36-symgnn")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)

    RUNS.mkdir(parents=True, exist_ok=True)
    n_atoms = 3000 * args.tile ** 3
    dump = RUNS / f"traj_{args.frames}x{n_atoms}.lammpstrj.gz"
    what = "test0" if TEST0.exists() else "generated glass"
    if not dump.exists():
        t0 = time.perf_counter()
        what = write_dump(dump, args.frames, args.tile)
        print(f"wrote {dump} ({dump.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f} s", flush=True)
    mg = [sys.executable, "-m", "mgbarrier", "predict", str(dump), "--model", args.model, "--species", "1=Cu,2=Zr",
          "-q"]
    one_out, dask_out = RUNS / "one.lammpstrj.gz", RUNS / "dask.lammpstrj.gz"
    one = run(mg + ["-o", str(one_out)])
    print(f"one process: {one['wall']:.1f} s", flush=True)
    par = run(mg + ["-o", str(dask_out), "--workers", str(args.workers)])
    print(f"{args.workers} workers: {par['wall']:.1f} s", flush=True)
    same = text_of(one_out) == text_of(dask_out)

    load = os.getloadavg()
    lines = ["# A trajectory on Dask workers (benchmarks/dask_frames.py)", "",
             f"{args.frames} frames of {n_atoms:,} atoms ({what} tiled {args.tile}^3, each frame jittered), "
             f"gzipped dump in and out, model `{args.model}`; {os.cpu_count()} cores visible, "
             f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} (each Dask worker: 1 thread); "
             f"load average at the end {load[0]:.1f} (this run's own processes included).", "",
             "| run | wall (s) | frames/s | atoms/s | output identical |", "|---|---:|---:|---:|---|"]
    for label, r in (("one process", one), (f"LocalCluster, {args.workers} workers", par)):
        lines.append(f"| {label} | {r['wall']:.1f} | {args.frames / r['wall']:.3f} | "
                     f"{args.frames * n_atoms / r['wall']:,.0f} | {'yes' if same else 'NO'} |")
    lines += ["", f"Speed-up: {one['wall'] / par['wall']:.2f}x.", "",
              "Resident memory per process (GB): peak, and median over the first and the last fifth of the run",
              "(a last fifth above the first: memory grew with the number of frames).", "",
              "| run | process | peak | first fifth | last fifth |", "|---|---|---:|---:|---:|"]
    for label, r in (("one process", one), ("Dask", par)):
        for p in r["procs"]:
            lines.append(f"| {label} | {p['name']} | {p['peak']:.2f} | {p['first']:.2f} | {p['last']:.2f} |")
    lines += ["", f"Reproduce: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} python "
              f"benchmarks/dask_frames.py --frames {args.frames} --tile {args.tile} --workers {args.workers} "
              f"--model {args.model}"
              + ("" if args.out == DEFAULT_OUT else f" --out {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
              + "`"]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
