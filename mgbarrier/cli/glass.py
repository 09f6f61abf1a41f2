"""``mgbarrier glass-*`` sub-commands (registered by :func:`register`).

=================  ===========================================================================
 glass-metrics      the three structural metrics of any structure file (2D or 3D)
 glass-data         LAMMPS cooling runs of the 2D Kob-Andersen mixture + datasets 1-6 (resumable)
 glass-tg           Tg from E_IS(T); the metrics against T with the Eq. 12 regression; plot
 glass-train        train the D-MPNN classifier on one dataset (resumable, Ctrl-C safe)
 glass-eval         AUC / accuracy of models on the held-out splits; transfer matrix; attention
 glass-predict      classify structure files; per-atom local glassiness
 glass-export       configurations of a data folder as extxyz (for OVITO, glass-metrics, ...)
=================  ===========================================================================

Imports are deferred so that ``mgbarrier --help`` stays fast.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import List, Optional

from ..errors import MgBarrierError
from .common import (
    frames_spec,
    log,
    nonnegative_int,
    output_path,
    parse_frames,
    positive_float,
    positive_int,
    species_spec,
    unit_interval,
)


def register(sub) -> None:
    """Add the glass sub-commands to the ``mgbarrier`` parser's sub-parsers."""
    # ---------------------------------------------------------------- glass-metrics
    p = sub.add_parser("glass-metrics", help="disjoint graphs, B-B edges and isolated A of structure files",
                       description="Joins every B particle to its k (default 2) nearest neighbours and counts "
                                   "the connected components with an edge, the B-B edges and the A particles "
                                   "with no edge (the seed's three metrics; liquids have more of each). B is "
                                   "the minority species unless --species-b.")
    p.add_argument("files", nargs="+", metavar="FILE", help="structure files (extxyz, LAMMPS data/dump, ...)")
    p.add_argument("--species-b", default=None, help="species in the B role (default: the minority species)")
    p.add_argument("--k", type=positive_int, default=2,
                   help="nearest neighbours per B particle (default 2, the seed's)")
    p.add_argument("--species", type=species_spec, default=None, help="LAMMPS type -> element, e.g. 1=Cu,2=Zr")
    p.add_argument("--frames", type=frames_spec, default=None, help="START:STOP:STEP of each file's frames")
    p.add_argument("-o", "--output", default=None, help="CSV file (default: a table on stdout)")
    p.add_argument("-q", "--quiet", action="store_true", help="no table on stdout when -o is given")
    p.set_defaults(func=cmd_metrics)

    # ---------------------------------------------------------------- glass-data
    from ..glass.build import PRESETS

    p = sub.add_parser("glass-data", help="2D Kob-Andersen cooling runs (LAMMPS) and the six datasets",
                       description="Runs linear NVT coolings of the 2D Kob-Andersen mixture from T 2.0 to 0.05 "
                                   "at two rates (fast = slow / 100), records configurations on a temperature "
                                   "grid, FIRE-quenches them to inherent structures, and writes datasets.json "
                                   "(datasets 1-6 of the seed). Resumable: missing runs are made.")
    p.add_argument("-o", "--output", required=True, help="data folder")
    p.add_argument("--preset", choices=list(PRESETS), default="hour",
                   help="sizes (default hour: 1,080 particles, 120 + 120 runs, t_cool 1e5 / 1e4)")
    p.add_argument("--n-particles", type=positive_int, default=None,
                   help="particles per configuration (default: the preset's)")
    p.add_argument("--t-cool", type=positive_int, default=None, help="slow ramp in MD steps of 0.005 τ")
    p.add_argument("--t-cool-fast", type=positive_int, default=None, help="fast ramp (default t-cool / 100)")
    p.add_argument("--t-equil", type=nonnegative_int, default=None, help="steps at T = 2.0 before the ramp")
    p.add_argument("--n-slow", type=nonnegative_int, default=None, help="slow runs")
    p.add_argument("--n-fast", type=nonnegative_int, default=None, help="fast runs")
    p.add_argument("--n-curve", type=nonnegative_int, default=None,
                   help="runs per rate quenched at every recorded T (E_IS curve and Tg)")
    p.add_argument("--grid", type=positive_float, default=None, help="temperature spacing of the records")
    p.add_argument("--seed", type=int, default=1, help="first LAMMPS seed (default 1)")
    p.add_argument("--jobs", type=positive_int, default=1, help="runs at once, each single-process LAMMPS (default 1)")
    p.add_argument("-v", "--verbose", action="store_true", help="a line per recorded temperature")
    p.set_defaults(func=cmd_data)

    # ---------------------------------------------------------------- glass-tg
    p = sub.add_parser("glass-tg", help="Tg from E_IS(T), and the metrics against T with the Eq. 12 regression")
    p.add_argument("data", help="data folder made by glass-data")
    p.add_argument("-o", "--output", default=None, help="JSON report")
    p.add_argument("--plot", default=None, help="figure (PNG)")
    p.add_argument("--k", type=positive_int, default=2, help="nearest neighbours per B particle (default 2)")
    p.add_argument("--tg-t-max", type=positive_float, default=1.0,
                   help="temperatures <= this in the Tg fits (default 1.0: the supercooled liquid; 0 = all)")
    p.add_argument("--t-max", type=positive_float, default=None, help="temperatures <= this in the Eq. 12 regressions")
    p.add_argument("--inherent", action="store_true", help="metrics on the inherent structures")
    p.set_defaults(func=cmd_tg)

    # ---------------------------------------------------------------- glass-train
    p = sub.add_parser("glass-train", help="train the D-MPNN liquid/glass classifier on one dataset")
    p.add_argument("data", help="data folder made by glass-data")
    p.add_argument("--dataset", required=True, help="1-6")
    p.add_argument("-o", "--output", required=True, help="model file")
    p.add_argument("--run-dir", default=None, help="resumable state (default: OUTPUT.run/)")
    p.add_argument("--epochs", type=positive_int, default=20,
                   help="(default 20; the seed: 10 over 16,000 configurations)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="windows per optimiser step")
    p.add_argument("--windows-per-config", type=positive_int, default=8,
                   help="random windows per configuration per epoch (default 8)")
    p.add_argument("--k", type=positive_int, default=3, help="nearest neighbours (seed range 1-5)")
    p.add_argument("--hidden", type=positive_int, default=128, help="hidden size (default 128; seed range 300-2400)")
    p.add_argument("--steps", type=positive_int, default=3, help="message-passing steps T (seed range 2-6)")
    p.add_argument("--dropout", type=unit_interval, default=0.0, help="dropout probability in [0, 1)")
    p.add_argument("--ffn-layers", type=positive_int, default=2, help="(seed range 1-3)")
    p.add_argument("--window", default="12", help="window side in σ (seed: 0.2 × 60 = 12), or 'none'")
    p.add_argument("--node-features", choices=["type", "type+pos"], default="type",
                   help="node input: particle type, or type and position in the window")
    p.add_argument("--n-rbf", type=nonnegative_int, default=16, help="Gaussians for the distance (0: raw distance)")
    p.add_argument("--attention-scale", choices=["mean", "softmax"], default="mean",
                   help="normalisation of the attention weights over neighbours")
    p.add_argument("--readout", choices=["sum", "mean"], default="sum", help="pooling of node states into the graph's")
    p.add_argument("--no-attention", action="store_true", help="plain message passing without attention")
    p.add_argument("--lr-max", type=positive_float, default=1e-3, help="peak learning rate")
    p.add_argument("--inherent", action="store_true", help="train on the inherent structures")
    p.add_argument("--limit", type=positive_int, default=None, help="at most this many training configurations")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, windows and batches")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's choice)")
    p.set_defaults(func=cmd_train)

    # ---------------------------------------------------------------- glass-eval
    p = sub.add_parser("glass-eval", help="AUC and accuracy of classifiers on held-out data; transfer matrix")
    p.add_argument("data", help="data folder made by glass-data")
    p.add_argument("--model", nargs="+", required=True, help="model files (trained dataset read from each)")
    p.add_argument("--datasets", default=None, help="comma list (default: all in the manifest)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"],
                   help="which part of each dataset to score")
    p.add_argument("--windows", type=positive_int, default=1,
                   help="random windows averaged per configuration (default 1)")
    p.add_argument("--full", action="store_true", help="also score whole periodic configurations")
    p.add_argument("--attention", type=nonnegative_int, default=0, metavar="N",
                   help="high-attention graph counts on N glass and N liquid configurations of each model's dataset")
    p.add_argument("--attention-plot", default=None, help="folder for Fig. 8-like PNGs of one glass and one liquid")
    p.add_argument("-o", "--output", default=None, help="JSON report")
    p.set_defaults(func=cmd_eval)

    # ---------------------------------------------------------------- glass-predict
    p = sub.add_parser("glass-predict", help="classify structures as liquid or glass; per-atom glassiness")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--model", required=True, help="classifier model file (from glass-train)")
    p.add_argument("--species-b", default=None, help="species in the B role (default: the minority species)")
    p.add_argument("--species", type=species_spec, default=None, help="LAMMPS type -> element, e.g. 1=Ni,2=P")
    p.add_argument("--frames", type=frames_spec, default=None, help="START:STOP:STEP")
    p.add_argument("--windows", type=positive_int, default=8, help="random windows averaged per frame (default 8)")
    p.add_argument("--per-atom", action="store_true", help="window centred on every atom -> 'glassiness'")
    p.add_argument("-o", "--output", default=None,
                   help="with --per-atom: extxyz with per-atom 'glassiness'; else a CSV (default: stdout)")
    p.set_defaults(func=cmd_predict)

    # ---------------------------------------------------------------- glass-export
    p = sub.add_parser("glass-export", help="configurations of a data folder as extxyz")
    p.add_argument("data")
    p.add_argument("-o", "--output", required=True, help="extxyz file")
    p.add_argument("--rate", choices=["slow", "fast"], default="slow", help="cooling rate of the configurations")
    p.add_argument("--temperature", type=float, action="append", default=None,
                   help="recorded temperature(s) to export (repeatable; default all)")
    p.add_argument("--limit", type=int, default=None, help="at most this many runs")
    p.add_argument("--inherent", action="store_true", help="the inherent structures")
    p.set_defaults(func=cmd_export)


# ----------------------------------------------------------------------------- helpers
def _iter_atoms(files, species, frames):
    from ..io.species import parse_species_map
    from ..io.structures import iread_structures

    smap = parse_species_map(species)
    for f in files:
        for k, atoms in enumerate(iread_structures(f, species_map=smap, frames=parse_frames(frames))):
            yield f, k, atoms


def _write_text(path, text: str) -> None:
    from ..io.files import atomic_write

    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def _check_output(path: Optional[str], inputs: List[str]) -> None:
    if path is not None:
        output_path(path, inputs)


# ----------------------------------------------------------------------------- commands
def cmd_metrics(args) -> int:
    from ..glass.metrics import atoms_metrics

    _check_output(args.output, args.files)
    if args.k < 1:
        raise MgBarrierError(f"--k: need at least 1 neighbour, got {args.k}")
    cols = ["file", "frame", "n_particles", "species_b", "n_b", "components", "bb_edges", "isolated_a",
            "components_per_particle", "bb_edges_per_particle", "isolated_a_per_particle"]
    rows = []
    for f, k, atoms in _iter_atoms(args.files, args.species, args.frames):
        src = f"{f}[{k}]" if k else str(f)
        m, _, _, b = atoms_metrics(atoms, args.species_b, args.k, src)
        d = m.as_dict()
        rows.append([str(f), k, m.n_particles, b, m.n_b, m.components, m.bb_edges, m.isolated_a,
                     f"{d['components_per_particle']:.6f}", f"{d['bb_edges_per_particle']:.6f}",
                     f"{d['isolated_a_per_particle']:.6f}"])
    csv = "\n".join(",".join(str(v) for v in r) for r in [cols] + rows) + "\n"
    if args.output:
        _write_text(args.output, csv)
    if not (args.output and args.quiet):
        w = max(len(r[0]) for r in rows + [["file"]])
        print(f"{'file':<{w}} {'frame':>5} {'N':>7} {'B':>3} {'components':>10} {'B-B edges':>9} {'isolated A':>10}")
        for r in rows:
            print(f"{r[0]:<{w}} {r[1]:>5} {r[2]:>7} {r[3]:>3} {r[5]:>10} {r[6]:>9} {r[7]:>10}")
        if args.output:
            print(f"wrote {args.output}: {len(rows)} row(s)")
    return 0


def cmd_data(args) -> int:
    from ..glass.build import generate, make_plan

    if args.jobs < 1:
        raise MgBarrierError(f"--jobs: need at least 1, got {args.jobs}")
    plan = make_plan(args.preset, n_particles=args.n_particles, t_cool=args.t_cool, t_cool_fast=args.t_cool_fast,
                     n_slow=args.n_slow, n_fast=args.n_fast, n_curve=args.n_curve, grid=args.grid,
                     t_equil=args.t_equil, seed=args.seed)
    out = generate(Path(args.output), plan, jobs=args.jobs, log=log, verbose=args.verbose)
    print(f"wrote {Path(args.output) / 'datasets.json'}: {out['made']} new run(s) in {out['wall_s']:.0f} s")
    return 0


def cmd_tg(args) -> int:
    from ..glass.analysis import analyse, plot_report, summary_lines

    for o in (args.output, args.plot):
        _check_output(o, [])
    rep = analyse(args.data, k=args.k, tg_t_max=args.tg_t_max or None, t_max=args.t_max, inherent=args.inherent,
                  log=log)
    for line in summary_lines(rep):
        print(line)
    if args.output:
        _write_text(args.output, json.dumps(rep, indent=1))
        print(f"wrote {args.output}")
    if args.plot:
        plot_report(rep, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _parse_window(text: str):
    if str(text).lower() in ("none", "full", "0"):
        return None
    try:
        w = float(text)
    except ValueError:
        raise MgBarrierError(f"--window: a length in σ or 'none', got {text!r}") from None
    if not w > 0:
        raise MgBarrierError(f"--window: must be > 0, got {text}")
    return w


def cmd_train(args) -> int:
    from ..glass.datasets import RunCache, load_split, read_manifest
    from ..glass.dmpnn import DMPNNConfig
    from ..glass.train import ClassifierSettings, TrainingInterrupted, train_classifier

    _check_output(args.output, [])
    manifest = read_manifest(args.data)
    cache = RunCache(args.data, inherent=args.inherent)
    train_set = load_split(args.data, args.dataset, "train", manifest, cache, limit=args.limit)
    val_set = load_split(args.data, args.dataset, "val", manifest, cache)
    if not val_set:
        log(f"glass-train: dataset {args.dataset} has no validation configurations; the last epoch is kept")
    cfg = DMPNNConfig(k=args.k, hidden=args.hidden, steps=args.steps, dropout=args.dropout,
                      ffn_layers=args.ffn_layers, window=_parse_window(args.window), dim=2,
                      node_features=args.node_features, n_rbf=args.n_rbf, attention=not args.no_attention,
                      attention_scale=args.attention_scale, readout=args.readout)
    settings = ClassifierSettings(epochs=args.epochs, batch_size=args.batch_size, lr_max=args.lr_max,
                             windows_per_config=args.windows_per_config, seed=args.seed)
    ds = manifest["datasets"][str(args.dataset)]
    meta = {"dataset": str(args.dataset), "data_dir": str(Path(args.data).resolve()), "inherent": args.inherent,
            "glass": ds["glass"], "liquid": ds["liquid"], "n_train": len(train_set), "n_val": len(val_set),
            "command": "mgbarrier " + " ".join(sys.argv[1:]), "length_unit": "sigma_AA",
            "species_roles": {"A": "Ni", "B": "P"}}
    try:
        out = train_classifier(train_set, val_set, cfg, settings, args.output, args.run_dir, meta, log=log,
                               threads=args.threads)
    except TrainingInterrupted as exc:
        print(f"mgbarrier: interrupted; run the same command again to resume ({exc})", file=sys.stderr)
        return 130
    b = out["best"]
    print(f"wrote {args.output}: dataset {args.dataset}, best validation AUC {b['auc']:.4f} "
          f"(accuracy {b['accuracy']:.3f}) at epoch {b['epoch']} ({out['wall_s']:.0f} s)")
    return 0


def cmd_eval(args) -> int:
    import numpy as np

    from ..glass.datasets import RunCache, load_split, read_manifest
    from ..glass.train import load_classifier, score

    _check_output(args.output, [])
    manifest = read_manifest(args.data)
    sets = args.datasets.split(",") if args.datasets else sorted(manifest["datasets"], key=int)
    models = []
    for m in args.model:
        net, meta = load_classifier(m)
        models.append((m, net, meta))
    caches = {}
    data = {}

    def configs(ds, inherent, split=args.split):
        key = (ds, inherent, split)
        if key not in data:
            cache = caches.setdefault(inherent, RunCache(args.data, inherent=inherent))
            data[key] = load_split(args.data, ds, split, manifest, cache)
        return data[key]

    report = {"data": str(args.data), "split": args.split, "windows": args.windows, "models": []}
    t0 = time.perf_counter()
    for path, net, meta in models:
        inh = bool(meta.get("inherent", False))
        rec = {"model": str(path), "trained_on": meta.get("dataset"), "window": net.cfg.window, "scores": {}}
        for ds in sets:
            cf = configs(ds, inh)
            if not cf:
                continue
            s = score(net, cf, n_windows=args.windows)
            if args.full:
                f = score(net, cf, window=None)
                s.update(auc_full=f["auc"], accuracy_full=f["accuracy"])
            rec["scores"][ds] = s
        if args.attention and meta.get("dataset") and net.cfg.attention:
            from ..glass.attention import compare_attention, plot_window_attention, window_attention

            cf = configs(meta["dataset"], inh)
            g = [c for c in cf if c.label == 1][:args.attention]
            q = [c for c in cf if c.label == 0][:args.attention]
            rec["attention"] = compare_attention(net, g, q)
            if args.attention_plot and g and q:
                folder = Path(args.attention_plot)
                folder.mkdir(parents=True, exist_ok=True)
                rng = np.random.default_rng(0)
                thr = rec["attention"]["threshold"]
                for name, c in (("glass", g[0]), ("liquid", q[0])):
                    plot_window_attention(window_attention(net, c, rng=rng), thr,
                                          folder / f"attention_d{meta['dataset']}_{name}.png")
        report["models"].append(rec)
    report["seconds"] = time.perf_counter() - t0
    # the table: rows = models (trained on), columns = datasets
    print(f"AUC on the {args.split} split ({args.windows} window(s) per configuration; n = configurations):")
    print(f"{'model (trained on)':<36}" + "".join(f"{'dataset ' + ds:>19}" for ds in sets))
    for rec in report["models"]:
        name = f"{Path(rec['model']).name} ({rec['trained_on']})"
        cells = []
        for ds in sets:
            s = rec["scores"].get(ds)
            cells.append(f"{s['auc']:.4f}/{s['accuracy']:.2f} ({s['n']})" if s else "-")
        print(f"{name:<36}" + "".join(f"{c:>19}" for c in cells))
        if args.full:
            print(f"{'  whole configurations':<36}" + "".join(
                f"{rec['scores'][ds]['auc_full']:>19.4f}" if ds in rec["scores"] else f"{'-':>19}" for ds in sets))
        att = rec.get("attention")
        if att:
            how = {True: "histogram trough", False: "no trough in the histogram: Otsu's split", None: "given"}
            print(f"  attention (threshold {att['threshold']:.3g}, {how[att.get('bimodal')]}, "
                  f"{att['fraction_high']:.0%} edges high): " + ", ".join(
                f"{n} glass {att[n]['glass_mean']:.2f} liquid {att[n]['liquid_mean']:.2f}"
                + (f" (p {att[n]['p_mannwhitney']:.1g})" if "p_mannwhitney" in att[n] else "")
                for n in ("components", "bb_edges", "isolated_a", "isolated_b")))
    print("cells: AUC/accuracy (configurations)")
    if args.output:
        _write_text(args.output, json.dumps(report, indent=1))
        print(f"wrote {args.output}")
    return 0


def cmd_predict(args) -> int:
    import numpy as np

    from ..glass.datasets import config_from_atoms
    from ..glass.train import load_classifier, predict_proba

    _check_output(args.output, args.files)
    net, meta = load_classifier(args.model)
    if args.per_atom and not args.output:
        raise MgBarrierError("--per-atom needs -o OUT.extxyz")
    frames_out, arrays_out, lines = [], [], ["file,frame,n_particles,p_glass,label"]
    for f, k, atoms in _iter_atoms(args.files, args.species, args.frames):
        src = f"{f}[{k}]" if k else str(f)
        conf = config_from_atoms(atoms, args.species_b, src)
        if conf.dim != net.cfg.dim:
            raise MgBarrierError(f"{src}: {conf.dim}D structure, but the model is {net.cfg.dim}D")
        p = float(predict_proba(net, [conf], n_windows=args.windows)[0])
        lines.append(f"{f},{k},{conf.n},{p:.6f},{'glass' if p > 0.5 else 'liquid'}")
        if args.per_atom:
            from ..glass.local import local_glassiness

            g = local_glassiness(net, conf)
            atoms = atoms.copy()
            atoms.info["p_glass"] = p
            frames_out.append(atoms)
            arrays_out.append({"glassiness": g})
            log(f"{src}: P(glass) {p:.4f}; glassiness mean {np.nanmean(g):.3f}, range "
                f"{np.nanmin(g):.3f}-{np.nanmax(g):.3f}")
    text = "\n".join(lines) + "\n"
    if args.per_atom:
        from ..io.writers import write_structures

        write_structures(args.output, frames_out, "extxyz", arrays=arrays_out)
        print(f"wrote {args.output}: {len(frames_out)} frame(s) with per-atom 'glassiness'")
    elif args.output:
        _write_text(args.output, text)
        print(f"wrote {args.output}: {len(lines) - 1} row(s)")
    else:
        sys.stdout.write(text)
    return 0


def cmd_export(args) -> int:
    import ase.io
    import numpy as np

    from ..glass.datasets import list_runs, run_to_atoms
    from ..glass.kob_andersen import load_run
    from ..io.files import atomic_write

    _check_output(args.output, [])
    paths = list_runs(args.data, args.rate)
    if not paths:
        raise MgBarrierError(f"{args.data}: no {args.rate} runs under sims/{args.rate}")
    frames = []
    for p in paths[:args.limit] if args.limit else paths:
        run = load_run(p)
        for r, t in enumerate(run.temperatures):
            if args.temperature and not np.any(np.isclose(t, args.temperature, atol=1e-6)):
                continue
            if args.inherent and not np.isfinite(run.e_is[r]):
                continue
            frames.append(run_to_atoms(run, r, inherent=args.inherent))
    if not frames:
        raise MgBarrierError(f"{args.data}: no recorded configuration at T = {args.temperature}")
    atomic_write(args.output, lambda tmp: ase.io.write(str(tmp), frames, format="extxyz"))
    print(f"wrote {args.output}: {len(frames)} configuration(s) (A = Ni, B = P, σ units)")
    return 0
