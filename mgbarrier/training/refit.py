"""Least-squares refit of a trained network's output layer on all training structures at once.

SGD with one structure per step learns the within-structure variation well but the
structures' mean barriers (set by the cooling rate) poorly: see
:func:`mgbarrier.training.structure_loss`.  This step keeps every learned feature and
refits only the last linear layer (hidden -> 1) by ridge regression on the pooled
training atoms, so that the per-structure means are fitted jointly, in closed form.

The ridge alpha is chosen by grouped (leave-one-structure-out) cross-validation over the
training structures: each group is held out in turn, the layer is fitted on the others,
and the held-out predictions of all groups are pooled into one Pearson correlation, which
rewards getting each structure's mean right.  Validation/test structures are not used.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np
import torch

from ..metrics import pearson

DEFAULT_ALPHAS = tuple(float(10.0 ** e) for e in np.arange(-2.0, 5.01, 0.5))


@torch.no_grad()
def output_features(net: torch.nn.Module, graph) -> np.ndarray:
    """Inputs of ``net.decoder[-1]`` (N, H) for one graph, in eval mode (float64)."""
    captured: List[torch.Tensor] = []
    handle = net.decoder[-1].register_forward_hook(lambda m, i, o: captured.append(i[0].detach()))
    was = net.training
    net.eval()
    try:
        net(graph)
    finally:
        handle.remove()
        net.train(was)
    return captured[0].double().cpu().numpy()


def _ridge(z: np.ndarray, y: np.ndarray, alpha: float):
    mu = z.mean(0)
    zc = z - mu
    w = np.linalg.solve(zc.T @ zc + alpha * np.eye(z.shape[1]), zc.T @ (y - y.mean()))
    return w, float(y.mean() - mu @ w)


def refit_output_layer(net: torch.nn.Module, graphs: Sequence, labels: Sequence[np.ndarray],
                       groups: Sequence[str], label_mean: float, label_std: float,
                       alphas: Sequence[float] = DEFAULT_ALPHAS) -> Dict:
    """Refit ``net.decoder[-1]`` in place; returns the cross-validation report.

    graphs: training graphs; labels: their per-atom barriers (eV, NaN = unlabelled);
    groups: a group name per graph (structures that are the same glass share a group, e.g.
    train0 and train1 of the published data).  Labels are standardised with
    ``label_mean``/``label_std`` (eV), the network's own.
    """
    feats, ys = [], []
    for g, y in zip(graphs, labels):
        ok = np.isfinite(y)
        feats.append(output_features(net, g)[ok])
        ys.append((np.asarray(y, float)[ok] - label_mean) / label_std)
    names = sorted(set(groups))
    if len(names) < 2:
        raise ValueError("grouped cross-validation needs at least two groups of structures")
    idx = {n: [k for k, gname in enumerate(groups) if gname == n] for n in names}
    cv = {}
    for alpha in alphas:
        pred, true = [], []
        for n in names:
            tr = [k for k in range(len(graphs)) if k not in idx[n]]
            w, b = _ridge(np.concatenate([feats[k] for k in tr]), np.concatenate([ys[k] for k in tr]), alpha)
            for k in idx[n]:
                pred.append(feats[k] @ w + b)
                true.append(ys[k])
        cv[alpha] = pearson(np.concatenate(pred), np.concatenate(true))
    best_alpha = max(cv, key=lambda a: cv[a])
    # the network's own output layer, scored the same way (in-sample: it saw every group)
    layer = net.decoder[-1]
    w0 = layer.weight.detach().double().cpu().numpy().ravel()
    b0 = float(layer.bias.detach().double().cpu())
    original = pearson(np.concatenate([f @ w0 + b0 for f in feats]), np.concatenate(ys))
    w, b = _ridge(np.concatenate(feats), np.concatenate(ys), best_alpha)
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(w, dtype=layer.weight.dtype).view_as(layer.weight))
        layer.bias.fill_(b)
    return {"alpha": best_alpha, "cv_pooled_pearson": cv[best_alpha],
            "cv_grid": {f"{a:g}": v for a, v in cv.items()},
            "original_in_sample_pooled_pearson": original, "groups": names}
