"""Train the equivariant network (or SymGNN) on a GPU for a fixed wall-time budget (issue 19).

Protocol: trained on train0-5, the epoch selected on train6 (EMA weights, as
:func:`mgbarrier.training.symgnn.train` does), test0 / test1 / pooled scored ONCE at the end
with the selected checkpoint (never used for a choice).

The schedule length (cosine horizon) is planned from a timing of a few training steps so
that the run ends within ``--minutes``; the plan is kept in the run directory, so running
the same command again resumes the same schedule (the trainer's ``state.pt``).  The
trainer itself stops before an epoch that would end past the budget.

    python3 benchmarks/train_gpu.py --data .devdata --out $OUT --minutes 5.5 --device cuda
    python3 benchmarks/train_gpu.py --data ../shared/data/symgnn-cu64zr36 --out /tmp/gpu_dry \\
        --minutes 1 --device cpu --train-subset 2 --crop 600 --quick       # CPU dry run

Writes under ``--out``: ``<arch>.pt`` (the selected checkpoint, loadable with
``mgbarrier.load_model``), ``<arch>_result.json`` (plan, history, train6/test scores, timings),
``<arch>_history.csv``, ``<arch>_log.txt`` and the resumable run directory ``<arch>.run/``.
Imports: torch, e3nn (equivariant), numpy, scipy, ase, matscipy (through mgbarrier).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

T_START = time.time()


def crop(atoms, n: int):
    """The ``n`` atoms nearest to the box centre, as a non-periodic cluster (dry runs only)."""
    pos = atoms.get_positions()
    centre = atoms.cell.array.sum(axis=0) / 2 if atoms.cell.rank == 3 else pos.mean(axis=0)
    d = atoms.cell.array if atoms.cell.rank == 3 else None
    delta = pos - centre
    if d is not None:  # minimum image in an orthorhombic box
        L = np.diag(d)
        delta -= L * np.round(delta / L)
    keep = np.sort(np.argsort((delta ** 2).sum(axis=1))[:n])
    out = atoms[keep]
    out.positions = centre + delta[keep]
    out.pbc = False
    return out


def make_config(args):
    if args.arch == "equivariant":
        from mgbarrier.nn.equivariant import EquivariantConfig

        if args.quick:
            return EquivariantConfig(layers=2, scalars=8, vectors=4, tensors=2, radial_hidden=16,
                                     readout_hidden=16)
        return EquivariantConfig(layers=args.layers, scalars=args.scalars, vectors=args.vectors,
                                 tensors=args.tensors)
    from mgbarrier.nn.symgnn import SymGNNConfig

    if args.quick:
        return SymGNNConfig(hidden=16, edge_hidden=8, encoder_hidden=16, heads=(2, 1), lebedev_order=17,
                            radial_points=128)
    return SymGNNConfig()


def time_steps(cfg, train_set, val_set, device, n: int = 3) -> float:
    """Seconds per epoch, estimated from ``n`` timed forward+backward steps (after one warm-up)
    and one validation pass, on a throw-away copy of the network."""
    import torch

    from mgbarrier.nn.networks import build_network

    torch.manual_seed(12345)
    net = build_network(cfg).to(device)
    if hasattr(net, "calibrate"):
        net.calibrate(train_set[0].graph.to(device))
    net._generator = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    g = train_set[0].graph.to(device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step():
        opt.zero_grad()
        net(g).square().mean().backward()
        opt.step()

    step()
    sync()
    t0 = time.time()
    for _ in range(n):
        step()
    sync()
    per_step = (time.time() - t0) / n
    net.eval()
    t0 = time.time()
    with torch.no_grad():
        for lg in val_set:
            net(lg.graph.to(device)).cpu()
    sync()
    val = time.time() - t0
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return per_step * len(train_set) + val + 0.02 * len(train_set)  # + EMA / bookkeeping


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="folder with train0..6.pickle, test0/1.pickle")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=5.5, help="wall-time budget of the training (this call)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--arch", choices=["equivariant", "symgnn"], default="equivariant")
    ap.add_argument("--epochs", type=int, default=None, help="schedule length (default: planned from timing)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--scalars", type=int, default=64)
    ap.add_argument("--vectors", type=int, default=32)
    ap.add_argument("--tensors", type=int, default=16)
    ap.add_argument("--train-subset", type=int, default=6, help="use train0..N-1 only (dry runs)")
    ap.add_argument("--crop", type=int, default=None, help="crop every structure to N atoms (dry runs only)")
    ap.add_argument("--quick", action="store_true", help="tiny network (dry runs only)")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)

    import torch

    from mgbarrier import load_model
    from mgbarrier.io.symgnn_pickle import read_symgnn_pickle
    from mgbarrier.metrics import pearson
    from mgbarrier.nn.networks import network_kind
    from mgbarrier.training.run_state import TrainingInterrupted
    from mgbarrier.training.symgnn import TrainSettings, make_labelled_graph, train

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("train_gpu: error: --device cuda but CUDA is not available")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    tag = args.arch + ("_quick" if args.quick else "")
    logf = open(out / f"{tag}_log.txt", "a")

    def log(msg: str) -> None:
        line = f"[{time.time() - T_START:7.1f} s] {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    names = [f"train{k}" for k in range(7)] + ["test0", "test1"]
    missing = [n for n in names if not (args.data / f"{n}.pickle").exists()]
    if missing:
        raise SystemExit(f"train_gpu: error: {args.data / (missing[0] + '.pickle')}: not found")
    atoms = {n: read_symgnn_pickle(args.data / f"{n}.pickle") for n in names}
    if args.crop:
        atoms = {n: crop(a, args.crop) for n, a in atoms.items()}
    cfg = make_config(args)
    train_names = [f"train{k}" for k in range(min(args.train_subset, 6))]
    train_set = [make_labelled_graph(atoms[n], cfg, n) for n in train_names]
    val_set = [make_labelled_graph(atoms["train6"], cfg, "train6")]
    log(f"{args.arch}: {len(train_set)} training graphs ({sum(lg.graph.num_edges for lg in train_set)} edges), "
        f"device {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))

    model_path = out / f"{tag}.pt"
    run_dir = out / f"{tag}.run"
    run_dir.mkdir(parents=True, exist_ok=True)
    plan_path = run_dir / "plan.json"
    if plan_path.exists():
        plan = json.loads(plan_path.read_text())
        log(f"resuming the plan in {plan_path}: {plan['epochs']} epochs")
    else:
        est = time_steps(cfg, train_set, val_set, device)
        budget = args.minutes * 60 - (time.time() - T_START)
        epochs = args.epochs or int(np.clip(budget / (1.1 * est), 4, 5000))
        plan = {"epochs": epochs, "estimated_s_per_epoch": est, "budget_s": budget, "config": cfg.to_dict(),
                "lr": args.lr, "ema": args.ema, "seed": args.seed, "train": train_names}
        plan_path.write_text(json.dumps(plan, indent=1))
        log(f"planned {epochs} epochs at an estimated {est:.2f} s per epoch for {budget:.0f} s")
    epochs = int(plan["epochs"])
    settings = TrainSettings(epochs=epochs, lr=args.lr, seed=args.seed, ema_decay=args.ema,
                             warmup_epochs=min(5, max(1, epochs // 10)), mean_free_epochs=min(10, epochs // 10),
                             mean_ramp_epochs=min(20, epochs // 5), device=str(device),
                             max_seconds=max(1.0, args.minutes * 60 - (time.time() - T_START)))
    meta = {"description": f"{args.arch} network trained by benchmarks/train_gpu.py (issue 19)",
            "training": {"command": "python3 benchmarks/train_gpu.py " + " ".join(sys.argv[1:] if argv is None
                                                                                   else argv),
                         "protocol": "trained on train0-5, epoch chosen on train6 (EMA weights); "
                                     "test0/test1 scored once at the end"}}
    interrupted = False
    try:
        summary = train(train_set, val_set, cfg, settings, model_path, run_dir, metadata=meta, log=log)
    except TrainingInterrupted:
        interrupted = True
        summary = None
        log("interrupted; the state is kept: run the same command again to resume")
    if not model_path.exists():
        log("no epoch finished: no model written")
        return 1
    del train_set, val_set
    if device.type == "cuda":
        torch.cuda.empty_cache()

    # the one final evaluation of the selected checkpoint
    model = load_model(model_path, device=str(device))
    ck = torch.load(model_path, map_location="cpu", weights_only=True)
    training = ck["metadata"]["training"]
    preds = {}
    for n in ("train6", "test0", "test1"):
        preds[n] = model.predict(atoms[n])
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.time()
    model.predict(atoms["test0"])
    if device.type == "cuda":
        torch.cuda.synchronize()
    predict_s = time.time() - t0
    y = {n: atoms[n].arrays["barrier"] for n in preds}
    scores = {n: pearson(preds[n], y[n]) for n in preds}
    scores["pooled"] = pearson(np.concatenate([preds["test0"], preds["test1"]]),
                               np.concatenate([y["test0"], y["test1"]]))
    history = training["history"]
    result = {"arch": args.arch, "kind": network_kind(cfg), "checkpoint": model_path.name, "plan": plan,
              "epochs_done": len(history), "best_epoch": training["best_epoch"],
              "train_wall_s": training["wall_time_s"],
              "s_per_epoch_median": float(np.median([h["seconds"] for h in history])) if history else None,
              "val_train6": scores["train6"], "test0": scores["test0"], "test1": scores["test1"],
              "test_pooled": scores["pooled"], "predict_test0_s": predict_s,
              "params": sum(p.numel() for p in model.net.parameters()), "interrupted": interrupted,
              "finished_schedule": len(history) >= epochs, "device": str(device),
              "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
              "torch": torch.__version__, "python": platform.python_version(),
              "dry_run": bool(args.quick or args.crop or args.train_subset < 6),
              "summary_best": summary["best"] if summary else None, "history": history}
    try:
        import e3nn

        result["e3nn"] = e3nn.__version__
    except ImportError:
        pass
    (out / f"{tag}_result.json").write_text(json.dumps(result, indent=1, default=float))
    with open(out / f"{tag}_history.csv", "w") as f:
        f.write("epoch,loss,val_pearson,seconds,lr\n")
        for h in history:
            f.write(f"{h['epoch']},{h['loss']:.6f},{h['val_pearson']:.6f},{h['seconds']:.3f},{h['lr']:.3e}\n")
    log(f"RESULT {args.arch}: epochs {len(history)}/{epochs} (best {training['best_epoch']}), "
        f"train6 {scores['train6']:.4f}, test0 {scores['test0']:.4f}, test1 {scores['test1']:.4f}, "
        f"pooled {scores['pooled']:.4f}; training {training['wall_time_s']:.0f} s; "
        f"predict test0 {predict_s:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
