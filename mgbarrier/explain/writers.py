"""Explanations -> files: per-atom JSON and CSV, a summary table (CSV, Markdown, JSON).

Every function writes into a directory it is given (the CLI gives a temporary one and
renames it when everything is written).  Distances in Å, predictions in eV.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from .api import AtomExplanation, pooled_cycle_bins
from .mro import MRO_RANGE, fraction_in_range
from .topology import BINS, PAPER_TABLE6

EDGE_COLUMNS = ("rank", "i", "j", "importance", "distance_A", "length_A", "hop", "cycles", "saliency_eV")


def atom_basename(atom: int) -> str:
    return f"atom_{int(atom)}"


def _num(x: float, nd: int = 6):
    x = float(x)
    return None if not math.isfinite(x) else round(x, nd)


def edge_records(e: AtomExplanation, limit: Optional[int] = None) -> List[dict]:
    """The first ``limit`` edges (most important first) as dicts with EDGE_COLUMNS keys."""
    n = e.n_edges if limit is None else min(limit, e.n_edges)
    ed = e.edges
    return [{"rank": k + 1, "i": int(ed["i"][k]), "j": int(ed["j"][k]), "importance": _num(ed["importance"][k], 8),
             "distance_A": _num(ed["distance"][k], 4), "length_A": _num(ed["length"][k], 4),
             "hop": int(ed["hop"][k]), "cycles": int(ed["cycles"][k]), "saliency_eV": _num(ed["saliency"][k], 8)}
            for k in range(n)]


def top_distances(e: AtomExplanation) -> np.ndarray:
    """(k,) distances (Å) to the centre of the important atoms (the centre itself excluded)."""
    pos = {int(a): d for a, d in zip(e.atoms["atom"], e.atoms["distance"])}
    return np.array([pos[int(a)] for a in e.important if int(a) != e.atom])


def field_distances(e: AtomExplanation) -> np.ndarray:
    """(n-1,) distances (Å) to the centre of all receptive-field atoms but the centre."""
    return e.atoms["distance"][e.atoms["atom"] != e.atom]


def atom_record(e: AtomExplanation, context: dict) -> dict:
    symbols = context.get("symbols")
    ids = context.get("ids")
    imp = {int(a): (float(d), float(w)) for a, d, w in zip(e.atoms["atom"], e.atoms["distance"], e.atoms["importance"])}
    important = []
    for a in e.important:
        d, w = imp[int(a)]
        rec = {"atom": int(a), "distance_A": _num(d, 4), "importance": _num(w, 8)}
        if symbols is not None:
            rec["species"] = str(symbols[int(a)])
        important.append(rec)
    important.sort(key=lambda r: (-(r["importance"] or 0.0), r["atom"]))
    rec = {
        "atom": e.atom,
        "species": e.species,
        "structure": context.get("structure"),
        "frame": context.get("frame"),
        "model": context.get("model"),
        "prediction_eV": _num(e.prediction),
        "masked_prediction_eV": _num(e.masked_prediction),
        "top_only_prediction_eV": _num(e.top_prediction),
        "receptive_field": {"layers": e.n_layers, "cutoff_A": context.get("cutoff"), "atoms": e.n_atoms,
                            "edges": e.n_edges},
        "explainer": context.get("explainer"),
        "top": e.top,
        "top_edges": edge_records(e, e.top),
        "important_atoms": important,
        "mro": {"range_A": list(MRO_RANGE), "important_fraction": _num(fraction_in_range(top_distances(e)), 4),
                "all_fraction": _num(fraction_in_range(field_distances(e)), 4)},
        "topology": None if e.cycle_bins is None else {
            **(context.get("topology") or {}), "radius_A": _num(e.topology_radius, 4), "cycles": e.n_cycles,
            "bins": {k: {kk: _num(vv, 4) if kk != "n" else vv for kk, vv in v.items()}
                     for k, v in e.cycle_bins.items()}},
        "loss_first_last": [_num(e.loss[0], 8), _num(e.loss[-1], 8)] if len(e.loss) else None,
        "seconds": _num(e.seconds, 3),
    }
    if ids is not None:
        rec["lammps_id"] = int(ids[e.atom])
    return rec


def write_atom_files(directory: Path, e: AtomExplanation, context: dict) -> List[Path]:
    """``atom_<i>.json`` (summary + top edges + important atoms) and ``atom_<i>_edges.csv``
    (every receptive-field edge, most important first)."""
    directory = Path(directory)
    base = atom_basename(e.atom)
    jpath = directory / f"{base}.json"
    jpath.write_text(json.dumps(atom_record(e, context), indent=1) + "\n")
    cpath = directory / f"{base}_edges.csv"
    with open(cpath, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(EDGE_COLUMNS)
        ed = e.edges
        for k in range(e.n_edges):
            w.writerow([k + 1, int(ed["i"][k]), int(ed["j"][k]), f"{ed['importance'][k]:.8g}",
                        f"{ed['distance'][k]:.4f}", f"{ed['length'][k]:.4f}", int(ed["hop"][k]), int(ed["cycles"][k]),
                        f"{ed['saliency'][k]:.6g}"])
    return [jpath, cpath]


SUMMARY_COLUMNS = ("atom", "species", "prediction_eV", "masked_prediction_eV", "top_only_prediction_eV",
                   "field_atoms", "field_edges", "kept_edges", "top_mean_distance_A", "top_mro_fraction",
                   "all_mro_fraction",
                   "cycles_high", "cycles_medium", "cycles_low", "cycles_random", "seconds")


def summary_rows(explanations: Sequence[AtomExplanation]) -> List[dict]:
    rows = []
    for e in explanations:
        td = top_distances(e)
        row = {"atom": e.atom, "species": e.species, "prediction_eV": e.prediction,
               "masked_prediction_eV": e.masked_prediction, "top_only_prediction_eV": e.top_prediction,
               "field_atoms": e.n_atoms, "field_edges": e.n_edges,
               "kept_edges": int(np.sum(e.edges["importance"] > 0.5)),
               "top_mean_distance_A": float(e.edges["distance"][: e.top].mean()) if e.top else float("nan"),
               "top_mro_fraction": fraction_in_range(td), "all_mro_fraction": fraction_in_range(field_distances(e)),
               "seconds": e.seconds}
        for b in BINS:
            row[f"cycles_{b}"] = e.cycle_bins[b]["mean"] if e.cycle_bins else float("nan")
        rows.append(row)
    return rows


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if not math.isfinite(v) else f"{v:.4f}"
    return str(v)


def summary_markdown(explanations: Sequence[AtomExplanation], context: dict) -> str:
    rows = summary_rows(explanations)
    lines = [f"# Explanations: {context.get('structure')}", ""]
    lines += [f"- model: `{context.get('model')}` ({explanations[0].n_layers if explanations else '?'} layers, "
              f"cutoff {context.get('cutoff')} Å)",
              f"- explainer: {context.get('explainer')}",
              f"- top edges per atom: {context.get('top')}",
              f"- command: `{context.get('command')}`" if context.get("command") else "",
              ""]
    lines += ["| " + " | ".join(SUMMARY_COLUMNS) + " |", "|" + "---|" * len(SUMMARY_COLUMNS)]
    lines += ["| " + " | ".join(_fmt(r[c]) for c in SUMMARY_COLUMNS) + " |" for r in rows]
    pooled = pooled_cycle_bins(explanations)
    if pooled:
        lines += ["", "## Optimal cycles per edge by importance (pooled over atoms; paper Table 6)", "",
                  "| bin | mean # optimal cycles | ± s.e.m. | edges | paper (SymGNN) |", "|---|---|---|---|---|"]
        for b in BINS:
            p = pooled[b]
            lines.append(f"| {b} | {_fmt(p['mean'])} | {_fmt(p['sem'])} | {p['n']} | {PAPER_TABLE6[b]:.3f} |")
    td = np.concatenate([top_distances(e) for e in explanations]) if explanations else np.zeros(0)
    fd = np.concatenate([field_distances(e) for e in explanations]) if explanations else np.zeros(0)
    lines += ["", f"## Distance to the centre (MRO, {MRO_RANGE[0]:g}-{MRO_RANGE[1]:g} Å)", "",
              f"- important atoms (of the top edges): {len(td)}, fraction in range {_fmt(fraction_in_range(td))}",
              f"- all receptive-field atoms: {len(fd)}, fraction in range {_fmt(fraction_in_range(fd))}", ""]
    return "\n".join(line for line in lines if line is not None) + "\n"


def write_summary(directory: Path, explanations: Sequence[AtomExplanation], context: dict) -> List[Path]:
    """``summary.csv`` (one row per atom), ``summary.md`` and ``summary.json``."""
    directory = Path(directory)
    rows = summary_rows(explanations)
    cpath = directory / "summary.csv"
    with open(cpath, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=SUMMARY_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: _fmt(v) for k, v in r.items()})
    mpath = directory / "summary.md"
    mpath.write_text(summary_markdown(explanations, context))
    pooled = pooled_cycle_bins(explanations)
    jpath = directory / "summary.json"
    meta = {k: v for k, v in context.items() if k not in ("symbols", "ids")}
    jpath.write_text(json.dumps({
        **meta,
        "atoms": [{k: (_num(v) if isinstance(v, float) else v) for k, v in r.items()} for r in rows],
        "cycles_pooled": pooled, "paper_table6": PAPER_TABLE6,
    }, indent=1, default=_json_default) + "\n")
    return [cpath, mpath, jpath]


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return _num(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def read_atom_json(path: Path) -> Dict:
    """Read back an ``atom_<i>.json`` file."""
    return json.loads(Path(path).read_text())
