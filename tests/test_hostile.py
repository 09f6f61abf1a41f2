"""Hostile inputs (issue 15): one test per class, parametrised over the cases.

Every entry point (CLI, Python API, ASE calculator, OVITO modifier) must refuse each case
with one :class:`MgBarrierError` line (CLI: ``mgbarrier: error: ...`` or argparse's error
line, exit status 2; OVITO: a RuntimeError with that line), never a hang, a traceback or a
silent number, and leave no output or temporary file behind.  README: "What the tool
refuses, and how".
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.io import write
from conftest import FIXTURE, make_glass, write_tiny_model
from test_artn import event_row, write_data, write_log

import mgbarrier
from mgbarrier.calculator import BarrierCalculator
from mgbarrier.cli.main import main
from mgbarrier.errors import MgBarrierError
from mgbarrier.io.structures import iread_structures
from mgbarrier.pipeline import predict_file

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("hostile") / "tiny.pt")


def one_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert lines, "no message"
    assert "Traceback" not in text
    for leak in ("UnboundLocalError", "StopIteration", "KeyError", "np.int64"):
        assert leak not in text, text
    return lines[-1]


def leftovers(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


# ----------------------------------------------------------------------------- structures
def _structures():
    g = make_glass()
    a = g.copy()
    a.positions[3, 0] = np.nan
    yield "nan-coordinate", a, "non-finite coordinates"
    a = g.copy()
    a.cell[0, 0] = np.nan
    yield "nan-cell", a, "non-finite cell"
    a = g.copy()
    a.cell[:] = 0.0
    yield "zero-cell", a, "degenerate"
    a = g.copy()
    a.cell[2] = a.cell[0]
    yield "singular-cell", a, "degenerate"
    a = g.copy()
    a.positions[1] = a.positions[0] + 0.1
    yield "overlap", a, "overlapping atoms"
    yield "two-atoms-1e9-box", Atoms("CuZr", positions=[[0, 0, 0], [1, 1, 1]], cell=[1e9] * 3, pbc=True), "bins"
    yield "two-atoms-1e8-apart", Atoms("CuZr", positions=[[0, 0, 0], [1e8, 0, 0]]), "wrong units"
    yield "one-cu-0.2-cell", Atoms("Cu", cell=[0.2] * 3, pbc=True), "denser than any solid"
    yield "1e17-coordinates", Atoms("CuZr", positions=[[0, 0, 0], [1e17, 0, 0]]), "wrong units"


STRUCTURES = list(_structures())


def _ovito_apply(atoms, tiny):
    pytest.importorskip("ovito")
    mgbarrier_ovito = pytest.importorskip("mgbarrier_ovito")
    from ovito.data import DataCollection, ParticleType

    data = DataCollection()
    data.create_cell(atoms.cell.array, pbc=tuple(bool(p) for p in atoms.pbc))
    parts = data.create_particles(count=len(atoms))
    parts.create_property("Position", data=atoms.positions)
    types = parts.create_property("Particle Type")
    types.types.append(ParticleType(id=1, name="Cu"))
    types.types.append(ParticleType(id=2, name="Zr"))
    types[...] = [1 if s == "Cu" else 2 for s in atoms.get_chemical_symbols()]
    with pytest.raises(MgBarrierError) as direct:
        mgbarrier_ovito.convert.atoms_from_data(data)
    with pytest.raises(RuntimeError) as err:
        data.apply(mgbarrier_ovito.EnergyBarrierModifier(model_file=str(tiny)))
    problem = str(direct.value).split(": ", 1)[1]
    assert str(err.value).startswith("Energy Barrier (mgbarrier): ") and problem in str(err.value)
    raise MgBarrierError(str(direct.value))


@pytest.mark.parametrize("entry", ["api", "descriptor", "calculator", "ovito"])
@pytest.mark.parametrize("name,atoms,words", STRUCTURES, ids=[s[0] for s in STRUCTURES])
def test_structure_refused_by_every_entry_point(name, atoms, words, entry, tiny):
    t0 = time.perf_counter()
    with pytest.raises(MgBarrierError, match=words) as err:
        if entry == "api":
            mgbarrier.load_model(tiny).predict(atoms.copy())
        elif entry == "descriptor":
            pytest.importorskip("dscribe")
            mgbarrier.load_model("cu64zr36-descriptor").predict(atoms.copy())
        elif entry == "calculator":
            a = atoms.copy()
            a.calc = BarrierCalculator(model=str(tiny))
            a.calc.get_property("barriers", a)
        else:
            _ovito_apply(atoms, tiny)
    assert "\n" not in str(err.value)
    assert time.perf_counter() - t0 < 30


def test_two_atoms_in_a_huge_box_are_refused_in_bounded_memory(tmp_path):
    """2 GB address space, under a second for the check, one line (was: all memory)."""
    script = (
        "import resource, sys, time\n"
        "from ase import Atoms\n"
        "from mgbarrier.graphs.checks import validate_atoms\n"
        "from mgbarrier.errors import MgBarrierError\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2_000_000_000, 2_000_000_000))\n"
        "t = time.perf_counter()\n"
        "try:\n"
        "    validate_atoms(Atoms('CuZr', positions=[[0, 0, 0], [1, 1, 1]], cell=[1e9] * 3, pbc=True), 'box')\n"
        "except MgBarrierError as e:\n"
        "    print(f'{time.perf_counter() - t:.3f}'); print(e); sys.exit(2)\n"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 2, r.stderr
    seconds, line = r.stdout.strip().splitlines()
    assert float(seconds) < 1.0
    assert line.startswith("box: 2 atoms in a region of 1e+09")


# ----------------------------------------------------------------------------- outputs
def _cli_inputs(tmp_path: Path) -> dict:
    g = make_glass()
    write(tmp_path / "g.extxyz", g)
    labelled = g.copy()
    labelled.arrays["barrier"] = np.full(len(g), 1.0)
    write(tmp_path / "lab.extxyz", labelled)
    write_data(tmp_path / "glass.data", make_glass(n_cells=2, seed=3))
    write_log(tmp_path / "log.event.1", [event_row(1, 0.5, 1)])
    return {
        "predict": ["predict", "g.extxyz", "--model", "{tiny}", "-q", "-o", "{out}"],
        "train": ["train", "--train", "lab.extxyz", "--epochs", "1", "-o", "{out}"],
        "artn-labels": ["artn-labels", "--structure", "glass.data", "--events", "log.event.1", "-q", "-o", "{out}"],
        "import-symgnn": ["import-symgnn", "g.extxyz", "-o", "{out}"],
        "glass-metrics": ["glass-metrics", "g.extxyz", "-q", "-o", "{out}"],
    }


def _run(argv, tmp_path, tiny, out, capsys):
    argv = [a.format(tiny=tiny, out=out) for a in argv]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code
    finally:
        os.chdir(cwd)
    return rc, capsys.readouterr()


COMMANDS = ["predict", "train", "artn-labels", "import-symgnn", "glass-metrics"]


@pytest.mark.parametrize("target", ["input", "directory", "missing-folder", "full-disk", "wrong-extension"])
@pytest.mark.parametrize("command", COMMANDS)
def test_bad_output_refused_by_every_command(command, target, tmp_path, tiny, capsys):
    argv = _cli_inputs(tmp_path)[command]
    inp = {"predict": "g.extxyz", "train": "lab.extxyz", "artn-labels": "glass.data",
           "import-symgnn": "g.extxyz", "glass-metrics": "g.extxyz"}[command]
    before = (tmp_path / inp).read_bytes()
    if target == "input":
        out = inp
    elif target == "directory":
        out = str(tmp_path)
    elif target == "missing-folder":
        out = "nowhere/out.extxyz"
    elif target == "full-disk":
        if not Path("/dev/full").exists():
            pytest.skip("no /dev/full")
        out = "full.pt" if command == "train" else "full.csv" if command == "glass-metrics" else "full.extxyz"
        os.symlink("/dev/full", tmp_path / out)
    else:
        if command not in ("artn-labels", "import-symgnn", "train"):
            pytest.skip("this command writes what the name says")
        out = "x.lammpstrj"
    rc, cap = _run(argv, tmp_path, tiny, out, capsys)
    assert rc == 2, cap.err
    line = one_line(cap.err)
    assert "error" in line
    assert (tmp_path / inp).read_bytes() == before
    assert leftovers(tmp_path) == []
    if target == "full-disk":
        assert (tmp_path / out).is_symlink()
    if target == "wrong-extension":
        assert not (tmp_path / out).exists()


@pytest.mark.parametrize("target", ["/dev/null", "symlink-to-stdout"])
def test_non_regular_target_is_written_through(target, tmp_path, tiny):
    write(tmp_path / "g.extxyz", make_glass())
    if target == "/dev/null":
        out = Path("/dev/null")
    else:
        out = tmp_path / "s.extxyz"
        os.symlink("/proc/self/fd/1", out)
    # a subprocess: its fd 1 is a pipe, as in a shell (pytest's capture would be a regular file)
    r = subprocess.run([sys.executable, "-m", "mgbarrier.cli.main", "predict", str(tmp_path / "g.extxyz"),
                        "--model", str(tiny), "-q", "--output-format", "extxyz", "-o", str(out)],
                       capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    if target == "/dev/null":
        assert out.is_char_device()
    else:
        assert out.is_symlink()
        assert "barrier" in r.stdout
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_mid_write_leaves_no_temporary_file(sig, tmp_path):
    script = (
        "import sys, time\n"
        "import mgbarrier.cli.import_symgnn as cmd\n"
        "from mgbarrier.io.files import AtomicOutput\n"
        "def slow(args):\n"
        "    with AtomicOutput(args.output) as out:\n"
        "        out.write('half a file')\n"
        "        print('writing', flush=True)\n"
        "        time.sleep(60)\n"
        "cmd.run = slow\n"
        "from mgbarrier.cli.main import main\n"
        "sys.exit(main(['import-symgnn', 'in.pickle', '-o', 'out.extxyz']))\n"
    )
    (tmp_path / "in.pickle").write_bytes(b"x")
    p = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "writing"
    assert any(".out.extxyz.tmp-" in n.name for n in tmp_path.iterdir())
    p.send_signal(sig)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130
    assert one_line(err) == "mgbarrier: interrupted"
    assert sorted(n.name for n in tmp_path.iterdir()) == ["in.pickle"]


# ----------------------------------------------------------------------------- species
def _dump(path: Path, atoms, element: bool) -> Path:
    lines = ["ITEM: TIMESTEP", "0", "ITEM: NUMBER OF ATOMS", str(len(atoms)), "ITEM: BOX BOUNDS pp pp pp"]
    lines += [f"0 {atoms.cell[k, k]}" for k in range(3)]
    lines.append("ITEM: ATOMS id type element x y z" if element else "ITEM: ATOMS id type x y z")
    for i, (s, p) in enumerate(zip(atoms.get_chemical_symbols(), atoms.positions)):
        t = 1 if s == "Cu" else 2
        lines.append(f"{i + 1} {t}" + (f" {s}" if element else "") + f" {p[0]} {p[1]} {p[2]}")
    path.write_text("\n".join(lines) + "\n")
    return path


SPECIES = [
    ("duplicate-keys", "g.extxyz", "1=Cu,1=Zr,2=Zr", "given twice"),
    ("against-masses", "glass.data", "1=Zr,2=Cu", "mass"),
    ("against-extxyz-species", "typed.extxyz", "1=Zr,2=Cu", "the file says Cu"),
    ("against-dump-element", "e.lammpstrj", "1=Zr,2=Cu", "the file says Cu"),
    ("dump-any-name-no-species", "traj.atom", None, "have no element"),
]


@pytest.mark.parametrize("name,inp,species,words", SPECIES, ids=[s[0] for s in SPECIES])
def test_species_contradictions_refused(name, inp, species, words, tmp_path, tiny, capsys):
    g = make_glass()
    write(tmp_path / "g.extxyz", g)
    typed = g.copy()
    typed.arrays["type"] = np.where(np.array(g.get_chemical_symbols()) == "Cu", 1, 2)
    write(tmp_path / "typed.extxyz", typed)
    write_data(tmp_path / "glass.data", g)  # types in order Cu, Zr, with Masses
    _dump(tmp_path / "e.lammpstrj", g, element=True)
    _dump(tmp_path / "traj.atom", g, element=False)
    argv = ["predict", inp, "--model", "{tiny}", "-q", "-o", "{out}"] + (["--species", species] if species else [])
    rc, cap = _run(argv, tmp_path, tiny, "out.extxyz", capsys)
    assert rc == 2
    assert words in one_line(cap.err)
    assert not (tmp_path / "out.extxyz").exists()
    if name == "dump-any-name-no-species":  # recognised as a dump by its ITEM: header, not read as H/He
        atoms = next(iread_structures(tmp_path / inp, {1: "Cu", 2: "Zr"}))
        assert atoms.get_chemical_symbols() == g.get_chemical_symbols()


def test_shared_fixture_masses_contradiction(tmp_path, tiny):
    data = FIXTURE / "data.pos"
    if not data.exists():
        pytest.skip(f"needs {data}")
    with pytest.raises(MgBarrierError, match="type 1 is Cu .* mass 91.22"):
        predict_file(data, tmp_path / "o.extxyz", model=str(tiny), species_map={1: "Cu", 2: "Zr"}, quiet=True)


# ----------------------------------------------------------------------------- model files
def _bad_models():
    def nan_weight(c):
        k = next(iter(c["state_dict"]))
        c["state_dict"][k] = c["state_dict"][k].clone().fill_(float("nan"))

    yield "nan-weight", nan_weight, "non-finite weights"
    yield "nan-label-std", lambda c: c.__setitem__("label_std", float("nan")), "label_std"
    yield "zero-label-std", lambda c: c.__setitem__("label_std", 0.0), "label_std must be > 0"
    yield "label-mean-abc", lambda c: c.__setitem__("label_mean", "abc"), "label_mean must be a number"
    yield "negative-cutoff", lambda c: c["config"].__setitem__("cutoff", -1.0), "cutoff"
    yield "nan-cutoff", lambda c: c["config"].__setitem__("cutoff", float("nan")), "cutoff"
    yield "zero-cutoff", lambda c: c["config"].__setitem__("cutoff", 0.0), "cutoff"
    yield "lebedev-48", lambda c: c["config"].__setitem__("lebedev_order", 48), "invalid model configuration"
    yield "radial-points-0", lambda c: c["config"].__setitem__("radial_points", 0), "radial_points"
    yield "text-file", None, "not a model file"


BAD_MODELS = list(_bad_models())


@pytest.mark.parametrize("name,change,words", BAD_MODELS, ids=[m[0] for m in BAD_MODELS])
def test_bad_model_file_refused_at_load(name, change, words, tmp_path, tiny):
    path = tmp_path / "bad.pt"
    if change is None:
        path.write_text("hello, I am a text file\n")
    else:
        ckpt = torch.load(tiny, weights_only=True)
        change(ckpt)
        torch.save(ckpt, path)
    with pytest.raises(MgBarrierError, match=words) as err:
        mgbarrier.load_model(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


# ----------------------------------------------------------------------------- reads
READS = [
    ("count-line-999999999999", "big.extxyz", "999999999999\nProperties=species:S:1:pos:R:3\nCu 0 0 0\n",
     "count line says 999999999999"),
    ("empty-file", "empty.extxyz", "", "file is empty"),
    ("data-without-atoms", "x.data", "x\n\n2 atoms\n1 atom types\n0 10 xlo xhi\n0 10 ylo yhi\n0 10 zlo zhi\n\n"
     "Masses\n\n1 63.55\n", "no Atoms section"),
    ("data-undeclared-type", "t.data", "x\n\n2 atoms\n2 atom types\n0 10 xlo xhi\n0 10 ylo yhi\n0 10 zlo zhi\n\n"
     "Masses\n\n1 63.55\n2 91.22\n\nAtoms\n\n1 1 0 0 0\n2 3 2 2 2\n", "atom type 3 is not declared"),
]


@pytest.mark.parametrize("name,fname,text,words", READS, ids=[r[0] for r in READS])
def test_bad_input_refused_at_once(name, fname, text, words, tmp_path, tiny):
    (tmp_path / fname).write_text(text)
    t0 = time.perf_counter()
    # an empty file is refused before any model is loaded (this one does not exist)
    model = str(tmp_path / "absent.pt") if name == "empty-file" else mgbarrier.load_model(tiny)
    with pytest.raises(MgBarrierError, match=words):
        predict_file(tmp_path / fname, tmp_path / "o.extxyz", model=model, quiet=True)
    assert time.perf_counter() - t0 < 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == [fname]


# ----------------------------------------------------------------------------- options
OPTIONS = [
    ["predict", "g.extxyz", "-o", "o.extxyz", "--device", "bogus"],
    ["predict", "g.extxyz", "-o", "o.extxyz", "--n-transforms", "0"],
    ["predict", "g.extxyz", "-o", "o.extxyz", "--frames", "0:3:0"],
    ["predict", "g.extxyz", "-o", "o.extxyz", "--species", "1=Cu,1=Zr"],
    ["train", "--train", "g.extxyz", "-o", "m.pt", "--hidden", "0"],
    ["train", "--train", "g.extxyz", "-o", "m.pt", "--k", "0"],
    ["train", "--train", "g.extxyz", "-o", "m.pt", "--cutoff", "0"],
    ["train", "--train", "g.extxyz", "-o", "m.pt", "--cutoff", "-1"],
    ["train", "--train", "g.extxyz", "-o", "m.pt", "--lr", "nan"],
    ["train", "--train", "g.extxyz", "-o", "m.pt", "--dropout", "1.5"],
    ["train", "--train", "g.extxyz", "-o", "m.pt", "--epochs", "0"],
    ["train", "--train", "g.extxyz", "-o", "m.pt", "--species-list", "Cu,Qq"],
    ["train", "--train", "g.extxyz", "-o", "m.pt", "--species-list", "Cu,Cu"],
    ["explain", "g.extxyz", "--atom", "0", "-o", "ex", "--epochs", "0"],
    ["explain", "g.extxyz", "--atom", "0", "-o", "ex", "--lr", "inf"],
    ["glass-metrics", "g.extxyz", "--k", "0"],
    ["glass-metrics", "g.extxyz", "--frames", "::0"],
    ["glass-train", "data", "--dataset", "1", "-o", "m.pt", "--dropout", "2"],
]


@pytest.mark.parametrize("argv", OPTIONS, ids=[" ".join(a[-2:]) + f" ({a[0]})" for a in OPTIONS])
def test_bad_option_is_argparse_error(argv, tmp_path, capsys):
    write(tmp_path / "g.extxyz", make_glass())
    rc, cap = _run(argv, tmp_path, "", "", capsys)
    assert rc == 2
    assert len(cap.err.strip().splitlines()) == 1, cap.err  # no usage block: the one error line only
    assert one_line(cap.err).startswith(f"mgbarrier: error: mgbarrier {argv[0]}: argument")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.extxyz"]


# ----------------------------------------------------------------------------- labels
def test_artn_implausible_barrier_is_dropped_and_counted(tmp_path):
    from mgbarrier.io.artn import MAX_BARRIER, REJECT_IMPLAUSIBLE, artn_labels

    data = write_data(tmp_path / "glass.data", make_glass(n_cells=2, seed=3))
    write_log(tmp_path / "log.event.1", [event_row(1, 1e30, 1), event_row(2, 0.5, 2)])
    atoms, summary = artn_labels(data, str(tmp_path / "log.event.1"))
    b = atoms.arrays["barrier"]
    assert np.nanmax(b) <= MAX_BARRIER and np.isnan(b[0]) and b[1] == pytest.approx(0.5)
    assert summary["events_rejected"] == {REJECT_IMPLAUSIBLE: 1}


# ----------------------------------------------------------------------------- audited cases (session 14)
def _symgnn_pickle(path: Path, change: str) -> None:
    import pickle

    g = make_glass()
    d = {"positions": g.positions - g.cell.lengths() / 2, "box": g.cell.lengths().copy(),
         "types": np.where(g.numbers == 29, 1, 2), "trajectory_start_velocities": np.full(len(g), 1.5)}
    if change == "nan":
        d["positions"][1, 0] = np.nan
    else:
        d["box"][:] = 0.0
    path.write_bytes(pickle.dumps(d))


AUDITED = {
    # a run folder that is a file, or under one
    "run-dir-is-a-file": (["train", "--train", "lab.extxyz", "--epochs", "1", "-o", "m.pt", "--run-dir", "g.extxyz"],
                          "is a file, not a run folder"),
    "run-dir-under-a-file": (["train", "--train", "lab.extxyz", "--epochs", "1", "-o", "m.pt", "--run-dir",
                              "g.extxyz/sub"], "cannot make the run folder"),
    # labels that are all the same: refused before any run folder is made, naming the file
    "constant-labels": (["train", "--train", "lab.extxyz", "--epochs", "1", "-o", "m.pt"], "zero variance"),
    # names for the predicted array that no format can hold, or that it keeps for itself
    "output-name-empty": (["predict", "g.extxyz", "--model", "{tiny}", "-q", "--output-name", "", "-o", "out.extxyz"],
                          "is not a name"),
    "output-name-space": (["predict", "g.extxyz", "--model", "{tiny}", "-q", "--output-name", "a b", "-o",
                           "out.extxyz"], "is not a name"),
    "output-name-pos": (["predict", "g.extxyz", "--model", "{tiny}", "-q", "--output-name", "pos", "-o",
                         "out.extxyz"], "keep for themselves"),
    "output-name-taken": (["predict", "lab.extxyz", "--model", "{tiny}", "-q", "--output-name", "mine", "-o",
                           "out.extxyz"], "already has per-atom 'mine' values, which are never replaced"),
    # a scheduler file that is not one
    "scheduler-file-not-json": (["predict", "g.extxyz", "--model", "{tiny}", "-q", "--scheduler", "bad.json", "-o",
                                 "out.extxyz"], "not a Dask scheduler file"),
    "scheduler-file-no-address": (["predict", "g.extxyz", "--model", "{tiny}", "-q", "--scheduler", "list.json",
                                   "-o", "out.extxyz"], "no 'address'"),
    # published pickles that predict and train would refuse
    "import-nan": (["import-symgnn", "nan.pickle", "-o", "out.extxyz"], "non-finite coordinates"),
    "import-zero-box": (["import-symgnn", "zero.pickle", "-o", "out.extxyz"], "zero-volume"),
}


@pytest.mark.parametrize("case", list(AUDITED))
def test_audited_bad_inputs_are_one_line_exit_2_nothing_written(case, tmp_path, tiny, capsys):
    argv, words = AUDITED[case]
    g = make_glass()
    write(tmp_path / "g.extxyz", g)
    lab = g.copy()
    lab.arrays["barrier"] = np.full(len(g), 1.0 if case == "constant-labels" else 0.0)
    if case != "constant-labels":
        lab.arrays["barrier"] = np.linspace(0.5, 2.0, len(g))
    lab.arrays["mine"] = np.zeros(len(g))  # an array of the user's, never replaced
    write(tmp_path / "lab.extxyz", lab)
    (tmp_path / "bad.json").write_text("{bad")
    (tmp_path / "list.json").write_text("[]")
    _symgnn_pickle(tmp_path / "nan.pickle", "nan")
    _symgnn_pickle(tmp_path / "zero.pickle", "zero")
    (tmp_path / "out.extxyz").write_text("old output\n")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    rc, cap = _run(argv, tmp_path, tiny, "", capsys)
    assert rc == 2, cap.err
    assert len(cap.err.strip().splitlines()) == 1, cap.err
    assert words in one_line(cap.err)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before  # nothing made or changed
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before)


def test_an_artn_settings_file_without_any_parameter_is_refused(tmp_path):
    from mgbarrier.saddles import ArtnSettings

    junk = tmp_path / "junk.artn"
    junk.write_text("not a log.artn\nat all\n")
    with pytest.raises(MgBarrierError, match="junk.artn: no ARTn parameter in it"):
        ArtnSettings.from_artn_log(junk)
    (tmp_path / "ok.artn").write_text("eigen_th_well  -0.3   # comment\n")
    assert ArtnSettings.from_artn_log(tmp_path / "ok.artn").eigen_th_well == -0.3


def test_a_bad_max_memory_variable_is_named(tmp_path, tiny, capsys, monkeypatch):
    write(tmp_path / "g.extxyz", make_glass())
    monkeypatch.setenv("MGBARRIER_MAX_MEMORY", "abc")
    rc, cap = _run(["predict", "g.extxyz", "--model", "{tiny}", "-q", "-o", "out.extxyz"], tmp_path, tiny, "", capsys)
    assert rc == 2
    assert "$MGBARRIER_MAX_MEMORY: max memory must be a number of GB, got 'abc'" in one_line(cap.err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.extxyz"]


# ----------------------------------------------------------------------------- Python API (audit, session 14)
class _Spread:
    """A stand-in committee member: barrier = 1 + scale * (atom index / N)."""

    kind, metadata, path, species, cutoff = "fixed", {}, "fixed", ["Cu", "Zr"], 5.0

    def __init__(self, scale):
        self.scale = scale

    def predict(self, atoms):
        return 1.0 + self.scale * np.arange(len(atoms)) / len(atoms)


def _api_cases(tiny: Path, tmp_path: Path):
    import pickle

    from mgbarrier.graphs.checks import validate_atoms
    from mgbarrier.io.species import element_from_mass, resolve_species
    from mgbarrier.io.symgnn_pickle import read_symgnn_pickle
    from mgbarrier.md import Potential
    from mgbarrier.models.chunked import set_max_memory

    g = make_glass()
    write(tmp_path / "g.extxyz", g)
    huge = g.copy()
    huge.arrays["barrier"] = np.full(len(g), 1e200)
    calc = BarrierCalculator(model=[_Spread(s) for s in (0.0, 0.5, 1.0)])
    odd = g.copy()
    odd.arrays["positions"] = np.array([["a", 0.0, 0.0]] * len(g), dtype=object)  # set past ASE's float check

    def pickled(name, **change):
        d = {"positions": g.positions - g.cell.lengths() / 2, "box": g.cell.lengths().copy(),
             "types": np.where(g.numbers == 29, 1, 2).astype(float), "trajectory_start_velocities": np.ones(len(g))}
        d.update(change)
        (tmp_path / name).write_bytes(pickle.dumps(d))
        return tmp_path / name

    return {
        # a LAMMPS command among the potential's extras ran (a `run` hung the process)
        "potential-extra-run": (lambda: Potential.from_options("eam/fs", ["* * CuZr_mm.eam.fs Cu Zr"],
                                                               extra=["run 100000000"]), "extra command"),
        # labels far beyond any barrier made alpha infinite and every error bar inf
        "calibrate-huge-labels": (lambda: calc.calibrate([huge]), "are not barriers"),
        "calibrate-not-atoms": (lambda: calc.calibrate([None]), "not an ase.Atoms"),
        "calibrate-nothing": (lambda: calc.calibrate(None), "no labelled atoms"),
        "predict-file-frames-int": (lambda: mgbarrier.predict_file(tmp_path / "g.extxyz", tmp_path / "o.extxyz",
                                                                 model=tiny, frames=3), "frames must be a slice"),
        "predict-file-quench-text": (lambda: mgbarrier.predict_file(tmp_path / "g.extxyz", tmp_path / "o.extxyz",
                                                                  model=tiny, quench="eam/fs"), "quench must be"),
        "predict-file-no-output": (lambda: mgbarrier.predict_file(tmp_path / "g.extxyz", None, model=tiny),
                                   "output must be a file path"),
        "potential-style-none": (lambda: Potential.from_options(None, ["* * CuZr_mm.eam.fs Cu Zr"]),
                                 "pair_style must be text"),
        "potential-coeff-number": (lambda: Potential.from_options("eam/fs", 123), "pair_coeff must be"),
        "output-name-number": (lambda: mgbarrier.predict_file(tmp_path / "g.extxyz", tmp_path / "o.extxyz", model=tiny,
                                                            output_name=123), "is not a name"),
        # a NaN mass matched rhenium
        "nan-mass": (lambda: element_from_mass(float("nan"), "glass.data"), "not a positive finite number"),
        "species-map-not-element": (lambda: resolve_species(np.array([1, 2]), {1: "Qq", 2: "Zr"}), "not a chemical"),
        "n-transforms-0": (lambda: mgbarrier.load_model(tiny, n_transforms=0), "positive whole number"),
        "calculator-fmax-text": (lambda: BarrierCalculator(model=tiny, quench_fmax="abc"), "must be numbers"),
        "calculator-calibration-text": (lambda: BarrierCalculator(model=tiny, calibration="abc"),
                                        "calibration must be a number"),
        "calculator-steps-fraction": (lambda: BarrierCalculator(model=tiny, quench_max_steps=2.5), "whole number"),
        "predict-file-fmax-text": (lambda: mgbarrier.predict_file(tmp_path / "g.extxyz", tmp_path / "o.extxyz",
                                                                model=tiny, quench_fmax="abc"), "must be numbers"),
        "predict-file-fmax-zero": (lambda: mgbarrier.predict_file(tmp_path / "g.extxyz", tmp_path / "o.extxyz",
                                                                model=tiny, quench_fmax=0), "positive number"),
        "get-barriers-nothing-attached": (lambda: BarrierCalculator(model=tiny).get_barriers(), "no structure"),
        "get-barriers-text": (lambda: BarrierCalculator(model=tiny).get_barriers("glass.xyz"), "expected an ase.Atoms"),
        "calculator-model-number": (lambda: BarrierCalculator(model=123), "file path or a shipped model name"),
        "n-transforms-float": (lambda: mgbarrier.load_model(tiny, n_transforms=2.5), "positive whole number"),
        "model-not-a-path": (lambda: mgbarrier.load_model(123), "file path or a shipped model name"),
        "max-memory-text": (lambda: set_max_memory(mgbarrier.load_model(tiny), "abc"), "number of GB"),
        "predict-none": (lambda: mgbarrier.load_model(tiny).predict(None), "expected an ase.Atoms"),
        "object-coordinates": (lambda: validate_atoms(odd, "odd"), "coordinates are not numbers"),
        "pickle-fractional-types": (lambda: read_symgnn_pickle(pickled("t.pickle", types=np.full(len(g), 1.7))),
                                    "whole numbers"),
        "pickle-label-length": (lambda: read_symgnn_pickle(pickled("l.pickle", trajectory_start_velocities=np.ones(5))),
                                "barrier labels"),
        "pickle-text-positions": (lambda: read_symgnn_pickle(pickled("p.pickle", positions=np.array(["a"] * 3))),
                                  "must be numbers"),
    }


API_CASES = ["potential-extra-run", "calibrate-huge-labels", "calibrate-not-atoms", "calibrate-nothing",
             "predict-file-frames-int", "predict-file-quench-text", "predict-file-no-output", "potential-style-none",
             "potential-coeff-number",
             "output-name-number", "nan-mass",
             "species-map-not-element", "n-transforms-0", "calculator-fmax-text", "calculator-calibration-text",
             "calculator-model-number", "n-transforms-float", "model-not-a-path", "max-memory-text",
             "predict-none", "object-coordinates", "pickle-fractional-types", "pickle-label-length",
             "pickle-text-positions", "calculator-steps-fraction", "predict-file-fmax-text", "predict-file-fmax-zero",
             "get-barriers-nothing-attached", "get-barriers-text"]


@pytest.mark.parametrize("case", API_CASES)
def test_python_api_refuses_with_one_error_line(case, tiny, tmp_path):
    call, words = _api_cases(tiny, tmp_path)[case]
    with pytest.raises(MgBarrierError) as err:
        call()
    assert "\n" not in str(err.value) and words in str(err.value), str(err.value)
