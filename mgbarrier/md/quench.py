"""Inherent-structure quench: relax an ``ase.Atoms`` to the nearest local energy minimum.

>>> res = quench(frame, Potential.from_options("eam/fs", ["* * CuZr_mm.eam.fs Cu Zr"]))
>>> res.atoms, res.energy_final, res.fmax_final      # quenched copy, eV, eV/Å

The cell is fixed.  LAMMPS' FIRE then CG run until the largest per-atom force is below
``fmax``; the input is never modified.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ase import Atoms

from ..errors import MgBarrierError
from ..graphs.checks import validate_atoms
from .engine import LammpsEngine
from .potential import Potential

__all__ = ["QuenchResult", "quench", "quench_limits"]


def quench_limits(fmax, max_steps, where: str = "quench") -> "tuple[float, int]":
    """``(fmax eV/Å, max_steps)`` as a positive finite number and a positive whole number, or
    one :class:`MgBarrierError` line led by ``where``."""
    try:
        force, steps = float(fmax), int(max_steps)
    except (TypeError, ValueError, OverflowError):
        raise MgBarrierError(f"{where}: quench_fmax and quench_max_steps must be numbers, "
                             f"got {fmax!r}, {max_steps!r}") from None
    if not (math.isfinite(force) and force > 0 and steps > 0) or steps != max_steps:
        raise MgBarrierError(f"{where}: quench_fmax must be a positive number of eV/Å and quench_max_steps a "
                             f"positive whole number, got {fmax!r}, {max_steps!r}")
    return force, steps


@dataclass
class QuenchResult:
    """Outcome of :func:`quench`.

    ``atoms``: copy of the input with the quenched positions (same order, arrays and info
    kept; positions are input + displacement, not wrapped); ``energy_initial``,
    ``energy_final``: total potential energy (eV); ``fmax_final``: largest per-atom force
    (eV/Å); ``steps``: minimiser iterations; ``converged``: ``fmax_final <= fmax``;
    ``seconds``: wall time of the quench including LAMMPS set-up.
    """

    atoms: Atoms
    energy_initial: float
    energy_final: float
    fmax_final: float
    steps: int
    converged: bool
    seconds: float


def quench(atoms: Atoms, potential: Potential, *, fmax: float = 1e-3, max_steps: int = 10000,
           allow_unconverged: bool = False) -> QuenchResult:
    """Quench ``atoms`` at fixed cell until every per-atom force is below ``fmax`` (eV/Å).

    Raises :class:`MgBarrierError` when ``max_steps`` iterations do not reach ``fmax``,
    unless ``allow_unconverged`` (then check ``result.converged``).  Other errors (species
    the potential lacks, LAMMPS refusing the potential) are :class:`MgBarrierError` too.
    """
    t0 = time.perf_counter()
    fmax, max_steps = quench_limits(fmax, max_steps)
    validate_atoms(atoms, atoms.info.get("source", "") if isinstance(atoms, Atoms) else "quench")
    with LammpsEngine(atoms, potential) as engine:
        energy_initial, _ = engine.energy_forces(atoms.positions)
        positions, energy, fnow, converged = engine.minimize(atoms.positions, fmax=fmax, max_steps=max_steps)
        steps = engine.min_steps
    if not converged and not allow_unconverged:
        raise MgBarrierError(f"quench: not converged after {steps} steps: max force {fnow:.3g} eV/Å > "
                             f"fmax {fmax:g} eV/Å (raise max_steps or fmax)")
    out = atoms.copy()
    out.positions = positions
    return QuenchResult(out, energy_initial, energy, fnow, steps, converged, time.perf_counter() - t0)
