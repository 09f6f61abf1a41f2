"""OVITO DataCollection -> ase.Atoms (positions Å, cell with origin, periodicity, species).

Species come from the particle type names when they are chemical symbols; when a name is
empty or numeric (LAMMPS types "1", "2"), the species is taken from the type's mass
(:func:`mgbarrier.species.element_from_mass`).  Types are never mapped by number: OVITO and
ASE would turn types 1 and 2 into H and He.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from mgbarrier.errors import MgBarrierError
from mgbarrier.graphs.checks import validate_atoms
from mgbarrier.io.species import element_from_mass


def species_from_types(particles, source: str = "OVITO data",
                       species_map: Optional[Mapping[int, str]] = None) -> np.ndarray:
    """(N,) array of chemical symbols for the particles of a DataCollection.

    ``species_map`` (type id -> element, e.g. ``{1: "Cu", 2: "Zr"}``) wins over type names
    and masses for the types it lists.

    Raises :class:`MgBarrierError` when there is no ``Particle Type`` property or a type
    has neither an element name nor a mass that identifies an element.
    """
    if "Particle Type" not in particles:
        raise MgBarrierError(f"{source}: the particles have no 'Particle Type' property; "
                             "species are needed (element names or masses)")
    ptypes = particles.particle_types
    ids = np.asarray(ptypes, dtype=int)
    table: Dict[int, str] = {}
    for t in ptypes.types:
        if species_map and t.id in species_map:
            table[t.id] = species_map[t.id]
            continue
        name = (t.name or "").strip()
        if name in chemical_symbols[1:]:
            table[t.id] = name
            continue
        # empty, numeric ("1") or non-element ("metal") names: identify the element by mass
        mass = float(getattr(t, "mass", 0.0) or 0.0)
        label = f"particle type {t.id}" + (f" ({name!r})" if name else "")
        if mass <= 0.0:
            raise MgBarrierError(f"{source}: {label} has no element name and no mass; "
                                 "name the types by element (e.g. Cu, Zr) or give masses")
        table[t.id] = element_from_mass(mass, f"{source}: {label}")
    missing = sorted(set(np.unique(ids).tolist()) - set(table))
    if missing:
        raise MgBarrierError(f"{source}: particle type id(s) {missing} are not defined")
    lut = np.array([table[i] for i in sorted(table)], dtype=object)
    order = np.array(sorted(table))
    return lut[np.searchsorted(order, ids)]


def atoms_from_data(data, source: str = "OVITO data", species_map: Optional[Mapping[int, str]] = None,
                    validate: bool = True) -> Atoms:
    """Build ase.Atoms from an OVITO DataCollection (positions/cell in Å, origin subtracted),
    validated by :func:`mgbarrier.graphs.checks.validate_atoms` (:class:`MgBarrierError` otherwise);
    ``species_map``: type id -> element (see :func:`species_from_types`)."""
    if data.particles is None or data.particles.count == 0:
        raise MgBarrierError(f"{source}: no particles")
    symbols = species_from_types(data.particles, source, species_map)
    pos = np.array(data.particles.positions, dtype=float)
    if data.cell is not None:
        m = np.array(data.cell[...], dtype=float)  # (3, 4): columns a, b, c, origin
        cell = m[:, :3].T.copy()
        origin = m[:, 3]
        pbc = tuple(bool(p) for p in data.cell.pbc)
    else:
        cell, origin, pbc = np.zeros((3, 3)), np.zeros(3), (False, False, False)
    atoms = Atoms(symbols=list(symbols), positions=pos - origin, cell=cell, pbc=pbc)
    if validate:  # off only for unitless model systems (the glass metrics' Kob-Andersen sigma units)
        validate_atoms(atoms, source)  # NaN, degenerate cells, overlaps, unbounded work: one line
    return atoms


def particle_colors(data) -> np.ndarray:
    """(N, 3) current particle colours: the Color property, else the particle-type colours."""
    p = data.particles
    if "Color" in p:
        return np.array(p["Color"], dtype=np.float64)
    out = np.full((p.count, 3), 0.8)
    if "Particle Type" in p:
        types = np.asarray(p.particle_types)
        for t in p.particle_types.types:
            out[types == t.id] = t.color
    return out
