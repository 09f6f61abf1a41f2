"""Atoms -> graph: periodic neighbour lists (matscipy) and the model's input tensors.

Edges are directed pairs (centre i, neighbour j) with |d_ij| < cutoff, where
d_ij = r_j - r_i (+ periodic image shift), in Å.  Works for orthorhombic and triclinic
cells, cells smaller than twice the cutoff (several images of one neighbour), atoms
outside the box, and non-periodic structures.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from ase import Atoms

from .errors import MgBarrierError


def neighbour_pairs(atoms: Atoms, cutoff: float, with_distance: bool = False):
    """Directed neighbour pairs within ``cutoff`` (Å).

    Returns ``(i, j, D)`` with D (E, 3) the displacement r_j - r_i in Å, or
    ``(i, j, d)`` with d (E,) the distances when ``with_distance``.
    """
    from matscipy.neighbours import neighbour_list

    atoms = _neighbour_ready(atoms, cutoff)
    what = "ijd" if with_distance else "ijD"
    return neighbour_list(what, atoms, float(cutoff))


def _neighbour_ready(atoms: Atoms, cutoff: float) -> Atoms:
    """A light copy matscipy can handle: wrapped into the cell, non-periodic axes padded."""
    pbc = np.asarray(atoms.pbc, dtype=bool)
    pos = atoms.get_positions()
    if pbc.all():
        out = Atoms(numbers=atoms.numbers, positions=pos, cell=atoms.cell, pbc=True)
        out.wrap(eps=0.0)
        return out
    # any non-periodic axis: build an orthogonal box around the atoms on those axes
    if pbc.any() and not np.allclose(atoms.cell.array[pbc][:, ~pbc], 0):
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


@dataclass
class Graph:
    """Model input for one structure.

    species: (N,) int64 index into the model's species list
    center, neighbor: (E,) int64 edge endpoints; messages flow neighbor -> center
    vec: (E, 3) float32 displacement r_neighbor - r_center, Å
    node_attr: optional (N, F) float32 per-atom input features (e.g. SOAP), or None
    """

    species: torch.Tensor
    center: torch.Tensor
    neighbor: torch.Tensor
    vec: torch.Tensor
    node_attr: Optional[torch.Tensor] = None

    @property
    def num_nodes(self) -> int:
        return int(self.species.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.center.shape[0])

    def to(self, device) -> "Graph":
        return Graph(*(None if t is None else t.to(device)
                       for t in (self.species, self.center, self.neighbor, self.vec, self.node_attr)))


def species_indices(atoms: Atoms, species: Sequence[str], source: str = "") -> np.ndarray:
    """Index of each atom's symbol in ``species``; an element the model does not know is an error."""
    symbols = np.asarray(atoms.get_chemical_symbols())
    lookup = {s: k for k, s in enumerate(species)}
    unknown = sorted(set(symbols.tolist()) - set(lookup))
    if unknown:
        where = f"{source}: " if source else ""
        raise MgBarrierError(
            f"{where}element(s) {', '.join(unknown)} unknown to this model (it knows {', '.join(species)})"
        )
    return np.fromiter((lookup[s] for s in symbols), dtype=np.int64, count=len(symbols))


def build_graph(atoms: Atoms, species: Sequence[str], cutoff: float, source: str = "") -> Graph:
    """``ase.Atoms`` -> :class:`Graph` with edges shorter than ``cutoff`` (Å)."""
    idx = species_indices(atoms, species, source)
    i, j, D = neighbour_pairs(atoms, cutoff)
    return Graph(
        species=torch.from_numpy(idx),
        center=torch.from_numpy(np.ascontiguousarray(i, dtype=np.int64)),
        neighbor=torch.from_numpy(np.ascontiguousarray(j, dtype=np.int64)),
        vec=torch.from_numpy(np.ascontiguousarray(D, dtype=np.float32)),
    )


def graph_stats(g: Graph) -> Tuple[int, int]:
    return g.num_nodes, g.num_edges
