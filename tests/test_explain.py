"""Explanations (mgbarrier.explain): receptive field, GNNExplainer, MRO, topology, CLI, OVITO."""
from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from ase.io import write
from conftest import make_glass, write_tiny_model

from mgbarrier.cli import main
from mgbarrier.errors import MgBarrierError
from mgbarrier.explain.api import explain_atoms, model_parts
from mgbarrier.explain.explainer import ExplainerSettings, explain_node
from mgbarrier.explain.mro import atom_importance, distance_histogram, fraction_in_range, top_edges
from mgbarrier.explain.subgraph import receptive_field
from mgbarrier.explain.topology import cycles_per_edge, importance_bins, optimal_cycles
from mgbarrier.graphs.graph import build_graph
from mgbarrier.nn.symgnn import SymGNN, SymGNNConfig


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("explain_model") / "tiny.pt")


@pytest.fixture(scope="module")
def glass_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("explain_glass") / "glass.extxyz"
    write(path, make_glass(n_cells=4, seed=2))
    return path


# ----------------------------------------------------------------------------- receptive field
def test_receptive_field_prediction_equals_full_graph():
    torch.manual_seed(0)
    cfg = SymGNNConfig(hidden=16, edge_hidden=8, encoder_hidden=16, heads=(2, 2, 1), lebedev_order=17,
                       radial_points=256)
    net = SymGNN(cfg)
    atoms = make_glass(n_cells=5, seed=3)  # 500 atoms, 20 Å box: a 3-layer field is a real subset
    g = build_graph(atoms, cfg.species, cfg.cutoff)
    net.calibrate(g)
    torch.nn.init.normal_(net.decoder[-1].weight, std=0.5)
    net.eval()
    with torch.no_grad():
        full = net(g).numpy()
        for c in (0, 123, 499):
            f = receptive_field(g, c, 3)
            assert f.graph.num_edges < g.num_edges
            assert f.nodes[f.centre] == c and f.hops[f.centre] == 0 and f.hops.max() == 3
            assert set(f.edge_hop.tolist()) == {1, 2, 3}
            np.testing.assert_allclose(net(f.graph).numpy()[f.centre], full[c], atol=1e-5)
            short = receptive_field(g, c, 2)  # one hop too few: not the same prediction
            assert abs(net(short.graph).numpy()[short.centre] - full[c]) > 1e-5


# ----------------------------------------------------------------------------- planted edge
class PlantedEdgeNet(torch.nn.Module):
    """Two message-passing layers on a realistic (standardised) scale: a message sent by
    the one Zr atom adds 1, any other 0.002, so the edge Zr -> centre decides the output."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, g, edge_mask=None):
        m = torch.ones(g.num_edges) if edge_mask is None else edge_mask
        w = torch.where(g.species[g.neighbor] == 1, 1.0, 0.002)
        h1 = torch.zeros(g.num_nodes).index_add(0, g.center, m * w)
        h2 = torch.zeros(g.num_nodes).index_add(0, g.center, m * torch.tanh(h1[g.neighbor]))
        return self.scale * (h1 + 0.01 * h2)


def _planted_setup():
    atoms = make_glass(n_cells=4, seed=5, cu_fraction=1.0)
    zr = 37
    atoms[zr].symbol = "Zr"
    d = atoms.get_distances(zr, range(len(atoms)), mic=True)
    d[zr] = np.inf
    centre = int(np.argmin(d))
    model = SimpleNamespace(net=PlantedEdgeNet(), config=SimpleNamespace(species=["Cu", "Zr"], cutoff=5.0,
                                                                         heads=(1, 1)),
                            label_mean=0.0, label_std=1.0)
    return atoms, zr, centre, model


def test_planted_edge_is_ranked_first():
    atoms, zr, centre, model = _planted_setup()
    exp = explain_atoms(model, atoms, [centre], ExplainerSettings(epochs=100, seed=0), top=10, topology=None)[0]
    assert (exp.edges["i"][0], exp.edges["j"][0]) == (centre, zr)
    assert exp.edges["hop"][0] == 1
    imp = exp.edges["importance"]
    assert imp[0] > 0.9 and imp[0] - imp[1] > 0.2, imp[:5]
    assert exp.edges["saliency"][0] == pytest.approx(1.0, abs=0.01) == exp.edges["saliency"].max()
    # the field holds second-hop edges too (the Zr atom's messages to the centre's neighbours)
    assert exp.edges["hop"].max() == 2 and exp.n_edges > 100
    # the top edges alone keep the planted part of the output (1 of 1.25; without it: 0.25)
    assert exp.prediction == pytest.approx(1.25, abs=0.02)
    assert exp.top_prediction == pytest.approx(1.0, abs=0.05)
    assert exp.masked_prediction == pytest.approx(exp.prediction, abs=0.3)


def test_explainer_is_deterministic_and_seeded():
    atoms, _, centre, model = _planted_setup()
    g = build_graph(atoms, ["Cu", "Zr"], 5.0)
    f = receptive_field(g, centre, 2)
    a = explain_node(model.net, f, ExplainerSettings(epochs=30, seed=3))
    b = explain_node(model.net, f, ExplainerSettings(epochs=30, seed=3))
    c = explain_node(model.net, f, ExplainerSettings(epochs=30, seed=4))
    np.testing.assert_array_equal(a.importance, b.importance)
    assert not np.array_equal(a.importance, c.importance)
    assert a.importance.shape == (f.graph.num_edges,) and np.all((a.importance > 0) & (a.importance < 1))
    assert model.net.scale.requires_grad and model.net.training  # restored afterwards


def test_descriptor_model_is_refused():
    with pytest.raises(MgBarrierError, match="needs? a SymGNN checkpoint"):
        model_parts(SimpleNamespace(kind="descriptor", path="cu64zr36_descriptor.pt", predict=lambda a: None))


# ----------------------------------------------------------------------------- MRO helpers
def test_mro_helpers():
    center = np.array([0, 0, 1, 2])
    neighbor = np.array([1, 2, 0, 3])
    imp = np.array([0.2, 0.9, 0.5, 0.1])
    np.testing.assert_allclose(atom_importance(5, center, neighbor, imp), [0.9, 0.5, 0.9, 0.1, 0.0])
    np.testing.assert_array_equal(top_edges(np.array([0.1, 0.5, 0.5, 0.3]), 3), [1, 2, 3])
    h = distance_histogram([1.0, 6.0, 7.0], [1.0, 2.0, 6.0, 7.0, 9.0], bin_width=0.5)
    assert np.sum(h["important"]) * 0.5 == pytest.approx(1.0) and np.sum(h["all"]) * 0.5 == pytest.approx(1.0)
    assert h["important_count"].sum() == 3 and h["all_count"].sum() == 5
    assert fraction_in_range([1.0, 6.0, 7.0, 10.0]) == pytest.approx(0.5)


# ----------------------------------------------------------------------------- topology
def test_optimal_cycles_of_two_rings_sharing_an_edge():
    pytest.importorskip("gudhi")
    # unit square 0-1-3-2 and a 1.3 x 1 rectangle 1-4-5-3 sharing the edge 1-3
    pts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [2.3, 0, 0], [2.3, 1, 0]], float)
    cyc = optimal_cycles(pts)
    assert len(cyc) == 2
    assert [c.birth for c in cyc] == pytest.approx([0.5, 0.65])  # alpha: ball radius, Å
    assert [c.death for c in cyc] == pytest.approx([np.sqrt(2) / 2, np.sqrt(1.3 ** 2 + 1) / 2])
    assert sorted(map(sorted, (c.vertices.tolist() for c in cyc))) == [[0, 1, 2, 3], [1, 3, 4, 5]]
    pairs = np.array([[1, 3], [3, 1], [0, 1], [4, 5], [1, 2], [3, 4], [0, 5]])
    np.testing.assert_array_equal(cycles_per_edge(cyc, pairs), [2, 2, 1, 1, 0, 0, 0])


def test_optimal_cycles_ring_tetrahedron_and_rips():
    pytest.importorskip("gudhi")
    ang = np.arange(6) * np.pi / 3
    ring = np.stack([np.cos(ang), np.sin(ang), np.zeros(6)], axis=1)  # hexagon, side 1 Å
    (c,) = optimal_cycles(ring)
    assert len(c.vertices) == 6 and c.birth == pytest.approx(0.5) and c.death == pytest.approx(1.0)
    assert len(c.edges) == 6 and all(abs(a - b) in (1, 5) for a, b in c.edges)  # consecutive ring atoms
    tet = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    assert optimal_cycles(tet) == []
    square = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)
    (r,) = optimal_cycles(square, "rips", max_edge_length=2.0)  # Rips: edge lengths
    assert r.birth == pytest.approx(1.0) and r.death == pytest.approx(np.sqrt(2))
    assert sorted(r.vertices.tolist()) == [0, 1, 2, 3]
    assert optimal_cycles(ring, min_persistence=0.6) == []


def test_importance_bins():
    imp = np.linspace(1.0, 0.0, 300)  # edge k has rank k
    b = importance_bins(imp, 50, seed=1)
    np.testing.assert_array_equal(b["high"], np.arange(50))
    np.testing.assert_array_equal(b["low"], np.arange(250, 300))
    np.testing.assert_array_equal(b["medium"], np.arange(125, 175))
    assert len(set(b["random"].tolist())) == 50
    np.testing.assert_array_equal(b["random"], importance_bins(imp, 50, seed=1)["random"])
    small = importance_bins(imp[:9], 50)
    assert [len(small[k]) for k in ("high", "medium", "low", "random")] == [3, 3, 3, 9]


# ----------------------------------------------------------------------------- CLI
def _run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_writes_explanations(tmp_path, tiny, glass_file, capsys):
    out = tmp_path / "exp"
    rc, stdout, stderr = _run(["explain", glass_file, "--model", tiny, "--atom", 3, "--atoms", "random:2",
                               "--seed", 1, "--epochs", 15, "--top", 10, "-o", out], capsys)
    assert rc == 0, stderr
    assert stdout.startswith(f"wrote {out}")
    assert stderr.count("mgbarrier explain: ") == 3  # one plain progress line per atom (not a TTY)
    summary = json.loads((out / "summary.json").read_text())
    atoms = [r["atom"] for r in summary["atoms"]]
    assert len(atoms) == 3 and atoms[0] == 3
    for a in atoms:
        rec = json.loads((out / f"atom_{a}.json").read_text())
        assert rec["atom"] == a and len(rec["top_edges"]) == 10
        imps = [e["importance"] for e in rec["top_edges"]]
        assert imps == sorted(imps, reverse=True)
        assert rec["prediction_eV"] == pytest.approx(summary["atoms"][atoms.index(a)]["prediction_eV"])
        rows = (out / f"atom_{a}_edges.csv").read_text().splitlines()
        assert rows[0] == "rank,i,j,importance,distance_A,length_A,hop,cycles,saliency_eV"
        assert len(rows) - 1 == rec["receptive_field"]["edges"]
        assert set(rec["topology"]["bins"]) == {"high", "medium", "low", "random"}
    assert {p.name for p in out.iterdir()} >= {"summary.csv", "summary.md", "distance_distribution.png",
                                              "cycles_per_bin.png"}
    assert (out / "distance_distribution.png").read_bytes()[:4] == b"\x89PNG"
    assert "paper (SymGNN)" in (out / "summary.md").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_cli_same_seed_same_output(tmp_path, tiny, glass_file, capsys):
    outs = []
    for k in range(2):
        rc, _, err = _run(["explain", glass_file, "--model", tiny, "--atoms", "random:1", "--seed", 7,
                           "--epochs", 10, "--top", 5, "--no-topology", "--no-plots", "-q", "-o",
                           tmp_path / f"r{k}"], capsys)
        assert rc == 0 and err == ""
        (f,) = sorted((tmp_path / f"r{k}").glob("atom_*_edges.csv"))
        outs.append((f.name, f.read_text()))
    assert outs[0] == outs[1]


@pytest.mark.parametrize("case", ["missing", "range", "spec", "none", "model", "nonempty", "frame"])
def test_cli_bad_input_one_line_exit_2_nothing_written(tmp_path, tiny, glass_file, capsys, case):
    out = tmp_path / "exp"
    argv = ["explain", glass_file, "--model", tiny, "--atom", 1, "--epochs", 5, "-o", out]
    expect = {"missing": "no such file", "range": "out of range", "spec": "--atoms", "none": "no atoms",
              "model": "no-model.pt", "nonempty": "not empty", "frame": "no frames"}[case]
    if case == "missing":
        argv[1] = tmp_path / "nope.extxyz"
    elif case == "range":
        argv[5] = 100000
    elif case == "spec":
        argv += ["--atoms", "random:x"]
    elif case == "none":
        argv = ["explain", glass_file, "--model", tiny, "-o", out]
    elif case == "model":
        argv[3] = tmp_path / "no-model.pt"
    elif case == "nonempty":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    elif case == "frame":
        argv += ["--frame", 3]
    rc, stdout, stderr = _run(argv, capsys)
    assert rc == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mgbarrier: error: ") and expect in lines[0], stderr
    if case == "nonempty":
        assert [p.name for p in out.iterdir()] == ["keep.txt"]
    else:
        assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_failure_while_writing_keeps_old_output(tmp_path, tiny, glass_file, capsys, monkeypatch):
    from mgbarrier.cli import explain as ecli

    out = tmp_path / "exp"
    out.mkdir()
    (out / "old.txt").write_text("old")

    def broken(directory, results, context, plots=True):
        (Path(directory) / "summary.csv").write_text("half")
        raise MgBarrierError(f"{directory}: disk full")

    monkeypatch.setattr(ecli, "write_outputs", broken)
    rc, _, stderr = _run(["explain", glass_file, "--model", tiny, "--atom", 0, "--epochs", 3, "--no-topology",
                          "--no-plots", "--force", "-q", "-o", out], capsys)
    assert rc == 2 and "disk full" in stderr
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    monkeypatch.undo()
    rc, _, _ = _run(["explain", glass_file, "--model", tiny, "--atom", 0, "--epochs", 3, "--no-topology",
                     "--no-plots", "--force", "-q", "-o", out], capsys)
    assert rc == 0 and not (out / "old.txt").exists() and (out / "atom_0.json").exists()


def test_progress_bar_on_a_terminal():
    from mgbarrier.cli.explain import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty, plain = Tty(), io.StringIO()
    for stream in (tty, plain):
        p = Progress(2, stream=stream)
        p(1, 2, 10, 1.0)
        p(2, 2, 11, 1.0)
    assert "\r" in tty.getvalue() and "[" in tty.getvalue() and tty.getvalue().endswith("\n")
    assert plain.getvalue().splitlines() == ["mgbarrier explain: 1/2 atom 10 done (1.0 s)",
                                             "mgbarrier explain: 2/2 atom 11 done (1.0 s)"]
    quiet = io.StringIO()
    Progress(1, stream=quiet, enabled=False)(1, 1, 0, 0.0)
    assert quiet.getvalue() == ""


def test_atom_selection():
    from mgbarrier.cli.explain import select_atoms

    assert select_atoms([5, 2], "2,7", 10) == [5, 2, 7]
    drawn = select_atoms(None, "random:4", 100, seed=3)
    assert drawn == select_atoms(None, "random:4", 100, seed=3) and len(set(drawn)) == 4
    assert drawn != select_atoms(None, "random:4", 100, seed=4)
    assert select_atoms([11], None, 3, ids=np.array([10, 11, 12]), by_id=True) == [1]
    with pytest.raises(MgBarrierError, match="only 3 atoms"):
        select_atoms(None, "random:5", 3)


# ----------------------------------------------------------------------------- OVITO
def test_ovito_explanation_modifier(tmp_path, tiny, glass_file):
    pytest.importorskip("ovito")
    pytest.importorskip("mgbarrier_ovito")
    from importlib.metadata import entry_points

    from ovito.io import import_file

    from mgbarrier_ovito import ExplanationModifier

    names = {e.name: e.value for e in entry_points(group="OVITO.Modifier")}
    assert names.get("Barrier Explanation (mgbarrier)") == "mgbarrier_ovito:ExplanationModifier"
    pipeline = import_file(str(glass_file))
    mod = ExplanationModifier(model_file=str(tiny), atom_index=4, top=12, epochs=15, highlight_color=(0.0, 1.0, 0.0))
    pipeline.modifiers.append(mod)
    data = pipeline.compute()
    bonds = data.particles.bonds
    assert bonds.count == 12
    imp = np.asarray(bonds["Importance"])
    assert np.all(np.diff(imp) <= 0) and np.asarray(bonds["Color"]).shape == (12, 3)
    # bonds are the explanation's top edges, with the right periodic images (lengths < cutoff)
    from ase.io import read

    import mgbarrier

    atoms = read(glass_file)
    exp = explain_atoms(mgbarrier.load_model(tiny), atoms, [4], ExplainerSettings(epochs=15), top=12,
                        topology=None)[0]
    topo = np.asarray(bonds["Topology"])
    np.testing.assert_array_equal(topo, np.stack([exp.edges["i"][:12], exp.edges["j"][:12]], axis=1))
    shift = np.asarray(bonds["Periodic Image"]) @ atoms.cell.array
    vec = atoms.positions[topo[:, 1]] - atoms.positions[topo[:, 0]] + shift
    np.testing.assert_allclose(np.linalg.norm(vec, axis=1), exp.edges["length"][:12], atol=1e-4)
    centre = np.asarray(data.particles["Explanation Centre"])
    assert centre.sum() == 1 and centre[4] == 1
    np.testing.assert_allclose(np.asarray(data.particles["Color"])[4], [0.0, 1.0, 0.0])
    assert data.attributes["Explanation.atom"] == 4
    full = mgbarrier.load_model(tiny).predict(atoms)
    assert data.attributes["Explanation.prediction"] == pytest.approx(full[4], abs=1e-5)
    # a bad atom index is a pipeline error naming the problem
    mod.atom_index = 10 ** 6
    with pytest.raises(Exception, match="out of range"):
        pipeline.compute()
