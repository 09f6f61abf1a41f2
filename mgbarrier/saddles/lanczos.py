"""Lowest curvature of the potential energy surface by Lanczos on finite-difference
Hessian-vector products of the forces (Olsen et al., J. Chem. Phys. 121, 9776 (2004);
lammps-ARTn's ``lanczos()``): ``H v ≈ (F(x - δv) - F(x + δv)) / 2δ`` (central) or
``(F(x) - F(x + δv)) / δ`` (forward).  Only forces are needed; each Lanczos vector costs
one (forward) or two (central) force calls.

Vectors are arrays of the positions' shape ``(N, d)``; ``project`` (e.g. removing the
rigid translation of a periodic system, or a deflated eigenvector) is applied to every
Krylov vector, so the eigenpair returned is that of the projected Hessian.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

ForceFn = Callable[[np.ndarray], "tuple[float, np.ndarray]"]


@dataclass
class LanczosResult:
    eigenvalue: float          # lowest eigenvalue of the (projected) Hessian, eV/Å²
    eigenvector: np.ndarray    # unit vector, shape of the positions
    n_vectors: int             # Krylov vectors built
    force_calls: int
    converged: bool


def remove_translation(v: np.ndarray) -> np.ndarray:
    """``v`` minus its mean over atoms (no rigid translation)."""
    return v - v.mean(axis=0, keepdims=True)


def hessian_vector(force_fn: ForceFn, x: np.ndarray, f0: Optional[np.ndarray], v: np.ndarray, delta: float,
                   central: bool = True) -> "tuple[np.ndarray, int]":
    """``(H v, force calls)`` for a unit vector ``v`` by finite differences of the forces."""
    if central:
        _, fp = force_fn(x + delta * v)
        _, fm = force_fn(x - delta * v)
        return (fm - fp) / (2.0 * delta), 2
    _, fp = force_fn(x + delta * v)
    return (f0 - fp) / delta, 1


def lanczos(force_fn: ForceFn, x: np.ndarray, f0: Optional[np.ndarray] = None, *, v0: Optional[np.ndarray] = None,
            rng: Optional[np.random.Generator] = None, max_vectors: int = 15, delta: float = 1e-3,
            tol: float = 0.01, central: bool = True, min_vectors: int = 3,
            project: Optional[Callable[[np.ndarray], np.ndarray]] = None, atol: float = 0.0,
            stop_below: Optional[float] = None) -> LanczosResult:
    """Lowest eigenpair of the Hessian at ``x`` (forces ``f0`` there, needed for forward differences).

    ``v0``: start vector (e.g. the previous eigenvector: a warm start converges in a few
    vectors); else random from ``rng``.  Stops when the lowest Ritz value changes by less
    than ``tol`` (relative) or ``atol`` (eV/Å², absolute) between two successive vectors after
    ``min_vectors``, or at ``max_vectors``.  ``stop_below``: also stop as soon as the lowest Ritz
    value is below it (Ritz values only decrease as vectors are added and bound the lowest
    eigenvalue from above, so that eigenvalue is below it too; ``converged`` stays False).
    Full reorthogonalisation (cheap next to a force call).
    """
    x = np.asarray(x, dtype=float)
    proj = project if project is not None else (lambda v: v)
    if not central and f0 is None:
        _, f0 = force_fn(x)
        calls0 = 1
    else:
        calls0 = 0
    if v0 is None:
        rng = rng if rng is not None else np.random.default_rng()
        v0 = rng.uniform(-0.5, 0.5, size=x.shape)
    q = proj(np.asarray(v0, dtype=float))
    nrm = np.linalg.norm(q)
    if not nrm > 0:
        rng = rng if rng is not None else np.random.default_rng()
        q = proj(rng.uniform(-0.5, 0.5, size=x.shape))
        nrm = np.linalg.norm(q)
    q = q / nrm
    Q = []
    alphas, betas = [], []
    calls = calls0
    prev = None
    theta, y = None, None
    converged = False
    for k in range(max_vectors):
        Q.append(q)
        hv, c = hessian_vector(force_fn, x, f0, q, delta, central)
        calls += c
        hv = proj(hv)
        alpha = float(np.vdot(q, hv))
        r = hv - alpha * q
        if k > 0:
            r -= betas[-1] * Q[-2]
        for qq in Q:                         # full reorthogonalisation
            r -= np.vdot(qq, r) * qq
        alphas.append(alpha)
        beta = float(np.linalg.norm(r))
        T = np.diag(alphas)
        if k > 0:
            T += np.diag(betas, 1) + np.diag(betas, -1)
        w, z = np.linalg.eigh(T)
        theta, y = float(w[0]), z[:, 0]
        if k + 1 >= max(2, min_vectors) and prev is not None and abs(theta - prev) <= max(tol * abs(prev), atol):
            converged = True
            break
        if stop_below is not None and theta < stop_below:
            break
        prev = theta
        if beta < 1e-10 * max(1.0, abs(alpha)):  # invariant subspace: exact
            converged = True
            break
        betas.append(beta)
        q = r / beta
    vec = np.tensordot(y, np.array(Q), axes=(0, 0))
    vec = vec / np.linalg.norm(vec)
    return LanczosResult(theta, vec, len(Q), calls, converged)
