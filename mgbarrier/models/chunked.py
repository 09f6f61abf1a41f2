"""Spatial chunking with halos: any structure size in bounded memory, identical predictions.

A predictor's ``predict`` (and ``predict_arrays``) decorated with :func:`chunked` cuts a structure
with more atoms than the model's chunk size into spatial domains and predicts each domain as a
*non-periodic cluster*: the domain's own atoms plus every atom, periodic images included, within
the model's receptive radius R (Å) of the domain (the halo).  Only the domain's own atoms' values
are kept, so every atom sees exactly the atoms it would see in the whole structure and the stitched
prediction equals the unchunked one to float rounding (tests: <= 1e-5 eV).

* Domains: the cells of an m0 x m1 x m2 grid in fractional coordinates of the cell (periodic
  axes, triclinic or not) or of the atoms' bounding box (non-periodic axes).  The halo of a
  domain is the slab [lo - R |b_k|, hi + R |b_k|) per axis k, b_k the reciprocal vector (no
  2 pi), a superset of the points within R of the domain.  The grid minimises the total atoms
  computed under the chunk size.
* Receptive radius (:func:`receptive_radius`): SymGNN and the baselines, layers x graph cutoff
  (+ the SOAP reach r_cut + dscribe's Gaussian padding for SOAP node inputs); descriptor, SOAP
  reach + neighbour-averaging radius; an ensemble, the largest member (its members chunk one
  by one, each with its own radius).  A model whose SOAP inputs come with the atoms
  (:func:`mgbarrier.graphs.soap.with_soap_inputs`, arrays carried into every cluster) is cut
  with the radius without the SOAP reach: that is how the SOAP models predict.
* Whole where a model can (:func:`whole_limit`): a SymGNN predicts a large periodic structure
  as a wavefront over slabs (:mod:`mgbarrier.graphs.slabs`), ~3 kB per atom instead of ~7, so
  a structure that fits that way is not cut.
* Chunk size (:func:`chunk_atoms`): from ``max_memory`` (GB, the model's attribute, default
  :data:`DEFAULT_MAX_MEMORY_GB` or ``$MGBARRIER_MAX_MEMORY``) less a fixed allowance, divided by
  a per-kind estimate of peak bytes per atom (:func:`bytes_per_atom`, measured on Cu64Zr36;
  graph networks scale with the edges per atom).  ``model.chunk_atoms`` overrides it.
  A budget too small for one domain with its halo is one :class:`MgBarrierError` line.
* On Dask workers (:mod:`mgbarrier.parallel`): :func:`spread_plan` plans the domains of a large
  frame for the number of workers (for a model that reads SOAP, :func:`soap_inputs_of`, after
  its inputs were computed in SOAP blocks: halos without the SOAP reach),
  :func:`predict_domain_parts` computes one domain's ``predict_parts`` on a worker, and the
  client stitches them (:func:`store_part`) and reads them out once.
* Progress: each finished domain reports its atoms (:func:`mgbarrier.progress.step`).
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import warnings
from contextvars import ContextVar
from typing import Callable, Dict, List, Optional, Tuple, Union

import numpy as np
from ase import Atoms

from ..allocator import THRESHOLD as RETAIN_BYTES
from ..allocator import hold_freed_memory
from ..errors import MgBarrierError, MgBarrierWarning
from ..graphs.checks import parts_of_validated, validate_atoms
from ..graphs.domains import HALO_DEPTH, domains, input_arrays, keeps_periodic  # noqa: F401 (HALO_DEPTH: re-exported)
from ..graphs.neighbours import neighbour_ready
from ..progress import step

#: default memory budget of one prediction (GB)
DEFAULT_MAX_MEMORY_GB = 4.0
#: GB of the budget set aside for the interpreter, torch, the model and the whole input structure
FIXED_GB = 0.7
#: bytes per atom of the descriptor model when its SOAP inputs come with the atoms: the
#: neighbour pairs within the averaging radius (~110 per atom at 7.5 Å; measured 11.5 kB per
#: atom at 192,000 atoms, most of it the neighbour list's own peak; 13 kB keeps the default
#: ensemble within 4 GB at 1,029,000 atoms, 12 kB peaked at 4.09 GB)
DESCRIPTOR_GIVEN_BYTES = 13000.0
#: domains holding (with their halos) more than this many times the structure's atoms get a
#: warning: the halos dominate the work (a small cell, a large radius, a tight budget)
HALO_WORK_WARNING = 4.0
#: most domains per axis
MAX_DOMAINS_PER_AXIS = 64
#: atoms per Å^3 assumed where a structure has no periodic volume (a dense metal glass)
DENSITY_FALLBACK = 0.07
#: a domain's estimated cluster may use this fraction of the chunk size (density fluctuates)
SAFETY = 0.85

#: True while a chunk (or a structure small enough to need none) is being predicted:
#: nested decorated calls (predict_arrays -> predict, ensemble -> members) do not re-chunk
_INSIDE: ContextVar[bool] = ContextVar("mgbarrier_inside_chunk", default=False)

Result = Union[np.ndarray, Dict[str, np.ndarray]]


def _budget_gb(value, where: str = "") -> float:
    """``value`` as a positive finite number of GB, or one error line (``where`` leads it)."""
    try:
        gb = float(value)
    except (TypeError, ValueError):
        raise MgBarrierError(f"{where}max memory must be a number of GB, got {value!r}") from None
    if not (math.isfinite(gb) and gb > 0):
        raise MgBarrierError(f"{where}max memory must be a positive number of GB, got {value!r}")
    return gb


def max_memory_gb(model) -> float:
    """The model's memory budget in GB (attribute ``max_memory``, else the default)."""
    value = getattr(model, "max_memory", None)
    if value is not None:
        return _budget_gb(value)
    where = "$MGBARRIER_MAX_MEMORY: " if "MGBARRIER_MAX_MEMORY" in os.environ else ""
    return _budget_gb(os.environ.get("MGBARRIER_MAX_MEMORY", DEFAULT_MAX_MEMORY_GB), where)


def set_max_memory(model, gb: Optional[float]) -> None:
    """Set the memory budget (GB; None: the default) of a model, checked first; a loaded model
    (:class:`~mgbarrier.models.protocol.PredictorBase`) passes it on to its members."""
    model.max_memory = None if gb is None else _budget_gb(gb)


def _soap_reach(species, soap: dict) -> float:
    from ..graphs.inputs import soap_reach

    return soap_reach(species, soap)


def inputs_given(model, atoms: Atoms) -> bool:
    """Whether ``atoms`` carries every SOAP input ``model`` takes (:mod:`mgbarrier.graphs.soap`);
    False for a model that takes none."""
    projections = model.soap_projections() if hasattr(model, "soap_projections") else []
    return bool(projections) and all(p.name in atoms.arrays for p in projections)


def receptive_radius(model, given: bool = False) -> float:
    """Å: a model's prediction for an atom depends on atoms at most this far away (module doc).
    ``given``: the model's SOAP inputs are given per atom, so their reach does not count."""
    kind = getattr(model, "kind", None)
    if kind == "ensemble":
        return max(receptive_radius(m, given) for m in model.members)
    if kind == "mesoscale":
        return receptive_radius(model.members[0], given) + float(model.kernel_cutoff)
    cfg = getattr(model, "config", None)
    if cfg is not None and not isinstance(cfg, dict) and hasattr(cfg, "cutoff") \
            and (hasattr(cfg, "heads") or hasattr(cfg, "layers")):  # every message-passing network kind
        layers = len(cfg.heads) if hasattr(cfg, "heads") else int(cfg.layers)
        radius = layers * float(cfg.cutoff)
        if getattr(cfg, "node_features", "species") == "soap" and not given:
            radius += _soap_reach(cfg.species, cfg.soap)
        return radius
    if kind == "descriptor" and isinstance(cfg, dict):
        return (0.0 if given else _soap_reach(cfg["species"], cfg["soap"])) + float(cfg["average_cutoff"])
    raise MgBarrierError(f"{getattr(model, 'path', 'model')}: no receptive radius known for model kind {kind!r}; "
                         "cannot cut it into domains")


def _density(atoms: Atoms) -> float:
    if all(atoms.pbc) and len(atoms):
        volume = abs(float(np.linalg.det(atoms.cell.array)))
        if volume > 0:
            return max(len(atoms) / volume, 0.02)
    return DENSITY_FALLBACK


def symgnn_edge_bytes(edge_hidden: int) -> float:
    """Peak bytes per directed edge of a SymGNN's whole-structure inference: its edge states
    (4 x edge_hidden) and 20 bytes of neighbour and column indices and weights (measured)."""
    return 20.0 + 4.0 * int(edge_hidden)


def bytes_per_atom(model, density: float = 0.0615, given: bool = False) -> float:
    """Estimated peak bytes per atom of one prediction of ``model`` (CPU, float32 network).

    SymGNN with species inputs (inference path, graph handed over): 4 x edge_hidden + 20
    bytes per directed edge (edge states, neighbour and column indices, weights) and
    4 x hidden x 8 per atom (node states, projections, messages, read-out); measured 7.75 GB
    peak at 1,029,000 atoms with 32 edges per atom, of which 0.35 GB interpreter, torch and
    structure.  Other graph networks: ~210 bytes per edge (edge state width 32) and
    1.3 kB + 4 x hidden x 8 per atom.
    Edges per atom = density x 4/3 pi cutoff^3.  SOAP node inputs: 6 kB per atom on top
    (16.5 kB/atom measured for the shipped SOAP-SymGNN at 192,000 atoms, 16.0 estimated).
    Descriptor model: 15 kB per atom (14.6 kB/atom measured at 192,000 atoms: the SOAP
    blocks' neighbour images and the averaging pairs and matrices within 7.5 Å; it was
    estimated at 6 kB, and the default ensemble then peaked at 6.3 GB in a 4 GB budget at
    1,029,000 atoms).  ``given``: the SOAP inputs come with the atoms (a few numbers per atom):
    a SOAP-SymGNN then costs what a species SymGNN does, and the descriptor model only its
    neighbour averages within the averaging radius, DESCRIPTOR_GIVEN_BYTES per atom.
    Measured on test0 tilings (benchmarks/predict_speed.py).
    """
    kind = getattr(model, "kind", None)
    if kind == "ensemble":
        return max(bytes_per_atom(m, density, given) for m in model.members)
    if kind == "mesoscale":  # kernel pairs: i, j (int64), distance and weight (float64), gathered values
        pairs = density * 4.0 / 3.0 * math.pi * float(model.kernel_cutoff) ** 3
        return max(bytes_per_atom(model.members[0], density), 200.0 + 48.0 * pairs)
    cfg = getattr(model, "config", None)
    if cfg is not None and not isinstance(cfg, dict) and hasattr(cfg, "cutoff"):  # graph networks
        edges = density * 4.0 / 3.0 * math.pi * float(cfg.cutoff) ** 3
        # edge state width (equivariant: the l = 0, 1, 2 channels of a message)
        width = int(getattr(cfg, "edge_hidden", 0)) or int(getattr(cfg, "scalars", 32)) \
            + 3 * int(getattr(cfg, "vectors", 0)) + 5 * int(getattr(cfg, "tensors", 0))
        per_atom = 4.0 * int(getattr(cfg, "hidden", 64)) * 8
        soap = getattr(cfg, "node_features", "species") == "soap" and not given
        if hasattr(cfg, "heads") and hasattr(cfg, "edge_hidden") and not soap:  # SymGNN (measured)
            return per_atom + edges * symgnn_edge_bytes(width)
        per_atom += 1300.0 + (6000.0 if soap else 0.0)
        return per_atom + edges * (80.0 + 4.0 * width)
    if kind == "descriptor":
        return DESCRIPTOR_GIVEN_BYTES if given else 15000.0
    return 10000.0


def chunk_atoms(model, density: float = 0.0615, given: bool = False, reserved_bytes: float = 0.0) -> int:
    """Most atoms (domain + halo) predicted at once within the model's memory budget, less
    ``reserved_bytes`` (the structure's own per-atom inputs)."""
    fixed = getattr(model, "chunk_atoms", None)
    if fixed is not None:
        return max(1, int(fixed))
    gb = max_memory_gb(model)
    return max(0, int(((gb - FIXED_GB) * 1e9 - reserved_bytes) / bytes_per_atom(model, density, given)))


def whole_limit(model, atoms: Atoms, density: float, reserved_bytes: float = 0.0) -> Optional[int]:
    """Most atoms ``model`` predicts whole within its budget the way it predicts ``atoms`` whole
    when it has a way of its own (a SymGNN's wavefront over slabs: ``model.whole_bytes_per_atom``);
    None where it has none or ``model.chunk_atoms`` fixes the chunk size."""
    per_atom_of = getattr(model, "whole_bytes_per_atom", None)
    if per_atom_of is None or getattr(model, "chunk_atoms", None) is not None:
        return None
    per_atom = per_atom_of(atoms, density)
    if not per_atom:
        return None
    return max(0, int(((max_memory_gb(model) - FIXED_GB) * 1e9 - reserved_bytes) / per_atom))


def plan_grid(n: int, delta: np.ndarray, pbc: np.ndarray, limit: int,
              keeps_periodic: Optional[Callable[[np.ndarray], bool]] = None,
              workers: int = 1) -> Optional[Tuple[int, int, int]]:
    """Domains per axis (m0, m1, m2) for ``n`` atoms, halo half-widths ``delta`` (3,) in
    fractional units, at most ``limit`` atoms per domain with halo; None when no cutting is needed.

    The grid minimises the atoms the busiest of ``workers`` computes: ceil(domains / workers)
    domains of (domain + halo) atoms each (one worker: all atoms computed, halos included).
    ``keeps_periodic(whole)``: whether the clusters may stay periodic along the periodic axes
    ``whole`` (3,) bool that are not cut (then those axes need no halo); default never.
    Raises ValueError(smallest domain's atoms) when even the finest grid exceeds ``limit``."""
    if n <= limit:
        return None
    ms = np.arange(1, MAX_DOMAINS_PER_AXIS + 1, dtype=float)
    best, best_total = None, np.inf
    for uncut in itertools.product((True, False), repeat=3):  # which axes are left whole (m = 1)
        uncut = np.asarray(uncut)
        whole = uncut & pbc
        keep = bool(whole.any()) and keeps_periodic is not None and keeps_periodic(whole)
        fr, counts = [], []
        for k in range(3):
            m = ms[:1] if uncut[k] else ms[1:]
            f = 1.0 / m + 2.0 * delta[k]
            if not pbc[k]:
                f = np.minimum(f, 1.0)
            elif uncut[k] and keep:
                f = np.ones(1)
            fr.append(f)
            counts.append(m)
        size = n * fr[0][:, None, None] * fr[1][None, :, None] * fr[2][None, None, :]
        count = counts[0][:, None, None] * counts[1][None, :, None] * counts[2][None, None, :]
        ok = size <= SAFETY * limit
        if not ok.any():
            continue
        total = np.where(ok, size * np.ceil(count / max(1, int(workers))), np.inf)
        a, b, c = np.unravel_index(int(np.argmin(total)), total.shape)
        if total[a, b, c] < best_total:
            best_total, best = total[a, b, c], (int(counts[0][a]), int(counts[1][b]), int(counts[2][c]))
    if best is None:
        smallest = n * np.prod([min(1.0, 1.0 / MAX_DOMAINS_PER_AXIS + 2.0 * d) if not p
                                else 1.0 / MAX_DOMAINS_PER_AXIS + 2.0 * d for d, p in zip(delta, pbc)])
        raise ValueError(float(smallest))
    return best


def store_part(out, part, own: np.ndarray, n_own: int, n: int):
    """Write the first ``n_own`` columns of a domain's ``part`` ((..., M) array or dict of them)
    at columns ``own`` of ``out`` ((..., n) float64, allocated on the first call when None)."""
    if isinstance(part, dict):
        if out is None:
            out = {k: np.empty(np.shape(v)[:-1] + (n,), dtype=np.float64) for k, v in part.items()}
        for k, v in part.items():
            out[k][..., own] = np.asarray(v)[..., :n_own]
        return out
    part = np.asarray(part)
    if out is None:
        out = np.empty(part.shape[:-1] + (n,), dtype=np.float64)
    out[..., own] = part[..., :n_own]
    return out


def predict_chunked(fn: Callable[[Atoms], Result], atoms: Atoms, radius: float, limit: int,
                    what: str = "model") -> Result:
    """``fn`` (Atoms -> (..., N) array or dict of them) over spatial domains of ``atoms`` with
    halos of ``radius`` Å, at most ``limit`` atoms each (module doc); stitched, (..., N)."""
    n = len(atoms)
    grid = _grid(atoms, radius, limit, what)
    if grid is None:
        token = _INSIDE.set(True)
        try:
            return fn(atoms)
        finally:
            _INSIDE.reset(token)
    out = None
    caught: List[warnings.WarningMessage] = []
    computed = done = 0
    token = _INSIDE.set(True)
    try:
        for own, cluster in domains(atoms, radius, grid):
            with warnings.catch_warnings(record=True) as got, parts_of_validated():
                warnings.simplefilter("always")
                part = fn(cluster)
            caught.extend(got)
            computed += len(cluster)
            out = store_part(out, part, own, len(own), n)
            done += len(own)
            step(f"{what} domains", done, n)
            del part, cluster
    finally:
        _INSIDE.reset(token)
    _rewarn(caught, int(np.prod(grid)))
    if computed > HALO_WORK_WARNING * n:
        warnings.warn(MgBarrierWarning(
            f"{atoms.info.get('source', '') or 'structure'}: the memory budget allows {limit:,} atoms at once, so "
            f"{what} ran in {int(np.prod(grid))} spatial domains whose {radius:.1f} Å halos made it compute "
            f"{computed / n:.1f} times the structure's atoms; a larger --max-memory is faster"), stacklevel=3)
    return out


def _grid(atoms: Atoms, radius: float, limit: int, what: str, workers: int = 1) -> Optional[Tuple[int, int, int]]:
    """:func:`plan_grid` for a structure; a budget too small for one domain is one error line."""
    ready_cell = neighbour_ready(atoms, 0.0).cell.array
    recip = np.linalg.norm(np.linalg.inv(ready_cell).T, axis=1)
    try:
        return plan_grid(len(atoms), radius * recip, np.asarray(atoms.pbc, dtype=bool), limit,
                         keeps_periodic(ready_cell), workers)
    except ValueError as exc:
        need = float(exc.args[0]) / SAFETY
        raise MgBarrierError(f"{atoms.info.get('source', '') or 'structure'}: the memory budget allows "
                             f"{limit:,} atoms at once but one domain of {what} with its {radius:.1f} Å halo "
                             f"needs about {need:,.0f}; raise --max-memory") from None


def spread_plan(model, atoms: Atoms, workers: int = 1, given: bool = False,
                whole_frames: bool = False) -> Optional[Tuple[float, Tuple[int, int, int]]]:
    """How to predict ``atoms`` as spatial domains computed independently on ``workers`` Dask
    workers (:mod:`mgbarrier.parallel`), each whole by :func:`predict_domain_parts`:
    ``(radius Å, grid)``, or None when the structure fits the model's chunk size.  The grid
    minimises the busiest worker's atoms (:func:`plan_grid`).  A structure to cut is validated
    here (the domains are not).  ``given``: the model's SOAP inputs will come with the atoms
    (:func:`soap_inputs_of`), so the radius and the memory estimate leave out SOAP; else each
    domain computes its own SOAP inputs and the radius includes their reach.  ``whole_frames``
    (a trajectory with frames for every worker): None also when the model predicts the frame
    whole its own way within its budget (:func:`whole_limit`: a SymGNN's wavefront), so that
    each worker takes whole frames, without halos."""
    reserved = float(len(atoms) * sum(p.matrix.shape[1] * np.dtype(p.dtype).itemsize
                                      for p in soap_inputs_of(model))) if given else 0.0
    density = _density(atoms)
    limit = chunk_atoms(model, density, given, reserved)
    if len(atoms) <= limit:
        return None
    if whole_frames and len(atoms) <= (whole_limit(model, atoms, density, reserved) or 0):
        return None
    validate_atoms(atoms, atoms.info.get("source", ""))
    radius = receptive_radius(model, given)
    grid = _grid(atoms, radius, limit, f"{getattr(model, 'kind', 'model')} model", workers)
    return None if grid is None else (radius, grid)


def soap_inputs_of(model) -> list:
    """The SOAP projections (:class:`mgbarrier.graphs.soap.SoapProjection`) that ``model`` and its
    members read.  Spread over domains, such a model would compute SOAP again over every halo
    (the default ensemble, 192,000 atoms in 24 domains on 2 workers: 3.2x one process), so
    :mod:`mgbarrier.parallel` computes them first in SOAP blocks and cuts with ``given=True``."""
    own = list(model.soap_projections()) if hasattr(model, "soap_projections") else []
    return own + [p for m in getattr(model, "members", ()) for p in soap_inputs_of(m)]


def predict_domain_parts(model, cluster: Atoms, n_own: int) -> np.ndarray:
    """``model.predict_parts`` of one domain's cluster (:func:`mgbarrier.graphs.domains.domains`;
    its structure was validated, and the cluster is not cut again): the own atoms' columns,
    float64 (..., n_own)."""
    token = _INSIDE.set(True)
    try:
        with parts_of_validated():
            return np.asarray(model.predict_parts(cluster), dtype=np.float64)[..., :n_own]
    finally:
        _INSIDE.reset(token)


def _rewarn(caught: List[warnings.WarningMessage], n_domains: int) -> None:
    """One warning per category for the whole structure (the first domain's text)."""
    seen = {}
    for w in caught:
        seen.setdefault(w.category, [w, 0])[1] += 1
    for category, (w, count) in seen.items():
        note = f" (in {count} of {n_domains} spatial domains; counts are per domain)" if n_domains > 1 else ""
        warnings.warn(category(f"{w.message}{note}"), stacklevel=4)


def chunked(method: Callable) -> Callable:
    """Decorate a predictor method ``(self, atoms) -> (..., N) array or dict`` to run over
    spatial domains when ``atoms`` exceeds the model's chunk size (module doc)."""

    @functools.wraps(method)
    def wrapper(self, atoms: Atoms, *args, **kwargs):
        if _INSIDE.get() or not isinstance(atoms, Atoms):
            return method(self, atoms, *args, **kwargs)
        source = atoms.info.get("source", "")
        validate_atoms(atoms, source)  # first: a zero or NaN cell cannot even be wrapped into domains
        given = inputs_given(self, atoms)
        reserved = float(sum(a.nbytes for a in input_arrays(atoms).values()))
        density = _density(atoms)
        limit = chunk_atoms(self, density, given, reserved)
        whole = whole_limit(self, atoms, density, reserved)
        if whole is not None:  # whole, the model predicts it its own way: plan with that estimate
            limit = len(atoms) if len(atoms) <= whole else min(limit, whole)
        # a prediction whose blocks outgrow the heap's retain threshold keeps all it frees until it
        # ends, so that its later blocks reuse those pages instead of faulting in fresh ones
        large = min(len(atoms), limit) * bytes_per_atom(self, density, given) > RETAIN_BYTES
        with parts_of_validated(), (hold_freed_memory(release=False) if large else contextlib.nullcontext()):
            return predict_chunked(lambda a: method(self, a, *args, **kwargs), atoms, receptive_radius(self, given),
                                   limit, what=f"{getattr(self, 'kind', 'model')} model")

    return wrapper
