"""Frames of a trajectory predicted on Dask workers, handed back in input order.

    with RemotePredictor(model_path, workers=4) as remote:     # or scheduler="tcp://host:8786"
        for atoms in remote.ahead(frames):                     # frames read here, sent ahead
            arrays = remote.predict_arrays(atoms)              # {"barrier": (N,) eV, ...}, in order

The client (:func:`mgbarrier.cluster.dask_client`) reads frames and keeps at most ``window``
(default 2 per worker) in flight; each worker process loads the model once (cache keyed by the
model file's path, size and mtime, device, transforms and memory budget) and predicts whole
frames.  A frame larger than the model's chunk size (its memory budget) is cut by the client
into spatial domains with halos (:func:`mgbarrier.models.chunked.spread_plan`), spread over the
workers, unless the trajectory has frames for every worker (``frames_total``; unknown counts
as many) and a worker can predict the frame whole its own way (a SymGNN's wavefront over slabs):
then frames go whole, one per worker.  Spread domains are one task each
(:func:`mgbarrier.models.chunked.predict_domain_parts`), stitched on the client; the read-out
(floors, warnings, an ensemble's combination) runs once on the client (``arrays_from_parts``),
so the result equals the one-process prediction.  A model that reads
SOAP (:func:`mgbarrier.models.chunked.soap_inputs_of`) has its SOAP inputs computed first, in
SOAP blocks on the workers (:func:`mgbarrier.graphs.soap.soap_input_blocks`), and its domains
carry them (halos without the SOAP reach), as one process does.  The client loads
the model too (on the CPU; it plans and reads out, the workers compute).  Results are consumed
strictly in input order, so the writer streams them with bounded memory.  A worker that dies
mid-frame is survived: the scheduler gives its frames to another worker (up to Dask's
``allowed-failures``, 3).  Exceptions inside a frame (bad input) are not retried.  Warnings a
task raises on a worker (floored values, a structure unlike the training glasses) come back with
its result and are raised again on the client, as one process would raise them.

Before any frame is sent, a probe on every worker checks that it imports this mgbarrier and
sees the model file; an unreachable scheduler or a failed probe is one
:class:`~mgbarrier.errors.MgBarrierError` line.
"""
from __future__ import annotations

import os
import sys
import uuid
import warnings
from collections import deque
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Deque, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np
from ase import Atoms

from .allocator import HOLD_MEMORY_ENV, hold_memory_for_process
from .errors import MgBarrierError, as_warning
from .graphs.domains import HALO_DEPTH, domains, input_arrays
from .graphs.soap import block_soap_inputs, soap_input_blocks, soap_passes
from .models.chunked import predict_domain_parts, set_max_memory, soap_inputs_of, spread_plan, store_part
from .models.registry import load_model
from .progress import step

#: seconds to wait for a first worker of the cluster
PROBE_TIMEOUT_S = 120.0

#: this worker process's model: (key, predictor); one model at a time
_WORKER_MODEL: Dict[str, Tuple[tuple, object]] = {}


def model_key(path: Path, device: str, n_transforms: Optional[int], max_memory: Optional[float]) -> tuple:
    """What identifies a loaded model in a worker's cache."""
    st = os.stat(path)
    return (str(Path(path).resolve()), st.st_size, st.st_mtime_ns, str(device), n_transforms, max_memory)


def worker_probe(path: str) -> Tuple[str, bool]:
    """On a worker: (mgbarrier version, whether the model file is readable there)."""
    from . import __version__

    return __version__, os.access(path, os.R_OK)


def _worker_model(key: tuple):
    held = _WORKER_MODEL.get("model")
    if held is not None and held[0] == key:
        return held[1]
    _WORKER_MODEL.pop("model", None)  # release the old one first
    if os.environ.get(HOLD_MEMORY_ENV) == "1":  # a worker of our own LocalCluster: it only predicts
        hold_memory_for_process()
    path, _, _, device, n_transforms, max_memory = key
    model = load_model(path, device=device, n_transforms=n_transforms)
    set_max_memory(model, max_memory)
    _WORKER_MODEL["model"] = (key, model)
    return model


#: what a task hands back: (its value, the warnings it raised as ("module:QualName" of the
#: category, text)); names, not classes, so that a result never fails to unpickle on the client
Noted = Tuple[object, List[Tuple[str, str]]]


def noting_warnings(fn: Callable, *args) -> Noted:
    """On a worker: ``fn(*args)`` and the warnings it raised (each once per task), which would
    otherwise end in the worker's log; :func:`_result` raises them again on the client."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = fn(*args)
    notes: List[Tuple[str, str]] = []
    for w in caught:
        note = (f"{w.category.__module__}:{w.category.__qualname__}", str(w.message))
        if note not in notes:
            notes.append(note)
    return value, notes


def warn_noted(category: str, text: str, stacklevel: int = 2) -> None:
    """Raise a worker's warning here: its own category when that imports here and takes a
    message, else a UserWarning naming it (a warning is never turned into an error)."""
    module, _, qualname = category.partition(":")
    cls = sys.modules.get(module)
    for part in qualname.split("."):
        cls = getattr(cls, part, None)
    if isinstance(cls, type) and issubclass(cls, Warning):
        warnings.warn(as_warning(cls, text), stacklevel=stacklevel + 1)
    else:
        warnings.warn(f"{qualname or category}: {text}", UserWarning, stacklevel=stacklevel + 1)


def predict_frame_task(key: tuple, numbers: np.ndarray, positions: np.ndarray, cell: np.ndarray,
                       pbc: np.ndarray, source: str) -> Dict[str, np.ndarray]:
    """On a worker: named per-atom float64 arrays (N,) of one frame (positions Å)."""
    model = _worker_model(key)
    atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)
    atoms.info["source"] = source
    if hasattr(model, "predict_arrays"):
        arrays = model.predict_arrays(atoms)
    else:
        arrays = {"barrier": model.predict(atoms)}
    return {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in arrays.items()}


def predict_domain_task(key: tuple, numbers: np.ndarray, positions: np.ndarray, cell: np.ndarray,
                        pbc: np.ndarray, depth: np.ndarray, n_own: int, source: str,
                        inputs: Optional[Dict[str, np.ndarray]] = None) -> np.ndarray:
    """On a worker: ``predict_parts`` (float64 (..., n_own)) of one spatial domain's own atoms,
    computed on its cluster (own atoms first, then the halo sorted by ``depth`` Å; positions Å),
    with its per-atom model ``inputs`` (name -> (M, k): SOAP projections) when given."""
    cluster = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)
    cluster.arrays[HALO_DEPTH] = depth
    for name, values in (inputs or {}).items():
        cluster.arrays[name] = values
    cluster.info["source"] = source
    return predict_domain_parts(_worker_model(key), cluster, int(n_own))


def soap_block_task(group: tuple, numbers: np.ndarray, positions: np.ndarray, n_own: int) -> Dict[str, np.ndarray]:
    """On a worker: the SOAP projections (name -> (n_own, k)) of a SOAP block's own atoms, from
    its open cluster (positions Å; :func:`mgbarrier.graphs.soap.block_soap_inputs`)."""
    return block_soap_inputs(group, Atoms(numbers=numbers, positions=positions, pbc=False), int(n_own))


class RemotePredictor:
    """A predictor whose frames run on Dask workers (module doc); a context manager.
    ``frames_total``: how many frames will come (None: unknown, taken as many); with fewer than
    the workers, a large frame is spread over them as domains rather than sent whole."""

    def __init__(self, model_path: Path, *, workers: Optional[int] = None, scheduler: Optional[str] = None,
                 device: str = "cpu", n_transforms: Optional[int] = None, max_memory: Optional[float] = None,
                 window: Optional[int] = None, frames_total: Optional[int] = None):
        from .cluster import dask_client

        self.path = Path(model_path)
        if not self.path.is_file():
            raise MgBarrierError(f"{self.path}: no such model file")
        self.key = model_key(self.path, device, n_transforms, max_memory)
        self.model = load_model(self.path, device="cpu", n_transforms=n_transforms)  # plans domains, reads out
        set_max_memory(self.model, max_memory)
        self.soap_inputs = soap_inputs_of(self.model)  # computed in SOAP blocks first, for large frames
        self._pending: Deque[Tuple[Atoms, object]] = deque()
        self._stack = ExitStack()
        self.client = self._stack.enter_context(dask_client(workers, scheduler))
        where = scheduler or "local Dask cluster"
        try:
            self._probe(where)
        except BaseException:
            self.close()
            raise
        self.n_workers = max(1, len(self.client.scheduler_info().get("workers", {})) or int(workers or 1))
        self.window = int(window) if window else 2 * self.n_workers
        # frames for every worker (or a count unknown: a gzipped trajectory): a large frame that a
        # worker can predict whole its own way goes whole; a lone frame is spread over the workers
        self.whole_frames = frames_total is None or int(frames_total) >= self.n_workers

    def _probe(self, where: str) -> None:
        """Every worker imports this mgbarrier and reads the model file (one error line otherwise)."""
        from . import __version__

        try:
            self.client.wait_for_workers(1, timeout=PROBE_TIMEOUT_S)
            answers = self.client.run(worker_probe, str(self.path.resolve()))
        except Exception as exc:  # deserialisation on a worker, timeouts, lost workers
            text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else "no answer"
            raise MgBarrierError(f"{where}: Dask workers cannot run mgbarrier ({type(exc).__name__}: {text})") \
                from None
        for worker, (version, readable) in sorted(answers.items()):
            if version != __version__:
                raise MgBarrierError(f"{where}: Dask worker {worker} runs mgbarrier {version}, this process "
                                     f"{__version__}")
            if not readable:
                raise MgBarrierError(f"{where}: Dask worker {worker} cannot read the model file "
                                     f"{self.path.resolve()}")

    def _task(self, fn: Callable, *args):
        """The future of ``fn(*args)`` on a worker, its warnings noted (:func:`noting_warnings`);
        the task's key names ``fn`` (as Dask would for ``fn`` itself)."""
        return self.client.submit(noting_warnings, fn, *args, key=f"{fn.__name__}-{uuid.uuid4().hex}")

    def _submit(self, atoms: Atoms):
        """A frame's future, or for a frame above the chunk size a list of (own atoms, future)
        per spatial domain."""
        source = str(atoms.info.get("source", ""))
        plan = spread_plan(self.model, atoms, self.n_workers, given=bool(self.soap_inputs),
                           whole_frames=self.whole_frames)
        if plan is None:
            return self._task(predict_frame_task, self.key, atoms.numbers, atoms.get_positions(),
                              atoms.cell.array, np.asarray(atoms.pbc), source)
        if self.soap_inputs:
            atoms = self._with_soap_inputs(atoms)
        return [(own, self._task(predict_domain_task, self.key, cluster.numbers, cluster.positions,
                                 cluster.cell.array, np.asarray(cluster.pbc), cluster.arrays[HALO_DEPTH],
                                 len(own), source, input_arrays(cluster)))
                for own, cluster in domains(atoms, *plan)]

    def _with_soap_inputs(self, atoms: Atoms) -> Atoms:
        """``atoms`` (a shallow copy) with the model's SOAP inputs, computed in SOAP blocks on the workers."""
        jobs = [(own, self._task(soap_block_task, group, cluster.numbers, cluster.positions, len(own)))
                for group, own, cluster in soap_input_blocks(atoms, self.soap_inputs)]
        out = atoms.copy()
        done, total = 0, len(atoms) * soap_passes(self.soap_inputs)
        for k, (own, fut) in enumerate(jobs):
            for name, values in _result(fut, atoms).items():
                if name not in out.arrays:
                    out.arrays[name] = np.empty((len(atoms),) + values.shape[1:], dtype=values.dtype)
                out.arrays[name][own] = values
            jobs[k] = None
            done += len(own)
            step("SOAP on workers", done, total)
        return out

    def ahead(self, frames: Iterable[Atoms]) -> Iterator[Atoms]:
        """Yield ``frames`` in order while up to ``window`` of them are computed ahead; call
        :meth:`predict_arrays` with each yielded frame before the next."""
        it = iter(frames)
        done = False
        try:
            while True:
                while not done and len(self._pending) < self.window:
                    try:
                        atoms = next(it)
                    except StopIteration:
                        done = True
                        break
                    self._pending.append((atoms, self._submit(atoms)))
                if not self._pending:
                    return
                yield self._pending[0][0]
        finally:
            self._cancel()

    def predict_arrays(self, atoms: Atoms) -> Dict[str, np.ndarray]:
        """Named per-atom arrays of the oldest frame in flight, which must be ``atoms``."""
        if not self._pending or self._pending[0][0] is not atoms:
            raise RuntimeError("RemotePredictor.predict_arrays: frames must come from ahead(), in order")
        _, job = self._pending.popleft()
        if not isinstance(job, list):
            return _result(job, atoms)
        parts = None
        done = 0
        for k, (own, fut) in enumerate(job):
            parts = store_part(parts, _result(fut, atoms), own, len(own), len(atoms))
            job[k] = None  # each domain's future released as soon as it is stitched
            done += len(own)
            step("domains on workers", done, len(atoms))
        return self.model.arrays_from_parts(parts, atoms)

    def predict(self, atoms: Atoms) -> np.ndarray:
        return self.predict_arrays(atoms)["barrier"]

    def _cancel(self) -> None:
        if self._pending:
            futures = [f for _, job in self._pending
                       for f in ([p[1] for p in job if p is not None] if isinstance(job, list) else [job])]
            try:
                self.client.cancel(futures)
            except Exception:
                pass
            self._pending.clear()

    def close(self) -> None:
        self._cancel()
        self._stack.close()

    def __enter__(self) -> "RemotePredictor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _result(fut, atoms: Atoms):
    """A :func:`noting_warnings` task's value (released from the cluster), its warnings raised
    here; a task that keeps killing workers is one error line."""
    try:
        value, notes = fut.result()
        for category, text in notes:
            warn_noted(category, text, stacklevel=3)
        return value
    except MgBarrierError:
        raise
    except Exception as exc:
        if type(exc).__name__ == "KilledWorker":
            raise MgBarrierError(f"{atoms.info.get('source', 'frame')}: Dask workers died on this frame "
                                 "repeatedly (out of memory?)") from None
        raise
    finally:
        fut.release()
