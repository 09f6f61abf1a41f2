"""A weighted combination of trained barrier models in one self-contained file.

Checkpoint kind ``"ensemble"``::

    config:   {"species": [...], "weights": [w_1, ..., w_K]}     w_k >= 0, sum 1
    members:  [checkpoint dict of model 1, ..., of model K]     (any kind but "ensemble")

Prediction (eV) = Σ_k w_k · member_k(atoms), over the members whose domain holds the atom
(a member with ``in_domain``, the descriptor model: prediction within its training mean ± 6
std), the weights renormalised over them: where the descriptor member extrapolates, the
network members alone give the value; when more than :data:`STRUCTURE_FALLBACK` of a
structure's atoms are outside, for every atom (mixing the two scales then ruins the ranking).
Measured on train6 (validation) with Gaussian noise on the positions: 0.07 Å, 4.7 % of atoms
outside, Pearson 0.521 per atom vs 0.518 networks alone; 0.08 Å, 23 %, 0.283 vs 0.460
(fixed weights: 0.484 with 598 negative barriers).  Last resort, counted in the warning: values below
:data:`~mgbarrier.models.protocol.MIN_BARRIER` are written as it.  On the ARTn fixture
(10,000 atoms) this turned 124 negative barriers (down to -1.99 eV) into none (minimum
0.20 eV, 481 atoms from the networks alone, none floored).  Members are full checkpoints
embedded in the file (plain tensors and dicts, loaded with ``weights_only=True`` like
every model file), so one file is all a user needs.  Building one:
:mod:`mgbarrier.training.ensemble`.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from ase import Atoms

from ..errors import MgBarrierError, MgBarrierWarning
from ..graphs.checks import parts_of_validated, validate_atoms
from ..graphs.soap import with_soap_inputs
from .card import format_card
from .chunked import soap_inputs_of
from .protocol import BARRIER, PredictorBase, floor_barriers, floor_note

#: fraction of atoms outside a member's domain above which that member is dropped for the
#: whole structure (between the last tie, 4.7 %, and the first collapse, 23 %, measured above)
STRUCTURE_FALLBACK = 0.10


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
        """(K, N) member predictions as each member gives them (unbounded), eV."""
        validate_atoms(atoms, atoms.info.get("source", ""))
        # the members' SOAP inputs in one pass of SOAP blocks (a few numbers per atom each)
        projections = soap_inputs_of(self)
        with parts_of_validated():
            atoms = with_soap_inputs(atoms, projections)
            return np.stack([np.asarray(m.predict_raw(atoms) if hasattr(m, "predict_raw") else m.predict(atoms),
                                        dtype=float) for m in self.members])

    def member_weights(self, members: np.ndarray) -> np.ndarray:
        """(K, N) weights per atom: ``weights`` over the members whose domain holds the atom
        (a member out for more than STRUCTURE_FALLBACK of the atoms: out for all),
        renormalised (all members where none does)."""
        ok = np.ones(members.shape, dtype=bool)
        for k, m in enumerate(self.members):
            if hasattr(m, "in_domain"):
                ok[k] = m.in_domain(members[k])
                if (~ok[k]).mean() > STRUCTURE_FALLBACK:
                    ok[k] = False
        w = self.weights[:, None] * ok
        total = w.sum(axis=0)
        none = total <= 0
        w[:, none] = self.weights[:, None]
        total[none] = 1.0
        return w / total

    def predict_parts(self, atoms: Atoms) -> np.ndarray:
        """(K, N) member predictions (eV, unbounded): :meth:`predict_members`."""
        return self.predict_members(atoms)

    def arrays_from_parts(self, parts: np.ndarray, atoms: Atoms) -> Dict[str, np.ndarray]:
        """From the (K, N) member predictions of ``atoms``: ``barrier`` (the weighted mean under
        the domain rule, floored at MIN_BARRIER) and ``barrier_members_std`` (weighted spread of
        the members used, eV; not a calibrated error bar: see the README), each (N,).  One
        warning counts the atoms outside the descriptor member's domain and those floored."""
        members = np.asarray(parts, dtype=np.float64)
        w = self.member_weights(members)
        mean = (w * members).sum(axis=0)
        changed = (np.abs(w - self.weights[:, None]) > 1e-12).any(axis=0)
        fallback = int(changed.sum())
        outside = int(sum((~m.in_domain(members[k])).sum() for k, m in enumerate(self.members)
                          if hasattr(m, "in_domain")))
        values, floored = floor_barriers(mean)
        if fallback or floored:
            source = atoms.info.get("source", "") or "structure"
            parts_text = []
            if fallback == len(mean) and outside < len(mean):
                parts_text.append(f"{outside} of {len(mean)} atoms (more than {STRUCTURE_FALLBACK:.0%}) are outside "
                                  f"the descriptor member's domain: the structure is unlike the training glasses and "
                                  f"every barrier comes from the network members alone; do not trust these values")
            elif fallback:
                parts_text.append(f"{fallback} of {len(mean)} atoms are outside the descriptor member's domain "
                                  f"(unlike the training glasses): their barriers come from the network members "
                                  f"alone, less reliable there")
            if floored:
                parts_text.append(floor_note(floored, len(mean)))
            warnings.warn(MgBarrierWarning(f"{source}: " + "; ".join(parts_text)), stacklevel=3)
        spread = np.sqrt(np.maximum((w * (members - mean) ** 2).sum(axis=0), 0.0))
        return {BARRIER: values, "barrier_members_std": spread}

    def predict_raw(self, atoms: Atoms) -> np.ndarray:
        """Weighted member predictions (eV, (N,)) with the domain rule, not floored; no warning."""
        members = self.predict_members(atoms)
        return (self.member_weights(members) * members).sum(axis=0)

    def describe(self) -> str:
        lines = [format_card(self)]
        for w, m in zip(self.weights, self.members):
            lines.append(f"member     : weight {w:.2f}, {m.kind}, {m.metadata.get('description', '')}")
        return "\n".join(lines)
