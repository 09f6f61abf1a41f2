"""BarrierCalculator: the ASE calculator interface, caching and committees."""
from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.calculator import PropertyNotImplementedError

import mgbarrier
from mgbarrier.calculator import BarrierCalculator


class CountingModel:
    """Wraps a loaded model and counts calls to ``predict``."""

    def __init__(self, model):
        self.model = model
        self.calls = 0

    def predict(self, atoms):
        self.calls += 1
        return self.model.predict(atoms)


def test_lazy_export():
    assert mgbarrier.BarrierCalculator is BarrierCalculator


def test_get_property_equals_model_predict(tiny_model_path, glass):
    expected = mgbarrier.load_model(tiny_model_path).predict(glass)
    glass.calc = BarrierCalculator(model=tiny_model_path)
    b = glass.calc.get_property("barriers", glass)
    assert b.dtype == np.float64 and b.shape == (len(glass),)
    assert np.array_equal(b, expected)
    assert np.array_equal(glass.calc.get_barriers(), expected)  # attached atoms
    assert np.array_equal(glass.calc.get_barriers(glass), expected)


def test_second_call_is_cached_and_moving_an_atom_recomputes(tiny_model_path, glass):
    counting = CountingModel(mgbarrier.load_model(tiny_model_path))
    calc = BarrierCalculator(model=counting)
    glass.calc = calc
    first = calc.get_property("barriers", glass)
    again = calc.get_property("barriers", glass)
    calc.get_barriers()
    assert counting.calls == 1 and np.array_equal(first, again)

    glass.positions[5] += [0.3, 0.0, 0.0]
    moved = calc.get_property("barriers", glass)
    assert counting.calls == 2
    assert not np.array_equal(moved, first)
    assert np.array_equal(moved, counting.model.predict(glass))

    glass.set_chemical_symbols(["Zr" if s == "Cu" else "Cu" for s in glass.get_chemical_symbols()])
    calc.get_property("barriers", glass)
    assert counting.calls == 3


def test_single_model_has_no_uncertainty(tiny_model_path, glass):
    calc = BarrierCalculator(model=str(tiny_model_path))
    assert calc.implemented_properties == ["barriers", "barriers_committee"]
    with pytest.raises(PropertyNotImplementedError):
        calc.get_property("barriers_std", glass)
    with pytest.raises(PropertyNotImplementedError):
        calc.get_potential_energy(glass)


def test_committee_mean_and_std(tiny_model_paths, glass):
    preds = np.stack([mgbarrier.load_model(p).predict(glass) for p in tiny_model_paths])
    counting = [CountingModel(mgbarrier.load_model(p)) for p in tiny_model_paths]
    calc = BarrierCalculator(model=counting)
    assert calc.committee_size == 3
    mean = calc.get_property("barriers", glass)
    std = calc.get_property("barriers_std", glass)  # same structure: no second prediction
    assert [c.calls for c in counting] == [1, 1, 1]
    assert mean.shape == std.shape == (len(glass),)
    np.testing.assert_allclose(mean, preds.mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(std, preds.std(axis=0), rtol=0, atol=1e-12)
    assert (std >= 0).all() and std.max() > 0
    assert np.array_equal(calc.results["barriers_committee"], preds)


def test_committee_from_paths_and_parameters(tiny_model_paths, glass):
    calc = BarrierCalculator(model=list(tiny_model_paths))
    std = calc.get_barriers_std(glass)
    assert std.shape == (len(glass),)
    assert calc.parameters["model"] == [str(p) for p in tiny_model_paths]
    assert calc.parameters["device"] == "cpu"
