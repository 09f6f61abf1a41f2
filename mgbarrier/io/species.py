"""Species handling: LAMMPS type numbers and masses -> chemical symbols.

Never guesses species from type numbers: ASE and OVITO turn types 1, 2 into H, He,
which is wrong for a metallic glass.  :func:`resolve_species` is the one resolution, in
this order of precedence, with every contradiction refused (one :class:`MgBarrierError`):

1. species the file states per atom (an extxyz species column, a dump ``element``
   column) are used as they are; a ``--species`` entry for a type must agree with them;
2. ``--species TYPE=ELEMENT`` (each type once) maps the other types; when the file also
   has masses (a data file's Masses section), each mass must be that element's
   (within :data:`MASS_TOLERANCE` amu);
3. masses alone: the nearest element, refused when two elements are close;
4. otherwise the type is refused ("give --species").
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

import numpy as np
from ase.data import atomic_masses, atomic_numbers, chemical_symbols

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
        if t in mapping:
            raise MgBarrierError(f"--species: type {t} is given twice ({mapping[t]} and {sym})")
        mapping[t] = sym
    return mapping


def _check_mass(mass, what: str) -> None:
    """One error line (``what`` leads it) unless ``mass`` is a positive finite number of amu."""
    if not (np.isfinite(float(mass)) and float(mass) > 0):
        raise MgBarrierError(f"{what} {mass!r}, not a positive finite number of amu")


def element_from_mass(mass: float, what: str = "") -> str:
    """Nearest element to ``mass`` (amu); error if none is close or two are close."""
    masses = np.asarray(atomic_masses[1:], dtype=float)
    _check_mass(mass, f"{what}: mass" if what else "mass")
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


def resolve_species(types: np.ndarray, species_map: Optional[Mapping[int, str]] = None, *,
                    stated: Optional[Sequence[str]] = None, masses: Optional[Mapping[int, float]] = None,
                    source: str = "") -> np.ndarray:
    """(N,) chemical symbols of atoms with LAMMPS ``types`` (N,), by the precedence of the
    module doc: ``stated`` (N,) symbols the file gives (``"X"``/empty = none), then
    ``species_map`` ``{type: symbol}``, then ``masses`` ``{type: amu}``.  Contradictions
    (``--species`` against the stated symbols or the masses) are refused in one line."""
    where = f"{source}: " if source else ""
    types = np.asarray(types, dtype=np.int64).reshape(-1)
    species_map = dict(species_map or {})
    masses = dict(masses or {})
    for t, sym in species_map.items():
        if sym not in chemical_symbols[1:]:
            raise MgBarrierError(f"{where}species map: type {t} is given as {sym!r}, not a chemical element")
    for t, m in masses.items():
        _check_mass(m, f"{where}type {t} has mass")
    for t, sym in species_map.items():
        if t in masses and abs(float(masses[t]) - float(atomic_masses[atomic_numbers[sym]])) > MASS_TOLERANCE:
            raise MgBarrierError(
                f"{where}--species says type {t} is {sym} ({atomic_masses[atomic_numbers[sym]]:.2f} amu) but the "
                f"file gives type {t} mass {float(masses[t]):g} amu; fix --species or the Masses")
    if stated is not None:
        stated = np.asarray(stated, dtype=object).reshape(-1)
        if stated.shape != types.shape:
            raise MgBarrierError(f"{where}{len(stated)} species for {len(types)} atoms")
        has = np.array([s not in ("", "X", None) for s in stated.tolist()], dtype=bool)
        for t, sym in species_map.items():
            bad = has & (types == t) & (stated != sym)
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                raise MgBarrierError(
                    f"{where}--species says type {t} is {sym} but the file says {stated[k]} (atom index {k}); "
                    "drop --species or fix it")
        need = ~has
    else:
        need = np.ones(len(types), dtype=bool)
    mapping = dict(species_map)
    for t in sorted(set(np.unique(types[need]).tolist()) - set(mapping)):
        if t in masses:
            mapping[t] = element_from_mass(float(masses[t]), f"{where}type {t}")
    out = np.empty(len(types), dtype=object)
    out[need] = map_types(types[need], mapping, source)
    if stated is not None:
        out[~need] = stated[~need]
    return out
