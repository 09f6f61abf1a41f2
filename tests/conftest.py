"""Shared fixtures: small generated glasses and a tiny SymGNN checkpoint (no shared data needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data" / "symgnn-cu64zr36"
FIXTURE = SHARED / "fixtures" / "lammps-artn-cu64zr36"


def need(path: Path) -> Path:
    """Skip the test when a file from ../shared is absent."""
    if not path.exists():
        pytest.skip(f"needs {path} (the shared dataset/fixtures are not present on this machine)")
    return path


def make_glass(n_cells: int = 3, a: float = 4.0, seed: int = 0, jitter: float = 0.25,
               cu_fraction: float = 0.64) -> Atoms:
    """A small periodic Cu/Zr 'glass': fcc sites, random species, Gaussian jitter (Å)."""
    rng = np.random.default_rng(seed)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    grid = np.array([[i, j, k] for i in range(n_cells) for j in range(n_cells) for k in range(n_cells)])
    frac = (grid[:, None, :] + basis[None, :, :]).reshape(-1, 3) / n_cells
    cell = np.eye(3) * a * n_cells
    pos = frac @ cell + rng.normal(scale=jitter, size=frac.shape)
    symbols = np.where(rng.random(len(pos)) < cu_fraction, "Cu", "Zr")
    atoms = Atoms(symbols=list(symbols), positions=pos, cell=cell, pbc=True)
    atoms.wrap()
    return atoms


def make_triclinic(atoms: Atoms) -> Atoms:
    """``atoms`` sheared into a triclinic cell (atoms scaled with it, then wrapped)."""
    t = atoms.copy()
    cell = t.cell.array.copy()
    cell[1, 0] += 0.3 * cell[0, 0]
    cell[2, 0] += 0.15 * cell[0, 0]
    cell[2, 1] -= 0.2 * cell[1, 1]
    t.set_cell(cell, scale_atoms=True)
    t.wrap()
    return t


@pytest.fixture(scope="module")
def big_glass() -> Atoms:
    """27,436 atoms (19^3 fcc cells, random Cu/Zr, jittered), periodic, 76 Å box."""
    return make_glass(n_cells=19, seed=5)


def write_tiny_model(path: Path, seed: int = 0, label_mean: float = 1.5) -> Path:
    """A small random-weight SymGNN checkpoint (fast; for plumbing tests, not accuracy); its
    outputs are ``label_mean`` + 0.3 x the network's (eV)."""
    from mgbarrier.graphs.graph import build_graph
    from mgbarrier.models.checkpoint import save_checkpoint
    from mgbarrier.nn.symgnn import SymGNN, SymGNNConfig

    torch.manual_seed(seed)
    cfg = SymGNNConfig(hidden=16, edge_hidden=8, encoder_hidden=16, heads=(2, 1), lebedev_order=17,
                       radial_points=256)
    net = SymGNN(cfg)
    net.calibrate(build_graph(make_glass(seed=seed + 100), cfg.species, cfg.cutoff))
    torch.nn.init.normal_(net.decoder[-1].weight, std=0.5)  # trained models have non-zero output weights
    save_checkpoint(path, {"kind": "symgnn", "config": cfg.to_dict(), "label_mean": float(label_mean), "label_std": 0.3,
                           "state_dict": net.state_dict(), "metadata": {"description": "tiny test model"}})
    return path


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("models") / "tiny.pt")


@pytest.fixture(scope="session")
def tiny_model_paths(tmp_path_factory):
    """Three tiny models with different weights (a committee)."""
    d = tmp_path_factory.mktemp("committee")
    return [write_tiny_model(d / f"m{k}.pt", seed=k) for k in range(3)]


@pytest.fixture
def glass() -> Atoms:
    return make_glass()
