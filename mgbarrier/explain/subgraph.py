"""The receptive field of one atom: the part of the graph a message-passing model reads.

With L message-passing layers the output of atom c depends on the states of atoms up to
L hops away, and on exactly those edges whose *receiving* atom (``Graph.center``) is at
most L-1 hops from c: their messages (and the softmax / coordination number of their
receiving atom, which use all of that atom's incoming edges) reach c within L layers.
Running the model on this subgraph, re-indexed, gives c the same output as the full
graph, at a fraction of the cost.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..graphs.graph import Graph


@dataclass
class ReceptiveField:
    """A re-indexed subgraph around one centre atom.

    graph: the subgraph (local node indices 0..n-1)
    nodes: (n,) int64 atom index in the full structure of each local node
    edges: (m,) int64 index in the full graph of each local edge (ascending)
    centre: local index of the centre atom (``nodes[centre]`` is its atom index)
    hops: (n,) int64 hop distance of each local node from the centre (0..L)
    n_layers: L, the number of message-passing layers it was built for
    """

    graph: Graph
    nodes: np.ndarray
    edges: np.ndarray
    centre: int
    hops: np.ndarray
    n_layers: int

    @property
    def edge_hop(self) -> np.ndarray:
        """(m,) the layer, counted from the output, at which each edge's message first
        reaches the centre: 1 + hop distance of its receiving atom (1..L)."""
        return self.hops[self.graph.center.numpy()] + 1


def hop_distances(center: np.ndarray, neighbor: np.ndarray, n_nodes: int, source: int, max_hops: int) -> np.ndarray:
    """(n_nodes,) number of edges from ``source`` (either direction), -1 beyond ``max_hops``."""
    hops = np.full(n_nodes, -1, dtype=np.int64)
    hops[source] = 0
    frontier = np.array([source], dtype=np.int64)
    for h in range(1, max_hops + 1):
        if not len(frontier):
            break
        in_front = np.zeros(n_nodes, dtype=bool)
        in_front[frontier] = True
        # messages flow neighbor -> center: atoms that send to the frontier are one hop further
        reached = np.unique(neighbor[in_front[center]])
        frontier = reached[hops[reached] < 0]
        hops[frontier] = h
    return hops


def receptive_field(graph: Graph, centre: int, n_layers: int) -> ReceptiveField:
    """The subgraph that determines the output of atom ``centre`` after ``n_layers`` layers."""
    if n_layers < 1:
        raise ValueError("n_layers must be >= 1")
    n = graph.num_nodes
    if not 0 <= centre < n:
        raise IndexError(f"atom {centre} out of range 0..{n - 1}")
    center = graph.center.numpy()
    neighbor = graph.neighbor.numpy()
    hops = hop_distances(center, neighbor, n, centre, n_layers)
    inner = (hops >= 0) & (hops <= n_layers - 1)
    edges = np.flatnonzero(inner[center]).astype(np.int64)
    keep = np.zeros(n, dtype=bool)
    keep[centre] = True
    keep[center[edges]] = True
    keep[neighbor[edges]] = True
    nodes = np.flatnonzero(keep).astype(np.int64)
    local = np.full(n, -1, dtype=np.int64)
    local[nodes] = np.arange(len(nodes))
    idx = torch.from_numpy(edges)
    sub = Graph(
        species=graph.species.index_select(0, torch.from_numpy(nodes)),
        center=torch.from_numpy(local[center[edges]]),
        neighbor=torch.from_numpy(local[neighbor[edges]]),
        vec=graph.vec.index_select(0, idx),
        node_attr=None if graph.node_attr is None else graph.node_attr.index_select(0, torch.from_numpy(nodes)),
    )
    return ReceptiveField(graph=sub, nodes=nodes, edges=edges, centre=int(local[centre]),
                          hops=hops[nodes], n_layers=int(n_layers))
