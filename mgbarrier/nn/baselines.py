"""Baseline networks of the SymGNN paper's Table 3, for ``benchmarks/paper_table.py``.

Each maps a :class:`mgbarrier.graph.Graph` to one standardised value per atom, shape (N,),
like :class:`mgbarrier.model.SymGNN`, and is trained by the same code
(:func:`mgbarrier.training.train`) with the same data, loss, schedule and selection.

* ``schnet``: SchNet (Schütt et al. 2017): continuous-filter convolutions, filters from
  a Gaussian expansion of |d| (Å) with a cosine cut-off, shifted-softplus interaction
  blocks with residual updates.  Invariant to rotations, reflections, translations.
* ``gcn``: a graph convolution with edge features: messages from the neighbour state and
  the raw displacement vector d (Å), mean aggregation.  Not rotation invariant (as in
  the paper, where it is a "non-invariant" baseline).
* ``mlp``: an MLP on the species alone (no structure): the floor.

The EGAT-with-edge-length and the SymGNN ablations (no symmetrisation, three fixed
transforms) are :class:`~mgbarrier.model.SymGNN` with ``symmetrize`` = ``"length"``,
``"none"``, ``"fixed3"``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import List

import torch
from torch import nn

from ..graphs.graph import Graph
from .layers import cosine_envelope, gaussian_rbf, mlp

ARCHS = ("schnet", "gcn", "mlp")


@dataclass
class BaselineConfig:
    """Architecture of a baseline network (stored in its checkpoint)."""

    arch: str = "schnet"
    species: List[str] = field(default_factory=lambda: ["Cu", "Zr"])
    cutoff: float = 5.0  # Å
    hidden: int = 64
    layers: int = 4
    radial_basis: int = 32

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "BaselineConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _zero_last(seq: nn.Sequential) -> nn.Sequential:
    nn.init.zeros_(seq[-1].weight)
    nn.init.zeros_(seq[-1].bias)
    return seq


class ShiftedSoftplus(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.softplus(x) - math.log(2.0)


class SchNet(nn.Module):
    """SchNet interaction blocks; (N,) standardised output."""

    def __init__(self, cfg: BaselineConfig):
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden
        self.embedding = nn.Embedding(len(cfg.species), h)
        self.filters = nn.ModuleList(
            nn.Sequential(nn.Linear(cfg.radial_basis, h), ShiftedSoftplus(), nn.Linear(h, h))
            for _ in range(cfg.layers))
        self.inputs = nn.ModuleList(nn.Linear(h, h, bias=False) for _ in range(cfg.layers))
        self.outputs = nn.ModuleList(
            nn.Sequential(nn.Linear(h, h), ShiftedSoftplus(), nn.Linear(h, h)) for _ in range(cfg.layers))
        self.decoder = _zero_last(nn.Sequential(nn.Linear(h, h // 2), ShiftedSoftplus(), nn.Linear(h // 2, 1)))

    def forward(self, g: Graph, edge_mask=None) -> torch.Tensor:
        r = g.vec.norm(dim=1)
        rbf = gaussian_rbf(r, self.cfg.radial_basis, self.cfg.cutoff)
        env = cosine_envelope(r, self.cfg.cutoff)
        if edge_mask is not None:
            env = env * edge_mask
        h = self.embedding(g.species)
        for filt, lin_in, lin_out in zip(self.filters, self.inputs, self.outputs):
            w = filt(rbf) * env.unsqueeze(1)
            m = lin_in(h).index_select(0, g.neighbor) * w
            agg = torch.zeros_like(h).index_add_(0, g.center, m)
            h = h + lin_out(agg)
        return self.decoder(h).squeeze(1)


class EdgeGCN(nn.Module):
    """Mean-aggregated graph convolution with messages MLP([h_j, d_ij / cutoff]) (two layers);
    not rotation invariant."""

    def __init__(self, cfg: BaselineConfig):
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden
        self.embedding = nn.Embedding(len(cfg.species), h)
        self.convs = nn.ModuleList(mlp([h + 3, h, h]) for _ in range(cfg.layers))
        self.norms = nn.ModuleList(nn.LayerNorm(h) for _ in range(cfg.layers))
        self.decoder = _zero_last(mlp([h, h, 1]))

    def forward(self, g: Graph, edge_mask=None) -> torch.Tensor:
        h = self.embedding(g.species)
        n = h.shape[0]
        w = torch.ones(g.num_edges, dtype=h.dtype, device=h.device) if edge_mask is None else edge_mask
        deg = torch.zeros(n, dtype=h.dtype, device=h.device).index_add_(0, g.center, w).clamp_min(1.0)
        d = g.vec / self.cfg.cutoff
        for conv, norm in zip(self.convs, self.norms):
            m = conv(torch.cat([h.index_select(0, g.neighbor), d], dim=1)) * w.unsqueeze(1)
            agg = torch.zeros_like(h).index_add_(0, g.center, m) / deg.unsqueeze(1)
            h = norm(h + nn.functional.silu(agg))
        return self.decoder(h).squeeze(1)


class SpeciesMLP(nn.Module):
    """The species of the atom alone -> value (no structure)."""

    def __init__(self, cfg: BaselineConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(len(cfg.species), cfg.hidden)
        self.decoder = _zero_last(mlp([cfg.hidden, cfg.hidden, 1]))

    def forward(self, g: Graph, edge_mask=None) -> torch.Tensor:
        return self.decoder(self.embedding(g.species)).squeeze(1)


def build_baseline(cfg: BaselineConfig) -> nn.Module:
    if cfg.arch == "schnet":
        return SchNet(cfg)
    if cfg.arch == "gcn":
        return EdgeGCN(cfg)
    if cfg.arch == "mlp":
        return SpeciesMLP(cfg)
    raise ValueError(f"unknown baseline architecture {cfg.arch!r} (known: {', '.join(ARCHS)})")
