"""Tg and the structural metrics against temperature for a data folder (the seed's Figs. 1a and 10).

:func:`analyse` reads every run of a data folder and returns one report dict:

* ``energy``: per rate, the mean inherent-structure energy per particle against T, with
  standard deviation and count, and the two-line Tg fit (:func:`.tg.fit_tg`);
* ``metrics``: per recorded temperature of the slow runs, the mean and standard deviation of
  the three metrics (:mod:`.metrics`) over runs; and per metric the Eq. 12 regression
  (:func:`.tg.indicator_regression`) on the individual configurations with the slow Tg.

:func:`plot_report` draws both (matplotlib).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Optional, Union

import numpy as np

from ..errors import MgBarrierError
from .datasets import energy_curve, list_runs
from .metrics import METRIC_NAMES, structure_metrics
from .tg import fit_tg, indicator_regression

#: the Tg fits use T <= this by default: above about 1 the E_IS(T) of the 2D Kob-Andersen
#: liquid bends over to the high-temperature plateau (not the supercooled-liquid line)
TG_T_MAX = 1.0


def analyse(data_dir: Union[str, Path], k: int = 2, tg_t_max: Optional[float] = TG_T_MAX,
            t_max: Optional[float] = None, inherent: bool = False, max_runs: Optional[int] = None,
            log: Callable[[str], None] = lambda m: None) -> dict:
    """The report described in the module doc.  ``tg_t_max`` limits the Tg fits (None: all T);
    ``t_max`` the Eq. 12 regressions (None: all T); ``inherent``: metrics on the inherent
    structures instead of the recorded configurations."""
    from .kob_andersen import load_run

    data_dir = Path(data_dir)
    report: Dict[str, object] = {"data_dir": str(data_dir), "k": k, "inherent": inherent, "tg_t_max": tg_t_max,
                                 "t_max": t_max, "energy": {}}
    runs = {}
    for rate in ("slow", "fast"):
        paths = list_runs(data_dir, rate)[:max_runs] if max_runs else list_runs(data_dir, rate)
        runs[rate] = [load_run(p) for p in paths]
        if not runs[rate]:
            continue
        heads = [{"temperatures": r.temperatures, "e_is": r.e_is} for r in runs[rate]]
        t, e, sd, n = energy_curve(heads)
        entry = {"T": t.tolist(), "e_is": e.tolist(), "std": sd.tolist(), "n": n.tolist(), "runs": len(runs[rate])}
        try:
            entry["fit"] = fit_tg(t, e, t_max=tg_t_max).as_dict()
        except MgBarrierError as exc:
            entry["fit"] = None
            entry["fit_error"] = str(exc)
        report["energy"][rate] = entry
    if not runs.get("slow"):
        raise MgBarrierError(f"{data_dir}: no slow-cooling runs under sims/slow")
    fit = report["energy"]["slow"].get("fit")
    tg = fit["tg"] if fit else None
    rows = []
    for r in runs["slow"]:
        box = np.array([r.box_length, r.box_length])
        is_b = r.types == 2
        for rec, t in enumerate(r.temperatures):
            pos = r.is_positions[rec] if inherent else r.positions[rec]
            if not np.all(np.isfinite(pos)):
                continue
            m = structure_metrics(pos, is_b, k=k, box=box)
            rows.append((float(t), r.seed, m.components, m.bb_edges, m.isolated_a, m.n_particles))
    log(f"metrics on {len(rows)} configurations of {len(runs['slow'])} slow runs")
    arr = np.array(rows, dtype=float)
    temps = np.unique(arr[:, 0])[::-1]
    per_t = {"T": temps.tolist(), "n_particles": int(arr[0, 5])}
    for j, name in enumerate(METRIC_NAMES, start=2):
        per_t[name] = [float(arr[arr[:, 0] == t, j].mean()) for t in temps]
        per_t[name + "_std"] = [float(arr[arr[:, 0] == t, j].std()) for t in temps]
    report["metrics"] = {"per_temperature": per_t, "regression": {}}
    if tg is not None:
        for j, name in enumerate(METRIC_NAMES, start=2):
            sel = np.ones(len(arr), dtype=bool) if t_max is None else arr[:, 0] <= t_max
            try:
                report["metrics"]["regression"][name] = indicator_regression(arr[sel, 0], arr[sel, j], tg)
            except MgBarrierError as exc:
                report["metrics"]["regression"][name] = {"error": str(exc)}
    return report


def summary_lines(report: dict) -> list:
    """Human-readable lines of a report."""
    out = []
    for rate, e in report["energy"].items():
        f = e.get("fit")
        if f:
            out.append(f"{rate}: Tg {f['tg']:.3f} (E_IS glass slope {f['low'][0]:.4f}, liquid slope "
                       f"{f['high'][0]:.4f}; {e['runs']} runs, {len(e['T'])} temperatures)")
        else:
            out.append(f"{rate}: no Tg ({e.get('fit_error', 'no fit')})")
    per_t = report["metrics"]["per_temperature"]
    for name in METRIC_NAMES:
        reg = report["metrics"]["regression"].get(name)
        lo, hi = per_t[name][-1], per_t[name][0]
        line = f"{name}: {hi:.2f} at T {per_t['T'][0]:g} -> {lo:.2f} at T {per_t['T'][-1]:g} (N {per_t['n_particles']})"
        if reg and "a" in reg:
            line += (f"; Eq. 12 a3 {reg['a'][3]:+.3f} ± {reg['se'][3]:.3f}, p(two-sided) {reg['p'][3]:.2g}, "
                     f"p(a3 > 0) {reg['p_a3_greater']:.2g}")
        out.append(line)
    return out


def plot_report(report: dict, path: Union[str, Path]) -> None:
    """E_IS(T) with the Tg lines, and the three metrics against T with the Eq. 12 fits (PNG/PDF)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MgBarrierError("plots need matplotlib: pip install matplotlib") from None
    from ..io.files import atomic_write

    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    ax = axes[0]
    for rate, colour in (("slow", "C0"), ("fast", "C3")):
        e = report["energy"].get(rate)
        if not e:
            continue
        T = np.array(e["T"])
        ax.errorbar(T, e["e_is"], yerr=e["std"], fmt="o", ms=3, color=colour, label=f"{rate} cooling")
        f = e.get("fit")
        if f:
            span = T.max() - T.min()
            for (a, b), (t0, t1) in ((f["low"], (T.min(), f["tg"] + 0.15 * span)),
                                     (f["high"], (f["tg"] - 0.15 * span, T.max()))):
                tt = np.linspace(t0, t1, 20)
                ax.plot(tt, a * tt + b, ":", color="k", lw=0.8)
            ax.axvline(f["tg"], color=colour, lw=0.8, ls="--", label=f"Tg {f['tg']:.3f}")
    lo = min(min(e["e_is"]) for e in report["energy"].values())
    hi = max(max(e["e_is"]) for e in report["energy"].values())
    ax.set_ylim(lo - 0.1 * (hi - lo + 1e-9), hi + 0.1 * (hi - lo + 1e-9))
    ax.set_xlabel("T (ε/k_B)")
    ax.set_ylabel("E_IS per particle (ε)")
    ax.legend(fontsize=8)
    per_t = report["metrics"]["per_temperature"]
    T = np.array(per_t["T"])
    labels = {"components": "disjoint graphs", "bb_edges": "B-B edges", "isolated_a": "isolated A"}
    for ax, name in zip(axes[1:], METRIC_NAMES):
        ax.errorbar(T, per_t[name], yerr=per_t[name + "_std"], fmt="o", ms=3, color="C2")
        reg = report["metrics"]["regression"].get(name)
        if reg and "a" in reg:
            a0, a1, a2, a3 = reg["a"]
            tg = reg["tg"]
            tl = np.linspace(T.min(), tg, 20)
            th = np.linspace(tg, T.max(), 20)
            ax.plot(tl, a0 + a1 * tl, "k-", lw=1)
            ax.plot(th, a0 + a2 + (a1 + a3) * th, "k-", lw=1)
            ax.axvline(tg, color="C0", ls="--", lw=0.8)
            ax.set_title(f"a3 = {a3:+.2f}, p = {reg['p'][3]:.1e}", fontsize=9)
        ax.set_xlabel("T (ε/k_B)")
        ax.set_ylabel(f"{labels[name]} per configuration (N = {per_t['n_particles']})")
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format=path.suffix.lstrip(".") or "png"))
    plt.close(fig)
