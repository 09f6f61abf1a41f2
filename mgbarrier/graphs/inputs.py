"""Per-atom input features beyond the species, and the model-ready graph of a structure.

``model_graph(atoms, cfg)`` is the one place where a structure becomes the input of a
graph network: the neighbour graph of :func:`mgbarrier.graphs.graph.build_graph` plus, for a
SymGNN configured with ``node_features="soap"``, the SOAP power spectrum of every atom
(dscribe; settings ``cfg.soap``: species, r_cut Å, n_max, l_max, sigma Å; periodic as the
structure) as ``graph.node_attr`` (N, F) float32.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import torch
from ase import Atoms

from .graph import Graph, build_graph
from .soap import SoapProjection, soap_featurizer


def soap_dimension(species, soap: Dict) -> int:
    """Number of SOAP features per atom for these settings (needs dscribe)."""
    return soap_featurizer(tuple(species), tuple(sorted(soap.items()))).n_soap


def soap_reach(species, soap: Dict) -> float:
    """Å: how far the SOAP row of an atom reaches (r_cut + dscribe's Gaussian padding; needs dscribe)."""
    return soap_featurizer(tuple(species), tuple(sorted(soap.items()))).soap_reach


def soap_features(atoms: Atoms, species, soap: Dict) -> np.ndarray:
    """(N, F) float32 SOAP power spectrum of every atom (see module doc)."""
    fz = soap_featurizer(tuple(species), tuple(sorted(soap.items())))
    ready, _ = fz.prepare(atoms)
    out = np.empty((len(ready), fz.n_soap), dtype=np.float32)
    for idx, rows in fz.soap_blocks(ready):  # spatial blocks: bounded peak memory
        out[idx] = rows
    return out


def model_graph(atoms: Atoms, cfg, source: str = "", projection: Optional[SoapProjection] = None) -> Graph:
    """``ase.Atoms`` -> the input :class:`Graph` of a network with configuration ``cfg``.

    ``projection``: the network's input layer as a map of SOAP rows; when ``atoms`` carries its
    array (:func:`mgbarrier.graphs.soap.with_soap_inputs`), that array is ``node_attr``
    (N, hidden), marked projected, and no SOAP is computed here."""
    g = build_graph(atoms, cfg.species, cfg.cutoff, source)
    if projection is not None and projection.name in atoms.arrays:
        g.node_attr = torch.from_numpy(np.ascontiguousarray(atoms.arrays[projection.name], dtype=np.float32))
        g.node_attr_projected = True
    elif getattr(cfg, "node_features", "species") == "soap":
        g.node_attr = torch.from_numpy(soap_features(atoms, cfg.species, cfg.soap))
    return g
