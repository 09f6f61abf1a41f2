"""Configurations -> windows -> k-nearest-neighbour graphs -> one :class:`GraphBatch`.

The seed's augmentation (§II D 2): a random square window of side ``l_win`` (there a
fraction of the box; here a length, the seed's l_win = 0.2 of 60 σ being 12 σ) is cut from
each configuration every time it is used; its particles become a graph by joining each to
its k nearest neighbours inside the window (no periodic images: a window is open).  The
window origin is uniform over the whole periodic box (wrapping across the boundary), not
only in [0, L - l_win] as in the seed, so every particle is equally often inside.

``window=None`` or a window at least as large as the box uses the whole configuration with
periodic boundaries (minimum image).  :func:`centred_windows` gives one window centred on
each chosen particle (per-atom local glassiness, :mod:`.local`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
import torch

from ..errors import MgBarrierError
from .datasets import Config
from .dmpnn import GraphBatch
from .graph import directed_edges, knn_pairs


@dataclass
class WindowGraph:
    """One graph: node_type (n,) int (0 A, 1 B); node_pos (n, d) window-scaled in [0, 1];
    pairs (M, 2) undirected; dist (M,); index (n,) the particles' indices in the configuration."""

    node_type: np.ndarray
    node_pos: np.ndarray
    pairs: np.ndarray
    dist: np.ndarray
    index: np.ndarray


def _whole(cfg: Config, k: int) -> WindowGraph:
    pos = np.asarray(cfg.positions, dtype=float)
    pairs, dist = knn_pairs(pos, k, cfg.box)
    if cfg.box is not None:
        scaled = np.mod(pos, cfg.box) / cfg.box
    else:
        lo, hi = pos.min(axis=0), pos.max(axis=0)
        scaled = (pos - lo) / np.where(hi > lo, hi - lo, 1.0)
    return WindowGraph(cfg.is_b.astype(np.int64), scaled.astype(np.float32), pairs, dist,
                       np.arange(cfg.n, dtype=np.int64))


def window_graph(cfg: Config, k: int, window: Optional[float], origin: Optional[np.ndarray] = None,
                 rng: Optional[np.random.Generator] = None, min_particles: int = 3) -> WindowGraph:
    """The graph of the window of side ``window`` at ``origin`` (d,) (random if None, from ``rng``).

    Periodic configurations wrap the window across the boundary; open ones draw the origin in
    [min, max - window].  A window with fewer than ``min_particles`` is an error.
    """
    if window is None:
        return _whole(cfg, k)
    pos = np.asarray(cfg.positions, dtype=float)
    d = pos.shape[1]
    side = float(window)
    if cfg.box is not None and np.all(side >= np.asarray(cfg.box)):
        return _whole(cfg, k)
    if origin is None:
        rng = rng if rng is not None else np.random.default_rng()
        if cfg.box is not None:
            origin = rng.random(d) * np.asarray(cfg.box)
        else:
            lo, hi = pos.min(axis=0), pos.max(axis=0)
            origin = lo + rng.random(d) * np.clip(hi - lo - side, 0.0, None)
    origin = np.asarray(origin, dtype=float)
    rel = pos - origin
    if cfg.box is not None:
        box = np.asarray(cfg.box, dtype=float)
        rel = np.mod(rel, box)
        inside = np.all(rel < np.minimum(side, box), axis=1)
    else:
        inside = np.all((rel >= 0) & (rel < side), axis=1)
    idx = np.where(inside)[0]
    if len(idx) < min_particles:
        raise MgBarrierError(f"{cfg.name or 'configuration'}: window of side {side:g} holds only {len(idx)} "
                             f"particles (need {min_particles}); use a larger window")
    sub = rel[idx]
    pairs, dist = knn_pairs(sub, k)
    return WindowGraph(cfg.is_b[idx].astype(np.int64), (sub / side).astype(np.float32), pairs, dist, idx)


def centred_windows(cfg: Config, k: int, window: float, centres: Sequence[int]) -> List[WindowGraph]:
    """One window of side ``window`` centred on each particle of ``centres``."""
    pos = np.asarray(cfg.positions, dtype=float)
    return [window_graph(cfg, k, window, origin=pos[c] - 0.5 * window, min_particles=1) for c in centres]


def collate(graphs: Sequence[WindowGraph]) -> GraphBatch:
    """Concatenate graphs into one :class:`GraphBatch` (node and edge indices offset)."""
    types, poss, srcs, dsts, revs, dists, ng, eg = [], [], [], [], [], [], [], []
    n_off = e_off = 0
    for g_i, g in enumerate(graphs):
        src, dst, rev = directed_edges(g.pairs)
        n, e = len(g.node_type), len(src)
        types.append(g.node_type)
        poss.append(g.node_pos)
        srcs.append(src + n_off)
        dsts.append(dst + n_off)
        revs.append(rev + e_off)
        dists.append(np.concatenate([g.dist, g.dist]))
        ng.append(np.full(n, g_i, dtype=np.int64))
        eg.append(np.full(e, g_i, dtype=np.int64))
        n_off += n
        e_off += e
    cat = lambda xs, dt: torch.from_numpy(np.concatenate(xs).astype(dt))  # noqa: E731
    return GraphBatch(node_type=cat(types, np.int64), node_pos=cat(poss, np.float32), src=cat(srcs, np.int64),
                      dst=cat(dsts, np.int64), rev=cat(revs, np.int64), dist=cat(dists, np.float32),
                      node_graph=cat(ng, np.int64), edge_graph=cat(eg, np.int64), n_graphs=len(graphs))


def batch_from_configs(configs: Sequence[Config], k: int, window: Optional[float],
                       rng: Optional[np.random.Generator] = None) -> GraphBatch:
    """One random window per configuration, collated."""
    return collate([window_graph(c, k, window, rng=rng) for c in configs])
