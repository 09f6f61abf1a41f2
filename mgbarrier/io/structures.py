"""Read structures from files into ``ase.Atoms`` with trustworthy species.

Files -> ``ase.Atoms`` is the first step of the data flow; nothing here knows about
models.  Supported: everything ``ase.io`` reads (extxyz, POSCAR, cif, ...), LAMMPS
data files (species from ``--species`` or from the Masses section), LAMMPS text dumps
(``mgbarrier.lammps_dump``, streaming, species from ``--species`` or an element
column) and the published SymGNN pickles.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Mapping, Optional, Union

from ase import Atoms

from ..errors import MgBarrierError
from ..graphs.checks import validate_atoms
from .files import check_readable
from .formats import guess_format
from .lammps_data import read_lammps_data
from .lammps_dump import iread_dump
from .species import map_types
from .symgnn_pickle import read_symgnn_pickle


def iread_structures(path: Union[str, Path], species_map: Optional[Mapping[int, str]] = None,
                     frames: Optional[slice] = None, fmt: Optional[str] = None) -> Iterator[Atoms]:
    """Yield every frame of ``path`` (or the ``frames`` slice) as validated Atoms.

    ``species_map`` maps LAMMPS type numbers to symbols (``{1: 'Cu', 2: 'Zr'}``).
    """
    path = Path(path)
    check_readable(path)
    fmt = fmt or guess_format(path)
    frames = frames if frames is not None else slice(None)
    if fmt == "lammps-dump":
        source = iread_dump(path, species_map=species_map, frames=frames)
    elif fmt == "lammps-data":
        source = iter([read_lammps_data(path, species_map)][frames])
    elif fmt == "symgnn-pickle":
        source = iter([read_symgnn_pickle(path)][frames])
    else:
        source = _iread_ase(path, species_map, frames)
    n = 0
    for atoms in source:
        atoms.info["source"] = str(path)  # the file given is named in errors and warnings downstream
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
