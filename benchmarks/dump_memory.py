"""Does ``mgbarrier predict`` on a long LAMMPS dump run in constant memory?

Writes a FRAMES-frame text dump of a generated ~2,000-atom Cu/Zr glass (types only, so
``--species`` is needed) to a temporary folder, runs :func:`mgbarrier.predict_files.predict_file`
on it with a tiny random-weight SymGNN (plumbing, not accuracy), and samples the process's
resident memory (``VmRSS``) and peak (``VmHWM``, from /proc) after frame 20 and after the
last frame.  Constant memory means the peak after the last frame is about the peak after
frame 20.

Reproduce::

    OMP_NUM_THREADS=1 python benchmarks/dump_memory.py            # 200 frames x 2,048 atoms
    OMP_NUM_THREADS=1 python benchmarks/dump_memory.py --frames 50 --cells 6 --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # make_glass / write_tiny_model live in the test fixtures

from conftest import make_glass, write_tiny_model  # noqa: E402


def _proc_mib(key: str) -> float:
    """``VmRSS``/``VmHWM`` of this process in MiB (Linux); NaN elsewhere."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def write_dump(path: Path, frames: int, cells: int) -> int:
    """A types-only dump (id type x y z), one glass per frame; returns atoms per frame."""
    n = 0
    with open(path, "w") as fh:
        for k in range(frames):
            atoms = make_glass(n_cells=cells, seed=k)
            n = len(atoms)
            types = np.where(np.array(atoms.get_chemical_symbols()) == "Cu", 1, 2)
            L = atoms.cell.lengths()
            fh.write(f"ITEM: TIMESTEP\n{1000 * k}\nITEM: NUMBER OF ATOMS\n{n}\nITEM: BOX BOUNDS pp pp pp\n")
            fh.write("".join(f"0.0 {v!r}\n" for v in L.tolist()))
            fh.write("ITEM: ATOMS id type x y z\n")
            fh.write("".join(f"{i + 1} {t} {x:.6f} {y:.6f} {z:.6f}\n"
                             for i, (t, (x, y, z)) in enumerate(zip(types.tolist(), atoms.positions.tolist()))))
    return n


class SampledModel:
    """Wraps a model; records memory after chosen frame counts."""

    def __init__(self, model, marks):
        self.model, self.marks, self.frames, self.samples = model, set(marks), 0, {}

    def predict(self, atoms):
        out = self.model.predict(atoms)
        self.frames += 1
        if self.frames in self.marks:
            self.samples[self.frames] = {"rss_mib": _proc_mib("VmRSS"), "peak_rss_mib": _proc_mib("VmHWM"),
                                         "t_s": time.perf_counter()}
        return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--cells", type=int, default=8, help="fcc cells per edge (8 -> 2,048 atoms)")
    ap.add_argument("--early", type=int, default=20, help="first sampling point (frames)")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args(argv)

    import torch

    from mgbarrier import load_model
    from mgbarrier.pipeline import predict_file

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    with tempfile.TemporaryDirectory(prefix="mgbarrier-dumpmem-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        n_atoms = write_dump(tmp / "traj.lammpstrj", args.frames, args.cells)
        t_write = time.perf_counter() - t0
        size_mib = (tmp / "traj.lammpstrj").stat().st_size / 2**20
        model = SampledModel(load_model(write_tiny_model(tmp / "tiny.pt")), [args.early, args.frames])
        before = {"rss_mib": _proc_mib("VmRSS"), "peak_rss_mib": _proc_mib("VmHWM")}
        t1 = time.perf_counter()
        summary = predict_file(tmp / "traj.lammpstrj", tmp / "out.lammpstrj", model=model,
                               species_map={1: "Cu", 2: "Zr"}, quiet=True)
        seconds = time.perf_counter() - t1
        out_mib = (tmp / "out.lammpstrj").stat().st_size / 2**20
    early, late = model.samples.get(args.early, {}), model.samples.get(args.frames, {})
    result = {
        "frames": summary["frames"], "atoms_per_frame": n_atoms, "dump_mib": round(size_mib, 1),
        "output_mib": round(out_mib, 1), "write_dump_s": round(t_write, 1), "predict_s": round(seconds, 1),
        "atoms_per_s": round(summary["atoms"] / seconds),
        "rss_before_mib": round(before["rss_mib"], 1), "peak_before_mib": round(before["peak_rss_mib"], 1),
        f"rss_after_{args.early}_mib": round(early.get("rss_mib", float("nan")), 1),
        f"peak_after_{args.early}_mib": round(early.get("peak_rss_mib", float("nan")), 1),
        f"rss_after_{args.frames}_mib": round(late.get("rss_mib", float("nan")), 1),
        f"peak_after_{args.frames}_mib": round(late.get("peak_rss_mib", float("nan")), 1),
        "torch_threads": torch.get_num_threads(),
        "command": "OMP_NUM_THREADS=1 python benchmarks/dump_memory.py " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    growth = result[f"peak_after_{args.frames}_mib"] - result[f"peak_after_{args.early}_mib"]
    for k, v in result.items():
        print(f"{k:>24}: {v}")
    print(f"{'peak growth ' + str(args.early) + '->' + str(args.frames):>24}: {growth:+.1f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps({**result, "peak_growth_mib": round(growth, 1)}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
