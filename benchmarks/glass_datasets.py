"""Liquid or glass (issue 8): generate the 2D Kob-Andersen datasets 1-6, train one D-MPNN per
dataset, score every model on every dataset's held-out test split, read the attention, and
fit Tg and the three metrics against temperature (the seed's Figs. 1, 5, 6, 9, 10 and Eq. 12).

Everything is resumable: the cooling runs (``ROOT/data/sims``), each model's training state
(``ROOT/models/dN.pt.run``) and finished models are kept; running the same command again
continues where it stopped.  Results: ``--results`` (markdown) and the same name ``.json``.

    OMP_NUM_THREADS=1 python benchmarks/glass_datasets.py --quick           # smoke run, ~2-3 min
    OMP_NUM_THREADS=1 python benchmarks/glass_datasets.py --jobs 2          # 'hour' preset (see README)
    OMP_NUM_THREADS=1 python benchmarks/glass_datasets.py --preset seed --jobs 64 --root /scratch/ka2d

The seed reports AUC > 0.98 on datasets 1-6 for its D-MPNN (10,000 glass + 10,000 liquid
configurations of 4,320 particles per dataset, three-fold nested cross-validation).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from descriptor_model import hardware  # noqa: E402

SEED_AUC = "> 0.98"  # the seed's Fig. 5 (D-MPNN, all six datasets)
SEED_TG = {"slow": 0.37, "fast": 0.39}  # t_cool 2e7 and 2e5


def log(msg: str) -> None:
    print(msg, flush=True)


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=REPO / "runs" / "glass_datasets", help="data + models folder")
    ap.add_argument("--preset", default="hour", help="glass-data preset (tiny, quick, hour, seed)")
    ap.add_argument("--quick", action="store_true", help="smoke run: the 'quick' preset, small models, 2 epochs")
    ap.add_argument("--jobs", type=int, default=1, help="LAMMPS runs at once (each single-process)")
    ap.add_argument("--datasets", default="1,2,3,4,5,6")
    ap.add_argument("--epochs", type=int, default=None, help="training epochs (default 20; quick 2)")
    ap.add_argument("--windows-per-config", type=int, default=None, help="default 8; quick 2")
    ap.add_argument("--hidden", type=int, default=None, help="default 128; quick 16")
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--window", type=float, default=12.0, help="σ (the seed's 0.2 × 60)")
    ap.add_argument("--eval-windows", type=int, default=1, help="windows per test configuration (seed: 1)")
    ap.add_argument("--attention", type=int, default=None, help="configurations per class for Fig. 9 (default 50)")
    ap.add_argument("--results", type=Path, default=None, help="markdown (default benchmarks/results/glass_datasets"
                                                                 "[_quick].md)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--inherent", action="store_true",
                    help="train and test on the inherent structures (FIRE minima: no thermal vibration) "
                         "instead of the configurations; models is_dN.pt, results ..._inherent.md")
    a = ap.parse_args(argv)
    if a.quick:
        a.preset = "quick" if a.preset == "hour" else a.preset
        a.root = a.root.with_name(a.root.name + "_quick") if a.root == REPO / "runs" / "glass_datasets" else a.root
    a.epochs = a.epochs or (2 if a.quick else 20)
    a.windows_per_config = a.windows_per_config or (2 if a.quick else 8)
    a.hidden = a.hidden or (16 if a.quick else 128)
    a.attention = a.attention if a.attention is not None else (4 if a.quick else 50)
    a.results = a.results or REPO / "benchmarks" / "results" / (
        f"glass_datasets{'_quick' if a.quick else ''}{'_inherent' if a.inherent else ''}.md")
    return a


def main(argv=None) -> int:
    import torch

    from mgbarrier.glass.analysis import TG_T_MAX, analyse, plot_report, summary_lines
    from mgbarrier.glass.attention import compare_attention
    from mgbarrier.glass.build import generate, make_plan
    from mgbarrier.glass.datasets import RunCache, load_split, read_manifest
    from mgbarrier.glass.dmpnn import DMPNNConfig
    from mgbarrier.glass.metrics import METRIC_NAMES
    from mgbarrier.glass.train import ClassifierSettings, TrainingInterrupted, load_classifier, score, train_classifier

    a = parse(argv)
    torch.set_num_threads(a.threads)
    data = a.root / "data"
    models = a.root / "models"
    models.mkdir(parents=True, exist_ok=True)
    cmd = "OMP_NUM_THREADS=1 python benchmarks/glass_datasets.py " + " ".join(argv if argv is not None else sys.argv[1:])
    timings = {}

    # 1. cooling runs + datasets
    plan = make_plan(a.preset)
    t0 = time.perf_counter()
    gen = generate(data, plan, jobs=a.jobs, log=log)
    timings["generation_s"] = time.perf_counter() - t0
    timings["runs"] = run_walls(data)
    manifest = read_manifest(data)

    # 2. Tg and the metrics against temperature
    t0 = time.perf_counter()
    rep = analyse(data, k=2, log=log)
    plot_path = a.results.with_suffix(".png")
    plot_report(rep, plot_path)
    # the same regression on two other views, reported next to it: only T <= TG_T_MAX (the
    # window of the Tg fit, leaving out the hot liquid's plateau), and the inherent structures
    views = {"configurations, all T": rep,
             f"configurations, T <= {TG_T_MAX:g}": analyse(data, k=2, t_max=TG_T_MAX),
             "inherent structures, all T": analyse(data, k=2, inherent=True)}
    timings["analysis_s"] = time.perf_counter() - t0

    # 3. one model per dataset
    # inherent structures missing at dataset 6's liquid temperature (only the curve runs quench
    # every record) are quenched once on demand and kept under data/extra_is
    cache = RunCache(data, inherent=a.inherent, quench_missing=a.inherent)
    prefix = "is_d" if a.inherent else "d"
    sets = [d for d in a.datasets.split(",") if d in manifest["datasets"]]
    cfg = DMPNNConfig(k=a.k, hidden=a.hidden, steps=a.steps, window=a.window, ffn_layers=2)
    settings = ClassifierSettings(epochs=a.epochs, batch_size=8, windows_per_config=a.windows_per_config)
    trained = {}
    for ds in sets:
        out = models / f"{prefix}{ds}.pt"
        tr = load_split(data, ds, "train", manifest, cache)
        va = load_split(data, ds, "val", manifest, cache)
        if len({c.label for c in tr}) < 2:
            log(f"dataset {ds}: training split lacks a class; skipped")
            continue
        t0 = time.perf_counter()
        try:
            res = train_classifier(tr, va, cfg, settings, out, models / f"{prefix}{ds}.pt.run",
                                   metadata={"dataset": ds, "benchmark": cmd, "inherent": a.inherent}, log=log)
        except TrainingInterrupted as exc:
            log(f"interrupted; run the same command again to resume ({exc})")
            return 130
        timings[f"train_d{ds}_s"] = time.perf_counter() - t0
        trained[ds] = {"path": out, "best": res["best"], "n_train": len(tr), "n_val": len(va),
                       "wall_s": res["wall_s"]}

    # 4. held-out scores and the transfer matrix
    t0 = time.perf_counter()
    tests = {ds: load_split(data, ds, "test", manifest, cache) for ds in sets}
    baseline = {ds: nn_spread_auc(tests[ds]) for ds in sets if tests[ds]}
    matrix, full = {}, {}
    for i, info in trained.items():
        net, _ = load_classifier(info["path"])
        for j in sets:
            if tests[j]:
                matrix[(i, j)] = score(net, tests[j], n_windows=a.eval_windows)
        if tests[i]:
            full[i] = score(net, tests[i], window=None)
    timings["evaluation_s"] = time.perf_counter() - t0

    # 5. attention on dataset 1's model (the seed's Fig. 9)
    att = None
    if "1" in trained and a.attention:
        net, _ = load_classifier(trained["1"]["path"])
        g = [c for c in tests["1"] if c.label == 1][:a.attention]
        q = [c for c in tests["1"] if c.label == 0][:a.attention]
        if g and q:
            att = compare_attention(net, g, q)

    # 6. report
    counts = manifest["counts"]
    s = plan.slow
    lines = [f"# Liquid or glass: D-MPNN on the 2D Kob-Andersen datasets ({a.preset} preset)", "",
             f"Command: `{cmd}`  ", f"Hardware: {hardware()}  ",
             f"Data: {plan.n_slow} slow + {plan.n_fast} fast cooling runs of {s.n_particles} particles "
             f"(box {s.box_length:.1f} σ, density {s.density}); t_cool {s.t_cool} / {plan.fast.t_cool} steps "
             f"of {s.dt} τ (the seed: 10,000 + 10,000 runs of 4,320 particles, 2e7 / 2e5 steps); "
             f"records every {_grid(plan):g} in T; splits by run 70/15/15.  ",
             f"Model: D-MPNN k {cfg.k}, hidden {cfg.hidden}, T {cfg.steps}, window {cfg.window} σ, "
             f"{settings.epochs} epochs × {settings.windows_per_config} windows per configuration, batch "
             f"{settings.batch_size}, Adam with the seed's warm-up/decay; no hyper-parameter search.", "",
             "Input: " + ("the inherent structures (FIRE minima: no thermal vibration) of the configurations"
                          if a.inherent else "the configurations") + " recorded along the cooling.", "",
             "## Held-out AUC per dataset (test split, one random window per configuration)", "",
             "No-learning baseline: score = minus the relative spread (std / mean) of the nearest-neighbour "
             "distances of a whole configuration (narrower = glass), fixed in advance.", "",
             "| dataset | glass | liquid | train (glass/liquid) | test (glass/liquid) | val AUC (epoch) | "
             "test AUC | test accuracy | AUC whole config | NN-spread baseline AUC | seed AUC |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for ds in sets:
        d = manifest["datasets"][ds]
        c = counts[ds]
        m = matrix.get((ds, ds))
        b = trained.get(ds, {}).get("best", {})
        head = (f"| {ds} | {d['glass']['rate']} T {d['glass']['T']:g} | {d['liquid']['rate']} T {d['liquid']['T']:g} "
                f"| {c['train'][0]}/{c['train'][1]} | {c['test'][0]}/{c['test'][1]} | ")
        if m is None:
            lines.append(head + f"- | - | - | - | {baseline.get(ds, float('nan')):.4f} | {SEED_AUC} |")
            continue
        lines.append(head + f"{b.get('auc', float('nan')):.4f} ({b.get('epoch', '-')}) | {m['auc']:.4f} | "
                     f"{m['accuracy']:.3f} | {full.get(ds, {}).get('auc', float('nan')):.4f} | "
                     f"{baseline.get(ds, float('nan')):.4f} | {SEED_AUC} |")
    lines += ["", "## Transfer matrix (row: trained on, column: tested on; test AUC)", "",
              "| trained on | " + " | ".join(f"d{j}" for j in sets) + " |", "|---" * (len(sets) + 1) + "|"]
    for i in trained:
        lines.append(f"| d{i} | " + " | ".join(f"{matrix[(i, j)]['auc']:.3f}" if (i, j) in matrix else "-"
                                               for j in sets) + " |")
    lines += ["", "## Tg and the structural metrics against temperature", "", f"![figure]({plot_path.name})", ""]
    lines += [f"- {x}" for x in summary_lines(rep)]
    lines.append(f"- the seed: Tg ≈ {SEED_TG['slow']} (t_cool 2e7) and {SEED_TG['fast']} (2e5); "
                 "a3 > 0 with p < 0.05 for all three metrics")
    lines += ["", "Eq. 12 interaction a3 (± standard error; two-sided p) on three views of the slow runs "
              f"(Tg {rep['metrics']['regression'].get('components', {}).get('tg', float('nan')):.3f} from the slow "
              "E_IS fit in every view):", "",
              "| metric | " + " | ".join(views) + " |", "|---" * (len(views) + 1) + "|"]
    for name in METRIC_NAMES:
        cells = []
        for v in views.values():
            r = v["metrics"]["regression"].get(name, {})
            cells.append(f"{r['a'][3]:+.2f} ± {r['se'][3]:.2f}; p {r['p'][3]:.2g}" if "a" in r else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    if manifest.get("dataset6"):
        d6 = manifest["dataset6"]
        le = d6.get("liquid_e_is")
        lines.append(f"- dataset 6: fast glasses E_IS {d6['glass_e_is']:.4f}; slow liquid at T {d6['liquid_t']:g} "
                     f"E_IS {('%.4f' % le) if le is not None else '-'} (the seed: T 0.55, -3.8670 vs -3.8674)")
    if att:
        q = att["weight_percentiles"]
        how = ("the trough of the histogram" if att["bimodal"] else
               "Otsu's split: the histogram of log weights has NO trough (one mode), so 'high' is only its upper part")
        lines += ["", f"## Attention of the dataset 1 model (the seed's Fig. 9): {att['n_glass']} glass and "
                  f"{att['n_liquid']} liquid test windows, threshold {att['threshold']:.3g} "
                  f"({att['fraction_high']:.0%} of edges high; {how})", "",
                  f"Normalised weights (mean 1): 1st / 50th / 99th percentile {q['1']:.3f} / {q['50']:.3f} / "
                  f"{q['99']:.3f}.", "",
                  "| count | glass mean | liquid mean | p (liquid > glass, Mann-Whitney) |", "|---|---|---|---|"]
        for n in ("components", "bb_edges", "isolated_a", "isolated_b"):
            r = att[n]
            lines.append(f"| {n} | {r['glass_mean']:.2f} | {r['liquid_mean']:.2f} | "
                         f"{r.get('p_mannwhitney', float('nan')):.2g} |")
    lines += ["", "## Timings", ""]
    rw = timings["runs"]
    lines.append(f"- generation (this invocation): {timings['generation_s']:.0f} s for {gen['made']} new run(s) with "
                 f"{a.jobs} job(s)")
    for rate in ("slow", "fast"):
        r = rw[rate]
        if r["n"]:
            lines.append(f"- {rate} runs (all {r['n']}, as recorded in the run files): {r['total_s']:.0f} core-s, "
                         f"{r['mean_s']:.1f} s per run ({r['curve_mean_s']:.1f} s per curve run quenched at every "
                         f"record, {r['other_mean_s']:.1f} s per other run)")
    for ds in trained:
        lines.append(f"- training d{ds}: {trained[ds]['wall_s']:.0f} s in all ({trained[ds]['n_train']} configurations)")
    lines.append(f"- analysis {timings['analysis_s']:.0f} s, evaluation {timings['evaluation_s']:.0f} s")
    text = "\n".join(lines) + "\n"
    a.results.parent.mkdir(parents=True, exist_ok=True)
    from mgbarrier.io.files import atomic_write

    atomic_write(a.results, lambda tmp: Path(tmp).write_text(text))
    js = {"command": cmd, "preset": a.preset, "timings": timings, "analysis": rep, "attention": att,
          "eq12_views": {k: v["metrics"]["regression"] for k, v in views.items()},
          "matrix": {f"{i}->{j}": v for (i, j), v in matrix.items()}, "whole": full, "baseline": baseline,
          "inherent": a.inherent,
          "trained": {k: {kk: (str(vv) if kk == "path" else vv) for kk, vv in v.items()} for k, v in trained.items()}}
    atomic_write(a.results.with_suffix(".json"), lambda tmp: Path(tmp).write_text(json.dumps(js, indent=1)))
    print(text)
    print(f"wrote {a.results}, {a.results.with_suffix('.json')}, {plot_path}")
    return 0


def nn_spread_auc(configs) -> float:
    """AUC of a no-learning score: minus the relative spread (std / mean) of every particle's
    nearest-neighbour distance in the whole configuration (periodic)."""
    from scipy.spatial import cKDTree

    from mgbarrier.glass.train import roc_auc

    scores = []
    for c in configs:
        pos = np.mod(np.asarray(c.positions, dtype=float), c.box)
        d, _ = cKDTree(pos, boxsize=c.box).query(pos, k=2)
        scores.append(-float(d[:, 1].std() / d[:, 1].mean()))
    return roc_auc([c.label for c in configs], scores)


def run_walls(data: Path) -> dict:
    """Wall seconds of every run file, per rate, split into curve runs (E_IS everywhere) and others."""
    out = {}
    for rate in ("slow", "fast"):
        curve, other = [], []
        for p in sorted((data / "sims" / rate).glob("seed_*.npz")):
            with np.load(p, allow_pickle=False) as z:
                (curve if np.isfinite(z["e_is"]).all() else other).append(float(z["wall_s"]))
        both = curve + other
        nan = float("nan")
        out[rate] = {"n": len(both), "total_s": float(sum(both)), "mean_s": float(np.mean(both)) if both else nan,
                     "curve_mean_s": float(np.mean(curve)) if curve else nan,
                     "other_mean_s": float(np.mean(other)) if other else nan}
    return out


def _grid(plan) -> float:  # noqa: N802
    t = sorted(plan.slow.record_temperatures)
    d = np.diff(t)
    return float(np.median(d)) if len(d) else float("nan")


if __name__ == "__main__":
    sys.exit(main())
