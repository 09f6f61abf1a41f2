"""Atoms -> graph: the model's input tensors from a neighbour list.

Edges are directed pairs (centre i, neighbour j) with |d_ij| < cutoff, where
d_ij = r_j - r_i (+ periodic image shift), in Å (see :mod:`mgbarrier.graphs.neighbours`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from ase import Atoms

from ..errors import MgBarrierError
from .neighbours import neighbour_pairs


@dataclass
class Graph:
    """Model input for one structure.

    species: (N,) int64 index into the model's species list
    center, neighbor: (E,) int64 edge endpoints; messages flow neighbor -> center
    vec: (E, 3) float32 displacement r_neighbor - r_center, Å
    node_attr: optional (N, F) float32 per-atom input features (e.g. SOAP), or None
    node_attr_projected: node_attr already holds the network's input layer applied to the
        features, (N, hidden) (inference on projected SOAP inputs, :mod:`mgbarrier.graphs.soap`)
    """

    species: torch.Tensor
    center: torch.Tensor
    neighbor: torch.Tensor
    vec: torch.Tensor
    node_attr: Optional[torch.Tensor] = None
    node_attr_projected: bool = False

    @property
    def num_nodes(self) -> int:
        return int(self.species.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.center.shape[0])

    def to(self, device) -> "Graph":
        return Graph(*(None if t is None else t.to(device)
                       for t in (self.species, self.center, self.neighbor, self.vec, self.node_attr)),
                     node_attr_projected=self.node_attr_projected)


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
    i, j, D = neighbour_pairs(atoms, cutoff, dtype=np.float32)
    # one array converted at a time, each input freed once converted (a million atoms: 33 M pairs)
    center = torch.from_numpy(np.ascontiguousarray(i, dtype=np.int64))
    del i
    neighbor = torch.from_numpy(np.ascontiguousarray(j, dtype=np.int64))
    del j
    return Graph(species=torch.from_numpy(idx), center=center, neighbor=neighbor,
                 vec=torch.from_numpy(np.ascontiguousarray(D, dtype=np.float32)))
