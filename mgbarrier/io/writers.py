"""Frame writers: structures plus named per-atom arrays, one frame at a time.

Every writer takes ``write(atoms, arrays)`` with ``arrays = {name: (N,) values}`` (for
example ``{"barrier": eV, "barrier_std": eV}`` or ``{"glassiness": p}``) and puts each
array where its format keeps per-atom data:

============  ==================================================================
extxyz        per-atom array ``name`` (the input's other arrays and scalar header keys kept)
lammps-dump   column ``d_<name>`` (an input dump's columns, ids and order kept)
lammps-data   section per array (``barrier`` -> ``Barriers``), one frame only
============  ==================================================================

The file appears only on :meth:`commit`; :meth:`abort` (or an exception inside a
``with`` block) leaves the target as it was (see :mod:`mgbarrier.io.files`).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Mapping, Optional, Union

import numpy as np
from ase import Atoms

from ..errors import MgBarrierError
from .files import AtomicOutput
from .formats import BY_NAME
from .lammps_data import write_lammps_data
from .lammps_dump import DumpWriter

Arrays = Mapping[str, np.ndarray]
#: per-atom arrays of the input that describe the structure itself (never copied as data)
_STRUCTURE_ARRAYS = {"numbers", "positions"}


#: per-atom names the output formats keep for their own columns (extxyz, ase, LAMMPS dumps)
RESERVED_ARRAY_NAMES = frozenset({
    "pos", "positions", "species", "numbers", "Z", "tags", "masses", "momenta", "forces", "initial_magmoms",
    "initial_charges", "id", "type", "element", "mass", "x", "y", "z", "xs", "ys", "zs", "xu", "yu", "zu",
    "ix", "iy", "iz", "vx", "vy", "vz", "fx", "fy", "fz", "mol", "q"})


def check_array_name(name: str) -> str:
    """``name`` if it can name a new per-atom array in every format (an extxyz property, a dump
    column ``d_NAME``): letters, digits and ``_``, not starting with a digit, and none of
    :data:`RESERVED_ARRAY_NAMES`; else one error."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise MgBarrierError(f"{name!r} is not a name for per-atom values: use letters, digits and _, "
                             "not starting with a digit")
    if name in RESERVED_ARRAY_NAMES:
        raise MgBarrierError(f"{name!r} is a column the output formats keep for themselves")
    return name


def extxyz_frame(atoms: Atoms, arrays: Arrays) -> Atoms:
    """A copy of ``atoms`` for extxyz: its per-atom arrays and scalar header keys, plus ``arrays``."""
    a = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    for key, val in atoms.arrays.items():
        if key not in _STRUCTURE_ARRAYS and key not in arrays and np.asarray(val).dtype.kind in "biuf":
            a.arrays[key] = np.array(val)
    for key, val in atoms.info.items():  # plain scalars/strings only (not the dump's own dict)
        if isinstance(val, (int, float, str, np.integer, np.floating)) and key != "source":
            a.info[key] = val
    for key, val in arrays.items():
        a.arrays[key] = np.asarray(val, dtype=float).reshape(-1)
    return a


class _ExtxyzWriter:
    def __init__(self, out: Path):
        self.out = AtomicOutput(out)

    def write(self, atoms: Atoms, arrays: Arrays) -> None:
        import ase.io

        try:
            ase.io.write(self.out.fh, extxyz_frame(atoms, arrays), format="extxyz")
        except OSError as exc:
            raise MgBarrierError(f"{self.out.path}: cannot write ({exc.strerror or exc})") from None

    def commit(self) -> None:
        self.out.commit()

    def abort(self) -> None:
        self.out.abort()


class _DumpWriter:
    def __init__(self, out: Path):
        self.w = DumpWriter(out)

    def write(self, atoms: Atoms, arrays: Arrays) -> None:
        try:
            self.w.write(atoms, arrays)
        except OSError as exc:
            raise MgBarrierError(f"{self.w.path}: cannot write ({exc.strerror or exc})") from None

    def commit(self) -> None:
        self.w.close()

    def abort(self) -> None:
        self.w.abort()


class _DataWriter:
    def __init__(self, out: Path, species_map: Optional[Mapping[int, str]]):
        self.out = AtomicOutput(out)
        self.species_map = species_map
        self.frames = 0

    def write(self, atoms: Atoms, arrays: Arrays) -> None:
        if self.frames:
            raise MgBarrierError(f"{self.out.path}: a LAMMPS data file holds one frame but there are more; "
                                 "select one with --frames K or write a dump/extxyz")
        try:
            write_lammps_data(self.out.fh, atoms, arrays, self.species_map)
        except OSError as exc:
            raise MgBarrierError(f"{self.out.path}: cannot write ({exc.strerror or exc})") from None
        self.frames += 1

    def commit(self) -> None:
        self.out.commit()

    def abort(self) -> None:
        self.out.abort()


def open_writer(out: Union[str, Path], fmt: str, species_map: Optional[Mapping[int, str]] = None):
    """A frame writer for ``fmt`` (see :data:`mgbarrier.io.formats.OUTPUT_FORMATS`)."""
    if fmt not in BY_NAME or not BY_NAME[fmt].write:
        raise MgBarrierError(f"{out}: cannot write format {fmt!r}")
    out = Path(out)
    if fmt == "lammps-dump":
        return _DumpWriter(out)
    if fmt == "lammps-data":
        return _DataWriter(out, species_map)
    return _ExtxyzWriter(out)


def write_structures(out: Union[str, Path], frames: Iterable[Atoms], fmt: str,
                     arrays: Optional[Iterable[Arrays]] = None,
                     species_map: Optional[Mapping[int, str]] = None) -> int:
    """Write every frame (with its per-frame ``arrays``, default none) atomically; returns the count."""
    w = open_writer(out, fmt, species_map)
    n = 0
    try:
        per_frame = iter(arrays) if arrays is not None else None
        for atoms in frames:
            w.write(atoms, next(per_frame) if per_frame is not None else {})
            n += 1
        w.commit()
    except BaseException:
        w.abort()
        raise
    return n
