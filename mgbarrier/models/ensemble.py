"""A weighted combination of trained barrier models in one self-contained file.

Checkpoint kind ``"ensemble"``::

    config:   {"species": [...], "weights": [w_1, ..., w_K]}     w_k >= 0, sum 1
    members:  [checkpoint dict of model 1, ..., of model K]     (any kind but "ensemble")

Prediction (eV) = Σ_k w_k · member_k.predict(atoms).  Members are full checkpoints
embedded in the file (plain tensors and dicts, loaded with ``weights_only=True`` like
every model file), so one file is all a user needs.  Building one:
:mod:`mgbarrier.training.ensemble`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from ase import Atoms

from ..errors import MgBarrierError
from ..graphs.checks import validate_atoms
from ..graphs.soap import shared_soap_rows
from .card import format_card
from .protocol import BARRIER, PredictorBase


class EnsemblePredictor(PredictorBase):
    """A loaded ensemble; same interface as the other predictors.

    Attributes: ``members`` (loaded predictors), ``weights`` (K,), ``species``, ``cutoff``
    (Å, the largest member receptive radius), ``metadata``, ``config``, ``path``.
    ``predict_members(atoms)`` returns the (K, N) member predictions in eV.
    """

    kind = "ensemble"
    #: the loader (:func:`mgbarrier.models.registry.predictor_from_checkpoint`) passes the loaded members
    holds_members = True

    def __init__(self, ckpt: dict, path: Path, device: str = "cpu", n_transforms: Optional[int] = None,
                 members: Sequence = ()):
        self.path = path
        self.config = dict(ckpt["config"])
        self.metadata = dict(ckpt.get("metadata", {}))
        try:
            weights = np.asarray(self.config.get("weights", []), dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise MgBarrierError(f"{path}: ensemble weights are not numbers") from None
        if not members or len(members) != len(weights):
            raise MgBarrierError(f"{path}: ensemble file has {len(weights)} weights for {len(members)} members")
        if not np.all(np.isfinite(weights)) or np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
            raise MgBarrierError(f"{path}: ensemble weights must be finite, >= 0 and sum to 1")
        self.members = list(members)
        self.weights = weights
        species = [list(m.species) for m in self.members]
        if any(s != species[0] for s in species):
            raise MgBarrierError(f"{path}: ensemble members know different elements {species}")

    @property
    def species(self) -> List[str]:
        return list(self.members[0].species)

    @property
    def cutoff(self) -> float:
        return max(float(m.cutoff) for m in self.members)

    def predict_members(self, atoms: Atoms) -> np.ndarray:
        """(K, N) member predictions, eV."""
        validate_atoms(atoms, atoms.info.get("source", ""))
        with shared_soap_rows():  # members with equal SOAP settings share the rows
            return np.stack([m.predict(atoms) for m in self.members])

    def predict(self, atoms: Atoms) -> np.ndarray:
        """Per-atom energy barriers in eV, float64 array of shape (N,). Deterministic."""
        return self.weights @ self.predict_members(atoms)

    def predict_arrays(self, atoms: Atoms) -> Dict[str, np.ndarray]:
        """``barrier`` and ``barrier_members_std`` (weighted spread of the members, eV; not a
        calibrated error bar: see the README), each (N,)."""
        members = self.predict_members(atoms)
        mean = self.weights @ members
        spread = np.sqrt(np.maximum(self.weights @ (members - mean) ** 2, 0.0))
        return {BARRIER: mean, "barrier_members_std": spread}

    def describe(self) -> str:
        lines = [format_card(self)]
        for w, m in zip(self.weights, self.members):
            lines.append(f"member     : weight {w:.2f}, {m.kind}, {m.metadata.get('description', '')}")
        return "\n".join(lines)
