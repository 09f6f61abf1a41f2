"""Issue 19, a cross-validation-only check: does SOAP at two cut-offs (r_cut 4 and 6 Å, rows
concatenated, each averaged over R = 1, 2 Å within 7.5 Å) beat SOAP at 6 Å alone?

Same protocol as ``fit_multilength_descriptor``: ridge strength and the choice by
leave-one-glass-out CV over train0-5 (train0 and train1 one group), train6 only reported;
test0/test1 are not touched (the shipped predictor has one SOAP cut-off: this is an experiment).

    OMP_NUM_THREADS=1 python benchmarks/descriptor_two_cutoffs.py > benchmarks/results/descriptor_two_cutoffs.log
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from descriptor_model import DEFAULT_DATA  # noqa: E402


def main() -> int:
    from mgbarrier.graphs.soap import Featurizer
    from mgbarrier.io.symgnn_pickle import read_symgnn_pickle
    from mgbarrier.models.descriptor import DEFAULT_CONFIG
    from mgbarrier.training.descriptor import (
        DEFAULT_ALPHAS,
        _pooled_pearson,
        _prediction_sums,
        _ridge_path,
        _stats,
    )

    t0 = time.perf_counter()
    names = [f"train{k}" for k in range(7)]
    groups = ["train0/1", "train0/1", "train2", "train3", "train4", "train5"]
    atoms = [read_symgnn_pickle(DEFAULT_DATA / f"{n}.pickle") for n in names]
    fz = {rc: Featurizer(dict(DEFAULT_CONFIG, soap=dict(DEFAULT_CONFIG["soap"], r_cut=rc))) for rc in (4.0, 6.0)}
    y_tr = np.concatenate([a.arrays["barrier"] for a in atoms[:6]])
    mean, std = float(y_tr.mean()), float(y_tr.std())
    stats, ref = [], None
    for k, a in enumerate(atoms):
        ready, flag = fz[6.0].prepare(a)
        X = np.concatenate([fz[4.0].soap(ready), fz[6.0].soap(ready)], axis=1)  # [S(4 Å) | S(6 Å)]
        f = np.concatenate([X] + [W @ X for W in fz[6.0].averaging(ready)] + [flag[:, None]], axis=1)
        if ref is None:
            ref = f.mean(axis=0)
        stats.append(_stats(f, (a.arrays["barrier"] - mean) / std, ref))
        print(f"structure {k} ({time.perf_counter() - t0:.0f} s)", flush=True)
    n4, n6 = fz[4.0].n_soap, fz[6.0].n_soap
    ns = n4 + n6
    F = 3 * ns + 1
    only6 = np.concatenate([np.arange(b * ns + n4, (b + 1) * ns) for b in range(3)] + [np.array([F - 1])])
    both = np.arange(F)
    report = {}
    for name, cols in (("SOAP 6 Å", only6), ("SOAP 4 Å + 6 Å", both)):
        oof = np.zeros((len(DEFAULT_ALPHAS), 6))
        for g in dict.fromkeys(groups):
            _, _, fits = _ridge_path([stats[k] for k in range(6) if groups[k] != g], cols, DEFAULT_ALPHAS)
            for a, (w, b) in enumerate(fits):
                for k in range(6):
                    if groups[k] == g:
                        oof[a] += _prediction_sums(stats[k], cols, w, b)
        cv = [_pooled_pearson(s) for s in oof]
        best = int(np.nanargmax(cv))
        _, _, fits = _ridge_path(stats[:6], cols, [DEFAULT_ALPHAS[best]])
        val = _pooled_pearson(_prediction_sums(stats[6], cols, *fits[0]))
        report[name] = {"cv_pearson": cv[best], "alpha": DEFAULT_ALPHAS[best], "train6": val, "n_features": len(cols)}
        print(f"{name}: CV {cv[best]:.4f} (alpha {DEFAULT_ALPHAS[best]:g}), train6 {val:.4f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    out = REPO / "benchmarks" / "results" / "descriptor_two_cutoffs.json"
    out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
