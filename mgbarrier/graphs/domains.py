"""Spatial domains of a structure with halos: the geometry of every cut into parts.

:func:`domains` cuts a structure into the cells of an m0 x m1 x m2 grid in fractional
coordinates (periodic axes, triclinic or not; the atoms' bounding box along open axes) and
yields each cell's own atoms with a halo: every atom, periodic images included, whose distance
across the lattice planes from the cell is below a radius R (the slab [lo - R |b_k|, hi + R |b_k|)
per axis k, b_k the reciprocal vector without 2 pi: a superset of the points within R).
Used by :mod:`mgbarrier.models.chunked` (a model predicted domain by domain) and by the SOAP
blocks of :mod:`mgbarrier.graphs.soap`.

Per-atom inputs already computed for the whole structure travel with the atoms: arrays of
``atoms.arrays`` whose name starts with :data:`INPUT_PREFIX` are copied into every cluster,
own atoms first, halo images after (an image has its atom's values).
"""
from __future__ import annotations

import functools
import itertools
import math
from typing import Callable, Iterator, Tuple

import numpy as np
from ase import Atoms

from .neighbours import mixed_periodicity_ok, neighbour_ready

#: ``Atoms.arrays`` key of a cluster: -1 for the domain's own atoms, else the halo atom's
#: distance (Å) outside the domain (the largest over the cut axes, measured across the lattice
#: planes).  A halo atom at depth d only influences own atoms through d Å of messages: a
#: message-passing network computes layer k only on the atoms within (layers - k) x cutoff
#: (:class:`mgbarrier.models.graph_network.GraphNetworkPredictor`).  Halo atoms come sorted by depth.
HALO_DEPTH = "mgbarrier_halo_depth"

#: ``Atoms.arrays`` names starting with this are per-atom model inputs computed once for the
#: whole structure (e.g. projected SOAP rows, :mod:`mgbarrier.graphs.soap`); clusters carry them
INPUT_PREFIX = "mgbarrier_input_"


def input_arrays(atoms: Atoms) -> dict:
    """The per-atom input arrays (name -> (N, ...) array) that ``atoms`` carries."""
    return {k: v for k, v in atoms.arrays.items() if k.startswith(INPUT_PREFIX)}


def frame(atoms: Atoms) -> Tuple[Atoms, np.ndarray, np.ndarray]:
    """(ready copy, (N, 3) fractional coordinates in [0, 1), (3,) bool periodic axes)."""
    ready = neighbour_ready(atoms, 0.0)  # wrapped; non-periodic axes: an orthogonal box around the atoms
    frac = ready.cell.scaled_positions(ready.positions)
    pbc = np.asarray(ready.pbc, dtype=bool)
    frac[:, pbc] %= 1.0
    return ready, np.clip(frac, 0.0, np.nextafter(1.0, 0.0)), pbc


def keeps_periodic(cell: np.ndarray) -> Callable[[np.ndarray], bool]:
    """For a wrapped cell (3, 3): may clusters stay periodic along the axes ``whole`` and open
    along the others?  (:func:`mgbarrier.graphs.neighbours.mixed_periodicity_ok`, the condition
    the neighbour list itself needs.)"""
    return functools.partial(mixed_periodicity_ok, cell)


def domains(atoms: Atoms, radius: float, grid: Tuple[int, int, int],
            open_clusters: bool = False) -> Iterator[Tuple[np.ndarray, Atoms]]:
    """Yield ``(own, cluster)``: indices (n_own,) of a domain's atoms and the cluster Atoms whose
    first n_own atoms are those (in order), followed by the halo sorted by depth
    (``cluster.arrays[HALO_DEPTH]``).  The cluster is open along the cut axes and stays
    periodic along periodic axes left whole (m = 1) where the cell allows it (:func:`keeps_periodic`),
    unless ``open_clusters``.  Input arrays (:data:`INPUT_PREFIX`) are carried (module doc)."""
    ready, frac, pbc = frame(atoms)
    m = np.asarray(grid)
    recip = np.linalg.norm(np.linalg.inv(ready.cell.array).T, axis=1)  # |b_k|, 1/Å
    delta = radius * recip
    whole = pbc & (m == 1)
    if open_clusters or not (whole.any() and keeps_periodic(ready.cell.array)(whole)):
        whole = np.zeros(3, dtype=bool)
    cell_of = np.minimum((frac * m).astype(np.int64), m - 1)
    flat = (cell_of[:, 0] * m[1] + cell_of[:, 1]) * m[2] + cell_of[:, 2]
    order = np.argsort(flat, kind="stable")
    starts = np.searchsorted(flat[order], np.arange(int(m.prod()) + 1))
    pos, numbers, cell = ready.positions, ready.numbers, ready.cell.array
    carried = input_arrays(atoms)  # same atom order as ready
    source = atoms.info.get("source", "")
    for d, (a, b, c) in enumerate(itertools.product(range(m[0]), range(m[1]), range(m[2]))):
        own = order[starts[d]:starts[d + 1]]
        if len(own) == 0:
            continue
        idx = np.arange(len(atoms))
        shift = np.zeros((len(idx), 3))
        depth = np.zeros(len(idx))
        for k, lo_cell in enumerate((a, b, c)):
            if whole[k]:
                continue
            lo_dom, hi_dom = lo_cell / m[k], (lo_cell + 1) / m[k]
            lo, hi = lo_dom - delta[k], hi_dom + delta[k]
            shifts = range(int(math.floor(lo)), int(math.floor(hi)) + 1) if pbc[k] else (0,)
            keep_i, keep_s, keep_d = [], [], []
            for s in shifts:
                x = frac[idx, k] + s
                sel = (x >= lo) & (x < hi)
                keep_i.append(idx[sel])
                sh = shift[sel].copy()
                sh[:, k] = s
                keep_s.append(sh)
                outside = np.maximum(np.maximum(lo_dom - x[sel], x[sel] - hi_dom), 0.0) / recip[k]  # Å
                keep_d.append(np.maximum(depth[sel], outside))
            idx, shift, depth = np.concatenate(keep_i), np.concatenate(keep_s), np.concatenate(keep_d)
        mine = np.zeros(len(atoms), dtype=bool)
        mine[own] = True
        halo = ~(mine[idx] & ~shift.any(axis=1))
        idx, shift, depth = idx[halo], shift[halo], depth[halo]
        by_depth = np.argsort(depth, kind="stable")
        idx, shift, depth = idx[by_depth], shift[by_depth], depth[by_depth]
        cluster = Atoms(numbers=np.concatenate([numbers[own], numbers[idx]]),
                        positions=np.concatenate([pos[own], pos[idx] + shift @ cell]),
                        cell=cell if whole.any() else None, pbc=whole)
        cluster.arrays[HALO_DEPTH] = np.concatenate([np.full(len(own), -1.0), depth])
        for name, values in carried.items():
            cluster.arrays[name] = np.concatenate([values[own], values[idx]])
        if source:
            cluster.info["source"] = source
        yield own, cluster
