"""Read structures from files into ``ase.Atoms`` with trustworthy species.

Files -> ``ase.Atoms`` is the first step of the data flow; nothing here knows about
models.  Supported: everything ``ase.io`` reads (extxyz, POSCAR, cif, ...), LAMMPS
data files (species from ``--species`` or from the Masses section), LAMMPS text dumps
(``mgbarrier.lammps_dump``, streaming, species from ``--species`` or an element
column) and the published SymGNN pickles.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Mapping, Optional, Union

import numpy as np
from ase import Atoms

from .errors import MgBarrierError
from .species import element_from_mass, map_types

#: atoms closer than this (Å) are refused as overlapping
MIN_DISTANCE = 0.5


def guess_format(path: Union[str, Path]) -> str:
    """Our format name for ``path``: 'lammps-dump', 'lammps-data', 'symgnn-pickle' or 'ase'."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith((".lammpstrj", ".dump")) or name.startswith("dump") or ".dump." in name:
        return "lammps-dump"
    if name.endswith((".data", ".lmp", ".lammps")) or name.startswith("data."):
        return "lammps-data"
    if name.endswith((".pickle", ".pkl")):
        return "symgnn-pickle"
    return "ase"


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise MgBarrierError(f"{path}: no such file")
    if path.is_dir():
        raise MgBarrierError(f"{path}: is a directory, expected a structure file")
    if path.stat().st_size == 0:
        raise MgBarrierError(f"{path}: file is empty")


def read_lammps_data(path: Union[str, Path], species_map: Optional[Mapping[int, str]] = None,
                     atom_style: str = "atomic") -> Atoms:
    """A LAMMPS data file as Atoms; species from ``species_map`` or else the Masses section.

    Keeps ``arrays['type']`` and ``arrays['id']``.  Types are never guessed from numbers.
    """
    from ase.io.lammpsdata import read_lammps_data as _ase_read

    path = Path(path)
    _check_readable(path)
    masses_by_type = _read_masses_section(path)
    try:
        atoms = _ase_read(str(path), atom_style=atom_style, units="metal", sort_by_id=False)
    except Exception as exc:  # ASE raises many kinds on malformed files
        raise MgBarrierError(f"{path}: cannot read as a LAMMPS data file ({type(exc).__name__}: {exc})") from None
    if len(atoms) == 0:
        raise MgBarrierError(f"{path}: no atoms")
    types = np.asarray(atoms.arrays["type"], dtype=int)
    if species_map:
        mapping = dict(species_map)
    elif masses_by_type:
        mapping = {t: element_from_mass(m, f"{path}: type {t}") for t, m in masses_by_type.items()}
    else:
        mapping = {}
    atoms.set_chemical_symbols(list(map_types(types, mapping, str(path))))
    atoms.info["source"] = str(path)
    return atoms


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


def iread_structures(path: Union[str, Path], species_map: Optional[Mapping[int, str]] = None,
                     frames: Optional[slice] = None, fmt: Optional[str] = None) -> Iterator[Atoms]:
    """Yield every frame of ``path`` (or the ``frames`` slice) as validated Atoms.

    ``species_map`` maps LAMMPS type numbers to symbols (``{1: 'Cu', 2: 'Zr'}``).
    """
    path = Path(path)
    _check_readable(path)
    fmt = fmt or guess_format(path)
    frames = frames if frames is not None else slice(None)
    if fmt == "lammps-dump":
        from .lammps_dump import iread_dump

        source = iread_dump(path, species_map=species_map, frames=frames)
    elif fmt == "lammps-data":
        source = iter([read_lammps_data(path, species_map)][frames])
    elif fmt == "symgnn-pickle":
        from .symgnn_data import read_symgnn_pickle

        source = iter([read_symgnn_pickle(path)][frames])
    else:
        source = _iread_ase(path, species_map, frames)
    n = 0
    for atoms in source:
        atoms.info.setdefault("source", str(path))  # named in errors and warnings downstream
        validate_atoms(atoms, str(path))
        n += 1
        yield atoms
    if n == 0:
        raise MgBarrierError(f"{path}: no frames selected")


def _iread_ase(path: Path, species_map, frames: slice) -> Iterator[Atoms]:
    import ase.io

    index = f"{'' if frames.start is None else frames.start}:{'' if frames.stop is None else frames.stop}" \
            f":{'' if frames.step is None else frames.step}"
    try:
        it = ase.io.iread(str(path), index=index)
        for atoms in it:
            if species_map and "type" in atoms.arrays:
                atoms.set_chemical_symbols(list(map_types(atoms.arrays["type"], species_map, str(path))))
            yield atoms
    except MgBarrierError:
        raise
    except Exception as exc:
        raise MgBarrierError(f"{path}: cannot read structure ({type(exc).__name__}: {exc})") from None


def validate_atoms(atoms: Atoms, source: str = "") -> None:
    """Refuse structures a model cannot use: empty, non-finite, degenerate cell, overlaps."""
    where = f"{source}: " if source else ""
    if len(atoms) == 0:
        raise MgBarrierError(f"{where}structure has no atoms")
    pos = atoms.get_positions()
    if not np.all(np.isfinite(pos)):
        bad = int(np.where(~np.isfinite(pos).all(axis=1))[0][0])
        raise MgBarrierError(f"{where}non-finite coordinates (atom index {bad})")
    if any(atoms.pbc):
        cell = atoms.cell.array
        if not np.all(np.isfinite(cell)):
            raise MgBarrierError(f"{where}non-finite cell")
        if abs(np.linalg.det(cell)) < 1e-6:
            raise MgBarrierError(f"{where}periodic structure with a degenerate (zero-volume) cell")
    if np.any(atoms.numbers == 0):
        raise MgBarrierError(f"{where}atoms without an element (symbol 'X'); give --species")
    _check_overlaps(atoms, where)


def _check_overlaps(atoms: Atoms, where: str) -> None:
    from .graph import neighbour_pairs

    i, j, d = neighbour_pairs(atoms, MIN_DISTANCE, with_distance=True)
    if len(i):
        k = int(np.argmin(d))
        raise MgBarrierError(
            f"{where}overlapping atoms {int(i[k])} and {int(j[k])} ({d[k]:.3f} Å apart, minimum {MIN_DISTANCE} Å)"
        )


def atomic_write(path: Union[str, Path], write_fn) -> None:
    """Call ``write_fn(tmp_path)`` then rename onto ``path``: never a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write_fn(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
