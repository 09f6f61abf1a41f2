"""Periodic neighbour lists (vesin, else matscipy): the one place pairs of atoms are found.

Pairs are directed (i, j) with |d_ij| < cutoff, d_ij = r_j - r_i (+ periodic image
shift), in Å.  Works for orthorhombic and triclinic cells, cells smaller than twice the
cutoff (several images of one neighbour), atoms outside the box, and non-periodic axes.

The work of a neighbour list is bounded *before* anything is allocated: matscipy bins the
cell in boxes of about the cutoff, so a huge, nearly empty cell (two atoms in a 1e9 Å box)
would take all memory; :func:`check_work` refuses it in one line.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
from ase import Atoms

from ..errors import MgBarrierError

#: most neighbour-list bins allowed per atom (plus a fixed allowance) before a cell is
#: refused as too sparse; a glass at any size needs well under one bin per atom
MAX_BINS_PER_ATOM = 64
MAX_BINS_FLOOR = 2_000_000
#: most atoms per Å^3 (solid metals: 0.04-0.09); denser input is not a physical structure
MAX_DENSITY = 0.5


def check_work(atoms: Atoms, cutoff: float, source: str = "") -> None:
    """Refuse a neighbour list whose binning or pair count would explode (one line)."""
    where = f"{source}: " if source else ""
    if not (np.isfinite(cutoff) and cutoff > 0):
        raise MgBarrierError(f"{where}neighbour cutoff must be a positive number of Å, got {cutoff!r}")
    n = len(atoms)
    pbc = np.asarray(atoms.pbc, dtype=bool)
    pos = atoms.get_positions()
    cell = atoms.cell.array
    if not np.all(np.isfinite(cell)):
        raise MgBarrierError(f"{where}non-finite cell")
    if not np.all(np.isfinite(pos)):
        raise MgBarrierError(f"{where}non-finite coordinates")
    lengths = np.empty(3)
    for ax in range(3):
        if pbc[ax]:
            lengths[ax] = np.linalg.norm(cell[ax])
        else:
            lengths[ax] = float(np.ptp(pos[:, ax])) if n else 0.0
            lengths[ax] += 2 * cutoff + 1.0
    bins = float(np.prod(np.maximum(np.ceil(lengths / cutoff), 1.0)))
    limit = MAX_BINS_PER_ATOM * n + MAX_BINS_FLOOR
    if bins > limit:
        raise MgBarrierError(
            f"{where}{n} atoms in a region of {' x '.join(f'{x:.3g}' for x in lengths)} Å: a neighbour list "
            f"would need {bins:.3g} bins (limit {limit:.3g}); the structure is almost empty space "
            "(wrong box or units?)")
    if pbc.all():
        volume = abs(float(np.linalg.det(cell)))
        if volume > 0 and n / volume > MAX_DENSITY:
            raise MgBarrierError(f"{where}{n} atoms in {volume:.3g} Å^3 ({n / volume:.3g} atoms/Å^3, "
                                 f"limit {MAX_DENSITY}): denser than any solid (wrong box or units?)")


def mixed_periodicity_ok(cell: np.ndarray, pbc: np.ndarray) -> bool:
    """Whether a cell (3, 3) may be periodic along ``pbc`` (3,) bool and open along the other
    axes: the periodic cell vectors must have no component along the open Cartesian axes."""
    pbc = np.asarray(pbc, dtype=bool)
    return bool(pbc.all() or not pbc.any() or np.allclose(np.asarray(cell)[pbc][:, ~pbc], 0))


def neighbour_ready(atoms: Atoms, cutoff: float) -> Atoms:
    """A light copy matscipy can handle: wrapped into the cell, non-periodic axes padded
    orthogonally by ``cutoff`` + 0.5 Å around the atoms."""
    pbc = np.asarray(atoms.pbc, dtype=bool)
    pos = atoms.get_positions()
    if pbc.all():
        out = Atoms(numbers=atoms.numbers, positions=pos, cell=atoms.cell, pbc=True)
        out.wrap(eps=0.0)
        return out
    if not mixed_periodicity_ok(atoms.cell.array, pbc):
        raise MgBarrierError("mixed periodicity needs the non-periodic axes orthogonal to the periodic ones")
    cell = atoms.cell.array.copy()
    lo = pos.min(axis=0)
    span = pos.max(axis=0) - lo
    shift = np.zeros(3)
    for ax in np.where(~pbc)[0]:
        cell[ax] = 0.0
        cell[ax, ax] = span[ax] + 2 * cutoff + 1.0
        shift[ax] = -lo[ax] + cutoff + 0.5
    out = Atoms(numbers=atoms.numbers, positions=pos + shift, cell=cell, pbc=pbc)
    if pbc.any():
        out.wrap(eps=0.0)
    return out


# Pairs come from vesin's half list (each pair found once), mirrored and sorted by centre here,
# for every cell at least 2 cutoffs + 1 Å wide between lattice planes (mixed periodicity, e.g.
# spatial domains that keep some periodic axes, as all-periodic with the open axes padded: vesin
# 0.6 with mixed flags took 1.9 s / 11.1 s where matscipy took 1.0 s / 0.8 s for 116,000 atoms
# periodic along two axes / one axis); narrower cells and any structure when vesin is missing
# take matscipy's full list.  Both give the same pairs; the order of a centre's pairs differs
# (float rounding downstream).  vesin 0.6.2 is the faster at every size measured (test0 tiled,
# 2 threads, best of 3): 3,000 atoms 20 vs 92 ms at 7.5 Å with distances, 8 vs 22 ms at 5 Å with
# vectors; 81,000 atoms 0.47 vs 1.71 s and 0.22 vs 0.61 s; one thread 1.5-3x.


def neighbour_pairs(atoms: Atoms, cutoff: float, with_distance: bool = False,
                    dtype=np.float64) -> Tuple[np.ndarray, ...]:
    """Directed neighbour pairs within ``cutoff`` (Å), sorted by the first index.

    Returns ``(i, j, D)`` with D (E, 3) the displacement r_j - r_i in Å, or
    ``(i, j, d)`` with d (E,) the distances when ``with_distance``; D or d of ``dtype``
    (float32: the same values as float64 rounded, at half the memory while the pairs are
    mirrored: a graph network's input)."""
    from matscipy.neighbours import neighbour_list

    check_work(atoms, cutoff, atoms.info.get("source", "") if hasattr(atoms, "info") else "")
    ready = neighbour_ready(atoms, cutoff)
    if _large_cell(ready, cutoff):
        try:
            return _vesin_pairs(ready, cutoff, with_distance, dtype)
        except ImportError:
            pass
    i, j, values = neighbour_list("ijd" if with_distance else "ijD", ready, float(cutoff))
    return i, j, values.astype(dtype, copy=False)


def _large_cell(ready: Atoms, cutoff: float) -> bool:
    """Every periodic axis at least 2 cutoff + 1 Å wide between lattice planes (no pair meets
    two images of one atom), so that a half list's mirror is the full list."""
    pbc = np.asarray(ready.pbc, dtype=bool)
    if not pbc.any():
        return True
    widths = 1.0 / np.linalg.norm(np.linalg.inv(ready.cell.array).T, axis=1)
    return bool(np.all(widths[pbc] >= 2 * cutoff + 1.0))


def _vesin_pairs(ready: Atoms, cutoff: float, with_distance: bool = False,
                 dtype=np.float64) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, D) or, ``with_distance``, (i, j, d) from vesin's half list (each pair once),
    mirrored, stably sorted by i (a torch sort: parallel); i, j int32 like matscipy's.  The
    distances come from vesin (no (E, 3) vectors are made for them) and are read in place
    (``copy=False``: views into ``nl``, which lives until they are mirrored); the vectors are
    copied so that vesin's buffers are freed at once (in place they stayed alive through the
    mirroring: +0.5-0.8 GB at a million atoms, the SymGNN's memory-critical step)."""
    import torch
    from vesin import NeighborList

    # mixed periodicity: the open axes of ``ready`` are padded orthogonally to 2 cutoffs + 1 Å
    # beyond the atoms (neighbour_ready), so calling them periodic adds no pair and keeps vesin
    # on its fast all-periodic path (mixed flags took it 2-14x longer than matscipy)
    nl = NeighborList(cutoff=float(cutoff), full_list=False)
    pairs, half = nl.compute(points=ready.positions, box=ready.cell.array, periodic=bool(np.any(ready.pbc)),
                             quantities="Pd" if with_distance else "PD", copy=not with_distance)
    if not with_distance:
        nl = None  # copied: vesin's buffers go now, before the mirroring allocates
    pairs = torch.from_numpy(pairs.astype(np.int32))
    n = len(pairs)
    i, order = torch.sort(torch.cat([pairs[:, 0], pairs[:, 1]]), stable=True)
    j = torch.cat([pairs[:, 1], pairs[:, 0]]).index_select(0, order)
    del pairs
    mirrored = order >= n
    order -= mirrored * n  # the half-list row of every pair
    if np.dtype(dtype) != half.dtype:  # rounded before the mirroring: half the bytes of its copy
        half = half.astype(dtype)
    values = torch.from_numpy(half).index_select(0, order)  # new memory, not a view of vesin's
    del half, order, nl  # with distances: the views into vesin's buffers end here
    if not with_distance:
        values.mul_(1.0 - 2.0 * mirrored.unsqueeze(1))  # a mirrored pair: r_i - r_j
    return i.numpy(), j.numpy(), values.numpy()
