"""The fast no-grad inference path of SymGNN (CSR sums, fused passes, atom-aligned edge slices)
computes the same function as the autograd path used in training and explanations."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from conftest import make_glass

from mgbarrier.graphs.graph import build_graph
from mgbarrier.nn.layers import SortedEdges
from mgbarrier.nn.symgnn import SymGNN, SymGNNConfig


def _net(heads, seed=0) -> SymGNN:
    torch.manual_seed(seed)
    cfg = SymGNNConfig(hidden=16, edge_hidden=8, encoder_hidden=16, heads=heads, lebedev_order=17,
                       radial_points=256)
    net = SymGNN(cfg)
    net.calibrate(build_graph(make_glass(seed=seed + 7), cfg.species, cfg.cutoff))
    for p in net.parameters():  # trained-like: nothing exactly zero, attention not uniform
        p.data.add_(0.2 * torch.randn_like(p))
    return net.eval()


def _both(net: SymGNN, graph) -> tuple:
    with torch.enable_grad():
        slow = net(graph).detach()
    with torch.no_grad():
        fast = net(graph)
    return slow.numpy(), fast.numpy()


@pytest.mark.parametrize("heads", [(4, 2, 1), (8, 1), (1,)])
@pytest.mark.parametrize("edge_chunk", [64, 1 << 16])
def test_inference_path_equals_the_autograd_path(heads, edge_chunk):
    net = _net(heads)
    net.inference_edge_chunk = edge_chunk  # 64: many atom-aligned slices of one graph
    atoms = make_glass(n_cells=4, seed=3)
    slow, fast = _both(net, build_graph(atoms, net.cfg.species, net.cfg.cutoff))
    assert np.abs(slow - fast).max() < 1e-5 * max(1.0, np.abs(slow).max())
    assert np.abs(slow).max() > 1e-3  # not a trivially constant output


def test_inference_path_with_unsorted_edges_and_an_isolated_atom():
    net = _net((4, 2, 1), seed=1)
    atoms = make_glass(n_cells=3, seed=5)
    atoms = atoms + Atoms("Cu", positions=[[0.5, 0.5, 60.0]])  # far from every other atom
    atoms.set_cell(atoms.cell.array + np.diag([0.0, 0.0, 100.0]))
    g = build_graph(atoms, net.cfg.species, net.cfg.cutoff)
    order = torch.randperm(g.num_edges, generator=torch.Generator().manual_seed(0))
    g = type(g)(g.species, g.center[order], g.neighbor[order], g.vec[order], g.node_attr)
    slow, fast = _both(net, g)
    assert np.abs(slow - fast).max() < 1e-5 * max(1.0, np.abs(slow).max())


def test_sorted_edges_sums_equal_scatter_sums():
    rng = np.random.default_rng(0)
    center = torch.as_tensor(np.sort(rng.integers(0, 50, 400)))  # some centres have no edge
    neighbor = torch.as_tensor(rng.integers(0, 80, 400))
    edges = SortedEdges(center, neighbor, 50)
    a = torch.rand(400)
    x = torch.randn(400, 6)
    y = torch.randn(80, 6)
    want = torch.zeros(50, 6).index_add_(0, center, a[:, None] * y[neighbor])
    assert torch.allclose(edges.gather_sum(a, y), want, atol=1e-5)
    assert torch.allclose(edges.weighted_sum(a, x), torch.zeros(50, 6).index_add_(0, center, a[:, None] * x), atol=1e-5)
    assert torch.allclose(edges.sum(x), torch.zeros(50, 6).index_add_(0, center, x), atol=1e-5)
