"""A weighted combination of trained barrier models in one self-contained file.

Checkpoint kind ``"ensemble"``::

    config:   {"species": [...], "weights": [w_1, ..., w_K]}     w_k >= 0, sum 1
    members:  [checkpoint dict of model 1, ..., of model K]     (any kind but "ensemble")

Prediction (eV) = Σ_k w_k · member_k.predict(atoms).  Members are full checkpoints
embedded in the file (plain tensors and dicts, loaded with ``weights_only=True`` like
every model file), so one file is all a user needs.  :func:`choose_weight` picks the
weight of a two-member ensemble on a validation set.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from ase import Atoms

from .errors import MgBarrierError
from .metrics import pearson


class EnsemblePredictor:
    """A loaded ensemble; same interface as the other predictors.

    Attributes: ``members`` (loaded predictors), ``weights`` (K,), ``species``, ``cutoff``
    (Å, the largest member receptive radius), ``metadata``, ``config``, ``path``.
    ``predict_members(atoms)`` returns the (K, N) member predictions in eV.
    """

    kind = "ensemble"

    def __init__(self, ckpt: dict, path: Path, device: str = "cpu", n_transforms: Optional[int] = None):
        from .predictor import _KINDS, _import_plugins

        self.path = path
        self.config = dict(ckpt["config"])
        self.metadata = dict(ckpt.get("metadata", {}))
        members = ckpt.get("members")
        weights = np.asarray(self.config.get("weights", []), dtype=float)
        if not isinstance(members, list) or not members or len(members) != len(weights):
            raise MgBarrierError(f"{path}: ensemble file has {len(weights)} weights for "
                                 f"{len(members) if isinstance(members, list) else 'no'} members")
        if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
            raise MgBarrierError(f"{path}: ensemble weights must be >= 0 and sum to 1")
        _import_plugins()
        self.members = []
        for k, m in enumerate(members):
            kind = m.get("kind") if isinstance(m, dict) else None
            if kind not in _KINDS or kind == "ensemble":
                raise MgBarrierError(f"{path}: member {k} has unknown kind {kind!r}")
            self.members.append(_KINDS[kind](m, Path(f"{path}#member{k}"), device=device, n_transforms=n_transforms))
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
        from .descriptor import shared_soap_rows  # members with equal SOAP settings share the rows

        with shared_soap_rows():
            return np.stack([m.predict(atoms) for m in self.members])

    def predict(self, atoms: Atoms) -> np.ndarray:
        """Per-atom energy barriers in eV, float64 array of shape (N,). Deterministic."""
        return self.weights @ self.predict_members(atoms)

    def describe(self) -> str:
        from .model_card import format_card

        lines = [format_card(self)]
        for w, m in zip(self.weights, self.members):
            lines.append(f"member     : weight {w:.2f}, {m.kind}, {m.metadata.get('description', '')}")
        return "\n".join(lines)


def choose_weight(pred_a: Sequence[np.ndarray], pred_b: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                  grid: Sequence[float] = tuple(np.round(np.linspace(0, 1, 21), 2))) -> Dict:
    """Weight w of member a in w·a + (1-w)·b maximising the pooled validation Pearson.

    pred_a, pred_b, labels: per validation structure, (N_s,) arrays in eV.
    Returns {"weight", "val_pearson", "grid": {w: pearson}}.
    """
    a, b, y = (np.concatenate(list(x)) for x in (pred_a, pred_b, labels))
    scores = {float(w): pearson(w * a + (1 - w) * b, y) for w in grid}
    best = max(scores, key=lambda w: scores[w])
    return {"weight": best, "val_pearson": scores[best], "grid": scores}


def ensemble_checkpoint(members: Sequence[dict], weights: Sequence[float], metadata: dict) -> dict:
    """Payload for :func:`mgbarrier.checkpoint.save_checkpoint` from member checkpoint dicts."""
    species = members[0]["config"].get("species") if isinstance(members[0]["config"], dict) else None
    return {"kind": "ensemble", "config": {"species": species, "weights": [float(w) for w in weights]},
            "state_dict": {}, "members": list(members), "metadata": metadata}


def _register() -> None:
    from .predictor import register_kind

    register_kind("ensemble", EnsemblePredictor)


_register()
