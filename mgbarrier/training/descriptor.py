"""Fitting the descriptor model (SOAP + neighbour averages + ridge; see
:mod:`mgbarrier.models.descriptor` for the features and the prediction).

The ridge strength is chosen on validation structures only (never fitted); columns are
standardised with the training mean and std, accumulated in float64 chunk by chunk.
"""
from __future__ import annotations

import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from ase import Atoms

from ..errors import MgBarrierError
from ..graphs.soap import Featurizer, dscribe_version
from ..metrics import pearson
from ..models.descriptor import DEFAULT_CONFIG

#: default ridge grid: 10^-4 ... 10^6 in half decades (features standardised over ~5e4 rows)
DEFAULT_ALPHAS = tuple(float(10.0 ** e) for e in np.arange(-4.0, 6.01, 0.5))
def _moments(feats: List[np.ndarray], y: np.ndarray, chunk: int = 4096):
    """Column mean, std and the standardised Gram matrix / right-hand side, accumulated in float64."""
    n = sum(len(f) for f in feats)
    F = feats[0].shape[1]
    s1 = np.zeros(F)
    for f in feats:
        s1 += f.sum(axis=0, dtype=np.float64)
    mean = s1 / n
    XtX = np.zeros((F, F))
    Xty = np.zeros(F)
    off = 0
    for f in feats:
        for a in range(0, len(f), chunk):
            c = f[a:a + chunk].astype(np.float64) - mean
            XtX += c.T @ c
            Xty += c.T @ y[off + a:off + a + len(c)]
        off += len(f)
    var = np.diag(XtX) / n
    std = np.sqrt(var)
    std[std < 1e-12 * max(1.0, float(std.max()))] = 1.0  # constant columns: leave unscaled
    G = XtX / np.outer(std, std)
    b = Xty / std
    return mean, std, G, b


def _predict_rows(f: np.ndarray, mean, std, coef, intercept: float, chunk: int = 4096) -> np.ndarray:
    out = np.empty(len(f))
    for a in range(0, len(f), chunk):
        out[a:a + chunk] = ((f[a:a + chunk].astype(np.float64) - mean) / std) @ coef + intercept
    return out


def fit_descriptor_model(train_atoms: Sequence[Atoms], val_atoms: Sequence[Atoms],
                         alphas: Sequence[float] = DEFAULT_ALPHAS, config: Optional[Dict] = None,
                         progress=None) -> Tuple[dict, dict]:
    """Fit the ridge model on ``train_atoms`` and choose alpha by Pearson on ``val_atoms``.

    Every structure carries labels ``atoms.arrays['barrier']`` (eV; NaN = unlabelled, skipped).
    ``alphas`` are ridge strengths for standardised features (sum of squares over training rows).
    The validation structures are used only to choose alpha, never fitted.
    ``progress``: optional callable(str) for status lines.

    Returns ``(payload, report)``: ``payload`` is a checkpoint dict for
    :func:`mgbarrier.models.checkpoint.save_checkpoint` (kind "descriptor"; add ``metadata`` as wanted),
    ``report`` holds ``alphas``, ``val_pearson`` (per alpha; pooled over validation structures),
    ``alpha``, ``train_pearson``, ``n_train``, ``n_features`` and timings (s).
    """
    say = progress or (lambda msg: None)
    cfg = dict(DEFAULT_CONFIG if config is None else config)
    fz = Featurizer(cfg)
    t0 = time.perf_counter()

    def labelled(atoms_list, what):
        feats, ys = [], []
        for k, atoms in enumerate(atoms_list):
            if "barrier" not in atoms.arrays:
                raise MgBarrierError(f"{atoms.info.get('source', what)}: structure has no 'barrier' labels")
            y = np.asarray(atoms.arrays["barrier"], dtype=np.float64)
            ok = np.isfinite(y)
            f = fz.features(atoms)[ok]
            feats.append(f)
            ys.append(y[ok])
            say(f"features {what}[{k}]: {int(ok.sum())} labelled atoms")
        return feats, ys

    tr_f, tr_y = labelled(train_atoms, "train")
    va_f, va_y = labelled(val_atoms, "val")
    t_feat = time.perf_counter() - t0
    y = np.concatenate(tr_y)
    if len(y) < 2:
        raise MgBarrierError("descriptor fit: fewer than two labelled training atoms")
    label_mean, label_std = float(y.mean()), float(y.std()) or 1.0
    z = (y - label_mean) / label_std
    mean, std, G, b = _moments(tr_f, z)
    lam, V = np.linalg.eigh(G)
    lam = np.clip(lam, 0.0, None)
    Vb = V.T @ b
    val_y = np.concatenate(va_y) if va_y else np.zeros(0)
    scores = []
    coefs = []
    for a in alphas:
        coef = V @ (Vb / (lam + float(a)))
        coefs.append(coef)
        if len(val_y):
            pv = np.concatenate([_predict_rows(f, mean, std, coef, 0.0) for f in va_f])
            scores.append(pearson(pv, val_y))
        else:
            scores.append(float("nan"))
        say(f"alpha {a:g}: val pearson {scores[-1]:.4f}")
    finite = [k for k, s in enumerate(scores) if np.isfinite(s)]
    best = max(finite, key=lambda k: scores[k]) if finite else int(np.argmin(np.abs(np.log10(alphas) - 2)))
    coef = coefs[best]
    alpha = float(alphas[best])
    train_pred = np.concatenate([_predict_rows(f, mean, std, coef, 0.0) for f in tr_f])
    t_fit = time.perf_counter() - t0
    config_out = dict(cfg)
    config_out.update({"alpha": alpha, "n_soap": fz.n_soap, "n_features": fz.n_features,
                       "feature_layout": "soap | W(R=1) soap | W(R=2) soap | Zr flag",
                       "dscribe_version": dscribe_version()})
    payload = {
        "kind": "descriptor",
        "config": config_out,
        "label_mean": label_mean,
        "label_std": label_std,
        "state_dict": {"mean": torch.from_numpy(mean), "std": torch.from_numpy(std),
                       "coef": torch.from_numpy(np.ascontiguousarray(coef)),
                       "intercept": torch.tensor(0.0, dtype=torch.float64)},
        "metadata": {},
    }
    report = {"alphas": [float(a) for a in alphas], "val_pearson": [float(s) for s in scores], "alpha": alpha,
              "train_pearson": pearson(train_pred, z), "n_train": int(len(y)), "n_features": fz.n_features,
              "feature_time_s": t_feat, "fit_time_s": t_fit}
    return payload, report
