"""Is a structure an MD snapshot (thermal) rather than a minimised (inherent) structure?

No potential and no LAMMPS needed.  Each atom feels a generic soft-sphere repulsion from
its neighbours, ``phi(r) = (1 - r / (C sigma))**4`` for ``r < C sigma`` with
``sigma = R_a + R_b`` (metallic radii, ``C = 1.3``).  In an inherent structure the real
forces vanish, and because every metal's short-range repulsion has about the same shape,
the soft-sphere forces nearly cancel too; thermal displacements (random, uncorrelated from
atom to atom) leave them unbalanced.  The score is dimensionless::

    score = rms_i |sum_j phi'(r_ij) r_ij / r_ij|  /  mean_i sum_j |phi'(r_ij)|

Calibration (Cu-Zr; ``THERMAL_THRESHOLD = 0.08``, about the geometric mean of the largest
training structure, 0.060, and the smallest thermal frame, 0.108; test0/test1 only checked)::

    structure                                               atoms   score
    published minimised train0 .. train6                     8000   0.0570 - 0.0601
    published test0, test1                                   3000   0.0579, 0.0569
    train0, test0 quenched with CuZr_mm.eam.fs          8000, 3000   0.0466, 0.0469
    test0 + Gaussian noise 0.02 / 0.03 / 0.05 Å per axis     3000   0.068 / 0.080 / 0.110
    Cu64Zr36 glass, three 300 K MD frames                     491   0.108 - 0.111
    the same at 16.8 Å^3/atom, three 300 K frames             492   0.123 - 0.125
    one frame of each quenched (fmax 1e-3 eV/Å)          491, 492   0.057, 0.070

(300 K frames: random placement at 15.9 Å^3/atom, 1 ps at 2000 K, cooled to 300 K in
2 ps, NVT; ``tests/test_md.py`` makes it.)  Surfaces (non-periodic axes) raise the score:
atoms there are unbalanced whatever their temperature.
"""
from __future__ import annotations

import warnings
from typing import Mapping, Optional

import numpy as np
from ase import Atoms

from ..errors import MgBarrierError, MgBarrierWarning
from ..graphs.neighbours import neighbour_pairs

__all__ = ["thermal_score", "looks_thermal", "thermal_warning", "warn_if_thermal", "THERMAL_THRESHOLD",
           "METALLIC_RADII", "QUENCH_HINT"]

#: how to get minimised structures, quoted in the warning
QUENCH_HINT = ("quench the frames first: mgbarrier predict --quench --pair-style eam/fs "
               "--pair-coeff '* * CuZr_mm.eam.fs Cu Zr' (or --potential FILE; Python: "
               "predict_file(..., quench=Potential(...)), BarrierCalculator(quench=...))")

#: metallic radii (Å, coordination 12) used for ``sigma = R_a + R_b``
METALLIC_RADII = {"Cu": 1.28, "Zr": 1.60}
#: scores above this flag a thermal structure (calibrated on Cu-Zr glasses, see module docstring)
THERMAL_THRESHOLD = 0.08
_RANGE = 1.3  # C: the soft sphere reaches C * sigma
_POWER = 4


def thermal_score(atoms: Atoms, radii: Optional[Mapping[str, float]] = None) -> float:
    """Imbalance of a generic soft-sphere force around each atom (dimensionless; see module).

    ``radii``: metallic radius (Å) per element, default :data:`METALLIC_RADII`.
    About 0.06 for minimised Cu-Zr glasses, above 0.1 for 300 K snapshots.
    """
    table = dict(METALLIC_RADII if radii is None else radii)
    symbols = atoms.get_chemical_symbols()
    missing = sorted(set(symbols) - set(table))
    if missing:
        raise MgBarrierError(f"thermal_score: no metallic radius for {', '.join(missing)}; pass radii={{...}}")
    if len(atoms) < 2:
        raise MgBarrierError("thermal_score: needs at least two atoms")
    r = np.array([table[s] for s in symbols], dtype=float)
    i, j, vec = neighbour_pairs(atoms, 2.0 * _RANGE * r.max())
    d = np.linalg.norm(vec, axis=1)
    reach = _RANGE * (r[i] + r[j])
    inside = d < reach
    i, d, vec, reach = i[inside], d[inside], vec[inside], reach[inside]
    dphi = _POWER * (1.0 - d / reach) ** (_POWER - 1) / reach  # -phi'(r), 1/Å
    push = -(dphi / d)[:, None] * vec  # repulsion pushes i away from j
    n = len(atoms)
    force = np.stack([np.bincount(i, weights=push[:, k], minlength=n) for k in range(3)], axis=1)
    scale = np.bincount(i, weights=dphi, minlength=n).mean()
    if scale == 0.0:
        raise MgBarrierError("thermal_score: no atom has a neighbour (not a condensed structure)")
    return float(np.sqrt((force ** 2).sum(axis=1).mean()) / scale)


def looks_thermal(atoms: Atoms, threshold: float = THERMAL_THRESHOLD,
                  radii: Optional[Mapping[str, float]] = None) -> bool:
    """True when :func:`thermal_score` exceeds ``threshold``: probably an MD snapshot, not
    a minimised structure (quench it with :func:`mgbarrier.md.quench` first)."""
    return thermal_score(atoms, radii) > threshold


def thermal_warning(atoms: Atoms, source: str, threshold: float = THERMAL_THRESHOLD) -> Optional[str]:
    """The warning text for ``atoms`` when it looks like an MD snapshot, else None.

    Checked only where the score is calibrated: fully periodic structures whose elements
    all have a metallic radius (others: None, no check).  ``source`` names the file.
    """
    if len(atoms) < 2 or not all(atoms.pbc) or atoms.cell.rank < 3:
        return None
    if not set(atoms.get_chemical_symbols()) <= set(METALLIC_RADII):
        return None
    try:
        score = thermal_score(atoms)
    except MgBarrierError:
        return None
    if score <= threshold:
        return None
    return (f"{source}: the structure looks like an MD snapshot, not a minimised one (thermal score "
            f"{score:.3f} > {threshold:g}); barriers are defined for, and the models were trained on, "
            f"minimised (inherent) structures, so these values are biased low; {QUENCH_HINT}")


def warn_if_thermal(atoms: Atoms, source: str, threshold: float = THERMAL_THRESHOLD) -> bool:
    """Issue :func:`thermal_warning` as one :class:`MgBarrierWarning`; True when it fired."""
    text = thermal_warning(atoms, source, threshold)
    if text is not None:
        warnings.warn(MgBarrierWarning(text), stacklevel=2)
    return text is not None
