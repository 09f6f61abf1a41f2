"""Molecular-mechanics tools on LAMMPS: one way to give a potential, one engine, quenches.

* :class:`Potential` -- ``pair_style``/``pair_coeff`` commands, from options or a file.
* :class:`LammpsEngine` -- one LAMMPS instance: energy/forces, minimisation (fixed cell).
* :func:`quench` / :class:`QuenchResult` -- inherent structure of an ``ase.Atoms``.
* :func:`thermal_score` / :func:`looks_thermal` -- is a structure an MD snapshot rather
  than a minimised one?  (no potential, no LAMMPS needed)

Units: Å, eV, amu (LAMMPS ``metal``).  Importing this package does not import LAMMPS.
"""
from .engine import LammpsEngine
from .potential import Potential
from .quench import QuenchResult, quench
from .thermal import looks_thermal, thermal_score

__all__ = ["Potential", "LammpsEngine", "quench", "QuenchResult", "thermal_score", "looks_thermal"]
