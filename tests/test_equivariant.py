"""The equivariant (e3nn) network kind: exact invariance, tiling, repeatability, training, checkpoints."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_glass

pytest.importorskip("e3nn")

import mgbarrier  # noqa: E402
from mgbarrier.graphs.graph import Graph, build_graph  # noqa: E402
from mgbarrier.models.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from mgbarrier.nn.equivariant import EquivariantConfig, EquivariantNet  # noqa: E402
from mgbarrier.nn.networks import build_network, config_from_dict, network_kind  # noqa: E402
from mgbarrier.training.symgnn import TrainSettings, make_labelled_graph, train  # noqa: E402

SMALL = dict(layers=2, scalars=8, vectors=4, tensors=2, radial_hidden=16, readout_hidden=16)


def _net(seed: int = 0) -> EquivariantNet:
    torch.manual_seed(seed)
    net = EquivariantNet(EquivariantConfig(**SMALL))
    torch.nn.init.normal_(net.decoder[-1].weight)  # a trained output layer is not zero
    return net.eval()


def _transformed(atoms, seed: int = 3):
    """Rotated, reflected, translated and permuted copy of ``atoms``; returns (copy, perm)
    with copy[k] = atoms[perm[k]]."""
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    r = Rotation.random(random_state=seed).as_matrix() @ np.diag([1.0, 1.0, -1.0])  # improper
    perm = rng.permutation(len(atoms))
    out = atoms[perm]
    out.set_cell(atoms.cell.array @ r.T, scale_atoms=False)
    out.positions = atoms.positions[perm] @ r.T + np.array([1.7, -0.4, 2.9])
    out.wrap()
    return out, perm


def _checkpoint(tmp_path, net: EquivariantNet):
    path = tmp_path / "eq.pt"
    save_checkpoint(path, {"kind": network_kind(net.cfg), "config": net.cfg.to_dict(), "label_mean": 1.6,
                           "label_std": 0.4, "state_dict": net.state_dict(), "metadata": {}})
    return path


def test_registered_kind_and_config_round_trip():
    cfg = EquivariantConfig(**SMALL)
    assert network_kind(cfg) == "equivariant"
    back = config_from_dict("equivariant", cfg.to_dict())
    assert back == cfg and isinstance(build_network(back), EquivariantNet)


def test_exact_invariance_float64():
    net = _net().double()
    glass = make_glass()
    moved, perm = _transformed(glass)
    cfg = net.cfg
    g1, g2 = (build_graph(a, cfg.species, cfg.cutoff) for a in (glass, moved))
    g1.vec, g2.vec = g1.vec.double(), g2.vec.double()
    with torch.no_grad():
        y1, y2 = net(g1).numpy(), net(g2).numpy()
    assert y1.std() > 1e-3  # not a constant
    rms = np.sqrt(np.mean((y2 - y1[perm]) ** 2)) * 0.4  # in eV at label_std 0.4
    assert rms < 1e-5


def test_loaded_model_invariance_tiling_repeatability_and_chunks(tmp_path):
    model = mgbarrier.load_model(_checkpoint(tmp_path, _net()))
    assert model.kind == "equivariant"
    glass = make_glass()
    y = model.predict(glass)
    assert y.shape == (len(glass),) and np.isfinite(y).all()
    assert np.array_equal(y, model.predict(glass))  # repeatable, bit for bit
    moved, perm = _transformed(glass)
    assert np.sqrt(np.mean((model.predict(moved) - y[perm]) ** 2)) < 1e-4
    tiled = glass.repeat((2, 2, 2))
    yt = model.predict(tiled)
    assert np.abs(yt - np.tile(y, 8)).max() < 1e-4
    model.net.inference_edge_chunk = 500  # sliced edges give the same values
    assert np.abs(model.predict(glass) - y).max() < 1e-5


def test_edge_mask_of_ones_changes_nothing():
    net = _net()
    g = build_graph(make_glass(), net.cfg.species, net.cfg.cutoff)
    with torch.no_grad():
        a = net(g)
        b = net(g, torch.ones(g.num_edges))
    assert torch.allclose(a, b)


def test_tiny_training_decreases_loss_and_checkpoint_loads(tmp_path):
    cfg = EquivariantConfig(**SMALL)
    sets = []
    for seed in (0, 1, 2):
        glass = make_glass(seed=seed)
        g = build_graph(glass, cfg.species, cfg.cutoff)
        cn = torch.zeros(g.num_nodes).index_add_(0, g.center, (g.vec.norm(dim=1) < 3.0).float())
        glass.arrays["barrier"] = (1.5 + 0.1 * cn.numpy() + 0.2 * (glass.numbers == 40)).astype(float)
        sets.append(make_labelled_graph(glass, cfg, f"g{seed}"))
    out = tmp_path / "trained.pt"
    settings = TrainSettings(epochs=12, lr=1e-2, warmup_epochs=1, mean_free_epochs=0, mean_ramp_epochs=0,
                             mean_weight=1.0, seed=0)
    summary = train(sets[:2], sets[2:], cfg, settings, out, log=lambda m: None)
    losses = [h["loss"] for h in load_checkpoint(out)["metadata"]["training"]["history"]]
    assert losses[-1] < 0.85 * losses[0]
    assert summary["best"]["pearson"] > 0.2
    model = mgbarrier.load_model(out)
    ck = load_checkpoint(out)
    net = EquivariantNet(EquivariantConfig.from_dict(ck["config"]))
    net.load_state_dict(ck["state_dict"])
    net.eval()
    with torch.no_grad():
        direct = net(sets[2].graph).double().numpy() * ck["label_std"] + ck["label_mean"]
    np.testing.assert_allclose(model.predict(make_glass(seed=2)), direct, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(tmp_path):
    path = _checkpoint(tmp_path, _net())
    glass = make_glass()
    a = mgbarrier.load_model(path).predict(glass)
    b = mgbarrier.load_model(path, device="cuda").predict(glass)
    assert np.abs(a - b).max() < 1e-4


def test_graph_type_is_shared():
    assert Graph is build_graph(make_glass(), ["Cu", "Zr"], 5.0).__class__


def test_cli_train_arch_equivariant(tmp_path):
    import ase.io

    from mgbarrier.cli import main

    files = []
    for seed in (0, 1):
        glass = make_glass(n_cells=2, seed=seed)
        glass.arrays["barrier"] = 1.5 + 0.1 * np.arange(len(glass)) % 3
        files.append(tmp_path / f"g{seed}.extxyz")
        ase.io.write(files[-1], glass)
    out = tmp_path / "m.pt"
    rc = main(["train", "--train", str(files[0]), "--val", str(files[1]), "-o", str(out), "--epochs", "1",
               "--arch", "equivariant", "--hidden", "8"])
    assert rc == 0 and load_checkpoint(out)["kind"] == "equivariant"
    assert mgbarrier.load_model(out).predict(make_glass(n_cells=2)).shape == (32,)
