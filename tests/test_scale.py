"""Scale (issue 18): spatial chunking with halos gives the unchunked predictions for every
model kind, receptive radii are exact, --max-memory is a bound, and frames on Dask workers
give the one-process output, in order, surviving a killed worker."""
from __future__ import annotations

import os
import signal
import warnings
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from conftest import DATA, make_glass, make_triclinic

from mgbarrier import load_model
from mgbarrier.errors import MgBarrierError
from mgbarrier.models.chunked import chunk_atoms, domains, plan_grid, receptive_radius

TOL = 1e-5  # eV


def _compare(model, atoms: Atoms, limit: int, members=False) -> float:
    """max |chunked - whole| (eV) with at most ``limit`` atoms per domain (checks that it did chunk)."""
    targets = model.members if members else [model]
    for m in targets:
        m.chunk_atoms = None
    whole = model.predict(atoms)
    for m in targets:
        m.chunk_atoms = limit
    try:
        chunked = model.predict(atoms)
    finally:
        for m in targets:
            m.chunk_atoms = None
    assert chunked.shape == whole.shape == (len(atoms),)
    return float(np.abs(chunked - whole).max())


@pytest.fixture(scope="module")
def tiny(tiny_model_path):
    return load_model(tiny_model_path)


def test_receptive_radius_is_layers_times_cutoff_by_perturbation(tiny):
    """Atoms just beyond layers x cutoff leave atom 0 exactly unchanged; atoms just inside move it."""
    radius = receptive_radius(tiny)
    assert radius == pytest.approx(2 * 5.0)
    atoms = make_glass(n_cells=8, seed=2)  # 32 Å box: no image within reach twice
    base = tiny.predict(atoms)
    d = atoms.get_distances(0, range(len(atoms)), mic=True)

    def effect(lo, hi):
        out = []
        for k in np.flatnonzero((d > lo) & (d < hi))[:6]:
            moved = atoms.copy()
            moved.positions[k] += [0.12, -0.08, 0.05]
            out.append(abs(tiny.predict(moved)[0] - base[0]))
        return np.array(out)

    assert effect(radius + 0.02, radius + 1.0).max() == 0.0
    assert effect(radius - 1.5, radius - 0.02).max() > 1e-7


@pytest.mark.filterwarnings("ignore:.*halos made it compute")  # tight budgets on purpose
@pytest.mark.parametrize("shape", ["orthogonal", "triclinic"])
def test_chunked_symgnn_equals_whole_on_27k_atoms_across_periodic_boundaries(tiny, big_glass, shape):
    atoms = big_glass if shape == "orthogonal" else make_triclinic(big_glass)
    grid = plan_grid(len(atoms), receptive_radius(tiny) * np.linalg.norm(np.linalg.inv(atoms.cell.array).T, axis=1),
                     np.array([True] * 3), 9000)
    assert grid is not None and np.prod(grid) >= 4  # several domains, each halo wrapping a periodic boundary
    assert _compare(tiny, atoms, 9000) <= TOL


def test_domains_cover_every_atom_once_and_a_halo_holds_every_neighbour(big_glass):
    from mgbarrier.graphs.neighbours import neighbour_pairs

    atoms = make_triclinic(big_glass)
    counts = np.bincount(neighbour_pairs(atoms, 7.0)[0], minlength=len(atoms))
    seen = np.zeros(len(atoms), dtype=int)
    for k, (own, cluster) in enumerate(domains(atoms, 7.0, (3, 2, 2))):
        seen[own] += 1
        assert not any(cluster.pbc)
        if k == 0:  # every image within 7 Å of an own atom is in the cluster
            got = np.bincount(neighbour_pairs(cluster, 7.0)[0], minlength=len(cluster))[:len(own)]
            assert np.array_equal(counts[own], got)
    assert np.all(seen == 1)


@pytest.mark.filterwarnings("ignore:.*halos made it compute")  # tight budgets on purpose
def test_chunked_non_periodic_and_mixed(tiny):
    atoms = make_glass(n_cells=12, seed=4)
    free = atoms.copy()
    free.pbc = False
    assert _compare(tiny, free, 3000) <= TOL
    slab = make_triclinic(atoms)
    slab.pbc = (True, True, False)
    assert _compare(tiny, slab, 3000) <= TOL


def _test0_or_glass(reps) -> Atoms:
    if (DATA / "test0.pickle").exists():
        from mgbarrier.io.symgnn_pickle import read_symgnn_pickle

        return read_symgnn_pickle(DATA / "test0.pickle").repeat(reps)
    return make_glass(n_cells=9, seed=1).repeat(reps)  # test0-like: 2,916 atoms in a 36 Å cube


def test_shipped_symgnn_chunked_equals_whole():
    model = load_model("cu64zr36-symgnn")
    assert receptive_radius(model) == pytest.approx(4 * model.cutoff)
    atoms = _test0_or_glass((2, 1, 1))  # 72 x 36 x 36 Å: two domains whose 20 Å halos wrap every face
    assert _compare(model, atoms, 33000) <= TOL


def test_descriptor_and_ensemble_chunked_equal_whole(tmp_path, tiny_model_path, monkeypatch):
    """Descriptor (SOAP reach + averaging radius), the shipped SOAP-SymGNN and an ensemble of
    them with a tiny SymGNN: the SOAP inputs are computed once for the whole structure, then
    each member chunks with its own radius without the SOAP reach."""
    from mgbarrier.models import chunked as chunked_module
    from mgbarrier.models.checkpoint import load_checkpoint, save_checkpoint
    from mgbarrier.models.registry import resolve_model_path
    from mgbarrier.training.ensemble import ensemble_checkpoint

    desc = load_model("cu64zr36-descriptor")
    assert receptive_radius(desc) > desc.cutoff  # dscribe's Gaussian padding reaches beyond r_cut
    soap_member = load_checkpoint(resolve_model_path("cu64zr36-ensemble"))["members"][1]
    assert soap_member["config"]["node_features"] == "soap"
    members = [load_checkpoint(tiny_model_path), load_checkpoint(resolve_model_path("cu64zr36-descriptor")),
               soap_member]
    path = tmp_path / "ens.pt"
    save_checkpoint(path, ensemble_checkpoint(members, [0.3, 0.4, 0.3], {"description": "test ensemble"}))
    ens = load_model(path)
    assert receptive_radius(ens) == pytest.approx(receptive_radius(ens.members[2]))
    assert receptive_radius(desc, given=True) == pytest.approx(desc.config["average_cutoff"])
    atoms = _test0_or_glass((6, 1, 1))  # 216 x 36 x 36 Å
    for m in ens.members:
        m.chunk_atoms = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a generated glass is out of the descriptor's domain
        whole = ens.predict_members(atoms)  # (3, N): tiny SymGNN, descriptor, SOAP-SymGNN
        cuts = []
        real = chunked_module.domains
        def spy(atoms, radius, grid, *rest):
            cuts.append(grid)
            return real(atoms, radius, grid, *rest)

        monkeypatch.setattr(chunked_module, "domains", spy)
        for m in ens.members:
            m.chunk_atoms = 15000  # at least two domains along the long axis, each member
        chunked = ens.predict_members(atoms)
    assert len(cuts) == 3 and all(np.prod(c) >= 2 for c in cuts)
    assert np.abs(chunked - whole).max() <= TOL
    assert np.abs(ens.weights @ chunked - ens.weights @ whole).max() <= TOL


def test_max_memory_sets_the_chunk_size_and_too_small_is_one_error(tiny, big_glass, tmp_path):
    assert chunk_atoms(tiny) > 100_000  # default 4 GB
    tiny.max_memory = 0.5
    try:
        with pytest.raises(MgBarrierError, match="raise --max-memory"):
            tiny.predict(big_glass)
    finally:
        tiny.max_memory = None


def test_max_memory_set_on_the_default_ensemble_reaches_its_members():
    """``model.max_memory = 8`` (the README's Python way) on the default ensemble: its members
    are what runs in domains, so their budget and chunk sizes follow; None restores the default."""
    ens = load_model("cu64zr36-ensemble")
    before = [chunk_atoms(m) for m in ens.members]
    ens.max_memory = 8
    assert [m.max_memory for m in ens.members] == [8] * len(ens.members)
    assert all(chunk_atoms(m) > 2 * b for m, b in zip(ens.members, before))  # (8 - 0.7) / (4 - 0.7) GB
    ens.max_memory = None
    assert [chunk_atoms(m) for m in ens.members] == before


def _dump_text(frames) -> str:
    out = []
    for k, atoms in enumerate(frames):
        types = np.where(np.array(atoms.get_chemical_symbols()) == "Cu", 1, 2)
        rows = "".join(f"{i + 1} {t} {x!r} {y!r} {z!r}\n" for i, (t, (x, y, z)) in
                       enumerate(zip(types.tolist(), atoms.positions.tolist())))
        out.append(f"ITEM: TIMESTEP\n{10 * k}\nITEM: NUMBER OF ATOMS\n{len(atoms)}\nITEM: BOX BOUNDS pp pp pp\n"
                   + "".join(f"0.0 {x!r}\n" for x in np.diag(atoms.cell.array).tolist())
                   + "ITEM: ATOMS id type x y z\n" + rows)
    return "".join(out)


@pytest.fixture
def dump8(tmp_path) -> Path:
    p = tmp_path / "traj.lammpstrj"
    p.write_text(_dump_text([make_glass(n_cells=3, seed=s) for s in range(8)]))
    return p


def _cli(capsys, *args) -> tuple:
    from mgbarrier.cli import main

    rc = main([str(a) for a in args])
    return rc, capsys.readouterr().err.strip().splitlines()


def test_cli_max_memory_too_small_is_one_line_exit_2_nothing_written(dump8, tiny_model_path, tmp_path, capsys):
    out = tmp_path / "out.lammpstrj"
    rc, err = _cli(capsys, "predict", dump8, "-o", out, "--model", tiny_model_path, "--species", "1=Cu,2=Zr",
                   "--max-memory", "0.5", "-q")
    assert rc == 2 and len(err) == 1 and "--max-memory" in err[0], err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


@pytest.mark.slow
def test_cli_unreachable_scheduler_is_one_line_exit_2(dump8, tiny_model_path, tmp_path, capsys):
    pytest.importorskip("distributed")
    out = tmp_path / "out.lammpstrj"
    out.write_text("old\n")
    rc, err = _cli(capsys, "predict", dump8, "-o", out, "--model", tiny_model_path, "--species", "1=Cu,2=Zr",
                   "--scheduler", "tcp://127.0.0.1:9", "-q")
    assert rc == 2 and len(err) == 1 and "scheduler" in err[0], err
    assert out.read_text() == "old\n"


@pytest.mark.slow
def test_dask_two_workers_equal_one_process_and_survive_a_killed_worker(dump8, tiny_model_path, tmp_path):
    pytest.importorskip("distributed")
    from mgbarrier.cluster import dask_client
    from mgbarrier.pipeline import predict_file

    one = tmp_path / "one.lammpstrj"
    predict_file(dump8, one, model=tiny_model_path, species_map={1: "Cu", 2: "Zr"}, quiet=True)
    two = tmp_path / "two.lammpstrj"
    with dask_client(2) as client:
        pids = list(client.run(os.getpid).values())
        killed = []

        def kill_one(k):  # after the first frame is written, SIGKILL a worker holding frames in flight
            if not killed:
                killed.append(pids[0])
                os.kill(pids[0], signal.SIGKILL)

        predict_file(dump8, two, model=tiny_model_path, species_map={1: "Cu", 2: "Zr"}, quiet=True,
                     scheduler=client.scheduler.address, on_frame=kill_one)
    assert killed
    assert two.read_text() == one.read_text()


@pytest.mark.slow
def test_dask_workers_warnings_reach_the_client_as_in_one_process(dump8, tmp_path):
    """A model whose every value is below the floor warns on each frame; on Dask workers the
    warnings are raised in the worker processes and must come back with the frames."""
    pytest.importorskip("distributed")
    from conftest import write_tiny_model

    from mgbarrier.errors import MgBarrierWarning
    from mgbarrier.pipeline import predict_file

    low = write_tiny_model(tmp_path / "low.pt", label_mean=-100.0)

    def warned(**kw) -> list:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            predict_file(dump8, tmp_path / f"out{len(kw)}.lammpstrj", model=low, species_map={1: "Cu", 2: "Zr"},
                         quiet=True, **kw)
        return [str(w.message) for w in caught if issubclass(w.category, MgBarrierWarning)]

    one = warned()
    floored = [text for text in one if "below 0.01 eV" in text]
    # each frame's warning says which frame; of the 8 frames' alike warnings 3 are shown, 5 counted
    assert len(floored) == 3 and floored[1].startswith(f"{dump8}: frame 1: ") and \
        floored[2].startswith(f"{dump8}: frame 2: ")
    assert f"{dump8}: 5 more frame(s) had a warning like the ones above (not shown)" in one
    assert warned(workers=2) == one


def test_large_predictions_report_their_domains_and_soap_blocks_as_progress_steps(tiny, big_glass):
    """A prediction cut into domains reports each domain's atoms to a listener (the CLI shows
    them in its bar's note): increasing counts that end at the structure's size; the SOAP blocks
    of a SOAP model do the same; with nobody listening nothing is reported."""
    import io

    from mgbarrier.graphs.soap import soap_featurizer
    from mgbarrier.progress import Progress, steps

    seen = []
    tiny.chunk_atoms = 15000
    try:
        with steps(lambda stage, done, total: seen.append((stage, done, total))):
            tiny.predict(big_glass)
            fz = soap_featurizer(("Cu", "Zr"), tuple(sorted({"r_cut": 4.0, "n_max": 2, "l_max": 2, "sigma": 0.5,
                                                             "rbf": "gto"}.items())))
            for _ in fz.soap_blocks(fz.prepare(big_glass)[0]):
                pass
        tiny.predict(big_glass)  # no listener: no error, nothing recorded
    finally:
        tiny.chunk_atoms = None
    for stage in ("symgnn model domains", "SOAP"):
        done = [d for s, d, t in seen if s == stage and t == len(big_glass)]
        assert len(done) >= 2 and done == sorted(done) and done[-1] == len(big_glass), (stage, seen)
    assert len(seen) == sum(1 for s, _, _ in seen if s in ("symgnn model domains", "SOAP"))
    stream = io.StringIO()
    stream.isatty = lambda: True
    bar = Progress("traj", total=1, unit="frame", stream=stream)
    bar.update(0, note="symgnn model domains 9,000/27,436 atoms")
    assert "0/1" in stream.getvalue() and "9,000/27,436 atoms" in stream.getvalue()


def test_plan_for_several_workers_balances_the_domains():
    """test0 tiled 7^3 (1,029,000 atoms, 251.9 Å cube) with the SymGNN's 20 Å halos: one process
    computes the fewest atoms in 5 slabs; two workers would get 3 and 2 of them, so the plan for
    two is an even number of domains (here 2 x 3), each worker's share smaller than 3 slabs."""
    from mgbarrier.models.chunked import keeps_periodic

    n, cell = 1_029_000, np.eye(3) * 251.9
    delta, pbc = np.full(3, 20.0 / 251.9), np.ones(3, dtype=bool)
    one = plan_grid(n, delta, pbc, 450_000, keeps_periodic(cell))
    two = plan_grid(n, delta, pbc, 450_000, keeps_periodic(cell), workers=2)
    assert sorted(one) == [1, 1, 5]
    assert np.prod(two) % 2 == 0
    slab = 1 / 5 + 2 * delta[0]
    share = np.prod([1 / m + 2 * d if m > 1 else 1.0 for m, d in zip(two, delta)]) * np.prod(two) / 2
    assert share < 3 * slab


@pytest.mark.slow
def test_dask_spreads_a_large_frames_domains_over_workers_and_equals_one_process(tmp_path, tiny_model_paths):
    """A frame above the chunk size is cut by the client and its domains run as separate tasks on
    both workers; the stitched read-out (here a SymGNN, and an ensemble of two whose (K, N)
    members are stitched and combined on the client, with its spread) equals the one-process
    prediction.  A model that reads SOAP (an ensemble with the descriptor) has its SOAP inputs
    computed first in SOAP blocks on the workers, then its domains carry them: same values."""
    pytest.importorskip("distributed")
    from distributed import get_task_stream

    from mgbarrier.cluster import dask_client
    from mgbarrier.models.checkpoint import load_checkpoint, save_checkpoint
    from mgbarrier.models.chunked import FIXED_GB, bytes_per_atom
    from mgbarrier.models.registry import resolve_model_path
    from mgbarrier.parallel import RemotePredictor
    from mgbarrier.training.ensemble import ensemble_checkpoint

    tiny, other = tiny_model_paths[:2]
    ens_path, soap_path = tmp_path / "ens.pt", tmp_path / "soap_ens.pt"
    save_checkpoint(ens_path, ensemble_checkpoint([load_checkpoint(tiny), load_checkpoint(other)], [0.4, 0.6],
                                                  {"description": "test ensemble"}))
    save_checkpoint(soap_path, ensemble_checkpoint(
        [load_checkpoint(tiny), load_checkpoint(resolve_model_path("cu64zr36-descriptor"))], [0.4, 0.6],
        {"description": "test ensemble with SOAP"}))
    atoms = _test0_or_glass((4, 1, 1))  # 144 x 36 x 36 Å
    with dask_client(2) as client:
        for path in (tiny, ens_path, soap_path):
            local = load_model(path)
            gb = FIXED_GB + 8000 * bytes_per_atom(local, len(atoms) / atoms.get_volume()) / 1e9  # ~8,000 atoms
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a generated glass is outside the descriptor's domain
                whole = local.predict_arrays(atoms)
                with RemotePredictor(path, scheduler=client.scheduler.address, max_memory=gb) as remote, \
                        get_task_stream(client) as stream:
                    spread = [remote.predict_arrays(a) for a in remote.ahead([atoms])][0]
            tasks = [t for t in stream.data if str(t["key"]).startswith("predict_domain_task")]
            soap_tasks = [t for t in stream.data if str(t["key"]).startswith("soap_block_task")]
            assert len(tasks) >= 2 and len({t["worker"] for t in tasks}) == 2, path
            assert bool(soap_tasks) == (path == soap_path)  # SOAP inputs first, in blocks on the workers
            assert sorted(spread) == sorted(whole)
            for key in whole:
                assert spread[key].shape == (len(atoms),)
                assert np.abs(spread[key] - whole[key]).max() <= TOL, (path, key)


@pytest.mark.slow
def test_dask_spread_survives_a_worker_killed_mid_frame(tiny_model_path):
    """A worker SIGKILLed after the first domain of a spread frame came back: its domains are
    recomputed elsewhere and the frame is complete and equal to the one-process prediction."""
    pytest.importorskip("distributed")
    from mgbarrier.cluster import dask_client
    from mgbarrier.models.chunked import FIXED_GB, bytes_per_atom
    from mgbarrier.parallel import RemotePredictor
    from mgbarrier.progress import steps

    atoms = _test0_or_glass((4, 1, 1))
    local = load_model(tiny_model_path)
    gb = FIXED_GB + 3000 * bytes_per_atom(local, len(atoms) / atoms.get_volume()) / 1e9  # ~3,000 atoms a domain
    whole = local.predict(atoms)
    killed = []
    with dask_client(2) as client:
        pids = list(client.run(os.getpid).values())

        def kill_one(stage, done, total):
            if stage == "domains on workers" and not killed:
                killed.append(done)
                os.kill(pids[0], signal.SIGKILL)

        with RemotePredictor(tiny_model_path, scheduler=client.scheduler.address, max_memory=gb) as remote, \
                steps(kill_one):
            got = [remote.predict(a) for a in remote.ahead([atoms])][0]
    assert killed and killed[0] < len(atoms)  # killed with domains still to come
    assert np.abs(got - whole).max() <= TOL


@pytest.mark.slow
def test_dask_worker_without_the_package_is_one_error_and_nothing_written(dump8, tiny_model_path, tmp_path):
    distributed = pytest.importorskip("distributed")
    from mgbarrier.pipeline import predict_file

    preload = tmp_path / "no_mgbarrier.py"
    preload.write_text("import sys\nsys.modules['mgbarrier'] = None  # this worker cannot import the package\n")
    out = tmp_path / "out.lammpstrj"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  preload=[str(preload)]) as cluster:
        with pytest.raises(MgBarrierError, match="workers cannot run mgbarrier"):
            predict_file(dump8, out, model=tiny_model_path, species_map={1: "Cu", 2: "Zr"}, quiet=True,
                         scheduler=cluster.scheduler_address)
    assert not out.exists()


@pytest.mark.slow
def test_gpu_benchmark_runs_on_the_cpu_with_small_sizes(tiny_model_path, tmp_path):
    """benchmarks/gpu_speed.py (run by hand on a GPU machine) works end to end here on the CPU."""
    import importlib.util

    from conftest import REPO, need

    test0 = need(DATA / "test0.pickle")
    spec = importlib.util.spec_from_file_location("gpu_speed", REPO / "benchmarks" / "gpu_speed.py")
    gpu_speed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_speed)
    out = tmp_path / "gpu_speed.md"
    rc = gpu_speed.main(["--device", "cpu", "--sizes", "2", "--models", str(tiny_model_path), "--structure",
                         str(test0), "--out", str(out), "--max-memory", "0.9", "--timeout", "120"])
    text = out.read_text()
    assert rc == 0, text
    assert "24,000" in text and "reproduces test0 to 1e-5 eV: yes" in text


def test_uncut_periodic_axes_stay_periodic_and_halos_are_sorted_by_depth(big_glass):
    """A (1, 2, 2) grid of a lower-triangular (LAMMPS-style) triclinic cell keeps axis 0 periodic:
    no halo along it, every neighbour image still present, halo atoms sorted by depth (Å), and a
    halo atom at depth d is at least d Å from every own atom."""
    from mgbarrier.graphs.neighbours import neighbour_pairs
    from mgbarrier.models.chunked import HALO_DEPTH

    atoms = make_triclinic(big_glass)
    counts = np.bincount(neighbour_pairs(atoms, 7.0)[0], minlength=len(atoms))
    seen = np.zeros(len(atoms), dtype=int)
    for k, (own, cluster) in enumerate(domains(atoms, 7.0, (1, 2, 2))):
        seen[own] += 1
        assert list(cluster.pbc) == [True, False, False]
        depth = cluster.arrays[HALO_DEPTH]
        assert np.all(depth[:len(own)] == -1.0) and np.all(depth[len(own):] >= 0)
        assert np.all(np.diff(depth[len(own):]) >= 0)
        assert len(cluster) < 1.9 * len(own)  # halos along two axes only
        if k == 0:
            got = np.bincount(neighbour_pairs(cluster, 7.0)[0], minlength=len(cluster))[:len(own)]
            assert np.array_equal(counts[own], got)
            deep = np.flatnonzero(depth > 3.0)[:50]
            mine = cluster.positions[:len(own)]
            for i in deep:
                # images along the periodic axis 0 count too
                a0 = cluster.cell.array[0]
                dist = np.minimum.reduce([np.linalg.norm(mine + s * a0 - cluster.positions[i], axis=1) for s in (-1, 0, 1)])
                assert dist.min() >= depth[i] - 1e-6
    assert np.all(seen == 1)


def test_plan_prefers_slabs_that_keep_periodic_axes(big_glass):
    from mgbarrier.models.chunked import keeps_periodic

    cell = big_glass.cell.array
    delta = 10.0 * np.linalg.norm(np.linalg.inv(cell).T, axis=1)
    grid = plan_grid(len(big_glass), delta, np.array([True] * 3), 18000, keeps_periodic(cell))
    assert grid is not None and sorted(grid)[:2] == [1, 1]  # two whole periodic axes, one cut
    assert plan_grid(len(big_glass), delta, np.array([True] * 3), 18000) != grid  # open clusters need more cuts


def test_layers_shrink_over_the_halo_and_still_equal_whole(tiny, big_glass):
    """Each layer computes fewer atoms than the one before (the outer halo drops out) and the
    stitched prediction equals the whole one."""
    from mgbarrier.models.chunked import domains as cut

    own, cluster = next(iter(cut(big_glass, receptive_radius(tiny), (1, 1, 3))))
    counts = tiny._layer_atoms(cluster)
    assert counts[0] < len(cluster) and counts[-1] == len(own)
    assert all(a > b for a, b in zip(counts[:-2], counts[1:-1]))
    assert _compare(tiny, big_glass, 15000) <= TOL


@pytest.mark.parametrize("case", ["periodic", "triclinic", "slab", "wire", "open", "small"])
def test_vesin_half_list_path_gives_matscipys_pairs_sorted_by_centre(big_glass, case, monkeypatch):
    """Structures take their pairs from vesin's half list, mirrored and sorted by centre
    (graphs.neighbours.neighbour_pairs): the same directed pairs and displacements (or
    distances) as matscipy's full list, for periodic, triclinic, open, slab and wire cells (the
    open axes of a slab or wire, padded, are passed to vesin as periodic); a cell narrower than
    2 cutoffs + 1 Å stays with matscipy, with the same pairs."""
    pytest.importorskip("vesin")
    from matscipy.neighbours import neighbour_list

    from mgbarrier.graphs import neighbours

    atoms = {"periodic": big_glass, "triclinic": make_triclinic(big_glass), "small": make_glass(n_cells=2, seed=2),
             "slab": next(iter(domains(big_glass, 10.0, (1, 1, 3))))[1],
             "wire": next(iter(domains(big_glass, 10.0, (1, 3, 3))))[1],
             "open": next(iter(domains(big_glass, 10.0, (2, 2, 2))))[1]}[case]
    cutoff = 5.0
    assert atoms.pbc.tolist() == {"slab": [True, True, False], "wire": [True, False, False],
                                  "open": [False] * 3}.get(case, [True] * 3)
    ready = neighbours.neighbour_ready(atoms, cutoff)
    assert neighbours._large_cell(ready, cutoff) == (case != "small")
    calls, real = [], neighbours._vesin_pairs
    monkeypatch.setattr(neighbours, "_vesin_pairs", lambda *a: calls.append(1) or real(*a))
    i, j, D = neighbours.neighbour_pairs(atoms, cutoff)
    assert len(calls) == (case != "small")
    # the distances form (vesin's own distances, mirrored) gives the same pairs and |D|
    i_d, j_d, d = neighbours.neighbour_pairs(atoms, cutoff, with_distance=True)
    o, o_d = np.lexsort((j, i)), np.lexsort((j_d, i_d))  # a pair (i, j) is unique in these cells
    assert np.array_equal(i_d[o_d], i[o]) and np.array_equal(j_d[o_d], j[o])
    np.testing.assert_allclose(d[o_d], np.linalg.norm(D[o], axis=1), rtol=0, atol=1e-10)
    assert np.all(np.diff(i) >= 0)
    ia, ja, Da = neighbour_list("ijD", ready, cutoff)

    def key(i, j, D):
        o = np.lexsort(tuple(np.round(D, 6).T[::-1]) + (j, i))
        return i[o], j[o], D[o]

    (i, j, D), (ia, ja, Da) = key(i, j, D), key(ia, ja, Da)
    assert np.array_equal(i, ia) and np.array_equal(j, ja)
    np.testing.assert_allclose(D, Da, atol=1e-10)


@pytest.mark.slow
def test_dask_client_keeps_no_message_log_no_profiler_and_quiet_timers():
    """distributed keeps the last 1,000 messages of every batched stream, payloads included: a
    client submitting 24,000-atom frames grew by ~1 MB per frame.  Our clients run with that log
    off, in the client process (and its LocalCluster scheduler) and in the workers."""
    pytest.importorskip("distributed")
    import dask

    from mgbarrier.cluster import dask_client

    key, profiler = "distributed.admin.low-level-log-length", "distributed.worker.profile.enabled"
    default = dask.config.get(key)
    with dask_client(workers=1) as client:
        assert dask.config.get(key) == 0
        assert list(client.run(lambda: __import__("dask").config.get(key)).values()) == [0]
        # and the workers sample no stacks for a dashboard nobody sees (~2.5 % of a worker's CPU)
        assert list(client.run(lambda: __import__("dask").config.get(profiler)).values()) == [False]
        # nor wake their event loops every 20 ms (tick), 0.5 s (system monitor) and 0.1 s (memory
        # monitor): each wake-up pre-empts a task when every core computes
        for timer, most_often in (("distributed.admin.tick.interval", 1.0),
                                  ("distributed.admin.system-monitor.interval", 5.0),
                                  ("distributed.worker.memory.monitor-interval", 0.5)):
            seen = client.run(lambda t=timer: __import__("dask").config.get(t))
            for value in [dask.config.get(timer), *seen.values()]:
                assert dask.utils.parse_timedelta(value) >= most_often, (timer, value)
    assert dask.config.get(key) == default  # restored for the rest of the process


def test_halo_dominated_cuts_warn_and_stay_exact(tiny):
    """A budget so tight that the halos make up most of the work (a small cell, many domains)
    still gives the unchunked values, and says once that a larger --max-memory is faster; a
    cut whose halos are a small share says nothing."""
    from mgbarrier.errors import MgBarrierWarning

    atoms = make_glass(n_cells=8, seed=3)  # 2,048 atoms, 32 Å box
    whole = tiny.predict(atoms)
    tiny.chunk_atoms = 1800
    try:
        with pytest.warns(MgBarrierWarning, match="times the structure's atoms; a larger --max-memory"):
            parts = tiny.predict(atoms)
    finally:
        tiny.chunk_atoms = None
    assert np.abs(parts - whole).max() <= TOL
    with warnings.catch_warnings():
        warnings.simplefilter("error", MgBarrierWarning)
        assert _compare(tiny, _test0_or_glass((4, 1, 1)), 11000) <= TOL  # two slabs: no warning


class _TwoArgWarning(UserWarning):
    def __init__(self, text, code):
        super().__init__(text, code)


def test_worker_warnings_travel_as_names_and_always_come_back_as_warnings():
    """A task's warnings travel as category names (a class the client cannot import must not
    break the result); on the client each is raised in its own category when it imports and
    takes a message, else as a UserWarning naming it: never as an exception."""
    from mgbarrier.errors import MgBarrierWarning
    from mgbarrier.parallel import noting_warnings, warn_noted

    def task(x):
        warnings.warn("floored 3 values", MgBarrierWarning)
        warnings.warn("floored 3 values", MgBarrierWarning)       # noted once
        warnings.warn(_TwoArgWarning("odd", 7))
        return 2 * x

    value, notes = noting_warnings(task, 21)
    assert value == 42
    assert notes == [("mgbarrier.errors:MgBarrierWarning", "floored 3 values"),
                     (f"{__name__}:_TwoArgWarning", "('odd', 7)")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for category, text in notes + [("not_imported_here.mod:SomeWarning", "from a worker")]:
            warn_noted(category, text)
    assert [(w.category, str(w.message)) for w in caught] == [
        (MgBarrierWarning, "floored 3 values"),
        (UserWarning, "_TwoArgWarning: ('odd', 7)"),
        (UserWarning, "SomeWarning: from a worker")]
