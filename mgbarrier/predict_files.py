"""``mgbarrier predict``: structure file in, the same frames with per-atom barriers (eV) out.

The model is loaded once; frames are read, predicted and written one at a time, so
memory does not grow with the number of frames.  Output formats:

* ``extxyz`` (``.xyz``, ``.extxyz``, optionally ``.gz``): per-atom array ``barrier``
  (ASE's extxyz writer prints floats as ``%16.8f``: 1e-8 eV / 1e-8 Å resolution).
* ``lammps-dump`` (``.lammpstrj``, ``.dump``, ``dump.*``, optionally ``.gz``): every
  original column, ids, atom order and box lines of an input dump, plus ``d_barrier``
  (see :mod:`mgbarrier.lammps_dump`).
* ``lammps-data`` (``.data``, ``.lmp``, ``data.*``; one frame only): an ``atomic``-style
  data file with Masses (so species survive) and an extra ``Barriers`` section
  (``atom-ID barrier_eV``), read by LAMMPS as a custom per-atom property::

      fix bar all property/atom d_barrier
      read_data out.data fix bar NULL Barriers

  (a plain ``read_data out.data`` without ``fix ... Barriers`` stops at that section;
  ASE's data reader ignores it).

The output appears only when every frame succeeded (temporary file + rename); on an
error or Ctrl-C nothing is created or changed.
"""
from __future__ import annotations

import io
import gzip
import os
import sys
import time
from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers

from .errors import MgBarrierError

__all__ = ["predict_file", "output_format_for", "write_lammps_data_with_barrier", "OUTPUT_FORMATS"]

OUTPUT_FORMATS = ("extxyz", "lammps-dump", "lammps-data")
#: section of the LAMMPS data output holding ``atom-ID barrier`` lines (eV)
DATA_SECTION = "Barriers"


def output_format_for(path: Union[str, Path], output_format: Optional[str] = None) -> str:
    """``output_format`` if given, else the format implied by the suffix of ``path``."""
    if output_format:
        if output_format not in OUTPUT_FORMATS:
            raise MgBarrierError(f"--output-format: {output_format!r} is not one of {', '.join(OUTPUT_FORMATS)}")
        return output_format
    from .structures import guess_format

    fmt = guess_format(path)
    if fmt in ("lammps-dump", "lammps-data"):
        return fmt
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith((".xyz", ".extxyz")):
        return "extxyz"
    raise MgBarrierError(f"{path}: cannot tell the output format from the file name; use .xyz/.extxyz, "
                         ".lammpstrj/.dump (optionally .gz), .data, or --output-format")


class _Progress:
    """One self-overwriting stderr line (only on a TTY)."""

    def __init__(self, name: str, enabled: bool):
        self.name, self.enabled = name, enabled
        self.t0 = time.perf_counter()
        self.frames = self.atoms = 0
        self._last = 0.0

    def update(self, n_atoms: int) -> None:
        self.frames += 1
        self.atoms += n_atoms
        now = time.perf_counter()
        if self.enabled and now - self._last > 0.25:
            self._last = now
            rate = self.atoms / max(now - self.t0, 1e-9)
            sys.stderr.write(f"\r{self.name}: {self.frames} frame(s), {rate:,.0f} atoms/s ")
            sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def predict_file(inp: Union[str, Path], out: Union[str, Path], model=None,
                 species_map: Optional[Mapping[int, str]] = None, device: str = "cpu",
                 frames: Optional[slice] = None, output_format: Optional[str] = None, quiet: bool = False,
                 n_transforms: Optional[int] = None) -> dict:
    """Predict barriers (eV) for every selected frame of ``inp`` and write them to ``out``.

    ``model`` is a path, a shipped model name, None (the default model) or an already
    loaded model (anything with ``.predict(atoms) -> (N,) eV``).  ``frames`` is a slice of
    frame indices.  Returns ``{"frames", "atoms", "seconds", "output", "format"}``.
    Raises :class:`MgBarrierError` on bad input; ``out`` is then neither created nor changed.
    """
    from .structures import iread_structures

    inp, out = Path(inp), Path(out)
    fmt = output_format_for(out, output_format)
    try:
        same = inp.resolve() == out.resolve() or (out.exists() and inp.exists() and os.path.samefile(inp, out))
    except OSError:
        same = False
    if same:
        raise MgBarrierError(f"{out}: output would overwrite the input; choose another -o")
    if out.is_dir():
        raise MgBarrierError(f"{out}: is a directory, expected an output file name")
    if not out.parent.exists():
        raise MgBarrierError(f"{out}: folder {out.parent} does not exist")
    if not inp.exists():  # before loading a model: the cheap check first
        raise MgBarrierError(f"{inp}: no such file")

    if model is None or isinstance(model, (str, Path)):
        from .predictor import load_model

        model = load_model(model, device=device, n_transforms=n_transforms)

    progress = _Progress(inp.name, enabled=not quiet and sys.stderr.isatty())
    sink = _open_sink(out, fmt)
    try:
        for atoms in iread_structures(inp, species_map=species_map, frames=frames):
            if fmt == "lammps-data" and progress.frames >= 1:
                raise MgBarrierError(f"{out}: a LAMMPS data file holds one frame but {inp} has more; "
                                     "select one with --frames K or write a dump/extxyz")
            barrier = np.asarray(model.predict(atoms), dtype=float).reshape(-1)
            if barrier.shape != (len(atoms),):
                raise MgBarrierError(f"{inp}: model returned {barrier.shape} values for {len(atoms)} atoms")
            sink.write(atoms, barrier, species_map)
            progress.update(len(atoms))
            del atoms, barrier
        sink.close()
    except BaseException:
        sink.abort()
        progress.finish()
        raise
    progress.finish()
    seconds = time.perf_counter() - progress.t0
    if not quiet:
        print(f"mgbarrier: wrote {out} ({fmt}): {progress.frames} frame(s), {progress.atoms} atoms, "
              f"{seconds:.1f} s", file=sys.stderr)
    return {"frames": progress.frames, "atoms": progress.atoms, "seconds": seconds, "output": str(out),
            "format": fmt}


# ----------------------------------------------------------------------------- sinks
def _tmp_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.tmp-{os.getpid()}")


class _FileSink:
    """Temp file renamed onto ``out`` on close, removed on abort."""

    def __init__(self, out: Path):
        self.out, self.tmp = out, _tmp_path(out)
        try:
            if out.name.endswith(".gz"):
                self.fh = io.TextIOWrapper(gzip.open(self.tmp, "wb", compresslevel=6), encoding="utf-8")
            else:
                self.fh = open(self.tmp, "w", encoding="utf-8")
        except OSError as exc:
            raise MgBarrierError(f"{out}: cannot write ({exc.strerror or exc})") from None

    def close(self) -> None:
        try:
            self.fh.close()
            os.replace(self.tmp, self.out)
        except OSError as exc:
            self.abort()
            raise MgBarrierError(f"{self.out}: cannot write ({exc.strerror or exc})") from None

    def abort(self) -> None:
        try:
            self.fh.close()
        except OSError:
            pass
        if self.tmp.exists():
            self.tmp.unlink()


class _ExtxyzSink(_FileSink):
    def write(self, atoms: Atoms, barrier: np.ndarray, species_map=None) -> None:
        import ase.io

        a = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        for key in ("id", "type"):
            if key in atoms.arrays:
                a.arrays[key] = atoms.arrays[key]
        for key, val in atoms.info.items():  # plain scalars/strings only (no lammps_dump dict)
            if isinstance(val, (int, float, str, np.integer, np.floating)) and key != "source":
                a.info[key] = val
        a.arrays["barrier"] = barrier
        try:
            ase.io.write(self.fh, a, format="extxyz")
        except OSError as exc:
            raise MgBarrierError(f"{self.out}: cannot write ({exc.strerror or exc})") from None


class _DumpSink:
    def __init__(self, out: Path):
        from .lammps_dump import DumpWriter

        self.w = DumpWriter(out)

    def write(self, atoms: Atoms, barrier: np.ndarray, species_map=None) -> None:
        self.w.write(atoms, barrier)

    def close(self) -> None:
        self.w.close()

    def abort(self) -> None:
        self.w.abort()


class _DataSink(_FileSink):
    def write(self, atoms: Atoms, barrier: np.ndarray, species_map=None) -> None:
        try:
            write_lammps_data_with_barrier(self.fh, atoms, barrier, species_map)
        except OSError as exc:
            raise MgBarrierError(f"{self.out}: cannot write ({exc.strerror or exc})") from None


def _open_sink(out: Path, fmt: str):
    if fmt == "lammps-dump":
        return _DumpSink(out)
    if fmt == "lammps-data":
        return _DataSink(out)
    return _ExtxyzSink(out)


# ----------------------------------------------------------------------------- LAMMPS data
def write_lammps_data_with_barrier(fh, atoms: Atoms, barrier: np.ndarray,
                                   species_map: Optional[Mapping[int, str]] = None) -> None:
    """Write an ``atomic`` LAMMPS data file (metal units, Å) plus a ``Barriers`` section (eV).

    Keeps the atoms' ids and types when they have consistent ones (``arrays['id']``,
    ``arrays['type']``), else numbers atoms 1..N and types alphabetically by element.
    Masses are written for every type so species can be recovered.  Read it in LAMMPS
    with ``fix bar all property/atom d_barrier`` then ``read_data FILE fix bar NULL Barriers``.
    """
    from .lammps_dump import lammps_box

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
    w(f"LAMMPS data file from mgbarrier: per-atom energy barriers (eV) in section '{DATA_SECTION}'; "
      f"read with: fix bar all property/atom d_barrier; read_data FILE fix bar NULL {DATA_SECTION}\n\n")
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
    w(f"\n{DATA_SECTION}\n\n")
    w("".join(f"{i} {b!r}\n" for i, b in zip(ids.tolist(), np.asarray(barrier, dtype=float).tolist())))


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
