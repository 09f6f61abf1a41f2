"""An angle-aware, exactly O(3)-invariant network: equivariant messages (NequIP-style, e3nn).

Maps a :class:`mgbarrier.graphs.graph.Graph` to one standardised value per atom, shape (N,),
like :class:`~mgbarrier.nn.symgnn.SymGNN`, and is trained by the same code
(:func:`mgbarrier.training.symgnn.train`); checkpoint kind ``"equivariant"``.

Why: the SymGNN's exact O(3) average of a per-edge encoder is a function of |d| only, so it
sees angles only through message passing.  Here each message carries the spherical harmonics
Y_l(d̂) of its displacement (l = 0..``l_max``, O(3) parities: 0e, 1o, 2e), so atom states hold
vectors and rank-2 tensors, and products of them (bond angles, local anisotropy) reach the
scalars that the read-out sees.

Per layer (``layers`` of them), for atom i with neighbours j (|d_ij| < cutoff Å)::

    m_i = 1/sqrt(mean_neighbors) * sum_j TP( h_j, Y(d_ij) ; R(|d_ij|, s_i, s_j) ) * env(|d_ij|)
    h_i <- h_i + Gate( Linear(m_i) + Linear_self(h_i) )       (first layer: no residual)

where TP is an e3nn tensor product with "uvu" paths whose weights R come from an MLP of
``radial_basis`` Gaussians of |d| and the species of both ends, env the cosine cut-off
envelope (smooth at the cut-off), and Gate the e3nn gated nonlinearity (SiLU on scalars,
sigmoid gates on l > 0).  Read-out: an MLP on the scalar (0e) channels of every layer's
states, its last layer initialised to zero.  Everything is O(3)-equivariant, the read-out
sees only invariant scalars: predictions are invariant to rotations, reflections,
translations and permutations to float rounding (``tests/test_equivariant.py``).

Without gradients, graphs with more than ``inference_edge_chunk`` edges are processed in
edge slices (the per-edge weights and tensor products are the memory peak); results equal
the unsliced ones up to summation order.  Cost: every edge carries a tensor product of
~1,200 floats per layer, so a CPU prediction is far slower than the SymGNN's (tens of
seconds per 3,000 atoms on one busy core against 0.2 s); it is a GPU model.

e3nn is an optional dependency: ``pip install 'mgbarrier[equivariant]'``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import List, Optional

import torch
from torch import nn

from ..errors import require
from ..graphs.graph import Graph
from .layers import cosine_envelope, gaussian_rbf, mlp


@dataclass
class EquivariantConfig:
    """Architecture of the equivariant network (stored in its checkpoint)."""

    species: List[str] = field(default_factory=lambda: ["Cu", "Zr"])
    cutoff: float = 5.0  # Å
    layers: int = 3
    scalars: int = 64  # channels of l = 0 (0e)
    vectors: int = 32  # channels of l = 1 (1o)
    tensors: int = 16  # channels of l = 2 (2e)
    l_max: int = 2  # spherical harmonics of the displacement, l = 0..l_max
    radial_basis: int = 16  # Gaussians of |d| on 0..cutoff
    radial_hidden: int = 64  # width of the radial MLP giving the tensor-product weights
    readout_hidden: int = 64
    mean_neighbors: float = 30.0  # messages are summed and divided by sqrt(mean_neighbors)
    node_features: str = "species"  # only the species (graph.node_attr is not used)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "EquivariantConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def hidden_irreps(self) -> str:
        parts = [f"{self.scalars}x0e"]
        if self.l_max >= 1 and self.vectors:
            parts.append(f"{self.vectors}x1o")
        if self.l_max >= 2 and self.tensors:
            parts.append(f"{self.tensors}x2e")
        return " + ".join(parts)


def _o3():
    return require("e3nn.o3", "equivariant", "the equivariant network")


def _gate():
    return require("e3nn.nn", "equivariant", "the equivariant network").Gate


class _Interaction(nn.Module):
    """One message-passing layer: h (irreps_in) -> new h (hidden irreps)."""

    def __init__(self, irreps_in, irreps_hidden, irreps_sh, cfg: EquivariantConfig):
        super().__init__()
        o3 = _o3()
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_hidden = o3.Irreps(irreps_hidden)
        wanted = {ir for _, ir in self.irreps_hidden}
        mid, instructions = [], []
        for i, (mul, ir_in) in enumerate(self.irreps_in):
            for j, (_, ir_edge) in enumerate(irreps_sh):
                for ir_out in ir_in * ir_edge:
                    if ir_out in wanted:
                        instructions.append((i, j, len(mid), "uvu", True))
                        mid.append((mul, ir_out))
        mid = o3.Irreps(mid)
        mid_sorted, perm, _ = mid.sort()
        instructions = [(i, j, perm[k], mode, tr) for i, j, k, mode, tr in instructions]
        self.tp = o3.TensorProduct(self.irreps_in, irreps_sh, mid_sorted, instructions,
                                   shared_weights=False, internal_weights=False)
        n_species = len(cfg.species)
        self.radial = mlp([cfg.radial_basis + 2 * n_species, cfg.radial_hidden, cfg.radial_hidden,
                           self.tp.weight_numel])
        scalars = o3.Irreps([(m, ir) for m, ir in self.irreps_hidden if ir.l == 0])
        gated = o3.Irreps([(m, ir) for m, ir in self.irreps_hidden if ir.l > 0])
        gates = o3.Irreps(f"{gated.num_irreps}x0e") if gated.num_irreps else o3.Irreps("")
        self.gate = _gate()(scalars, [nn.functional.silu] * len(scalars), gates,
                                 [torch.sigmoid] * len(gates), gated)
        self.linear_msg = o3.Linear(mid_sorted.simplify(), self.gate.irreps_in)
        self.linear_self = o3.Linear(self.irreps_in, self.gate.irreps_in)
        self.residual = self.irreps_in == self.irreps_hidden
        self.norm = 1.0 / math.sqrt(cfg.mean_neighbors)

    def messages(self, h: torch.Tensor, sh: torch.Tensor, radial_in: torch.Tensor, env: torch.Tensor,
                 center: torch.Tensor, neighbor: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        w = self.radial(radial_in) * env.unsqueeze(1)
        m = self.tp(h.index_select(0, neighbor), sh, w)
        return out.index_add_(0, center, m)

    def update(self, h: torch.Tensor, agg: torch.Tensor) -> torch.Tensor:
        new = self.gate(self.linear_msg(agg * self.norm) + self.linear_self(h))
        return h + new if self.residual else new


class EquivariantNet(nn.Module):
    """See the module doc; ``forward(graph) -> (N,)`` standardised per-atom values."""

    #: without gradients, graphs with more edges than this are processed in edge slices: on a
    #: CPU small slices keep the per-edge tensor products in cache (3x faster for 3,000 atoms
    #: than one slice); on a GPU slices of at least ``1 << 16`` edges (fewer kernel launches)
    inference_edge_chunk = 4096

    def __init__(self, cfg: EquivariantConfig):
        super().__init__()
        o3 = _o3()
        if cfg.node_features != "species":
            raise ValueError(f"equivariant network: node_features={cfg.node_features!r} is not supported")
        self.cfg = cfg
        self.irreps_sh = o3.Irreps.spherical_harmonics(cfg.l_max, p=-1)
        hidden = cfg.hidden_irreps()
        self.embedding = nn.Embedding(len(cfg.species), cfg.scalars)
        irreps = [f"{cfg.scalars}x0e"] + [hidden] * cfg.layers
        self.interactions = nn.ModuleList(
            _Interaction(irreps[k], irreps[k + 1], self.irreps_sh, cfg) for k in range(cfg.layers))
        self.decoder = mlp([cfg.scalars * (cfg.layers + 1), cfg.readout_hidden, cfg.readout_hidden, 1])
        nn.init.zeros_(self.decoder[-1].weight)
        nn.init.zeros_(self.decoder[-1].bias)

    def _edge_inputs(self, g: Graph, sl: slice):
        o3 = _o3()
        vec = g.vec[sl]
        r = vec.norm(dim=1)
        sh = o3.spherical_harmonics(self.irreps_sh, vec, normalize=True, normalization="component")
        n_species = len(self.cfg.species)
        onehot = nn.functional.one_hot(g.species, n_species).to(vec.dtype)
        radial_in = torch.cat([gaussian_rbf(r, self.cfg.radial_basis, self.cfg.cutoff),
                               onehot.index_select(0, g.center[sl]), onehot.index_select(0, g.neighbor[sl])], dim=1)
        return sh, radial_in, cosine_envelope(r, self.cfg.cutoff)

    def forward(self, g: Graph, edge_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Standardised per-atom prediction, shape (N,).  ``edge_mask`` (E,) in [0, 1] gates
        every message."""
        n_edges = g.num_edges
        chunk = max(self.inference_edge_chunk, 1 << 16) if g.vec.is_cuda else self.inference_edge_chunk
        if torch.is_grad_enabled() or n_edges <= chunk:
            slices = [slice(0, n_edges)]
        else:
            slices = [slice(a, min(a + chunk, n_edges)) for a in range(0, n_edges, chunk)]
        cached = [self._edge_inputs(g, sl) for sl in slices] if len(slices) == 1 else None
        h = self.embedding(g.species)
        scalars = [h]
        for layer in self.interactions:
            agg = torch.zeros(h.shape[0], layer.tp.irreps_out.dim, dtype=h.dtype, device=h.device)
            for k, sl in enumerate(slices):
                sh, radial_in, env = cached[k] if cached is not None else self._edge_inputs(g, sl)
                if edge_mask is not None:
                    env = env * edge_mask[sl]
                agg = layer.messages(h, sh, radial_in, env, g.center[sl], g.neighbor[sl], agg)
            h = layer.update(h, agg)
            scalars.append(h[:, :self.cfg.scalars])  # the 0e channels come first (Gate output order)
        return self.decoder(torch.cat(scalars, dim=1)).squeeze(1)
