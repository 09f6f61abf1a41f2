"""LAMMPS text dump reader/writer (mgbarrier.lammps_dump): boxes, column styles, gz, errors."""
from __future__ import annotations

import gzip

import numpy as np
import pytest
from ase import Atoms
from conftest import make_glass

from mgbarrier.errors import MgBarrierError
from mgbarrier.io.lammps_dump import DumpWriter, count_frames, iread_dump, read_dump

CUZR = {1: "Cu", 2: "Zr"}


def _types(atoms: Atoms) -> np.ndarray:
    return np.where(np.array(atoms.get_chemical_symbols()) == "Cu", 1, 2)


def dump_frame(atoms: Atoms, timestep: int = 0, style: str = "x", origin=(0.0, 0.0, 0.0),
               tilt=None, element: bool = False, extra: bool = True, ids=None) -> str:
    """One dump frame written by hand, as LAMMPS would (``style``: x, xs, xu or xsu).

    ``atoms.cell`` must be lower-triangular (LAMMPS form); positions are given relative to
    the box origin and are shifted by ``origin`` in the file.
    """
    cell = atoms.cell.array.tolist()
    lo = [float(v) for v in origin]
    hi = [lo[i] + cell[i][i] for i in range(3)]
    flags = "pp pp pp"
    if tilt is None:
        box = f"ITEM: BOX BOUNDS {flags}\n" + "".join(f"{lo[i]!r} {hi[i]!r}\n" for i in range(3))
    else:
        xy, xz, yz = cell[1][0], cell[2][0], cell[2][1]
        xlob, xhib = lo[0] + min(0.0, xy, xz, xy + xz), hi[0] + max(0.0, xy, xz, xy + xz)
        ylob, yhib = lo[1] + min(0.0, yz), hi[1] + max(0.0, yz)
        box = (f"ITEM: BOX BOUNDS xy xz yz {flags}\n{xlob!r} {xhib!r} {xy!r}\n{ylob!r} {yhib!r} {xz!r}\n"
               f"{lo[2]!r} {hi[2]!r} {yz!r}\n")
    names = {"x": "x y z", "xs": "xs ys zs", "xu": "xu yu zu", "xsu": "xsu ysu zsu"}[style]
    if style in ("xs", "xsu"):
        coords = atoms.cell.scaled_positions(atoms.positions).tolist()
    else:
        coords = (atoms.positions + np.array(lo)).tolist()
    ids = np.arange(1, len(atoms) + 1) if ids is None else ids
    cols = "id type " + ("element " if element else "") + names + (" c_pe vx" if extra else "")
    lines = []
    for k, (i, t, s, r) in enumerate(zip(np.asarray(ids).tolist(), _types(atoms).tolist(), atoms.get_chemical_symbols(), coords)):
        row = f"{i} {t} " + (f"{s} " if element else "") + f"{r[0]!r} {r[1]!r} {r[2]!r}"
        if extra:
            row += f" {-3.5 - 0.001 * k:.6f} {0.01 * k:.4g}"
        lines.append(row + "\n")
    return (f"ITEM: TIMESTEP\n{timestep}\nITEM: NUMBER OF ATOMS\n{len(atoms)}\n{box}ITEM: ATOMS {cols}\n"
            + "".join(lines))


def triclinic_glass(seed=0) -> Atoms:
    atoms = make_glass(n_cells=2, seed=seed)
    cell = atoms.cell.array.copy()
    cell[1, 0], cell[2, 0], cell[2, 1] = 1.3, -0.7, 0.9
    atoms.set_cell(cell, scale_atoms=True)
    return atoms


def _check_same(read: Atoms, ref: Atoms):
    assert np.allclose(read.cell.array, ref.cell.array, atol=1e-9)
    assert np.allclose(read.positions, ref.positions, atol=1e-9)
    assert read.get_chemical_symbols() == ref.get_chemical_symbols()
    assert read.pbc.all()


@pytest.mark.parametrize("style", ["x", "xs", "xu", "xsu"])
@pytest.mark.parametrize("triclinic", [False, True], ids=["ortho", "tric"])
def test_read_column_styles_and_boxes(tmp_path, style, triclinic):
    ref = triclinic_glass() if triclinic else make_glass(n_cells=2)
    p = tmp_path / "a.lammpstrj"
    p.write_text(dump_frame(ref, 7, style=style, origin=(-5.0, 2.5, 10.0), tilt=triclinic))
    (atoms,) = list(iread_dump(p, species_map=CUZR))
    _check_same(atoms, ref)
    assert atoms.info["lammps_dump"]["timestep"] == 7
    assert atoms.arrays["id"].tolist() == list(range(1, len(ref) + 1))
    assert atoms.arrays["type"].tolist() == _types(ref).tolist()
    if style in ("x", "xu"):
        assert np.allclose(atoms.info["lammps_dump"]["origin"], [-5.0, 2.5, 10.0])


def test_unwrapped_atoms_outside_box_are_kept(tmp_path):
    ref = make_glass(n_cells=2)
    ref.positions[0] += ref.cell[0] * 2 + ref.cell[2]  # unwrapped image
    p = tmp_path / "u.dump"
    p.write_text(dump_frame(ref, style="xu"))
    atoms = read_dump(p, CUZR, index=0)
    assert np.allclose(atoms.positions, ref.positions)


def test_element_column_gives_species_without_mapping(tmp_path):
    ref = make_glass(n_cells=2)
    p = tmp_path / "e.lammpstrj"
    p.write_text(dump_frame(ref, element=True))
    atoms = read_dump(p)
    assert atoms.get_chemical_symbols() == ref.get_chemical_symbols()


def test_unmapped_type_is_an_error_naming_file_and_type(tmp_path):
    ref = make_glass(n_cells=2)
    p = tmp_path / "t.lammpstrj"
    p.write_text(dump_frame(ref))
    with pytest.raises(MgBarrierError, match=r"t\.lammpstrj.*type\(s\) 1, 2"):
        list(iread_dump(p))
    with pytest.raises(MgBarrierError, match=r"type\(s\) 2 "):
        list(iread_dump(p, species_map={1: "Cu"}))


@pytest.mark.parametrize("triclinic", [False, True], ids=["ortho", "tric"])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_round_trip_keeps_everything_and_adds_d_barrier(tmp_path, triclinic, gz):
    frames = [triclinic_glass(seed=s) if triclinic else make_glass(n_cells=2, seed=s) for s in range(3)]
    rng = np.random.default_rng(0)
    ids = [rng.permutation(len(f)) + 100 for f in frames]  # ids not in order: order must be kept
    text = "".join(dump_frame(f, 10 * k, origin=(1.0, -2.0, 0.5), tilt=triclinic, ids=ids[k])
                   for k, f in enumerate(frames))
    src = tmp_path / ("in.lammpstrj" + (".gz" if gz else ""))
    if gz:
        with gzip.open(src, "wt") as fh:
            fh.write(text)
    else:
        src.write_text(text)
    out = tmp_path / ("out.lammpstrj" + (".gz" if gz else ""))
    barriers = []
    with DumpWriter(out) as w:
        for atoms in iread_dump(src, CUZR):
            b = rng.random(len(atoms))
            barriers.append(b)
            w.write(atoms, b)
    # text: the input lines, with ' d_barrier' on the ATOMS line and one more value per atom
    opener = gzip.open if gz else open
    with opener(out, "rt") as fh:
        out_lines = fh.read().splitlines()
    in_lines = text.splitlines()
    assert len(out_lines) == len(in_lines)
    k, frame = -1, 0
    for a, b in zip(in_lines, out_lines):
        if a.startswith("ITEM: ATOMS"):
            assert b == a + " element d_barrier"  # species known: element column added
            frame += 1
            k = 0
        elif k >= 0 and not a.startswith("ITEM:") and len(a.split()) > 3:
            assert b.rsplit(" ", 2)[0] == a
            assert b.split()[-2] == frames[frame - 1].get_chemical_symbols()[k]
            assert float(b.rsplit(" ", 1)[1]) == barriers[frame - 1][k]
            k += 1
        else:
            assert a == b
    # and it reads back to the same structures
    back = list(iread_dump(out, CUZR))
    assert len(back) == 3 and count_frames(out) == 3
    for f, a, i in zip(frames, back, ids):
        _check_same(a, f)
        assert a.arrays["id"].tolist() == i.tolist()
        assert a.info["lammps_dump"]["columns"][-1] == "d_barrier"


def test_rewriting_an_output_replaces_the_old_d_barrier(tmp_path):
    ref = make_glass(n_cells=2)
    src = tmp_path / "a.dump"
    src.write_text(dump_frame(ref))
    out1, out2 = tmp_path / "b.dump", tmp_path / "c.dump"
    with DumpWriter(out1) as w:
        w.write(read_dump(src, CUZR), np.ones(len(ref)))
    with DumpWriter(out2) as w:
        w.write(read_dump(out1, CUZR), np.full(len(ref), 2.0))
    assert out1.read_text().replace(" 1.0\n", " 2.0\n") == out2.read_text()


@pytest.mark.parametrize("rotate", [False, True])
def test_writer_from_plain_atoms_computes_box(tmp_path, rotate):
    atoms = triclinic_glass()
    if rotate:  # a cell not in LAMMPS's lower-triangular form
        atoms.rotate(30, "z", rotate_cell=True)
        atoms.rotate(20, "x", rotate_cell=True)
    out = tmp_path / "g.lammpstrj"
    b = np.linspace(0.5, 2.0, len(atoms))
    with DumpWriter(out) as w:
        w.write(atoms, b)
        w.write(atoms, b)
    header = out.read_text().splitlines()
    assert "ITEM: ATOMS id type element x y z d_barrier" in header
    assert header[4].startswith("ITEM: BOX BOUNDS xy xz yz pp pp pp")
    back = list(iread_dump(out))
    assert len(back) == 2
    a = back[0]
    assert a.get_chemical_symbols() == atoms.get_chemical_symbols()
    assert np.allclose(a.cell.cellpar(), atoms.cell.cellpar())
    assert np.allclose(a.get_scaled_positions(wrap=False), atoms.get_scaled_positions(wrap=False), atol=1e-9)
    assert np.array_equal(np.array([float(r.split()[-1]) for r in a.info["lammps_dump"]["rows"].splitlines()]), b)


def test_frames_slice_streams_selected_frames(tmp_path):
    ref = make_glass(n_cells=2)
    p = tmp_path / "f.lammpstrj"
    p.write_text("".join(dump_frame(ref, t) for t in range(5)))
    ts = lambda sl: [a.info["timestep"] for a in iread_dump(p, CUZR, sl)]  # noqa: E731
    assert ts(None) == [0, 1, 2, 3, 4]
    assert ts(slice(1, None, 2)) == [1, 3]
    assert ts(slice(None, 2)) == [0, 1]
    assert ts(slice(-2, None)) == [3, 4]
    assert ts(slice(1, -1, 2)) == [1, 3]
    with pytest.raises(MgBarrierError, match="STEP must be positive"):
        ts(slice(None, None, -1))


def test_each_frame_names_its_index_in_the_file_for_errors_and_warnings(tmp_path):
    """A 200-frame dump's warnings (floored values, out-of-domain atoms) must say which frame."""
    from mgbarrier.io.structures import iread_structures

    ref = make_glass(n_cells=2)
    p = tmp_path / "f.lammpstrj"
    p.write_text("".join(dump_frame(ref, t) for t in range(5)))
    src = lambda sl: [a.info["source"] for a in iread_structures(p, CUZR, sl)]  # noqa: E731
    assert src(None) == [str(p)] + [f"{p}: frame {k}" for k in range(1, 5)]
    assert src(slice(1, None, 2)) == [f"{p}: frame 1", f"{p}: frame 3"]
    assert src(slice(-2, None)) == [str(p), f"{p}: frame 1"]     # negative start: place among those selected


def test_truncated_and_malformed_frames_name_file_and_line(tmp_path):
    ref = make_glass(n_cells=2)
    good = dump_frame(ref, 0) + dump_frame(ref, 1)
    lines = good.splitlines(keepends=True)
    n = len(ref)
    p = tmp_path / "bad.lammpstrj"

    p.write_text("".join(lines[:-3]))  # second frame cut short
    with pytest.raises(MgBarrierError, match=rf"bad\.lammpstrj:{len(lines) - 3}: truncated frame"):
        list(iread_dump(p, CUZR))

    p.write_text("".join(lines[:12] + lines[9 + n:]))  # first frame loses atom lines
    with pytest.raises(MgBarrierError, match=r"bad\.lammpstrj:\d+: truncated frame"):
        list(iread_dump(p, CUZR))

    bad = list(lines)
    bad[12] = "4 1 0.5 0.5\n"  # 4th atom line: a column short
    p.write_text("".join(bad))
    with pytest.raises(MgBarrierError, match=r"bad\.lammpstrj:13: expected 7 columns"):
        list(iread_dump(p, CUZR))

    bad = list(lines)
    bad[10] = "2 1 abc 0.5 0.5 -3.5 0.0\n"
    p.write_text("".join(bad))
    with pytest.raises(MgBarrierError, match=r"bad\.lammpstrj:11: column 'x': 'abc' is not a number"):
        list(iread_dump(p, CUZR))

    bad = list(lines)
    bad[1] = "zero\n"
    p.write_text("".join(bad))
    with pytest.raises(MgBarrierError, match=r"bad\.lammpstrj:2: TIMESTEP is not an integer"):
        list(iread_dump(p, CUZR))

    p.write_text("hello world\n")
    with pytest.raises(MgBarrierError, match=r"bad\.lammpstrj:1: expected 'ITEM: TIMESTEP'"):
        list(iread_dump(p, CUZR))


def test_writer_leaves_nothing_on_error(tmp_path):
    ref = make_glass(n_cells=2)
    out = tmp_path / "keep.lammpstrj"
    out.write_text("precious\n")
    with pytest.raises(RuntimeError):
        with DumpWriter(out) as w:
            w.write(ref, np.zeros(len(ref)))
            raise RuntimeError("boom")
    assert out.read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.lammpstrj"]
    with pytest.raises(ValueError):
        with DumpWriter(tmp_path / "n.lammpstrj") as w:
            w.write(ref, np.zeros(len(ref) - 1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.lammpstrj"]
