"""A loaded graph-network checkpoint: SymGNN (kind ``"symgnn"``) or a paper-table baseline
(kind ``"baseline"``, see :mod:`mgbarrier.nn.baselines`)."""
from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch
from ase import Atoms

from ..errors import MgBarrierError
from ..graphs.inputs import model_graph
from ..graphs.slabs import slab_count, slab_occupancy, slab_plan
from ..graphs.soap import SoapProjection
from ..nn.networks import build_network, config_from_dict
from ..nn.symgnn import SymGNNConfig
from .card import format_card
from .chunked import HALO_DEPTH, chunked, symgnn_edge_bytes
from .protocol import StructurePredictor, check_device


class GraphNetworkPredictor(StructurePredictor):
    """A loaded graph-network checkpoint: SymGNN (kind ``"symgnn"``) or a paper-table
    baseline (kind ``"baseline"``, see :mod:`mgbarrier.baselines`).

    Attributes: ``species`` (list of symbols), ``cutoff`` (Å), ``metadata`` (dict),
    ``config`` (:class:`SymGNNConfig` or :class:`~mgbarrier.nn.baselines.BaselineConfig`),
    ``net`` (the torch module, eval mode), ``path``, ``kind``.
    """

    def __init__(self, ckpt: dict, path: Path, device: str = "cpu", n_transforms: Optional[int] = None):
        self.path = path
        self.kind = ckpt["kind"]
        try:
            self.config = config_from_dict(self.kind, ckpt["config"])
        except (TypeError, ValueError, KeyError) as exc:
            raise MgBarrierError(f"{path}: invalid model configuration ({exc})") from None
        _check_config(self.config, path)
        if n_transforms is not None and isinstance(self.config, SymGNNConfig):
            # an explicit number of transforms means the paper's sampled average
            self.config.k_eval = int(n_transforms)
            self.config.edge_mode = "sampled"
        self.label_mean = float(ckpt.get("label_mean", 0.0))
        self.label_std = float(ckpt.get("label_std", 1.0))
        self.metadata = dict(ckpt.get("metadata", {}))
        self.device = check_device(device)
        try:
            self.net = build_network(self.config)
        except (ValueError, NotImplementedError) as exc:
            raise MgBarrierError(f"{path}: invalid model configuration ({str(exc).splitlines()[0][:160]})") from None
        try:
            self.net.load_state_dict(ckpt["state_dict"], strict=True)
        except (RuntimeError, KeyError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise MgBarrierError(f"{path}: weights do not match the stored architecture ({first[:160]})") from None
        self.net.to(self.device).eval()
        if isinstance(self.config, SymGNNConfig) and self.config.edge_mode == "haar" \
                and self.config.symmetrize == "learned":
            stored = ckpt.get("haar_table")
            if isinstance(stored, torch.Tensor) and ckpt.get("haar_table_key") == haar_table_key(self.net) \
                    and tuple(stored.shape) == (self.config.radial_points, self.config.edge_hidden):
                p = next(self.net.parameters())
                self.net._table = stored.to(device=p.device, dtype=p.dtype)  # stored: no ~1 s build at load
            try:
                with torch.no_grad():
                    self.net.haar_table()  # else built once here (~1 s), so that predict() is fast from the first call
            except (ValueError, NotImplementedError, RuntimeError) as exc:  # e.g. a Lebedev order that has no rule
                raise MgBarrierError(f"{path}: invalid model configuration "
                                     f"({str(exc).splitlines()[0][:160]})") from None
        self._lock = threading.Lock()
        self._soap_projection = None
        if getattr(self.config, "node_features", "species") == "soap":
            matrix, offset = self.net.node_input_map()
            self._soap_projection = SoapProjection(tuple(self.config.species), tuple(sorted(self.config.soap.items())),
                                                   matrix, offset, "float32")

    def soap_projections(self) -> List[SoapProjection]:
        """What the network takes from SOAP rows at prediction: its input layer (SOAP inputs), else nothing."""
        return [] if self._soap_projection is None else [self._soap_projection]

    @property
    def species(self):
        return list(self.config.species)

    @property
    def cutoff(self) -> float:
        return float(self.config.cutoff)

    #: a SymGNN predicts a periodic structure of at least this many atoms (a whole structure, not a
    #: domain's cluster) as a wavefront over slabs (:mod:`mgbarrier.graphs.slabs`): the same values,
    #: with the edge states of a few slabs held instead of all (4.3 GB at a million atoms)
    wavefront_min_atoms = 50_000
    #: ... when at least this many slabs per layer fit (the periodic seam costs (layers - 1) / 2 slabs)
    WAVEFRONT_SLABS_PER_LAYER = 3
    #: peak bytes of a wavefront prediction per edge while the neighbour list is built (the graph's
    #: indices and displacements then hold 28 bytes) and per atom (the reordered copy, first node
    #: states, output); measured: 2.58 GB peak at 1,029,000 atoms (33.5 M edges, 50 slabs)
    WAVEFRONT_EDGE_BYTES = 60.0
    WAVEFRONT_ATOM_BYTES = 500.0
    #: ... and while the layers run, per edge of a slab in flight (edge states 4 x edge_hidden, the
    #: window's indices and weights) and per atom of a slab whose node arrays are held (states,
    #: projections, their window copies: 4 x (hidden + 96) bytes each, ~3 x (layers + 1) slabs):
    #: with few slabs these outweigh the above (a rod of 12 slabs measured 4.1 kB per atom)
    WAVEFRONT_FLIGHT_EDGE_BYTES = 60.0

    def _wavefront_slabs(self, atoms: Atoms) -> int:
        """Slabs a wavefront prediction of ``atoms`` would use, or 0 where it does not apply.
        ``self.wavefront`` (:class:`~mgbarrier.models.protocol.PredictorBase`): True, wherever the
        slabs fit; False, never; None (default), for structures of at least ``wavefront_min_atoms``
        and networks whose edge states outweigh what the wavefront holds per edge (edge_hidden >
        10; the tests' tiny networks are not)."""
        if self.wavefront is False:
            return 0
        if not isinstance(self.config, SymGNNConfig) or HALO_DEPTH in atoms.arrays:
            return 0
        if self.wavefront is None and (len(atoms) < self.wavefront_min_atoms
                                       or self.WAVEFRONT_EDGE_BYTES >= symgnn_edge_bytes(self.config.edge_hidden)):
            return 0
        m = slab_count(atoms, self.cutoff)[1]
        return m if m >= self.WAVEFRONT_SLABS_PER_LAYER * len(self.config.heads) else 0

    def whole_bytes_per_atom(self, atoms: Atoms, density: float) -> Optional[float]:
        """Peak bytes per atom of predicting ``atoms`` whole as a wavefront over slabs, or None
        where that does not apply (:mod:`mgbarrier.models.chunked` then plans domains).
        ``density`` (atoms/Å^3) is raised by the share of slabs that hold atoms: a film in vacuum
        has the edges of its own density, not of its cell's."""
        m = self._wavefront_slabs(atoms)
        if not m:
            return None
        density /= max(slab_occupancy(atoms, self.cutoff), 1e-3)
        edges = density * 4.0 / 3.0 * math.pi * self.cutoff ** 3
        layers, cfg = len(self.config.heads), self.config
        building = edges * self.WAVEFRONT_EDGE_BYTES  # the neighbour list's peak, before the layers
        running = edges * (28.0 + (layers + 2) * (4.0 * cfg.edge_hidden + self.WAVEFRONT_FLIGHT_EDGE_BYTES) / m) \
            + 3.0 * (layers + 1) * 4.0 * (cfg.hidden + 96) / m  # the slabs in flight
        inputs = 0.0 if self._soap_projection is None else 4.0 * cfg.hidden  # its reordered copy
        return self.WAVEFRONT_ATOM_BYTES + inputs + max(building, running)

    @chunked
    def _predict_inputs(self, atoms: Atoms) -> np.ndarray:
        """Per-atom barriers (eV, (N,)) as the network gives them, of a validated structure that
        carries its SOAP inputs (if any); structures larger than the memory budget allows run in
        spatial domains with halos (same values, :mod:`mgbarrier.models.chunked`), large
        periodic ones as a wavefront over slabs (same values, :mod:`mgbarrier.graphs.slabs`)."""
        source = atoms.info.get("source", "")
        slabs = self._wavefront_slabs(atoms)
        if slabs:
            plan = slab_plan(atoms, self.cutoff, slabs)
            graph = model_graph(self._reordered(atoms, plan.order), self.config, source, self._soap_projection)
            values = self.predict_graph(graph, consume=True, slabs=plan.bounds)
            out = np.empty_like(values)
            out[plan.order] = values
            return out
        graph = model_graph(atoms, self.config, source, self._soap_projection)
        return self.predict_graph(graph, self._layer_atoms(atoms), consume=isinstance(self.config, SymGNNConfig))

    def _reordered(self, atoms: Atoms, order: np.ndarray) -> Atoms:
        """``atoms`` in ``order`` with only what the graph reads: species, positions, cell and
        the network's SOAP input array if it comes with the atoms (not every per-atom array)."""
        ordered = Atoms(numbers=atoms.numbers[order], positions=atoms.positions[order], cell=atoms.cell,
                        pbc=atoms.pbc)
        ordered.info.update(atoms.info)
        name = None if self._soap_projection is None else self._soap_projection.name
        if name in atoms.arrays:
            ordered.arrays[name] = atoms.arrays[name][order]
        return ordered

    def _layer_atoms(self, atoms: Atoms) -> Optional[List[int]]:
        """For a spatial domain's cluster (halo sorted by depth, :data:`HALO_DEPTH`) and a SymGNN:
        how many leading atoms each layer must compute (those within (layers - k) x cutoff of the
        domain, k = 1..layers) and, last, how many outputs are needed (the domain's own atoms).
        None: compute everything."""
        depth = atoms.arrays.get(HALO_DEPTH)
        if depth is None or not isinstance(self.config, SymGNNConfig):
            return None
        layers = len(self.config.heads)
        limits = [(layers - k) * self.cutoff for k in range(1, layers + 1)] + [-0.5]
        return [int(np.searchsorted(depth, x, side="right")) for x in limits]

    def predict_graph(self, graph, layer_atoms: Optional[List[int]] = None, consume: bool = False,
                      slabs: Optional[Sequence[int]] = None) -> np.ndarray:
        """(N,) eV for a :class:`~mgbarrier.graphs.graph.Graph`; ``layer_atoms`` (SymGNN only, see
        :meth:`SymGNN.forward`) leaves the outer halo of a spatial domain out of the later layers
        (the outputs past its last entry are then not meaningful).  ``consume`` (SymGNN): the
        graph is handed over and its edge arrays are freed once read (its ``center``,
        ``neighbor`` and ``vec`` become None).  ``slabs`` (SymGNN): the graph's atoms are
        ordered in the slabs of :func:`mgbarrier.graphs.slabs.slab_plan` (its ``bounds``), and
        the layers run as a wavefront over them (same values, less memory)."""
        with self._lock, torch.no_grad():
            g = graph.to(self.device)
            if layer_atoms is None and not consume and slabs is None:
                out = self.net(g)
            else:
                if consume:
                    graph.center = graph.neighbor = graph.vec = None
                extra = {} if slabs is None else {"slabs": slabs}
                out = self.net(g, layer_atoms=layer_atoms, consume=consume, **extra)
        return out.double().cpu().numpy() * self.label_std + self.label_mean

    def describe(self) -> str:
        return format_card(self)


#: configuration fields that are sizes or counts: whole numbers >= 1 wherever a config has them
COUNT_FIELDS = ("hidden", "edge_hidden", "encoder_hidden", "layers", "k_train", "k_eval", "lebedev_order",
                "radial_points", "radial_basis")


def _check_config(cfg, path: Path) -> None:
    """One :class:`MgBarrierError` line for a configuration value out of range: cutoff (Å) a
    positive finite number, sizes whole numbers >= 1, dropout in [0, 1)."""
    cutoff = getattr(cfg, "cutoff", None)
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float)) or not math.isfinite(cutoff) or cutoff <= 0:
        raise MgBarrierError(f"{path}: config cutoff must be a positive number of Å, got {cutoff!r}")
    for name in COUNT_FIELDS:
        value = getattr(cfg, name, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise MgBarrierError(f"{path}: config {name} must be a whole number >= 1, got {value!r}")
    heads = getattr(cfg, "heads", (1,))
    if not heads or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in heads):
        raise MgBarrierError(f"{path}: config heads must be whole numbers >= 1, got {heads!r}")
    dropout = getattr(cfg, "dropout", 0.0)
    if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise MgBarrierError(f"{path}: config dropout must be in [0, 1), got {dropout!r}")


def haar_table_key(net) -> str:
    """sha256 of what a SymGNN's radial table depends on: the encoder weights and the
    radial/Lebedev settings (a stored table is used only when this matches)."""
    import hashlib

    cfg = net.cfg
    h = hashlib.sha256(repr((cfg.lebedev_order, cfg.radial_points, float(cfg.cutoff), cfg.radial_basis,
                             cfg.edge_hidden)).encode())
    for name, tensor in sorted(net.encoder.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def with_haar_table(ckpt: dict) -> dict:
    """A copy of a checkpoint dict (kind symgnn, or an ensemble's members) carrying its radial
    table (``haar_table``, ``haar_table_key``), so that loading it skips the ~1 s build."""
    ckpt = dict(ckpt)
    if ckpt.get("kind") == "ensemble":
        ckpt["members"] = [with_haar_table(m) for m in ckpt.get("members", [])]
        return ckpt
    if ckpt.get("kind") != "symgnn":
        return ckpt
    cfg = config_from_dict("symgnn", ckpt["config"])
    if cfg.edge_mode != "haar" or cfg.symmetrize != "learned":
        return ckpt
    net = build_network(cfg)
    net.load_state_dict(ckpt["state_dict"], strict=True)
    net.eval()
    with torch.no_grad():
        ckpt["haar_table"] = net.haar_table().detach().cpu().clone()
    ckpt["haar_table_key"] = haar_table_key(net)
    return ckpt


#: the name of earlier releases
SymGNNPredictor = GraphNetworkPredictor
