"""A SymGNN's wavefront over slabs (issue 18): a large periodic structure is cut across one
axis into slabs at least a cutoff thick, the layers run slab by slab with only the slabs in
flight held, and every atom gets the value of the whole-structure path; the memory planner
then predicts whole what the slabs let fit, and cuts domains otherwise."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from conftest import make_glass, make_triclinic

from mgbarrier import load_model
from mgbarrier.errors import MgBarrierError
from mgbarrier.graphs.inputs import model_graph
from mgbarrier.graphs.neighbours import neighbour_pairs
from mgbarrier.graphs.slabs import slab_count, slab_occupancy, slab_plan
from mgbarrier.models import graph_network
from mgbarrier.models.chunked import chunk_atoms, whole_limit
from mgbarrier.models.graph_network import GraphNetworkPredictor
from mgbarrier.models.protocol import MIN_BARRIER

TOL = 1e-5  # eV


@pytest.fixture(scope="module")
def tiny(tiny_model_path):
    return load_model(tiny_model_path)


def _whole_and_wavefront(model, atoms: Atoms, monkeypatch) -> tuple:
    """(whole-structure path, wavefront) predictions (eV, not floored: ``predict_raw``) of
    ``model`` on ``atoms``, and the slab counts the wavefront used (read off the network's calls)."""
    used = []
    real = GraphNetworkPredictor.predict_graph

    def spy(self, graph, layer_atoms=None, consume=False, slabs=None):
        used.append(None if slabs is None else len(slabs) - 1)
        return real(self, graph, layer_atoms, consume, slabs)

    monkeypatch.setattr(GraphNetworkPredictor, "predict_graph", spy)
    try:
        model.wavefront = False
        whole = model.predict_raw(atoms)
        assert set(used) == {None} and whole.std() > 0.01  # values that vary from atom to atom
        used.clear()
        model.wavefront = True
        wave = model.predict_raw(atoms)
    finally:
        model.wavefront = None
    return whole, wave, used


@pytest.mark.parametrize("shape", ["orthogonal", "triclinic"])
def test_every_edge_joins_the_same_or_a_neighbouring_slab_across_the_periodic_seam(big_glass, shape):
    atoms = big_glass if shape == "orthogonal" else make_triclinic(big_glass)
    cutoff = 5.0
    plan = slab_plan(atoms, cutoff, 3)
    m = len(plan.bounds) - 1
    assert m == slab_count(atoms, cutoff)[1] >= 12
    assert np.array_equal(np.sort(plan.order), np.arange(len(atoms)))  # a permutation
    assert plan.bounds[0] == 0 and plan.bounds[-1] == len(atoms) and np.all(np.diff(plan.bounds) > 0)
    spacing = 1.0 / np.linalg.norm(np.linalg.inv(atoms.cell.array)[:, plan.axis])
    assert spacing / m >= cutoff  # slabs at least a cutoff thick between the lattice planes
    slab = np.empty(len(atoms), dtype=int)
    slab[plan.order] = np.repeat(np.arange(m), np.diff(plan.bounds))
    i, j, _ = neighbour_pairs(atoms, cutoff)
    step = (slab[j] - slab[i]) % m
    assert set(np.unique(step).tolist()) == {0, 1, m - 1}  # and the seam is crossed both ways


def test_no_slabs_without_a_periodic_axis_wide_enough():
    atoms = make_glass(n_cells=4)  # 16 Å box: 3 slabs of 5 Å
    assert slab_plan(atoms, 5.0, 4) is None
    atoms.pbc = False
    assert slab_count(atoms, 5.0) == (0, 0) and slab_plan(atoms, 5.0, 3) is None


@pytest.mark.parametrize("shape", ["orthogonal", "triclinic"])
def test_wavefront_equals_the_whole_structure_on_27k_atoms(tiny, big_glass, shape, monkeypatch):
    atoms = big_glass if shape == "orthogonal" else make_triclinic(big_glass)
    whole, wave, used = _whole_and_wavefront(tiny, atoms, monkeypatch)
    assert used and all(m is not None and m >= 12 for m in used)  # it ran as a wavefront
    assert wave.shape == whole.shape == (len(atoms),) and np.isfinite(wave).all()
    assert np.abs(wave - whole).max() <= TOL


def test_shipped_symgnn_wavefront_equals_whole_with_four_layers(big_glass, monkeypatch):
    """The shipped network (4 layers: a seam cone of 6 slab-layers) on 15 slabs."""
    model = load_model("cu64zr36-symgnn")
    whole, wave, used = _whole_and_wavefront(model, big_glass, monkeypatch)
    assert used == [15]
    assert np.abs(wave - whole).max() <= TOL


def test_soap_inputs_ride_along_in_slab_order(big_glass, monkeypatch):
    """A SOAP-SymGNN (the default ensemble's member) reads per-atom inputs: they follow the atoms."""
    pytest.importorskip("dscribe")
    member = next(m for m in load_model(None).members
                  if isinstance(m, GraphNetworkPredictor) and m.soap_projections())
    whole, wave, used = _whole_and_wavefront(member, big_glass, monkeypatch)
    assert used and used[0] is not None
    assert np.abs(wave - whole).max() <= TOL


def test_planner_predicts_whole_what_slabs_fit_and_cuts_domains_otherwise(big_glass, monkeypatch):
    model = load_model("cu64zr36-symgnn")
    monkeypatch.setattr(GraphNetworkPredictor, "wavefront_min_atoms", 20_000)
    density = len(big_glass) / big_glass.get_volume()
    need_gb = model.whole_bytes_per_atom(big_glass, density) * len(big_glass) / 1e9
    calls = []
    real = GraphNetworkPredictor.predict_graph

    def spy(self, graph, layer_atoms=None, consume=False, slabs=None):
        calls.append(("slabs" if slabs is not None else "domain" if layer_atoms is not None else "whole"))
        return real(self, graph, layer_atoms, consume, slabs)

    monkeypatch.setattr(GraphNetworkPredictor, "predict_graph", spy)
    model.max_memory = 0.7 + 1.1 * need_gb
    assert chunk_atoms(model, density) < len(big_glass) <= whole_limit(model, big_glass, density)
    model.predict_raw(big_glass)
    assert calls == ["slabs"]
    calls.clear()
    model.max_memory = 0.7 + 0.9 * need_gb  # too small for the slabs too: domains
    assert whole_limit(model, big_glass, density) < len(big_glass)
    assert whole_limit(load_model("cu64zr36-symgnn"), make_glass(n_cells=4), density) is None  # no slabs there
    model.predict_raw(big_glass)
    assert len(calls) >= 2 and set(calls) == {"domain"}


def test_automatic_choice_takes_large_structures_and_wide_edge_states_only(tiny, big_glass, monkeypatch):
    shipped = load_model("cu64zr36-symgnn")
    assert shipped._wavefront_slabs(big_glass) == 0  # 27,436 atoms: below the default threshold
    monkeypatch.setattr(GraphNetworkPredictor, "wavefront_min_atoms", 20_000)
    assert shipped._wavefront_slabs(big_glass) == 15
    assert tiny._wavefront_slabs(big_glass) == 0  # 8 floats of edge state: nothing to gain
    tiny.wavefront = True
    try:
        assert tiny._wavefront_slabs(big_glass) == 15
    finally:
        tiny.wavefront = None


def test_slabs_thinner_than_the_cutoff_are_refused_not_silently_wrong(tiny, big_glass):
    atoms = big_glass
    plan = slab_plan(atoms, tiny.cutoff, 3)
    bounds = plan.bounds
    thin = np.unique(np.concatenate([bounds, (bounds[:-1] + bounds[1:]) // 2]))  # every slab halved
    graph = model_graph(atoms[plan.order], tiny.config)
    with pytest.raises(ValueError, match="more than one slab boundary"), torch.no_grad():
        tiny.net(graph, slabs=thin)


def test_a_film_with_vacuum_has_empty_slabs_and_the_same_values(tiny, big_glass, monkeypatch):
    """A periodic cell with 40 Å of vacuum across the film: the widest axis is the film's normal,
    whose slabs in the vacuum hold no atom; values as the whole-structure path."""
    film = big_glass.copy()
    cell = film.cell.array.copy()
    cell[0, 0] += 40.0
    film.set_cell(cell, scale_atoms=False)
    plan = slab_plan(film, tiny.cutoff, 3)
    assert plan.axis == 0 and (np.diff(plan.bounds) == 0).sum() >= 6
    whole, wave, used = _whole_and_wavefront(tiny, film, monkeypatch)
    assert used and used[0] == len(plan.bounds) - 1
    assert np.abs(wave - whole).max() <= TOL


def test_a_gas_without_any_edge_takes_the_plain_path(tiny, monkeypatch):
    """No two atoms within the cutoff: nothing to order by slabs; the values are the whole path's."""
    n = 8
    grid = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3) * 5.5
    gas = Atoms("Cu%d" % len(grid), positions=grid, cell=np.eye(3) * 5.5 * n, pbc=True)
    tiny.wavefront = True
    try:
        assert tiny._wavefront_slabs(gas) > 0
        wave = tiny.predict_raw(gas)
    finally:
        tiny.wavefront = None
    assert np.allclose(wave, tiny.predict_raw(gas), atol=TOL) and np.isfinite(wave).all()


@pytest.mark.parametrize("value", ["no", 0, 1, 2.0])
def test_wavefront_setting_other_than_true_false_none_is_one_error(tiny, value):
    with pytest.raises(MgBarrierError, match="must be True, False or None"):
        tiny.wavefront = value
    assert tiny.wavefront is None


def test_wavefront_set_on_the_default_ensemble_reaches_its_members():
    ens = load_model(None)
    ens.wavefront = False
    assert [m.wavefront for m in ens.members] == [False] * len(ens.members)
    ens.wavefront = None
    assert [m.wavefront for m in ens.members] == [None] * len(ens.members)


def test_memory_estimate_grows_with_fewer_slabs_and_with_vacuum(monkeypatch):
    """Few slabs hold a larger share of the edges at once; a film in vacuum has its own density."""
    model = load_model("cu64zr36-symgnn")
    model.wavefront = True
    rod_short = make_glass(n_cells=4)
    rod_short.set_cell(np.diag([64.0, 16.0, 16.0]), scale_atoms=True)  # 12 slabs across x
    rod_long = make_glass(n_cells=4)
    rod_long.set_cell(np.diag([240.0, 16.0, 16.0]), scale_atoms=True)  # 47 slabs
    density = 0.06
    assert model.whole_bytes_per_atom(rod_short, density) > 1.3 * model.whole_bytes_per_atom(rod_long, density)
    film = make_glass(n_cells=19, seed=5)
    film.set_cell(np.diag([76.0 * 3, 76.0, 76.0]), scale_atoms=False)  # two thirds of the slabs empty
    assert slab_occupancy(film, 5.0) == pytest.approx(1.0 / 3.0, abs=0.05)
    # the film's cell density is a third of its own: estimated as at its own density
    with_vacuum = model.whole_bytes_per_atom(film, density / 3)
    monkeypatch.setattr(graph_network, "slab_occupancy", lambda atoms, cutoff: 1.0)  # as if the cell were full
    assert with_vacuum == pytest.approx(model.whole_bytes_per_atom(film, density), rel=0.05)
    assert with_vacuum > 1.5 * model.whole_bytes_per_atom(film, density / 3)


@pytest.mark.slow
def test_dask_trajectory_frames_a_worker_fits_whole_go_whole_and_a_lone_frame_is_spread():
    """Above the old chunk size but within what the slabs fit: with a frame for every worker the
    frames go whole to the workers (no halos); a lone frame is spread over them as domains.
    Same values as one process either way."""
    pytest.importorskip("distributed")
    from distributed import get_task_stream

    from mgbarrier.cluster import dask_client
    from mgbarrier.models.registry import resolve_model_path
    from mgbarrier.parallel import RemotePredictor

    path = resolve_model_path("cu64zr36-symgnn")
    atoms = make_glass(n_cells=24, seed=3)  # 55,296 atoms, 96 Å: 19 slabs
    local = load_model(path)
    density = len(atoms) / atoms.get_volume()
    gb = 0.7 + 1.2 * local.whole_bytes_per_atom(atoms, density) * len(atoms) / 1e9
    local.max_memory = gb
    assert chunk_atoms(local, density) < len(atoms) <= whole_limit(local, atoms, density)
    expected = local.predict_raw(atoms)
    with dask_client(2) as client:
        for total, task in ((2, "predict_frame_task"), (1, "predict_domain_task")):
            with RemotePredictor(path, scheduler=client.scheduler.address, max_memory=gb,
                                 frames_total=total) as remote, get_task_stream(client) as stream:
                got = [remote.predict_arrays(a) for a in remote.ahead([atoms] * total)]
            names = {str(t["key"]).rsplit("-", 1)[0] for t in stream.data}
            assert task in names and ({"predict_frame_task", "predict_domain_task"} - {task}).isdisjoint(names)
            for arrays in got:
                assert np.abs(arrays["barrier"] - np.maximum(expected, MIN_BARRIER)).max() <= TOL
