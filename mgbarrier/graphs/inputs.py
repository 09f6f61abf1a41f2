"""Per-atom input features beyond the species, and the model-ready graph of a structure.

``model_graph(atoms, cfg)`` is the one place where a structure becomes the input of a
graph network: the neighbour graph of :func:`mgbarrier.graphs.graph.build_graph` plus, for a
SymGNN configured with ``node_features="soap"``, the SOAP power spectrum of every atom
(dscribe; settings ``cfg.soap``: species, r_cut Å, n_max, l_max, sigma Å; periodic as the
structure) as ``graph.node_attr`` (N, F) float32.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Dict

import numpy as np
import torch
from ase import Atoms

from .graph import Graph, build_graph
from .soap import Featurizer


@lru_cache(maxsize=4)
def _featurizer(species: tuple, soap_items: tuple) -> Featurizer:
    return Featurizer({"species": list(species), "soap": dict(soap_items), "smoothing_lengths": [],
                       "average_cutoff": 0.0})


def soap_dimension(species, soap: Dict) -> int:
    """Number of SOAP features per atom for these settings (needs dscribe)."""
    return _featurizer(tuple(species), tuple(sorted(soap.items()))).n_soap


def soap_reach(species, soap: Dict) -> float:
    """Å: how far the SOAP row of an atom reaches (r_cut + dscribe's Gaussian padding; needs dscribe)."""
    return _featurizer(tuple(species), tuple(sorted(soap.items()))).soap_reach


def soap_features(atoms: Atoms, species, soap: Dict) -> np.ndarray:
    """(N, F) float32 SOAP power spectrum of every atom (see module doc)."""
    fz = _featurizer(tuple(species), tuple(sorted(soap.items())))
    ready, _ = fz.prepare(atoms)
    out = np.empty((len(ready), fz.n_soap), dtype=np.float32)
    for idx, rows in fz.soap_blocks(ready):  # spatial blocks: bounded peak memory
        out[idx] = rows
    return out


def model_graph(atoms: Atoms, cfg, source: str = "") -> Graph:
    """``ase.Atoms`` -> the input :class:`Graph` of a network with configuration ``cfg``."""
    g = build_graph(atoms, cfg.species, cfg.cutoff, source)
    if getattr(cfg, "node_features", "species") == "soap":
        g.node_attr = torch.from_numpy(soap_features(atoms, cfg.species, cfg.soap))
    return g
