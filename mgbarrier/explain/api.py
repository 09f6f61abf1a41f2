"""Explain the barriers of chosen atoms of one structure: atoms -> graph -> model -> numpy.

    from mgbarrier import load_model
    from mgbarrier.explain import explain_atoms

    model = load_model("symgnn.pt")                 # a SymGNN checkpoint
    result = explain_atoms(model, atoms, [12, 40])  # list of AtomExplanation
    result[0].edges["importance"]                   # (m,) sorted, most important first
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
from ase import Atoms

from ..errors import MgBarrierError
from ..graphs.graph import Graph
from ..graphs.inputs import model_graph
from .explainer import ExplainerSettings, explain_node, predict_with_edges
from .geometry import edge_geometry, mic_limit, relative_positions
from .mro import atom_importance, important_atoms, top_edges
from .subgraph import receptive_field
from .topology import bin_statistics, cycles_per_edge, importance_bins, optimal_cycles


@dataclass
class TopologySettings:
    """Persistent homology of the explained neighbourhood (see :mod:`.topology`).

    radius: Å around the centre (default: layers × cutoff, capped where periodic images
    would repeat atoms); filtration: "alpha" or "rips"; max_edge_length: Å (Rips only,
    default: the model cutoff); min_persistence: Å.
    """

    filtration: str = "alpha"
    radius: Optional[float] = None
    max_edge_length: Optional[float] = None
    min_persistence: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class AtomExplanation:
    """The explanation of one atom's barrier.

    edges: per receptive-field edge, sorted most important first: ``i`` receiving atom,
      ``j`` sending atom (structure indices; messages flow j -> i), ``importance`` in
      [0, 1], ``distance`` (Å, edge midpoint to the centre atom), ``length`` (Å), ``hop``
      (layer at which the message first reaches the centre, 1..L), ``cycles`` (optimal
      cycles containing {i, j}; -1 where the topology was not analysed), ``vec`` (m, 3)
      r_j - r_i (Å, through the periodic image the model used), ``saliency`` (eV per unit
      mask: |d barrier / d mask| at the full graph, a gradient attribution for comparison).
    atoms: per receptive-field atom: ``atom`` (index), ``distance`` (Å, to the centre),
      ``hop``, ``importance`` (max over its edges).
    important: atom indices of the top-``top`` edges.
    cycle_bins: {high/medium/low/random: {mean, sem, n}} or None; ``bin_counts`` the raw
      cycle counts per bin (for pooling over atoms).
    Predictions in eV: ``prediction`` (all edges), ``masked_prediction`` (soft mask),
    ``top_prediction`` (only the top edges kept).
    """

    atom: int
    species: str
    prediction: float
    masked_prediction: float
    top_prediction: float
    top: int
    n_layers: int
    edges: Dict[str, np.ndarray]
    atoms: Dict[str, np.ndarray]
    important: np.ndarray
    cycle_bins: Optional[Dict[str, dict]] = None
    bin_counts: Optional[Dict[str, np.ndarray]] = None
    n_cycles: int = 0
    topology_radius: Optional[float] = None
    seconds: float = 0.0
    loss: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n_edges(self) -> int:
        return int(len(self.edges["importance"]))

    @property
    def n_atoms(self) -> int:
        return int(len(self.atoms["atom"]))


@dataclass
class ModelParts:
    """What the explainer needs from a model: ``net(graph, edge_mask)`` -> (N,) standardised."""

    net: object
    species: List[str]
    cutoff: float
    n_layers: int
    label_mean: float
    label_std: float
    config: object = None  # the network configuration (builds the model's input graph)


def model_parts(model) -> ModelParts:
    """Check that ``model`` is a message-passing (SymGNN) predictor and unpack it."""
    net, cfg = getattr(model, "net", None), getattr(model, "config", None)
    if net is None or cfg is None or not hasattr(cfg, "heads"):
        where = getattr(model, "path", None) or "model"
        kind = getattr(model, "kind", type(model).__name__)
        raise MgBarrierError(f"{where}: explanations need a SymGNN checkpoint (message passing over edges); "
                             f"this is a {kind!r} model, which has no edges")
    return ModelParts(net=net, species=list(cfg.species), cutoff=float(cfg.cutoff), n_layers=len(cfg.heads),
                      label_mean=float(getattr(model, "label_mean", 0.0)),
                      label_std=float(getattr(model, "label_std", 1.0)), config=cfg)


#: the topology analysis of the paper (alpha complex, default radius); pass None to skip it
DEFAULT_TOPOLOGY = TopologySettings()


def explain_atoms(model, atoms: Atoms, centres: Sequence[int], settings: Optional[ExplainerSettings] = None,
                  top: int = 50, topology: Optional[TopologySettings] = DEFAULT_TOPOLOGY,
                  progress: Optional[Callable[[int, int, int, float], None]] = None,
                  graph: Optional[Graph] = None) -> List[AtomExplanation]:
    """Explain the predicted barrier of each atom index in ``centres`` (see :func:`explain_atom`).

    ``progress(k, n, atom, seconds)`` is called after each atom.  ``topology=None`` skips
    the persistent homology.
    """
    parts = model_parts(model)
    n = len(atoms)
    for c in centres:
        if not 0 <= int(c) < n:
            raise MgBarrierError(f"{atoms.info.get('source', 'structure')}: atom {c} out of range "
                                 f"(the structure has {n} atoms, indices 0..{n - 1})")
    if graph is None:
        graph = model_graph(atoms, parts.config, atoms.info.get("source", ""))
    out = []
    for k, c in enumerate(centres):
        out.append(explain_atom(parts, atoms, graph, int(c), settings, top, topology))
        if progress is not None:
            progress(k + 1, len(centres), int(c), out[-1].seconds)
    return out


def explain_atom(parts: ModelParts, atoms: Atoms, graph: Graph, centre: int,
                 settings: Optional[ExplainerSettings] = None, top: int = 50,
                 topology: Optional[TopologySettings] = DEFAULT_TOPOLOGY) -> AtomExplanation:
    """GNNExplainer on the receptive field of atom ``centre``, then its MRO and topology numbers."""
    t0 = time.perf_counter()
    s = settings or ExplainerSettings()
    fld = receptive_field(graph, centre, parts.n_layers)
    res = explain_node(parts.net, fld, s)
    imp = res.importance
    sub_i = fld.graph.center.numpy()
    sub_j = fld.graph.neighbor.numpy()
    rel = relative_positions(atoms, centre, fld.nodes)
    geo = edge_geometry(fld, rel)
    top_idx = top_edges(imp, top)
    keep = np.zeros(len(imp), dtype=bool)
    keep[top_idx] = True
    top_pred = predict_with_edges(parts.net, fld, keep) if len(imp) else res.full
    node_dist = np.linalg.norm(rel, axis=1)

    cycles = np.full(len(imp), -1, dtype=np.int64)
    cycle_bins = bin_counts = None
    n_cycles = 0
    radius = None
    if topology is not None and len(imp):
        radius = topology.radius
        if radius is None:
            radius = min(parts.n_layers * parts.cutoff, mic_limit(atoms) - 1e-6)
        inside = node_dist <= radius
        cand = np.flatnonzero(inside[sub_i] & inside[sub_j] & geo["consistent"])
        pts_idx = np.flatnonzero(inside)
        local = np.full(len(rel), -1, dtype=np.int64)
        local[pts_idx] = np.arange(len(pts_idx))
        max_edge = topology.max_edge_length if topology.max_edge_length is not None else parts.cutoff
        cyc = optimal_cycles(rel[pts_idx], topology.filtration, max_edge, topology.min_persistence)
        n_cycles = len(cyc)
        pairs = np.stack([local[sub_i[cand]], local[sub_j[cand]]], axis=1)
        cycles[cand] = cycles_per_edge(cyc, pairs)
        bins = importance_bins(imp[cand], top, seed=s.seed + 7919 * int(centre))
        bin_counts = {name: cycles[cand[idx]] for name, idx in bins.items()}
        cycle_bins = bin_statistics(cycles[cand], bins)  # bins index into cand

    order = np.lexsort((np.arange(len(imp)), -imp))
    edges = {
        "i": fld.nodes[sub_i][order], "j": fld.nodes[sub_j][order], "importance": imp[order],
        "distance": geo["distance"][order], "length": geo["length"][order], "hop": fld.edge_hop[order],
        "cycles": cycles[order], "vec": fld.graph.vec.double().numpy()[order],
        "saliency": res.saliency[order] * parts.label_std,
    }
    a_imp = atom_importance(len(fld.nodes), sub_i, sub_j, imp)
    nodes = {"atom": fld.nodes, "distance": node_dist, "hop": fld.hops, "importance": a_imp}
    important = fld.nodes[important_atoms(sub_i, sub_j, top_idx)] if len(top_idx) else np.zeros(0, dtype=np.int64)

    def ev(x: float) -> float:
        return float(x) * parts.label_std + parts.label_mean

    return AtomExplanation(
        atom=int(centre), species=str(atoms[centre].symbol), prediction=ev(res.full),
        masked_prediction=ev(res.masked), top_prediction=ev(top_pred), top=int(min(top, len(imp))),
        n_layers=parts.n_layers, edges=edges, atoms=nodes, important=important, cycle_bins=cycle_bins,
        bin_counts=bin_counts, n_cycles=n_cycles, topology_radius=radius,
        seconds=time.perf_counter() - t0, loss=res.loss)


def pooled_cycle_bins(explanations: Sequence[AtomExplanation]) -> Optional[Dict[str, dict]]:
    """Table 6 over several atoms: each bin's cycle counts pooled over all explained atoms."""
    got = [e.bin_counts for e in explanations if e.bin_counts]
    if not got:
        return None
    names = list(got[0])
    pooled = {nm: np.concatenate([g[nm] for g in got]) for nm in names}
    allc = np.concatenate([pooled[nm] for nm in names])
    offsets = np.cumsum([0] + [len(pooled[nm]) for nm in names])
    return bin_statistics(allc, {nm: np.arange(offsets[k], offsets[k + 1]) for k, nm in enumerate(names)})
