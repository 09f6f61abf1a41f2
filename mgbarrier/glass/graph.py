"""k-nearest-neighbour graphs in 2D or 3D, periodic (minimum image) or not.

Conventions (used by :mod:`.dmpnn`, :mod:`.metrics` and :mod:`.attention`):

* ``positions``: (N, d) float, d = 2 or 3, in the structure's length unit (σ_AA or Å);
* ``box``: (d,) side lengths of an orthorhombic periodic box, or None; ``periodic``: (d,) bool
  (a non-periodic axis of a box is treated as open);
* kNN lists: ``nbr`` (N, k) int indices of each particle's k nearest others, nearest first,
  ``dist`` (N, k) their distances (minimum image: each neighbour counted once, so a box
  smaller than twice the k-th neighbour distance is not resolved into several images);
* undirected pairs: (M, 2) int with ``i < j``, sorted; the directed edges of the D-MPNN are
  ``src = [i, j], dst = [j, i]`` and edge ``e``'s reverse is ``(e + M) mod 2M``.

Triclinic periodic cells (3D glasses) go through :func:`knn_atoms`, which uses the
matscipy neighbour list of :func:`mgbarrier.graph.neighbour_pairs`.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from ..errors import MgBarrierError


def _as_box(box, d: int, periodic) -> Tuple[Optional[np.ndarray], np.ndarray]:
    if box is None:
        return None, np.zeros(d, dtype=bool)
    b = np.asarray(box, dtype=float).reshape(-1)
    if b.shape != (d,):
        raise MgBarrierError(f"box: expected {d} side lengths, got shape {b.shape}")
    per = np.ones(d, dtype=bool) if periodic is None else np.asarray(periodic, dtype=bool).reshape(d)
    if np.any(b[per] <= 0) or not np.all(np.isfinite(b[per])):
        raise MgBarrierError(f"box: periodic side lengths must be finite and > 0, got {b.tolist()}")
    return b, per


def knn(positions: np.ndarray, k: int, box: Optional[Sequence[float]] = None,
        periodic: Optional[Sequence[bool]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest other particles of every particle.

    positions: (N, d); box: (d,) orthorhombic side lengths (periodic axes) or None.
    Returns ``(nbr (N, k') int64, dist (N, k') float)`` with k' = min(k, N - 1), nearest first.
    """
    from scipy.spatial import cKDTree

    pos = np.asarray(positions, dtype=float)
    if pos.ndim != 2 or pos.shape[1] not in (2, 3):
        raise MgBarrierError(f"positions: expected shape (N, 2) or (N, 3), got {pos.shape}")
    n, d = pos.shape
    if not np.all(np.isfinite(pos)):
        raise MgBarrierError("positions: non-finite coordinates")
    kk = min(int(k), n - 1)
    if kk < 1:
        return np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0))
    b, per = _as_box(box, d, periodic)
    if b is None or not per.any():
        tree = cKDTree(pos)
    else:
        # periodic axes wrapped into [0, L); open axes padded so that no image is ever nearer
        q = pos.copy()
        size = np.empty(d)
        q[:, per] = np.mod(q[:, per], b[per])
        q[:, per] = np.where(q[:, per] >= b[per], 0.0, q[:, per])  # mod can round up to L
        if (~per).any():
            lo = q[:, ~per].min(axis=0)
            span = q[:, ~per].max(axis=0) - lo
            diag = float(np.sqrt(np.sum(span ** 2) + np.sum(b[per] ** 2))) + 1.0
            q[:, ~per] -= lo
            size[~per] = 3.0 * diag
        size[per] = b[per]
        tree = cKDTree(q, boxsize=size)
        pos = q
    dist, idx = tree.query(pos, k=kk + 1)
    dist = np.atleast_2d(dist)
    idx = np.atleast_2d(idx)
    # drop self (normally column 0; with coincident points self may be elsewhere)
    self_mask = idx == np.arange(n)[:, None]
    has_self = self_mask.any(axis=1)
    keep = ~self_mask
    keep[~has_self, -1] = False
    nbr = idx[keep].reshape(n, kk).astype(np.int64)
    dd = dist[keep].reshape(n, kk)
    return nbr, dd


def pairs_from_knn(nbr: np.ndarray, rows: Optional[np.ndarray] = None) -> np.ndarray:
    """Undirected pairs (M, 2), i < j, sorted, from kNN lists ``nbr`` (R, k).

    ``rows``: (R,) the particle index of each row of ``nbr`` (default: 0..R-1), so that only
    some particles (e.g. the B particles) can contribute edges.
    """
    nbr = np.asarray(nbr, dtype=np.int64)
    r = np.arange(nbr.shape[0], dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    if nbr.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    a = np.repeat(r, nbr.shape[1])
    b = nbr.reshape(-1)
    p = np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)
    p = p[p[:, 0] != p[:, 1]]
    return np.unique(p, axis=0)


def pair_distances(positions: np.ndarray, pairs: np.ndarray, box: Optional[Sequence[float]] = None,
                   periodic: Optional[Sequence[bool]] = None) -> np.ndarray:
    """(M,) minimum-image distances of ``pairs`` (M, 2)."""
    pos = np.asarray(positions, dtype=float)
    dv = pos[pairs[:, 1]] - pos[pairs[:, 0]]
    b, per = _as_box(box, pos.shape[1], periodic)
    if b is not None and per.any():
        dv[:, per] -= b[per] * np.round(dv[:, per] / b[per])
    return np.sqrt(np.sum(dv ** 2, axis=1))


def knn_pairs(positions: np.ndarray, k: int, box: Optional[Sequence[float]] = None,
              periodic: Optional[Sequence[bool]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Symmetrised kNN graph: ``(pairs (M, 2), distances (M,))`` (v, w joined if either is among
    the other's k nearest, as in the seed's graph construction)."""
    nbr, _ = knn(positions, k, box, periodic)
    pairs = pairs_from_knn(nbr)
    return pairs, pair_distances(positions, pairs, box, periodic)


def directed_edges(pairs: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(src (2M,), dst (2M,), rev (2M,))`` from undirected ``pairs`` (M, 2)."""
    m = pairs.shape[0]
    src = np.concatenate([pairs[:, 0], pairs[:, 1]]).astype(np.int64)
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]]).astype(np.int64)
    rev = (np.arange(2 * m, dtype=np.int64) + m) % max(2 * m, 1)
    return src, dst, rev


# ----------------------------------------------------------------------------- ase.Atoms
def atoms_geometry(atoms) -> Tuple[np.ndarray, Optional[np.ndarray], np.ndarray, bool]:
    """``(positions (N, d), box (d,) or None, periodic (d,), orthorhombic)`` of ``ase.Atoms``.

    A structure is 2D when z is not periodic and all z coordinates are equal (d = 2);
    otherwise d = 3.  ``orthorhombic`` is False for a periodic cell with off-diagonal terms.
    """
    pos = atoms.get_positions()
    pbc = np.asarray(atoms.pbc, dtype=bool)
    cell = atoms.cell.array
    two_d = (not pbc[2]) and np.ptp(pos[:, 2]) < 1e-9 if len(pos) else False
    d = 2 if two_d else 3
    offdiag = cell - np.diag(np.diag(cell))
    ortho = not np.any(np.abs(offdiag[:d, :d]) > 1e-9 * max(1.0, float(np.abs(cell).max())))
    if two_d and np.any(np.abs(cell[:2, 2]) > 1e-9) or two_d and np.any(np.abs(cell[2, :2]) > 1e-9):
        ortho = False
    if not pbc[:d].any():
        return pos[:, :d], None, np.zeros(d, dtype=bool), True
    box = np.diag(cell)[:d].copy()
    return pos[:, :d], box, pbc[:d].copy(), ortho


def knn_atoms(atoms, k: int, source: str = "") -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """kNN of ``ase.Atoms`` (any cell): ``(positions (N, d), nbr (N, k'), dist (N, k'))``."""
    pos, box, per, ortho = atoms_geometry(atoms)
    if ortho:
        nbr, dist = knn(pos, k, box, per)
        return pos, nbr, dist
    return pos, *_knn_neighbour_list(atoms, k, source)


def _knn_neighbour_list(atoms, k: int, source: str) -> Tuple[np.ndarray, np.ndarray]:
    """kNN in a triclinic periodic cell through a growing-cutoff neighbour list."""
    from ..graphs.neighbours import neighbour_pairs

    n = len(atoms)
    kk = min(int(k), n - 1)
    if kk < 1:
        return np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0))
    vol = abs(np.linalg.det(atoms.cell.array))
    rho = n / vol if vol > 0 else 1.0
    r = 1.5 * (3.0 * (kk + 1) / (4.0 * np.pi * rho)) ** (1.0 / 3.0)
    for _ in range(12):
        i, j, d = neighbour_pairs(atoms, r, with_distance=True)
        counts = np.bincount(i, minlength=n)
        if counts.min() >= kk:
            order = np.lexsort((d, i))
            i, j, d = i[order], j[order], d[order]
            start = np.concatenate([[0], np.cumsum(counts)[:-1]])
            take = start[:, None] + np.arange(kk)[None, :]
            return j[take].astype(np.int64), d[take]
        r *= 1.5
    where = f"{source}: " if source else ""
    raise MgBarrierError(f"{where}cannot find {kk} neighbours per atom (isolated atoms?)")
