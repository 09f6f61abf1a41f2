"""Mesoscale read-out: a trained model's per-atom barriers plus their Gaussian neighbour average.

Checkpoint kind ``"mesoscale"``::

    config:   {"species": [...], "sigma": s (Å), "kernel_cutoff": r_k (Å),
               "self_weight": a, "neighbour_weight": b, "offset": c (eV)}
    members:  [checkpoint dict of the base model]          (any kind, an ensemble included)

With p the base model's (unbounded) barriers in eV, per atom i::

    m_i = sum_j g_ij p_j / sum_j g_ij,   g_ij = exp(-r_ij^2 / (2 s^2)) for r_ij < r_k,
          the sum over atom i itself (r = 0, g = 1) and its periodic neighbours j
    barrier_i = a p_i + b m_i + c

Why: an ARTn label is the mean barrier of events started at an atom, and those events move a
cluster of atoms, so labels carry a soft-region (mesoscale, ~1 nm) component that local models
shrink towards the mean.  On train6 (validation) the residual of the default ensemble correlates
+0.17 with its own prediction averaged over 12 Å; a, b, c and s are fitted on validation data
(:func:`mgbarrier.training.mesoscale.fit_mesoscale`).  Receptive radius: the base model's + r_k.

Measured (``benchmarks/mesoscale_readout.py``): the read-out raises train6 Pearson (split
inside train6: default ensemble 0.699 -> 0.714) but lowers the test Pearson of every shipped
base (pooled 0.815 -> 0.805), so no read-out is shipped; the kind stays for users who fit one
on validation glasses of their own.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
from ase import Atoms

from ..errors import MgBarrierError
from ..graphs.checks import validate_atoms
from ..graphs.neighbours import neighbour_pairs
from .card import format_card
from .chunked import HALO_DEPTH, chunked
from .protocol import PredictorBase

#: the kernel is cut at this many sigma unless a file says otherwise (exp(-3.125) = 4 % at the cut)
CUT_SIGMAS = 2.5


def gaussian_average(atoms: Atoms, values: np.ndarray, sigma: float, cutoff: float) -> np.ndarray:
    """(N,) Gaussian-weighted average of ``values`` (N,) over each atom and its neighbours
    within ``cutoff`` Å (weights exp(-r^2 / 2 sigma^2), the atom itself weight 1), periodic
    along ``atoms.pbc``.  Same units as ``values``."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    i, j, d = neighbour_pairs(atoms, cutoff, with_distance=True)
    w = np.exp(-0.5 * (d / sigma) ** 2)
    del d
    total = np.bincount(i, weights=w * values[j], minlength=n) + values
    norm = np.bincount(i, weights=w, minlength=n) + 1.0
    return total / norm


class MesoscalePredictor(PredictorBase):
    """A loaded mesoscale read-out over one base model (module doc); the Predictor interface.

    Attributes: ``members`` ([base predictor]), ``species``, ``cutoff`` (Å, base receptive
    radius + kernel cut-off), ``metadata``, ``config``, ``path``.
    """

    kind = "mesoscale"
    #: the loader passes the loaded base model as ``members=[base]``
    holds_members = True

    def __init__(self, ckpt: dict, path: Path, device: str = "cpu", n_transforms: Optional[int] = None,
                 members: Sequence = ()):
        self.path = path
        self.config = dict(ckpt["config"])
        self.metadata = dict(ckpt.get("metadata", {}))
        if len(members) != 1:
            raise MgBarrierError(f"{path}: a mesoscale file holds exactly one base model, found {len(members)}")
        self.members = list(members)
        try:
            self.sigma = float(self.config["sigma"])
            self.kernel_cutoff = float(self.config.get("kernel_cutoff", CUT_SIGMAS * self.sigma))
            self.self_weight = float(self.config["self_weight"])
            self.neighbour_weight = float(self.config["neighbour_weight"])
            self.offset = float(self.config["offset"])
        except (KeyError, TypeError, ValueError):
            raise MgBarrierError(f"{path}: mesoscale config needs numbers sigma, self_weight, neighbour_weight "
                                 "and offset") from None
        numbers = (self.sigma, self.kernel_cutoff, self.self_weight, self.neighbour_weight, self.offset)
        if not all(math.isfinite(x) for x in numbers) or self.sigma <= 0 or self.kernel_cutoff <= 0:
            raise MgBarrierError(f"{path}: mesoscale sigma and kernel_cutoff must be positive Å and the weights "
                                 "finite")

    @property
    def base(self):
        return self.members[0]

    @property
    def species(self) -> List[str]:
        return list(self.base.species)

    @property
    def cutoff(self) -> float:
        return float(self.base.cutoff) + self.kernel_cutoff

    @chunked
    def predict_raw(self, atoms: Atoms) -> np.ndarray:
        """Per-atom barriers in eV, (N,), unbounded: a p + b m + c (module doc)."""
        validate_atoms(atoms, atoms.info.get("source", ""))
        base, inner = self.base, atoms
        depth = atoms.arrays.get(HALO_DEPTH)
        if depth is not None:  # a spatial domain's cluster: the base must also give the halo within the kernel
            inner = atoms.copy()
            inner.arrays[HALO_DEPTH] = np.where(depth <= self.kernel_cutoff, -1.0, depth - self.kernel_cutoff)
        p = np.asarray(base.predict_raw(inner) if hasattr(base, "predict_raw") else base.predict(inner), dtype=float)
        m = gaussian_average(atoms, p, self.sigma, self.kernel_cutoff)
        return self.self_weight * p + self.neighbour_weight * m + self.offset

    def describe(self) -> str:
        return "\n".join([format_card(self),
                          f"read-out   : {self.self_weight:.3f} x base + {self.neighbour_weight:.3f} x Gaussian "
                          f"average (sigma {self.sigma:g} Å, cut {self.kernel_cutoff:g} Å) + {self.offset:.3f} eV",
                          f"base       : {self.base.kind}, {self.base.metadata.get('description', '')}"])
