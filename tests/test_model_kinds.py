"""Baseline networks, the output-layer refit, ensembles, and the training loss split."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from conftest import make_glass, write_tiny_model

import mgbarrier
from mgbarrier.errors import MgBarrierError
from mgbarrier.graphs.graph import build_graph
from mgbarrier.models.checkpoint import load_checkpoint, save_checkpoint
from mgbarrier.nn.baselines import BaselineConfig, build_baseline
from mgbarrier.training.ensemble import choose_weight, ensemble_checkpoint
from mgbarrier.training.refit import output_features, refit_output_layer
from mgbarrier.training.symgnn import structure_loss


def _rotated(atoms: Atoms, seed: int = 4) -> Atoms:
    from scipy.spatial.transform import Rotation

    r = Rotation.random(random_state=seed).as_matrix()
    out = atoms.copy()
    out.set_cell(atoms.cell.array @ r.T, scale_atoms=False)
    out.positions = atoms.positions @ r.T
    return out


@pytest.mark.parametrize("arch", ["schnet", "gcn", "mlp"])
def test_baselines_save_load_predict(tmp_path, arch):
    torch.manual_seed(0)
    cfg = BaselineConfig(arch=arch, hidden=16, layers=2)
    net = build_baseline(cfg)
    torch.nn.init.normal_(net.decoder[-1].weight)  # trained output layers are not zero
    path = tmp_path / f"{arch}.pt"
    save_checkpoint(path, {"kind": "baseline", "config": cfg.to_dict(), "label_mean": 1.5, "label_std": 0.3,
                           "state_dict": net.state_dict(), "metadata": {}})
    model = mgbarrier.load_model(path)
    glass = make_glass()
    y = model.predict(glass)
    assert y.shape == (len(glass),) and np.isfinite(y).all()
    assert np.array_equal(y, model.predict(glass))
    if arch == "mlp":  # species only: two values
        assert len(np.unique(np.round(y, 10))) == 2
    else:
        assert len(np.unique(np.round(y, 6))) > 10
    if arch == "schnet":  # invariant by construction
        assert np.abs(model.predict(_rotated(glass)) - y).max() < 1e-4


def test_unknown_baseline_is_refused(tmp_path):
    cfg = BaselineConfig(arch="schnet", hidden=16, layers=2).to_dict()
    sd = build_baseline(BaselineConfig(arch="schnet", hidden=16, layers=2)).state_dict()
    cfg["arch"] = "transformer"
    save_checkpoint(tmp_path / "b.pt", {"kind": "baseline", "config": cfg, "state_dict": sd, "metadata": {}})
    with pytest.raises(MgBarrierError, match="unknown baseline architecture"):
        mgbarrier.load_model(tmp_path / "b.pt")


def test_structure_loss_splits_mse():
    p, t = torch.randn(50), torch.randn(50) + 3.0
    assert torch.allclose(structure_loss(p, t, 1.0), ((p - t) ** 2).mean(), atol=1e-5)
    # with weight 0 a constant offset costs nothing
    assert torch.allclose(structure_loss(p + 7.0, p, 0.0), torch.tensor(0.0), atol=1e-5)


def test_refit_output_layer_fits_pooled_means(tmp_path):
    """Labels that are a linear map of the output features plus per-structure offsets that
    the features also carry: the refit recovers them and the CV grid is reported."""
    model = mgbarrier.load_model(write_tiny_model(tmp_path / "t.pt"))
    net = model.net
    graphs, labels = [], []
    rng = np.random.default_rng(0)
    w_true = rng.normal(size=net.decoder[-1].in_features)
    for seed in range(4):
        g = build_graph(make_glass(seed=seed, jitter=0.15 + 0.05 * seed), model.species, model.cutoff)
        graphs.append(g)
        labels.append(1.5 + 0.3 * (output_features(net, g) @ w_true) / 10)
    before = np.concatenate([model.predict_graph(g) for g in graphs])
    rep = refit_output_layer(net, graphs, labels, ["a", "a", "b", "c"], model.label_mean, model.label_std)
    after = np.concatenate([model.predict_graph(g) for g in graphs])
    y = np.concatenate(labels)
    assert rep["groups"] == ["a", "b", "c"] and len(rep["cv_grid"]) > 3
    assert np.corrcoef(after, y)[0, 1] > 0.99 > np.corrcoef(before, y)[0, 1]
    with pytest.raises(ValueError, match="two groups"):
        refit_output_layer(net, graphs[:1], labels[:1], ["a"], 0.0, 1.0)


def test_ensemble_is_the_weighted_sum(tmp_path, tiny_model_paths):
    members = [load_checkpoint(p) for p in tiny_model_paths[:2]]
    path = tmp_path / "ens.pt"
    save_checkpoint(path, ensemble_checkpoint(members, [0.3, 0.7], {"description": "test ensemble"}))
    ens = mgbarrier.load_model(path)
    a, b = (mgbarrier.load_model(p) for p in tiny_model_paths[:2])
    glass = make_glass()
    assert np.allclose(ens.predict(glass), 0.3 * a.predict(glass) + 0.7 * b.predict(glass))
    assert ens.predict_members(glass).shape == (2, len(glass))
    assert "weight 0.70" in ens.describe()
    bad = ensemble_checkpoint(members, [0.5, 0.6], {})
    save_checkpoint(tmp_path / "bad.pt", bad)
    with pytest.raises(MgBarrierError, match="sum to 1"):
        mgbarrier.load_model(tmp_path / "bad.pt")


def test_choose_weight_finds_the_better_mix():
    rng = np.random.default_rng(1)
    y = rng.normal(size=2000)
    a = y + rng.normal(scale=1.0, size=y.size)  # two independent noisy predictors:
    b = y + rng.normal(scale=1.0, size=y.size)  # the best mix is near 0.5
    rep = choose_weight([a], [b], [y])
    assert 0.35 <= rep["weight"] <= 0.65
    assert rep["val_pearson"] > max(np.corrcoef(a, y)[0, 1], np.corrcoef(b, y)[0, 1])
    assert choose_weight([y], [b], [y])["weight"] == 1.0


def test_soap_node_features_train_predict_invariant(tmp_path):
    """SymGNN with SOAP node inputs: trains from the CLI, predicts, stays invariant."""
    pytest.importorskip("dscribe")
    import ase.io
    from test_core import _labelled_glass

    from mgbarrier.cli import main

    ase.io.write(tmp_path / "tr.extxyz", [_labelled_glass(0), _labelled_glass(1)])
    out = tmp_path / "soap.pt"
    assert main(["train", "--train", str(tmp_path / "tr.extxyz"), "--val", str(tmp_path / "tr.extxyz"),
                 "-o", str(out), "--hidden", "16", "--epochs", "1", "--node-features", "soap"]) == 0
    ck = load_checkpoint(out)
    assert ck["config"]["node_features"] == "soap" and ck["config"]["node_feature_dim"] > 100
    model = mgbarrier.load_model(out)
    torch.nn.init.normal_(model.net.decoder[-1].weight)  # one epoch leaves the output nearly flat
    glass = make_glass(seed=3)
    y = model.predict(glass)
    assert y.shape == (len(glass),) and len(np.unique(np.round(y, 6))) > 10
    assert np.abs(model.predict(_rotated(glass)) - y).max() < 1e-3
    # the SOAP input matters: a model without it gives other values
    g = model_graph_of(model, glass)
    g.node_attr = torch.zeros_like(g.node_attr)
    assert np.abs(model.predict_graph(g) - y).max() > 1e-4


def model_graph_of(model, atoms):
    from mgbarrier.graphs.inputs import model_graph

    return model_graph(atoms, model.config)


def test_soap_blocks_equal_the_whole_structure_and_projections_are_rows_times_map(monkeypatch):
    """SOAP rows computed in spatial blocks (clusters with periodic images) equal dscribe's
    periodic rows of the whole structure, and ``with_soap_inputs`` stores rows @ matrix +
    offset under the projection's name, leaving the input structure unchanged."""
    pytest.importorskip("dscribe")
    import mgbarrier.graphs.soap as D
    from mgbarrier.models.descriptor import DEFAULT_CONFIG

    settings = dict(DEFAULT_CONFIG["soap"], n_max=2, l_max=2)
    fz = D.soap_featurizer(("Cu", "Zr"), tuple(sorted(settings.items())))
    glass = make_glass(seed=5)
    ready, _ = fz.prepare(glass)
    whole = fz.soap(ready)
    monkeypatch.setattr(D, "CHUNK", len(glass) // 8)
    blocks = list(fz.soap_blocks(ready))
    assert len(blocks) == 8
    rows = np.empty_like(whole)
    for idx, r in blocks:
        rows[idx] = r
    assert np.sort(np.concatenate([i for i, _ in blocks])).tolist() == list(range(len(glass)))
    assert np.abs(rows - whole).max() <= 1e-6 * np.abs(whole).max()
    rng = np.random.default_rng(0)
    p = D.SoapProjection(("Cu", "Zr"), tuple(sorted(settings.items())), rng.normal(size=(fz.n_soap, 3)),
                         np.array([1.0, 2.0, 3.0]))
    out = D.with_soap_inputs(glass, [p])
    assert p.name.startswith(D.INPUT_PREFIX) and p.name not in glass.arrays
    assert np.allclose(out.arrays[p.name], whole @ p.matrix + p.offset, rtol=1e-6, atol=1e-8)
    assert D.with_soap_inputs(out, [p]) is out  # already there: nothing computed
    # a pass of SOAP blocks per distinct (species, settings), not per settings alone
    q = D.SoapProjection(("Zr", "Cu"), p.soap, p.matrix, p.offset)
    r = D.SoapProjection(p.species, p.soap, 2 * p.matrix, p.offset)
    assert D.soap_passes([p, r]) == 1 and D.soap_passes([p, q, r]) == 2
    # the neighbour averages of prediction equal the fitting's averaging matrices
    full = D.Featurizer(dict(DEFAULT_CONFIG, soap=settings))
    values = rng.normal(size=(len(glass), len(full.lengths)))
    mats = full.averaging(ready)
    expected = np.stack([W @ values[:, k] for k, W in enumerate(mats)])
    assert np.allclose(full.averages(ready, values), expected, rtol=1e-12, atol=1e-12)
    assert not np.allclose(expected[0], values[:, 0])  # the averages do average


def test_ensemble_computes_each_atoms_soap_once(monkeypatch):
    """The shipped ensemble (a SOAP-SymGNN and the descriptor model share SOAP settings) asks
    dscribe for every atom's SOAP row exactly once per prediction, and its members give what
    they give alone."""
    pytest.importorskip("dscribe")
    import warnings

    import mgbarrier.graphs.soap as D

    ens = mgbarrier.load_model("cu64zr36-ensemble")
    glass = make_glass(seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a generated glass is out of the descriptor's domain
        alone = np.stack([m.predict_raw(glass) for m in ens.members])
        centres = []
        real = D.Featurizer.soap
        monkeypatch.setattr(D.Featurizer, "soap", lambda self, ready, centers=None: centres.append(
            len(ready) if centers is None else len(centers)) or real(self, ready, centers))
        together = ens.predict_members(glass)
    assert sum(m.soap_projections() != [] for m in ens.members) == 2
    assert centres == [len(glass)]
    assert np.abs(together - alone).max() <= 1e-5
