"""Label a structure with ARTn barriers: many (atom, search) saddle searches, serial or on Dask.

:func:`run_labelling` writes into ``out_dir``:

* ``data.pos``        the relaxed structure the events refer to (LAMMPS data file with
  Masses; ids = the structure's ``id`` array, else 1..N) -- like lammps-ARTn's
  ``in.artn``, the structure is first relaxed (LAMMPS FIRE+CG, ``fmax`` 1e-4 eV/Å);
* ``searches.jsonl``  one JSON line per finished search, accepted or not (atom id, search
  index, seed, accepted, reason, barrier, energies, curvatures, force calls, seconds);
  appended and flushed as results arrive, so an interruption keeps every finished search;
* ``log.event``       the accepted searches in lammps-ARTn's event format (``#Event del-E
  egv-sad ...``, without the pressure columns), read unchanged by
  :func:`mgbarrier.artn.parse_event_log` / ``artn-labels`` / ``train --runs``;
* ``labels.extxyz``   the relaxed structure with per-atom ``barrier`` (eV, mean del-E of the
  accepted searches centred on the atom, NaN where none) and ``n_events``;
* ``run.json``        what the run was (structure hash, potential, settings, seed), checked on
  resume.

``log.event`` and ``labels.extxyz`` are rewritten atomically (temp file + ``os.replace``).
Running again with the same arguments resumes: (atom, search) pairs already in
``searches.jsonl`` are skipped.  Each pair has its own seed from (seed, atom id, search
index), so results do not depend on the number of workers or on interruptions.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np
from ase import Atoms

from ..errors import MgBarrierError
from ..graphs.checks import validate_atoms
from .search import artn_search
from .settings import ArtnSettings

__all__ = ["run_labelling", "search_seed", "select_atoms", "write_event_log", "read_searches", "close_engines",
           "format_run_summary", "EVENT_COLUMNS", "RUN_FILES"]

#: columns of the log.event we write (lammps-ARTn's with flag_push_over 1, flag_press 0)
EVENT_COLUMNS = ["Event", "del-E", "egv-sad", "nsadl", "sad-dx", "sad-dy", "sad-dz", "sad-dr", "ref", "sad", "min",
                 "center", "Eref", "Emin", "nMove", "Efinal", "status", "dr"]
RUN_FILES = {"structure": "data.pos", "events": "log.event", "searches": "searches.jsonl",
             "labels": "labels.extxyz", "run": "run.json"}
#: the input structure must have no per-atom force above this (eV/Å) to count as a minimum
FMAX_INPUT = 0.05
#: the structure is relaxed to this (eV/Å, largest per-atom force) before the searches
FMAX_RELAX = 1e-4
#: rewrite log.event / labels.extxyz at most this often while results arrive (s)
REWRITE_EVERY_S = 10.0


# ----------------------------------------------------------------------------- seeds / selection
def search_seed(seed: int, atom_id: int, search: int) -> int:
    """The seed of search ``search`` (0-based) on atom ``atom_id``: a 63-bit integer from
    ``numpy.random.SeedSequence([seed, atom_id, search])``."""
    ss = np.random.SeedSequence([int(seed), int(atom_id), int(search)])
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def _ids(atoms: Atoms) -> np.ndarray:
    if "id" in atoms.arrays:
        ids = np.asarray(atoms.arrays["id"], dtype=np.int64)
        if len(set(ids.tolist())) != len(ids):
            raise MgBarrierError("structure: repeated atom ids")
        return ids
    return np.arange(1, len(atoms) + 1, dtype=np.int64)


def select_atoms(spec, atoms: Atoms, seed: int = 0, source: str = "--atoms") -> List[int]:
    """Atom ids from ``spec``: ``"all"``, ``"random:N"`` (N distinct ids drawn with ``seed``),
    ``"ID,ID,..."``, ``"@FILE"`` (ids separated by blanks, commas or newlines; ``#`` comments)
    or a sequence of ints.  Ids are the structure's ``id`` array (else 1..N); out of range
    is an error."""
    ids = _ids(atoms)
    known = set(ids.tolist())
    if isinstance(spec, str):
        s = spec.strip()
        if s == "all":
            return sorted(known)
        if s.startswith("random:"):
            try:
                k = int(s.split(":", 1)[1])
            except ValueError:
                raise MgBarrierError(f"{source}: {spec!r}: expected random:N with an integer N") from None
            if not 1 <= k <= len(ids):
                raise MgBarrierError(f"{source}: {spec!r}: N must be 1..{len(ids)}")
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5e1ec7]))
            return sorted(int(i) for i in rng.choice(np.sort(ids), size=k, replace=False))
        if s.startswith("@"):
            path = Path(s[1:])
            try:
                text = path.read_text()
            except OSError as exc:
                raise MgBarrierError(f"{path}: cannot read atom ids ({exc.strerror})") from None
            words = " ".join(line.split("#", 1)[0] for line in text.splitlines()).replace(",", " ").split()
            return _check_ids(words, known, str(path), ids)
        return _check_ids(s.replace(",", " ").split(), known, source, ids)
    return _check_ids(list(spec), known, source, ids)


def _check_ids(words, known, source, ids) -> List[int]:
    out = []
    for w in words:
        try:
            i = int(w)
        except (TypeError, ValueError):
            raise MgBarrierError(f"{source}: {w!r} is not an atom id") from None
        if i not in known:
            raise MgBarrierError(f"{source}: atom id {i} is out of range (the structure has ids "
                                 f"{int(ids.min())}..{int(ids.max())})" if i < ids.min() or i > ids.max() else
                                 f"{source}: no atom with id {i} in the structure")
        out.append(i)
    if not out:
        raise MgBarrierError(f"{source}: no atom ids")
    return sorted(dict.fromkeys(out))


# ----------------------------------------------------------------------------- worker side
_ENGINES: Dict[str, tuple] = {}


def _payload_key(atoms: Atoms, potential_dict: dict) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(atoms.positions, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(atoms.numbers, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(atoms.cell.array, dtype=np.float64).tobytes())
    h.update(np.asarray(atoms.pbc, dtype=np.int8).tobytes())
    h.update(json.dumps(potential_dict, sort_keys=True).encode())
    return h.hexdigest()


def _engine_for(payload: dict):
    """The LAMMPS engine of this process for the payload's structure and potential (created once)."""
    key = payload["key"]
    hit = _ENGINES.get(key)
    if hit is None:
        from ..md import LammpsEngine, Potential

        close_engines()                     # one structure per process at a time
        atoms = _payload_atoms(payload)
        eng = LammpsEngine(atoms, Potential.from_dict(payload["potential"]))
        e0, _ = eng.energy_forces(atoms.positions)
        hit = _ENGINES[key] = (eng, atoms.positions.copy(), float(e0))
    return hit


def _region_engine_for(payload: dict):
    """This process's second LAMMPS engine, whose atoms each local search replaces by its force
    sub-system (the first keeps the whole structure); created once per structure."""
    key = payload["key"] + ":region"
    hit = _ENGINES.get(key)
    if hit is None:
        eng = _engine_for(payload)[0]
        from ..md import LammpsEngine

        atoms = _payload_atoms(payload)
        region = LammpsEngine(atoms, eng.potential)
        hit = _ENGINES[key] = (region, atoms, eng.cutoff)
    return hit


def _payload_atoms(payload: dict) -> Atoms:
    return Atoms(numbers=payload["numbers"], positions=payload["positions"], cell=payload["cell"], pbc=payload["pbc"])


def close_engines() -> None:
    """Close the LAMMPS engines cached in this process."""
    for key in list(_ENGINES):
        _ENGINES.pop(key)[0].close()


def run_search_task(payload: dict, atom_id: int, search: int, seed: int) -> dict:
    """One (atom, search) task: the JSON record of its search (runs on a worker or in-process)."""
    eng, x0, e0 = _engine_for(payload)
    index = payload["index_of"][int(atom_id)]
    settings = ArtnSettings.from_dict(payload["settings"])
    rng = np.random.default_rng(seed)
    eng.restart()                  # bit-identical whichever searches this engine ran before
    if settings.local_force_radius > 0:
        from .local import local_artn_search

        region, atoms, cutoff = _region_engine_for(payload)
        res = local_artn_search(region, atoms, x0, index, settings.local_force_radius, rng=rng, settings=settings,
                                e0=e0, cutoff=cutoff, refine=eng if settings.local_force_refine else None)
    else:
        res = artn_search(eng, x0, index, rng=rng, settings=settings, e0=e0, cell=np.asarray(payload["cell"]),
                          pbc=np.asarray(payload["pbc"]))
    rec = {"atom_id": int(atom_id), "search": int(search), "seed": int(seed)}
    r = res.to_record()
    r.pop("centre")
    rec.update(r)
    return rec


# ----------------------------------------------------------------------------- files
def read_searches(path: Union[str, Path]) -> List[dict]:
    """Records of ``searches.jsonl`` (a truncated last line, from a killed run, is ignored)."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    lines = path.read_text().splitlines()
    for k, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if k == len(lines) - 1:
                break
            raise MgBarrierError(f"{path}:{k + 1}: not a JSON line") from None
        if not isinstance(rec, dict) or "atom_id" not in rec or "search" not in rec:
            raise MgBarrierError(f"{path}:{k + 1}: not a search record")
        out.append(rec)
    return out


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _accepted(records: Iterable[dict]) -> List[dict]:
    best = {}
    for r in records:                       # last record of a pair wins (there should be one)
        best[(r["atom_id"], r["search"])] = r
    return [best[k] for k in sorted(best) if best[k].get("accepted") and best[k].get("barrier") is not None]


def _fmt_barrier(b: float) -> str:
    return f"{b:.6f}"


def event_log_text(records: Iterable[dict]) -> str:
    """lammps-ARTn ``log.event`` text of the accepted records, ordered by (atom id, search)."""
    cols = EVENT_COLUMNS
    head = "".join(f"{i:>4}" + " " * 4 for i in range(1, len(cols) + 1))
    lines = ["# " + head.rstrip(), "#" + "   ".join(cols), "#" + "-" * 150]
    for k, r in enumerate(_accepted(records), 1):
        dx, dy, dz = (v if v is not None else 0.0 for v in r["sad_dxyz"])
        lines.append(
            f"{k:5d} {_fmt_barrier(r['barrier']):>10s} {r['eigenvalue']:9.4f} {r['saddle_iters']:5d} "
            f"{dx:7.3f} {dy:7.3f} {dz:7.3f} {r['sad_dr']:7.3f} {0:5d} {k:5d} {k:5d} {r['atom_id']:7d} "
            f"{r['e_initial']:.6f} {r['e_final']:.6f} {r['n_move']:5d} {r['e_initial']:.6f} {0:2d} "
            f"{r['fin_dr']:.5f}")
    return "\n".join(lines) + "\n"


def write_event_log(path: Union[str, Path], records: Iterable[dict]) -> None:
    """Write (atomically) the lammps-ARTn ``log.event`` of the accepted records."""
    _atomic_text(Path(path), event_log_text(records))


def _labels(atoms: Atoms, ids: np.ndarray, records: Iterable[dict]) -> Atoms:
    index_of = {int(i): k for k, i in enumerate(ids.tolist())}
    sums = np.zeros(len(atoms))
    counts = np.zeros(len(atoms), dtype=np.int64)
    for r in _accepted(records):
        k = index_of[int(r["atom_id"])]
        sums[k] += float(_fmt_barrier(r["barrier"]))       # the value log.event holds
        counts[k] += 1
    out = atoms.copy()
    out.calc = None
    barrier = np.full(len(atoms), np.nan)
    barrier[counts > 0] = sums[counts > 0] / counts[counts > 0]
    out.arrays["id"] = ids.copy()
    out.arrays["barrier"] = barrier
    out.arrays["n_events"] = counts
    return out


def _write_labels(path: Path, atoms: Atoms, ids: np.ndarray, records) -> None:
    import ase.io

    buf = io.StringIO()
    ase.io.write(buf, _labels(atoms, ids, records), format="extxyz")
    _atomic_text(path, buf.getvalue())


def _data_file_text(atoms: Atoms, ids: np.ndarray, species: Sequence[str]) -> str:
    """LAMMPS data file (atomic, Masses) of ``atoms`` with ``ids`` in the id column."""
    import ase.io

    buf = io.StringIO()
    ase.io.write(buf, atoms, format="lammps-data", specorder=list(species), masses=True, atom_style="atomic",
                 units="metal")
    lines = buf.getvalue().splitlines()
    start = next(k for k, ln in enumerate(lines) if ln.strip().startswith("Atoms")) + 2
    for j in range(len(atoms)):
        words = lines[start + j].split(None, 1)
        k = int(words[0]) - 1
        lines[start + j] = f"{int(ids[k]):>6} {words[1]}"
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- driver
def _as_potential(potential):
    from ..md import Potential

    if isinstance(potential, Potential):
        return potential
    if isinstance(potential, dict):
        return Potential.from_dict(potential)
    raise MgBarrierError(f"potential: expected a mgbarrier.md.Potential, got {type(potential).__name__}")


def _prepare(structure: Atoms, potential, source: str, fmax_input: float):
    """Relax the structure (refusing one far from a minimum): (relaxed atoms, e0, fmax_in)."""
    from ..md import LammpsEngine

    if len(structure) == 0:
        raise MgBarrierError(f"{source}: no atoms")
    ids = _ids(structure)
    with LammpsEngine(structure, potential) as eng:
        e, f = eng.energy_forces(structure.positions)
        fa = np.sqrt((f * f).sum(axis=1))
        k = int(np.argmax(fa))
        if not np.isfinite(e) or not np.all(np.isfinite(f)):
            raise MgBarrierError(f"{source}: non-finite energy or forces with {potential.label} (overlapping atoms?)")
        if fa[k] > fmax_input:
            raise MgBarrierError(f"{source}: not at an energy minimum: largest force {fa[k]:.3g} eV/Å on atom id "
                                 f"{int(ids[k])} (> {fmax_input:g}); minimise it first (--minimize)")
        x, e0, fmax, ok = eng.minimize(structure.positions, fmax=FMAX_RELAX, max_steps=20000)
    relaxed = structure.copy()
    relaxed.calc = None
    relaxed.positions = x
    return relaxed, float(e0), float(fa[k])


def run_labelling(structure: Atoms, potential, atoms_selection, searches_per_atom: int, out_dir, *, seed: int,
                  workers: Optional[int] = None, scheduler: Optional[str] = None,
                  settings: Union[ArtnSettings, dict, None] = None,
                  progress: Optional[Callable[[dict], None]] = None, source: str = "structure",
                  fmax_input: float = FMAX_INPUT, retries: int = 3) -> dict:
    """Run ARTn searches on ``structure`` and write ``out_dir`` (module docstring); returns a summary.

    ``structure``: ase.Atoms at (or very near) an energy minimum of ``potential``
    (:class:`mgbarrier.md.Potential`); largest force above ``fmax_input`` eV/Å is an error.
    ``atoms_selection``: what :func:`select_atoms` takes (``"all"``, ``"random:N"``, ids...).
    ``searches_per_atom``: searches per selected atom.  ``seed``: global seed.
    ``workers`` / ``scheduler``: None/None runs in this process; else Dask through
    :func:`mgbarrier.cluster.dask_client` (``workers`` single-threaded processes, or an
    existing scheduler).  ``settings``: :class:`ArtnSettings` or a dict of its fields.
    ``progress``: called with ``{"done", "total", "accepted", "elapsed_s", "eta_s"}`` after each
    result.  Ctrl-C / SIGTERM stop after the running searches (in-process) or at once (Dask,
    running tasks lost); finished searches are kept, and the summary has ``interrupted``.
    """
    t_start = time.perf_counter()
    if not isinstance(structure, Atoms):
        raise MgBarrierError(f"{source}: expected an ase.Atoms structure")
    validate_atoms(structure, source)
    if int(searches_per_atom) != searches_per_atom or searches_per_atom < 1:
        raise MgBarrierError(f"searches per atom must be a positive integer, got {searches_per_atom!r}")
    searches_per_atom = int(searches_per_atom)
    if settings is None:
        settings = ArtnSettings()
    elif isinstance(settings, dict):
        settings = ArtnSettings.from_dict(settings)
    settings.validate()
    selected = select_atoms(atoms_selection, structure, seed)
    potential = _as_potential(potential)
    missing = sorted(set(structure.get_chemical_symbols()) - set(potential.species))
    if missing:
        raise MgBarrierError(f"{potential.label}: the potential has no {', '.join(missing)} "
                             f"(its species: {', '.join(potential.species)})")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise MgBarrierError(f"{out_dir}: exists and is not a directory")
    ids = _ids(structure)

    # what the run is; a different run in the same directory is refused
    pot_dict = potential.to_dict()
    run_info = {"structure_sha256": _payload_key(structure, pot_dict), "potential": pot_dict,
                "settings": settings.to_dict(), "seed": int(seed), "program": "mgbarrier.saddles"}
    run_path = out_dir / RUN_FILES["run"]
    if run_path.exists():
        try:
            old = json.loads(run_path.read_text())
        except (OSError, json.JSONDecodeError):
            raise MgBarrierError(f"{run_path}: unreadable; remove the directory or choose another") from None
        if isinstance(old.get("settings"), dict):    # fields added since that run: their defaults (off)
            old["settings"] = {**ArtnSettings().to_dict(), **old["settings"]}
        diff = [k for k in ("structure_sha256", "potential", "settings", "seed") if old.get(k) != run_info[k]]
        if diff:
            raise MgBarrierError(f"{out_dir}: holds a run with another {', '.join(diff)}; choose another output "
                                 "directory (or the same arguments to resume)")

    with contextlib.ExitStack() as stack:
        client = None
        if workers is not None or scheduler is not None:   # an unreachable scheduler fails before any write
            from ..cluster import dask_client

            client = stack.enter_context(dask_client(workers, scheduler))
        return _run(structure, potential, selected, searches_per_atom, out_dir, seed, settings, progress, source,
                    fmax_input, retries, client, ids, run_info, run_path, t_start)


def _run(structure, potential, selected, searches_per_atom, out_dir, seed, settings, progress, source, fmax_input,
         retries, client, ids, run_info, run_path, t_start):
    from ..interrupt import GracefulInterrupt

    pot_dict = run_info["potential"]
    relaxed, e0, fmax_in = _prepare(structure, potential, source, fmax_input)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not run_path.exists():
        _atomic_text(run_path, json.dumps(run_info, indent=1) + "\n")
    data_path = out_dir / RUN_FILES["structure"]
    data_text = _data_file_text(relaxed, ids, potential.species)
    if not data_path.exists() or data_path.read_text() != data_text:
        _atomic_text(data_path, data_text)

    jsonl = out_dir / RUN_FILES["searches"]
    records = read_searches(jsonl)
    done_pairs = {(int(r["atom_id"]), int(r["search"])) for r in records}
    todo = [(a, k) for a in selected for k in range(searches_per_atom) if (a, k) not in done_pairs]
    n_skipped = sum(1 for a in selected for k in range(searches_per_atom) if (a, k) in done_pairs)
    if jsonl.exists():                         # drop a truncated last line before appending
        raw = jsonl.read_bytes()
        if raw and not raw.endswith(b"\n"):
            cut = raw.rfind(b"\n") + 1
            with open(jsonl, "r+b") as fh:
                fh.truncate(cut)

    payload = {"key": _payload_key(relaxed, pot_dict), "numbers": relaxed.numbers.copy(),
               "positions": relaxed.positions.copy(), "cell": relaxed.cell.array.copy(),
               "pbc": np.asarray(relaxed.pbc).copy(), "potential": pot_dict, "settings": settings.to_dict(),
               "index_of": {int(i): k for k, i in enumerate(ids.tolist())}}
    events_path, labels_path = out_dir / RUN_FILES["events"], out_dir / RUN_FILES["labels"]
    new: List[dict] = []
    state = {"last_write": time.perf_counter()}
    total = len(todo)

    def rewrite():
        write_event_log(events_path, records)
        _write_labels(labels_path, relaxed, ids, records)
        state["last_write"] = time.perf_counter()

    fh = open(jsonl, "a")

    def got(rec):
        fh.write(json.dumps(rec, allow_nan=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
        records.append(rec)
        new.append(rec)
        if progress is not None:
            el = time.perf_counter() - t_start
            nd = len(new)
            progress({"done": nd, "total": total, "accepted": sum(r["accepted"] for r in new), "elapsed_s": el,
                      "eta_s": el / nd * (total - nd) if nd else None})
        if time.perf_counter() - state["last_write"] > REWRITE_EVERY_S:
            rewrite()

    interrupted = False
    try:
        with GracefulInterrupt(log=lambda msg: None) as stop:
            if client is None:
                for a, k in todo:
                    if stop.flag:
                        interrupted = True
                        break
                    got(run_search_task(payload, a, k, search_seed(seed, a, k)))
            elif todo:
                interrupted = _run_dask(client, payload, todo, seed, got, stop, retries)
            interrupted = interrupted or stop.flag
    except KeyboardInterrupt:
        interrupted = True
    finally:
        fh.close()
        rewrite()
        if client is None:
            close_engines()

    acc = [r for r in records if r.get("accepted")]
    sel = set(selected)
    acc_sel = [r for r in acc if r["atom_id"] in sel]
    reasons: Dict[str, int] = {}
    for r in new:
        reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
    barriers = np.array([r["barrier"] for r in acc_sel], dtype=float)
    labelled = {r["atom_id"] for r in acc_sel}
    return {
        "out_dir": str(out_dir),
        "atoms": len(structure),
        "atoms_selected": len(selected),
        "searches_per_atom": searches_per_atom,
        "searches_total": len(selected) * searches_per_atom,
        "searches_skipped": n_skipped,
        "searches_run": len(new),
        "searches_left": total - len(new),
        "accepted_run": sum(1 for r in new if r["accepted"]),
        "accepted_total": len(acc_sel),
        "acceptance_rate": (sum(1 for r in new if r["accepted"]) / len(new)) if new else None,
        "reasons": reasons,
        "force_calls": int(sum(r["force_calls"] for r in new)),
        "search_seconds": float(sum(r["seconds"] for r in new)),
        "wall_seconds": time.perf_counter() - t_start,
        "atoms_labelled": len(labelled),
        "barrier_eV": ({"mean": float(barriers.mean()), "min": float(barriers.min()), "max": float(barriers.max())}
                       if len(barriers) else None),
        "initial_fmax": fmax_in,
        "initial_energy": e0,
        "interrupted": bool(interrupted),
    }


def format_run_summary(summary: dict) -> str:
    """Human-readable lines for the summary of :func:`run_labelling` (for the CLI)."""
    s = summary
    lines = [f"{s['out_dir']}: {s['atoms_selected']} atoms x {s['searches_per_atom']} searches = "
             f"{s['searches_total']} ({s['searches_skipped']} done before, {s['searches_run']} run now, "
             f"{s['searches_left']} left)" + ("; interrupted" if s["interrupted"] else "")]
    if s["searches_run"]:
        lines.append(f"accepted {s['accepted_run']} of {s['searches_run']} ({100.0 * s['acceptance_rate']:.0f} %); "
                     f"{s['force_calls'] / s['searches_run']:.0f} force calls and "
                     f"{s['search_seconds'] / s['searches_run']:.1f} s per search; wall {s['wall_seconds']:.0f} s")
        for reason, n in sorted(s["reasons"].items()):
            if reason != "accepted":
                lines.append(f"  rejected {n}: {reason}")
    b = s["barrier_eV"]
    lines.append(f"atoms labelled: {s['atoms_labelled']} of {s['atoms_selected']}"
                 + (f"; barriers {b['min']:.3f}..{b['max']:.3f} eV, mean {b['mean']:.3f}" if b else ""))
    return "\n".join(lines)


def _run_dask(client, payload, todo, seed, got, stop, retries) -> bool:
    from distributed import as_completed

    pf = client.scatter(payload, broadcast=True, hash=False)
    tag = hashlib.sha256(json.dumps([payload["key"], payload["settings"], int(seed)], sort_keys=True)
                         .encode()).hexdigest()[:16]
    futures = [client.submit(run_search_task, pf, a, k, search_seed(seed, a, k), retries=retries, pure=False,
                             key=f"artn-search-{tag}-{a}-{k}")
               for a, k in todo]
    ac = as_completed(futures, with_results=False)
    try:
        for fut in ac:
            if stop.flag:
                client.cancel(futures)
                return True
            got(fut.result())
            fut.release()
    except KeyboardInterrupt:
        client.cancel(futures)
        return True
    return False
