"""Liquid or glass? The D-MPNN classifier with edge self-attention and its three structural metrics.

After the seed paper (two-dimensional Kob-Andersen liquids and liquid-cooled glasses told
apart by a directed message passing neural network; its attention read as three metrics).

* :mod:`.kob_andersen`: LAMMPS cooling runs of the 2D Kob-Andersen mixture, FIRE inherent structures;
* :mod:`.build`: the cooling runs of a data folder (presets, resumable, parallel);
  :mod:`.datasets`: configurations, datasets 1-6, splits;
* :mod:`.graph`: periodic k-nearest-neighbour graphs (2D/3D);
* :mod:`.dmpnn`: the D-MPNN with edge self-attention (tensors in, tensors out);
  :mod:`.windows`: random square windows -> batched graphs;
* :mod:`.train`: training (resumable), ROC AUC, accuracy, model files;
* :mod:`.metrics`: the three structural metrics (components, B-B edges, isolated A);
* :mod:`.attention`: high-attention graphs and their counts; :mod:`.local`: per-atom glassiness;
* :mod:`.tg`: Tg from two linear fits, the Eq. 12 regression; :mod:`.analysis`: both on a data folder;
The commands ``mgbarrier glass-metrics | glass-data | glass-tg | glass-train | glass-eval |
glass-predict | glass-export`` are :mod:`mgbarrier.cli.glass`.  Names are imported on use.
"""
from __future__ import annotations

__all__ = ["structure_metrics", "atoms_metrics", "graph_counts", "fit_tg", "indicator_regression",
           "DMPNN", "DMPNNConfig", "load_classifier", "local_glassiness", "KASettings", "run_cooling"]

_LAZY = {"structure_metrics": "metrics", "atoms_metrics": "metrics", "graph_counts": "metrics",
         "fit_tg": "tg", "indicator_regression": "tg", "DMPNN": "dmpnn", "DMPNNConfig": "dmpnn",
         "load_classifier": "train", "local_glassiness": "local", "KASettings": "kob_andersen",
         "run_cooling": "kob_andersen"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'mgbarrier.glass' has no attribute {name!r}")
