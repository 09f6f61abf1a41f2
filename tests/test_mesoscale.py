"""Mesoscale read-out (issue 19): a p + b x Gaussian neighbour average of p + c over a base model.

Specifications: the average is a physical, frame-independent quantity (invariant under
rotation, translation, permutation, exact on periodic tilings); the receptive radius grows by
exactly the kernel cut-off; chunked equals whole; the fit recovers a read-out it was given;
files nest boundedly and bad files are one error line."""
from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from conftest import make_glass

from mgbarrier import load_model
from mgbarrier.errors import MgBarrierError
from mgbarrier.models.checkpoint import load_checkpoint, save_checkpoint
from mgbarrier.models.chunked import receptive_radius
from mgbarrier.models.mesoscale import gaussian_average
from mgbarrier.training.ensemble import ensemble_checkpoint
from mgbarrier.training.mesoscale import fit_mesoscale, mesoscale_checkpoint

CONFIG = {"sigma": 2.0, "kernel_cutoff": 5.0, "self_weight": 0.8, "neighbour_weight": 0.5, "offset": -0.3}


@pytest.fixture(scope="module")
def meso_path(tmp_path_factory, tiny_model_path):
    path = tmp_path_factory.mktemp("meso") / "meso.pt"
    save_checkpoint(path, mesoscale_checkpoint(load_checkpoint(tiny_model_path), CONFIG, {"description": "test"}))
    return path


def _field(atoms: Atoms) -> np.ndarray:
    """A smooth per-atom field plus a species term (eV)."""
    return np.sin(atoms.get_scaled_positions()[:, 0] * 2 * np.pi) + 0.2 * (atoms.numbers == 40)


def test_gaussian_average_of_a_constant_is_the_constant_and_a_far_kernel_tends_to_the_mean():
    atoms = make_glass(n_cells=5, seed=3)
    assert np.allclose(gaussian_average(atoms, np.full(len(atoms), 1.7), 2.0, 5.0), 1.7)
    x = np.random.default_rng(0).normal(size=len(atoms))
    tiny_kernel = gaussian_average(atoms, x, 0.05, 1.0)  # neighbours' weights exp(-200) or less
    assert np.allclose(tiny_kernel, x, atol=1e-12)
    wide = gaussian_average(atoms, x, 500.0, 0.5 * min(atoms.cell.lengths()) - 0.01)
    assert np.std(wide) < 0.2 * np.std(x)  # smoothing removes most of an uncorrelated field


def test_gaussian_average_invariant_under_rotation_translation_permutation_and_tiling():
    atoms = make_glass(n_cells=5, seed=4)
    x = _field(atoms)
    ref = gaussian_average(atoms, x, 2.0, 5.0)
    moved = atoms.copy()
    moved.translate([3.1, -1.2, 7.7])
    moved.wrap()
    assert np.allclose(gaussian_average(moved, x, 2.0, 5.0), ref, atol=1e-12)
    rotated = atoms.copy()
    rotated.rotate(37, "z", rotate_cell=True)
    rotated.rotate(-71, "x", rotate_cell=True)
    assert np.allclose(gaussian_average(rotated, x, 2.0, 5.0), ref, atol=1e-12)
    perm = np.random.default_rng(1).permutation(len(atoms))
    assert np.allclose(gaussian_average(atoms[perm], x[perm], 2.0, 5.0), ref[perm], atol=1e-12)
    tiled = atoms.repeat((2, 1, 2))
    assert np.allclose(gaussian_average(tiled, np.tile(x, 4), 2.0, 5.0), np.tile(ref, 4), atol=1e-12)


def test_prediction_is_the_read_out_of_the_base_and_the_radius_grows_by_the_kernel(meso_path, tiny_model_path):
    meso, base = load_model(meso_path), load_model(tiny_model_path)
    atoms = make_glass(n_cells=6, seed=6)
    p = base.predict_raw(atoms)
    want = 0.8 * p + 0.5 * gaussian_average(atoms, p, 2.0, 5.0) - 0.3
    assert np.allclose(meso.predict_raw(atoms), want, atol=1e-9)
    assert receptive_radius(meso) == pytest.approx(receptive_radius(base) + 5.0)
    assert meso.cutoff == pytest.approx(base.cutoff + 5.0)
    assert "Gaussian average" in meso.describe()


@pytest.mark.filterwarnings("ignore:.*halos made it compute")  # tight budgets on purpose
def test_chunked_equals_whole_across_periodic_boundaries(meso_path):
    meso = load_model(meso_path)
    atoms = make_glass(n_cells=14, seed=7)  # 11,000 atoms, 56 Å: halos of 15 Å wrap the faces
    meso.chunk_atoms = None
    whole = meso.predict(atoms)
    meso.chunk_atoms = 9000
    try:
        parts = meso.predict(atoms)
    finally:
        meso.chunk_atoms = None
    assert np.abs(parts - whole).max() <= 1e-5


def test_fit_recovers_a_read_out_and_chooses_the_kernel_of_the_labels():
    rng = np.random.default_rng(2)
    structures = [make_glass(n_cells=7, seed=s) for s in (10, 11)]
    preds, labels = [], []
    for a in structures:
        p = _field(a) + rng.normal(0, 0.3, len(a))
        preds.append(p)
        labels.append(0.6 * p + 1.1 * gaussian_average(a, p, 3.0, 7.5) + 0.4 + rng.normal(0, 0.01, len(a)))
    fit = fit_mesoscale(structures, preds, labels, sigmas=(1.0, 3.0, 5.0))
    c = fit["config"]
    assert c["sigma"] == 3.0 and c["kernel_cutoff"] == 7.5
    assert c["self_weight"] == pytest.approx(0.6, abs=0.02)
    assert c["neighbour_weight"] == pytest.approx(1.1, abs=0.03)
    assert c["offset"] == pytest.approx(0.4, abs=0.03)
    assert fit["cv"][3.0] > fit["base_cv"] and fit["val_pearson"] > 0.99


def test_nesting_is_bounded_and_bad_config_is_one_error(tmp_path, tiny_model_path):
    tiny = load_checkpoint(tiny_model_path)
    ens = ensemble_checkpoint([tiny, tiny], [0.5, 0.5], {})
    over_ens = mesoscale_checkpoint(ens, CONFIG, {})
    save_checkpoint(tmp_path / "ok.pt", over_ens)
    model = load_model(tmp_path / "ok.pt")  # read-out over an ensemble: allowed
    assert model.base.kind == "ensemble"
    deep = mesoscale_checkpoint(mesoscale_checkpoint(ens, CONFIG, {}), CONFIG, {})
    save_checkpoint(tmp_path / "deep.pt", deep)
    with pytest.raises(MgBarrierError, match="single model"):
        load_model(tmp_path / "deep.pt")
    save_checkpoint(tmp_path / "ens_of_meso.pt", ensemble_checkpoint([over_ens, tiny], [0.5, 0.5], {}))
    with pytest.raises(MgBarrierError, match="single model"):
        load_model(tmp_path / "ens_of_meso.pt")
    for bad in ({**CONFIG, "sigma": -1.0}, {**CONFIG, "offset": float("nan")}, {"sigma": 2.0}):
        save_checkpoint(tmp_path / "bad.pt", mesoscale_checkpoint(tiny, bad, {}))
        with pytest.raises(MgBarrierError, match="bad.pt: mesoscale"):
            load_model(tmp_path / "bad.pt")
