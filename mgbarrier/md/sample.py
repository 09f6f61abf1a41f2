"""Small glasses made by MD, for tests and benchmarks: :func:`thermal_frame`.

Random placement at ``volume`` Å^3/atom, 1 ps at 2000 K, 2 ps cooling to ``temperature``,
0.8 ps at ``temperature`` (NVT, 2 fs steps, fixed cubic cell); Cu/Zr types at random with
``zr_fraction``.  One frame of that MD, as ``ase.Atoms`` (positions Å, pbc).
"""
from __future__ import annotations

import numpy as np
from ase import Atoms

from .potential import Potential

__all__ = ["thermal_frame"]


def thermal_frame(natoms: int, potential: Potential, *, temperature: float = 300.0, seed: int = 1,
                  volume: float = 15.9, zr_fraction: float = 0.36) -> Atoms:
    """An MD frame (K: ``temperature``) of a ``natoms`` Cu-Zr glass under ``potential``
    (its species must be ``["Cu", "Zr"]``).  About 3 s for 500 atoms on one core."""
    from ..lammps import lammps

    side = (natoms * volume) ** (1 / 3)
    t = float(temperature)
    lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    try:
        lmp.commands_list(["units metal", "atom_style atomic", f"region b block 0 {side} 0 {side} 0 {side}",
                           "create_box 2 b", "mass 1 63.546", "mass 2 91.224",
                           f"create_atoms 1 random {natoms} {seed} NULL overlap 2.0 maxtry 100",
                           f"set type 1 type/ratio 2 {zr_fraction} {seed + 1}", *potential.commands(),
                           "minimize 0 1e-2 100 1000", "timestep 0.002",
                           f"velocity all create 2000 {seed} dist gaussian",
                           "fix 1 all nvt temp 2000 2000 0.1", "run 500", "unfix 1",
                           f"fix 1 all nvt temp 2000 {t} 0.1", "run 1000", "unfix 1",
                           f"fix 1 all nvt temp {t} {t} 0.1", "run 400"])
        n = int(lmp.get_natoms())
        x = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(n, 3).copy()
        types = np.ctypeslib.as_array(lmp.gather_atoms("type", 0, 1)).copy()
    finally:
        lmp.close()
    return Atoms(symbols=np.array(["Cu", "Zr"])[types - 1], positions=x, cell=[side] * 3, pbc=True)
