"""Read structures from files into ``ase.Atoms`` with trustworthy species.

Files -> ``ase.Atoms`` is the first step of the data flow; nothing here knows about
models.  Supported: everything ``ase.io`` reads (extxyz, POSCAR, cif, ...), LAMMPS
data files (species from ``--species`` or from the Masses section), LAMMPS text dumps
(``mgbarrier.lammps_dump``, streaming, species from ``--species`` or an element
column) and the published SymGNN pickles.
"""
from __future__ import annotations

import gzip
from itertools import islice
from pathlib import Path
from typing import Iterator, Mapping, Optional, Union

import numpy as np
from ase import Atoms

from ..errors import MgBarrierError
from ..graphs.checks import validate_atoms
from .files import check_readable
from .formats import BY_NAME, guess_format
from .lammps_data import read_lammps_data
from .lammps_dump import iread_dump
from .species import resolve_species
from .symgnn_pickle import read_symgnn_pickle


def iread_structures(path: Union[str, Path], species_map: Optional[Mapping[int, str]] = None,
                     frames: Optional[slice] = None, fmt: Optional[str] = None) -> Iterator[Atoms]:
    """Yield every frame of ``path`` (or the ``frames`` slice) as validated Atoms.

    ``species_map`` maps LAMMPS type numbers to symbols (``{1: 'Cu', 2: 'Zr'}``).  Each frame's
    ``info["source"]``, which errors and warnings downstream name, is ``path`` for frame 0 and
    ``"path: frame K"`` for the others (K: the frame's index in the file; for a slice with a
    negative start or step, its place among the frames selected).
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
    start, step = frames.start or 0, frames.step or 1
    if start < 0 or step < 0:
        start, step = 0, 1
    n = 0
    for atoms in source:
        index = start + n * step
        atoms.info["source"] = str(path) if index == 0 else f"{path}: frame {index}"
        validate_atoms(atoms, atoms.info["source"])
        n += 1
        yield atoms
    if n == 0:
        raise MgBarrierError(f"{path}: no frames selected")


def _iread_ase(path: Path, species_map, frames: slice) -> Iterator[Atoms]:
    import ase.io

    if BY_NAME["extxyz"].matches(path.name.lower().removesuffix(".gz")):
        check_xyz_counts(path, frames.stop if frames.stop is not None and frames.stop >= 0 else None)
    index = f"{'' if frames.start is None else frames.start}:{'' if frames.stop is None else frames.stop}" \
            f":{'' if frames.step is None else frames.step}"
    try:
        it = ase.io.iread(str(path), index=index)
        for atoms in it:
            if species_map and "type" in atoms.arrays:  # the file's species win; contradictions refused
                stated = np.array(atoms.get_chemical_symbols(), dtype=object)
                atoms.set_chemical_symbols(list(resolve_species(atoms.arrays["type"], species_map, stated=stated,
                                                                source=str(path))))
            yield atoms
    except MgBarrierError:
        raise
    except Exception as exc:
        raise MgBarrierError(f"{path}: cannot read structure ({type(exc).__name__}: {exc})") from None


def check_xyz_counts(path: Path, max_frames: Optional[int] = None) -> None:
    """Refuse an (ext)xyz whose atom-count line claims more lines than the file has, before
    ASE reads it (ASE would read one empty line per claimed atom: days for 999999999999).

    Walks the count lines of the first ``max_frames`` frames (all when None); the work is
    bounded by the size of the file.  Raises :class:`MgBarrierError` naming ``file:line``."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            line, frame = 0, 0
            while max_frames is None or frame < max_frames:
                head = fh.readline()
                line += 1
                if not head:
                    return
                if not head.strip():
                    continue  # blank lines between or after frames
                try:
                    n = int(head.split()[0])
                except ValueError:
                    raise MgBarrierError(f"{path}:{line}: expected the number of atoms, got "
                                         f"{head.strip()[:40].decode(errors='replace')!r}") from None
                if n < 0:
                    raise MgBarrierError(f"{path}:{line}: negative number of atoms {n}")
                got = sum(1 for _ in islice(fh, n + 1))
                if got < n + 1:
                    raise MgBarrierError(f"{path}:{line}: the count line says {n} atoms but only "
                                         f"{max(got - 1, 0)} atom lines follow")
                line += got
                frame += 1
    except (OSError, EOFError) as exc:
        raise MgBarrierError(f"{path}: cannot read ({exc})") from None
