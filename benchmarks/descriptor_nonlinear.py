"""Does a nonlinear read-out of the descriptor's features beat its ridge?  (issue 19, negative result)

The shipped descriptor model is a ridge on 1,639 features per atom (SOAP, its neighbour averages
over R = 1 and 2 Å, a Zr flag; :mod:`mgbarrier.models.descriptor`).  Two read-outs with more
freedom, fitted on train0-5 and scored on train6 only (test0/test1 are never read here):

* species-split ridge: the features and their product with the Zr flag (3,277 columns: one
  coefficient vector per species), alpha on a grid;
* an MLP (1,639 -> 256 -> 64 -> 1, SiLU, dropout 0.2 on inputs and hidden, AdamW weight decay
  1e-2, one-cycle learning rate 1e-3, 60 epochs, batch 256), its best epoch on train6;
* gradient-boosted trees (scikit-learn ``HistGradientBoostingRegressor``) on the first 64
  principal components of the standardised features: alone (600 rounds, 31 leaves, learning
  rate 0.05), blended half and half with the ridge, and fitted to the ridge's training residuals
  (300 rounds, 15 leaves); the best round on train6 (session 10).

    OMP_NUM_THREADS=2 python benchmarks/descriptor_nonlinear.py [--data ../shared/data/symgnn-cu64zr36]
        [--read-outs ridge split mlp boosting]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "symgnn-cu64zr36"


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def ridge_scores(X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray, alphas) -> dict:
    """train6 Pearson of a ridge on standardised columns, per alpha."""
    mu, sd = X.mean(0), X.std(0)
    sd[sd < 1e-9] = 1.0
    A, B = (X - mu) / sd, (Xv - mu) / sd
    G, b = A.T @ A, A.T @ (y - y.mean())
    return {a: pearson(B @ np.linalg.solve(G + a * np.eye(len(G)), b), yv) for a in alphas}


def mlp_scores(X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray, epochs: int = 60, seed: int = 0):
    import torch

    mu, sd = X.mean(0), X.std(0)
    sd[sd < 1e-8] = 1.0
    Xt = torch.from_numpy(((X - mu) / sd).astype(np.float32))
    Xvt = torch.from_numpy(((Xv - mu) / sd).astype(np.float32))
    yt = torch.from_numpy(((y - y.mean()) / y.std()).astype(np.float32))
    torch.manual_seed(seed)
    nn = torch.nn
    net = nn.Sequential(nn.Dropout(0.2), nn.Linear(X.shape[1], 256), nn.SiLU(), nn.Dropout(0.2),
                        nn.Linear(256, 64), nn.SiLU(), nn.Linear(64, 1))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)
    steps = (len(Xt) + 255) // 256
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=epochs * steps)
    history = []
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(Xt))
        for i in range(0, len(Xt), 256):
            idx = perm[i:i + 256]
            loss = nn.functional.mse_loss(net(Xt[idx]).squeeze(-1), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        net.eval()
        with torch.no_grad():
            history.append(pearson(net(Xvt).squeeze(-1).numpy(), yv))
    return history


def boosting_scores(X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray, alpha: float = 0.1,
                    components: int = 64) -> dict:
    """train6 Pearson per 100 (50) rounds of gradient-boosted trees on principal components:
    ``{"alone": [...], "blend": [...], "residual": [...]}`` (module doc)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    mu, sd = X.mean(0), X.std(0)
    sd[sd < 1e-9] = 1.0
    A, B = (X - mu) / sd, (Xv - mu) / sd
    w = np.linalg.solve(A.T @ A + alpha * np.eye(A.shape[1]), A.T @ (y - y.mean()))
    ridge_v, ridge_t = B @ w + y.mean(), A @ w + y.mean()
    vt = np.linalg.svd(A[::4], full_matrices=False)[2][:components]
    P, Pv = A @ vt.T, B @ vt.T
    out = {"alone": [], "blend": [], "residual": []}
    trees = HistGradientBoostingRegressor(max_iter=600, learning_rate=0.05, max_leaf_nodes=31, min_samples_leaf=100,
                                          l2_regularization=1.0, early_stopping=False, random_state=0).fit(P, y)
    for k, p in enumerate(trees.staged_predict(Pv)):
        if k % 100 == 99:
            out["alone"].append((k + 1, pearson(p, yv)))
            out["blend"].append((k + 1, pearson(0.5 * p + 0.5 * ridge_v, yv)))
    resid = HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=200,
                                          l2_regularization=1.0, early_stopping=False,
                                          random_state=0).fit(P, y - ridge_t)
    for k, p in enumerate(resid.staged_predict(Pv)):
        if k % 50 == 49:
            out["residual"].append((k + 1, pearson(ridge_v + p, yv)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--read-outs", nargs="+", default=["ridge", "split", "mlp", "boosting"],
                    choices=["ridge", "split", "mlp", "boosting"])
    args = ap.parse_args(argv)
    if not (args.data / "train6.pickle").exists():
        print(f"descriptor_nonlinear: {args.data}: the published dataset is needed", file=sys.stderr)
        return 2
    from mgbarrier.graphs.soap import Featurizer
    from mgbarrier.io.symgnn_pickle import read_symgnn_pickle
    from mgbarrier.models.descriptor import DEFAULT_CONFIG

    t0 = time.perf_counter()
    fz = Featurizer(DEFAULT_CONFIG)
    feats = {}
    for name in [f"train{k}" for k in range(7)]:
        atoms = read_symgnn_pickle(args.data / f"{name}.pickle")
        feats[name] = (fz.features(atoms).astype(np.float64), atoms.arrays["barrier"])
    X = np.concatenate([feats[f"train{k}"][0] for k in range(6)])
    y = np.concatenate([feats[f"train{k}"][1] for k in range(6)])
    Xv, yv = feats["train6"]
    print(f"features: {X.shape[1]} per atom, {len(X):,} training atoms ({time.perf_counter() - t0:.0f} s)", flush=True)

    alphas = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
    todo = set(args.read_outs)
    lines = ["| read-out of the 1,639 descriptor features | train6 Pearson (best on train6) | chosen |", "|---|---:|---|"]
    notes = []
    plain = ridge_scores(X, y, Xv, yv, alphas)
    lines.append(f"| ridge (shipped) | {max(plain.values()):.4f} | alpha {max(plain, key=plain.get):g} |")
    notes.append("Ridge by alpha: " + ", ".join(f"{a:g}: {v:.4f}" for a, v in plain.items()))
    if "split" in todo:
        split = ridge_scores(np.concatenate([X, X[:, :-1] * X[:, -1:]], axis=1), y,
                             np.concatenate([Xv, Xv[:, :-1] * Xv[:, -1:]], axis=1), yv, alphas)
        lines.append(f"| species-split ridge (3,277 columns) | {max(split.values()):.4f} | "
                     f"alpha {max(split, key=split.get):g} |")
        notes.append("Split ridge by alpha: " + ", ".join(f"{a:g}: {v:.4f}" for a, v in split.items()))
    if "mlp" in todo:
        t1 = time.perf_counter()
        history = mlp_scores(X, y, Xv, yv)
        t_mlp = time.perf_counter() - t1
        best = int(np.argmax(history))
        lines.append(f"| MLP 1,639-256-64-1, 60 epochs ({t_mlp:.0f} s) | {history[best]:.4f} | epoch {best + 1}; "
                     f"last epoch {history[-1]:.4f} |")
        notes.append("MLP by epoch (every 5th): " + ", ".join(f"{k + 1}: {v:.3f}" for k, v in enumerate(history)
                                                              if k % 5 == 4))
    if "boosting" in todo:
        t1 = time.perf_counter()
        boost = boosting_scores(X, y, Xv, yv, alpha=max(plain, key=plain.get))
        t_b = time.perf_counter() - t1
        for key, text in [("alone", "boosted trees on 64 principal components"),
                          ("blend", "0.5 ridge + 0.5 boosted trees"),
                          ("residual", "ridge + boosted trees fitted to its residuals")]:
            rounds, best_r = max(boost[key], key=lambda kv: kv[1])
            lines.append(f"| {text} ({t_b:.0f} s all three) | {best_r:.4f} | {rounds} rounds |")
            notes.append(f"{text} by rounds: " + ", ".join(f"{k}: {v:.4f}" for k, v in boost[key]))
    lines += [""] + notes + ["", "Reproduce: `OMP_NUM_THREADS=2 python benchmarks/descriptor_nonlinear.py "
                             f"--read-outs {' '.join(args.read_outs)}`"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
