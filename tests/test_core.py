"""Core: structures -> graphs, SymGNN invariance and determinism, checkpoints, training."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list as ase_neighbor_list
from conftest import DATA, make_glass, need

import mgbarrier
from mgbarrier.errors import MgBarrierError
from mgbarrier.graphs.checks import validate_atoms
from mgbarrier.graphs.graph import build_graph
from mgbarrier.graphs.neighbours import neighbour_pairs
from mgbarrier.io.species import element_from_mass, parse_species_map
from mgbarrier.models.checkpoint import load_checkpoint, save_checkpoint
from mgbarrier.nn.symgnn import SymGNN, SymGNNConfig


def _pairs_sorted(i, j, D):
    key = np.lexsort(tuple(np.round(D, 5).T[::-1]) + (j, i))
    return i[key], j[key], np.round(D[key], 5)


@pytest.mark.parametrize("case", ["ortho", "triclinic", "small", "outside", "open"])
def test_neighbour_pairs_match_ase(case):
    atoms = make_glass(n_cells=2, seed=3)
    if case == "triclinic":
        cell = atoms.cell.array.copy()
        cell[1, 0] += 2.5
        cell[2, 0] += 1.0
        cell[2, 1] -= 1.5
        atoms.set_cell(cell, scale_atoms=True)
    elif case == "small":  # box (8 Å) smaller than twice the cutoff: several images per pair
        pass
    elif case == "outside":
        atoms.positions[:5] += atoms.cell.array[0] * 1.7 - atoms.cell.array[2] * 2.2
    elif case == "open":
        atoms.pbc = False
    cutoff = 5.0
    i, j, D = neighbour_pairs(atoms, cutoff)
    ia, ja, Da = ase_neighbor_list("ijD", atoms, cutoff)
    assert len(i) == len(ia)
    a = _pairs_sorted(i, j, D)
    b = _pairs_sorted(ia, ja, Da)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=1e-4)


def test_species_rules():
    assert parse_species_map("1=Cu, 2=Zr") == {1: "Cu", 2: "Zr"}
    with pytest.raises(MgBarrierError, match="not a chemical element"):
        parse_species_map("1=Qq")
    assert element_from_mass(63.546) == "Cu" and element_from_mass(91.224) == "Zr"
    with pytest.raises(MgBarrierError, match="matches no element"):
        element_from_mass(500.0)


def test_validate_refuses_bad_structures():
    atoms = make_glass(n_cells=2)
    bad = atoms.copy()
    bad.positions[3, 1] = np.nan
    with pytest.raises(MgBarrierError, match="non-finite"):
        validate_atoms(bad, "x.xyz")
    bad = atoms.copy()
    bad.positions[1] = bad.positions[0] + 0.1
    with pytest.raises(MgBarrierError, match="overlapping atoms"):
        validate_atoms(bad, "x.xyz")
    with pytest.raises(MgBarrierError, match="no atoms"):
        validate_atoms(Atoms(), "x.xyz")


def test_unknown_element_is_an_error(tiny_model_path):
    model = mgbarrier.load_model(tiny_model_path)
    atoms = make_glass(n_cells=2)
    atoms[0].symbol = "Fe"
    with pytest.raises(MgBarrierError, match="Fe unknown to this model"):
        model.predict(atoms)


def _random_orthogonal(seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q


def test_predictions_invariant_and_deterministic(tiny_model_path):
    model = mgbarrier.load_model(tiny_model_path)
    atoms = make_glass(n_cells=3, seed=1)
    y = model.predict(atoms)
    assert y.shape == (len(atoms),) and y.dtype == np.float64
    assert np.array_equal(y, model.predict(atoms.copy())), "repeated runs must be bit-identical"
    assert np.array_equal(y, mgbarrier.load_model(tiny_model_path).predict(atoms))
    # rotation + reflection + translation + permutation
    q = _random_orthogonal(5)
    if np.linalg.det(q) > 0:
        q[:, 0] *= -1  # include a reflection
    perm = np.random.default_rng(2).permutation(len(atoms))
    moved = Atoms(symbols=np.array(atoms.get_chemical_symbols())[perm],
                  positions=atoms.positions[perm] @ q.T + np.array([1.3, -7.1, 2.2]),
                  cell=atoms.cell.array @ q.T, pbc=True)
    y2 = model.predict(moved)
    assert np.sqrt(np.mean((y2 - y[perm]) ** 2)) < 1e-4
    # 2x2x2 periodic tiling: every image has the same environment
    big = atoms.repeat((2, 2, 2))
    yb = model.predict(big).reshape(8, len(atoms))
    assert np.abs(yb - y[None, :]).max() < 1e-3
    # the model does depend on the structure
    jiggled = atoms.copy()
    jiggled.positions += np.random.default_rng(9).normal(scale=0.2, size=jiggled.positions.shape)
    assert np.abs(model.predict(jiggled) - y).max() > 1e-4


def test_sampled_mode_is_reproducible_but_only_approximately_invariant(tiny_model_path):
    model = mgbarrier.load_model(tiny_model_path, n_transforms=8)
    atoms = make_glass(n_cells=2, seed=4)
    assert np.array_equal(model.predict(atoms), model.predict(atoms))


def test_haar_table_matches_brute_force_average(tiny_model_path):
    """The tabulated Haar expectation equals a Monte-Carlo average over random O(3) transforms."""
    from mgbarrier.nn.layers import haar_rotation

    model = mgbarrier.load_model(tiny_model_path)
    net = model.net
    vec = torch.tensor([[1.0, 2.0, 2.0], [0.0, 0.0, 3.3], [-2.5, 1.0, 0.5]])
    exact = net._haar_lookup(vec)
    g = torch.Generator().manual_seed(0)
    ts = torch.stack([haar_rotation(g) * (1 if k % 2 else -1) for k in range(20000)])
    with torch.no_grad():
        mc = net._average(vec, ts)
    assert torch.allclose(exact, mc, atol=3e-3)


def test_distribution_parameters_learn(glass):
    cfg = SymGNNConfig(hidden=16, edge_hidden=8, encoder_hidden=16, heads=(2, 1))
    torch.manual_seed(0)
    net = SymGNN(cfg)
    net._generator = torch.Generator().manual_seed(0)
    g = build_graph(glass, cfg.species, cfg.cutoff)
    y = torch.randn(len(glass))
    before = [p.detach().clone() for p in (net.distribution.loc, net.distribution.log_kappa)]
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for step in range(4):
        loss = ((net(g) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        if step > 0:  # the output layer starts at zero, so step 0 only moves the decoder
            assert net.distribution.loc.grad.abs().sum() > 0
            assert net.distribution.log_kappa.grad.abs().sum() > 0
        opt.step()
    after = (net.distribution.loc, net.distribution.log_kappa)
    assert all(not torch.equal(b, a) for b, a in zip(before, after))


def test_von_mises_reparameterisation_gradient():
    """d E[cos θ]/dκ from the implicit reparameterisation matches the analytic A'(κ)."""
    from scipy.special import i0, i1, ive

    from mgbarrier.nn.layers import sample_von_mises

    kappa = torch.tensor([1.5], requires_grad=True)
    g = torch.Generator().manual_seed(0)
    theta = sample_von_mises(torch.zeros(1), kappa, (200000,), g)
    torch.cos(theta).mean().backward()
    k = 1.5
    a = i1(k) / i0(k)
    analytic = 1 - a / k - a * a  # A'(κ)
    assert abs(kappa.grad.item() - analytic) < 0.02
    assert abs(float(torch.cos(theta.detach()).mean()) - a) < 0.01
    del ive


def test_checkpoint_refuses_bad_files(tmp_path, tiny_model_path):
    with pytest.raises(MgBarrierError, match="not found"):
        mgbarrier.load_model(tmp_path / "nope.pt")
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(Path(tiny_model_path).read_bytes()[:500])
    with pytest.raises(MgBarrierError, match="corrupt or truncated"):
        mgbarrier.load_model(trunc)
    # a pickle that would run code when loaded without weights_only
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "mgbarrier", "kind": "symgnn", "config": {}, "state_dict": {}, "x": Evil()}, evil)
    with pytest.raises(MgBarrierError, match="refused to load"):
        mgbarrier.load_model(evil)
    assert not marker.exists()
    # weights that do not fit the stored architecture
    ck = load_checkpoint(tiny_model_path)
    ck["config"]["hidden"] = 32
    bad = tmp_path / "mismatch.pt"
    save_checkpoint(bad, ck)
    with pytest.raises(MgBarrierError, match="do not match"):
        mgbarrier.load_model(bad)
    other = tmp_path / "other.pt"
    torch.save({"hello": torch.zeros(2)}, other)
    with pytest.raises(MgBarrierError, match="not an mgbarrier model"):
        mgbarrier.load_model(other)


def test_restricted_unpickler_refuses_code(tmp_path):
    from mgbarrier.io.symgnn_pickle import load_pickle_arrays

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    f = tmp_path / "evil.pickle"
    f.write_bytes(pickle.dumps({"positions": Evil()}))
    with pytest.raises(MgBarrierError, match="not a numpy-only pickle"):
        load_pickle_arrays(f)
    assert not marker.exists()
    ok = tmp_path / "ok.pickle"
    ok.write_bytes(pickle.dumps({"a": np.arange(3.0)}))
    assert np.array_equal(load_pickle_arrays(ok)["a"], np.arange(3.0))


def test_published_pickle_reads():
    atoms = mgbarrier.symgnn_data.read_symgnn_pickle(need(DATA / "test0.pickle")) \
        if hasattr(mgbarrier, "symgnn_data") else None
    from mgbarrier.io.symgnn_pickle import read_symgnn_pickle

    atoms = read_symgnn_pickle(need(DATA / "test0.pickle"))
    assert len(atoms) == 3000 and set(atoms.get_chemical_symbols()) == {"Cu", "Zr"}
    assert atoms.arrays["barrier"].shape == (3000,) and np.isfinite(atoms.arrays["barrier"]).all()


def _labelled_glass(seed):
    a = make_glass(n_cells=2, seed=seed)
    d = a.get_all_distances(mic=True)
    np.fill_diagonal(d, np.inf)
    a.arrays["barrier"] = 1.0 + 0.1 * (d < 3.0).sum(1) + (a.numbers == 40) * 0.2
    a.arrays["barrier"][:3] = np.nan  # unlabelled atoms are masked out
    return a


def test_train_resume_and_interrupt(tmp_path):
    import ase.io

    from mgbarrier.cli import main

    ase.io.write(tmp_path / "tr.extxyz", [_labelled_glass(0), _labelled_glass(1)])
    ase.io.write(tmp_path / "va.extxyz", _labelled_glass(2))
    out = tmp_path / "m.pt"
    args = ["train", "--train", str(tmp_path / "tr.extxyz"), "--val", str(tmp_path / "va.extxyz"), "-o", str(out),
            "--hidden", "16", "--k", "2", "--seed", "3"]
    assert main(args + ["--epochs", "4", "--stop-after", "2"]) == 0  # a 4-epoch schedule, ended after 2
    ck = load_checkpoint(out)
    assert ck["metadata"]["training"]["epochs"] == 2
    assert len(ck["metadata"]["training"]["data"]) == 2 and "sha256" in ck["metadata"]["training"]["data"][0]
    # more epochs on the same run directory resume from epoch 2 instead of starting over
    assert main(args + ["--epochs", "3"]) == 0
    hist = load_checkpoint(out)["metadata"]["training"]["history"]
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    y = mgbarrier.load_model(out).predict(_labelled_glass(2))
    assert np.isfinite(y).all()


def test_cli_info_and_import(tmp_path, tiny_model_path, capsys):
    from mgbarrier.cli import main

    assert main(["info", "--model", str(tiny_model_path)]) == 0
    assert "species    : Cu, Zr" in capsys.readouterr().out
    src = need(DATA / "test1.pickle")
    out = tmp_path / "t.extxyz"
    assert main(["import-symgnn", str(src), "-o", str(out)]) == 0
    import ase.io

    a = ase.io.read(out)
    assert len(a) == 3000 and np.isfinite(a.arrays["barrier"]).all()


def test_chunked_inference_equals_full(tiny_model_path):
    """Without gradients, big graphs run in atom-aligned edge slices: same numbers, also for
    edges in any order and an atom with no neighbour."""
    from mgbarrier.graphs.graph import Graph

    model = mgbarrier.load_model(tiny_model_path)
    atoms = make_glass(n_cells=3, seed=4)
    atoms.pbc = False
    atoms.append("Cu")
    atoms.positions[-1] = atoms.positions.max(axis=0) + 20.0  # isolated: no edges
    g = build_graph(atoms, model.species, model.cutoff)
    perm = torch.randperm(g.num_edges, generator=torch.Generator().manual_seed(0))
    shuffled = Graph(g.species, g.center[perm], g.neighbor[perm], g.vec[perm])
    net = model.net
    with torch.no_grad():
        net.inference_edge_chunk = 10 ** 9
        full = net(g)
        net.inference_edge_chunk = 97  # many slices
        chunked = net(shuffled)
    net.inference_edge_chunk = type(net).inference_edge_chunk
    assert torch.allclose(full, chunked, atol=1e-5, rtol=0)
