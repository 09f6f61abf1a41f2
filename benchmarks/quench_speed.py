"""Seconds per 10,000 atoms to quench a 300 K frame of a Cu64Zr36 glass (mgbarrier.md.quench).

    OMP_NUM_THREADS=1 python benchmarks/quench_speed.py --atoms 2000

The frame is made by mgbarrier.md.thermal_frame (random placement at 15.9 Å^3/atom,
1 ps at 2000 K, 2 ps cooling to 300 K, 0.8 ps at 300 K, NVT, Mendelev CuZr_mm.eam.fs);
the quench runs to fmax 1e-3 eV/Å at fixed cell (FIRE then CG), one core.
"""
from __future__ import annotations

import argparse
import time

from mgbarrier.md import Potential, quench, thermal_frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atoms", type=int, default=2000)
    ap.add_argument("--fmax", type=float, default=1e-3)
    args = ap.parse_args()
    pot = Potential.from_options("eam/fs", ["* * CuZr_mm.eam.fs Cu Zr"])
    t0 = time.perf_counter()
    frame = thermal_frame(args.atoms, pot)
    print(f"300 K frame: {len(frame)} atoms in {time.perf_counter() - t0:.1f} s of MD")
    res = quench(frame, pot, fmax=args.fmax)
    per10k = res.seconds * 10_000 / len(frame)
    print(f"quench: {res.steps} steps, {res.energy_initial:.3f} -> {res.energy_final:.3f} eV, "
          f"fmax {res.fmax_final:.2e} eV/Å, {res.seconds:.2f} s = {per10k:.1f} s per 10,000 atoms "
          f"({res.seconds / max(res.steps, 1) / len(frame) * 1e6:.2f} µs per atom-step)")


if __name__ == "__main__":
    main()
