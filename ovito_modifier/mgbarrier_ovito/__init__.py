"""OVITO modifier that predicts per-atom energy barriers (eV) with an mgbarrier model.

Usage in a script::

    from ovito.io import import_file
    from mgbarrier_ovito import EnergyBarrierModifier

    pipeline = import_file("glass.extxyz")
    pipeline.modifiers.append(EnergyBarrierModifier())
    data = pipeline.compute()
    data.particles["Energy Barrier"]      # (N,) float, eV

Installed with pip, the class is registered under the ``OVITO.Modifier`` entry-point
group, so OVITO Pro lists it as "Energy Barrier (mgbarrier)".

``ExplanationModifier(model_file="symgnn.pt", atom_index=12, top=50)`` shows the most
important edges behind one atom's barrier as bonds with an ``Importance`` property
("Barrier Explanation (mgbarrier)" in OVITO Pro; needs a SymGNN checkpoint).

``GlassMetricsModifier(species_b="", k=2)`` draws every B particle's links to its k nearest
neighbours as bonds (B-B bonds coloured apart), colours the isolated A particles and sets the
seed's three liquid-vs-glass metrics as attributes ``GlassMetrics.*`` ("Glass Metrics
(mgbarrier)" in OVITO Pro; no model needed).
"""
from .convert import atoms_from_data, species_from_types
from .explanation import ExplanationModifier
from .glass_metrics import GlassMetricsModifier
from .modifier import GRADIENTS, EnergyBarrierModifier

__all__ = ["EnergyBarrierModifier", "ExplanationModifier", "GlassMetricsModifier", "atoms_from_data",
           "species_from_types", "GRADIENTS"]
