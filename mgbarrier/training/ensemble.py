"""Building ensembles: member weights chosen on validation data, and the checkpoint
that holds the members (loaded by :class:`mgbarrier.models.ensemble.EnsemblePredictor`)."""
from __future__ import annotations

from typing import Dict, Iterator, Sequence, Tuple

import numpy as np

from ..metrics import pearson


def choose_weight(pred_a: Sequence[np.ndarray], pred_b: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                  grid: Sequence[float] = tuple(np.round(np.linspace(0, 1, 21), 2))) -> Dict:
    """Weight w of member a in w·a + (1-w)·b maximising the pooled validation Pearson.

    pred_a, pred_b, labels: per validation structure, (N_s,) arrays in eV.
    Returns {"weight", "val_pearson", "grid": {w: pearson}}.
    """
    a, b, y = (np.concatenate(list(x)) for x in (pred_a, pred_b, labels))
    scores = {float(w): pearson(w * a + (1 - w) * b, y) for w in grid}
    best = max(scores, key=lambda w: scores[w])
    return {"weight": best, "val_pearson": scores[best], "grid": scores}


def ensemble_checkpoint(members: Sequence[dict], weights: Sequence[float], metadata: dict) -> dict:
    """Payload for :func:`mgbarrier.models.checkpoint.save_checkpoint` from member checkpoint dicts."""
    species = members[0]["config"].get("species") if isinstance(members[0]["config"], dict) else None
    return {"kind": "ensemble", "config": {"species": species, "weights": [float(w) for w in weights]},
            "state_dict": {}, "members": list(members), "metadata": metadata}


def simplex_grid(k: int, step: float = 0.05) -> Iterator[Tuple[float, ...]]:
    """All weight vectors (k,) >= 0 summing to 1 whose entries are multiples of ``step``."""
    n = int(round(1 / step))

    def parts(k, total):
        if k == 1:
            yield (total,)
            return
        for i in range(total + 1):
            for rest in parts(k - 1, total - i):
                yield (i,) + rest

    for p in parts(k, n):
        yield tuple(x / n for x in p)


def choose_weights(val_predictions: Sequence[np.ndarray], labels: np.ndarray, step: float = 0.05) -> Dict:
    """Member weights on a ``step`` simplex grid maximising validation Pearson.

    val_predictions: per member, (N,) eV on the validation atoms; labels (N,) eV.
    Returns {"weights": tuple, "val_pearson": float, "grid": {weights: pearson}}.
    """
    stack = np.stack([np.asarray(p, dtype=float) for p in val_predictions])
    grid = {w: pearson(np.asarray(w) @ stack, labels) for w in simplex_grid(len(stack), step)}
    best = max(grid, key=lambda w: grid[w])
    return {"weights": best, "val_pearson": grid[best], "grid": grid}
