"""Molecular-mechanics tools on LAMMPS: one way to give a potential, one engine, quenches.

* :class:`Potential` -- ``pair_style``/``pair_coeff`` commands, from options or a file.
* :class:`LammpsEngine` -- one LAMMPS instance: energy/forces, minimisation (fixed cell).
* :func:`quench` / :class:`QuenchResult` -- inherent structure of an ``ase.Atoms``
  (:func:`quench_limits`: its force threshold and step limit, checked).
* :func:`thermal_score` / :func:`looks_thermal` -- is a structure an MD snapshot rather
  than a minimised one?  (no potential, no LAMMPS needed); :func:`warn_if_thermal`.
* :func:`thermal_frame` -- a small Cu-Zr glass at a temperature, made by LAMMPS MD.

Units: Å, eV, amu (LAMMPS ``metal``).  Importing this package does not import LAMMPS.
"""
from .engine import LammpsEngine
from .potential import Potential
from .quench import QuenchResult, quench, quench_limits
from .sample import thermal_frame
from .thermal import looks_thermal, thermal_score, thermal_warning, warn_if_thermal

__all__ = ["Potential", "LammpsEngine", "quench", "quench_limits", "QuenchResult", "thermal_score", "looks_thermal",
           "thermal_warning", "warn_if_thermal", "thermal_frame"]
