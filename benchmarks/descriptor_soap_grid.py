#!/usr/bin/env python
"""The descriptor model at other SOAP resolutions (issue 19): fit on train0-5, ridge alpha and the
setting chosen on train6 only; test0/test1 are not read.

Each ``--soap`` is ``SIGMA,N_MAX,L_MAX[,R_CUT]`` (Å, -, -, Å; the shipped model is 0.5,6,6,6).
Prints per setting: features per atom, best train6 Pearson and its alpha, and the seconds of
SOAP per 3,000 atoms (train6's first 3,000 atoms' share of its SOAP time, one thread).

    OMP_NUM_THREADS=1 python benchmarks/descriptor_soap_grid.py --soap 0.5,6,6 0.5,8,6 0.4,8,8 0.3,8,8
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "symgnn-cu64zr36"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--soap", nargs="+", required=True, metavar="SIGMA,N_MAX,L_MAX[,R_CUT]")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")

    from mgbarrier.graphs.soap import Featurizer
    from mgbarrier.io.symgnn_pickle import read_symgnn_pickle
    from mgbarrier.models.descriptor import DEFAULT_CONFIG
    from mgbarrier.training.descriptor import DEFAULT_ALPHAS, fit_descriptor_model

    glasses = {k: read_symgnn_pickle(args.data / f"train{k}.pickle") for k in range(7)}
    for spec in args.soap:
        parts = [float(v) for v in spec.split(",")]
        config = copy.deepcopy(DEFAULT_CONFIG)
        config["soap"].update(sigma=parts[0], n_max=int(parts[1]), l_max=int(parts[2]))
        if len(parts) > 3:
            config["soap"]["r_cut"] = parts[3]
        fz = Featurizer(config)
        ready, _ = fz.prepare(glasses[6])
        t0 = time.process_time()
        fz.soap(ready)
        soap_s = (time.process_time() - t0) * 3000 / len(ready)
        t0 = time.perf_counter()
        _, rep = fit_descriptor_model([glasses[k] for k in range(6)], [glasses[6]], DEFAULT_ALPHAS, config=config,
                                      progress=lambda msg: None)
        best = max(rep["val_pearson"])
        print(f"soap {spec}: {rep['n_features']} features, train6 Pearson {best:.4f} (alpha {rep['alpha']:g}), "
              f"SOAP {soap_s:.2f} s per 3,000 atoms, fit {time.perf_counter() - t0:.0f} s", flush=True)
    print("reproduce: OMP_NUM_THREADS=1 python benchmarks/descriptor_soap_grid.py --soap " + " ".join(args.soap))
    return 0


if __name__ == "__main__":
    sys.exit(main())
