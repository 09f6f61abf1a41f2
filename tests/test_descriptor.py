"""Descriptor model (SOAP + neighbour averages + ridge): fit, save/load, invariances, shipped model."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

pytest.importorskip("dscribe")

from conftest import DATA, make_glass, need  # noqa: E402

import mgbarrier  # noqa: E402
from mgbarrier.errors import MgBarrierError  # noqa: E402
from mgbarrier.metrics import pearson  # noqa: E402
from mgbarrier.models.checkpoint import save_checkpoint  # noqa: E402
from mgbarrier.models.registry import SHIPPED, WEIGHTS_DIR  # noqa: E402

ALPHAS = [1e-2, 1.0, 1e2, 1e4]


def _label(atoms):
    """A learnable synthetic barrier (eV): local coordination within 3.2 Å plus a Zr offset."""
    from mgbarrier.graphs.neighbours import neighbour_pairs

    i, _, _ = neighbour_pairs(atoms, 3.2, with_distance=True)
    coord = np.bincount(i, minlength=len(atoms))
    return 1.2 + 0.05 * coord + 0.3 * (atoms.numbers == 40)


def _labelled(seed):
    a = make_glass(3, seed=seed)
    a.arrays["barrier"] = _label(a)
    return a


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    from mgbarrier.training.descriptor import fit_descriptor_model

    train = [_labelled(s) for s in range(3)]
    train[0].arrays["barrier"][:5] = np.nan  # unlabelled atoms are skipped
    payload, report = fit_descriptor_model(train, [_labelled(10)], ALPHAS)
    path = tmp_path_factory.mktemp("descriptor") / "desc.pt"
    save_checkpoint(path, payload)
    return path, payload, report


def test_fit_report_and_checkpoint(fitted):
    path, payload, report = fitted
    assert report["n_train"] == 3 * 108 - 5
    assert report["alpha"] == ALPHAS[int(np.nanargmax(report["val_pearson"]))]
    assert payload["config"]["alpha"] == report["alpha"]
    assert report["train_pearson"] > 0.8
    # tensors only: loads with weights_only=True
    ck = torch.load(path, weights_only=True)
    assert ck["kind"] == "descriptor"
    assert set(ck["state_dict"]) == {"mean", "std", "coef", "intercept"}
    assert ck["state_dict"]["coef"].shape == (payload["config"]["n_features"],)


def test_load_predict_shape_determinism(fitted):
    path, _, _ = fitted
    model = mgbarrier.load_model(path)
    assert model.kind == "descriptor"
    assert model.species == ["Cu", "Zr"]
    assert model.cutoff == pytest.approx(13.5)
    a = _labelled(20)
    p1 = model.predict(a)
    assert p1.shape == (len(a),) and p1.dtype == np.float64 and np.all(np.isfinite(p1))
    assert np.array_equal(p1, model.predict(a))
    assert np.array_equal(p1, mgbarrier.load_model(path).predict(a))
    # generalises to an unseen structure of the synthetic task
    assert pearson(p1, a.arrays["barrier"]) > 0.5
    assert "descriptor" in model.describe()


def test_prediction_equals_full_feature_path(fitted, monkeypatch):
    """The folded (project-then-average, chunked) prediction equals ridge on the full feature rows."""
    import mgbarrier.graphs.soap as soap
    import mgbarrier.training.descriptor as d

    path, _, _ = fitted
    model = mgbarrier.load_model(path)
    a = make_glass(3, seed=5)
    f = model._fz.features(a)
    ref = d._predict_rows(f, model._mean, model._std, model._coef, model._intercept)
    ref = ref * model.label_std + model.label_mean
    p = model.predict(a)
    np.testing.assert_allclose(p, ref, rtol=0, atol=1e-6)
    monkeypatch.setattr(soap, "CHUNK", 25)  # spatial blocks on clusters with periodic images
    np.testing.assert_allclose(model.predict(a), p, rtol=0, atol=1e-8)
    tri = a.copy()  # and in a triclinic cell
    tri.set_cell(a.cell.array + np.array([[0, 0, 0], [3.0, 0, 0], [1.0, 2.0, 0]]), scale_atoms=True)
    monkeypatch.setattr(soap, "CHUNK", 10 ** 9)
    whole = model.predict(tri)
    monkeypatch.setattr(soap, "CHUNK", 25)
    np.testing.assert_allclose(model.predict(tri), whole, rtol=0, atol=1e-8)
    for pbc in ((True, True, False), False):  # a slab and a free cluster: images only along periodic axes
        part = tri.copy()
        part.pbc = pbc
        monkeypatch.setattr(soap, "CHUNK", 10 ** 9)
        whole = model.predict(part)
        monkeypatch.setattr(soap, "CHUNK", 25)
        np.testing.assert_allclose(model.predict(part), whole, rtol=0, atol=1e-8)


def test_rotation_translation_permutation_invariance(fitted):
    path, _, _ = fitted
    model = mgbarrier.load_model(path)
    a = make_glass(3, seed=7)
    p = model.predict(a)
    rng = np.random.default_rng(3)
    R, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    b = a.copy()
    b.set_cell(a.cell.array @ R.T, scale_atoms=False)
    b.positions = a.positions @ R.T + np.array([1.7, -3.2, 0.4])
    perm = rng.permutation(len(a))
    b = b[perm]
    q = model.predict(b)
    np.testing.assert_allclose(q, p[perm], rtol=1e-6, atol=0)


def test_non_periodic_cluster_and_unknown_element(fitted):
    path, _, _ = fitted
    model = mgbarrier.load_model(path)
    a = make_glass(3, seed=8)
    a.pbc = False
    assert np.all(np.isfinite(model.predict(a)))
    a.info["source"] = "cluster.xyz"
    a.symbols[0] = "Al"
    with pytest.raises(MgBarrierError, match="cluster.xyz.*Al"):
        model.predict(a)


def test_mismatched_weights_are_refused(fitted, tmp_path):
    _, payload, _ = fitted
    bad = dict(payload)
    bad["state_dict"] = dict(payload["state_dict"], coef=torch.zeros(10, dtype=torch.float64))
    p = tmp_path / "bad.pt"
    save_checkpoint(p, bad)
    with pytest.raises(MgBarrierError, match="features"):
        mgbarrier.load_model(p)


def test_missing_dscribe_is_a_clear_error(monkeypatch):
    from mgbarrier.graphs.soap import Featurizer
    from mgbarrier.models.descriptor import DEFAULT_CONFIG

    monkeypatch.setitem(sys.modules, "dscribe.descriptors", None)  # import now raises ImportError
    with pytest.raises(MgBarrierError, match=r"mgbarrier\[descriptor\]"):
        Featurizer(DEFAULT_CONFIG)


SHIPPED_PATH = WEIGHTS_DIR / SHIPPED["cu64zr36-descriptor"]


def test_shipped_model_loads_by_name():
    if not SHIPPED_PATH.exists():
        pytest.skip(f"{SHIPPED_PATH} not installed")
    model = mgbarrier.load_model("cu64zr36-descriptor")
    assert model.kind == "descriptor"
    assert model.species == ["Cu", "Zr"]
    m = model.metadata["metrics"]
    assert m["test_pooled_pearson"] > 0.75
    from mgbarrier.errors import MgBarrierWarning

    with pytest.warns(MgBarrierWarning):  # a jittered fcc toy is far from the training glasses
        p = model.predict(make_glass(3))
    assert p.shape == (108,) and np.all(np.isfinite(p))


def test_shipped_model_reproduces_its_test0_pearson():
    """Shipped model on test0: Pearson within 0.01 of what its metadata records (~1 s)."""
    if not SHIPPED_PATH.exists():
        pytest.skip(f"{SHIPPED_PATH} not installed")
    from mgbarrier.io.files import file_sha256
    from mgbarrier.io.symgnn_pickle import read_symgnn_pickle

    path = need(DATA / "test0.pickle")
    model = mgbarrier.load_model("cu64zr36-descriptor")
    assert model.metadata["training"]["data_sha256"]["test0"] == file_sha256(path)
    atoms = read_symgnn_pickle(path)
    r = pearson(model.predict(atoms), atoms.arrays["barrier"])
    assert abs(r - model.metadata["metrics"]["test0_pearson"]) < 0.01


def test_structure_unlike_the_training_glasses_warns(tmp_path, capsys):
    """The ridge model extrapolates linearly: a jittered fcc crystal gets barriers far outside
    the training range, and the user is told so (one line from the CLI); a glass close to the
    training data (test0) gets no warning."""
    import ase.build
    import ase.io

    from mgbarrier.cli import main
    from mgbarrier.errors import MgBarrierWarning

    crystal = ase.build.bulk("Cu", "fcc", a=3.6, cubic=True).repeat(4)
    crystal.numbers[::3] = 40
    crystal.rattle(0.05, seed=1)
    model = mgbarrier.load_model("cu64zr36-descriptor")
    with pytest.warns(MgBarrierWarning, match="unlike the training glasses"):
        y = model.predict(crystal)
    assert (np.abs(model.predict_raw(crystal) - model.label_mean) > 6 * model.label_std).any()
    assert y.min() >= 0.01  # no impossible barrier is written (floored, counted in the warning)
    ase.io.write(tmp_path / "fcc.extxyz", crystal)
    assert main(["predict", str(tmp_path / "fcc.extxyz"), "-o", str(tmp_path / "out.extxyz"),
                 "--model", "cu64zr36-descriptor"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "extrapolates" in line]
    assert len(err) == 1 and err[0].startswith("mgbarrier: warning: ") and "fcc.extxyz" in err[0]
    need(DATA / "test0.pickle")
    import warnings

    from mgbarrier.io.symgnn_pickle import read_symgnn_pickle
    with warnings.catch_warnings():
        warnings.simplefilter("error", MgBarrierWarning)
        model.predict(read_symgnn_pickle(DATA / "test0.pickle"))
