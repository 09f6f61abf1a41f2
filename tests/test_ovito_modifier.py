"""OVITO modifier (ovito_modifier/, import name mgbarrier_ovito): values, colours, caching, errors."""
from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
from ase.io import write

ovito = pytest.importorskip("ovito", reason="ovito is not installed")
mgbarrier_ovito = pytest.importorskip("mgbarrier_ovito", reason="pip install -e ovito_modifier to test it")

from conftest import make_glass, write_tiny_model  # noqa: E402
from ovito.io import export_file, import_file  # noqa: E402

import mgbarrier  # noqa: E402
from mgbarrier_ovito import EnergyBarrierModifier  # noqa: E402
from mgbarrier_ovito import modifier as modmod  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("ovito_model") / "tiny.pt")


@pytest.fixture
def glass_file(tmp_path):
    atoms = make_glass()
    path = tmp_path / "glass.extxyz"
    write(path, atoms)
    return atoms, path


def _pipeline(path, tiny, **kw):
    pipeline = import_file(str(path))
    pipeline.modifiers.append(EnergyBarrierModifier(model_file=str(tiny), **kw))
    return pipeline


def _count_predict_calls(monkeypatch, tiny):
    model = modmod._load_model((str(tiny), "cpu", None))
    calls = []
    orig = model.predict

    def counting(atoms):
        calls.append(len(atoms))
        return orig(atoms)

    monkeypatch.setattr(model, "predict", counting)
    modmod._PREDICTIONS.clear()
    return calls


def test_values_match_model_and_colours(glass_file, tiny):
    atoms, path = glass_file
    data = _pipeline(path, tiny).compute()
    got = np.asarray(data.particles["Energy Barrier"])
    assert got.dtype == np.float32
    ref = mgbarrier.load_model(tiny).predict(atoms)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    colors = np.asarray(data.particles["Color"])
    assert colors.shape == (len(atoms), 3)
    # lowest and highest barriers get different colours (the gradient's two ends)
    assert not np.allclose(colors[np.argmin(ref)], colors[np.argmax(ref)])
    assert data.attributes["EnergyBarrier.mean"] == pytest.approx(float(ref.mean()), rel=1e-6)
    syms = np.array(atoms.get_chemical_symbols())
    assert data.attributes["EnergyBarrier.mean.Zr"] == pytest.approx(float(ref[syms == "Zr"].mean()), rel=1e-6)
    hist = data.tables["energy-barrier-histogram"]
    assert int(np.sum(hist.y)) == len(atoms)


def test_no_colours_when_disabled(glass_file, tiny):
    _, path = glass_file
    data = _pipeline(path, tiny, color_coding=False).compute()
    assert "Energy Barrier" in data.particles
    assert "Color" not in data.particles


def test_fixed_range_and_colour_map(glass_file, tiny):
    _, path = glass_file
    viridis = np.asarray(_pipeline(path, tiny, auto_range=False, start_value=0.0, end_value=10.0).compute()
                         .particles["Color"])
    hot = np.asarray(_pipeline(path, tiny, color_map="Hot").compute().particles["Color"])
    assert not np.allclose(viridis, hot)
    # barriers ~1.5 eV in a 0..10 eV range all sit near the low end: nearly one colour
    assert np.ptp(viridis, axis=0).max() < 0.1


def test_second_compute_does_not_call_model(glass_file, tiny, monkeypatch):
    _, path = glass_file
    calls = _count_predict_calls(monkeypatch, tiny)
    pipeline = import_file(str(path))
    mod = EnergyBarrierModifier(model_file=str(tiny))
    pipeline.modifiers.append(mod)
    first = np.asarray(pipeline.compute(0).particles["Energy Barrier"]).copy()
    mod.color_map = "Jet"          # a parameter change invalidates OVITO's own pipeline cache
    second = np.asarray(pipeline.compute(0).particles["Energy Barrier"])
    assert np.asarray(pipeline.compute(0).particles["Color"]).shape[1] == 3
    assert len(calls) == 1
    np.testing.assert_array_equal(first, second)


def test_unknown_species_is_a_clear_error(tmp_path, tiny):
    atoms = make_glass()
    atoms.symbols[0] = "Fe"
    path = tmp_path / "fe.extxyz"
    write(path, atoms)
    with pytest.raises(Exception, match="species Fe not known to the model"):
        _pipeline(path, tiny).compute()


@pytest.mark.parametrize("name, words", [("Particle Type", "already a particle property"),
                                         ("Position", "already a particle property"), ("a.b", "may not hold '.'")])
def test_an_output_property_that_would_replace_or_break_one_is_refused(glass_file, tiny, name, words):
    """The barriers never overwrite a property of the input (the particle types cast to 0/1 did)."""
    _, path = glass_file
    with pytest.raises(RuntimeError, match=f"Energy Barrier \\(mgbarrier\\): output property '{name}'.*{words}"):
        _pipeline(path, tiny, output_property=name).compute()


def test_missing_model_is_a_clear_error(glass_file, tmp_path):
    _, path = glass_file
    pipeline = import_file(str(path))
    pipeline.modifiers.append(EnergyBarrierModifier(model_file=str(tmp_path / "nope.pt")))
    with pytest.raises(Exception, match="nope.pt"):
        pipeline.compute()


def _write_lammps_data(path, atoms, type_of, masses):
    lines = ["generated\n", f"{len(atoms)} atoms", f"{len(set(type_of.values()))} atom types",
             f"0 {atoms.cell[0, 0]} xlo xhi", f"0 {atoms.cell[1, 1]} ylo yhi", f"0 {atoms.cell[2, 2]} zlo zhi",
             "", "Masses", ""]
    lines += [f"{t} {m}" for t, m in masses.items()]
    lines += ["", "Atoms # atomic", ""]
    lines += [f"{i + 1} {type_of[s]} {x} {y} {z}" for i, (s, (x, y, z)) in
              enumerate(zip(atoms.get_chemical_symbols(), atoms.positions))]
    path.write_text("\n".join(lines) + "\n")


def test_lammps_numeric_types_mapped_by_mass(tmp_path, tiny):
    atoms = make_glass()
    path = tmp_path / "glass.data"
    # type 1 = Zr, type 2 = Cu, as in the shared lammps-ARTn fixture
    _write_lammps_data(path, atoms, {"Zr": 1, "Cu": 2}, {1: 91.224, 2: 63.546})
    data = _pipeline(path, tiny).compute()
    ref = mgbarrier.load_model(tiny).predict(atoms)
    np.testing.assert_allclose(np.asarray(data.particles["Energy Barrier"]), ref, rtol=1e-5, atol=1e-5)


def test_lammps_types_without_masses_are_refused(tmp_path, tiny):
    atoms = make_glass()
    path = tmp_path / "nomass.data"
    _write_lammps_data(path, atoms, {"Zr": 1, "Cu": 2}, {})
    text = path.read_text().replace("\nMasses\n\n", "\n")
    path.write_text(text)
    with pytest.raises(Exception, match="no element name and no mass"):
        _pipeline(path, tiny).compute()


def test_entry_point_is_registered():
    eps = entry_points(group="OVITO.Modifier")
    found = [ep for ep in eps if ep.value == "mgbarrier_ovito:EnergyBarrierModifier"]
    assert found and found[0].load() is EnergyBarrierModifier


def _write_dump(path, frames):
    out = []
    for step, atoms in enumerate(frames):
        L = atoms.cell.lengths()
        out += ["ITEM: TIMESTEP", str(step * 100), "ITEM: NUMBER OF ATOMS", str(len(atoms)),
                "ITEM: BOX BOUNDS pp pp pp"] + [f"0 {x}" for x in L]
        out.append("ITEM: ATOMS id type element x y z")
        for i, (s, p) in enumerate(zip(atoms.get_chemical_symbols(), atoms.positions)):
            out.append(f"{i + 1} {1 if s == 'Cu' else 2} {s} {p[0]:.8f} {p[1]:.8f} {p[2]:.8f}")
    path.write_text("\n".join(out) + "\n")


def test_multiframe_dump_and_export(tmp_path, tiny):
    frames = [make_glass(seed=0), make_glass(seed=0)]
    frames[1].positions += np.random.default_rng(1).normal(scale=0.1, size=frames[1].positions.shape)
    frames[1].wrap()
    dump = tmp_path / "run.lammpstrj"
    _write_dump(dump, frames)
    pipeline = _pipeline(dump, tiny)
    assert pipeline.num_frames == 2
    model = mgbarrier.load_model(tiny)
    for k, atoms in enumerate(frames):
        got = np.asarray(pipeline.compute(k).particles["Energy Barrier"])
        np.testing.assert_allclose(got, model.predict(atoms), rtol=1e-5, atol=2e-5)
    out = tmp_path / "out.extxyz"
    export_file(pipeline, str(out), "xyz", columns=["Particle Type", "Position.X", "Position.Y", "Position.Z",
                                                    "Energy Barrier"], multiple_frames=True)
    from ase.io import read
    back = read(out, index=":")
    assert len(back) == 2
    key = [k for k in back[1].arrays if "Barrier" in k or "barrier" in k.lower()]
    assert key, back[1].arrays.keys()
    np.testing.assert_allclose(back[1].arrays[key[0]], model.predict(frames[1]), rtol=1e-4, atol=1e-4)


def _data_with_numeric_types(atoms, names, masses):
    from ovito.data import DataCollection, ParticleType

    data = DataCollection()
    data.create_cell(atoms.cell.array, pbc=(True, True, True))
    parts = data.create_particles(count=len(atoms))
    parts.create_property("Position", data=atoms.positions)
    types = parts.create_property("Particle Type")
    for tid, (name, mass) in enumerate(zip(names, masses), start=1):
        types.types.append(ParticleType(id=tid, name=name, mass=mass))
    types[...] = [1 if s == "Zr" else 2 for s in atoms.get_chemical_symbols()]
    return data


@pytest.mark.parametrize("names", [("", ""), ("1", "2")])
def test_numeric_or_empty_type_names_mapped_by_mass(tiny, names):
    # OVITO names LAMMPS data types from their masses itself; here the names are empty/numeric
    atoms = make_glass()
    data = _data_with_numeric_types(atoms, names, (91.224, 63.546))
    syms = mgbarrier_ovito.species_from_types(data.particles)
    assert syms.tolist() == atoms.get_chemical_symbols()
    mod = EnergyBarrierModifier(model_file=str(tiny))
    data.apply(mod)
    np.testing.assert_allclose(np.asarray(data.particles["Energy Barrier"]),
                               mgbarrier.load_model(tiny).predict(atoms), rtol=1e-5, atol=1e-5)


def test_numeric_types_without_masses_never_become_h_he(tiny):
    atoms = make_glass()
    data = _data_with_numeric_types(atoms, ("1", "2"), (0.0, 0.0))
    with pytest.raises(Exception, match="no element name and no mass"):
        data.apply(EnergyBarrierModifier(model_file=str(tiny)))


def test_structure_unlike_training_glasses_is_a_warning_attribute(tmp_path, tiny):
    """The shipped descriptor model's out-of-range warning reaches the pipeline as an
    attribute (and the status text) without stopping it; a normal prediction sets none."""
    pytest.importorskip("dscribe")
    import ase.build

    crystal = ase.build.bulk("Cu", "fcc", a=3.6, cubic=True).repeat(3)
    crystal.numbers[::3] = 40
    crystal.rattle(0.05, seed=1)
    write(tmp_path / "fcc.extxyz", crystal)
    modmod._PREDICTIONS.clear()
    pipeline = import_file(str(tmp_path / "fcc.extxyz"))
    pipeline.modifiers.append(EnergyBarrierModifier(model_file="cu64zr36-descriptor"))
    data = pipeline.compute()
    assert "unlike the training glasses" in data.attributes["EnergyBarrier.warning"]
    assert len(np.asarray(data.particles["Energy Barrier"])) == len(crystal)
    again = pipeline.compute()  # cached: the warning stays
    assert "EnergyBarrier.warning" in again.attributes
    atoms = make_glass()
    write(tmp_path / "g.extxyz", atoms)
    attrs = _pipeline(tmp_path / "g.extxyz", tiny).compute().attributes
    # the toy lattice glass is far from a minimum: only the thermal-input warning
    assert "unlike the training glasses" not in attrs.get("EnergyBarrier.warning", "")
    assert "MD snapshot" in attrs["EnergyBarrier.warning"]
