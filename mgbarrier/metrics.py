"""Scores used for model selection and reports."""
from __future__ import annotations

import numpy as np


def pearson(pred, true) -> float:
    """Pearson correlation of finite pairs (NaN labels are skipped)."""
    pred = np.asarray(pred, dtype=float).ravel()
    true = np.asarray(true, dtype=float).ravel()
    ok = np.isfinite(pred) & np.isfinite(true)
    if ok.sum() < 2:
        return float("nan")
    p, t = pred[ok] - pred[ok].mean(), true[ok] - true[ok].mean()
    denom = np.sqrt((p * p).sum() * (t * t).sum())
    return float((p * t).sum() / denom) if denom > 0 else float("nan")


def rmse(pred, true) -> float:
    pred = np.asarray(pred, dtype=float).ravel()
    true = np.asarray(true, dtype=float).ravel()
    ok = np.isfinite(pred) & np.isfinite(true)
    return float(np.sqrt(np.mean((pred[ok] - true[ok]) ** 2)))


def _finite_pairs(pred, true):
    pred = np.asarray(pred, dtype=float).ravel()
    true = np.asarray(true, dtype=float).ravel()
    ok = np.isfinite(pred) & np.isfinite(true)
    return pred[ok], true[ok]


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties given their average rank (as scipy.stats.rankdata)."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(xs)) + 1]
    ends = np.r_[starts[1:], len(xs)]
    avg = (starts + ends + 1) / 2.0  # mean of ranks start+1 .. end
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def spearman(pred, true) -> float:
    """Spearman rank correlation of finite pairs (Pearson of average ranks; NaN labels skipped)."""
    p, t = _finite_pairs(pred, true)
    if len(p) < 2:
        return float("nan")
    return pearson(_ranks(p), _ranks(t))


def mae(pred, true) -> float:
    """Mean absolute error of finite pairs (units of the inputs)."""
    p, t = _finite_pairs(pred, true)
    return float(np.mean(np.abs(p - t))) if len(p) else float("nan")


def scores(pred, true) -> dict:
    """``{"n", "pearson", "spearman", "mae", "rmse", "mean_pred", "mean_label"}`` over finite
    pairs (MAE, RMSE and means in the units of the inputs, eV for barriers)."""
    p, t = _finite_pairs(pred, true)
    nan = float("nan")
    return {"n": int(len(p)), "pearson": pearson(p, t), "spearman": spearman(p, t),
            "mae": mae(p, t) if len(p) else nan, "rmse": rmse(p, t) if len(p) else nan,
            "mean_pred": float(p.mean()) if len(p) else nan, "mean_label": float(t.mean()) if len(p) else nan}
