"""The structure-file formats, in one declarative table.

Each row names a format, the file names that imply it (``.gz`` is stripped first), and
whether mgbarrier reads and writes it.  Every reader and writer dispatch of the package
asks this table (:func:`guess_format`, :func:`output_format_for`).  A LAMMPS dump is also
recognised by its first line (``ITEM: TIMESTEP``), whatever its name.
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple, Union

from ..errors import MgBarrierError


@dataclass(frozen=True)
class FileFormat:
    name: str
    suffixes: Tuple[str, ...] = ()
    prefixes: Tuple[str, ...] = ()
    infixes: Tuple[str, ...] = ()
    read: bool = True
    write: bool = False
    #: frames a written file can hold: "many" or "one"
    frames: str = "many"
    description: str = ""

    def matches(self, name: str) -> bool:
        return name.endswith(self.suffixes) or name.startswith(self.prefixes) or any(s in name for s in self.infixes)


#: in order of precedence; "ase" (anything ase.io reads) is the fallback reader
FORMATS: Tuple[FileFormat, ...] = (
    FileFormat("lammps-dump", (".lammpstrj", ".dump"), ("dump",), (".dump.",), write=True,
               description="LAMMPS text dump; per-atom outputs as d_<name> columns"),
    FileFormat("lammps-data", (".data", ".lmp", ".lammps"), ("data.",), write=True, frames="one",
               description="LAMMPS data file (atomic); per-atom outputs as extra sections"),
    FileFormat("symgnn-pickle", (".pickle", ".pkl"),
               description="published SymGNN dataset pickle (numpy arrays only)"),
    FileFormat("extxyz", (".xyz", ".extxyz"), write=True,
               description="extended XYZ; per-atom outputs as arrays"),
)
BY_NAME = {f.name: f for f in FORMATS}
#: formats ``predict`` and the other commands can write
OUTPUT_FORMATS = tuple(f.name for f in FORMATS if f.write)


def _plain_name(path: Union[str, Path]) -> str:
    name = Path(path).name.lower()
    return name[:-3] if name.endswith(".gz") else name


def _starts_like_dump(path: Path) -> bool:
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", errors="replace") as fh:
            return fh.readline(64).startswith("ITEM:")
    except (OSError, EOFError):
        return False


def guess_format(path: Union[str, Path]) -> str:
    """Reader for ``path``: 'lammps-dump', 'lammps-data', 'symgnn-pickle' or 'ase'.

    By name first; a file of another name whose first line starts with ``ITEM:`` is a dump
    (ASE would read its types 1, 2 as H, He)."""
    name = _plain_name(path)
    for f in FORMATS:
        if f.matches(name) and f.name != "extxyz":
            return f.name
    if Path(path).is_file() and _starts_like_dump(Path(path)):
        return "lammps-dump"
    return "ase"


def output_format_for(path: Union[str, Path], output_format: Optional[str] = None) -> str:
    """``output_format`` if given, else the writable format implied by the name of ``path``."""
    if output_format:
        if output_format not in OUTPUT_FORMATS:
            raise MgBarrierError(f"--output-format: {output_format!r} is not one of {', '.join(OUTPUT_FORMATS)}")
        return output_format
    name = _plain_name(path)
    for f in FORMATS:
        if f.write and f.matches(name):
            return f.name
    raise MgBarrierError(f"{path}: cannot tell the output format from the file name; use .xyz/.extxyz, "
                         ".lammpstrj/.dump (optionally .gz), .data, or --output-format")
