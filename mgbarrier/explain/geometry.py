"""Where the receptive field's atoms and edges sit relative to the centre atom (Å)."""
from __future__ import annotations

import numpy as np
from ase import Atoms

from .subgraph import ReceptiveField


def relative_positions(atoms: Atoms, centre: int, nodes: np.ndarray) -> np.ndarray:
    """(n, 3) displacement (Å) from atom ``centre`` to each atom of ``nodes`` (minimum
    image along periodic axes)."""
    nodes = np.asarray(nodes, dtype=np.int64)
    if any(atoms.pbc):
        return atoms.get_distances(int(centre), nodes, mic=True, vector=True).reshape(-1, 3)
    pos = atoms.get_positions()
    return pos[nodes] - pos[int(centre)]


def mic_limit(atoms: Atoms) -> float:
    """Largest radius (Å) around an atom inside which minimum-image positions are unique:
    half the smallest distance between opposite faces of the periodic cell (inf if none)."""
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if not pbc.any():
        return float("inf")
    cell = atoms.cell.array
    vol = abs(np.linalg.det(cell))
    widths = [vol / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)]
    return 0.5 * float(min(w for w, p in zip(widths, pbc) if p))


def edge_geometry(field: ReceptiveField, rel: np.ndarray) -> dict:
    """Per-edge geometry (local edge order), all in Å.

    ``rel`` (n, 3): positions of the field's nodes relative to the centre.  Returns
    ``length`` (m,) edge length, ``distance`` (m,) distance of the edge midpoint (receiving
    atom + half the edge vector) from the centre, ``consistent`` (m,) bool: the edge vector
    equals rel[sender] - rel[receiver] (False when the edge reaches its sender through a
    periodic image other than the minimum-image one, in cells smaller than the field).
    """
    vec = field.graph.vec.double().numpy()
    i = field.graph.center.numpy()
    j = field.graph.neighbor.numpy()
    mid = rel[i] + 0.5 * vec
    consistent = np.linalg.norm(rel[j] - rel[i] - vec, axis=1) < 1e-3
    return {"length": np.linalg.norm(vec, axis=1), "distance": np.linalg.norm(mid, axis=1), "consistent": consistent}
