"""Glass transition temperature from a two-regime fit, and the seed's Eq. 12 regression.

* :func:`fit_tg`: the seed's Tg (§II A, Fig. 1a): two straight lines, one through the glass
  regime (low T) and one through the supercooled-liquid regime (high T), of the mean
  inherent-structure energy against temperature; Tg is where they cross.  The split between
  the regimes is the one with the least total squared error (each side >= ``min_points``)
  among the splits whose lines cross inside the temperature range;
  ``t_max`` drops the hot liquid, whose E_IS(T) bends away from a line.
* :func:`indicator_regression`: Eq. 12, ``y = a0 + a1 T + a2 1[T > Tg] + a3 1[T > Tg] T + e``
  by ordinary least squares, with standard errors, t statistics and p-values (two-sided,
  and one-sided for a3 > 0, i.e. a steeper slope above Tg).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Sequence

import numpy as np

from ..errors import MgBarrierError


@dataclass
class TgFit:
    """tg: crossing temperature; low/high: (slope, intercept) of each regime; split_t: the
    highest temperature of the low regime; sse: total squared error; n_low, n_high: points."""

    tg: float
    low: tuple
    high: tuple
    split_t: float
    sse: float
    n_low: int
    n_high: int

    def as_dict(self) -> dict:
        return asdict(self)


def _line(x, y):
    A = np.stack([x, np.ones_like(x)], axis=1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return coef, float(np.sum((A @ coef - y) ** 2))


def fit_tg(temperatures: Sequence[float], energies: Sequence[float], min_points: int = 3,
           t_max: Optional[float] = None, t_min: Optional[float] = None) -> TgFit:
    """Tg from (T (K,), E (K,)) by the best two-line split (see the module doc)."""
    t = np.asarray(temperatures, dtype=float)
    e = np.asarray(energies, dtype=float)
    ok = np.isfinite(t) & np.isfinite(e)
    if t_max is not None:
        ok &= t <= t_max
    if t_min is not None:
        ok &= t >= t_min
    t, e = t[ok], e[ok]
    order = np.argsort(t)
    t, e = t[order], e[order]
    if len(t) < 2 * min_points:
        raise MgBarrierError(f"Tg fit: need at least {2 * min_points} temperatures, got {len(t)}")
    best = None
    for s in range(min_points, len(t) - min_points + 1):
        (a1, b1), s1 = _line(t[:s], e[:s])
        (a2, b2), s2 = _line(t[s:], e[s:])
        if abs(a2 - a1) < 1e-15:
            continue
        cross = (b1 - b2) / (a2 - a1)
        if not t[0] <= cross <= t[-1]:  # the lines must cross inside the data
            continue
        if best is None or s1 + s2 < best[0]:
            best = (s1 + s2, s, (a1, b1), (a2, b2), cross)
    if best is None:
        raise MgBarrierError("Tg fit: no split of the temperatures gives two lines crossing inside "
                             f"[{t[0]:g}, {t[-1]:g}]")
    sse, s, low, high, tg = best
    return TgFit(tg=float(tg), low=(float(low[0]), float(low[1])), high=(float(high[0]), float(high[1])),
                 split_t=float(t[s - 1]), sse=float(sse), n_low=int(s), n_high=int(len(t) - s))


def indicator_regression(temperatures: Sequence[float], y: Sequence[float], tg: float) -> dict:
    """Eq. 12 by OLS.  Returns coefficients ``a0..a3``, ``se``, ``t``, ``p`` (two-sided),
    ``p_a3_greater`` (one-sided, H1: a3 > 0), ``r2``, ``n`` and ``tg``."""
    from scipy import stats

    T = np.asarray(temperatures, dtype=float)
    Y = np.asarray(y, dtype=float)
    ok = np.isfinite(T) & np.isfinite(Y)
    T, Y = T[ok], Y[ok]
    ind = (T > tg).astype(float)
    X = np.stack([np.ones_like(T), T, ind, ind * T], axis=1)
    n, p = X.shape
    if n <= p or ind.sum() < 2 or (1 - ind).sum() < 2:
        raise MgBarrierError(f"Eq. 12 regression: need >= 2 points on each side of Tg = {tg:.3f} "
                             f"and more than {p} in all (got {int((1 - ind).sum())} below, {int(ind.sum())} above)")
    coef, *_ = np.linalg.lstsq(X, Y, rcond=None)
    resid = Y - X @ coef
    dof = n - p
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.pinv(X.T @ X)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        tval = np.where(se > 0, coef / se, np.inf * np.sign(coef))
    p_two = 2 * stats.t.sf(np.abs(tval), dof)
    p_a3 = float(stats.t.sf(tval[3], dof))
    ss_tot = float(np.sum((Y - Y.mean()) ** 2))
    return {"a": coef.tolist(), "se": se.tolist(), "t": tval.tolist(), "p": p_two.tolist(),
            "p_a3_greater": p_a3, "r2": 1 - float(resid @ resid) / ss_tot if ss_tot > 0 else float("nan"),
            "n": int(n), "tg": float(tg)}
