"""Streaming reader and writer for LAMMPS text dumps (``dump custom``/``dump atom``).

ASE can read dumps but cannot write them, and it sorts atoms and drops columns; this
module reads one frame at a time (plain or ``.gz``) and writes frames back with every
original column, the same ids, the same atom order and the same box lines, plus a
``d_barrier`` column (eV) -- the name LAMMPS gives a custom per-atom double, read back
by ``read_dump ... fields ... d_barrier`` / ``fix property/atom``, by OVITO and by ASE
(``atoms.arrays['d_barrier']``).

Reading::

    for atoms in iread_dump("run.lammpstrj.gz", species_map={1: "Cu", 2: "Zr"}, frames=slice(0, None, 10)):
        ...   # ase.Atoms, positions in Å relative to the box origin

Supported: columns ``id type x y z`` / ``xs ys zs`` (scaled) / ``xu yu zu`` (unwrapped) /
``xsu ysu zsu``, an ``element`` column (symbols taken from it), orthogonal boxes,
restricted triclinic boxes (``ITEM: BOX BOUNDS xy xz yz ...``, bounds converted to a
cell and an origin) and general triclinic boxes (``ITEM: BOX BOUNDS abc origin``).
Species come from the ``element`` column or the ``species_map``; a type without a
mapping is an error, never a guess.

Every Atoms carries ``arrays['id']``, ``arrays['type']`` (when the dump has them) and
``info['lammps_dump']``, a dict with what :class:`DumpWriter` needs to reproduce the
frame: ``timestep`` (int), ``header`` (the header lines before ``ITEM: ATOMS``,
verbatim), ``box`` (the ``ITEM: BOX BOUNDS`` line), ``box_lines`` (3 strings),
``boundary`` (e.g. ``['pp', 'pp', 'pp']``), ``origin`` (3 floats, Å), ``columns``
(names), ``rows`` (the atom lines as one string, original order and text),
``n_atoms``, ``source`` and ``line`` (line number of the frame's first line).

Writing::

    with DumpWriter("out.lammpstrj.gz") as w:     # temp file, renamed on success
        w.write(atoms, barrier)                     # barrier: (N,) eV

Atoms that did not come from a dump (extxyz, data files) are written as
``id type element x y z d_barrier`` with a box computed from the cell.
"""
from __future__ import annotations

import gzip
import io
from itertools import islice
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, TextIO, Tuple, Union

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from ..errors import MgBarrierError
from .files import AtomicOutput
from .species import map_types, resolve_species

__all__ = ["iread_dump", "read_dump", "DumpWriter", "count_frames", "box_from_cell", "lammps_box", "BARRIER_COLUMN",
           "column_name"]

#: name of the per-atom barrier column (eV) in LAMMPS dumps
BARRIER_COLUMN = "d_barrier"

_POSITION_SETS = (  # (names, scaled?) in order of preference
    (("x", "y", "z"), False),
    (("xu", "yu", "zu"), False),
    (("xs", "ys", "zs"), True),
    (("xsu", "ysu", "zsu"), True),
)


def _open_text(path: Path) -> TextIO:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, "r", encoding="utf-8", errors="replace")


class _Reader:
    """Line reader with a line counter and one line of push-back."""

    def __init__(self, fh: TextIO, path: Path):
        self.fh, self.path, self.line, self._pending = fh, path, 0, None

    def next(self) -> Optional[str]:
        if self._pending is not None:
            s, self._pending = self._pending, None
            self.line += 1
            return s
        try:
            s = self.fh.readline()
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise MgBarrierError(f"{self.path}:{self.line + 1}: cannot read ({type(exc).__name__}: {exc})") from None
        if not s:
            return None
        self.line += 1
        return s.rstrip("\r\n")

    def push(self, s: str) -> None:
        self._pending = s
        self.line -= 1

    def take(self, n: int) -> List[str]:
        """The next ``n`` raw lines (fewer at end of file)."""
        assert self._pending is None
        try:
            lines = list(islice(self.fh, n))
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise MgBarrierError(f"{self.path}:{self.line + 1}: cannot read ({type(exc).__name__}: {exc})") from None
        self.line += len(lines)
        return lines

    def err(self, msg: str, line: Optional[int] = None) -> MgBarrierError:
        return MgBarrierError(f"{self.path}:{self.line if line is None else line}: {msg}")


# ----------------------------------------------------------------------------- header
def _read_header(r: _Reader) -> Optional[dict]:
    """Header items up to and including ``ITEM: ATOMS``; None at a clean end of file."""
    s = r.next()
    while s is not None and not s.strip():
        s = r.next()
    if s is None:
        return None
    start = r.line
    if not s.startswith("ITEM:"):
        raise r.err(f"expected 'ITEM: TIMESTEP' at the start of a frame, got {s[:60]!r}")
    head: dict = {"header": [], "line": start}
    while True:
        item = s[5:].strip()
        if item.startswith("ATOMS"):
            head["columns"] = item.split()[1:]
            break
        head["header"].append(s)
        if item == "TIMESTEP":
            v = _value_line(r, "TIMESTEP")
            head["header"].append(v)
            try:
                head["timestep"] = int(v.split()[0])
            except (ValueError, IndexError):
                raise r.err(f"TIMESTEP is not an integer: {v[:60]!r}") from None
        elif item.startswith("NUMBER OF ATOMS"):
            v = _value_line(r, "NUMBER OF ATOMS")
            head["header"].append(v)
            try:
                head["n_atoms"] = int(v.split()[0])
            except (ValueError, IndexError):
                raise r.err(f"NUMBER OF ATOMS is not an integer: {v[:60]!r}") from None
            if head["n_atoms"] < 0:
                raise r.err("negative NUMBER OF ATOMS")
        elif item.startswith("BOX BOUNDS"):
            head["box"] = s
            head["box_line"] = r.line
            lines = []
            for _ in range(3):
                v = _value_line(r, "BOX BOUNDS")
                lines.append(v)
            head["header"].extend(lines)
            head["box_lines"] = lines
        else:  # UNITS, TIME, or anything newer: keep its lines verbatim
            while True:
                v = r.next()
                if v is None:
                    raise r.err(f"file ends inside the header (after 'ITEM: {item}')")
                if v.startswith("ITEM:"):
                    r.push(v)
                    break
                head["header"].append(v)
        s = r.next()
        if s is None:
            raise r.err("truncated frame: file ends before 'ITEM: ATOMS'")
        if not s.startswith("ITEM:"):
            raise r.err(f"expected an 'ITEM:' line, got {s[:60]!r}")
    for key, name in (("n_atoms", "NUMBER OF ATOMS"), ("box", "BOX BOUNDS")):
        if key not in head:
            raise r.err(f"frame starting at line {start} has no 'ITEM: {name}'")
    head.setdefault("timestep", 0)
    if not head["columns"]:
        raise r.err("'ITEM: ATOMS' names no columns")
    return head


def _value_line(r: _Reader, item: str) -> str:
    v = r.next()
    if v is None:
        raise r.err(f"truncated frame: file ends inside 'ITEM: {item}'")
    if v.startswith("ITEM:"):
        raise r.err(f"missing value line(s) after 'ITEM: {item}'")
    return v


def _parse_box(head: dict, r: _Reader) -> Tuple[np.ndarray, np.ndarray, List[str], bool]:
    """(cell (3, 3) Å, origin (3,) Å, boundary flags, pbc) from the BOX BOUNDS item."""
    words = head["box"][5:].split()[2:]  # after 'BOX BOUNDS'
    line0 = head["box_line"]
    try:
        vals = [[float(x) for x in ln.split()] for ln in head["box_lines"]]
    except ValueError:
        raise r.err("BOX BOUNDS values are not numbers", line0) from None
    if words[:2] == ["abc", "origin"]:  # general triclinic: rows 'ax ay az ox'
        if any(len(v) < 4 for v in vals):
            raise r.err("general triclinic BOX BOUNDS needs 4 numbers per line", line0)
        cell = np.array([v[:3] for v in vals])
        origin = np.array([v[3] for v in vals])
        flags = words[2:5]
    elif words[:3] == ["xy", "xz", "yz"]:
        if any(len(v) < 3 for v in vals):
            raise r.err("triclinic BOX BOUNDS needs 3 numbers per line", line0)
        (xlob, xhib, xy), (ylob, yhib, xz), (zlo, zhi, yz) = (v[:3] for v in vals)
        xlo = xlob - min(0.0, xy, xz, xy + xz)
        xhi = xhib - max(0.0, xy, xz, xy + xz)
        ylo = ylob - min(0.0, yz)
        yhi = yhib - max(0.0, yz)
        cell = np.array([[xhi - xlo, 0.0, 0.0], [xy, yhi - ylo, 0.0], [xz, yz, zhi - zlo]])
        origin = np.array([xlo, ylo, zlo])
        flags = words[3:6]
    else:
        if any(len(v) < 2 for v in vals):
            raise r.err("BOX BOUNDS needs 'lo hi' on each line", line0)
        lo = np.array([v[0] for v in vals])
        hi = np.array([v[1] for v in vals])
        cell = np.diag(hi - lo)
        origin = lo
        flags = words[:3]
    if len(flags) != 3:
        flags = ["pp", "pp", "pp"]  # very old dumps write no boundary flags
    if not np.all(np.isfinite(cell)) or not np.all(np.isfinite(origin)):
        raise r.err("non-finite BOX BOUNDS", line0)
    pbc = [f == "pp" for f in flags]
    return cell, origin, flags, pbc


# ----------------------------------------------------------------------------- atoms
def _parse_atoms(head: dict, r: _Reader, species_map: Optional[Mapping[int, str]]) -> Atoms:
    n, cols = head["n_atoms"], head["columns"]
    ncol = len(cols)
    first = r.line + 1
    lines = r.take(n)
    for k, ln in enumerate(lines):  # cheap check for a frame cut short by the next header
        if ln.startswith("ITEM:"):
            raise r.err(f"truncated frame: {k} of {n} atom lines before the next 'ITEM:'", first + k)
    if len(lines) < n:
        raise r.err(f"truncated frame: file ends after {len(lines)} of {n} atom lines", r.line)
    rows = "".join(lines)
    tokens = rows.split()
    if len(tokens) != n * ncol:
        for k, ln in enumerate(lines):
            m = len(ln.split())
            if m != ncol:
                raise r.err(f"expected {ncol} columns ({' '.join(cols)}), got {m}", first + k)
    table = np.array(tokens, dtype=str).reshape(n, ncol) if n else np.empty((0, ncol), dtype=str)
    del tokens

    def column(name: str, dtype):
        j = cols.index(name)
        try:
            return table[:, j].astype(dtype)
        except ValueError:
            for k in range(n):
                try:
                    (float if dtype is float else int)(table[k, j])
                except ValueError:
                    what = "an integer" if dtype is not float else "a number"
                    raise r.err(f"column {name!r}: {str(table[k, j])!r} is not {what}",
                                first + k) from None
            raise

    cell, origin, flags, pbc = _parse_box(head, r)
    pos = None
    for names, scaled in _POSITION_SETS:
        if all(c in cols for c in names):
            xyz = np.column_stack([column(c, float) for c in names]) if n else np.zeros((0, 3))
            pos = xyz @ cell if scaled else xyz - origin
            break
    if pos is None:
        raise r.err(f"no position columns (x y z, xu yu zu, xs ys zs or xsu ysu zsu) in 'ITEM: ATOMS {' '.join(cols)}'",
                    first - 1)
    ids = column("id", np.int64) if "id" in cols else np.arange(1, n + 1, dtype=np.int64)
    types = column("type", np.int64) if "type" in cols else None
    source = str(r.path)
    if "element" in cols:
        elements = table[:, cols.index("element")]
        uniq, inv = np.unique(elements, return_inverse=True)
        bad = [e for e in uniq.tolist() if e not in atomic_numbers or e == "X"]
        if bad:
            raise r.err(f"unknown element(s) {', '.join(bad)} in the 'element' column", first)
        if types is not None and species_map:  # a --species contradicting the column is refused
            resolve_species(types, species_map, stated=elements, source=source)
        numbers = np.array([atomic_numbers[e] for e in uniq.tolist()], dtype=int)[inv.reshape(-1)]
    elif types is not None:
        uniq, inv = np.unique(types, return_inverse=True)
        syms = map_types(uniq, species_map or {}, source)
        numbers = np.array([atomic_numbers[s] for s in syms.tolist()], dtype=int)[inv.reshape(-1)]
    else:
        raise r.err("no 'type' or 'element' column: cannot tell the species", first - 1)
    atoms = Atoms(numbers=numbers, positions=pos, cell=cell, pbc=pbc)
    atoms.arrays["id"] = ids
    if types is not None:
        atoms.arrays["type"] = types
    atoms.info["source"] = source
    atoms.info["timestep"] = head["timestep"]
    atoms.info["lammps_dump"] = {
        "timestep": head["timestep"], "header": head["header"], "box": head["box"],
        "box_lines": head["box_lines"], "boundary": list(flags), "origin": origin.tolist(),
        "columns": list(cols), "rows": rows, "n_atoms": n, "source": source, "line": head["line"],
    }
    return atoms


def _skip_atoms(head: dict, r: _Reader) -> None:
    n = head["n_atoms"]
    got = 0
    while got < n:
        chunk = r.take(min(n - got, 65536))
        if not chunk:
            raise r.err(f"truncated frame: file ends after {got} of {n} atom lines")
        got += len(chunk)
        if chunk[-1].startswith("ITEM:"):
            raise r.err(f"truncated frame: fewer than {n} atom lines before the next 'ITEM:'")


# ----------------------------------------------------------------------------- public reader
def count_frames(path: Union[str, Path]) -> int:
    """Number of frames in a dump (reads headers and skips atom lines; constant memory)."""
    path = Path(path)
    n = 0
    with _open_text(path) as fh:
        r = _Reader(fh, path)
        while True:
            head = _read_header(r)
            if head is None:
                return n
            _skip_atoms(head, r)
            n += 1


def _selection(path: Path, frames: Optional[slice]):
    """(start, stop, step) with non-negative start/stop (stop may be None)."""
    if frames is None:
        return 0, None, 1
    start, stop, step = frames.start, frames.stop, frames.step
    step = 1 if step is None else int(step)
    if step <= 0:
        raise MgBarrierError(f"{path}: frame STEP must be positive for a streamed LAMMPS dump (got {step})")
    if (start is not None and start < 0) or (stop is not None and stop < 0):
        total = count_frames(path)  # one extra pass over headers, constant memory
        start, stop, _ = slice(start, stop, step).indices(total)
    return (start or 0), stop, step


def iread_dump(path: Union[str, Path], species_map: Optional[Mapping[int, str]] = None,
               frames: Optional[slice] = None) -> Iterator[Atoms]:
    """Yield the frames of a LAMMPS text dump (optionally ``.gz``) one at a time.

    ``frames`` is a Python slice of frame indices (negative START/STOP cost one extra pass
    over the file; a negative STEP is refused).  Positions are Å relative to the box
    origin; see the module docstring for what each Atoms carries.  Malformed or truncated
    frames raise :class:`MgBarrierError` naming ``file:line``.
    """
    path = Path(path)
    start, stop, step = _selection(path, frames)
    try:
        fh = _open_text(path)
    except OSError as exc:
        raise MgBarrierError(f"{path}: cannot open ({exc.strerror or exc})") from None
    with fh:
        r = _Reader(fh, path)
        k = 0
        while stop is None or k < stop:
            try:
                head = _read_header(r)
            except UnicodeDecodeError:
                raise r.err("not a text LAMMPS dump (binary data)") from None
            if head is None:
                break
            if k >= start and (k - start) % step == 0:
                yield _parse_atoms(head, r, species_map)
            else:
                _skip_atoms(head, r)
            k += 1


def read_dump(path: Union[str, Path], species_map: Optional[Mapping[int, str]] = None, index: int = -1) -> Atoms:
    """One frame of a dump (default: the last)."""
    sl = slice(index, index + 1 if index != -1 else None)
    out = list(iread_dump(path, species_map, sl))
    if not out:
        raise MgBarrierError(f"{path}: no frame {index}")
    return out[0]


# ----------------------------------------------------------------------------- writer
def _fmt(x: float) -> str:
    return repr(float(x))


def lammps_box(atoms: Atoms) -> dict:
    """LAMMPS box of ``atoms``: dict with ``lo``, ``hi`` (3,) Å, ``tilt`` (xy, xz, yz) or None,
    ``flags`` (['pp'|'ff'] * 3) and ``positions`` (N, 3) Å in that box.

    A full-rank cell gives an orthogonal or restricted triclinic box with origin 0 (the
    cell is rotated into LAMMPS's lower-triangular form when needed); a structure without
    a full cell gets the bounding box of its atoms with ``ff`` boundaries.
    """
    pbc = [bool(p) for p in atoms.pbc]
    pos = atoms.get_positions()
    if atoms.cell.rank == 3:
        from ase.calculators.lammps import Prism

        prism = Prism(atoms.cell.array, pbc=pbc)
        xhi, yhi, zhi, xy, xz, yz = (float(v) for v in prism.get_lammps_prism())
        lpos = prism.vector_to_lammps(pos, wrap=False) if len(pos) else pos
        return {"lo": np.zeros(3), "hi": np.array([xhi, yhi, zhi]),
                "tilt": (xy, xz, yz) if prism.is_skewed() else None,
                "flags": ["pp" if p else "ff" for p in pbc], "positions": np.asarray(lpos, dtype=float)}
    lo = pos.min(axis=0) if len(pos) else np.zeros(3)
    hi = pos.max(axis=0) if len(pos) else np.ones(3)
    hi = np.where(hi - lo < 1e-6, lo + 1.0, hi)
    return {"lo": lo, "hi": hi, "tilt": None, "flags": ["ff", "ff", "ff"], "positions": pos}


def box_from_cell(atoms: Atoms) -> Tuple[str, List[str], np.ndarray]:
    """Dump box of ``atoms``: (``ITEM: BOX BOUNDS ...`` line, 3 bound lines, positions (N, 3) Å)."""
    b = lammps_box(atoms)
    (xlo, ylo, zlo), (xhi, yhi, zhi) = b["lo"].tolist(), b["hi"].tolist()
    if b["tilt"] is not None:
        xy, xz, yz = b["tilt"]
        xlob, xhib = xlo + min(0.0, xy, xz, xy + xz), xhi + max(0.0, xy, xz, xy + xz)
        ylob, yhib = ylo + min(0.0, yz), yhi + max(0.0, yz)
        head = "ITEM: BOX BOUNDS xy xz yz " + " ".join(b["flags"])
        lines = [f"{_fmt(xlob)} {_fmt(xhib)} {_fmt(xy)}", f"{_fmt(ylob)} {_fmt(yhib)} {_fmt(xz)}",
                 f"{_fmt(zlo)} {_fmt(zhi)} {_fmt(yz)}"]
    else:
        head = "ITEM: BOX BOUNDS " + " ".join(b["flags"])
        lines = [f"{_fmt(lo)} {_fmt(hi)}" for lo, hi in zip((xlo, ylo, zlo), (xhi, yhi, zhi))]
    return head, lines, b["positions"]


def column_name(name: str) -> str:
    """Dump column of the per-atom array ``name``: ``d_<name>`` (``barrier`` -> ``d_barrier``)."""
    return f"d_{name}"


def _array_columns(atoms: Atoms, taken: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """The numeric per-atom arrays of ``atoms`` (not species, positions, ids, types) as dump
    columns: ``d_<name>``, or ``d_<name>[1]``, ``d_<name>[2]``, ... for an (N, k) array."""
    out: Dict[str, np.ndarray] = {}
    for key, val in atoms.arrays.items():
        val = np.asarray(val)
        if key in ("numbers", "positions", "id", "type") or val.dtype.kind not in "biuf" or val.ndim > 2:
            continue
        if val.ndim == 1:
            out[column_name(key)] = val.astype(float)
        else:
            for j in range(val.shape[1]):
                out[f"{column_name(key)}[{j + 1}]"] = val[:, j].astype(float)
    return {k: v for k, v in out.items() if k not in taken}


class DumpWriter:
    """Append frames with per-atom output columns ``d_<name>`` to a LAMMPS text dump.

    Gzip-compressed when ``path`` ends in ``.gz``.  Written through
    :class:`~mgbarrier.io.files.AtomicOutput`: the file appears on :meth:`close` (or a clean
    ``with`` exit); on an exception or :meth:`abort` ``path`` is left as it was.
    Frames read from a dump keep every original column, ids, atom order and box lines (an
    ``element`` column is added after them when missing); other frames get ``id type
    element x y z`` and a ``d_<name>`` column per numeric per-atom array of the Atoms.
    """

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)
        self.frames = 0
        self._types: Dict[str, int] = {}
        self._out = AtomicOutput(self.path)

    # context manager ---------------------------------------------------------
    def __enter__(self) -> "DumpWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def close(self) -> None:
        """Finish the file and put it in place."""
        self._out.commit()

    def abort(self) -> None:
        """Drop everything written so far; ``path`` is not touched."""
        self._out.abort()

    # frames ------------------------------------------------------------------
    def write(self, atoms: Atoms, arrays: Union[Mapping[str, Sequence[float]], Sequence[float]]) -> None:
        """Append one frame.  ``arrays``: ``{name: (N,) values}`` in the order of ``atoms``
        (written as columns ``d_<name>``); a bare (N,) sequence means ``{"barrier": ...}``."""
        if self._out.fh is None:
            raise ValueError("DumpWriter is closed")
        if not isinstance(arrays, Mapping):
            arrays = {"barrier": arrays}
        cols = {column_name(k): np.asarray(v, dtype=float).reshape(-1) for k, v in arrays.items()}
        for name, v in cols.items():
            if len(v) != len(atoms):
                raise ValueError(f"{len(v)} values of {name} for {len(atoms)} atoms")
        meta = atoms.info.get("lammps_dump")
        if isinstance(meta, dict) and meta.get("n_atoms") == len(atoms) and "rows" in meta:
            self._write_original(meta, cols, atoms.get_chemical_symbols())
        else:
            self._write_generic(atoms, {**_array_columns(atoms, cols), **cols})
        self.frames += 1

    def _write_original(self, meta: dict, cols: Dict[str, np.ndarray], symbols: Sequence[str]) -> None:
        names = list(meta["columns"])
        rows = meta["rows"].splitlines()
        drop = [k for k, c in enumerate(names) if c in cols]  # re-predicting an output: replace the column
        if drop:
            keep = [k for k in range(len(names)) if k not in drop]
            names = [names[k] for k in keep]
            rows = [" ".join(w[k] for k in keep) for w in (row.split() for row in rows)]
        if "element" not in names:  # species known (--species): OVITO then names the types
            names.append("element")
            rows = [f"{row.rstrip()} {sym}" for row, sym in zip(rows, symbols)]
        extra = list(cols)
        values = np.stack([cols[c] for c in extra], axis=1).tolist()
        self._out.write("\n".join(meta["header"]))
        self._out.write("\nITEM: ATOMS " + " ".join(names + extra) + "\n")
        self._out.write("".join(f"{row.rstrip()} {' '.join(map(repr, v))}\n" for row, v in zip(rows, values)))

    def _write_generic(self, atoms: Atoms, cols: Dict[str, np.ndarray]) -> None:
        n = len(atoms)
        symbols = atoms.get_chemical_symbols()
        ids = np.asarray(atoms.arrays["id"], dtype=np.int64) if "id" in atoms.arrays else np.arange(1, n + 1)
        if "type" in atoms.arrays:
            types = np.asarray(atoms.arrays["type"], dtype=np.int64)
        else:
            for s in sorted(set(symbols) - set(self._types)):  # alphabetical, stable across frames
                self._types[s] = len(self._types) + 1
            types = np.array([self._types[s] for s in symbols], dtype=np.int64)
        box, box_lines, pos = box_from_cell(atoms)
        timestep = atoms.info.get("timestep", self.frames)
        extra = list(cols)
        values = np.stack([cols[c] for c in extra], axis=1).tolist() if extra else [[] for _ in range(n)]
        w = self._out.write
        w(f"ITEM: TIMESTEP\n{int(timestep)}\nITEM: NUMBER OF ATOMS\n{n}\n{box}\n")
        w("\n".join(box_lines))
        w("\nITEM: ATOMS id type element x y z" + "".join(f" {c}" for c in extra) + "\n")
        w("".join(
            f"{i} {t} {s} {x!r} {y!r} {z!r}" + "".join(f" {b!r}" for b in v) + "\n"
            for i, t, s, (x, y, z), v in zip(ids.tolist(), types.tolist(), symbols, pos.tolist(), values)
        ))
