"""Per-atom local glassiness: the classifier applied to a window centred on each atom.

The seed's stated future work (node-level predictions): for every chosen particle i the
window of the model's size centred on i (periodic wrap) is classified, and its glass
probability becomes i's property ``glassiness`` in [0, 1] (1: glass-like surroundings).
Neighbouring atoms share most of their windows, so the field is smooth on the scale of
the window; a smaller ``window`` than the training one gives a sharper but noisier field
(the model must have been trained with a window, and transfers best to similar sizes).
Cost: one graph of about ρ·window^d particles per atom.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import torch

from ..errors import MgBarrierError
from .datasets import Config
from .dmpnn import DMPNN
from .windows import centred_windows, collate


@torch.no_grad()
def local_glassiness(net: DMPNN, conf: Config, atoms: Optional[Sequence[int]] = None,
                     window: Optional[float] = None, batch_size: int = 64,
                     progress: Optional[Callable[[int, int], None]] = None) -> np.ndarray:
    """(N,) glass probability of the window centred on each atom (NaN for atoms not in ``atoms``).

    ``window``: side length (default: the model's training window).
    """
    w = window if window is not None else net.cfg.window
    if w is None:
        raise MgBarrierError("this model was trained on whole configurations; give a window size")
    if conf.dim != net.cfg.dim:
        raise MgBarrierError(f"{conf.name or 'structure'}: {conf.dim}D structure, but the model is {net.cfg.dim}D")
    idx = np.arange(conf.n) if atoms is None else np.asarray(list(atoms), dtype=np.int64)
    out = np.full(conf.n, np.nan)
    was = net.training
    net.eval()
    for a in range(0, len(idx), batch_size):
        chunk = idx[a:a + batch_size]
        b = collate(centred_windows(conf, net.cfg.k, w, chunk))
        out[chunk] = torch.sigmoid(net(b)).double().numpy()
        if progress:
            progress(min(a + batch_size, len(idx)), len(idx))
    net.train(was)
    return out
