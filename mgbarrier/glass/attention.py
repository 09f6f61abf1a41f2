"""Reading the D-MPNN's edge self-attention (the seed's §III B, Figs. 8 and 9).

For one window: the attention weights of the last attention step (T - 1), one per
undirected edge (the larger of its two directions, as the seed draws them), normalised
by the graph's number of directed edges so that 1 is the mean (comparable between windows
of different sizes).  High-attention edges are those above a threshold placed at the
trough of the histogram of log10 weights (:func:`attention_threshold`, which says when
there is no trough), pooled over the
analysed windows; on the graph of high-attention edges the seed's counts are taken with
:func:`.metrics.graph_counts`: disjoint graphs, B-B high-attention edges, isolated A
(and isolated B, which the seed found to be about zero).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from ..errors import MgBarrierError
from .datasets import Config
from .dmpnn import DMPNN
from .metrics import StructureMetrics, graph_counts
from .windows import WindowGraph, collate, window_graph


@dataclass
class WindowAttention:
    """graph: the window's graph; weights: (M,) normalised attention per undirected edge
    (``graph.pairs`` order); prob: the window's glass probability."""

    graph: WindowGraph
    weights: np.ndarray
    prob: float


@torch.no_grad()
def window_attention(net: DMPNN, conf: Config, origin: Optional[np.ndarray] = None,
                     rng: Optional[np.random.Generator] = None, step: int = -1) -> WindowAttention:
    """Attention of one window of ``conf`` (the model's window size; ``origin`` or random)."""
    if not net.cfg.attention or net.cfg.steps < 2:
        raise MgBarrierError("this model has no attention (trained without it, or with T = 1)")
    g = window_graph(conf, net.cfg.k, net.cfg.window, origin=origin, rng=rng)
    b = collate([g])
    was = net.training
    net.eval()
    logit, attn = net(b, return_attention=True)
    net.train(was)
    a = attn[step].double().numpy() * b.n_edges
    m = len(g.pairs)
    w = np.maximum(a[:m], a[m:])
    return WindowAttention(graph=g, weights=w, prob=float(torch.sigmoid(logit)[0]))


def attention_threshold(values: Sequence[float], bins: int = 60, min_mass: float = 0.05,
                        max_trough: float = 0.5) -> tuple:
    """``(threshold, bimodal)`` for positive weights (the seed: the trough of the histogram).

    On the histogram of log10(values) (``bins`` bins, smoothed over 3): if two peaks each
    hold at least ``min_mass`` of the values on their side of the lowest bin between them,
    and that bin is at most ``max_trough`` times the lower peak, the threshold is that
    trough and ``bimodal`` is True.  Otherwise the histogram has no real trough (a single
    mode, or a dip of a few counts in a tail) and the threshold is Otsu's split, with
    ``bimodal`` False: an edge set "above Otsu" is then only the upper part of one mode.
    """
    v = np.log10(np.clip(np.asarray(values, dtype=float), 1e-300, None))
    v = v[np.isfinite(v)]
    if len(v) < 2 or np.ptp(v) == 0:
        raise MgBarrierError("attention threshold: need at least two distinct weights")
    hist, edges = np.histogram(v, bins=bins)
    centres = 0.5 * (edges[1:] + edges[:-1])
    sm = np.convolve(hist, np.ones(3) / 3, mode="same")
    peaks = [i for i in range(len(sm)) if sm[i] > 0 and (i == 0 or sm[i] >= sm[i - 1]) and
             (i == len(sm) - 1 or sm[i] > sm[i + 1])]
    best = None
    for ii, p1 in enumerate(peaks):  # the deepest real trough between any two peaks
        for p2 in peaks[ii + 1:]:
            if p2 - p1 < 2:
                continue
            t = p1 + int(np.argmin(sm[p1:p2 + 1]))
            low, high = hist[:t + 1].sum() / len(v), hist[t + 1:].sum() / len(v)
            depth = sm[t] / min(sm[p1], sm[p2])
            if low >= min_mass and high >= min_mass and depth <= max_trough and (best is None or depth < best[0]):
                best = (depth, t)
    if best is not None:
        return float(10 ** centres[best[1]]), True
    # Otsu: the split maximising the between-class variance
    w = hist / hist.sum()
    omega = np.cumsum(w)
    mu = np.cumsum(w * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * omega - mu) ** 2 / (omega * (1 - omega))
    between[~np.isfinite(between)] = -1
    return float(10 ** edges[int(np.argmax(between)) + 1]), False


def trough_threshold(values: Sequence[float], bins: int = 60) -> float:
    """The threshold of :func:`attention_threshold` (trough, or Otsu's split without one)."""
    return attention_threshold(values, bins=bins)[0]


def high_attention_metrics(wa: WindowAttention, threshold: float) -> StructureMetrics:
    """The seed's counts on the graph of the window's edges with weight > ``threshold``."""
    keep = wa.weights > threshold
    return graph_counts(len(wa.graph.node_type), wa.graph.node_type == 1, wa.graph.pairs[keep])


def compare_attention(net: DMPNN, glass: Sequence[Config], liquid: Sequence[Config], seed: int = 0,
                      threshold: Optional[float] = None) -> Dict[str, object]:
    """Figure 9 of the seed: mean high-attention counts in glass and liquid windows.

    One random window per configuration; the threshold is the trough of the pooled
    histogram unless given (``bimodal`` False: there was no trough, Otsu's split was used;
    ``weight_percentiles``: 1st, 50th, 99th percentile of the pooled weights).  p-values:
    one-sided Mann-Whitney U (liquid > glass), and the paired one-sided Wilcoxon
    signed-rank test when the two lists pair up (same length).
    """
    from scipy import stats

    rng = np.random.default_rng(seed)
    g_att = [window_attention(net, c, rng=rng) for c in glass]
    l_att = [window_attention(net, c, rng=rng) for c in liquid]
    pooled = np.concatenate([w.weights for w in g_att + l_att])
    bimodal = None
    if threshold is None:
        threshold, bimodal = attention_threshold(pooled)
    out: Dict[str, object] = {"threshold": threshold, "bimodal": bimodal, "n_glass": len(g_att),
                              "n_liquid": len(l_att), "fraction_high": float(np.mean(pooled > threshold)),
                              "weight_percentiles": {str(q): float(np.percentile(pooled, q)) for q in (1, 50, 99)}}
    for name in ("components", "bb_edges", "isolated_a", "isolated_b"):
        g = np.array([getattr(high_attention_metrics(w, threshold), name) for w in g_att], dtype=float)
        q = np.array([getattr(high_attention_metrics(w, threshold), name) for w in l_att], dtype=float)
        rec = {"glass_mean": float(g.mean()), "liquid_mean": float(q.mean()),
               "glass_std": float(g.std()), "liquid_std": float(q.std())}
        if len(g) > 1 and len(q) > 1 and np.ptp(np.concatenate([g, q])) > 0:
            rec["p_mannwhitney"] = float(stats.mannwhitneyu(q, g, alternative="greater").pvalue)
            if len(g) == len(q) and np.any(q - g != 0):
                rec["p_wilcoxon"] = float(stats.wilcoxon(q, g, alternative="greater").pvalue)
        out[name] = rec
    return out


def plot_window_attention(wa: WindowAttention, threshold: float, path) -> None:
    """The seed's Fig. 8 for one window: edges drawn with width ∝ weight, high-attention ones
    dark; A orange, B blue; isolated A circled red, B-B high-attention edges blue."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io.files import atomic_write

    g = wa.graph
    xy = np.asarray(g.node_pos, dtype=float)[:, :2]
    fig, ax = plt.subplots(figsize=(6, 6))
    wmax = float(wa.weights.max()) if len(wa.weights) else 1.0
    hi = wa.weights > threshold
    deg = np.bincount(g.pairs[hi].reshape(-1), minlength=len(xy))
    for (i, j), w, h in zip(g.pairs, wa.weights, hi):
        bb = g.node_type[i] == 1 and g.node_type[j] == 1
        ax.plot(xy[[i, j], 0], xy[[i, j], 1], color=("C0" if bb and h else "green"),
                lw=0.3 + 3.0 * w / wmax, alpha=1.0 if h else 0.3)
    colours = np.where(g.node_type == 1, "tab:blue", "tab:orange")
    ax.scatter(xy[:, 0], xy[:, 1], c=colours, s=18, zorder=3)
    iso = (deg == 0) & (g.node_type == 0)
    ax.scatter(xy[iso, 0], xy[iso, 1], facecolors="none", edgecolors="red", s=90, zorder=4)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(f"P(glass) = {wa.prob:.3f}; threshold {threshold:.3g}")
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
