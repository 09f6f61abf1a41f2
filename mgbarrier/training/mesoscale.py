"""Fitting a mesoscale read-out (:mod:`mgbarrier.models.mesoscale`) on validation structures.

The base model is fixed; on the validation structures (never the test set) the read-out
``a p + b m_sigma(p) + c`` is fitted by least squares for each kernel width sigma of a grid,
and sigma is chosen by two-fold spatial cross-validation inside the validation data: each
structure is cut into two halves along x, the read-out is fitted on one half of every
structure and scored on the other (pooled Pearson of the out-of-half predictions), so the
choice is not made on the same atoms that fit the weights.  The final a, b, c are fitted on
all validation atoms at the chosen sigma.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence

import numpy as np
from ase import Atoms

from ..metrics import pearson
from ..models.mesoscale import CUT_SIGMAS, gaussian_average

#: kernel widths tried (Å)
SIGMA_GRID = (2.0, 3.0, 4.0, 5.0, 6.0)


def _design(p: np.ndarray, m: np.ndarray) -> np.ndarray:
    return np.column_stack([p, m, np.ones_like(p)])


def fit_mesoscale(structures: Sequence[Atoms], predictions: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                  sigmas: Sequence[float] = SIGMA_GRID, cut_sigmas: float = CUT_SIGMAS,
                  progress: Optional[Callable[[str], None]] = None) -> Dict:
    """Choose sigma and fit (a, b, c) (module doc).

    structures: validation Atoms; predictions: the base model's raw barriers (N_s,) eV on each;
    labels: (N_s,) eV.  Returns ``{"config": {...} for the checkpoint, "cv": {sigma: pearson},
    "base_cv": pearson of the affine-refitted base alone under the same split,
    "val_pearson": in-sample pearson of the final fit, "base_val_pearson"}``.
    """
    p = [np.asarray(x, dtype=float) for x in predictions]
    y = [np.asarray(x, dtype=float) for x in labels]
    halves = []
    for a in structures:
        frac = a.get_scaled_positions(wrap=True)[:, 0] if a.cell.rank == 3 else a.positions[:, 0]
        halves.append(frac < np.median(frac))
    y_all = np.concatenate(y)

    def split_score(columns):
        out = []
        for side in (True, False):
            fit = [h == side for h in halves]
            X = np.concatenate([c[f] for c, f in zip(columns, fit)])
            t = np.concatenate([v[f] for v, f in zip(y, fit)])
            coef, *_ = np.linalg.lstsq(X, t, rcond=None)
            out.append([(c[~f] @ coef, v[~f]) for c, f, v in zip(columns, fit, y)])
        pred = np.concatenate([q for side in out for q, _ in side])
        true = np.concatenate([t for side in out for _, t in side])
        return pearson(pred, true)

    base_cols = [np.column_stack([q, np.ones_like(q)]) for q in p]
    base_cv = split_score(base_cols)
    cv, designs = {}, {}
    for s in sigmas:
        cut = cut_sigmas * float(s)
        designs[s] = [_design(q, gaussian_average(a, q, float(s), cut)) for a, q in zip(structures, p)]
        cv[float(s)] = split_score(designs[s])
        if progress:
            progress(f"sigma {s:g} Å (cut {cut:g} Å): split Pearson {cv[float(s)]:.4f} (base alone {base_cv:.4f})")
    best = max(cv, key=lambda s: cv[s])
    X = np.concatenate(designs[best])
    coef, *_ = np.linalg.lstsq(X, y_all, rcond=None)
    config = {"sigma": best, "kernel_cutoff": cut_sigmas * best, "self_weight": float(coef[0]),
              "neighbour_weight": float(coef[1]), "offset": float(coef[2])}
    return {"config": config, "cv": cv, "base_cv": base_cv, "val_pearson": pearson(X @ coef, y_all),
            "base_val_pearson": pearson(np.concatenate(p), y_all)}


def mesoscale_checkpoint(base: dict, config: Dict, metadata: dict) -> dict:
    """Payload for :func:`mgbarrier.models.checkpoint.save_checkpoint`: the base model's
    checkpoint dict embedded, the read-out ``config`` from :func:`fit_mesoscale`."""
    species = base["config"].get("species") if isinstance(base.get("config"), dict) else None
    if species is None:
        species = getattr(base.get("config"), "species", None)
    return {"kind": "mesoscale", "config": {"species": species, **config}, "state_dict": {},
            "members": [base], "metadata": metadata}
