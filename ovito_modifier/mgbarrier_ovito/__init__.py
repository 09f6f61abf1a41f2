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
"""
from .convert import atoms_from_data, species_from_types
from .modifier import EnergyBarrierModifier, GRADIENTS

__all__ = ["EnergyBarrierModifier", "atoms_from_data", "species_from_types", "GRADIENTS"]
