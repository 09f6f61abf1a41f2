"""FIRE (Bitzek et al., PRL 97, 170201 (2006)) in numpy, for any ``force_fn(x) -> (E, F)``.

Unit masses; a step moves no coordinate by more than ``dmax``.  With ``direction`` given,
the force component along that unit vector is removed: the perpendicular relaxation of
ARTn (lammps-ARTn's ``min_perp_fire``).  The convergence test is on the 2-norm of the
(projected) force (``fnorm``) or on the largest per-atom force (``fmax``).

``state`` (a :class:`FireState`, or None for a fresh start) carries FIRE's velocity, time
step and mixing parameter from one call to the next: ARTn's perpendicular relaxations are
short (a few steps between two Lanczos updates of ``direction``), and restarting FIRE from
rest with its smallest time step at each of them wastes most of the steps.  The velocity
is projected perpendicular to ``direction`` before use.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np


@dataclass
class FireState:
    v: Optional[np.ndarray] = None     # velocity (None: at rest)
    dt: Optional[float] = None         # time step (None: the ``dt`` argument)
    alpha: Optional[float] = None      # velocity mixing (None: ``alpha0``)
    since_neg: int = 0                 # steps since the power was last negative


@dataclass
class FireResult:
    x: np.ndarray
    energy: float
    forces: np.ndarray
    steps: int
    converged: bool
    state: Optional[FireState] = None  # to continue from (pass as ``state``)


def fire(force_fn: Callable, x: np.ndarray, energy: Optional[float] = None, forces: Optional[np.ndarray] = None, *,
         direction: Optional[np.ndarray] = None, fnorm: Optional[float] = None, fmax: Optional[float] = None,
         max_steps: int = 1000, dt: float = 0.1, dt_max: float = 0.4, dmax: float = 0.1,
         n_min: int = 5, f_inc: float = 1.1, f_dec: float = 0.5, alpha0: float = 0.1, f_alpha: float = 0.99,
         state: Optional[FireState] = None) -> FireResult:
    x = np.array(x, dtype=float)
    if energy is None or forces is None:
        energy, forces = force_fn(x)
    h = direction

    def proj(f):
        return f - np.vdot(f, h) * h if h is not None else f

    def done(fp):
        if fnorm is not None and np.linalg.norm(fp) < fnorm:
            return True
        if fmax is not None and np.sqrt((fp * fp).sum(axis=-1)).max() < fmax:
            return True
        return False

    st = state if state is not None else FireState()
    v = proj(np.array(st.v, dtype=float)) if st.v is not None else np.zeros_like(x)
    dt = st.dt if st.dt is not None else dt
    alpha = st.alpha if st.alpha is not None else alpha0
    since_neg = st.since_neg

    def out(step, ok):
        return FireResult(x, energy, forces, step, ok, FireState(v, dt, alpha, since_neg))

    fp = proj(forces)
    for step in range(max_steps):
        if done(fp):
            return out(step, True)
        p = np.vdot(v, fp)
        if p > 0:
            vn, fn = np.linalg.norm(v), np.linalg.norm(fp)
            v = (1 - alpha) * v + alpha * vn * fp / fn
            since_neg += 1
            if since_neg > n_min:
                dt = min(dt * f_inc, dt_max)
                alpha *= f_alpha
        else:
            v[:] = 0.0
            dt *= f_dec
            alpha, since_neg = alpha0, 0
        v = v + dt * fp
        dx = np.clip(dt * v, -dmax, dmax)
        x = x + dx
        energy, forces = force_fn(x)
        fp = proj(forces)
    return out(max_steps, done(fp))
