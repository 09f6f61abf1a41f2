"""Medium-range order (MRO) view of an explanation (the paper's Fig. 5a).

Edge importances are aggregated onto atoms (an atom is as important as the most important
edge it belongs to, as sender or receiver); the *important atoms* of an explanation are
the atoms of its top-k edges.  Their distances to the centre atom are compared with the
distances of all atoms of the receptive field: the paper finds two modes, the nearest
neighbours and 5-10 Å (the MRO range).
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

#: the medium range of the MRO hypothesis, Å
MRO_RANGE = (5.0, 10.0)


def atom_importance(n_nodes: int, center: np.ndarray, neighbor: np.ndarray, importance: np.ndarray) -> np.ndarray:
    """(n_nodes,) max importance over the edges (m,) each node takes part in (0 if none)."""
    out = np.zeros(n_nodes)
    np.maximum.at(out, center, importance)
    np.maximum.at(out, neighbor, importance)
    return out


def top_edges(importance: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` most important edges, most important first (ties: lower index)."""
    order = np.lexsort((np.arange(len(importance)), -np.asarray(importance)))
    return order[: max(0, int(k))]


def important_atoms(center: np.ndarray, neighbor: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Sorted unique node indices of the edges ``top``."""
    return np.unique(np.concatenate([center[top], neighbor[top]]))


def distance_histogram(important: Sequence[float], everything: Sequence[float], bin_width: float = 0.5,
                       r_max: float = None) -> Dict[str, np.ndarray]:
    """Normalised distance distributions (1/Å) of important atoms and of all atoms.

    Returns ``edges`` (B+1,) bin edges in Å and ``important``, ``all`` (B,) densities
    (each integrates to 1), and ``important_count``, ``all_count`` (B,) raw counts.
    """
    important = np.asarray(important, dtype=float)
    everything = np.asarray(everything, dtype=float)
    top = r_max if r_max is not None else max(float(everything.max(initial=0.0)), float(important.max(initial=0.0)))
    edges = np.arange(0.0, top + bin_width, bin_width)
    if len(edges) < 2:
        edges = np.array([0.0, bin_width])
    ci, _ = np.histogram(important, bins=edges)
    ca, _ = np.histogram(everything, bins=edges)

    def dens(c):
        return c / (c.sum() * bin_width) if c.sum() else c.astype(float)

    return {"edges": edges, "important": dens(ci), "all": dens(ca), "important_count": ci, "all_count": ca}


def fraction_in_range(distances: Sequence[float], lo: float = MRO_RANGE[0], hi: float = MRO_RANGE[1]) -> float:
    """Fraction of ``distances`` (Å) in [lo, hi)."""
    d = np.asarray(distances, dtype=float)
    return float(np.mean((d >= lo) & (d < hi))) if len(d) else float("nan")
