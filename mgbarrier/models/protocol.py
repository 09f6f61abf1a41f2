"""What every loaded model is: the :class:`Predictor` protocol.

A predictor maps a structure to per-atom arrays::

    model.predict(atoms)         -> (N,) float64, barrier in eV (deterministic)
    model.predict_arrays(atoms)  -> {"barrier": (N,), ...} named per-atom float64 arrays
                                    (the writers take such a dict: extxyz arrays, dump
                                    columns d_<name>, data-file sections)

and carries ``kind`` (checkpoint kind), ``species`` (symbols it knows), ``cutoff`` (Å, the
receptive radius: a prediction depends on atoms at most this far away), ``metadata``
(dict from the checkpoint), ``path`` and ``describe()`` (the model card).
Every predictor validates the structure (:func:`mgbarrier.graphs.checks.validate_atoms`)
before computing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Protocol, runtime_checkable

import numpy as np
import torch
from ase import Atoms

from ..errors import MgBarrierError

#: name of the per-atom barrier array (eV) in Python and extxyz (``d_barrier`` in LAMMPS)
BARRIER = "barrier"


@runtime_checkable
class Predictor(Protocol):
    kind: str
    metadata: dict
    path: Path

    @property
    def species(self) -> List[str]: ...

    @property
    def cutoff(self) -> float: ...

    def predict(self, atoms: Atoms) -> np.ndarray: ...

    def predict_arrays(self, atoms: Atoms) -> Dict[str, np.ndarray]: ...

    def describe(self) -> str: ...


class PredictorBase:
    """Shared behaviour: ``predict_arrays`` from ``predict``."""

    def predict_arrays(self, atoms: Atoms) -> Dict[str, np.ndarray]:
        """Named per-atom arrays (each (N,) float64): ``{"barrier": eV}``."""
        return {BARRIER: self.predict(atoms)}


def check_device(device: str) -> torch.device:
    """A torch device the models can use; one :class:`MgBarrierError` line otherwise."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise MgBarrierError(f"device {device!r}: not a torch device ({str(exc).splitlines()[0][:120]})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MgBarrierError(f"device {device!r}: CUDA is not available on this machine")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise MgBarrierError(f"device {device!r}: use cpu or cuda")
    return dev
