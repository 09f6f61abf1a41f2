"""``mgbarrier evaluate``: score predicted barriers against labels.

    mgbarrier evaluate pred.extxyz -o eval/                    # 'barrier_pred' vs 'barrier' in one file
    mgbarrier evaluate pred.extxyz --labels test0.extxyz --pred-key barrier -o eval/

Pearson, Spearman, MAE and RMSE (eV) pooled over every labelled atom, per species and per
frame (NaN labels are skipped), printed as a table; with ``-o DIR`` also ``metrics.json``,
``parity.png`` (predicted vs label) and ``histogram.png`` (both distributions).  The folder
is written to a temporary folder and renamed, so it is never half-written.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..errors import MgBarrierError, require
from ..io.lammps_dump import column_name
from ..io.species import parse_species_map
from ..io.structures import iread_structures
from ..metrics import scores
from .explain import check_output_dir, write_folder

#: the prediction's name in an input that had labels (see mgbarrier.pipeline)
DEFAULT_PRED_KEY = "barrier_pred"


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="score predicted barriers against labels (Pearson, Spearman, MAE, "
                                        "RMSE; parity plot and histogram)")
    p.add_argument("pred", help="structure file with predicted per-atom barriers (output of mgbarrier predict)")
    p.add_argument("--labels", default=None,
                   help="file with the labels, same frames and atoms in the same order (default: PRED itself)")
    p.add_argument("--pred-key", default=DEFAULT_PRED_KEY,
                   help="per-atom array (or dump column d_NAME) of the predictions; with --labels, 'barrier' "
                        "is used when PRED has no 'barrier_pred'")
    p.add_argument("--label-key", default="barrier", help="per-atom array (or dump column d_NAME) of the labels")
    p.add_argument("--species", default=None, help="LAMMPS type -> element for dumps/data files, e.g. 1=Cu,2=Zr "
                                                   "(default: element column or masses)")
    p.add_argument("-o", "--output", default=None,
                   help="folder for metrics.json, parity.png, histogram.png (default: print the table only)")
    p.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    p.add_argument("--no-plots", action="store_true", help="write metrics.json only (no matplotlib needed)")
    p.set_defaults(func=run)


def per_atom_values(atoms, key: str, where: str) -> Optional[np.ndarray]:
    """(N,) float values of the per-atom ``key``: an array, or a dump column ``d_<key>``/``key``."""
    if key in atoms.arrays:
        return np.asarray(atoms.arrays[key], dtype=float).reshape(len(atoms), -1)[:, 0]
    meta = atoms.info.get("lammps_dump")
    if isinstance(meta, dict):
        cols = list(meta.get("columns", ()))
        for name in (column_name(key), key):
            if name in cols:
                j = cols.index(name)
                try:
                    return np.array([float(row.split()[j]) for row in meta["rows"].splitlines()])
                except (ValueError, IndexError):
                    raise MgBarrierError(f"{where}: column {name} is not numeric") from None
    return None


def _available(atoms) -> List[str]:
    meta = atoms.info.get("lammps_dump")
    cols = [c[2:] for c in meta.get("columns", ()) if c.startswith("d_")] if isinstance(meta, dict) else []
    return sorted(set(k for k in atoms.arrays if k not in ("numbers", "positions")) | set(cols))


def collect(pred_path: Path, labels_path: Optional[Path], pred_key: str, label_key: str,
            species_map=None) -> Tuple[List[np.ndarray], List[np.ndarray], List[np.ndarray]]:
    """Per frame: (predictions eV, labels eV, chemical symbols), from one file or two."""
    preds, labels, symbols = [], [], []
    frames = iread_structures(pred_path, species_map=species_map)
    label_frames = iread_structures(labels_path, species_map=species_map) if labels_path else None
    key = pred_key
    for k, atoms in enumerate(frames):
        where = f"{pred_path}: frame {k}"
        y_pred = per_atom_values(atoms, key, where)
        if y_pred is None and k == 0 and labels_path and key == DEFAULT_PRED_KEY:
            key = "barrier"  # a plain prediction file scored against separate labels
            y_pred = per_atom_values(atoms, key, where)
        if y_pred is None:
            raise MgBarrierError(f"{where}: no per-atom '{pred_key}' (has: {', '.join(_available(atoms)) or 'none'}); "
                                 "choose with --pred-key")
        ref = atoms
        if label_frames is not None:
            ref = next(label_frames, None)
            if ref is None:
                raise MgBarrierError(f"{labels_path}: has {k} frame(s), fewer than {pred_path}")
            where = f"{labels_path}: frame {k}"
            if len(ref) != len(atoms) or ref.get_chemical_symbols() != atoms.get_chemical_symbols():
                raise MgBarrierError(f"{where}: not the same atoms as {pred_path} frame {k} "
                                     f"({len(ref)} vs {len(atoms)} atoms, or other species/order)")
        y_true = per_atom_values(ref, label_key, where)
        if y_true is None:
            raise MgBarrierError(f"{where}: no per-atom '{label_key}' labels (has: "
                                 f"{', '.join(_available(ref)) or 'none'}); choose with --label-key")
        preds.append(y_pred)
        labels.append(y_true)
        symbols.append(np.asarray(atoms.get_chemical_symbols()))
    if label_frames is not None and next(label_frames, None) is not None:
        raise MgBarrierError(f"{labels_path}: has more frames than {pred_path}")
    return preds, labels, symbols


def evaluate(preds: List[np.ndarray], labels: List[np.ndarray], symbols: List[np.ndarray]) -> Dict:
    """``{"pooled", "species": {el: ...}, "frames": [...]}``, each :func:`mgbarrier.metrics.scores`."""
    p, t, s = np.concatenate(preds), np.concatenate(labels), np.concatenate(symbols)
    out = {"pooled": scores(p, t), "species": {el: scores(p[s == el], t[s == el]) for el in sorted(set(s.tolist()))},
           "frames": [scores(a, b) for a, b in zip(preds, labels)]}
    if out["pooled"]["n"] == 0:
        raise MgBarrierError("no atom has both a finite prediction and a finite label")
    return out


def _json_safe(obj):
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def table(result: Dict) -> str:
    """The numbers as a Markdown table (eV)."""
    rows = [("pooled", result["pooled"])] + [(el, v) for el, v in result["species"].items()]
    if len(result["frames"]) > 1:
        rows += [(f"frame {k}", v) for k, v in enumerate(result["frames"])]
    lines = ["| subset | atoms | Pearson | Spearman | MAE (eV) | RMSE (eV) | mean pred (eV) | mean label (eV) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, v in rows:
        lines.append(f"| {name} | {v['n']} | {v['pearson']:.3f} | {v['spearman']:.3f} | {v['mae']:.3f} | "
                     f"{v['rmse']:.3f} | {v['mean_pred']:.3f} | {v['mean_label']:.3f} |")
    return "\n".join(lines)


def plot(folder: Path, preds, labels, symbols, result: Dict) -> None:
    """``parity.png`` and ``histogram.png`` in ``folder`` (matplotlib, Agg)."""
    matplotlib = require("matplotlib", feature="mgbarrier evaluate's plots (or --no-plots)")
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    p, t, s = np.concatenate(preds), np.concatenate(labels), np.concatenate(symbols)
    ok = np.isfinite(p) & np.isfinite(t)
    p, t, s = p[ok], t[ok], s[ok]
    lo, hi = float(min(p.min(), t.min())), float(max(p.max(), t.max()))
    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    for el in sorted(set(s.tolist())):
        m = s == el
        ax.scatter(t[m], p[m], s=3, alpha=0.4, label=f"{el} ({m.sum()})", rasterized=True)
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    r = result["pooled"]
    ax.set(xlabel="label barrier (eV)", ylabel="predicted barrier (eV)", xlim=(lo, hi), ylim=(lo, hi),
           title=f"Pearson {r['pearson']:.3f}, MAE {r['mae']:.3f} eV, {r['n']} atoms")
    ax.legend(frameon=False, fontsize=8, markerscale=3)
    fig.tight_layout()
    fig.savefig(folder / "parity.png", format="png")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    bins = np.linspace(lo, hi, 61)
    ax.hist(t, bins=bins, alpha=0.5, label=f"label (mean {t.mean():.3f} eV)")
    ax.hist(p, bins=bins, alpha=0.5, label=f"predicted (mean {p.mean():.3f} eV)")
    ax.set(xlabel="barrier (eV)", ylabel="atoms")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "histogram.png", format="png")
    plt.close(fig)


def run(args) -> int:
    pred_path = Path(args.pred)
    labels_path = Path(args.labels) if args.labels else None
    out = Path(args.output) if args.output else None
    if out is not None:
        check_output_dir(out, args.force)
        if not args.no_plots:
            require("matplotlib", feature="mgbarrier evaluate's plots (or --no-plots)")
    species_map = parse_species_map(args.species)
    preds, labels, symbols = collect(pred_path, labels_path, args.pred_key, args.label_key, species_map)
    result = evaluate(preds, labels, symbols)
    result["inputs"] = {"pred": str(pred_path), "labels": str(labels_path or pred_path),
                        "pred_key": args.pred_key, "label_key": args.label_key}
    print(table(result))
    if out is not None:
        def fill(tmp: Path) -> None:
            (tmp / "metrics.json").write_text(json.dumps(_json_safe(result), indent=1) + "\n")
            if not args.no_plots:
                plot(tmp, preds, labels, symbols, result)

        write_folder(out, fill)
    return 0
