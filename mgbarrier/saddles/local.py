"""Local force region of a saddle search (what kinetic-ART codes do; ``local_force_radius``).

A search centred on atom ``c`` moves only the atoms within ``R_free`` of ``c``; the others
stay at the minimum.  Their forces then need only a sub-system around ``c``, kept in the
periodic box (atoms at minimum-image distance ``d`` from ``c``, in the order):

* free   ``d <= R_free``                       -- the search moves these (original order);
* inner  ``d <= R_free + margin + r_c``        -- frozen, all their pair terms kept;
* outer  ``d <= R_free + margin + 2 r_c``      -- frozen, pair terms between two outer atoms
  dropped (LAMMPS ``neigh_modify exclude``).

``r_c`` is the potential's cut-off.  For EAM (and any potential whose force on an atom depends
on its neighbours' densities) the force on a free atom depends on the atoms within ``2 r_c``,
so while each free atom stays within ``R_free + margin`` of ``c``'s place the forces on the
free atoms and the energy differences are those of the full system with the same atoms
frozen, to round-off (test: 1e-8), whatever the box size: atoms beyond ``R_free + margin +
2 r_c`` are seen by no free atom even through periodic images.  When the sphere does not fit
in the box the sub-system is simply (nearly) all atoms, and only the dropped outer-outer
pairs save time.  The outer shell is most of the sphere's volume, so dropping its pairs
roughly halves the pair work of the sub-system.

The approximation is physical, not numerical: atoms beyond ``R_free`` cannot relax, so saddle
and final energies are somewhat higher than with every atom free (measured with
benchmarks/label_glass_ab.py ``--set local_force_radius=R``; benchmarks/results/label_glass.md).
The barrier is the sub-system's energy difference; energies reported (``e_initial``,
``e_saddle``, ``e_final``) are the full system's initial energy plus the sub-system's
differences.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from ase import Atoms
from ase.geometry import find_mic

from ..errors import MgBarrierError
from .search import SaddleResult, artn_search
from .settings import ArtnSettings

__all__ = ["LocalRegion", "local_artn_search", "LOCAL_MARGIN"]

#: how far (Å) a free atom may move beyond ``R_free`` with exact forces
LOCAL_MARGIN = 0.5


class LocalRegion:
    """The force sub-system of a search centred on atom ``centre`` of ``atoms`` (positions
    ``x0`` (N, 3) Å, a minimum), loaded into ``engine`` (a :class:`mgbarrier.md.LammpsEngine`
    with ``atoms``' cell and pbc, whose atoms it replaces).

    A force model for :func:`~mgbarrier.saddles.artn_search` on the free atoms only:
    ``energy_forces(x_free)`` ((n_free, 3) Å -> eV, (n_free, 3) eV/Å), ``minimize`` (frozen
    atoms held), ``n_force_calls``.  Attributes: ``free`` (indices of the free atoms in
    ``atoms``, ascending), ``x0_free`` ((n_free, 3) Å, unwrapped around the centre), ``centre``
    (the centre's index among the free atoms), ``n_region`` (atoms in the sub-system),
    ``e0`` (sub-system energy at ``x0``, eV), ``max_radius`` (largest distance of a free atom
    from the centre's place over all calls, Å; exact forces while <= ``r_free + margin``).
    """

    def __init__(self, engine, atoms: Atoms, x0: np.ndarray, centre: int, r_free: float,
                 cutoff: Optional[float] = None, margin: float = LOCAL_MARGIN) -> None:
        if not r_free > 0:
            raise MgBarrierError(f"local force region: R_free must be > 0 Å (got {r_free})")
        rc = float(engine.cutoff if cutoff is None else cutoff)
        self.r_free, self.margin = float(r_free), float(margin)
        x0 = np.asarray(x0, dtype=float)
        vec, dist = find_mic(x0 - x0[centre], atoms.cell, atoms.pbc)
        r_inner = self.r_free + self.margin + rc
        r_outer = r_inner + rc
        free = np.flatnonzero(dist <= self.r_free)
        inner = np.flatnonzero((dist > self.r_free) & (dist <= r_inner))
        outer = np.flatnonzero((dist > r_inner) & (dist <= r_outer))
        order = np.concatenate([free, inner, outer])
        sub = atoms[order]
        sub.calc = None
        sub.positions = x0[centre] + vec[order]
        self.free = free
        self.centre = int(np.searchsorted(free, centre))
        self.n_free, self.n_region = len(free), len(order)
        self.x0_free = sub.positions[: self.n_free].copy()
        self._x = sub.positions.copy()
        self._c0 = x0[centre].copy()
        self._engine = engine
        engine.replace_atoms(sub)
        engine.set_frozen(self.n_free, self.n_free + len(inner))
        self.e0, _ = engine.energy_forces(self._x)
        self.max_radius = float(dist[free].max())

    @property
    def n_force_calls(self) -> int:
        return self._engine.n_force_calls

    def _full(self, x_free: np.ndarray) -> np.ndarray:
        x_free = np.asarray(x_free, dtype=float)
        r = float(np.sqrt(((x_free - self._c0) ** 2).sum(axis=1)).max())
        self.max_radius = max(self.max_radius, r)
        x = self._x.copy()
        x[: self.n_free] = x_free
        return x

    def energy_forces(self, x_free: np.ndarray) -> Tuple[float, np.ndarray]:
        e, f = self._engine.energy_forces(self._full(x_free))
        return e, f[: self.n_free]

    def minimize(self, x_free: np.ndarray, *, fmax: float = 1e-3,
                 max_steps: int = 10000) -> Tuple[np.ndarray, float, float, bool]:
        xm, em, fm, ok = self._engine.minimize(self._full(x_free), fmax=fmax, max_steps=max_steps)
        return xm[: self.n_free], em, fm, ok

    @property
    def exact(self) -> bool:
        """Whether every free atom stayed within ``r_free + margin`` of the centre's place."""
        return self.max_radius <= self.r_free + self.margin


def local_artn_search(engine, atoms: Atoms, x0: np.ndarray, centre: int, r_free: float, *,
                      rng: np.random.Generator, settings: Optional[ArtnSettings] = None,
                      e0: Optional[float] = None, cutoff: Optional[float] = None,
                      keep_positions: bool = False, log=None, refine=None) -> SaddleResult:
    """:func:`~mgbarrier.saddles.artn_search` of atom ``centre`` of ``atoms`` (minimum ``x0``,
    (N, 3) Å; its energy ``e0`` eV, else the sub-system's) with only the atoms within
    ``r_free`` Å of it free, in a :class:`LocalRegion` loaded into ``engine``.

    The result is in the full system's terms: ``centre`` its index, energies shifted by
    ``e0 - LocalRegion.e0``, ``x_saddle`` / ``x_final`` full (N, 3) arrays and ``eigenvector``
    zero on the frozen atoms; ``sad_dr``, ``fin_dr``, ``n_move`` count the free atoms (the
    others do not move).  ``n_free``, ``n_region`` and ``region_exact`` describe the region.
    The set-up (one LAMMPS ``run 0`` and one force call) is counted in the search's calls and
    seconds.

    ``refine``: a force model of the full system (e.g. the engine holding ``atoms``): an
    accepted local saddle is then converged again from there with every atom free and
    confirmed in the full system (:func:`artn_search` with ``start``), as kinetic ART refines
    its events; the result is that search's (full-system barrier and verdict), with
    ``local_barrier`` the local one, and calls and seconds of both.
    """
    import time

    s = settings or ArtnSettings()
    if r_free < s.cluster_radius:
        raise MgBarrierError(f"local force region: R_free {r_free} Å is smaller than cluster_radius "
                             f"{s.cluster_radius} Å (the kicked atoms must be free)")
    t0, c0 = time.perf_counter(), time.process_time()
    calls0 = engine.n_force_calls
    region = LocalRegion(engine, atoms, x0, centre, r_free, cutoff)
    res = artn_search(region, region.x0_free, region.centre, rng=rng, settings=s, e0=region.e0, cell=None,
                      pbc=np.zeros(3, dtype=bool), keep_positions=keep_positions or refine is not None, log=log)
    shift = (float(e0) - region.e0) if e0 is not None else 0.0
    res.centre = int(centre)
    res.e_initial += shift
    res.e_saddle += shift
    res.e_final += shift
    res.n_free, res.n_region, res.region_exact = region.n_free, region.n_region, region.exact
    x0 = np.asarray(x0, dtype=float)
    for name in ("x_saddle", "x_final"):
        xf = getattr(res, name)
        if xf is not None:
            full = x0.copy()
            full[region.free] += xf - region.x0_free
            setattr(res, name, full)
    if res.eigenvector is not None:
        full = np.zeros_like(x0)
        full[region.free] = res.eigenvector
        res.eigenvector = full
    res.force_calls = int(engine.n_force_calls - calls0)
    res.local_barrier = res.barrier
    if refine is not None and res.accepted:
        local = res
        calls1 = refine.n_force_calls
        res = artn_search(refine, x0, centre, rng=rng, settings=s, e0=e0, cell=atoms.cell.array, pbc=atoms.pbc,
                          keep_positions=keep_positions, log=log, start=(local.x_saddle, local.eigenvector))
        res.force_calls = local.force_calls + int(refine.n_force_calls - calls1)
        res.calls_refine = int(refine.n_force_calls - calls1)
        res.calls_well, res.calls_saddle = local.calls_well, local.calls_saddle
        res.calls_confirm = res.force_calls - res.calls_well - res.calls_saddle
        res.n_cluster, res.basin_steps, res.e_well, res.dr_well = (local.n_cluster, local.basin_steps, local.e_well,
                                                                   local.dr_well)
        res.n_free, res.n_region, res.region_exact = local.n_free, local.n_region, local.region_exact
        res.local_barrier = local.barrier
        if not keep_positions:
            local.x_saddle = local.x_final = local.eigenvector = None
    elif not keep_positions:
        res.x_saddle = res.x_final = res.eigenvector = None
    res.seconds = time.perf_counter() - t0
    res.cpu_seconds = time.process_time() - c0
    return res
