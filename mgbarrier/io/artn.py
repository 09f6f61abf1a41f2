"""Per-atom barrier labels (eV) from lammps-ARTn ``log.event`` files.

lammps-ARTn (``min_style artn``, https://github.com/Binxu-Stack/lammps-ARTn) writes one
row per event to its ``event_list_file`` (``log.event``).  With ``flag_push_over 1`` and
``flag_press 1`` the header is::

    #Event del-E egv-sad nsadl sad-dx sad-dy sad-dz sad-dr ref sad min center Eref Emin
           nMove pxx pyy pzz pxy pxz pyz Efinal status dr

(without ``flag_press`` the six pressure columns are absent; we read columns by the names
of the ``#Event`` header line, so both layouts work).  ``del-E`` is the barrier of the
event in eV (saddle energy minus the energy ``Eref`` of the reference minimum ``ref``),
``center`` is the LAMMPS id of the atom the activation was centred on.

Which rows count ("accepted" events)
------------------------------------
ARTn writes a row only for a saddle it has *confirmed*: converged (``force_th_saddle``),
with ``del-E > 0`` and, if ``flag_push_back 1``, linked back to the starting minimum.
Unconfirmed searches never reach the file.  The ``status`` column is *not* a saddle
flag: it is the Metropolis decision on the new minimum found past the saddle
(``min_artn.cpp``, ``metropolis()``):

* ``status 0``: the new minimum was rejected; the search restarts from the same
  reference minimum (always the case with ``temperature < 0``, as in the label runs);
* ``status 1``: the new minimum was accepted and becomes the reference of the *next*
  events (``ref`` changes to that minimum's id, ``Eref`` to its energy).

The row with ``status 1`` is still a barrier of the labelled structure; the rows after
it are barriers of a *different* structure.  So an event is kept when its ``ref`` equals
the reference of the first event after its ``#Event`` header (the starting minimum,
``init_config_id``); later rows are rejected as "reference moved".  Rows with a status
other than 0 or 1 are rejected as "unknown status".  Barriers that are not finite or not
positive are rejected (counted in the summary).  A per-atom label is the mean ``del-E``
over the kept events centred on that atom (the SymGNN paper's label, its appendix A.5);
atoms without kept events get NaN (= unlabelled in training).

An interrupted run can leave a last row without its newline and with missing columns
(ARTn writes a row in three pieces); it is rejected as "incomplete row", not an error.
Any other row that does not match its header is an error ``file:line: problem``.
"""
from __future__ import annotations

import glob
import hashlib
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from ase import Atoms

from ..errors import MgBarrierError
from .files import file_sha256

PathLike = Union[str, Path]

#: columns holding integers (ids, counts, flags); all others are read as floats
INT_COLUMNS = frozenset({"Event", "nsadl", "ref", "sad", "min", "center", "nMove", "status"})
#: ``status`` values and what lammps-ARTn means by them (Metropolis on the new minimum)
STATUS_MEANING = {
    0: "new minimum rejected, next event starts from the same reference minimum",
    1: "new minimum accepted, it becomes the reference of the next events",
}
#: rejection reasons (keys of ``summary['events_rejected']``)
REJECT_INCOMPLETE = "incomplete row (interrupted run)"
REJECT_NO_CENTER = "no 'center' column (run with flag_push_over 0)"
REJECT_UNKNOWN_STATUS = "unknown status"
REJECT_MOVED = "reference moved (after an accepted new minimum, status 1)"
REJECT_NONFINITE = "non-finite barrier"
REJECT_NONPOSITIVE = "non-positive barrier"
#: the largest barrier (eV) taken as a real event: a local rearrangement in a metallic
#: glass costs a few eV at most (cohesive energies are 3-7 eV/atom), so a del-E above this
#: is a broken run or file, dropped and counted like a non-finite one
MAX_BARRIER = 100.0
REJECT_IMPLAUSIBLE = f"implausible barrier (> {MAX_BARRIER:g} eV)"

#: in ``labelled_structure_from_run`` info, list every event file up to this many
MAX_LISTED_FILES = 100


@dataclass(frozen=True)
class ArtnEvent:
    """One row of a ``log.event`` file.

    ``barrier`` is ``del-E`` in eV; ``center`` the LAMMPS atom id of the activation
    centre (``None`` when the file has no ``center`` column); ``ref`` the id of the
    reference minimum; ``status`` the Metropolis flag (see module docstring);
    ``segment`` counts ``#Event`` headers in the file (0 for the first run);
    ``complete`` is False for a truncated last row; ``values`` holds every column.
    """

    source: str
    line: int
    segment: int
    index: Optional[int]
    barrier: float
    center: Optional[int]
    ref: Optional[int]
    status: Optional[int]
    complete: bool = True
    values: Dict[str, float] = field(default_factory=dict, compare=False, repr=False)


# ----------------------------------------------------------------------------- parsing
def parse_event_log(path: PathLike) -> List[ArtnEvent]:
    """All event rows of one lammps-ARTn ``log.event`` file, in file order.

    Columns are taken from the ``#Event ...`` header line; a file may hold several
    header+rows blocks (concatenated runs).  A header-only or empty file gives ``[]``.
    Raises :class:`MgBarrierError` ``"file:line: problem"`` for rows that do not fit
    their header (except a truncated last row, returned with ``complete=False``).
    """
    path = Path(path)
    if not path.exists():
        raise MgBarrierError(f"{path}: no such file")
    if path.is_dir():
        raise MgBarrierError(f"{path}: is a directory, expected a lammps-ARTn log.event file")
    raw = path.read_bytes()
    if b"\0" in raw:
        raise MgBarrierError(f"{path}: binary file, expected a lammps-ARTn log.event text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    lines = text.splitlines()
    ends_with_newline = text.endswith(("\n", "\r"))
    last_data = max((k for k, s in enumerate(lines) if s.strip() and not s.lstrip().startswith("#")), default=-1)

    events: List[ArtnEvent] = []
    header: Optional[List[str]] = None
    segment = -1
    for k, line in enumerate(lines):
        lineno = k + 1
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            tokens = s[1:].split()
            if tokens and tokens[0] == "Event":
                header = _check_header(tokens, path, lineno)
                segment += 1
            continue  # column numbers, rulers, comments
        if header is None:
            raise MgBarrierError(
                f"{path}:{lineno}: event row before the '#Event del-E ...' header line "
                "(not a lammps-ARTn log.event file?)"
            )
        tokens = s.split()
        truncated = k == last_data and not ends_with_newline and len(tokens) < len(header)
        if truncated:
            events.append(_incomplete_event(tokens, header, path, lineno, segment))
            continue
        if len(tokens) != len(header):
            raise MgBarrierError(
                f"{path}:{lineno}: expected {len(header)} columns as in the '#Event' header, found {len(tokens)}"
            )
        values = {name: _number(name, tok, path, lineno) for name, tok in zip(header, tokens)}
        events.append(_event(values, path, lineno, segment, complete=True))
    return events


def _check_header(tokens: List[str], path: Path, lineno: int) -> List[str]:
    if "del-E" not in tokens:
        raise MgBarrierError(f"{path}:{lineno}: '#Event' header has no 'del-E' column")
    dup = [t for t, n in Counter(tokens).items() if n > 1]
    if dup:
        raise MgBarrierError(f"{path}:{lineno}: '#Event' header repeats column(s) {', '.join(dup)}")
    return tokens


def _number(name: str, tok: str, path: Path, lineno: int):
    if name in INT_COLUMNS:
        try:
            return int(tok)
        except ValueError:
            raise MgBarrierError(f"{path}:{lineno}: column '{name}': {tok!r} is not an integer") from None
    try:
        return float(tok)  # accepts C's nan, -nan, inf
    except ValueError:
        raise MgBarrierError(f"{path}:{lineno}: column '{name}': {tok!r} is not a number") from None


def _event(values: dict, path: Path, lineno: int, segment: int, complete: bool) -> ArtnEvent:
    return ArtnEvent(
        source=str(path), line=lineno, segment=segment, index=values.get("Event"),
        barrier=float(values.get("del-E", math.nan)), center=values.get("center"),
        ref=values.get("ref"), status=values.get("status"), complete=complete, values=values,
    )


def _incomplete_event(tokens, header, path, lineno, segment) -> ArtnEvent:
    values = {}
    for name, tok in zip(header, tokens[:-1]):  # the last token may itself be cut short
        try:
            values[name] = _number(name, tok, path, lineno)
        except MgBarrierError:
            break
    return _event(values, path, lineno, segment, complete=False)


# ----------------------------------------------------------------------------- selection
def select_events(events: Sequence[ArtnEvent]) -> Tuple[List[ArtnEvent], Dict[str, int]]:
    """Split rows into kept events and rejection counts ``{reason: n}`` (module docstring).

    ``events`` should be the rows of one file (or several files' rows, grouped by file):
    the starting reference is taken per (file, ``#Event`` block).
    """
    kept: List[ArtnEvent] = []
    rejected: Counter = Counter()
    initial_ref: Dict[Tuple[str, int], Optional[int]] = {}
    accepted_before: Dict[Tuple[str, int], bool] = defaultdict(bool)
    for ev in events:
        block = (ev.source, ev.segment)
        if block not in initial_ref and ev.complete:
            initial_ref[block] = ev.ref
        if not ev.complete:
            rejected[REJECT_INCOMPLETE] += 1
            continue
        if ev.center is None:
            rejected[REJECT_NO_CENTER] += 1
            continue
        if ev.status is not None and ev.status not in STATUS_MEANING:
            rejected[f"{REJECT_UNKNOWN_STATUS} {ev.status}"] += 1
            continue
        moved = ev.ref != initial_ref[block] if ev.ref is not None else accepted_before[block]
        if ev.status == 1:
            accepted_before[block] = True
        if moved:
            rejected[REJECT_MOVED] += 1
            continue
        if not math.isfinite(ev.barrier):
            rejected[REJECT_NONFINITE] += 1
            continue
        if ev.barrier <= 0.0:
            rejected[REJECT_NONPOSITIVE] += 1
            continue
        if ev.barrier > MAX_BARRIER:
            rejected[REJECT_IMPLAUSIBLE] += 1
            continue
        kept.append(ev)
    return kept, dict(rejected)


# ----------------------------------------------------------------------------- labelling
def expand_event_globs(event_globs: Union[PathLike, Iterable[PathLike]]) -> List[Path]:
    """Paths matched by each glob pattern (or plain path), naturally sorted per pattern.

    A pattern that matches nothing is an error.  The same file matched twice is kept
    twice here; :func:`artn_labels` counts it once.
    """
    if isinstance(event_globs, (str, Path)):
        event_globs = [event_globs]
    out: List[Path] = []
    for pattern in event_globs:
        pattern = str(pattern)
        if glob.has_magic(pattern):
            matches = [Path(p) for p in glob.glob(pattern) if not Path(p).is_dir()]
        else:
            matches = [Path(pattern)] if Path(pattern).exists() else []
        if not matches:
            raise MgBarrierError(f"{pattern}: no lammps-ARTn event files match")
        out.extend(sorted(matches, key=_natural_key))
    if not out:
        raise MgBarrierError("no lammps-ARTn event files given")
    return out


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(p))]


def artn_labels(structure_path: PathLike, event_globs: Union[PathLike, Iterable[PathLike]],
                species_map: Optional[Mapping[int, str]] = None) -> Tuple[Atoms, dict]:
    """The structure of ``structure_path`` labelled with ARTn barriers.

    ``structure_path``: the LAMMPS data file the events were computed on (species from
    ``species_map`` like ``{1: 'Zr', 2: 'Cu'}``, else from its Masses section).
    ``event_globs``: glob pattern(s) or path(s) of ``log.event`` files.

    Returns ``(atoms, summary)``: ``atoms.arrays['barrier']`` float64 (N,) eV, mean
    ``del-E`` of the kept events centred on each atom, NaN for atoms without events;
    ``atoms.arrays['n_events']`` int (N,) the number of kept events per atom.
    ``summary`` is a JSON-serialisable dict (see :func:`format_summary`).
    """
    return label_from_files(structure_path, expand_event_globs(event_globs), species_map)


def label_from_files(structure_path: PathLike, event_files: Sequence[PathLike],
                     species_map: Optional[Mapping[int, str]] = None) -> Tuple[Atoms, dict]:
    """Like :func:`artn_labels` with literal file paths (no glob expansion)."""
    from .structures import read_lammps_data, validate_atoms

    structure_path = Path(structure_path)
    atoms = read_lammps_data(structure_path, species_map)
    validate_atoms(atoms, str(structure_path))
    if "id" not in atoms.arrays:
        raise MgBarrierError(f"{structure_path}: no atom ids")
    ids = np.asarray(atoms.arrays["id"], dtype=np.int64)
    index_of = {int(i): k for k, i in enumerate(ids.tolist())}
    if len(index_of) != len(ids):
        raise MgBarrierError(f"{structure_path}: repeated atom ids")

    files: List[str] = []
    file_hashes: Dict[str, str] = {}
    duplicate_paths: List[str] = []
    duplicate_files: List[dict] = []
    files_without_events: List[str] = []
    seen_paths: Dict[Path, str] = {}
    seen_content: Dict[str, str] = {}
    all_events: List[ArtnEvent] = []
    n_read = 0
    for f in event_files:
        f = Path(f)
        real = f.resolve()
        if real in seen_paths:
            duplicate_paths.append(str(f))
            continue
        seen_paths[real] = str(f)
        events = parse_event_log(f)
        digest = file_sha256(f)
        if not events:
            files_without_events.append(str(f))
            continue
        if digest in seen_content:
            duplicate_files.append({"file": str(f), "same_as": seen_content[digest]})
            continue
        seen_content[digest] = str(f)
        files.append(str(f))
        file_hashes[str(f)] = digest
        for ev in events:
            if ev.complete and ev.center is not None and ev.center not in index_of:
                raise MgBarrierError(
                    f"{ev.source}:{ev.line}: center atom id {ev.center} is not in {structure_path} "
                    f"(ids {int(ids.min())}..{int(ids.max())}); were these events computed on another structure?"
                )
        n_read += len(events)
        all_events.extend(events)

    kept, rejected = select_events(all_events)
    if not kept:
        why = "; ".join(f"{r}: {n}" for r, n in sorted(rejected.items())) or "no event rows"
        given = files + files_without_events
        where = given[0] if len(given) == 1 else f"{structure_path}"
        raise MgBarrierError(
            f"{where}: no usable ARTn events in {len(files)} event file(s) "
            f"({len(files_without_events)} without events; rejected {why})"
        )

    sums = np.zeros(len(atoms))
    counts = np.zeros(len(atoms), dtype=np.int64)
    ev_barriers = np.array([ev.barrier for ev in kept])
    for ev in kept:
        k = index_of[ev.center]
        sums[k] += ev.barrier
        counts[k] += 1
    barrier = np.full(len(atoms), np.nan)
    labelled = counts > 0
    barrier[labelled] = sums[labelled] / counts[labelled]
    atoms.arrays["barrier"] = barrier
    atoms.arrays["n_events"] = counts

    symbols = np.array(atoms.get_chemical_symbols())
    per_species = {str(s): int(np.sum(labelled & (symbols == s))) for s in sorted(set(symbols.tolist()))}
    summary = {
        "structure": str(structure_path),
        "structure_sha256": file_sha256(structure_path),
        "atoms": int(len(atoms)),
        "files": files,
        "file_sha256": file_hashes,
        "duplicate_paths": duplicate_paths,
        "duplicate_files": duplicate_files,
        "files_without_events": files_without_events,
        "events_read": int(n_read),
        "events_kept": int(len(kept)),
        "events_rejected": {k: int(v) for k, v in sorted(rejected.items())},
        "atoms_labelled": int(labelled.sum()),
        "atoms_labelled_by_species": per_species,
        "barrier_eV": _stats(barrier[labelled]),
        "event_barrier_eV": _stats(ev_barriers),
        "events_per_atom": _stats(counts[labelled].astype(float)),
        # energy of the starting minimum in each kept row: one structure gives one value (to ~1e-3 eV)
        "reference_energy_eV": _stats(np.array([ev.values["Eref"] for ev in kept if "Eref" in ev.values])),
    }
    return atoms, summary


def _stats(x: np.ndarray) -> dict:
    if len(x) == 0:
        return {"min": None, "mean": None, "max": None}
    return {"min": float(np.min(x)), "mean": float(np.mean(x)), "max": float(np.max(x))}




def format_summary(summary: dict) -> str:
    """Human-readable lines for a summary from :func:`artn_labels`."""
    lines = [f"structure {summary['structure']}: {summary['atoms']} atoms"]
    dup = len(summary["duplicate_paths"]) + len(summary["duplicate_files"])
    lines.append(f"event files: {len(summary['files'])} used, {len(summary['files_without_events'])} without events, "
                 f"{dup} duplicate(s) skipped")
    for d in summary["duplicate_files"]:
        lines.append(f"  duplicate content: {d['file']} (same as {d['same_as']})")
    lines.append(f"events: {summary['events_read']} read, {summary['events_kept']} kept")
    for reason, n in summary["events_rejected"].items():
        lines.append(f"  rejected {n}: {reason}")
    by = ", ".join(f"{s} {n}" for s, n in summary["atoms_labelled_by_species"].items())
    lines.append(f"atoms labelled: {summary['atoms_labelled']} of {summary['atoms']} ({by})")
    b, e = summary["barrier_eV"], summary["events_per_atom"]
    lines.append(f"barrier per atom (eV): min {b['min']:.4f}, mean {b['mean']:.4f}, max {b['max']:.4f}")
    lines.append(f"events per labelled atom: min {e['min']:.0f}, mean {e['mean']:.2f}, max {e['max']:.0f}")
    r = summary.get("reference_energy_eV") or {}
    if r.get("min") is not None:
        spread = r["max"] - r["min"]
        lines.append(f"reference minimum energy (Eref): {r['min']:.3f} to {r['max']:.3f} eV (spread {spread:.3f} eV"
                     + ("; large: are all event files from this structure?)" if spread > 0.1 else ")"))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- run directories
def _data_files(d: Path) -> List[Path]:
    out = {p for pat in ("*.data", "data.*") for p in d.glob(pat) if p.is_file() and not p.name.startswith(".")}
    return sorted(out)


def _event_files(d: Path) -> List[Path]:
    if not d.is_dir():
        return []
    return sorted((p for p in d.glob("log.event*") if p.is_file()), key=_natural_key)


def find_run_files(run_dir: PathLike) -> Tuple[Path, List[Path]]:
    """``(structure, event_files)`` of an ARTn run directory.

    Event files: ``log.event*`` in ``run_dir/artn/`` or else in ``run_dir`` (both is an
    error).  Structure: the LAMMPS data file (``*.data`` or ``data.*``) beside the event
    files, else (events in ``artn/``) in ``run_dir``.  Several candidates are ambiguous,
    except that ``data.pos`` wins: it is the relaxed structure ``lammps_examples/artn/in.artn``
    writes and that its events refer to.
    """
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise MgBarrierError(f"{run_dir}: no such run directory")
    if not run_dir.is_dir():
        raise MgBarrierError(f"{run_dir}: not a directory (expected a run directory with a data file and log.event*)")
    sub = run_dir / "artn"
    in_sub, in_top = _event_files(sub), _event_files(run_dir)
    if in_sub and in_top:
        raise MgBarrierError(f"{run_dir}: log.event* files both in {run_dir} and {sub}; keep one set")
    if not in_sub and not in_top:
        raise MgBarrierError(f"{run_dir}: no lammps-ARTn log.event* files (looked in {run_dir} and {sub})")
    events, where = (in_sub, sub) if in_sub else (in_top, run_dir)
    candidates = _data_files(where)
    if not candidates and where == sub:
        candidates = _data_files(run_dir)
    if not candidates:
        raise MgBarrierError(f"{run_dir}: no LAMMPS data file (*.data or data.*) beside the log.event* files")
    if len(candidates) > 1:
        pos = [c for c in candidates if c.name == "data.pos"]
        if len(pos) != 1:
            names = ", ".join(c.name for c in candidates)
            raise MgBarrierError(
                f"{candidates[0].parent}: several LAMMPS data files ({names}); keep only the structure "
                "the ARTn events were computed on (or name it data.pos)"
            )
        candidates = pos
    return candidates[0], events


def labelled_structure_from_run(run_dir: PathLike, species_map: Optional[Mapping[int, str]] = None
                                ) -> Tuple[Atoms, dict]:
    """Labelled structure of a run directory (see :func:`find_run_files`).

    Returns ``(atoms, info)``: ``atoms.arrays['barrier']`` (N,) eV with NaN for
    unlabelled atoms; ``info`` JSON-serialisable: structure file and sha256, the event
    files (names and sha256, listed up to ``MAX_LISTED_FILES``; always a combined
    ``event_files_sha256`` over sorted (name, sha256) pairs) and the counts of
    :func:`artn_labels`.
    """
    run_dir = Path(run_dir)
    structure, events = find_run_files(run_dir)
    atoms, summary = label_from_files(structure, events, species_map)
    rel = {f: _relative(Path(f), run_dir) for f in summary["files"]}
    pairs = sorted((rel[f], h) for f, h in summary["file_sha256"].items())
    combined = hashlib.sha256("\n".join(f"{n} {h}" for n, h in pairs).encode()).hexdigest()
    info = {
        "structure": _relative(structure, run_dir),
        "sha256": summary["structure_sha256"],
        "n_event_files": len(pairs),
        "event_files_sha256": combined,
        "duplicate_event_files": len(summary["duplicate_files"]) + len(summary["duplicate_paths"]),
        "event_files_without_events": len(summary["files_without_events"]),
        "events_read": summary["events_read"],
        "events_kept": summary["events_kept"],
        "events_rejected": summary["events_rejected"],
        "atoms": summary["atoms"],
        "atoms_labelled": summary["atoms_labelled"],
        "barrier_eV": summary["barrier_eV"],
    }
    if len(pairs) <= MAX_LISTED_FILES:
        info["event_files"] = [{"file": n, "sha256": h} for n, h in pairs]
    return atoms, info


def _relative(p: Path, root: Path) -> str:
    try:
        return str(p.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(p)
