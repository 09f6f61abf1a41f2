"""Species handling: LAMMPS type numbers and masses -> chemical symbols.

Never guesses species from type numbers: ASE and OVITO turn types 1, 2 into H, He,
which is wrong for a metallic glass.  A type is mapped by an explicit ``--species``
mapping, by an element column, or by its mass (nearest element, refused if ambiguous).
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional

import numpy as np
from ase.data import atomic_masses, chemical_symbols

from ..errors import MgBarrierError

#: relative tolerance (amu) under which a mass is taken as a given element
MASS_TOLERANCE = 0.5
#: two candidate elements closer than this (amu) to a mass make it ambiguous
MASS_AMBIGUITY = 0.3


def parse_species_map(text: Optional[str]) -> Dict[int, str]:
    """Parse ``"1=Cu,2=Zr"`` into ``{1: "Cu", 2: "Zr"}``; ``None``/"" gives ``{}``."""
    if not text:
        return {}
    mapping: Dict[int, str] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise MgBarrierError(f"--species: expected TYPE=ELEMENT items like 1=Cu,2=Zr, got {item!r}")
        key, sym = (s.strip() for s in item.split("=", 1))
        try:
            t = int(key)
        except ValueError:
            raise MgBarrierError(f"--species: type {key!r} is not an integer") from None
        if sym not in chemical_symbols[1:]:
            raise MgBarrierError(f"--species: {sym!r} is not a chemical element")
        mapping[t] = sym
    return mapping


def element_from_mass(mass: float, what: str = "") -> str:
    """Nearest element to ``mass`` (amu); error if none is close or two are close."""
    masses = np.asarray(atomic_masses[1:], dtype=float)
    diff = np.abs(masses - float(mass))
    order = np.argsort(diff)
    best, second = order[0], order[1]
    where = f"{what}: " if what else ""
    if diff[best] > MASS_TOLERANCE:
        raise MgBarrierError(f"{where}mass {mass:g} amu matches no element (nearest {chemical_symbols[best + 1]})")
    if diff[second] - diff[best] < MASS_AMBIGUITY:
        raise MgBarrierError(
            f"{where}mass {mass:g} amu is ambiguous between {chemical_symbols[best + 1]} "
            f"and {chemical_symbols[second + 1]}; give --species"
        )
    return chemical_symbols[best + 1]


def map_types(types: np.ndarray, mapping: Mapping[int, str], source: str = "") -> np.ndarray:
    """Map integer LAMMPS types (N,) to symbols (N,) with ``mapping``; unmapped types are an error."""
    types = np.asarray(types, dtype=int)
    missing = sorted(set(np.unique(types).tolist()) - set(mapping))
    if missing:
        where = f"{source}: " if source else ""
        raise MgBarrierError(
            f"{where}atom type(s) {', '.join(map(str, missing))} have no element; "
            "give --species like 1=Cu,2=Zr (types are never guessed)"
        )
    return np.array([mapping[t] for t in types.tolist()], dtype=object)
