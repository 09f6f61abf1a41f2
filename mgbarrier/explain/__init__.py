"""Explanations of predicted barriers (the paper's §4.4 and §6).

* :mod:`.subgraph`: the receptive field of an atom (layers × cutoff), re-indexed.
* :mod:`.explainer`: GNNExplainer for node regression (edge mask, MSE objective, Eq. 7).
* :mod:`.mro`: edge importances -> atoms, distance distributions (Fig. 5a).
* :mod:`.topology`: alpha / Rips persistent homology, optimal 1-cycles, cycles per edge (Table 6).
* :mod:`.api`: :func:`explain_atoms` ties them together; :mod:`.writers`, :mod:`.plots`: files.
The command ``mgbarrier explain`` is :mod:`mgbarrier.cli.explain`.  Names are imported on use.
"""
from __future__ import annotations

__all__ = ["explain_atoms", "AtomExplanation", "ExplainerSettings", "TopologySettings",
           "receptive_field", "explain_node", "optimal_cycles"]


def __getattr__(name):
    if name in ("explain_atoms", "AtomExplanation", "TopologySettings", "pooled_cycle_bins", "model_parts"):
        from . import api

        return getattr(api, name)
    if name in ("ExplainerSettings", "explain_node"):
        from . import explainer

        return getattr(explainer, name)
    if name == "receptive_field":
        from .subgraph import receptive_field

        return receptive_field
    if name == "optimal_cycles":
        from .topology import optimal_cycles

        return optimal_cycles
    raise AttributeError(f"module 'mgbarrier.explain' has no attribute {name!r}")
