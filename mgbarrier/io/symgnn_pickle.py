"""The published SymGNN Cu64Zr36 dataset: pickled dicts of numpy arrays.

Read with a restricted unpickler that only rebuilds numpy arrays, so loading a file
never runs code.  Keys used: ``positions`` (N, 3) Å centred on 0, ``box`` (3,) Å
(orthorhombic, periodic), ``types`` (N,) 1 = Cu, 2 = Zr, and the ARTn mean barrier
label (N,) eV stored under the legacy key ``trajectory_start_velocities``.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Union

import numpy as np
from ase import Atoms

from ..errors import MgBarrierError
from .files import file_sha256  # noqa: F401  (re-exported for old callers)

#: the published dataset's type numbers
SYMGNN_TYPES = {1: "Cu", 2: "Zr"}
LABEL_KEY = "trajectory_start_velocities"

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name} (only numpy arrays are allowed)")


def load_pickle_arrays(path: Union[str, Path]) -> dict:
    """Load a pickled dict of numpy arrays without executing code."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MgBarrierError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        obj = _NumpyOnlyUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise MgBarrierError(f"{path}: not a numpy-only pickle ({exc})") from None
    if not isinstance(obj, dict):
        raise MgBarrierError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return obj



def read_symgnn_pickle(path: Union[str, Path]) -> Atoms:
    """One published graph as ``ase.Atoms`` with ``atoms.arrays['barrier']`` (N,) eV.

    Also keeps ``pot``, ``press``, ``von`` per atom when present.
    """
    d = load_pickle_arrays(path)
    for key in ("positions", "box", "types"):
        if key not in d:
            raise MgBarrierError(f"{path}: missing key {key!r} (not a SymGNN dataset pickle)")
    try:
        pos = np.asarray(d["positions"], dtype=float)
        raw_types = np.asarray(d["types"], dtype=float).ravel()
        box = np.asarray(d["box"], dtype=float).ravel()
        label = np.asarray(d[LABEL_KEY], dtype=float) if LABEL_KEY in d else None
    except (TypeError, ValueError):
        raise MgBarrierError(f"{path}: positions, types, box and labels must be numbers") from None
    if not np.all(raw_types == np.round(raw_types)):
        raise MgBarrierError(f"{path}: type numbers must be whole numbers (1=Cu, 2=Zr)")
    types = raw_types.astype(int)
    if pos.ndim != 2 or pos.shape[1] != 3 or len(types) != len(pos) or box.shape != (3,):
        raise MgBarrierError(f"{path}: inconsistent shapes positions {pos.shape}, types {types.shape}, box {box.shape}")
    unknown = set(np.unique(types).tolist()) - set(SYMGNN_TYPES)
    if unknown:
        raise MgBarrierError(f"{path}: unknown type numbers {sorted(unknown)} (expected 1=Cu, 2=Zr)")
    symbols = [SYMGNN_TYPES[t] for t in types.tolist()]
    # positions are centred on 0: shift into [0, L) for ASE's cell convention
    atoms = Atoms(symbols=symbols, positions=pos + box / 2.0, cell=np.diag(box), pbc=True)
    atoms.arrays["type"] = types.astype(np.int32)
    if label is not None:
        if label.ndim == 2 and label.shape[1] == 1:
            label = label.ravel()
        if label.shape != (len(pos),):
            raise MgBarrierError(f"{path}: {LABEL_KEY!r} (the barrier labels) has shape {label.shape}, "
                                 f"not ({len(pos)},)")
        atoms.arrays["barrier"] = label
    for key in ("pot", "press", "von"):
        if key in d and np.asarray(d[key]).shape == (len(pos),):
            atoms.arrays[key] = np.asarray(d[key], dtype=float)
    atoms.info["source"] = str(path)
    return atoms
