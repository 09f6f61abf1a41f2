"""The seed's three structural metrics of glass formation (its §III B, Fig. 10).

Construction: connect every B particle to its ``k`` (= 2) nearest neighbours (of any type,
minimum image under periodic boundaries); the union of these links is an undirected graph.
Then count

* ``components``: connected components that have at least one edge (the seed's "disjoint
  graphs"; particles without any edge are not components, they are counted below);
* ``bb_edges``: edges joining two B particles (each pair once);
* ``isolated_a``: A particles with no edge (not among the k nearest neighbours of any B).

The seed found that liquids have more of all three than glasses, and that all three fall
faster with temperature above Tg than below.  On our smaller, faster-cooled data only B-B
edges behave so; components and isolated A turn around below Tg as the vibrations freeze out
(README, "Liquid or glass?").  The same counts on the high-attention graph of a trained D-MPNN are
:func:`graph_counts` on that graph (:mod:`.attention`).

3D extension (e.g. Cu64Zr36): the same construction in 3D, with B = the minority species
by default (Zr in Cu64Zr36, the 35 % species of the Kob-Andersen mixture; ``species_b``
overrides).  k = 2 is kept by default for comparability; larger k suits the higher 3D
coordination (12-14 against 6) and is a parameter.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Sequence

import numpy as np

from ..errors import MgBarrierError
from .graph import knn, pairs_from_knn

METRIC_NAMES = ("components", "bb_edges", "isolated_a")


@dataclass
class StructureMetrics:
    """Counts for one configuration (see the module doc); ``*_per_particle`` = count / N."""

    n_particles: int
    n_b: int
    components: int
    bb_edges: int
    isolated_a: int
    isolated_b: int
    n_edges: int

    def as_dict(self) -> dict:
        d = asdict(self)
        for m in METRIC_NAMES:
            d[f"{m}_per_particle"] = getattr(self, m) / max(self.n_particles, 1)
        return d


def graph_counts(n: int, is_b: np.ndarray, pairs: np.ndarray) -> StructureMetrics:
    """Components with an edge, B-B edges, isolated A and B of the graph ``pairs`` (M, 2) on n nodes."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    is_b = np.asarray(is_b, dtype=bool)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    deg = np.bincount(pairs.reshape(-1), minlength=n)
    if len(pairs):
        adj = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
        n_comp, _ = connected_components(adj, directed=False)
    else:
        n_comp = n
    isolated = deg == 0
    return StructureMetrics(n_particles=int(n), n_b=int(is_b.sum()),
                            components=int(n_comp - isolated.sum()),
                            bb_edges=int(np.sum(is_b[pairs[:, 0]] & is_b[pairs[:, 1]])) if len(pairs) else 0,
                            isolated_a=int(np.sum(isolated & ~is_b)), isolated_b=int(np.sum(isolated & is_b)),
                            n_edges=int(len(pairs)))


def b_neighbour_pairs(positions: np.ndarray, is_b: np.ndarray, k: int = 2, box: Optional[Sequence[float]] = None,
                      periodic: Optional[Sequence[bool]] = None, nbr: Optional[np.ndarray] = None) -> np.ndarray:
    """Undirected pairs (M, 2): every B particle joined to its ``k`` nearest neighbours.

    positions: (N, d); is_b: (N,) bool; box: (d,) orthorhombic periodic sides or None;
    ``nbr``: precomputed kNN lists (N, >= k) to use instead of computing them.
    """
    is_b = np.asarray(is_b, dtype=bool)
    if nbr is None:
        nbr, _ = knn(positions, k, box, periodic)
    b = np.where(is_b)[0]
    return pairs_from_knn(np.asarray(nbr)[b, :k], rows=b)


def structure_metrics(positions: np.ndarray, is_b: np.ndarray, k: int = 2, box: Optional[Sequence[float]] = None,
                      periodic: Optional[Sequence[bool]] = None) -> StructureMetrics:
    """The three metrics of one configuration (arrays in, counts out)."""
    pos = np.asarray(positions, dtype=float)
    if len(pos) != len(is_b):
        raise MgBarrierError(f"positions ({len(pos)}) and is_b ({len(is_b)}) differ in length")
    if k < 1:
        raise MgBarrierError(f"k: need at least 1 neighbour, got {k}")
    return graph_counts(len(pos), is_b, b_neighbour_pairs(pos, is_b, k, box, periodic))


def atoms_metrics(atoms, species_b: Optional[str] = None, k: int = 2, source: str = ""):
    """``(StructureMetrics, pairs (M, 2), is_b (N,), b_symbol)`` for ``ase.Atoms`` (2D or 3D, any cell)."""
    from .datasets import choose_species_b
    from .graph import knn_atoms

    b_sym = choose_species_b(atoms.get_chemical_symbols(), species_b, source)
    is_b = np.asarray(atoms.get_chemical_symbols()) == b_sym
    _, nbr, _ = knn_atoms(atoms, k, source)
    pairs = b_neighbour_pairs(None, is_b, k, nbr=nbr)
    return graph_counts(len(atoms), is_b, pairs), pairs, is_b, b_sym
