"""Freed memory held between the frames of a trajectory (mgbarrier.allocator.hold_freed_memory):
the next frame reuses the pages instead of faulting fresh ones in; afterwards they go back."""
from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings")

# a child process with the retain threshold lowered to 16 MiB, so that a 64 MiB array behaves as a
# million-atom edge array (4 GB) does under the real 1 GiB threshold; prints the page faults of a
# second allocation after the first was freed, without and with the hold, then the hold depth
CHILD = """
import resource, numpy as np
from mgbarrier import allocator
allocator.THRESHOLD = 1 << 24
assert allocator.retain_freed_memory()

def faults_of_second_allocation():
    a = np.ones(1 << 23); del a          # 64 MiB, touched, freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    b = np.ones(1 << 23)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    del b
    return after - before

free = faults_of_second_allocation()
with allocator.hold_freed_memory() as held:
    with allocator.hold_freed_memory():      # nested: only the outer one restores
        inner = faults_of_second_allocation()
    after_inner = faults_of_second_allocation()
print(free, inner, after_inner, held, allocator._held)
"""


def test_holding_freed_memory_spares_the_next_allocation_its_page_faults():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "MGBARRIER_SYSTEM_MALLOC": "0"})
    assert out.returncode == 0, out.stderr[-2000:]
    free, inner, after_inner, held, depth = out.stdout.split()
    assert held == "True" and depth == "0"
    assert int(free) >= 16  # mapped afresh: at least one fault per 4 MiB (2 MiB huge pages or 4 KiB pages)
    assert int(inner) <= 2 and int(after_inner) <= 2  # the freed pages were reused


def test_the_hold_does_nothing_when_opted_out():
    code = ("from mgbarrier import allocator\n"
            "with allocator.hold_freed_memory() as held:\n"
            "    print(held, allocator._held)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "MGBARRIER_SYSTEM_MALLOC": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "0"]


class _Recorder:
    """Stands in for hold_freed_memory: records each use and its ``release``."""

    def __init__(self):
        self.calls = []

    def __call__(self, release=True):
        import contextlib

        self.calls.append(release)
        return contextlib.nullcontext(True)


def test_a_prediction_above_the_retain_threshold_holds_its_freed_memory(monkeypatch):
    from conftest import make_glass

    from mgbarrier import load_model
    from mgbarrier.models import chunked

    model = load_model("cu64zr36-symgnn")
    atoms = make_glass(n_cells=3)
    recorder = _Recorder()
    monkeypatch.setattr(chunked, "hold_freed_memory", recorder)
    monkeypatch.setattr(chunked, "RETAIN_BYTES", 1 << 40)  # small structure: not held
    model.predict(atoms)
    assert recorder.calls == []
    monkeypatch.setattr(chunked, "RETAIN_BYTES", 1)  # as if its blocks outgrew the threshold
    model.predict(atoms)
    assert recorder.calls == [False]  # held, and the heap kept afterwards for the next large one


def test_mgbarrier_predict_holds_freed_memory_across_the_frames_and_releases_it(monkeypatch, tmp_path):
    from ase.io import write
    from conftest import make_glass

    from mgbarrier import pipeline

    frames = [make_glass(n_cells=3, seed=s) for s in range(3)]
    write(tmp_path / "in.extxyz", frames)
    recorder = _Recorder()
    monkeypatch.setattr(pipeline, "hold_freed_memory", recorder)
    out = pipeline.predict_file(tmp_path / "in.extxyz", tmp_path / "out.extxyz", model="cu64zr36-symgnn", quiet=True)
    assert out["frames"] == 3
    assert recorder.calls == [True]  # one hold over all frames, released at the end


def test_a_prediction_worker_of_our_own_cluster_holds_freed_memory_for_its_life():
    """Our LocalCluster starts its workers with MGBARRIER_HOLD_MEMORY=1 (mgbarrier.cluster); a
    worker that loads a model then keeps freed memory for the next frame (one hold, however many
    models it loads in turn); elsewhere it does not."""
    code = ("from mgbarrier import allocator, parallel\n"
            "from mgbarrier.models.registry import resolve_model_path\n"
            "path = resolve_model_path('cu64zr36-symgnn')\n"
            "parallel._worker_model(parallel.model_key(path, 'cpu', None, None))\n"
            "parallel._worker_model(parallel.model_key(path, 'cpu', None, 2.0))\n"  # the next job's model
            "print(allocator._held)\n")
    for flag, depth in (("1", "1"), ("", "0")):
        env = {"PATH": "/usr/bin:/bin", "MGBARRIER_SYSTEM_MALLOC": "0", "MGBARRIER_HOLD_MEMORY": flag}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.split()[-1] == depth


def test_our_local_cluster_starts_its_workers_with_the_hold(monkeypatch):
    distributed = pytest.importorskip("distributed")
    from mgbarrier import cluster
    from mgbarrier.allocator import HOLD_MEMORY_ENV

    seen = {}

    class Stop(Exception):
        pass

    def fake_cluster(**kwargs):
        seen.update(kwargs.get("env") or {})
        raise Stop

    monkeypatch.setattr(distributed, "LocalCluster", fake_cluster)
    with pytest.raises(Stop):
        with cluster.dask_client(workers=2, quiet=True):
            pass
    assert seen.get(HOLD_MEMORY_ENV) == "1"
