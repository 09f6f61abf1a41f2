"""SymGNN (Sym module + EGAT message passing + MLP decoder) as a torch module.

Maps a :class:`mgbarrier.graph.Graph` to one standardised value per atom, shape (N,).
Barriers in eV are ``out * label_std + label_mean`` (done by the predictor).

Edge embedding (the Sym module, paper Eq. 6): the mean over k orthogonal transforms T
of an MLP encoder applied to T·d_ij.  Transforms are drawn from the learnable
:class:`~mgbarrier.layers.VonMisesEuler` distribution.

Inference modes (``edge_mode``):

* ``"haar"`` (default): the expectation of the Sym embedding over *uniform* O(3).
  For an edge encoder that sees one displacement d, E_T[Enc(T d)] is the average of Enc
  over the sphere of radius |d|: we tabulate it once per model on a radial grid with a
  Lebedev quadrature (order ``lebedev_order``) and interpolate.  Deterministic and
  invariant to rotations, reflections, translations and permutations to float precision.
* ``"sampled"``: the paper's finite average over ``k_eval`` transforms drawn (with a fixed
  seed) from the learned distribution: reproducible but only approximately invariant.

During training each step draws k transforms from the learned distribution and, with
``frame_augmentation``, applies them after one uniformly random rotation of the whole
structure, so that the training embeddings are unbiased samples of the ``haar`` one.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..graphs.graph import Graph
from .layers import (  # noqa: F401
    EGATLayer,
    SortedEdges,
    Standardize,
    VonMisesEuler,
    cosine_envelope,
    count_parameters,
    gaussian_rbf,
    haar_rotation,
    mlp,
)


@dataclass
class SymGNNConfig:
    """Architecture hyper-parameters (stored in every checkpoint)."""

    species: List[str] = field(default_factory=lambda: ["Cu", "Zr"])
    cutoff: float = 5.0  # Å
    hidden: int = 64  # node state size
    edge_hidden: int = 32  # edge state size
    encoder_hidden: int = 64
    heads: Tuple[int, ...] = (8, 4, 2, 1)
    dropout: float = 0.0
    k_train: int = 2  # transforms per training step (the paper's A.8: 2 works as well as 6)
    k_eval: int = 32  # transforms for edge_mode="sampled"
    edge_mode: str = "haar"  # inference: "haar" | "sampled"
    symmetrize: str = "learned"  # "learned" | "none" | "fixed3" | "length"
    frame_augmentation: bool = True
    init_kappa: float = 0.05
    lebedev_order: int = 47
    radial_points: int = 1024
    eval_seed: int = 1234
    radial_basis: int = 16  # Gaussians of |d| fed to the encoder beside T·d
    mean_neighbors: float = 12.0  # normalises the smooth coordination number in edge_weights
    direction_init_scale: float = 0.1  # initial scale of the encoder's T·d input weights
    # per-atom inputs: "species" (the paper) or "soap" (species + the SOAP power spectrum,
    # settings ``soap``, see mgbarrier.node_features; needs dscribe)
    node_features: str = "species"
    soap: dict = field(default_factory=lambda: {"r_cut": 6.0, "n_max": 6, "l_max": 6, "sigma": 0.5, "rbf": "gto"})
    node_feature_dim: int = 0  # F of graph.node_attr (set when node_features != "species")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["heads"] = list(self.heads)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SymGNNConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "heads" in known:
            known["heads"] = tuple(int(h) for h in known["heads"])
        return cls(**known)


class SymGNN(nn.Module):
    def __init__(self, cfg: SymGNNConfig):
        super().__init__()
        self.cfg = cfg
        enc_in = cfg.radial_basis if cfg.symmetrize == "length" else 3 + cfg.radial_basis
        self.encoder = mlp([enc_in, cfg.encoder_hidden, cfg.encoder_hidden, cfg.edge_hidden], last_act=True)
        if cfg.symmetrize != "length":
            # start nearly radial: the direction channel (T·d) opens up only where it helps.
            # Random transforms make it noise at first; full-size it drowned the signal.
            with torch.no_grad():
                self.encoder[0].weight[:, :3].mul_(cfg.direction_init_scale)
        self.distribution = VonMisesEuler(cfg.init_kappa)
        if cfg.symmetrize == "fixed3":
            g = torch.Generator().manual_seed(7)
            fixed = torch.stack([torch.eye(3), haar_rotation(g), haar_rotation(g)])
            self.register_buffer("fixed_transforms", fixed)
        self.species_embedding = nn.Embedding(len(cfg.species), cfg.hidden)
        if cfg.node_features != "species":
            if cfg.node_feature_dim <= 0:
                raise ValueError("node_feature_dim must be set for node_features=%r" % cfg.node_features)
            self.node_scale = Standardize(cfg.node_feature_dim)
            self.node_input = nn.Linear(cfg.node_feature_dim, cfg.hidden)
        self.layers = nn.ModuleList(EGATLayer(cfg.hidden, cfg.edge_hidden, h) for h in cfg.heads)
        # pre-norm residual blocks: h <- h + U([LN(h), S(m)]), e <- e + W f
        self.node_norms = nn.ModuleList(nn.LayerNorm(cfg.hidden) for _ in cfg.heads)
        self.edge_norms = nn.ModuleList(nn.LayerNorm(cfg.edge_hidden) for _ in cfg.heads)
        self.message_scales = nn.ModuleList(Standardize(cfg.hidden) for _ in cfg.heads)
        self.node_updates = nn.ModuleList(mlp([2 * cfg.hidden, cfg.hidden, cfg.hidden]) for _ in cfg.heads)
        self.edge_updates = nn.ModuleList(nn.Linear(cfg.edge_hidden, cfg.edge_hidden) for _ in cfg.heads)
        self.drop = nn.Dropout(cfg.dropout)
        self.decoder = mlp([cfg.hidden * (len(cfg.heads) + 1), cfg.hidden, 1])
        # start from a constant output: the first steps fit the mean, not the noise of random weights
        nn.init.zeros_(self.decoder[-1].weight)
        nn.init.zeros_(self.decoder[-1].bias)
        self._table: Optional[torch.Tensor] = None
        self._generator: Optional[torch.Generator] = None

    # -- edge embedding ----------------------------------------------------------------
    def train(self, mode: bool = True):
        self._table = None  # weights may change: drop the cached radial table
        return super().train(mode)

    def edge_embedding(self, vec: torch.Tensor) -> torch.Tensor:
        """(E, 3) displacements in Å -> (E, edge_hidden) edge embeddings."""
        cfg = self.cfg
        if cfg.symmetrize == "length":
            return self.encoder(self._rbf(vec.norm(dim=1)))
        if cfg.symmetrize == "none":
            return self._encode(vec, self._rbf(vec.norm(dim=1)))
        if cfg.symmetrize == "fixed3":
            return self._average(vec, self.fixed_transforms)
        if self.training:
            t = self.distribution.sample(cfg.k_train, self._generator)
            if cfg.frame_augmentation:
                t = t @ haar_rotation(self._generator).to(t)
            return self._average(vec, t)
        if cfg.edge_mode == "haar":
            return self._haar_lookup(vec)
        g = torch.Generator().manual_seed(cfg.eval_seed)
        with torch.no_grad():
            t = self.distribution.sample(cfg.k_eval, g)
        return self._average(vec, t.to(vec))

    def _rbf(self, r: torch.Tensor) -> torch.Tensor:
        """(E,) distances Å -> (E, radial_basis) Gaussians on 0..cutoff."""
        return gaussian_rbf(r, self.cfg.radial_basis, self.cfg.cutoff)  # 0: the raw-d ablation

    def _encode(self, x: torch.Tensor, rbf: torch.Tensor) -> torch.Tensor:
        """Encoder on [T·d / cutoff, rbf(|d|)] (the radial part is invariant, so T acts on d only)."""
        return self.encoder(torch.cat([x / self.cfg.cutoff, rbf], dim=-1))

    def _average(self, vec: torch.Tensor, transforms: torch.Tensor) -> torch.Tensor:
        rbf = self._rbf(vec.norm(dim=1))
        out = None
        for t in transforms:  # a loop keeps peak memory at one transform's activations
            y = self._encode(vec @ t.T, rbf)
            out = y if out is None else out + y
        return out / transforms.shape[0]

    def haar_table(self) -> torch.Tensor:
        """(radial_points, edge_hidden): sphere-averaged encoder on r = 0..cutoff Å."""
        if self._table is None:
            from scipy.integrate import lebedev_rule

            pts, w = lebedev_rule(self.cfg.lebedev_order)
            dirs = torch.as_tensor(pts.T, dtype=torch.float64)
            w = torch.as_tensor(w / w.sum(), dtype=torch.float64)
            radii = torch.linspace(0.0, self.cfg.cutoff, self.cfg.radial_points, dtype=torch.float64)
            p = next(self.parameters())
            rows = []
            with torch.no_grad():
                for chunk in radii.split(128):
                    x = (chunk.view(-1, 1, 1) * dirs.view(1, -1, 3)).to(p)
                    rbf = self._rbf(chunk.to(p)).unsqueeze(1).expand(-1, x.shape[1], -1)
                    y = self._encode(x, rbf).double()  # (R, P, D)
                    rows.append(torch.einsum("rpd,p->rd", y, w.to(y.device)))
            self._table = torch.cat(rows).to(p.dtype)
        return self._table

    def _haar_lookup(self, vec: torch.Tensor) -> torch.Tensor:
        table = self.haar_table().to(vec.device)
        n = table.shape[0]
        x = vec.norm(dim=1) * ((n - 1) / self.cfg.cutoff)
        i0 = x.floor().clamp(0, n - 2)
        frac = (x - i0).unsqueeze(1)
        i0 = i0.long()
        return table.index_select(0, i0) * (1 - frac) + table.index_select(0, i0 + 1) * frac

    def edge_weights(self, g: Graph, edge_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(E,) multipliers of the attention weights: a smooth cosine cut-off envelope times
        n_i / n_mean, where n_i = Σ_j envelope_ij is a smooth coordination number.  Softmax
        attention alone averages over neighbours and cannot count them."""
        r = g.vec.norm(dim=1)
        env = cosine_envelope(r, self.cfg.cutoff)
        if edge_mask is not None:
            env = env * edge_mask
        cn = torch.zeros(g.num_nodes, dtype=env.dtype, device=env.device).index_add_(0, g.center, env)
        scale = cn / self.cfg.mean_neighbors
        return env * scale.index_select(0, g.center)

    # -- forward -------------------------------------------------------------------------
    #: without gradients (inference), the edges are sorted by centre and processed in slices of
    #: about this many edges (whole atoms at a time) by :meth:`EGATLayer.propagate_inference`:
    #: memory O(E · edge_hidden) instead of O(E · hidden · several) and cache-sized temporaries;
    #: the same values as the autograd path to float rounding (tests/test_inference_path.py)
    inference_edge_chunk = 1 << 15

    #: inference: node-level work (norms, projections, updates, read-out) in blocks of this many
    #: atoms, so that its temporaries stay in cache whatever the structure size
    inference_node_block = 1 << 13

    def forward(self, g: Graph, edge_mask: Optional[torch.Tensor] = None,
                layer_atoms: Optional[Sequence[int]] = None, consume: bool = False,
                slabs: Optional[Sequence[int]] = None) -> torch.Tensor:
        """Standardised per-atom prediction, shape (N,).  ``edge_mask`` (E,) in [0, 1] gates
        every message (GNNExplainer).

        In eval mode without gradients this runs :meth:`_forward_inference` (the same function, computed in
        slices; tests/test_inference_path.py).  ``layer_atoms`` (inference only; layers + 1
        non-increasing counts): layer k computes only atoms 0..layer_atoms[k]-1 (or a few more)
        and only the first layer_atoms[-1] outputs are meaningful.  For a spatial domain's
        cluster with its halo sorted by depth, atoms within (layers - k) x cutoff of the domain
        suffice for layer k, so the outer halo drops out of the later layers
        (:mod:`mgbarrier.models.chunked`).

        ``consume`` (inference only): the caller hands ``g`` over; its ``center``, ``neighbor``
        and ``vec`` are set to None and freed as soon as they have been read (a lower peak:
        ~20 bytes per edge, 0.7 GB at a million atoms).

        ``slabs`` (inference only; M + 1 atom offsets, M >= 3): the atoms are ordered in the
        slabs of a periodic structure (:func:`mgbarrier.graphs.slabs.slab_plan`), each at least
        one cutoff thick, slab M - 1 next to slab 0.  The layers then run as a wavefront over
        the slabs (:meth:`_forward_wavefront`): the same values in a fraction of the memory."""
        no_grad = not torch.is_grad_enabled() and not self.training
        inference = no_grad and g.num_edges > 0
        if slabs is not None:
            if not no_grad or edge_mask is not None or layer_atoms is not None:
                raise ValueError("slabs need inference mode (eval, no gradients), no edge mask and no layer_atoms")
            if inference:
                return self._forward_wavefront(g, slabs, consume)
            # no edges at all (a gas): nothing to order, the plain path below
        if inference:
            return self._forward_inference(g, edge_mask, layer_atoms, consume)
        if layer_atoms is not None:
            raise ValueError("layer_atoms needs inference mode (eval, no gradients)")
        e = self.edge_embedding(g.vec)
        h = self._initial_states(g)
        weight = self.edge_weights(g, edge_mask)
        states = [h]
        for k, layer in enumerate(self.layers):
            hn = self.node_norms[k](h)
            m, f = layer.propagate(layer.project(hn), self.edge_norms[k](e), g.center, g.neighbor, weight,
                                   h.shape[0])
            e = e + self.drop(self.edge_updates[k](f))
            h = h + self.drop(self.node_updates[k](torch.cat([hn, self.message_scales[k](m)], dim=1)))
            states.append(h)
        return self.decoder(torch.cat(states, dim=1)).squeeze(1)

    def _initial_states(self, g: Graph) -> torch.Tensor:
        """(N, hidden) node states before the first layer."""
        h = self.species_embedding(g.species)
        if self.cfg.node_features != "species":
            if g.node_attr is None:
                raise ValueError("this model needs per-atom input features (graph.node_attr)")
            if g.node_attr_projected:
                h = h + g.node_attr.to(h.dtype)
            else:
                h = h + self.node_input(self.node_scale(g.node_attr))
        return h

    def node_input_map(self) -> Tuple[np.ndarray, np.ndarray]:
        """The standardised input layer as one affine map of the features, float64:
        ``node_input(node_scale(x)) = x @ matrix + offset``, matrix (F, hidden), offset (hidden,)."""
        if self.cfg.node_features == "species":
            raise ValueError("this network takes no per-atom input features")
        w = self.node_input.weight.detach().double().cpu().numpy()  # (hidden, F)
        b = self.node_input.bias.detach().double().cpu().numpy()
        shift = self.node_scale.shift.detach().double().cpu().numpy()
        scale = self.node_scale.scale.detach().double().cpu().numpy()
        matrix = (w / scale[None, :]).T
        return matrix, b - shift @ matrix

    def _forward_inference(self, g: Graph, edge_mask: Optional[torch.Tensor],
                           layer_atoms: Optional[Sequence[int]], consume: bool = False) -> torch.Tensor:
        """:meth:`forward` without autograd, in bounded memory: edges sorted by centre in
        atom-aligned slices (:meth:`EGATLayer.propagate_inference`), node-level work in row
        blocks, node states updated in place and the read-out's first linear layer summed
        layer by layer (no (N, hidden x (layers + 1)) concatenation).  The edge displacements
        and centres are read once, before the layers (freed then when ``consume``)."""
        n_layers = len(self.layers)
        if layer_atoms is not None and len(layer_atoms) != n_layers + 1:
            raise ValueError("layer_atoms needs layers + 1 counts")
        species, node_attr, center, neighbor, vec = g.species, g.node_attr, g.center, g.neighbor, g.vec
        projected = g.node_attr_projected
        if consume:
            g.center = g.neighbor = g.vec = None
        del g
        if center.shape[0] > 1 and not bool((center[1:] >= center[:-1]).all()):
            order = torch.argsort(center, stable=True)
            center, neighbor, vec = center[order], neighbor[order], vec[order]
            edge_mask = None if edge_mask is None else edge_mask[order]
            del order
        n = int(species.shape[0])
        if layer_atoms is not None:  # edges of centres no layer computes are never read
            keep = int(torch.searchsorted(center, torch.tensor(layer_atoms[0], dtype=center.dtype)))
            center, neighbor, vec = center[:keep], neighbor[:keep], vec[:keep]
            edge_mask = None if edge_mask is None else edge_mask[:keep]
        limits = [n] * (n_layers + 1) if layer_atoms is None else [min(n, int(x)) for x in layer_atoms]
        num_edges = int(center.shape[0])
        slices = _atom_aligned_slices(center, self.inference_edge_chunk) if num_edges else []
        blocks = [(int(center[s.start]), int(center[s.stop - 1]) + 1) for s in slices]
        graph = Graph(species, center, neighbor, vec, node_attr, projected)
        weight = self.edge_weights(graph, edge_mask)
        h = self._initial_states(graph)
        del graph, edge_mask
        e = torch.empty(num_edges, self.cfg.edge_hidden, dtype=vec.dtype, device=vec.device)
        for s in slices:  # filled in place: no second copy of the (E, edge_hidden) states
            e[s] = self.edge_embedding(vec[s])
        del vec
        longest = max([s.stop - s.start for s in slices] + [1])
        edge_index = torch.arange(longest, device=center.device)  # shared by the slices
        ones = torch.ones(longest, dtype=e.dtype, device=center.device)
        sorted_edges = [SortedEdges(center[s] - lo, neighbor[s], hi - lo, edge_index, ones)
                        for (lo, hi), s in zip(blocks, slices)]
        del center, neighbor  # the slices keep views of the neighbours
        z = self._read_in(h)
        # node arrays of the layers, allocated once and reused: new (N, ·) arrays per layer grew
        # the heap by one of them per layer (fragmented by the edge slices' temporaries)
        buffers: Dict[Tuple[int, int], torch.Tensor] = {}  # (slot, width) -> (N, width)
        for k, layer in enumerate(self.layers):
            # the neighbour and message projections of every atom (any edge may read them); the
            # normalised states and the centre projection are recomputed per block instead of
            # stored (N x (hidden + edge_hidden) floats less: 0.4 GB at a million atoms)
            norm, center_weight = self.node_norms[k], layer.proj_center.weight.t()
            lins = (layer.proj_neighbor, layer.proj_message)  # no biases
            for slot, width in enumerate([lin.out_features for lin in lins] + [self.cfg.hidden]):
                if (slot, width) not in buffers:
                    buffers[(slot, width)] = torch.empty(n, width, dtype=h.dtype, device=h.device)
            proj = tuple(buffers[(slot, lin.out_features)] for slot, lin in enumerate(lins))
            self._project_rows(k, h, proj)
            m = buffers[(len(lins), self.cfg.hidden)].zero_()
            covered = 0
            for (lo, hi), sl, edges in zip(blocks, slices, sorted_edges):
                if lo >= limits[k]:
                    break  # the rest of the halo does not reach the domain any more
                block = (norm(h[lo:hi]) @ center_weight, proj[0], proj[1])
                m[lo:hi], f = layer.propagate_inference(block, self.edge_norms[k](e[sl]), edges, weight[sl])
                if k + 1 < n_layers:  # the last layer's new edge states are never read
                    update = self.edge_updates[k]
                    e[sl].addmm_(f, update.weight.t()).add_(update.bias)
                covered = hi
            covered = max(covered, limits[k])  # atoms without edges up to the limit: m = 0
            self._update_rows(k, h, m, covered, h, z)  # in place
        del buffers, proj, m
        out = torch.full((n,), float("nan"), dtype=h.dtype, device=h.device)
        out[:limits[-1]] = self._read_out(z, limits[-1])
        return out

    # -- node-level steps in row blocks, shared by the inference and wavefront paths ----------
    def _read_in(self, h: torch.Tensor) -> torch.Tensor:
        """(n, out) the read-out's first linear layer on the first node states ``h`` (n, hidden),
        bias included; later layers add theirs (:meth:`_update_rows`)."""
        read, width = self.decoder[0], self.cfg.hidden
        z = torch.empty(h.shape[0], read.out_features, dtype=h.dtype, device=h.device)
        for r in self._row_blocks(h.shape[0]):
            z[r] = torch.addmm(read.bias, h[r], read.weight[:, :width].t())
        return z

    def _project_rows(self, k: int, h: torch.Tensor, out: Tuple[torch.Tensor, torch.Tensor]) -> None:
        """Layer k's neighbour and message projections of the normalised states ``h`` (n, hidden)
        into ``out`` ((n, edge_hidden), (n, hidden)), row block by row block."""
        layer, norm = self.layers[k], self.node_norms[k]
        for r in self._row_blocks(h.shape[0]):
            hn = norm(h[r])
            torch.mm(hn, layer.proj_neighbor.weight.t(), out=out[0][r])
            torch.mm(hn, layer.proj_message.weight.t(), out=out[1][r])

    def _update_rows(self, k: int, h: torch.Tensor, m: torch.Tensor, rows: int, new: torch.Tensor,
                     z: Optional[torch.Tensor]) -> None:
        """Layer k's node update of the first ``rows`` atoms: ``new = h + U([LN(h), S(m)])`` (``new``
        may be ``h``: in place) and, unless ``z`` is None, the read-out's column block k + 1 added
        to ``z``."""
        norm, width = self.node_norms[k], self.cfg.hidden
        w = self.decoder[0].weight[:, (k + 1) * width:(k + 2) * width].t()
        for r in self._row_blocks(rows):
            new[r] = h[r] + self.node_updates[k](torch.cat([norm(h[r]), self.message_scales[k](m[r])], dim=1))
            if z is not None:
                z[r].addmm_(new[r], w)

    def _read_out(self, z: torch.Tensor, rows: int) -> torch.Tensor:
        """(rows,) standardised outputs: the read-out's last layers on the first ``rows`` of ``z``."""
        tail = self.decoder[1:]
        out = torch.empty(rows, dtype=z.dtype, device=z.device)
        for r in self._row_blocks(rows):
            out[r] = tail(z[r]).squeeze(1)
        return out

    def _forward_wavefront(self, g: Graph, slabs: Sequence[int], consume: bool = False) -> torch.Tensor:
        """:meth:`_forward_inference` as a wavefront over the M slabs of a periodic structure
        (``slabs``, see :meth:`forward`): layer k of slab s runs once layer k - 1 of slabs s - 1,
        s and s + 1 is done, so at step t layer k computes slab t - k.  Only the edges, edge
        states and node arrays of the slabs in flight are held: O(layers x E / M) edge states
        instead of O(E).  Slab M - 1 neighbours slab 0: the wavefront starts at slab -(layers - 1)
        (the last slabs again) and computes the cone of slab-layers that slab 0 needs, (layers -
        1) x layers / 2 of them; at the end, slab M - 1 reads slab 0's node projections, kept
        from the start.  Same values as the whole-structure path to float rounding
        (tests/test_wavefront.py)."""
        n_layers = len(self.layers)
        bounds = [int(x) for x in slabs]
        m_slabs = len(bounds) - 1
        species, node_attr, center, neighbor, vec = g.species, g.node_attr, g.center, g.neighbor, g.vec
        projected = g.node_attr_projected
        if consume:
            g.center = g.neighbor = g.vec = None
        del g
        n = int(species.shape[0])
        if m_slabs < 3 or bounds[0] != 0 or bounds[-1] != n or any(b < a for a, b in zip(bounds, bounds[1:])):
            raise ValueError("slabs must be M + 1 >= 4 non-decreasing atom offsets from 0 to the number of atoms")
        if center.shape[0] > 1 and not bool((center[1:] >= center[:-1]).all()):
            order = torch.argsort(center, stable=True)
            center, neighbor, vec = center[order], neighbor[order], vec[order]
            del order
        device = center.device
        bounds_t = torch.tensor(bounds, dtype=center.dtype, device=device)
        edge_bounds = torch.searchsorted(center, bounds_t).tolist()
        sizes = [b - a for a, b in zip(bounds, bounds[1:])]
        slab_of = torch.repeat_interleave(torch.arange(m_slabs, device=device),
                                          torch.tensor(sizes, device=device), output_size=n)
        h0 = self._initial_states(Graph(species, center[:0], neighbor[:0], vec[:0], node_attr, projected))
        del node_attr
        cfg, width = self.cfg, self.cfg.hidden
        out = torch.full((n,), float("nan"), dtype=h0.dtype, device=device)
        # 0..E-1 and ones, shared by every slice (SortedEdges takes prefixes; a slice may exceed
        # the chunk by one atom's edges: grown when needed)
        edge_index, ones = None, None

        def edges_of(s: int) -> dict:
            """Slab s's edges (centre-sorted, atom-aligned slices), their weights and first edge
            states; neighbours renumbered into the window [slab s - 1, s, s + 1]."""
            nonlocal edge_index, ones
            a, b = edge_bounds[s], edge_bounds[s + 1]
            c = center[a:b] - bounds[s]
            nb = neighbor[a:b]
            ns = slab_of.index_select(0, nb)
            step_ = torch.remainder(ns - s, m_slabs)  # 0: same slab, 1: next, M - 1: previous
            if bool(((step_ != 0) & (step_ != 1) & (step_ != m_slabs - 1)).any()):
                raise ValueError("an edge spans more than one slab boundary: slabs thinner than the cutoff")
            # the window holds the previous slab, then this one, then the next: the offset of a
            # neighbour's slab there, by slot (0: this slab, 1: the next, 2: the previous)
            prev = (s - 1) % m_slabs
            base = torch.tensor([sizes[prev], sizes[prev] + sizes[s], 0], dtype=nb.dtype, device=device)
            slot = torch.where(step_ == 0, 0, torch.where(step_ == 1, 1, 2))
            local = nb - bounds_t.index_select(0, ns)
            window = base.index_select(0, slot) + local
            del ns, step_, slot, local
            weight = self.edge_weights(Graph(species[bounds[s]:bounds[s + 1]], c, nb, vec[a:b]))
            del nb
            slices = _atom_aligned_slices(c, self.inference_edge_chunk) if b > a else []
            blocks = [(int(c[sl.start]), int(c[sl.stop - 1]) + 1) for sl in slices]
            e = torch.empty(b - a, cfg.edge_hidden, dtype=vec.dtype, device=device)
            for sl in slices:
                e[sl] = self.edge_embedding(vec[a:b][sl])
            need = max([sl.stop - sl.start for sl in slices] + [1])
            if edge_index is None or edge_index.shape[0] < need:
                edge_index = torch.arange(max(need, self.inference_edge_chunk), device=device)
                ones = torch.ones(edge_index.shape[0], dtype=e.dtype, device=device)
            sorted_edges = [SortedEdges(c[sl] - lo, window[sl], hi - lo, edge_index, ones)
                            for (lo, hi), sl in zip(blocks, slices)]
            return {"slices": slices, "blocks": blocks, "weight": weight, "e": e, "edges": sorted_edges}

        states: Dict[Tuple[int, int], torch.Tensor] = {}  # (layer k, chain position u) -> (size, hidden)
        projections: Dict[Tuple[int, int], Tuple[torch.Tensor, torch.Tensor]] = {}
        in_flight: Dict[int, dict] = {}  # chain position -> its slab's edges and edge states
        readout: Dict[int, torch.Tensor] = {}  # chain position (own slabs only) -> (size, hidden)

        def state(k: int, u: int) -> torch.Tensor:
            if k == 0:
                s = u % m_slabs
                return h0[bounds[s]:bounds[s + 1]]
            return states[(k, u)]

        def projection(k: int, u: int) -> Tuple[torch.Tensor, torch.Tensor]:
            """Neighbour and message projections of slab u's normalised layer-k states."""
            if u == m_slabs:
                u = 0  # the wavefront's end reads slab 0 across the periodic boundary
            if (k, u) not in projections:
                h, layer = state(k, u), self.layers[k]
                pair = (torch.empty(h.shape[0], layer.proj_neighbor.out_features, dtype=h.dtype, device=device),
                        torch.empty(h.shape[0], layer.proj_message.out_features, dtype=h.dtype, device=device))
                self._project_rows(k, h, pair)
                projections[(k, u)] = pair
            return projections[(k, u)]

        def run_layer(k: int, u: int) -> None:
            s = u % m_slabs
            layer, norm = self.layers[k], self.node_norms[k]
            if k == 0:
                in_flight[u] = edges_of(s)
                if u >= 0:
                    readout[u] = self._read_in(state(0, u))
            part = in_flight[u]
            window = [projection(k, v) for v in (u - 1, u, u + 1)]
            pn = torch.cat([p[0] for p in window])
            pm = torch.cat([p[1] for p in window])
            del window
            h = state(k, u)
            center_weight = layer.proj_center.weight.t()
            msg = torch.zeros(sizes[s], width, dtype=h.dtype, device=device)
            last = k + 1 == n_layers
            final = k == n_layers - 1 + min(u, 0)  # the last layer this chain position computes
            for (lo, hi), sl, edges in zip(part["blocks"], part["slices"], part["edges"]):
                block = (norm(h[lo:hi]) @ center_weight, pn, pm)
                msg[lo:hi], f = layer.propagate_inference(block, self.edge_norms[k](part["e"][sl]), edges,
                                                          part["weight"][sl])
                if not final:  # new edge states that a later layer of this position reads
                    update = self.edge_updates[k]
                    part["e"][sl].addmm_(f, update.weight.t()).add_(update.bias)
            del pn, pm
            if final:
                del in_flight[u]
            new = torch.empty_like(h)
            self._update_rows(k, h, msg, sizes[s], new, readout.get(u))
            if not last:
                states[(k + 1, u)] = new
            else:
                out[bounds[s]:bounds[s + 1]] = self._read_out(readout.pop(u), sizes[s])
            states.pop((k, u), None)  # its projections are what the neighbours still read
            # slab u - 1's layer-k projections are read by no one else now (slab 0's: at the end)
            if u - 1 != 0:
                projections.pop((k, u - 1), None)

        start = -(n_layers - 1)
        for t in range(start, m_slabs + n_layers - 1):
            for k in range(n_layers):
                u = t - k
                if -(n_layers - 1 - k) <= u <= m_slabs - 1:
                    run_layer(k, u)
        return out

    def _row_blocks(self, n: int) -> List[slice]:
        step = self.inference_node_block
        return [slice(a, min(a + step, n)) for a in range(0, n, step)]

    @torch.no_grad()
    def calibrate(self, g: Graph) -> None:
        """Fix the message standardisation from one (training) structure; call once before training."""
        was = self.training
        self.eval()
        scales = [m for m in self.modules() if isinstance(m, Standardize)]
        for s in scales:
            s.calibrating = True
        try:
            self(g)
        finally:
            for s in scales:
                s.calibrating = False
            self.train(was)


def _atom_aligned_slices(center: torch.Tensor, chunk: int) -> List[slice]:
    """Slices of about ``chunk`` edges of a centre-sorted edge list that never split an atom's edges."""
    c = center.cpu().numpy()
    n = len(c)
    cuts = np.arange(chunk, n, chunk)
    cuts = np.unique(np.searchsorted(c, c[cuts - 1], side="right"))
    bounds = [0] + [int(x) for x in cuts if 0 < x < n] + [n]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]

