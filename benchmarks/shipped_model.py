"""Train, select and score the shipped Cu64Zr36 models (SymGNN, and SymGNN + descriptor ensemble).

Protocol (test0/test1 are never used for a choice):
  1. train SymGNN on train0-5 (``mgbarrier.training.train``; resumable run directory),
     keeping the epoch with the best train6 Pearson (EMA weights);
  2. refit its output layer by least squares on the pooled training atoms, alpha chosen by
     leave-one-structure-out CV over the training glasses (train0 and train1 are the same
     glass: one group); keep the refit if its train6 Pearson is not lower by more than 0.005
     (train6 alone cannot judge the per-structure means the refit is for);
  3. weights of the ensemble of the shipped SymGNN variants and the descriptor model,
     on a 0.05 simplex grid, chosen on train6 Pearson;
  4. the default model is the best on train6 among the SymGNN variants and the ensemble;
  5. test0, test1 and pooled Pearson are computed once, for the report and the model cards.

Writes ``mgbarrier/weights/cu64zr36_symgnn[_soap].pt``, ``cu64zr36_ensemble.pt``, ``default.json``
and ``benchmarks/results/shipped_models.md``; prints the report.

    OMP_NUM_THREADS=2 python benchmarks/shipped_model.py --variants species:300 soap:120
    OMP_NUM_THREADS=2 python benchmarks/shipped_model.py --no-train --variants species   # current best
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from descriptor_model import DEFAULT_DATA, hardware  # noqa: E402

WEIGHTS = REPO / "mgbarrier" / "weights"
GROUPS = {"train0": "train0/1", "train1": "train0/1", "train2": "train2", "train3": "train3", "train4": "train4",
          "train5": "train5"}


VARIANTS = {  # name -> (node features, shipped file, description)
    "species": ("species", "cu64zr36_symgnn.pt", "SymGNN (Sym module with learned von Mises transforms + 4 EGAT "
                "layers; species as atom input, as in the paper)"),
    "soap": ("soap", "cu64zr36_symgnn_soap.pt", "SymGNN with the SOAP power spectrum (r_cut 6 Å, n_max 6, l_max 6) "
             "added to the species as atom input"),
}
NAMES = {"species": "cu64zr36-symgnn", "soap": "cu64zr36-symgnn-soap"}
FILES = {**{NAMES[k]: v[1] for k, v in VARIANTS.items()}, "cu64zr36-descriptor": "cu64zr36_descriptor.pt"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--variants", nargs="+", default=["species:300"],
                    help="SymGNN variants to ship as NAME:EPOCHS, NAME in species, soap")
    ap.add_argument("--run-root", type=Path, default=REPO / "runs")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-train", action="store_true", help="use each run directory's current best model as is")
    ap.add_argument("--weights", type=Path, default=WEIGHTS)
    ap.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "shipped_models.md")
    args = ap.parse_args(argv)
    command = "OMP_NUM_THREADS=%s python benchmarks/shipped_model.py %s" % (
        os.environ.get("OMP_NUM_THREADS", "2"), " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)))

    import torch

    from mgbarrier import __version__, load_model
    from mgbarrier.graphs.inputs import soap_dimension
    from mgbarrier.io.files import atomic_write, file_sha256
    from mgbarrier.io.symgnn_pickle import read_symgnn_pickle
    from mgbarrier.metrics import pearson, rmse
    from mgbarrier.models.checkpoint import load_checkpoint, save_checkpoint
    from mgbarrier.nn.symgnn import SymGNNConfig
    from mgbarrier.training.ensemble import choose_weights, ensemble_checkpoint
    from mgbarrier.training.refit import refit_output_layer
    from mgbarrier.training.symgnn import TrainSettings, make_labelled_graph, train

    names = [f"train{k}" for k in range(7)] + ["test0", "test1"]
    files = {n: args.data / f"{n}.pickle" for n in names}
    for p in files.values():
        if not p.exists():
            print(f"shipped_model: error: {p}: dataset file not found", file=sys.stderr)
            return 2
    atoms = {n: read_symgnn_pickle(p) for n, p in files.items()}
    labels = {n: a.arrays["barrier"] for n, a in atoms.items()}
    train_names = [f"train{k}" for k in range(6)]
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    protocol = ("trained on train0-5; epoch selected on train6 Pearson; output layer refit on pooled train0-5 "
                "(alpha by leave-one-glass-out CV) kept if train6 Pearson drops < 0.005; test0/test1 scored once")
    t_start = time.perf_counter()

    shipped, reports = {}, {}
    for spec in args.variants:
        variant, _, epochs = spec.partition(":")
        if variant not in VARIANTS:
            print(f"shipped_model: error: unknown variant {variant!r}", file=sys.stderr)
            return 2
        node_features, fname, description = VARIANTS[variant]
        cfg = SymGNNConfig(node_features=node_features)
        if node_features == "soap":
            cfg.node_feature_dim = soap_dimension(cfg.species, cfg.soap)
        raw = args.run_root / ("symgnn_v1" if variant == "species" else f"symgnn_{variant}") / "model.pt"
        train_set = [make_labelled_graph(atoms[n], cfg, f"{n}.pickle") for n in train_names]
        val_set = [make_labelled_graph(atoms["train6"], cfg, "train6.pickle")]
        # 1. train (resumes from RAW.run/state.pt, the CLI's default run directory)
        if not args.no_train:
            n_ep = int(epochs or 300)
            settings = TrainSettings(epochs=n_ep, lr=args.lr, seed=args.seed, threads=args.threads,
                                     warmup_epochs=min(5, max(1, n_ep // 10)))
            meta = {"training": {"data": [{"file": str(files[n]), "role": "train", "sha256": file_sha256(files[n])}
                                          for n in train_names]
                                 + [{"file": str(files["train6"]), "role": "validation",
                                     "sha256": file_sha256(files["train6"])}]}}
            train(train_set, val_set, cfg, settings, raw, raw.with_suffix(".run"), metadata=meta)
        if not raw.exists():
            print(f"shipped_model: error: {raw}: no trained model (run without --no-train)", file=sys.stderr)
            return 2
        sym = load_model(raw)
        ck = load_checkpoint(raw)
        # 2. output-layer refit on pooled training atoms, alpha by grouped CV
        val_before = pearson(sym.predict_graph(val_set[0].graph), labels["train6"])
        refit_net = copy.deepcopy(sym.net)
        rep = refit_output_layer(refit_net, [lg.graph for lg in train_set], [labels[n] for n in train_names],
                                 [GROUPS[n] for n in train_names], sym.label_mean, sym.label_std)
        with torch.no_grad():
            p_refit = refit_net(val_set[0].graph).double().numpy() * sym.label_std + sym.label_mean
        val_refit = pearson(p_refit, labels["train6"])
        use_refit = val_refit >= val_before - 0.005
        state = {k: v.clone() for k, v in (refit_net if use_refit else sym.net).state_dict().items()}
        meta = copy.deepcopy(ck["metadata"])
        meta.update({"description": description, "mgbarrier_version": __version__, "created": created})
        tr = meta.setdefault("training", {})
        if "command" in tr:
            tr["train_command"] = tr["command"]  # the last `mgbarrier train` call of the run (history has all epochs)
        tr.update({"protocol": protocol, "command": command,
                   "refit": {**rep, "used": bool(use_refit), "train6_before": val_before, "train6_after": val_refit}})
        ship = {"kind": "symgnn", "config": ck["config"], "label_mean": ck["label_mean"],
                "label_std": ck["label_std"], "state_dict": state, "metadata": meta}
        save_checkpoint(args.weights / fname, ship)
        shipped[NAMES[variant]] = ship
        reports[NAMES[variant]] = {"train": ck["metadata"].get("training", {}), "refit": rep,
                                   "before": val_before, "after": val_refit, "used": use_refit}

    # 3. ensemble weights (simplex grid, step 0.05) on train6
    members = dict(shipped)
    members["cu64zr36-descriptor"] = load_checkpoint(args.weights / FILES["cu64zr36-descriptor"])
    models = {n: load_model(args.weights / FILES[n]) for n in members}
    val_pred = {n: m.predict(atoms["train6"]) for n, m in models.items()}
    order = list(members)
    chosen = choose_weights([val_pred[n] for n in order], labels["train6"])
    grid, w_best = chosen["grid"], chosen["weights"]
    val_scores = {n: pearson(val_pred[n], labels["train6"]) for n in order}
    val_scores["cu64zr36-ensemble"] = grid[w_best]
    candidates = [n for n in val_scores if n != "cu64zr36-descriptor"]
    default = max(candidates, key=lambda n: val_scores[n])

    # 4. the one final evaluation on test
    test_pred = {n: {t: m.predict(atoms[t]) for t in ("test0", "test1")} for n, m in models.items()}
    test_pred["cu64zr36-ensemble"] = {t: sum(w * test_pred[n][t] for w, n in zip(w_best, order))
                                      for t in ("test0", "test1")}

    def scores(p):
        return {"test0_pearson": pearson(p["test0"], labels["test0"]), "test1_pearson": pearson(p["test1"], labels["test1"]),
                "test_pooled_pearson": pearson(np.concatenate([p["test0"], p["test1"]]),
                                               np.concatenate([labels["test0"], labels["test1"]])),
                "test0_rmse_eV": rmse(p["test0"], labels["test0"]), "test1_rmse_eV": rmse(p["test1"], labels["test1"])}

    metrics = {n: {**scores(p), "train6_pearson": val_scores[n]} for n, p in test_pred.items()}
    # report only: does the spread of the ensemble members flag the atoms it gets wrong?
    spread, error = [], []
    for t in ("test0", "test1"):
        members_t = np.stack([test_pred[n][t] for w, n in zip(w_best, order) if w > 0])
        spread.append(members_t.std(axis=0))
        error.append(np.abs(test_pred["cu64zr36-ensemble"][t] - labels[t]))
    spread_corr = pearson(np.concatenate(spread), np.concatenate(error)) if len(members_t) > 1 else float("nan")
    timing = {}
    for n in shipped:
        t0 = time.perf_counter()
        models[n].predict(atoms["test0"])
        timing[n] = time.perf_counter() - t0
    for n, ship in shipped.items():
        ship["metadata"]["metrics"] = {**ship["metadata"].get("metrics", {}), **metrics[n]}
        save_checkpoint(args.weights / FILES[n], ship)
    mix = " + ".join(f"{w:.2f} x {n}" for w, n in zip(w_best, order) if w > 0)
    ens_meta = {"description": f"{mix} (weights chosen on train6)", "mgbarrier_version": __version__,
                "created": created, "metrics": metrics["cu64zr36-ensemble"],
                "training": {"protocol": "members as shipped; weights by train6 Pearson on a 0.05 simplex grid",
                             "command": command}}
    kept = [(w, members[n]) for w, n in zip(w_best, order) if w > 0]
    save_checkpoint(args.weights / "cu64zr36_ensemble.pt",
                    ensemble_checkpoint([m for _, m in kept], [w for w, _ in kept], ens_meta))
    atomic_write(args.weights / "default.json",
                 lambda tmp: Path(tmp).write_text(json.dumps({"default": default}) + "\n"))

    lines = ["# Shipped Cu64Zr36 models", "",
             "Trained on train0-5, every choice on train6 (or leave-one-glass-out CV over train0-5); "
             "test0/test1 scored once.", "",
             "| model | train6 (val) | test0 | test1 | test pooled | RMSE test0 / test1 (eV) |",
             "|---|---:|---:|---:|---:|---:|"]
    for n, m in metrics.items():
        label = f"`{n}`" + (f" = {mix}" if n == "cu64zr36-ensemble" else "")
        lines.append(f"| {label} | {m['train6_pearson']:.4f} | {m['test0_pearson']:.4f} | {m['test1_pearson']:.4f} "
                     f"| **{m['test_pooled_pearson']:.4f}** | {m['test0_rmse_eV']:.3f} / {m['test1_rmse_eV']:.3f} |")
    lines += ["", f"Default model (best train6 Pearson among the SymGNN variants and the ensemble): `{default}`.", ""]
    for n, r in reports.items():
        hist = r["train"].get("history", [])
        lines += [f"| `{n}` training | value |", "|---|---:|",
                  f"| epochs run (best on train6) | {r['train'].get('epochs')} ({r['train'].get('best_epoch')}) |",
                  f"| training wall time (s) | {r['train'].get('wall_time_s')} |",
                  f"| seconds per epoch (median) | {np.median([h['seconds'] for h in hist]) if hist else float('nan'):.1f} |",
                  f"| hardware | {r['train'].get('hardware')} |",
                  f"| train6 Pearson before / after output refit | {r['before']:.4f} / {r['after']:.4f} "
                  f"({'kept' if r['used'] else 'not kept'}) |",
                  f"| refit alpha, leave-one-glass-out pooled CV Pearson | {r['refit']['alpha']:g}, "
                  f"{r['refit']['cv_pooled_pearson']:.4f} |",
                  f"| predict on test0 (3,000 atoms, incl. graph) (s) | {timing[n]:.2f} |", ""]
    lines += [f"Uncertainty (report only): Pearson between the ensemble members' spread (std over members) and the "
              f"ensemble's absolute error on test0+test1: {spread_corr:.3f}.", ""]
    lines += [f"This script after training: {time.perf_counter() - t_start:.0f} s on {hardware()}.", "",
              f"Reproduce: `{command}`"]
    text = "\n".join(lines)
    atomic_write(args.results, lambda tmp: Path(tmp).write_text(text + "\n"))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
