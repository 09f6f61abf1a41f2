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


def _payload(config: dict, label_mean: float, label_std: float, mean: np.ndarray, std: np.ndarray,
             coef: np.ndarray, intercept: float) -> dict:
    """The checkpoint dict of a fitted descriptor model (kind "descriptor")."""
    return {"kind": "descriptor", "config": config, "label_mean": label_mean, "label_std": label_std,
            "state_dict": {"mean": torch.from_numpy(mean), "std": torch.from_numpy(std),
                           "coef": torch.from_numpy(np.ascontiguousarray(coef)),
                           "intercept": torch.tensor(float(intercept), dtype=torch.float64)},
            "metadata": {}}


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
    payload = _payload(config_out, label_mean, label_std, mean, std, coef, 0.0)
    report = {"alphas": [float(a) for a in alphas], "val_pearson": [float(s) for s in scores], "alpha": alpha,
              "train_pearson": pearson(train_pred, z), "n_train": int(len(y)), "n_features": fz.n_features,
              "feature_time_s": t_feat, "fit_time_s": t_fit}
    return payload, report


#: the multi-length candidates of issue 19: SOAP averaged over R = 1, 2, 4, 6 Å (and the
#: shipped 1, 2 Å as a column subset), at two averaging cut-offs (Å)
MULTI_LENGTHS = (1.0, 2.0, 4.0, 6.0)
MULTI_CUTOFFS = (7.5, 12.0)


def _stats(f: np.ndarray, y: np.ndarray, ref: np.ndarray, chunk: int = 4096) -> dict:
    """Sufficient statistics of one structure's rows (shifted by ``ref``) for ridge fits."""
    F = f.shape[1]
    S1, S2, Sxy = np.zeros(F), np.zeros((F, F)), np.zeros(F)
    for a in range(0, len(f), chunk):
        c = f[a:a + chunk].astype(np.float64) - ref
        S1 += c.sum(axis=0)
        S2 += c.T @ c
        Sxy += c.T @ y[a:a + len(c)]
    return {"n": len(f), "S1": S1, "S2": S2, "Sy": float(y.sum()), "Syy": float(y @ y), "Sxy": Sxy}


def _ridge_path(parts: Sequence[dict], cols: np.ndarray, alphas: Sequence[float]):
    """Ridge fits (standardised columns ``cols``, free intercept) on the summed statistics
    ``parts``: returns (mean, std, [raw-column weights w, intercept b per alpha]) with
    prediction ``(x - ref) @ w + b``."""
    n = sum(p["n"] for p in parts)
    S1 = sum(p["S1"] for p in parts)[cols]
    S2 = sum(p["S2"] for p in parts)[np.ix_(cols, cols)]
    Sxy = sum(p["Sxy"] for p in parts)[cols]
    Sy = sum(p["Sy"] for p in parts)
    mu, ybar = S1 / n, Sy / n
    XtX = S2 - n * np.outer(mu, mu)
    Xty = Sxy - mu * Sy
    std = np.sqrt(np.clip(np.diag(XtX) / n, 0.0, None))
    std[std < 1e-12 * max(1.0, float(std.max()))] = 1.0
    lam, V = np.linalg.eigh(XtX / np.outer(std, std))
    lam = np.clip(lam, 0.0, None)
    Vb = V.T @ (Xty / std)
    fits = []
    for a in alphas:
        w = (V @ (Vb / (lam + float(a)))) / std
        fits.append((w, ybar - float(mu @ w)))
    return mu, std, fits


def _pooled_pearson(sums: np.ndarray) -> float:
    """Pearson from accumulated [n, Σp, Σp², Σy, Σy², Σpy]."""
    n, sp, spp, sy, syy, spy = sums
    cov = spy - sp * sy / n
    return float(cov / np.sqrt(max(spp - sp * sp / n, 1e-300) * max(syy - sy * sy / n, 1e-300)))


def _prediction_sums(p: dict, cols: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """[n, Σp, Σp², Σy, Σy², Σpy] of predictions (x - ref) @ w + b on a structure's statistics."""
    n, s1w = p["n"], float(p["S1"][cols] @ w)
    sp = s1w + n * b
    spp = float(w @ p["S2"][np.ix_(cols, cols)] @ w) + 2 * b * s1w + n * b * b
    spy = float(p["Sxy"][cols] @ w) + b * p["Sy"]
    return np.array([n, sp, spp, p["Sy"], p["Syy"], spy])


def fit_multilength_descriptor(train_atoms: Sequence[Atoms], groups: Sequence[object], val_atoms: Sequence[Atoms],
                               alphas: Sequence[float] = DEFAULT_ALPHAS, lengths: Sequence[float] = MULTI_LENGTHS,
                               cutoffs: Sequence[float] = MULTI_CUTOFFS, subsets: Optional[Sequence] = None,
                               progress=None) -> Tuple[dict, dict]:
    """The multi-length descriptor model (issue 19): SOAP + its averages over ``lengths`` (Å)
    within each averaging cut-off of ``cutoffs`` (Å), ridge on the standardised rows.

    Every choice, the averaging cut-off, the subset of lengths (``subsets``; default: all of
    ``lengths`` and the shipped (1, 2) Å) and the ridge strength, is made by leave-one-group-out
    cross-validation over ``train_atoms`` (``groups``: one label per structure; structures of the
    same glass share a label), scored by the Pearson of the pooled out-of-fold predictions.
    ``val_atoms`` are only scored (reported per candidate), never used for a choice.  Fits work
    on per-structure sufficient statistics, so rows are never held for more than one structure.

    Returns ``(payload, report)`` like :func:`fit_descriptor_model` (kind "descriptor": the
    shipped :class:`~mgbarrier.models.descriptor.DescriptorPredictor` loads it).
    """
    say = progress or (lambda msg: None)
    lengths = [float(x) for x in lengths]
    subsets = [tuple(lengths)] + ([(1.0, 2.0)] if (1.0 in lengths and 2.0 in lengths and len(lengths) > 2) else []) \
        if subsets is None else [tuple(float(x) for x in s) for s in subsets]
    ugroups = list(dict.fromkeys(groups))
    t0 = time.perf_counter()
    ys = []
    for atoms in list(train_atoms) + list(val_atoms):
        if "barrier" not in atoms.arrays:
            raise MgBarrierError(f"{atoms.info.get('source', 'structure')}: structure has no 'barrier' labels")
        ys.append(np.asarray(atoms.arrays["barrier"], dtype=np.float64))
    y_tr = np.concatenate([y[np.isfinite(y)] for y in ys[:len(train_atoms)]])
    label_mean, label_std = float(y_tr.mean()), float(y_tr.std()) or 1.0
    configs = [dict(DEFAULT_CONFIG, smoothing_lengths=list(lengths), average_cutoff=float(c)) for c in cutoffs]
    fzs = [Featurizer(c) for c in configs]
    stats = [[] for _ in configs]  # [config][structure]
    ref = None
    for k, atoms in enumerate(list(train_atoms) + list(val_atoms)):
        ok = np.isfinite(ys[k])
        z = (ys[k][ok] - label_mean) / label_std
        ready, flag = fzs[-1].prepare(atoms)
        X = fzs[-1].soap(ready)  # the SOAP rows do not depend on the averaging cut-off
        for c, fz in enumerate(fzs):
            if fz is not fzs[-1] and not np.all(atoms.pbc):
                ready, flag = fz.prepare(atoms)  # padding depends on the cut-off without periodicity
                X = fz.soap(ready)
            blocks = [X] + [W @ X for W in fz.averaging(ready)] + [flag[:, None]]
            f = np.concatenate(blocks, axis=1)[ok]
            if ref is None:
                ref = f.mean(axis=0)
            stats[c].append(_stats(f, z, ref))
        say(f"statistics of structure {k}: {int(ok.sum())} labelled atoms ({time.perf_counter() - t0:.0f} s)")
    n_tr = len(train_atoms)
    ns = fzs[0].n_soap
    candidates, report_rows = [], []
    for c, cutoff in enumerate(cutoffs):
        for sub in subsets:
            blocks = [0] + [1 + lengths.index(R) for R in sub]
            cols = np.concatenate([np.arange(b * ns, (b + 1) * ns) for b in blocks]
                                  + [np.array([(1 + len(lengths)) * ns])])
            oof = np.zeros((len(alphas), 6))
            for g in ugroups:
                fit_parts = [stats[c][k] for k in range(n_tr) if groups[k] != g]
                _, _, fits = _ridge_path(fit_parts, cols, alphas)
                for a, (w, b) in enumerate(fits):
                    for k in range(n_tr):
                        if groups[k] == g:
                            oof[a] += _prediction_sums(stats[c][k], cols, w, b)
            cv = [_pooled_pearson(s) for s in oof]
            best = int(np.nanargmax(cv))
            _, _, fits = _ridge_path(stats[c][:n_tr], cols, [alphas[best]])
            w, b = fits[0]
            val = _pooled_pearson(sum(_prediction_sums(p, cols, w, b) for p in stats[c][n_tr:])) \
                if len(val_atoms) else float("nan")
            row = {"average_cutoff": float(cutoff), "lengths": list(sub), "alpha": float(alphas[best]),
                   "cv_pearson": cv[best], "cv_by_alpha": cv, "val_pearson": val, "n_features": int(len(cols))}
            report_rows.append(row)
            candidates.append((cv[best], c, sub, cols, w, b))
            say(f"cut-off {cutoff} Å, lengths {list(sub)}: CV {cv[best]:.4f} (alpha {alphas[best]:g}), "
                f"validation {val:.4f} ({time.perf_counter() - t0:.0f} s)")
    cv_best, c, sub, cols, w, b = max(candidates, key=lambda t: t[0])
    chosen = next(r for r in report_rows if r["average_cutoff"] == float(cutoffs[c]) and r["lengths"] == list(sub))
    # the DescriptorPredictor's layout: coef on standardised columns, intercept 0 (see _moments)
    mu, std, _ = _ridge_path(stats[c][:n_tr], cols, [])
    mean = ref[cols] + mu
    coef = w * std
    intercept = b + float((ref[cols] + mu - ref[cols]) @ w)  # (x - mean) @ (coef / std) + intercept
    config_out = dict(configs[c], smoothing_lengths=list(sub))
    fz = Featurizer(config_out)
    config_out.update({"alpha": chosen["alpha"], "n_soap": fz.n_soap, "n_features": fz.n_features,
                       "feature_layout": "soap | " + " | ".join(f"W(R={R:g}) soap" for R in sub) + " | Zr flag",
                       "dscribe_version": dscribe_version(),
                       "selection": "averaging cut-off, lengths and alpha by leave-one-glass-out CV over training"})
    payload = _payload(config_out, label_mean, label_std, mean, std, coef, intercept)
    report = {"candidates": report_rows, "chosen": chosen, "cv_pearson": cv_best, "groups": [str(g) for g in groups],
              "n_train": int(len(y_tr)), "time_s": time.perf_counter() - t0}
    return payload, report
