"""One ARTn saddle search from a minimum (Barkema & Mousseau, PRL 77, 4358 (1996); Malek &
Mousseau, PRE 62, 7723 (2000); Cancès et al., J. Chem. Phys. 130, 114711 (2009)), following
the stages of lammps-ARTn (``min_artn.cpp``) with its parameter names
(:class:`~mgbarrier.saddles.settings.ArtnSettings`):

1. **Activation.**  The centre atom and every atom within ``cluster_radius`` get a random
   displacement (uniform per coordinate, drift removed, norm ``init_step_size``).
2. **Leaving the harmonic well.**  Push along that direction by ``basin_factor *
   increment_size``, relax the perpendicular forces a few steepest-descent steps
   (``max_perp_move_h``, ``force_th_perp_h``); after ``min_num_ksteps`` pushes, compute the
   lowest curvature by Lanczos; the well is left when it is below ``eigen_th_well`` (that
   Lanczos stops as soon as its Ritz value, an upper bound, is below the threshold, and is
   converged to ``eigen_th_lancz`` x |``eigen_th_well``| rather than to 1 % of a curvature
   near zero: the answer is all the well needs).
3. **Converging to the saddle.**  Each iteration: Lanczos (warm-started from the previous
   eigenvector), a step up along the eigenvector of size ``min(2 increment_size, |F∥| /
   max(|λ|, 0.5))`` (Cancès et al.), FIRE on the perpendicular forces (at most
   ``min(max_perp_moves_c, k + conv_perp_inc)`` steps, ``force_th_perp_sad``); converged when
   the force 2-norm is below ``force_th_saddle``; failed when the curvature rises above
   ``eigen_th_fail`` for more than ``max_positive_eigen`` iterations in a row (soft glasses
   have curvatures near zero, where one Lanczos estimate may come out slightly positive);
   with ``stop_below_initial`` (ours, default) it also stops as soon as the energy is below
   E_initial: steepest descent from a point of the initial basin lowers the energy all the way
   to E_initial, so such a point has left that basin (on the glass no accepted search ever did).
   With ``fire_keep_state`` (ours, default) FIRE's velocity and time step carry over from
   one iteration's perpendicular relaxation to the next (projected perpendicular to the
   new eigenvector) instead of restarting from rest with its smallest time step.
4. **Confirmation.**  Barrier ``E_saddle - E_initial > 0``; saddle at least
   ``disp_sad2min_thr`` from the minimum; the most displaced atom within
   ``2 cluster_radius`` of the centre; exactly one negative curvature (the second lowest,
   Lanczos deflated of the first, above ``eigen_th_second``); pushed back by
   ``push_over_saddle`` along the eigenvector (relaxed to ``min_fmax``, or to a fifth of the
   largest force the push created when lower, so that it leaves a soft saddle) it relaxes to
   the initial minimum (no atom
   farther than ``max_disp_tol`` Å from its place, energy within ``max_ener_tol`` eV: a
   per-atom test, because in a soft glass a relaxation to ``min_fmax`` leaves small
   displacements on every atom whose 2-norm grows with the system size); pushed over, it
   relaxes to the final minimum, which must differ from the initial one (for an accepted
   event it is then relaxed further, to ``min_fmax_final``).  Both sides are
   relaxed, so a saddle whose eigenvector sign relative to ``x - x0`` misleads (the
   search wandered) is still linked when the *other* side relaxes to the start.

The energy surface is any object with ``energy_forces(x) -> (E, F)`` and a force-call
counter ``n_force_calls`` (e.g. :class:`mgbarrier.md.LammpsEngine`, or
:class:`ForceModel` around a plain function); if it has ``minimize(x, fmax=, max_steps=)
-> (x, E, fmax, converged)`` that is used for the push-back / push-over relaxations,
else FIRE in numpy.  Positions are unwrapped ``(N, d)`` arrays; ``cell``/``pbc`` only serve
the neighbour search around the centre and the localisation test.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional, Tuple

import numpy as np

from .lanczos import lanczos, remove_translation
from .minimize import fire
from .settings import ArtnSettings

# reasons (``SaddleResult.reason``)
ACCEPTED = "accepted"
FAIL_WELL = "did not leave the harmonic well"
FAIL_CONVERGE = "did not converge to a saddle (max_activat_iter)"
FAIL_EIGEN = "lost the negative curvature while converging (eigen_th_fail)"
FAIL_CLOSE = "saddle too close to the initial minimum (disp_sad2min_thr)"
FAIL_BARRIER = "non-positive barrier"
FAIL_BELOW = "left the initial basin: energy below the initial minimum while converging"
FAIL_LOCAL = "saddle not localised near the centre atom"
FAIL_SECOND = "more than one negative curvature at the saddle"
FAIL_BACK = "pushed back, the saddle does not relax to the initial minimum"
FAIL_OVER = "pushed over, the saddle relaxes to the initial minimum"
FAIL_NONFINITE = "non-finite energy or forces"


class ForceModel:
    """``energy_forces`` + ``n_force_calls`` (+ optional ``minimize``) around ``fn(x) -> (E, F)``."""

    def __init__(self, fn: Callable, minimize: Optional[Callable] = None):
        self._fn = fn
        self.n_force_calls = 0
        if minimize is not None:
            self.minimize = minimize

    def energy_forces(self, x):
        self.n_force_calls += 1
        e, f = self._fn(np.asarray(x, dtype=float))
        return float(e), np.asarray(f, dtype=float)


@dataclass
class SaddleResult:
    centre: int                     # 0-based index of the centre atom
    accepted: bool
    reason: str
    barrier: float = float("nan")   # E_saddle - E_initial (eV)
    e_initial: float = float("nan")
    e_saddle: float = float("nan")
    e_final: float = float("nan")   # energy of the minimum past the saddle (eV)
    eigenvalue: float = float("nan")   # lowest curvature at the saddle (eV/Å²)
    eigenvalue2: float = float("nan")  # second lowest (eV/Å²)
    sad_dxyz: tuple = (float("nan"),) * 3   # per-component norms of x_saddle - x_initial (Å)
    sad_dr: float = float("nan")    # |x_saddle - x_initial| (Å)
    fin_dr: float = float("nan")    # |x_final - x_initial| (Å)
    n_move: int = 0                 # atoms moved more than atom_disp_thr in the final minimum
    n_cluster: int = 0              # atoms kicked
    e_well: float = float("nan")    # E - E_initial where the harmonic well was left (eV)
    dr_well: float = float("nan")   # |x - x_initial| there (Å)
    e_min_climb: float = float("nan")  # lowest E - E_initial while converging to the saddle (eV)
    basin_steps: int = 0
    saddle_iters: int = 0
    force_calls: int = 0
    calls_well: int = 0             # force calls leaving the harmonic well
    calls_saddle: int = 0           # ... converging to the saddle
    calls_confirm: int = 0          # ... confirming it (second curvature, push back, push over)
    seconds: float = 0.0            # wall time
    cpu_seconds: float = 0.0        # CPU time of this process (LAMMPS included): the core-seconds
    n_free: int = 0                 # atoms free to move (0: all; local force region, saddles.local)
    n_region: int = 0               # atoms in the force sub-system (0: the whole structure)
    region_exact: Optional[bool] = None  # free atoms stayed where the region's forces are exact
    local_barrier: float = float("nan")  # barrier in the local region (before the full-system refinement)
    calls_refine: int = 0           # force calls of the full-system refinement (also in calls_confirm)
    x_saddle: Optional[np.ndarray] = field(default=None, repr=False)
    x_final: Optional[np.ndarray] = field(default=None, repr=False)
    eigenvector: Optional[np.ndarray] = field(default=None, repr=False)

    def to_record(self) -> dict:
        """JSON-friendly dict without the arrays (NaN -> None)."""
        d = asdict(self)
        for k in ("x_saddle", "x_final", "eigenvector"):
            d.pop(k)
        d["sad_dxyz"] = list(d["sad_dxyz"])
        out = {}
        for k, v in d.items():
            if isinstance(v, float) and not np.isfinite(v):
                v = None
            elif isinstance(v, list):
                v = [None if (isinstance(t, float) and not np.isfinite(t)) else float(t) for t in v]
            out[k] = v
        return out


def mic_vectors(d: np.ndarray, cell: Optional[np.ndarray], pbc) -> np.ndarray:
    """Minimum-image versions of the vectors ``d`` (M, 3)."""
    if cell is None or pbc is None or not np.any(pbc):
        return d
    cell = np.asarray(cell, dtype=float)
    frac = d @ np.linalg.inv(cell)
    frac -= np.round(frac) * np.asarray(pbc, dtype=float)
    return frac @ cell


class _Stop(Exception):
    def __init__(self, reason):
        self.reason = reason


def artn_search(model, x0: np.ndarray, centre: int, *, rng: np.random.Generator,
                settings: Optional[ArtnSettings] = None, e0: Optional[float] = None, cell=None, pbc=None,
                keep_positions: bool = False, log: Optional[Callable[[str], None]] = None,
                start: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> SaddleResult:
    """One ARTn search from the minimum ``x0`` (N, d), activation centred on atom ``centre``.

    ``model``: see the module docstring.  ``rng`` drives the kick and the first Lanczos
    vector; the same generator state gives the same search.  ``keep_positions`` stores the
    saddle, final minimum and eigenvector in the result.  ``start``: ``(x, eigenvector)``
    ((N, d) Å, (N, d) pointing away from ``x0``) skips the activation and the well: the
    search converges to the saddle from ``x`` (e.g. one found in a local force region) and
    confirms it; its ``calls_well`` are then the first Lanczos there.
    """
    s = settings or ArtnSettings()
    t0, c0 = time.perf_counter(), time.process_time()
    calls0 = model.n_force_calls
    x0 = np.array(x0, dtype=float)
    n = len(x0)
    periodic = n > 1 and (pbc is None or bool(np.any(pbc)))
    proj = remove_translation if periodic else (lambda v: v)
    dmax = s.dmax
    say = log or (lambda msg: None)

    def ef(x):
        e, f = model.energy_forces(x)
        if not np.isfinite(e) or not np.all(np.isfinite(f)):
            raise _Stop(FAIL_NONFINITE)
        return e, f

    def lanc(x, f, v0, nvec, **kw):
        return lanczos(ef, x, f, v0=v0, rng=rng, max_vectors=nvec, delta=s.del_disp_lancz, tol=s.eigen_th_lancz,
                       central=s.lanczos_central, project=proj, **kw)

    res = SaddleResult(centre=int(centre), accepted=False, reason="")
    if e0 is None:
        e0, _ = ef(x0)
    res.e_initial = float(e0)
    try:
        _search(res, s, x0, float(e0), int(centre), ef, lanc, rng, proj, dmax, cell, pbc, model, keep_positions, say,
                calls0, start)
    except _Stop as stop:
        res.reason = stop.reason
        res.accepted = False
    res.force_calls = int(model.n_force_calls - calls0)
    if res.calls_well and not res.calls_saddle:        # stopped while converging
        res.calls_saddle = res.force_calls - res.calls_well
    elif res.calls_saddle:
        res.calls_confirm = res.force_calls - res.calls_well - res.calls_saddle
    res.seconds = time.perf_counter() - t0
    res.cpu_seconds = time.process_time() - c0
    return res


def _clip(d, dmax):
    return np.clip(d, -dmax, dmax)


def _leave_well(res, s, x0, e0, c, ef, lanc, rng, proj, dmax, cell, pbc, model, say, calls0):
    """Stages 1 and 2: kick and push out of the harmonic well -> (x, e, f, egvec, lam, h)."""
    n, dim = x0.shape
    # ---- 1. activation
    dvec = mic_vectors(x0 - x0[c], cell, pbc) if s.cluster_radius > 0 else None
    if dvec is None:
        cluster = np.array([c])
    else:
        cluster = np.flatnonzero((dvec * dvec).sum(axis=1) <= s.cluster_radius ** 2)
    res.n_cluster = int(len(cluster))
    kick = np.zeros_like(x0)
    kick[cluster] = rng.uniform(-0.5, 0.5, size=(len(cluster), dim))
    kick = proj(kick)
    h = kick / np.linalg.norm(kick)
    x = x0 + _clip(s.init_step_size * h, dmax)

    # ---- 2. leave the harmonic well
    egvec, lam = None, 0.0
    left = False
    for it in range(s.max_iter_basin):
        e, f = ef(x)
        step, nfail, m = 0.4 * s.increment_size, 0, 0
        while True:
            fperp = f - np.vdot(f, h) * h
            if np.linalg.norm(fperp) < s.force_th_perp_h or m >= s.max_perp_move_h or nfail > 5:
                break
            xt = x + _clip(step * fperp, dmax)
            et, ft = ef(xt)
            if et < e:
                x, e, f = xt, et, ft
                step *= 1.2
                m += 1
                nfail = 0
            else:
                step *= 0.5
                nfail += 1
        res.basin_steps = it + 1
        if it >= s.min_num_ksteps:
            # the well's only question is whether the lowest curvature is below eigen_th_well:
            # converged to eigen_th_lancz of the larger of it and that threshold, and stopped
            # as soon as the Ritz value (an upper bound) is below the threshold
            lr = lanc(x, f, egvec, s.num_lancz_vec_h, atol=s.eigen_th_lancz * abs(s.eigen_th_well),
                      stop_below=s.eigen_th_well)
            lam, egvec = lr.eigenvalue, lr.eigenvector
            say(f"basin {it}: E-E0 {e - e0:.4f} lambda {lam:.4f} |dx| {np.linalg.norm(x - x0):.3f} "
                f"calls {model.n_force_calls - calls0}")
            if lam < s.eigen_th_well:
                left = True
                break
        x = x + _clip(s.basin_factor * s.increment_size * h, dmax)
    res.calls_well = model.n_force_calls - calls0
    res.e_well, res.dr_well = float(e - e0), float(np.linalg.norm(x - x0))
    if not left:
        raise _Stop(FAIL_WELL)
    return x, e, f, egvec, lam, h


def _search(res, s, x0, e0, c, ef, lanc, rng, proj, dmax, cell, pbc, model, keep, say, calls0, start=None):
    n, dim = x0.shape
    if start is None:
        x, e, f, egvec, lam, h = _leave_well(res, s, x0, e0, c, ef, lanc, rng, proj, dmax, cell, pbc, model, say,
                                             calls0)
    else:                       # refine a saddle found elsewhere: converge from there
        x, h = np.array(start[0], dtype=float), np.asarray(start[1], dtype=float)
        e, f = ef(x)
        lr = lanc(x, f, h, s.num_lancz_vec_c)
        lam, egvec = lr.eigenvalue, lr.eigenvector
        res.calls_well = model.n_force_calls - calls0
        res.e_well, res.dr_well = float(e - e0), float(np.linalg.norm(x - x0))

    # ---- 3. converge to the saddle
    if np.vdot(egvec, h) < 0:
        egvec = -egvec
    converged = False
    n_pos = 0
    fstate = None
    for it in range(s.max_activat_iter):
        res.saddle_iters = it + 1
        if it > 0:
            lr = lanc(x, f, egvec, s.num_lancz_vec_c)
            v = lr.eigenvector
            lam, egvec = lr.eigenvalue, (v if np.vdot(v, egvec) >= 0 else -v)
        n_pos = n_pos + 1 if lam > s.eigen_th_fail else 0
        if n_pos > s.max_positive_eigen:
            raise _Stop(FAIL_EIGEN)
        ftot = np.linalg.norm(f)
        res.e_min_climb = float(min(res.e_min_climb, e - e0)) if it else float(e - e0)
        if s.stop_below_initial and e < e0:
            # steepest descent from any point of the initial basin ends at x0 and lowers the energy
            # all the way, so E < E_initial means the search has left that basin
            raise _Stop(FAIL_BELOW)
        say(f"saddle {it}: E-E0 {e - e0:.5f} |F| {ftot:.5f} lambda {lam:.4f} |dx| {np.linalg.norm(x - x0):.3f} "
            f"calls {model.n_force_calls - calls0} rmax {_farthest_moved(x - x0, x0, c, cell, pbc):.2f}")
        if ftot < s.force_th_saddle and n_pos == 0:
            converged = True
            break
        fpar = np.vdot(f, egvec)
        size = min(2.0 * s.increment_size, abs(fpar) / max(abs(lam), 0.5))
        x = x + _clip(-np.sign(fpar) * size * egvec, dmax)
        e, f = ef(x)
        r = fire(ef, x, e, f, direction=egvec, fnorm=s.force_th_perp_sad,
                 max_steps=min(s.max_perp_moves_c, it + s.conv_perp_inc), dmax=dmax, state=fstate)
        x, e, f = r.x, r.energy, r.forces
        fstate = r.state if s.fire_keep_state else None
        if np.linalg.norm(x - x0) < s.sad2min_threshold:
            raise _Stop(FAIL_CLOSE)
    res.calls_saddle = model.n_force_calls - calls0 - res.calls_well
    if not converged:
        raise _Stop(FAIL_CONVERGE)

    # ---- 4. confirmation
    dx = x - x0
    res.e_saddle = float(e)
    res.barrier = float(e - e0)
    res.eigenvalue = float(lam)
    res.sad_dxyz = tuple(float(np.linalg.norm(dx[:, k])) for k in range(dim)) + (0.0,) * (3 - dim)
    res.sad_dr = float(np.linalg.norm(dx))
    if keep:
        res.x_saddle, res.eigenvector = x.copy(), egvec.copy()
    if res.sad_dr < s.sad2min_threshold:
        raise _Stop(FAIL_CLOSE)
    if not res.barrier > 0:
        raise _Stop(FAIL_BARRIER)
    per_atom = np.sqrt((dx * dx).sum(axis=1))
    imax = int(np.argmax(per_atom))
    dist = np.linalg.norm(mic_vectors((x0[imax] - x0[c])[None, :], cell, pbc))
    if dist > s.local_radius:
        raise _Stop(FAIL_LOCAL)
    if s.check_second_eigen:
        v1 = egvec

        def proj2(v):
            v = proj(v)
            return v - np.vdot(v, v1) * v1

        lr2 = lanczos(ef, x, f, v0=None, rng=rng, max_vectors=s.num_lancz_vec_h, delta=s.del_disp_lancz,
                      tol=s.eigen_th_lancz, central=s.lanczos_central, project=proj2)
        res.eigenvalue2 = float(lr2.eigenvalue)
        if lr2.eigenvalue < s.eigen_th_second:
            raise _Stop(FAIL_SECOND)
    sign = 1.0 if np.vdot(egvec, dx) > 0 else -1.0   # +egvec points away from the initial minimum

    def is_initial(xm, em):
        return _max_atom_disp(xm - x0) <= s.max_disp_tol and abs(em - e0) <= s.max_ener_tol

    def record_final(xf, efin) -> None:  # Efinal, dr and nMove of log.event
        res.e_final = float(efin)
        dfin = xf - x0
        res.fin_dr = float(np.linalg.norm(dfin))
        res.n_move = int(np.sum(np.sqrt((dfin * dfin).sum(axis=1)) > s.atom_disp_thr))
        if keep:
            res.x_final = xf.copy()

    xb, eb = _relax_pushed(model, ef, x - sign * s.push_over_saddle * egvec, s)
    back_ok = is_initial(xb, eb)
    if not back_ok and s.flag_push_back == 0:
        xf, efin = xb, eb                   # lammps-ARTn without push back: this side is the new minimum
    else:
        xf, efin = _relax_pushed(model, ef, x + sign * s.push_over_saddle * egvec, s)
        if not back_ok and is_initial(xf, efin):
            # the eigenvector's sign relative to x - x0 was misleading: the other side is the start
            xb, eb, xf, efin, back_ok = xf, efin, xb, eb, True
    record_final(xf, efin)
    if s.flag_push_back and not back_ok:
        say(f"push back: max atom displacement {_max_atom_disp(xb - x0):.3f}, E-E0 {eb - e0:.4f}")
        raise _Stop(FAIL_BACK)
    if is_initial(xf, efin):
        raise _Stop(FAIL_OVER)
    if s.min_fmax_final < s.min_fmax:
        # the new minimum of an accepted event, relaxed further: at min_fmax a soft glass can stop
        # on a plateau tenths of an eV above its minimum (Efinal, nMove and dr of log.event)
        xf, efin = _relax(model, ef, xf, s, fmax=s.min_fmax_final)
        if is_initial(xf, efin):
            raise _Stop(FAIL_OVER)
        record_final(xf, efin)
    res.accepted = True
    res.reason = ACCEPTED


def _farthest_moved(dx, x0, c, cell, pbc) -> float:
    """Distance (Å) from the centre atom ``c`` to the most displaced atom of ``dx`` (in x0)."""
    imax = int(np.argmax((dx * dx).sum(axis=1)))
    return float(np.linalg.norm(mic_vectors((x0[imax] - x0[c])[None, :], cell, pbc)))


def _max_atom_disp(d: np.ndarray) -> float:
    """Largest displacement of one atom (Å)."""
    return float(np.sqrt((d * d).sum(axis=1)).max())


def _relax_pushed(model, ef, x, s):
    """Relax a structure pushed off the saddle: to ``min_fmax``, or to a fifth of the largest
    per-atom force the push created if that is lower.  On a soft saddle (curvature ~ -0.1 eV/Å²)
    a push of ``push_over_saddle`` = 0.2 Å leaves every atom below 0.01 eV/Å, and a minimiser
    stopped at ``min_fmax`` alone would not move at all: the "minimum" would be the saddle."""
    _, f = ef(x)
    fpush = float(np.sqrt((f * f).sum(axis=1)).max())
    return _relax(model, ef, x, s, fmax=min(s.min_fmax, 0.2 * fpush))


def _relax(model, ef, x, s, fmax=None):
    """Minimise from ``x`` to ``fmax`` (default ``s.min_fmax``): the model's own minimiser if it
    has one, else FIRE; returns (x, E)."""
    fmax = s.min_fmax if fmax is None else fmax
    mini = getattr(model, "minimize", None)
    if mini is not None:
        xm, em, _, _ = mini(x, fmax=fmax, max_steps=s.min_max_steps)
        return np.asarray(xm, dtype=float), float(em)
    r = fire(ef, x, fmax=fmax, max_steps=s.min_max_steps, dmax=s.dmax, dt=0.05, dt_max=0.3)
    return r.x, r.energy
