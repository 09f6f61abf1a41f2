"""Seconds per 10,000 atoms to quench a 300 K frame of a Cu64Zr36 glass (mgbarrier.md.quench).

    OMP_NUM_THREADS=1 python benchmarks/quench_speed.py --atoms 2000

The frame is made like the one of tests/test_md.py (random placement at 15.9 Å^3/atom,
1 ps at 2000 K, 2 ps cooling to 300 K, 0.8 ps at 300 K, NVT, Mendelev CuZr_mm.eam.fs);
the quench runs to fmax 1e-3 eV/Å at fixed cell (FIRE then CG), one core.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from ase import Atoms

from mgbarrier.md import Potential, quench


def frame_300k(natoms: int, pot: Potential, seed: int = 1) -> Atoms:
    from mgbarrier.lammps import lammps

    side = (natoms * 15.9) ** (1 / 3)
    lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    lmp.commands_list(["units metal", "atom_style atomic", f"region b block 0 {side} 0 {side} 0 {side}",
                       "create_box 2 b", "mass 1 63.546", "mass 2 91.224",
                       f"create_atoms 1 random {natoms} {seed} NULL overlap 2.0 maxtry 100",
                       f"set type 1 type/ratio 2 0.36 {seed}", *pot.commands(),
                       "minimize 0 1e-2 100 1000", "timestep 0.002", f"velocity all create 2000 {seed} dist gaussian",
                       "fix 1 all nvt temp 2000 2000 0.1", "run 500", "unfix 1",
                       "fix 1 all nvt temp 2000 300 0.1", "run 1000", "unfix 1",
                       "fix 1 all nvt temp 300 300 0.1", "run 400"])
    n = int(lmp.get_natoms())
    x = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(n, 3).copy()
    types = np.ctypeslib.as_array(lmp.gather_atoms("type", 0, 1)).copy()
    lmp.close()
    return Atoms(symbols=np.array(["Cu", "Zr"])[types - 1], positions=x, cell=[side] * 3, pbc=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atoms", type=int, default=2000)
    ap.add_argument("--fmax", type=float, default=1e-3)
    args = ap.parse_args()
    pot = Potential.from_options("eam/fs", ["* * CuZr_mm.eam.fs Cu Zr"])
    t0 = time.perf_counter()
    frame = frame_300k(args.atoms, pot)
    print(f"300 K frame: {len(frame)} atoms in {time.perf_counter() - t0:.1f} s of MD")
    res = quench(frame, pot, fmax=args.fmax)
    per10k = res.seconds * 10_000 / len(frame)
    print(f"quench: {res.steps} steps, {res.energy_initial:.3f} -> {res.energy_final:.3f} eV, "
          f"fmax {res.fmax_final:.2e} eV/Å, {res.seconds:.2f} s = {per10k:.1f} s per 10,000 atoms "
          f"({res.seconds / max(res.steps, 1) / len(frame) * 1e6:.2f} µs per atom-step)")


if __name__ == "__main__":
    main()
