"""Files in, files out: ``mgbarrier predict`` as a Python function.

A structure file goes through the whole chain, frame by frame: files -> ``ase.Atoms``
(:mod:`mgbarrier.io.structures`) -> model (:mod:`mgbarrier.models`) -> named per-atom
arrays -> writer (:mod:`mgbarrier.io.writers`).

The model is loaded once; frames are read, predicted and written one at a time, so
memory does not grow with the number of frames.  Output formats:

* ``extxyz`` (``.xyz``, ``.extxyz``, optionally ``.gz``): per-atom array ``barrier``
  (ASE's extxyz writer prints floats as ``%16.8f``: 1e-8 eV / 1e-8 Å resolution).
* ``lammps-dump`` (``.lammpstrj``, ``.dump``, ``dump.*``, optionally ``.gz``): every
  original column, ids, atom order and box lines of an input dump, plus ``d_barrier``
  (see :mod:`mgbarrier.io.lammps_dump`).
* ``lammps-data`` (``.data``, ``.lmp``, ``data.*``; one frame only): an ``atomic``-style
  data file with Masses (so species survive) and an extra ``Barriers`` section
  (``atom-ID barrier_eV``), read by LAMMPS as a custom per-atom property::

      fix bar all property/atom d_barrier
      read_data out.data fix bar NULL Barriers

  (a plain ``read_data out.data`` without ``fix ... Barriers`` stops at that section;
  ASE's data reader ignores it).

Every per-atom array and scalar header key of the input is kept.  The prediction goes to
the array ``barrier`` (dump ``d_barrier``); when the input already has one (labels), it
goes to ``barrier_pred`` instead and a line on stderr says so (``output_name`` chooses).

Thermal frames: barriers are defined for minimised structures.  With ``quench=Potential``
every frame is quenched (:func:`mgbarrier.md.quench`, fixed cell) before the model sees
it, and the barriers are written next to the original coordinates (or the quenched ones,
``write_quenched``), with the per-atom ``quench_displacement`` (Å).  Without it, a frame
that looks like an MD snapshot (:func:`mgbarrier.md.thermal_warning`) gets one warning.

The output appears only when every frame succeeded (temporary file + rename); on an
error or Ctrl-C nothing is created or changed.
"""
from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path
from typing import Callable, Mapping, Optional, Union

import numpy as np

from .allocator import hold_freed_memory
from .errors import MgBarrierError, MgBarrierWarning, as_warning
from .io.files import check_output_path, check_readable
from .io.formats import OUTPUT_FORMATS, guess_format, output_format_for  # noqa: F401  (re-exported)
from .io.structures import iread_structures
from .io.writers import check_array_name, open_writer
from .md import Potential, quench_limits, thermal_warning
from .md import quench as quench_atoms
from .models.chunked import set_max_memory
from .models.protocol import BARRIER
from .models.registry import as_predictor, resolve_model_path
from .parallel import RemotePredictor
from .progress import Progress, steps

#: name of the prediction when the input already holds a ``barrier`` array (labels)
PRED_NAME = "barrier_pred"

#: warnings of one kind (the same text but for the frame and the counts) shown per run; the
#: others are counted in one line, so a 200-frame dump does not print 200 of them
SHOWN_PER_KIND = 3

__all__ = ["predict_file", "output_format_for", "OUTPUT_FORMATS"]


def predict_file(inp: Union[str, Path], out: Union[str, Path], model=None,
                 species_map: Optional[Mapping[int, str]] = None, device: str = "cpu",
                 frames: Optional[slice] = None, output_format: Optional[str] = None, quiet: bool = False,
                 n_transforms: Optional[int] = None, quench: Optional[Potential] = None,
                 quench_fmax: float = 1e-3, quench_max_steps: int = 10000, write_quenched: bool = False,
                 output_name: Optional[str] = None, max_memory: Optional[float] = None,
                 workers: Optional[int] = None, scheduler: Optional[str] = None,
                 on_frame: Optional[Callable[[int], None]] = None) -> dict:
    """Predict barriers (eV) for every selected frame of ``inp`` and write them to ``out``.

    ``model`` is a path, a shipped model name, None (the default model) or an already
    loaded :class:`~mgbarrier.models.protocol.Predictor`.  ``frames`` is a slice of frame
    indices.  ``quench``: a :class:`~mgbarrier.md.Potential`; every frame is then quenched
    to ``quench_fmax`` eV/Å (at most ``quench_max_steps`` minimiser steps) before the
    prediction, and ``write_quenched`` writes the quenched coordinates instead of the
    original ones.  ``output_name``: name of the predicted array (default ``barrier``, or
    ``barrier_pred`` when the input has ``barrier``; ``barrier`` itself is never replaced).
    ``max_memory``: GB one prediction may use (larger frames run in spatial domains,
    :mod:`mgbarrier.models.chunked`; default 4).  ``workers`` / ``scheduler``: frames run on a
    local Dask cluster of that many processes / an existing one (:mod:`mgbarrier.parallel`; the
    model must then be a file or shipped name; not with ``quench``).  ``on_frame(k)`` is called
    after frame k was written.
    Returns ``{"frames", "atoms", "seconds", "output", "format", "name"}``.
    Raises :class:`MgBarrierError` on bad input; ``out`` is then neither created nor changed.
    """
    _check_keywords(inp, out, frames, quench, quench_fmax, quench_max_steps)
    inp = Path(inp)
    fmt = output_format_for(out, output_format)
    out = check_output_path(out, [inp])
    check_readable(inp)  # before loading a model: the cheap checks first

    remote = None
    if workers is not None or scheduler is not None:
        if quench is not None:
            raise MgBarrierError("--quench runs in one process; drop --workers/--scheduler")
        path = getattr(model, "path", None) if not (model is None or isinstance(model, (str, Path))) else \
            resolve_model_path(model)
        if path is None:
            raise MgBarrierError("Dask workers need the model as a file or shipped name")
        remote = RemotePredictor(Path(path), workers=workers, scheduler=scheduler, device=device,
                                 n_transforms=n_transforms, max_memory=max_memory,
                                 frames_total=_frame_total(inp, frames))
        model = remote
    else:
        model = as_predictor(model, device=device, n_transforms=n_transforms)
    if remote is None and max_memory is not None:
        set_max_memory(model, max_memory)

    progress = Progress(inp.name, total=_frame_total(inp, frames), unit="frame", enabled=not quiet)
    writer = open_writer(out, fmt, species_map)
    atoms_total = 0
    name = output_name
    thermal_seen = False
    try:
        # a large frame's domains and SOAP blocks show in the bar's note
        inside = steps(lambda stage, done, total: progress.update(0, note=f"{stage} {done:,}/{total:,} atoms"))
        # warnings are shown once the output is in place: a failed run prints only its error
        # freed memory stays for the next frame (a million-atom frame faulted ~6 GB in afresh)
        with warnings.catch_warnings(record=True) as caught, inside, hold_freed_memory():
            warnings.simplefilter("always", MgBarrierWarning)
            reader = iread_structures(inp, species_map=species_map, frames=frames)
            for k, atoms in enumerate(reader if remote is None else remote.ahead(reader)):
                if k == 0:
                    name = _output_name(inp, atoms, output_name, quiet)
                if quench is not None:
                    atoms, target = _quenched(inp, atoms, quench, quench_fmax, quench_max_steps, write_quenched)
                else:
                    target = atoms
                    if not thermal_seen:
                        text = thermal_warning(atoms, atoms.info.get("source") or str(inp))
                        if text is not None:
                            thermal_seen = True
                            warnings.warn(MgBarrierWarning(text), stacklevel=2)
                arrays = _predict_arrays(model, target)
                for key, values in arrays.items():
                    if values.shape != (len(atoms),):
                        raise MgBarrierError(f"{inp}: model returned {values.shape} values of {key} "
                                             f"for {len(atoms)} atoms")
                arrays = _renamed(arrays, name)
                if quench is not None:
                    arrays["quench_displacement"] = target.info.pop("_quench_displacement")
                writer.write(atoms, arrays)
                atoms_total += len(atoms)
                progress.update(1, note=f"{atoms_total:,} atoms")
                del atoms, arrays
                if on_frame is not None:
                    on_frame(k)
        writer.commit()
    except BaseException:
        writer.abort()
        progress.finish()
        if remote is not None:
            remote.close()
        raise
    progress.finish()
    if remote is not None:
        remote.close()
    _show_warnings(caught, str(inp))
    seconds = progress.elapsed
    if not quiet:
        print(f"mgbarrier: wrote {out} ({fmt}): {progress.done} frame(s), {atoms_total} atoms, "
              f"{seconds:.1f} s", file=sys.stderr)
    return {"frames": progress.done, "atoms": atoms_total, "seconds": seconds, "output": str(out), "format": fmt,
            "name": name}


def _warning_kind(text: str, inp: str) -> str:
    """A warning's text without its frame name and numbers: what frames' warnings share."""
    if text.startswith(inp):
        text = re.sub(r"^: frame \d+", "", text[len(inp):])
    return re.sub(r"\d+(\.\d+)?", "#", text)


def _show_warnings(caught, inp: str) -> None:
    """Each distinct warning once, in order, at most :data:`SHOWN_PER_KIND` of one kind; the
    rest of a kind counted in one more warning."""
    shown, per_kind, first = set(), {}, {}
    for w in caught:
        text = str(w.message)
        if text in shown:
            continue
        shown.add(text)
        kind = (w.category, _warning_kind(text, inp))
        per_kind[kind] = per_kind.get(kind, 0) + 1
        first.setdefault(kind, w)
        if per_kind[kind] <= SHOWN_PER_KIND:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    for kind, n in per_kind.items():
        if n > SHOWN_PER_KIND:
            w = first[kind]
            warnings.warn_explicit(as_warning(w.category, f"{inp}: {n - SHOWN_PER_KIND} more frame(s) had a warning "
                                              "like the ones above (not shown)"), w.category, w.filename, w.lineno)


def _frame_total(inp: Path, frames: Optional[slice]) -> Optional[int]:
    """Number of frames to predict when it is cheap to know (plain-text dumps: one pass over
    the headers; data files and pickles: one), else None.  A gzipped dump is not counted: that
    would decompress the whole trajectory twice."""
    from .io.lammps_dump import count_frames

    if inp.name.endswith(".gz"):
        return None
    try:
        fmt = guess_format(inp)
        total = count_frames(inp) if fmt == "lammps-dump" else 1 if fmt in ("lammps-data", "symgnn-pickle") else None
    except (MgBarrierError, OSError, UnicodeDecodeError):
        return None  # the reader says what is wrong
    if total is None:
        return None
    return len(range(*(frames or slice(None)).indices(total)))


def _has_array(atoms, name: str) -> bool:
    """Does the input frame already hold a per-atom ``name`` (extxyz array or dump column)?"""
    from .io.lammps_dump import column_name

    meta = atoms.info.get("lammps_dump")
    columns = meta.get("columns", ()) if isinstance(meta, dict) else ()
    return name in atoms.arrays or column_name(name) in columns


def _check_keywords(inp, out, frames, quench, quench_fmax, quench_max_steps) -> None:
    """One error line for keyword values of the wrong kind (before anything is read or loaded)."""
    quench_limits(quench_fmax, quench_max_steps, "predict_file")
    for what, value in (("input", inp), ("output", out)):
        if not isinstance(value, (str, Path)):
            raise MgBarrierError(f"predict_file: the {what} must be a file path, got a {type(value).__name__}")
    if frames is not None and not isinstance(frames, slice):
        raise MgBarrierError(f"predict_file: frames must be a slice (e.g. slice(0, 10)), got {frames!r}")
    if quench is not None and not isinstance(quench, Potential):
        raise MgBarrierError(f"predict_file: quench must be a mgbarrier.md.Potential, got a {type(quench).__name__}")


def _output_name(inp: Path, atoms, requested: Optional[str], quiet: bool) -> str:
    """Name of the predicted array for this input (see :func:`predict_file`)."""
    if requested is not None:
        check_array_name(requested)
        if _has_array(atoms, requested):
            what, other = (" (labels?)", PRED_NAME) if requested == BARRIER else ("", requested + "_2")
            raise MgBarrierError(f"{inp}: already has per-atom '{requested}' values{what}, which are never "
                                 f"replaced; choose another --output-name (e.g. {other})")
        return requested
    if not _has_array(atoms, BARRIER):
        return BARRIER
    if not quiet:
        print(f"mgbarrier: {inp} has per-atom '{BARRIER}' values (labels?): kept; the prediction is "
              f"written as '{PRED_NAME}' (choose with --output-name)", file=sys.stderr)
    return PRED_NAME


def _renamed(arrays: dict, name: str) -> dict:
    """``barrier`` -> ``name`` and ``barrier_<x>`` -> ``name_<x>`` (e.g. the committee spread)."""
    if name == BARRIER:
        return dict(arrays)
    return {(name + key[len(BARRIER):] if key.startswith(BARRIER) else key): v for key, v in arrays.items()}


def _quenched(inp: Path, atoms, potential: Potential, fmax: float, max_steps: int, write_quenched: bool):
    """(frame to write, structure to predict on): the quench of ``atoms`` (positions Å), its
    per-atom displacement (Å) kept in ``info['_quench_displacement']``; an error names the
    frame as the reader does (``info['source']``)."""
    try:
        res = quench_atoms(atoms, potential, fmax=fmax, max_steps=max_steps)
    except MgBarrierError as exc:
        raise MgBarrierError(f"{atoms.info.get('source') or inp}: {exc}") from None
    target = res.atoms
    target.info["_quench_displacement"] = np.linalg.norm(target.positions - atoms.positions, axis=1)
    if not write_quenched:
        return atoms, target
    out = target.copy()
    out.info.pop("_quench_displacement", None)
    out.info.pop("lammps_dump", None)  # written from the quenched positions, not the input's rows
    return out, target


def _predict_arrays(model, atoms) -> dict:
    """Named per-atom arrays of a predictor (a bare ``.predict`` gives ``{"barrier": ...}``)."""
    if hasattr(model, "predict_arrays"):
        arrays = model.predict_arrays(atoms)
    else:
        arrays = {"barrier": model.predict(atoms)}
    return {k: np.asarray(v, dtype=float).reshape(-1) for k, v in arrays.items()}
