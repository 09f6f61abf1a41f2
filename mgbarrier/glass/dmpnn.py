"""The directed message passing neural network (D-MPNN) with edge self-attention (the seed's §II D).

Tensors in, tensors out; no I/O.  A batch is a :class:`GraphBatch` of several graphs, each a
symmetrised k-nearest-neighbour graph of one configuration (window), built by
:mod:`.windows`.  Notation: h (E, H) hidden states of directed edges v -> w, E edges,
N nodes, G graphs, H = ``hidden``.

Forward pass (Eqs. 2-11 of the seed)::

    h0_vw   = ReLU(W_i [x_v, e_vw])                                  (Eq. 4)
    repeat T - 1 times:
        m_vw  = sum_{k in N(v) minus w} h_kv                         (Eqs. 3, 5)
        h_vw  = dropout(ReLU(h0_vw + W_m m_vw))                      (Eq. 6, skip to h0)
        s_vw  = v_attn . ReLU(W_attn h_vw)                           (Eq. 10)
        a_vw  = softmax of s over the edges of the graph; h_vw <- c_g a_vw h_vw   (Eq. 11)
    m_v     = sum_{k in N(v)} h_kv                                   (Eq. 7)
    h_v     = dropout(ReLU(W_a [x_v, m_v]))
    logit_g = FFN(sum_{v in g} h_v)                                  (Eqs. 8, 9)

Differences from the seed, all switchable in :class:`DMPNNConfig`:

* node features: the type one-hot only (``node_features="type"``, translation and rotation
  invariant, the default) or, as the seed, type and window-scaled coordinates ("type+pos");
* edge feature: the distance, expanded in ``n_rbf`` Gaussians (default 16; 0 = the raw
  distance as the seed);
* attention scale ``c_g``: the number of edges of graph g (``attention_scale="mean"``, the
  default: weights average 1, so the hidden states keep their size and the model transfers
  between window sizes) or 1 (``"softmax"``, literally Eq. 11: weights sum to 1 per graph).
  The reported attention is always the softmax a_vw (sums to 1 over a graph's edges).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import List, Optional

import torch
from torch import nn

from ..errors import MgBarrierError
from ..nn.layers import gaussian_rbf, segment_softmax  # noqa: F401  (segment_softmax: re-exported)


@dataclass
class DMPNNConfig:
    """Architecture and graph construction (lengths in the data's unit: σ_AA for the 2D model).

    k: nearest neighbours per particle (graph symmetrised); hidden: H; steps: T (>= 1;
    T - 1 attention-weighted message-passing steps); dropout: p; ffn_layers: f (hidden layers
    of the classifier, >= 0); window: side of the square / cube window (None: whole periodic
    configuration); dim: 2 or 3; readout: "sum" (the seed) or "mean".
    """

    k: int = 3
    hidden: int = 64
    steps: int = 3
    dropout: float = 0.0
    ffn_layers: int = 2
    window: Optional[float] = 12.0
    dim: int = 2
    node_features: str = "type"
    n_rbf: int = 16
    rbf_max: float = 3.0
    attention: bool = True
    attention_scale: str = "mean"
    readout: str = "sum"

    def check(self) -> None:
        if self.k < 1 or self.hidden < 1 or self.steps < 1 or self.ffn_layers < 0:
            raise MgBarrierError(f"D-MPNN config: k, hidden, steps must be >= 1 and ffn_layers >= 0 ({self})")
        if self.node_features not in ("type", "type+pos"):
            raise MgBarrierError(f"node_features: 'type' or 'type+pos', got {self.node_features!r}")
        if self.attention_scale not in ("mean", "softmax"):
            raise MgBarrierError(f"attention_scale: 'mean' or 'softmax', got {self.attention_scale!r}")
        if self.readout not in ("sum", "mean"):
            raise MgBarrierError(f"readout: 'sum' or 'mean', got {self.readout!r}")
        if self.dim not in (2, 3):
            raise MgBarrierError(f"dim: 2 or 3, got {self.dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise MgBarrierError(f"dropout: must be in [0, 1), got {self.dropout}")
        if self.window is not None and not self.window > 0:
            raise MgBarrierError(f"window: must be > 0 or None, got {self.window}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DMPNNConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def node_dim(self) -> int:
        return 2 + (self.dim if self.node_features == "type+pos" else 0)

    @property
    def edge_dim(self) -> int:
        return self.n_rbf if self.n_rbf > 0 else 1


@dataclass
class GraphBatch:
    """Several graphs as one (see :mod:`.windows`).

    node_type: (N,) int64, 0 = A, 1 = B; node_pos: (N, d) float32 window-scaled coordinates
    in [0, 1] (used only with node_features "type+pos"); src, dst, rev: (E,) int64 directed
    edges and each edge's reverse; dist: (E,) float32 lengths; node_graph: (N,) int64 and
    edge_graph: (E,) int64 graph of each node / edge; n_graphs: G.
    """

    node_type: torch.Tensor
    node_pos: torch.Tensor
    src: torch.Tensor
    dst: torch.Tensor
    rev: torch.Tensor
    dist: torch.Tensor
    node_graph: torch.Tensor
    edge_graph: torch.Tensor
    n_graphs: int

    @property
    def n_nodes(self) -> int:
        return int(self.node_type.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.src.shape[0])

    def to(self, device) -> "GraphBatch":
        return GraphBatch(*(getattr(self, f.name).to(device) if f.name != "n_graphs" else self.n_graphs
                            for f in fields(self)))


class GaussianRBF(nn.Module):
    """(E,) distances -> (E, n) Gaussians centred on 0..r_max, width the spacing."""

    def __init__(self, n: int, r_max: float):
        super().__init__()
        self.register_buffer("centres", torch.linspace(0.0, float(r_max), n))  # kept: saved in checkpoints
        self.n, self.r_max = n, float(r_max)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return gaussian_rbf(d, self.n, self.r_max)


class DMPNN(nn.Module):
    """Graph-level liquid (logit < 0) / glass (logit > 0) classifier; see the module doc."""

    def __init__(self, cfg: DMPNNConfig):
        super().__init__()
        cfg.check()
        self.cfg = cfg
        H = cfg.hidden
        self.rbf = GaussianRBF(cfg.n_rbf, cfg.rbf_max) if cfg.n_rbf > 0 else None
        self.W_i = nn.Linear(cfg.node_dim + cfg.edge_dim, H, bias=False)
        self.W_m = nn.Linear(H, H, bias=False)
        self.W_a = nn.Linear(cfg.node_dim + H, H)
        if cfg.attention:
            self.W_attn = nn.Linear(H, H, bias=False)
            self.v_attn = nn.Parameter(torch.randn(H) / H ** 0.5)
        self.drop = nn.Dropout(cfg.dropout)
        layers: List[nn.Module] = []
        for _ in range(cfg.ffn_layers):
            layers += [nn.Linear(H, H), nn.ReLU(), nn.Dropout(cfg.dropout)]
        layers.append(nn.Linear(H, 1))
        self.ffn = nn.Sequential(*layers)

    def node_features(self, b: GraphBatch) -> torch.Tensor:
        x = torch.nn.functional.one_hot(b.node_type, 2).to(torch.float32)
        if self.cfg.node_features == "type+pos":
            x = torch.cat([x, b.node_pos.to(torch.float32)], dim=1)
        return x

    def edge_features(self, b: GraphBatch) -> torch.Tensor:
        d = b.dist.to(torch.float32)
        return self.rbf(d) if self.rbf is not None else d[:, None]

    def attention_weights(self, h: torch.Tensor, b: GraphBatch) -> torch.Tensor:
        """(E,) softmax over each graph's edges of the learned score (Eq. 10)."""
        score = torch.relu(self.W_attn(h)) @ self.v_attn
        return segment_softmax(score, b.edge_graph, b.n_graphs)

    def forward(self, b: GraphBatch, return_attention: bool = False):
        """(G,) logits; with ``return_attention`` also the list of (E,) softmax weights per step."""
        x = self.node_features(b)
        n = b.n_nodes
        h0 = torch.relu(self.W_i(torch.cat([x[b.src], self.edge_features(b)], dim=1)))
        h = h0
        attn: List[torch.Tensor] = []
        if self.cfg.attention and self.cfg.attention_scale == "mean":
            n_e = torch.bincount(b.edge_graph, minlength=b.n_graphs).to(h.dtype)
        for _ in range(self.cfg.steps - 1):
            incoming = torch.zeros(n, h.shape[1], dtype=h.dtype, device=h.device).index_add(0, b.dst, h)
            m = incoming[b.src] - h[b.rev]
            h = self.drop(torch.relu(h0 + self.W_m(m)))
            if self.cfg.attention:
                a = self.attention_weights(h, b)
                attn.append(a)
                scale = a * n_e[b.edge_graph] if self.cfg.attention_scale == "mean" else a
                h = scale[:, None] * h
        m_v = torch.zeros(n, h.shape[1], dtype=h.dtype, device=h.device).index_add(0, b.dst, h)
        h_v = self.drop(torch.relu(self.W_a(torch.cat([x, m_v], dim=1))))
        hg = torch.zeros(b.n_graphs, h_v.shape[1], dtype=h_v.dtype, device=h_v.device).index_add(0, b.node_graph, h_v)
        if self.cfg.readout == "mean":
            hg = hg / torch.bincount(b.node_graph, minlength=b.n_graphs).clamp_min(1).to(hg.dtype)[:, None]
        logit = self.ffn(hg).squeeze(-1)
        return (logit, attn) if return_attention else logit

