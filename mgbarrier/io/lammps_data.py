"""LAMMPS data files (``atom_style atomic``, metal units): reader and writer.

Reading keeps ``arrays['type']`` and ``arrays['id']``; species come from ``--species`` or
else from the Masses section (never from type numbers).  Writing adds one section per
per-atom output (``barrier`` -> ``Barriers``, other names as they are), which LAMMPS reads as
a custom property::

    fix barrier all property/atom d_barrier
    read_data out.data fix barrier NULL Barriers

(a plain ``read_data out.data`` stops at that section; ASE's data reader ignores it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers

from ..errors import MgBarrierError
from .files import check_readable
from .lammps_dump import lammps_box
from .species import resolve_species

#: data-file section of the per-atom barrier (eV); other arrays use their own name
DATA_SECTIONS = {"barrier": "Barriers"}


def section_name(name: str) -> str:
    """Data-file section that holds the per-atom array ``name``."""
    return DATA_SECTIONS.get(name, name)


def read_lammps_data(path: Union[str, Path], species_map: Optional[Mapping[int, str]] = None,
                     atom_style: str = "atomic") -> Atoms:
    """A LAMMPS data file as Atoms; species from ``species_map`` (checked against the Masses
    section) or else the Masses section (:func:`mgbarrier.io.species.resolve_species`).

    Keeps ``arrays['type']`` and ``arrays['id']``.  Types are never guessed from numbers.
    """
    from ase.io.lammpsdata import read_lammps_data as _ase_read

    path = Path(path)
    check_readable(path)
    masses_by_type = _read_masses_section(path)
    try:
        atoms = _ase_read(str(path), atom_style=atom_style, units="metal", sort_by_id=False)
    except Exception as exc:  # ASE raises many kinds on malformed files
        raise MgBarrierError(f"{path}: cannot read as a LAMMPS data file ({_ase_problem(exc)})") from None
    if len(atoms) == 0:
        raise MgBarrierError(f"{path}: no atoms")
    types = np.asarray(atoms.arrays["type"], dtype=int)
    atoms.set_chemical_symbols(list(resolve_species(types, species_map, masses=masses_by_type, source=str(path))))
    atoms.info["source"] = str(path)
    return atoms


def _ase_problem(exc: Exception) -> str:
    """What ASE's data reader failed on, in words (not its internals)."""
    if isinstance(exc, (UnboundLocalError, NameError)):
        return "no Atoms section"
    if isinstance(exc, KeyError):
        key = exc.args[0] if exc.args else "?"
        return f"atom type {int(key) if isinstance(key, (int, np.integer)) else key} is not declared " \
               "(check 'N atom types' and the Masses section)"
    if isinstance(exc, (StopIteration, EOFError, IndexError)):
        return "the file ends early or a line has too few columns"
    first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
    return f"malformed: {first}"


def _read_masses_section(path: Path) -> dict:
    """{type: mass} from a data file's Masses section (empty if absent)."""
    masses = {}
    with open(path, "r", errors="replace") as fh:
        lines = iter(fh)
        for line in lines:
            if line.split("#")[0].strip() == "Masses":
                next(lines, None)  # blank line
                for row in lines:
                    row = row.split("#")[0].strip()
                    if not row:
                        if masses:
                            break
                        continue
                    parts = row.split()
                    try:
                        masses[int(parts[0])] = float(parts[1])
                    except (ValueError, IndexError):
                        break
                break
    return masses


def write_lammps_data(fh, atoms: Atoms, arrays: Mapping[str, np.ndarray],
                      species_map: Optional[Mapping[int, str]] = None) -> None:
    """Write an ``atomic`` LAMMPS data file (metal units, Å) plus one section per array in
    ``arrays`` (``{name: (N,) values}``; section :func:`section_name`, ``atom-ID value`` lines).

    Keeps the atoms' ids and types when they have consistent ones (``arrays['id']``,
    ``arrays['type']``), else numbers atoms 1..N and types alphabetically by element.
    Masses are written for every type so species can be recovered.  Read it in LAMMPS
    with ``fix bar all property/atom d_barrier`` then ``read_data FILE fix bar NULL Barriers``.
    """
    n = len(atoms)
    symbols = atoms.get_chemical_symbols()
    ids = np.asarray(atoms.arrays.get("id", np.arange(1, n + 1)), dtype=np.int64)
    if len(np.unique(ids)) != n or (n and ids.min() < 1):
        ids = np.arange(1, n + 1, dtype=np.int64)
    type_symbol = _consistent_types(atoms, symbols, species_map)
    if type_symbol is None:
        order = sorted(set(symbols))
        type_symbol = {k + 1: s for k, s in enumerate(order)}
        sym_type = {s: t for t, s in type_symbol.items()}
        types = np.array([sym_type[s] for s in symbols], dtype=np.int64)
    else:
        types = np.asarray(atoms.arrays["type"], dtype=np.int64)
    box = lammps_box(atoms)
    pos = box["positions"]
    lo, hi = box["lo"].tolist(), box["hi"].tolist()
    w = fh.write
    sections = {name: section_name(name) for name in arrays}
    how = "; ".join(f"fix {n} all property/atom d_{n}; read_data FILE fix {n} NULL {s}" for n, s in sections.items())
    w(f"LAMMPS data file from mgbarrier: per-atom {', '.join(sections) or 'nothing'}; read with: {how}\n\n")
    w(f"{n} atoms\n{max(type_symbol)} atom types\n\n")
    for k, axis in enumerate("xyz"):
        w(f"{lo[k]!r} {hi[k]!r} {axis}lo {axis}hi\n")
    if box["tilt"] is not None:
        xy, xz, yz = box["tilt"]
        w(f"{xy!r} {xz!r} {yz!r} xy xz yz\n")
    w("\nMasses\n\n")
    for t in sorted(type_symbol):
        s = type_symbol[t]
        w(f"{t} {float(atomic_masses[atomic_numbers[s]])!r}  # {s}\n")
    w("\nAtoms # atomic\n\n")
    w("".join(f"{i} {t} {x!r} {y!r} {z!r}\n" for i, t, (x, y, z) in zip(ids.tolist(), types.tolist(), pos.tolist())))
    for name, values in arrays.items():
        w(f"\n{sections[name]}\n\n")
        w("".join(f"{i} {v!r}\n" for i, v in zip(ids.tolist(), np.asarray(values, dtype=float).tolist())))


def _consistent_types(atoms: Atoms, symbols, species_map) -> Optional[dict]:
    """{type: symbol} for types 1..max if the atoms' types are usable as they are, else None."""
    if "type" not in atoms.arrays:
        return None
    types = np.asarray(atoms.arrays["type"], dtype=np.int64)
    mapping: dict = {}
    for t, s in zip(types.tolist(), symbols):
        if mapping.setdefault(t, s) != s:
            return None  # one type, two elements: renumber
    for t, s in (species_map or {}).items():
        mapping.setdefault(int(t), s)
    if not mapping or min(mapping) < 1 or set(mapping) != set(range(1, max(mapping) + 1)):
        return None
    return mapping
