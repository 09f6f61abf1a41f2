"""PNG plots of explanations (matplotlib, Agg backend; optional dependency).

* ``distance_distribution.png``: distance to the centre atom of the important atoms vs
  all receptive-field atoms (the paper's Fig. 5a), MRO range shaded.
* ``cycles_per_bin.png``: mean number of optimal cycles per edge for high / medium /
  low importance and random edges, beside the paper's Table 6.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from ..errors import MgBarrierError
from .mro import MRO_RANGE, distance_histogram
from .topology import BINS, PAPER_TABLE6


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise MgBarrierError("plots need matplotlib: pip install 'mgbarrier[explain]', "
                             "or run with --no-plots") from None
    return plt


def _finish(plt, fig, ax, path: Path) -> Path:
    """Legend, layout, PNG to ``path``, figure closed."""
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return Path(path)


def plot_distance_distribution(path: Path, important: Sequence[float], everything: Sequence[float],
                               title: str = "", bin_width: float = 0.5) -> Path:
    """Write the distance histogram (densities, 1/Å, of atom distances in Å) to ``path``."""
    plt = _pyplot()
    h = distance_histogram(important, everything, bin_width)
    centres = 0.5 * (h["edges"][1:] + h["edges"][:-1])
    fig, ax = plt.subplots(figsize=(6.0, 3.8), dpi=120)
    ax.axvspan(*MRO_RANGE, color="0.9", zorder=0, label=f"MRO range {MRO_RANGE[0]:g}-{MRO_RANGE[1]:g} Å")
    ax.step(centres, h["all"], where="mid", color="0.35", lw=1.5, label=f"all atoms (n={int(h['all_count'].sum())})")
    ax.bar(centres, h["important"], width=bin_width, color="tab:red", alpha=0.6,
           label=f"important atoms (n={int(h['important_count'].sum())})")
    ax.set_xlabel("distance to the centre atom (Å)")
    ax.set_ylabel("density (1/Å)")
    ax.set_xlim(0, h["edges"][-1])
    ax.set_title(title or "Important atoms vs all atoms")
    return _finish(plt, fig, ax, path)


def plot_cycles_per_bin(path: Path, stats: Dict[str, dict], paper: Optional[Dict[str, float]] = PAPER_TABLE6,
                        title: str = "") -> Path:
    """Bar chart of mean optimal cycles per edge (± s.e.m.) for each importance bin."""
    plt = _pyplot()
    names = [b for b in BINS if b in stats]
    mean = np.array([stats[b]["mean"] for b in names], dtype=float)
    sem = np.nan_to_num(np.array([stats[b]["sem"] for b in names], dtype=float))
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(5.0, 3.6), dpi=120)
    width = 0.38 if paper else 0.6
    ax.bar(x - (width / 2 if paper else 0), mean, width, yerr=sem, capsize=3, color="tab:blue",
           label="this run")
    if paper:
        ax.bar(x + width / 2, [paper[b] for b in names], width, color="0.7", label="paper (Table 6)")
    ax.set_xticks(x)
    ax.set_xticklabels([f"{b}\n(n={stats[b]['n']})" for b in names])
    ax.set_ylabel("mean # optimal cycles per edge")
    ax.set_title(title or "Optimal cycles by edge importance")
    return _finish(plt, fig, ax, path)
