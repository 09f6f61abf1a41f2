"""What every loaded model is: the :class:`Predictor` protocol.

A predictor maps a structure to per-atom arrays::

    model.predict(atoms)         -> (N,) float64, barrier in eV (deterministic)
    model.predict_arrays(atoms)  -> {"barrier": (N,), ...} named per-atom float64 arrays
                                    (the writers take such a dict: extxyz arrays, dump
                                    columns d_<name>, data-file sections)

and carries ``kind`` (checkpoint kind), ``species`` (symbols it knows), ``cutoff`` (Å, the
model's own cutoff: graph edges of a network, SOAP r_cut + averaging radius of the descriptor;
the receptive radius, how far a prediction reaches, is
:func:`mgbarrier.models.chunked.receptive_radius`: layers × cutoff for a network), ``metadata``
(dict from the checkpoint), ``path`` and ``describe()`` (the model card).
Every predictor validates the structure (:func:`mgbarrier.graphs.checks.validate_atoms`)
before computing.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Dict, List, Optional, Protocol, Tuple, runtime_checkable

import numpy as np
import torch
from ase import Atoms

from ..errors import MgBarrierError, MgBarrierWarning
from ..graphs.checks import parts_of_validated, require_atoms, validate_atoms
from ..graphs.soap import SoapProjection, with_soap_inputs

#: name of the per-atom barrier array (eV) in Python and extxyz (``d_barrier`` in LAMMPS)
BARRIER = "barrier"
#: the smallest barrier any shipped model writes (eV): a barrier <= 0 is impossible at a
#: minimum, so values below are set to this, counted in a warning (the last resort after
#: each model's own domain rule, see :mod:`mgbarrier.models.ensemble`)
MIN_BARRIER = 0.01


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


def floor_barriers(values: np.ndarray) -> Tuple[np.ndarray, int]:
    """``(values with everything below MIN_BARRIER set to it, how many were)``; eV, (N,)."""
    low = values < MIN_BARRIER
    return (np.where(low, MIN_BARRIER, values), int(low.sum())) if low.any() else (values, 0)


def floor_note(n: int, total: int) -> str:
    """The words a warning uses for ``n`` floored values."""
    return f"{n} of {total} atoms had predicted barriers below {MIN_BARRIER:g} eV (impossible at a minimum) " \
           f"and are written as {MIN_BARRIER:g} eV"


class PredictorBase:
    """Shared behaviour, in two steps: ``predict_parts`` computes what the model needs per atom
    (local in space), ``arrays_from_parts`` turns it into the named per-atom arrays (a
    whole-structure read-out: floors, warnings, an ensemble's combination).  ``predict`` and
    ``predict_arrays`` are the two steps in a row; :mod:`mgbarrier.parallel` runs the first on
    spatial domains on Dask workers and the second once, for the whole structure."""

    @property
    def max_memory(self) -> Optional[float]:
        """GB one ``predict`` may use, or None (``$MGBARRIER_MAX_MEMORY``, else 4 GB); a larger
        structure runs in spatial domains (:mod:`mgbarrier.models.chunked`, which checks the
        value).  Setting it on a model with members (an ensemble) sets theirs: they are what
        runs in domains."""
        return self.__dict__.get("_max_memory")

    @max_memory.setter
    def max_memory(self, gb: Optional[float]) -> None:
        self.__dict__["_max_memory"] = gb
        for member in getattr(self, "members", ()):
            member.max_memory = gb

    @property
    def wavefront(self) -> Optional[bool]:
        """Whether a SymGNN predicts a large periodic structure as a wavefront over slabs
        (:mod:`mgbarrier.graphs.slabs`): True wherever the slabs fit, False never, None (default)
        automatically (:class:`~mgbarrier.models.graph_network.GraphNetworkPredictor`).  Setting it
        on a model with members (an ensemble) sets theirs; other models ignore it."""
        return self.__dict__.get("_wavefront")

    @wavefront.setter
    def wavefront(self, value: Optional[bool]) -> None:
        if not (value is None or isinstance(value, (bool, np.bool_))):
            raise MgBarrierError(f"model.wavefront must be True, False or None (automatic), got {value!r}")
        self.__dict__["_wavefront"] = None if value is None else bool(value)
        for member in getattr(self, "members", ()):
            member.wavefront = value

    def predict_parts(self, atoms: Atoms) -> np.ndarray:
        """Per-atom quantities before the read-out, float64 (..., N): column i depends only on
        the atoms within the model's receptive radius of atom i, so columns computed on spatial
        domains with halos and stitched equal the whole structure's.  Default: ``predict_raw``
        (N,) eV."""
        return np.asarray(self.predict_raw(atoms), dtype=np.float64)

    def arrays_from_parts(self, parts: np.ndarray, atoms: Atoms) -> Dict[str, np.ndarray]:
        """Named per-atom arrays (each (N,) float64) from :meth:`predict_parts`'s output for
        ``atoms``: ``{"barrier": eV}``, values below :data:`MIN_BARRIER` floored and counted in
        one warning."""
        values, n = floor_barriers(parts)
        if n:
            source = atoms.info.get("source", "") or "structure"
            warnings.warn(MgBarrierWarning(f"{source}: {floor_note(n, len(values))}"), stacklevel=3)
        return {BARRIER: values}

    def predict(self, atoms: Atoms) -> np.ndarray:
        """Per-atom energy barriers in eV, float64 array of shape (N,), each >= MIN_BARRIER."""
        require_atoms(atoms)
        return self.arrays_from_parts(self.predict_parts(atoms), atoms)[BARRIER]

    def predict_arrays(self, atoms: Atoms) -> Dict[str, np.ndarray]:
        """Named per-atom arrays (each (N,) float64): ``{"barrier": eV, ...}``."""
        require_atoms(atoms)
        return self.arrays_from_parts(self.predict_parts(atoms), atoms)


class StructurePredictor(PredictorBase):
    """A model computed from the structure alone: ``predict_raw`` validates the structure,
    computes once, for the whole structure, the SOAP projections the model declares
    (``soap_projections``, possibly none; :func:`mgbarrier.graphs.soap.with_soap_inputs`), and
    hands the structure carrying them to ``_predict_inputs`` (which subclasses decorate with
    :func:`mgbarrier.models.chunked.chunked`: spatial domains with halos when large)."""

    def soap_projections(self) -> List[SoapProjection]:
        """The affine maps of SOAP rows the model reads (none by default)."""
        return []

    def predict_raw(self, atoms: Atoms) -> np.ndarray:
        """Per-atom energy barriers in eV, float64 array of shape (N,), as the model gives them
        (not floored, no warning; ``predict`` floors them at MIN_BARRIER).  Deterministic: the
        same structure gives bit-identical output, cut into domains or not."""
        validate_atoms(atoms, atoms.info.get("source", ""))
        with parts_of_validated():  # SOAP inputs for the whole structure first, then domains of a few numbers per atom
            return self._predict_inputs(with_soap_inputs(atoms, self.soap_projections()))

    def _predict_inputs(self, atoms: Atoms) -> np.ndarray:
        """:meth:`predict_raw` of a validated structure that carries its SOAP inputs."""
        raise NotImplementedError


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
