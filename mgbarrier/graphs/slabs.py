"""Slabs of a periodic structure for a layer-by-layer wavefront through a message-passing network.

A structure periodic along some axis k is cut, across that axis, into M slabs at least one
graph cutoff thick (measured between the lattice planes): every edge then joins atoms in the
same slab or in neighbouring slabs (slab M - 1 neighbours slab 0 across the periodic
boundary).  :func:`slab_plan` orders the atoms slab by slab; the network
(:meth:`mgbarrier.nn.symgnn.SymGNN.forward` with ``slabs``) then computes layer k of slab s
as soon as layer k - 1 of slabs s - 1, s and s + 1 is done, so that only the edge states of
the few slabs in flight are ever held (not those of the whole structure) and no atom is
computed twice, except a cone of (layers - 1) x layers / 2 slab-layers at the periodic seam.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Tuple

import numpy as np
from ase import Atoms


class SlabPlan(NamedTuple):
    """``order`` (N,) int64: the atoms slab by slab (``atoms[order]`` is the structure to
    predict); ``bounds`` (M + 1,) int64: slab s holds positions bounds[s]:bounds[s + 1] of that
    order; ``axis``: the cell axis cut across."""

    order: np.ndarray
    bounds: np.ndarray
    axis: int


def slab_count(atoms: Atoms, cutoff: float) -> Tuple[int, int]:
    """``(axis, M)``: the periodic axis across which the most slabs at least ``cutoff`` Å thick
    fit, and how many (0 when the structure has no periodic axis or a degenerate cell)."""
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if not pbc.any() or len(atoms) == 0:
        return 0, 0
    try:
        inverse = np.linalg.inv(np.asarray(atoms.cell.array, dtype=np.float64))
    except np.linalg.LinAlgError:
        return 0, 0
    recip = np.linalg.norm(inverse, axis=0)  # |b_k|, b_k the columns of the inverse: 1 / plane spacing
    spacing = np.where(pbc, 1.0 / np.maximum(recip, 1e-300), 0.0)
    # strictly thicker than the cutoff (floor of a hair less): an edge spans at most one slab boundary
    counts = np.floor(spacing / float(cutoff) * (1.0 - 1e-9))
    axis = int(np.argmax(counts))
    return axis, int(min(counts[axis], 1 << 20))


def slab_occupancy(atoms: Atoms, cutoff: float) -> float:
    """The share of the slabs of :func:`slab_count` that hold at least one atom (1.0 for bulk, less
    for a film in vacuum across the slab axis; 0.0 without slabs)."""
    axis, m = slab_count(atoms, cutoff)
    if m == 0:
        return 0.0
    return float(np.count_nonzero(np.bincount(_slab_indices(atoms, axis, m), minlength=m))) / m


def _slab_indices(atoms: Atoms, axis: int, m: int) -> np.ndarray:
    """(N,) int64: each atom's slab of ``m`` across cell axis ``axis`` (wrapped fractional coordinate)."""
    inverse = np.linalg.inv(np.asarray(atoms.cell.array, dtype=np.float64))
    frac = atoms.positions @ inverse[:, axis]
    frac = frac - np.floor(frac)
    return np.minimum((frac * m).astype(np.int64), m - 1)


def slab_plan(atoms: Atoms, cutoff: float, min_slabs: int) -> Optional[SlabPlan]:
    """Slabs at least ``cutoff`` Å thick across the periodic axis that allows the most of them
    (:func:`slab_count`), or None when it allows fewer than ``min_slabs`` (at least 3)."""
    axis, m = slab_count(atoms, cutoff)
    if m < max(3, int(min_slabs)):
        return None
    slab = _slab_indices(atoms, axis, m)
    order = np.argsort(slab, kind="stable")
    bounds = np.searchsorted(slab[order], np.arange(m + 1), side="left").astype(np.int64)
    return SlabPlan(order.astype(np.int64), bounds, axis)
