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
