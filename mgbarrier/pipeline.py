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

The output appears only when every frame succeeded (temporary file + rename); on an
error or Ctrl-C nothing is created or changed.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np

from .errors import MgBarrierError
from .io.files import check_output_path, check_readable
from .io.formats import OUTPUT_FORMATS, output_format_for  # noqa: F401  (re-exported)
from .io.structures import iread_structures
from .io.writers import open_writer
from .models.registry import load_model
from .progress import Progress

__all__ = ["predict_file", "output_format_for", "OUTPUT_FORMATS"]


def predict_file(inp: Union[str, Path], out: Union[str, Path], model=None,
                 species_map: Optional[Mapping[int, str]] = None, device: str = "cpu",
                 frames: Optional[slice] = None, output_format: Optional[str] = None, quiet: bool = False,
                 n_transforms: Optional[int] = None) -> dict:
    """Predict barriers (eV) for every selected frame of ``inp`` and write them to ``out``.

    ``model`` is a path, a shipped model name, None (the default model) or an already
    loaded :class:`~mgbarrier.models.protocol.Predictor`.  ``frames`` is a slice of frame
    indices.  Returns ``{"frames", "atoms", "seconds", "output", "format"}``.
    Raises :class:`MgBarrierError` on bad input; ``out`` is then neither created nor changed.
    """
    inp = Path(inp)
    fmt = output_format_for(out, output_format)
    out = check_output_path(out, [inp])
    check_readable(inp)  # before loading a model: the cheap checks first

    if model is None or isinstance(model, (str, Path)):
        model = load_model(model, device=device, n_transforms=n_transforms)

    progress = Progress(inp.name, unit="frame", enabled=not quiet)
    writer = open_writer(out, fmt, species_map)
    atoms_total = 0
    try:
        for atoms in iread_structures(inp, species_map=species_map, frames=frames):
            arrays = _predict_arrays(model, atoms)
            for name, values in arrays.items():
                if values.shape != (len(atoms),):
                    raise MgBarrierError(f"{inp}: model returned {values.shape} values of {name} "
                                         f"for {len(atoms)} atoms")
            writer.write(atoms, arrays)
            atoms_total += len(atoms)
            progress.update(1, note=f"{atoms_total:,} atoms")
            del atoms, arrays
        writer.commit()
    except BaseException:
        writer.abort()
        progress.finish()
        raise
    progress.finish()
    seconds = progress.elapsed
    if not quiet:
        print(f"mgbarrier: wrote {out} ({fmt}): {progress.done} frame(s), {atoms_total} atoms, "
              f"{seconds:.1f} s", file=sys.stderr)
    return {"frames": progress.done, "atoms": atoms_total, "seconds": seconds, "output": str(out), "format": fmt}


def _predict_arrays(model, atoms) -> dict:
    """Named per-atom arrays of a predictor (a bare ``.predict`` gives ``{"barrier": ...}``)."""
    if hasattr(model, "predict_arrays"):
        arrays = model.predict_arrays(atoms)
    else:
        arrays = {"barrier": model.predict(atoms)}
    return {k: np.asarray(v, dtype=float).reshape(-1) for k, v in arrays.items()}
