"""lammps-ARTn log.event parsing, per-atom labels, run directories and the artn-labels CLI."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import ase.io
import numpy as np
import pytest
from conftest import FIXTURE, make_glass, need

from mgbarrier.cli import main
from mgbarrier.errors import MgBarrierError
from mgbarrier.io.artn import (
    REJECT_INCOMPLETE,
    REJECT_MOVED,
    REJECT_NONFINITE,
    REJECT_NONPOSITIVE,
    artn_labels,
    find_run_files,
    labelled_structure_from_run,
    parse_event_log,
)

# header of log.event as lammps-ARTn writes it (flag_push_over 1, flag_press 1): print_info(2) in min_artn.cpp
HEADER = (
    "#  1       2        3       4      5      6      7       8        9   10    11      12      13        14"
    "        15         16         17       18     19        20        21        22       23      24\n"
    "#Event   del-E   egv-sad   nsadl sad-dx sad-dy sad-dz  sad-dr    ref  sad   min   center   Eref      Emin"
    "     nMove        pxx        pyy      pzz    pxy      pxz       pyz     Efinal   status    dr\n"
    "#" + "-" * 199 + "\n"
)
# flag_press 0: print_info(3)
HEADER_NO_PRESS = (
    "#  1       2        3       4      5      6       7       8       9    10   11      12     13        14"
    "        15      16       17    18\n"
    "#Event   del-E   egv-sad   nsadl sad-dx sad-dy  sad-dz  sad-dr   ref  sad   min   center   Eref      Emin"
    "     nMove   Efinal    status dr\n"
    "#" + "-" * 136 + "\n"
)


def event_row(event, del_e, center, status=0, ref=0, eref=-46194.16043, press=True) -> str:
    """One row with the printf formats of min_artn.cpp (iterate, analysis_saddle, metropolis)."""
    row = "%5d %9.6f %7.3f" % (event, del_e, -0.025)
    row += " %5d %7.2f %7.2f %7.2f %7.2f" % (15, 2.27, 2.55, 1.82, 3.87)
    row += " %5d %4d %5d %7d %10.3f %10.3f" % (ref, event, event, center, eref, eref + 0.198)
    row += " %5d" % 13
    if press:
        row += "".join(" %10g" % p for p in (31.5556, -376.283, 368.847, -417.302, 299.806, -506.323))
    row += " %12.5f %2d %8.5f\n" % (eref, status, 4.37062)
    return row


def write_log(path: Path, rows, header=HEADER) -> Path:
    path.write_text(header + "".join(rows))
    return path


def write_data(path: Path, atoms) -> Path:
    """A LAMMPS data file with a Masses section (ids 1..N, types in order Cu, Zr)."""
    ase.io.write(str(path), atoms, format="lammps-data", masses=True, specorder=["Cu", "Zr"])
    return path


@pytest.fixture
def small(tmp_path):
    atoms = make_glass(n_cells=2, seed=3)  # 32 atoms
    return atoms, write_data(tmp_path / "glass.data", atoms)


# ----------------------------------------------------------------------------- real fixture
def test_generated_row_matches_real_file_format():
    real = need(FIXTURE / "log.event.1").read_text()
    assert real == HEADER + event_row(1, 0.266886, 8055)


def test_real_fixture_labels_one_atom():
    data = need(FIXTURE / "data.pos")
    atoms, summary = artn_labels(data, str(FIXTURE / "log.event.1"))
    b = atoms.arrays["barrier"]
    ids = atoms.arrays["id"]
    assert len(atoms) == 10000
    k = int(np.where(ids == 8055)[0][0])
    assert b[k] == pytest.approx(0.266886, abs=1e-12)
    assert np.isnan(np.delete(b, k)).all()
    # species by mass: type 1 (91.22) = Zr, type 2 (63.55) = Cu; never by type number
    sym = np.array(atoms.get_chemical_symbols())
    assert set(sym[atoms.arrays["type"] == 1]) == {"Zr"} and set(sym[atoms.arrays["type"] == 2]) == {"Cu"}
    assert (sym == "Zr").sum() == 3600
    assert summary["events_read"] == 1 and summary["events_kept"] == 1 and summary["atoms_labelled"] == 1
    assert summary["atoms_labelled_by_species"] == {"Cu": 1, "Zr": 0}
    json.dumps(summary)


def test_real_fixture_event_fields():
    (ev,) = parse_event_log(need(FIXTURE / "log.event.1"))
    assert (ev.index, ev.center, ev.ref, ev.status, ev.complete) == (1, 8055, 0, 0, True)
    assert ev.barrier == 0.266886
    assert ev.values["Eref"] == -46194.160 and ev.values["dr"] == 4.37062 and ev.values["nMove"] == 13


def test_real_cu100_several_events_on_one_atom():
    path = need(FIXTURE / "cu100-log.event.1")
    events = parse_event_log(path)
    assert [e.index for e in events] == [1, 2, 3, 4, 5]
    assert {e.center for e in events} == {1793}
    expected = np.mean([0.512762, 0.517825, 0.511390, 0.821168, 0.509957])
    atoms, summary = artn_labels(need(FIXTURE / "data.pos"), [path])
    k = int(np.where(atoms.arrays["id"] == 1793)[0][0])
    assert atoms.arrays["barrier"][k] == pytest.approx(expected, rel=1e-12)
    assert atoms.arrays["n_events"][k] == 5
    assert summary["events_per_atom"]["max"] == 5 and np.isfinite(atoms.arrays["barrier"]).sum() == 1


# ----------------------------------------------------------------------------- generated logs
def test_labels_mean_per_atom_and_nan_elsewhere(tmp_path, small):
    atoms0, data = small
    write_log(tmp_path / "log.event.3", [event_row(1, 0.5, 3), event_row(2, 0.7, 3), event_row(3, 1.2, 7)])
    write_log(tmp_path / "log.event.7", [event_row(1, 0.9, 7)])
    atoms, summary = artn_labels(data, str(tmp_path / "log.event.*"))
    b = atoms.arrays["barrier"]
    assert b[2] == pytest.approx(0.6) and b[6] == pytest.approx((1.2 + 0.9) / 2)
    assert np.isnan(np.delete(b, [2, 6])).all()
    assert list(atoms.get_chemical_symbols()) == list(atoms0.get_chemical_symbols())
    assert summary["events_read"] == 4 and summary["events_kept"] == 4 and summary["atoms_labelled"] == 2
    assert summary["barrier_eV"]["min"] == pytest.approx(0.6) and summary["barrier_eV"]["max"] == pytest.approx(1.05)
    assert summary["events_per_atom"] == {"min": 2.0, "mean": 2.0, "max": 2.0}


def test_status_filtering(tmp_path, small):
    _, data = small
    rows = [
        event_row(1, 0.40, 1, status=0, ref=0),
        event_row(2, 0.60, 1, status=1, ref=0),  # its saddle is from the start minimum: kept
        event_row(3, 0.90, 2, status=0, ref=2),  # reference moved to minimum 2: rejected
        event_row(4, 0.95, 2, status=1, ref=2),  # still moved
    ]
    write_log(tmp_path / "log.event.1", rows)
    write_log(tmp_path / "log.event.5", [event_row(1, 0.3, 5, status=7)])
    atoms, summary = artn_labels(data, [str(tmp_path / "log.event.1"), str(tmp_path / "log.event.5")])
    assert atoms.arrays["barrier"][0] == pytest.approx(0.5)
    assert np.isnan(atoms.arrays["barrier"][1]) and np.isnan(atoms.arrays["barrier"][4])
    assert summary["events_read"] == 5 and summary["events_kept"] == 2
    assert summary["events_rejected"] == {REJECT_MOVED: 2, "unknown status 7": 1}


def test_reference_moves_per_block_of_concatenated_runs(tmp_path, small):
    _, data = small
    text = HEADER + event_row(1, 0.4, 1, status=1) + event_row(2, 0.8, 1, ref=1) + HEADER + event_row(1, 0.6, 1)
    (tmp_path / "log.event").write_text(text)
    atoms, summary = artn_labels(data, str(tmp_path / "log.event"))
    assert atoms.arrays["barrier"][0] == pytest.approx(0.5)
    assert summary["events_rejected"] == {REJECT_MOVED: 1}


def test_nonpositive_and_nonfinite_barriers_are_counted(tmp_path, small):
    _, data = small
    rows = [event_row(1, 0.5, 4), event_row(2, 0.0, 4), event_row(3, -0.2, 4), event_row(4, 0.7, 4)]
    text = "".join(rows)
    text += event_row(5, 0.1, 4).replace(" 0.100000 ", "      nan ", 1)
    text += event_row(6, 0.1, 4).replace(" 0.100000 ", "     -nan ", 1)
    text += event_row(7, 0.1, 4).replace(" 0.100000 ", "      inf ", 1)
    (tmp_path / "log.event.4").write_text(HEADER + text)
    events = parse_event_log(tmp_path / "log.event.4")
    assert len(events) == 7 and math.isnan(events[4].barrier) and math.isinf(events[6].barrier)
    atoms, summary = artn_labels(data, str(tmp_path / "log.event.4"))
    assert atoms.arrays["barrier"][3] == pytest.approx(0.6)
    assert summary["events_kept"] == 2
    assert summary["events_rejected"] == {REJECT_NONPOSITIVE: 2, REJECT_NONFINITE: 3}


def test_flag_press_0_layout(tmp_path, small):
    _, data = small
    write_log(tmp_path / "log.event.2", [event_row(1, 0.33, 2, press=False)], header=HEADER_NO_PRESS)
    (ev,) = parse_event_log(tmp_path / "log.event.2")
    assert (ev.center, ev.status, ev.barrier) == (2, 0, 0.33) and "pxx" not in ev.values
    atoms, _ = artn_labels(data, str(tmp_path / "log.event.2"))
    assert atoms.arrays["barrier"][1] == pytest.approx(0.33)


@pytest.mark.parametrize("bad, line, problem", [
    (lambda r: r[:40], 5, "expected 24 columns"),                       # row cut in the middle of the file
    (lambda r: r.replace("    3 ", "    x ", 1), 5, "column 'center': 'x' is not an integer"),
    (lambda r: r.replace("0.700000", "0.7O0000"), 5, "column 'del-E'"),
    (lambda r: r.rstrip("\n") + "  12\n", 5, "expected 24 columns"),
])
def test_malformed_line_reports_file_and_line(tmp_path, bad, line, problem):
    rows = [event_row(1, 0.5, 3), bad(event_row(2, 0.7, 3)), event_row(3, 0.9, 3)]
    path = write_log(tmp_path / "log.event.3", rows)
    with pytest.raises(MgBarrierError) as err:
        parse_event_log(path)
    assert str(err.value).startswith(f"{path}:{line}: ") and problem in str(err.value)


def test_row_before_header_and_header_without_del_e(tmp_path):
    p = tmp_path / "log.event.1"
    p.write_text(event_row(1, 0.5, 3))
    with pytest.raises(MgBarrierError, match=rf"^{p}:1: event row before the '#Event"):
        parse_event_log(p)
    p.write_text("#Event barrier center\n    1 0.5 3\n")
    with pytest.raises(MgBarrierError, match=rf"^{p}:1: .*no 'del-E' column"):
        parse_event_log(p)


def test_truncated_last_row_of_interrupted_run_is_rejected_not_an_error(tmp_path, small):
    _, data = small
    cut = event_row(2, 0.8, 3)[:60]  # ARTn writes a row in pieces; the run died before the newline
    path = write_log(tmp_path / "log.event.3", [event_row(1, 0.5, 3), cut])
    events = parse_event_log(path)
    assert [e.complete for e in events] == [True, False]
    atoms, summary = artn_labels(data, str(path))
    assert atoms.arrays["barrier"][2] == pytest.approx(0.5)
    assert summary["events_rejected"] == {REJECT_INCOMPLETE: 1}


def test_empty_and_header_only_files_have_no_events(tmp_path, small):
    _, data = small
    (tmp_path / "log.event.1").write_text("")
    write_log(tmp_path / "log.event.2", [])
    write_log(tmp_path / "log.event.3", [event_row(1, 0.5, 3)])
    assert parse_event_log(tmp_path / "log.event.1") == [] and parse_event_log(tmp_path / "log.event.2") == []
    _, summary = artn_labels(data, str(tmp_path / "log.event.*"))
    assert len(summary["files_without_events"]) == 2 and summary["duplicate_files"] == []
    with pytest.raises(MgBarrierError, match="no usable ARTn events"):
        artn_labels(data, [str(tmp_path / "log.event.1"), str(tmp_path / "log.event.2")])
    # one event file given: the line names it, not the structure
    with pytest.raises(MgBarrierError, match=f"^{tmp_path / 'log.event.1'}: no usable ARTn events"):
        artn_labels(data, [str(tmp_path / "log.event.1")])


def test_duplicate_files_are_not_double_counted(tmp_path, small):
    _, data = small
    a = write_log(tmp_path / "log.event.3", [event_row(1, 0.5, 3)])
    (tmp_path / "copy").mkdir()
    b = shutil.copy(a, tmp_path / "copy" / "log.event.3")
    c = write_log(tmp_path / "log.event.9", [event_row(1, 1.5, 3)])
    atoms, summary = artn_labels(data, [str(a), str(a), str(tmp_path / "*" / "log.event.3"), str(c)])
    assert atoms.arrays["barrier"][2] == pytest.approx(1.0)  # (0.5 + 1.5) / 2, not (0.5*2 + 1.5) / 3
    assert summary["events_read"] == 2 and summary["events_kept"] == 2
    assert summary["duplicate_paths"] == [str(a)]
    assert summary["duplicate_files"] == [{"file": str(b), "same_as": str(a)}]
    assert summary["files"] == [str(a), str(c)]


def test_unknown_center_id_is_an_error(tmp_path, small):
    _, data = small
    path = write_log(tmp_path / "log.event.1", [event_row(1, 0.5, 3), event_row(2, 0.5, 8055)])
    with pytest.raises(MgBarrierError, match=rf"^{path}:5: center atom id 8055 is not in .*glass.data \(ids 1..32\)"):
        artn_labels(data, str(path))


def test_glob_matching_nothing_is_an_error(tmp_path, small):
    _, data = small
    with pytest.raises(MgBarrierError, match="no lammps-ARTn event files match"):
        artn_labels(data, str(tmp_path / "artn" / "log.event.*"))


def test_species_map_contradicting_masses_is_refused(tmp_path, small):
    atoms0, data = small
    write_log(tmp_path / "log.event.1", [event_row(1, 0.5, 1)])
    with pytest.raises(MgBarrierError, match="--species says type 1 is Zr .* mass 63.5"):
        artn_labels(data, str(tmp_path / "log.event.1"), species_map={1: "Zr", 2: "Cu"})
    atoms, _ = artn_labels(data, str(tmp_path / "log.event.1"), species_map={1: "Cu", 2: "Zr"})  # agrees
    assert list(atoms.get_chemical_symbols()) == atoms0.get_chemical_symbols()


# ----------------------------------------------------------------------------- run directories
def test_run_directory_layouts(tmp_path, small):
    atoms0, _ = small
    run = tmp_path / "run1"
    run.mkdir()
    write_data(run / "glass.data", atoms0)
    write_log(run / "log.event.3", [event_row(1, 0.5, 3)])
    write_log(run / "log.event.10", [event_row(1, 0.7, 10)])
    atoms, info = labelled_structure_from_run(run)
    assert np.isfinite(atoms.arrays["barrier"]).sum() == 2 and atoms.arrays["barrier"][9] == pytest.approx(0.7)
    assert info["structure"] == "glass.data" and info["n_event_files"] == 2
    assert [f["file"] for f in info["event_files"]] == ["log.event.10", "log.event.3"]
    assert len(info["sha256"]) == 64 and info["events_kept"] == 2 and info["atoms_labelled"] == 2
    json.loads(json.dumps(info))

    # in.artn writes the relaxed structure data.pos beside the events: it wins over glass.data
    write_data(run / "data.pos", atoms0)
    assert find_run_files(run)[0].name == "data.pos"
    write_data(run / "other.data", atoms0)
    (run / "data.pos").unlink()
    with pytest.raises(MgBarrierError, match="several LAMMPS data files"):
        labelled_structure_from_run(run)

    # events in artn/, structure in the run directory
    run2 = tmp_path / "run2"
    (run2 / "artn").mkdir(parents=True)
    write_data(run2 / "glass.data", atoms0)
    write_log(run2 / "artn" / "log.event.5", [event_row(1, 0.4, 5)])
    structure, events = find_run_files(run2)
    assert structure == run2 / "glass.data" and events == [run2 / "artn" / "log.event.5"]
    atoms, info = labelled_structure_from_run(run2)
    assert info["event_files"][0]["file"] == "artn/log.event.5"


def test_run_directory_errors(tmp_path, small):
    atoms0, _ = small
    with pytest.raises(MgBarrierError, match="no such run directory"):
        labelled_structure_from_run(tmp_path / "missing")
    run = tmp_path / "run"
    run.mkdir()
    write_data(run / "glass.data", atoms0)
    with pytest.raises(MgBarrierError, match="no lammps-ARTn log.event"):
        labelled_structure_from_run(run)
    (run / "glass.data").unlink()
    write_log(run / "log.event.1", [event_row(1, 0.4, 1)])
    with pytest.raises(MgBarrierError, match="no LAMMPS data file"):
        labelled_structure_from_run(run)


# ----------------------------------------------------------------------------- CLI
def test_cli_artn_labels_end_to_end(tmp_path, small, capsys):
    _, data = small
    (tmp_path / "artn").mkdir()
    write_log(tmp_path / "artn" / "log.event.3", [event_row(1, 0.5, 3), event_row(2, 0.0, 3)])
    write_log(tmp_path / "artn" / "log.event.4", [event_row(1, 0.8, 4)])
    write_log(tmp_path / "extra.event", [event_row(1, 0.6, 5)])
    out = tmp_path / "labelled.extxyz"
    rc = main(["artn-labels", "--structure", str(data), "--events", str(tmp_path / "artn" / "log.event.*"),
               "--events", str(tmp_path / "extra.event"), "-o", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "events: 4 read, 3 kept" in text and "rejected 1: non-positive barrier" in text
    assert "atoms labelled: 3 of 32" in text
    back = ase.io.read(str(out))
    b = back.arrays["barrier"]
    assert b[2] == pytest.approx(0.5) and b[3] == pytest.approx(0.8) and b[4] == pytest.approx(0.6)
    assert np.isnan(np.delete(b, [2, 3, 4])).all()
    assert list(back.get_chemical_symbols()) == list(ase.io.read(str(data), format="lammps-data",
                                                                 Z_of_type={1: 29, 2: 40}).get_chemical_symbols())


def test_cli_bad_event_file_exits_2_and_writes_nothing(tmp_path, small, capsys):
    _, data = small
    bad = write_log(tmp_path / "log.event.1", [event_row(1, 0.5, 3)[:30] + "\n", event_row(2, 0.5, 3)])
    out = tmp_path / "labelled.extxyz"
    rc = main(["artn-labels", "--structure", str(data), "--events", str(bad), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f"mgbarrier: error: {bad}:4: ") and err.count("\n") == 1
    assert not out.exists()


# ----------------------------------------------------------------------------- training from runs
def test_train_from_run_directories_end_to_end(tmp_path, capsys):
    import mgbarrier

    runs = []
    for k, seed in enumerate((11, 12)):
        run = tmp_path / f"run{k}"
        run.mkdir()
        atoms = make_glass(n_cells=2, seed=seed)
        write_data(run / "glass.data", atoms)
        rng = np.random.default_rng(seed)
        rows = [event_row(j + 1, float(rng.uniform(0.3, 2.0)), int(c))
                for j, c in enumerate(rng.choice(np.arange(1, len(atoms) + 1), size=20, replace=False))]
        write_log(run / "log.event", rows)
        runs.append(run)
    model_path = tmp_path / "model.pt"
    rc = main(["train", "--runs", str(runs[0]), "--val-runs", str(runs[1]), "-o", str(model_path),
               "--epochs", "2", "--hidden", "16", "--threads", "1"])
    assert rc == 0, capsys.readouterr().err
    model = mgbarrier.load_model(model_path)
    data_info = model.metadata["training"]["data"]
    assert [d["role"] for d in data_info] == ["train", "validation"]
    assert data_info[0]["events_kept"] == 20 and data_info[0]["atoms_labelled"] == 20
    atoms, _ = labelled_structure_from_run(runs[1])
    pred = model.predict(atoms)
    assert pred.shape == (len(atoms),) and np.isfinite(pred).all()


def test_reference_energy_spread_flags_events_from_another_structure(tmp_path, small, capsys):
    _, data = small
    write_log(tmp_path / "log.event.1", [event_row(1, 0.5, 1)])
    write_log(tmp_path / "log.event.2", [event_row(1, 0.5, 2, eref=-6212.08908)])
    _, summary = artn_labels(data, str(tmp_path / "log.event.1"))
    assert summary["reference_energy_eV"]["min"] == summary["reference_energy_eV"]["max"] == -46194.160
    rc = main(["artn-labels", "--structure", str(data), "--events", str(tmp_path / "log.event.*"),
               "-o", str(tmp_path / "out.extxyz")])
    assert rc == 0 and "are all event files from this structure?" in capsys.readouterr().out
