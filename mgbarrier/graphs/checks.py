"""The one validation of a structure, used by every entry point (files, Python API,
ASE calculator, OVITO, quench, labeller) before a model or LAMMPS sees it.

Refused, each with one :class:`MgBarrierError` line: no atoms, atoms without an element,
non-finite coordinates or cell, a singular periodic cell, a cell whose neighbour list would
take unbounded work (see :func:`mgbarrier.graphs.neighbours.check_work`), and atoms closer
than :data:`MIN_DISTANCE`.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
from ase import Atoms

from ..errors import MgBarrierError
from .neighbours import check_work, neighbour_pairs

#: atoms closer than this (Å) are refused as overlapping
MIN_DISTANCE = 0.5

#: True inside :func:`parts_of_validated`: the structures passed are parts of one already validated
_PARTS: ContextVar[bool] = ContextVar("mgbarrier_parts_of_validated", default=False)


@contextmanager
def parts_of_validated():
    """Within this block :func:`validate_atoms` accepts everything: the caller validated a whole
    structure and passes pieces of it (spatial domains with halos, :mod:`mgbarrier.models.chunked`)."""
    token = _PARTS.set(True)
    try:
        yield
    finally:
        _PARTS.reset(token)


def require_atoms(atoms, source: str = "") -> None:
    """One error line for anything that is not an ``ase.Atoms`` (before ``atoms.info`` is read)."""
    if not isinstance(atoms, Atoms):
        raise MgBarrierError(f"{source + ': ' if source else ''}expected an ase.Atoms, got {type(atoms).__name__}")


def validate_atoms(atoms: Atoms, source: str = "") -> None:
    """Refuse structures a model cannot use (see module doc); cheap checks first."""
    if _PARTS.get() and isinstance(atoms, Atoms):
        return
    where = f"{source}: " if source else ""
    require_atoms(atoms, source)
    if len(atoms) == 0:
        raise MgBarrierError(f"{where}structure has no atoms")
    try:
        pos = np.asarray(atoms.get_positions(), dtype=np.float64)
    except (TypeError, ValueError):
        raise MgBarrierError(f"{where}coordinates are not numbers") from None
    if not np.all(np.isfinite(pos)):
        bad = int(np.where(~np.isfinite(pos).all(axis=1))[0][0])
        raise MgBarrierError(f"{where}non-finite coordinates (atom index {bad})")
    cell = atoms.cell.array
    if not np.all(np.isfinite(cell)):
        raise MgBarrierError(f"{where}non-finite cell")
    if any(atoms.pbc):
        periodic = cell[np.asarray(atoms.pbc, dtype=bool)]
        if np.linalg.matrix_rank(periodic, tol=1e-6) < len(periodic) or \
                (all(atoms.pbc) and abs(np.linalg.det(cell)) < 1e-6):
            raise MgBarrierError(f"{where}periodic structure with a degenerate (zero-volume) cell")
    if np.any(atoms.numbers == 0):
        raise MgBarrierError(f"{where}atoms without an element (symbol 'X'); give --species")
    if np.abs(pos).max() > 1e7:
        raise MgBarrierError(f"{where}coordinates of {np.abs(pos).max():.3g} Å (wrong units?)")
    _check_overlaps(atoms, where)


def _check_overlaps(atoms: Atoms, where: str) -> None:
    # bins of about the mean atomic spacing, not of MIN_DISTANCE (which would make the
    # binning of a million-atom cell cost gigabytes)
    n = len(atoms)
    cutoff = MIN_DISTANCE
    if all(atoms.pbc):
        spacing = (abs(float(np.linalg.det(atoms.cell.array))) / n) ** (1.0 / 3.0)
        cutoff = max(MIN_DISTANCE, min(0.8 * spacing, 3.0))
    elif n > 1:  # the region the atoms span (non-periodic axes: their extent), as check_work sees it
        pos = atoms.get_positions()
        lengths = [np.linalg.norm(atoms.cell[ax]) if atoms.pbc[ax] else float(np.ptp(pos[:, ax])) + 1.0
                   for ax in range(3)]
        spacing = (float(np.prod(lengths)) / n) ** (1.0 / 3.0)
        cutoff = max(MIN_DISTANCE, min(0.8 * spacing, 3.0))
    check_work(atoms, cutoff, where.rstrip(": "))
    i, j, d = neighbour_pairs(atoms, cutoff, with_distance=True)
    close = d < MIN_DISTANCE
    if close.any():
        k = int(np.flatnonzero(close)[np.argmin(d[close])])
        raise MgBarrierError(
            f"{where}overlapping atoms {int(i[k])} and {int(j[k])} ({d[k]:.3f} Å apart, minimum {MIN_DISTANCE} Å)"
        )
